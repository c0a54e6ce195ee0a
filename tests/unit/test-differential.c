/* SPDX-License-Identifier: MIT */
/*
 * Differential test of the compiler. For many seeds, the generator of benchmark (a)
 * (tests/bench/compile/gen.c) makes a world: mostly small ones in its wide mix (every selector
 * operator, namespaceSelectors, ipBlocks with except in both families, numeric and named ports
 * over TCP, UDP and SCTP, endPort), every tenth one in the benchmark's own mix at 60-200
 * endpoints. Every endpoint's plan is then compiled four ways: policy_compile(),
 * policy_compile_cached() (one cache per world, endpoints in order and then in reverse), the
 * same from the label index (built with churn and ghosts), and
 * ref_compile(), the brute-force reference compiler (tests/bench/compile/ref-compile.c,
 * written independently from the semantics). All three plans must be equal
 * (policy_plan_equal). Deny actions alternate between seeds.
 *
 * A failure names the seed, the world's parameters, the endpoint and the first line where the
 * plans' JSON differs, and prints the policies. To reproduce, or to run more seeds:
 *
 *   SEGD_DIFF_SEED=S build/tests/test-differential      one seed
 *   SEGD_DIFF_SEEDS=N build/tests/test-differential     seeds 1..N (default 300)
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gen.h"
#include "policy/policy.h"
#include "ref-compile.h"

#define DEFAULT_SEEDS 300

/* World parameters from the seed, by a generator of their own (splitmix64). */
static uint64_t mix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static struct gen_params params_of(uint64_t seed)
{
	uint64_t x = seed;

	if (seed % 10 == 0)
		return (struct gen_params){
			.n_endpoints = 60 + (unsigned)(mix(&x) % 140),
			.n_policies = 10 + (unsigned)(mix(&x) % 30),
		};
	return (struct gen_params){
		.n_endpoints = 1 + (unsigned)(mix(&x) % 32),
		.n_policies = 1 + (unsigned)(mix(&x) % 10),
		.n_namespaces = 1 + (unsigned)(mix(&x) % 4),
		.n_keys = 2 + (unsigned)(mix(&x) % 5),
		.n_values = 2 + (unsigned)(mix(&x) % 5),
		.wide = true,
	};
}

/* What the compared plans held, printed at the end: evidence that the worlds are not trivial. */
static struct {
	size_t plans, isolated, rules, any_peer, sctp, ranges, hash_elems, intervals, named_sets;
	size_t empty_sets, shortened;
} seen;

static void count(const struct policy_plan *p)
{
	seen.plans++;
	seen.isolated += p->isolated[POLICY_DIR_INGRESS] || p->isolated[POLICY_DIR_EGRESS];
	seen.rules += p->n_rules;
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct policy_plan_rule *r = &p->rules[i];

		seen.any_peer += r->set < 0;
		seen.sctp += r->has_proto && r->proto == POLICY_PROTO_SCTP;
		seen.ranges += r->has_proto && r->port_lo != r->port_hi;
		seen.shortened += strchr(r->comment, '~') != NULL;
	}
	for (size_t i = 0; i < p->n_sets; i++) {
		const struct policy_set *s = &p->sets[i];

		if (s->interval)
			seen.intervals += s->n_elems;
		else
			seen.hash_elems += s->n_elems;
		seen.named_sets += strstr(s->name, "_n") != NULL;
		seen.empty_sets += s->n_elems == 0;
	}
}

/* The first line where two texts differ, from both. */
static void print_first_difference(const char *a, const char *b)
{
	const char *la = a, *lb = b;
	unsigned line = 1;

	for (; *a && *a == *b; a++, b++)
		if (*a == '\n') {
			line++;
			la = a + 1;
			lb = b + 1;
		}
	print_error("  first difference in the plans' JSON, line %u:\n  libpolicy: %.*s\n"
		    "  reference: %.*s\n",
		    line, (int)strcspn(la, "\n"), la, (int)strcspn(lb, "\n"), lb);
}

static void report(uint64_t seed, const struct gen_params *p, const struct gen_world *w,
		   const struct policy_endpoint *ep, const char *what, const struct policy_plan *a,
		   const struct policy_plan *b)
{
	char *ja = policy_plan_to_json(a), *jb = policy_plan_to_json(b);

	print_error("seed %llu (SEGD_DIFF_SEED=%llu): %s differs from the reference for endpoint "
		    "%s/%s\n  world: %u endpoints, %u policies, %u namespaces, %u keys, %u values, "
		    "%s mix\n",
		    (unsigned long long)seed, (unsigned long long)seed, what, ep->namespace,
		    ep->name, p->n_endpoints, p->n_policies, p->n_namespaces, p->n_keys,
		    p->n_values, p->wide ? "wide" : "benchmark");
	if (ja && jb && strcmp(ja, jb) != 0)
		print_first_difference(ja, jb);
	else
		print_error("  the plans' JSON is equal: they differ outside it (e.g. set element "
			    "end bytes, selected_types)\n");
	if (w->text_len < 64 * 1024)
		print_error("  policies: %s\n", w->text);
	free(ja);
	free(jb);
}

/* Returns false (after reporting) when a plan differs. */
static bool check_seed(uint64_t seed)
{
	struct gen_params p = params_of(seed);
	enum policy_deny_action deny = seed % 2 ? POLICY_DENY_REJECT : POLICY_DENY_DROP;
	struct policy_compile_cache *cache = NULL;
	struct policy_plan **ref = NULL;
	struct policy_diags d = { 0 };
	struct gen_world *w;
	bool ok = true;
	size_t n;

	w = gen_world_new(&p, seed);
	if (gen_world_parse(w, &d) < 0) {
		for (size_t i = 0; i < d.n; i++) {
			char *s = policy_diag_format(&d.items[i]);

			print_error("seed %llu: generated policy rejected: %s\n",
				    (unsigned long long)seed, s);
			free(s);
		}
		policy_diags_done(&d);
		gen_world_free(w);
		fail_msg("seed %llu: the generator made an invalid policy",
			 (unsigned long long)seed);
	}
	n = w->n_endpoints;
	ref = calloc(n ? n : 1, sizeof(*ref));
	assert_non_null(ref);

	for (size_t i = 0; i < n && ok; i++) {
		const struct policy_endpoint *ep = w->endpoints[i];
		struct policy_plan *a = NULL;

		assert_int_equal(ref_compile(&w->world, ep, deny, &ref[i]), 0);
		count(ref[i]);
		assert_int_equal(policy_compile(&w->world, ep, deny, &a), 0);
		if (!policy_plan_equal(a, ref[i])) {
			report(seed, &p, w, ep, "policy_compile", a, ref[i]);
			ok = false;
		}
		policy_plan_free(a);
	}

	assert_int_equal(policy_compile_cache_new(&w->world, &cache), 0);
	for (size_t k = 0; k < 2 * n && ok; k++) {
		size_t i = k < n ? k : 2 * n - 1 - k;
		struct policy_plan *a = NULL;

		assert_int_equal(policy_compile_cached(cache, w->endpoints[i], deny, &a), 0);
		if (!policy_plan_equal(a, ref[i])) {
			report(seed, &p, w, w->endpoints[i],
			       k < n ? "policy_compile_cached"
				     : "policy_compile_cached (second pass)",
			       a, ref[i]);
			ok = false;
		}
		policy_plan_free(a);
	}
	policy_compile_cache_free(cache);
	cache = NULL;

	/* The same world through the label index, built with churn: every endpoint added, every
	 * third removed and added again, and ghosts (same namespace and labels, other addresses)
	 * added, then changed beyond recognition and removed: the index must forget them by what
	 * it indexed them under. */
	if (ok) {
		struct policy_endpoint *ghosts = calloc(n ? n : 1, sizeof(*ghosts));
		struct policy_world iw = w->world;
		struct policy_index *idx = NULL;

		assert_non_null(ghosts);
		assert_int_equal(policy_index_new(&idx), 0);
		for (size_t i = 0; i < n; i++) {
			ghosts[i] = *w->endpoints[i];
			assert_int_equal(policy_index_add(idx, &ghosts[i]), 0);
			assert_int_equal(policy_index_add(idx, w->endpoints[i]), 0);
			assert_int_equal(policy_index_add(idx, w->endpoints[i]), -EEXIST);
		}
		for (size_t i = 0; i < n; i += 3) {
			assert_true(policy_index_remove(idx, w->endpoints[i]));
			assert_int_equal(policy_index_add(idx, w->endpoints[i]), 0);
		}
		for (size_t i = 0; i < n; i++) {
			ghosts[i].namespace = (char *)"elsewhere";
			ghosts[i].labels = (struct policy_labels){ 0 };
			assert_false(policy_index_current(idx, &ghosts[i]));
			assert_true(policy_index_remove(idx, &ghosts[i]));
			assert_false(policy_index_remove(idx, &ghosts[i]));
			assert_true(policy_index_current(idx, w->endpoints[i]));
		}
		assert_int_equal(policy_index_count(idx), n);
		iw.index = idx;
		iw.endpoints = NULL; /* not read when there is an index */
		iw.n_endpoints = 0;
		assert_int_equal(policy_compile_cache_new(&iw, &cache), 0);
		for (size_t i = 0; i < n && ok; i++) {
			struct policy_plan *a = NULL;

			assert_int_equal(policy_compile_cached(cache, w->endpoints[i], deny, &a),
					 0);
			if (!policy_plan_equal(a, ref[i])) {
				report(seed, &p, w, w->endpoints[i],
				       "policy_compile_cached (label index)", a, ref[i]);
				ok = false;
			}
			policy_plan_free(a);
		}
		policy_compile_cache_free(cache);
		policy_index_free(idx);
		free(ghosts);
	}

	for (size_t i = 0; i < n; i++)
		policy_plan_free(ref[i]);
	free(ref);
	gen_world_free(w);
	return ok;
}

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *s = getenv(name);
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return def;
	v = strtoull(s, &end, 10);
	if (*end)
		fail_msg("%s=%s: not a number", name, s);
	return v;
}

static void test_compilers_agree(void **state)
{
	uint64_t one = env_u64("SEGD_DIFF_SEED", 0), n = env_u64("SEGD_DIFF_SEEDS", DEFAULT_SEEDS);
	uint64_t first = one ? one : 1, last = one ? one : n;

	for (uint64_t seed = first; seed <= last; seed++)
		if (!check_seed(seed))
			fail_msg("plans differ: seed %llu", (unsigned long long)seed);
	print_message("# seeds %llu..%llu: %zu plans (%zu isolated) with %zu rules (%zu any-peer, "
		      "%zu SCTP, %zu port ranges, %zu shortened comments), %zu hash set elements, "
		      "%zu intervals, %zu named-port sets, %zu empty sets\n",
		      (unsigned long long)first, (unsigned long long)last, seen.plans,
		      seen.isolated, seen.rules, seen.any_peer, seen.sctp, seen.ranges,
		      seen.shortened, seen.hash_elems, seen.intervals, seen.named_sets,
		      seen.empty_sets);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compilers_agree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
