/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "api.h"
#include "api-conn.h"
#include "explain.h"
#include "log.h"
#include "macro.h"
#include "mhd-loop.h"
#include "views.h"

#define API_IDLE_TIMEOUT_S 30

struct api {
	struct ops *ops;
	struct api_conns *conns;
	struct mhd_watch mw;
};

/* Per connection: who asks, and the body read so far. */
struct request {
	char *body;
	size_t len, allocated;
	bool too_large;
	bool forbidden;
	bool read_only; /* a member of the audit group only */
	uid_t uid;
	pid_t pid;
};

/* What a handler sees. */
struct api_request {
	struct api *api;
	struct ops *ops;
	struct MHD_Connection *c;
	char **args; /* the '*' segments of the route */
	const char *body;
	size_t len;
};

static void request_free(struct request *q)
{
	if (!q)
		return;
	free(q->body);
	free(q);
}

unsigned api_http_status(int r)
{
	switch (-r) {
	case ENOENT:
		return 404;
	case EEXIST:
	case EPERM:
	case ENOTCONN:
	case EADDRINUSE:
		return 409;
	case EACCES:
		return 403;
	case ENOSPC:
		return 507; /* the state dir is full: nothing changed */
	case EHOSTUNREACH:
		return 503; /* the fleet's store cannot be reached: nothing changed */
	case EMSGSIZE:
		return 413;
	case EINVAL:
	case EBADMSG:
	case ERANGE:
	case E2BIG:
	case ENXIO:
	case ENOTTY:
	case ESRCH:
	case EPROTONOSUPPORT:
		return 400;
	default:
		return 500;
	}
}

/* ---- answers -------------------------------------------------------------------------------- */

static enum MHD_Result respond_json(struct MHD_Connection *c, unsigned status, json_t *o)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *text;

	text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	if (!text) {
		static char oom[] = "{\"error\":{\"message\":\"out of memory\",\"errno\":12}}";

		resp = MHD_create_response_from_buffer(strlen(oom), oom, MHD_RESPMEM_PERSISTENT);
		status = 500;
	} else
		resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	(void)MHD_add_response_header(resp, "Content-Type", "application/json");
	/* One request per connection: its deadline runs from accept (api-conn.h). */
	(void)MHD_add_response_header(resp, "Connection", "close");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static json_t *diag_json(const struct policy_diag *d)
{
	json_t *o = json_pack("{s:s?, s:s?}", "file", d->file, "message", d->message);

	if (!o)
		return NULL;
	if (d->line)
		json_object_set_new(o, "line", json_integer(d->line));
	if (d->column)
		json_object_set_new(o, "column", json_integer(d->column));
	if (d->path)
		json_object_set_new(o, "path", json_string(d->path));
	return o;
}

/* {"error": {"message", "errno", "diagnostics"?}} with the status of r. */
static enum MHD_Result respond_error(struct MHD_Connection *c, unsigned status, int r,
				     struct op_error *err)
{
	json_t *e;

	e = json_pack("{s:s, s:i}", "message", err->message ? err->message : strerror(-r), "errno",
		      r < 0 ? -r : r);
	if (e && err->diags.n > 0) {
		json_t *diags = json_array();

		for (size_t i = 0; diags && i < err->diags.n; i++)
			json_array_append_new(diags, diag_json(&err->diags.items[i]));
		json_object_set_new(e, "diagnostics", diags);
	}
	op_error_done(err);
	return respond_json(c, status, e ? json_pack("{s:o}", "error", e) : NULL);
}

static enum MHD_Result respond_message(struct MHD_Connection *c, unsigned status, int r,
				       const char *msg)
{
	struct op_error err = { .message = strdup(msg) };

	return respond_error(c, status, r, &err);
}

/* ---- handlers ------------------------------------------------------------------------------- */

static const char *arg(const struct api_request *rq, const char *key)
{
	return MHD_lookup_connection_value(rq->c, MHD_GET_ARGUMENT_KIND, key);
}

static const char *file_arg(const struct api_request *rq)
{
	return arg(rq, "file") ? arg(rq, "file") : "-";
}

static bool is_true(const char *v)
{
	return v && (streq(v, "true") || streq(v, "1"));
}

/* The body as a JSON object. */
static int body_object(const struct api_request *rq, json_t **ret, struct op_error *err)
{
	json_error_t jerr;
	json_t *o;

	o = json_loadb(rq->body, rq->len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o)
		return op_error_set(err, -EINVAL, "invalid JSON body at %d:%d: %s", jerr.line,
				    jerr.column, jerr.text);
	if (!json_is_object(o)) {
		json_decref(o);
		return op_error_set(err, -EINVAL, "the body must be a JSON object");
	}
	*ret = o;
	return 0;
}

static int on_status(struct api_request *rq, json_t **ret, struct op_error *err)
{
	*ret = ops_status(rq->ops);
	return *ret ? 0 : op_error_set(err, -ENOMEM, "out of memory");
}

static int on_check(struct api_request *rq, json_t **ret, struct op_error *err)
{
	if (reconcile_model_remotes(rq->ops->rc) < 0)
		return op_error_set(err, -ENOMEM, "out of memory");
	return explain_check(rq->ops->registry, &rq->ops->rc->emit, arg(rq, "from"), arg(rq, "to"),
			     arg(rq, "port"), ret, err);
}

static int on_matrix(struct api_request *rq, json_t **ret, struct op_error *err)
{
	if (reconcile_model_remotes(rq->ops->rc) < 0)
		return op_error_set(err, -ENOMEM, "out of memory");
	return explain_matrix(rq->ops->registry, arg(rq, "namespace"), arg(rq, "ports"),
			      rq->ops->matrix_budget, ret, err);
}

/* A decimal number of at most `max` (0 for none given). */
static int number_arg(const char *s, unsigned long long max, unsigned long long *ret)
{
	char *end;

	*ret = 0;
	if (!s)
		return 0;
	errno = 0;
	*ret = strtoull(s, &end, 10);
	return errno || *end || end == s || s[0] == '-' || *ret > max ? -EINVAL : 0;
}

static int on_flows(struct api_request *rq, json_t **ret, struct op_error *err)
{
	struct flows_filter q = { .endpoint = arg(rq, "endpoint"),
				  .verdict = arg(rq, "verdict"),
				  .time_from = arg(rq, "from") };
	const char *t = q.time_from;
	unsigned long long since, limit;

	if (q.verdict && !streq(q.verdict, "allowed") && !streq(q.verdict, "denied"))
		return op_error_set(err, -EINVAL, "verdict: \"allowed\" or \"denied\"");
	if (number_arg(arg(rq, "since"), UINT64_MAX, &since) < 0)
		return op_error_set(err, -EINVAL, "since: a record number");
	if (number_arg(arg(rq, "limit"), FLOWS_QUERY_MAX, &limit) < 0 ||
	    (arg(rq, "limit") && limit == 0))
		return op_error_set(err, -EINVAL, "limit: 1 to %d", FLOWS_QUERY_MAX);
	if (t &&
	    (strlen(t) != 27 || t[10] != 'T' || t[26] != 'Z' || strspn(t, "0123456789-T:.Z") != 27))
		return op_error_set(err, -EINVAL,
				    "from: a UTC time as YYYY-MM-DDTHH:MM:SS.ffffffZ");
	q.since = since;
	q.limit = (size_t)limit;
	return ops_flows(rq->ops, &q, ret, err);
}

static int on_apply(struct api_request *rq, json_t **ret, struct op_error *err)
{
	return ops_apply(rq->ops, file_arg(rq), rq->body, rq->len, is_true(arg(rq, "dryRun")), ret,
			 err);
}

static int on_diff(struct api_request *rq, json_t **ret, struct op_error *err)
{
	return ops_diff(rq->ops, file_arg(rq), rq->body, rq->len, ret, err);
}

static int on_delete(struct api_request *rq, json_t **ret, struct op_error *err)
{
	return ops_delete_file(rq->ops, file_arg(rq), rq->body, rq->len, ret, err);
}

static int on_netpols(struct api_request *rq, json_t **ret, struct op_error *err)
{
	*ret = view_netpols(rq->ops->store, arg(rq, "namespace"));
	return *ret ? 0 : op_error_set(err, -ENOMEM, "out of memory");
}

static int on_netpol(struct api_request *rq, json_t **ret, struct op_error *err)
{
	return ops_get_netpol(rq->ops, rq->args[0], rq->args[1], ret, err);
}

static int on_netpol_delete(struct api_request *rq, json_t **ret, struct op_error *err)
{
	return ops_delete_netpol(rq->ops, rq->args[0], rq->args[1], ret, err);
}

static int on_cnps(struct api_request *rq, json_t **ret, struct op_error *err)
{
	*ret = view_cnps(rq->ops->store);
	return *ret ? 0 : op_error_set(err, -ENOMEM, "out of memory");
}

static int on_cnp(struct api_request *rq, json_t **ret, struct op_error *err)
{
	return ops_get_cnp(rq->ops, rq->args[0], ret, err);
}

static int on_cnp_delete(struct api_request *rq, json_t **ret, struct op_error *err)
{
	return ops_delete_cnp(rq->ops, rq->args[0], ret, err);
}

static int on_nodes(struct api_request *rq, json_t **ret, struct op_error *err)
{
	*ret = view_nodes(rq->ops->store);
	return *ret ? 0 : op_error_set(err, -ENOMEM, "out of memory");
}

static int on_node(struct api_request *rq, json_t **ret, struct op_error *err)
{
	return ops_get_node(rq->ops, rq->args[0], ret, err);
}

static int on_node_delete(struct api_request *rq, json_t **ret, struct op_error *err)
{
	return ops_delete_node(rq->ops, rq->args[0], ret, err);
}

static int on_fleet(struct api_request *rq, json_t **ret, struct op_error *err)
{
	*ret = ops_fleet_view(rq->ops);
	return *ret ? 0 : op_error_set(err, -ENOMEM, "out of memory");
}

static int on_fleet_node_delete(struct api_request *rq, json_t **ret, struct op_error *err)
{
	return ops_fleet_node_delete(rq->ops, rq->args[0], ret, err);
}

static int on_namespaces(struct api_request *rq, json_t **ret, struct op_error *err)
{
	*ret = view_namespaces(rq->ops->store, rq->ops->registry);
	return *ret ? 0 : op_error_set(err, -ENOMEM, "out of memory");
}

static int on_endpoints(struct api_request *rq, json_t **ret, struct op_error *err)
{
	*ret = view_endpoints(rq->ops->registry, arg(rq, "namespace"),
			      rq->ops->fleet ? rq->ops->fleet->node : NULL);
	return *ret ? 0 : op_error_set(err, -ENOMEM, "out of memory");
}

static int on_endpoint_add(struct api_request *rq, json_t **ret, struct op_error *err)
{
	json_auto_t *body = NULL;
	struct endpoint_spec spec;
	int r;

	r = body_object(rq, &body, err);
	if (r >= 0)
		r = endpoint_spec_from_json(body, &spec, err);
	if (r < 0)
		return r;
	r = ops_endpoint_add(rq->ops, &spec, ret, err);
	endpoint_spec_done(&spec);
	return r;
}

static int on_endpoint(struct api_request *rq, json_t **ret, struct op_error *err)
{
	return ops_endpoint_get(rq->ops, rq->args[0], ret, err);
}

static int on_endpoint_delete(struct api_request *rq, json_t **ret, struct op_error *err)
{
	return ops_endpoint_del(rq->ops, rq->args[0], ret, err);
}

static int on_endpoint_labels(struct api_request *rq, json_t **ret, struct op_error *err)
{
	json_auto_t *body = NULL;
	struct label_change c;
	int r;

	r = body_object(rq, &body, err);
	if (r >= 0)
		r = label_change_from_json(body, &c, err);
	if (r < 0)
		return r;
	r = ops_endpoint_label(rq->ops, rq->args[0], &c, ret, err);
	label_change_done(&c);
	return r;
}

static int on_endpoint_rules(struct api_request *rq, json_t **ret, struct op_error *err)
{
	return ops_endpoint_rules(rq->ops, rq->args[0], ret, err);
}

static int on_hook_create(struct api_request *rq, json_t **ret, struct op_error *err)
{
	json_auto_t *body = NULL;
	struct hook_request h;
	int r;

	r = body_object(rq, &body, err);
	if (r >= 0)
		r = hook_request_from_json(body, &h, err);
	if (r < 0)
		return r;
	r = ops_hook_create(rq->ops, &h, ret, err);
	hook_request_done(&h);
	return r;
}

static int on_hook_poststop(struct api_request *rq, json_t **ret, struct op_error *err)
{
	json_auto_t *body = NULL;
	_cleanup_free_ char *id = NULL;
	int r;

	r = body_object(rq, &body, err);
	if (r >= 0)
		r = hook_id_from_json(body, &id, err);
	if (r < 0)
		return r;
	return ops_hook_poststop(rq->ops, id, ret, err);
}

static const struct api_route routes[] = {
	{ "GET", "/v1/status", API_READ, on_status, 200 },
	{ "GET", "/v1/check", API_READ, on_check, 200 },
	{ "GET", "/v1/matrix", API_READ, on_matrix, 200 },
	{ "GET", "/v1/flows", API_READ, on_flows, 200 },
	{ "POST", "/v1/apply", API_WRITE, on_apply, 200 },
	{ "POST", "/v1/diff", API_WRITE, on_diff, 200 }, /* audit: GET only */
	{ "POST", "/v1/delete", API_WRITE, on_delete, 200 },
	{ "GET", "/v1/networkpolicies", API_READ, on_netpols, 200 },
	{ "GET", "/v1/networkpolicies/*/*", API_READ, on_netpol, 200 },
	{ "DELETE", "/v1/networkpolicies/*/*", API_WRITE, on_netpol_delete, 200 },
	{ "GET", "/v1/clusternetworkpolicies", API_READ, on_cnps, 200 },
	{ "GET", "/v1/clusternetworkpolicies/*", API_READ, on_cnp, 200 },
	{ "DELETE", "/v1/clusternetworkpolicies/*", API_WRITE, on_cnp_delete, 200 },
	{ "GET", "/v1/nodes", API_READ, on_nodes, 200 },
	{ "GET", "/v1/nodes/*", API_READ, on_node, 200 },
	{ "DELETE", "/v1/nodes/*", API_WRITE, on_node_delete, 200 },
	{ "GET", "/v1/fleet", API_READ, on_fleet, 200 },
	{ "DELETE", "/v1/fleet/nodes/*", API_WRITE, on_fleet_node_delete, 200 },
	{ "GET", "/v1/namespaces", API_READ, on_namespaces, 200 },
	{ "GET", "/v1/endpoints", API_READ, on_endpoints, 200 },
	{ "POST", "/v1/endpoints", API_WRITE, on_endpoint_add, 201 },
	{ "GET", "/v1/endpoints/*", API_READ, on_endpoint, 200 },
	{ "DELETE", "/v1/endpoints/*", API_WRITE, on_endpoint_delete, 200 },
	{ "PATCH", "/v1/endpoints/*/labels", API_WRITE, on_endpoint_labels, 200 },
	{ "GET", "/v1/endpoints/*/rules", API_READ, on_endpoint_rules, 200 },
	{ "POST", "/v1/hooks/createRuntime", API_WRITE, on_hook_create, 200 },
	{ "POST", "/v1/hooks/poststop", API_WRITE, on_hook_poststop, 200 },
};

/* Splits "/v1/a/b" into segments; returns their count or -1 if there are too many. */
static int split_path(char *path, char **seg)
{
	char *save = NULL;
	int n = 0;

	for (char *s = strtok_r(path, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
		if (n == API_MAX_SEGMENTS)
			return -1;
		seg[n++] = s;
	}
	return n;
}

/* Whether the route's pattern matches the segments; the '*' ones go to args. */
static bool route_matches(const struct api_route *rt, char **seg, int n, char **args)
{
	char pattern[64], *pseg[API_MAX_SEGMENTS];
	int k = 0, np;

	snprintf(pattern, sizeof(pattern), "%s", rt->path);
	np = split_path(pattern, pseg);
	if (np != n)
		return false;
	for (int i = 0; i < n; i++)
		if (!streq(pseg[i], "*") && !streq(pseg[i], seg[i]))
			return false;
	for (int i = 0; i < n; i++)
		if (streq(pseg[i], "*"))
			args[k++] = seg[i];
	return true;
}

const struct api_route *api_route_find(const char *method, char *path_copy,
				       char *ret_args[API_MAX_SEGMENTS], unsigned *ret_status)
{
	char *seg[API_MAX_SEGMENTS], *args[API_MAX_SEGMENTS] = { 0 };
	bool path_known = false;
	int n = split_path(path_copy, seg);

	*ret_status = 404;
	for (size_t i = 0; n >= 0 && i < ARRAY_SIZE(routes); i++) {
		if (!route_matches(&routes[i], seg, n, args))
			continue;
		path_known = true;
		if (!streq(routes[i].method, method))
			continue;
		memcpy(ret_args, args, sizeof(args));
		return &routes[i];
	}
	if (path_known)
		*ret_status = 405;
	return NULL;
}

/* ---- requests ------------------------------------------------------------------------------- */

static enum MHD_Result dispatch(struct api *a, struct MHD_Connection *c, const char *method,
				const char *url, struct request *q)
{
	_cleanup_free_ char *path = strdup(url);
	char *args[API_MAX_SEGMENTS];
	struct api_request rq = { .api = a,
				  .ops = a->ops,
				  .c = c,
				  .args = args,
				  .body = q->body ? q->body : "",
				  .len = q->len };
	const struct api_route *rt;
	struct op_error err = { 0 };
	json_t *out = NULL;
	unsigned status;
	int r;

	if (!path)
		return respond_message(c, 500, -ENOMEM, "out of memory");
	rt = api_route_find(method, path, args, &status);
	if (!rt)
		return respond_message(c, status, status == 404 ? -ENOENT : -EINVAL,
				       status == 404 ? "no such API path" : "method not allowed");
	if (rt->role == API_WRITE && q->read_only) {
		log_notice("Refused API request %s %s from read-only uid %u pid %d", method, url,
			   (unsigned)q->uid, (int)q->pid);
		return respond_message(c, 403, -EACCES,
				       "permission denied: read-only access (audit "
				       "group); changes need root or group segd");
	}
	r = rt->handler(&rq, &out, &err);
	if (r < 0)
		return respond_error(c, api_http_status(r), r, &err);
	op_error_done(&err);
	return respond_json(c, rt->success, out);
}

/* Keeps what the client sends (nothing once over the limit or refused: the answer says why,
 * and reading on lets the client see it rather than a reset). */
static int body_append(struct request *q, const char *data, size_t n)
{
	if (q->too_large || q->forbidden)
		return 0;
	if (q->len + n > POLICY_MAX_INPUT_BYTES) {
		q->too_large = true;
		free(q->body);
		q->body = NULL;
		q->len = q->allocated = 0;
		return 0;
	}
	if (q->len + n + 1 > q->allocated) {
		size_t m = (q->len + n + 1) * 2;
		char *p;

		if (m > POLICY_MAX_INPUT_BYTES + 1)
			m = POLICY_MAX_INPUT_BYTES + 1;
		p = realloc(q->body, m);
		if (!p)
			return -ENOMEM;
		q->body = p;
		q->allocated = m;
	}
	memcpy(q->body + q->len, data, n);
	q->len += n;
	q->body[q->len] = 0;
	return 0;
}

static enum MHD_Result check_utf8(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	bool *bad = cls;

	if (!policy_utf8_valid(key, strlen(key), NULL) ||
	    (value && !policy_utf8_valid(value, strlen(value), NULL))) {
		*bad = true;
		return MHD_NO;
	}
	return MHD_YES;
}

/* Every name a request carries becomes JSON (answers, audit records): UTF-8 only. NULL if it
 * is, else what is not (in buf). */
static const char *request_not_utf8(struct MHD_Connection *c, const char *url,
				    const struct request *q, char *buf, size_t size)
{
	bool bad = false;
	size_t at;

	if (!policy_utf8_valid(url, strlen(url), NULL))
		return "the request path is not valid UTF-8";
	(void)MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, check_utf8, &bad);
	if (bad)
		return "a query argument is not valid UTF-8";
	if (q->body && !policy_utf8_valid(q->body, q->len, &at)) {
		snprintf(buf, size, "the request body is not valid UTF-8 (at byte %zu)", at);
		return buf;
	}
	return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct api *a = cls;
	struct request *q = *con_cls;
	enum MHD_Result ret;
	const char *bad;
	char why[96];

	if (!q) {
		/* Decided at accept (api-conn.c); a connection not admitted there has no peer. */
		const struct api_peer *peer = api_conn_peer(c);
		const char *cl;

		q = calloc(1, sizeof(*q));
		if (!q)
			return MHD_NO;
		*con_cls = q;
		q->forbidden = !peer || peer->role == CONN_ROLE_NONE;
		q->read_only = peer && peer->role == CONN_ROLE_READ;
		q->uid = peer ? peer->uid : (uid_t)-1;
		q->pid = peer ? peer->pid : 0;
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						 MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > POLICY_MAX_INPUT_BYTES)
			q->too_large = true;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (body_append(q, upload, *upload_size) < 0)
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	api_conn_received(c, a->conns);

	if (q->forbidden) {
		log_notice("Refused API request %s %s from uid %u pid %d", method, url,
			   (unsigned)q->uid, (int)q->pid);
		return respond_message(c, 403, -EACCES,
				       "permission denied: root or group segd required");
	}
	if (q->too_large)
		return respond_message(c, 413, -EMSGSIZE,
				       "request body over the 4 MiB limit, nothing applied");
	bad = request_not_utf8(c, url, q, why, sizeof(why));
	if (bad)
		return respond_message(c, 400, -EINVAL, bad);
	log_debug("API %s %s from uid %u pid %d (%zu bytes)", method, url, (unsigned)q->uid,
		  (int)q->pid, q->len);
	audit_begin(a->ops->audit, q->uid, q->pid, method, url,
		    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "file"));
	ret = dispatch(a, c, method, url, q);
	audit_end(a->ops->audit);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	request_free(*con_cls);
	*con_cls = NULL;
}

int api_timeout_ms(struct api *a)
{
	return a ? mhd_timeout_ms(&a->mw) : -1;
}

int api_new(struct loop *l, struct ops *ops, const struct api_conns_config *cfg, struct api **ret)
{
	struct MHD_Daemon *mhd;
	struct api *a;
	int r;

	a = calloc(1, sizeof(*a));
	if (!a)
		return log_error_errno(-ENOMEM, "Failed to allocate the API: %m");
	a->ops = ops;
	r = api_conns_new(l, cfg, &a->conns);
	if (r < 0) {
		api_free(a);
		return r;
	}
	/* segd accepts (api-conn.c); libmicrohttpd gets the connections it admits. Its own limit
	 * is above ours, so that it never refuses one of them. */
	mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET, 0, NULL, NULL, on_request,
			       a, MHD_OPTION_CONNECTION_LIMIT, CONN_LIMIT_MAX_TOTAL + 16u,
			       MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_IDLE_TIMEOUT_S,
			       MHD_OPTION_NOTIFY_COMPLETED, on_completed, a,
			       MHD_OPTION_NOTIFY_CONNECTION, api_conns_notify, a->conns,
			       MHD_OPTION_END);
	if (!mhd) {
		api_free(a);
		return log_error_errno(-EIO, "Failed to start the HTTP server on %s",
				       cfg->socket_path);
	}
	a->mw.mhd = mhd;
	r = mhd_watch_add(l, mhd, &a->mw);
	if (r >= 0)
		r = api_conns_start(a->conns, mhd);
	if (r < 0) {
		api_free(a);
		return log_error_errno(r, "Failed to watch the API: %m");
	}
	ops->api_conns = api_conns_stats(a->conns);
	*ret = a;
	return 0;
}

struct api *api_free(struct api *a)
{
	if (!a)
		return NULL;
	mhd_watch_remove(&a->mw);
	if (a->mw.mhd)
		MHD_stop_daemon(a->mw.mhd); /* closes the connections it holds */
	if (a->ops && a->ops->api_conns == api_conns_stats(a->conns))
		a->ops->api_conns = NULL;
	api_conns_free(a->conns);
	free(a);
	return NULL;
}
