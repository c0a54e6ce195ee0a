/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include <jansson.h>

#include "nft-sock.h"
#include "policy/policy.h"

/*
 * Reads table inet segd back from the kernel (nft_dump) and compares it with `plan`, the plan
 * segd believes it committed with emit options `opts` (its table_flags are taken from the
 * table read back): same rules per chain in the same order with the same provenance comments,
 * same sets with the same elements. *ret is the read-back JSON of docs/api.md (without
 * endpoint/netns/in_sync, which the caller adds). -ENOENT if there is no table.
 */
int nft_rules_json(struct nft_sock *s, const struct policy_plan *plan,
		   const struct policy_emit_options *opts, json_t **ret, bool *ret_in_sync);
