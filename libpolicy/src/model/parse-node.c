/* SPDX-License-Identifier: MIT */
/*
 * The parser's generic helpers, used by every kind: the parse context (diagnostics with the
 * field path where they were found, the path stack itself, quoting of user input in messages,
 * copying strings out of the tree) and typed access to nodes of the tree (look up a field,
 * reject unknown fields, expect an object or a list, read a string or a plain decimal
 * integer). Nothing here knows about Kubernetes objects.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/parse.h"
#include "policy/policy.h"

/* ---- context ----------------------------------------------------------------------------- */

void perr_at(struct pctx *c, unsigned line, unsigned column, const char *path, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;
	int r;

	c->failed = true;
	if (c->oom || c->diags->n > PARSE_MAX_DIAGS)
		return;
	if (c->diags->n == PARSE_MAX_DIAGS) {
		if (policy_diags_add(c->diags, c->file, 0, 0, "",
				     "too many errors, the rest are not shown") < 0)
			c->oom = true;
		return;
	}
	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0 || policy_diags_add(c->diags, c->file, line, column, path, "%s", msg) < 0)
		c->oom = true;
}

void perr(struct pctx *c, const struct pnode *at, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0) {
		c->oom = c->failed = true;
		return;
	}
	perr_at(c, at ? at->line : 0, at ? at->column : 0, c->path, "%s", msg);
}

size_t path_push(struct pctx *c, const char *key)
{
	size_t old = c->path_len;
	int r;

	r = snprintf(c->path + old, sizeof(c->path) - old, "%s%s", old ? "." : "", key);
	if (r > 0)
		c->path_len =
			old + (size_t)r < sizeof(c->path) ? old + (size_t)r : sizeof(c->path) - 1;
	return old;
}

size_t path_push_index(struct pctx *c, size_t i)
{
	size_t old = c->path_len;
	int r;

	r = snprintf(c->path + old, sizeof(c->path) - old, "[%zu]", i);
	if (r > 0)
		c->path_len =
			old + (size_t)r < sizeof(c->path) ? old + (size_t)r : sizeof(c->path) - 1;
	return old;
}

void path_pop(struct pctx *c, size_t old)
{
	c->path_len = old;
	c->path[old] = '\0';
}

/* Messages echo user input: escape it, keep it short, keep it valid UTF-8. */
const char *quote(char *buf, const char *s, size_t len)
{
	size_t o = 0;

	buf[o++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (o + 8 >= QUOTE_MAX - 4) {
			/* back off to a character boundary */
			while (o > 1 && ((unsigned char)buf[o - 1] & 0xc0) == 0x80)
				o--;
			if (o > 1 && ((unsigned char)buf[o - 1] & 0x80))
				o--;
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (ch == '"' || ch == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			o += (size_t)snprintf(buf + o, QUOTE_MAX - o, "\\x%02x", ch);
		} else {
			buf[o++] = (char)ch;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

int pstrdup(struct pctx *c, char **dst, const char *s)
{
	free(*dst);
	*dst = strdup(s);
	if (!*dst) {
		c->oom = c->failed = true;
		return -ENOMEM;
	}
	return 0;
}

/* ---- typed access ------------------------------------------------------------------------ */

const char *pnode_type_name(const struct pnode *n)
{
	switch (n->type) {
	case PNODE_MAP:
		return "an object";
	case PNODE_SEQ:
		return "a list";
	case PNODE_SCALAR:
		break;
	}
	switch (n->kind) {
	case PSCALAR_STR:
		return "a string";
	case PSCALAR_INT:
		return "an integer";
	case PSCALAR_FLOAT:
		return "a number";
	case PSCALAR_BOOL:
		return "a boolean";
	case PSCALAR_NULL:
		return "null";
	}
	return "a value";
}

bool pis_null(const struct pnode *n)
{
	return n->type == PNODE_SCALAR && n->kind == PSCALAR_NULL;
}

const struct pnode *pfield(const struct pnode *map, const char *key)
{
	size_t len = strlen(key);

	if (!map || map->type != PNODE_MAP)
		return NULL;
	for (size_t i = 0; i < map->n; i++) {
		const struct pnode *k = map->items[2 * i];

		if (k->len == len && memcmp(k->str, key, len) == 0)
			return pis_null(map->items[2 * i + 1]) ? NULL : map->items[2 * i + 1];
	}
	return NULL;
}

void pcheck_fields(struct pctx *c, const struct pnode *map, const char *const *allowed)
{
	for (size_t i = 0; i < map->n; i++) {
		const struct pnode *k = map->items[2 * i];
		bool ok = false;

		for (const char *const *a = allowed; *a && !ok; a++)
			ok = k->len == strlen(*a) && memcmp(k->str, *a, k->len) == 0;
		if (!ok)
			perr(c, k, "unknown field %s", QN(k));
	}
}

bool pexpect_map(struct pctx *c, const struct pnode *n)
{
	if (n->type == PNODE_MAP)
		return true;
	perr(c, n, "expected an object, got %s", pnode_type_name(n));
	return false;
}

bool pexpect_seq(struct pctx *c, const struct pnode *n, size_t max, const char *what)
{
	if (n->type != PNODE_SEQ) {
		perr(c, n, "expected a list, got %s", pnode_type_name(n));
		return false;
	}
	if (n->n > max) {
		perr(c, n, "too many %s: %zu (max %zu)", what, n->n, max);
		return false;
	}
	return true;
}

void *pparse_items(struct pctx *c, const struct pnode *n, size_t min, size_t max, const char *what,
		   size_t size, size_t *ret_n, pitem_fn fn, void *ud)
{
	char *elems;

	*ret_n = 0;
	if (!pexpect_seq(c, n, max, what))
		return NULL;
	if (n->n < min) {
		perr(c, n, "must have %zu to %zu %s, got %zu", min, max, what, n->n);
		return NULL;
	}
	if (n->n == 0)
		return NULL;
	elems = calloc(n->n, size);
	if (!elems) {
		c->oom = c->failed = true;
		return NULL;
	}
	for (size_t i = 0; i < n->n; i++) {
		size_t q = path_push_index(c, i);

		fn(c, n->items[i], elems + i * size, ud);
		path_pop(c, q);
	}
	*ret_n = n->n;
	return elems;
}

bool pis_str(const struct pnode *n)
{
	return n->type == PNODE_SCALAR && n->kind == PSCALAR_STR && !memchr(n->str, 0, n->len);
}

/* Mapping keys are taken as written, whatever they resolve to ("y", "80"): JSON keys are text. */
bool pis_key(const struct pnode *k)
{
	return k->type == PNODE_SCALAR && !memchr(k->str, 0, k->len);
}

bool pget_str(struct pctx *c, const struct pnode *n, const char **ret)
{
	if (n->type != PNODE_SCALAR || n->kind != PSCALAR_STR) {
		perr(c, n, "expected a string, got %s", pnode_type_name(n));
		return false;
	}
	if (memchr(n->str, 0, n->len)) {
		perr(c, n, "string contains a NUL character");
		return false;
	}
	*ret = n->str;
	return true;
}

bool pget_int(struct pctx *c, const struct pnode *n, long long *ret)
{
	const char *s = n->str;
	long long v = 0;
	bool neg;

	if (n->type != PNODE_SCALAR || n->kind != PSCALAR_INT) {
		perr(c, n, "expected an integer, got %s", pnode_type_name(n));
		return false;
	}
	/* only plain decimal: YAML 1.1 reads "010" as 8 and "0x50" as 80, a trap for port numbers */
	neg = *s == '-';
	if (*s == '-' || *s == '+')
		s++;
	if (!*s || strspn(s, "0123456789") != strlen(s) || (s[0] == '0' && s[1])) {
		perr(c, n, "unsupported integer syntax %s: use plain decimal", QN(n));
		return false;
	}
	for (; *s; s++) {
		if (v > (__LONG_LONG_MAX__ - (*s - '0')) / 10) {
			perr(c, n, "integer %s out of range", QN(n));
			return false;
		}
		v = v * 10 + (*s - '0');
	}
	*ret = neg ? -v : v;
	return true;
}
