/* SPDX-License-Identifier: MIT */
/*
 * TEMPORARY (branch cnpcli): a weak stand-in for policy_cnp_references(), which the lead is
 * writing in libpolicy/src/select.c on main. The real one, once merged, replaces this at link
 * time (it is strong); delete this file then. Same rule as policy_netpol_references(): e can
 * appear in the plans of p's subjects as a selector peer of a rule (its namespace's labels,
 * then its own), or as a candidate destination of an egress named port.
 */
#include <string.h>

#include "policy/policy.h"

static bool peer_matches(const struct policy_world *w, const struct policy_peer *peer,
			 const struct policy_endpoint *e)
{
	struct policy_label name = { .key = (char *)POLICY_NS_NAME_LABEL,
				     .value = (char *)e->namespace };
	const struct policy_labels implicit = { .items = &name, .n = 1 };
	const struct policy_labels *nsl = &implicit;

	if (!peer->ns_selector)
		return false; /* networks */
	for (size_t i = 0; i < w->n_namespaces; i++)
		if (strcmp(w->namespaces[i]->name, e->namespace) == 0)
			nsl = &w->namespaces[i]->labels;
	return policy_selector_matches(peer->ns_selector, nsl) &&
	       (!peer->pod_selector || policy_selector_matches(peer->pod_selector, &e->labels));
}

__attribute__((weak)) bool policy_cnp_references(const struct policy_world *w,
						 const struct policy_cnp *p,
						 const struct policy_endpoint *e)
{
	for (int dir = 0; dir < 2; dir++) {
		const struct policy_rule *rules = dir ? p->egress : p->ingress;
		size_t n = dir ? p->n_egress : p->n_ingress;

		for (size_t i = 0; i < n; i++) {
			for (size_t k = 0; dir && k < rules[i].n_ports; k++)
				if (rules[i].ports[k].name)
					return true;
			for (size_t k = 0; k < rules[i].n_peers; k++)
				if (peer_matches(w, &rules[i].peers[k], e))
					return true;
		}
	}
	return false;
}
