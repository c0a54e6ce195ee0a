/* SPDX-License-Identifier: MIT */
/*
 * What the kernel tells segd between requests: a peer's new address reaches the sets that
 * name it, a vanished namespace stops being anyone's peer, a foreign change to an unowned
 * table is repaired (or only reported), and denied connections become flow records. A whole
 * core in a private kernel (harness.h), no root; the loop runs as segd's would.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "testutil.h"
#include "harness.h"
#include "macro.h"
#include "netns.h"
#include "nft.h"

static const char policy[] = TEST_POLICY_DB_FROM_API;

static const struct endpoint *ep(struct harness *h, const char *name)
{
	const struct endpoint *e = registry_get(h->ops->registry, name);

	assert_non_null(e);
	return e;
}

/* db's plan has the address in its IPv4 peer set. */
static bool db_has_peer(struct harness *h, void *userdata)
{
	const struct policy_plan *p = ep(h, "db")->installed;
	uint8_t a[16] = { 0 };

	assert_int_equal(inet_pton(AF_INET, userdata, a), 1);
	for (size_t i = 0; p && i < p->n_sets; i++)
		for (size_t k = 0; p->sets[i].family == AF_INET && k < p->sets[i].n_elems; k++)
			if (memcmp(p->sets[i].elems[k].start, a, 16) == 0)
				return true;
	return false;
}

static void test_address_changes_reach_peer_sets(void **state)
{
	struct harness h;
	int api = -1, db = -1;

	harness_start(&h, NULL);
	harness_endpoint(&h, "db", "shop", "app=db");
	harness_endpoint(&h, "api", "shop", "app=api");
	harness_apply(&h, policy);
	assert_int_equal(netns_open_name("api", &api), 0);
	assert_int_equal(netns_open_name("db", &db), 0);
	assert_false(db_has_peer(&h, (void *)"10.7.0.2"));
	assert_int_equal(fixture_veth(api, "10.7.0.2/24", db, "10.7.0.3/24"), 0);
	assert_true(harness_until(&h, db_has_peer, (void *)"10.7.0.2", 5000));
	/* And the kernel holds what the plan says. */
	{
		struct op_error err = { 0 };
		json_t *out = NULL;

		assert_int_equal(ops_endpoint_rules(h.ops, "db", &out, &err), 0);
		assert_true(json_is_true(json_object_get(out, "in_sync")));
		json_decref(out);
	}
	close(api);
	close(db);
	harness_stop(&h);
}

static bool in_error(struct harness *h, void *userdata)
{
	return ep(h, userdata)->state == ENDPOINT_ERROR;
}

static bool reattached(struct harness *h, void *userdata)
{
	const struct endpoint *e = ep(h, "gone");

	return endpoint_live(e) && e->ns_ino == *(ino_t *)userdata && e->state == ENDPOINT_ENFORCED;
}

/* The periodic check looks at a slice of the endpoints per call, round robin: an endpoint
 * whose namespace changed behind the name watch's back is found on its turn, not before. */
static void test_check_in_slices(void **state)
{
	struct harness h;
	ino_t real;

	harness_start(&h, NULL);
	harness_endpoint(&h, "sa", "shop", "app=api");
	harness_endpoint(&h, "sb", "shop", "app=db");
	harness_endpoint(&h, "sc", "shop", "app=web");
	real = ep(&h, "sb")->ns_ino;
	registry_get(h.ops->registry, "sb")->ns_ino = 1; /* as if its name named another one */
	h.ops->recheck_slice = 1;
	h.ops->recheck_next = 0;
	assert_int_equal(ops_check_namespaces(h.ops), 0); /* sa */
	assert_int_equal(ep(&h, "sb")->ns_ino, 1);
	assert_int_equal(ops_check_namespaces(h.ops), 0); /* sb: attached to its namespace again */
	assert_int_equal(ep(&h, "sb")->ns_ino, real);
	assert_true(endpoint_live(ep(&h, "sb")));
	assert_int_equal(h.ops->recheck_next, 2);
	assert_int_equal(ops_check_namespaces(h.ops), 0); /* sc */
	assert_int_equal(ops_check_namespaces(h.ops), 0); /* round again: sa */
	assert_int_equal(h.ops->recheck_next, 1);
	harness_stop(&h);
}

static void test_vanished_namespace(void **state)
{
	struct harness h;
	struct nft_sock *s = NULL;
	ino_t ino = 0;
	int fd = -1;

	harness_start(&h, NULL);
	harness_endpoint(&h, "gone", "shop", "app=api");
	harness_endpoint(&h, "db5", "shop", "app=db");
	harness_apply(&h, policy);

	/* Its name goes: so does the endpoint's namespace. */
	fixture_netns_delete("gone");
	assert_true(harness_until(&h, in_error, (void *)"gone", 5000));
	assert_non_null(strstr(ep(&h, "gone")->error, "vanished"));
	assert_false(endpoint_live(ep(&h, "gone")));
	assert_int_equal(ep(&h, "gone")->pe.n_addrs, 0);

	/* A namespace is created under the name again: the endpoint is that namespace now, and
	 * it has its table at once (the name is what was registered; whoever creates it gets
	 * confined, not a way around). */
	assert_int_equal(fixture_netns("gone", &fd), 0);
	assert_int_equal(netns_inode(fd, &ino), 0);
	assert_true(harness_until(&h, reattached, &ino, 1000));
	assert_null(ep(&h, "gone")->error);
	assert_int_equal(nft_sock_open(NULL, fd, &s), 0);
	assert_int_equal(nft_table_exists(s), 1);
	nft_sock_free(s);
	close(fd);
	harness_stop(&h);
}

static bool repaired(struct harness *h, void *userdata)
{
	return h->ops->drift->repairs >= 1;
}

static void test_drift_repaired_or_reported(void **state)
{
	const char *const add_rule[] = { "nft",	 "add",	  "rule",   "inet",
					 "segd", "input", "accept", NULL };
	struct harness h;
	int fd = -1;

	harness_start(&h, "no-table-owner = true\n");
	harness_endpoint(&h, "drifty", "shop", "app=db");
	harness_apply(&h, policy);
	assert_true(h.ops->drift_watching);
	assert_int_equal(netns_open_name("drifty", &fd), 0);
	assert_int_equal(fixture_run_in(fd, add_rule), 0);
	assert_true(harness_until(&h, repaired, NULL, 5000));
	assert_true(h.ops->drift->detected >= 1);
	{
		struct op_error err = { 0 };
		json_t *out = NULL;

		assert_int_equal(ops_endpoint_rules(h.ops, "drifty", &out, &err), 0);
		assert_true(json_is_true(json_object_get(out, "in_sync")));
		json_decref(out);
	}
	close(fd);
	harness_stop(&h);

	harness_start(&h, "no-table-owner = true\ndrift = report\n");
	harness_endpoint(&h, "reported", "shop", "app=db");
	assert_int_equal(netns_open_name("reported", &fd), 0);
	assert_int_equal(fixture_run_in(fd, add_rule), 0);
	assert_true(harness_until(&h, in_error, (void *)"reported", 5000));
	assert_non_null(strstr(ep(&h, "reported")->error, "not repaired"));
	assert_int_equal(h.ops->drift->repairs, 0);
	close(fd);
	harness_stop(&h);
}

static bool denied_logged(struct harness *h, void *userdata)
{
	return flows_count(h->ops->flows, true) >= 1;
}

static void test_denied_connections_become_records(void **state)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(5432) };
	struct harness h;
	int api = -1, db = -1, s = -1;

	harness_start(&h, "flow-log = denied\n");
	harness_endpoint(&h, "db6", "shop", "app=db");
	harness_endpoint(&h, "web6", "shop", "app=web");
	harness_apply(&h, policy);
	assert_int_equal(netns_open_name("web6", &api), 0);
	assert_int_equal(netns_open_name("db6", &db), 0);
	assert_int_equal(fixture_veth(api, "10.6.0.2/24", db, "10.6.0.3/24"), 0);
	/* web is not allowed into db: the SYN is dropped and logged at db's ingress. */
	assert_int_equal(inet_pton(AF_INET, "10.6.0.3", &to.sin_addr), 1);
	assert_int_equal(netns_socket(api, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0, &s), 0);
	(void)connect(s, (struct sockaddr *)&to, sizeof(to));
	assert_true(harness_until(&h, denied_logged, NULL, 5000));
	{
		struct flows_filter q = { .verdict = "denied" };
		json_t *out = flows_query(h.ops->flows, &q), *rec;

		rec = json_array_get(json_object_get(out, "flows"), 0);
		assert_non_null(rec);
		assert_string_equal(json_string_value(json_object_get(rec, "enforced_at")), "db6");
		assert_string_equal(json_string_value(
					    json_object_get(json_object_get(rec, "destination"),
							    "endpoint")),
				    "db6");
		assert_int_equal(json_integer_value(
					 json_object_get(json_object_get(rec, "destination"),
							 "port")),
				 5432);
		assert_string_equal(json_string_value(json_object_get(rec, "direction")),
				    "ingress");
		json_decref(out);
	}
	close(s);
	close(api);
	close(db);
	harness_stop(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_address_changes_reach_peer_sets),
		cmocka_unit_test(test_check_in_slices),
		cmocka_unit_test(test_vanished_namespace),
		cmocka_unit_test(test_drift_repaired_or_reported),
		cmocka_unit_test(test_denied_connections_become_records),
	};

	fixture_enter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
