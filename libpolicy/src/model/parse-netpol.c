/* SPDX-License-Identifier: MIT */
/* NetworkPolicy spec: fields, defaults and checks of pkg/apis/networking/validation. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "model/model.h"
#include "model/parse.h"
#include "policy/policy.h"

/* "ADDR/LEN": inet_pton() address (no zone, no leading zeros in IPv4), decimal prefix. */
bool parse_cidr(const char *s, struct policy_cidr *ret)
{
	struct policy_cidr c = { 0 };
	const char *slash = strchr(s, '/'), *p;
	char addr[INET6_ADDRSTRLEN + 1];
	unsigned len = 0;

	if (!slash || (size_t)(slash - s) >= sizeof(addr))
		return false;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (inet_pton(AF_INET, addr, c.addr) == 1)
		c.family = AF_INET;
	else if (inet_pton(AF_INET6, addr, c.addr) == 1)
		c.family = AF_INET6;
	else
		return false;
	p = slash + 1;
	if (!*p || strlen(p) > 3 || strspn(p, "0123456789") != strlen(p) || (p[0] == '0' && p[1]))
		return false;
	for (; *p; p++)
		len = len * 10 + (unsigned)(*p - '0');
	if (len > (c.family == AF_INET ? 32u : 128u))
		return false;
	c.prefixlen = (uint8_t)len;
	*ret = c;
	return true;
}

/* a is within the network b (b's host bits ignored) */
static bool cidr_within(const struct policy_cidr *a, const struct policy_cidr *b)
{
	unsigned bits = b->prefixlen;

	if (a->family != b->family || a->prefixlen < b->prefixlen)
		return false;
	for (unsigned i = 0; i < 16 && bits > 0; i++, bits = bits >= 8 ? bits - 8 : 0) {
		uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));

		if ((a->addr[i] & mask) != (b->addr[i] & mask))
			return false;
	}
	return true;
}

static void parse_ipblock(struct pctx *c, const struct pnode *n, struct policy_ipblock *b)
{
	static const char *const fields[] = { "cidr", "except", NULL };
	const struct pnode *cidr, *except;
	bool cidr_ok = false;
	const char *s;
	size_t p;

	if (!pexpect_map(c, n))
		return;
	pcheck_fields(c, n, fields);

	cidr = pfield(n, "cidr");
	if (!cidr) {
		perr(c, n, "missing required field \"cidr\"");
	} else {
		p = path_push(c, "cidr");
		if (pget_str(c, cidr, &s)) {
			cidr_ok = parse_cidr(s, &b->cidr);
			if (!cidr_ok)
				perr(c, cidr, "invalid CIDR %s", QN(cidr));
		}
		path_pop(c, p);
	}

	except = pfield(n, "except");
	if (!except)
		return;
	p = path_push(c, "except");
	if (pexpect_seq(c, except, POLICY_MAX_EXCEPT, "except entries") && except->n > 0) {
		b->except = calloc(except->n, sizeof(*b->except));
		if (!b->except) {
			c->oom = c->failed = true;
			path_pop(c, p);
			return;
		}
		for (size_t i = 0; i < except->n; i++) {
			const struct pnode *x = except->items[i];
			size_t q = path_push_index(c, i);
			struct policy_cidr e;

			if (!pget_str(c, x, &s)) {
				path_pop(c, q);
				continue;
			}
			if (!parse_cidr(s, &e))
				perr(c, x, "invalid CIDR %s", QN(x));
			else if (!cidr_ok)
				; /* nothing to compare with; cidr has its own diagnostic */
			else if (e.family != b->cidr.family)
				perr(c, x, "except %s is not in the address family of cidr %s",
				     QN(x), QN(cidr));
			else if (!cidr_within(&e, &b->cidr) || e.prefixlen <= b->cidr.prefixlen)
				perr(c, x, "except %s must be a strict subset of cidr %s", QN(x),
				     QN(cidr));
			else
				b->except[b->n_except++] = e;
			path_pop(c, q);
		}
	}
	path_pop(c, p);
}

static void parse_peer(struct pctx *c, const struct pnode *n, struct policy_peer *peer)
{
	static const char *const fields[] = { "podSelector", "namespaceSelector", "ipBlock", NULL };
	const struct pnode *pod, *ns, *ipb;
	size_t p;

	if (!pexpect_map(c, n))
		return;
	pcheck_fields(c, n, fields);
	pod = pfield(n, "podSelector");
	ns = pfield(n, "namespaceSelector");
	ipb = pfield(n, "ipBlock");

	if (!pod && !ns && !ipb) {
		perr(c, n, "must specify a peer: podSelector, namespaceSelector or ipBlock");
		return;
	}
	if (ipb && (pod || ns))
		perr(c, n, "may not specify both ipBlock and another peer");

	if (pod) {
		peer->pod_selector = calloc(1, sizeof(*peer->pod_selector));
		if (!peer->pod_selector) {
			c->oom = c->failed = true;
			return;
		}
		p = path_push(c, "podSelector");
		pparse_selector(c, pod, peer->pod_selector);
		path_pop(c, p);
	}
	if (ns) {
		peer->ns_selector = calloc(1, sizeof(*peer->ns_selector));
		if (!peer->ns_selector) {
			c->oom = c->failed = true;
			return;
		}
		p = path_push(c, "namespaceSelector");
		pparse_selector(c, ns, peer->ns_selector);
		path_pop(c, p);
	}
	if (ipb) {
		peer->ipblock = calloc(1, sizeof(*peer->ipblock));
		if (!peer->ipblock) {
			c->oom = c->failed = true;
			return;
		}
		p = path_push(c, "ipBlock");
		parse_ipblock(c, ipb, peer->ipblock);
		path_pop(c, p);
	}
}

static void parse_port(struct pctx *c, const struct pnode *n, struct policy_port *port)
{
	static const char *const fields[] = { "protocol", "port", "endPort", NULL };
	const struct pnode *proto, *pnum, *end;
	bool numeric = false;
	long long v = 0;
	const char *s;
	size_t p;

	port->proto = POLICY_PROTO_TCP;
	if (!pexpect_map(c, n))
		return;
	pcheck_fields(c, n, fields);

	proto = pfield(n, "protocol");
	if (proto) {
		p = path_push(c, "protocol");
		if (pget_str(c, proto, &s)) {
			int r = policy_proto_from_string(s);

			if (r < 0)
				perr(c, proto, "unsupported protocol %s: must be TCP, UDP or SCTP",
				     QN(proto));
			else
				port->proto = (enum policy_proto)r;
		}
		path_pop(c, p);
	}

	pnum = pfield(n, "port");
	if (pnum) {
		p = path_push(c, "port");
		port->has_port = true;
		if (pnum->type == PNODE_SCALAR && pnum->kind == PSCALAR_INT) {
			numeric = true;
			if (pget_int(c, pnum, &v)) {
				if (v < 1 || v > 65535)
					perr(c, pnum,
					     "invalid port %lld: must be between 1 and 65535", v);
				else
					port->port = (uint16_t)v;
			}
		} else if (pnum->type == PNODE_SCALAR && pnum->kind == PSCALAR_STR) {
			if (pget_str(c, pnum, &s)) {
				const char *why = policy_port_name_invalid(s);

				if (why)
					perr(c, pnum, "invalid port name %s: %s", QN(pnum), why);
				else
					pstrdup(c, &port->name, s);
			}
		} else {
			perr(c, pnum, "expected an integer or a string, got %s",
			     pnode_type_name(pnum));
		}
		path_pop(c, p);
	}

	end = pfield(n, "endPort");
	if (end) {
		p = path_push(c, "endPort");
		if (!pnum)
			perr(c, end, "may not be specified when port is not specified");
		else if (!numeric)
			perr(c, end, "may not be specified when port is non-numeric");
		else if (pget_int(c, end, &v)) {
			if (v < 1 || v > 65535)
				perr(c, end, "invalid endPort %lld: must be between 1 and 65535",
				     v);
			else if (port->port && v < port->port)
				perr(c, end,
				     "endPort %lld must be greater than or equal to port %u", v,
				     port->port);
			else
				port->end_port = (uint16_t)v;
		}
		path_pop(c, p);
	}
}

static void parse_port_item(struct pctx *c, const struct pnode *n, void *elem, void *ud)
{
	parse_port(c, n, elem);
}

static void parse_peer_item(struct pctx *c, const struct pnode *n, void *elem, void *ud)
{
	parse_peer(c, n, elem);
}

static void parse_rule(struct pctx *c, const struct pnode *n, struct policy_rule *r,
		       const char *peers_key)
{
	const char *const fields[] = { "ports", peers_key, NULL };
	const struct pnode *ports, *peers;
	size_t p;

	if (!pexpect_map(c, n))
		return;
	pcheck_fields(c, n, fields);

	ports = pfield(n, "ports");
	if (ports) {
		p = path_push(c, "ports");
		r->ports = pparse_items(c, ports, 0, POLICY_MAX_PORTS, "ports", sizeof(*r->ports),
					&r->n_ports, parse_port_item, NULL);
		path_pop(c, p);
	}

	peers = pfield(n, peers_key);
	if (peers) {
		p = path_push(c, peers_key);
		r->peers = pparse_items(c, peers, 0, POLICY_MAX_PEERS, "peers", sizeof(*r->peers),
					&r->n_peers, parse_peer_item, NULL);
		path_pop(c, p);
	}
}

static void parse_rule_item(struct pctx *c, const struct pnode *n, void *elem, void *ud)
{
	parse_rule(c, n, elem, ud);
}

static void parse_rules(struct pctx *c, const struct pnode *spec, const char *key,
			const char *peers_key, struct policy_rule **ret, size_t *ret_n)
{
	const struct pnode *n = pfield(spec, key);
	size_t p;

	if (!n)
		return;
	p = path_push(c, key);
	*ret = pparse_items(c, n, 0, POLICY_MAX_RULES,
			    streq(key, "ingress") ? "ingress rules" : "egress rules", sizeof(**ret),
			    ret_n, parse_rule_item, (void *)peers_key);
	path_pop(c, p);
}

static void parse_types(struct pctx *c, const struct pnode *spec, struct policy_netpol *np)
{
	const struct pnode *n = pfield(spec, "policyTypes");
	size_t p;

	/* upstream defaulting: Ingress always, Egress when there are egress rules */
	if (!n || (n->type == PNODE_SEQ && n->n == 0)) {
		np->types = POLICY_TYPE_INGRESS | (np->n_egress > 0 ? POLICY_TYPE_EGRESS : 0);
		return;
	}
	p = path_push(c, "policyTypes");
	if (pexpect_seq(c, n, POLICY_MAX_VALUES, "policyTypes")) {
		for (size_t i = 0; i < n->n; i++) {
			const struct pnode *x = n->items[i];
			size_t q = path_push_index(c, i);
			unsigned t = 0;
			const char *s;

			if (pget_str(c, x, &s)) {
				if (streq(s, "Ingress"))
					t = POLICY_TYPE_INGRESS;
				else if (streq(s, "Egress"))
					t = POLICY_TYPE_EGRESS;
				else
					perr(c, x,
					     "unsupported policy type %s: must be Ingress or Egress",
					     QN(x));
				if (t & np->types)
					perr(c, x, "duplicate policy type %s", QN(x));
				np->types |= t;
			}
			path_pop(c, q);
		}
	}
	path_pop(c, p);
}

void pparse_netpol_spec(struct pctx *c, const struct pnode *spec, struct policy_netpol *np)
{
	static const char *const fields[] = { "podSelector", "ingress", "egress", "policyTypes",
					      NULL };
	const struct pnode *ps;
	size_t p;

	if (!pexpect_map(c, spec))
		return;
	pcheck_fields(c, spec, fields);

	ps = pfield(spec, "podSelector");
	if (!ps) {
		perr(c, spec, "missing required field \"podSelector\"");
	} else {
		p = path_push(c, "podSelector");
		pparse_selector(c, ps, &np->pod_selector);
		path_pop(c, p);
	}
	parse_rules(c, spec, "ingress", "from", &np->ingress, &np->n_ingress);
	parse_rules(c, spec, "egress", "to", &np->egress, &np->n_egress);
	parse_types(c, spec, np);
}
