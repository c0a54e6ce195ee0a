/* SPDX-License-Identifier: MIT */
/*
 * registry: the sorted list of endpoints and every way to find one (name, container id or
 * unambiguous prefix, address, netns name, namespace identity), kept sorted through renames and
 * removals. Endpoints are built with endpoint_new() and never attached.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "registry.h"
#include "unit.h"

#define ID_A "abcd0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
#define ID_B "abcdef0000000000000000000000000000000000000000000000000000000000"
#define ID_C "ffff000000000000000000000000000000000000000000000000000000000000"

static void assert_sorted(const struct registry *r)
{
	for (size_t i = 1; i < r->n; i++)
		if (strcmp(r->items[i - 1]->pe.name, r->items[i]->pe.name) >= 0)
			fail_msg("not sorted at %zu: %s, %s", i, r->items[i - 1]->pe.name,
				 r->items[i]->pe.name);
}

static struct endpoint *add(struct registry *r, enum endpoint_kind kind, const char *name)
{
	struct endpoint *e = ep_new(kind, name, "default");

	assert_int_equal(registry_insert(r, e), 0);
	assert_sorted(r);
	return e;
}

static void test_insert_sorted(void **state)
{
	static const char *const names[] = { "m", "c", "x", "a", "b", "z", "a0", "y", "0" };
	struct registry r = { 0 };
	char name[16];

	assert_null(registry_get(&r, "a"));
	assert_null(registry_find(&r, "abcd"));
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		add(&r, ENDPOINT_KIND_NETNS, names[i]);
	assert_int_equal(r.n, ARRAY_SIZE(names));
	assert_string_equal(r.items[0]->pe.name, "0");
	assert_string_equal(r.items[1]->pe.name, "a");
	assert_string_equal(r.items[2]->pe.name, "a0");
	assert_string_equal(r.items[r.n - 1]->pe.name, "z");
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		struct endpoint *e = registry_get(&r, names[i]);

		assert_non_null(e);
		assert_string_equal(e->pe.name, names[i]);
	}
	assert_null(registry_get(&r, "n"));
	assert_null(registry_get(&r, "zz"));
	assert_null(registry_get(&r, ""));
	registry_done(&r);
	assert_int_equal(r.n, 0);
	assert_null(r.items);

	/* many, in a scrambled order */
	for (unsigned i = 0; i < 500; i++) {
		snprintf(name, sizeof(name), "ep%05u", (i * 7919u) % 500u);
		add(&r, ENDPOINT_KIND_NETNS, name);
	}
	for (unsigned i = 0; i < 500; i++) {
		snprintf(name, sizeof(name), "ep%05u", i);
		assert_ptr_equal(registry_get(&r, name), r.items[i]);
	}
	registry_done(&r);
}

static void test_find_container(void **state)
{
	struct registry r = { 0 };
	struct endpoint *a = add(&r, ENDPOINT_KIND_CONTAINER, "web");
	struct endpoint *b = add(&r, ENDPOINT_KIND_CONTAINER, "db");
	struct endpoint *named = add(&r, ENDPOINT_KIND_NETNS, "ffff");
	size_t k = 99;

	ep_container(a, ID_A, "web-1", true);
	ep_container(a, ID_C, "web-sidecar", false);
	ep_container(b, ID_B, "db-1", true);

	/* by name first */
	assert_ptr_equal(registry_find(&r, "web"), a);
	assert_ptr_equal(registry_find(&r, "db"), b);
	/* a name wins over an id prefix */
	assert_ptr_equal(registry_find(&r, "ffff"), named);
	/* unique prefixes of 4 or more hex digits, and whole ids */
	assert_ptr_equal(registry_find(&r, "abcd0"), a);
	assert_ptr_equal(registry_find(&r, "abcde"), b);
	assert_ptr_equal(registry_find(&r, ID_B), b);
	assert_ptr_equal(registry_find(&r, "ffff0"), a); /* a's second container */
	/* ambiguous: two endpoints */
	assert_null(registry_find(&r, "abcd"));
	/* too short, not hex, not lowercase, or longer than any id */
	assert_null(registry_find(&r, "abc"));
	assert_null(registry_find(&r, "ABCD0"));
	assert_null(registry_find(&r, "abcd0x"));
	assert_null(registry_find(&r, ID_A "0"));
	assert_null(registry_find(&r, ""));
	assert_null(registry_find(&r, "0000"));

	/* exact ids only, with the container's index */
	assert_ptr_equal(registry_find_container(&r, ID_C, &k), a);
	assert_int_equal(k, 1);
	assert_ptr_equal(registry_find_container(&r, ID_B, &k), b);
	assert_int_equal(k, 0);
	assert_ptr_equal(registry_find_container(&r, ID_A, NULL), a);
	k = 99;
	assert_null(registry_find_container(&r, "abcd0", &k));
	assert_int_equal(k, 99); /* untouched */
	registry_done(&r);
}

static void test_same_endpoint_prefix(void **state)
{
	struct registry r = { 0 };
	struct endpoint *pod = add(&r, ENDPOINT_KIND_CONTAINER, "pod");

	/* two containers of one pod share a prefix: not ambiguous */
	ep_container(pod, ID_A, "infra", true);
	ep_container(pod, ID_B, "app", false);
	assert_ptr_equal(registry_find(&r, "abcd"), pod);
	registry_done(&r);
}

static void rename_to(struct registry *r, struct endpoint *e, const char *name)
{
	free(e->pe.name);
	e->pe.name = strdup(name);
	assert_non_null(e->pe.name);
	registry_reposition(r, e);
	assert_sorted(r);
}

static void test_reposition_remove(void **state)
{
	struct registry r = { 0 };
	struct endpoint *a = add(&r, ENDPOINT_KIND_NETNS, "a");
	struct endpoint *b = add(&r, ENDPOINT_KIND_NETNS, "b");
	struct endpoint *c = add(&r, ENDPOINT_KIND_NETNS, "c");
	struct endpoint *stray = ep_new(ENDPOINT_KIND_NETNS, "stray", "default");

	rename_to(&r, a, "z");
	assert_ptr_equal(r.items[2], a);
	assert_null(registry_get(&r, "a"));
	assert_ptr_equal(registry_get(&r, "z"), a);
	rename_to(&r, a, "0");
	assert_ptr_equal(r.items[0], a);
	rename_to(&r, c, "bb"); /* stays in place */
	assert_ptr_equal(r.items[2], c);
	assert_ptr_equal(registry_get(&r, "bb"), c);

	/* not in it: nothing happens */
	registry_reposition(&r, stray);
	registry_remove(&r, stray);
	assert_int_equal(r.n, 3);

	/* removal finds an endpoint even out of place right after a rename */
	free(b->pe.name);
	b->pe.name = strdup("zzz");
	registry_remove(&r, b);
	assert_int_equal(r.n, 2);
	assert_ptr_equal(r.items[0], a);
	assert_ptr_equal(r.items[1], c);
	endpoint_free(b);
	registry_remove(&r, a);
	assert_int_equal(r.n, 1);
	assert_ptr_equal(r.items[0], c);
	assert_null(registry_get(&r, "0"));
	endpoint_free(a);
	registry_remove(&r, c);
	assert_int_equal(r.n, 0);
	endpoint_free(c);
	registry_done(&r);
	endpoint_free(stray);
}

static int settled_calls;

static void on_settled(struct endpoint *e, void *ud)
{
	settled_calls++;
}

/* An address two namespaces hold is neither endpoint's, both say so, lookups by it find
 * nobody; when one lets it go the other has it back. */
static void test_settle_conflicts(void **state)
{
	struct registry r = { 0 };
	struct endpoint *a = add(&r, ENDPOINT_KIND_NETNS, "a");
	struct endpoint *b = add(&r, ENDPOINT_KIND_NETNS, "b");
	struct endpoint *c = add(&r, ENDPOINT_KIND_CONTAINER, "c");
	struct endpoint *holders[4];
	struct policy_addr q = { .family = AF_INET };

	ep_addr(a, "10.0.0.1");
	ep_addr(a, "10.0.0.5");
	ep_addr(b, "10.0.0.2");
	ep_addr(b, "10.0.0.5"); /* b took a's address */
	ep_addr(c, "fd00::3");

	settled_calls = 0;
	assert_int_equal(registry_settle_addresses(&r, on_settled, NULL), 0);
	assert_int_equal(settled_calls, 2); /* a and b lost 10.0.0.5; c did not change */
	assert_int_equal(a->pe.n_addrs, 1);
	assert_int_equal(b->pe.n_addrs, 1);
	assert_int_equal(a->n_conflicts, 1);
	assert_int_equal(b->n_conflicts, 1);
	assert_int_equal(c->n_conflicts, 0);
	assert_string_equal(a->conflicts[0].with, "b");
	assert_string_equal(b->conflicts[0].with, "a");
	inet_pton(AF_INET, "10.0.0.5", q.addr);
	assert_int_equal(registry_addr_holders(&r, &q, holders, 4), 2);
	assert_null(registry_find_addr(&r, &q));
	/* settled again: nothing changes */
	settled_calls = 0;
	assert_int_equal(registry_settle_addresses(&r, on_settled, NULL), 0);
	assert_int_equal(settled_calls, 0);

	assert_false(a->conflicts[0].owner);
	assert_false(b->conflicts[0].owner);

	/* b lets it go: a has it back */
	b->n_held = 1;
	registry_held_changed(&r, b);
	assert_int_equal(registry_settle_addresses(&r, on_settled, NULL), 0);
	assert_int_equal(settled_calls, 1);
	assert_int_equal(a->pe.n_addrs, 2);
	assert_int_equal(a->n_conflicts, 0);
	assert_ptr_equal(registry_find_addr(&r, &q), a);

	/* c takes it later: a held it first and keeps it; c's claim is ignored; both show it */
	ep_addr(c, "10.0.0.5");
	registry_held_changed(&r, c);
	settled_calls = 0;
	assert_int_equal(registry_settle_addresses(&r, on_settled, NULL), 0);
	/* a keeps it; c's own addresses lose it (ep_addr put it there until the settle) */
	assert_int_equal(settled_calls, 1);
	assert_int_equal(a->pe.n_addrs, 2);
	assert_int_equal(c->pe.n_addrs, 1);
	assert_int_equal(c->n_held, 2);
	assert_int_equal(a->n_conflicts, 1);
	assert_true(a->conflicts[0].owner);
	assert_string_equal(a->conflicts[0].with, "c");
	assert_int_equal(c->n_conflicts, 1);
	assert_false(c->conflicts[0].owner);
	assert_null(registry_find_addr(&r, &q)); /* by address alone: ambiguous */

	/* c leaves the registry: a has no conflict left after the next settle; c is out of the
	 * address map at once. */
	registry_remove(&r, c);
	settled_calls = 0;
	assert_int_equal(registry_settle_addresses(&r, on_settled, NULL), 0);
	assert_int_equal(settled_calls, 0); /* a owned it all along */
	assert_int_equal(a->pe.n_addrs, 2);
	assert_int_equal(a->n_conflicts, 0);
	endpoint_free(c);
	registry_done(&r);
}

static void test_find_addr_netns(void **state)
{
	struct registry r = { 0 };
	struct endpoint *a = add(&r, ENDPOINT_KIND_NETNS, "a");
	struct endpoint *b = add(&r, ENDPOINT_KIND_NETNS, "b");
	struct endpoint *c = add(&r, ENDPOINT_KIND_CONTAINER, "c");
	struct policy_addr q = { 0 };

	ep_addr(a, "10.0.0.1");
	ep_addr(a, "fd00::1");
	ep_addr(b, "10.0.0.2");
	ep_addr(c, "fd00::3");

#define FIND(text)                                                                     \
	(q = (struct policy_addr){ .family = strchr(text, ':') ? AF_INET6 : AF_INET }, \
	 assert_int_equal(inet_pton(q.family, text, q.addr), 1), registry_find_addr(&r, &q))

	assert_ptr_equal(FIND("10.0.0.1"), a);
	assert_ptr_equal(FIND("fd00::1"), a);
	assert_ptr_equal(FIND("10.0.0.2"), b);
	assert_ptr_equal(FIND("fd00::3"), c);
	assert_null(FIND("10.0.0.3"));
	assert_null(FIND("fd00::2"));
	/* the same leading bytes in the other family are another address */
	assert_null(FIND("a00:1::"));
	/* an IPv4 lookup compares four bytes: what follows in the array does not matter */
	q = (struct policy_addr){ .family = AF_INET, .addr = { 10, 0, 0, 2, 0xff, 0xff } };
	assert_ptr_equal(registry_find_addr(&r, &q), b);
#undef FIND

	assert_ptr_equal(registry_find_netns(&r, "a"), a);
	assert_ptr_equal(registry_find_netns(&r, "b"), b);
	assert_ptr_equal(registry_find_netns(&r, "/proc/1/ns/net"), c);
	assert_null(registry_find_netns(&r, "d"));
	assert_null(registry_find_netns(&r, ""));
	registry_done(&r);
}

static void test_find_ns(void **state)
{
	struct registry r = { 0 };
	struct endpoint *n = add(&r, ENDPOINT_KIND_NETNS, "n");
	struct endpoint *c = add(&r, ENDPOINT_KIND_CONTAINER, "c");

	n->ns_dev = c->ns_dev = 4;
	n->ns_ino = 4026531840;
	c->ns_ino = 4026531841;
	registry_ns_changed(&r, n);
	registry_ns_changed(&r, c);
	/* not attached: not live, so not found */
	assert_null(registry_find_ns(&r, 4, 4026531840));
	/* live (faked: endpoint_live() looks at the table's socket): every kind is found, a
	 * namespace registered by hand as much as a container's */
	n->nft = c->nft = (struct nft_sock *)&r;
	assert_ptr_equal(registry_find_ns(&r, 4, 4026531840), n);
	assert_ptr_equal(registry_find_ns(&r, 4, 4026531841), c);
	/* the identity is device and inode together */
	assert_null(registry_find_ns(&r, 5, 4026531840));
	assert_null(registry_find_ns(&r, 4, 4026531842));
	/* only the live one of two records of one namespace (a vanished one keeps its ino) */
	n->nft = NULL;
	c->ns_ino = 4026531840;
	registry_ns_changed(&r, c);
	assert_ptr_equal(registry_find_ns(&r, 4, 4026531840), c);
	assert_string_equal(registry_kind_text(n), "registered by hand");
	assert_string_equal(registry_kind_text(c), "a container");
	c->nft = NULL;
	registry_done(&r);
}

static void test_name_taken(void **state)
{
	struct registry r = { 0 };
	struct endpoint *a = add(&r, ENDPOINT_KIND_NETNS, "a");
	struct endpoint *b = add(&r, ENDPOINT_KIND_NETNS, "b");

	assert_true(registry_name_taken(&r, a, "b"));
	assert_true(registry_name_taken(&r, NULL, "a"));
	assert_false(registry_name_taken(&r, a, "a"));
	assert_false(registry_name_taken(&r, b, "c"));
	assert_false(registry_name_taken(&r, NULL, "c"));
	registry_done(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_insert_sorted),
		cmocka_unit_test(test_find_container),
		cmocka_unit_test(test_same_endpoint_prefix),
		cmocka_unit_test(test_reposition_remove),
		cmocka_unit_test(test_find_addr_netns),
		cmocka_unit_test(test_settle_conflicts),
		cmocka_unit_test(test_find_ns),
		cmocka_unit_test(test_name_taken),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
