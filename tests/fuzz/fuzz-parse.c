/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for policy_parse(): JSON and YAML, every accepted NetworkPolicy and
 * ClusterNetworkPolicy round-trips through canonical JSON and copies equal. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_objects *o = NULL, *o2 = NULL;
	struct policy_diags d = { 0 };

	if (policy_parse("fuzz", (const char *)data, size, &o, &d) == 0) {
		for (size_t i = 0; i < o->n_netpols; i++) {
			char *s = policy_netpol_to_json(o->netpols[i]);

			if (!s)
				continue;
			if (policy_parse("rt", s, strlen(s), &o2, NULL) != 0 ||
			    o2->n_netpols != 1 ||
			    !policy_netpol_equal(o->netpols[i], o2->netpols[0]))
				abort();
			o2 = policy_objects_free(o2);
			free(s);
		}
		for (size_t i = 0; i < o->n_cnps; i++) {
			char *s = policy_cnp_to_json(o->cnps[i]);
			struct policy_cnp *dup;

			if (!s)
				continue;
			if (policy_parse("rt", s, strlen(s), &o2, NULL) != 0 || o2->n_cnps != 1 ||
			    !policy_cnp_equal(o->cnps[i], o2->cnps[0]))
				abort();
			o2 = policy_objects_free(o2);
			free(s);
			dup = policy_cnp_dup(o->cnps[i]);
			if (dup && !policy_cnp_equal(o->cnps[i], dup))
				abort();
			policy_cnp_free(dup);
		}
		o = policy_objects_free(o);
	}
	for (size_t i = 0; i < d.n; i++)
		free(policy_diag_format(&d.items[i]));
	policy_diags_done(&d);
	return 0;
}
