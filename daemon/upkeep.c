/* SPDX-License-Identifier: MIT */
/*
 * What the kernel tells segd between requests: an endpoint's addresses changed, its namespace
 * vanished, someone else changed its table, it logged flows. Each is marked and reconciled
 * like any change; nothing here answers anyone.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "flows.h"
#include "log.h"
#include "macro.h"
#include "netns.h"
#include "ops.h"

int ops_refresh_addresses(struct ops *o)
{
	_cleanup_free_ struct endpoint **evs = NULL;
	bool changed = false;
	size_t n = 0;

	evs = registry_take_addr_events(o->registry, &n);
	for (size_t i = 0; i < n; i++) {
		struct endpoint *e = evs[i];
		int r;

		if (!e->addrs_dirty || !endpoint_live(e))
			continue;
		e->addrs_dirty = false;
		/* Address and link events both land here: its interfaces may have changed too. */
		e->guard.stale = true;
		reconcile_mark(o->rc, e);
		changed = true;
		r = endpoint_read_addresses(e);
		if (r > 0)
			registry_held_changed(o->registry, e);
		if (r < 0)
			log_warning_errno(
				r, "Failed to read addresses of %s, keeping the old ones: %m",
				e->pe.name);
		if (r <= 0)
			continue;
		changed = true;
		/* Its own plan does not depend on its addresses; its guards and its peers' sets do (which
		 * policies reference it depends on its labels alone). */
		reconcile_mark_peers_of(o->rc, e);
		log_info("Addresses of %s changed (%zu now)", e->pe.name, e->pe.n_addrs);
	}
	if (changed) {
		size_t updated = 0;
		int r = reconcile_marked(o->rc, &updated);

		if (r < 0)
			return r;
		log_debug("Address change: %zu namespace(s) updated, %d failed", updated, r);
	}
	return 0;
}

/* e's namespace is gone (or replaced): forget it, its tables and its addresses. */
static void endpoint_detach(struct ops *o, struct endpoint *e)
{
	reconcile_mark_peers_of(o->rc, e);
	guard_drop(&e->guard, true);
	endpoint_retire_socket(e);
	endpoint_close(e);
	endpoint_forget_addresses(e);
	registry_held_changed(o->registry, e);
	e->installed = policy_plan_free(e->installed);
	reconcile_mark(o->rc, e); /* out of the index; compiled again when re-attached */
}

/*
 * Looks again at e's namespace by its name: 1 if e changed (vanished, or re-attached to a new
 * namespace under the same name), 0 if not, -EAGAIN if the name is there but not yet a
 * namespace (`ip netns add` creates the file, then mounts the namespace on it).
 */
static int endpoint_recheck(struct ops *o, struct endpoint *e)
{
	_cleanup_close_ int fd = -1;
	struct endpoint *taken;
	dev_t dev = 0;
	ino_t ino = 0;
	int r;

	/* A container's namespace opened by pid cannot be looked up again: the engine (and the
	 * poststop hook) report its end instead; another node's endpoint has none here. */
	if ((e->kind == ENDPOINT_KIND_CONTAINER && strncmp(e->netns, "/proc/", 6) == 0) ||
	    e->kind == ENDPOINT_KIND_REMOTE)
		return 0;
	r = e->kind == ENDPOINT_KIND_CONTAINER ? netns_open_nsfs(e->netns, &fd)
					       : netns_open_name(e->netns, &fd);
	if (r == -ENOTTY && e->kind == ENDPOINT_KIND_NETNS)
		return -EAGAIN;
	if (r >= 0)
		r = netns_inode(fd, &ino);
	if (r >= 0 && endpoint_live(e) && ino == e->ns_ino)
		return 0;
	if (r < 0) {
		if (!endpoint_live(e))
			return 0;
		log_warning("Network namespace %s of endpoint %s vanished", e->netns, e->pe.name);
		endpoint_detach(o, e);
		endpoint_set_error(e, ENDPOINT_ERROR, "network namespace %s vanished", e->netns);
		errlog_add(o->errlog, "endpoint %s: network namespace %s vanished", e->pe.name,
			   e->netns);
		return 1;
	}
	/* A namespace by that name again, but another one: the name is what was registered, so
	 * the new namespace is the endpoint now, and gets its table at once. (A container's
	 * path is the engine's; a new namespace there is a new container.) */
	if (e->kind == ENDPOINT_KIND_CONTAINER)
		return 0;
	if (endpoint_live(e))
		endpoint_detach(o, e);
	taken = netns_ident(fd, &dev, &ino) >= 0 ? registry_find_ns(o->registry, dev, ino) : NULL;
	if (taken) {
		/* The name now points at a namespace another endpoint has: one namespace is one
		 * endpoint, so e waits, detached, for a namespace of its own. */
		char why[256];

		snprintf(why, sizeof(why),
			 "network namespace %s is now endpoint %s's (%s): not attached", e->netns,
			 taken->pe.name, registry_kind_text(taken));
		if (e->error && streq(e->error, why))
			return 0; /* said so at the last check */
		o->registry->refused++;
		endpoint_set_error(e, ENDPOINT_ERROR, "%s", why);
		errlog_add(o->errlog, "endpoint %s: %s", e->pe.name, e->error);
		return 1;
	}
	r = endpoint_attach(e, TAKE_FD(fd));
	if (r < 0) {
		endpoint_set_error(e, ENDPOINT_ERROR, "cannot attach to network namespace %s: %s",
				   e->netns, strerror(-r));
		return 1;
	}
	log_warning("Network namespace %s of endpoint %s was created anew: enforcing in it",
		    e->netns, e->pe.name);
	errlog_add(o->errlog, "endpoint %s: network namespace %s created anew", e->pe.name,
		   e->netns);
	endpoint_clear_error(e, ENDPOINT_PENDING);
	registry_ns_changed(o->registry, e);
	registry_held_changed(o->registry, e); /* read at attach */
	reconcile_mark(o->rc, e);
	reconcile_mark_peers_of(o->rc, e);
	return 1;
}

int ops_netns_changed(struct ops *o, const char *name)
{
	struct endpoint *e = registry_find_netns(o->registry, name);
	int r;

	if (!e || e->kind != ENDPOINT_KIND_NETNS)
		return 0;
	r = endpoint_recheck(o, e);
	if (r <= 0)
		return r;
	r = reconcile_marked(o->rc, NULL);
	return r < 0 ? r : 1;
}

int ops_check_namespaces(struct ops *o)
{
	bool changed = false;

	size_t n = o->registry->n, slice = o->recheck_slice ? o->recheck_slice : RECHECK_SLICE;

	/* every endpoint within n / slice ticks */
	for (size_t k = 0; k < n && k < slice; k++) {
		if (o->recheck_next >= o->registry->n)
			o->recheck_next = 0;
		if (o->recheck_next < o->registry->n &&
		    endpoint_recheck(o, o->registry->items[o->recheck_next]) > 0)
			changed = true;
		o->recheck_next++;
	}
	/* The same walk's occasion to prove the label index and the marks right. */
	if (reconcile_check_index(o->rc) > 0)
		changed = true;
	if (changed) {
		int r = reconcile_marked(o->rc, NULL);

		if (r < 0)
			return r;
	}
	return 0;
}

void ops_endpoint_drift(struct ops *o, struct endpoint *e)
{
	char why[160];
	size_t n = 0;
	int r;

	r = drift_check(o->drift, e, why, sizeof(why));
	if (r <= 0)
		return;
	if (o->drift_report_only) {
		/* Left as found (--drift report): visible in status, check and rules. */
		log_warning("Endpoint %s: %s; not repaired (--drift report)", e->pe.name, why);
		errlog_add(o->errlog, "endpoint %s: %s; not repaired", e->pe.name, why);
		endpoint_set_error(e, ENDPOINT_ERROR, "%s; not repaired (--drift report)", why);
		return;
	}
	/* Replaced with what segd computes, whatever the kernel holds now. */
	e->installed = policy_plan_free(e->installed);
	reconcile_mark(o->rc, e);
	r = reconcile_marked(o->rc, &n);
	if (r == 0 && e->state == ENDPOINT_ENFORCED && e->installed) {
		o->drift->repairs++;
		log_warning("Endpoint %s: %s; its table was replaced", e->pe.name, why);
		errlog_add(o->errlog, "endpoint %s: %s; repaired", e->pe.name, why);
	} else
		log_error("Endpoint %s: %s, and its table could not be replaced: %s", e->pe.name,
			  why, e->error ? e->error : "out of memory");
}

static bool lookup_addr(int family, const uint8_t *addr, struct flow_party *ret, void *userdata)
{
	struct ops *o = userdata;
	struct policy_addr a = { .family = family };
	struct endpoint *e;

	memcpy(a.addr, addr, family == AF_INET ? 4 : 16);
	e = registry_find_addr(o->registry, &a);
	if (!e)
		return false;
	*ret = (struct flow_party){ .name = e->pe.name,
				    .namespace = e->pe.namespace,
				    .labels = &e->pe.labels };
	return true;
}

void ops_endpoint_flows(struct ops *o, struct endpoint *e)
{
	struct flow_party self = { .name = e->pe.name,
				   .namespace = e->pe.namespace,
				   .labels = &e->pe.labels };
	int r;

	r = flows_read(o->flows, e->log_fd, &self, e->installed, lookup_addr, o);
	if (r < 0)
		log_debug_errno(r, "Endpoint %s: reading flow logs: %m", e->pe.name);
}

int ops_retry_failed(struct ops *o)
{
	size_t updated = 0;
	int r;

	/* Only the due ones are tried (reconcile_marked() passes the others by); what else is
	 * marked goes with them. A retry that fails again is rescheduled, never an error here. */
	r = reconcile_marked(o->rc, &updated);
	if (r < 0)
		return r;
	if (updated > 0)
		log_debug("Retry: %zu namespace(s) committed", updated);
	return 0;
}

uint64_t ops_next_retry(struct ops *o)
{
	return reconcile_next_retry(o->rc);
}

static int cmp_endpoint_name(const void *a, const void *b)
{
	return strcmp((*(const struct endpoint *const *)a)->pe.name,
		      (*(const struct endpoint *const *)b)->pe.name);
}

void ops_note_not_committed(struct ops *o, json_t *answer)
{
	_cleanup_free_ const struct endpoint **failed = NULL;
	json_t *list = NULL;
	size_t n = 0;

	if (!answer)
		return;
	/* A failed endpoint stays marked until it is enforced: the marked ones, not the fleet. */
	failed = calloc(o->rc->n_marked + 1, sizeof(*failed));
	if (!failed)
		return;
	for (size_t i = 0; i < o->rc->n_marked; i++)
		if (endpoint_live(o->rc->marked[i]) && o->rc->marked[i]->retry.failures > 0)
			failed[n++] = o->rc->marked[i];
	qsort_safe(failed, n, sizeof(*failed), cmp_endpoint_name);
	for (size_t i = 0; i < n; i++) {
		const struct endpoint *e = failed[i];

		if (!list)
			list = json_array();
		json_array_append_new(list, json_pack("{s:s, s:s?}", "name", e->pe.name, "error",
						      e->error));
	}
	if (list)
		json_object_set_new(answer, "not_committed", list);
}
