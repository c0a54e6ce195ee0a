/* SPDX-License-Identifier: MIT */
/*
 * policy_parse(): documents to objects, validated as the API server validates them
 * (k8s.io/apimachinery metav1 validation and pkg/apis/networking/validation). One diagnostic
 * per problem; a bad input yields no objects at all.
 *
 * This file is the top of the parser: the entry point, the walk over the documents of an input
 * (multi-document YAML, a top-level array, `kind: List`), the dispatch on kind and apiVersion,
 * object metadata, and the Namespace and NetworkPolicy objects around their specs. Text to
 * trees is parse-tree.c, the generic node helpers parse-node.c, labels and selectors
 * parse-selector.c, the NetworkPolicy spec parse-netpol.c, the ClusterNetworkPolicy spec
 * parse-cnp.c, the Node body parse-k8snode.c.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/parse.h"
#include "policy/policy.h"

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

		if (!pis_key(k)) {
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
		perr(c, n, "annotations too large: %zu bytes (max %u)", total,
		     ANNOTATIONS_MAX_BYTES);
}

static void parse_metadata(struct pctx *c, const struct pnode *doc, struct meta *m)
{
	static const char *const fields[] = { "name",
					      "namespace",
					      "labels",
					      "annotations",
					      "uid",
					      "resourceVersion",
					      "creationTimestamp",
					      "generation",
					      "managedFields",
					      NULL };
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

static int objects_add_cnp(struct policy_objects *o, struct policy_cnp *p)
{
	struct policy_cnp **a = reallocarray(o->cnps, o->n_cnps + 1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	o->cnps = a;
	a[o->n_cnps++] = p;
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
	pexpect_map(c, st); /* ignored, but must be an object */
	path_pop(c, p);
}

static void parse_namespace(struct pctx *c, const struct pnode *doc, struct policy_objects *o)
{
	static const char *const fields[] = { "apiVersion", "kind",   "metadata",
					      "spec",	    "status", NULL };
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
	static const char *const fields[] = { "apiVersion", "kind",   "metadata",
					      "spec",	    "status", NULL };
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

/*
 * Cluster-scoped: a namespace is an error (the API server rejects one that differs from the
 * request's, which has none). Two objects of one name in an input are not an error, as for
 * NetworkPolicy: applied in order, the later one wins.
 */
static void parse_cnp(struct pctx *c, const struct pnode *doc, struct policy_objects *o)
{
	static const char *const fields[] = { "apiVersion", "kind",   "metadata",
					      "spec",	    "status", NULL };
	_cleanup_(policy_cnp_freep) struct policy_cnp *cnp = NULL;
	struct meta m = { 0 };
	const struct pnode *spec;
	size_t p;

	cnp = policy_cnp_new();
	if (!cnp) {
		c->oom = c->failed = true;
		return;
	}
	pcheck_fields(c, doc, fields);
	parse_metadata(c, doc, &m);
	cnp->labels = m.labels;
	check_name(c, &m, false);
	if (m.name)
		pstrdup(c, &cnp->name, m.name);
	if (m.namespace_node && m.namespace[0]) {
		p = path_push(c, "metadata.namespace");
		perr(c, m.namespace_node,
		     "not allowed: ClusterNetworkPolicy is cluster-scoped (has no namespace)");
		path_pop(c, p);
	}

	spec = pfield(doc, "spec");
	if (!spec) {
		perr(c, doc, "missing required field \"spec\"");
	} else {
		p = path_push(c, "spec");
		pparse_cnp_spec(c, spec, cnp);
		path_pop(c, p);
	}
	parse_status(c, doc);

	if (c->file)
		pstrdup(c, &cnp->source_file, c->file);
	cnp->source_line = doc->line;
	if (!c->failed && !c->oom) {
		if (objects_add_cnp(o, cnp) < 0)
			c->oom = true;
		else
			TAKE_PTR(cnp);
	}
}

/* Node (v1), cluster-scoped; two of one name in an input: the later one wins. */
static void parse_k8s_node(struct pctx *c, const struct pnode *doc, struct policy_objects *o)
{
	static const char *const fields[] = { "apiVersion", "kind",   "metadata",
					      "spec",	    "status", NULL };
	struct policy_node *n = calloc(1, sizeof(*n)), **a;
	struct meta m = { 0 };
	size_t p;

	if (!n) {
		c->oom = c->failed = true;
		return;
	}
	pcheck_fields(c, doc, fields);
	parse_metadata(c, doc, &m);
	n->labels = m.labels;
	check_name(c, &m, false);
	if (m.name)
		pstrdup(c, &n->name, m.name);
	if (m.namespace_node && m.namespace[0]) {
		p = path_push(c, "metadata.namespace");
		perr(c, m.namespace_node, "not allowed: Node is cluster-scoped (has no namespace)");
		path_pop(c, p);
	}
	pparse_node_body(c, doc, n);
	if (!c->failed && !c->oom) {
		a = reallocarray(o->nodes, o->n_nodes + 1, sizeof(*a));
		if (a) {
			o->nodes = a;
			a[o->n_nodes++] = TAKE_PTR(n);
		} else {
			c->oom = true;
		}
	}
	policy_node_free(n);
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
		pexpect_map(c, md); /* ListMeta: ignored */
		path_pop(c, p);
	}
	items = pfield(doc, "items");
	if (!items)
		return; /* an empty list */
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
		} else if (streq(kind, "ClusterNetworkPolicy")) {
			if (check_api(c, doc, api, "policy.networking.k8s.io/v1alpha2", kind))
				parse_cnp(c, doc, o);
		} else if (streq(kind, "Node")) {
			if (check_api(c, doc, api, "v1", kind))
				parse_k8s_node(c, doc, o);
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
	if (!doc || pis_null(doc))
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

/*
 * UTF-16 with a byte order mark (what Windows PowerShell 5 writes by default) as UTF-8 in a new
 * buffer; the mark itself is dropped. -EBADMSG with a diagnostic for an odd length or a lone
 * surrogate, at its line and column.
 */
static int utf16_to_utf8(struct pctx *c, const unsigned char *in, size_t len, bool big_endian,
			 char **ret, size_t *ret_len)
{
	_cleanup_free_ char *out = NULL;
	unsigned line = 1, column = 1;
	size_t n = 0;

	if (len % 2) {
		perr_at(c, 0, 0, "", "UTF-16 input (byte order mark) of an odd length: %zu bytes",
			len + 2);
		return -EBADMSG;
	}
	/* 2 bytes of UTF-16 make at most 3 of UTF-8; 4 (a pair) make 4 */
	out = malloc(len / 2 * 3 + 1);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < len; i += 2) {
		uint32_t u = big_endian ? (uint32_t)in[i] << 8 | in[i + 1]
					: (uint32_t)in[i + 1] << 8 | in[i];

		if (u >= 0xd800 && u <= 0xdbff && i + 3 < len) {
			uint32_t lo = big_endian ? (uint32_t)in[i + 2] << 8 | in[i + 3]
						 : (uint32_t)in[i + 3] << 8 | in[i + 2];

			if (lo >= 0xdc00 && lo <= 0xdfff) {
				u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
				i += 2;
			}
		}
		if (u >= 0xd800 && u <= 0xdfff) {
			perr_at(c, line, column, "", "invalid UTF-16: a lone surrogate (0x%04x)",
				u);
			return -EBADMSG;
		}
		if (u == '\n') {
			line++;
			column = 0;
		}
		column++;
		if (u < 0x80) {
			out[n++] = (char)u;
		} else if (u < 0x800) {
			out[n++] = (char)(0xc0 | u >> 6);
			out[n++] = (char)(0x80 | (u & 0x3f));
		} else if (u < 0x10000) {
			out[n++] = (char)(0xe0 | u >> 12);
			out[n++] = (char)(0x80 | (u >> 6 & 0x3f));
			out[n++] = (char)(0x80 | (u & 0x3f));
		} else {
			out[n++] = (char)(0xf0 | u >> 18);
			out[n++] = (char)(0x80 | (u >> 12 & 0x3f));
			out[n++] = (char)(0x80 | (u >> 6 & 0x3f));
			out[n++] = (char)(0x80 | (u & 0x3f));
		}
	}
	out[n] = 0;
	*ret = TAKE_PTR(out);
	*ret_len = n;
	return 0;
}

static int parse_all(struct pctx *c, const char *text, size_t len, struct policy_objects *o)
{
	_cleanup_free_ char *utf8 = NULL;
	struct pnode **docs = NULL;
	size_t n_docs = 0, n_objects = 0;
	int r;

	if (len > POLICY_MAX_INPUT_BYTES) {
		perr_at(c, 0, 0, "", "input too large: %zu bytes (max %u)", len,
			POLICY_MAX_INPUT_BYTES);
		return -EBADMSG;
	}
	/*
	 * A byte order mark is not content: kubectl reads files through BOMOverride, which drops
	 * a UTF-8 one and decodes UTF-16 after one. Positions then count from after the mark, as
	 * editors show them. CRLF needs nothing: libyaml and jansson both take it as a line end.
	 */
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		text += 3;
		len -= 3;
	} else if (len >= 2 &&
		   (memcmp(text, "\xff\xfe", 2) == 0 || memcmp(text, "\xfe\xff", 2) == 0)) {
		r = utf16_to_utf8(c, (const unsigned char *)text + 2, len - 2, text[0] == '\xfe',
				  &utf8, &len);
		if (r < 0)
			return r;
		text = utf8;
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

		while (j > 0 &&
		       (d->items[j - 1].line > x.line ||
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
