/* SPDX-License-Identifier: MIT */
#include "print.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

struct table {
	size_t n_cols;
	size_t n_rows; /* including the header row */
	size_t cap_rows;
	char **cells; /* n_rows * n_cols */
};

static char *sanitized_dup(const char *s)
{
	char *d = strdup(s);

	if (!d)
		return NULL;
	for (char *p = d; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return d;
}

static int table_addv(struct table *t, va_list ap)
{
	char **row;

	if (t->n_rows == t->cap_rows) {
		size_t cap = t->cap_rows ? t->cap_rows * 2 : 16;
		char **p = reallocarray(t->cells, cap * t->n_cols, sizeof(char *));

		if (!p)
			return -ENOMEM;
		t->cells = p;
		t->cap_rows = cap;
	}
	row = t->cells + t->n_rows * t->n_cols;
	for (size_t i = 0; i < t->n_cols; i++) {
		const char *s = va_arg(ap, const char *);

		row[i] = sanitized_dup(s ? s : NONE);
		if (!row[i]) {
			while (i > 0)
				free(row[--i]);
			return -ENOMEM;
		}
	}
	t->n_rows++;
	return 0;
}

struct table *table_new(size_t n_cols, ...)
{
	struct table *t = calloc(1, sizeof(*t));
	va_list ap;
	int r;

	if (!t)
		return NULL;
	t->n_cols = n_cols;
	va_start(ap, n_cols);
	r = table_addv(t, ap);
	va_end(ap);
	if (r < 0)
		return table_free(t);
	return t;
}

struct table *table_free(struct table *t)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
	return NULL;
}

int table_add(struct table *t, ...)
{
	va_list ap;
	int r;

	va_start(ap, t);
	r = table_addv(t, ap);
	va_end(ap);
	return r;
}

size_t table_rows(const struct table *t)
{
	return t->n_rows - 1;
}

/* Display width: UTF-8 code points, not bytes. */
static size_t width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

void table_print(const struct table *t, FILE *f, const char *indent)
{
	_cleanup_free_ size_t *widths = calloc(t->n_cols, sizeof(size_t));

	if (!widths)
		return;
	for (size_t r = 0; r < t->n_rows; r++)
		for (size_t i = 0; i < t->n_cols; i++) {
			size_t w = width(t->cells[r * t->n_cols + i]);

			if (w > widths[i])
				widths[i] = w;
		}
	for (size_t r = 0; r < t->n_rows; r++) {
		fputs(indent, f);
		for (size_t i = 0; i < t->n_cols; i++) {
			const char *s = t->cells[r * t->n_cols + i];

			fputs(s, f);
			if (i + 1 < t->n_cols)
				fprintf(f, "%*s", (int)(widths[i] - width(s) + 3), "");
		}
		fputc('\n', f);
	}
}

void print_sanitized(FILE *f, const char *s)
{
	for (; *s; s++)
		fputc(((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f ? '?' : *s, f);
}

int print_json(json_t *j)
{
	if (json_dumpf(j, stdout, JSON_INDENT(4) | JSON_ENCODE_ANY) < 0)
		return -EIO;
	fputc('\n', stdout);
	return 0;
}

int print_structured(json_t *j, enum output_format f)
{
	switch (f) {
	case OUTPUT_JSON:
		return print_json(j);
	case OUTPUT_YAML:
		return print_yaml(j);
	case OUTPUT_TABLE:
	case OUTPUT_NAME:
	case OUTPUT_WIDE:
	case _OUTPUT_MAX:
		break;
	}
	return -EINVAL;
}

const char *json_str(json_t *o, const char *key, const char *fallback)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : fallback;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *format_labels(json_t *labels)
{
	_cleanup_free_ const char **keys = NULL;
	char *buf = NULL;
	size_t n = 0, len = 0;
	const char *k;
	json_t *v;
	FILE *f;

	if (!json_is_object(labels) || json_object_size(labels) == 0)
		return strdup(NONE);
	keys = calloc(json_object_size(labels), sizeof(char *));
	if (!keys)
		return NULL;
	json_object_foreach(labels, k, v)
		keys[n++] = k;
	qsort_safe(keys, n, sizeof(char *), cmp_str);

	f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		v = json_object_get(labels, keys[i]);
		fprintf(f, "%s%s=%s", i ? "," : "", keys[i],
			json_is_string(v) ? json_string_value(v) : "");
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

char *format_strings(json_t *array, const char *sep)
{
	char *buf = NULL;
	size_t len = 0, i, n = 0;
	json_t *v;
	FILE *f;

	if (!json_is_array(array) || json_array_size(array) == 0)
		return strdup(NONE);
	f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	json_array_foreach(array, i, v) {
		if (!json_is_string(v))
			continue;
		fprintf(f, "%s%s", n++ ? sep : "", json_string_value(v));
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

void print_not_committed(json_t *reply)
{
	json_t *list = json_object_get(reply, "not_committed"), *e;
	size_t i;

	json_array_foreach(list, i, e) {
		fputs("segctl: warning: endpoint ", stderr);
		print_sanitized(stderr, json_str(e, "name", "?"));
		fputs(" not committed yet (it keeps its last ruleset and is retried): ", stderr);
		print_sanitized(stderr, json_str(e, "error", "?"));
		fputc('\n', stderr);
	}
}
