/* SPDX-License-Identifier: MIT */
/*
 * Seeded generator of compiler inputs: namespaces, endpoints and NetworkPolicies (the policies
 * as the text of one JSON List, parsed with policy_parse). Shared by benchmark (a)
 * (bench-compile.c) and the differential unit test (tests/unit/test-differential.c). The same
 * parameters and seed give the same world with any compiler. Out of memory aborts: test tool.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"

struct gen_params {
	unsigned n_endpoints;
	unsigned n_policies;
	unsigned n_namespaces; /* ns0..; 0: 10 */
	unsigned n_keys;       /* label keys k0..; 0: 20 (at least 10 without wide) */
	unsigned n_values;     /* label values v1..; 0: 50 */
	/* false: the benchmark's mix, which its published numbers depend on (keep it as it is);
	 * true: every shape the compiler handles, for differential testing (gen.c lists them) */
	bool wide;
};

struct gen_world {
	struct policy_namespace **namespaces; /* Namespace objects; wide: the last has none */
	size_t n_namespaces;
	struct policy_endpoint **endpoints;
	size_t n_endpoints;
	char *text; /* the NetworkPolicies: one JSON List */
	size_t text_len;
	struct policy_objects *objects; /* text parsed, by gen_world_parse() */
	struct policy_world world;	/* borrows all of the above */
};

/* Endpoints, Namespace objects and the policy text; world has no policies yet. */
struct gen_world *gen_world_new(const struct gen_params *p, uint64_t seed);
/* Parses the text into objects and world. 0, or -EBADMSG with diagnostics in *reterr. */
int gen_world_parse(struct gen_world *g, struct policy_diags *reterr);
struct gen_world *gen_world_free(struct gen_world *g);
