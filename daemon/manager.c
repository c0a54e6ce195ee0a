/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "api.h"
#include "audit.h"
#include "engine.h"
#include "fleet.h"
#include "closer.h"
#include "fdstore.h"
#include "flows.h"
#include "fsutil.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "metrics.h"
#include "netns-watch.h"
#include "netns.h"
#include "nft-table.h"
#include "ops.h"
#include "time-util.h"

#define DEBOUNCE_MS 50
#define PERIODIC_MS 2000

struct manager {
	struct settings settings;
	manager_reload_fn reload;
	void *reload_userdata;

	struct loop *loop;
	int signal_fd;
	struct watch signal_watch;
	int debounce_fd;
	struct watch debounce_watch;
	bool debounce_armed;
	int periodic_fd;
	struct watch periodic_watch;
	int retry_fd; /* the next retry of an endpoint whose commit failed */
	struct watch retry_watch;
	uint64_t retry_armed; /* for when (CLOCK_MONOTONIC usec), 0: disarmed */

	struct nft_rx *nft;
	struct addr_watch *addr_watch; /* every endpoint's address changes, one socket */
	struct closer *closer;	       /* closes nfnetlink sockets off the loop (closer.h) */
	struct endpoint_env env;
	struct store store;
	struct registry registry;
	struct errlog errlog;
	struct reconciler rc;
	struct guards *guards;
	struct netns_watch netns_watch;
	struct fdstore *fdstore;
	bool fdstore_swept; /* sockets nobody claimed released */
	bool guards_swept;  /* guard tables nobody claimed deleted */
	struct containers containers;
	struct drift drift;
	struct state *state;
	struct audit *audit;
	struct flows *flows;
	struct ops ops;

	struct api *api;
	struct metrics *metrics;
	struct engine *engine;
	struct fleet *fleet; /* --store: this node of a fleet */
};

/* ---- what the endpoints' sockets report ---- */

static void arm_debounce(struct manager *m)
{
	if (m->debounce_armed)
		return;
	if (timer_fd_arm(m->debounce_fd, DEBOUNCE_MS, false) >= 0)
		m->debounce_armed = true;
}

static void on_addresses_changed(struct endpoint *e, void *userdata)
{
	struct manager *m = userdata;

	registry_addr_event(&m->registry, e);
	arm_debounce(m);
}

static void on_nft_events(struct endpoint *e, void *userdata)
{
	struct manager *m = userdata;

	ops_endpoint_drift(&m->ops, e);
}

static void on_flow_logs(struct endpoint *e, void *userdata)
{
	struct manager *m = userdata;

	ops_endpoint_flows(&m->ops, e);
}

/* ---- the engine source's view of the model ---- */

static int engine_seen(const struct container_info *ci, void *userdata)
{
	struct manager *m = userdata;

	return ops_container_seen(&m->ops, ci);
}

static void engine_gone(const char *id, void *userdata)
{
	struct manager *m = userdata;

	ops_container_gone(&m->ops, id);
}

static bool engine_known(const char *id, void *userdata)
{
	struct manager *m = userdata;

	return containers_known(&m->containers, id);
}

static int engine_missing(char *const *listed, size_t n, uint64_t asked_usec, char ***ret,
			  void *userdata)
{
	struct manager *m = userdata;

	return containers_missing(&m->containers, listed, n, asked_usec, ret);
}

static const struct engine_ops engine_ops = {
	.seen = engine_seen,
	.gone = engine_gone,
	.known = engine_known,
	.missing = engine_missing,
};

static json_t *engine_status(void *userdata)
{
	struct manager *m = userdata;

	return m->engine ? engine_status_json(m->engine) : NULL;
}

/* ---- signals and timers ---- */

int manager_reload(struct manager *m)
{
	struct settings next;
	const char *changed;
	int r;

	log_info("Reloading");
	settings_init(&next);
	r = m->reload ? m->reload(&next, m->reload_userdata) : 0;
	if (r < 0) {
		log_error_errno(r, "Reload failed, keeping the current settings: %m");
		settings_done(&next);
	} else {
		changed = settings_restart_needed(&m->settings, &next);
		if (changed)
			log_warning("Setting '%s' changed: it takes effect when segd restarts",
				    changed);
		if (next.log_level != m->settings.log_level) {
			log_set_level(next.log_level);
			log_info("Log level now %d", next.log_level);
		}
		if (next.resync_interval_s != m->settings.resync_interval_s)
			engine_set_resync_interval(m->engine, next.resync_interval_s);
		m->settings.log_level = next.log_level;
		m->settings.resync_interval_s = next.resync_interval_s;
		if (next.matrix_budget != m->settings.matrix_budget)
			log_info("Matrix budget now %" PRIu64 " cells", next.matrix_budget);
		m->settings.matrix_budget = m->ops.matrix_budget = next.matrix_budget;
		/* the hook reads the file itself; status shows what it holds now */
		{
			char **old = m->settings.hook_fail_open;
			size_t n_old = m->settings.n_hook_fail_open;

			m->settings.hook_fail_open = next.hook_fail_open;
			m->settings.n_hook_fail_open = next.n_hook_fail_open;
			next.hook_fail_open = old;
			next.n_hook_fail_open = n_old;
			m->ops.hook_fail_open = m->settings.hook_fail_open;
			m->ops.n_hook_fail_open = m->settings.n_hook_fail_open;
		}
		settings_done(&next);
	}
	/* After logrotate: the files are opened again, by name. */
	r = audit_reopen(m->audit);
	if (r < 0)
		log_error_errno(r, "Failed to reopen the audit log: %m");
	r = flows_reopen(m->flows);
	if (r < 0)
		log_error_errno(r, "Failed to reopen the flow log: %m");
	return 0;
}

static int on_signal(struct watch *w, uint32_t events)
{
	struct manager *m = container_of(w, struct manager, signal_watch);
	struct signalfd_siginfo si;

	if (read(m->signal_fd, &si, sizeof(si)) != sizeof(si))
		return errno == EAGAIN ? 0 : -errno;
	if (si.ssi_signo == SIGHUP)
		return manager_reload(m);
	log_info("Received %s, exiting; rulesets stay in place", strsignal((int)si.ssi_signo));
	return LOOP_EXIT;
}

static int on_debounce(struct watch *w, uint32_t events)
{
	struct manager *m = container_of(w, struct manager, debounce_watch);

	(void)timer_fd_ack(m->debounce_fd);
	m->debounce_armed = false;
	return ops_refresh_addresses(&m->ops);
}

static void sweep_stored_guard(struct manager *m, const char *name)
{
	struct nft_sock *s = NULL;
	int fd = -1, r;

	if (fdstore_take(m->fdstore, name, &fd) < 0)
		return;
	r = nft_sock_adopt(m->nft, fd, &s);
	if (r < 0) {
		safe_close(fd);
		return;
	}
	r = guard_sweep_socket(s, name, NULL, NULL, NULL);
	if (r < 0)
		log_warning_errno(r, "Cannot sweep the guard tables of stored socket %s: %m", name);
	nft_sock_free(s);
}

/* Stored sockets no endpoint took back: their namespaces are gone, or no longer segd's. Once
 * every endpoint had its chance (restored, and the engine listed its containers). */
static void fdstore_sweep(struct manager *m)
{
	char **names = NULL;
	int n;

	if (!m->fdstore || m->fdstore_swept || (m->engine && engine_lists(m->engine) == 0))
		return;
	m->fdstore_swept = true;
	n = fdstore_untaken(m->fdstore, &names);
	for (int i = 0; i < n; i++) {
		log_info("Releasing stored socket %s: no endpoint claims its namespace", names[i]);
		/* A guard namespace no endpoint guards in any more: the tables its socket owns
		 * are on devices that went while segd was down. */
		if (strncmp(names[i], "guard-", 6) == 0)
			sweep_stored_guard(m, names[i]);
		(void)fdstore_remove(m->fdstore, names[i]);
	}
	free(names);
}

static bool guard_claimed(const void *ns, const char *table, void *userdata)
{
	const struct registry *reg = userdata;

	for (size_t i = 0; i < reg->n; i++) {
		const struct ep_guard *g = &reg->items[i]->guard;

		for (size_t k = 0; k < g->n_devs; k++)
			if (g->devs[k].ns == ns && streq(g->devs[k].table, table))
				return true;
	}
	return false;
}

/* Guard tables of devices that went while segd was down (a container removed meanwhile): once
 * the stored sockets were swept and every live endpoint's interfaces are known. */
static void guards_gc(struct manager *m)
{
	int r;

	if (!m->guards || m->guards_swept || !m->fdstore_swept)
		return;
	for (size_t i = 0; i < m->registry.n; i++) {
		const struct endpoint *e = m->registry.items[i];

		if (endpoint_live(e) &&
		    (e->dirty || e->guard.stale || e->guard.state == GUARD_PENDING))
			return; /* the next tick */
	}
	r = guards_sweep(m->guards, guard_claimed, &m->registry);
	if (r < 0)
		log_warning_errno(r, "Cannot sweep guard tables left by devices now gone: %m");
	m->guards_swept = true;
}

static int on_periodic(struct watch *w, uint32_t events)
{
	struct manager *m = container_of(w, struct manager, periodic_watch);

	(void)timer_fd_ack(m->periodic_fd);
	fdstore_sweep(m);
	guards_gc(m);
	return ops_check_namespaces(&m->ops);
}

static int on_netns_name(const char *name, void *userdata)
{
	struct manager *m = userdata;
	int r = ops_netns_changed(&m->ops, name);

	return r > 0 ? 0 : r;
}

static int on_retry(struct watch *w, uint32_t events)
{
	struct manager *m = container_of(w, struct manager, retry_watch);

	(void)timer_fd_ack(m->retry_fd);
	m->retry_armed = 0;
	return ops_retry_failed(&m->ops);
}

/* After every round (whatever changed what): the retry timer follows the earliest failed
 * endpoint's schedule; an endpoint that went or succeeded takes its retry with it. */
static void arm_retry(struct manager *m)
{
	uint64_t due = ops_next_retry(&m->ops), now;

	if (due == m->retry_armed)
		return;
	now = now_usec();
	if (timer_fd_arm(m->retry_fd,
			 due == 0    ? 0
			 : due > now ? (due - now + 999) / 1000
				     : 1,
			 false) < 0) {
		log_error("Failed to arm the retry timer");
		return;
	}
	m->retry_armed = due;
}

static int on_tick(void *userdata)
{
	struct manager *m = userdata;
	int a = api_timeout_ms(m->api), b = metrics_timeout_ms(m->metrics);

	arm_retry(m);
	fleet_flush(m->fleet);

	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

static int signals_open(struct manager *m)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	m->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (m->signal_fd < 0)
		return -errno;
	return loop_add(m->loop, &m->signal_watch, m->signal_fd, EPOLLIN, on_signal);
}

static int timers_open(struct manager *m)
{
	int r;

	m->debounce_fd = timer_fd_new();
	if (m->debounce_fd < 0)
		return m->debounce_fd;
	m->periodic_fd = timer_fd_new();
	if (m->periodic_fd < 0)
		return m->periodic_fd;
	m->retry_fd = timer_fd_new();
	if (m->retry_fd < 0)
		return m->retry_fd;
	r = loop_add(m->loop, &m->debounce_watch, m->debounce_fd, EPOLLIN, on_debounce);
	if (r >= 0)
		r = loop_add(m->loop, &m->periodic_watch, m->periodic_fd, EPOLLIN, on_periodic);
	if (r >= 0)
		r = loop_add(m->loop, &m->retry_watch, m->retry_fd, EPOLLIN, on_retry);
	return r;
}

/* ---- lifecycle ---- */

static int settings_copy(struct settings *dst, const struct settings *src)
{
	*dst = *src;
	dst->socket_path = src->socket_path ? strdup(src->socket_path) : NULL;
	dst->audit_socket = src->audit_socket ? strdup(src->audit_socket) : NULL;
	dst->state_dir = src->state_dir ? strdup(src->state_dir) : NULL;
	dst->engine = src->engine ? strdup(src->engine) : NULL;
	dst->group = src->group ? strdup(src->group) : NULL;
	dst->audit_group = src->audit_group ? strdup(src->audit_group) : NULL;
	dst->audit_log = src->audit_log ? strdup(src->audit_log) : NULL;
	dst->metrics_listen = src->metrics_listen ? strdup(src->metrics_listen) : NULL;
	dst->flow_log_file = src->flow_log_file ? strdup(src->flow_log_file) : NULL;
	dst->config = src->config ? strdup(src->config) : NULL;
	dst->fdstore = src->fdstore ? strdup(src->fdstore) : NULL;
	dst->fdstore_socket = src->fdstore_socket ? strdup(src->fdstore_socket) : NULL;
	dst->store = src->store ? strdup(src->store) : NULL;
	dst->node = src->node ? strdup(src->node) : NULL;
	dst->store_cacert = src->store_cacert ? strdup(src->store_cacert) : NULL;
	dst->store_cert = src->store_cert ? strdup(src->store_cert) : NULL;
	dst->store_key = src->store_key ? strdup(src->store_key) : NULL;
	dst->hook_fail_open = NULL;
	dst->n_hook_fail_open = 0;
	if (src->n_hook_fail_open) {
		dst->hook_fail_open = calloc(src->n_hook_fail_open, sizeof(char *));
		if (!dst->hook_fail_open)
			return -ENOMEM;
		for (size_t i = 0; i < src->n_hook_fail_open; i++) {
			dst->hook_fail_open[i] = strdup(src->hook_fail_open[i]);
			if (!dst->hook_fail_open[i])
				return -ENOMEM;
			dst->n_hook_fail_open = i + 1;
		}
	}
	if ((src->socket_path && !dst->socket_path) || (src->audit_socket && !dst->audit_socket) ||
	    (src->state_dir && !dst->state_dir) || (src->engine && !dst->engine) ||
	    (src->group && !dst->group) || (src->audit_group && !dst->audit_group) ||
	    (src->audit_log && !dst->audit_log) || (src->metrics_listen && !dst->metrics_listen) ||
	    (src->flow_log_file && !dst->flow_log_file) || (src->config && !dst->config) ||
	    (src->fdstore && !dst->fdstore) || (src->fdstore_socket && !dst->fdstore_socket) ||
	    (src->store && !dst->store) || (src->node && !dst->node) ||
	    (src->store_cacert && !dst->store_cacert) || (src->store_cert && !dst->store_cert) ||
	    (src->store_key && !dst->store_key))
		return -ENOMEM;
	return 0;
}

/* Wires the parts together; they point at each other through the manager. */
static void wire(struct manager *m)
{
	const struct settings *s = &m->settings;

	m->env = (struct endpoint_env){
		.loop = m->loop,
		.nft = m->nft,
		.addr_watch = m->addr_watch,
		.closer = m->closer,
		.flow_logs = s->flow_log != POLICY_FLOW_LOG_NONE,
		.addresses_changed = on_addresses_changed,
		.nft_events_ready = on_nft_events,
		.flow_logs_ready = on_flow_logs,
		.userdata = m,
	};
	m->rc = (struct reconciler){
		.store = &m->store,
		.registry = &m->registry,
		.errlog = &m->errlog,
		.deny = s->deny,
		.guards = m->guards,
		.keep_established = s->keep_established,
		.emit = { .flow_log = s->flow_log,
			  .log_group = FLOWS_NFLOG_GROUP,
			  .log_rate = POLICY_FLOW_LOG_RATE },
	};
	m->containers = (struct containers){
		.registry = &m->registry,
		.rc = &m->rc,
		.env = &m->env,
		.errlog = &m->errlog,
	};
	m->drift = (struct drift){ .ctx = m->nft, .emit = &m->rc.emit };
	m->ops = (struct ops){
		.store = &m->store,
		.registry = &m->registry,
		.rc = &m->rc,
		.containers = &m->containers,
		.state = m->state,
		.audit = m->audit,
		.flows = m->flows,
		.drift = &m->drift,
		.drift_report_only = s->drift_report_only,
		.errlog = &m->errlog,
		.env = &m->env,
		.started = time(NULL),
		.engine_spec = s->engine,
		.matrix_budget = s->matrix_budget,
		.hook_fail_open = s->hook_fail_open,
		.n_hook_fail_open = s->n_hook_fail_open,
		.config = s->config,
		.engine_status = engine_status,
		.userdata = m,
	};
}

int manager_new(const struct settings *s, manager_reload_fn reload, void *userdata,
		struct manager **ret)
{
	struct manager *m = calloc(1, sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	m->signal_fd = m->debounce_fd = m->periodic_fd = m->retry_fd = -1;
	m->netns_watch.fd = m->netns_watch.retry_fd = -1;
	m->reload = reload;
	m->reload_userdata = userdata;
	r = settings_copy(&m->settings, s);
	if (r >= 0)
		r = loop_new(&m->loop);
	if (r >= 0)
		r = nft_rx_new(&m->nft);
	/* Not fatal: without it, sockets close on the loop (slower, same result). */
	if (r >= 0) {
		int k = closer_new(&m->closer);

		if (k < 0)
			log_warning_errno(k,
					  "Cannot start the closer, closing sockets in segd: %m");
	}
	if (r >= 0)
		r = guards_new(m->nft, &m->guards);
	if (r >= 0) {
		r = addr_watch_new(m->loop, endpoint_addr_event, NULL, &m->addr_watch);
		if (r < 0)
			log_error_errno(
				r, "Cannot follow address changes (NETLINK_LISTEN_ALL_NSID): %m");
	}
	if (r >= 0)
		m->guards->closer = m->closer;
	if (r >= 0)
		r = state_open(s->state_dir, &m->state);
	if (r < 0)
		log_error_errno(r, "Failed to set up the state dir %s: %m", s->state_dir);
	if (r >= 0)
		r = audit_open(s->audit_log, &m->audit);
	if (r >= 0)
		r = flows_new(s->flow_log_file, s->flow_log_max_bytes, &m->flows);
	if (r >= 0)
		r = signals_open(m);
	if (r >= 0)
		r = timers_open(m);
	if (r >= 0)
		r = netns_host_inode(&m->containers.host_netns_ino);
	if (r < 0) {
		manager_free(m);
		return r;
	}
	{
		ino_t host = m->containers.host_netns_ino;

		wire(m);
		m->containers.host_netns_ino = host;
	}
	*ret = m;
	return 0;
}

struct manager *manager_free(struct manager *m)
{
	if (!m)
		return NULL;
	m->api = api_free(m->api);
	m->metrics = metrics_free(m->metrics);
	m->engine = engine_free(m->engine);
	m->fleet = fleet_free(m->fleet);
	/* Closing our sockets leaves the tables in place (PERSIST): stopping segd never opens
	 * anything. */
	reconcile_done(&m->rc);
	registry_done(&m->registry);
	m->addr_watch = addr_watch_free(m->addr_watch);
	m->guards = guards_free(m->guards);
	/* Our copies close; the store's keep the tables owned until the next segd. */
	m->fdstore = fdstore_free(m->fdstore);
	store_done(&m->store);
	errlog_done(&m->errlog);
	loop_remove(&m->signal_watch);
	loop_remove(&m->debounce_watch);
	loop_remove(&m->periodic_watch);
	loop_remove(&m->retry_watch);
	netns_watch_close(&m->netns_watch);
	safe_close(m->signal_fd);
	safe_close(m->debounce_fd);
	safe_close(m->periodic_fd);
	safe_close(m->retry_fd);
	m->state = state_free(m->state);
	m->audit = audit_free(m->audit);
	m->flows = flows_free(m->flows);
	loop_free(m->loop);
	m->nft = nft_rx_free(m->nft);
	/* Last: the sockets closed above are dropped by it, and it waits for them. */
	m->closer = closer_free(m->closer);
	settings_done(&m->settings);
	free(m);
	return NULL;
}

/* Which table flags the kernel has; what they make of the endpoints' sockets. */
static int probe_table_flags(struct manager *m)
{
	struct nft_sock *probe = NULL;
	uint32_t flags = 0;
	int r;

	/* In our own namespace; the probe batch is made to abort, nothing changes. */
	r = nft_sock_open(m->nft, -1, &probe);
	if (r >= 0)
		r = nft_probe_table_flags(probe, &flags);
	nft_sock_free(probe);
	if (r < 0)
		return log_error_errno(r, "Failed to probe nf_tables table flags: %m");
	if (m->settings.no_table_owner)
		flags &= ~(uint32_t)(NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST);
	m->rc.emit.table_flags = flags;
	m->env.nft_events = m->ops.drift_watching = !(flags & NFT_TABLE_F_OWNER);
	if (m->ops.drift_watching)
		log_info("Tables are not owned: watching nf_tables events in every namespace to "
			 "repair changes by other processes");
	else if (!(flags & NFT_TABLE_F_PERSIST))
		log_warning("Kernel lacks NFT_TABLE_F_PERSIST: tables are not owned, a segd crash "
			    "keeps them but they are not protected from other writers");
	return 0;
}

/* The holder next to segd (a build tree, or one install dir), else the installed one. */
static char *holder_path(void)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash && (size_t)(slash - exe) + sizeof("/segd-fdstore") < sizeof(exe)) {
			strcpy(slash, "/segd-fdstore");
			if (access(exe, X_OK) == 0)
				return strdup(exe);
		}
	}
	return strdup(SEGD_LIBEXECDIR "/segd/segd-fdstore");
}

/* Connects to the fd store (settings "fdstore"): the owner sockets of the previous segd come
 * back from there, and ours go there. Without one, tables survive a restart (PERSIST) but are
 * not owned while no segd runs. */
static void fdstore_setup(struct manager *m)
{
	const struct settings *s = &m->settings;
	_cleanup_free_ char *holder = NULL, *sock = NULL;
	enum fdstore_kind kind;
	int r;

	if (streq(s->fdstore, "none"))
		return;
	kind = streq(s->fdstore, "systemd")  ? FDSTORE_SYSTEMD
	       : streq(s->fdstore, "holder") ? FDSTORE_HOLDER
	       : getenv("NOTIFY_SOCKET")     ? FDSTORE_SYSTEMD
					     : FDSTORE_HOLDER;
	holder = holder_path();
	if (s->fdstore_socket)
		sock = strdup(s->fdstore_socket);
	else {
		const char *slash = strrchr(s->socket_path, '/');

		if (asprintf(&sock, "%.*s/fdstore", (int)(slash - s->socket_path), s->socket_path) <
		    0)
			sock = NULL;
	}
	if (!holder || !sock) {
		log_error("Out of memory setting up the fd store");
		return;
	}
	r = fdstore_open(kind, holder, sock, &m->fdstore);
	if (r < 0) {
		log_warning_errno(r,
				  "No fd store (%s): tables stay in force across a restart but "
				  "are not owned while segd is down: %m",
				  kind == FDSTORE_SYSTEMD ? "systemd" : sock);
		return;
	}
	m->env.fdstore = m->fdstore;
	m->guards->fdstore = m->fdstore;
	log_info("Owner sockets kept by %s: %zu handed back",
		 kind == FDSTORE_SYSTEMD ? "systemd" : holder, fdstore_size(m->fdstore));
}

int manager_start(struct manager *m)
{
	struct state_loaded loaded = { 0 };
	size_t updated = 0;
	int r;

	r = probe_table_flags(m);
	if (r < 0)
		return r;
	fdstore_setup(m);
	/* Everything is loaded before anything is compiled: a plan computed from a partial
	 * model could be more open than the one in the kernel. */
	r = state_load(m->state, &loaded);
	if (r < 0)
		return log_error_errno(r, "Failed to load state from %s: %m",
				       m->settings.state_dir);
	store_load(&m->store, TAKE_PTR(loaded.objects));
	r = ops_restore(&m->ops, &loaded);
	state_loaded_done(&loaded);
	if (r < 0)
		return log_error_errno(r, "Failed to restore the stored endpoints: %m");
	log_info("Loaded state: %zu namespace(s), %zu policies, %zu cluster policies, "
		 "%zu endpoint(s)",
		 m->store.n_namespaces, m->store.n_netpols, m->store.n_cnps, m->registry.n);

	/* A fleet's node reads the store first; it enforces what it cached when the store does
	 * not answer (fail static). */
	if (m->settings.store) {
		struct fleet_config fc = { .store = m->settings.store,
					   .node = m->settings.node,
					   .cacert = m->settings.store_cacert,
					   .cert = m->settings.store_cert,
					   .key = m->settings.store_key,
					   .ttl_s = m->settings.node_ttl_s };

		r = fleet_new(m->loop, &m->ops, &fc, &m->fleet);
		if (r >= 0)
			r = fleet_start(m->fleet);
		if (r < 0)
			return log_error_errno(r, "Failed to set up the fleet: %m");
	}
	r = reconcile_all(&m->rc, &updated);
	if (r < 0)
		return log_error_errno(r, "Failed to compile the stored state: %m");
	log_info("Reconciled %zu endpoint(s): %zu namespace(s) committed, %d failed", m->registry.n,
		 updated, r);

	/* Hand-registered namespaces deleted and created again under their name get their table
	 * at once; the periodic check is the fallback. */
	r = netns_watch_open(&m->netns_watch, m->loop, NETNS_RUN_DIR, on_netns_name, m);
	if (r < 0)
		log_warning_errno(r,
				  "Cannot watch %s (namespaces created anew wait for the "
				  "periodic check): %m",
				  NETNS_RUN_DIR);
	r = timer_fd_arm(m->periodic_fd, PERIODIC_MS, true);
	if (r < 0)
		return log_error_errno(r, "Failed to arm the periodic timer: %m");
	{
		_cleanup_free_ char *audit_socket =
			m->settings.audit_socket
				? strdup(m->settings.audit_socket)
				: path_sibling(m->settings.socket_path, API_AUDIT_SOCKET_NAME);
		struct api_conns_config cfg = { .socket_path = m->settings.socket_path,
						.audit_socket_path = audit_socket,
						.group = m->settings.group,
						.audit_group = m->settings.audit_group,
						.request_timeout_s =
							m->settings.request_timeout_s };

		r = audit_socket ? api_new(m->loop, &m->ops, &cfg, &m->api) : -ENOMEM;
	}
	if (r >= 0 && m->settings.metrics_listen)
		r = metrics_new(m->loop, &m->ops, m->settings.metrics_listen, &m->metrics);
	if (r < 0)
		return r;
	/* After the API: the OCI hook may already be asking while the first list runs. */
	if (!streq(m->settings.engine, "none")) {
		r = engine_new(m->loop, m->settings.engine, m->settings.resync_interval_s,
			       &engine_ops, m, &m->engine);
		if (r < 0)
			return r;
	}
	return 0;
}

int manager_run(struct manager *m)
{
	return loop_run(m->loop, on_tick, m);
}

struct ops *manager_ops(struct manager *m)
{
	return &m->ops;
}

int manager_run_once(struct manager *m, int max_ms)
{
	int t = on_tick(m);

	return loop_iterate(m->loop, t < 0 || t > max_ms ? max_ms : t);
}
