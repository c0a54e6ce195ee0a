/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "policy/policy.h"
#include "macro.h"

/* ---- destructors ------------------------------------------------------------------------- */

void policy_expr_done(struct policy_expr *e)
{
	free(e->key);
	for (size_t i = 0; i < e->n_values; i++)
		free(e->values[i]);
	free(e->values);
	*e = (struct policy_expr){ 0 };
}

void policy_selector_done(struct policy_selector *s)
{
	if (!s)
		return;
	policy_labels_done(&s->match_labels);
	for (size_t i = 0; i < s->n_exprs; i++)
		policy_expr_done(&s->exprs[i]);
	free(s->exprs);
	s->exprs = NULL;
	s->n_exprs = 0;
}

struct policy_selector *policy_selector_free(struct policy_selector *s)
{
	policy_selector_done(s);
	free(s);
	return NULL;
}

struct policy_ipblock *policy_ipblock_free(struct policy_ipblock *b)
{
	if (!b)
		return NULL;
	free(b->except);
	free(b);
	return NULL;
}

void policy_peer_done(struct policy_peer *p)
{
	p->pod_selector = policy_selector_free(p->pod_selector);
	p->ns_selector = policy_selector_free(p->ns_selector);
	p->ipblock = policy_ipblock_free(p->ipblock);
	free(p->networks);
	p->networks = NULL;
	p->n_networks = 0;
	p->node_selector = policy_selector_free(p->node_selector);
}

void policy_port_done(struct policy_port *p)
{
	free(p->name);
	p->name = NULL;
}

void policy_rule_done(struct policy_rule *r)
{
	for (size_t i = 0; i < r->n_peers; i++)
		policy_peer_done(&r->peers[i]);
	free(r->peers);
	for (size_t i = 0; i < r->n_ports; i++)
		policy_port_done(&r->ports[i]);
	free(r->ports);
	free(r->name);
	*r = (struct policy_rule){ 0 };
}

void policy_rules_free(struct policy_rule *rules, size_t n)
{
	for (size_t i = 0; i < n; i++)
		policy_rule_done(&rules[i]);
	free(rules);
}

_public_ struct policy_netpol *policy_netpol_free(struct policy_netpol *p)
{
	if (!p)
		return NULL;
	free(p->namespace);
	free(p->name);
	policy_labels_done(&p->labels);
	policy_selector_done(&p->pod_selector);
	policy_rules_free(p->ingress, p->n_ingress);
	policy_rules_free(p->egress, p->n_egress);
	free(p->source_file);
	free(p);
	return NULL;
}

_public_ struct policy_cnp *policy_cnp_free(struct policy_cnp *p)
{
	if (!p)
		return NULL;
	free(p->name);
	policy_labels_done(&p->labels);
	policy_selector_done(&p->ns_selector);
	policy_selector_free(p->pod_selector);
	policy_rules_free(p->ingress, p->n_ingress);
	policy_rules_free(p->egress, p->n_egress);
	free(p->source_file);
	free(p);
	return NULL;
}

_public_ struct policy_namespace *policy_namespace_free(struct policy_namespace *n)
{
	if (!n)
		return NULL;
	free(n->name);
	policy_labels_done(&n->labels);
	free(n);
	return NULL;
}

_public_ struct policy_objects *policy_objects_free(struct policy_objects *o)
{
	if (!o)
		return NULL;
	for (size_t i = 0; i < o->n_namespaces; i++)
		policy_namespace_free(o->namespaces[i]);
	free(o->namespaces);
	for (size_t i = 0; i < o->n_netpols; i++)
		policy_netpol_free(o->netpols[i]);
	free(o->netpols);
	for (size_t i = 0; i < o->n_cnps; i++)
		policy_cnp_free(o->cnps[i]);
	free(o->cnps);
	for (size_t i = 0; i < o->n_nodes; i++)
		policy_node_free(o->nodes[i]);
	free(o->nodes);
	free(o);
	return NULL;
}

/* ---- constructors and copies ------------------------------------------------------------- */

struct policy_netpol *policy_netpol_new(void)
{
	return calloc(1, sizeof(struct policy_netpol));
}

struct policy_cnp *policy_cnp_new(void)
{
	return calloc(1, sizeof(struct policy_cnp));
}

/* labels always get kubernetes.io/metadata.name = name, as the API server does */
_public_ struct policy_namespace *policy_namespace_new(const char *name,
						       const struct policy_labels *l)
{
	struct policy_namespace *n;

	if (!name) {
		errno = EINVAL;
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->name = strdup(name);
	if (!n->name || (l && policy_labels_copy(&n->labels, l) < 0) ||
	    policy_labels_set(&n->labels, POLICY_NS_NAME_LABEL, name) < 0) {
		policy_namespace_free(n);
		errno = ENOMEM;
		return NULL;
	}
	return n;
}

static int strdup_or_null(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

static int expr_copy(struct policy_expr *dst, const struct policy_expr *src)
{
	*dst = (struct policy_expr){ .op = src->op };
	if (strdup_or_null(&dst->key, src->key) < 0)
		return -ENOMEM;
	if (src->n_values > 0) {
		dst->values = calloc(src->n_values, sizeof(char *));
		if (!dst->values)
			return -ENOMEM;
		for (size_t i = 0; i < src->n_values; i++) {
			dst->n_values = i + 1;
			if (strdup_or_null(&dst->values[i], src->values[i]) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

int policy_selector_copy(struct policy_selector *dst, const struct policy_selector *src)
{
	struct policy_selector t = { 0 };
	int r;

	r = policy_labels_copy(&t.match_labels, &src->match_labels);
	if (r < 0)
		return r;
	if (src->n_exprs > 0) {
		t.exprs = calloc(src->n_exprs, sizeof(*t.exprs));
		if (!t.exprs) {
			policy_selector_done(&t);
			return -ENOMEM;
		}
		for (size_t i = 0; i < src->n_exprs; i++) {
			t.n_exprs = i + 1;
			r = expr_copy(&t.exprs[i], &src->exprs[i]);
			if (r < 0) {
				policy_selector_done(&t);
				return r;
			}
		}
	}
	*dst = t;
	return 0;
}

static struct policy_selector *selector_dup(const struct policy_selector *s)
{
	struct policy_selector *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	if (policy_selector_copy(d, s) < 0) {
		free(d);
		return NULL;
	}
	return d;
}

static int peer_copy(struct policy_peer *dst, const struct policy_peer *src)
{
	*dst = (struct policy_peer){ 0 };
	if (src->pod_selector) {
		dst->pod_selector = selector_dup(src->pod_selector);
		if (!dst->pod_selector)
			return -ENOMEM;
	}
	if (src->ns_selector) {
		dst->ns_selector = selector_dup(src->ns_selector);
		if (!dst->ns_selector)
			return -ENOMEM;
	}
	if (src->ipblock) {
		dst->ipblock = calloc(1, sizeof(*dst->ipblock));
		if (!dst->ipblock)
			return -ENOMEM;
		dst->ipblock->cidr = src->ipblock->cidr;
		if (src->ipblock->n_except > 0) {
			dst->ipblock->except =
				calloc(src->ipblock->n_except, sizeof(struct policy_cidr));
			if (!dst->ipblock->except)
				return -ENOMEM;
			memcpy(dst->ipblock->except, src->ipblock->except,
			       src->ipblock->n_except * sizeof(struct policy_cidr));
			dst->ipblock->n_except = src->ipblock->n_except;
		}
	}
	if (src->n_networks > 0) {
		dst->networks = calloc(src->n_networks, sizeof(*dst->networks));
		if (!dst->networks)
			return -ENOMEM;
		memcpy(dst->networks, src->networks, src->n_networks * sizeof(*dst->networks));
		dst->n_networks = src->n_networks;
	}
	if (src->node_selector) {
		dst->node_selector = selector_dup(src->node_selector);
		if (!dst->node_selector)
			return -ENOMEM;
	}
	return 0;
}

static int rule_copy(struct policy_rule *dst, const struct policy_rule *src)
{
	*dst = (struct policy_rule){ .action = src->action };
	if (strdup_or_null(&dst->name, src->name) < 0)
		return -ENOMEM;
	if (src->n_peers > 0) {
		dst->peers = calloc(src->n_peers, sizeof(*dst->peers));
		if (!dst->peers)
			return -ENOMEM;
		for (size_t i = 0; i < src->n_peers; i++) {
			dst->n_peers = i + 1;
			if (peer_copy(&dst->peers[i], &src->peers[i]) < 0)
				return -ENOMEM;
		}
	}
	if (src->n_ports > 0) {
		dst->ports = calloc(src->n_ports, sizeof(*dst->ports));
		if (!dst->ports)
			return -ENOMEM;
		for (size_t i = 0; i < src->n_ports; i++) {
			dst->n_ports = i + 1;
			dst->ports[i] = src->ports[i];
			dst->ports[i].name = NULL;
			if (strdup_or_null(&dst->ports[i].name, src->ports[i].name) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

static int rules_copy(struct policy_rule **dst, size_t *n_dst, const struct policy_rule *src,
		      size_t n)
{
	*dst = NULL;
	*n_dst = 0;
	if (n == 0)
		return 0;
	*dst = calloc(n, sizeof(**dst));
	if (!*dst)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		*n_dst = i + 1;
		if (rule_copy(&(*dst)[i], &src[i]) < 0)
			return -ENOMEM;
	}
	return 0;
}

_public_ struct policy_netpol *policy_netpol_dup(const struct policy_netpol *p)
{
	struct policy_netpol *d;

	if (!p)
		return NULL;
	d = policy_netpol_new();
	if (!d)
		return NULL;
	d->types = p->types;
	d->source_line = p->source_line;
	if (strdup_or_null(&d->namespace, p->namespace) < 0 ||
	    strdup_or_null(&d->name, p->name) < 0 ||
	    strdup_or_null(&d->source_file, p->source_file) < 0 ||
	    policy_labels_copy(&d->labels, &p->labels) < 0 ||
	    policy_selector_copy(&d->pod_selector, &p->pod_selector) < 0 ||
	    rules_copy(&d->ingress, &d->n_ingress, p->ingress, p->n_ingress) < 0 ||
	    rules_copy(&d->egress, &d->n_egress, p->egress, p->n_egress) < 0)
		return policy_netpol_free(d);
	return d;
}

_public_ struct policy_cnp *policy_cnp_dup(const struct policy_cnp *p)
{
	struct policy_cnp *d;

	if (!p)
		return NULL;
	d = policy_cnp_new();
	if (!d)
		return NULL;
	d->tier = p->tier;
	d->priority = p->priority;
	d->source_line = p->source_line;
	if (strdup_or_null(&d->name, p->name) < 0 ||
	    strdup_or_null(&d->source_file, p->source_file) < 0 ||
	    policy_labels_copy(&d->labels, &p->labels) < 0 ||
	    policy_selector_copy(&d->ns_selector, &p->ns_selector) < 0 ||
	    (p->pod_selector && !(d->pod_selector = selector_dup(p->pod_selector))) ||
	    rules_copy(&d->ingress, &d->n_ingress, p->ingress, p->n_ingress) < 0 ||
	    rules_copy(&d->egress, &d->n_egress, p->egress, p->n_egress) < 0)
		return policy_cnp_free(d);
	return d;
}

/* ---- equality ---------------------------------------------------------------------------- */

static bool str_equal(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return streq(a, b);
}

bool policy_selector_equal(const struct policy_selector *a, const struct policy_selector *b)
{
	if (!a || !b)
		return a == b;
	if (!policy_labels_equal(&a->match_labels, &b->match_labels) || a->n_exprs != b->n_exprs)
		return false;
	for (size_t i = 0; i < a->n_exprs; i++) {
		const struct policy_expr *x = &a->exprs[i], *y = &b->exprs[i];

		if (x->op != y->op || !str_equal(x->key, y->key) || x->n_values != y->n_values)
			return false;
		for (size_t j = 0; j < x->n_values; j++)
			if (!str_equal(x->values[j], y->values[j]))
				return false;
	}
	return true;
}

static bool cidr_equal(const struct policy_cidr *a, const struct policy_cidr *b)
{
	return a->family == b->family && a->prefixlen == b->prefixlen &&
	       memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

static bool ipblock_equal(const struct policy_ipblock *a, const struct policy_ipblock *b)
{
	if (!a || !b)
		return a == b;
	if (!cidr_equal(&a->cidr, &b->cidr) || a->n_except != b->n_except)
		return false;
	for (size_t i = 0; i < a->n_except; i++)
		if (!cidr_equal(&a->except[i], &b->except[i]))
			return false;
	return true;
}

static bool port_equal(const struct policy_port *a, const struct policy_port *b)
{
	return a->proto == b->proto && a->has_port == b->has_port && str_equal(a->name, b->name) &&
	       a->port == b->port && a->end_port == b->end_port && a->any_proto == b->any_proto;
}

static bool rule_equal(const struct policy_rule *a, const struct policy_rule *b)
{
	if (a->n_peers != b->n_peers || a->n_ports != b->n_ports || a->action != b->action ||
	    !str_equal(a->name, b->name))
		return false;
	for (size_t i = 0; i < a->n_peers; i++) {
		const struct policy_peer *x = &a->peers[i], *y = &b->peers[i];

		if (!policy_selector_equal(x->pod_selector, y->pod_selector) ||
		    !policy_selector_equal(x->ns_selector, y->ns_selector) ||
		    !ipblock_equal(x->ipblock, y->ipblock) || x->n_networks != y->n_networks ||
		    !policy_selector_equal(x->node_selector, y->node_selector))
			return false;
		for (size_t j = 0; j < x->n_networks; j++)
			if (!cidr_equal(&x->networks[j], &y->networks[j]))
				return false;
	}
	for (size_t i = 0; i < a->n_ports; i++)
		if (!port_equal(&a->ports[i], &b->ports[i]))
			return false;
	return true;
}

static bool rules_equal(const struct policy_rule *a, size_t na, const struct policy_rule *b,
			size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!rule_equal(&a[i], &b[i]))
			return false;
	return true;
}

/* Compares what the policy says; where it came from (source_file/line) is not compared. */
_public_ bool policy_netpol_equal(const struct policy_netpol *a, const struct policy_netpol *b)
{
	if (!a || !b)
		return a == b;
	return str_equal(a->namespace, b->namespace) && str_equal(a->name, b->name) &&
	       a->types == b->types && policy_labels_equal(&a->labels, &b->labels) &&
	       policy_selector_equal(&a->pod_selector, &b->pod_selector) &&
	       rules_equal(a->ingress, a->n_ingress, b->ingress, b->n_ingress) &&
	       rules_equal(a->egress, a->n_egress, b->egress, b->n_egress);
}

/* Compares what the policy says, as policy_netpol_equal() does. */
_public_ bool policy_cnp_equal(const struct policy_cnp *a, const struct policy_cnp *b)
{
	if (!a || !b)
		return a == b;
	return str_equal(a->name, b->name) && a->tier == b->tier && a->priority == b->priority &&
	       policy_labels_equal(&a->labels, &b->labels) &&
	       policy_selector_equal(&a->ns_selector, &b->ns_selector) &&
	       policy_selector_equal(a->pod_selector, b->pod_selector) &&
	       rules_equal(a->ingress, a->n_ingress, b->ingress, b->n_ingress) &&
	       rules_equal(a->egress, a->n_egress, b->egress, b->n_egress);
}

/* ---- Node ------------------------------------------------------------------------------- */

_public_ struct policy_node *policy_node_free(struct policy_node *n)
{
	if (!n)
		return NULL;
	free(n->name);
	policy_labels_done(&n->labels);
	free(n->addrs);
	free(n);
	return NULL;
}

_public_ struct policy_node *policy_node_dup(const struct policy_node *n)
{
	struct policy_node *d;

	if (!n || !n->name) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->name = strdup(n->name);
	if (n->n_addrs > 0) {
		d->addrs = calloc(n->n_addrs, sizeof(*d->addrs));
		if (d->addrs) {
			memcpy(d->addrs, n->addrs, n->n_addrs * sizeof(*d->addrs));
			d->n_addrs = n->n_addrs;
		}
	}
	if (!d->name || (n->n_addrs > 0 && !d->addrs) ||
	    policy_labels_copy(&d->labels, &n->labels) < 0) {
		policy_node_free(d);
		errno = ENOMEM;
		return NULL;
	}
	return d;
}

/* Name, labels and addresses in order (only family and the address bytes are compared). */
_public_ bool policy_node_equal(const struct policy_node *a, const struct policy_node *b)
{
	if (!a || !b)
		return a == b;
	if (!str_equal(a->name, b->name) || !policy_labels_equal(&a->labels, &b->labels) ||
	    a->n_addrs != b->n_addrs)
		return false;
	for (size_t i = 0; i < a->n_addrs; i++)
		if (a->addrs[i].family != b->addrs[i].family ||
		    memcmp(a->addrs[i].addr, b->addrs[i].addr, sizeof(a->addrs[i].addr)) != 0)
			return false;
	return true;
}

/* ---- names ------------------------------------------------------------------------------- */

_public_ const char *policy_tier_to_string(enum policy_tier t)
{
	static const char *const names[_POLICY_TIER_MAX] = {
		[POLICY_TIER_ADMIN] = "Admin",
		[POLICY_TIER_NETPOL] = "NetworkPolicy",
		[POLICY_TIER_BASELINE] = "Baseline",
	};

	return (unsigned)t < _POLICY_TIER_MAX ? names[t] : NULL;
}

_public_ const char *policy_action_to_string(enum policy_action a)
{
	static const char *const names[_POLICY_ACTION_MAX] = {
		[POLICY_ACTION_ACCEPT] = "Accept",
		[POLICY_ACTION_DENY] = "Deny",
		[POLICY_ACTION_PASS] = "Pass",
	};

	return (unsigned)a < _POLICY_ACTION_MAX ? names[a] : NULL;
}
