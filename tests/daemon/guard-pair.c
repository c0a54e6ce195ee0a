/* SPDX-License-Identifier: MIT */
/*
 * A veth pair between two private namespaces for the guard's tests (guard-pair.h): "ep" plays
 * the endpoint, "host" the namespace of the guarded host-side device.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/netfilter.h>

#include "fixture.h"
#include "guard-pair.h"
#include "netns.h"

int run(int nsfd, const char *const *argv)
{
	return fixture_run_in(nsfd, argv);
}

void if_info(int nsfd, const char *name, uint8_t mac[6], int *ret_index)
{
	struct ifreq ifr = { 0 };
	int fd = -1;

	assert_int_equal(netns_socket(nsfd, AF_INET, SOCK_DGRAM, 0, &fd), 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	assert_int_equal(ioctl(fd, SIOCGIFHWADDR, &ifr), 0);
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	if (ret_index) {
		assert_int_equal(ioctl(fd, SIOCGIFINDEX, &ifr), 0);
		*ret_index = ifr.ifr_ifindex;
	}
	close(fd);
}

void pair_setup(struct pair *p, const char *tag)
{
	static unsigned n;
	char ep_name[32], host_name[32], mac[32];
	int idx = 0;

	*p = (struct pair){ .ep = -1, .host = -1 };
	snprintf(ep_name, sizeof(ep_name), "%s-ep", tag);
	snprintf(host_name, sizeof(host_name), "%s-host", tag);
	assert_int_equal(fixture_netns(ep_name, &p->ep), 0);
	assert_int_equal(fixture_netns(host_name, &p->host), 0);
	/* fixture_veth names its ends fxa<N> (in ep) and fxb<N> (in host), N counting up */
	assert_int_equal(fixture_veth(p->ep, "10.9.0.2/24", p->host, "10.9.0.1/24"), 0);
	snprintf(p->ep_if, sizeof(p->ep_if), "fxa%u", n);
	snprintf(p->host_if, sizeof(p->host_if), "fxb%u", n++);
	if_info(p->ep, p->ep_if, p->ep_mac, NULL);
	if_info(p->host, p->host_if, p->host_mac, &idx);
	p->host_index = idx;
	snprintf(p->table, sizeof(p->table), POLICY_GUARD_TABLE_PREFIX "%d", idx);
	/* No ARP from the endpoint in these tests: its neighbour is static. */
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", p->host_mac[0], p->host_mac[1],
		 p->host_mac[2], p->host_mac[3], p->host_mac[4], p->host_mac[5]);
	assert_int_equal(run(p->ep, (const char *const[]){ "ip", "neigh", "replace", "10.9.0.1",
							   "lladdr", mac, "dev", p->ep_if, "nud",
							   "permanent", NULL }),
			 0);
	assert_int_equal(nft_sock_open(NULL, p->host, &p->s), 0);
}

void pair_done(struct pair *p)
{
	nft_sock_free(p->s);
	close(p->ep);
	close(p->host);
}

void table_commit(struct pair *p, const struct policy_plan *plan)
{
	struct policy_addr own = { .family = AF_INET };
	struct policy_guard g = {
		.table = p->table,
		.device = p->host_if,
		.ifindex = (uint32_t)p->host_index,
		.addrs = &own,
		.n_addrs = 1,
		.plan = plan,
		.table_flags = NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST,
	};
	struct nft_error err = { 0 };
	int r;

	inet_pton(AF_INET, "10.9.0.2", own.addr);
	memcpy(g.mac, p->ep_mac, 6);
	r = nft_replace_guard(p->s, &g, &err);
	if (r < 0)
		fail_msg("guard: %s: %s (%s)", strerror(-r), err.object, err.message);
}

int udp_socket(int nsfd, const char *addr, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct timeval tv = { .tv_sec = 10 }; /* a safety net: every wait has a packet coming */
	int fd = -1;

	assert_int_equal(netns_socket(nsfd, AF_INET, SOCK_DGRAM, 0, &fd), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	inet_pton(AF_INET, addr, &sa.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

void udp_send(int fd, const char *dst, uint16_t port, const char *msg)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };

	inet_pton(AF_INET, dst, &sa.sin_addr);
	assert_int_equal(sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&sa, sizeof(sa)),
			 (ssize_t)strlen(msg));
}

/* The first datagram queued on fd is msg. */
void expect_first(int fd, const char *msg)
{
	char buf[64] = { 0 };
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

	if (n < 0)
		fail_msg("recv: %m (waiting for \"%s\")", msg);
	assert_string_equal(buf, msg);
}

void expect_none_queued(int fd)
{
	char buf[8];

	assert_int_equal(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
}
