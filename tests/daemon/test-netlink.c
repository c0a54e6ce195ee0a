/* SPDX-License-Identifier: MIT */
/*
 * Netlink datagrams are read from the kernel only, and only whole: a process with
 * CAP_NET_ADMIN in the namespace (here: us, in a private user namespace) can send to our
 * socket's port, and what it sends must never reach a parser. Private kernel, no root.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include "fixture.h"
#include "netlink.h"

static void test_datagram_validity(void **state)
{
	uint8_t buf[64] = { 0 };
	struct nlmsghdr *h = (struct nlmsghdr *)buf;

	h->nlmsg_len = NLMSG_HDRLEN;
	assert_true(netlink_datagram_valid(buf, NLMSG_HDRLEN));
	assert_true(netlink_datagram_valid(buf, 0));
	/* two messages */
	((struct nlmsghdr *)(buf + NLMSG_HDRLEN))->nlmsg_len = NLMSG_HDRLEN + 4;
	assert_true(netlink_datagram_valid(buf, 2 * NLMSG_HDRLEN + 4));
	/* past the end, shorter than a header, huge (what libmnl's int cast lets through) */
	h->nlmsg_len = 60;
	assert_false(netlink_datagram_valid(buf, 32));
	h->nlmsg_len = 4;
	assert_false(netlink_datagram_valid(buf, 32));
	h->nlmsg_len = 0xfffffff0;
	assert_false(netlink_datagram_valid(buf, 32));
	/* trailing bytes shorter than a header */
	h->nlmsg_len = NLMSG_HDRLEN;
	assert_false(netlink_datagram_valid(buf, NLMSG_HDRLEN + 3));
	/* a last message without its padding: libmnl would let an attribute run into the
	 * missing bytes (an NFLOG prefix read past the buffer, found by fuzz-flows) */
	h->nlmsg_len = NLMSG_HDRLEN + 5;
	assert_false(netlink_datagram_valid(buf, NLMSG_HDRLEN + 5));
	assert_true(netlink_datagram_valid(buf, NLMSG_HDRLEN + 8));
}

static int open_nfnl(uint32_t *ret_portid)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_NETFILTER);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*ret_portid = sa.nl_pid;
	return fd;
}

static void test_only_the_kernel_is_heard(void **state)
{
	uint32_t victim_port, attacker_port;
	int victim = open_nfnl(&victim_port), attacker = open_nfnl(&attacker_port);
	struct sockaddr_nl to = { .nl_family = AF_NETLINK, .nl_pid = victim_port };
	uint8_t msg[NLMSG_HDRLEN] = { 0 }, buf[256];
	struct nlmsghdr *h = (struct nlmsghdr *)msg;
	ssize_t n;

	/* A well-formed message from another socket: dropped. */
	h->nlmsg_len = NLMSG_HDRLEN;
	h->nlmsg_type = NLMSG_NOOP;
	if (sendto(attacker, msg, sizeof(msg), 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
		print_message("# this kernel refuses unicast between user sockets: %s\n",
			      strerror(errno));
	} else {
		/* the datagram is queued on the victim... */
		n = recv(victim, buf, sizeof(buf), MSG_PEEK);
		assert_int_equal(n, sizeof(msg));
		/* ...and netlink_recv drops it */
		assert_int_equal(netlink_recv(victim, buf, sizeof(buf), 0), -EAGAIN);
	}
	/* The kernel's answer gets through: an echo request with an ACK. */
	{
		uint8_t req[NLMSG_HDRLEN + sizeof(struct nfgenmsg)] = { 0 };
		struct nlmsghdr *r = (struct nlmsghdr *)req;

		r->nlmsg_len = sizeof(req);
		r->nlmsg_type = NLMSG_NOOP;
		r->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
		r->nlmsg_seq = 7;
		assert_int_equal(send(victim, req, sizeof(req), 0), (ssize_t)sizeof(req));
		n = netlink_recv(victim, buf, sizeof(buf), 0);
		assert_true(n >= (ssize_t)NLMSG_HDRLEN);
		assert_int_equal(((struct nlmsghdr *)buf)->nlmsg_type, NLMSG_ERROR);
		assert_int_equal(((struct nlmsghdr *)buf)->nlmsg_seq, 7);
	}
	close(victim);
	close(attacker);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_datagram_validity),
		cmocka_unit_test(test_only_the_kernel_is_heard),
	};

	fixture_enter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
