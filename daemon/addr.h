/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include "policy/policy.h"

/*
 * Addresses of a network namespace, read with libnl (rtnl_addr cache) from a NETLINK_ROUTE
 * socket created inside it (changes are followed by addr-watch.h, for every namespace at once).
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
