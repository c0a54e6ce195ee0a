/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A rule's expressions, as the kernel returns them, turned back into nft-like text. Knows
 * nothing of dumps: the contents of the anonymous sets a rule looks up come from a callback.
 */
struct nftnl_rule;
struct nlmsghdr;

/* A rule as read back. */
struct nft_dump_rule {
	uint64_t handle;
	char *expr;    /* decoded from the kernel's expressions, nft-like text */
	char *comment; /* rule comment (userdata), NULL if none */
	bool has_counter;
	uint64_t packets, bytes;
};

/* One element of a set as the kernel returns it. */
struct nft_dump_elem {
	uint8_t key[16]; /* network byte order for addresses */
	uint32_t len;
	bool interval_end;
};

/* The elements of anonymous set `name` (*ret_n of them), or NULL if it is not one. */
typedef const struct nft_dump_elem *(*nft_decode_set_fn)(const char *name, size_t *ret_n,
							 void *userdata);

/* Whether a rule message from the kernel may go to nftnl_rule_nlmsg_parse(): every expression
 * (those inside a dynset too) has a NUL-terminated name. libnftnl (1.2.4) reads a missing or unterminated one out of
 * bounds (found by fuzz-nft); the kernel always sends it, so such a message is refused. */
bool nft_decode_rule_msg_ok(const struct nlmsghdr *nlh);
/* Decodes `rule` into ret (expr text, handle, comment, counter). */
int nft_decode_rule(const struct nftnl_rule *rule, nft_decode_set_fn anon_sets, void *userdata,
		    struct nft_dump_rule *ret);
/* A big-endian value of len <= 8 bytes (ports, marks, set keys that are not addresses). */
uint64_t nft_be_value(const uint8_t *p, uint32_t len);
