/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/netfilter/nf_tables.h>

#include "json-util.h"
#include "macro.h"
#include "nft-sock.h"
#include "time-util.h"
#include "views.h"

json_t *view_guard(const struct ep_guard *g)
{
	json_t *devs = json_array();

	for (size_t i = 0; devs && i < g->n_devs; i++) {
		const struct guard_dev *d = &g->devs[i];

		json_array_append_new(devs, json_pack("{s:s, s:s, s:s, s:s, s:b}", "interface",
						      d->ep_ifname, "device", d->ifname, "netns",
						      d->ns->label, "table", d->table, "installed",
						      d->installed));
	}
	return json_pack("{s:s, s:s?, s:o}", "state", guard_state_to_string(g->state), "reason",
			 g->reason, "devices", devs);
}

json_t *view_endpoint(const struct endpoint *e)
{
	const struct policy_plan *p = e->installed;
	json_t *o, *pols = json_array();

	for (size_t i = 0; pols && p && i < p->n_selected_by; i++)
		json_array_append_new(pols, json_string(p->selected_by[i]));
	o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:s?, s:o, s:{s:b, s:b}}", "name",
		      e->pe.name, "kind",
		      e->kind == ENDPOINT_KIND_CONTAINER ? "container"
		      : e->kind == ENDPOINT_KIND_REMOTE	 ? "remote"
							 : "netns",
		      "namespace", e->pe.namespace, "netns", e->netns, "labels",
		      json_labels(&e->pe.labels), "ports",
		      json_named_ports(e->pe.ports, e->pe.n_ports), "addresses",
		      json_addrs(e->pe.addrs, e->pe.n_addrs), "state",
		      endpoint_state_to_string(e->state), "error", e->error, "policies", pols,
		      "isolation", "ingress", p && p->isolated[POLICY_DIR_INGRESS], "egress",
		      p && p->isolated[POLICY_DIR_EGRESS]);
	if (o && e->kind != ENDPOINT_KIND_REMOTE) /* another node guards it */
		json_object_set_new(o, "guard", view_guard(&e->guard));
	if (o && e->retry.failures > 0) {
		uint64_t now = now_usec();

		/* its commit failed: how often in a row, and when it is tried again */
		json_object_set_new(o, "retry",
				    json_pack("{s:I, s:I}", "failures",
					      (json_int_t)e->retry.failures, "next_in_ms",
					      (json_int_t)(e->retry.due_usec > now
								   ? (e->retry.due_usec - now) /
									     1000
								   : 0)));
	}
	if (o && e->n_conflicts > 0) {
		json_t *cs = json_array();

		for (size_t i = 0; cs && i < e->n_conflicts; i++) {
			json_t *a = json_addrs(&e->conflicts[i].addr, 1);

			json_array_append_new(cs, json_pack("{s:o, s:s, s:b}", "address",
							    json_incref(json_array_get(a, 0)),
							    "with", e->conflicts[i].with, "owner",
							    e->conflicts[i].owner));
			json_decref(a);
		}
		json_object_set_new(o, "address_conflicts", cs);
	}
	if (o && e->kind == ENDPOINT_KIND_CONTAINER) {
		json_t *cs = json_array();
		const char *owner = NULL;

		/* id: the container that owns the namespace (a pod's infra), else the first */
		for (size_t i = 0; i < e->n_containers; i++) {
			if (e->containers[i].owner && !owner)
				owner = e->containers[i].id;
			json_array_append_new(cs,
					      json_pack("{s:s, s:s?}", "id", e->containers[i].id,
							"name", e->containers[i].name));
		}
		if (!owner && e->n_containers)
			owner = e->containers[0].id;
		json_object_set_new(o, "id", owner ? json_string(owner) : json_null());
		json_object_set_new(o, "containers", cs);
	}
	/* containers: labels not known yet; netns endpoints: a fault in the state dir */
	if (o)
		json_object_set_new(o, "quarantined", json_boolean(e->quarantined));
	/* another node's: where it is enforced (a local endpoint's node is the caller's) */
	if (o && e->kind == ENDPOINT_KIND_REMOTE) {
		json_object_set_new(o, "node", json_string(e->node));
		json_object_set_new(o, "remote", json_true());
	}
	return o;
}

json_t *view_endpoints(const struct registry *r, const char *ns, const char *node)
{
	json_t *items = json_array();

	for (size_t i = 0; items && i < r->n; i++)
		if (!ns || streq(r->items[i]->pe.namespace, ns)) {
			json_t *o = view_endpoint(r->items[i]);

			if (o && node && !json_object_get(o, "node"))
				json_object_set_new(o, "node", json_string(node));
			json_array_append_new(items, o);
		}
	return json_pack("{s:o}", "items", items);
}

json_t *view_netpol(const struct policy_netpol *p)
{
	return p ? json_take_text(policy_netpol_to_json(p)) : NULL;
}

json_t *view_cnp(const struct policy_cnp *p)
{
	return p ? json_take_text(policy_cnp_to_json(p)) : NULL;
}

json_t *view_cnps(const struct store *s)
{
	json_t *items = json_array();

	for (size_t i = 0; items && i < s->n_cnps; i++)
		json_array_append_new(items, view_cnp(s->cnps[i]));
	return json_pack("{s:o}", "items", items);
}

json_t *view_node(const struct policy_node *n)
{
	return n ? json_take_text(policy_node_to_json(n)) : NULL;
}

json_t *view_nodes(const struct store *s)
{
	json_t *items = json_array();

	for (size_t i = 0; items && i < s->n_nodes; i++)
		json_array_append_new(items, view_node(s->nodes[i]));
	return json_pack("{s:o}", "items", items);
}

json_t *view_namespace(const struct policy_namespace *n)
{
	return n ? json_take_text(policy_namespace_to_json(n)) : NULL;
}

json_t *view_netpols(const struct store *s, const char *ns)
{
	json_t *items = json_array();

	for (size_t i = 0; items && i < s->n_netpols; i++)
		if (!ns || streq(s->netpols[i]->namespace, ns))
			json_array_append_new(items, view_netpol(s->netpols[i]));
	return json_pack("{s:o}", "items", items);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

json_t *view_namespaces(const struct store *s, const struct registry *r)
{
	_cleanup_free_ const char **names = NULL;
	json_t *items = json_array();
	size_t n = 0;

	names = calloc(s->n_namespaces + r->n + s->n_netpols + 1, sizeof(*names));
	if (!names || !items) {
		json_decref(items);
		return NULL;
	}
	for (size_t i = 0; i < s->n_namespaces; i++)
		names[n++] = s->namespaces[i]->name;
	for (size_t i = 0; i < r->n; i++)
		names[n++] = r->items[i]->pe.namespace;
	for (size_t i = 0; i < s->n_netpols; i++)
		names[n++] = s->netpols[i]->namespace;
	qsort_safe(names, n, sizeof(*names), cmp_str);

	for (size_t i = 0; i < n; i++) {
		ssize_t k;

		if (i > 0 && streq(names[i], names[i - 1]))
			continue;
		k = store_find_namespace(s, names[i]);
		if (k >= 0)
			json_array_append_new(items, view_namespace(s->namespaces[k]));
		else
			json_array_append_new(items,
					      json_pack("{s:s, s:s, s:{s:s, s:{s:s}}}",
							"apiVersion", "v1", "kind", "Namespace",
							"metadata", "name", names[i], "labels",
							POLICY_NS_NAME_LABEL, names[i]));
	}
	return json_pack("{s:o}", "items", items);
}

static json_t *view_failed(const struct endpoint *e)
{
	uint64_t now = now_usec();

	return json_pack("{s:s, s:s, s:s?, s:I, s:I}", "name", e->pe.name, "netns", e->netns,
			 "error", e->error, "failures", (json_int_t)e->retry.failures, "next_in_ms",
			 (json_int_t)(e->retry.due_usec > now ? (e->retry.due_usec - now) / 1000
							      : 0));
}

static json_t *change_json(const struct change_stats *c)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "compiled", (json_int_t)c->compiled,
			 "namespaces", (json_int_t)c->namespaces, "incremental",
			 (json_int_t)c->incremental, "batches", (json_int_t)c->batches, "messages",
			 (json_int_t)c->messages, "bytes", (json_int_t)c->bytes, "usec",
			 (json_int_t)c->usec);
}

json_t *view_status(const struct status_inputs *in)
{
	const struct reconciler *rc = in->rc;
	json_t *flags = json_array(), *nss, *o;
	size_t enforced = 0, errors = 0, unguarded = 0, conflicts = 0, compromised = 0;
	json_t *failed = json_array();
	size_t n_namespaces;

	/* Applied and implicit namespaces alike, as `get namespaces` lists them. */
	nss = view_namespaces(in->store, in->registry);
	n_namespaces = json_array_size(json_object_get(nss, "items"));
	json_decref(nss);
	for (size_t i = 0; i < in->registry->n; i++) {
		enforced += in->registry->items[i]->state == ENDPOINT_ENFORCED;
		errors += in->registry->items[i]->state == ENDPOINT_ERROR;
		conflicts += in->registry->items[i]->n_conflicts;
		compromised += in->registry->items[i]->state == ENDPOINT_COMPROMISED;
		if (failed && in->registry->items[i]->state == ENDPOINT_FAILED)
			json_array_append_new(failed, view_failed(in->registry->items[i]));
		unguarded += endpoint_live(in->registry->items[i]) &&
			     in->registry->items[i]->guard.state != GUARD_ENFORCED;
	}
	if (flags && (rc->emit.table_flags & NFT_TABLE_F_OWNER))
		json_array_append_new(flags, json_string("owner"));
	if (flags && (rc->emit.table_flags & NFT_TABLE_F_PERSIST))
		json_array_append_new(flags, json_string("persist"));

	o = json_pack("{s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:s, s:o, s:o}",
		      "version", SEGD_VERSION, "pid", (int)getpid(), "uptime_seconds",
		      (json_int_t)(time(NULL) - in->started), "endpoints",
		      (json_int_t)in->registry->n, "networkpolicies",
		      (json_int_t)in->store->n_netpols, "namespaces", (json_int_t)n_namespaces,
		      "enforced", (json_int_t)enforced, "errors", (json_int_t)errors, "commits",
		      (json_int_t)rc->commits, "commit_errors", (json_int_t)rc->commit_errors,
		      "table_flags", flags, "last_errors", errlog_json(in->errlog), "engine_spec",
		      in->engine_spec ? in->engine_spec : "none", "engine",
		      in->engine ? in->engine : json_null(), "changes",
		      json_pack("{s:o, s:o}", "last", change_json(&rc->last), "total",
				change_json(&rc->total)));
	if (o) {
		json_object_set_new(o, "unguarded", json_integer((json_int_t)unguarded));
		json_object_set_new(o, "clusternetworkpolicies",
				    json_integer((json_int_t)in->store->n_cnps));
		json_object_set_new(o, "nodes", json_integer((json_int_t)in->store->n_nodes));
	}
	/* who may start unisolated while segd is down: the host's setting, never the workload's */
	if (o) {
		json_t *names = json_array();

		for (size_t i = 0; names && i < in->n_hook_fail_open; i++)
			json_array_append_new(names, json_string(in->hook_fail_open[i]));
		json_object_set_new(o, "hook_fail_open",
				    json_pack("{s:o, s:s?}", "names", names ? names : json_array(),
					      "config", in->config));
	}
	/* endpoints whose table inet segd another process owns: an alarm */
	if (o)
		json_object_set_new(o, "compromised", json_integer((json_int_t)compromised));
	if (o)
		json_object_set_new(o, "conntrack",
				    json_pack("{s:b, s:I}", "keep_established",
					      rc->keep_established, "flows_cut",
					      (json_int_t)rc->flows_cut));
	/* endpoints whose commit failed: kept at their last table, retried on their own */
	if (o)
		json_object_set_new(o, "failed", json_integer((json_int_t)json_array_size(failed)));
	if (o)
		json_object_set_new(o, "failed_endpoints",
				    failed ? json_incref(failed) : json_null());
	json_decref(failed);
	/* addresses held by more than one endpoint, counted at each holder */
	if (o)
		json_object_set_new(o, "address_conflicts", json_integer((json_int_t)conflicts));
	if (o)
		json_object_set_new(o, "drift",
				    json_pack("{s:b, s:I, s:I, s:I}", "watching",
					      in->drift_watching, "detected",
					      (json_int_t)in->drift->detected, "repairs",
					      (json_int_t)in->drift->repairs, "event_overruns",
					      (json_int_t)in->drift->event_overruns));
	return o;
}
