/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"

/*
 * Address ranges as 128-bit integers: an IPv4 address is its 32-bit value, an IPv6 address its
 * 128-bit value. A range list is kept sorted, non-overlapping and with adjacent ranges merged,
 * which is also the form the kernel's interval (rbtree) sets want.
 */
typedef unsigned __int128 u128;

struct range {
	u128 lo, hi; /* inclusive */
};

struct range_list {
	struct range *items;
	size_t n, allocated;
};

void range_list_done(struct range_list *l);
int range_list_add(struct range_list *l, u128 lo, u128 hi);
/* Sorts and merges overlapping and adjacent ranges. */
void range_list_normalize(struct range_list *l);

/* The range covered by a CIDR (host bits ignored). */
struct range cidr_range(const struct policy_cidr *c);
/*
 * [cidr] minus every except, appended to `out` (not normalized). An IPv6 block also loses
 * fe80::/10 unless it lies inside it: link-local addresses are the same on every link, so a
 * block written for global addresses ("::/0 except the cluster") must not let an endpoint
 * reach other endpoints by their link-local addresses. Link-local peers are allowed by
 * selectors, like the endpoints they belong to.
 */
int ipblock_ranges(const struct policy_ipblock *b, struct range_list *out);

u128 addr_to_u128(int family, const uint8_t addr[16]);
void u128_to_addr(int family, u128 v, uint8_t ret[16]);
