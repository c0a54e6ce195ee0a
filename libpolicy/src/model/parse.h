/* SPDX-License-Identifier: MIT */
/*
 * Private to the parser: the node tree (built from libyaml events, or from jansson when libyaml
 * cannot read a JSON text), the parse context with its field path, and typed field helpers.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "policy/policy.h"
#include "macro.h"

enum pnode_type {
	PNODE_SCALAR,
	PNODE_MAP,
	PNODE_SEQ,
};

/* What a scalar resolves to (YAML 1.1 core types, as Kubernetes' YAML decoder; JSON literals). */
enum pscalar_kind {
	PSCALAR_STR,
	PSCALAR_INT,
	PSCALAR_FLOAT,
	PSCALAR_BOOL,
	PSCALAR_NULL,
};

struct pnode {
	enum pnode_type type;
	enum pscalar_kind kind; /* scalars only */
	unsigned line, column;	/* 1-based; 0 when unknown */
	char *str;		/* scalars: value, NUL-terminated (may contain NUL: see len) */
	size_t len;
	struct pnode **items; /* seq: n items; map: n pairs as items[2i] key, items[2i+1] value */
	size_t n;
	size_t cap;
};

/* Nodes of one input, a cap on memory that the per-object limits cannot give (4 MiB of "[0,0,"). */
#define PARSE_MAX_NODES (POLICY_MAX_INPUT_BYTES / 8)
/* Diagnostics kept per input; one more says that the rest were dropped. */
#define PARSE_MAX_DIAGS 1000

#define PARSE_PATH_MAX 512

struct pctx {
	const char *file;
	struct policy_diags *diags;
	bool oom;
	bool failed;
	char path[PARSE_PATH_MAX];
	size_t path_len;
};

struct pnode *pnode_free(struct pnode *n);
void pnode_freep(struct pnode **n);

/*
 * Reads all documents of text into trees. YAML: libyaml events; JSON (json = true): strict
 * jansson validation, positions from libyaml when it reads the same tree (else none).
 * Returns 0 and the roots, or -EBADMSG with diagnostics in c, or -ENOMEM.
 */
int ptree_load(struct pctx *c, const char *text, size_t len, bool json, struct pnode ***ret_docs,
	       size_t *ret_n);

/* ---- context helpers (parse-node.c) ---- */

void perr(struct pctx *c, const struct pnode *at, const char *fmt, ...) _printf_(3, 4);
void perr_at(struct pctx *c, unsigned line, unsigned column, const char *path, const char *fmt, ...)
	_printf_(5, 6);
size_t path_push(struct pctx *c, const char *key);
size_t path_push_index(struct pctx *c, size_t i);
void path_pop(struct pctx *c, size_t old);
int pstrdup(struct pctx *c, char **dst, const char *s);

/* "\"value\"" escaped and shortened for a message; buf must have QUOTE_MAX bytes */
#define QUOTE_MAX 160
const char *quote(char *buf, const char *s, size_t len);
#define Q(s) quote((char[QUOTE_MAX]){ 0 }, (s), strlen(s))
#define QN(n) quote((char[QUOTE_MAX]){ 0 }, (n)->str, (n)->len)

const char *pnode_type_name(const struct pnode *n);
/* value of key in map, NULL when absent or null */
const struct pnode *pfield(const struct pnode *map, const char *key);
/* reports every key of map that is not in allowed (NULL-terminated) */
void pcheck_fields(struct pctx *c, const struct pnode *map, const char *const *allowed);
bool pexpect_map(struct pctx *c, const struct pnode *n);
bool pexpect_seq(struct pctx *c, const struct pnode *n, size_t max, const char *what);
/*
 * The items of list n (min..max of them, `what` in messages), each parsed by fn, with its index
 * on the path, into a new zeroed array of elements of `size` bytes: returned with its length in
 * *ret_n; NULL (and 0) for an empty or bad list.
 */
typedef void (*pitem_fn)(struct pctx *c, const struct pnode *item, void *elem, void *ud);
void *pparse_items(struct pctx *c, const struct pnode *n, size_t min, size_t max, const char *what,
		   size_t size, size_t *ret_n, pitem_fn fn, void *ud);
/* a string scalar without NUL bytes */
bool pget_str(struct pctx *c, const struct pnode *n, const char **ret);
bool pis_str(const struct pnode *n);
/* a scalar that resolved to null */
bool pis_null(const struct pnode *n);
/* a scalar usable as a mapping key, taken as written (no NUL bytes) */
bool pis_key(const struct pnode *k);
/* a decimal integer in [INT64_MIN, INT64_MAX] */
bool pget_int(struct pctx *c, const struct pnode *n, long long *ret);

/* ---- labels and selectors (parse-selector.c) ---- */

/* string-to-string map with label syntax, into l; prefix names the map in messages */
void pparse_labels(struct pctx *c, const struct pnode *n, struct policy_labels *l);
void pparse_selector(struct pctx *c, const struct pnode *n, struct policy_selector *s);

/* ---- NetworkPolicy spec (parse-netpol.c) ---- */

void pparse_netpol_spec(struct pctx *c, const struct pnode *spec, struct policy_netpol *p);
bool parse_cidr(const char *s, struct policy_cidr *ret);

/* ---- object metadata (parse.c) ---- */
struct meta {
	const char *name;
	const char *namespace;
	const struct pnode *name_node;
	const struct pnode *namespace_node;
	struct policy_labels labels;
};

/* ---- Node spec and status (parse-k8snode.c) ---- */
/* doc's spec (ignored, an object) and status.addresses into n */
void pparse_node_body(struct pctx *c, const struct pnode *doc, struct policy_node *n);

/* ---- ClusterNetworkPolicy spec (parse-cnp.c) ---- */

void pparse_cnp_spec(struct pctx *c, const struct pnode *spec, struct policy_cnp *p);
