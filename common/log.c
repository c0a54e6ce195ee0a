/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static int log_level = LOG_INFO;
static int log_prefix = 1;

void log_set_level(int level)
{
	log_level = level;
}

int log_get_level(void)
{
	return log_level;
}

void log_set_prefix(int enable)
{
	log_prefix = enable;
}

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...)
{
	int saved = errno;
	int e = error < 0 ? -error : error;
	char buf[2048];
	size_t o = 0;
	va_list ap;

	if (level > log_level)
		return -e;

	/* Expand %m ourselves: it must name `error`, not whatever errno happens to be. */
	for (const char *p = fmt; *p && o < sizeof(buf) - 1; p++) {
		if (p[0] == '%' && p[1] == 'm') {
			const char *s = strerror(e);
			size_t l = strlen(s);

			if (l > sizeof(buf) - 1 - o)
				l = sizeof(buf) - 1 - o;
			memcpy(buf + o, s, l);
			o += l;
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			if (o + 2 >= sizeof(buf))
				break;
			buf[o++] = '%';
			buf[o++] = '%';
			p++;
		} else
			buf[o++] = *p;
	}
	buf[o] = 0;

	va_start(ap, fmt);
	if (log_prefix)
		fprintf(stderr, "<%d>", level);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	vfprintf(stderr, buf, ap);
#pragma GCC diagnostic pop
	va_end(ap);
	if (level == LOG_DEBUG)
		fprintf(stderr, " (%s:%d)", file, line);
	fputc('\n', stderr);
	errno = saved;
	return -e;
}
