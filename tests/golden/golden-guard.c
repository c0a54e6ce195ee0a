/* SPDX-License-Identifier: MIT */
/*
 * Golden cases of the host-side guard (policy_emit_guard()): every hand-built plan of
 * test-golden.c on one fixed device, and hand-built ClusterNetworkPolicy plans, compared with
 * DIR/guard/<case>.payload.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <linux/netfilter/nf_tables.h>

#include "golden.h"
#include "policy/policy.h"

#ifndef NFT_TABLE_F_PERSIST
#define NFT_TABLE_F_PERSIST 0x4
#endif

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The device every case is guarded on: segd-7 on veth7, 10.71.0.2 and fd71::2. */
void golden_guard_check(struct golden *g, const char *dir, const char *name,
			const struct policy_plan *plan)
{
	struct policy_addr addrs[2] = { { .family = AF_INET }, { .family = AF_INET6 } };
	struct policy_guard guard = {
		.table = POLICY_GUARD_TABLE_PREFIX "7",
		.device = "veth7",
		.ifindex = 7,
		.mac = { 0x02, 0, 0, 0, 0, 0x07 },
		.addrs = addrs,
		.n_addrs = N(addrs),
		.plan = plan,
		.table_flags = NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST,
	};
	char *path = NULL, *got = NULL, *label = NULL;
	int r;

	if (inet_pton(AF_INET, "10.71.0.2", addrs[0].addr) != 1 ||
	    inet_pton(AF_INET6, "fd71::2", addrs[1].addr) != 1)
		abort();
	if (asprintf(&path, "%s/guard/%s.payload", dir, name) < 0 ||
	    asprintf(&label, "guard %s", name) < 0)
		abort();
	r = golden_render_guard(&guard, &got);
	if (r < 0)
		golden_fail(g, label, "policy_emit_guard: %s", strerror(-r));
	else
		golden_check(g, label, path, got);
	free(path);
	free(label);
	free(got);
}

/* ---- ClusterNetworkPolicy plans ------------------------------------------------------------ */

static void a4(uint8_t *dst, const char *s)
{
	memset(dst, 0, 16);
	if (inet_pton(AF_INET, s, dst) != 1)
		abort();
}

/* A plan rule of a tier: NETPOL rules accept, ADMIN and BASELINE ones as their action. */
#define TRULE(d, t, a, s, f, hp, p, lo, hi, c)                                                     \
	{                                                                                          \
		.dir = (d), .tier = (t), .action = (a), .policy_name = (char *)"p", .family = (f), \
		.set = (s), .has_proto = (hp), .proto = (p), .port_lo = (lo), .port_hi = (hi),     \
		.comment = (char *)(c)                                                             \
	}
#define IN POLICY_DIR_INGRESS
#define OUT POLICY_DIR_EGRESS
#define ADMIN POLICY_TIER_ADMIN
#define NETPOL POLICY_TIER_NETPOL
#define BASELINE POLICY_TIER_BASELINE
#define ACCEPT POLICY_ACTION_ACCEPT
#define DENY POLICY_ACTION_DENY
#define PASS POLICY_ACTION_PASS
#define TCP POLICY_PROTO_TCP
#define UDP POLICY_PROTO_UDP

/* Sets: 0 = i0_p4 (10.71.0.3, a client), 1 = e0_p4 (10.71.0.9, a database). */
static struct policy_set_elem client[1], db[1];
static struct policy_set sets[] = {
	{ .name = (char *)"i0_p4", .family = AF_INET, .elems = client, .n_elems = 1 },
	{ .name = (char *)"e0_p4", .family = AF_INET, .elems = db, .n_elems = 1 },
};

/* An Admin Deny to the database's 5432 and nothing else: egress not isolated. */
static struct policy_plan_rule admin_deny[] = {
	TRULE(OUT, ADMIN, DENY, 1, AF_INET, true, TCP, 5432, 5432, "cnp/no-db egress[block]"),
};

/*
 * Egress: an Admin Pass for the database, then an Admin Deny of everything else; the
 * NetworkPolicy isolating egress allows the database on 80. Ingress: an Admin Accept from the
 * client on 8080, a Pass from it on anything else; NetworkPolicy isolation allowing it UDP 53,
 * and a Baseline Deny it never reaches.
 */
static struct policy_plan_rule pass[] = {
	TRULE(IN, ADMIN, ACCEPT, 0, AF_INET, true, TCP, 8080, 8080, "cnp/front ingress[web]"),
	TRULE(IN, ADMIN, PASS, 0, AF_INET, false, TCP, 0, 0, "cnp/front ingress[rest]"),
	TRULE(IN, NETPOL, ACCEPT, 0, AF_INET, true, UDP, 53, 53, "x/dns ingress[0]"),
	TRULE(IN, BASELINE, DENY, -1, AF_UNSPEC, false, TCP, 0, 0, "cnp/base ingress[all]"),
	TRULE(OUT, ADMIN, PASS, 1, AF_INET, false, TCP, 0, 0, "cnp/lock egress[db]"),
	TRULE(OUT, ADMIN, DENY, -1, AF_UNSPEC, false, TCP, 0, 0, "cnp/lock egress[rest]"),
	TRULE(OUT, NETPOL, ACCEPT, 1, AF_INET, true, TCP, 80, 80, "x/web egress[0]"),
};

/* Baseline: ingress denied from the client, egress to the database; a NetworkPolicy egress
 * rule to the database on 80 (it allows only where it isolates: case cnp-baseline-isolated). */
static struct policy_plan_rule baseline[] = {
	TRULE(IN, BASELINE, DENY, 0, AF_INET, false, TCP, 0, 0, "cnp/base ingress[client]"),
	TRULE(OUT, NETPOL, ACCEPT, 1, AF_INET, true, TCP, 80, 80, "x/web egress[0]"),
	TRULE(OUT, BASELINE, DENY, 1, AF_INET, false, TCP, 0, 0, "cnp/base egress[db]"),
	TRULE(OUT, BASELINE, ACCEPT, -1, AF_UNSPEC, true, UDP, 53, 53, "cnp/base egress[dns]"),
};

/* An Admin Accept for UDP 53 anywhere, where a NetworkPolicy isolates egress and allows
 * nothing. */
static struct policy_plan_rule admin_accept[] = {
	TRULE(OUT, ADMIN, ACCEPT, -1, AF_UNSPEC, true, UDP, 53, 53, "cnp/dns egress[dns]"),
};

static const struct {
	const char *name;
	struct policy_plan_rule *rules;
	size_t n_rules;
	bool isolated[_POLICY_DIR_MAX];
} cnp_cases[] = {
	{ "cnp-admin-deny", admin_deny, N(admin_deny), { false, false } },
	{ "cnp-pass", pass, N(pass), { true, true } },
	{ "cnp-baseline", baseline, N(baseline), { false, false } },
	{ "cnp-baseline-isolated", baseline, N(baseline), { false, true } },
	{ "cnp-admin-accept-isolated", admin_accept, N(admin_accept), { false, true } },
};

void golden_guard_cases(struct golden *g, const char *dir)
{
	a4(client[0].start, "10.71.0.3");
	a4(db[0].start, "10.71.0.9");
	for (size_t i = 0; i < N(cnp_cases); i++) {
		struct policy_plan p = {
			.endpoint = (char *)"x-a",
			.isolated = { cnp_cases[i].isolated[0], cnp_cases[i].isolated[1] },
			.sets = sets,
			.n_sets = N(sets),
			.rules = cnp_cases[i].rules,
			.n_rules = cnp_cases[i].n_rules,
		};

		golden_guard_check(g, dir, cnp_cases[i].name, &p);
	}
}
