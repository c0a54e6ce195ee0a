/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fdtable.h"

/*
 * The protocol between segd (fdstore.c) and its fd holder, segd-fdstore (fdstore-holder.c),
 * over an AF_UNIX SOCK_SEQPACKET socket: every send is one message, never split or merged,
 * and a message's fds (SCM_RIGHTS) arrive with it. Both ends are on one host: integers are
 * in host byte order.
 *
 * Every message is a header, then a body that depends on the type:
 *
 *   u32 magic   FDSTORE_PROTO_MAGIC (a new protocol version gets a new magic)
 *   u16 type    enum fdstore_msg_type
 *   u16 count   names in the body (and fds that come with the message)
 *   u32 seq     a request's number, chosen by the client; its reply carries it back
 *   i32 error   0, or -errno in HELLO and REPLY
 *
 * A name in a body is one length byte (1 to 255) and that many bytes of [A-Za-z0-9._-]
 * (fdstore_proto_name_valid: systemd's FDNAME rules minus everything but these characters,
 * so that a name works with both back ends). A message is exactly as long as its header and
 * body, at most FDSTORE_PROTO_MSG_MAX bytes.
 *
 * Holder to client, as soon as it accepts the connection:
 *   HELLO   count 0; body: u32 held, u32 max (fds held, most it will hold). error < 0: the
 *           holder refuses the client (-EACCES: the peer's uid is neither 0 nor the holder's)
 *           and closes the connection.
 *   FDS     count n (1 to FDSTORE_PROTO_FDS_MAX), n names, n fds in the same order; as many
 *           as it takes to send all `held` (SCM_RIGHTS carries at most 253 fds per message).
 * Client to holder, each request answered by one REPLY (count 0, no body, error 0 or -errno):
 *   PUT     count 1, one name, exactly one fd: the holder keeps the fd under the name; an fd
 *           it held under that name before is closed. -ENOSPC when it holds `max` fds and the
 *           name is new (never a silent drop).
 *   REMOVE  count 1, one name, no fd: the holder closes and forgets it; -ENOENT if it has none.
 * A request the holder does not accept changes nothing and every fd that came with it is
 * closed: REPLY -EBADMSG (wrong magic, unknown type, count, length, or fds: none or several
 * with PUT, any with REMOVE), -EINVAL (a bad name), -EMSGSIZE (longer than
 * FDSTORE_PROTO_MSG_MAX; the reply's seq is 0 if even the header was cut), -EMFILE (the
 * holder could not receive the fds).
 *
 * One client at a time: while one is connected the holder does not accept another, whose
 * connection waits in the listen backlog and is served (HELLO, FDS...) once the first is gone.
 */

#define FDSTORE_PROTO_MAGIC 0x31466473u /* "sdF1" */
#define FDSTORE_PROTO_NAME_MAX 255
/* SCM_MAX_FD: the most fds one sendmsg() may carry */
#define FDSTORE_PROTO_FDS_MAX 253
#define FDSTORE_PROTO_HDR_SIZE 16
#define FDSTORE_PROTO_MSG_MAX \
	(FDSTORE_PROTO_HDR_SIZE + FDSTORE_PROTO_FDS_MAX * (1 + FDSTORE_PROTO_NAME_MAX))
/* The most fds a holder keeps unless told fewer (and never more than its RLIMIT_NOFILE
 * allows). */
#define FDSTORE_PROTO_HOLD_MAX 16384

enum fdstore_msg_type {
	FDSTORE_MSG_HELLO = 1,
	FDSTORE_MSG_FDS,
	FDSTORE_MSG_PUT,
	FDSTORE_MSG_REMOVE,
	FDSTORE_MSG_REPLY,
};

/* A parsed message; names point into the buffer it was parsed from (not NUL-terminated). */
struct fdstore_msg {
	enum fdstore_msg_type type;
	uint32_t seq;
	int error;
	uint32_t held, max; /* HELLO */
	size_t count;
	const char *names[FDSTORE_PROTO_FDS_MAX];
	uint8_t name_lens[FDSTORE_PROTO_FDS_MAX];
};

/*
 * Where the holder is found: a socket path whose directory belongs to our euid and is
 * writable by nobody else (root: /run/segd-fdstore/holder.sock). Next to the socket: PATH.pid
 * (the holder's pid; the holder keeps it locked while it runs, and removes it when it exits)
 * and PATH.lock (taken by a client while it connects or starts a holder, and by a holder
 * while it decides to exit; never removed). Paths: absolute, shorter than sun_path.
 */
#define FDSTORE_PROTO_PID_SUFFIX ".pid"
#define FDSTORE_PROTO_LOCK_SUFFIX ".lock"
/* Checks the socket's directory (creates it, 0700, if absent and create is set; its parent
 * must exist): 0, -EPERM (not ours, or writable by others), -EINVAL (bad path), -errno. */
int fdstore_proto_check_dir(const char *socket_path, bool create);
/* socket_path + suffix, malloc'd; NULL: out of memory. */
char *fdstore_proto_path(const char *socket_path, const char *suffix);

/* 1 to 255 bytes of [A-Za-z0-9._-]. */
bool fdstore_proto_name_valid(const char *name, size_t len);

/*
 * Checks one received message of len bytes that came with n_fds fds: 0 and *ret filled, or
 * -EBADMSG (structure, type, count or fds wrong), -EINVAL (a bad name). Types are not checked
 * against the direction: the caller does that.
 */
int fdstore_proto_parse(const void *buf, size_t len, size_t n_fds, struct fdstore_msg *ret);

/* Messages into buf (FDSTORE_PROTO_MSG_MAX bytes): their length, or -EINVAL (a bad name),
 * -EMSGSIZE (too many names). */
ssize_t fdstore_proto_build(void *buf, enum fdstore_msg_type type, uint32_t seq, int error,
			    const char *const *names, size_t count);
size_t fdstore_proto_build_hello(void *buf, int error, uint32_t held, uint32_t max);

/*
 * One message and its fds (n_fds <= FDSTORE_PROTO_FDS_MAX), without blocking and without
 * SIGPIPE: 0, -EAGAIN (try again when writable), -errno. The fds stay the caller's.
 */
int fdstore_proto_send(int sock, const void *buf, size_t len, const int *fds, size_t n_fds);
/*
 * One message without blocking: its length (0: the peer is gone) and the fds that came with
 * it (CLOEXEC, the caller's; fds has room for FDSTORE_PROTO_FDS_MAX). -EAGAIN: nothing there.
 * A message longer than size gives -EMSGSIZE, and one whose fds could not all be received
 * -EMFILE; then the fds are closed, *ret_n_fds is 0, and *ret_seq (if non-NULL) is the seq in
 * the part that arrived (0 if the header was cut). -errno otherwise.
 */
ssize_t fdstore_proto_recv(int sock, void *buf, size_t size, int *fds, size_t *ret_n_fds,
			   uint32_t *ret_seq);

/* ---- the holder's side, without sockets (fuzzed: tests/fuzz/fuzz-fdstore.c) ---- */

/*
 * Applies one request a client sent (len bytes, n_fds fds that came with it, all of which are
 * taken over: held, or closed) to the holder's table of at most max fds. Returns what the
 * reply carries: 0 or -errno (see above); *ret_seq is the seq to answer with.
 */
int fdstore_proto_serve(struct fdtable *t, size_t max, const void *buf, size_t len, int *fds,
			size_t n_fds, uint32_t *ret_seq);
/*
 * The next FDS message of the table's entries from *cursor on (an index, 0 at first, advanced
 * past what the message holds): its length, with the entries' fds in fds (still the table's:
 * they are sent, not handed over). 0 when nothing is left. Entries without an fd are skipped.
 */
size_t fdstore_proto_batch(const struct fdtable *t, size_t *cursor, void *buf, int *fds,
			   size_t *ret_n_fds);
