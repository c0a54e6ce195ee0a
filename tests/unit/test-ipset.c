/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "ipset.h"

static struct policy_cidr cidr(const char *addr, unsigned len)
{
	struct policy_cidr c = { .prefixlen = (uint8_t)len };

	c.family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(c.family, addr, c.addr), 1);
	return c;
}

static u128 v4(const char *s)
{
	uint8_t a[16] = { 0 };

	assert_int_equal(inet_pton(AF_INET, s, a), 1);
	return addr_to_u128(AF_INET, a);
}

static void test_normalize_merges_overlap_and_adjacent(void **state)
{
	struct range_list l = { 0 };

	assert_int_equal(range_list_add(&l, 10, 20), 0);
	assert_int_equal(range_list_add(&l, 21, 30), 0); /* adjacent */
	assert_int_equal(range_list_add(&l, 5, 12), 0);	 /* overlapping */
	assert_int_equal(range_list_add(&l, 40, 50), 0); /* separate */
	assert_int_equal(range_list_add(&l, 45, 46), 0); /* contained */
	range_list_normalize(&l);
	assert_int_equal(l.n, 2);
	assert_true(l.items[0].lo == 5 && l.items[0].hi == 30);
	assert_true(l.items[1].lo == 40 && l.items[1].hi == 50);
	range_list_done(&l);
}

static void test_normalize_full_range_no_overflow(void **state)
{
	struct range_list l = { 0 };
	u128 max = ~(u128)0;

	assert_int_equal(range_list_add(&l, 0, max), 0);
	assert_int_equal(range_list_add(&l, 7, 9), 0);
	range_list_normalize(&l);
	assert_int_equal(l.n, 1);
	assert_true(l.items[0].lo == 0 && l.items[0].hi == max);
	range_list_done(&l);
}

static void test_cidr_range_ignores_host_bits(void **state)
{
	struct policy_cidr c = cidr("10.1.2.3", 8);
	struct range r = cidr_range(&c);

	assert_true(r.lo == v4("10.0.0.0"));
	assert_true(r.hi == v4("10.255.255.255"));

	c = cidr("0.0.0.0", 0);
	r = cidr_range(&c);
	assert_true(r.lo == 0 && r.hi == 0xffffffffu);

	c = cidr("::", 0);
	r = cidr_range(&c);
	assert_true(r.lo == 0 && r.hi == ~(u128)0);
}

static void test_ipblock_except_splits_exactly(void **state)
{
	struct policy_cidr except[2] = { cidr("10.0.0.5", 32), cidr("10.0.0.128", 25) };
	struct policy_ipblock b = { .cidr = cidr("10.0.0.0", 24), .except = except, .n_except = 2 };
	struct range_list l = { 0 };

	assert_int_equal(ipblock_ranges(&b, &l), 0);
	range_list_normalize(&l);
	assert_int_equal(l.n, 2);
	assert_true(l.items[0].lo == v4("10.0.0.0") && l.items[0].hi == v4("10.0.0.4"));
	assert_true(l.items[1].lo == v4("10.0.0.6") && l.items[1].hi == v4("10.0.0.127"));
	range_list_done(&l);
}

static void test_ipblock_except_everything(void **state)
{
	struct policy_cidr except[1] = { cidr("10.0.0.0", 23) };
	struct policy_ipblock b = { .cidr = cidr("10.0.0.0", 24), .except = except, .n_except = 1 };
	struct range_list l = { 0 };

	assert_int_equal(ipblock_ranges(&b, &l), 0);
	assert_int_equal(l.n, 0);
	range_list_done(&l);
}

static void test_ipblock_v6(void **state)
{
	struct policy_cidr except[1] = { cidr("fd00::1", 128) };
	struct policy_ipblock b = { .cidr = cidr("fd00::", 64), .except = except, .n_except = 1 };
	struct range_list l = { 0 };
	uint8_t a[16];

	assert_int_equal(ipblock_ranges(&b, &l), 0);
	assert_int_equal(l.n, 2);
	u128_to_addr(AF_INET6, l.items[0].lo, a);
	assert_memory_equal(a, except[0].addr, 15); /* fd00:: */
	assert_int_equal(a[15], 0);
	u128_to_addr(AF_INET6, l.items[1].lo, a);
	assert_int_equal(a[15], 2);
	range_list_done(&l);
}

static u128 v6(const char *s)
{
	uint8_t a[16] = { 0 };

	assert_int_equal(inet_pton(AF_INET6, s, a), 1);
	return addr_to_u128(AF_INET6, a);
}

static void test_ipblock_v6_never_link_local(void **state)
{
	struct policy_ipblock all = { .cidr = cidr("::", 0) };
	struct policy_ipblock ll = { .cidr = cidr("fe80::", 64) };
	struct range_list l = { 0 };

	/* "::/0" is every address but fe80::/10: link-local peers are not "the internet". */
	assert_int_equal(ipblock_ranges(&all, &l), 0);
	range_list_normalize(&l);
	assert_int_equal(l.n, 2);
	assert_true(l.items[0].lo == 0 &&
		    l.items[0].hi == v6("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	assert_true(l.items[1].lo == v6("fec0::") && l.items[1].hi == ~(u128)0);
	range_list_done(&l);

	/* A block inside fe80::/10 is what its author wrote. */
	assert_int_equal(ipblock_ranges(&ll, &l), 0);
	assert_int_equal(l.n, 1);
	assert_true(l.items[0].lo == v6("fe80::") &&
		    l.items[0].hi == v6("fe80::ffff:ffff:ffff:ffff"));
	range_list_done(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize_merges_overlap_and_adjacent),
		cmocka_unit_test(test_ipblock_v6_never_link_local),
		cmocka_unit_test(test_normalize_full_range_no_overflow),
		cmocka_unit_test(test_cidr_range_ignores_host_bits),
		cmocka_unit_test(test_ipblock_except_splits_exactly),
		cmocka_unit_test(test_ipblock_except_everything),
		cmocka_unit_test(test_ipblock_v6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
