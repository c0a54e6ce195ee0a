/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netlink.h>

#include "netlink.h"

bool netlink_datagram_valid(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t off = 0;

	while (off < len) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)(p + off);
		size_t n;

		if (len - off < NLMSG_HDRLEN)
			return false;
		n = nlh->nlmsg_len;
		if (n < NLMSG_HDRLEN || n > len - off)
			return false;
		/* libmnl bounds a message's attributes by its padded length (the payload tail), so
		 * the padding must be in the datagram too, the last message's included; the kernel
		 * always sends it */
		n = NLMSG_ALIGN(n);
		if (n > len - off)
			return false;
		off += n;
	}
	return true;
}

ssize_t netlink_recv(int fd, void *buf, size_t size, int flags)
{
	int32_t nsid;

	for (;;) {
		ssize_t n = netlink_recv_nsid(fd, buf, size, flags, &nsid);

		if (n != -EMSGSIZE)
			return n;
	}
}

ssize_t netlink_recv_nsid(int fd, void *buf, size_t size, int flags, int32_t *ret_nsid)
{
	for (;;) {
		struct sockaddr_nl sa = { 0 };
		union {
			char buf[CMSG_SPACE(sizeof(int32_t))];
			struct cmsghdr align;
		} control;
		struct iovec iov = { .iov_base = buf, .iov_len = size };
		struct msghdr msg = { .msg_name = &sa,
				      .msg_namelen = sizeof(sa),
				      .msg_iov = &iov,
				      .msg_iovlen = 1,
				      .msg_control = control.buf,
				      .msg_controllen = sizeof(control.buf) };
		ssize_t n = recvmsg(fd, &msg, flags);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		if (msg.msg_namelen < sizeof(sa) || sa.nl_family != AF_NETLINK || sa.nl_pid != 0)
			continue; /* not the kernel */
		/* The kernel stamps the source namespace's id (in ours) on what it broadcasts to
		 * a NETLINK_LISTEN_ALL_NSID socket; nobody else can set it. */
		*ret_nsid = -1;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
			if (c->cmsg_level == SOL_NETLINK &&
			    c->cmsg_type == NETLINK_LISTEN_ALL_NSID &&
			    c->cmsg_len == CMSG_LEN(sizeof(int32_t)))
				memcpy(ret_nsid, CMSG_DATA(c), sizeof(int32_t));
		if (msg.msg_flags & MSG_TRUNC)
			return -EMSGSIZE;
		if (!netlink_datagram_valid(buf, (size_t)n))
			continue;
		return n;
	}
}
