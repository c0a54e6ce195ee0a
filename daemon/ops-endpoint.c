/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter.h>

#include "log.h"
#include "macro.h"
#include "netns.h"
#include "nft-table.h"
#include "nft-verify.h"
#include "ops-internal.h"
#include "views.h"

/* A netns endpoint from its spec (taking its labels and ports), attached to its namespace:
 * -ENOENT when the name is not under /run/netns, -EEXIST (not attached, *ret_taken the
 * holder) when that namespace is another endpoint already, whatever its kind or name. */
static int endpoint_from_spec(struct ops *o, struct endpoint_spec *spec, struct endpoint **ret,
			      struct endpoint **ret_taken)
{
	struct endpoint *e = NULL, *taken;
	int nsfd = -1, r;
	dev_t dev = 0;
	ino_t ino = 0;

	r = endpoint_new(o->env, ENDPOINT_KIND_NETNS, spec->name, spec->netns, spec->namespace, &e);
	if (r < 0)
		return r;
	e->pe.labels = spec->labels;
	spec->labels = (struct policy_labels){ 0 };
	e->pe.ports = TAKE_PTR(spec->ports);
	e->pe.n_ports = spec->n_ports;
	spec->n_ports = 0;
	r = netns_open_name(e->netns, &nsfd);
	if (r >= 0) {
		r = netns_ident(nsfd, &dev, &ino);
		taken = r >= 0 ? registry_find_ns(o->registry, dev, ino) : NULL;
		if (r < 0 || taken) {
			safe_close(nsfd);
			if (taken) {
				o->registry->refused++;
				*ret_taken = taken;
				r = -EEXIST;
			}
		} else
			r = endpoint_attach(e, nsfd);
	}
	*ret = e;
	return r;
}

static int find_netns_endpoint(struct ops *o, const char *name, const char *verb,
			       struct endpoint **ret, struct op_error *err)
{
	struct endpoint *e = registry_find(o->registry, name);

	if (!e)
		return op_error_set(err, -ENOENT, "endpoint %s not found", name);
	if (e->kind == ENDPOINT_KIND_CONTAINER)
		return op_error_set(err, -EPERM, "endpoint %s is a container: %s", name, verb);
	*ret = e;
	return 0;
}

int ops_endpoint_add(struct ops *o, struct endpoint_spec *spec, json_t **ret, struct op_error *err)
{
	struct endpoint *e = NULL, *other = NULL;
	size_t updated = 0;
	int r;

	if (registry_find(o->registry, spec->name))
		return op_error_set(err, -EEXIST, "endpoint %s already exists", spec->name);
	other = registry_find_netns(o->registry, spec->netns);
	if (other)
		return op_error_set(err, -EEXIST, "network namespace %s is already endpoint %s",
				    spec->netns, other->pe.name);
	r = endpoint_from_spec(o, spec, &e, &other);
	if (r < 0) {
		endpoint_free(e);
		if (r == -EEXIST)
			return op_error_set(
				err, r,
				"network namespace %s is already endpoint %s (%s, netns "
				"%s): one namespace is one endpoint",
				spec->netns, other->pe.name, registry_kind_text(other),
				other->netns);
		if (r == -ENOMEM)
			return op_error_set(err, r, "out of memory");
		if (r == -ENOENT)
			return op_error_set(err, -ENXIO, "network namespace %s not found in %s",
					    spec->netns, NETNS_RUN_DIR);
		return op_error_set(err, -EIO, "cannot attach to network namespace %s: %s",
				    spec->netns, strerror(-r));
	}
	r = registry_insert(o->registry, e);
	if (r < 0) {
		endpoint_free(e);
		return op_error_set(err, r, "out of memory");
	}
	reconcile_mark(o->rc, e);
	reconcile_mark_peers_of(o->rc, e);
	if (audit_active(o->audit))
		audit_change(o->audit, "Endpoint", e->pe.namespace, e->pe.name, "created", NULL,
			     view_endpoint(e));
	r = ops_commit(o, e, false, NULL, &updated, err);
	if (r < 0) {
		reconcile_forget(o->rc, e);
		registry_remove(o->registry, e);
		guard_drop(&e->guard, true);
		endpoint_retire_socket(e);
		endpoint_retire_socket(e);
		(void)nft_delete_table_named(e->nft, NFPROTO_INET, e->table);
		endpoint_release(e);
		reconcile_after_rollback(o->rc);
		return r;
	}
	log_info("Added endpoint %s (netns %s, namespace %s), %zu namespace(s) updated", e->pe.name,
		 e->netns, e->pe.namespace, updated);
	*ret = view_endpoint(e);
	return *ret ? 0 : op_error_set(err, -ENOMEM, "out of memory");
}

int ops_endpoint_label(struct ops *o, const char *name, const struct label_change *c, json_t **ret,
		       struct op_error *err)
{
	struct policy_labels saved, next = { 0 };
	struct endpoint *e = NULL;
	json_t *before = NULL;
	size_t updated = 0;
	int r;

	r = find_netns_endpoint(o, name,
				"its labels come from the engine (recreate it with new "
				"labels)",
				&e, err);
	if (r < 0)
		return r;
	if (e->quarantined)
		return op_error_set(err, -EPERM,
				    "endpoint %s is quarantined (%s): delete it and add it again",
				    name, e->error ? e->error : "its stored state is not valid");
	if (policy_labels_copy(&next, &e->pe.labels) < 0)
		return op_error_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < c->set.n; i++)
		if (policy_labels_set(&next, c->set.items[i].key, c->set.items[i].value) < 0) {
			policy_labels_done(&next);
			return op_error_set(err, -ENOMEM, "out of memory");
		}
	for (size_t i = 0; i < c->n_remove; i++)
		(void)policy_labels_unset(&next, c->remove[i]);
	if (next.n > POLICY_MAX_LABELS) {
		policy_labels_done(&next);
		return op_error_set(err, -E2BIG, "more than %d labels", POLICY_MAX_LABELS);
	}

	reconcile_mark_peers_of(o->rc, e);
	if (audit_active(o->audit))
		before = view_endpoint(e);
	saved = e->pe.labels;
	e->pe.labels = next;
	if (before)
		audit_change(o->audit, "Endpoint", e->pe.namespace, e->pe.name, "configured",
			     before, view_endpoint(e));
	reconcile_mark(o->rc, e);
	reconcile_mark_peers_of(o->rc, e);
	r = ops_commit(o, e, false, NULL, &updated, err);
	if (r < 0) {
		policy_labels_done(&e->pe.labels);
		e->pe.labels = saved;
		reconcile_after_rollback(o->rc);
		return r;
	}
	policy_labels_done(&saved);
	log_info("Relabelled endpoint %s, %zu namespace(s) updated", e->pe.name, updated);
	*ret = view_endpoint(e);
	ops_note_not_committed(o, *ret);
	return *ret ? 0 : op_error_set(err, -ENOMEM, "out of memory");
}

int ops_endpoint_del(struct ops *o, const char *name, json_t **ret, struct op_error *err)
{
	struct endpoint *e = NULL;
	size_t updated = 0;
	int r;

	r = find_netns_endpoint(o, name, "it leaves when the container stops", &e, err);
	if (r < 0)
		return r;
	reconcile_mark_peers_of(o->rc, e);
	if (audit_active(o->audit))
		audit_change(o->audit, "Endpoint", e->pe.namespace, e->pe.name, "deleted",
			     view_endpoint(e), NULL);
	reconcile_forget(o->rc, e);
	registry_remove(o->registry, e);
	r = ops_commit(o, e, true, NULL, &updated, err);
	if (r < 0) {
		(void)registry_insert(o->registry, e);
		reconcile_after_rollback(o->rc);
		return r;
	}
	guard_drop(&e->guard, true);
	endpoint_retire_socket(e);
	if (e->nft) {
		r = nft_delete_table_named(e->nft, NFPROTO_INET, e->table);
		if (r < 0)
			log_warning_errno(r, "Failed to remove the table of %s, ignoring: %m",
					  e->pe.name);
	}
	log_info("Deleted endpoint %s, %zu namespace(s) updated", e->pe.name, updated);
	*ret = json_pack("{s:[{s:s, s:s}], s:I}", "deleted", "kind", "Endpoint", "name", e->pe.name,
			 "endpoints_updated", (json_int_t)updated);
	endpoint_release(e);
	return *ret ? 0 : op_error_set(err, -ENOMEM, "out of memory");
}

int ops_endpoint_get(struct ops *o, const char *name, json_t **ret, struct op_error *err)
{
	struct endpoint *e = registry_find(o->registry, name);

	if (!e)
		return op_error_set(err, -ENOENT, "endpoint %s not found", name);
	*ret = view_endpoint(e);
	return *ret ? 0 : op_error_set(err, -ENOMEM, "out of memory");
}

int ops_endpoint_rules(struct ops *o, const char *name, json_t **ret, struct op_error *err)
{
	struct endpoint *e = registry_find(o->registry, name);
	struct policy_emit_options eo;
	json_t *x = NULL;
	bool in_sync = false;
	int r;

	if (!e)
		return op_error_set(err, -ENOENT, "endpoint %s not found", name);
	if (!e->nft)
		return op_error_set(err, -ENOTCONN, "endpoint %s: %s", name,
				    e->error ? e->error : "not attached to its network namespace");
	eo = endpoint_emit(e, &o->rc->emit);
	r = nft_rules_json(e->nft, e->installed, &eo, &x, &in_sync);
	if (r == -ENOENT)
		return op_error_set(err, r, "endpoint %s: no table inet %s in netns %s", name,
				    POLICY_NFT_TABLE, e->netns);
	if (r < 0)
		return op_error_set(err, -EIO, "endpoint %s: cannot read its ruleset: %s", name,
				    strerror(-r));
	json_object_set_new(x, "endpoint", json_string(e->pe.name));
	json_object_set_new(x, "netns", json_string(e->netns));
	json_object_set_new(x, "in_sync", json_boolean(in_sync));
	*ret = x;
	return 0;
}

/* A stored endpoint that is not valid but names its namespace: registered there as
 * quarantined (default-deny both ways, not anyone's peer), in error with the reason. */
static int restore_quarantined(struct ops *o, const char *name, json_t *q)
{
	struct endpoint_spec spec = { 0 };
	const char *reason = json_string_value(json_object_get(q, "reason"));
	struct endpoint *e = NULL, *other = NULL;
	int r;

	spec.name = strdup(name);
	spec.netns = strdup(json_string_value(json_object_get(q, "netns")));
	spec.namespace = strdup("default");
	if (!spec.name || !spec.netns || !spec.namespace) {
		endpoint_spec_done(&spec);
		return -ENOMEM;
	}
	if (registry_find(o->registry, spec.name) || registry_find_netns(o->registry, spec.netns)) {
		endpoint_spec_done(&spec);
		return log_error_errno(-EEXIST,
				       "Stored endpoint %s: its name or namespace is taken", name);
	}
	r = endpoint_from_spec(o, &spec, &e, &other);
	endpoint_spec_done(&spec);
	if (r == -ENOMEM) {
		endpoint_free(e);
		return r;
	}
	if (r == -EEXIST) {
		/* Its namespace is enforced already, as that endpoint: nothing is left open. */
		log_error("Ignoring the quarantined endpoint %s: its network namespace is endpoint "
			  "%s already",
			  name, other->pe.name);
		endpoint_free(e);
		return 0;
	}
	e->quarantined = true;
	if (r < 0)
		endpoint_set_error(e, ENDPOINT_ERROR,
				   "quarantined: %s; cannot attach to network namespace %s: %s",
				   reason, e->netns, strerror(-r));
	else
		endpoint_set_error(e, ENDPOINT_ERROR, "quarantined: %s", reason);
	errlog_add(o->errlog, "endpoint %s: %s", e->pe.name, e->error);
	r = registry_insert(o->registry, e);
	if (r < 0)
		endpoint_free(e);
	return r;
}

int ops_restore(struct ops *o, struct state_loaded *l)
{
	const char *key;
	json_t *desc;

	json_object_foreach(l->endpoints, key, desc) {
		struct endpoint_spec spec = { 0 };
		struct op_error err = { 0 };
		struct endpoint *e = NULL, *other = NULL;
		int r;

		/* state_load checked every one: a failure here is not expected, and refuses
		 * the start rather than dropping the endpoint. */
		r = endpoint_spec_from_json(desc, &spec, &err);
		if (r < 0) {
			log_error("Stored endpoint %s: %s", key,
				  err.message ? err.message : strerror(-r));
			op_error_done(&err);
			return r;
		}
		if (registry_find(o->registry, spec.name) ||
		    registry_find_netns(o->registry, spec.netns)) {
			log_error("Stored endpoint %s: its name or namespace is taken", spec.name);
			endpoint_spec_done(&spec);
			return -EEXIST;
		}
		r = endpoint_from_spec(o, &spec, &e, &other);
		endpoint_spec_done(&spec);
		if (r == -ENOMEM) {
			endpoint_free(e);
			return r;
		}
		if (r == -EEXIST) {
			log_error("Ignoring the stored endpoint %s: its network namespace is "
				  "endpoint %s already",
				  e->pe.name, other->pe.name);
			endpoint_free(e);
			continue;
		}
		/* Kept, so that its table (if any) is not forgotten: in error until it returns. */
		if (r < 0) {
			endpoint_set_error(e, ENDPOINT_ERROR,
					   "cannot attach to network namespace %s: %s", e->netns,
					   strerror(-r));
			log_warning("Endpoint %s: %s", e->pe.name, e->error);
		}
		r = registry_insert(o->registry, e);
		if (r < 0) {
			endpoint_free(e);
			return r;
		}
	}
	json_object_foreach(l->quarantined, key, desc) {
		int r = restore_quarantined(o, key, desc);

		if (r < 0)
			return r;
	}
	return 0;
}
