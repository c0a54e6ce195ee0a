/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "loop.h"

/*
 * Address and link changes of every watched namespace, on ONE NETLINK_ROUTE socket in segd's
 * own namespace with NETLINK_LISTEN_ALL_NSID (instead of a monitor socket per namespace: one
 * descriptor per endpoint is the budget). The kernel delivers a namespace's broadcasts to such
 * a socket only when that namespace has an id (nsid) in ours, and stamps each datagram with
 * it: addr_watch_add() gives the namespace one if it has none (RTM_NEWNSID, the kernel picks)
 * and maps it to the caller's key; each datagram then reports its key to `changed`. What the
 * message says is not read: the key's owner reads its addresses again.
 *
 * Hostile workloads: the nsid comes from our namespace's id table, which only a process with
 * CAP_NET_ADMIN over segd's namespace can change, never one confined in an endpoint's; a
 * namespace keeps its id while it lives (ids cannot be changed or removed, only freed with the
 * namespace, and the endpoint's nf_tables socket keeps it alive while the key is mapped). A
 * workload cannot send to this socket (netlink unicast stays in the sender's namespace) and
 * only the kernel's datagrams are read (netlink.h). So it cannot make a change count for
 * another endpoint, nor hide its own. Datagrams without an id (our own namespace) or with an
 * unmapped one (namespaces segd does not enforce in) are ignored.
 *
 * One socket carries every namespace's bursts: when the kernel drops some (ENOBUFS), every
 * mapped key is reported, so nothing is missed (a workload flooding address changes makes
 * segd re-read every endpoint's addresses; the manager's debounce coalesces the re-reads).
 */

struct addr_watch;

/* key changed (called from the loop, or from addr_watch_dispatch). */
typedef void (*addr_watch_fn)(void *key, void *userdata);

int addr_watch_new(struct loop *loop, addr_watch_fn changed, void *userdata,
		   struct addr_watch **ret);
struct addr_watch *addr_watch_free(struct addr_watch *w);
/* Follows the namespace nsfd for key: gives it an id in our namespace if it has none. Its
 * changes are reported from now on (subscribe, then read: nothing falls between). *ret_nsid
 * is what addr_watch_remove() takes. -EEXIST: that namespace is followed already. */
int addr_watch_add(struct addr_watch *w, int nsfd, void *key, int32_t *ret_nsid);
/* No longer follows nsid (unknown ids are ignored). The namespace keeps its id. */
void addr_watch_remove(struct addr_watch *w, int32_t nsid);
/* Reads what is queued, at most a bounded number of datagrams (the loop calls it while the
 * socket is readable): 0, or -errno for a failure other than the kernel dropping events. */
int addr_watch_dispatch(struct addr_watch *w);
/* The listening socket (tests shrink its receive buffer). */
int addr_watch_fd(const struct addr_watch *w);
size_t addr_watch_size(const struct addr_watch *w);
/* How often the kernel dropped events (every key was reported each time). */
uint64_t addr_watch_overruns(const struct addr_watch *w);
