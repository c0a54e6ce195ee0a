/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "macro.h"

static void diag_done(struct policy_diag *d)
{
	free(d->file);
	free(d->path);
	free(d->message);
}

_public_ void policy_diags_done(struct policy_diags *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		diag_done(&d->items[i]);
	free(d->items);
	d->items = NULL;
	d->n = 0;
}

_public_ int policy_diags_add(struct policy_diags *d, const char *file, unsigned line,
			      unsigned column, const char *path, const char *fmt, ...)
{
	struct policy_diag n = { .line = line, .column = column };
	struct policy_diag *items;
	va_list ap;
	int r;

	if (!d || !fmt)
		return -EINVAL;
	va_start(ap, fmt);
	r = vasprintf(&n.message, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	n.file = file ? strdup(file) : NULL;
	n.path = strdup(path ? path : "");
	items = reallocarray(d->items, d->n + 1, sizeof(*items));
	if ((file && !n.file) || !n.path || !items) {
		if (items)
			d->items = items;
		diag_done(&n);
		return -ENOMEM;
	}
	d->items = items;
	d->items[d->n++] = n;
	return 0;
}

_public_ char *policy_diag_format(const struct policy_diag *d)
{
	char pos[32] = "";
	char *s;

	if (!d)
		return NULL;
	if (d->line > 0 && d->column > 0)
		snprintf(pos, sizeof(pos), ":%u:%u", d->line, d->column);
	else if (d->line > 0)
		snprintf(pos, sizeof(pos), ":%u", d->line);
	if (asprintf(&s, "%s%s%s%s%s%s", d->file ? d->file : "",
		     d->file ? pos : (pos[0] ? pos + 1 : ""), d->file || pos[0] ? ": " : "",
		     d->path && *d->path ? d->path : "", d->path && *d->path ? ": " : "",
		     d->message ? d->message : "") < 0)
		return NULL;
	return s;
}
