/* SPDX-License-Identifier: MIT */
/*
 * The guard's tests (test-guard.c): a veth pair between two private namespaces (fixture.h),
 * "ep" playing the endpoint (workload) and "host" the namespace of the host-side device the
 * guard is committed on, and UDP between them.
 */
#pragma once

#include <net/if.h>
#include <stdint.h>

#include "nft.h"
#include "policy/policy.h"

struct pair {
	int ep, host;		/* namespaces */
	char ep_if[IFNAMSIZ];	/* endpoint side */
	char host_if[IFNAMSIZ]; /* host side, guarded */
	uint8_t ep_mac[6], host_mac[6];
	char table[32];
	int host_index;
	struct nft_sock *s; /* in host, owns the guard */
};

int run(int nsfd, const char *const *argv);
/* The MAC (and index, when ret_index) of device name in nsfd. */
void if_info(int nsfd, const char *name, uint8_t mac[6], int *ret_index);
/* ep 10.9.0.2/24 -- host 10.9.0.1/24, the endpoint's neighbour static, a socket in host. */
void pair_setup(struct pair *p, const char *tag);
void pair_done(struct pair *p);
/* The guard of plan on the host-side device, for the endpoint's 10.9.0.2. */
void table_commit(struct pair *p, const struct policy_plan *plan);
/* A UDP socket bound in nsfd, with a receive timeout as a safety net. */
int udp_socket(int nsfd, const char *addr, uint16_t port);
void udp_send(int fd, const char *dst, uint16_t port, const char *msg);
/* The first datagram queued on fd is msg. */
void expect_first(int fd, const char *msg);
void expect_none_queued(int fd);
