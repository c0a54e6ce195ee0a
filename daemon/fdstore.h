/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * A file-descriptor store: fds kept outside segd while segd restarts, and handed back by name
 * to the next segd. segd puts a copy of every netlink socket that owns a table
 * (NFT_TABLE_F_OWNER) here: the kernel deletes an owned table when the last reference to its
 * owner socket closes, so with a copy in the store the tables stay owned while no segd runs,
 * nobody else can change them or create an `inet segd` of their own, and the next segd takes
 * the same sockets back.
 *
 * Two back ends:
 *   systemd  the service manager's store: FDSTORE=1 / FDSTOREREMOVE=1 datagrams with FDNAME=
 *            to $NOTIFY_SOCKET, the fds back at the next start as $LISTEN_FDS and
 *            $LISTEN_FDNAMES (fds from 3). The unit needs FileDescriptorStoreMax= (systemd >=
 *            254 exports it as $FDSTORE). systemd acknowledges nothing: an fd it does not
 *            accept (over the maximum, or from a process that is not the main one) is closed
 *            and logged by systemd, and put() cannot tell.
 *   holder   segd-fdstore (fdstore-holder.c, protocol in fdstore-proto.h), reached at a socket
 *            path and started when no holder answers there. Every request is acknowledged.
 *
 * Names: fdstore_name_valid. Every name in the store is known here (handed back at open, put,
 * removed); fds handed back and not taken are the caller's to decide about (fdstore_untaken).
 * Everything returns 0 (or a documented value) or -errno; nothing here logs. Single-threaded;
 * one store per process (the systemd back end consumes $LISTEN_*).
 */

enum fdstore_kind {
	FDSTORE_AUTO,	 /* systemd's if $NOTIFY_SOCKET and $FDSTORE (> 0) are set, else a holder */
	FDSTORE_SYSTEMD, /* systemd's even without $FDSTORE (systemd < 254 does not export it) */
	FDSTORE_HOLDER,	 /* segd-fdstore */
};

/* How long fdstore_open() waits for a holder (to start, or to be done with the segd before
 * us) and a request for the holder's answer. */
#define FDSTORE_TIMEOUT_MS 10000

struct fdstore;

/*
 * Connects to the store and receives what it holds. holder_path (the segd-fdstore executable;
 * NULL: never start one) and socket_path (absolute; its directory is created 0700 if absent,
 * and must belong to our euid and be writable by nobody else) are used by the holder back end
 * only.
 *
 * A holder is started when none answers at socket_path: detached (a new session, stdin and
 * stdout /dev/null, stderr ours, an environment without $LISTEN_*, $NOTIFY_SOCKET, $FDSTORE),
 * so that it outlives us. A holder serves one client at a time: while another segd is still
 * connected, this waits (FDSTORE_TIMEOUT_MS, then -ETIMEDOUT).
 *
 * -ENXIO: FDSTORE_SYSTEMD without $NOTIFY_SOCKET. -EBADMSG: $LISTEN_* malformed (its fds are
 * left alone), or a holder that does not speak the protocol. -EACCES: the holder refused us
 * (uid). -EPERM: the socket's directory or the socket is not ours, or the holder runs as
 * another uid. -EALREADY: a holder keeps the pid file locked but does not answer on the
 * socket. -EMFILE: the holder's fds do not fit under our RLIMIT_NOFILE (raise it first).
 */
int fdstore_open(enum fdstore_kind kind, const char *holder_path, const char *socket_path,
		 struct fdstore **ret);
/* Closes the connection and every fd not taken; the store keeps everything. */
struct fdstore *fdstore_free(struct fdstore *s);
/* FDSTORE_SYSTEMD or FDSTORE_HOLDER. */
enum fdstore_kind fdstore_kind(const struct fdstore *s);
/* Names in the store (handed back, put, not removed). */
size_t fdstore_size(const struct fdstore *s);

/* 1 to 255 bytes of [A-Za-z0-9._-] (systemd's FDNAME rules forbid ':'; we allow only these),
 * e.g. "ns-<dev>-<ino>". */
bool fdstore_name_valid(const char *name);

/* The fd handed back under name: the caller owns it from now on (CLOEXEC); the store keeps
 * its own copy until fdstore_remove(). -ENOENT: none, or taken already. */
int fdstore_take(struct fdstore *s, const char *name, int *ret_fd);
/*
 * Stores a copy of fd under name (the caller keeps fd), replacing what the store held under it.
 * -EINVAL: bad name. -EBADF: fd < 0. -ENOSPC: the store holds its maximum and name is new.
 * -EPROTOTYPE: the holder keeps no AF_UNIX sockets. -ENOTCONN: the holder connection failed
 * earlier; other -errno: it failed now (reopen the store, then put everything again).
 * systemd: a replacement is two datagrams, FDSTOREREMOVE=1 then FDSTORE=1 (systemd handles
 * only one of them per message), so for a moment the store has nothing under that name.
 */
int fdstore_put(struct fdstore *s, const char *name, int fd);
/* Makes the store close and forget name; an fd handed back under it and not taken is closed
 * too. -ENOENT (holder only): it held nothing under name. */
int fdstore_remove(struct fdstore *s, const char *name);
/*
 * Names handed back whose fds were not taken: a NULL-terminated array, *ret_names, freed with
 * one free() (names included), so that the caller may remove them while walking it. Returns
 * how many, or -ENOMEM.
 */
int fdstore_untaken(struct fdstore *s, char ***ret_names);
