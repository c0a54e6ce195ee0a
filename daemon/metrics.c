/* SPDX-License-Identifier: MIT */
/*
 * Prometheus text exposition (version 0.0.4) on --metrics-listen, served by a second
 * libmicrohttpd daemon in the same epoll loop, so that every figure is read from the
 * manager's own state between events, never concurrently. GET /metrics only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "api.h"
#include "audit.h"
#include "engine.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "metrics.h"

#define METRICS_MAX_CONNECTIONS 16
#define METRICS_TIMEOUT_S 10

const double metrics_duration_buckets[METRICS_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
};

struct metrics {
	struct manager *manager;
	struct MHD_Daemon *mhd;
	struct watch watch;
};

void metrics_observe(struct histogram *h, double seconds)
{
	for (size_t i = 0; i < METRICS_BUCKETS; i++)
		if (seconds <= metrics_duration_buckets[i])
			h->buckets[i]++;
	h->count++;
	h->sum += seconds;
}

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
	errno = 0;
	port = strtoul(p, &end, 10);
	if (errno || end == p || *end || port == 0 || port > 65535 || hl == 0 || hl > 64)
		return -EINVAL;
	host = strndup(h, hl);
	if (!host)
		return -ENOMEM;
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		((struct sockaddr_in *)ss)->sin_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
		*len = sizeof(struct sockaddr_in);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
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
	for (size_t i = 0; i < METRICS_BUCKETS; i++)
		fprintf(f, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, metrics_duration_buckets[i],
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
	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n", name, help, name, name, v);
}

int metrics_render(struct manager *m, char **ret, size_t *ret_len)
{
	uint64_t by_state[_ENDPOINT_STATE_MAX] = { 0 }, quarantined = 0, containers = 0;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_endpoints; i++) {
		const struct endpoint *e = m->endpoints[i];

		if (e->state < _ENDPOINT_STATE_MAX)
			by_state[e->state]++;
		quarantined += e->quarantined;
		containers += e->kind == ENDPOINT_KIND_CONTAINER;
	}
	fputs("# HELP segd_endpoints Endpoints (network namespaces) by state.\n"
	      "# TYPE segd_endpoints gauge\n", f);
	for (int s = 0; s < _ENDPOINT_STATE_MAX; s++)
		fprintf(f, "segd_endpoints{state=\"%s\"} %" PRIu64 "\n",
			endpoint_state_to_string((enum endpoint_state)s), by_state[s]);
	gauge(f, "segd_endpoints_quarantined",
	      "Endpoints isolated both ways because their labels are not known yet.",
	      (double)quarantined);
	gauge(f, "segd_endpoints_containers", "Endpoints that are containers (engine or OCI hook).",
	      (double)containers);
	gauge(f, "segd_networkpolicies", "NetworkPolicy objects in force.", (double)m->n_netpols);
	gauge(f, "segd_namespaces", "Namespace objects applied.", (double)m->n_namespaces);
	histogram(f, "segd_reconcile_duration_seconds",
		  "Time to compile and commit one change (every reconcile).", &m->stats.reconcile);
	counter(f, "segd_reconciles_total", "Reconciles run.", m->stats.reconcile.count);
	counter(f, "segd_namespace_commits_total", "Namespaces committed to the kernel.",
		m->total.namespaces);
	counter(f, "segd_namespace_commits_incremental_total",
		"Namespaces committed by set elements alone.", m->total.incremental);
	counter(f, "segd_plans_compiled_total", "Plans compiled.", m->total.compiled);
	counter(f, "segd_netlink_messages_total", "nf_tables messages sent.", m->total.messages);
	counter(f, "segd_netlink_bytes_total", "nf_tables bytes sent.", m->total.bytes);
	counter(f, "segd_netlink_errors_total",
		"Transactions the kernel refused (the namespace keeps its last table).",
		m->commit_errors);
	counter(f, "segd_drift_detected_total",
		"Changes by other processes to segd's tables, detected from nf_tables events.",
		m->stats.drift_detected);
	counter(f, "segd_drift_repairs_total", "Tables segd replaced after such a change.",
		m->stats.drift_repairs);
	counter(f, "segd_netlink_event_overruns_total",
		"Event sockets that overran (ENOBUFS); each forces a full check of its namespace.",
		m->stats.event_overruns);
	fputs("# HELP segd_flows_total New connections logged by the endpoints' chains, by "
	      "verdict.\n# TYPE segd_flows_total counter\n", f);
	fprintf(f, "segd_flows_total{verdict=\"allowed\"} %" PRIu64 "\n", m->stats.flows_allowed);
	fprintf(f, "segd_flows_total{verdict=\"denied\"} %" PRIu64 "\n", m->stats.flows_denied);
	counter(f, "segd_audit_records_total", "Records written to the audit log since start.",
		audit_records(m->audit));
	gauge(f, "segd_engine_connected", "1 when the container engine's event stream is up.",
	      engine_connected(m->engine) ? 1 : 0);
	gauge(f, "segd_start_time_seconds", "When segd started (Unix time).", (double)m->started);
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
		*con_cls = x;	/* first call: headers only */
		return MHD_YES;
	}
	if (*upload_size > 0) {
		*upload_size = 0;	/* no bodies here: read and dropped */
		return MHD_YES;
	}
	if (!streq(method, MHD_HTTP_METHOD_GET) || !streq(url, "/metrics"))
		return respond(c, 404, "text/plain", not_found, strlen(not_found),
			       MHD_RESPMEM_PERSISTENT);
	if (metrics_render(x->manager, &text, &len) < 0)
		return respond(c, 500, "text/plain", oom, strlen(oom), MHD_RESPMEM_PERSISTENT);
	return respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", text, len,
		       MHD_RESPMEM_MUST_FREE);
}

static int on_event(struct watch *w, uint32_t events)
{
	struct metrics *x = container_of(w, struct metrics, watch);

	if (MHD_run(x->mhd) != MHD_YES)
		log_warning("libmicrohttpd (metrics) failed to process events, ignoring");
	return 0;
}

int metrics_timeout_ms(struct metrics *x)
{
	return x ? mhd_timeout_ms(x->mhd) : -1;
}

int metrics_new(struct manager *m, struct loop *loop, const char *listen, struct metrics **ret)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	const union MHD_DaemonInfo *di;
	struct metrics *x;
	int r;

	r = metrics_parse_listen(listen, &ss, &sl);
	if (r < 0)
		return log_error_errno(r, "--metrics-listen: '%s' is not IPV4:PORT or [IPV6]:PORT",
				       listen);
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->manager = m;
	x->mhd = MHD_start_daemon(MHD_USE_EPOLL | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				  0, NULL, NULL, on_request, x, MHD_OPTION_SOCK_ADDR,
				  (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
				  (unsigned)METRICS_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
				  (unsigned)METRICS_TIMEOUT_S, MHD_OPTION_END);
	if (!x->mhd) {
		free(x);
		return log_error_errno(-EADDRNOTAVAIL, "Failed to serve metrics on %s", listen);
	}
	di = MHD_get_daemon_info(x->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!di) {
		metrics_free(x);
		return log_error_errno(-EIO, "libmicrohttpd gave no epoll fd for the metrics");
	}
	r = loop_add(loop, &x->watch, di->epoll_fd, EPOLLIN, on_event);
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
	loop_remove(&x->watch);
	if (x->mhd)
		MHD_stop_daemon(x->mhd);
	free(x);
	return NULL;
}
