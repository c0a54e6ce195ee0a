/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nft-sock.h"
#include "policy/policy.h"

/*
 * A transaction is one nfnetlink batch on one socket: the kernel applies all of it or nothing,
 * inside the one sendmsg() that carries it, so every reply is queued by the time sendmsg()
 * returns.
 */
struct nft_txn;

/* Where a failed transaction failed. Filled only on failure. */
struct nft_error {
	int error;	   /* negative errno the kernel reported (or ours) */
	uint32_t seq;	   /* sequence number of the failing message; 0 if none */
	uint32_t offset;   /* extack: offset of the offending attribute in it; 0 if unknown */
	char object[192];  /* what that message carried, e.g. "rule output \"x/a egress[0]\"" */
	char message[128]; /* extack message of the kernel, "" if none */
};

/*
 * Objects handed to nft_txn_add() become NEW* messages (a set also gets NEWSETELEM messages, at
 * most NFT_TXN_MAX_ELEMS elements each) and are freed at once, on success and on failure.
 * `what` names the object in error reports (NULL: described from the object).
 */
#define NFT_TXN_MAX_ELEMS 1024
int nft_txn_new(struct nft_sock *s, struct nft_txn **ret);
struct nft_txn *nft_txn_free(struct nft_txn *t);
int nft_txn_add(struct nft_txn *t, enum policy_emit_kind kind, void *obj, const char *what);
/* NEWTABLE FAMILY NAME without NLM_F_EXCL: creates the table if absent, else updates its flags
 * (a no-op when they are equal; with OWNER it adopts an orphaned PERSIST table). */
int nft_txn_add_table_named(struct nft_txn *t, uint16_t family, const char *name, uint32_t flags,
			    const char *what);
int nft_txn_delete_table_named(struct nft_txn *t, uint16_t family, const char *name,
			       const char *what);
/* The same for table inet segd. */
int nft_txn_add_table_ensure(struct nft_txn *t, uint32_t flags);
int nft_txn_add_table_delete(struct nft_txn *t);
/* NEWSETELEM (or DELSETELEM) of these elements of set `ps->name` in table FAMILY TABLE. */
int nft_txn_add_elems_in(struct nft_txn *t, uint16_t family, const char *table,
			 const struct policy_set *ps, const struct policy_set_elem *const *elems,
			 size_t n, bool delete);
/* The same in table inet segd. */
int nft_txn_add_elems(struct nft_txn *t, const struct policy_set *ps,
		      const struct policy_set_elem *const *elems, size_t n, bool delete);
size_t nft_txn_messages(const struct nft_txn *t);
uint32_t nft_txn_last_seq(const struct nft_txn *t); /* seq of the message added last */
/* Sends the batch in one sendmsg() and reads every reply. On failure returns the first error
 * and fills *reterr (if non-NULL). A transaction is committed at most once. */
int nft_txn_commit(struct nft_txn *t, struct nft_error *reterr);

static inline __attribute__((unused)) void nft_txn_freep(struct nft_txn **t)
{
	nft_txn_free(*t);
}
