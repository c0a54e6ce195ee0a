/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "errlog.h"

void errlog_add(struct errlog *l, const char *fmt, ...)
{
	size_t i = l->total++ % ERRLOG_SIZE;
	va_list ap;

	free(l->items[i].message);
	l->items[i].time = time(NULL);
	va_start(ap, fmt);
	if (vasprintf(&l->items[i].message, fmt, ap) < 0)
		l->items[i].message = NULL;
	va_end(ap);
}

void errlog_done(struct errlog *l)
{
	for (size_t i = 0; i < ERRLOG_SIZE; i++)
		free(l->items[i].message);
	*l = (struct errlog){ 0 };
}

json_t *errlog_json(const struct errlog *l)
{
	size_t n = l->total < ERRLOG_SIZE ? l->total : ERRLOG_SIZE;
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++) {
		size_t k = (l->total - 1 - i) % ERRLOG_SIZE;
		char t[32];
		struct tm tm;

		gmtime_r(&l->items[k].time, &tm);
		strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_array_append_new(a, json_pack("{s:s, s:s?}", "time", t, "message",
						   l->items[k].message));
	}
	return a;
}
