/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include <jansson.h>

#include "api-conn.h"
#include "error.h"
#include "loop.h"
#include "ops.h"

/*
 * The control API: HTTP/1.1 + JSON on a unix socket, served by libmicrohttpd from our loop (no
 * threads). The edge between HTTP and the operations: it authorises callers, reads bodies
 * (over POLICY_MAX_INPUT_BYTES: 413, nothing read further into memory), routes each request
 * through one table {method, path, role, handler}, and is the only place where an operation's
 * negative errno becomes an HTTP status.
 *
 * Roles: root and members of `group` may read and change; members of `audit_group` may only
 * read (and only they and root can connect to the read-only socket). A caller's role is
 * decided when its connection is accepted (api-conn.h); a caller with none is not served.
 * Every request is one connection ("Connection: close"); anything in it that is not valid
 * UTF-8 (path, query, body) is a 400.
 */
struct api;

int api_new(struct loop *l, struct ops *ops, const struct api_conns_config *cfg, struct api **ret);
struct api *api_free(struct api *a);
/* Lets libmicrohttpd do its timed work; returns the next timeout for epoll (ms, -1 none). */
int api_timeout_ms(struct api *a);

/* ---- exposed for tests ---- */

enum api_role {
	API_READ,  /* root, --group, --audit-group */
	API_WRITE, /* root, --group */
};

struct api_request;
typedef int (*api_handler_fn)(struct api_request *rq, json_t **ret, struct op_error *err);

struct api_route {
	const char *method;
	const char *path; /* "/v1/endpoints/ * /labels": '*' matches one segment */
	enum api_role role;
	api_handler_fn handler;
	unsigned success; /* HTTP status of success */
};

/* The HTTP status of an operation's -errno. */
unsigned api_http_status(int r);
/* The route for method and path; NULL with *ret_status 404 (no such path) or 405 (no such
 * method on it). *ret_args points at the '*' segments in path_copy (modified in place). */
#define API_MAX_SEGMENTS 8
const struct api_route *api_route_find(const char *method, char *path_copy,
				       char *ret_args[API_MAX_SEGMENTS], unsigned *ret_status);
