/* SPDX-License-Identifier: MIT */
/* What a change touches: the label index of possible peers and the marked endpoints. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "reconcile-internal.h"

/* Brings the index to e as it is now. */
static void index_sync(struct reconciler *rc, struct endpoint *e)
{
	bool want = endpoint_peer(e);

	if (rc->index_failed)
		return; /* rebuilt whole by the next reconcile */
	if (!rc->index && policy_index_new(&rc->index) < 0) {
		rc->index_failed = true;
		return;
	}
	if (want && policy_index_current(rc->index, &e->pe))
		return;
	(void)policy_index_remove(rc->index, &e->pe);
	if (want && policy_index_add(rc->index, &e->pe) < 0)
		rc->index_failed = true;
}

/* The index anew from every endpoint: after it failed, and for a reconcile of everything. */
void reconcile_index_rebuild(struct reconciler *rc)
{
	rc->index = policy_index_free(rc->index);
	rc->index_failed = false;
	for (size_t i = 0; i < rc->registry->n && !rc->index_failed; i++)
		index_sync(rc, rc->registry->items[i]);
}

/* Appends e to the marked list (e->dirty is the caller's). */
void reconcile_push_marked(struct reconciler *rc, struct endpoint *e)
{
	if (rc->n_marked == rc->cap_marked) {
		size_t c = rc->cap_marked ? rc->cap_marked * 2 : 64;
		struct endpoint **q = reallocarray(rc->marked, c, sizeof(*q));

		if (!q) {
			rc->all_dirty = true; /* cannot list it: recompile everything */
			return;
		}
		rc->marked = q;
		rc->cap_marked = c;
	}
	rc->marked[rc->n_marked++] = e;
}

void reconcile_mark_only(struct reconciler *rc, struct endpoint *e)
{
	/* Another node's endpoint: nothing to commit here, only its model goes stale (made
	 * again, all at once, when a check or matrix asks): a change costs the local endpoints
	 * it affects, however large the fleet. */
	if (e->kind == ENDPOINT_KIND_REMOTE) {
		rc->remote_models_stale = true;
		return;
	}
	if (e->dirty)
		return;
	e->dirty = true;
	reconcile_push_marked(rc, e);
}

void reconcile_mark(struct reconciler *rc, struct endpoint *e)
{
	index_sync(rc, e);
	reconcile_mark_only(rc, e);
}

static int mark_indexed(const struct policy_endpoint *pe, void *userdata)
{
	reconcile_mark_only(userdata, container_of(pe, struct endpoint, pe));
	return 0;
}

void reconcile_mark_selected_by(struct reconciler *rc, const struct policy_netpol *p)
{
	/* Only indexed endpoints can need it: a quarantined one's plan is default-deny
	 * whatever selects it, a detached one has no table to change. */
	if (!rc->index || rc->index_failed ||
	    policy_index_select(rc->index, p->namespace, &p->pod_selector, mark_indexed, rc) < 0)
		rc->all_dirty = true;
}

static int cmp_ns_name(const void *key, const void *elem)
{
	return strcmp(key, (*(struct policy_namespace *const *)elem)->name);
}

struct cnp_mark {
	struct reconciler *rc;
	const struct policy_cnp *p;
};

/* A ClusterNetworkPolicy's subject in one namespace: its namespace selector against the
 * namespace's labels (an implicit namespace has only its name label), then its pod selector
 * through the index. */
static int mark_cnp_namespace(const char *ns, void *userdata)
{
	const struct cnp_mark *m = userdata;
	const struct store *s = m->rc->store;
	struct policy_namespace *const *applied =
		bsearch(ns, s->namespaces, s->n_namespaces, sizeof(*s->namespaces), cmp_ns_name);
	struct policy_label name = { .key = (char *)POLICY_NS_NAME_LABEL, .value = (char *)ns };
	const struct policy_labels implicit = { .items = &name, .n = 1 };

	if (!policy_selector_matches(&m->p->ns_selector, applied ? &(*applied)->labels : &implicit))
		return 0;
	return policy_index_select(m->rc->index, ns, m->p->pod_selector, mark_indexed, m->rc);
}

void reconcile_mark_selected_by_cnp(struct reconciler *rc, const struct policy_cnp *p)
{
	struct cnp_mark m = { rc, p };

	/* As for a NetworkPolicy: only indexed endpoints can need it. The cost is one look at
	 * each namespace that has endpoints, and the endpoints selected. */
	if (!rc->index || rc->index_failed ||
	    policy_index_foreach_namespace(rc->index, mark_cnp_namespace, &m) < 0)
		rc->all_dirty = true;
}

void reconcile_mark_peers_of(struct reconciler *rc, struct endpoint *x)
{
	const struct policy_world w = {
		.namespaces = rc->store->namespaces,
		.n_namespaces = rc->store->n_namespaces,
	};

	index_sync(rc, x);
	if (rc->peer_changed && x->kind != ENDPOINT_KIND_REMOTE)
		rc->peer_changed(x, rc->peer_userdata);
	for (size_t i = 0; i < rc->store->n_netpols; i++)
		if (policy_netpol_references(&w, rc->store->netpols[i], &x->pe))
			reconcile_mark_selected_by(rc, rc->store->netpols[i]);
	for (size_t i = 0; i < rc->store->n_cnps; i++)
		if (policy_cnp_references(&w, rc->store->cnps[i], &x->pe))
			reconcile_mark_selected_by_cnp(rc, rc->store->cnps[i]);
}

static void mark_changed_netpol(const struct policy_netpol *p, void *userdata)
{
	reconcile_mark_selected_by(userdata, p);
}

static void mark_changed_cnp(const struct policy_cnp *p, void *userdata)
{
	reconcile_mark_selected_by_cnp(userdata, p);
}

void reconcile_mark_store_changes(struct reconciler *rc, const struct store_snapshot *snap)
{
	/* A namespace relabel can change what any selector of either kind selects. */
	if (store_namespaces_changed(rc->store, snap))
		rc->all_dirty = true;
	if (!rc->all_dirty)
		store_netpols_changed(rc->store, snap, mark_changed_netpol, rc);
	if (!rc->all_dirty)
		store_cnps_changed(rc->store, snap, mark_changed_cnp, rc);
	/* Nodes are no endpoints: a Node change reaches the plans through `nodes` peers only
	 * (a CNP changed in the same apply was marked above, old and new versions). */
	if (rc->all_dirty || !store_nodes_changed(rc->store, snap))
		return;
	for (size_t i = 0; i < rc->store->n_cnps; i++)
		if (policy_cnp_has_node_peers(rc->store->cnps[i]))
			reconcile_mark_selected_by_cnp(rc, rc->store->cnps[i]);
}

void reconcile_forget(struct reconciler *rc, struct endpoint *e)
{
	if (rc->index)
		(void)policy_index_remove(rc->index, &e->pe);
	for (size_t i = 0; i < rc->n_marked; i++)
		if (rc->marked[i] == e)
			rc->marked[i--] = rc->marked[--rc->n_marked];
}

void reconcile_done(struct reconciler *rc)
{
	rc->index = policy_index_free(rc->index);
	free(rc->marked);
	rc->marked = NULL;
	rc->n_marked = rc->cap_marked = 0;
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;

	return (x > y) - (x < y);
}

size_t reconcile_check_index(struct reconciler *rc)
{
	const struct registry *reg = rc->registry;
	_cleanup_free_ struct endpoint **listed = NULL;
	size_t wanted = 0, bad = 0;

	if (rc->all_dirty || rc->index_failed)
		return 0; /* the next reconcile rebuilds everything anyway */
	listed = rc->n_marked ? memdup(rc->marked, rc->n_marked * sizeof(*listed)) : NULL;
	if (rc->n_marked && !listed)
		return 0;
	qsort_safe(listed, rc->n_marked, sizeof(*listed), cmp_ptr);
	for (size_t i = 0; i < reg->n; i++) {
		struct endpoint *e = reg->items[i];
		bool want = endpoint_peer(e);
		bool ok = want ? rc->index && policy_index_current(rc->index, &e->pe)
			       : !rc->index || !policy_index_has(rc->index, &e->pe);

		wanted += want;
		if (!ok) {
			log_error("Endpoint %s: the label index did not hold it as it is (a bug); "
				  "repaired",
				  e->pe.name);
			bad++;
			rc->all_dirty = true;
		}
		if (e->dirty &&
		    (!listed || !bsearch(&e, listed, rc->n_marked, sizeof(*listed), cmp_ptr))) {
			log_error("Endpoint %s: marked but not listed (a bug); repaired",
				  e->pe.name);
			bad++;
			rc->all_dirty = true;
		}
	}
	if (rc->index && policy_index_count(rc->index) != wanted) {
		log_error("The label index holds %zu endpoint(s), %zu expected (a bug); rebuilt",
			  policy_index_count(rc->index), wanted);
		bad++;
		rc->all_dirty = true;
	}
	rc->index_repairs += bad;
	return bad;
}
