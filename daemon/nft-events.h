/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "nft-sock.h"

/* One namespace's NFNLGRP_NFTABLES subscription: who commits what to nf_tables there. */
struct nft_events {
	int fd;
	bool touched; /* the transaction being announced changed table inet segd */
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
/* Runs cb for each transaction announced so far, reading into ctx's buffer. -ENOBUFS when
 * events were lost (the caller must check the namespace itself), else 0 or -errno. */
int nft_events_read(struct nft_events *ev, struct nft_rx *ctx,
		    int (*cb)(const struct nft_gen_event *g, void *data), void *data);
