/* SPDX-License-Identifier: MIT */
/*
 * Prometheus text exposition (version 0.0.4) on --metrics-listen, served by a second
 * libmicrohttpd daemon in the same epoll loop, so that every figure is read from the
 * manager's own state between events, never concurrently. GET /metrics only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "conn-limit.h"
#include "histogram.h"
#include "log.h"
#include "macro.h"
#include "metrics.h"
#include "mhd-loop.h"

#define METRICS_MAX_CONNECTIONS 16
#define METRICS_TIMEOUT_S 10

const double histogram_buckets[HISTOGRAM_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
};

struct metrics {
	struct ops *ops;
	struct mhd_watch mw;
};

int metrics_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	_cleanup_free_ char *host = NULL;
	const char *colon, *h, *p;
	unsigned long port;
	char *end;
	size_t hl;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(close - h);
		p = close + 2;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon)
			return -EINVAL;
		h = s;
		hl = (size_t)(colon - s);
		p = colon + 1;
	}
	if (*p < '0' || *p > '9') /* strtoul() would take spaces and a sign */
		return -EINVAL;
	errno = 0;
	port = strtoul(p, &end, 10);
	if (errno || end == p || *end || port == 0 || port > 65535 || hl == 0 || hl > 64)
		return -EINVAL;
	host = strndup(h, hl);
	if (!host)
		return -ENOMEM;
	memset(ss, 0, sizeof(*ss));
	/* brackets hold an IPv6 address, and only one holds brackets */
	if (s[0] != '[' && inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		((struct sockaddr_in *)ss)->sin_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
		*len = sizeof(struct sockaddr_in);
		return 0;
	}
	if (s[0] == '[' &&
	    inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
		*len = sizeof(struct sockaddr_in6);
		return 0;
	}
	return -EINVAL;
}

static void histogram(FILE *f, const char *name, const char *help, const struct histogram *h)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (size_t i = 0; i < HISTOGRAM_BUCKETS; i++)
		fprintf(f, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, histogram_buckets[i],
			h->buckets[i]);
	fprintf(f, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum %.6f\n%s_count %" PRIu64 "\n", name,
		h->count, name, h->sum, name, h->count);
}

static void counter(FILE *f, const char *name, const char *help, uint64_t v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n", name, help, name, name, v);
}

static void gauge(FILE *f, const char *name, const char *help, double v)
{
	/* %.17g: every digit of a count or a Unix time, not "1.795e+09" */
	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name, v);
}

/* A fleet's node (docs/fleet.md): its view of the store and of the other nodes. */
static void fleet_metrics(FILE *f, struct ops *o)
{
	static const char *const states[] = { "ready", "behind", "lost", "disconnected" };
	json_auto_t *v = o->fleet->view(o->fleet->userdata);
	json_t *c = json_object_get(v, "counters"), *n;
	size_t i;

	gauge(f, "segd_fleet_connected", "1 while this node follows the fleet's store.",
	      json_is_true(json_object_get(v, "connected")) ? 1 : 0);
	gauge(f, "segd_fleet_revision", "The newest policy revision this node knows.",
	      (double)json_integer_value(json_object_get(v, "revision")));
	fputs("# HELP segd_fleet_nodes The fleet's nodes by state.\n"
	      "# TYPE segd_fleet_nodes gauge\n",
	      f);
	for (size_t s = 0; s < ARRAY_SIZE(states); s++) {
		uint64_t k = 0;

		json_array_foreach(json_object_get(v, "nodes"), i, n)
			k += streq(json_string_value(json_object_get(n, "state")) ?: "", states[s]);
		fprintf(f, "segd_fleet_nodes{state=\"%s\"} %" PRIu64 "\n", states[s], k);
	}
	counter(f, "segd_fleet_relists_total", "Times this node read the whole store.",
		(uint64_t)json_integer_value(json_object_get(c, "relists")));
	counter(f, "segd_fleet_watch_batches_total", "Watch messages (one etcd revision each).",
		(uint64_t)json_integer_value(json_object_get(c, "batches")));
	counter(f, "segd_fleet_remote_changes_total",
		"Other nodes' endpoints added, changed or removed here.",
		(uint64_t)json_integer_value(json_object_get(c, "remote_changes")));
	counter(f, "segd_fleet_bad_values_total",
		"Values in the store that were not valid (ignored, what was there stays).",
		(uint64_t)json_integer_value(json_object_get(c, "bad_values")));
}

static bool engine_connected(struct ops *o)
{
	json_auto_t *st = o->engine_status ? o->engine_status(o->userdata) : NULL;

	return json_is_true(json_object_get(st, "connected"));
}

int metrics_render(struct ops *o, char **ret, size_t *ret_len)
{
	uint64_t by_state[_ENDPOINT_STATE_MAX] = { 0 }, quarantined = 0, containers = 0;
	uint64_t by_guard[_GUARD_STATE_MAX] = { 0 }, conflicts = 0, failing = 0;
	const struct reconciler *rc = o->rc;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < o->registry->n; i++) {
		const struct endpoint *e = o->registry->items[i];

		if (e->state < _ENDPOINT_STATE_MAX)
			by_state[e->state]++;
		quarantined += e->quarantined;
		containers += e->kind == ENDPOINT_KIND_CONTAINER;
		conflicts += e->n_conflicts;
		failing += endpoint_live(e) && e->retry.failures > 0;
		if (endpoint_live(e) && e->guard.state < _GUARD_STATE_MAX)
			by_guard[e->guard.state]++;
	}
	fputs("# HELP segd_endpoints Endpoints (network namespaces) by state.\n"
	      "# TYPE segd_endpoints gauge\n",
	      f);
	for (int s = 0; s < _ENDPOINT_STATE_MAX; s++)
		fprintf(f, "segd_endpoints{state=\"%s\"} %" PRIu64 "\n",
			endpoint_state_to_string((enum endpoint_state)s), by_state[s]);
	fputs("# HELP segd_endpoints_guard Live endpoints by the state of their host-side guard.\n"
	      "# TYPE segd_endpoints_guard gauge\n",
	      f);
	for (int s = 0; s < _GUARD_STATE_MAX; s++)
		fprintf(f, "segd_endpoints_guard{state=\"%s\"} %" PRIu64 "\n",
			guard_state_to_string((enum guard_state)s), by_guard[s]);
	gauge(f, "segd_address_conflicts",
	      "Addresses an endpoint holds that another endpoint holds too (neither's).",
	      (double)conflicts);
	counter(f, "segd_flows_cut_total",
		"Conntrack entries deleted because a change no longer allows their flow.",
		o->rc->flows_cut);
	gauge(f, "segd_endpoints_quarantined",
	      "Endpoints isolated both ways: labels not known yet, or a fault in the state dir.",
	      (double)quarantined);
	gauge(f, "segd_endpoints_containers", "Endpoints that are containers (engine or OCI hook).",
	      (double)containers);
	gauge(f, "segd_networkpolicies", "NetworkPolicy objects in force.",
	      (double)o->store->n_netpols);
	gauge(f, "segd_clusternetworkpolicies", "ClusterNetworkPolicy objects in force.",
	      (double)o->store->n_cnps);
	gauge(f, "segd_nodes", "Node objects applied.", (double)o->store->n_nodes);
	gauge(f, "segd_namespaces", "Namespace objects applied.", (double)o->store->n_namespaces);
	histogram(f, "segd_reconcile_duration_seconds",
		  "Time to compile and commit one change (every reconcile).", &rc->duration);
	counter(f, "segd_reconciles_total", "Reconciles run.", rc->duration.count);
	counter(f, "segd_namespace_commits_total", "Namespaces committed to the kernel.",
		rc->total.namespaces);
	counter(f, "segd_namespace_commits_incremental_total",
		"Namespaces committed by set elements alone.", rc->total.incremental);
	counter(f, "segd_plans_compiled_total", "Plans compiled.", rc->total.compiled);
	counter(f, "segd_netlink_messages_total", "nf_tables messages sent.", rc->total.messages);
	counter(f, "segd_netlink_bytes_total", "nf_tables bytes sent.", rc->total.bytes);
	counter(f, "segd_netlink_errors_total",
		"Transactions the kernel refused (the namespace keeps its last table).",
		rc->commit_errors);
	counter(f, "segd_endpoint_commit_failures_total",
		"Endpoint commits the kernel refused, first tries and retries (each endpoint keeps "
		"its last table).",
		rc->commit_errors);
	counter(f, "segd_endpoint_commit_retries_total",
		"Commits of failed endpoints tried again (backoff from 100 ms to 30 s).",
		rc->retries);
	gauge(f, "segd_endpoints_failed",
	      "Endpoints whose last commit failed: kept at their last table (or default-deny), "
	      "retried, not holding up other changes.",
	      (double)failing);
	counter(f, "segd_label_index_repairs_total",
		"Endpoints the periodic check found out of date in the label index or the marked "
		"list (a bug: repaired, and everything recompiled).",
		rc->index_repairs);
	counter(f, "segd_endpoint_registrations_refused_total",
		"Registrations refused because their network namespace was an endpoint already.",
		o->registry->refused);
	counter(f, "segd_drift_detected_total",
		"Changes by other processes to segd's tables, detected from nf_tables events.",
		o->drift->detected);
	counter(f, "segd_drift_repairs_total", "Tables segd replaced after such a change.",
		o->drift->repairs);
	counter(f, "segd_netlink_event_overruns_total",
		"Event sockets that overran (ENOBUFS); each forces a full check of its namespace.",
		o->drift->event_overruns);
	fputs("# HELP segd_flows_total New connections logged by the endpoints' chains, by "
	      "verdict.\n# TYPE segd_flows_total counter\n",
	      f);
	fprintf(f, "segd_flows_total{verdict=\"allowed\"} %" PRIu64 "\n",
		flows_count(o->flows, false));
	fprintf(f, "segd_flows_total{verdict=\"denied\"} %" PRIu64 "\n",
		flows_count(o->flows, true));
	counter(f, "segd_audit_records_total", "Records written to the audit log since start.",
		audit_records(o->audit));
	if (o->api_conns) {
		const struct conn_limit *cl = o->api_conns;

		gauge(f, "segd_api_connections", "API connections open.", (double)cl->n_total);
		counter(f, "segd_api_connections_accepted_total",
			"API connections accepted (given a role and a slot).",
			cl->refused[CONN_ACCEPTED]);
		fputs("# HELP segd_api_connections_refused_total API connections closed at accept, "
		      "by reason.\n# TYPE segd_api_connections_refused_total counter\n",
		      f);
		for (int v = CONN_REFUSED_NO_ROLE; v < _CONN_VERDICT_MAX; v++)
			fprintf(f,
				"segd_api_connections_refused_total{reason=\"%s\"} %" PRIu64 "\n",
				conn_verdict_to_string((enum conn_verdict)v), cl->refused[v]);
		counter(f, "segd_api_connections_timed_out_total",
			"API connections closed because their request (or the taking of its answer) "
			"was past its deadline.",
			cl->timed_out);
	}
	gauge(f, "segd_engine_connected", "1 when the container engine's event stream is up.",
	      engine_connected(o) ? 1 : 0);
	gauge(f, "segd_start_time_seconds", "When segd started (Unix time).", (double)o->started);
	if (o->fleet)
		fleet_metrics(f, o);
	if (fclose(f) != 0 || !text) {
		free(text);
		return -ENOMEM;
	}
	*ret = text;
	*ret_len = len;
	return 0;
}

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *type,
			       char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (!resp) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	(void)MHD_add_response_header(resp, "Content-Type", type);
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	static char not_found[] = "not found: GET /metrics\n";
	static char oom[] = "out of memory\n";
	struct metrics *x = cls;
	char *text = NULL;
	size_t len = 0;

	if (!*con_cls) {
		*con_cls = x; /* first call: headers only */
		return MHD_YES;
	}
	if (*upload_size > 0) {
		*upload_size = 0; /* no bodies here: read and dropped */
		return MHD_YES;
	}
	if (!streq(method, MHD_HTTP_METHOD_GET) || !streq(url, "/metrics"))
		return respond(c, 404, "text/plain", not_found, strlen(not_found),
			       MHD_RESPMEM_PERSISTENT);
	if (metrics_render(x->ops, &text, &len) < 0)
		return respond(c, 500, "text/plain", oom, strlen(oom), MHD_RESPMEM_PERSISTENT);
	return respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", text, len,
		       MHD_RESPMEM_MUST_FREE);
}

int metrics_timeout_ms(struct metrics *x)
{
	return x ? mhd_timeout_ms(&x->mw) : -1;
}

int metrics_new(struct loop *loop, struct ops *ops, const char *listen, struct metrics **ret)
{
	struct sockaddr_storage ss;
	struct MHD_Daemon *mhd;
	struct metrics *x;
	socklen_t sl;
	int r;

	r = metrics_parse_listen(listen, &ss, &sl);
	if (r < 0)
		return log_error_errno(r, "--metrics-listen: '%s' is not IPV4:PORT or [IPV6]:PORT",
				       listen);
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->ops = ops;
	mhd = MHD_start_daemon(MHD_USE_EPOLL | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), 0,
			       NULL, NULL, on_request, x, MHD_OPTION_SOCK_ADDR,
			       (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
			       (unsigned)METRICS_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
			       (unsigned)METRICS_TIMEOUT_S, MHD_OPTION_END);
	if (!mhd) {
		free(x);
		return log_error_errno(-EADDRNOTAVAIL, "Failed to serve metrics on %s", listen);
	}
	x->mw.mhd = mhd;
	r = mhd_watch_add(loop, mhd, &x->mw);
	if (r < 0) {
		metrics_free(x);
		return log_error_errno(r, "Failed to watch the metrics server: %m");
	}
	log_info("Serving Prometheus metrics on http://%s/metrics", listen);
	*ret = x;
	return 0;
}

struct metrics *metrics_free(struct metrics *x)
{
	if (!x)
		return NULL;
	mhd_watch_remove(&x->mw);
	if (x->mw.mhd)
		MHD_stop_daemon(x->mw.mhd);
	free(x);
	return NULL;
}
