/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include <jansson.h>

#include "policy/policy.h"

struct nft_sock;

/*
 * Reads table inet segd back from the kernel (nft_dump) and compares it with `plan`, the plan
 * segd believes it committed: same rules per chain in the same order with the same provenance
 * comments, same sets with the same elements. *ret is the read-back JSON of docs/api.md
 * (without endpoint/netns/in_sync, which the caller adds). -ENOENT if there is no table.
 */
int nft_rules_json(struct nft_sock *s, const struct policy_plan *plan, json_t **ret,
		   bool *ret_in_sync);
