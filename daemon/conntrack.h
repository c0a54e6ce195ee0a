/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/netlink.h>

#include "policy/policy.h"

struct nft_sock;

/*
 * The conntrack table of one network namespace (ctnetlink over NETLINK_NETFILTER; every
 * namespace has a table of its own). An endpoint's chains accept `ct state
 * established,related` before any rule, so a flow a tightened plan no longer allows would
 * carry on as long as its entry lives: conntrack_cut() deletes those entries, and the next
 * packet of the flow is new again and judged by the chains (which drop it).
 *
 * Each entry is judged by its original tuple: from one of the endpoint's addresses it is an
 * egress flow (the peer is the original destination), towards one of them an ingress flow
 * (the peer is the original source); the port is the original destination port. Entries
 * between two of the endpoint's own addresses (loopback, accepted by the chains whatever the
 * plan) and entries not involving the endpoint are left alone. ICMP entries (echo and the
 * like) are judged by their own tuple, as a protocol without ports; related entries made by
 * helpers (expectations) likewise.
 *
 * Call it after the tighter ruleset is committed: before, the next packet of a cut flow is
 * judged by the old chains and makes a new entry at once. What a cut cannot stop: if the
 * endpoint itself sends the next packet of a cut flow and its egress allows that (not
 * isolated, say), the packet is a new egress flow; conntrack picks it up in that direction
 * (UDP always, TCP mid-stream too while net.netfilter.nf_conntrack_tcp_loose is 1, the
 * default) and the peer's packets are then its replies (tests/daemon/test-conntrack.c shows
 * the UDP case dropped only because egress is isolated there).
 *
 * Errors are -errno, logged here at error level with the namespace's inode; entries the kernel
 * describes in a way this module does not understand are skipped (logged at debug level).
 */

/* Entries collected by one dump of conntrack_cut() before they are deleted; past it, the
 * collected ones are deleted and the table dumped again, until one dump finds no more. */
#define CONNTRACK_CUT_BATCH 65536

/*
 * Deletes, in the namespace nsfd, every conntrack entry of a flow to or from one of the
 * endpoint's addresses that `plan` no longer allows (policy_plan_allows() in the flow's
 * direction: original direction from the endpoint = egress, towards it = ingress). Counts
 * deleted entries into *ret_deleted (entries that went away by themselves in between are not
 * counted). -EBADF for a negative nsfd, -EINVAL for no plan. sock: a NETLINK_NETFILTER socket of
 * that namespace to use (the endpoint's owner socket), NULL: one of its own. A socket closed
 * right after a commit waits for nf_tables' deferred free (closer.h): reusing one avoids it.
 */
int conntrack_cut(int nsfd, struct nft_sock *sock, const struct policy_plan *plan,
		  const struct policy_addr *addrs, size_t n_addrs, unsigned *ret_deleted);
/* The number of entries in the conntrack table of the namespace nsfd. */
int conntrack_count(int nsfd, unsigned *ret);
/* Whole-table dumps made so far (conntrack_cut() asks the kernel's count first and dumps only
 * a table that has entries). */
uint64_t conntrack_dumps(void);

/* ---- the pieces of conntrack_cut(), for the tests ---- */

/* The original tuple of one entry, as the kernel named it. */
struct conntrack_flow {
	int family;		  /* AF_INET or AF_INET6 */
	uint8_t src[16], dst[16]; /* an IPv4 address in the first 4 bytes, zeros after */
	uint8_t proto;
	bool has_ports;	       /* TCP, UDP, SCTP, DCCP, UDP-Lite, GRE (its keys) */
	uint16_t sport, dport; /* host byte order */
	bool has_icmp;	       /* ICMP, ICMPv6 */
	uint8_t icmp_type, icmp_code;
	uint16_t icmp_id; /* host byte order */
	bool has_zone, has_orig_zone, has_id;
	uint16_t zone, orig_zone;
	uint32_t id;
};

/* One message of a dump. -EBADMSG when it is not a conntrack entry with a complete original
 * tuple of IPv4 or IPv6 (the entry is to be skipped), -ENOMEM. */
int conntrack_flow_parse(const struct nlmsghdr *nlh, struct conntrack_flow *ret);
/* 1 when `plan` denies the flow of the endpoint with addresses addrs (delete it), 0 when it
 * allows it or the flow is not the endpoint's, -errno. */
int conntrack_flow_denied(const struct conntrack_flow *f, const struct policy_plan *plan,
			  const struct policy_addr *addrs, size_t n_addrs);
/* conntrack_cut() collecting at most `batch` entries per dump. */
int conntrack_cut_batched(int nsfd, struct nft_sock *sock, const struct policy_plan *plan,
			  const struct policy_addr *addrs, size_t n_addrs, size_t batch,
			  unsigned *ret_deleted);
