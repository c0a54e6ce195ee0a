/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "explain.h"
#include "log.h"
#include "macro.h"
#include "ops-internal.h"
#include "views.h"

/* Write-ahead (docs/state.md): the audit record and the new state are durable before the
 * kernel sees the change; if the kernel then refuses it, the previous state is put back.
 *
 * In a fleet, a change of policies (snap) goes to the fleet's store first, as one transaction:
 * once it is there every node follows it, this one included, so nothing after it is undone
 * (a namespace the kernel refuses here is failed and retried, as when any node's commit
 * fails; the answer names it under not_committed). */
int ops_commit(struct ops *o, const struct endpoint *e, bool removed,
	       const struct store_snapshot *snap, size_t *ret_updated, struct op_error *err)
{
	const struct endpoint *failed;
	int r;

	r = audit_commit(o->audit);
	if (r < 0)
		return op_error_set(err, -EIO, "change not applied: cannot write the audit log: %s",
				    strerror(-r));
	if (snap && o->fleet) {
		r = o->fleet->store_write(o->fleet->userdata, o->store, snap, &o->written_revision,
					  err);
		if (r < 0) {
			audit_rolled_back(o->audit, err->message);
			return r;
		}
		r = state_save(o->state, o->store, o->registry);
		if (r < 0)
			errlog_add(o->errlog, "state in %s does not cache revision %" PRId64 ": %s",
				   o->state->dir, o->written_revision, strerror(-r));
		r = reconcile_marked(o->rc, ret_updated);
		if (r < 0)
			errlog_add(o->errlog, "revision %" PRId64 " not compiled: out of memory",
				   o->written_revision);
		state_settle(o->state, o->store, o->registry);
		return 0;
	}
	r = e ? state_record_endpoint(o->state, e, removed, o->store, o->registry)
	      : state_save(o->state, o->store, o->registry);
	if (r < 0) {
		int code = r == -ENOSPC || r == -EDQUOT ? -ENOSPC : -EIO;

		op_error_set(err, code, "change not applied: state not saved in %s: %s",
			     o->state->dir, strerror(-r));
		audit_rolled_back(o->audit, err->message);
		return code;
	}
	r = reconcile_marked(o->rc, ret_updated);
	if (r == 0) {
		state_settle(o->state, o->store, o->registry);
		return 0;
	}
	failed = r > 0 ? reconcile_first_failure(o->rc) : NULL;
	if (r < 0)
		r = op_error_set(err, r, "out of memory while compiling");
	else if (failed)
		/* Name the first failing endpoint: that is what the user must look at. */
		r = op_error_set(err, -EIO, "change not applied: endpoint %s: %s", failed->pe.name,
				 failed->error);
	else
		r = op_error_set(err, -EIO, "change not applied: the kernel refused it");
	if (state_undo(o->state) < 0)
		errlog_add(o->errlog, "state in %s still holds a refused change: %s", o->state->dir,
			   err->message);
	audit_rolled_back(o->audit, err->message);
	return r;
}

/* In a fleet, a change's answer names the revision it made (segctl waits for every node). */
static json_t *with_revision(const struct ops *o, json_t *answer)
{
	if (answer && o->fleet)
		json_object_set_new(answer, "revision", json_integer(o->written_revision));
	return answer;
}

static json_t *object_ref(const char *kind, const char *ns, const char *name, const char *action)
{
	json_t *x = json_pack("{s:s, s:s}", "kind", kind, "name", name);

	if (x && ns)
		json_object_set_new(x, "namespace", json_string(ns));
	if (x && action)
		json_object_set_new(x, "action", json_string(action));
	return x;
}

static int parse_input(const char *file, const char *text, size_t len, struct policy_objects **ret,
		       struct op_error *err)
{
	int r;

	r = policy_parse(file, text, len, ret, &err->diags);
	if (r == -EBADMSG)
		return op_error_set(err, r, "%s: %zu error(s), nothing applied", file,
				    err->diags.n);
	if (r < 0)
		return op_error_set(err, r, "%s: %s", file, strerror(-r));
	return 0;
}

int ops_put_objects(struct ops *o, struct store_snapshot *snap, struct policy_objects *objs,
		    bool audit, json_t *applied)
{
	int r = 0;

	for (size_t i = 0; r >= 0 && i < objs->n_namespaces; i++) {
		const char *name = objs->namespaces[i]->name;
		ssize_t k = store_find_namespace(o->store, name);
		json_t *before = audit && k >= 0 ? view_namespace(o->store->namespaces[k]) : NULL;

		r = store_put_namespace(o->store, snap, &objs->namespaces[i]);
		if (r < 0)
			break;
		k = store_find_namespace(o->store, name);
		json_array_append_new(applied,
				      object_ref("Namespace", NULL, name, store_put_to_string(r)));
		if (r != STORE_UNCHANGED && audit)
			audit_change(o->audit, "Namespace", NULL, name, store_put_to_string(r),
				     before, view_namespace(o->store->namespaces[k]));
		else
			json_decref(before);
	}
	for (size_t i = 0; r >= 0 && i < objs->n_netpols; i++) {
		const struct policy_netpol *p = objs->netpols[i];
		ssize_t k = store_find_netpol(o->store, p->namespace, p->name);
		json_t *before = audit && k >= 0 ? view_netpol(o->store->netpols[k]) : NULL;

		r = store_put_netpol(o->store, snap, &objs->netpols[i]);
		if (r < 0) {
			json_decref(before);
			break;
		}
		p = o->store->netpols[store_find_netpol(o->store, p->namespace, p->name)];
		json_array_append_new(applied, object_ref("NetworkPolicy", p->namespace, p->name,
							  store_put_to_string(r)));
		if (r != STORE_UNCHANGED && audit)
			audit_change(o->audit, "NetworkPolicy", p->namespace, p->name,
				     store_put_to_string(r), before, view_netpol(p));
		else
			json_decref(before);
	}
	for (size_t i = 0; r >= 0 && i < objs->n_cnps; i++) {
		const char *name = objs->cnps[i]->name;
		ssize_t k = store_find_cnp(o->store, name);
		json_t *before = audit && k >= 0 ? view_cnp(o->store->cnps[k]) : NULL;

		r = store_put_cnp(o->store, snap, &objs->cnps[i]);
		if (r < 0) {
			json_decref(before);
			break;
		}
		k = store_find_cnp(o->store, name);
		json_array_append_new(applied, object_ref("ClusterNetworkPolicy", NULL, name,
							  store_put_to_string(r)));
		if (r != STORE_UNCHANGED && audit)
			audit_change(o->audit, "ClusterNetworkPolicy", NULL, name,
				     store_put_to_string(r), before, view_cnp(o->store->cnps[k]));
		else
			json_decref(before);
	}
	for (size_t i = 0; r >= 0 && i < objs->n_nodes; i++) {
		const char *name = objs->nodes[i]->name;
		ssize_t k = store_find_node(o->store, name);
		json_t *before = audit && k >= 0 ? view_node(o->store->nodes[k]) : NULL;

		r = store_put_node(o->store, snap, &objs->nodes[i]);
		if (r < 0) {
			json_decref(before);
			break;
		}
		k = store_find_node(o->store, name);
		json_array_append_new(applied,
				      object_ref("Node", NULL, name, store_put_to_string(r)));
		if (r != STORE_UNCHANGED && audit)
			audit_change(o->audit, "Node", NULL, name, store_put_to_string(r), before,
				     view_node(o->store->nodes[k]));
		else
			json_decref(before);
	}
	store_sort(o->store);
	return r < 0 ? r : 0;
}

enum apply_mode { APPLY, APPLY_DRY_RUN, APPLY_DIFF };

static int apply_objects(struct ops *o, const char *file, const char *text, size_t len,
			 enum apply_mode mode, json_t **ret, struct op_error *err)
{
	struct policy_objects *objs = NULL;
	struct store_snapshot snap;
	json_auto_t *applied = NULL, *diff = NULL;
	bool dry_run = mode != APPLY, audit = mode == APPLY && audit_active(o->audit);
	size_t updated = 0;
	int r;

	r = parse_input(file, text, len, &objs, err);
	if (r < 0)
		return r;
	applied = json_array();
	r = store_snapshot_take(o->store, &snap);
	if (r < 0 || !applied) {
		if (r >= 0)
			store_snapshot_commit(o->store, &snap);
		policy_objects_free(objs);
		return op_error_set(err, -ENOMEM, "out of memory");
	}
	r = ops_put_objects(o, &snap, objs, audit, applied);
	/* What moved into the store is the store's now; the rest goes. */
	policy_objects_free(objs);
	if (r < 0) {
		store_snapshot_restore(o->store, &snap);
		return op_error_set(err, r, "out of memory");
	}

	if (mode == APPLY_DIFF) {
		struct policy_plan **plans = NULL;

		r = reconcile_compile_all(o->rc, &plans);
		if (r >= 0)
			r = explain_diff(o->registry, plans, o->matrix_budget, &diff);
		reconcile_plans_free(o->rc, plans);
		store_snapshot_restore(o->store, &snap);
		if (r < 0)
			return op_error_set(err, r, "out of memory while compiling");
	} else if (dry_run) {
		store_snapshot_restore(o->store, &snap);
	} else {
		reconcile_mark_store_changes(o->rc, &snap);
		r = ops_commit(o, NULL, false, &snap, &updated, err);
		if (r < 0) {
			store_snapshot_restore(o->store, &snap);
			reconcile_after_rollback(o->rc);
			return r;
		}
		store_snapshot_commit(o->store, &snap);
		log_info("Applied %s: %zu object(s), %zu namespace(s) updated", file,
			 json_array_size(applied), updated);
	}

	*ret = json_pack("{s:O, s:I, s:b}", "applied", applied, "endpoints_updated",
			 (json_int_t)updated, "dryRun", dry_run);
	if (*ret && diff)
		json_object_update(*ret, diff);
	if (mode == APPLY) {
		ops_note_not_committed(o, *ret);
		*ret = with_revision(o, *ret);
	}
	return *ret ? 0 : op_error_set(err, -ENOMEM, "out of memory");
}

int ops_apply(struct ops *o, const char *file, const char *text, size_t len, bool dry_run,
	      json_t **ret, struct op_error *err)
{
	return apply_objects(o, file, text, len, dry_run ? APPLY_DRY_RUN : APPLY, ret, err);
}

int ops_diff(struct ops *o, const char *file, const char *text, size_t len, json_t **ret,
	     struct op_error *err)
{
	return apply_objects(o, file, text, len, APPLY_DIFF, ret, err);
}

/* The change of a delete: mark, commit, keep or undo. */
static int finish_delete(struct ops *o, struct store_snapshot *snap, size_t *ret_updated,
			 struct op_error *err)
{
	int r;

	reconcile_mark_store_changes(o->rc, snap);
	r = ops_commit(o, NULL, false, snap, ret_updated, err);
	if (r < 0) {
		store_snapshot_restore(o->store, snap);
		reconcile_after_rollback(o->rc);
		return r;
	}
	store_snapshot_commit(o->store, snap);
	return 0;
}

static void delete_netpol_at(struct ops *o, size_t k)
{
	const struct policy_netpol *p = o->store->netpols[k];

	if (audit_active(o->audit))
		audit_change(o->audit, "NetworkPolicy", p->namespace, p->name, "deleted",
			     view_netpol(p), NULL);
	store_remove_netpol_at(o->store, k);
}

static void delete_cnp_at(struct ops *o, size_t k)
{
	const struct policy_cnp *p = o->store->cnps[k];

	if (audit_active(o->audit))
		audit_change(o->audit, "ClusterNetworkPolicy", NULL, p->name, "deleted",
			     view_cnp(p), NULL);
	store_remove_cnp_at(o->store, k);
}

static void delete_node_at(struct ops *o, size_t k)
{
	const struct policy_node *n = o->store->nodes[k];

	if (audit_active(o->audit))
		audit_change(o->audit, "Node", NULL, n->name, "deleted", view_node(n), NULL);
	store_remove_node_at(o->store, k);
}

int ops_remove_object(struct ops *o, const char *kind, const char *ns, const char *name)
{
	ssize_t k;

	if (streq(kind, "NetworkPolicy")) {
		k = ns ? store_find_netpol(o->store, ns, name) : -1;
		if (k >= 0)
			delete_netpol_at(o, (size_t)k);
	} else if (streq(kind, "ClusterNetworkPolicy")) {
		k = store_find_cnp(o->store, name);
		if (k >= 0)
			delete_cnp_at(o, (size_t)k);
	} else if (streq(kind, "Node")) {
		k = store_find_node(o->store, name);
		if (k >= 0)
			delete_node_at(o, (size_t)k);
	} else if (streq(kind, "Namespace")) {
		k = store_find_namespace(o->store, name);
		if (k >= 0)
			store_remove_namespace_at(o->store, (size_t)k);
	} else
		k = -1;
	return k >= 0 ? 0 : -ENOENT;
}

int ops_delete_file(struct ops *o, const char *file, const char *text, size_t len, json_t **ret,
		    struct op_error *err)
{
	struct policy_objects *objs = NULL;
	struct store_snapshot snap;
	json_auto_t *deleted = NULL;
	size_t updated = 0;
	int r;

	r = parse_input(file, text, len, &objs, err);
	if (r < 0)
		return r;

	/* All or nothing: every object named must exist. */
	for (size_t i = 0; r >= 0 && i < objs->n_netpols; i++)
		if (store_find_netpol(o->store, objs->netpols[i]->namespace,
				      objs->netpols[i]->name) < 0)
			r = op_error_set(err, -ENOENT,
					 "networkpolicy %s/%s not found, nothing deleted",
					 objs->netpols[i]->namespace, objs->netpols[i]->name);
	for (size_t i = 0; r >= 0 && i < objs->n_cnps; i++)
		if (store_find_cnp(o->store, objs->cnps[i]->name) < 0)
			r = op_error_set(err, -ENOENT,
					 "clusternetworkpolicy %s not found, nothing deleted",
					 objs->cnps[i]->name);
	for (size_t i = 0; r >= 0 && i < objs->n_nodes; i++)
		if (store_find_node(o->store, objs->nodes[i]->name) < 0)
			r = op_error_set(err, -ENOENT, "node %s not found, nothing deleted",
					 objs->nodes[i]->name);
	for (size_t i = 0; r >= 0 && i < objs->n_namespaces; i++)
		if (store_find_namespace(o->store, objs->namespaces[i]->name) < 0)
			r = op_error_set(err, -ENOENT, "namespace %s not found, nothing deleted",
					 objs->namespaces[i]->name);
	deleted = json_array();
	if (r >= 0 && (!deleted || store_snapshot_take(o->store, &snap) < 0))
		r = op_error_set(err, -ENOMEM, "out of memory");
	if (r < 0) {
		policy_objects_free(objs);
		return r;
	}

	for (size_t i = 0; i < objs->n_netpols; i++) {
		const struct policy_netpol *p = objs->netpols[i];
		ssize_t k = store_find_netpol(o->store, p->namespace, p->name);

		if (k < 0)
			continue; /* named twice in the file */
		delete_netpol_at(o, (size_t)k);
		json_array_append_new(deleted,
				      object_ref("NetworkPolicy", p->namespace, p->name, NULL));
	}
	for (size_t i = 0; i < objs->n_cnps; i++) {
		ssize_t k = store_find_cnp(o->store, objs->cnps[i]->name);

		if (k < 0)
			continue; /* named twice in the file */
		delete_cnp_at(o, (size_t)k);
		json_array_append_new(deleted, object_ref("ClusterNetworkPolicy", NULL,
							  objs->cnps[i]->name, NULL));
	}
	for (size_t i = 0; i < objs->n_nodes; i++) {
		ssize_t k = store_find_node(o->store, objs->nodes[i]->name);

		if (k < 0)
			continue; /* named twice in the file */
		delete_node_at(o, (size_t)k);
		json_array_append_new(deleted,
				      object_ref("Node", NULL, objs->nodes[i]->name, NULL));
	}
	for (size_t i = 0; i < objs->n_namespaces; i++) {
		const char *name = objs->namespaces[i]->name;
		ssize_t k = store_find_namespace(o->store, name);

		if (k < 0)
			continue;
		if (audit_active(o->audit))
			audit_change(o->audit, "Namespace", NULL, name, "deleted",
				     view_namespace(o->store->namespaces[k]), NULL);
		store_remove_namespace_at(o->store, (size_t)k);
		json_array_append_new(deleted, object_ref("Namespace", NULL, name, NULL));
	}
	policy_objects_free(objs);

	r = finish_delete(o, &snap, &updated, err);
	if (r < 0)
		return r;
	log_info("Deleted %zu object(s) from %s, %zu namespace(s) updated",
		 json_array_size(deleted), file, updated);
	*ret = with_revision(o, json_pack("{s:O, s:I}", "deleted", deleted, "endpoints_updated",
					  (json_int_t)updated));
	return *ret ? 0 : op_error_set(err, -ENOMEM, "out of memory");
}

int ops_delete_netpol(struct ops *o, const char *ns, const char *name, json_t **ret,
		      struct op_error *err)
{
	struct store_snapshot snap;
	size_t updated = 0;
	ssize_t k = store_find_netpol(o->store, ns, name);
	int r;

	if (k < 0)
		return op_error_set(err, -ENOENT, "networkpolicy %s/%s not found", ns, name);
	if (store_snapshot_take(o->store, &snap) < 0)
		return op_error_set(err, -ENOMEM, "out of memory");
	delete_netpol_at(o, (size_t)k);
	r = finish_delete(o, &snap, &updated, err);
	if (r < 0)
		return r;
	log_info("Deleted networkpolicy %s/%s, %zu namespace(s) updated", ns, name, updated);
	*ret = with_revision(o, json_pack("{s:[o], s:I}", "deleted",
					  object_ref("NetworkPolicy", ns, name, NULL),
					  "endpoints_updated", (json_int_t)updated));
	return *ret ? 0 : op_error_set(err, -ENOMEM, "out of memory");
}

int ops_get_netpol(struct ops *o, const char *ns, const char *name, json_t **ret,
		   struct op_error *err)
{
	ssize_t k = store_find_netpol(o->store, ns, name);

	if (k < 0)
		return op_error_set(err, -ENOENT, "networkpolicy %s/%s not found", ns, name);
	*ret = view_netpol(o->store->netpols[k]);
	return *ret ? 0 : op_error_set(err, -ENOMEM, "out of memory");
}

int ops_delete_cnp(struct ops *o, const char *name, json_t **ret, struct op_error *err)
{
	struct store_snapshot snap;
	size_t updated = 0;
	ssize_t k = store_find_cnp(o->store, name);
	int r;

	if (k < 0)
		return op_error_set(err, -ENOENT, "clusternetworkpolicy %s not found", name);
	if (store_snapshot_take(o->store, &snap) < 0)
		return op_error_set(err, -ENOMEM, "out of memory");
	delete_cnp_at(o, (size_t)k);
	r = finish_delete(o, &snap, &updated, err);
	if (r < 0)
		return r;
	log_info("Deleted clusternetworkpolicy %s, %zu namespace(s) updated", name, updated);
	*ret = with_revision(o, json_pack("{s:[o], s:I}", "deleted",
					  object_ref("ClusterNetworkPolicy", NULL, name, NULL),
					  "endpoints_updated", (json_int_t)updated));
	return *ret ? 0 : op_error_set(err, -ENOMEM, "out of memory");
}

int ops_get_cnp(struct ops *o, const char *name, json_t **ret, struct op_error *err)
{
	ssize_t k = store_find_cnp(o->store, name);

	if (k < 0)
		return op_error_set(err, -ENOENT, "clusternetworkpolicy %s not found", name);
	*ret = view_cnp(o->store->cnps[k]);
	return *ret ? 0 : op_error_set(err, -ENOMEM, "out of memory");
}

int ops_delete_node(struct ops *o, const char *name, json_t **ret, struct op_error *err)
{
	struct store_snapshot snap;
	size_t updated = 0;
	ssize_t k = store_find_node(o->store, name);
	int r;

	if (k < 0)
		return op_error_set(err, -ENOENT, "node %s not found", name);
	if (store_snapshot_take(o->store, &snap) < 0)
		return op_error_set(err, -ENOMEM, "out of memory");
	delete_node_at(o, (size_t)k);
	r = finish_delete(o, &snap, &updated, err);
	if (r < 0)
		return r;
	log_info("Deleted node %s, %zu namespace(s) updated", name, updated);
	*ret = with_revision(o, json_pack("{s:[o], s:I}", "deleted",
					  object_ref("Node", NULL, name, NULL), "endpoints_updated",
					  (json_int_t)updated));
	return *ret ? 0 : op_error_set(err, -ENOMEM, "out of memory");
}

int ops_get_node(struct ops *o, const char *name, json_t **ret, struct op_error *err)
{
	ssize_t k = store_find_node(o->store, name);

	if (k < 0)
		return op_error_set(err, -ENOENT, "node %s not found", name);
	*ret = view_node(o->store->nodes[k]);
	return *ret ? 0 : op_error_set(err, -ENOMEM, "out of memory");
}

json_t *ops_status(struct ops *o)
{
	struct status_inputs in = {
		.registry = o->registry,
		.store = o->store,
		.rc = o->rc,
		.drift = o->drift,
		.drift_watching = o->drift_watching,
		.errlog = o->errlog,
		.started = o->started,
		.engine_spec = o->engine_spec,
		.hook_fail_open = o->hook_fail_open,
		.n_hook_fail_open = o->n_hook_fail_open,
		.config = o->config,
		.engine = o->engine_status ? o->engine_status(o->userdata) : NULL,
	};
	json_t *st = view_status(&in);

	if (st && o->fleet)
		json_object_set_new(st, "fleet", o->fleet->view(o->fleet->userdata));
	return st;
}

int ops_flows(struct ops *o, const struct flows_filter *q, json_t **ret, struct op_error *err)
{
	const enum policy_flow_log mode = o->rc->emit.flow_log;

	if (q->endpoint && !registry_find(o->registry, q->endpoint))
		return op_error_set(err, -ENOENT, "endpoint %s not found", q->endpoint);
	*ret = flows_query(o->flows, q);
	if (!*ret)
		return op_error_set(err, -ENOMEM, "out of memory");
	json_object_set_new(*ret, "logging",
			    json_string(mode == POLICY_FLOW_LOG_ALL	 ? "all"
					: mode == POLICY_FLOW_LOG_DENIED ? "denied"
									 : "none"));
	return 0;
}
