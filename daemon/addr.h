/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include "policy/policy.h"

/*
 * Addresses of a network namespace, read with libnl (rtnl_addr cache) from a NETLINK_ROUTE
 * socket created inside it, and an event socket subscribed to address changes there.
 * What counts: global (universe scope) IPv4 addresses, and permanent IPv6 addresses of global
 * scope or link-local (fe80::/10), which peers use on a shared link. Loopback addresses never
 * identify a peer across namespaces, and IPv6 addresses that are not permanent (autoconfigured
 * from a router advertisement, temporary) are not the endpoint's to claim: any peer on the
 * link could have advertised them.
 */
int addr_read(int nsfd, struct policy_addr **ret, size_t *ret_n);
/* A bound libnl NETLINK_ROUTE socket created inside nsfd (for the caches of addr and links). */
struct nl_sock;
int addr_nl_socket(int nsfd, struct nl_sock **ret);
/* A non-blocking NETLINK_ROUTE socket in nsfd bound to the IPv4/IPv6 address groups. */
int addr_monitor_open(int nsfd, int *ret_fd);
/* Reads and discards every queued message; returns 1 if anything was read, 0 if none,
 * -ENOBUFS if the kernel dropped events (the caller re-reads everything anyway). */
int addr_monitor_drain(int fd);
