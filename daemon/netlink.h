/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Receiving on the netlink sockets segd keeps inside endpoints' namespaces. Anything with
 * CAP_NET_ADMIN in such a namespace (root in a container) can send a datagram to our socket's
 * port, so only the kernel's are read: the rest is dropped, and so is any datagram whose
 * messages do not fit it (libmnl's walk trusts lengths of 2 GiB and more).
 */

/* Whether every message of the datagram fits it, with its padding. */
bool netlink_datagram_valid(const void *buf, size_t len);
/* One well-formed datagram from the kernel (others are dropped on the way): its length, or
 * -EAGAIN (nothing more), -ENOBUFS (the kernel dropped some), -errno. flags as for recv(). */
ssize_t netlink_recv(int fd, void *buf, size_t size, int flags);
/* netlink_recv() on a NETLINK_LISTEN_ALL_NSID socket: also *ret_nsid, the id (in our namespace)
 * of the namespace the datagram comes from, -1 if it carries none (our own namespace, or one
 * without an id). -EMSGSIZE: a datagram from the kernel larger than size (*ret_nsid set). */
ssize_t netlink_recv_nsid(int fd, void *buf, size_t size, int flags, int32_t *ret_nsid);
