/* SPDX-License-Identifier: MIT */
/*
 * ClusterNetworkPolicy spec (policy.networking.k8s.io/v1alpha2): the fields, limits and rules
 * of upstream's CRD schema and its CEL validations. Members of which exactly one must be set
 * (subject, peers, protocols, destination ports) are checked as MinProperties/MaxProperties
 * are: a null member is absent. An egress `nodes` peer selects Node objects (their addresses
 * are matched). segd has no DNS: egress `domainNames` peers are rejected, so that a policy segd
 * cannot enforce as written is never applied.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/parse.h"
#include "policy/policy.h"

#define CNP_MAX_CIDR_LEN 43

/* The key node of key in map (null values included), or NULL. */
static const struct pnode *pkey(const struct pnode *map, const char *key)
{
	size_t len = strlen(key);

	for (size_t i = 0; i < map->n; i++) {
		const struct pnode *k = map->items[2 * i];

		if (k->len == len && memcmp(k->str, key, len) == 0)
			return k;
	}
	return NULL;
}

/*
 * Exactly one of keys (NULL-terminated) set in map; true if so. Otherwise one diagnostic at
 * map naming what was expected and what was there.
 */
static bool exactly_one(struct pctx *c, const struct pnode *map, const char *const *keys)
{
	char want[160] = "", got[160] = "";
	size_t n = 0;

	for (const char *const *k = keys; *k; k++) {
		size_t w = strlen(want);

		snprintf(want + w, sizeof(want) - w, "%s%s", w ? ", " : "", *k);
		if (pfield(map, *k)) {
			size_t g = strlen(got);

			snprintf(got + g, sizeof(got) - g, "%s%s", g ? ", " : "", *k);
			n++;
		}
	}
	if (n == 1)
		return true;
	if (n == 0)
		perr(c, map, "must specify exactly one of: %s", want);
	else
		perr(c, map, "must specify exactly one of: %s (got %s)", want, got);
	return false;
}

static struct policy_selector *parse_selector_new(struct pctx *c, const struct pnode *n,
						  const char *key)
{
	struct policy_selector *s = calloc(1, sizeof(*s));
	size_t p;

	if (!s) {
		c->oom = c->failed = true;
		return NULL;
	}
	p = path_push(c, key);
	pparse_selector(c, n, s);
	path_pop(c, p);
	return s;
}

/* {namespaceSelector, podSelector}, both required: into *ns and *pod. */
static void parse_namespaced_pod(struct pctx *c, const struct pnode *n, struct policy_selector *ns,
				 struct policy_selector **pod)
{
	static const char *const fields[] = { "namespaceSelector", "podSelector", NULL };
	const struct pnode *nsn, *podn;
	size_t p;

	if (!pexpect_map(c, n))
		return;
	pcheck_fields(c, n, fields);
	nsn = pfield(n, "namespaceSelector");
	podn = pfield(n, "podSelector");
	if (!nsn)
		perr(c, n, "missing required field \"namespaceSelector\"");
	if (!podn)
		perr(c, n, "missing required field \"podSelector\"");
	if (nsn) {
		p = path_push(c, "namespaceSelector");
		pparse_selector(c, nsn, ns);
		path_pop(c, p);
	}
	if (podn)
		*pod = parse_selector_new(c, podn, "podSelector");
}

static void parse_network(struct pctx *c, const struct pnode *x, void *elem, void *ud)
{
	const char *s;

	if (!pget_str(c, x, &s))
		return;
	if (x->len > CNP_MAX_CIDR_LEN)
		perr(c, x, "too long: %zu characters (max %u)", x->len, CNP_MAX_CIDR_LEN);
	else if (!parse_cidr(s, elem))
		perr(c, x, "invalid CIDR %s", QN(x));
}

static void parse_networks(struct pctx *c, const struct pnode *n, struct policy_peer *peer)
{
	peer->networks =
		pparse_items(c, n, 1, POLICY_CNP_MAX_NETWORKS, "networks", sizeof(*peer->networks),
			     &peer->n_networks, parse_network, NULL);
}

static void parse_peer(struct pctx *c, const struct pnode *n, struct policy_peer *peer, bool egress)
{
	static const char *const fields[] = { "namespaces", "pods",	   "networks",
					      "nodes",	    "domainNames", NULL };
	static const char *const in_keys[] = { "namespaces", "pods", NULL };
	static const char *const eg_keys[] = { "namespaces", "pods", "networks", "nodes", NULL };
	const struct pnode *x;
	size_t p;

	if (!pexpect_map(c, n))
		return;
	pcheck_fields(c, n, fields);
	if (!egress) {
		for (size_t i = 2; fields[i]; i++) {
			const struct pnode *k = pkey(n, fields[i]);

			if (k) {
				p = path_push(c, fields[i]);
				perr(c, k, "not allowed in an ingress peer (egress only)");
				path_pop(c, p);
			}
		}
	} else {
		for (size_t i = 4; fields[i]; i++) {
			const struct pnode *k = pkey(n, fields[i]);

			if (k && pfield(n, fields[i])) { /* null is absent */
				p = path_push(c, fields[i]);
				perr(c, k,
				     "segd does not implement egress \"%s\" peers: the policy is "
				     "rejected, nothing of it is applied",
				     fields[i]);
				path_pop(c, p);
			}
		}
	}
	/* a peer of only those members has its diagnostic already */
	if (!pfield(n, "namespaces") && !pfield(n, "pods") &&
	    !(egress && (pfield(n, "networks") || pfield(n, "nodes"))) &&
	    (pfield(n, "nodes") || pfield(n, "domainNames") || pfield(n, "networks")))
		return;
	if (!exactly_one(c, n, egress ? eg_keys : in_keys))
		return;

	x = pfield(n, "namespaces");
	if (x) {
		peer->ns_selector = parse_selector_new(c, x, "namespaces");
		return;
	}
	x = pfield(n, "pods");
	if (x) {
		peer->ns_selector = calloc(1, sizeof(*peer->ns_selector));
		if (!peer->ns_selector) {
			c->oom = c->failed = true;
			return;
		}
		p = path_push(c, "pods");
		parse_namespaced_pod(c, x, peer->ns_selector, &peer->pod_selector);
		path_pop(c, p);
		return;
	}
	x = pfield(n, "nodes");
	if (x) {
		peer->node_selector = parse_selector_new(c, x, "nodes");
		return;
	}
	x = pfield(n, "networks");
	p = path_push(c, "networks");
	parse_networks(c, x, peer);
	path_pop(c, p);
}

static void parse_ingress_peer_item(struct pctx *c, const struct pnode *n, void *elem, void *ud)
{
	parse_peer(c, n, elem, false);
}

static void parse_egress_peer_item(struct pctx *c, const struct pnode *n, void *elem, void *ud)
{
	parse_peer(c, n, elem, true);
}

static bool parse_port_number(struct pctx *c, const struct pnode *n, uint16_t *ret)
{
	long long v;

	if (!pget_int(c, n, &v))
		return false;
	if (v < 1 || v > 65535) {
		perr(c, n, "invalid port %lld: must be between 1 and 65535", v);
		return false;
	}
	*ret = (uint16_t)v;
	return true;
}

static void parse_range(struct pctx *c, const struct pnode *n, struct policy_port *port)
{
	static const char *const fields[] = { "start", "end", NULL };
	const struct pnode *start, *end;
	uint16_t s = 0, e = 0;
	bool ok = true;
	size_t p;

	if (!pexpect_map(c, n))
		return;
	pcheck_fields(c, n, fields);
	start = pfield(n, "start");
	end = pfield(n, "end");
	if (!start) {
		perr(c, n, "missing required field \"start\"");
		ok = false;
	} else {
		p = path_push(c, "start");
		ok = parse_port_number(c, start, &s);
		path_pop(c, p);
	}
	if (!end) {
		perr(c, n, "missing required field \"end\"");
		ok = false;
	} else {
		p = path_push(c, "end");
		ok = parse_port_number(c, end, &e) && ok;
		path_pop(c, p);
	}
	if (!ok)
		return;
	if (s >= e) {
		perr(c, n, "start port %u must be less than end port %u", s, e);
		return;
	}
	port->port = s;
	port->end_port = e;
}

/* {destinationPort: {number | range}} of tcp, udp or sctp */
static void parse_l4(struct pctx *c, const struct pnode *n, struct policy_port *port)
{
	static const char *const fields[] = { "destinationPort", NULL };
	static const char *const dp_fields[] = { "number", "range", NULL };
	const struct pnode *dp, *x;
	size_t p;

	if (!pexpect_map(c, n))
		return;
	pcheck_fields(c, n, fields);
	dp = pfield(n, "destinationPort");
	if (!dp) {
		perr(c, n, "missing required field \"destinationPort\"");
		return;
	}
	p = path_push(c, "destinationPort");
	if (pexpect_map(c, dp)) {
		pcheck_fields(c, dp, dp_fields);
		if (exactly_one(c, dp, dp_fields)) {
			port->has_port = true;
			x = pfield(dp, "number");
			if (x) {
				size_t q = path_push(c, "number");

				parse_port_number(c, x, &port->port);
				path_pop(c, q);
			} else {
				size_t q = path_push(c, "range");

				parse_range(c, pfield(dp, "range"), port);
				path_pop(c, q);
			}
		}
	}
	path_pop(c, p);
}

static void parse_protocol(struct pctx *c, const struct pnode *n, struct policy_port *port)
{
	static const char *const keys[] = { "tcp", "udp", "sctp", "destinationNamedPort", NULL };
	static const enum policy_proto protos[] = { POLICY_PROTO_TCP, POLICY_PROTO_UDP,
						    POLICY_PROTO_SCTP };
	const struct pnode *x;
	size_t p;

	port->proto = POLICY_PROTO_TCP;
	if (!pexpect_map(c, n))
		return;
	pcheck_fields(c, n, keys);
	if (!exactly_one(c, n, keys))
		return;
	for (size_t i = 0; i < 3; i++) {
		x = pfield(n, keys[i]);
		if (!x)
			continue;
		port->proto = protos[i];
		p = path_push(c, keys[i]);
		parse_l4(c, x, port);
		path_pop(c, p);
		return;
	}
	x = pfield(n, "destinationNamedPort");
	p = path_push(c, "destinationNamedPort");
	{
		const char *s, *why;

		if (pget_str(c, x, &s)) {
			why = policy_port_name_invalid(s);
			if (why) {
				perr(c, x, "invalid port name %s: %s", QN(x), why);
			} else if (pstrdup(c, &port->name, s) == 0) {
				port->has_port = true;
				port->any_proto = true;
			}
		}
	}
	path_pop(c, p);
}

static void parse_protocol_item(struct pctx *c, const struct pnode *n, void *elem, void *ud)
{
	parse_protocol(c, n, elem);
}

/* code points, as the schema's maxLength counts */
static size_t utf8_chars(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

static void parse_action(struct pctx *c, const struct pnode *rule, struct policy_rule *r)
{
	const struct pnode *n = pfield(rule, "action");
	const char *s;
	size_t p;

	if (!n) {
		perr(c, rule, "missing required field \"action\"");
		return;
	}
	p = path_push(c, "action");
	if (pget_str(c, n, &s)) {
		size_t i;

		for (i = 0; i < _POLICY_ACTION_MAX; i++)
			if (streq(s, policy_action_to_string((enum policy_action)i)))
				break;
		if (i == _POLICY_ACTION_MAX)
			perr(c, n, "unsupported action %s: must be Accept, Deny or Pass", QN(n));
		else
			r->action = (enum policy_action)i;
	}
	path_pop(c, p);
}

static void parse_protocols(struct pctx *c, const struct pnode *rule, struct policy_rule *r)
{
	const struct pnode *n = pfield(rule, "protocols");
	size_t p;

	if (!n)
		return;
	p = path_push(c, "protocols");
	r->ports = pparse_items(c, n, 1, POLICY_CNP_MAX_PROTOCOLS, "protocols", sizeof(*r->ports),
				&r->n_ports, parse_protocol_item, NULL);
	path_pop(c, p);
}

/* CEL: a rule towards networks (or nodes, domainNames) has no named ports to resolve. */
static void check_named_ports(struct pctx *c, const struct pnode *rule)
{
	const struct pnode *peers = pfield(rule, "to"), *protos = pfield(rule, "protocols");
	bool networks = false;
	size_t p;

	if (!peers || !protos || peers->type != PNODE_SEQ || protos->type != PNODE_SEQ)
		return;
	for (size_t i = 0; i < peers->n && !networks; i++)
		networks = pfield(peers->items[i], "networks") ||
			   pfield(peers->items[i], "nodes") ||
			   pfield(peers->items[i], "domainNames");
	if (!networks)
		return;
	p = path_push(c, "protocols");
	for (size_t i = 0; i < protos->n; i++) {
		const struct pnode *x = pfield(protos->items[i], "destinationNamedPort");
		size_t q;

		if (!x)
			continue;
		q = path_push_index(c, i);
		path_push(c, "destinationNamedPort");
		perr(c, x,
		     "may not be used in a rule with a networks, nodes or domainNames peer: those "
		     "have no named ports");
		path_pop(c, q);
	}
	path_pop(c, p);
}

static void parse_rule(struct pctx *c, const struct pnode *n, struct policy_rule *r, bool egress)
{
	const char *const peers_key = egress ? "to" : "from";
	const char *const fields[] = { "name", "action", peers_key, "protocols", NULL };
	const struct pnode *name, *peers;
	size_t p;

	if (!pexpect_map(c, n))
		return;
	pcheck_fields(c, n, fields);

	name = pfield(n, "name");
	if (name) {
		const char *s;

		p = path_push(c, "name");
		if (pget_str(c, name, &s)) {
			size_t chars = utf8_chars(s, name->len);

			if (chars > POLICY_CNP_MAX_RULE_NAME)
				perr(c, name, "too long: %zu characters (max %u)", chars,
				     POLICY_CNP_MAX_RULE_NAME);
			else if (*s) /* "" is no name, as omitempty has it */
				pstrdup(c, &r->name, s);
		}
		path_pop(c, p);
	}
	parse_action(c, n, r);

	peers = pfield(n, peers_key);
	if (!peers) {
		perr(c, n, "missing required field \"%s\"", peers_key);
	} else {
		p = path_push(c, peers_key);
		r->peers = pparse_items(c, peers, 1, POLICY_CNP_MAX_PEERS, "peers",
					sizeof(*r->peers), &r->n_peers,
					egress ? parse_egress_peer_item : parse_ingress_peer_item,
					NULL);
		path_pop(c, p);
	}
	parse_protocols(c, n, r);
	if (egress)
		check_named_ports(c, n);
}

static void parse_ingress_rule(struct pctx *c, const struct pnode *n, void *elem, void *ud)
{
	parse_rule(c, n, elem, false);
}

static void parse_egress_rule(struct pctx *c, const struct pnode *n, void *elem, void *ud)
{
	parse_rule(c, n, elem, true);
}

static void parse_rules(struct pctx *c, const struct pnode *spec, bool egress,
			struct policy_rule **ret, size_t *ret_n)
{
	const char *key = egress ? "egress" : "ingress";
	const struct pnode *n = pfield(spec, key);
	size_t p;

	if (!n)
		return;
	p = path_push(c, key);
	*ret = pparse_items(c, n, 0, POLICY_CNP_MAX_RULES,
			    egress ? "egress rules" : "ingress rules", sizeof(**ret), ret_n,
			    egress ? parse_egress_rule : parse_ingress_rule, NULL);
	path_pop(c, p);
}

static void parse_subject(struct pctx *c, const struct pnode *spec, struct policy_cnp *cnp)
{
	static const char *const keys[] = { "namespaces", "pods", NULL };
	const struct pnode *n = pfield(spec, "subject"), *x;
	size_t p, q;

	if (!n) {
		perr(c, spec, "missing required field \"subject\"");
		return;
	}
	p = path_push(c, "subject");
	if (pexpect_map(c, n)) {
		pcheck_fields(c, n, keys);
		if (exactly_one(c, n, keys)) {
			x = pfield(n, "namespaces");
			if (x) {
				q = path_push(c, "namespaces");
				pparse_selector(c, x, &cnp->ns_selector);
			} else {
				q = path_push(c, "pods");
				parse_namespaced_pod(c, pfield(n, "pods"), &cnp->ns_selector,
						     &cnp->pod_selector);
			}
			path_pop(c, q);
		}
	}
	path_pop(c, p);
}

void pparse_cnp_spec(struct pctx *c, const struct pnode *spec, struct policy_cnp *cnp)
{
	static const char *const fields[] = { "tier",	 "priority", "subject",
					      "ingress", "egress",   NULL };
	const struct pnode *n;
	const char *s;
	long long v;
	size_t p;

	if (!pexpect_map(c, spec))
		return;
	pcheck_fields(c, spec, fields);

	n = pfield(spec, "tier");
	if (!n) {
		perr(c, spec, "missing required field \"tier\"");
	} else {
		p = path_push(c, "tier");
		if (pget_str(c, n, &s)) {
			if (streq(s, "Admin"))
				cnp->tier = POLICY_TIER_ADMIN;
			else if (streq(s, "Baseline"))
				cnp->tier = POLICY_TIER_BASELINE;
			else
				perr(c, n, "unsupported tier %s: must be Admin or Baseline", QN(n));
		}
		path_pop(c, p);
	}

	n = pfield(spec, "priority");
	if (!n) {
		perr(c, spec, "missing required field \"priority\"");
	} else {
		p = path_push(c, "priority");
		if (pget_int(c, n, &v)) {
			if (v < 0 || v > POLICY_CNP_MAX_PRIORITY)
				perr(c, n, "invalid priority %lld: must be between 0 and %u", v,
				     POLICY_CNP_MAX_PRIORITY);
			else
				cnp->priority = (unsigned)v;
		}
		path_pop(c, p);
	}

	parse_subject(c, spec, cnp);
	parse_rules(c, spec, false, &cnp->ingress, &cnp->n_ingress);
	parse_rules(c, spec, true, &cnp->egress, &cnp->n_egress);
}
