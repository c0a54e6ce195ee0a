/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include <jansson.h>

#include "segctl.h"

/* Replies larger than this are an error, never truncated. */
#define CLIENT_MAX_RESPONSE (64u * 1024 * 1024)

/* The socket the verbs talk to: --socket, else $SEGD_SOCKET, else the default. When it is
 * closed to the caller (EACCES), the read-only one: $SEGD_AUDIT_SOCKET, else
 * API_AUDIT_SOCKET_NAME next to it. */
const char *client_socket(const struct segctl *c);

/* --timeout in seconds, or its default. */
double client_timeout(const struct segctl *c);

/*
 * One HTTP request to segd over its unix socket. `path` is already URL-encoded; `body` may be
 * NULL. On a 2xx reply returns 0 and the parsed JSON body in *ret (an empty object when the
 * body is empty). Every failure is reported on stderr before returning:
 *   -ENOTCONN  segd could not be reached (connect failed, connection dropped), or the call
 *              ran past --timeout (the message says in which phase: connect, send, answer);
 *              the deadline covers the whole call, all three phases together, and ends
 *              at c->deadline_s at the latest
 *   -EACCES    neither socket is open to the caller
 *   -EBADMSG   segd answered with an error ("segctl: MESSAGE" plus its diagnostics)
 *   -EMSGSIZE  the reply is larger than CLIENT_MAX_RESPONSE
 *   -EPROTO    the reply is not a JSON object
 *   -ENOMEM
 */
int client_call(const struct segctl *c, const char *method, const char *path,
		const char *content_type, const char *body, size_t len, json_t **ret);

static inline int client_get(const struct segctl *c, const char *path, json_t **ret)
{
	return client_call(c, "GET", path, NULL, NULL, 0, ret);
}

/* Percent-encodes everything but RFC 3986 unreserved characters. NULL on OOM. */
char *client_escape(const char *s);
