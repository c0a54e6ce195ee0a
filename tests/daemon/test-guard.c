/* SPDX-License-Identifier: MIT */
/*
 * The host-side guard: its netdev table on the host-side end of a veth pair, and what it lets
 * the endpoint send, with real packets between two private namespaces (fixture.h): "ep" plays
 * the endpoint (workload), "host" the namespace of the host-side device. Packets are checked
 * in order: every test sends what must be dropped first and then a packet that must pass by
 * the same path; the first one received must be the second. The process is pinned to one CPU
 * so that both take the same backlog.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
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
#include "guard.h"
#include "netns.h"
#include "nft.h"
#include "testutil.h"

static struct policy_plan *plan_of(const char *policy)
{
	const struct test_endpoint eps[] = {
		{ "ep", "t", "app=ep", "10.9.0.2", NULL },
		{ "host", "t", "app=host", "10.9.0.1", NULL },
	};

	return test_plan(policy, eps, 2, 0);
}

static const char egress_5001[] = "apiVersion: networking.k8s.io/v1\n"
				  "kind: NetworkPolicy\n"
				  "metadata: {name: out, namespace: t}\n"
				  "spec:\n"
				  "  podSelector: {matchLabels: {app: ep}}\n"
				  "  policyTypes: [Egress]\n"
				  "  egress:\n"
				  "  - to: [{podSelector: {matchLabels: {app: host}}}]\n"
				  "    ports: [{port: 5001, protocol: UDP}]\n";

static void test_guard_table_owned(void **state)
{
	struct policy_plan *plan = plan_of(egress_5001);
	struct nft_sock *other = NULL;
	uint32_t flags = 0, owner = 0;
	struct pair p;

	pair_setup(&p, "own");
	table_commit(&p, plan);
	assert_int_equal(nft_table_get_named(p.s, NFPROTO_NETDEV, p.table, &flags, &owner), 1);
	assert_int_equal(flags, NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST);
	assert_int_equal(owner, nft_sock_portid(p.s));
	/* Replacing is atomic and keeps it owned; nobody else may delete it. */
	table_commit(&p, plan);
	assert_int_equal(nft_sock_open(NULL, p.host, &other), 0);
	assert_int_equal(nft_delete_table_named(other, NFPROTO_NETDEV, p.table), -EPERM);
	assert_int_equal(nft_delete_table_named(p.s, NFPROTO_NETDEV, p.table), 0);
	assert_int_equal(nft_table_get_named(p.s, NFPROTO_NETDEV, p.table, NULL, NULL), 0);
	nft_sock_free(other);
	policy_plan_free(plan);
	pair_done(&p);
}

static void test_guard_pins_source_address(void **state)
{
	struct policy_plan *plan = plan_of(""); /* nothing isolated */
	int rx, own, spoofed;
	struct pair p;

	pair_setup(&p, "src");
	rx = udp_socket(p.host, "10.9.0.1", 5000);
	own = udp_socket(p.ep, "10.9.0.2", 0);
	/* The workload takes another address. */
	assert_int_equal(run(p.ep, (const char *const[]){ "ip", "addr", "add", "10.9.0.3/32", "dev",
							  p.ep_if, NULL }),
			 0);
	spoofed = udp_socket(p.ep, "10.9.0.3", 0);

	/* Without the guard the spoofed source gets through. */
	udp_send(spoofed, "10.9.0.1", 5000, "spoofed");
	expect_first(rx, "spoofed");

	table_commit(&p, plan);
	udp_send(spoofed, "10.9.0.1", 5000, "spoofed");
	udp_send(own, "10.9.0.1", 5000, "own");
	expect_first(rx, "own");
	expect_none_queued(rx);

	close(rx);
	close(own);
	close(spoofed);
	policy_plan_free(plan);
	pair_done(&p);
}

static void test_guard_pins_mac(void **state)
{
	struct policy_plan *plan = plan_of("");
	int rx, tx;
	struct pair p;

	pair_setup(&p, "mac");
	rx = udp_socket(p.host, "10.9.0.1", 5000);
	tx = udp_socket(p.ep, "10.9.0.2", 0);
	table_commit(&p, plan);
	udp_send(tx, "10.9.0.1", 5000, "first");
	expect_first(rx, "first");

	/* Another MAC: nothing passes, whatever the address. */
	assert_int_equal(run(p.ep, (const char *const[]){ "ip", "link", "set", p.ep_if, "address",
							  "02:00:00:00:00:99", NULL }),
			 0);
	udp_send(tx, "10.9.0.1", 5000, "other mac");
	assert_int_equal(run(p.ep, (const char *const[]){ "ip", "link", "set", p.ep_if, "address",
							  "02:00:00:00:00:98", NULL }),
			 0);
	{
		char mac[32];

		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", p.ep_mac[0],
			 p.ep_mac[1], p.ep_mac[2], p.ep_mac[3], p.ep_mac[4], p.ep_mac[5]);
		assert_int_equal(run(p.ep, (const char *const[]){ "ip", "link", "set", p.ep_if,
								  "address", mac, NULL }),
				 0);
	}
	udp_send(tx, "10.9.0.1", 5000, "own mac");
	expect_first(rx, "own mac");

	close(rx);
	close(tx);
	policy_plan_free(plan);
	pair_done(&p);
}

static void test_guard_enforces_egress(void **state)
{
	struct policy_plan *plan = plan_of(egress_5001);
	int rx0, rx1, tx;
	struct pair p;

	pair_setup(&p, "egr");
	rx0 = udp_socket(p.host, "10.9.0.1", 5000);
	rx1 = udp_socket(p.host, "10.9.0.1", 5001);
	tx = udp_socket(p.ep, "10.9.0.2", 0);
	table_commit(&p, plan);

	udp_send(tx, "10.9.0.1", 5000, "denied");
	udp_send(tx, "10.9.0.1", 5001, "allowed");
	expect_first(rx1, "allowed");
	expect_none_queued(rx0);

	close(rx0);
	close(rx1);
	close(tx);
	policy_plan_free(plan);
	pair_done(&p);
}

static void test_guard_allows_replies(void **state)
{
	struct policy_plan *plan = plan_of(egress_5001);
	int peer, server, other;
	struct pair p;

	pair_setup(&p, "rep");
	/* The host side talks first: 10.9.0.1:6000 -> 10.9.0.2:7000 (ingress is not isolated). */
	peer = udp_socket(p.host, "10.9.0.1", 6000);
	server = udp_socket(p.ep, "10.9.0.2", 7000);
	other = udp_socket(p.ep, "10.9.0.2", 7001);
	table_commit(&p, plan);

	udp_send(server, "10.9.0.1", 6000, "unsolicited");
	udp_send(peer, "10.9.0.2", 7000, "request");
	expect_first(server, "request");
	/* A reply on that flow passes; the same peer from another port does not. */
	udp_send(other, "10.9.0.1", 6000, "other port");
	udp_send(server, "10.9.0.1", 6000, "reply");
	expect_first(peer, "reply");
	expect_none_queued(peer);

	close(peer);
	close(server);
	close(other);
	policy_plan_free(plan);
	pair_done(&p);
}

/* ---- ClusterNetworkPolicy tiers, by hand-built plans: nothing in "ep" enforces anything, so
 * what is dropped is dropped by the guard alone (as when the workload deletes its own table). */

#define TIER_RULE(d, t, a, s, hp, lo, hi)                                                \
	{                                                                                \
		.dir = (d), .tier = (t), .action = (a), .policy_name = (char *)"t",      \
		.family = (s) >= 0 ? AF_INET : AF_UNSPEC, .set = (s), .has_proto = (hp), \
		.proto = POLICY_PROTO_UDP, .port_lo = (lo), .port_hi = (hi),             \
		.comment = (char *)"t/" #t " " #a                                        \
	}

/* Set 0 holds the host side, 10.9.0.1. */
static struct policy_plan *tier_plan(struct policy_plan_rule *rules, size_t n, bool iso_egress)
{
	static struct policy_set_elem host[1];
	static struct policy_set sets[] = {
		{ .name = (char *)"h4", .family = AF_INET, .elems = host, .n_elems = 1 },
	};
	static struct policy_plan p;

	inet_pton(AF_INET, "10.9.0.1", host[0].start);
	p = (struct policy_plan){ .endpoint = (char *)"ep",
				  .isolated = { false, iso_egress },
				  .sets = sets,
				  .n_sets = 1,
				  .rules = rules,
				  .n_rules = n };
	return &p;
}

static void test_guard_admin_deny(void **state)
{
	struct policy_plan_rule rules[] = {
		TIER_RULE(POLICY_DIR_EGRESS, POLICY_TIER_ADMIN, POLICY_ACTION_DENY, 0, true, 5000,
			  5000),
	};
	int rx0, rx1, tx;
	struct pair p;

	pair_setup(&p, "adeny");
	rx0 = udp_socket(p.host, "10.9.0.1", 5000);
	rx1 = udp_socket(p.host, "10.9.0.1", 5001);
	tx = udp_socket(p.ep, "10.9.0.2", 0);
	/* Without the guard it gets through. */
	udp_send(tx, "10.9.0.1", 5000, "unguarded");
	expect_first(rx0, "unguarded");

	table_commit(&p, tier_plan(rules, sizeof(rules) / sizeof(rules[0]), false));
	udp_send(tx, "10.9.0.1", 5000, "denied");
	udp_send(tx, "10.9.0.1", 5001, "allowed");
	expect_first(rx1, "allowed");
	expect_none_queued(rx0);

	close(rx0);
	close(rx1);
	close(tx);
	pair_done(&p);
}

/* NetworkPolicy isolates egress and allows 5000-5001; the Admin tier passes 5000 on to it,
 * denies 5000-5001 (so 5001, which it would allow, is dropped) and accepts 5002 (which it
 * would not allow). 5003 is left to isolation. */
static void test_guard_admin_over_isolation(void **state)
{
	struct policy_plan_rule rules[] = {
		TIER_RULE(POLICY_DIR_EGRESS, POLICY_TIER_ADMIN, POLICY_ACTION_PASS, 0, true, 5000,
			  5000),
		TIER_RULE(POLICY_DIR_EGRESS, POLICY_TIER_ADMIN, POLICY_ACTION_DENY, 0, true, 5000,
			  5001),
		TIER_RULE(POLICY_DIR_EGRESS, POLICY_TIER_ADMIN, POLICY_ACTION_ACCEPT, 0, true, 5002,
			  5002),
		TIER_RULE(POLICY_DIR_EGRESS, POLICY_TIER_NETPOL, POLICY_ACTION_ACCEPT, 0, true,
			  5000, 5001),
	};
	int rx[4], tx;
	struct pair p;

	pair_setup(&p, "aover");
	for (int i = 0; i < 4; i++)
		rx[i] = udp_socket(p.host, "10.9.0.1", (uint16_t)(5000 + i));
	tx = udp_socket(p.ep, "10.9.0.2", 0);
	table_commit(&p, tier_plan(rules, sizeof(rules) / sizeof(rules[0]), true));

	udp_send(tx, "10.9.0.1", 5001, "admin deny");
	udp_send(tx, "10.9.0.1", 5003, "isolated");
	udp_send(tx, "10.9.0.1", 5002, "admin accept");
	udp_send(tx, "10.9.0.1", 5000, "passed");
	expect_first(rx[2], "admin accept");
	expect_first(rx[0], "passed");
	expect_none_queued(rx[1]);
	expect_none_queued(rx[3]);

	for (int i = 0; i < 4; i++)
		close(rx[i]);
	close(tx);
	pair_done(&p);
}

/* An Admin Deny of everything to the host side; its ingress Admin tier accepts UDP 7000 from
 * there and denies the rest. Replies on the admitted flow pass; on the denied one they do not. */
static void test_guard_tier_replies(void **state)
{
	struct policy_plan_rule rules[] = {
		TIER_RULE(POLICY_DIR_INGRESS, POLICY_TIER_ADMIN, POLICY_ACTION_ACCEPT, 0, true,
			  7000, 7000),
		TIER_RULE(POLICY_DIR_INGRESS, POLICY_TIER_ADMIN, POLICY_ACTION_DENY, 0, false, 0,
			  0),
		TIER_RULE(POLICY_DIR_EGRESS, POLICY_TIER_ADMIN, POLICY_ACTION_DENY, 0, false, 0, 0),
	};
	int peer, server, other;
	struct pair p;

	pair_setup(&p, "trep");
	peer = udp_socket(p.host, "10.9.0.1", 6000);
	server = udp_socket(p.ep, "10.9.0.2", 7000);
	other = udp_socket(p.ep, "10.9.0.2", 7001);
	table_commit(&p, tier_plan(rules, sizeof(rules) / sizeof(rules[0]), false));

	udp_send(server, "10.9.0.1", 6000, "unsolicited");
	udp_send(peer, "10.9.0.2", 7000, "request");
	expect_first(server, "request");
	/* Denied at ingress by the tier: the guard lets it in (the endpoint's table would drop
	 * it) but records no flow, so no reply goes out on it. */
	udp_send(peer, "10.9.0.2", 7001, "denied request");
	expect_first(other, "denied request");
	udp_send(other, "10.9.0.1", 6000, "denied reply");
	udp_send(server, "10.9.0.1", 6000, "reply");
	expect_first(peer, "reply");
	expect_none_queued(peer);

	close(peer);
	close(server);
	close(other);
	pair_done(&p);
}

/* The device goes and another one takes its name (as the next container's host-side veth
 * does): the old guard, left behind, must not judge the new device's traffic. */
static void test_guard_ignores_a_reused_name(void **state)
{
	struct policy_plan *plan = plan_of(egress_5001);
	int rx, tx, idx = 0;
	char mac[32];
	uint8_t m[6];
	struct pair p;

	pair_setup(&p, "reuse");
	table_commit(&p, plan); /* pins the old device's MAC, denies egress to 5000 */
	assert_int_equal(run(p.host, (const char *const[]){ "ip", "link", "del", p.host_if, NULL }),
			 0);
	/* A new pair, its host end under the same name. */
	assert_int_equal(run(p.host,
			     (const char *const[]){ "ip", "link", "add", p.host_if, "type", "veth",
						    "peer", "name", "newep", NULL }),
			 0);
	{
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)getpid(), p.ep);
		assert_int_equal(run(p.host, (const char *const[]){ "ip", "link", "set", "newep",
								    "netns", path, NULL }),
				 0);
	}
	assert_int_equal(run(p.host, (const char *const[]){ "ip", "addr", "add", "10.9.0.1/24",
							    "dev", p.host_if, NULL }),
			 0);
	assert_int_equal(run(p.host,
			     (const char *const[]){ "ip", "link", "set", p.host_if, "up", NULL }),
			 0);
	assert_int_equal(run(p.ep, (const char *const[]){ "ip", "addr", "add", "10.9.0.2/24", "dev",
							  "newep", NULL }),
			 0);
	assert_int_equal(run(p.ep,
			     (const char *const[]){ "ip", "link", "set", "newep", "up", NULL }),
			 0);
	if_info(p.host, p.host_if, m, &idx);
	assert_int_not_equal(idx, p.host_index);
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
		 m[5]);
	assert_int_equal(run(p.ep, (const char *const[]){ "ip", "neigh", "replace", "10.9.0.1",
							  "lladdr", mac, "dev", "newep", "nud",
							  "permanent", NULL }),
			 0);
	/* Another MAC, and a port the old guard denied: the old guard lets it be. */
	rx = udp_socket(p.host, "10.9.0.1", 5000);
	tx = udp_socket(p.ep, "10.9.0.2", 0);
	udp_send(tx, "10.9.0.1", 5000, "new device");
	expect_first(rx, "new device");
	assert_int_equal(nft_table_get_named(p.s, NFPROTO_NETDEV, p.table, NULL, NULL), 1);

	close(rx);
	close(tx);
	policy_plan_free(plan);
	pair_done(&p);
}

/* Discovery: the veth peer found in a namespace named under /run/netns, its table committed
 * there through the shared socket, deleted with the endpoint. */
static void test_discover_and_commit(void **state)
{
	struct policy_plan *plan = plan_of(egress_5001);
	struct guards *gs = NULL;
	struct ep_guard g = { 0 };
	struct nft_error err = { 0 };
	struct policy_addr own = { .family = AF_INET };
	struct pair p;
	ino_t ino = 0;

	pair_setup(&p, "disc");
	inet_pton(AF_INET, "10.9.0.2", own.addr);
	assert_int_equal(guards_new(NULL, &gs), 0);
	gs->table_flags = NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST;
	assert_int_equal(netns_inode(p.ep, &ino), 0);
	assert_int_equal(guard_discover(gs, p.ep, ino, &g), 0);
	assert_int_equal(g.state, GUARD_ENFORCED);
	assert_null(g.reason);
	assert_int_equal(g.n_devs, 1);
	assert_string_equal(g.devs[0].ifname, p.host_if);
	assert_string_equal(g.devs[0].ep_ifname, p.ep_if);
	assert_string_equal(g.devs[0].ns->label, "disc-host");
	assert_string_equal(g.devs[0].table, p.table);
	assert_memory_equal(g.devs[0].mac, p.ep_mac, 6);
	assert_false(g.devs[0].installed);

	assert_int_equal(guard_commit(gs, &g, NULL, plan, &own, 1, &err), 0);
	assert_true(g.devs[0].installed);
	assert_int_equal(nft_table_get_named(p.s, NFPROTO_NETDEV, p.table, NULL, NULL), 1);
	/* Again with the same inputs: nothing to send. */
	gs->commits = 0;
	assert_int_equal(guard_commit(gs, &g, plan, plan, &own, 1, &err), 0);
	assert_int_equal(gs->commits, 0);

	/* The workload changes its MAC: discovery keeps the first one. */
	assert_int_equal(run(p.ep, (const char *const[]){ "ip", "link", "set", p.ep_if, "address",
							  "02:00:00:00:00:99", NULL }),
			 0);
	assert_int_equal(guard_discover(gs, p.ep, ino, &g), 0);
	assert_int_equal(g.n_devs, 1);
	assert_memory_equal(g.devs[0].mac, p.ep_mac, 6);
	assert_true(g.devs[0].installed);

	guard_drop(&g, true);
	assert_int_equal(nft_table_get_named(p.s, NFPROTO_NETDEV, p.table, NULL, NULL), 0);
	assert_int_equal(gs->n_nss, 0); /* the last reference closed the shared socket */
	guards_free(gs);
	policy_plan_free(plan);
	pair_done(&p);
}

/* A tightening that only removes set elements still forgets the reply records: the flows its
 * ingress admitted before may be flows it no longer admits. */
static void test_tightening_forgets_replies(void **state)
{
	static const char policy[] = "apiVersion: networking.k8s.io/v1\n"
				     "kind: NetworkPolicy\n"
				     "metadata: {name: both, namespace: t}\n"
				     "spec:\n"
				     "  podSelector: {matchLabels: {app: ep}}\n"
				     "  policyTypes: [Ingress, Egress]\n"
				     "  ingress:\n"
				     "  - from: [{podSelector: {matchLabels: {app: host}}}]\n"
				     "  egress:\n"
				     "  - to: [{ipBlock: {cidr: 10.9.0.1/32}}]\n"
				     "    ports: [{port: 5001, protocol: UDP}]\n";
	const struct test_endpoint before[] = {
		{ "ep", "t", "app=ep", "10.9.0.2", NULL },
		{ "host", "t", "app=host", "10.9.0.1", NULL },
	};
	const struct test_endpoint after[] = {
		{ "ep", "t", "app=ep", "10.9.0.2", NULL },
		{ "host", "t", "app=other", "10.9.0.1", NULL },
	};
	struct policy_plan *p1 = test_plan(policy, before, 2, 0);
	struct policy_plan *p2 = test_plan(policy, after, 2, 0);
	struct policy_addr own = { .family = AF_INET };
	struct nft_error err = { 0 };
	struct guards *gs = NULL;
	struct ep_guard g = { 0 };
	int peer, server, ctl_rx, ctl_tx;
	struct pair p;
	ino_t ino = 0;

	assert_true(policy_plan_same_shape(p1, p2));
	pair_setup(&p, "tight");
	inet_pton(AF_INET, "10.9.0.2", own.addr);
	assert_int_equal(guards_new(NULL, &gs), 0);
	assert_int_equal(netns_inode(p.ep, &ino), 0);
	assert_int_equal(guard_discover(gs, p.ep, ino, &g), 0);
	assert_int_equal(guard_commit(gs, &g, NULL, p1, &own, 1, &err), 0);

	peer = udp_socket(p.host, "10.9.0.1", 6000);
	server = udp_socket(p.ep, "10.9.0.2", 7000);
	ctl_rx = udp_socket(p.host, "10.9.0.1", 5001);
	ctl_tx = udp_socket(p.ep, "10.9.0.2", 0);
	udp_send(peer, "10.9.0.2", 7000, "request");
	expect_first(server, "request");

	udp_send(server, "10.9.0.1", 6000, "reply");
	expect_first(peer, "reply");

	/* host is no longer admitted: the same shape, one element fewer */
	assert_int_equal(guard_commit(gs, &g, p1, p2, &own, 1, &err), 0);
	udp_send(server, "10.9.0.1", 6000, "late reply");
	udp_send(ctl_tx, "10.9.0.1", 5001, "control");
	expect_first(ctl_rx, "control");
	expect_none_queued(peer);

	close(peer);
	close(server);
	close(ctl_rx);
	close(ctl_tx);
	guard_drop(&g, true);
	guards_free(gs);
	policy_plan_free(p1);
	policy_plan_free(p2);
	pair_done(&p);
}

/* With tiers an element added can deny: the ingress Admin Deny's set takes the host side, and
 * the flow it admitted before is forgotten (its replies meet the Admin egress Deny). */
static void test_tier_tightening_forgets_replies(void **state)
{
	static struct policy_set_elem host[1], before[1], after[2];
	struct policy_set s1[] = {
		{ .name = (char *)"h4", .family = AF_INET, .elems = host, .n_elems = 1 },
		{ .name = (char *)"d4", .family = AF_INET, .elems = before, .n_elems = 1 },
	};
	struct policy_set s2[] = {
		s1[0],
		{ .name = (char *)"d4", .family = AF_INET, .elems = after, .n_elems = 2 }
	};
	struct policy_plan_rule rules[] = {
		TIER_RULE(POLICY_DIR_INGRESS, POLICY_TIER_ADMIN, POLICY_ACTION_DENY, 1, false, 0,
			  0),
		TIER_RULE(POLICY_DIR_EGRESS, POLICY_TIER_ADMIN, POLICY_ACTION_DENY, 0, true, 6000,
			  6000),
	};
	struct policy_plan p1 = { .sets = s1, .n_sets = 2, .rules = rules, .n_rules = 2 };
	struct policy_plan p2 = { .sets = s2, .n_sets = 2, .rules = rules, .n_rules = 2 };
	struct policy_addr own = { .family = AF_INET };
	struct nft_error err = { 0 };
	struct guards *gs = NULL;
	struct ep_guard g = { 0 };
	int peer, server, ctl_rx, ctl_tx;
	struct pair p;
	ino_t ino = 0;

	inet_pton(AF_INET, "10.9.0.1", host[0].start);
	inet_pton(AF_INET, "10.9.0.1", after[0].start);
	inet_pton(AF_INET, "10.9.0.9", before[0].start);
	inet_pton(AF_INET, "10.9.0.9", after[1].start);
	assert_true(policy_plan_same_shape(&p1, &p2));
	pair_setup(&p, "ttight");
	inet_pton(AF_INET, "10.9.0.2", own.addr);
	assert_int_equal(guards_new(NULL, &gs), 0);
	assert_int_equal(netns_inode(p.ep, &ino), 0);
	assert_int_equal(guard_discover(gs, p.ep, ino, &g), 0);
	assert_int_equal(guard_commit(gs, &g, NULL, &p1, &own, 1, &err), 0);

	peer = udp_socket(p.host, "10.9.0.1", 6000);
	server = udp_socket(p.ep, "10.9.0.2", 7000);
	ctl_rx = udp_socket(p.host, "10.9.0.1", 5001);
	ctl_tx = udp_socket(p.ep, "10.9.0.2", 0);
	udp_send(peer, "10.9.0.2", 7000, "request");
	expect_first(server, "request");
	udp_send(server, "10.9.0.1", 6000, "reply");
	expect_first(peer, "reply");

	/* one element more, none fewer */
	assert_int_equal(guard_commit(gs, &g, &p1, &p2, &own, 1, &err), 0);
	udp_send(server, "10.9.0.1", 6000, "late reply");
	udp_send(ctl_tx, "10.9.0.1", 5001, "control");
	expect_first(ctl_rx, "control");
	expect_none_queued(peer);

	close(peer);
	close(server);
	close(ctl_rx);
	close(ctl_tx);
	guard_drop(&g, true);
	guards_free(gs);
	pair_done(&p);
}

/* Nothing to guard: loopback only is enforced (nothing leaves); a macvlan has no host-side
 * device, and says so. */
static void test_discover_unguardable(void **state)
{
	struct guards *gs = NULL;
	struct ep_guard g = { 0 };
	int ep = -1, phys = -1;
	char path[64];
	ino_t ino = 0;

	assert_int_equal(guards_new(NULL, &gs), 0);
	assert_int_equal(fixture_netns("lonely", &ep), 0);
	assert_int_equal(netns_inode(ep, &ino), 0);
	assert_int_equal(guard_discover(gs, ep, ino, &g), 0);
	assert_int_equal(g.state, GUARD_ENFORCED);
	assert_int_equal(g.n_devs, 0);

	/* A macvlan made on a device of another namespace and moved in. */
	assert_int_equal(fixture_netns("lonely-phys", &phys), 0);
	assert_int_equal(run(phys, (const char *const[]){ "ip", "link", "add", "up0", "type",
							  "veth", "peer", "name", "up1", NULL }),
			 0);
	assert_int_equal(run(phys, (const char *const[]){ "ip", "link", "add", "mv0", "link", "up0",
							  "type", "macvlan", NULL }),
			 0);
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)getpid(), ep);
	assert_int_equal(run(phys, (const char *const[]){ "ip", "link", "set", "mv0", "netns", path,
							  NULL }),
			 0);
	assert_int_equal(guard_discover(gs, ep, ino, &g), 0);
	assert_int_equal(g.state, GUARD_NONE);
	assert_int_equal(g.n_devs, 0);
	assert_non_null(g.reason);
	assert_non_null(strstr(g.reason, "mv0 (macvlan): no host-side device to guard"));

	guard_drop(&g, true);
	guards_free(gs);
	close(ep);
	close(phys);
}

static bool claims_devs_of(const void *ns, const char *table, void *userdata)
{
	const struct ep_guard *g = userdata;

	for (size_t i = 0; g && i < g->n_devs; i++)
		if (g->devs[i].ns == ns && strcmp(g->devs[i].table, table) == 0)
			return true;
	return false;
}

/* A device that went while segd was not looking (a container removed while it was down) leaves
 * its guard table, owned by the guard socket: the sweep deletes what no endpoint claims, and
 * only tables that socket owns. */
static void test_sweep(void **state)
{
	struct policy_plan *plan = plan_of(egress_5001);
	struct guards *gs = NULL;
	struct ep_guard g = { 0 };
	struct nft_error err = { 0 };
	struct policy_addr own = { .family = AF_INET };
	struct pair p;
	ino_t ino = 0;

	pair_setup(&p, "sweep");
	inet_pton(AF_INET, "10.9.0.2", own.addr);
	/* Another socket's guard table on the same device (another segd's): never touched. */
	snprintf(p.table, sizeof(p.table), POLICY_GUARD_TABLE_PREFIX "other");
	table_commit(&p, plan);
	assert_int_equal(guards_new(NULL, &gs), 0);
	gs->table_flags = NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST;
	assert_int_equal(netns_inode(p.ep, &ino), 0);
	assert_int_equal(guard_discover(gs, p.ep, ino, &g), 0);
	assert_int_equal(g.n_devs, 1);
	assert_int_equal(guard_commit(gs, &g, NULL, plan, &own, 1, &err), 0);

	/* Claimed: kept. */
	assert_int_equal(guards_sweep(gs, claims_devs_of, &g), 0);
	assert_int_equal(nft_table_get_named(g.devs[0].ns->s, NFPROTO_NETDEV, g.devs[0].table, NULL,
					     NULL),
			 1);
	/* The device goes and nobody claims its table any more: deleted. */
	assert_int_equal(run(p.ep, (const char *const[]){ "ip", "link", "del", p.ep_if, NULL }), 0);
	assert_int_equal(guards_sweep(gs, claims_devs_of, NULL), 1);
	assert_int_equal(nft_table_get_named(g.devs[0].ns->s, NFPROTO_NETDEV, g.devs[0].table, NULL,
					     NULL),
			 0);
	/* The other socket's is still there; a second sweep finds nothing. */
	assert_int_equal(nft_table_get_named(p.s, NFPROTO_NETDEV, p.table, NULL, NULL), 1);
	assert_int_equal(guards_sweep(gs, claims_devs_of, NULL), 0);
	assert_int_equal(guard_sweep_socket(p.s, "other", NULL, NULL, NULL), 1);
	assert_int_equal(nft_table_get_named(p.s, NFPROTO_NETDEV, p.table, NULL, NULL), 0);

	guard_drop(&g, true);
	guards_free(gs);
	policy_plan_free(plan);
	pair_done(&p);
}

/* The last device a guard socket guarded goes: what else that socket owns (tables of devices
 * that went while segd was down, which the fd store kept owned) goes with it, before the socket
 * is released and could own nothing any more. */
static void test_last_drop_sweeps(void **state)
{
	struct policy_plan *plan = plan_of(egress_5001);
	struct guards *gs = NULL;
	struct ep_guard g = { 0 };
	struct nft_error err = { 0 };
	struct policy_addr own = { .family = AF_INET };
	struct policy_guard orphan;
	struct pair p;
	ino_t ino = 0;

	pair_setup(&p, "lastdrop");
	inet_pton(AF_INET, "10.9.0.2", own.addr);
	assert_int_equal(guards_new(NULL, &gs), 0);
	gs->table_flags = NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST;
	assert_int_equal(netns_inode(p.ep, &ino), 0);
	assert_int_equal(guard_discover(gs, p.ep, ino, &g), 0);
	assert_int_equal(guard_commit(gs, &g, NULL, plan, &own, 1, &err), 0);
	orphan = (struct policy_guard){
		.table = POLICY_GUARD_TABLE_PREFIX "gone",
		.device = p.host_if,
		.ifindex = (uint32_t)p.host_index,
		.addrs = &own,
		.n_addrs = 1,
		.plan = plan,
		.table_flags = NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST,
	};
	assert_int_equal(nft_replace_guard(g.devs[0].ns->s, &orphan, &err), 0);
	assert_int_equal(nft_table_get_named(p.s, NFPROTO_NETDEV, orphan.table, NULL, NULL), 1);

	guard_drop(&g, true);
	assert_int_equal(gs->n_nss, 0);
	assert_int_equal(nft_table_get_named(p.s, NFPROTO_NETDEV, p.table, NULL, NULL), 0);
	assert_int_equal(nft_table_get_named(p.s, NFPROTO_NETDEV, orphan.table, NULL, NULL), 0);
	guards_free(gs);
	policy_plan_free(plan);
	pair_done(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guard_table_owned),
		cmocka_unit_test(test_guard_pins_source_address),
		cmocka_unit_test(test_guard_pins_mac),
		cmocka_unit_test(test_guard_enforces_egress),
		cmocka_unit_test(test_guard_allows_replies),
		cmocka_unit_test(test_guard_admin_deny),
		cmocka_unit_test(test_guard_admin_over_isolation),
		cmocka_unit_test(test_guard_tier_replies),
		cmocka_unit_test(test_guard_ignores_a_reused_name),
		cmocka_unit_test(test_discover_and_commit),
		cmocka_unit_test(test_tightening_forgets_replies),
		cmocka_unit_test(test_tier_tightening_forgets_replies),
		cmocka_unit_test(test_discover_unguardable),
		cmocka_unit_test(test_sweep),
		cmocka_unit_test(test_last_drop_sweeps),
	};
	cpu_set_t one;

	fixture_enter();
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	if (sched_setaffinity(0, sizeof(one), &one) < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
