/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <sys/random.h>

#include <linux/netfilter.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "conntrack.h"
#include "log.h"
#include "macro.h"
#include "nft-table.h"
#include "reconcile-internal.h"
#include "time-util.h"

DEFINE_CLEANUP(struct policy_compile_cache *, policy_compile_cache_free);

/* The endpoints that can be peers (endpoint_peer). `eps` has room for all. */
static void world_build(const struct reconciler *rc, struct policy_endpoint **eps,
			struct policy_world *w)
{
	const struct registry *reg = rc->registry;
	size_t n = 0;

	for (size_t i = 0; i < reg->n; i++)
		if (endpoint_peer(reg->items[i]))
			eps[n++] = &reg->items[i]->pe;
	*w = (struct policy_world){
		.namespaces = rc->store->namespaces,
		.n_namespaces = rc->store->n_namespaces,
		.netpols = rc->store->netpols,
		.n_netpols = rc->store->n_netpols,
		.cnps = rc->store->cnps,
		.n_cnps = rc->store->n_cnps,
		.nodes = rc->store->nodes,
		.n_nodes = rc->store->n_nodes,
		.endpoints = eps,
		.n_endpoints = n,
	};
}

/* Isolated both ways, no rules: what an endpoint gets while its labels are unknown. */
static int deny_all_plan(const char *name, enum policy_deny_action deny, struct policy_plan **ret)
{
	struct policy_plan *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->endpoint = strdup(name);
	if (!p->endpoint) {
		free(p);
		return -ENOMEM;
	}
	p->isolated[POLICY_DIR_INGRESS] = p->isolated[POLICY_DIR_EGRESS] = true;
	p->deny = deny;
	*ret = p;
	return 0;
}

static int compile_one(const struct reconciler *rc, struct policy_compile_cache *cache,
		       const struct endpoint *e, struct policy_plan **ret)
{
	return e->quarantined ? deny_all_plan(e->pe.name, rc->deny, ret)
			      : policy_compile_cached(cache, &e->pe, rc->deny, ret);
}

int reconcile_compile_all(struct reconciler *rc, struct policy_plan ***ret)
{
	const struct registry *reg = rc->registry;
	_cleanup_free_ struct policy_endpoint **eps = calloc(reg->n + 1, sizeof(*eps));
	_cleanup_(policy_compile_cache_freep) struct policy_compile_cache *cache = NULL;
	struct policy_plan **plans = calloc(reg->n + 1, sizeof(*plans));
	struct policy_world w;
	int r = 0;

	if (!eps || !plans) {
		free(plans);
		return -ENOMEM;
	}
	world_build(rc, eps, &w);
	if (policy_compile_cache_new(&w, &cache) < 0) {
		free(plans);
		return -ENOMEM;
	}
	/* Another node's endpoints too: its node compiles the same plan from the same store. */
	for (size_t i = 0; r >= 0 && i < reg->n; i++)
		if (endpoint_live(reg->items[i]) || reg->items[i]->kind == ENDPOINT_KIND_REMOTE)
			r = compile_one(rc, cache, reg->items[i], &plans[i]);
	if (r < 0) {
		reconcile_plans_free(rc, plans);
		return r;
	}
	*ret = plans;
	return 0;
}

int reconcile_model_remotes(struct reconciler *rc)
{
	const struct registry *reg = rc->registry;
	_cleanup_free_ struct policy_endpoint **eps = NULL;
	_cleanup_(policy_compile_cache_freep) struct policy_compile_cache *cache = NULL;
	struct policy_world w;
	int r = 0;

	if (!rc->remote_models_stale)
		return 0;
	eps = calloc(reg->n + 1, sizeof(*eps));
	if (!eps)
		return -ENOMEM;
	world_build(rc, eps, &w);
	if (policy_compile_cache_new(&w, &cache) < 0)
		return -ENOMEM;
	for (size_t i = 0; r >= 0 && i < reg->n; i++) {
		struct endpoint *e = reg->items[i];

		if (e->kind != ENDPOINT_KIND_REMOTE)
			continue;
		e->installed = policy_plan_free(e->installed);
		r = compile_one(rc, cache, e, &e->installed);
	}
	if (r < 0)
		return r;
	rc->remote_models_stale = false;
	return 0;
}

void reconcile_plans_free(const struct reconciler *rc, struct policy_plan **plans)
{
	for (size_t i = 0; plans && i < rc->registry->n; i++)
		policy_plan_free(plans[i]);
	free(plans);
}

/* Whether another socket owns table inet segd in e's namespace. */
static bool table_squatted(const struct endpoint *e)
{
	uint32_t owner = 0;

	return nft_table_get(e->nft, NULL, &owner) > 0 && owner != 0 &&
	       owner != nft_sock_portid(e->nft);
}

/* e's table becomes "segd-" and 8 random hex digits; e is compromised. */
static int fallback_table(struct endpoint *e)
{
	uint32_t x;
	uint32_t owner = 0;

	if (getrandom(&x, sizeof(x), 0) != sizeof(x))
		return -errno;
	(void)nft_table_get(e->nft, NULL, &owner);
	snprintf(e->table, sizeof(e->table), POLICY_NFT_TABLE "-%08" PRIx32, x);
	endpoint_set_error(e, ENDPOINT_COMPROMISED,
			   "table inet " POLICY_NFT_TABLE " in its namespace is owned by another "
			   "process (netlink port %" PRIu32 "): enforcing from table inet %s",
			   owner, e->table);
	log_error("ALARM: endpoint %s: %s", e->pe.name, e->error);
	return 0;
}

/* Brings the kernel of one endpoint to `plan`: by set elements alone when only those changed,
 * else by replacing the table in one transaction. */
static int commit_plan(struct reconciler *rc, struct endpoint *e, const struct policy_plan *plan,
		       struct nft_error *nerr)
{
	struct policy_emit_options eo = endpoint_emit(e, &rc->emit);
	struct nft_stats before, after;
	bool incremental = false;
	int r = -ESTALE;

	nft_sock_stats(e->nft, &before);
	if (e->installed && policy_plan_same_shape(e->installed, plan)) {
		r = nft_update_elements_in(e->nft, NFPROTO_INET, e->table, e->installed, plan,
					   nerr);
		incremental = r >= 0;
		if (r < 0 && r != -ESTALE)
			log_debug_errno(r,
					"Incremental update of %s failed, replacing its table: %m",
					e->pe.name);
	}
	if (r < 0) {
		*nerr = (struct nft_error){ 0 };
		r = nft_replace_table(e->nft, plan, &eo, nerr);
	}
	if (r == -EPERM && streq(e->table, POLICY_NFT_TABLE) && table_squatted(e)) {
		/* Another process owns table inet segd here (made while nobody held ours, say
		 * with segd and its holder both gone): it can keep its table, but not the
		 * namespace open. Enforce from a table of another name, which it cannot know
		 * beforehand, and raise the alarm. */
		r = fallback_table(e);
		if (r >= 0) {
			eo = endpoint_emit(e, &rc->emit);
			*nerr = (struct nft_error){ 0 };
			r = nft_replace_table(e->nft, plan, &eo, nerr);
		}
		rc->compromised_seen++;
	}
	nft_sock_stats(e->nft, &after);
	rc->last.batches += after.batches - before.batches;
	rc->last.messages += after.messages - before.messages;
	rc->last.bytes += after.bytes - before.bytes;
	if (r >= 0) {
		rc->last.namespaces++;
		rc->last.incremental += incremental;
	}
	return r;
}

/* Whether e's host-side guards must be looked at again or recommitted. */
static bool guard_needs_work(const struct reconciler *rc, const struct endpoint *e)
{
	const struct ep_guard *g = &e->guard;

	if (!rc->guards)
		return false;
	return g->stale || g->state == GUARD_PENDING || g->n_addrs != e->pe.n_addrs ||
	       (g->n_addrs > 0 && memcmp(g->addrs, e->pe.addrs, g->n_addrs * sizeof(*g->addrs)));
}

/* Brings e's host-side guards to plan (`old` is what they held). A failure leaves the guard in
 * state error with the reason; the endpoint's own table is not affected. */
static void guard_one(struct reconciler *rc, struct endpoint *e, const struct policy_plan *old,
		      const struct policy_plan *plan)
{
	struct nft_error nerr = { 0 };
	int r;

	if (!rc->guards)
		return;
	rc->guards->table_flags = rc->emit.table_flags;
	if (e->guard.stale || e->guard.state == GUARD_PENDING) {
		int nsfd = -1;

		r = endpoint_netns(e, &nsfd);
		if (r >= 0)
			r = guard_discover(rc->guards, nsfd, e->ns_ino, &e->guard);
		safe_close(nsfd);
		if (r < 0) {
			free(e->guard.reason);
			e->guard.reason = NULL;
			e->guard.state = GUARD_ERROR;
			e->guard.stale = true;
			if (asprintf(&e->guard.reason, "interfaces not readable: %s",
				     strerror(-r)) < 0)
				e->guard.reason = NULL;
			log_error_errno(r, "Endpoint %s: cannot look for its host-side devices: %m",
					e->pe.name);
			return;
		}
	}
	r = guard_commit(rc->guards, &e->guard, old, plan, e->pe.addrs, e->pe.n_addrs, &nerr);
	if (r < 0) {
		errlog_add(rc->errlog, "endpoint %s: %s", e->pe.name,
			   e->guard.reason ? e->guard.reason : "guard not committed");
		log_error("Endpoint %s: %s", e->pe.name,
			  e->guard.reason ? e->guard.reason : "guard not committed");
	}
}

/* Whether going from old to new can deny a flow old allowed: a direction newly isolated, a
 * rule or a set element gone. (A first plan can: the namespace may have flows already.) */
static bool plan_may_tighten(const struct policy_plan *old, const struct policy_plan *new)
{
	struct policy_plan_diff d = { 0 };
	bool tighter;

	if (!old)
		return policy_plan_restricts(new, POLICY_DIR_INGRESS) ||
		       policy_plan_restricts(new, POLICY_DIR_EGRESS);
	for (int i = 0; i < _POLICY_DIR_MAX; i++)
		if (new->isolated[i] && !old->isolated[i])
			return true;
	/* With tiers, an added rule or address can deny (a Deny, or a Pass ahead of an
	 * Accept): any change may tighten. */
	if (policy_plan_has_tiers(old) || policy_plan_has_tiers(new))
		return !policy_plan_equal(old, new);
	if (policy_plan_diff(old, new, &d) < 0)
		return true;
	tighter = d.n_rules_removed > 0 || d.n_elems_removed > 0;
	policy_plan_diff_done(&d);
	return tighter;
}

int reconcile_cut_flows(struct reconciler *rc, struct endpoint *e)
{
	unsigned cut = 0;
	int nsfd = -1, r;

	if (!e->installed || !endpoint_live(e))
		return 0;
	r = endpoint_netns(e, &nsfd);
	if (r >= 0)
		r = conntrack_cut(nsfd, e->nft, e->installed, e->held, e->n_held, &cut);
	safe_close(nsfd);
	if (r < 0)
		return r;
	rc->flows_cut += cut;
	if (cut > 0)
		log_info("Endpoint %s: %u flow(s) its policy no longer allows cut", e->pe.name,
			 cut);
	return (int)cut;
}

/* e never had a table, and the kernel refused its plan: default-deny if the kernel takes that
 * (a plan it refused may be one it cannot hold, say), so that nothing is open while e waits
 * for its retry. Never looser than what it had: it had nothing. */
static void fail_closed(struct reconciler *rc, struct endpoint *e, const struct policy_plan *plan)
{
	struct policy_plan *deny = NULL;
	struct nft_error nerr = { 0 };

	if (e->installed || deny_all_plan(e->pe.name, rc->deny, &deny) < 0)
		return;
	if (policy_plan_equal(deny, plan) || commit_plan(rc, e, deny, &nerr) < 0) {
		policy_plan_free(deny);
		return;
	}
	e->installed = deny;
	log_warning("Endpoint %s: default-deny installed until its ruleset is accepted",
		    e->pe.name);
}

/* The kernel refused e's plan (error r): e is failed, keeps the table it had, and is retried
 * on its own schedule. -EIO for a new failure, -EAGAIN when e was failing already. */
static int commit_failed(struct reconciler *rc, struct endpoint *e, const struct policy_plan *plan,
			 int r, const struct nft_error *nerr)
{
	bool again = e->retry.failures > 0;
	uint64_t delay;

	rc->commit_errors++;
	reconcile_mark_only(rc, e); /* the retry compiles the model of its time */
	delay = backoff_fail(&e->retry, now_usec());
	endpoint_set_error(e,
			   e->state == ENDPOINT_COMPROMISED ? ENDPOINT_COMPROMISED
							    : ENDPOINT_FAILED,
			   "kernel refused ruleset%s%s: %s%s%s",
			   streq(e->table, POLICY_NFT_TABLE) ? "" : " in table inet ",
			   streq(e->table, POLICY_NFT_TABLE) ? "" : e->table, strerror(-r),
			   nerr->message[0] ? ": " : "", nerr->message);
	if (!again) {
		errlog_add(rc->errlog, "endpoint %s: %s", e->pe.name, e->error);
		log_error_errno(r,
				"Failed to commit ruleset of %s (netns %s): %m (at %s); retrying "
				"in %" PRIu64 " ms",
				e->pe.name, e->netns, nerr->object[0] ? nerr->object : "?", delay);
	} else
		log_warning_errno(r,
				  "Retry %u of %s failed: %m; next in %" PRIu64 " ms (other "
				  "endpoints are not held up)",
				  e->retry.failures - 1, e->pe.name, delay);
	fail_closed(rc, e, plan);
	return again ? -EAGAIN : -EIO;
}

/* One endpoint: 1 committed, 0 nothing to do, -EIO the kernel refused (a new failure),
 * -EAGAIN it refused again (e was failing already), -ENOMEM. */
static int reconcile_one(struct reconciler *rc, struct policy_compile_cache *cache,
			 struct endpoint *e)
{
	struct policy_plan *plan = NULL;
	struct nft_error nerr = { 0 };
	bool tighter;
	int r;

	e->dirty = false;
	r = compile_one(rc, cache, e, &plan);
	if (r < 0) {
		reconcile_mark_only(rc, e);
		return r;
	}
	rc->last.compiled++;
	if (e->installed && policy_plan_equal(plan, e->installed)) {
		if (guard_needs_work(rc, e))
			guard_one(rc, e, e->installed, plan);
		policy_plan_free(plan);
		backoff_reset(&e->retry);
		/* A previous failure left the old table; it is current again. */
		if (e->state == ENDPOINT_PENDING || e->state == ENDPOINT_FAILED ||
		    (e->state == ENDPOINT_ERROR && !e->quarantined))
			endpoint_clear_error(e, ENDPOINT_ENFORCED);
		return 0;
	}
	r = commit_plan(rc, e, plan, &nerr);
	rc->commits++;
	if (r < 0) {
		r = commit_failed(rc, e, plan, r, &nerr);
		policy_plan_free(plan);
		return r;
	}
	backoff_reset(&e->retry);
	log_debug("Committed ruleset of %s: %zu sets, %zu rules", e->pe.name, plan->n_sets,
		  plan->n_rules);
	guard_one(rc, e, e->installed, plan);
	tighter = plan_may_tighten(e->installed, plan);
	policy_plan_free(e->installed);
	e->installed = plan;
	/* After the tighter ruleset is in: the next packet of a cut flow meets it. A failure
	 * is logged (conntrack.c); the ruleset is committed either way. */
	if (tighter && !rc->keep_established)
		(void)reconcile_cut_flows(rc, e);
	/* A quarantined endpoint with a reason (bad labels) stays in error, enforced as
	 * default-deny; one merely waiting for its labels is enforced. */
	if (e->state == ENDPOINT_COMPROMISED)
		errlog_add(rc->errlog, "endpoint %s: %s", e->pe.name, e->error);
	else if (!(e->quarantined && e->state == ENDPOINT_ERROR))
		endpoint_clear_error(e, ENDPOINT_ENFORCED);
	return 1;
}

static void add_stats(struct change_stats *t, const struct change_stats *c)
{
	t->namespaces += c->namespaces;
	t->incremental += c->incremental;
	t->compiled += c->compiled;
	t->batches += c->batches;
	t->messages += c->messages;
	t->bytes += c->bytes;
	t->usec += c->usec;
}

/* e's own addresses changed (a conflict began or ended): its peers' sets and its guard. */
static void own_addresses_changed(struct endpoint *e, void *userdata)
{
	struct reconciler *rc = userdata;

	reconcile_mark_peers_of(rc, e);
	reconcile_mark(rc, e);
}

/* One endpoint of a reconcile: -ENOMEM stops it, -EIO is a new failure, > 0 committed. */
static int reconcile_visit(struct reconciler *rc, struct policy_compile_cache *cache,
			   struct endpoint *e, uint64_t t0)
{
	if (e->kind == ENDPOINT_KIND_REMOTE) {
		rc->remote_models_stale = true; /* all_dirty: its model is made when asked for */
		return 0;
	}
	if (!endpoint_live(e)) {
		if (e->dirty && !rc->all_dirty)
			reconcile_push_marked(rc, e); /* compiled when it is attached again */
		return 0;
	}
	if (!rc->all_dirty && !e->dirty && e->installed)
		return 0;
	/* Failed, and not due yet: its retry comes on its own (it stays marked). */
	if (!rc->ignore_backoff && backoff_waiting(&e->retry, t0)) {
		if (e->dirty && !rc->all_dirty)
			reconcile_push_marked(rc, e);
		return 0;
	}
	rc->retries += e->retry.failures > 0;
	return reconcile_one(rc, cache, e);
}

int reconcile_marked(struct reconciler *rc, size_t *ret_updated)
{
	const struct registry *reg = rc->registry;
	_cleanup_(policy_compile_cache_freep) struct policy_compile_cache *cache = NULL;
	_cleanup_free_ struct endpoint **work = NULL;
	struct policy_world w;
	uint64_t t0 = now_usec();
	size_t updated = 0, n_work = 0;
	int failed = 0;

	if (registry_settle_addresses(rc->registry, own_addresses_changed, rc) < 0)
		return -ENOMEM;
	if (rc->all_dirty || rc->index_failed || !rc->index) {
		rc->all_dirty = true; /* marks made from a broken index may be short */
		reconcile_index_rebuild(rc);
		if (rc->index_failed)
			return -ENOMEM;
	}
	w = (struct policy_world){
		.namespaces = rc->store->namespaces,
		.n_namespaces = rc->store->n_namespaces,
		.netpols = rc->store->netpols,
		.n_netpols = rc->store->n_netpols,
		.cnps = rc->store->cnps,
		.n_cnps = rc->store->n_cnps,
		.nodes = rc->store->nodes,
		.n_nodes = rc->store->n_nodes,
		.index = rc->index,
	};
	if (policy_compile_cache_new(&w, &cache) < 0)
		return -ENOMEM;
	rc->last = (struct change_stats){ 0 };
	rc->first_failure[0] = '\0';

	/* What this round looks at: every endpoint, or the marked ones (taken: those that stay
	 * marked, failed or waiting, are listed again as they go). */
	if (!rc->all_dirty) {
		work = TAKE_PTR(rc->marked);
		n_work = rc->n_marked;
		rc->n_marked = rc->cap_marked = 0;
	}
	for (size_t i = 0; i < (rc->all_dirty ? reg->n : n_work); i++) {
		struct endpoint *e = rc->all_dirty ? reg->items[i] : work[i];
		int r = reconcile_visit(rc, cache, e, t0);

		if (r == -ENOMEM) {
			/* what was not looked at stays marked */
			for (size_t k = rc->all_dirty ? 0 : i; k < n_work; k++)
				if (work[k]->dirty)
					reconcile_push_marked(rc, work[k]);
			return r;
		}
		if (r == -EIO) {
			if (failed++ == 0)
				snprintf(rc->first_failure, sizeof(rc->first_failure), "%s",
					 e->pe.name);
		} else if (r > 0)
			updated += (size_t)r;
	}
	if (rc->all_dirty) {
		/* the list anew: whatever stays marked (failed, waiting) */
		rc->n_marked = 0;
		for (size_t i = 0; i < reg->n; i++)
			if (reg->items[i]->dirty)
				reconcile_push_marked(rc, reg->items[i]);
	}
	rc->all_dirty = false;
	rc->ignore_backoff = false;
	rc->last.usec = now_usec() - t0;
	histogram_observe(&rc->duration, (double)rc->last.usec / 1e6);
	add_stats(&rc->total, &rc->last);
	if (rc->last.namespaces > 0 || failed > 0)
		log_debug("Change: %" PRIu64 " plan(s) compiled, %" PRIu64
			  " namespace(s) committed "
			  "(%" PRIu64 " by set elements alone), %" PRIu64 " message(s), %" PRIu64
			  " byte(s), %" PRIu64 " us",
			  rc->last.compiled, rc->last.namespaces, rc->last.incremental,
			  rc->last.messages, rc->last.bytes, rc->last.usec);
	if (ret_updated)
		*ret_updated = updated;
	return failed;
}

int reconcile_all(struct reconciler *rc, size_t *ret_updated)
{
	rc->all_dirty = true;
	return reconcile_marked(rc, ret_updated);
}

void reconcile_after_rollback(struct reconciler *rc)
{
	int r;

	/* The endpoints that failed the change are back at the plan their table holds. */
	rc->ignore_backoff = true;
	r = reconcile_all(rc, NULL);
	rc->ignore_backoff = false; /* also when it could not run */

	if (r != 0)
		log_error("Failed to restore %d namespace(s) after a rollback; they keep their "
			  "last committed ruleset and are marked as error",
			  r < 0 ? -1 : r);
}

const struct endpoint *reconcile_first_failure(const struct reconciler *rc)
{
	return rc->first_failure[0] ? registry_get(rc->registry, rc->first_failure) : NULL;
}

uint64_t reconcile_next_retry(const struct reconciler *rc)
{
	uint64_t due = 0;

	/* a failed endpoint stays marked until it is enforced */
	for (size_t i = 0; i < rc->n_marked; i++) {
		const struct endpoint *e = rc->marked[i];

		if (endpoint_live(e) && e->retry.failures > 0 &&
		    (due == 0 || e->retry.due_usec < due))
			due = e->retry.due_usec;
	}
	return due;
}
