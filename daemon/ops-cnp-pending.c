/* SPDX-License-Identifier: MIT */
/*
 * TEMPORARY (branch cnpcli): weak stand-ins for the ClusterNetworkPolicy functions of
 * libpolicy that other branches are writing (the model's in cnpparse, policy_cnp_references
 * on main). The real ones, once merged, replace these at link time (they are strong); this
 * file is then deleted. Nothing here is meant to be right beyond keeping the daemon linkable:
 * references() says "yes" (marking more than needed is safe, less is not).
 */
#include <stdio.h>
#include <stdlib.h>

#include "policy/policy.h"

__attribute__((weak)) struct policy_cnp *policy_cnp_free(struct policy_cnp *p)
{
	if (p)
		free(p->name);
	free(p);
	return NULL;
}

__attribute__((weak)) bool policy_cnp_equal(const struct policy_cnp *a, const struct policy_cnp *b)
{
	(void)a;
	(void)b;
	return false;
}

__attribute__((weak)) char *policy_cnp_to_json(const struct policy_cnp *p)
{
	char *s = NULL;

	if (asprintf(&s,
		     "{\"apiVersion\":\"policy.networking.k8s.io/v1alpha2\","
		     "\"kind\":\"ClusterNetworkPolicy\",\"metadata\":{\"name\":\"%s\"},"
		     "\"spec\":{\"tier\":\"%s\",\"priority\":%u}}",
		     p->name, p->tier == POLICY_TIER_ADMIN ? "Admin" : "Baseline", p->priority) < 0)
		return NULL;
	return s;
}

__attribute__((weak)) bool policy_cnp_references(const struct policy_world *w,
						 const struct policy_cnp *p,
						 const struct policy_endpoint *e)
{
	(void)w;
	(void)p;
	(void)e;
	return true;
}
