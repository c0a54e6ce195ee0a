/* SPDX-License-Identifier: MIT */
/*
 * Reconcile: every plan compiled and committed; after a change only what it marked is
 * compiled, a peer change goes out as set elements alone, nothing is sent to namespaces it
 * does not touch; a namespace the kernel refuses is failed and named, the others go on, and
 * it is retried on its own schedule without failing later changes.
 * Private kernel, no root.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/netfilter.h>

#include "fixture.h"
#include "testutil.h"
#include "netns.h"
#include "nft.h"
#include "reconcile.h"
#include "time-util.h"
#include "unit.h"

static const char policy[] = TEST_POLICY_DB_FROM_API;

struct world {
	struct loop *loop;
	struct endpoint_env env;
	struct store store;
	struct registry registry;
	struct errlog errlog;
	struct reconciler rc;
};

static struct endpoint *add(struct world *w, const char *name, const char *app, const char *addr)
{
	struct endpoint *e = NULL;
	int ns = -1;

	assert_int_equal(fixture_netns(name, &ns), 0);
	assert_int_equal(endpoint_new(&w->env, ENDPOINT_KIND_NETNS, name, name, "shop", &e), 0);
	assert_int_equal(endpoint_attach(e, ns), 0);
	assert_int_equal(policy_labels_set(&e->pe.labels, "app", app), 0);
	/* An address of its own without a device: what the peers' sets will hold. */
	ep_addr(e, addr);
	assert_int_equal(registry_insert(&w->registry, e), 0);
	return e;
}

static void world_init(struct world *w)
{
	struct policy_objects *objs = NULL;
	struct policy_diags diags = { 0 };

	*w = (struct world){ 0 };
	assert_int_equal(loop_new(&w->loop), 0);
	w->env.loop = w->loop;
	w->rc = (struct reconciler){ .store = &w->store,
				     .registry = &w->registry,
				     .errlog = &w->errlog,
				     .deny = POLICY_DENY_DROP,
				     .emit = { .table_flags =
						       NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST } };
	assert_int_equal(policy_parse("p.yaml", policy, strlen(policy), &objs, &diags), 0);
	store_load(&w->store, objs);
}

static void world_done(struct world *w)
{
	reconcile_done(&w->rc);
	registry_done(&w->registry);
	store_done(&w->store);
	errlog_done(&w->errlog);
	loop_free(w->loop);
}

static void test_reconcile_marks_and_increments(void **state)
{
	struct world w;
	struct endpoint *db, *api, *other;
	size_t updated = 0;

	world_init(&w);
	db = add(&w, "r-db", "db", "10.4.0.3");
	api = add(&w, "r-api", "api", "10.4.0.2");
	other = add(&w, "r-other", "cache", "10.4.0.9");
	assert_int_equal(reconcile_all(&w.rc, &updated), 0);
	assert_int_equal(updated, 3);
	assert_int_equal(w.rc.last.compiled, 3);
	assert_int_equal(db->state, ENDPOINT_ENFORCED);
	assert_true(db->installed->isolated[POLICY_DIR_INGRESS]);
	assert_false(api->installed->isolated[POLICY_DIR_INGRESS]);

	/* Nothing marked: nothing compiled, nothing sent. */
	assert_int_equal(reconcile_marked(&w.rc, &updated), 0);
	assert_int_equal(w.rc.last.compiled, 0);
	assert_int_equal(w.rc.last.messages, 0);

	/* "other" becomes an api: only db (whose policy now references it) and other change;
	 * db's by set elements alone. */
	reconcile_mark_peers_of(&w.rc, other);
	assert_int_equal(policy_labels_set(&other->pe.labels, "app", "api"), 0);
	reconcile_mark(&w.rc, other);
	reconcile_mark_peers_of(&w.rc, other);
	assert_true(db->dirty);
	assert_false(api->dirty);
	assert_int_equal(reconcile_marked(&w.rc, &updated), 0);
	assert_int_equal(w.rc.last.compiled, 2);
	assert_int_equal(w.rc.last.namespaces, 1); /* other's own plan did not change */
	assert_int_equal(w.rc.last.incremental, 1);
	assert_int_equal(w.rc.total.namespaces, 4);
	assert_int_equal(db->installed->sets[0].n_elems + db->installed->sets[1].n_elems, 2);

	/* compile_all: every live endpoint's plan, nothing committed. */
	{
		struct policy_plan **plans = NULL;
		uint64_t commits = w.rc.commits;

		assert_int_equal(reconcile_compile_all(&w.rc, &plans), 0);
		for (size_t i = 0; i < w.registry.n; i++)
			assert_true(policy_plan_equal(plans[i], w.registry.items[i]->installed));
		reconcile_plans_free(&w.rc, plans);
		assert_int_equal(w.rc.commits, commits);
	}
	world_done(&w);
}

/* The label index and the marked list follow every change made through the reconciler's
 * functions; a change made behind their back is found by the periodic check, repaired, and
 * recompiled; an endpoint that leaves is nobody's peer at once. */
static void test_index_follows_and_is_checked(void **state)
{
	struct world w;
	struct endpoint *db, *api, *other;
	size_t updated = 0;

	world_init(&w);
	db = add(&w, "i-db", "db", "10.6.0.3");
	api = add(&w, "i-api", "api", "10.6.0.2");
	other = add(&w, "i-other", "cache", "10.6.0.9");
	assert_int_equal(reconcile_all(&w.rc, &updated), 0);
	assert_int_equal(reconcile_check_index(&w.rc), 0);
	assert_int_equal(policy_index_count(w.rc.index), 3);
	assert_int_equal(db->installed->sets[0].n_elems, 1); /* api */

	/* Relabelled behind the reconciler's back: db's peers are out of date until the check
	 * finds it. */
	assert_int_equal(policy_labels_set(&other->pe.labels, "app", "api"), 0);
	assert_int_equal(reconcile_marked(&w.rc, &updated), 0);
	assert_int_equal(db->installed->sets[0].n_elems, 1);
	assert_int_equal(reconcile_check_index(&w.rc), 1);
	assert_int_equal(w.rc.index_repairs, 1);
	assert_true(w.rc.all_dirty);
	assert_int_equal(reconcile_marked(&w.rc, &updated), 0);
	assert_int_equal(db->installed->sets[0].n_elems, 2);
	assert_int_equal(reconcile_check_index(&w.rc), 0);

	/* A marked endpoint missing from the list is found too. */
	api->dirty = true;
	assert_int_equal(reconcile_check_index(&w.rc), 1);
	assert_int_equal(reconcile_marked(&w.rc, &updated), 0);
	assert_false(api->dirty);
	assert_int_equal(reconcile_check_index(&w.rc), 0);

	/* Quarantined: out of the index, out of db's set. */
	reconcile_mark_peers_of(&w.rc, other);
	other->quarantined = true;
	reconcile_mark(&w.rc, other);
	assert_false(policy_index_has(w.rc.index, &other->pe));
	assert_true(db->dirty);
	assert_int_equal(reconcile_marked(&w.rc, &updated), 0);
	assert_int_equal(db->installed->sets[0].n_elems, 1);

	/* api leaves: forgotten before the registry lets it go, db's set empties. */
	reconcile_mark_peers_of(&w.rc, api);
	reconcile_forget(&w.rc, api);
	registry_remove(&w.registry, api);
	assert_false(policy_index_has(w.rc.index, &api->pe));
	assert_int_equal(reconcile_marked(&w.rc, &updated), 0);
	assert_int_equal(db->installed->sets[0].n_elems, 0);
	assert_int_equal(reconcile_check_index(&w.rc), 0);
	endpoint_free(api);
	world_done(&w);
}

static void test_squatted_table_is_compromised(void **state)
{
	struct world w;
	struct endpoint *db, *api;
	struct nft_sock *thief = NULL;
	struct policy_plan *p = NULL;
	uint32_t owner = 0;
	size_t updated = 0;
	int ns = -1;

	world_init(&w);
	db = add(&w, "f-db", "db", "10.3.0.3");
	api = add(&w, "f-api", "api", "10.3.0.2");
	/* Another socket owns table inet segd in db's namespace already (an empty one: it
	 * would keep the namespace open). */
	assert_int_equal(netns_open_name("f-db", &ns), 0);
	assert_int_equal(nft_sock_open(NULL, ns, &thief), 0);
	p = calloc(1, sizeof(*p));
	p->endpoint = strdup("thief");
	assert_int_equal(nft_replace_table(thief, p, &w.rc.emit, NULL), 0);
	if (reconcile_all(&w.rc, &updated) != 0)
		fail_msg("db: %s", db->error ? db->error : "?");
	assert_int_equal(updated, 2);
	/* segd enforces from a table of another name, and raises the alarm. */
	assert_int_equal(db->state, ENDPOINT_COMPROMISED);
	assert_non_null(strstr(db->error, "owned by another process"));
	assert_int_equal(strncmp(db->table, POLICY_NFT_TABLE "-", 5), 0);
	assert_int_equal(strlen(db->table), 13);
	assert_int_equal(nft_table_get_named(db->nft, NFPROTO_INET, db->table, NULL, &owner), 1);
	assert_int_equal(owner, nft_sock_portid(db->nft));
	assert_int_equal(nft_table_get(db->nft, NULL, &owner), 1);
	assert_int_equal(owner, nft_sock_portid(thief)); /* the squatter's, left alone */
	assert_int_equal(api->state, ENDPOINT_ENFORCED);
	assert_int_equal(w.rc.commit_errors, 0);
	assert_int_equal(w.rc.compromised_seen, 1);
	assert_true(w.errlog.total >= 1);
	/* Changes go on in the fallback table; the alarm stays. */
	nft_sock_free(thief);
	reconcile_mark(&w.rc, db);
	db->installed = policy_plan_free(db->installed);
	assert_int_equal(reconcile_marked(&w.rc, &updated), 0);
	assert_int_equal(db->state, ENDPOINT_COMPROMISED);
	assert_int_equal(nft_table_get_named(db->nft, NFPROTO_INET, db->table, NULL, &owner), 1);
	policy_plan_free(p);
	close(ns);
	world_done(&w);
}

/* Base chains on the input hook of ns until the kernel takes no more (it allows 1024 per
 * hook): tables of default-deny owned by the returned socket. */
static struct nft_sock *fill_input_hook(int ns)
{
	struct policy_plan deny = { .endpoint = (char *)"hog",
				    .isolated = { true, true },
				    .deny = POLICY_DENY_DROP };
	struct policy_emit_options o = { .table_flags = NFT_TABLE_F_OWNER };
	struct nft_sock *hog = NULL;
	char name[32];
	int r = 0, n;

	assert_int_equal(nft_sock_open(NULL, ns, &hog), 0);
	for (n = 0; r >= 0 && n < 2048; n++) {
		snprintf(name, sizeof(name), "hog%d", n);
		o.table = name;
		r = nft_replace_table(hog, &deny, &o, NULL);
	}
	assert_int_equal(r, -E2BIG);
	assert_true(n > 100);
	return hog;
}

static void test_refused_endpoint_holds_nothing_up(void **state)
{
	uint64_t t;
	struct world w;
	struct endpoint *db, *api;
	struct nft_sock *hog;
	size_t updated = 0;
	uint64_t errors;
	int ns = -1;

	world_init(&w);
	db = add(&w, "x-db", "db", "10.5.0.3");
	api = add(&w, "x-api", "api", "10.5.0.2");
	assert_int_equal(netns_open_name("x-db", &ns), 0);
	hog = fill_input_hook(ns);

	/* db's first commit is refused: a new failure, named; api is committed all the same */
	assert_int_equal(reconcile_all(&w.rc, &updated), 1);
	assert_int_equal(updated, 1);
	assert_ptr_equal(reconcile_first_failure(&w.rc), db);
	assert_int_equal(db->state, ENDPOINT_FAILED);
	assert_non_null(strstr(db->error, "kernel refused ruleset"));
	assert_null(db->installed); /* default-deny was refused too: nothing */
	assert_int_equal(api->state, ENDPOINT_ENFORCED);
	assert_int_equal(db->retry.failures, 1);
	assert_true(db->dirty);
	assert_int_equal(reconcile_next_retry(&w.rc), db->retry.due_usec);
	errors = w.rc.commit_errors;

	/* Until its retry is due, changes pass it by (it stays marked), even one that marks
	 * everything; api's change is committed and nothing failed. */
	reconcile_mark_peers_of(&w.rc, api);
	reconcile_mark(&w.rc, api);
	w.rc.all_dirty = true;
	assert_int_equal(reconcile_marked(&w.rc, &updated), 0);
	assert_int_equal(w.rc.last.compiled, 1);
	assert_int_equal(w.rc.commit_errors, errors);
	assert_null(reconcile_first_failure(&w.rc));
	assert_true(db->dirty);

	/* Its retry, due, fails again: not a new failure (0), rescheduled twice as far. */
	db->retry.due_usec = 0;
	t = now_usec();
	assert_int_equal(reconcile_marked(&w.rc, &updated), 0);
	assert_int_equal(w.rc.retries, 1);
	assert_int_equal(w.rc.commit_errors, errors + 1);
	assert_int_equal(db->retry.failures, 2);
	assert_int_equal(db->state, ENDPOINT_FAILED);
	assert_null(reconcile_first_failure(&w.rc));
	/* the second delay, counted from no earlier than t (not from now: no timing margin) */
	assert_true(reconcile_next_retry(&w.rc) >= t + backoff_delay_ms(2) * 1000);

	/* The hog goes: the next retry commits db, and nothing is left to retry. */
	nft_sock_free(hog);
	db->retry.due_usec = 0;
	assert_int_equal(reconcile_marked(&w.rc, &updated), 0);
	assert_int_equal(updated, 1);
	assert_int_equal(db->state, ENDPOINT_ENFORCED);
	assert_null(db->error);
	assert_non_null(db->installed);
	assert_int_equal(db->retry.failures, 0);
	assert_int_equal(reconcile_next_retry(&w.rc), 0);
	close(ns);
	world_done(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reconcile_marks_and_increments),
		cmocka_unit_test(test_index_follows_and_is_checked),
		cmocka_unit_test(test_squatted_table_is_compromised),
		cmocka_unit_test(test_refused_endpoint_holds_nothing_up),
	};

	fixture_enter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
