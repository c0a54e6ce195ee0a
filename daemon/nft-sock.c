/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#include <linux/netlink.h>

#include "netlink.h"
#include "netns.h"
#include "nft-sock.h"
#include "nftnl-util.h"
#include "time-util.h"

#define RECV_BUF_SIZE (128u * 1024)
#define RCVBUF_SIZE (8 * 1024 * 1024)

struct nft_rx {
	char buf[RECV_BUF_SIZE];
};

struct nft_sock {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	int sndbuf;
	char *buf; /* RECV_BUF_SIZE: the context's, or own_buf */
	char *own_buf;
	struct nft_stats stats;
};

int nft_rx_new(struct nft_rx **ret)
{
	struct nft_rx *c = malloc(sizeof(*c));

	if (!c)
		return -ENOMEM;
	*ret = c;
	return 0;
}

struct nft_rx *nft_rx_free(struct nft_rx *c)
{
	free(c);
	return NULL;
}

void *nft_rx_buffer(struct nft_rx *c, size_t *ret_size)
{
	*ret_size = sizeof(c->buf);
	return c->buf;
}

/* The socket options every nft_sock has; nl is bound. Takes nl on success. */
static int sock_new(struct nft_rx *ctx, struct mnl_socket *nl, struct nft_sock **ret)
{
	_cleanup_free_ struct nft_sock *s = NULL;
	_cleanup_free_ char *own = NULL;
	int one = 1, rcvbuf = RCVBUF_SIZE;

	if (!ctx) {
		own = malloc(RECV_BUF_SIZE);
		if (!own)
			return -ENOMEM;
	}
	/* Extended ACKs name the offending attribute; CAP_ACK keeps an error from echoing the
	 * whole (possibly huge) request back into our receive buffer. */
	if (mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one)) < 0 ||
	    mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one)) < 0)
		return -errno;
	/* FORCE needs CAP_NET_ADMIN in the initial namespace; fall back to the rmem_max cap. */
	if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) <
	    0)
		(void)setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUF, &rcvbuf,
				 sizeof(rcvbuf));

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->own_buf = TAKE_PTR(own);
	s->buf = ctx ? ctx->buf : s->own_buf;
	s->portid = mnl_socket_get_portid(nl);
	s->seq = (uint32_t)time(NULL);
	s->nl = nl;
	*ret = TAKE_PTR(s);
	return 0;
}

int nft_sock_open(struct nft_rx *ctx, int netns_fd, struct nft_sock **ret)
{
	_cleanup_(mnl_socket_closep) struct mnl_socket *nl = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	if (netns_fd >= 0) {
		r = netns_socket(netns_fd, AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK, NETLINK_NETFILTER,
				 &fd);
		if (r < 0)
			return r;
	} else {
		fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_NETFILTER);
		if (fd < 0)
			return -errno;
	}
	nl = mnl_socket_fdopen(fd);
	if (!nl)
		return -errno;
	TAKE_FD(fd); /* owned by nl now */
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return -errno;
	r = sock_new(ctx, nl, ret);
	if (r < 0)
		return r;
	TAKE_PTR(nl);
	return 0;
}

int nft_sock_adopt(struct nft_rx *ctx, int fd, struct nft_sock **ret)
{
	_cleanup_(mnl_socket_closep) struct mnl_socket *nl = NULL;
	_cleanup_close_ int copy = -1;
	int domain = 0, protocol = 0, flags;
	socklen_t sl = sizeof(int);
	struct sockaddr_nl sa;
	socklen_t sal = sizeof(sa);
	int r;

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &sl) < 0)
		return -errno;
	sl = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &sl) < 0)
		return -errno;
	if (domain != AF_NETLINK || protocol != NETLINK_NETFILTER)
		return -EPROTOTYPE;
	if (getsockname(fd, (struct sockaddr *)&sa, &sal) < 0)
		return -errno;
	if (sa.nl_pid == 0)
		return -ENOTCONN;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	/* A copy for nl, so that on failure fd is still the caller's, untouched. */
	copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (copy < 0)
		return -errno;
	nl = mnl_socket_fdopen(copy); /* reads the portid back with getsockname() */
	if (!nl)
		return -errno;
	TAKE_FD(copy);
	r = sock_new(ctx, nl, ret);
	if (r < 0)
		return r;
	TAKE_PTR(nl);
	close(fd);
	return 0;
}

struct nft_sock *nft_sock_free(struct nft_sock *s)
{
	if (!s)
		return NULL;
	mnl_socket_close(s->nl);
	free(s->own_buf);
	free(s);
	return NULL;
}

int nft_sock_fd(const struct nft_sock *s)
{
	return mnl_socket_get_fd(s->nl);
}

void nft_sock_stats(const struct nft_sock *s, struct nft_stats *ret)
{
	*ret = s ? s->stats : (struct nft_stats){ 0 };
}

uint32_t nft_sock_portid(const struct nft_sock *s)
{
	return s->portid;
}

uint32_t nft_sock_next_seq(struct nft_sock *s)
{
	if (++s->seq == 0)
		s->seq = 1;
	return s->seq;
}

/* Throws away replies left over from an earlier request that gave up (timeout). */
static void sock_drain(struct nft_sock *s)
{
	for (int i = 0; i < 1024; i++)
		if (recv(nft_sock_fd(s), s->buf, RECV_BUF_SIZE, MSG_DONTWAIT) < 0 &&
		    errno != ENOBUFS)
			return;
}

int nft_sock_wait(struct nft_sock *s, int64_t deadline)
{
	struct pollfd p = { .fd = nft_sock_fd(s), .events = POLLIN };

	for (;;) {
		int64_t left = deadline - now_msec();
		int n;

		if (left < 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
		return 0;
	}
}

ssize_t nft_sock_recv(struct nft_sock *s, const void **ret_buf)
{
	ssize_t n = netlink_recv(nft_sock_fd(s), s->buf, RECV_BUF_SIZE, MSG_DONTWAIT);

	if (n >= 0)
		*ret_buf = s->buf;
	return n;
}

int nft_sock_request(struct nft_sock *s, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	int64_t deadline = now_msec() + NFT_REPLY_TIMEOUT_MS;
	uint32_t seq = nlh->nlmsg_seq;
	int r;

	sock_drain(s);
	if (mnl_socket_sendto(s->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		const void *buf;
		ssize_t n = nft_sock_recv(s, &buf);

		if (n == -EAGAIN) {
			r = nft_sock_wait(s, deadline);
			if (r < 0)
				return r;
			continue;
		}
		if (n < 0)
			return (int)n;
		r = mnl_cb_run(buf, (size_t)n, seq, s->portid, cb, data);
		if (r < 0)
			return errno > 0 ? -errno : -EIO;
		if (r == MNL_CB_STOP)
			return 0;
	}
}

static int sock_grow_sndbuf(struct nft_sock *s, size_t need)
{
	int v;

	if (need > INT32_MAX / 2)
		return -EMSGSIZE;
	if ((size_t)s->sndbuf >= need)
		return 0;
	v = (int)need;
	if (setsockopt(nft_sock_fd(s), SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0 &&
	    setsockopt(nft_sock_fd(s), SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)) < 0)
		return -errno;
	s->sndbuf = v;
	return 0;
}

int nft_sock_send_batch(struct nft_sock *s, const struct iovec *iov, size_t niov, size_t messages)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct msghdr msg = { .msg_name = &sa,
			      .msg_namelen = sizeof(sa),
			      .msg_iov = (struct iovec *)iov,
			      .msg_iovlen = niov };
	size_t total = 0;
	ssize_t n;
	int r;

	for (size_t i = 0; i < niov; i++)
		total += iov[i].iov_len;
	s->stats.batches++;
	s->stats.messages += messages;
	s->stats.bytes += total;
	/* the whole batch is one datagram: it must fit in the send buffer */
	r = sock_grow_sndbuf(s, total + 64 * 1024);
	if (r < 0)
		return r;
	sock_drain(s);
	n = sendmsg(nft_sock_fd(s), &msg, 0);
	if (n < 0)
		return -errno;
	return (size_t)n == total ? 0 : -EIO;
}
