/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/types.h>

#include "nft-sock.h"

/*
 * Closing off the loop. Closing the last reference of a NETLINK_NETFILTER socket shortly after
 * a commit in its namespace blocks: the release (nft_rcv_nl_event) takes the namespace's
 * nf_tables commit mutex and, holding it, flushes the work that frees the last commit's
 * objects after an RCU grace period (10-40 ms when grace periods are not expedited). Deleting
 * an endpoint commits (its table goes), then closes its owner and NFLOG sockets: on the loop,
 * that is a grace period in the DELETE; merely closed elsewhere, it is the mutex held for a
 * grace period, and the next commit in that namespace (the same namespace added again) waits.
 *
 * A closer is a child process (forked, not exec'd; it keeps only its end of a socket pair and
 * stdio) that closes the fds handed to it once the namespace's pending work has run: it lets
 * two grace periods pass first (membarrier), then the release takes the mutex only for
 * itself. closer_close() passes fd over the pair (SCM_RIGHTS, without waiting) and closes our
 * copy at once: the message holds a reference until the child has it, so the last one is
 * dropped there. The object goes exactly as it would have, only later: a table owned by a
 * socket handed over stays in force until the child closes it (never less enforcement).
 *
 * When the child cannot take it (queue full, child gone), the fd is closed here, as without a
 * closer. Single-threaded; nothing here logs except closer_close's first fallback.
 */

struct closer;

/* Forks the child. Its signal mask is cleared; it exits when our end of the pair closes,
 * after closing everything it received. */
int closer_new(struct closer **ret);
/* Closes our end and waits for the child (it finishes what it was handed first). */
struct closer *closer_free(struct closer *c);
pid_t closer_pid(const struct closer *c);
/* Closes fd, ours (fd < 0: nothing; c NULL: closed here): 1 when the child took the last
 * reference, 0 when it was closed here. Pass it with TAKE_FD(). */
int closer_close(struct closer *c, int fd);
/* nft_sock_free(s), its socket closed through c. Returns NULL. */
struct nft_sock *closer_free_nft_sock(struct closer *c, struct nft_sock *s);
