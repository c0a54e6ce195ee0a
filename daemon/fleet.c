/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "etcd.h"
#include "fleet-parse.h"
#include "fleet-internal.h"
#include "log.h"
#include "macro.h"
#include "time-util.h"

#define RETRY_CAP_MS 5000u
#define HEARTBEAT_TRIES 3
#define CONNECT_TIMEOUT_MS 500u
/* below the OCI hook's default wait (2 s), so that a silent member does not starve it */
#define REQUEST_TIMEOUT_MS 1000u

/* ---- what the store says ---- */

/* Moves every object of src to dst (src is freed). */
static int objects_append(struct policy_objects *dst, struct policy_objects *src)
{
#define APPEND(arr, n)                                                                    \
	do {                                                                              \
		void *v = reallocarray(dst->arr, dst->n + src->n + 1, sizeof(*dst->arr)); \
                                                                                          \
		if (!v) {                                                                 \
			policy_objects_free(src);                                         \
			return -ENOMEM;                                                   \
		}                                                                         \
		dst->arr = v;                                                             \
		if (src->n)                                                               \
			memcpy(dst->arr + dst->n, src->arr, src->n * sizeof(*src->arr));  \
		dst->n += src->n;                                                         \
		src->n = 0;                                                               \
	} while (0)
	APPEND(namespaces, n_namespaces);
	APPEND(netpols, n_netpols);
	APPEND(cnps, n_cnps);
	APPEND(nodes, n_nodes);
#undef APPEND
	policy_objects_free(src);
	return 0;
}

/* A value in the store that is not valid: counted, logged, kept for `segctl status`. */
static void bad_value(struct fleet *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bad_value(struct fleet *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->bad_value, sizeof(f->bad_value), fmt, ap);
	va_end(ap);
	f->bad_values++;
	log_error("Fleet: %s", f->bad_value);
	errlog_add(f->ops->errlog, "fleet: %s", f->bad_value);
}

/* The one object a policy key holds, validated as segctl apply validates: -EBADMSG (logged,
 * counted, shown by segctl status) when the value is not that object. */
static int policy_value(struct fleet *f, const struct etcd_kv *kv, const struct fleet_key *k,
			struct policy_objects **ret)
{
	_cleanup_free_ char *text = NULL, *origin = NULL, *why = NULL;
	struct policy_objects *o = NULL;
	struct policy_diags diags = { 0 };
	const char *name = NULL, *ns = NULL;
	size_t n;
	int r;

	r = fleet_policy_parse(kv->value, kv->value_len, &text, &origin, &why);
	if (r == -ENOMEM)
		return r;
	if (r >= 0) {
		r = policy_parse(kv->key, text, strlen(text), &o, &diags);
		if (r == -EBADMSG && diags.n > 0 &&
		    asprintf(&why, "%s", diags.items[0].message) < 0)
			why = NULL;
		policy_diags_done(&diags);
		if (r == -ENOMEM)
			return r;
	}
	if (r >= 0) {
		n = o->n_namespaces + o->n_netpols + o->n_cnps + o->n_nodes;
		if (streq(k->kind_name, "Namespace") && o->n_namespaces)
			name = o->namespaces[0]->name;
		else if (streq(k->kind_name, "NetworkPolicy") && o->n_netpols) {
			name = o->netpols[0]->name;
			ns = o->netpols[0]->namespace;
		} else if (streq(k->kind_name, "ClusterNetworkPolicy") && o->n_cnps)
			name = o->cnps[0]->name;
		else if (streq(k->kind_name, "Node") && o->n_nodes)
			name = o->nodes[0]->name;
		if (n != 1 || !name || !streq(name, k->name) || (ns && !streq(ns, k->ns))) {
			policy_objects_free(o);
			free(why);
			why = strdup("not the one object its key names");
			r = -EBADMSG;
		}
	}
	if (r < 0) {
		bad_value(f, "%s: %s: ignored, the object in force stays", kv->key,
			  why ? why : "not valid");
		return -EBADMSG;
	}
	*ret = o;
	return 0;
}

static json_t *status_json(const char *node, const struct etcd_kv *kv)
{
	struct fleet_status st;
	_cleanup_free_ char *why = NULL;

	if (fleet_status_parse(kv->value, kv->value_len, node, &st, &why) < 0)
		return json_pack("{s:s}", "invalid", why ? why : "not valid");
	return json_pack("{s:I, s:I, s:I, s:I, s:I}", "enforced_revision",
			 (json_int_t)st.enforced_revision, "endpoints", (json_int_t)st.endpoints,
			 "heartbeat", (json_int_t)st.heartbeat, "started", (json_int_t)st.started,
			 "not_committed", (json_int_t)st.not_committed);
}

/* Another node's endpoint as the store has it: put among the peers (-EBADMSG: logged and
 * ignored, what was there stays). */
static int remote_put(struct fleet *f, const struct etcd_kv *kv, const struct fleet_key *k)
{
	struct policy_endpoint pe = { 0 };
	_cleanup_free_ char *why = NULL;
	int r;

	r = fleet_endpoint_parse(kv->value, kv->value_len, k->node, k->name, &pe, &why);
	if (r == -EBADMSG) {
		bad_value(f, "%s: %s: ignored", kv->key, why ? why : "not valid");
		return r;
	}
	if (r >= 0)
		r = ops_remote_put(f->ops, k->node, &pe);
	fleet_endpoint_done(&pe);
	f->remote_changes += r > 0;
	return r;
}

struct keep_ctx {
	char *const *names; /* NODE/NAME, sorted */
	size_t n;
};

static bool keep_remote(const struct endpoint *e, void *userdata)
{
	const struct keep_ctx *c = userdata;

	return fleet_sorted_has(c->names, c->n, e->pe.name);
}

/* Removals that make the store hold exactly the listed policy keys (`listed`, sorted). */
static int policy_removals(struct fleet *f, char *const *listed, size_t n_listed,
			   struct ops_store_ref **ret, size_t *ret_n)
{
	const struct store *s = f->ops->store;
	struct ops_store_ref *dels =
		calloc(s->n_namespaces + s->n_netpols + s->n_cnps + s->n_nodes + 1, sizeof(*dels));
	size_t n = 0;

	if (!dels)
		return -ENOMEM;
#define SWEEP(arr, count, kind, ns_expr)                                                  \
	for (size_t i = 0; i < s->count; i++) {                                           \
		const char *ns_ = ns_expr;                                                \
		_cleanup_free_ char *key = fleet_policy_key(kind, ns_, s->arr[i]->name);  \
                                                                                          \
		if (!key) {                                                               \
			free(dels);                                                       \
			return -ENOMEM;                                                   \
		}                                                                         \
		if (!fleet_sorted_has(listed, n_listed, key))                             \
			dels[n++] = (struct ops_store_ref){ kind, ns_, s->arr[i]->name }; \
	}
	SWEEP(namespaces, n_namespaces, "Namespace", NULL)
	SWEEP(netpols, n_netpols, "NetworkPolicy", s->netpols[i]->namespace)
	SWEEP(cnps, n_cnps, "ClusterNetworkPolicy", NULL)
	SWEEP(nodes, n_nodes, "Node", NULL)
#undef SWEEP
	*ret = dels;
	*ret_n = n;
	return 0;
}

/* The whole prefix, read at `rev`: the model becomes what it says. Our own endpoint keys are
 * returned (names, sorted) for publish_all. */
static int apply_list(struct fleet *f, const struct etcd_kv *kvs, size_t n, int64_t rev,
		      struct strv *own)
{
	struct policy_objects *all = calloc(1, sizeof(*all));
	struct strv listed = { 0 }, remotes = { 0 };
	_cleanup_free_ struct ops_store_ref *dels = NULL;
	struct op_error err = { 0 };
	int64_t policy_rev = 0;
	size_t n_dels = 0;
	int r = all ? 0 : -ENOMEM;

	json_object_clear(f->status);
	json_object_clear(f->members);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		struct fleet_key k;
		struct policy_objects *o = NULL;

		fleet_key_parse(kvs[i].key, &k);
		switch (k.kind) {
		case FLEET_KEY_REVISION:
			if (kvs[i].mod_revision > policy_rev)
				policy_rev = kvs[i].mod_revision;
			break;
		case FLEET_KEY_POLICY:
			if (kvs[i].mod_revision > policy_rev)
				policy_rev = kvs[i].mod_revision;
			/* an invalid value keeps what is in force: listed, not put */
			r = fleet_strv_push(&listed, strdup(kvs[i].key));
			if (r >= 0 && policy_value(f, &kvs[i], &k, &o) >= 0)
				r = objects_append(all, o);
			break;
		case FLEET_KEY_ENDPOINT:
			if (streq(k.node, f->node)) {
				r = fleet_strv_push(own, strdup(k.name));
				break;
			}
			/* listed even when its value is refused: what was there stays */
			if (remote_put(f, &kvs[i], &k) == -ENOMEM) {
				r = -ENOMEM;
				break;
			}
			{
				char *q = NULL;

				r = asprintf(&q, "%s/%s", k.node, k.name) < 0
					    ? -ENOMEM
					    : fleet_strv_push(&remotes, q);
			}
			break;
		case FLEET_KEY_NODE:
			json_object_set_new(f->status, k.node, status_json(k.node, &kvs[i]));
			break;
		case FLEET_KEY_MEMBER:
			json_object_set_new(f->members, k.node, json_true());
			break;
		case FLEET_KEY_OTHER:
		case _FLEET_KEY_KIND_MAX:
		default:
			break;
		}
	}
	if (r >= 0) {
		fleet_strv_sort(listed.v, listed.n);
		fleet_strv_sort(remotes.v, remotes.n);
		fleet_strv_sort(own->v, own->n);
		r = policy_removals(f, listed.v, listed.n, &dels, &n_dels);
	}
	if (r >= 0) {
		struct keep_ctx keep = { remotes.v, remotes.n };

		f->remote_changes += ops_remote_prune(f->ops, keep_remote, &keep);
		r = ops_store_sync(f->ops, TAKE_PTR(all), dels, n_dels, &err);
		if (r < 0)
			fleet_set_error(f, "applying revision %" PRId64 ": %s", rev, err.message);
		op_error_done(&err);
	}
	policy_objects_free(all);
	fleet_strv_free(listed.v, listed.n);
	fleet_strv_free(remotes.v, remotes.n);
	if (r >= 0) {
		size_t updated = 0;

		(void)ops_fleet_reconcile(f->ops, &updated);
		if (policy_rev > f->policy_revision)
			f->policy_revision = policy_rev;
	}
	return r;
}

/* ---- following the store ---- */

void fleet_arm(struct fleet *f);
void fleet_dirty_add(struct fleet *f, const char *name);
static void on_watch_batch(const struct etcd_watch_batch *b, void *userdata);
static void on_watch_ended(int error, int64_t compact, const struct etcd_error *err,
			   void *userdata);

static const struct etcd_watch_ops watch_ops = {
	.batch = on_watch_batch,
	.ended = on_watch_ended,
};

/* Our lease, kept if it lives, else a new one (our keys under the old one are gone or go). */
static int lease_ensure(struct fleet *f)
{
	struct etcd_error err = { { 0 } };
	int64_t ttl = 0;
	int r;

	if (f->lease) {
		r = etcd_lease_keepalive(f->etcd, f->lease, &ttl, &err);
		if (r < 0) {
			fleet_set_error(f, "etcd %s: lease: %s", etcd_current_url(f->etcd),
					err.message);
			return r;
		}
		if (ttl > 0)
			return 0;
		log_warning("Fleet: lease of node %s expired: publishing again", f->node);
	}
	r = etcd_lease_grant(f->etcd, f->ttl_s, &f->lease, &err);
	if (r < 0)
		fleet_set_error(f, "etcd %s: lease: %s", etcd_current_url(f->etcd), err.message);
	return r;
}

/* Reads the whole prefix, makes the model what it says, publishes everything of ours, and
 * watches from there. */
static int relist(struct fleet *f)
{
	struct etcd_kv *kvs = NULL;
	struct etcd_error err = { { 0 } };
	struct strv own = { 0 };
	size_t n = 0;
	int64_t rev = 0;
	int r;

	etcd_watch_cancel(f->etcd);
	f->synced = false;
	r = etcd_range_prefix(f->etcd, FLEET_PREFIX, &kvs, &n, &rev, &err);
	if (r < 0) {
		fleet_set_error(f, "etcd %s: reading %s: %s", etcd_current_url(f->etcd),
				FLEET_PREFIX, err.message);
		return r;
	}
	r = lease_ensure(f);
	if (r >= 0)
		r = apply_list(f, kvs, n, rev, &own);
	etcd_kvs_free(kvs, n);
	if (r >= 0)
		r = fleet_publish_all(f, own.v, own.n);
	fleet_strv_free(own.v, own.n);
	if (r < 0)
		return r;
	f->revision = rev;
	r = etcd_watch(f->etcd, FLEET_PREFIX, rev + 1, &watch_ops, f);
	if (r < 0) {
		fleet_set_error(f, "etcd %s: watch: %s", etcd_current_url(f->etcd), strerror(-r));
		return r;
	}
	f->relists++;
	f->hb_revision = 0;
	f->hb_failures = 0;
	f->synced = true;
	f->status_due = false;
	f->error[0] = '\0';
	backoff_reset(&f->retry);
	f->next_heartbeat_usec = now_usec() + (uint64_t)f->ttl_s * 1000000 / 4;
	log_info("Fleet: node %s in sync with %s at revision %" PRId64 " (%zu key(s))", f->node,
		 etcd_current_url(f->etcd), rev, n);
	return 0;
}

/* The store cannot be reached, or our view cannot be trusted: a re-list after a backoff. The
 * model stays as it is (fail static). */
void fleet_lost(struct fleet *f)
{
	uint64_t delay;

	etcd_watch_cancel(f->etcd);
	if (f->synced || f->retry.failures == 0)
		log_warning("Fleet: %s: enforcing what this node has until the store answers",
			    f->error[0] ? f->error : "store lost");
	f->synced = false;
	delay = backoff_fail(&f->retry, now_usec());
	if (delay > RETRY_CAP_MS)
		f->retry.due_usec = now_usec() + RETRY_CAP_MS * 1000ull;
	fleet_arm(f);
}

static int try_relist(struct fleet *f)
{
	int r = relist(f);

	if (r == -ENOMEM)
		return r;
	if (r < 0)
		fleet_lost(f);
	else
		fleet_arm(f);
	return 0;
}

/* Whether kv is what this node publishes for its endpoint `name`, under its lease. */
static bool own_value_is(struct fleet *f, const struct etcd_kv *kv, const char *name)
{
	const struct endpoint *e = registry_get(f->ops->registry, name);
	_cleanup_free_ char *want = NULL;

	if (!e || e->kind == ENDPOINT_KIND_REMOTE || !endpoint_peer(e) || kv->lease != f->lease)
		return false;
	want = fleet_endpoint_format(&e->pe, f->node);
	return want && streq(want, kv->value);
}

static void on_watch_batch(const struct etcd_watch_batch *b, void *userdata)
{
	struct fleet *f = userdata;
	struct policy_objects *puts = NULL;
	struct fleet_key *keys = calloc(b->n_events + 1, sizeof(*keys));
	struct ops_store_ref *dels = calloc(b->n_events + 1, sizeof(*dels));
	int64_t policy_rev = 0;
	size_t n_dels = 0, updated = 0;
	int r = keys && dels ? 0 : -ENOMEM;

	for (size_t i = 0; r >= 0 && i < b->n_events; i++) {
		const struct etcd_event *ev = &b->events[i];
		struct fleet_key *k = &keys[i];
		bool put = ev->type == ETCD_EVENT_PUT;
		struct policy_objects *o = NULL;

		fleet_key_parse(ev->kv.key, k);
		switch (k->kind) {
		case FLEET_KEY_REVISION:
			policy_rev = ev->kv.mod_revision;
			break;
		case FLEET_KEY_POLICY:
			policy_rev = ev->kv.mod_revision;
			if (!put)
				dels[n_dels++] =
					(struct ops_store_ref){ k->kind_name,
								k->ns[0] ? k->ns : NULL, k->name };
			else if (policy_value(f, &ev->kv, k, &o) >= 0)
				r = puts || (puts = calloc(1, sizeof(*puts)))
					    ? objects_append(puts, o)
					    : -ENOMEM;
			break;
		case FLEET_KEY_ENDPOINT:
			if (streq(k->node, f->node)) {
				/* ours: only this node writes them. Removed (node delete) or
				 * written by someone else: written again as this node has it. */
				if (put ? !own_value_is(f, &ev->kv, k->name)
					: registry_get(f->ops->registry, k->name) != NULL)
					fleet_dirty_add(f, k->name);
				break;
			}
			if (put)
				r = remote_put(f, &ev->kv, k) == -ENOMEM ? -ENOMEM : 0;
			else
				f->remote_changes += ops_remote_del(f->ops, k->node, k->name);
			break;
		case FLEET_KEY_NODE:
			if (put)
				json_object_set_new(f->status, k->node,
						    status_json(k->node, &ev->kv));
			else
				json_object_del(f->status, k->node);
			if (!put && streq(k->node, f->node))
				f->status_due = true;
			if (put && streq(k->node, f->node) && ev->kv.mod_revision >= f->hb_revision)
				f->hb_seen = true;
			break;
		case FLEET_KEY_MEMBER:
			if (put)
				json_object_set_new(f->members, k->node, json_true());
			else
				json_object_del(f->members, k->node);
			if (!put && streq(k->node, f->node))
				f->status_due = true;
			break;
		case FLEET_KEY_OTHER:
		case _FLEET_KEY_KIND_MAX:
		default:
			break;
		}
	}
	if (r >= 0 && (puts || n_dels)) {
		struct op_error err = { 0 };

		r = ops_store_sync(f->ops, TAKE_PTR(puts), dels, n_dels, &err);
		if (r < 0)
			fleet_set_error(f, "applying revision %" PRId64 ": %s", b->revision,
					err.message);
		op_error_done(&err);
	}
	policy_objects_free(puts);
	free(keys);
	free(dels);
	if (r >= 0)
		r = ops_fleet_reconcile(f->ops, &updated);
	f->batches++;
	f->revision = b->revision;
	if (r < 0) {
		/* out of memory midway: the view cannot be trusted, read it all again */
		fleet_set_error(f, "out of memory following revision %" PRId64, b->revision);
		fleet_lost(f);
		return;
	}
	if (policy_rev > f->policy_revision)
		f->policy_revision = policy_rev;
}

static void on_watch_ended(int error, int64_t compact, const struct etcd_error *err, void *userdata)
{
	struct fleet *f = userdata;

	if (error == -ESTALE) {
		log_info("Fleet: revision %" PRId64 " was compacted (now %" PRId64 "): re-listing",
			 f->revision + 1, compact);
		f->synced = false;
		f->retry.due_usec = 0;
		fleet_arm(f);
		return;
	}
	fleet_set_error(f, "etcd %s: watch ended: %s", etcd_current_url(f->etcd),
			err && err->message[0] ? err->message : strerror(-error));
	/* Another member may carry on from where this one stopped; a gap we did not see would
	 * need a re-list, which the next failure brings. */
	if (f->synced && etcd_watch(f->etcd, FLEET_PREFIX, f->revision + 1, &watch_ops, f) >= 0 &&
	    f->retry.failures == 0) {
		f->retry.failures = 1; /* the next end re-lists */
		return;
	}
	fleet_lost(f);
}

/* ---- the timer: re-lists and heartbeats ---- */

void fleet_arm(struct fleet *f)
{
	uint64_t now = now_usec(), due = f->synced ? f->next_heartbeat_usec : f->retry.due_usec;

	(void)timer_fd_arm(f->timer_fd, due > now ? (due - now + 999) / 1000 : 1, false);
}

static int heartbeat(struct fleet *f)
{
	struct etcd_error err = { { 0 } };
	struct txn t = { 0 };
	int64_t ttl = 0;
	int r;

	r = etcd_lease_keepalive(f->etcd, f->lease, &ttl, &err);
	if (r < 0) {
		fleet_set_error(f, "etcd %s: lease: %s", etcd_current_url(f->etcd), err.message);
		return r;
	}
	if (ttl == 0) {
		fleet_set_error(f, "lease of node %s expired", f->node);
		return -ESTALE;
	}
	if (f->hb_revision && !f->hb_seen) {
		fleet_set_error(f,
				"etcd %s: the watch did not bring back this node's heartbeat of "
				"revision %" PRId64 " within %us",
				etcd_current_url(f->etcd), f->hb_revision, f->ttl_s / 4);
		return -EPIPE;
	}
	r = fleet_add_status(f, &t);
	if (r >= 0)
		r = fleet_txn_send(f, &t, &f->hb_revision);
	fleet_txn_done(&t);
	if (r >= 0) {
		f->hb_seen = false;
		f->retry.failures = 0;
		f->status_due = false;
	}
	return r;
}

static int on_timer(struct watch *w, uint32_t events)
{
	struct fleet *f = container_of(w, struct fleet, timer_watch);
	int r;

	(void)timer_fd_ack(f->timer_fd);
	if (!f->synced)
		return try_relist(f);
	if (now_usec() < f->next_heartbeat_usec) {
		fleet_arm(f);
		return 0;
	}
	f->next_heartbeat_usec = now_usec() + (uint64_t)f->ttl_s * 1000000 / 4;
	r = heartbeat(f);
	if (r == -ENOMEM)
		return r;
	/* A heartbeat that did not get through (a leader election, a member going down) is
	 * tried again soon while the watch goes on: the lease outlives a few of them, and one
	 * that expired meanwhile is seen by the next (then a re-list). */
	if (r < 0 && r != -ESTALE && r != -EPIPE && ++f->hb_failures < HEARTBEAT_TRIES) {
		log_warning("Fleet: %s: heartbeat tried again in 1s", f->error);
		f->next_heartbeat_usec = now_usec() + 1000000;
		fleet_arm(f);
		return 0;
	}
	if (r < 0)
		fleet_lost(f);
	else {
		f->hb_failures = 0;
		fleet_arm(f);
	}
	return 0;
}

/* ---- lifecycle ---- */

int fleet_new(struct loop *loop, struct ops *ops, const struct fleet_config *s, struct fleet **ret)
{
	_cleanup_free_ char *why = NULL;
	struct fleet *f = calloc(1, sizeof(*f));
	struct etcd_config cfg;
	int r;

	if (!f)
		return -ENOMEM;
	f->loop = loop;
	f->ops = ops;
	f->timer_fd = -1;
	f->ttl_s = s->ttl_s;
	f->started = time(NULL);
	f->node = strdup(s->node);
	f->status = json_object();
	f->members = json_object();
	r = f->node && f->status && f->members ? 0 : -ENOMEM;
	if (r >= 0)
		r = fleet_store_urls(s->store, &f->urls, &f->n_urls, &why);
	if (r >= 0) {
		cfg = (struct etcd_config){ .urls = (const char *const *)f->urls,
					    .n_urls = f->n_urls,
					    .cacert = s->cacert,
					    .cert = s->cert,
					    .key = s->key,
					    .connect_timeout_ms = CONNECT_TIMEOUT_MS,
					    .request_timeout_ms = REQUEST_TIMEOUT_MS };
		r = etcd_new(loop, &cfg, &f->etcd);
	}
	if (r >= 0) {
		f->timer_fd = timer_fd_new();
		r = f->timer_fd < 0
			    ? f->timer_fd
			    : loop_add(loop, &f->timer_watch, f->timer_fd, EPOLLIN, on_timer);
	}
	if (r < 0) {
		if (why)
			log_error("%s", why);
		fleet_free(f);
		return r;
	}
	f->vt = (struct ops_fleet){ .store_write = fleet_store_write,
				    .view = fleet_view,
				    .node_delete = fleet_node_delete,
				    .node = f->node,
				    .userdata = f };
	ops->fleet = &f->vt;
	ops->rc->peer_changed = fleet_on_peer_changed;
	ops->rc->peer_userdata = f;
	audit_set_node(ops->audit, f->node);
	*ret = f;
	return 0;
}

struct fleet *fleet_free(struct fleet *f)
{
	if (!f)
		return NULL;
	if (f->ops && f->ops->fleet == &f->vt) {
		f->ops->fleet = NULL;
		f->ops->rc->peer_changed = NULL;
		audit_set_node(f->ops->audit, NULL);
	}
	loop_remove(&f->timer_watch);
	safe_close(f->timer_fd);
	f->etcd = etcd_free(f->etcd);
	fleet_store_urls_free(f->urls, f->n_urls);
	fleet_strv_free(f->dirty, f->n_dirty);
	json_decref(f->status);
	json_decref(f->members);
	free(f->node);
	free(f);
	return NULL;
}

int fleet_start(struct fleet *f)
{
	int r;

	log_info("Fleet: node %s, store %zu URL(s) starting with %s, node TTL %us", f->node,
		 f->n_urls, f->urls[0], f->ttl_s);
	/* Before the first reconcile: other nodes' endpoints are peers in the plans it commits
	 * (the tables re-adopted from the kernel have them), not dropped and added back. */
	r = try_relist(f);
	return r == -ENOMEM ? r : 0;
}
