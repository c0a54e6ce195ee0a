/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <libmnl/libmnl.h>

/*
 * One NETLINK_NETFILTER socket, created inside one network namespace (a netlink socket stays
 * in the namespace it was created in). Everything returns 0 (or a documented value) or -errno;
 * nothing here logs.
 *
 * Replies are read into a receive buffer that belongs to a context: a process with thousands of
 * sockets (one per endpoint) reads each socket's replies to the end before the next request, so
 * they can all share one. A socket opened without a context has a buffer of its own.
 */

#ifndef NFT_TABLE_F_PERSIST
#define NFT_TABLE_F_PERSIST 0x4 /* Linux >= 6.9: an owned table outlives its owner */
#endif

struct nft_rx;
struct nft_sock;

/* What a socket has sent: every batch committed through it (for the per-change counters). */
struct nft_stats {
	uint64_t batches;  /* sendmsg() calls, one per transaction */
	uint64_t messages; /* netlink messages, BEGIN/END included */
	uint64_t bytes;
};

int nft_rx_new(struct nft_rx **ret);
struct nft_rx *nft_rx_free(struct nft_rx *c);
/* The shared buffer, for readers of other netlink sockets of the same thread. */
void *nft_rx_buffer(struct nft_rx *c, size_t *ret_size);

/* netns_fd < 0: the caller's namespace. Non-blocking, CLOEXEC, NETLINK_EXT_ACK and
 * NETLINK_CAP_ACK on, large buffers. ctx may be NULL. */
int nft_sock_open(struct nft_rx *ctx, int netns_fd, struct nft_sock **ret);
/* Wraps a NETLINK_NETFILTER socket opened earlier (by nft_sock_open, possibly in another
 * process: one the fd store handed back): same portid, so it still owns what it owned. Takes
 * fd on success (made non-blocking and CLOEXEC). -ENOTSOCK / -EPROTOTYPE: fd is something
 * else; -ENOTCONN: it is not bound (has no portid). ctx may be NULL. */
int nft_sock_adopt(struct nft_rx *ctx, int fd, struct nft_sock **ret);
struct nft_sock *nft_sock_free(struct nft_sock *s);
int nft_sock_fd(const struct nft_sock *s);
uint32_t nft_sock_portid(const struct nft_sock *s); /* what the kernel stores as table owner */
void nft_sock_stats(const struct nft_sock *s, struct nft_stats *ret);

/* ---- for the nft-* modules ---- */

uint32_t nft_sock_next_seq(struct nft_sock *s);
/*
 * One non-batch request (GET*), replies run through cb until the ACK or the end of the dump.
 * A dump interrupted by a concurrent change (NLM_F_DUMP_INTR) gives -EINTR.
 */
int nft_sock_request(struct nft_sock *s, struct nlmsghdr *nlh, mnl_cb_t cb, void *data);
/* Sends one batch (a single datagram of `messages` messages) after dropping stale replies and
 * growing the send buffer to hold it; counts it in the stats. */
int nft_sock_send_batch(struct nft_sock *s, const struct iovec *iov, size_t niov, size_t messages);
/* One datagram without blocking: its length and *ret_buf (valid until the next receive), or
 * -EAGAIN, -ENOBUFS (the kernel dropped some), -errno. */
ssize_t nft_sock_recv(struct nft_sock *s, const void **ret_buf);
/* Waits until the socket is readable or the CLOCK_MONOTONIC deadline (ms): 0 or -ETIMEDOUT. */
int nft_sock_wait(struct nft_sock *s, int64_t deadline_ms);

/* How long replies may take; nf_tables answers inside sendmsg(), so this is a safety net. */
#define NFT_REPLY_TIMEOUT_MS 5000
