/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Who may hold how many API connections: the pure part of accepting them (api-conn does the
 * I/O). A caller's role is decided from its credentials as of connect() (SO_PEERCRED,
 * SO_PEERGROUPS), capped by the socket it came in on; a caller with no role holds nothing.
 *
 * Limits: at most max_total connections; at most max_per_user per uid (root is exempt); and
 * read-only callers together at most max_total - reserved, so that root and the write group
 * always find a slot while the audit group holds everything it may.
 */
enum conn_role {
	CONN_ROLE_NONE,
	CONN_ROLE_READ,	 /* --audit-group */
	CONN_ROLE_WRITE, /* root, --group */
};

enum conn_verdict {
	CONN_ACCEPTED,
	CONN_REFUSED_NO_ROLE,
	CONN_REFUSED_PER_USER,
	CONN_REFUSED_TOTAL,
	_CONN_VERDICT_MAX,
};

#define CONN_LIMIT_MAX_TOTAL 1024u /* the bound of max_total */

/* Defaults: the API's connection limits. */
#define CONN_DEFAULT_MAX_TOTAL 64u
#define CONN_DEFAULT_MAX_PER_USER 8u
#define CONN_DEFAULT_RESERVED 16u

struct conn_user {
	uid_t uid;
	unsigned n;
};

struct conn_limit {
	unsigned max_total, max_per_user, reserved;
	unsigned n_total, n_read;
	struct conn_user *users; /* n_users of them, each holding at least one connection */
	size_t n_users;
	uint64_t refused[_CONN_VERDICT_MAX]; /* by reason; [CONN_ACCEPTED] counts admissions */
	uint64_t timed_out;		     /* closed by the request deadline */
};

/* The groups that give a role: gid for read-write, audit_gid for read-only (have_*: the group
 * exists). */
struct conn_groups {
	gid_t gid, audit_gid;
	bool have_gid, have_audit_gid;
};

int conn_limit_init(struct conn_limit *l, unsigned max_total, unsigned max_per_user,
		    unsigned reserved);
void conn_limit_done(struct conn_limit *l);
/* The role of a peer, at most `ceiling` (the socket's). */
enum conn_role conn_role_of(const struct conn_groups *g, uid_t uid, gid_t primary,
			    const gid_t *groups, size_t n_groups, enum conn_role ceiling);
/* Admits a connection (CONN_ACCEPTED: counted until conn_limit_release()) or says why not (and
 * counts the refusal). */
enum conn_verdict conn_limit_take(struct conn_limit *l, uid_t uid, enum conn_role role);
void conn_limit_release(struct conn_limit *l, uid_t uid, enum conn_role role);
unsigned conn_limit_held(const struct conn_limit *l, uid_t uid);
/* "no-role", "per-user", "total" (the metric's reason label). */
const char *conn_verdict_to_string(enum conn_verdict v);
