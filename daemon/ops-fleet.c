/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "ops-internal.h"

/* NODE/NAME: '/' is in no local endpoint's name, so it names another node's endpoint only. */
static int qualified(const char *node, const char *name, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%s", node, name);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static bool same_ports(const struct policy_endpoint *a, const struct policy_endpoint *b)
{
	if (a->n_ports != b->n_ports)
		return false;
	for (size_t i = 0; i < a->n_ports; i++)
		if (!streq(a->ports[i].name, b->ports[i].name) ||
		    a->ports[i].proto != b->ports[i].proto || a->ports[i].port != b->ports[i].port)
			return false;
	return true;
}

/* What e shows other endpoints becomes pe's (taking its parts). */
static int remote_take(struct ops *o, struct endpoint *e, struct policy_endpoint *pe)
{
	char *ns = NULL;
	int r;

	if (!streq(e->pe.namespace, pe->namespace)) {
		ns = TAKE_PTR(pe->namespace);
		free(e->pe.namespace);
		e->pe.namespace = ns;
	}
	policy_labels_done(&e->pe.labels);
	e->pe.labels = pe->labels;
	pe->labels = (struct policy_labels){ 0 };
	policy_named_ports_free(e->pe.ports, e->pe.n_ports);
	e->pe.ports = TAKE_PTR(pe->ports);
	e->pe.n_ports = pe->n_ports;
	pe->n_ports = 0;
	r = endpoint_set_addresses(e, TAKE_PTR(pe->addrs), pe->n_addrs);
	pe->n_addrs = 0;
	if (r > 0 && e->registered)
		registry_held_changed(o->registry, e);
	return r < 0 ? r : 0;
}

int ops_remote_put(struct ops *o, const char *node, struct policy_endpoint *pe)
{
	char name[2 * 256 + 2];
	struct endpoint *e;
	int r;

	r = qualified(node, pe->name, name, sizeof(name));
	if (r < 0)
		return r;
	e = registry_get(o->registry, name);
	if (e && e->kind != ENDPOINT_KIND_REMOTE)
		return -EEXIST; /* cannot be: local names have no '/' */
	if (e) {
		if (streq(e->pe.namespace, pe->namespace) &&
		    policy_labels_equal(&e->pe.labels, &pe->labels) && same_ports(&e->pe, pe) &&
		    e->n_held == pe->n_addrs &&
		    (pe->n_addrs == 0 ||
		     memcmp(e->held, pe->addrs, pe->n_addrs * sizeof(*pe->addrs)) == 0))
			return 0; /* a re-list, or a heartbeat of the same view */
		reconcile_mark_peers_of(o->rc, e);
		r = remote_take(o, e, pe);
		reconcile_mark(o->rc, e);
		reconcile_mark_peers_of(o->rc, e);
		return r;
	}
	r = endpoint_new(o->env, ENDPOINT_KIND_REMOTE, name, "", pe->namespace, &e);
	if (r < 0)
		return r;
	e->node = strdup(node);
	e->state = ENDPOINT_REMOTE;
	r = e->node ? remote_take(o, e, pe) : -ENOMEM;
	if (r >= 0)
		r = registry_insert(o->registry, e);
	if (r < 0) {
		endpoint_free(e);
		return r;
	}
	reconcile_mark(o->rc, e);
	reconcile_mark_peers_of(o->rc, e);
	return 1;
}

static void remote_remove(struct ops *o, struct endpoint *e)
{
	reconcile_mark_peers_of(o->rc, e);
	reconcile_forget(o->rc, e);
	registry_remove(o->registry, e);
	o->rc->remote_models_stale = true;
	endpoint_release(e);
}

bool ops_remote_del(struct ops *o, const char *node, const char *name)
{
	char qname[2 * 256 + 2];
	struct endpoint *e;

	if (qualified(node, name, qname, sizeof(qname)) < 0)
		return false;
	e = registry_get(o->registry, qname);
	if (!e || e->kind != ENDPOINT_KIND_REMOTE)
		return false;
	remote_remove(o, e);
	return true;
}

size_t ops_remote_prune(struct ops *o, bool (*keep)(const struct endpoint *e, void *userdata),
			void *userdata)
{
	size_t n = 0;

	/* Backwards: a removal shifts only what was already looked at. */
	for (size_t i = o->registry->n; i-- > 0;) {
		struct endpoint *e = o->registry->items[i];

		if (e->kind == ENDPOINT_KIND_REMOTE && !keep(e, userdata)) {
			remote_remove(o, e);
			n++;
		}
	}
	return n;
}

int ops_store_sync(struct ops *o, struct policy_objects *puts, const struct ops_store_ref *dels,
		   size_t n_dels, struct op_error *err)
{
	struct store_snapshot snap;
	json_auto_t *applied = json_array();
	size_t updated = 0;
	int r;

	if (!applied || store_snapshot_take(o->store, &snap) < 0) {
		policy_objects_free(puts);
		return op_error_set(err, -ENOMEM, "out of memory");
	}
	r = puts ? ops_put_objects(o, &snap, puts, false, applied) : 0;
	policy_objects_free(puts);
	for (size_t i = 0; r >= 0 && i < n_dels; i++)
		(void)ops_remove_object(o, dels[i].kind, dels[i].ns, dels[i].name);
	if (r < 0) {
		store_snapshot_restore(o->store, &snap);
		return op_error_set(err, r, "out of memory");
	}
	store_sort(o->store);
	reconcile_mark_store_changes(o->rc, &snap);
	/* The state dir caches what the fleet says: a node restarted while the store is down
	 * enforces it. */
	r = state_save(o->state, o->store, o->registry);
	if (r < 0)
		errlog_add(o->errlog, "state in %s does not cache the fleet's policies: %s",
			   o->state->dir, strerror(-r));
	store_snapshot_commit(o->store, &snap);
	r = reconcile_marked(o->rc, &updated);
	state_settle(o->state, o->store, o->registry);
	if (r < 0)
		return op_error_set(err, r, "out of memory while compiling");
	return 0;
}

int ops_fleet_reconcile(struct ops *o, size_t *ret_updated)
{
	return reconcile_marked(o->rc, ret_updated);
}

size_t ops_not_committed(const struct ops *o)
{
	size_t n = 0;

	for (size_t i = 0; i < o->registry->n; i++)
		n += endpoint_live(o->registry->items[i]) &&
		     o->registry->items[i]->state == ENDPOINT_FAILED;
	return n;
}

json_t *ops_fleet_view(struct ops *o)
{
	char host[256] = "localhost";
	size_t n = 0;

	if (o->fleet)
		return o->fleet->view(o->fleet->userdata);
	(void)gethostname(host, sizeof(host) - 1);
	for (size_t i = 0; i < o->registry->n; i++)
		n += endpoint_peer(o->registry->items[i]);
	return json_pack("{s:s, s:s, s:i, s:b, s:n, s:[{s:s, s:s, s:b, s:i, s:I, s:I, s:i}]}",
			 "store", "local", "node", host, "revision", 0, "connected", true, "error",
			 "nodes", "name", host, "state", "local", "self", true, "enforced_revision",
			 0, "endpoints", (json_int_t)n, "heartbeat", (json_int_t)time(NULL),
			 "not_committed", 0);
}

int ops_fleet_node_delete(struct ops *o, const char *name, json_t **ret, struct op_error *err)
{
	if (!o->fleet)
		return op_error_set(err, -EPERM,
				    "this segd is a single host (no --store): it has no fleet");
	return o->fleet->node_delete(o->fleet->userdata, name, ret, err);
}
