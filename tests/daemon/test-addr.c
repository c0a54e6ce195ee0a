/* SPDX-License-Identifier: MIT */
/*
 * Addresses of a namespace: only global ones count (loopback and link-local never identify a
 * peer), sorted (rootless private kernel, fixture.h). Changes: test-addr-watch.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "addr.h"
#include "fixture.h"

static int ip(int nsfd, const char *a, const char *b, const char *c, const char *d, const char *e,
	      const char *f)
{
	return fixture_run_in(nsfd, (const char *const[]){ "ip", a, b, c, d, e, f, NULL });
}

static bool has(const struct policy_addr *a, size_t n, const char *text)
{
	struct policy_addr x = { .family = strchr(text, ':') ? AF_INET6 : AF_INET };

	assert_int_equal(inet_pton(x.family, text, x.addr), 1);
	for (size_t i = 0; i < n; i++)
		if (a[i].family == x.family && memcmp(a[i].addr, x.addr, 16) == 0)
			return true;
	return false;
}

static bool has_link_local(const struct policy_addr *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].family == AF_INET6 && a[i].addr[0] == 0xfe &&
		    (a[i].addr[1] & 0xc0) == 0x80)
			return true;
	return false;
}

static void test_which_addresses_count(void **state)
{
	struct policy_addr *a = NULL;
	size_t n = 0;
	int ns = -1, peer = -1;

	assert_int_equal(fixture_netns("addrs", &ns), 0);
	assert_int_equal(fixture_netns("addrs-peer", &peer), 0);
	assert_int_equal(fixture_veth(ns, "10.9.0.2/24", peer, "10.9.0.1/24"), 0);
	assert_int_equal(addr_read(ns, &a, &n), 0);
	assert_true(has(a, n, "10.9.0.2"));
	assert_false(has(a, n, "127.0.0.1"));
	assert_false(has(a, n, "10.9.0.1")); /* the peer's */
	/* The interface's link-local IPv6 address counts: peers on the link use it. */
	assert_true(has_link_local(a, n));
	free(a);

	/* A global IPv6 address and a second IPv4 one. */
	assert_int_equal(ip(ns, "-6", "addr", "add", "fd00:9::2/64", "dev", "fxa0"), 0);
	assert_int_equal(ip(ns, "addr", "add", "10.9.1.2/24", "dev", "fxa0", NULL), 0);
	a = NULL;
	assert_int_equal(addr_read(ns, &a, &n), 0);
	assert_true(has(a, n, "10.9.0.2"));
	assert_true(has(a, n, "10.9.1.2"));
	assert_true(has(a, n, "fd00:9::2"));
	free(a);

	/* An IPv6 address with a lifetime (as autoconfiguration from a router advertisement
	 * makes) is not the endpoint's to claim. */
	assert_int_equal(fixture_run_in(ns, (const char *const[]){ "ip", "-6", "addr", "add",
								   "fd00:9::3/64", "dev", "fxa0",
								   "valid_lft", "300",
								   "preferred_lft", "300", NULL }),
			 0);
	a = NULL;
	assert_int_equal(addr_read(ns, &a, &n), 0);
	assert_true(has(a, n, "fd00:9::2"));
	assert_false(has(a, n, "fd00:9::3"));
	/* Sorted: a stable order, so that equal sets compare equal. */
	for (size_t i = 1; i < n; i++)
		assert_true(memcmp(&a[i - 1], &a[i], sizeof(a[i])) < 0);
	free(a);
	close(ns);
	close(peer);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_which_addresses_count),
	};

	fixture_enter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
