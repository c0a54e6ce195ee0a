/* SPDX-License-Identifier: MIT */
/*
 * The nf_tables socket: created inside its namespace, its replies read into the buffer of its
 * context (shared by every socket of the context) or its own, and what it sent counted.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/sockios.h>

#include "fixture.h"
#include "nft.h"
#include "nftplans.h"

static void test_socket_lives_in_its_namespace(void **state)
{
	struct nft_sock *s = NULL;
	struct stat a, b;
	int ns = -1, sns;

	assert_int_equal(fixture_netns("sock", &ns), 0);
	assert_int_equal(nft_sock_open(NULL, ns, &s), 0);
	sns = ioctl(nft_sock_fd(s), SIOCGSKNS);
	assert_true(sns >= 0);
	assert_int_equal(fstat(sns, &a), 0);
	assert_int_equal(fstat(ns, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_true(fcntl(nft_sock_fd(s), F_GETFL) & O_NONBLOCK);
	assert_int_not_equal(nft_sock_portid(s), 0);
	close(sns);
	nft_sock_free(s);
	close(ns);
}

static void test_shared_buffer_and_stats(void **state)
{
	struct policy_plan *plan = nft_test_plan(2);
	struct policy_emit_options opts = { 0 };
	struct nft_sock *a = NULL, *b = NULL;
	struct nft_stats st;
	struct nft_rx *rx = NULL;
	uint32_t gen = 0;
	size_t size = 0;
	int x = -1, y = -1;

	assert_int_equal(nft_rx_new(&rx), 0);
	assert_non_null(nft_rx_buffer(rx, &size));
	assert_true(size >= 64 * 1024);
	assert_int_equal(fixture_netns("rx-a", &x), 0);
	assert_int_equal(fixture_netns("rx-b", &y), 0);
	/* Two sockets, one buffer: each reads its replies to the end before the next request. */
	assert_int_equal(nft_sock_open(rx, x, &a), 0);
	assert_int_equal(nft_sock_open(rx, y, &b), 0);
	nft_sock_stats(a, &st);
	assert_int_equal(st.batches, 0);
	assert_int_equal(nft_replace_table(a, plan, &opts, NULL), 0);
	assert_int_equal(nft_replace_table(b, plan, &opts, NULL), 0);
	assert_int_equal(nft_table_exists(a), 1);
	assert_int_equal(nft_table_exists(b), 1);
	assert_int_equal(nft_genid(a, &gen), 0);
	nft_sock_stats(a, &st);
	assert_int_equal(st.batches, 1);
	assert_true(st.messages > 4); /* begin, table x2, chains, sets, rules, end */
	assert_true(st.bytes > 0);
	nft_sock_stats(NULL, &st);
	assert_int_equal(st.batches, 0);
	nft_sock_free(a);
	nft_sock_free(b);
	nft_rx_free(rx);
	policy_plan_free(plan);
	close(x);
	close(y);
}

/* A socket handed back by the fd store: adopted with its portid, and still the table's owner;
 * anything that is not a bound nf_tables socket is refused and left to the caller. */
static void test_adopt(void **state)
{
	static const struct policy_emit_options owned = { .table_flags = NFT_TABLE_F_OWNER };
	struct policy_plan *plan = nft_test_plan(1);
	struct nft_error err = { 0 };
	struct nft_sock *s = NULL, *t = NULL;
	uint32_t owner = 0;
	int ns = -1, copy, p[2], fd;

	assert_int_equal(fixture_netns("adopt", &ns), 0);
	assert_int_equal(nft_sock_open(NULL, ns, &s), 0);
	assert_int_equal(nft_replace_table(s, plan, &owned, &err), 0);
	copy = fcntl(nft_sock_fd(s), F_DUPFD, 3); /* as it comes back: no CLOEXEC */
	assert_true(copy >= 0);
	assert_int_equal(nft_sock_adopt(NULL, copy, &t), 0);
	assert_int_equal(nft_sock_portid(t), nft_sock_portid(s));
	assert_int_equal(fcntl(nft_sock_fd(t), F_GETFD), FD_CLOEXEC);
	s = nft_sock_free(s);
	assert_int_equal(nft_replace_table(t, plan, &owned, &err), 0);
	assert_int_equal(nft_table_get(t, NULL, &owner), 1);
	assert_int_equal(owner, nft_sock_portid(t));
	nft_sock_free(t);

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(nft_sock_adopt(NULL, p[0], &t), -ENOTSOCK);
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	assert_int_equal(nft_sock_adopt(NULL, fd, &t), -EPROTOTYPE);
	close(fd);
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	assert_int_equal(nft_sock_adopt(NULL, fd, &t), -ENOTCONN); /* never bound */
	close(fd);
	assert_int_equal(fcntl(p[0], F_GETFD), FD_CLOEXEC); /* still ours, untouched */
	close(p[0]);
	close(p[1]);
	policy_plan_free(plan);
	close(ns);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_socket_lives_in_its_namespace),
		cmocka_unit_test(test_shared_buffer_and_stats),
		cmocka_unit_test(test_adopt),
	};

	fixture_enter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
