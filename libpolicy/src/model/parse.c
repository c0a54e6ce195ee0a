/* SPDX-License-Identifier: MIT */
/*
 * policy_parse(): documents to objects, validated as the API server validates them
 * (k8s.io/apimachinery metav1 validation and pkg/apis/networking/validation). One diagnostic
 * per problem; a bad input yields no objects at all.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/parse.h"
#include "policy/policy.h"

/* ---- context ----------------------------------------------------------------------------- */

void perr_at(struct pctx *c, unsigned line, unsigned column, const char *path, const char *fmt,
	     ...)
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
		c->path_len = old + (size_t)r < sizeof(c->path) ? old + (size_t)r : sizeof(c->path) - 1;
	return old;
}

size_t path_push_index(struct pctx *c, size_t i)
{
	size_t old = c->path_len;
	int r;

	r = snprintf(c->path + old, sizeof(c->path) - old, "[%zu]", i);
	if (r > 0)
		c->path_len = old + (size_t)r < sizeof(c->path) ? old + (size_t)r : sizeof(c->path) - 1;
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

static bool is_null(const struct pnode *n)
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
			return is_null(map->items[2 * i + 1]) ? NULL : map->items[2 * i + 1];
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

bool pis_str(const struct pnode *n)
{
	return n->type == PNODE_SCALAR && n->kind == PSCALAR_STR && !memchr(n->str, 0, n->len);
}

/* Mapping keys are taken as written, whatever they resolve to ("y", "80"): JSON keys are text. */
static bool is_key(const struct pnode *k)
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

/* ---- labels, selectors ------------------------------------------------------------------- */

void pparse_labels(struct pctx *c, const struct pnode *n, struct policy_labels *l)
{
	if (!pexpect_map(c, n))
		return;
	if (n->n > POLICY_MAX_LABELS) {
		perr(c, n, "too many labels: %zu (max %u)", n->n, POLICY_MAX_LABELS);
		return;
	}
	for (size_t i = 0; i < n->n; i++) {
		const struct pnode *k = n->items[2 * i], *v = n->items[2 * i + 1];
		const char *why, *value;

		if (!is_key(k)) {
			perr(c, k, "invalid label key %s: must be a string", QN(k));
			continue;
		}
		why = policy_label_key_invalid(k->str);
		if (why) {
			perr(c, k, "invalid label key %s: %s", QN(k), why);
			continue;
		}
		if (!pget_str(c, v, &value))
			continue;
		why = policy_label_value_invalid(value);
		if (why) {
			perr(c, v, "invalid label value %s: %s", QN(v), why);
			continue;
		}
		if (policy_labels_set(l, k->str, value) < 0)
			c->oom = c->failed = true;
	}
}

static const char *const op_names[_POLICY_OP_MAX] = {
	[POLICY_OP_IN] = "In",
	[POLICY_OP_NOT_IN] = "NotIn",
	[POLICY_OP_EXISTS] = "Exists",
	[POLICY_OP_DOES_NOT_EXIST] = "DoesNotExist",
};

static void parse_expr(struct pctx *c, const struct pnode *n, struct policy_expr *e)
{
	static const char *const fields[] = { "key", "operator", "values", NULL };
	const struct pnode *key, *op, *values;
	const char *s, *why;
	bool op_ok = false;
	size_t p;

	if (!pexpect_map(c, n))
		return;
	pcheck_fields(c, n, fields);

	key = pfield(n, "key");
	if (!key) {
		perr(c, n, "missing required field \"key\"");
	} else {
		p = path_push(c, "key");
		if (pget_str(c, key, &s)) {
			why = policy_label_key_invalid(s);
			if (why)
				perr(c, key, "invalid label key %s: %s", QN(key), why);
			else
				pstrdup(c, &e->key, s);
		}
		path_pop(c, p);
	}

	op = pfield(n, "operator");
	if (!op) {
		perr(c, n, "missing required field \"operator\"");
	} else {
		p = path_push(c, "operator");
		if (pget_str(c, op, &s)) {
			for (unsigned i = 0; i < _POLICY_OP_MAX && !op_ok; i++)
				if (streq(s, op_names[i])) {
					e->op = (enum policy_op)i;
					op_ok = true;
				}
			if (!op_ok)
				perr(c, op,
				     "unknown operator %s: must be In, NotIn, Exists or DoesNotExist",
				     QN(op));
		}
		path_pop(c, p);
	}

	values = pfield(n, "values");
	p = path_push(c, "values");
	if (values && pexpect_seq(c, values, POLICY_MAX_VALUES, "values") && values->n > 0) {
		e->values = calloc(values->n, sizeof(char *));
		if (!e->values) {
			c->oom = c->failed = true;
			path_pop(c, p);
			return;
		}
		for (size_t i = 0; i < values->n; i++) {
			const struct pnode *v = values->items[i];
			size_t q = path_push_index(c, i);

			if (pget_str(c, v, &s)) {
				why = policy_label_value_invalid(s);
				if (why)
					perr(c, v, "invalid label value %s: %s", QN(v), why);
				else if (pstrdup(c, &e->values[e->n_values], s) == 0)
					e->n_values++;
			}
			path_pop(c, q);
		}
	}
	if (op_ok) {
		bool has = values && values->type == PNODE_SEQ && values->n > 0;

		if ((e->op == POLICY_OP_IN || e->op == POLICY_OP_NOT_IN) && !has)
			perr(c, values ? values : n,
			     "values must be non-empty when operator is In or NotIn");
		else if ((e->op == POLICY_OP_EXISTS || e->op == POLICY_OP_DOES_NOT_EXIST) && has)
			perr(c, values, "values must be empty when operator is Exists or DoesNotExist");
	}
	path_pop(c, p);
}

void pparse_selector(struct pctx *c, const struct pnode *n, struct policy_selector *s)
{
	static const char *const fields[] = { "matchLabels", "matchExpressions", NULL };
	const struct pnode *ml, *me;
	size_t p;

	if (!pexpect_map(c, n))
		return;
	pcheck_fields(c, n, fields);

	ml = pfield(n, "matchLabels");
	if (ml) {
		p = path_push(c, "matchLabels");
		pparse_labels(c, ml, &s->match_labels);
		path_pop(c, p);
	}

	me = pfield(n, "matchExpressions");
	if (!me)
		return;
	p = path_push(c, "matchExpressions");
	if (pexpect_seq(c, me, POLICY_MAX_EXPRESSIONS, "matchExpressions") && me->n > 0) {
		s->exprs = calloc(me->n, sizeof(*s->exprs));
		if (!s->exprs) {
			c->oom = c->failed = true;
		} else {
			s->n_exprs = me->n;
			for (size_t i = 0; i < me->n; i++) {
				size_t q = path_push_index(c, i);

				parse_expr(c, me->items[i], &s->exprs[i]);
				path_pop(c, q);
			}
		}
	}
	path_pop(c, p);
}

/* ---- metadata ---------------------------------------------------------------------------- */

#define ANNOTATIONS_MAX_BYTES (256 * 1024) /* TotalAnnotationSizeLimitB upstream */

static void parse_annotations(struct pctx *c, const struct pnode *n)
{
	size_t total = 0;

	if (!pexpect_map(c, n))
		return;
	for (size_t i = 0; i < n->n; i++) {
		const struct pnode *k = n->items[2 * i], *v = n->items[2 * i + 1];
		_cleanup_free_ char *lower = NULL;
		const char *why, *value;

		if (!is_key(k)) {
			perr(c, k, "invalid annotation key %s: must be a string", QN(k));
			continue;
		}
		/* the API server checks the lowercased key */
		lower = strdup(k->str);
		if (!lower) {
			c->oom = c->failed = true;
			return;
		}
		for (char *x = lower; *x; x++)
			if (*x >= 'A' && *x <= 'Z')
				*x = (char)(*x - 'A' + 'a');
		why = policy_label_key_invalid(lower);
		if (why)
			perr(c, k, "invalid annotation key %s: %s", QN(k), why);
		if (pget_str(c, v, &value))
			total += k->len + v->len;
	}
	if (total > ANNOTATIONS_MAX_BYTES)
		perr(c, n, "annotations too large: %zu bytes (max %u)", total, ANNOTATIONS_MAX_BYTES);
}

struct meta {
	const char *name;
	const char *namespace;
	const struct pnode *name_node;
	const struct pnode *namespace_node;
	struct policy_labels labels;
};

static void parse_metadata(struct pctx *c, const struct pnode *doc, struct meta *m)
{
	static const char *const fields[] = { "name", "namespace", "labels", "annotations", "uid",
					      "resourceVersion", "creationTimestamp", "generation",
					      "managedFields", NULL };
	const struct pnode *md, *x;
	size_t p;

	md = pfield(doc, "metadata");
	if (!md) {
		perr(c, doc, "missing required field \"metadata\"");
		return;
	}
	p = path_push(c, "metadata");
	if (!pexpect_map(c, md)) {
		path_pop(c, p);
		return;
	}
	pcheck_fields(c, md, fields);

	x = pfield(md, "name");
	if (!x) {
		perr(c, md, "missing required field \"name\"");
	} else {
		size_t q = path_push(c, "name");

		if (pget_str(c, x, &m->name))
			m->name_node = x;
		path_pop(c, q);
	}

	x = pfield(md, "namespace");
	if (x) {
		size_t q = path_push(c, "namespace");

		if (pget_str(c, x, &m->namespace))
			m->namespace_node = x;
		path_pop(c, q);
	}

	x = pfield(md, "labels");
	if (x) {
		size_t q = path_push(c, "labels");

		pparse_labels(c, x, &m->labels);
		path_pop(c, q);
	}

	x = pfield(md, "annotations");
	if (x) {
		size_t q = path_push(c, "annotations");

		parse_annotations(c, x);
		path_pop(c, q);
	}
	path_pop(c, p);
}

/* ---- kinds ------------------------------------------------------------------------------- */

struct result {
	struct policy_objects *o;
};

static int objects_add_ns(struct policy_objects *o, struct policy_namespace *n)
{
	struct policy_namespace **a = reallocarray(o->namespaces, o->n_namespaces + 1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	o->namespaces = a;
	a[o->n_namespaces++] = n;
	return 0;
}

static int objects_add_netpol(struct policy_objects *o, struct policy_netpol *p)
{
	struct policy_netpol **a = reallocarray(o->netpols, o->n_netpols + 1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	o->netpols = a;
	a[o->n_netpols++] = p;
	return 0;
}

static void check_name(struct pctx *c, const struct meta *m, bool label)
{
	const char *why;
	size_t p;

	if (!m->name_node)
		return;
	why = label ? policy_dns_label_invalid(m->name) : policy_dns_subdomain_invalid(m->name);
	if (!why)
		return;
	p = path_push(c, "metadata.name");
	perr(c, m->name_node, "invalid name %s: %s", Q(m->name), why);
	path_pop(c, p);
}

static void parse_status(struct pctx *c, const struct pnode *doc)
{
	const struct pnode *st = pfield(doc, "status");
	size_t p;

	if (!st)
		return;
	p = path_push(c, "status");
	pexpect_map(c, st);	/* ignored, but must be an object */
	path_pop(c, p);
}

static void parse_namespace(struct pctx *c, const struct pnode *doc, struct policy_objects *o)
{
	static const char *const fields[] = { "apiVersion", "kind", "metadata", "spec", "status",
					      NULL };
	struct meta m = { 0 };
	const struct pnode *spec;
	const char *v;
	size_t p;

	pcheck_fields(c, doc, fields);
	parse_metadata(c, doc, &m);
	check_name(c, &m, true);
	if (m.namespace_node && m.namespace[0]) {
		p = path_push(c, "metadata.namespace");
		perr(c, m.namespace_node, "not allowed for kind Namespace");
		path_pop(c, p);
	}
	v = policy_labels_get(&m.labels, POLICY_NS_NAME_LABEL);
	if (v && m.name && !streq(v, m.name)) {
		p = path_push(c, "metadata.labels");
		perr(c, pfield(pfield(doc, "metadata"), "labels"), "label %s must be %s",
		     Q(POLICY_NS_NAME_LABEL), Q(m.name));
		path_pop(c, p);
	}

	spec = pfield(doc, "spec");
	if (spec) {
		static const char *const spec_fields[] = { "finalizers", NULL };
		const struct pnode *fin;

		p = path_push(c, "spec");
		if (pexpect_map(c, spec)) {
			pcheck_fields(c, spec, spec_fields);
			fin = pfield(spec, "finalizers");
			if (fin) {
				size_t q = path_push(c, "finalizers");

				if (pexpect_seq(c, fin, POLICY_MAX_VALUES, "finalizers"))
					for (size_t i = 0; i < fin->n; i++) {
						size_t r = path_push_index(c, i);
						const char *s;

						pget_str(c, fin->items[i], &s);
						path_pop(c, r);
					}
				path_pop(c, q);
			}
		}
		path_pop(c, p);
	}
	parse_status(c, doc);

	if (!c->failed && !c->oom) {
		struct policy_namespace *n = policy_namespace_new(m.name, &m.labels);

		if (!n || objects_add_ns(o, n) < 0) {
			policy_namespace_free(n);
			c->oom = true;
		}
	}
	policy_labels_done(&m.labels);
}

static void parse_netpol(struct pctx *c, const struct pnode *doc, struct policy_objects *o)
{
	static const char *const fields[] = { "apiVersion", "kind", "metadata", "spec", "status",
					      NULL };
	_cleanup_(policy_netpol_freep) struct policy_netpol *np = NULL;
	struct meta m = { 0 };
	const struct pnode *spec;
	size_t p;

	np = policy_netpol_new();
	if (!np) {
		c->oom = c->failed = true;
		return;
	}
	pcheck_fields(c, doc, fields);
	parse_metadata(c, doc, &m);
	np->labels = m.labels;
	check_name(c, &m, false);
	if (m.name)
		pstrdup(c, &np->name, m.name);
	if (m.namespace_node && m.namespace[0]) {
		const char *why = policy_dns_label_invalid(m.namespace);

		if (why) {
			p = path_push(c, "metadata.namespace");
			perr(c, m.namespace_node, "invalid namespace %s: %s", Q(m.namespace), why);
			path_pop(c, p);
		}
		pstrdup(c, &np->namespace, m.namespace);
	} else {
		pstrdup(c, &np->namespace, "default");
	}

	spec = pfield(doc, "spec");
	if (!spec) {
		perr(c, doc, "missing required field \"spec\"");
	} else {
		p = path_push(c, "spec");
		pparse_netpol_spec(c, spec, np);
		path_pop(c, p);
	}
	parse_status(c, doc);

	if (c->file)
		pstrdup(c, &np->source_file, c->file);
	np->source_line = doc->line;
	if (!c->failed && !c->oom) {
		if (objects_add_netpol(o, np) < 0)
			c->oom = true;
		else
			TAKE_PTR(np);
	}
}

static void parse_object(struct pctx *c, const struct pnode *doc, struct policy_objects *o,
			 bool in_list);

static void parse_list(struct pctx *c, const struct pnode *doc, struct policy_objects *o,
		       size_t *n_objects)
{
	static const char *const fields[] = { "apiVersion", "kind", "metadata", "items", NULL };
	const struct pnode *items, *md;
	size_t p;

	pcheck_fields(c, doc, fields);
	md = pfield(doc, "metadata");
	if (md) {
		p = path_push(c, "metadata");
		pexpect_map(c, md);	/* ListMeta: ignored */
		path_pop(c, p);
	}
	items = pfield(doc, "items");
	if (!items)
		return;	/* an empty list */
	p = path_push(c, "items");
	if (pexpect_seq(c, items, POLICY_MAX_DOCUMENTS, "items")) {
		for (size_t i = 0; i < items->n; i++) {
			size_t q = path_push_index(c, i);

			if (++*n_objects > POLICY_MAX_DOCUMENTS) {
				perr(c, items->items[i], "too many objects (max %u)",
				     POLICY_MAX_DOCUMENTS);
				path_pop(c, q);
				break;
			}
			parse_object(c, items->items[i], o, true);
			path_pop(c, q);
		}
	}
	path_pop(c, p);
}

/* Returns false if doc is not an object or has no usable kind/apiVersion. */
static bool kind_of(struct pctx *c, const struct pnode *doc, const char **ret_kind,
		    const char **ret_api)
{
	const struct pnode *kind, *api;
	bool ok = true;
	size_t p;

	if (!pexpect_map(c, doc))
		return false;
	kind = pfield(doc, "kind");
	api = pfield(doc, "apiVersion");
	if (!kind) {
		perr(c, doc, "missing required field \"kind\"");
		ok = false;
	} else {
		p = path_push(c, "kind");
		ok = pget_str(c, kind, ret_kind);
		path_pop(c, p);
	}
	if (!api) {
		perr(c, doc, "missing required field \"apiVersion\"");
		ok = false;
	} else {
		p = path_push(c, "apiVersion");
		ok = pget_str(c, api, ret_api) && ok;
		path_pop(c, p);
	}
	return ok;
}

static bool check_api(struct pctx *c, const struct pnode *doc, const char *api, const char *want,
		      const char *kind)
{
	size_t p;

	if (streq(api, want))
		return true;
	p = path_push(c, "apiVersion");
	perr(c, pfield(doc, "apiVersion"), "unsupported apiVersion %s for kind %s (want %s)",
	     Q(api), kind, want);
	path_pop(c, p);
	return false;
}

static void parse_object(struct pctx *c, const struct pnode *doc, struct policy_objects *o,
			 bool in_list)
{
	const char *kind = NULL, *api = NULL;
	bool failed = c->failed;

	/* c->failed tracks this object only, so that one bad object does not hide another */
	c->failed = false;
	if (kind_of(c, doc, &kind, &api)) {
		if (streq(kind, "NetworkPolicy")) {
			if (check_api(c, doc, api, "networking.k8s.io/v1", kind))
				parse_netpol(c, doc, o);
		} else if (streq(kind, "Namespace")) {
			if (check_api(c, doc, api, "v1", kind))
				parse_namespace(c, doc, o);
		} else if (streq(kind, "List") && in_list) {
			size_t p = path_push(c, "kind");

			perr(c, pfield(doc, "kind"), "a List may not contain a List");
			path_pop(c, p);
		} else {
			size_t p = path_push(c, "kind");

			perr(c, pfield(doc, "kind"), "unknown kind %s", Q(kind));
			path_pop(c, p);
		}
	}
	c->failed = c->failed || failed;
}

static void parse_document(struct pctx *c, const struct pnode *doc, struct policy_objects *o,
			   size_t *n_objects)
{
	const char *kind = NULL, *api = NULL;
	bool failed = c->failed;

	/* empty documents ("---\n---") are skipped, as kubectl does */
	if (!doc || is_null(doc))
		return;
	/* a top-level JSON array (or YAML sequence) is a list of objects */
	if (doc->type == PNODE_SEQ) {
		if (doc->n > POLICY_MAX_DOCUMENTS - *n_objects) {
			perr(c, doc, "too many objects (max %u)", POLICY_MAX_DOCUMENTS);
			return;
		}
		for (size_t i = 0; i < doc->n; i++) {
			size_t p = path_push_index(c, i);

			++*n_objects;
			parse_object(c, doc->items[i], o, true);
			path_pop(c, p);
		}
		return;
	}
	if (doc->type == PNODE_MAP && pfield(doc, "kind") && pis_str(pfield(doc, "kind")) &&
	    streq(pfield(doc, "kind")->str, "List")) {
		c->failed = false;
		if (kind_of(c, doc, &kind, &api) && check_api(c, doc, api, "v1", kind))
			parse_list(c, doc, o, n_objects);
		c->failed = c->failed || failed;
		return;
	}
	if (++*n_objects > POLICY_MAX_DOCUMENTS) {
		perr(c, doc, "too many objects (max %u)", POLICY_MAX_DOCUMENTS);
		return;
	}
	parse_object(c, doc, o, false);
}

static bool looks_like_json(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')
			continue;
		return text[i] == '{' || text[i] == '[';
	}
	return false;
}

static int parse_all(struct pctx *c, const char *text, size_t len, struct policy_objects *o)
{
	struct pnode **docs = NULL;
	size_t n_docs = 0, n_objects = 0;
	int r;

	if (len > POLICY_MAX_INPUT_BYTES) {
		perr_at(c, 0, 0, "", "input too large: %zu bytes (max %u)", len,
			POLICY_MAX_INPUT_BYTES);
		return -EBADMSG;
	}
	r = ptree_load(c, text, len, looks_like_json(text, len), &docs, &n_docs);
	if (r < 0)
		return c->oom ? -ENOMEM : r;
	c->failed = false;
	for (size_t i = 0; i < n_docs && !c->oom; i++)
		parse_document(c, docs[i], o, &n_objects);
	for (size_t i = 0; i < n_docs; i++)
		pnode_free(docs[i]);
	free(docs);
	if (c->oom)
		return -ENOMEM;
	return c->failed ? -EBADMSG : 0;
}

/* Moves the diagnostics of src to the end of dst. */
static int diags_move(struct policy_diags *dst, struct policy_diags *src)
{
	struct policy_diag *items;

	if (dst->n == 0) {
		free(dst->items);
		*dst = *src;
		*src = (struct policy_diags){ 0 };
		return 0;
	}
	items = reallocarray(dst->items, dst->n + src->n, sizeof(*items));
	if (!items)
		return -ENOMEM;
	memcpy(items + dst->n, src->items, src->n * sizeof(*items));
	dst->items = items;
	dst->n += src->n;
	free(src->items);
	*src = (struct policy_diags){ 0 };
	return 0;
}

/* File order, so that a reader can walk the input top to bottom. Stable (insertion sort: at
 * most a thousand diagnostics), so problems at one position keep the order they were found in. */
static void diags_sort(struct policy_diags *d)
{
	for (size_t i = 1; i < d->n; i++) {
		struct policy_diag x = d->items[i];
		size_t j = i;

		while (j > 0 && (d->items[j - 1].line > x.line ||
				 (d->items[j - 1].line == x.line && d->items[j - 1].column > x.column))) {
			d->items[j] = d->items[j - 1];
			j--;
		}
		d->items[j] = x;
	}
}

_public_ int policy_parse(const char *file, const char *text, size_t len,
			  struct policy_objects **ret, struct policy_diags *reterr)
{
	_cleanup_(policy_objects_freep) struct policy_objects *o = NULL;
	struct policy_diags diags = { 0 };
	struct pctx c = { .file = file, .diags = &diags };
	int r;

	if (!ret || (!text && len > 0))
		return -EINVAL;
	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	r = parse_all(&c, text ? text : "", len, o);
	diags_sort(&diags);
	if (r == -EBADMSG && reterr && diags_move(reterr, &diags) < 0)
		r = -ENOMEM;
	policy_diags_done(&diags);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}
