/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include <microhttpd.h>

#include "conn-limit.h"
#include "loop.h"

/*
 * The API's connections, before HTTP: segd listens and accepts itself, decides each caller's
 * role from its credentials at accept time (before reading a byte), applies the connection
 * limits (conn-limit.h), and only then hands the socket to libmicrohttpd
 * (MHD_add_connection). A caller with no role, or over a limit, is closed at once.
 *
 * Two sockets, both mode 0660: the read-write one (root:--group) and, when the audit group
 * exists, the read-only one (root:--audit-group); a connection's role is at most its socket's.
 *
 * Deadlines: a request must be in (headers and body) within request_timeout_s of accept,
 * however slowly it trickles; its answer must then be taken within API_ANSWER_TIMEOUT_S. A
 * connection past its deadline is shut down (libmicrohttpd then closes it).
 */
struct api_conns;

#define API_ANSWER_TIMEOUT_S 30u

struct api_conns_config {
	const char *socket_path;       /* read-write */
	const char *audit_socket_path; /* read-only */
	const char *group, *audit_group;
	unsigned request_timeout_s;
};

/* Listens on the sockets (accepting waits for api_conns_start()). */
int api_conns_new(struct loop *l, const struct api_conns_config *cfg, struct api_conns **ret);
/* Starts accepting: each admitted connection goes to mhd, which must have been started with
 * MHD_USE_NO_LISTEN_SOCKET and MHD_OPTION_NOTIFY_CONNECTION, api_conns_notify, ac. */
int api_conns_start(struct api_conns *ac, struct MHD_Daemon *mhd);
/* Stop libmicrohttpd first (it closes the connections it holds). */
struct api_conns *api_conns_free(struct api_conns *ac);
void api_conns_notify(void *cls, struct MHD_Connection *c, void **socket_context,
		      enum MHD_ConnectionNotificationCode code);
const struct conn_limit *api_conns_stats(const struct api_conns *ac);

/* Who is calling on c: NULL if c was not admitted here (refuse it). */
struct api_peer {
	uid_t uid;
	pid_t pid;
	enum conn_role role;
};
const struct api_peer *api_conn_peer(struct MHD_Connection *c);
/* The request on c is fully received: from now on the answer deadline applies. */
void api_conn_received(struct MHD_Connection *c, struct api_conns *ac);
