/* SPDX-License-Identifier: MIT */
/*
 * Text to node trees. YAML goes through libyaml's event API; each node keeps its start mark.
 *
 * JSON is validated by jansson (syntax, UTF-8, duplicate keys, number ranges): it is the
 * authority on what is valid JSON. jansson keeps no positions, so the same text is also read by
 * libyaml (JSON is YAML flow syntax) and that tree, which has marks, is used if it is the same
 * tree as jansson's: same types, same keys, same strings. libyaml 0.2.5 cannot read some valid
 * JSON (a "\ud83d\ude00" surrogate pair, a tab before the first '{', a ':' on the line after
 * its key); then the tree is built from jansson's values and diagnostics have no line/column.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "macro.h"
#include "model/parse.h"

struct pnode *pnode_free(struct pnode *n)
{
	if (!n)
		return NULL;
	for (size_t i = 0; i < (n->type == PNODE_MAP ? 2 * n->n : n->n); i++)
		pnode_free(n->items[i]);
	free(n->items);
	free(n->str);
	free(n);
	return NULL;
}

void pnode_freep(struct pnode **n)
{
	*n = pnode_free(*n);
}

static void docs_free(struct pnode **docs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pnode_free(docs[i]);
	free(docs);
}

/* ---- scalar resolution ------------------------------------------------------------------- */

static bool str_in(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (streq(s, *list))
			return true;
	return false;
}

static bool all_of(const char *s, const char *set)
{
	if (!*s)
		return false;
	return strspn(s, set) == strlen(s);
}

/* YAML 1.1 integers as go-yaml reads them: decimal, 0x, 0b, octal, '_' separators. */
static bool yaml11_int(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		return all_of(s + 2, "0123456789abcdefABCDEF_");
	if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B'))
		return all_of(s + 2, "01_");
	return (*s >= '0' && *s <= '9') && all_of(s, "0123456789_");
}

static bool yaml11_float(const char *s)
{
	static const char *const special[] = { ".inf",	".Inf",	 ".INF",  "+.inf", "+.Inf",
					       "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
					       ".NaN",	".NAN",	 NULL };
	bool digits = false;

	if (str_in(s, special))
		return true;
	if (*s == '-' || *s == '+')
		s++;
	for (; (*s >= '0' && *s <= '9') || *s == '_'; s++)
		digits = true;
	if (*s == '.')
		for (s++; (*s >= '0' && *s <= '9') || *s == '_'; s++)
			digits = true;
	if (!digits)
		return false;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

static enum pscalar_kind resolve_yaml_plain(const char *s)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
	static const char *const bools[] = { "y",    "Y",     "yes",   "Yes",	"YES",	"n",
					     "N",    "no",    "No",    "NO",	"true", "True",
					     "TRUE", "false", "False", "FALSE", "on",	"On",
					     "ON",   "off",   "Off",   "OFF",	NULL };

	if (str_in(s, nulls))
		return PSCALAR_NULL;
	if (str_in(s, bools))
		return PSCALAR_BOOL;
	if (yaml11_int(s))
		return PSCALAR_INT;
	if (yaml11_float(s))
		return PSCALAR_FLOAT;
	return PSCALAR_STR;
}

/* A plain scalar in a text jansson accepted is a JSON number or literal. */
static enum pscalar_kind resolve_json_plain(const char *s)
{
	const char *p = s;

	if (streq(s, "true") || streq(s, "false"))
		return PSCALAR_BOOL;
	if (streq(s, "null"))
		return PSCALAR_NULL;
	if (*p == '-')
		p++;
	if (all_of(p, "0123456789"))
		return PSCALAR_INT;
	return PSCALAR_FLOAT;
}

/* ---- libyaml event builder --------------------------------------------------------------- */

struct builder {
	struct pctx *c;
	bool json;
	struct pnode *stack[POLICY_MAX_DEPTH];
	size_t depth;
	struct pnode *root;
	struct pnode **docs;
	size_t n_docs;
	size_t n_nodes;
	bool fatal; /* stop reading */
	bool limit; /* stopped by one of our limits, not by the syntax */
};

static void builder_path(struct builder *b, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < b->depth && len < size; i++) {
		const struct pnode *p = b->stack[i];
		int r;

		if (p->type == PNODE_MAP) {
			const struct pnode *k;

			if (p->n == 0 || p->items[2 * (p->n - 1) + 1])
				break; /* no pending key: this is the innermost level */
			k = p->items[2 * (p->n - 1)];
			r = snprintf(buf + len, size - len, "%s%s", len ? "." : "", k->str);
		} else {
			r = snprintf(buf + len, size - len, "[%zu]", p->n);
		}
		if (r < 0)
			break;
		len += (size_t)r;
	}
}

static void berr(struct builder *b, const yaml_mark_t *m, bool with_path, const char *fmt, ...)
	_printf_(4, 5);
static void berr(struct builder *b, const yaml_mark_t *m, bool with_path, const char *fmt, ...)
{
	char path[PARSE_PATH_MAX] = "", *msg = NULL;
	va_list ap;
	int r;

	if (with_path)
		builder_path(b, path, sizeof(path));
	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0) {
		b->c->oom = true;
		return;
	}
	perr_at(b->c, m ? (unsigned)m->line + 1 : 0, m ? (unsigned)m->column + 1 : 0, path, "%s",
		msg);
	free(msg);
}

static struct pnode *node_new(struct builder *b, enum pnode_type type, const yaml_mark_t *m)
{
	struct pnode *n;

	if (++b->n_nodes > PARSE_MAX_NODES) {
		berr(b, m, false, "too many values in input (max %u)", (unsigned)PARSE_MAX_NODES);
		b->fatal = b->limit = true;
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		b->c->oom = b->fatal = true;
		return NULL;
	}
	n->type = type;
	n->line = (unsigned)m->line + 1;
	n->column = (unsigned)m->column + 1;
	return n;
}

static bool node_append(struct pnode *p, struct pnode *child)
{
	if (p->n * (p->type == PNODE_MAP ? 2 : 1) + 2 > p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		struct pnode **items = reallocarray(p->items, cap, sizeof(*items));

		if (!items)
			return false;
		p->items = items;
		p->cap = cap;
	}
	if (p->type == PNODE_SEQ) {
		p->items[p->n++] = child;
	} else if (p->n > 0 && !p->items[2 * (p->n - 1) + 1]) {
		p->items[2 * (p->n - 1) + 1] = child; /* value of the pending key */
	} else {
		p->items[2 * p->n] = child; /* a new key; value pending */
		p->items[2 * p->n + 1] = NULL;
		p->n++;
	}
	return true;
}

/* Places a finished node in its parent, or makes it the document root. Takes ownership. */
static void builder_add(struct builder *b, struct pnode *n)
{
	struct pnode *p;

	if (b->depth == 0) {
		b->root = n;
		return;
	}
	p = b->stack[b->depth - 1];
	if (p->type == PNODE_MAP && (p->n == 0 || p->items[2 * (p->n - 1) + 1]) &&
	    n->type != PNODE_SCALAR) {
		yaml_mark_t at = { .line = n->line - 1, .column = n->column - 1 };

		berr(b, &at, true, "a mapping key must be a scalar");
		b->fatal = true;
		pnode_free(n);
		return;
	}
	if (!node_append(p, n)) {
		b->c->oom = b->fatal = true;
		pnode_free(n);
	}
}

#define YAML_TAG_PREFIX "tag:yaml.org,2002:"

/* Checks an explicit tag against the node; "!" and no tag leave resolution alone. */
static bool builder_tag(struct builder *b, const yaml_char_t *utag, enum pnode_type type,
			enum pscalar_kind *kind, const char *value, const yaml_mark_t *m)
{
	const char *tag = (const char *)utag, *t;

	if (!tag || streq(tag, "!"))
		return true;
	if (strncmp(tag, YAML_TAG_PREFIX, strlen(YAML_TAG_PREFIX)) != 0)
		goto bad;
	t = tag + strlen(YAML_TAG_PREFIX);
	if (type == PNODE_MAP)
		return streq(t, "map") ||
		       (berr(b, m, true, "tag %s does not fit a mapping", Q(tag)), false);
	if (type == PNODE_SEQ)
		return streq(t, "seq") ||
		       (berr(b, m, true, "tag %s does not fit a sequence", Q(tag)), false);
	if (streq(t, "str")) {
		*kind = PSCALAR_STR;
		return true;
	}
	if (streq(t, "int") || streq(t, "float") || streq(t, "bool") || streq(t, "null")) {
		enum pscalar_kind k = resolve_yaml_plain(value);
		enum pscalar_kind want = t[0] == 'i'   ? PSCALAR_INT
					 : t[0] == 'f' ? PSCALAR_FLOAT
					 : t[0] == 'b' ? PSCALAR_BOOL
						       : PSCALAR_NULL;

		if (want == PSCALAR_FLOAT && k == PSCALAR_INT)
			k = PSCALAR_FLOAT;
		if (k != want) {
			berr(b, m, true, "value %s does not fit tag %s", Q(value), Q(tag));
			return false;
		}
		*kind = k;
		return true;
	}
bad:
	berr(b, m, true, "unsupported tag %s", Q(tag));
	return false;
}

/* Sorting pairs by key finds duplicates in O(n log n); a quadratic scan is a DoS vector. */
static int key_cmp(const void *x, const void *y)
{
	const struct pnode *a = *(const struct pnode *const *)x,
			   *b = *(const struct pnode *const *)y;
	int c;

	c = memcmp(a->str, b->str, a->len < b->len ? a->len : b->len);
	if (c != 0)
		return c;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	/* then in document order */
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	return a->column < b->column ? -1 : (a->column > b->column);
}

static void builder_check_duplicates(struct builder *b, const struct pnode *map)
{
	_cleanup_free_ struct pnode **keys = NULL;

	if (map->n < 2)
		return;
	keys = calloc(map->n, sizeof(*keys));
	if (!keys) {
		b->c->oom = true;
		return;
	}
	for (size_t i = 0; i < map->n; i++)
		keys[i] = map->items[2 * i];
	qsort_safe(keys, map->n, sizeof(*keys), key_cmp);
	for (size_t i = 1; i < map->n; i++)
		if (keys[i]->len == keys[i - 1]->len &&
		    memcmp(keys[i]->str, keys[i - 1]->str, keys[i]->len) == 0) {
			yaml_mark_t m = { .line = keys[i]->line - 1,
					  .column = keys[i]->column - 1 };

			/* the map is on top of the stack: its path is the path of the parent key */
			berr(b, &m, true, "duplicate key %s", QN(keys[i]));
			b->c->failed = true;
		}
}

static void builder_event(struct builder *b, yaml_event_t *e)
{
	const yaml_mark_t *m = &e->start_mark;
	struct pnode *n;

	switch (e->type) {
	case YAML_NO_EVENT:
	case YAML_STREAM_START_EVENT:
	case YAML_STREAM_END_EVENT:
		return;
	case YAML_DOCUMENT_START_EVENT:
		if (b->n_docs >= POLICY_MAX_DOCUMENTS) {
			berr(b, m, false, "too many documents (max %u)", POLICY_MAX_DOCUMENTS);
			b->fatal = b->limit = true;
		}
		b->root = NULL;
		return;
	case YAML_DOCUMENT_END_EVENT: {
		struct pnode **docs = reallocarray(b->docs, b->n_docs + 1, sizeof(*docs));

		if (!docs) {
			b->c->oom = b->fatal = true;
			return;
		}
		b->docs = docs;
		b->docs[b->n_docs++] = TAKE_PTR(b->root);
		return;
	}
	case YAML_ALIAS_EVENT:
		/* Aliases would let a few bytes expand to an exponential tree (billion laughs). */
		berr(b, m, true, "YAML aliases are not allowed");
		b->fatal = true;
		return;
	case YAML_SCALAR_EVENT: {
		enum pscalar_kind kind;
		const char *v = (const char *)e->data.scalar.value;

		if (e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
			kind = PSCALAR_STR;
		else
			kind = b->json ? resolve_json_plain(v) : resolve_yaml_plain(v);
		if (!builder_tag(b, e->data.scalar.tag, PNODE_SCALAR, &kind, v, m)) {
			b->fatal = true;
			return;
		}
		n = node_new(b, PNODE_SCALAR, m);
		if (!n)
			return;
		n->kind = kind;
		n->len = e->data.scalar.length;
		n->str = malloc(n->len + 1);
		if (!n->str) {
			pnode_free(n);
			b->c->oom = b->fatal = true;
			return;
		}
		memcpy(n->str, v, n->len);
		n->str[n->len] = '\0';
		builder_add(b, n);
		return;
	}
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		bool seq = e->type == YAML_SEQUENCE_START_EVENT;

		if (b->depth >= POLICY_MAX_DEPTH) {
			berr(b, m, false, "nesting too deep (max %u)", POLICY_MAX_DEPTH);
			b->fatal = b->limit = true;
			return;
		}
		if (!builder_tag(b, seq ? e->data.sequence_start.tag : e->data.mapping_start.tag,
				 seq ? PNODE_SEQ : PNODE_MAP, NULL, NULL, m)) {
			b->fatal = true;
			return;
		}
		n = node_new(b, seq ? PNODE_SEQ : PNODE_MAP, m);
		if (!n)
			return;
		b->stack[b->depth++] = n;
		return;
	}
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (b->depth == 0)
			return; /* libyaml never does this */
		n = b->stack[b->depth - 1];
		if (n->type == PNODE_MAP)
			builder_check_duplicates(b, n);
		b->depth--;
		builder_add(b, n);
		return;
	}
}

/* 1-based line and column (in characters) of a byte offset */
static void offset_to_position(const char *text, size_t len, size_t offset, unsigned *ret_line,
			       unsigned *ret_column)
{
	unsigned line = 1, column = 1;

	for (size_t i = 0; i < offset && i < len; i++) {
		/* as libyaml counts: LF, CRLF and a lone CR each end a line */
		if (text[i] == '\n' || (text[i] == '\r' && (i + 1 >= len || text[i + 1] != '\n'))) {
			line++;
			column = 1;
		} else if (((unsigned char)text[i] & 0xc0) != 0x80) {
			column++;
		}
	}
	*ret_line = line;
	*ret_column = column;
}

static int yaml_load(struct pctx *c, const char *text, size_t len, bool json, bool *ret_limit,
		     struct pnode ***ret_docs, size_t *ret_n)
{
	struct builder b = { .c = c, .json = json };
	yaml_parser_t parser;
	bool done = false;

	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	/* UTF-8 only: libyaml would otherwise also accept UTF-16 after a BOM */
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (!done && !b.fatal && !c->oom) {
		yaml_event_t e;

		if (!yaml_parser_parse(&parser, &e)) {
			if (parser.error == YAML_MEMORY_ERROR) {
				c->oom = true;
			} else {
				yaml_mark_t m = parser.problem_mark;

				/* libyaml reports reader errors (bad UTF-8) with an offset only */
				if (parser.error == YAML_READER_ERROR) {
					unsigned line, column;

					offset_to_position(text, len, parser.problem_offset, &line,
							   &column);
					perr_at(c, line, column, "", "%s",
						parser.problem ? parser.problem : "invalid input");
				} else
					perr_at(c, (unsigned)m.line + 1, (unsigned)m.column + 1, "",
						"%s%s%s",
						parser.problem ? parser.problem : "syntax error",
						parser.context ? " " : "",
						parser.context ? parser.context : "");
			}
			b.fatal = true;
			break;
		}
		done = e.type == YAML_STREAM_END_EVENT;
		builder_event(&b, &e);
		yaml_event_delete(&e);
	}
	yaml_parser_delete(&parser);
	for (size_t i = 0; i < b.depth; i++)
		if (b.stack[i] != b.root)
			pnode_free(b.stack[i]);
	/* the innermost open containers are owned by their parents only once closed */
	pnode_free(b.root);
	*ret_limit = b.limit;
	if (c->oom || b.fatal || c->failed) {
		docs_free(b.docs, b.n_docs);
		return c->oom ? -ENOMEM : -EBADMSG;
	}
	*ret_docs = b.docs;
	*ret_n = b.n_docs;
	return 0;
}

/* ---- JSON -------------------------------------------------------------------------------- */

static bool tree_matches_json(const struct pnode *n, json_t *j)
{
	switch (n->type) {
	case PNODE_SCALAR:
		switch (n->kind) {
		case PSCALAR_STR:
			return json_is_string(j) && json_string_length(j) == n->len &&
			       memcmp(json_string_value(j), n->str, n->len) == 0;
		case PSCALAR_INT:
			return json_is_integer(j);
		case PSCALAR_FLOAT:
			return json_is_real(j);
		case PSCALAR_BOOL:
			return json_is_boolean(j);
		case PSCALAR_NULL:
			return json_is_null(j);
		}
		return false;
	case PNODE_SEQ:
		if (!json_is_array(j) || json_array_size(j) != n->n)
			return false;
		for (size_t i = 0; i < n->n; i++)
			if (!tree_matches_json(n->items[i], json_array_get(j, i)))
				return false;
		return true;
	case PNODE_MAP:
		if (!json_is_object(j) || json_object_size(j) != n->n)
			return false;
		for (size_t i = 0; i < n->n; i++) {
			const struct pnode *k = n->items[2 * i];
			json_t *v = json_object_getn(j, k->str, k->len);

			if (k->kind != PSCALAR_STR || !v ||
			    !tree_matches_json(n->items[2 * i + 1], v))
				return false;
		}
		return true;
	}
	return false;
}

struct jconv {
	struct pctx *c;
	size_t n_nodes;
	bool failed;
};

static struct pnode *scalar_from(struct jconv *v, enum pscalar_kind kind, const char *s, size_t len)
{
	struct pnode *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->type = PNODE_SCALAR;
	n->kind = kind;
	n->len = len;
	n->str = malloc(len + 1);
	if (!n->str)
		return pnode_free(n);
	memcpy(n->str, s, len);
	n->str[len] = '\0';
	return n;
}

/* Returns NULL on OOM or when over a limit (v->failed, diagnostic added). */
static struct pnode *tree_from_json(struct jconv *v, json_t *j, unsigned depth)
{
	_cleanup_(pnode_freep) struct pnode *n = NULL;
	char buf[64];

	if (++v->n_nodes > PARSE_MAX_NODES) {
		if (!v->failed)
			perr_at(v->c, 0, 0, "", "too many values in input (max %u)",
				(unsigned)PARSE_MAX_NODES);
		v->failed = true;
		return NULL;
	}
	switch (json_typeof(j)) {
	case JSON_STRING:
		return scalar_from(v, PSCALAR_STR, json_string_value(j), json_string_length(j));
	case JSON_INTEGER:
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(j));
		return scalar_from(v, PSCALAR_INT, buf, strlen(buf));
	case JSON_REAL:
		snprintf(buf, sizeof(buf), "%.17g", json_real_value(j));
		return scalar_from(v, PSCALAR_FLOAT, buf, strlen(buf));
	case JSON_TRUE:
		return scalar_from(v, PSCALAR_BOOL, "true", 4);
	case JSON_FALSE:
		return scalar_from(v, PSCALAR_BOOL, "false", 5);
	case JSON_NULL:
		return scalar_from(v, PSCALAR_NULL, "null", 4);
	case JSON_ARRAY:
	case JSON_OBJECT:
		break;
	}
	if (depth >= POLICY_MAX_DEPTH) {
		if (!v->failed)
			perr_at(v->c, 0, 0, "", "nesting too deep (max %u)", POLICY_MAX_DEPTH);
		v->failed = true;
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	if (json_is_array(j)) {
		size_t i;
		json_t *x;

		n->type = PNODE_SEQ;
		n->items = calloc(json_array_size(j) + 1, sizeof(*n->items));
		if (!n->items)
			return NULL;
		json_array_foreach(j, i, x) {
			n->items[i] = tree_from_json(v, x, depth + 1);
			if (!n->items[i])
				return NULL;
			n->n = i + 1;
		}
	} else {
		const char *key;
		size_t klen;
		json_t *x;

		n->type = PNODE_MAP;
		n->items = calloc(2 * json_object_size(j) + 1, sizeof(*n->items));
		if (!n->items)
			return NULL;
		json_object_keylen_foreach(j, key, klen, x)
		{
			struct pnode *k = scalar_from(v, PSCALAR_STR, key, klen);

			if (!k)
				return NULL;
			n->items[2 * n->n] = k;
			n->n++;
			n->items[2 * n->n - 1] = tree_from_json(v, x, depth + 1);
			if (!n->items[2 * n->n - 1])
				return NULL;
		}
	}
	return TAKE_PTR(n);
}

static int json_load(struct pctx *c, const char *text, size_t len, struct pnode ***ret_docs,
		     size_t *ret_n)
{
	struct policy_diags yaml_diags = { 0 }, *saved = c->diags;
	_cleanup_free_ struct pnode **docs = NULL;
	struct pnode **ydocs = NULL;
	size_t n_ydocs = 0;
	json_auto_t *j = NULL;
	json_error_t jerr;
	bool limit = false;
	int r;

	/* libyaml first: it stops at our depth and size limits before anything big is built */
	c->diags = &yaml_diags;
	r = yaml_load(c, text, len, true, &limit, &ydocs, &n_ydocs);
	c->diags = saved;
	c->failed = false;
	if (r == -ENOMEM) {
		policy_diags_done(&yaml_diags);
		return r;
	}
	if (r < 0 && limit) {
		/* ours, with position: keep */
		for (size_t i = 0; i < yaml_diags.n; i++) {
			struct policy_diag *d = &yaml_diags.items[i];

			perr_at(c, d->line, d->column, d->path, "%s", d->message);
		}
		policy_diags_done(&yaml_diags);
		return c->oom ? -ENOMEM : -EBADMSG;
	}

	j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		bool dup = json_error_code(&jerr) == json_error_duplicate_key;

		docs_free(ydocs, n_ydocs);
		if (dup && yaml_diags.n > 0 &&
		    strstr(yaml_diags.items[0].message, "duplicate key")) {
			/* libyaml found it too, and knows where the key is */
			for (size_t i = 0; i < yaml_diags.n; i++) {
				struct policy_diag *d = &yaml_diags.items[i];

				perr_at(c, d->line, d->column, d->path, "%s", d->message);
			}
		} else {
			perr_at(c, (unsigned)(jerr.line > 0 ? jerr.line : 0),
				(unsigned)(jerr.column > 0 ? jerr.column : 0), "",
				"invalid JSON: %s", jerr.text);
		}
		policy_diags_done(&yaml_diags);
		return c->oom ? -ENOMEM : -EBADMSG;
	}
	policy_diags_done(&yaml_diags);

	if (r >= 0 && n_ydocs == 1 && ydocs[0] && tree_matches_json(ydocs[0], j)) {
		*ret_docs = ydocs;
		*ret_n = n_ydocs;
		return 0;
	}
	docs_free(ydocs, n_ydocs);

	/* positions unknown: the tree comes from jansson */
	{
		struct jconv v = { .c = c };

		docs = calloc(1, sizeof(*docs));
		if (!docs)
			return -ENOMEM;
		docs[0] = tree_from_json(&v, j, 0);
		if (!docs[0])
			return v.failed ? -EBADMSG : -ENOMEM;
	}
	*ret_docs = TAKE_PTR(docs);
	*ret_n = 1;
	return 0;
}

int ptree_load(struct pctx *c, const char *text, size_t len, bool json, struct pnode ***ret_docs,
	       size_t *ret_n)
{
	bool limit;

	if (json)
		return json_load(c, text, len, ret_docs, ret_n);
	return yaml_load(c, text, len, false, &limit, ret_docs, ret_n);
}
