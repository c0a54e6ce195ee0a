/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared between nft.c (socket, transactions) and nft-dump.c (read-back). */

#include <stdint.h>

#include <libmnl/libmnl.h>

#include "nft.h"

struct nft_sock {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	int sndbuf;
	char *buf;	/* RECV_BUF_SIZE */
	struct nft_stats stats;
};

uint32_t sock_next_seq(struct nft_sock *s);
int sock_request(struct nft_sock *s, struct nlmsghdr *nlh, mnl_cb_t cb, void *data);

struct nftnl_rule;
/* The rule's comment (nft's userdata TLV), newly allocated, or NULL. */
char *rule_comment(const struct nftnl_rule *rule);
