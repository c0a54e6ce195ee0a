/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/netfilter/nf_tables.h>

#include <jansson.h>

#include "policy/policy.h"

/*
 * nftables transactions and read-back for one network namespace, over one NETLINK_NETFILTER
 * socket created inside that namespace. Everything returns 0 (or a documented positive value)
 * or -errno. Nothing here logs.
 *
 * A transaction is one nfnetlink batch: the kernel applies all of it or nothing, inside the one
 * sendmsg() that carries it, so every reply is queued by the time sendmsg() returns.
 */

#ifndef NFT_TABLE_F_PERSIST
#define NFT_TABLE_F_PERSIST 0x4 /* Linux >= 6.9: an owned table outlives its owner */
#endif

struct nft_sock;
struct nft_txn;

/* Where a failed transaction failed. Filled only on failure. */
struct nft_error {
	int error;		/* negative errno the kernel reported (or ours) */
	uint32_t seq;		/* sequence number of the failing message; 0 if none */
	uint32_t offset;	/* extack: offset of the offending attribute in it; 0 if unknown */
	char object[192];	/* what that message carried, e.g. "rule output \"x/a egress[0]\"" */
	char message[128];	/* extack message of the kernel, "" if none */
};

/* What a socket has sent: every batch committed through it (for the per-change counters). */
struct nft_stats {
	uint64_t batches;	/* sendmsg() calls, one per transaction */
	uint64_t messages;	/* netlink messages, BEGIN/END included */
	uint64_t bytes;
};

/* ---- socket ------------------------------------------------------------------------------- */

/* netns_fd < 0: the caller's namespace. Non-blocking, CLOEXEC, NETLINK_EXT_ACK and
 * NETLINK_CAP_ACK on, large buffers. */
int nft_sock_open(int netns_fd, struct nft_sock **ret);
struct nft_sock *nft_sock_free(struct nft_sock *s);
int nft_sock_fd(const struct nft_sock *s);
uint32_t nft_sock_portid(const struct nft_sock *s);	/* what the kernel stores as table owner */
void nft_sock_stats(const struct nft_sock *s, struct nft_stats *ret);

/* ---- transactions ------------------------------------------------------------------------- */

/*
 * Low-level batch on table inet segd. Objects handed to nft_txn_add() become NEW* messages
 * (a set also gets NEWSETELEM messages, at most NFT_TXN_MAX_ELEMS elements each) and are freed
 * at once, on success and on failure. `what` names the object in error reports (may be NULL).
 */
#define NFT_TXN_MAX_ELEMS 1024
int nft_txn_new(struct nft_sock *s, struct nft_txn **ret);
struct nft_txn *nft_txn_free(struct nft_txn *t);
int nft_txn_add(struct nft_txn *t, enum policy_emit_kind kind, void *obj, const char *what);
/* NEWTABLE without NLM_F_EXCL: creates the table if absent, else updates its flags (a no-op
 * when they are equal; with OWNER it adopts an orphaned PERSIST table). */
int nft_txn_add_table_ensure(struct nft_txn *t, uint32_t flags);
int nft_txn_add_table_delete(struct nft_txn *t);
size_t nft_txn_messages(const struct nft_txn *t);
uint32_t nft_txn_last_seq(const struct nft_txn *t);	/* seq of the message added last */
/* Sends the batch in one sendmsg() and reads every reply. On failure returns the first error
 * and fills *reterr (if non-NULL). A transaction is committed at most once. */
int nft_txn_commit(struct nft_txn *t, struct nft_error *reterr);

/*
 * Replaces table inet segd by the plan, atomically: one batch of
 *   NEWTABLE(flags) (create if absent) - DELTABLE - policy_emit(plan, flags)
 * so the namespace never lacks the table, and a failure leaves the old table untouched.
 * If the existing table has other flags than requested (e.g. no OWNER), and is not owned by
 * another socket, it is replaced in a second attempt. -EPERM: another socket owns it.
 */
int nft_replace_table(struct nft_sock *s, const struct policy_plan *plan, uint32_t table_flags,
		      struct nft_error *reterr);
/*
 * Moves the kernel from plan `old` to plan `new` when they differ only in the elements of hash
 * sets (policy_plan_same_shape): one batch of DELSETELEM then NEWSETELEM messages with exactly
 * the difference, nothing else; counters of rules survive. Nothing to send: 0, no batch.
 * -ESTALE if the plans differ in more than that (the caller replaces the table).
 */
int nft_update_elements(struct nft_sock *s, const struct policy_plan *old,
			const struct policy_plan *new, struct nft_error *reterr);

/* Deletes table inet segd; absent is success. */
int nft_delete_table(struct nft_sock *s);
/* 1 if table inet segd exists, 0 if not. *ret_flags / *ret_owner (portid, 0: none) if non-NULL. */
int nft_table_get(struct nft_sock *s, uint32_t *ret_flags, uint32_t *ret_owner);
int nft_table_exists(struct nft_sock *s);
/* Which of NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST the kernel accepts. Changes nothing: the probe
 * batch is made to abort. */
int nft_probe_table_flags(struct nft_sock *s, uint32_t *ret_flags);
/* Ruleset generation id (NFT_MSG_GETGEN): changes with every committed transaction. */
int nft_genid(struct nft_sock *s, uint32_t *ret);

/* ---- read-back ---------------------------------------------------------------------------- */

struct nft_dump_rule {
	uint64_t handle;
	char *expr;		/* decoded from the kernel's expressions, nft-like text */
	char *comment;		/* rule comment (userdata), NULL if none */
	bool has_counter;
	uint64_t packets, bytes;
};

struct nft_dump_chain {
	char *name;
	char *type;		/* "filter"; NULL for a regular chain */
	const char *hook;	/* "input", "output", ...; NULL for a regular chain */
	int32_t priority;
	const char *policy;	/* "accept" / "drop"; NULL for a regular chain */
	struct nft_dump_rule *rules;
	size_t n_rules;
};

struct nft_dump_elem {
	uint8_t key[16];	/* network byte order for addresses */
	uint32_t len;
	bool interval_end;
};

struct nft_dump_set {
	char *name;
	uint32_t flags;		/* NFT_SET_* */
	uint32_t key_type;	/* nft datatype: 7 ipv4_addr, 8 ipv6_addr, ... */
	uint32_t key_len;
	bool anonymous;
	struct nft_dump_elem *raw;	/* as dumped, sorted by key (end before start on ties) */
	size_t n_raw;
	char **elements;	/* rendered: "10.0.0.1", "10.0.0.0-10.0.255.255" (intervals) */
	size_t n_elements;
};

struct nft_dump {
	uint32_t genid;
	uint32_t table_flags;	/* NFT_TABLE_F_* */
	uint32_t owner;		/* owner portid, 0: none */
	bool owned_by_us;
	struct nft_dump_chain *chains;
	size_t n_chains;
	struct nft_dump_set *sets;	/* named and anonymous */
	size_t n_sets;
};

/* Reads table inet segd back: -ENOENT if absent. Consistent: retried if the ruleset
 * generation changed during the dump. */
int nft_dump(struct nft_sock *s, struct nft_dump **ret);
struct nft_dump *nft_dump_free(struct nft_dump *d);
const struct nft_dump_rule *nft_dump_find_rule(const struct nft_dump *d, const char *chain,
						const char *comment);
/* {"table": "inet segd", "flags": [...], "chains": [...], "sets": [...]} as in docs/api.md
 * (anonymous sets are shown inline in `expr`). Rules whose comment is "NS/NAME dir[I]" also get
 * "policy", "direction" and "rule". NULL on OOM. */
json_t *nft_dump_to_json(const struct nft_dump *d);

/* _cleanup_() helpers; the destructors above accept NULL. */
static inline __attribute__((unused)) void nft_sock_freep(struct nft_sock **s)
{
	nft_sock_free(*s);
}

static inline __attribute__((unused)) void nft_txn_freep(struct nft_txn **t)
{
	nft_txn_free(*t);
}

static inline __attribute__((unused)) void nft_dump_freep(struct nft_dump **d)
{
	nft_dump_free(*d);
}

/* Flow logging of every table this process writes from now on (default: none). */
void nft_set_flow_log(enum policy_flow_log mode, uint16_t group, uint32_t rate);
/* The emit options a table is written with: these flags and the flow logging set above. */
struct policy_emit_options nft_emit_options(uint32_t table_flags);

/* ---- change events (nft-events.c) ------------------------------------------------------------- */

/* One namespace's NFNLGRP_NFTABLES subscription. */
struct nft_events {
	int fd;
	bool touched;	/* the transaction being announced changed table inet segd */
};

/* A committed transaction: its generation, who committed it, and whether it changed table
 * inet segd. */
struct nft_gen_event {
	uint32_t genid;
	pid_t pid;
	char comm[32];
	bool touched;
};

int nft_events_open(int netns_fd, int *ret_fd);
/* Runs cb for each transaction announced so far. -ENOBUFS when events were lost (the caller
 * must check the namespace itself), else 0 or -errno. */
int nft_events_read(struct nft_events *ev, int (*cb)(const struct nft_gen_event *g, void *data),
		    void *data);
