/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

#include "nft-dump.h"

struct nftnl_rule;

/* Decodes `rule` into ret (expr text, handle, comment, counter); d gives the contents of the
 * anonymous sets its lookups name. */
int nft_decode_rule(const struct nft_dump *d, const struct nftnl_rule *rule,
		    struct nft_dump_rule *ret);
/* A big-endian value of len <= 8 bytes (ports, marks, set keys that are not addresses). */
uint64_t nft_be_value(const uint8_t *p, uint32_t len);
