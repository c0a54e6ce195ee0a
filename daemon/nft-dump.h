/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "nft-decode.h"
#include "nft-sock.h"

/*
 * Read-back of table inet segd: a consistent dump (retried when the ruleset generation changes
 * under it) with every rule's expressions decoded into nft-like text (nft-decode.c), and its
 * JSON form for `segctl rules`.
 */

struct nft_dump_chain {
	char *name;
	char *type;	  /* "filter"; NULL for a regular chain */
	const char *hook; /* "input", "output", ...; NULL for a regular chain */
	int32_t priority;
	const char *policy; /* "accept" / "drop"; NULL for a regular chain */
	struct nft_dump_rule *rules;
	size_t n_rules;
};

struct nft_dump_set {
	char *name;
	uint32_t flags;	   /* NFT_SET_* */
	uint32_t key_type; /* nft datatype: 7 ipv4_addr, 8 ipv6_addr, ... */
	uint32_t key_len;
	bool anonymous;
	struct nft_dump_elem *raw; /* as dumped, sorted by key (end before start on ties) */
	size_t n_raw;
	char **elements; /* rendered: "10.0.0.1", "10.0.0.0-10.0.255.255" (intervals) */
	size_t n_elements;
};

struct nft_dump {
	char table[32]; /* its name (family inet) */
	uint32_t genid;
	uint32_t table_flags; /* NFT_TABLE_F_* */
	uint32_t owner;	      /* owner portid, 0: none */
	bool owned_by_us;
	struct nft_dump_chain *chains;
	size_t n_chains;
	struct nft_dump_set *sets; /* named and anonymous */
	size_t n_sets;
};

/* Reads table inet segd back: -ENOENT if absent. Consistent: retried if the ruleset
 * generation changed during the dump. */
int nft_dump(struct nft_sock *s, struct nft_dump **ret);
/* The same for table inet `table`. */
int nft_dump_table(struct nft_sock *s, const char *table, struct nft_dump **ret);
struct nft_dump *nft_dump_free(struct nft_dump *d);
const struct nft_dump_rule *nft_dump_find_rule(const struct nft_dump *d, const char *chain,
					       const char *comment);
/* Sorts s->raw and renders it into s->elements (addresses, ranges of an interval set, numbers);
 * part of the dump, exposed for the fuzz harness. */
int nft_dump_set_render(struct nft_dump_set *s);
/* {"table": "inet segd", "flags": [...], "chains": [...], "sets": [...]} as in docs/api.md
 * (anonymous sets are shown inline in `expr`). Rules whose comment is "NS/NAME dir[I]" also get
 * "policy", "direction" and "rule". NULL on OOM. */
json_t *nft_dump_to_json(const struct nft_dump *d);

static inline __attribute__((unused)) void nft_dump_freep(struct nft_dump **d)
{
	nft_dump_free(*d);
}
