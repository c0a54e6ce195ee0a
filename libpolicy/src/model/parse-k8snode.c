/* SPDX-License-Identifier: MIT */
/*
 * The body of a Node (v1): spec is accepted when it is an object and ignored (segd does not
 * schedule anything; its known fields are allowed, others rejected as elsewhere); of status
 * only `addresses` is read: at most POLICY_MAX_ENDPOINT_ADDRS entries of {type, address}, both
 * required. InternalIP and ExternalIP entries are the Node's addresses (an IPv4 or IPv6 literal,
 * as inet_pton() takes it); other types (Hostname, InternalDNS, ExternalDNS) are accepted and
 * ignored. The other status fields are allowed and ignored.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "model/parse.h"
#include "policy/policy.h"

#define NODE_MAX_ADDR_TYPE 64

static void parse_address(struct pctx *c, const struct pnode *n, struct policy_node *node)
{
	static const char *const fields[] = { "type", "address", NULL };
	const struct pnode *t = NULL, *a = NULL;
	const char *type = NULL, *addr = NULL;
	struct policy_addr pa = { 0 };
	size_t p;

	if (!pexpect_map(c, n))
		return;
	pcheck_fields(c, n, fields);
	t = pfield(n, "type");
	a = pfield(n, "address");
	if (!t)
		perr(c, n, "missing required field \"type\"");
	if (!a)
		perr(c, n, "missing required field \"address\"");
	if (t) {
		p = path_push(c, "type");
		if (pget_str(c, t, &type) && (t->len == 0 || t->len > NODE_MAX_ADDR_TYPE)) {
			perr(c, t, "invalid address type %s: must be 1 to %u characters", QN(t),
			     NODE_MAX_ADDR_TYPE);
			type = NULL;
		}
		path_pop(c, p);
	}
	if (a) {
		p = path_push(c, "address");
		pget_str(c, a, &addr);
		path_pop(c, p);
	}
	if (!type || !addr)
		return;
	if (!streq(type, "InternalIP") && !streq(type, "ExternalIP"))
		return; /* Hostname, InternalDNS, ...: not an address segd matches */
	p = path_push(c, "address");
	if (inet_pton(AF_INET, addr, pa.addr) == 1)
		pa.family = AF_INET;
	else if (inet_pton(AF_INET6, addr, pa.addr) == 1)
		pa.family = AF_INET6;
	else
		perr(c, a, "invalid IP address %s for type %s", QN(a), type);
	path_pop(c, p);
	if (pa.family)
		node->addrs[node->n_addrs++] = pa;
}

static void parse_status(struct pctx *c, const struct pnode *st, struct policy_node *node)
{
	static const char *const fields[] = {
		"addresses",	   "allocatable",     "capacity",     "conditions", "config",
		"daemonEndpoints", "features",	      "images",	      "nodeInfo",   "phase",
		"runtimeHandlers", "volumesAttached", "volumesInUse", NULL
	};
	const struct pnode *addrs;
	size_t p;

	if (!pexpect_map(c, st))
		return;
	pcheck_fields(c, st, fields);
	addrs = pfield(st, "addresses");
	if (!addrs)
		return;
	p = path_push(c, "addresses");
	if (pexpect_seq(c, addrs, POLICY_MAX_ENDPOINT_ADDRS, "addresses") && addrs->n > 0) {
		node->addrs = calloc(addrs->n, sizeof(*node->addrs));
		if (!node->addrs) {
			c->oom = c->failed = true;
		} else {
			for (size_t i = 0; i < addrs->n; i++) {
				size_t q = path_push_index(c, i);

				parse_address(c, addrs->items[i], node);
				path_pop(c, q);
			}
		}
	}
	path_pop(c, p);
}

void pparse_node_body(struct pctx *c, const struct pnode *doc, struct policy_node *node)
{
	static const char *const spec_fields[] = { "configSource",  "externalID", "podCIDR",
						   "podCIDRs",	    "providerID", "taints",
						   "unschedulable", NULL };
	const struct pnode *x;
	size_t p;

	x = pfield(doc, "spec");
	if (x) {
		p = path_push(c, "spec");
		if (pexpect_map(c, x)) /* ignored: segd schedules nothing */
			pcheck_fields(c, x, spec_fields);
		path_pop(c, p);
	}
	x = pfield(doc, "status");
	if (x) {
		p = path_push(c, "status");
		parse_status(c, x, node);
		path_pop(c, p);
	}
}
