/* SPDX-License-Identifier: MIT */
/*
 * Labels and label selectors as they appear in any object: a string-to-string label map
 * (metadata.labels, matchLabels) with the API server's key and value syntax, and a
 * LabelSelector (matchLabels plus matchExpressions with In, NotIn, Exists, DoesNotExist and
 * their rules on values). Used by the object metadata (parse.c) and by the NetworkPolicy spec
 * (parse-netpol.c).
 */
#include <stdlib.h>
#include <string.h>

#include "model/parse.h"
#include "policy/policy.h"

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

		if (!pis_key(k)) {
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
			perr(c, values,
			     "values must be empty when operator is Exists or DoesNotExist");
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
