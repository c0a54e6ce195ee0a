/* SPDX-License-Identifier: MIT */
/*
 * Canonical JSON: the upstream v1 objects with defaults filled in (policyTypes, port protocol),
 * keys in a fixed order; ClusterNetworkPolicy as policy.networking.k8s.io/v1alpha2 has it.
 * policy_parse() of the output gives an equal object.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>

#include "model/model.h"
#include "policy/policy.h"
#include "macro.h"

static const char *const op_names[_POLICY_OP_MAX] = {
	[POLICY_OP_IN] = "In",
	[POLICY_OP_NOT_IN] = "NotIn",
	[POLICY_OP_EXISTS] = "Exists",
	[POLICY_OP_DOES_NOT_EXIST] = "DoesNotExist",
};

/* jansson's json_object_set_new() steals the value even on failure */
static int set_new(json_t *o, const char *key, json_t *v)
{
	if (!v)
		return -ENOMEM;
	return json_object_set_new(o, key, v) < 0 ? -ENOMEM : 0;
}

static int append_new(json_t *a, json_t *v)
{
	if (!v)
		return -ENOMEM;
	return json_array_append_new(a, v) < 0 ? -ENOMEM : 0;
}

static json_t *labels_to_json(const struct policy_labels *l)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	for (size_t i = 0; i < l->n; i++)
		if (set_new(o, l->items[i].key, json_string(l->items[i].value)) < 0)
			return json_decref(o), NULL;
	return o;
}

static json_t *selector_to_json(const struct policy_selector *s)
{
	json_auto_t *o = json_object();

	if (!o)
		return NULL;
	if (s->match_labels.n > 0 &&
	    set_new(o, "matchLabels", labels_to_json(&s->match_labels)) < 0)
		return NULL;
	if (s->n_exprs > 0) {
		json_t *a = json_array();

		if (set_new(o, "matchExpressions", a) < 0)
			return NULL;
		for (size_t i = 0; i < s->n_exprs; i++) {
			const struct policy_expr *e = &s->exprs[i];
			json_t *x = json_object();

			if (append_new(a, x) < 0 || set_new(x, "key", json_string(e->key)) < 0 ||
			    (unsigned)e->op >= _POLICY_OP_MAX ||
			    set_new(x, "operator", json_string(op_names[e->op])) < 0)
				return NULL;
			if (e->n_values > 0) {
				json_t *v = json_array();

				if (set_new(x, "values", v) < 0)
					return NULL;
				for (size_t j = 0; j < e->n_values; j++)
					if (append_new(v, json_string(e->values[j])) < 0)
						return NULL;
			}
		}
	}
	return TAKE_PTR(o);
}

static json_t *cidr_to_json(const struct policy_cidr *c)
{
	char addr[INET6_ADDRSTRLEN], buf[INET6_ADDRSTRLEN + 8];

	if (!inet_ntop(c->family, c->addr, addr, sizeof(addr)))
		return NULL;
	snprintf(buf, sizeof(buf), "%s/%u", addr, c->prefixlen);
	return json_string(buf);
}

static json_t *peer_to_json(const struct policy_peer *p)
{
	json_auto_t *o = json_object();

	if (!o)
		return NULL;
	if (p->pod_selector && set_new(o, "podSelector", selector_to_json(p->pod_selector)) < 0)
		return NULL;
	if (p->ns_selector && set_new(o, "namespaceSelector", selector_to_json(p->ns_selector)) < 0)
		return NULL;
	if (p->ipblock) {
		json_t *b = json_object();

		if (set_new(o, "ipBlock", b) < 0 ||
		    set_new(b, "cidr", cidr_to_json(&p->ipblock->cidr)) < 0)
			return NULL;
		if (p->ipblock->n_except > 0) {
			json_t *a = json_array();

			if (set_new(b, "except", a) < 0)
				return NULL;
			for (size_t i = 0; i < p->ipblock->n_except; i++)
				if (append_new(a, cidr_to_json(&p->ipblock->except[i])) < 0)
					return NULL;
		}
	}
	return TAKE_PTR(o);
}

static json_t *port_to_json(const struct policy_port *p)
{
	json_auto_t *o = json_object();
	const char *proto = policy_proto_to_string(p->proto);

	if (!o || !proto || set_new(o, "protocol", json_string(proto)) < 0)
		return NULL;
	if (p->has_port) {
		if (p->name) {
			if (set_new(o, "port", json_string(p->name)) < 0)
				return NULL;
		} else {
			if (set_new(o, "port", json_integer(p->port)) < 0)
				return NULL;
			if (p->end_port > 0 && set_new(o, "endPort", json_integer(p->end_port)) < 0)
				return NULL;
		}
	}
	return TAKE_PTR(o);
}

static json_t *rule_to_json(const struct policy_rule *r, const char *peers_key)
{
	json_auto_t *o = json_object();

	if (!o)
		return NULL;
	if (r->n_ports > 0) {
		json_t *a = json_array();

		if (set_new(o, "ports", a) < 0)
			return NULL;
		for (size_t i = 0; i < r->n_ports; i++)
			if (append_new(a, port_to_json(&r->ports[i])) < 0)
				return NULL;
	}
	if (r->n_peers > 0) {
		json_t *a = json_array();

		if (set_new(o, peers_key, a) < 0)
			return NULL;
		for (size_t i = 0; i < r->n_peers; i++)
			if (append_new(a, peer_to_json(&r->peers[i])) < 0)
				return NULL;
	}
	return TAKE_PTR(o);
}

static json_t *rules_to_json(const struct policy_rule *r, size_t n, const char *peers_key)
{
	json_auto_t *a = json_array();

	if (!a)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (append_new(a, rule_to_json(&r[i], peers_key)) < 0)
			return NULL;
	return TAKE_PTR(a);
}

static json_t *metadata_to_json(const char *name, const char *ns, const struct policy_labels *l)
{
	json_auto_t *o = json_object();

	if (!o || !name || set_new(o, "name", json_string(name)) < 0)
		return NULL;
	if (ns && set_new(o, "namespace", json_string(ns)) < 0)
		return NULL;
	if (l->n > 0 && set_new(o, "labels", labels_to_json(l)) < 0)
		return NULL;
	return TAKE_PTR(o);
}

static char *dump(json_t *o)
{
	return json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT);
}

_public_ char *policy_netpol_to_json(const struct policy_netpol *p)
{
	json_auto_t *o = json_object();
	json_t *spec, *types;

	if (!o || !p)
		return NULL;
	if (set_new(o, "apiVersion", json_string("networking.k8s.io/v1")) < 0 ||
	    set_new(o, "kind", json_string("NetworkPolicy")) < 0 ||
	    set_new(o, "metadata", metadata_to_json(p->name, p->namespace, &p->labels)) < 0)
		return NULL;
	spec = json_object();
	if (set_new(o, "spec", spec) < 0 ||
	    set_new(spec, "podSelector", selector_to_json(&p->pod_selector)) < 0)
		return NULL;
	if (p->n_ingress > 0 &&
	    set_new(spec, "ingress", rules_to_json(p->ingress, p->n_ingress, "from")) < 0)
		return NULL;
	if (p->n_egress > 0 &&
	    set_new(spec, "egress", rules_to_json(p->egress, p->n_egress, "to")) < 0)
		return NULL;
	types = json_array();
	if (set_new(spec, "policyTypes", types) < 0)
		return NULL;
	if ((p->types & POLICY_TYPE_INGRESS) && append_new(types, json_string("Ingress")) < 0)
		return NULL;
	if ((p->types & POLICY_TYPE_EGRESS) && append_new(types, json_string("Egress")) < 0)
		return NULL;
	return dump(o);
}

_public_ char *policy_namespace_to_json(const struct policy_namespace *n)
{
	json_auto_t *o = json_object();

	if (!o || !n)
		return NULL;
	if (set_new(o, "apiVersion", json_string("v1")) < 0 ||
	    set_new(o, "kind", json_string("Namespace")) < 0 ||
	    set_new(o, "metadata", metadata_to_json(n->name, NULL, &n->labels)) < 0)
		return NULL;
	return dump(o);
}

/* ---- ClusterNetworkPolicy ---------------------------------------------------------------- */

/* {namespaceSelector, podSelector} */
static json_t *namespaced_pod_to_json(const struct policy_selector *ns,
				      const struct policy_selector *pod)
{
	json_auto_t *o = json_object();

	if (!o || !ns || !pod || set_new(o, "namespaceSelector", selector_to_json(ns)) < 0 ||
	    set_new(o, "podSelector", selector_to_json(pod)) < 0)
		return NULL;
	return TAKE_PTR(o);
}

static json_t *cnp_peer_to_json(const struct policy_peer *p)
{
	json_auto_t *o = json_object();

	if (!o || p->ipblock)
		return NULL;
	if (p->node_selector) {
		if (p->pod_selector || p->ns_selector || p->n_networks > 0 ||
		    set_new(o, "nodes", selector_to_json(p->node_selector)) < 0)
			return NULL;
	} else if (p->n_networks > 0) {
		json_t *a = json_array();

		if (p->pod_selector || p->ns_selector || set_new(o, "networks", a) < 0)
			return NULL;
		for (size_t i = 0; i < p->n_networks; i++)
			if (append_new(a, cidr_to_json(&p->networks[i])) < 0)
				return NULL;
	} else if (p->pod_selector) {
		if (set_new(o, "pods", namespaced_pod_to_json(p->ns_selector, p->pod_selector)) < 0)
			return NULL;
	} else if (!p->ns_selector ||
		   set_new(o, "namespaces", selector_to_json(p->ns_selector)) < 0)
		return NULL;
	return TAKE_PTR(o);
}

/* tcp/udp/sctp {destinationPort: {number | range}}, or destinationNamedPort */
static json_t *protocol_to_json(const struct policy_port *p)
{
	json_auto_t *o = json_object();
	const char *proto = policy_proto_to_string(p->proto);
	char lower[8] = "";
	json_t *l4, *dp;

	if (!o || !p->has_port)
		return NULL;
	if (p->name) {
		if (!p->any_proto || set_new(o, "destinationNamedPort", json_string(p->name)) < 0)
			return NULL;
		return TAKE_PTR(o);
	}
	if (!proto || strlen(proto) >= sizeof(lower))
		return NULL;
	for (size_t i = 0; proto[i]; i++)
		lower[i] = (char)(proto[i] - 'A' + 'a');
	l4 = json_object();
	dp = json_object();
	if (set_new(o, lower, l4) < 0) {
		json_decref(dp);
		return NULL;
	}
	if (set_new(l4, "destinationPort", dp) < 0)
		return NULL;
	if (p->end_port > 0) {
		json_t *r = json_object();

		if (set_new(dp, "range", r) < 0 || set_new(r, "start", json_integer(p->port)) < 0 ||
		    set_new(r, "end", json_integer(p->end_port)) < 0)
			return NULL;
	} else if (set_new(dp, "number", json_integer(p->port)) < 0) {
		return NULL;
	}
	return TAKE_PTR(o);
}

static json_t *cnp_rule_to_json(const struct policy_rule *r, const char *peers_key)
{
	json_auto_t *o = json_object();
	const char *action = policy_action_to_string(r->action);
	json_t *a;

	if (!o || !action)
		return NULL;
	if (r->name && set_new(o, "name", json_string(r->name)) < 0)
		return NULL;
	if (set_new(o, "action", json_string(action)) < 0)
		return NULL;
	a = json_array();
	if (set_new(o, peers_key, a) < 0)
		return NULL;
	for (size_t i = 0; i < r->n_peers; i++)
		if (append_new(a, cnp_peer_to_json(&r->peers[i])) < 0)
			return NULL;
	if (r->n_ports > 0) {
		a = json_array();
		if (set_new(o, "protocols", a) < 0)
			return NULL;
		for (size_t i = 0; i < r->n_ports; i++)
			if (append_new(a, protocol_to_json(&r->ports[i])) < 0)
				return NULL;
	}
	return TAKE_PTR(o);
}

static json_t *cnp_rules_to_json(const struct policy_rule *r, size_t n, const char *peers_key)
{
	json_auto_t *a = json_array();

	if (!a)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (append_new(a, cnp_rule_to_json(&r[i], peers_key)) < 0)
			return NULL;
	return TAKE_PTR(a);
}

_public_ char *policy_cnp_to_json(const struct policy_cnp *p)
{
	json_auto_t *o = json_object();
	json_t *spec, *subject;

	if (!o || !p || (p->tier != POLICY_TIER_ADMIN && p->tier != POLICY_TIER_BASELINE))
		return NULL;
	if (set_new(o, "apiVersion", json_string("policy.networking.k8s.io/v1alpha2")) < 0 ||
	    set_new(o, "kind", json_string("ClusterNetworkPolicy")) < 0 ||
	    set_new(o, "metadata", metadata_to_json(p->name, NULL, &p->labels)) < 0)
		return NULL;
	spec = json_object();
	if (set_new(o, "spec", spec) < 0 ||
	    set_new(spec, "tier", json_string(policy_tier_to_string(p->tier))) < 0 ||
	    set_new(spec, "priority", json_integer(p->priority)) < 0)
		return NULL;
	subject = json_object();
	if (set_new(spec, "subject", subject) < 0)
		return NULL;
	if (p->pod_selector) {
		if (set_new(subject, "pods",
			    namespaced_pod_to_json(&p->ns_selector, p->pod_selector)) < 0)
			return NULL;
	} else if (set_new(subject, "namespaces", selector_to_json(&p->ns_selector)) < 0) {
		return NULL;
	}
	if (p->n_ingress > 0 &&
	    set_new(spec, "ingress", cnp_rules_to_json(p->ingress, p->n_ingress, "from")) < 0)
		return NULL;
	if (p->n_egress > 0 &&
	    set_new(spec, "egress", cnp_rules_to_json(p->egress, p->n_egress, "to")) < 0)
		return NULL;
	return dump(o);
}

/* ---- Node -------------------------------------------------------------------------------- */

_public_ char *policy_node_to_json(const struct policy_node *n)
{
	json_auto_t *o = json_object();
	json_t *status, *addrs;

	if (!o || !n)
		return NULL;
	if (set_new(o, "apiVersion", json_string("v1")) < 0 ||
	    set_new(o, "kind", json_string("Node")) < 0 ||
	    set_new(o, "metadata", metadata_to_json(n->name, NULL, &n->labels)) < 0)
		return NULL;
	status = json_object();
	addrs = json_array();
	if (set_new(o, "status", status) < 0 || set_new(status, "addresses", addrs) < 0)
		return NULL;
	for (size_t i = 0; i < n->n_addrs; i++) {
		char buf[INET6_ADDRSTRLEN];

		if (!inet_ntop(n->addrs[i].family, n->addrs[i].addr, buf, sizeof(buf)) ||
		    append_new(addrs,
			       json_pack("{s:s, s:s}", "type", "InternalIP", "address", buf)) < 0)
			return NULL;
	}
	return dump(o);
}
