/* SPDX-License-Identifier: MIT */
#pragma once

#include "nft-sock.h"

struct fdstore;

/*
 * The nf_tables socket that owns segd's tables in namespace nsfd: the one the fd store kept
 * under "PREFIX-<dev>-<ino>" of the namespace (a previous segd's: same port id, so the tables
 * are still ours), else a new one, put in the store before it owns anything. *ret_name (64
 * bytes) gets the name, "" without a store (store NULL) or when the store refused it (logged).
 */
int owner_socket_open(struct nft_rx *rx, struct fdstore *store, int nsfd, const char *prefix,
		      struct nft_sock **ret, char *ret_name);
/* The store forgets name (the namespace is gone, or no longer segd's): its tables are
 * released once nobody holds the socket. name becomes "". */
void owner_socket_forget(struct fdstore *store, char *name);
