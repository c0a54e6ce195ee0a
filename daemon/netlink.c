/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
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
		n = NLMSG_ALIGN(n);
		if (n > len - off) /* the last message need not be padded */
			break;
		off += n;
	}
	return true;
}

ssize_t netlink_recv(int fd, void *buf, size_t size, int flags)
{
	for (;;) {
		struct sockaddr_nl sa = { 0 };
		socklen_t salen = sizeof(sa);
		ssize_t n = recvfrom(fd, buf, size, flags, (struct sockaddr *)&sa, &salen);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		if (salen < sizeof(sa) || sa.nl_family != AF_NETLINK || sa.nl_pid != 0)
			continue; /* not the kernel */
		if (!netlink_datagram_valid(buf, (size_t)n))
			continue;
		return n;
	}
}
