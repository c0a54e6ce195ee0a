/* SPDX-License-Identifier: MIT */
/* What this node writes to the fleet's store: its endpoints and status, the policy changes made
 * here, a node's removal; and the fleet as GET /v1/fleet shows it. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet-internal.h"
#include "log.h"
#include "macro.h"

/* ---- small helpers ---- */

void fleet_set_error(struct fleet *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->error, sizeof(f->error), fmt, ap);
	va_end(ap);
}

int fleet_str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void fleet_strv_sort(char **v, size_t n)
{
	if (n > 1) /* qsort's base must not be NULL, even for none */
		qsort(v, n, sizeof(*v), fleet_str_cmp);
}

bool fleet_sorted_has(char *const *v, size_t n, const char *s)
{
	return n && bsearch(&s, v, n, sizeof(*v), fleet_str_cmp);
}

void fleet_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int fleet_strv_push(struct strv *s, char *str)
{
	if (!str)
		return -ENOMEM;
	if (s->n == s->cap) {
		size_t c = s->cap ? s->cap * 2 : 16;
		char **v = reallocarray(s->v, c, sizeof(*v));

		if (!v) {
			free(str);
			return -ENOMEM;
		}
		s->v = v;
		s->cap = c;
	}
	s->v[s->n++] = str;
	return 0;
}

int fleet_txn_add(struct txn *t, int type, char *key, char *value, int64_t lease)
{
	if (!key || (type == ETCD_OP_PUT && !value)) {
		free(key);
		free(value);
		return -ENOMEM;
	}
	if (t->n == t->cap) {
		size_t c = t->cap ? t->cap * 2 : 16;
		struct etcd_op *v = reallocarray(t->ops, c, sizeof(*v));

		if (!v) {
			free(key);
			free(value);
			return -ENOMEM;
		}
		t->ops = v;
		t->cap = c;
	}
	t->ops[t->n++] = (struct etcd_op){ .type = type,
					   .key = key,
					   .value = value,
					   .value_len = value ? strlen(value) : 0,
					   .lease = lease };
	return 0;
}

void fleet_txn_done(struct txn *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free((char *)t->ops[i].key);
		free((char *)t->ops[i].value);
	}
	free(t->ops);
	*t = (struct txn){ 0 };
}

/* Sends t in transactions of at most ETCD_MAX_TXN_OPS (atomic each; a node's own keys only,
 * where a partial publication is fixed by the next re-list). */
int fleet_txn_send(struct fleet *f, const struct txn *t, int64_t *ret_revision)
{
	struct etcd_error err = { { 0 } };
	int64_t rev = 0;

	for (size_t i = 0; i < t->n; i += ETCD_MAX_TXN_OPS) {
		size_t n = t->n - i < ETCD_MAX_TXN_OPS ? t->n - i : ETCD_MAX_TXN_OPS;
		int r = etcd_txn(f->etcd, t->ops + i, n, &rev, &err);

		if (r < 0) {
			fleet_set_error(f, "etcd %s: %s", etcd_current_url(f->etcd), err.message);
			return r;
		}
	}
	if (ret_revision)
		*ret_revision = rev;
	return 0;
}

/* ---- what this node publishes ---- */

static char *status_value(struct fleet *f, size_t endpoints)
{
	struct fleet_status st = {
		.enforced_revision = f->enforced,
		.endpoints = (int64_t)endpoints,
		.heartbeat = (int64_t)time(NULL),
		.started = (int64_t)f->started,
		.not_committed = (int64_t)ops_not_committed(f->ops),
	};

	return fleet_status_format(f->node, &st);
}

static size_t local_peers(const struct fleet *f)
{
	const struct registry *r = f->ops->registry;
	size_t n = 0;

	for (size_t i = 0; i < r->n; i++)
		n += r->items[i]->kind != ENDPOINT_KIND_REMOTE && endpoint_peer(r->items[i]);
	return n;
}

int fleet_add_status(struct fleet *f, struct txn *t)
{
	int r;

	if (ops_not_committed(f->ops) == 0 && f->policy_revision > f->enforced)
		f->enforced = f->policy_revision;
	r = fleet_txn_add(t, ETCD_OP_PUT, fleet_node_key(f->node), status_value(f, local_peers(f)),
			  f->lease);
	if (r >= 0)
		r = fleet_txn_add(t, ETCD_OP_PUT, fleet_member_key(f->node),
				  fleet_member_format(f->node, (int64_t)f->started), 0);
	return r;
}

/* The endpoint named so, as this node publishes it: a put of its view, or a delete when it is
 * gone or no peer (quarantined, detached). */
static int add_endpoint(struct fleet *f, struct txn *t, const char *name)
{
	struct endpoint *e = registry_get(f->ops->registry, name);

	if (e && e->kind != ENDPOINT_KIND_REMOTE && endpoint_peer(e))
		return fleet_txn_add(t, ETCD_OP_PUT, fleet_endpoint_key(f->node, name),
				     fleet_endpoint_format(&e->pe, f->node), f->lease);
	return fleet_txn_add(t, ETCD_OP_DELETE, fleet_endpoint_key(f->node, name), NULL, 0);
}

/* Everything of ours again (after a re-list): every local peer, a delete for each key of ours
 * the store has and we do not (`stored`, sorted), our member entry and status. */
int fleet_publish_all(struct fleet *f, char *const *stored, size_t n_stored)
{
	const struct registry *reg = f->ops->registry;
	struct txn t = { 0 };
	int r = 0;

	for (size_t i = 0; r >= 0 && i < reg->n; i++) {
		const struct endpoint *e = reg->items[i];

		if (e->kind != ENDPOINT_KIND_REMOTE && endpoint_peer(e))
			r = add_endpoint(f, &t, e->pe.name);
	}
	for (size_t i = 0; r >= 0 && i < n_stored; i++) {
		const struct endpoint *e = registry_get(reg, stored[i]);

		if (!e || e->kind == ENDPOINT_KIND_REMOTE || !endpoint_peer(e))
			r = fleet_txn_add(&t, ETCD_OP_DELETE,
					  fleet_endpoint_key(f->node, stored[i]), NULL, 0);
	}
	if (r >= 0)
		r = fleet_add_status(f, &t);
	if (r >= 0)
		r = fleet_txn_send(f, &t, NULL);
	fleet_txn_done(&t);
	return r;
}

/* ---- publishing what changed here ---- */

void fleet_dirty_add(struct fleet *f, const char *name)
{
	struct strv d = { f->dirty, f->n_dirty, f->cap_dirty };

	if (f->n_dirty && streq(f->dirty[f->n_dirty - 1], name))
		return; /* before and after one change */
	if (fleet_strv_push(&d, strdup(name)) < 0) {
		f->synced = false; /* cannot remember it: a re-list publishes everything */
		f->retry.due_usec = 0;
		fleet_arm(f);
		return;
	}
	f->dirty = d.v;
	f->n_dirty = d.n;
	f->cap_dirty = d.cap;
}

void fleet_on_peer_changed(struct endpoint *e, void *userdata)
{
	fleet_dirty_add(userdata, e->pe.name);
}

void fleet_flush(struct fleet *f)
{
	struct txn t = { 0 };
	bool status;
	int r = 0;

	if (!f || !f->synced)
		return; /* the re-list publishes everything */
	status = f->status_due ||
		 (f->policy_revision > f->enforced && ops_not_committed(f->ops) == 0);
	if (!f->n_dirty && !status)
		return;
	fleet_strv_sort(f->dirty, f->n_dirty);
	for (size_t i = 0; r >= 0 && i < f->n_dirty; i++)
		if (i == 0 || !streq(f->dirty[i - 1], f->dirty[i]))
			r = add_endpoint(f, &t, f->dirty[i]);
	if (r >= 0)
		r = fleet_add_status(f, &t);
	if (r >= 0)
		r = fleet_txn_send(f, &t, NULL);
	fleet_txn_done(&t);
	for (size_t i = 0; i < f->n_dirty; i++)
		free(f->dirty[i]);
	f->n_dirty = 0;
	if (r < 0)
		fleet_lost(f); /* what was not published is, by the re-list */
	else
		f->status_due = false;
}

/* ---- what the operations ask of the fleet ---- */

struct change_ctx {
	struct fleet *f;
	struct txn t;
};

static int change_put(const char *kind, const char *ns, const char *name, char *json,
		      void *userdata)
{
	struct change_ctx *c = userdata;
	char *value = fleet_policy_format(json, c->f->node);

	free(json);
	return fleet_txn_add(&c->t, ETCD_OP_PUT, fleet_policy_key(kind, ns, name), value, 0);
}

static int change_del(const char *kind, const char *ns, const char *name, void *userdata)
{
	struct change_ctx *c = userdata;

	return fleet_txn_add(&c->t, ETCD_OP_DELETE, fleet_policy_key(kind, ns, name), NULL, 0);
}

int fleet_store_write(void *userdata, const struct store *s, const struct store_snapshot *snap,
		      int64_t *ret_revision, struct op_error *err)
{
	static const struct store_change_ops change_ops = { .put = change_put, .del = change_del };
	struct change_ctx c = { .f = userdata };
	struct etcd_error eerr = { { 0 } };
	size_t n;
	int r;

	if (!c.f->synced)
		return op_error_set(err, -EHOSTUNREACH,
				    "change not applied: the fleet's store cannot be reached (%s)",
				    c.f->error[0] ? c.f->error : "not connected yet");
	r = store_changes(s, snap, &change_ops, &c);
	if (r < 0) {
		fleet_txn_done(&c.t);
		return op_error_set(err, r, "out of memory");
	}
	if (c.t.n == 0) {
		/* nothing to write: in force where this node's revision is */
		*ret_revision = c.f->policy_revision;
		fleet_txn_done(&c.t);
		return 0;
	}
	r = fleet_txn_add(&c.t, ETCD_OP_PUT, strdup(FLEET_REVISION_KEY),
			  fleet_member_format(c.f->node, (int64_t)time(NULL)), 0);
	if (r < 0) {
		fleet_txn_done(&c.t);
		return op_error_set(err, r, "out of memory");
	}
	if (c.t.n > ETCD_MAX_TXN_OPS) {
		fleet_txn_done(&c.t);
		return op_error_set(
			err, -E2BIG,
			"change not applied: %zu objects changed, but a fleet's change is "
			"one etcd transaction of at most %d objects (etcd's "
			"--max-txn-ops %d, with the revision key): apply the file in parts",
			c.t.n - 1, ETCD_MAX_TXN_OPS - 1, ETCD_MAX_TXN_OPS);
	}
	n = c.t.n - 1; /* the objects, without the revision key */
	r = etcd_txn(c.f->etcd, c.t.ops, c.t.n, ret_revision, &eerr);
	fleet_txn_done(&c.t);
	if (r < 0)
		return op_error_set(err,
				    r == -EHOSTUNREACH || r == -ETIMEDOUT ? -EHOSTUNREACH : -EIO,
				    "change not applied: the fleet's store (%s): %s",
				    etcd_current_url(c.f->etcd), eerr.message);
	log_info("Fleet: wrote %zu object(s) at revision %" PRId64, n, *ret_revision);
	return 0;
}

static const char *node_state(const struct fleet *f, const char *name, json_t *st)
{
	json_int_t enforced = json_integer_value(json_object_get(st, "enforced_revision"));

	if (!st)
		return "lost";
	if (streq(name, f->node) && !f->synced)
		return "disconnected";
	return enforced >= f->policy_revision ? "ready" : "behind";
}

json_t *fleet_view(void *userdata)
{
	struct fleet *f = userdata;
	json_auto_t *names = json_object();
	json_t *nodes = json_array(), *v;
	const char *name;
	void *tmp;
	char **sorted = NULL;
	size_t n = 0;

	if (!names || !nodes) {
		json_decref(nodes);
		return NULL;
	}
	json_object_update(names, f->members);
	json_object_update(names, f->status);
	json_object_set_new(names, f->node, json_true());
	sorted = calloc(json_object_size(names) + 1, sizeof(*sorted));
	json_object_foreach_safe(names, tmp, name, v)
	{
		if (sorted)
			sorted[n++] = (char *)name;
	}
	if (sorted)
		qsort(sorted, n, sizeof(*sorted), fleet_str_cmp);
	for (size_t i = 0; i < n; i++) {
		json_t *st = json_object_get(f->status, sorted[i]);
		json_t *o =
			json_pack("{s:s, s:s, s:b, s:I, s:I, s:I, s:I}", "name", sorted[i], "state",
				  node_state(f, sorted[i], st), "self", streq(sorted[i], f->node),
				  "enforced_revision",
				  json_integer_value(json_object_get(st, "enforced_revision")),
				  "endpoints", json_integer_value(json_object_get(st, "endpoints")),
				  "heartbeat", json_integer_value(json_object_get(st, "heartbeat")),
				  "not_committed",
				  json_integer_value(json_object_get(st, "not_committed")));

		if (o && json_object_get(st, "invalid"))
			json_object_set(o, "invalid", json_object_get(st, "invalid"));
		json_array_append_new(nodes, o);
	}
	free(sorted);
	return json_pack("{s:s, s:s, s:I, s:b, s:s, s:s?, s:s?, s:o, s:{s:I, s:I, s:I, s:I}}",
			 "store", "etcd", "node", f->node, "revision",
			 (json_int_t)f->policy_revision, "connected", f->synced, "url",
			 etcd_current_url(f->etcd), "error", f->error[0] ? f->error : NULL,
			 "last_bad_value", f->bad_value[0] ? f->bad_value : NULL, "nodes", nodes,
			 "counters", "relists", (json_int_t)f->relists, "batches",
			 (json_int_t)f->batches, "remote_changes", (json_int_t)f->remote_changes,
			 "bad_values", (json_int_t)f->bad_values);
}

json_t *fleet_status_json(struct fleet *f)
{
	return f ? fleet_view(f) : NULL;
}

int fleet_node_delete(void *userdata, const char *name, json_t **ret, struct op_error *err)
{
	struct fleet *f = userdata;
	struct txn t = { 0 };
	_cleanup_free_ char *prefix = NULL;
	int r;

	if (!json_object_get(f->members, name) && !json_object_get(f->status, name))
		return op_error_set(err, -ENOENT, "node %s not found in the fleet", name);
	if (!f->synced)
		return op_error_set(err, -EHOSTUNREACH, "the fleet's store cannot be reached (%s)",
				    f->error);
	if (asprintf(&prefix, FLEET_ENDPOINTS_PREFIX "%s/", name) < 0)
		return op_error_set(err, -ENOMEM, "out of memory");
	r = fleet_txn_add(&t, ETCD_OP_DELETE, fleet_member_key(name), NULL, 0);
	if (r >= 0)
		r = fleet_txn_add(&t, ETCD_OP_DELETE, fleet_node_key(name), NULL, 0);
	if (r >= 0)
		r = fleet_txn_add(&t, ETCD_OP_DELETE_PREFIX, TAKE_PTR(prefix), NULL, 0);
	if (r >= 0)
		r = fleet_txn_send(f, &t, NULL);
	fleet_txn_done(&t);
	if (r == -ENOMEM)
		return op_error_set(err, r, "out of memory");
	if (r < 0)
		return op_error_set(err, -EHOSTUNREACH, "node %s not deleted: %s", name, f->error);
	log_info("Fleet: node %s deleted from the fleet", name);
	*ret = json_pack("{s:s}", "deleted", name);
	return *ret ? 0 : op_error_set(err, -ENOMEM, "out of memory");
}
