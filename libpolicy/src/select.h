/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Selectors resolved against the endpoints of a world: which policies select an endpoint,
 * which endpoints a rule's selector peers select and their addresses, cached per rule for a
 * compile of many endpoints (struct policy_compile_cache). Private to libpolicy.
 */
#include <stdbool.h>
#include <stddef.h>

#include "policy/policy.h"

/* The endpoints a rule's selector peers select, and their addresses per family (sorted,
 * unique), so that each plan's sets are a copy of output size. */
struct peers {
	const struct policy_endpoint **eps; /* the endpoints selected, each once, in no order */
	size_t n_eps;
	bool has_sel;			  /* the rule has selector peers */
	struct policy_set_elem *elems[2]; /* [0] AF_INET, [1] AF_INET6 */
	size_t n_elems[2];
};

/* Peers per rule, keyed by the rule's address (open addressing). */
struct cache_entry {
	const struct policy_rule *rule;
	struct peers peers;
};

struct policy_compile_cache {
	const struct policy_world *w;
	struct cache_entry *slots;
	size_t n_slots, used;
	/* The world's policies sorted by (namespace, name): an endpoint's candidates are the run
	 * of its namespace, already in plan order. Built on first use. */
	const struct policy_netpol **by_ns;
};

/* The addresses (of `family`) of eps[0..n), sorted and unique; NULL and 0 when there are
 * none. */
/* The addresses of `family` of the Nodes a rule's `nodes` peers select, sorted and unique;
 * *ret_has: whether the rule has a `nodes` peer. */
int select_node_elems(const struct policy_world *w, const struct policy_rule *rule, int family,
		      struct policy_set_elem **ret, size_t *ret_n, bool *ret_has);
int select_endpoint_elems(const struct policy_endpoint *const *eps, size_t n, int family,
			  struct policy_set_elem **ret, size_t *ret_n);
/* Every possible peer of the world (from its index when it has one), each once. */
int select_all(const struct policy_world *w, const struct policy_endpoint ***ret, size_t *ret_n);
/* A rule's peers, computed afresh (no cache). policy_ns: the NetworkPolicy's namespace, NULL
 * for a ClusterNetworkPolicy. */
int select_peers_compute(const struct policy_world *w, const char *policy_ns,
			 const struct policy_rule *rule, struct peers *pe);
void select_peers_done(struct peers *pe);
/* A rule's peers from the cache, computed on first use. */
int select_cache_lookup(struct policy_compile_cache *c, const char *policy_ns,
			const struct policy_rule *rule, const struct peers **ret);
/* The policies of ep's namespace that select it, sorted by name, into out (room for all of the
 * world's); with a cache, by a binary search of its namespace's run. */
int select_policies_of(const struct policy_world *w, struct policy_compile_cache *c,
		       const struct policy_endpoint *ep, const struct policy_netpol **out,
		       size_t *ret_n);
/* The ClusterNetworkPolicies whose subject selects ep, in evaluation order: Admin before
 * Baseline, lower priority first, then by name (segd's choice for equal priorities), into out
 * (room for all of the world's). */
int select_cnps_of(const struct policy_world *w, const struct policy_endpoint *ep,
		   const struct policy_cnp **out, size_t *ret_n);
