/* SPDX-License-Identifier: MIT */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The interfaces of a network namespace, read with libnl (rtnl_link cache) from a NETLINK_ROUTE
 * socket created inside it, and namespace ids (RTM_GETNSID). A veth whose peer lives in
 * another namespace reports the peer's ifindex and that namespace's id as seen from this one
 * (IFLA_LINK, IFLA_LINK_NETNSID): that is how an endpoint's host-side device is found.
 * Everything here comes from a namespace the workload may control: names and kinds are
 * bounded and checked, and nothing read is trusted beyond "what this namespace says".
 */

#define LINKS_MAX 256 /* interfaces per namespace; more is -E2BIG */

struct link_info {
	int ifindex;
	char name[IF_NAMESIZE];
	char kind[16];	/* "veth", "macvlan", "ipvlan", ...; "" if none */
	uint8_t mac[6]; /* when has_mac */
	bool has_mac;
	bool loopback;
	int peer_ifindex;  /* IFLA_LINK; 0 when none */
	int32_t peer_nsid; /* IFLA_LINK_NETNSID; -1 when the peer is in this namespace */
};

/* Every interface of namespace nsfd, sorted by ifindex. */
int links_read(int nsfd, struct link_info **ret, size_t *ret_n);
/* A NETLINK_ROUTE socket inside nsfd, for links_nsid_of(). */
struct mnl_socket;
int links_rtnl_open(int nsfd, struct mnl_socket **ret);
/* The id that namespace target_fd has in the namespace of `nl` (RTM_GETNSID with NETNSA_FD):
 * 0 and *ret_nsid, or -ENOENT when that namespace has assigned it none. */
int links_nsid_of(struct mnl_socket *nl, int target_fd, int32_t *ret_nsid);
/* The name of interface ifindex in namespace nsfd; -ENODEV if there is none. */
int links_name(int nsfd, int ifindex, char ret_name[IF_NAMESIZE]);
