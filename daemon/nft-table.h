/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <linux/netfilter/nf_tables.h>

#include "nft-sock.h"
#include "nft-txn.h"
#include "policy/policy.h"

/*
 * Table inet segd as a whole, on one socket: bringing it to a plan (replacing it, or only its
 * set elements when nothing else changed), deleting it, reading its flags and owner, and
 * probing which table flags the kernel has. The emit options (table flags, flow logging) are
 * the caller's and are given with every call.
 */

/*
 * Replaces table inet segd by the plan, atomically: one batch of
 *   NEWTABLE(flags) (create if absent) - DELTABLE - policy_emit(plan, opts)
 * so the namespace never lacks the table, and a failure leaves the old table untouched.
 * If the existing table has other flags than requested (e.g. no OWNER), and is not owned by
 * another socket, it is replaced in a second attempt. -EPERM: another socket owns it.
 */
int nft_replace_table(struct nft_sock *s, const struct policy_plan *plan,
		      const struct policy_emit_options *opts, struct nft_error *reterr);
/*
 * Replaces the guard's table (netdev g->table) the same way: ensure, delete, create, in one
 * transaction.
 */
int nft_replace_guard(struct nft_sock *s, const struct policy_guard *g, struct nft_error *reterr);
/*
 * Moves the kernel from plan `old` to plan `new` when they differ only in the elements of hash
 * sets (policy_plan_same_shape): one batch of DELSETELEM then NEWSETELEM messages with exactly
 * the difference, nothing else; counters of rules survive. Nothing to send: 0, no batch.
 * -ESTALE if the plans differ in more than that (the caller replaces the table).
 */
int nft_update_elements(struct nft_sock *s, const struct policy_plan *old,
			const struct policy_plan *new, struct nft_error *reterr);
/* The same in table FAMILY TABLE (a guard's table holds the plan's sets too). */
int nft_update_elements_in(struct nft_sock *s, uint16_t family, const char *table,
			   const struct policy_plan *old, const struct policy_plan *new,
			   struct nft_error *reterr);
/* The same with table inet opts->table when the options name one. */
/* Deletes table inet segd; absent is success. */
int nft_delete_table(struct nft_sock *s);
int nft_delete_table_named(struct nft_sock *s, uint16_t family, const char *name);
/* 1 if table inet segd exists, 0 if not. *ret_flags / *ret_owner (portid, 0: none) if non-NULL. */
int nft_table_get(struct nft_sock *s, uint32_t *ret_flags, uint32_t *ret_owner);
int nft_table_get_named(struct nft_sock *s, uint16_t family, const char *name, uint32_t *ret_flags,
			uint32_t *ret_owner);
int nft_table_exists(struct nft_sock *s);
/* Which of NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST the kernel accepts. Changes nothing: the
 * probe batch is made to abort. */
int nft_probe_table_flags(struct nft_sock *s, uint32_t *ret_flags);
/* Ruleset generation id (NFT_MSG_GETGEN): changes with every committed transaction. */
int nft_genid(struct nft_sock *s, uint32_t *ret);
