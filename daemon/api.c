/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api.h"
#include "audit.h"
#include "explain.h"
#include "fsutil.h"
#include "log.h"
#include "macro.h"
#include "manager.h"

#define API_MAX_CONNECTIONS 64
#define API_CONNECTION_TIMEOUT_S 30
#define API_MAX_SEGMENTS 8

struct api {
	struct manager *manager;
	char *path;
	int listen_fd;
	gid_t gid, audit_gid;
	bool have_gid, have_audit_gid;
	struct MHD_Daemon *mhd;
	int mhd_epoll_fd;
	struct watch watch;
};

/* Per request. */
struct request {
	char *body;
	size_t len, allocated;
	bool too_large;
	bool forbidden;
	bool read_only;		/* a member of the audit group only */
	uid_t uid;
	pid_t pid;
};

static void request_free(struct request *q)
{
	if (!q)
		return;
	free(q->body);
	free(q);
}

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

static enum MHD_Result respond_error(struct MHD_Connection *c, int r, struct op_error *err)
{
	json_t *e, *diags = NULL;
	unsigned status = err->status ? (unsigned)err->status : 500;

	e = json_pack("{s:s, s:i}", "message", err->message ? err->message : strerror(-r), "errno",
		      r < 0 ? -r : r);
	if (e && err->diags.n > 0) {
		diags = json_array();
		for (size_t i = 0; diags && i < err->diags.n; i++)
			json_array_append_new(diags, diag_json(&err->diags.items[i]));
		json_object_set_new(e, "diagnostics", diags);
	}
	op_error_done(err);
	return respond_json(c, status, e ? json_pack("{s:o}", "error", e) : NULL);
}

static enum MHD_Result respond_simple_error(struct MHD_Connection *c, unsigned status, int r,
					    const char *msg)
{
	struct op_error err = { .status = (int)status };

	err.message = strdup(msg);
	return respond_error(c, r, &err);
}

static bool in_group(gid_t gid, gid_t primary, const gid_t *groups, size_t n)
{
	if (primary == gid)
		return true;
	for (size_t i = 0; i < n; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/* 1 read-write (root, --group), 2 read-only (--audit-group), 0 refused. */
static int peer_allowed(struct api *a, int fd, struct request *q)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	gid_t groups[NGROUPS_MAX];
	socklen_t glen = sizeof(groups);
	size_t n = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	q->uid = cred.uid;
	q->pid = cred.pid;
	if (cred.uid == 0)
		return 1;
	/* Supplementary groups of the peer as of connect(). */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) >= 0)
		n = glen / sizeof(gid_t);
	if (a->have_gid && in_group(a->gid, cred.gid, groups, n))
		return 1;
	if (a->have_audit_gid && in_group(a->audit_gid, cred.gid, groups, n))
		return 2;
	return 0;
}

/* Splits "/v1/a/b" into segments; returns their count or -1 if there are too many. */
static int split_path(char *path, char **seg)
{
	int n = 0;

	for (char *s = strtok(path, "/"); s; s = strtok(NULL, "/")) {
		if (n == API_MAX_SEGMENTS)
			return -1;
		seg[n++] = s;
	}
	return n;
}

static const char *arg(struct MHD_Connection *c, const char *key)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
}

static bool is_true(const char *v)
{
	return v && (streq(v, "true") || streq(v, "1"));
}

static enum MHD_Result dispatch(struct api *a, struct MHD_Connection *c, const char *method,
				const char *url, struct request *q)
{
	struct manager *m = a->manager;
	struct op_error err = { 0 };
	_cleanup_free_ char *path = strdup(url);
	char *seg[API_MAX_SEGMENTS];
	json_t *out = NULL;
	int n, r = 0;
	bool get = streq(method, MHD_HTTP_METHOD_GET), post = streq(method, MHD_HTTP_METHOD_POST);
	bool del = streq(method, MHD_HTTP_METHOD_DELETE), patch = streq(method, "PATCH");

	if (!path)
		return respond_simple_error(c, 500, -ENOMEM, "out of memory");
	n = split_path(path, seg);
	if (n < 2 || !streq(seg[0], "v1"))
		return respond_simple_error(c, 404, -ENOENT, "no such API path");

	const char *res = seg[1];
	const char *file = arg(c, "file") ? arg(c, "file") : "-";

	if (n == 2 && get && streq(res, "status")) {
		out = manager_status_json(m);
	} else if (n == 2 && get && streq(res, "check")) {
		r = manager_check(m, arg(c, "from"), arg(c, "to"), arg(c, "port"), &out, &err);
	} else if (n == 2 && get && streq(res, "flows")) {
		r = manager_flows(m, arg(c, "endpoint"), arg(c, "verdict"), arg(c, "since"),
				  arg(c, "from"), arg(c, "limit"), &out, &err);
	} else if (n == 2 && get && streq(res, "matrix")) {
		r = manager_matrix(m, arg(c, "namespace"), arg(c, "ports"), &out, &err);
	} else if (n == 2 && post && streq(res, "apply")) {
		r = manager_apply(m, file, q->body ? q->body : "", q->len, is_true(arg(c, "dryRun")),
				  &out, &err);
	} else if (n == 2 && post && streq(res, "diff")) {
		r = manager_diff(m, file, q->body ? q->body : "", q->len, &out, &err);
	} else if (n == 2 && post && streq(res, "delete")) {
		r = manager_delete_file(m, file, q->body ? q->body : "", q->len, &out, &err);
	} else if (streq(res, "networkpolicies")) {
		if (n == 2 && get)
			out = manager_netpols_json(m, arg(c, "namespace"));
		else if (n == 4 && get)
			r = manager_netpol_json(m, seg[2], seg[3], &out, &err);
		else if (n == 4 && del)
			r = manager_delete_netpol(m, seg[2], seg[3], &out, &err);
		else
			return respond_simple_error(c, 405, -EINVAL, "method not allowed");
	} else if (streq(res, "namespaces") && n == 2 && get) {
		out = manager_namespaces_json(m);
	} else if (streq(res, "endpoints")) {
		json_auto_t *body = NULL;

		if ((post || patch) && n <= 4) {
			json_error_t jerr;

			body = json_loadb(q->body ? q->body : "", q->len, JSON_REJECT_DUPLICATES, &jerr);
			if (!body) {
				char msg[300];

				snprintf(msg, sizeof(msg), "invalid JSON body at %d:%d: %s", jerr.line,
					 jerr.column, jerr.text);
				return respond_simple_error(c, 400, -EINVAL, msg);
			}
		}
		if (n == 2 && get)
			out = manager_endpoints_json(m, arg(c, "namespace"));
		else if (n == 2 && post) {
			r = manager_endpoint_add(m, body, &out, &err);
			if (r >= 0)
				return respond_json(c, 201, out);
		} else if (n == 3 && get)
			r = manager_endpoint_json(m, seg[2], &out, &err);
		else if (n == 3 && del)
			r = manager_endpoint_del(m, seg[2], &out, &err);
		else if (n == 4 && patch && streq(seg[3], "labels"))
			r = manager_endpoint_label(m, seg[2], body, &out, &err);
		else if (n == 4 && get && streq(seg[3], "rules"))
			r = manager_endpoint_rules(m, seg[2], &out, &err);
		else
			return respond_simple_error(c, 405, -EINVAL, "method not allowed");
	} else if (streq(res, "hooks") && n == 3 && post) {
		json_auto_t *body = NULL;
		json_error_t jerr;

		body = json_loadb(q->body ? q->body : "", q->len, JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(body))
			return respond_simple_error(c, 400, -EINVAL, "hook request: not a JSON object");
		if (streq(seg[2], "createRuntime"))
			r = manager_hook_create(m, body, &out, &err);
		else if (streq(seg[2], "poststop"))
			r = manager_hook_poststop(m, body, &out, &err);
		else
			return respond_simple_error(c, 404, -ENOENT, "no such hook stage");
		if (r >= 0 && audit_active(m->audit)) {
			const char *id = json_string_value(json_object_get(body, "id"));
			bool create = streq(seg[2], "createRuntime");

			audit_change(m->audit, "Container", NULL, id ? id : "?",
				     create ? "created" : "stopped", NULL, create ? json_incref(out) : NULL);
			r = audit_commit(m->audit);
			if (r < 0) {
				/* The container's table is in place; only the record is missing. */
				json_decref(out);
				return respond_simple_error(c, 500, r, "cannot write the audit log");
			}
		}
	} else
		return respond_simple_error(c, 404, -ENOENT, "no such API path");

	if (r < 0)
		return respond_error(c, r, &err);
	op_error_done(&err);
	return respond_json(c, 200, out);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct api *a = cls;
	struct request *q = *con_cls;

	if (!q) {
		const union MHD_ConnectionInfo *ci;
		const char *cl;
		int r;

		q = calloc(1, sizeof(*q));
		if (!q)
			return MHD_NO;
		*con_cls = q;
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		r = ci ? peer_allowed(a, ci->connect_fd, q) : -EBADF;
		q->forbidden = r <= 0;
		q->read_only = r == 2;
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > POLICY_MAX_INPUT_BYTES)
			q->too_large = true;
		return MHD_YES;
	}

	if (*upload_size > 0) {
		/* Keep reading (and discarding) so the client gets our answer, not a reset. */
		if (!q->too_large && !q->forbidden) {
			if (q->len + *upload_size > POLICY_MAX_INPUT_BYTES) {
				q->too_large = true;
				free(q->body);
				q->body = NULL;
				q->len = q->allocated = 0;
			} else {
				if (q->len + *upload_size + 1 > q->allocated) {
					size_t m = (q->len + *upload_size + 1) * 2;
					char *p;

					if (m > POLICY_MAX_INPUT_BYTES + 1)
						m = POLICY_MAX_INPUT_BYTES + 1;
					p = realloc(q->body, m);
					if (!p)
						return MHD_NO;
					q->body = p;
					q->allocated = m;
				}
				memcpy(q->body + q->len, upload, *upload_size);
				q->len += *upload_size;
				q->body[q->len] = 0;
			}
		}
		*upload_size = 0;
		return MHD_YES;
	}

	if (q->forbidden) {
		log_notice("Refused API request %s %s from uid %u pid %d", method, url,
			   (unsigned)q->uid, (int)q->pid);
		return respond_simple_error(c, 403, -EACCES,
					    "permission denied: root or group segd required");
	}
	if (q->read_only && !streq(method, MHD_HTTP_METHOD_GET) && !streq(method, MHD_HTTP_METHOD_HEAD)) {
		log_notice("Refused API request %s %s from read-only uid %u pid %d", method, url,
			   (unsigned)q->uid, (int)q->pid);
		return respond_simple_error(c, 403, -EACCES,
					    "permission denied: read-only access (audit group); "
					    "changes need root or group segd");
	}
	if (q->too_large)
		return respond_simple_error(c, 413, -E2BIG, "request body over the 4 MiB limit, "
							    "nothing applied");
	log_debug("API %s %s from uid %u pid %d (%zu bytes)", method, url, (unsigned)q->uid,
		  (int)q->pid, q->len);
	{
		enum MHD_Result ret;

		audit_begin(a->manager->audit, q->uid, q->pid, method, url, arg(c, "file"));
		ret = dispatch(a, c, method, url, q);
		audit_end(a->manager->audit);
		return ret;
	}
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	request_free(*con_cls);
	*con_cls = NULL;
}

static int on_api_event(struct watch *w, uint32_t events)
{
	struct api *a = container_of(w, struct api, watch);

	if (MHD_run(a->mhd) != MHD_YES)
		log_warning("libmicrohttpd failed to process events, ignoring");
	return 0;
}

int mhd_timeout_ms(struct MHD_Daemon *d)
{
	MHD_UNSIGNED_LONG_LONG t;

	if (!d)
		return -1;
	/* Finish whatever became due (connection timeouts, queued responses). */
	(void)MHD_run(d);
	if (MHD_get_timeout(d, &t) != MHD_YES)
		return -1;
	return t > INT_MAX ? INT_MAX : (int)t;
}

int api_timeout_ms(struct api *a)
{
	return a ? mhd_timeout_ms(a->mhd) : -1;
}

static int listen_unix(const char *path, mode_t mode, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	r = mkdir_parents(path, 0755);
	if (r < 0)
		return r;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;

	/* A socket file that nobody answers on is stale; one that answers is another segd. */
	if (access(path, F_OK) == 0) {
		_cleanup_close_ int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return -EADDRINUSE;
		if (unlink(path) < 0 && errno != ENOENT)
			return -errno;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	if (chmod(path, mode) < 0)
		return -errno;
	if (listen(fd, 128) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int api_new(struct manager *m, const char *socket_path, const char *group,
	    const char *audit_group, struct api **ret)
{
	const union MHD_DaemonInfo *di;
	struct api *a;
	struct group *g;
	int r;

	a = calloc(1, sizeof(*a));
	if (!a)
		return log_error_errno(-ENOMEM, "Failed to allocate the API: %m");
	a->manager = m;
	a->listen_fd = -1;
	a->path = strdup(socket_path);
	if (!a->path) {
		api_free(a);
		return -ENOMEM;
	}
	g = group ? getgrnam(group) : NULL;
	if (g) {
		a->gid = g->gr_gid;
		a->have_gid = true;
	}
	g = audit_group ? getgrnam(audit_group) : NULL;
	if (g) {
		a->audit_gid = g->gr_gid;
		a->have_audit_gid = true;
	}

	/* With an audit group, its members must be able to connect without being in --group:
	 * the socket is then open to all, and every request is authorised by the peer's
	 * credentials (SO_PEERCRED, SO_PEERGROUPS) before its body is even read. */
	r = listen_unix(socket_path, a->have_audit_gid ? 0666 : 0660, &a->listen_fd);
	if (r == -EADDRINUSE) {
		api_free(a);
		return log_error_errno(r, "Another segd is serving %s", socket_path);
	}
	if (r < 0) {
		api_free(a);
		return log_error_errno(r, "Failed to listen on %s: %m", socket_path);
	}
	if (a->have_gid && chown(socket_path, 0, a->gid) < 0)
		log_warning_errno(-errno, "Failed to give %s to group %s, ignoring: %m", socket_path,
				  group);

	a->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET * 0, 0, NULL, NULL,
				  on_request, a, MHD_OPTION_LISTEN_SOCKET, a->listen_fd,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_MAX_CONNECTIONS,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_CONNECTION_TIMEOUT_S,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, a, MHD_OPTION_END);
	if (!a->mhd) {
		api_free(a);
		return log_error_errno(-EIO, "Failed to start the HTTP server on %s", socket_path);
	}
	di = MHD_get_daemon_info(a->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!di) {
		api_free(a);
		return log_error_errno(-EIO, "libmicrohttpd gave no epoll fd");
	}
	a->mhd_epoll_fd = di->epoll_fd;
	r = loop_add(m->loop, &a->watch, a->mhd_epoll_fd, EPOLLIN, on_api_event);
	if (r < 0) {
		api_free(a);
		return log_error_errno(r, "Failed to watch the API: %m");
	}
	log_info("Serving the API on %s", socket_path);
	*ret = a;
	return 0;
}

struct api *api_free(struct api *a)
{
	if (!a)
		return NULL;
	loop_remove(&a->watch);
	if (a->mhd)
		MHD_stop_daemon(a->mhd);	/* closes the listen socket it was given */
	else
		safe_close(a->listen_fd);
	if (a->path && a->listen_fd >= 0)
		(void)unlink(a->path);
	free(a->path);
	free(a);
	return NULL;
}
