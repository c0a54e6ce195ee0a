/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "endpoint.h"

/*
 * Drift: someone else changed an endpoint's table. Possible only when tables are not owned
 * (--no-table-owner, or a kernel without NFT_TABLE_F_OWNER); then segd follows nf_tables events
 * in every namespace, and a transaction that touched table inet segd from another process is a
 * foreign change. Lost events (the socket overran) make it compare the table with the plan.
 * What to do about it (repair, or report only) is the caller's.
 */
struct drift {
	struct nft_rx *ctx;
	const struct policy_emit_options *emit;
	uint64_t detected, repairs, event_overruns;
};

/* Reads e's events: 1 with *why filled when its table was changed by someone else, 0 if not,
 * -errno. */
int drift_check(struct drift *d, struct endpoint *e, char *why, size_t size);
