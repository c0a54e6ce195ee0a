/* SPDX-License-Identifier: MIT */
/*
 * The manager owns all state: endpoints, namespaces, policies, and what each endpoint's
 * namespace holds in the kernel. Every change follows one pattern:
 *
 *   snapshot the model -> change it -> reconcile (compile every plan, commit the ones that
 *   changed, one atomic netlink transaction per namespace) -> persist -> acknowledge
 *
 * and on any failure restores the snapshot and reconciles again, so that a failed request
 * changes nothing. The kernel never lacks a table for a registered endpoint: replacement is a
 * single transaction, and a crash leaves the tables (PERSIST) for the next start to adopt.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "api.h"
#include "audit.h"
#include "engine.h"
#include "explain.h"
#include "flows.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "manager-internal.h"
#include "netns.h"
#include "nft.h"
#include "rules.h"
#include "state.h"

#define DEBOUNCE_MS 50
#define PERIODIC_MS 2000

static const char *const state_names[_ENDPOINT_STATE_MAX] = {
	[ENDPOINT_PENDING] = "pending",
	[ENDPOINT_ENFORCED] = "enforced",
	[ENDPOINT_ERROR] = "error",
	[ENDPOINT_UNENFORCEABLE] = "unenforceable",
};

const char *endpoint_state_to_string(enum endpoint_state s)
{
	return s < _ENDPOINT_STATE_MAX ? state_names[s] : "unknown";
}

void op_error_done(struct op_error *e)
{
	free(e->message);
	policy_diags_done(&e->diags);
	*e = (struct op_error){ 0 };
}

int op_error_set(struct op_error *e, int status, int r, const char *fmt, ...)
{
	va_list ap;

	free(e->message);
	e->message = NULL;
	e->status = status;
	va_start(ap, fmt);
	if (vasprintf(&e->message, fmt, ap) < 0)
		e->message = NULL;
	va_end(ap);
	return r < 0 ? r : -EINVAL;
}

void manager_record_error(struct manager *m, const char *fmt, ...)
{
	size_t i = m->n_errors_total++ % MANAGER_MAX_ERRORS;
	va_list ap;

	free(m->errors[i].message);
	m->errors[i].time = time(NULL);
	va_start(ap, fmt);
	if (vasprintf(&m->errors[i].message, fmt, ap) < 0)
		m->errors[i].message = NULL;
	va_end(ap);
}

/* ---- endpoints ------------------------------------------------------------------------------ */

static void policy_endpoint_done(struct policy_endpoint *pe)
{
	free(pe->name);
	free(pe->namespace);
	policy_labels_done(&pe->labels);
	free(pe->addrs);
	for (size_t i = 0; i < pe->n_ports; i++)
		free(pe->ports[i].name);
	free(pe->ports);
	*pe = (struct policy_endpoint){ 0 };
}

void endpoint_close(struct endpoint *e)
{
	loop_remove(&e->mon_watch);
	e->mon_fd = safe_close(e->mon_fd);
	loop_remove(&e->ev_watch);
	e->ev.fd = safe_close(e->ev.fd);
	loop_remove(&e->log_watch);
	e->log_fd = safe_close(e->log_fd);
	e->nft = nft_sock_free(e->nft);
	e->nsfd = safe_close(e->nsfd);
}

struct endpoint *endpoint_free(struct endpoint *e)
{
	if (!e)
		return NULL;
	endpoint_close(e);
	endpoint_containers_done(e);
	policy_endpoint_done(&e->pe);
	policy_plan_free(e->installed);
	free(e->netns);
	free(e->error);
	free(e);
	return NULL;
}

void endpoint_set_error(struct endpoint *e, enum endpoint_state state, const char *fmt, ...)
{
	va_list ap;

	free(e->error);
	e->error = NULL;
	e->state = state;
	va_start(ap, fmt);
	if (vasprintf(&e->error, fmt, ap) < 0)
		e->error = NULL;
	va_end(ap);
}

void arm_debounce(struct manager *m)
{
	if (m->debounce_armed)
		return;
	if (timer_fd_arm(m->debounce_fd, DEBOUNCE_MS, false) >= 0)
		m->debounce_armed = true;
}

static bool endpoint_live(const struct endpoint *e)
{
	return e->nft != NULL;
}

/* ---- drift: someone else changed our table (possible only without the owner flag) ---- */

/* Replaces e's table with what segd computes, whatever the kernel holds now. */
static void drift_repair(struct endpoint *e, const char *why)
{
	struct manager *m = e->manager;
	size_t n = 0;
	int r;

	e->installed = policy_plan_free(e->installed);
	e->dirty = true;
	r = reconcile_marked(m, &n);
	if (r == 0 && e->state == ENDPOINT_ENFORCED && e->installed) {
		m->stats.drift_repairs++;
		log_warning("Endpoint %s: %s; its table was replaced", e->pe.name, why);
		manager_record_error(m, "endpoint %s: %s; repaired", e->pe.name, why);
	} else
		log_error("Endpoint %s: %s, and its table could not be replaced: %s", e->pe.name, why,
			  e->error ? e->error : "out of memory");
}

struct drift_ctx {
	struct endpoint *e;
	char why[160];
};

static int on_nft_gen(const struct nft_gen_event *g, void *data)
{
	struct drift_ctx *c = data;

	if (!g->touched || g->pid == getpid())
		return 0;	/* not our table, or our own commit */
	c->e->manager->stats.drift_detected++;
	snprintf(c->why, sizeof(c->why), "table inet %s changed by pid %d (%s), generation %u",
		 POLICY_NFT_TABLE, (int)g->pid, g->comm[0] ? g->comm : "?", g->genid);
	return 0;
}

static int on_nft_event(struct watch *w, uint32_t events)
{
	struct endpoint *e = container_of(w, struct endpoint, ev_watch);
	struct drift_ctx c = { .e = e };
	int r;

	r = nft_events_read(&e->ev, on_nft_gen, &c);
	if (r < 0) {
		json_t *o = NULL;
		bool in_sync = false;

		/* Events were lost: compare the table with the plan instead. */
		e->manager->stats.event_overruns++;
		log_debug_errno(r, "Endpoint %s: nf_tables events lost (%m), checking its table",
				e->pe.name);
		if (e->nft && e->installed && nft_rules_json(e->nft, e->installed, &o, &in_sync) >= 0 &&
		    in_sync) {
			json_decref(o);
			return 0;
		}
		json_decref(o);
		if (!c.why[0])
			snprintf(c.why, sizeof(c.why), "table inet %s differs from the plan after lost "
				 "nf_tables events", POLICY_NFT_TABLE);
	}
	if (!c.why[0] || !endpoint_live(e))
		return 0;
	if (e->manager->cfg.drift_report_only) {
		/* Left as found (--drift report): visible in status, check and rules. */
		log_warning("Endpoint %s: %s; not repaired (--drift report)", e->pe.name, c.why);
		manager_record_error(e->manager, "endpoint %s: %s; not repaired", e->pe.name, c.why);
		endpoint_set_error(e, ENDPOINT_ERROR, "%s; not repaired (--drift report)", c.why);
		return 0;
	}
	drift_repair(e, c.why);
	return 0;
}

static int on_flow_event(struct watch *w, uint32_t events)
{
	struct endpoint *e = container_of(w, struct endpoint, log_watch);
	int r = flows_read(e->manager, e);

	if (r < 0)
		log_debug_errno(r, "Endpoint %s: reading flow logs: %m", e->pe.name);
	return 0;
}

static int on_addr_event(struct watch *w, uint32_t events)
{
	struct endpoint *e = container_of(w, struct endpoint, mon_watch);
	int r;

	r = addr_monitor_drain(e->mon_fd);
	if (r == -ENOBUFS || r > 0) {
		e->addrs_dirty = true;
		arm_debounce(e->manager);
	} else if (r < 0)
		log_warning_errno(r, "Failed to read address events of %s, ignoring: %m", e->pe.name);
	return 0;
}

/* Takes nsfd (a pinned namespace), opens our nftables socket and the address monitor in it,
 * and reads the addresses. On failure nothing is left open, nsfd included. */
int endpoint_attach(struct endpoint *e, int nsfd)
{
	struct manager *m = e->manager;
	struct policy_addr *addrs = NULL;
	size_t n_addrs = 0;
	int r;

	e->nsfd = nsfd;
	r = netns_inode(e->nsfd, &e->ns_ino);
	if (r >= 0)
		r = nft_sock_open(e->nsfd, &e->nft);
	if (r >= 0)
		r = addr_monitor_open(e->nsfd, &e->mon_fd);
	if (r >= 0)
		r = loop_add(m->loop, &e->mon_watch, e->mon_fd, EPOLLIN, on_addr_event);
	if (r >= 0 && m->drift_watch) {
		r = nft_events_open(e->nsfd, &e->ev.fd);
		if (r >= 0)
			r = loop_add(m->loop, &e->ev_watch, e->ev.fd, EPOLLIN, on_nft_event);
	}
	if (r >= 0 && m->cfg.flow_log != POLICY_FLOW_LOG_NONE) {
		int k = flows_socket_open(e->nsfd, &e->log_fd);

		/* Not fatal: enforcement does not depend on it (EBUSY: the group is taken). */
		if (k < 0)
			log_warning_errno(k, "Endpoint %s: no flow logs from netns %s: %m", e->pe.name,
					  e->netns);
		else
			r = loop_add(m->loop, &e->log_watch, e->log_fd, EPOLLIN, on_flow_event);
	}
	/* Subscribe before reading, so that no change falls between the two. */
	if (r >= 0)
		r = addr_read(e->nsfd, &addrs, &n_addrs);
	if (r < 0) {
		endpoint_close(e);
		return r;
	}
	free(e->pe.addrs);
	e->pe.addrs = addrs;
	e->pe.n_addrs = n_addrs;
	return 0;
}

int endpoint_new(struct manager *m, const char *name, const char *netns, const char *ns,
			struct endpoint **ret)
{
	struct endpoint *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->manager = m;
	e->nsfd = e->mon_fd = e->ev.fd = e->log_fd = -1;
	e->state = ENDPOINT_PENDING;
	e->pe.name = strdup(name);
	e->pe.namespace = strdup(ns);
	e->netns = strdup(netns);
	if (!e->pe.name || !e->pe.namespace || !e->netns) {
		endpoint_free(e);
		return -ENOMEM;
	}
	*ret = e;
	return 0;
}

/* By name, else by container id or unique id prefix (4 or more hex digits). */
/* The index of the first endpoint whose name is not below `name` (m->endpoints is sorted). */
static size_t endpoints_lower_bound(struct manager *m, const char *name)
{
	size_t lo = 0, hi = m->n_endpoints;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(m->endpoints[mid]->pe.name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct endpoint *manager_find_endpoint(struct manager *m, const char *name)
{
	struct endpoint *found = NULL;
	size_t len = strlen(name), k = endpoints_lower_bound(m, name);

	if (k < m->n_endpoints && streq(m->endpoints[k]->pe.name, name))
		return m->endpoints[k];
	if (len < 4 || strspn(name, "0123456789abcdef") != len)
		return NULL;
	for (size_t i = 0; i < m->n_endpoints; i++)
		for (size_t j = 0; j < m->endpoints[i]->n_containers; j++)
			if (strncmp(m->endpoints[i]->containers[j].id, name, len) == 0) {
				if (found && found != m->endpoints[i])
					return NULL;	/* ambiguous */
				found = m->endpoints[i];
			}
	return found;
}

int endpoints_insert(struct manager *m, struct endpoint *e)
{
	struct endpoint **p = reallocarray(m->endpoints, m->n_endpoints + 1, sizeof(*p));
	size_t k;

	if (!p)
		return -ENOMEM;
	m->endpoints = p;
	k = endpoints_lower_bound(m, e->pe.name);
	memmove(&m->endpoints[k + 1], &m->endpoints[k], (m->n_endpoints - k) * sizeof(*p));
	m->endpoints[k] = e;
	m->n_endpoints++;
	return 0;
}

void endpoints_reposition(struct manager *m, struct endpoint *e)
{
	size_t k;

	for (size_t i = 0; i < m->n_endpoints; i++)
		if (m->endpoints[i] == e) {
			memmove(&m->endpoints[i], &m->endpoints[i + 1],
				(m->n_endpoints - i - 1) * sizeof(*m->endpoints));
			m->n_endpoints--;
			k = endpoints_lower_bound(m, e->pe.name);
			memmove(&m->endpoints[k + 1], &m->endpoints[k],
				(m->n_endpoints - k) * sizeof(*m->endpoints));
			m->endpoints[k] = e;
			m->n_endpoints++;
			return;
		}
}

void endpoints_remove(struct manager *m, struct endpoint *e)
{
	for (size_t i = 0; i < m->n_endpoints; i++)
		if (m->endpoints[i] == e) {
			memmove(&m->endpoints[i], &m->endpoints[i + 1],
				(m->n_endpoints - i - 1) * sizeof(*m->endpoints));
			m->n_endpoints--;
			return;
		}
}

/* The watch of a removed endpoint may be in the current dispatch round: free it later. */
int bury(struct manager *m, struct endpoint *e)
{
	struct endpoint **p;

	loop_remove(&e->mon_watch);
	loop_remove(&e->ev_watch);
	loop_remove(&e->log_watch);
	p = reallocarray(m->dead, m->n_dead + 1, sizeof(*p));
	if (!p) {
		/* Keep it alive (leak) rather than risk a use after free. */
		return -ENOMEM;
	}
	m->dead = p;
	m->dead[m->n_dead++] = e;
	return 0;
}

/* ---- model snapshots ------------------------------------------------------------------------ */

struct snapshot {
	struct policy_namespace **namespaces;
	size_t n_namespaces;
	struct policy_netpol **netpols;
	size_t n_netpols;
};

static int snapshot_take(struct manager *m, struct snapshot *s)
{
	*s = (struct snapshot){ .n_namespaces = m->n_namespaces, .n_netpols = m->n_netpols };
	s->namespaces = calloc(m->n_namespaces + 1, sizeof(*s->namespaces));
	s->netpols = calloc(m->n_netpols + 1, sizeof(*s->netpols));
	if (!s->namespaces || !s->netpols) {
		free(s->namespaces);
		free(s->netpols);
		return -ENOMEM;
	}
	memcpy_safe(s->namespaces, m->namespaces, m->n_namespaces * sizeof(*s->namespaces));
	memcpy_safe(s->netpols, m->netpols, m->n_netpols * sizeof(*s->netpols));
	return 0;
}

static bool has_ptr(void *const *a, size_t n, const void *p)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] == p)
			return true;
	return false;
}

/* Keeps the current model: frees the objects only the snapshot had. */
static void snapshot_commit(struct manager *m, struct snapshot *s)
{
	for (size_t i = 0; i < s->n_namespaces; i++)
		if (!has_ptr((void *const *)m->namespaces, m->n_namespaces, s->namespaces[i]))
			policy_namespace_free(s->namespaces[i]);
	for (size_t i = 0; i < s->n_netpols; i++)
		if (!has_ptr((void *const *)m->netpols, m->n_netpols, s->netpols[i]))
			policy_netpol_free(s->netpols[i]);
	free(s->namespaces);
	free(s->netpols);
	*s = (struct snapshot){ 0 };
}

/* Restores the snapshot: frees the objects only the current model had. */
static void snapshot_restore(struct manager *m, struct snapshot *s)
{
	for (size_t i = 0; i < m->n_namespaces; i++)
		if (!has_ptr((void *const *)s->namespaces, s->n_namespaces, m->namespaces[i]))
			policy_namespace_free(m->namespaces[i]);
	for (size_t i = 0; i < m->n_netpols; i++)
		if (!has_ptr((void *const *)s->netpols, s->n_netpols, m->netpols[i]))
			policy_netpol_free(m->netpols[i]);
	free(m->namespaces);
	free(m->netpols);
	m->namespaces = s->namespaces;
	m->n_namespaces = s->n_namespaces;
	m->netpols = s->netpols;
	m->n_netpols = s->n_netpols;
	*s = (struct snapshot){ 0 };
}

/* Marks the endpoints whose plans the model change since `s` can touch: those selected by a
 * policy that was added, changed or removed; everything when a namespace's labels changed. */
static void mark_model_changes(struct manager *m, const struct snapshot *s)
{
	for (size_t i = 0; i < m->n_namespaces; i++)
		if (!has_ptr((void *const *)s->namespaces, s->n_namespaces, m->namespaces[i]))
			m->all_dirty = true;
	for (size_t i = 0; i < s->n_namespaces; i++)
		if (!has_ptr((void *const *)m->namespaces, m->n_namespaces, s->namespaces[i]))
			m->all_dirty = true;
	if (m->all_dirty)
		return;
	for (size_t i = 0; i < m->n_netpols; i++)
		if (!has_ptr((void *const *)s->netpols, s->n_netpols, m->netpols[i]))
			mark_selected_by(m, m->netpols[i]);
	for (size_t i = 0; i < s->n_netpols; i++)
		if (!has_ptr((void *const *)m->netpols, m->n_netpols, s->netpols[i]))
			mark_selected_by(m, s->netpols[i]);
}

static int cmp_namespace(const void *a, const void *b)
{
	return strcmp((*(struct policy_namespace *const *)a)->name,
		      (*(struct policy_namespace *const *)b)->name);
}

static int cmp_netpol(const void *a, const void *b)
{
	const struct policy_netpol *x = *(struct policy_netpol *const *)a;
	const struct policy_netpol *y = *(struct policy_netpol *const *)b;
	int c = strcmp(x->namespace, y->namespace);

	return c ? c : strcmp(x->name, y->name);
}

static ssize_t find_netpol(struct manager *m, const char *ns, const char *name)
{
	for (size_t i = 0; i < m->n_netpols; i++)
		if (streq(m->netpols[i]->namespace, ns) && streq(m->netpols[i]->name, name))
			return (ssize_t)i;
	return -1;
}

static ssize_t find_namespace(struct manager *m, const char *name)
{
	for (size_t i = 0; i < m->n_namespaces; i++)
		if (streq(m->namespaces[i]->name, name))
			return (ssize_t)i;
	return -1;
}

/* ---- reconcile ------------------------------------------------------------------------------ */

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

/*
 * Compiles every live endpoint's plan and commits the ones that differ from what its namespace
 * holds. Returns the number of namespaces that failed (0 = all enforced), or -ENOMEM.
 * *ret_updated counts the namespaces committed.
 */
/* The endpoints that can be peers: live, and with known labels (a dead endpoint's address may
 * be reused by anyone; a quarantined one has no labels to match). `eps` has room for all. */
static void world_build(struct manager *m, struct policy_endpoint **eps, struct policy_world *w)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n_endpoints; i++)
		if (endpoint_live(m->endpoints[i]) && !m->endpoints[i]->quarantined)
			eps[n++] = &m->endpoints[i]->pe;
	*w = (struct policy_world){
		.namespaces = m->namespaces,
		.n_namespaces = m->n_namespaces,
		.netpols = m->netpols,
		.n_netpols = m->n_netpols,
		.endpoints = eps,
		.n_endpoints = n,
	};
}

void mark_selected_by(struct manager *m, const struct policy_netpol *p)
{
	for (size_t i = 0; i < m->n_endpoints; i++)
		if (!m->endpoints[i]->dirty && policy_netpol_selects(p, &m->endpoints[i]->pe))
			m->endpoints[i]->dirty = true;
}

void mark_peers_of(struct manager *m, const struct policy_endpoint *x)
{
	_cleanup_free_ struct policy_endpoint **eps = calloc(m->n_endpoints + 1, sizeof(*eps));
	struct policy_world w;

	if (!eps) {
		m->all_dirty = true;	/* cannot tell: recompile everything */
		return;
	}
	world_build(m, eps, &w);
	for (size_t i = 0; i < m->n_netpols; i++)
		if (policy_netpol_references(&w, m->netpols[i], x))
			mark_selected_by(m, m->netpols[i]);
}

DEFINE_CLEANUP(struct policy_compile_cache *, policy_compile_cache_free);

/* The plan of every live endpoint under the current model (NULL for the others), as the next
 * reconcile would compute it; nothing is committed. */
int manager_compile_all(struct manager *m, struct policy_plan ***ret)
{
	_cleanup_free_ struct policy_endpoint **eps = calloc(m->n_endpoints + 1, sizeof(*eps));
	_cleanup_(policy_compile_cache_freep) struct policy_compile_cache *cache = NULL;
	struct policy_plan **plans = calloc(m->n_endpoints + 1, sizeof(*plans));
	struct policy_world w;
	int r = 0;

	if (!eps || !plans) {
		free(plans);
		return -ENOMEM;
	}
	world_build(m, eps, &w);
	if (policy_compile_cache_new(&w, &cache) < 0) {
		free(plans);
		return -ENOMEM;
	}
	for (size_t i = 0; r >= 0 && i < m->n_endpoints; i++) {
		struct endpoint *e = m->endpoints[i];

		if (!endpoint_live(e))
			continue;
		r = e->quarantined ? deny_all_plan(e->pe.name, m->cfg.deny, &plans[i])
				   : policy_compile_cached(cache, &e->pe, m->cfg.deny, &plans[i]);
	}
	if (r < 0) {
		manager_plans_free(m, plans);
		return r;
	}
	*ret = plans;
	return 0;
}

void manager_plans_free(struct manager *m, struct policy_plan **plans)
{
	for (size_t i = 0; plans && i < m->n_endpoints; i++)
		policy_plan_free(plans[i]);
	free(plans);
}

/* Brings the kernel of one endpoint to `plan` (taking it): by set elements alone when only
 * those changed, else by replacing the table in one transaction. */
static int commit_plan(struct manager *m, struct endpoint *e, struct policy_plan *plan,
		       struct nft_error *nerr)
{
	struct nft_stats before, after;
	bool incremental = false;
	int r = -ESTALE;

	nft_sock_stats(e->nft, &before);
	if (e->installed && policy_plan_same_shape(e->installed, plan)) {
		r = nft_update_elements(e->nft, e->installed, plan, nerr);
		incremental = r >= 0;
		if (r < 0 && r != -ESTALE)
			log_debug_errno(r, "Incremental update of %s failed, replacing its table: %m",
					e->pe.name);
	}
	if (r < 0) {
		*nerr = (struct nft_error){ 0 };
		r = nft_replace_table(e->nft, plan, m->table_flags, nerr);
	}
	nft_sock_stats(e->nft, &after);
	m->last.batches += after.batches - before.batches;
	m->last.messages += after.messages - before.messages;
	m->last.bytes += after.bytes - before.bytes;
	if (r >= 0) {
		m->last.namespaces++;
		m->last.incremental += incremental;
	}
	return r;
}

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * Compiles the plans of the marked endpoints (all of them after reconcile()) and commits the
 * ones that differ from what their namespace holds. Returns the number of namespaces that
 * failed (0 = all enforced), or -ENOMEM. *ret_updated counts the namespaces committed.
 */
int reconcile_marked(struct manager *m, size_t *ret_updated)
{
	_cleanup_free_ struct policy_endpoint **eps = NULL;
	_cleanup_(policy_compile_cache_freep) struct policy_compile_cache *cache = NULL;
	struct policy_world w;
	uint64_t t0 = now_usec();
	size_t updated = 0;
	int failed = 0;

	eps = calloc(m->n_endpoints + 1, sizeof(*eps));
	if (!eps)
		return -ENOMEM;
	world_build(m, eps, &w);
	if (policy_compile_cache_new(&w, &cache) < 0)
		return -ENOMEM;
	m->last = (struct change_stats){ 0 };

	for (size_t i = 0; i < m->n_endpoints; i++) {
		struct endpoint *e = m->endpoints[i];
		struct policy_plan *plan = NULL;
		struct nft_error nerr = { 0 };
		int r;

		if (!endpoint_live(e) || (!m->all_dirty && !e->dirty && e->installed))
			continue;
		e->dirty = false;
		if (e->quarantined)
			r = deny_all_plan(e->pe.name, m->cfg.deny, &plan);
		else
			r = policy_compile_cached(cache, &e->pe, m->cfg.deny, &plan);
		if (r < 0) {
			e->dirty = true;
			return r;
		}
		m->last.compiled++;
		if (e->installed && policy_plan_equal(plan, e->installed)) {
			policy_plan_free(plan);
			if (e->state == ENDPOINT_PENDING ||
			    (e->state == ENDPOINT_ERROR && !e->quarantined)) {
				/* A previous failure left the old table; it is current again. */
				e->state = ENDPOINT_ENFORCED;
				free(e->error);
				e->error = NULL;
			}
			continue;
		}
		r = commit_plan(m, e, plan, &nerr);
		m->commits++;
		if (r < 0) {
			m->commit_errors++;
			e->dirty = true;	/* try again with the next change */
			endpoint_set_error(e, ENDPOINT_ERROR, "kernel refused ruleset: %s%s%s",
					   strerror(-r), nerr.message[0] ? ": " : "", nerr.message);
			manager_record_error(m, "endpoint %s: %s", e->pe.name, e->error);
			log_error_errno(r, "Failed to commit ruleset of %s (netns %s): %m", e->pe.name,
					e->netns);
			policy_plan_free(plan);
			failed++;
			continue;
		}
		log_debug("Committed ruleset of %s: %zu sets, %zu rules", e->pe.name, plan->n_sets,
			  plan->n_rules);
		policy_plan_free(e->installed);
		e->installed = plan;
		/* A quarantined endpoint with a reason (bad labels) stays in error, enforced as
		 * default-deny; one merely waiting for its labels is enforced. */
		if (!(e->quarantined && e->state == ENDPOINT_ERROR)) {
			e->state = ENDPOINT_ENFORCED;
			free(e->error);
			e->error = NULL;
		}
		updated++;
	}
	m->all_dirty = false;
	m->last.usec = now_usec() - t0;
	metrics_observe(&m->stats.reconcile, (double)m->last.usec / 1e6);
	m->total.namespaces += m->last.namespaces;
	m->total.incremental += m->last.incremental;
	m->total.compiled += m->last.compiled;
	m->total.batches += m->last.batches;
	m->total.messages += m->last.messages;
	m->total.bytes += m->last.bytes;
	m->total.usec += m->last.usec;
	if (m->last.namespaces > 0 || failed > 0)
		log_debug("Change: %" PRIu64 " plan(s) compiled, %" PRIu64 " namespace(s) committed "
			  "(%" PRIu64 " by set elements alone), %" PRIu64 " message(s), %" PRIu64
			  " byte(s), %" PRIu64 " us", m->last.compiled, m->last.namespaces,
			  m->last.incremental, m->last.messages, m->last.bytes, m->last.usec);
	if (ret_updated)
		*ret_updated = updated;
	return failed;
}

int reconcile(struct manager *m, size_t *ret_updated)
{
	m->all_dirty = true;
	return reconcile_marked(m, ret_updated);
}

/* After a failed change was rolled back: bring every namespace back to the restored model. */
void reconcile_after_rollback(struct manager *m)
{
	int r = reconcile(m, NULL);

	if (r != 0)
		log_error("Failed to restore %d namespace(s) after a rollback; they keep their "
			  "last committed ruleset and are marked as error", r < 0 ? -1 : r);
}

/* Reconcile what the caller marked + persist (everything, or only endpoint `e` when given);
 * on failure the caller restores its snapshot. */
static int commit_with(struct manager *m, const struct endpoint *e, bool removed,
		       size_t *ret_updated, struct op_error *err)
{
	int r;

	r = reconcile_marked(m, ret_updated);
	if (r < 0)
		return op_error_set(err, 500, r, "out of memory while compiling");
	if (r > 0) {
		/* Name the first failing endpoint: that is what the user must look at. */
		for (size_t i = 0; i < m->n_endpoints; i++)
			if (m->endpoints[i]->state == ENDPOINT_ERROR && m->endpoints[i]->error)
				return op_error_set(err, 500, -EIO,
						    "change not applied: endpoint %s: %s",
						    m->endpoints[i]->pe.name, m->endpoints[i]->error);
		return op_error_set(err, 500, -EIO, "change not applied: the kernel refused it");
	}
	/* The record is written before anything can acknowledge the change. */
	r = audit_commit(m->audit);
	if (r < 0)
		return op_error_set(err, 500, r, "change not applied: cannot write the audit log: %s",
				    strerror(-r));
	r = e ? state_record_endpoint(m, e, removed) : state_save(m);
	if (r < 0) {
		op_error_set(err, 500, r, "change not applied: cannot write state in %s: %s",
			     m->cfg.state_dir, strerror(-r));
		audit_rolled_back(m->audit, err->message);
		return r;
	}
	return 0;
}

static json_t *json_from_text(char *text)
{
	json_t *o = text ? json_loads(text, 0, NULL) : NULL;

	free(text);
	return o;
}

static json_t *netpol_json(const struct policy_netpol *p)
{
	return p ? json_from_text(policy_netpol_to_json(p)) : NULL;
}

static json_t *namespace_json(const struct policy_namespace *n)
{
	return n ? json_from_text(policy_namespace_to_json(n)) : NULL;
}

int commit_change(struct manager *m, size_t *ret_updated, struct op_error *err)
{
	return commit_with(m, NULL, false, ret_updated, err);
}

/* ---- policy operations ---------------------------------------------------------------------- */

static json_t *object_ref(const char *kind, const char *ns, const char *name, const char *action)
{
	json_t *o = json_pack("{s:s, s:s}", "kind", kind, "name", name);

	if (o && ns)
		json_object_set_new(o, "namespace", json_string(ns));
	if (o && action)
		json_object_set_new(o, "action", json_string(action));
	return o;
}

static int parse_input(const char *file, const char *text, size_t len,
		       struct policy_objects **ret, struct op_error *err)
{
	int r;

	r = policy_parse(file, text, len, ret, &err->diags);
	if (r == -EBADMSG)
		return op_error_set(err, 400, r, "%s: %zu error(s), nothing applied", file,
				    err->diags.n);
	if (r < 0)
		return op_error_set(err, 500, r, "%s: %s", file, strerror(-r));
	return 0;
}

enum { PUT_UNCHANGED, PUT_CONFIGURED, PUT_CREATED };
static const char *const put_action[] = { "unchanged", "configured", "created" };

/* Puts *objp at index k of `array` (replacing what was there) or appends it (k < 0), taking
 * ownership (*objp = NULL) unless `same`. Evaluates to PUT_* or -ENOMEM. A macro, so that it
 * works on arrays of any object type without casts. */
#define MODEL_PUT(array, n, k, same, objp)                                            \
	({                                                                             \
		int _r = PUT_UNCHANGED;                                                \
		if (!(same) && (k) >= 0) {                                             \
			(array)[k] = *(objp);                                          \
			*(objp) = NULL;                                                \
			_r = PUT_CONFIGURED;                                           \
		} else if (!(same)) {                                                  \
			__typeof__(array) _p = reallocarray((array), (n) + 1, sizeof(*_p)); \
			if (!_p)                                                       \
				_r = -ENOMEM;                                          \
			else {                                                         \
				(array) = _p;                                          \
				(array)[(n)++] = *(objp);                              \
				*(objp) = NULL;                                        \
				_r = PUT_CREATED;                                      \
			}                                                              \
		}                                                                      \
		_r;                                                                    \
	})

enum apply_mode { APPLY, APPLY_DRY_RUN, APPLY_DIFF };

static int apply_objects(struct manager *m, const char *file, const char *text, size_t len,
			 enum apply_mode mode, json_t **ret, struct op_error *err)
{
	struct policy_objects *objs = NULL;
	struct snapshot snap;
	json_auto_t *applied = NULL, *diff = NULL;
	bool dry_run = mode != APPLY, audit = mode == APPLY && audit_active(m->audit);
	size_t updated = 0;
	int r;

	r = parse_input(file, text, len, &objs, err);
	if (r < 0)
		return r;
	applied = json_array();
	r = snapshot_take(m, &snap);
	if (r < 0 || !applied) {
		policy_objects_free(objs);
		return op_error_set(err, 500, -ENOMEM, "out of memory");
	}

	/* Take ownership of each object from `objs` as it goes into the model. */
	for (size_t i = 0; i < objs->n_namespaces; i++) {
		struct policy_namespace *n = objs->namespaces[i];
		ssize_t k = find_namespace(m, n->name);
		bool same = k >= 0 && policy_labels_equal(&m->namespaces[k]->labels, &n->labels);
		json_t *before = !same && audit ? namespace_json(k >= 0 ? m->namespaces[k] : NULL) : NULL;

		r = MODEL_PUT(m->namespaces, m->n_namespaces, k, same, &objs->namespaces[i]);
		if (r < 0) {
			json_decref(before);
			break;
		}
		json_array_append_new(applied, object_ref("Namespace", NULL, n->name, put_action[r]));
		if (r != PUT_UNCHANGED && audit)
			audit_change(m->audit, "Namespace", NULL, n->name, put_action[r], before,
				     namespace_json(n));
	}
	for (size_t i = 0; r >= 0 && i < objs->n_netpols; i++) {
		struct policy_netpol *p = objs->netpols[i];
		ssize_t k = find_netpol(m, p->namespace, p->name);
		bool same = k >= 0 && policy_netpol_equal(m->netpols[k], p);
		json_t *before = !same && audit ? netpol_json(k >= 0 ? m->netpols[k] : NULL) : NULL;

		r = MODEL_PUT(m->netpols, m->n_netpols, k, same, &objs->netpols[i]);
		if (r < 0) {
			json_decref(before);
			break;
		}
		json_array_append_new(applied, object_ref("NetworkPolicy", p->namespace, p->name,
							  put_action[r]));
		if (r != PUT_UNCHANGED && audit)
			audit_change(m->audit, "NetworkPolicy", p->namespace, p->name, put_action[r],
				     before, netpol_json(p));
	}
	if (r < 0) {
		/* Objects already moved into the model are freed by the restore. */
		snapshot_restore(m, &snap);
		policy_objects_free(objs);
		return op_error_set(err, 500, r, "out of memory");
	}
	/* Everything moved out of objs is owned by the model now; the rest is freed. */
	policy_objects_free(objs);
	qsort_safe(m->namespaces, m->n_namespaces, sizeof(*m->namespaces), cmp_namespace);
	qsort_safe(m->netpols, m->n_netpols, sizeof(*m->netpols), cmp_netpol);

	if (mode == APPLY_DIFF) {
		struct policy_plan **plans = NULL;

		r = manager_compile_all(m, &plans);
		if (r >= 0)
			r = explain_diff_json(m, plans, &diff);
		manager_plans_free(m, plans);
		snapshot_restore(m, &snap);
		if (r < 0)
			return op_error_set(err, 500, r, "out of memory while compiling");
	} else if (dry_run) {
		snapshot_restore(m, &snap);
	} else {
		mark_model_changes(m, &snap);
		r = commit_change(m, &updated, err);
		if (r < 0) {
			snapshot_restore(m, &snap);
			reconcile_after_rollback(m);
			return r;
		}
		snapshot_commit(m, &snap);
		log_info("Applied %s: %zu object(s), %zu namespace(s) updated", file,
			 json_array_size(applied), updated);
	}

	*ret = json_pack("{s:O, s:I, s:b}", "applied", applied, "endpoints_updated",
			 (json_int_t)updated, "dryRun", dry_run);
	if (*ret && diff)
		json_object_update(*ret, diff);
	return *ret ? 0 : op_error_set(err, 500, -ENOMEM, "out of memory");
}

int manager_apply(struct manager *m, const char *file, const char *text, size_t len,
		  bool dry_run, json_t **ret, struct op_error *err)
{
	return apply_objects(m, file, text, len, dry_run ? APPLY_DRY_RUN : APPLY, ret, err);
}

int manager_diff(struct manager *m, const char *file, const char *text, size_t len, json_t **ret,
		 struct op_error *err)
{
	return apply_objects(m, file, text, len, APPLY_DIFF, ret, err);
}

static void remove_netpol_at(struct manager *m, size_t k)
{
	memmove(&m->netpols[k], &m->netpols[k + 1], (m->n_netpols - k - 1) * sizeof(*m->netpols));
	m->n_netpols--;
}

static void remove_namespace_at(struct manager *m, size_t k)
{
	memmove(&m->namespaces[k], &m->namespaces[k + 1],
		(m->n_namespaces - k - 1) * sizeof(*m->namespaces));
	m->n_namespaces--;
}

int manager_delete_file(struct manager *m, const char *file, const char *text, size_t len,
			json_t **ret, struct op_error *err)
{
	struct policy_objects *objs = NULL;
	struct snapshot snap;
	json_auto_t *deleted = NULL;
	size_t updated = 0;
	int r;

	r = parse_input(file, text, len, &objs, err);
	if (r < 0)
		return r;

	/* All or nothing: every object named must exist. */
	for (size_t i = 0; i < objs->n_netpols; i++)
		if (find_netpol(m, objs->netpols[i]->namespace, objs->netpols[i]->name) < 0) {
			r = op_error_set(err, 404, -ENOENT,
					 "networkpolicy %s/%s not found, nothing deleted",
					 objs->netpols[i]->namespace, objs->netpols[i]->name);
			policy_objects_free(objs);
			return r;
		}
	for (size_t i = 0; i < objs->n_namespaces; i++)
		if (find_namespace(m, objs->namespaces[i]->name) < 0) {
			r = op_error_set(err, 404, -ENOENT, "namespace %s not found, nothing deleted",
					 objs->namespaces[i]->name);
			policy_objects_free(objs);
			return r;
		}

	deleted = json_array();
	if (!deleted || snapshot_take(m, &snap) < 0) {
		policy_objects_free(objs);
		return op_error_set(err, 500, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < objs->n_netpols; i++) {
		ssize_t k = find_netpol(m, objs->netpols[i]->namespace, objs->netpols[i]->name);

		if (k < 0)
			continue;	/* named twice in the file */
		if (audit_active(m->audit))
			audit_change(m->audit, "NetworkPolicy", m->netpols[k]->namespace,
				     m->netpols[k]->name, "deleted", netpol_json(m->netpols[k]), NULL);
		remove_netpol_at(m, (size_t)k);
		json_array_append_new(deleted, object_ref("NetworkPolicy", objs->netpols[i]->namespace,
							  objs->netpols[i]->name, NULL));
	}
	for (size_t i = 0; i < objs->n_namespaces; i++) {
		ssize_t k = find_namespace(m, objs->namespaces[i]->name);

		if (k < 0)
			continue;
		if (audit_active(m->audit))
			audit_change(m->audit, "Namespace", NULL, m->namespaces[k]->name, "deleted",
				     namespace_json(m->namespaces[k]), NULL);
		remove_namespace_at(m, (size_t)k);
		json_array_append_new(deleted,
				      object_ref("Namespace", NULL, objs->namespaces[i]->name, NULL));
	}
	policy_objects_free(objs);

	mark_model_changes(m, &snap);
	r = commit_change(m, &updated, err);
	if (r < 0) {
		snapshot_restore(m, &snap);
		reconcile_after_rollback(m);
		return r;
	}
	snapshot_commit(m, &snap);
	log_info("Deleted %zu object(s) from %s, %zu namespace(s) updated", json_array_size(deleted),
		 file, updated);
	*ret = json_pack("{s:O, s:I}", "deleted", deleted, "endpoints_updated", (json_int_t)updated);
	return *ret ? 0 : op_error_set(err, 500, -ENOMEM, "out of memory");
}

int manager_delete_netpol(struct manager *m, const char *ns, const char *name, json_t **ret,
			  struct op_error *err)
{
	struct snapshot snap;
	size_t updated = 0;
	ssize_t k = find_netpol(m, ns, name);
	int r;

	if (k < 0)
		return op_error_set(err, 404, -ENOENT, "networkpolicy %s/%s not found", ns, name);
	if (snapshot_take(m, &snap) < 0)
		return op_error_set(err, 500, -ENOMEM, "out of memory");
	if (audit_active(m->audit))
		audit_change(m->audit, "NetworkPolicy", ns, name, "deleted", netpol_json(m->netpols[k]),
			     NULL);
	remove_netpol_at(m, (size_t)k);
	mark_model_changes(m, &snap);
	r = commit_change(m, &updated, err);
	if (r < 0) {
		snapshot_restore(m, &snap);
		reconcile_after_rollback(m);
		return r;
	}
	snapshot_commit(m, &snap);
	log_info("Deleted networkpolicy %s/%s, %zu namespace(s) updated", ns, name, updated);
	*ret = json_pack("{s:[o], s:I}", "deleted", object_ref("NetworkPolicy", ns, name, NULL),
			 "endpoints_updated", (json_int_t)updated);
	return *ret ? 0 : op_error_set(err, 500, -ENOMEM, "out of memory");
}

/* ---- endpoint operations -------------------------------------------------------------------- */

static int parse_labels_object(json_t *o, const char *path, struct policy_labels *l,
			       struct op_error *err)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		return op_error_set(err, 400, -EINVAL, "%s: must be an object of strings", path);
	if (json_object_size(o) > POLICY_MAX_LABELS)
		return op_error_set(err, 400, -E2BIG, "%s: more than %d labels", path,
				    POLICY_MAX_LABELS);
	json_object_foreach(o, k, v) {
		const char *why;

		if (!json_is_string(v))
			return op_error_set(err, 400, -EINVAL, "%s.%s: must be a string", path, k);
		why = policy_label_key_invalid(k);
		if (why)
			return op_error_set(err, 400, -EINVAL, "%s: invalid label key \"%s\": %s", path,
					    k, why);
		why = policy_label_value_invalid(json_string_value(v));
		if (why)
			return op_error_set(err, 400, -EINVAL, "%s.%s: invalid label value \"%s\": %s",
					    path, k, json_string_value(v), why);
		if (policy_labels_set(l, k, json_string_value(v)) < 0)
			return op_error_set(err, 500, -ENOMEM, "out of memory");
	}
	return 0;
}

static bool svc_name_valid(const char *s)
{
	size_t n = strlen(s);
	bool letter = false;

	if (n == 0 || n > 15 || s[0] == '-' || s[n - 1] == '-' || strstr(s, "--"))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 'a' && s[i] <= 'z')
			letter = true;
		else if (!(s[i] >= '0' && s[i] <= '9') && s[i] != '-')
			return false;
	}
	return letter;
}

static int parse_ports(json_t *a, struct policy_endpoint *pe, struct op_error *err)
{
	size_t i;
	json_t *v;

	if (!json_is_array(a))
		return op_error_set(err, 400, -EINVAL, "ports: must be an array");
	if (json_array_size(a) > POLICY_MAX_ENDPOINT_PORTS)
		return op_error_set(err, 400, -E2BIG, "ports: more than %d entries",
				    POLICY_MAX_ENDPOINT_PORTS);
	pe->ports = calloc(json_array_size(a) + 1, sizeof(*pe->ports));
	if (!pe->ports)
		return op_error_set(err, 500, -ENOMEM, "out of memory");
	json_array_foreach(a, i, v) {
		const char *name = NULL, *proto = "TCP";
		json_int_t port = 0;
		json_error_t jerr;
		int p;

		if (json_unpack_ex(v, &jerr, JSON_STRICT, "{s:s, s:I, s?s}", "name", &name, "port",
				   &port, "protocol", &proto) < 0)
			return op_error_set(err, 400, -EINVAL, "ports[%zu]: %s", i, jerr.text);
		if (!svc_name_valid(name))
			return op_error_set(err, 400, -EINVAL,
					    "ports[%zu].name: invalid port name \"%s\" (IANA service "
					    "name: 1-15 of a-z0-9-, at least one letter)", i, name);
		if (port < 1 || port > 65535)
			return op_error_set(err, 400, -ERANGE, "ports[%zu].port: %lld out of 1-65535",
					    i, (long long)port);
		p = policy_proto_from_string(proto);
		if (p < 0)
			return op_error_set(err, 400, -EINVAL,
					    "ports[%zu].protocol: unsupported protocol \"%s\"", i,
					    proto);
		for (size_t j = 0; j < pe->n_ports; j++)
			if (streq(pe->ports[j].name, name))
				return op_error_set(err, 400, -EEXIST,
						    "ports[%zu].name: duplicate port name \"%s\"", i,
						    name);
		pe->ports[pe->n_ports] = (struct policy_named_port){ .proto = p, .port = (uint16_t)port };
		pe->ports[pe->n_ports].name = strdup(name);
		if (!pe->ports[pe->n_ports].name)
			return op_error_set(err, 500, -ENOMEM, "out of memory");
		pe->n_ports++;
	}
	return 0;
}

/* Registers an endpoint from a JSON description (API body or state file). `commit` false is
 * used while loading state: the caller reconciles once for everything. */
static int endpoint_create(struct manager *m, json_t *body, bool attach_required,
			   struct endpoint **ret, struct op_error *err)
{
	const char *name = NULL, *netns = NULL, *ns = "default", *why;
	json_t *labels = NULL, *ports = NULL;
	struct endpoint *e = NULL;
	json_error_t jerr;
	int r;

	if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s:s, s?s, s?o, s?o}", "name", &name,
			   "netns", &netns, "namespace", &ns, "labels", &labels, "ports", &ports) < 0)
		return op_error_set(err, 400, -EINVAL, "invalid endpoint: %s", jerr.text);
	why = policy_dns_label_invalid(name);
	if (why)
		return op_error_set(err, 400, -EINVAL, "name: invalid endpoint name \"%s\": %s", name,
				    why);
	why = policy_dns_label_invalid(ns);
	if (why)
		return op_error_set(err, 400, -EINVAL, "namespace: invalid namespace \"%s\": %s", ns,
				    why);
	if (netns_name_valid(netns) < 0)
		return op_error_set(err, 400, -EINVAL, "netns: invalid network namespace name \"%s\"",
				    netns);
	if (manager_find_endpoint(m, name))
		return op_error_set(err, 409, -EEXIST, "endpoint %s already exists", name);
	for (size_t i = 0; i < m->n_endpoints; i++)
		if (streq(m->endpoints[i]->netns, netns))
			return op_error_set(err, 409, -EEXIST,
					    "network namespace %s is already endpoint %s", netns,
					    m->endpoints[i]->pe.name);

	r = endpoint_new(m, name, netns, ns, &e);
	if (r < 0)
		return op_error_set(err, 500, r, "out of memory");
	if (labels)
		r = parse_labels_object(labels, "labels", &e->pe.labels, err);
	if (r >= 0 && ports)
		r = parse_ports(ports, &e->pe, err);
	if (r < 0) {
		endpoint_free(e);
		return r;
	}

	{
		int nsfd = -1;

		r = netns_open_name(e->netns, &nsfd);
		if (r >= 0)
			r = endpoint_attach(e, nsfd);
	}
	if (r < 0) {
		if (attach_required) {
			endpoint_free(e);
			if (r == -ENOENT)
				return op_error_set(err, 400, r,
						    "network namespace %s not found in %s", netns,
						    NETNS_RUN_DIR);
			return op_error_set(err, 500, r, "cannot attach to network namespace %s: %s",
					    netns, strerror(-r));
		}
		endpoint_set_error(e, ENDPOINT_ERROR, "cannot attach to network namespace %s: %s",
				   netns, strerror(-r));
	}
	*ret = e;
	return 0;
}

int manager_endpoint_add(struct manager *m, json_t *body, json_t **ret, struct op_error *err)
{
	struct endpoint *e = NULL;
	size_t updated = 0;
	int r;

	r = endpoint_create(m, body, true, &e, err);
	if (r < 0)
		return r;
	r = endpoints_insert(m, e);
	if (r < 0) {
		endpoint_free(e);
		return op_error_set(err, 500, r, "out of memory");
	}
	e->dirty = true;
	mark_peers_of(m, &e->pe);
	if (audit_active(m->audit))
		audit_change(m->audit, "Endpoint", e->pe.namespace, e->pe.name, "created", NULL,
			     endpoint_json(e));
	r = commit_with(m, e, false, &updated, err);
	if (r < 0) {
		endpoints_remove(m, e);
		(void)nft_delete_table(e->nft);
		bury(m, e);
		reconcile_after_rollback(m);
		return r;
	}
	log_info("Added endpoint %s (netns %s, namespace %s), %zu namespace(s) updated", e->pe.name,
		 e->netns, e->pe.namespace, updated);
	return manager_endpoint_json(m, e->pe.name, ret, err);
}

int manager_endpoint_label(struct manager *m, const char *name, json_t *body, json_t **ret,
			   struct op_error *err)
{
	struct endpoint *e = manager_find_endpoint(m, name);
	struct policy_labels saved = { 0 }, next = { 0 };
	json_t *set = NULL, *remove = NULL, *v;
	json_error_t jerr;
	size_t i, updated = 0;
	int r;

	if (!e)
		return op_error_set(err, 404, -ENOENT, "endpoint %s not found", name);
	if (e->kind == ENDPOINT_KIND_CONTAINER)
		return op_error_set(err, 409, -EPERM, "endpoint %s is a container: its labels come "
						     "from the engine (recreate it with new labels)", name);
	if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s?o, s?o}", "set", &set, "remove", &remove) < 0)
		return op_error_set(err, 400, -EINVAL, "invalid label change: %s", jerr.text);
	if (policy_labels_copy(&next, &e->pe.labels) < 0)
		return op_error_set(err, 500, -ENOMEM, "out of memory");
	if (set) {
		r = parse_labels_object(set, "set", &next, err);
		if (r < 0) {
			policy_labels_done(&next);
			return r;
		}
	}
	if (remove) {
		if (!json_is_array(remove)) {
			policy_labels_done(&next);
			return op_error_set(err, 400, -EINVAL, "remove: must be an array of keys");
		}
		json_array_foreach(remove, i, v) {
			if (!json_is_string(v)) {
				policy_labels_done(&next);
				return op_error_set(err, 400, -EINVAL, "remove[%zu]: must be a string",
						    i);
			}
			(void)policy_labels_unset(&next, json_string_value(v));
		}
	}
	if (next.n > POLICY_MAX_LABELS) {
		policy_labels_done(&next);
		return op_error_set(err, 400, -E2BIG, "more than %d labels", POLICY_MAX_LABELS);
	}

	mark_peers_of(m, &e->pe);
	{
		json_t *before = audit_active(m->audit) ? endpoint_json(e) : NULL;

		saved = e->pe.labels;
		e->pe.labels = next;
		if (before)
			audit_change(m->audit, "Endpoint", e->pe.namespace, e->pe.name, "configured",
				     before, endpoint_json(e));
	}
	e->dirty = true;
	mark_peers_of(m, &e->pe);
	r = commit_with(m, e, false, &updated, err);
	if (r < 0) {
		policy_labels_done(&e->pe.labels);
		e->pe.labels = saved;
		reconcile_after_rollback(m);
		return r;
	}
	policy_labels_done(&saved);
	log_info("Relabelled endpoint %s, %zu namespace(s) updated", name, updated);
	return manager_endpoint_json(m, name, ret, err);
}

int manager_endpoint_del(struct manager *m, const char *name, json_t **ret, struct op_error *err)
{
	struct endpoint *e = manager_find_endpoint(m, name);
	size_t updated = 0;
	int r;

	if (!e)
		return op_error_set(err, 404, -ENOENT, "endpoint %s not found", name);
	if (e->kind == ENDPOINT_KIND_CONTAINER)
		return op_error_set(err, 409, -EPERM, "endpoint %s is a container: it leaves when "
						     "the container stops", name);
	mark_peers_of(m, &e->pe);
	if (audit_active(m->audit))
		audit_change(m->audit, "Endpoint", e->pe.namespace, e->pe.name, "deleted",
			     endpoint_json(e), NULL);
	endpoints_remove(m, e);
	r = commit_with(m, e, true, &updated, err);
	if (r < 0) {
		(void)endpoints_insert(m, e);
		reconcile_after_rollback(m);
		return r;
	}
	if (e->nft) {
		r = nft_delete_table(e->nft);
		if (r < 0)
			log_warning_errno(r, "Failed to remove the table of %s, ignoring: %m", name);
	}
	*ret = json_pack("{s:[{s:s, s:s}], s:I}", "deleted", "kind", "Endpoint", "name", name,
			 "endpoints_updated", (json_int_t)updated);
	log_info("Deleted endpoint %s, %zu namespace(s) updated", name, updated);
	bury(m, e);
	return *ret ? 0 : op_error_set(err, 500, -ENOMEM, "out of memory");
}

/* ---- views ---------------------------------------------------------------------------------- */

static json_t *labels_json(const struct policy_labels *l)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < l->n; i++)
		json_object_set_new(o, l->items[i].key, json_string(l->items[i].value));
	return o;
}

json_t *endpoint_json(const struct endpoint *e)
{
	json_t *o, *addrs = json_array(), *ports = json_array(), *pols = json_array();
	const struct policy_plan *p = e->installed;

	for (size_t i = 0; addrs && i < e->pe.n_addrs; i++) {
		char buf[INET6_ADDRSTRLEN];

		inet_ntop(e->pe.addrs[i].family, e->pe.addrs[i].addr, buf, sizeof(buf));
		json_array_append_new(addrs, json_string(buf));
	}
	for (size_t i = 0; ports && i < e->pe.n_ports; i++)
		json_array_append_new(ports, json_pack("{s:s, s:i, s:s}", "name", e->pe.ports[i].name,
						       "port", e->pe.ports[i].port, "protocol",
						       policy_proto_to_string(e->pe.ports[i].proto)));
	for (size_t i = 0; pols && p && i < p->n_selected_by; i++)
		json_array_append_new(pols, json_string(p->selected_by[i]));

	o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:s?, s:o, s:{s:b, s:b}}", "name",
		      e->pe.name, "kind", e->kind == ENDPOINT_KIND_CONTAINER ? "container" : "netns",
		      "namespace", e->pe.namespace, "netns", e->netns, "labels",
		      labels_json(&e->pe.labels), "ports", ports, "addresses", addrs, "state",
		      endpoint_state_to_string(e->state), "error", e->error, "policies", pols,
		      "isolation", "ingress", p && p->isolated[POLICY_DIR_INGRESS], "egress",
		      p && p->isolated[POLICY_DIR_EGRESS]);
	if (o && e->kind == ENDPOINT_KIND_CONTAINER) {
		json_t *cs = json_array();
		const char *owner = NULL;

		/* id: the container that owns the namespace (a pod's infra), else the first */
		for (size_t i = 0; i < e->n_containers; i++) {
			if (e->containers[i].owner && !owner)
				owner = e->containers[i].id;
			json_array_append_new(cs, json_pack("{s:s, s:s?}", "id", e->containers[i].id,
							    "name", e->containers[i].name));
		}
		if (!owner && e->n_containers)
			owner = e->containers[0].id;
		json_object_set_new(o, "id", owner ? json_string(owner) : json_null());
		json_object_set_new(o, "containers", cs);
		json_object_set_new(o, "quarantined", json_boolean(e->quarantined));
	}
	return o;
}

int manager_endpoint_json(struct manager *m, const char *name, json_t **ret, struct op_error *err)
{
	struct endpoint *e = manager_find_endpoint(m, name);

	if (!e)
		return op_error_set(err, 404, -ENOENT, "endpoint %s not found", name);
	*ret = endpoint_json(e);
	return *ret ? 0 : op_error_set(err, 500, -ENOMEM, "out of memory");
}

json_t *manager_endpoints_json(struct manager *m, const char *ns)
{
	json_t *items = json_array();

	for (size_t i = 0; items && i < m->n_endpoints; i++)
		if (!ns || streq(m->endpoints[i]->pe.namespace, ns))
			json_array_append_new(items, endpoint_json(m->endpoints[i]));
	return json_pack("{s:o}", "items", items);
}

json_t *manager_netpols_json(struct manager *m, const char *ns)
{
	json_t *items = json_array();

	for (size_t i = 0; items && i < m->n_netpols; i++)
		if (!ns || streq(m->netpols[i]->namespace, ns))
			json_array_append_new(items, json_from_text(policy_netpol_to_json(m->netpols[i])));
	return json_pack("{s:o}", "items", items);
}

int manager_netpol_json(struct manager *m, const char *ns, const char *name, json_t **ret,
			struct op_error *err)
{
	ssize_t k = find_netpol(m, ns, name);

	if (k < 0)
		return op_error_set(err, 404, -ENOENT, "networkpolicy %s/%s not found", ns, name);
	*ret = json_from_text(policy_netpol_to_json(m->netpols[k]));
	return *ret ? 0 : op_error_set(err, 500, -ENOMEM, "out of memory");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

json_t *manager_namespaces_json(struct manager *m)
{
	_cleanup_free_ const char **names = NULL;
	json_t *items = json_array();
	size_t n = 0;

	/* Applied namespaces plus the implicit ones endpoints and policies use. */
	names = calloc(m->n_namespaces + m->n_endpoints + m->n_netpols + 1, sizeof(*names));
	if (!names || !items) {
		json_decref(items);
		return NULL;
	}
	for (size_t i = 0; i < m->n_namespaces; i++)
		names[n++] = m->namespaces[i]->name;
	for (size_t i = 0; i < m->n_endpoints; i++)
		names[n++] = m->endpoints[i]->pe.namespace;
	for (size_t i = 0; i < m->n_netpols; i++)
		names[n++] = m->netpols[i]->namespace;
	qsort_safe(names, n, sizeof(*names), cmp_str);

	for (size_t i = 0; i < n; i++) {
		ssize_t k;

		if (i > 0 && streq(names[i], names[i - 1]))
			continue;
		k = find_namespace(m, names[i]);
		if (k >= 0)
			json_array_append_new(items,
					      json_from_text(policy_namespace_to_json(m->namespaces[k])));
		else
			json_array_append_new(items,
					      json_pack("{s:s, s:s, s:{s:s, s:{s:s}}}", "apiVersion",
							"v1", "kind", "Namespace", "metadata", "name",
							names[i], "labels", POLICY_NS_NAME_LABEL,
							names[i]));
	}
	return json_pack("{s:o}", "items", items);
}

static json_t *change_json(const struct change_stats *c)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "compiled", (json_int_t)c->compiled,
			 "namespaces", (json_int_t)c->namespaces, "incremental",
			 (json_int_t)c->incremental, "batches", (json_int_t)c->batches, "messages",
			 (json_int_t)c->messages, "bytes", (json_int_t)c->bytes, "usec",
			 (json_int_t)c->usec);
}

int manager_flows(struct manager *m, const char *endpoint, const char *verdict, const char *since,
		  const char *time_from, const char *limit, json_t **ret, struct op_error *err)
{
	unsigned long long s = 0, l = 0;
	char *end;

	if (verdict && !streq(verdict, "allowed") && !streq(verdict, "denied"))
		return op_error_set(err, 400, -EINVAL, "verdict: \"allowed\" or \"denied\"");
	if (since) {
		errno = 0;
		s = strtoull(since, &end, 10);
		if (errno || *end || end == since)
			return op_error_set(err, 400, -EINVAL, "since: a record number");
	}
	if (limit) {
		errno = 0;
		l = strtoull(limit, &end, 10);
		if (errno || *end || end == limit || l == 0 || l > FLOWS_QUERY_MAX)
			return op_error_set(err, 400, -EINVAL, "limit: 1 to %d", FLOWS_QUERY_MAX);
	}
	if (time_from && (strlen(time_from) != 27 || time_from[10] != 'T' || time_from[26] != 'Z' ||
			  strspn(time_from, "0123456789-T:.Z") != 27))
		return op_error_set(err, 400, -EINVAL, "from: a UTC time as YYYY-MM-DDTHH:MM:SS.ffffffZ");
	if (endpoint && !manager_find_endpoint(m, endpoint))
		return op_error_set(err, 404, -ENOENT, "endpoint %s not found", endpoint);
	*ret = flows_query(m->flows, endpoint, verdict, (uint64_t)s, time_from, (size_t)l);
	if (!*ret)
		return op_error_set(err, 500, -ENOMEM, "out of memory");
	json_object_set_new(*ret, "logging", json_string(m->cfg.flow_log == POLICY_FLOW_LOG_ALL ?
							 "all" : m->cfg.flow_log == POLICY_FLOW_LOG_DENIED
								 ? "denied" : "none"));
	return 0;
}

json_t *manager_status_json(struct manager *m)
{
	json_t *errs = json_array(), *flags = json_array(), *o;
	json_t *nss = manager_namespaces_json(m);
	size_t enforced = 0, errors = 0, n_namespaces;
	size_t n = m->n_errors_total < MANAGER_MAX_ERRORS ? m->n_errors_total : MANAGER_MAX_ERRORS;

	/* Applied and implicit namespaces alike, as `get namespaces` lists them. */
	n_namespaces = json_array_size(json_object_get(nss, "items"));
	json_decref(nss);
	for (size_t i = 0; i < m->n_endpoints; i++) {
		enforced += m->endpoints[i]->state == ENDPOINT_ENFORCED;
		errors += m->endpoints[i]->state == ENDPOINT_ERROR;
	}
	/* newest first */
	for (size_t i = 0; errs && i < n; i++) {
		size_t k = (m->n_errors_total - 1 - i) % MANAGER_MAX_ERRORS;
		char t[32];
		struct tm tm;

		gmtime_r(&m->errors[k].time, &tm);
		strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_array_append_new(errs, json_pack("{s:s, s:s?}", "time", t, "message",
						      m->errors[k].message));
	}
	if (flags && (m->table_flags & NFT_TABLE_F_OWNER))
		json_array_append_new(flags, json_string("owner"));
	if (flags && (m->table_flags & NFT_TABLE_F_PERSIST))
		json_array_append_new(flags, json_string("persist"));

	o = json_pack("{s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:s, s:o, s:o}",
			 "version",
			 SEGD_VERSION, "pid", (int)getpid(), "uptime_seconds",
			 (json_int_t)(time(NULL) - m->started), "endpoints",
			 (json_int_t)m->n_endpoints, "networkpolicies", (json_int_t)m->n_netpols,
			 "namespaces", (json_int_t)n_namespaces, "enforced", (json_int_t)enforced,
			 "errors", (json_int_t)errors, "commits", (json_int_t)m->commits,
			 "commit_errors", (json_int_t)m->commit_errors, "table_flags", flags,
			 "last_errors", errs, "engine_spec", m->cfg.engine ? m->cfg.engine : "none",
			 "engine", engine_status_json(m->engine), "changes",
			 json_pack("{s:o, s:o}", "last", change_json(&m->last), "total",
				   change_json(&m->total)));
	if (o)
		json_object_set_new(o, "drift",
				    json_pack("{s:b, s:I, s:I, s:I}", "watching", m->drift_watch,
					      "detected", (json_int_t)m->stats.drift_detected,
					      "repairs", (json_int_t)m->stats.drift_repairs,
					      "event_overruns", (json_int_t)m->stats.event_overruns));
	return o;
}

int manager_endpoint_rules(struct manager *m, const char *name, json_t **ret,
			   struct op_error *err)
{
	struct endpoint *e = manager_find_endpoint(m, name);
	json_t *o = NULL;
	bool in_sync = false;
	int r;

	if (!e)
		return op_error_set(err, 404, -ENOENT, "endpoint %s not found", name);
	if (!e->nft)
		return op_error_set(err, 409, -ENOTCONN, "endpoint %s: %s", name,
				    e->error ? e->error : "not attached to its network namespace");
	r = nft_rules_json(e->nft, e->installed, &o, &in_sync);
	if (r == -ENOENT)
		return op_error_set(err, 404, r, "endpoint %s: no table inet %s in netns %s", name,
				    POLICY_NFT_TABLE, e->netns);
	if (r < 0)
		return op_error_set(err, 500, r, "endpoint %s: cannot read its ruleset: %s", name,
				    strerror(-r));
	json_object_set_new(o, "endpoint", json_string(e->pe.name));
	json_object_set_new(o, "netns", json_string(e->netns));
	json_object_set_new(o, "in_sync", json_boolean(in_sync));
	*ret = o;
	return 0;
}

/* ---- event loop ----------------------------------------------------------------------------- */

static int on_signal(struct watch *w, uint32_t events)
{
	struct manager *m = container_of(w, struct manager, signal_watch);
	struct signalfd_siginfo si;

	if (read(m->signal_fd, &si, sizeof(si)) != sizeof(si))
		return errno == EAGAIN ? 0 : -errno;
	log_info("Received %s, exiting; rulesets stay in place", strsignal((int)si.ssi_signo));
	return LOOP_EXIT;
}

static int refresh_addresses(struct manager *m)
{
	bool changed = false;

	for (size_t i = 0; i < m->n_endpoints; i++) {
		struct endpoint *e = m->endpoints[i];
		struct policy_addr *addrs = NULL;
		size_t n = 0;
		int r;

		if (!e->addrs_dirty || !endpoint_live(e))
			continue;
		e->addrs_dirty = false;
		r = addr_read(e->nsfd, &addrs, &n);
		if (r < 0) {
			log_warning_errno(r, "Failed to read addresses of %s, keeping the old ones: %m",
					  e->pe.name);
			continue;
		}
		if (n == e->pe.n_addrs &&
		    (n == 0 || memcmp(addrs, e->pe.addrs, n * sizeof(*addrs)) == 0)) {
			free(addrs);
			continue;
		}
		free(e->pe.addrs);
		e->pe.addrs = addrs;
		e->pe.n_addrs = n;
		changed = true;
		/* Its own plan does not depend on its addresses; its peers' sets do. */
		mark_peers_of(m, &e->pe);
		log_info("Addresses of %s changed (%zu now)", e->pe.name, n);
	}
	if (changed) {
		size_t updated = 0;
		int r = reconcile_marked(m, &updated);

		if (r < 0)
			return r;
		log_debug("Address change: %zu namespace(s) updated, %d failed", updated, r);
	}
	return 0;
}

static int on_debounce(struct watch *w, uint32_t events)
{
	struct manager *m = container_of(w, struct manager, debounce_watch);

	(void)timer_fd_ack(m->debounce_fd);
	m->debounce_armed = false;
	return refresh_addresses(m);
}

/* A namespace whose /run/netns name is gone, or now names another namespace, has lost its
 * container: its table dies with it, and its addresses must stop being anyone's peer. */
static int check_namespaces(struct manager *m)
{
	bool changed = false;

	for (size_t i = 0; i < m->n_endpoints; i++) {
		struct endpoint *e = m->endpoints[i];
		_cleanup_close_ int fd = -1;
		ino_t ino = 0;

		if (!endpoint_live(e))
			continue;
		/* A container's namespace opened by pid cannot be looked up again: the engine
		 * (and the poststop hook) report its end instead. */
		if (e->kind == ENDPOINT_KIND_CONTAINER && strncmp(e->netns, "/proc/", 6) == 0)
			continue;
		if ((e->kind == ENDPOINT_KIND_CONTAINER ? netns_open_path(e->netns, &fd)
							: netns_open_name(e->netns, &fd)) >= 0 &&
		    netns_inode(fd, &ino) >= 0 && ino == e->ns_ino)
			continue;
		log_warning("Network namespace %s of endpoint %s vanished", e->netns, e->pe.name);
		mark_peers_of(m, &e->pe);
		endpoint_close(e);
		free(e->pe.addrs);
		e->pe.addrs = NULL;
		e->pe.n_addrs = 0;
		e->installed = policy_plan_free(e->installed);
		endpoint_set_error(e, ENDPOINT_ERROR, "network namespace %s vanished", e->netns);
		manager_record_error(m, "endpoint %s: network namespace %s vanished", e->pe.name,
				     e->netns);
		changed = true;
	}
	if (changed) {
		int r = reconcile_marked(m, NULL);

		if (r < 0)
			return r;
	}
	return 0;
}

static int on_periodic(struct watch *w, uint32_t events)
{
	struct manager *m = container_of(w, struct manager, periodic_watch);

	(void)timer_fd_ack(m->periodic_fd);
	return check_namespaces(m);
}

static int on_tick(void *userdata)
{
	struct manager *m = userdata;

	for (size_t i = 0; i < m->n_dead; i++)
		endpoint_free(m->dead[i]);
	m->n_dead = 0;
	engine_tick(m->engine);
	{
		int a = api_timeout_ms(m->api), b = metrics_timeout_ms(m->metrics);

		return a < 0 ? b : b < 0 ? a : a < b ? a : b;
	}
}

int manager_new(const struct manager_config *cfg, struct manager **ret)
{
	struct manager *m = calloc(1, sizeof(*m));
	sigset_t mask;
	int r;

	if (!m)
		return -ENOMEM;
	m->cfg = *cfg;
	m->signal_fd = m->debounce_fd = m->periodic_fd = m->journal_fd = -1;
	m->started = time(NULL);
	r = audit_open(cfg->audit_log, &m->audit);
	if (r < 0)
		goto fail;
	r = flows_new(cfg->flow_log_file, cfg->flow_log_max_bytes, &m->flows);
	if (r < 0)
		goto fail;
	nft_set_flow_log(cfg->flow_log, FLOWS_NFLOG_GROUP, POLICY_FLOW_LOG_RATE);
	r = netns_host_inode(&m->host_netns_ino);
	if (r < 0)
		goto fail;

	r = loop_new(&m->loop);
	if (r < 0)
		goto fail;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	m->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (m->signal_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = loop_add(m->loop, &m->signal_watch, m->signal_fd, EPOLLIN, on_signal);
	if (r < 0)
		goto fail;

	m->debounce_fd = timer_fd_new();
	m->periodic_fd = timer_fd_new();
	if (m->debounce_fd < 0 || m->periodic_fd < 0) {
		r = m->debounce_fd < 0 ? m->debounce_fd : m->periodic_fd;
		goto fail;
	}
	r = loop_add(m->loop, &m->debounce_watch, m->debounce_fd, EPOLLIN, on_debounce);
	if (r >= 0)
		r = loop_add(m->loop, &m->periodic_watch, m->periodic_fd, EPOLLIN, on_periodic);
	if (r < 0)
		goto fail;

	*ret = m;
	return 0;
fail:
	manager_free(m);
	return r;
}

struct manager *manager_free(struct manager *m)
{
	if (!m)
		return NULL;
	m->api = api_free(m->api);
	m->engine = engine_free(m->engine);
	/* Closing our sockets leaves the tables in place (PERSIST): stopping segd never
	 * opens anything. */
	for (size_t i = 0; i < m->n_endpoints; i++)
		endpoint_free(m->endpoints[i]);
	free(m->endpoints);
	for (size_t i = 0; i < m->n_dead; i++)
		endpoint_free(m->dead[i]);
	free(m->dead);
	for (size_t i = 0; i < m->n_namespaces; i++)
		policy_namespace_free(m->namespaces[i]);
	free(m->namespaces);
	for (size_t i = 0; i < m->n_netpols; i++)
		policy_netpol_free(m->netpols[i]);
	free(m->netpols);
	for (size_t i = 0; i < MANAGER_MAX_ERRORS; i++)
		free(m->errors[i].message);
	safe_close(m->signal_fd);
	safe_close(m->debounce_fd);
	state_close(m);
	m->audit = audit_free(m->audit);
	m->metrics = metrics_free(m->metrics);
	m->flows = flows_free(m->flows);
	safe_close(m->periodic_fd);
	loop_free(m->loop);
	free(m);
	return NULL;
}

/* Called by state_load() for each stored endpoint. */
int manager_restore_endpoint(struct manager *m, json_t *desc);
int manager_restore_endpoint(struct manager *m, json_t *desc)
{
	struct op_error err = { 0 };
	struct endpoint *e = NULL;
	int r;

	r = endpoint_create(m, desc, false, &e, &err);
	if (r < 0) {
		log_error("Ignoring a stored endpoint: %s", err.message ? err.message : "invalid");
		op_error_done(&err);
		return 0;
	}
	if (e->state == ENDPOINT_ERROR)
		log_warning("Endpoint %s: %s", e->pe.name, e->error);
	r = endpoints_insert(m, e);
	if (r < 0)
		endpoint_free(e);
	return r;
}

/* Called by state_load() when the journal replaces or removes a stored endpoint. */
void manager_forget_endpoint(struct manager *m, const char *name);
void manager_forget_endpoint(struct manager *m, const char *name)
{
	struct endpoint *e = manager_find_endpoint(m, name);

	if (!e)
		return;
	endpoints_remove(m, e);
	endpoint_free(e);
}

/* Called by state_load() with the stored policy objects (ownership taken). */
int manager_restore_objects(struct manager *m, struct policy_objects *objs);
int manager_restore_objects(struct manager *m, struct policy_objects *objs)
{
	m->namespaces = TAKE_PTR(objs->namespaces);
	m->n_namespaces = objs->n_namespaces;
	objs->n_namespaces = 0;
	m->netpols = TAKE_PTR(objs->netpols);
	m->n_netpols = objs->n_netpols;
	objs->n_netpols = 0;
	policy_objects_free(objs);
	qsort_safe(m->namespaces, m->n_namespaces, sizeof(*m->namespaces), cmp_namespace);
	qsort_safe(m->netpols, m->n_netpols, sizeof(*m->netpols), cmp_netpol);
	return 0;
}

int manager_start(struct manager *m)
{
	size_t updated = 0;
	int r;

	{
		struct nft_sock *probe = NULL;

		/* In our own namespace; the probe batch is made to abort, nothing changes. */
		r = nft_sock_open(-1, &probe);
		if (r >= 0)
			r = nft_probe_table_flags(probe, &m->table_flags);
		nft_sock_free(probe);
		if (r < 0)
			return log_error_errno(r, "Failed to probe nf_tables table flags: %m");
	}
	if (m->cfg.no_table_owner)
		m->table_flags &= ~(uint32_t)(NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST);
	m->table_flags_known = true;
	m->drift_watch = !(m->table_flags & NFT_TABLE_F_OWNER);
	if (m->drift_watch)
		log_info("Tables are not owned: watching nf_tables events in every namespace to "
			 "repair changes by other processes");
	else if (!(m->table_flags & NFT_TABLE_F_PERSIST))
		log_warning("Kernel lacks NFT_TABLE_F_PERSIST: tables are not owned, a segd crash "
			    "keeps them but they are not protected from other writers");

	/* Everything is loaded before anything is compiled: a plan computed from a partial
	 * model could be more open than the one in the kernel. */
	r = state_load(m);
	if (r < 0)
		return log_error_errno(r, "Failed to load state from %s: %m", m->cfg.state_dir);

	r = reconcile(m, &updated);
	if (r < 0)
		return log_error_errno(r, "Failed to compile the stored state: %m");
	log_info("Reconciled %zu endpoint(s): %zu namespace(s) committed, %d failed",
		 m->n_endpoints, updated, r);

	r = timer_fd_arm(m->periodic_fd, PERIODIC_MS, true);
	if (r < 0)
		return log_error_errno(r, "Failed to arm the periodic timer: %m");

	r = api_new(m, m->cfg.socket_path, m->cfg.group, m->cfg.audit_group, &m->api);
	if (r >= 0 && m->cfg.metrics_listen)
		r = metrics_new(m, m->loop, m->cfg.metrics_listen, &m->metrics);
	if (r < 0)
		return r;

	/* After the API: the OCI hook may already be asking while the first list runs. */
	if (m->cfg.engine && !streq(m->cfg.engine, "none")) {
		r = engine_new(m, m->cfg.engine, m->cfg.resync_interval_s, &m->engine);
		if (r < 0)
			return r;
	}
	return 0;
}

int manager_run(struct manager *m)
{
	return loop_run(m->loop, on_tick, m);
}
