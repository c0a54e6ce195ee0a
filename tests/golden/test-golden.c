/* SPDX-License-Identifier: MIT */
/*
 * Golden test of the nftables emitter, and of the whole pipeline in front of it. No root, no
 * kernel. Every object policy_emit() hands out is printed with nftnl_*_snprintf() (golden.c)
 * and the text is compared with a payload file. Two kinds of case:
 *
 * - Hand-built plans (this file): DIR/<case>.payload. They pin the emitter alone.
 * - Policy cases (golden-policy.c): DIR/policy/<case>.world.json describes a world (namespaces,
 *   endpoints with namespace, labels, addresses and named ports), which endpoint's table to
 *   emit, and the emit options (deny action, table flags, flow logging); the policies come from
 *   DIR/policy/<case>.policy.yaml (or the file the world names). They go through
 *   policy_parse(), policy_compile() and policy_emit(), and are compared with
 *   DIR/policy/<case>.payload. The world format is documented at the top of golden-policy.c
 *   and in DIR/README.md.
 *
 *   test-golden DIR                 compare with the payload files
 *   test-golden --regenerate DIR    (re)write them
 *
 * The text is libnftnl's (1.2.4 when these files were made), which is not an ABI: after a
 * libnftnl upgrade, regenerate and review the diff.
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

static void a4(uint8_t *dst, const char *s)
{
	memset(dst, 0, 16);
	if (inet_pton(AF_INET, s, dst) != 1)
		abort();
}

static void a6(uint8_t *dst, const char *s)
{
	if (inet_pton(AF_INET6, s, dst) != 1)
		abort();
}

#define RULE(d, s, f, hp, p, lo, hi, ns, name, idx, c)                                           \
	{                                                                                        \
		.dir = (d), .policy_namespace = (char *)(ns), .policy_name = (char *)(name),     \
		.rule_index = (idx), .family = (f), .set = (s), .has_proto = (hp), .proto = (p), \
		.port_lo = (lo), .port_hi = (hi), .comment = (char *)(c)                         \
	}

/* ---- cases ---------------------------------------------------------------------------------- */

static struct policy_plan *case_empty(void)
{
	static struct policy_plan p = { .endpoint = (char *)"x-a" };

	return &p;
}

static struct policy_plan *case_default_deny(void)
{
	static char *sel[] = { (char *)"x/deny-all" };
	static struct policy_plan p = { .endpoint = (char *)"x-a",
					.isolated = { true, true },
					.deny = POLICY_DENY_DROP,
					.selected_by = sel,
					.n_selected_by = 1 };

	return &p;
}

static struct policy_plan *case_ingress_hash(void)
{
	static struct policy_set_elem e4[2], e6[2];
	static struct policy_set sets[] = {
		{ .name = (char *)"i0_p4", .family = AF_INET, .elems = e4, .n_elems = 2 },
		{ .name = (char *)"i0_p6", .family = AF_INET6, .elems = e6, .n_elems = 2 },
	};
	static struct policy_plan_rule rules[] = {
		RULE(POLICY_DIR_INGRESS, 0, AF_INET, true, POLICY_PROTO_TCP, 80, 80, "x", "allow-b",
		     0, "x/allow-b ingress[0]"),
		RULE(POLICY_DIR_INGRESS, 1, AF_INET6, true, POLICY_PROTO_TCP, 80, 80, "x",
		     "allow-b", 0, "x/allow-b ingress[0]"),
	};
	static struct policy_plan p = { .endpoint = (char *)"x-a",
					.isolated = { true, false },
					.sets = sets,
					.n_sets = N(sets),
					.rules = rules,
					.n_rules = N(rules) };

	a4(e4[0].start, "10.71.0.3");
	a4(e4[1].start, "10.71.0.4");
	a6(e6[0].start, "fd71::3");
	a6(e6[1].start, "fd71::4");
	return &p;
}

static struct policy_plan *case_egress_port_range(void)
{
	static struct policy_set_elem e4[1];
	static struct policy_set sets[] = {
		{ .name = (char *)"e0_p4", .family = AF_INET, .elems = e4, .n_elems = 1 },
	};
	static struct policy_plan_rule rules[] = {
		RULE(POLICY_DIR_EGRESS, 0, AF_INET, true, POLICY_PROTO_TCP, 32000, 32768, "x",
		     "to-db", 0, "x/to-db egress[0]"),
		RULE(POLICY_DIR_EGRESS, 0, AF_INET, true, POLICY_PROTO_UDP, 53, 53, "x", "to-db", 1,
		     "x/to-db egress[1]"),
	};
	static struct policy_plan p = { .endpoint = (char *)"x-a",
					.isolated = { false, true },
					.sets = sets,
					.n_sets = N(sets),
					.rules = rules,
					.n_rules = N(rules) };

	a4(e4[0].start, "10.71.0.9");
	return &p;
}

static struct policy_plan *case_interval_except(void)
{
	static struct policy_set_elem e4[3], e6[2];
	static struct policy_set sets[] = {
		{ .name = (char *)"i0_c4",
		  .family = AF_INET,
		  .interval = true,
		  .elems = e4,
		  .n_elems = 3 },
		{ .name = (char *)"i0_c6",
		  .family = AF_INET6,
		  .interval = true,
		  .elems = e6,
		  .n_elems = 2 },
	};
	static struct policy_plan_rule rules[] = {
		RULE(POLICY_DIR_INGRESS, 0, AF_INET, false, POLICY_PROTO_TCP, 0, 0, "x", "cidr", 0,
		     "x/cidr ingress[0]"),
		RULE(POLICY_DIR_INGRESS, 1, AF_INET6, false, POLICY_PROTO_TCP, 0, 0, "x", "cidr", 0,
		     "x/cidr ingress[0]"),
	};
	static struct policy_plan p = { .endpoint = (char *)"x-a",
					.isolated = { true, false },
					.sets = sets,
					.n_sets = N(sets),
					.rules = rules,
					.n_rules = N(rules) };

	/* 10.0.0.0/8 except 10.1.0.0/16 and 10.2.3.4/32 */
	a4(e4[0].start, "10.0.0.0");
	a4(e4[0].end, "10.0.255.255");
	a4(e4[1].start, "10.2.0.0");
	a4(e4[1].end, "10.2.3.3");
	a4(e4[2].start, "10.2.3.5");
	a4(e4[2].end, "10.255.255.255");
	/* ::/0 except fd00::/8: an interval that ends at the last address has no end element */
	a6(e6[0].start, "::");
	a6(e6[0].end, "fcff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	a6(e6[1].start, "fe00::");
	a6(e6[1].end, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	return &p;
}

static struct policy_plan *case_any_peer_any_port(void)
{
	static struct policy_plan_rule rules[] = {
		RULE(POLICY_DIR_INGRESS, -1, AF_UNSPEC, false, POLICY_PROTO_TCP, 0, 0, "x", "open",
		     0, "x/open ingress[0]"),
		RULE(POLICY_DIR_EGRESS, -1, AF_UNSPEC, true, POLICY_PROTO_UDP, 0, 0, "x", "open", 0,
		     "x/open egress[0]"),
		RULE(POLICY_DIR_EGRESS, -1, AF_INET, true, POLICY_PROTO_TCP, 443, 443, "x", "open",
		     1, "x/open egress[1]"),
	};
	static struct policy_plan p = { .endpoint = (char *)"x-a",
					.isolated = { true, true },
					.rules = rules,
					.n_rules = N(rules) };

	return &p;
}

static struct policy_plan *case_reject(void)
{
	static struct policy_plan_rule rules[] = {
		RULE(POLICY_DIR_INGRESS, -1, AF_UNSPEC, true, POLICY_PROTO_TCP, 22, 22, "x", "ssh",
		     0, "x/ssh ingress[0]"),
	};
	static struct policy_plan p = { .endpoint = (char *)"x-a",
					.isolated = { true, true },
					.deny = POLICY_DENY_REJECT,
					.rules = rules,
					.n_rules = N(rules) };

	return &p;
}

static struct policy_plan *case_sctp(void)
{
	static struct policy_set_elem e6[1];
	static struct policy_set sets[] = {
		{ .name = (char *)"e0_p6", .family = AF_INET6, .elems = e6, .n_elems = 1 },
	};
	static struct policy_plan_rule rules[] = {
		RULE(POLICY_DIR_EGRESS, 0, AF_INET6, true, POLICY_PROTO_SCTP, 3868, 3868, "telco",
		     "diameter", 0, "telco/diameter egress[0]"),
		RULE(POLICY_DIR_INGRESS, -1, AF_UNSPEC, true, POLICY_PROTO_SCTP, 0, 0, "telco",
		     "diameter", 0, "telco/diameter ingress[0]"),
	};
	static struct policy_plan p = { .endpoint = (char *)"x-a",
					.isolated = { true, true },
					.sets = sets,
					.n_sets = N(sets),
					.rules = rules,
					.n_rules = N(rules) };

	a6(e6[0].start, "2001:db8::1");
	return &p;
}

static const struct {
	const char *name;
	struct policy_plan *(*build)(void);
	uint32_t table_flags;
} cases[] = {
	{ "empty", case_empty, 0 },
	{ "default-deny", case_default_deny, NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST },
	{ "ingress-hash", case_ingress_hash, NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST },
	{ "egress-port-range", case_egress_port_range, NFT_TABLE_F_OWNER },
	{ "interval-except", case_interval_except, NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST },
	{ "any-peer-any-port", case_any_peer_any_port, NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST },
	{ "reject", case_reject, NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST },
	{ "sctp", case_sctp, NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST },
};

static int render(const struct policy_plan *plan, uint32_t flags, char **ret)
{
	struct policy_emit_options opts = { .table_flags = flags };

	return golden_render(plan, &opts, ret);
}

/* Bad plans are refused before anything is emitted. */
static int check_invalid(void)
{
	struct policy_plan_rule r = RULE(POLICY_DIR_INGRESS, 3, AF_INET, false, POLICY_PROTO_TCP, 0,
					 0, "x", "y", 0, "x/y ingress[0]");
	struct policy_plan p = { .rules = &r, .n_rules = 1 };
	char *text = NULL;
	int fails = 0;

	if (render(&p, 0, &text) != -EINVAL) /* set index out of range */
		fails++;
	r.set = -1;
	r.has_proto = true;
	r.port_lo = 90;
	r.port_hi = 80;
	if (render(&p, 0, &text) != -EINVAL) /* inverted port range */
		fails++;
	free(text);
	printf("%s - invalid plans are refused\n", fails ? "not ok" : "ok");
	return fails;
}

int main(int argc, char **argv)
{
	struct golden g = { 0 };
	const char *dir = NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--regenerate") == 0)
			g.regenerate = true;
		else
			dir = argv[i];
	}
	if (!dir) {
		fprintf(stderr, "usage: %s [--regenerate] DIR\n", argv[0]);
		return 2;
	}

	for (size_t i = 0; i < N(cases); i++) {
		const struct policy_plan *plan = cases[i].build();
		char *path = NULL, *got = NULL;
		int r;

		if (asprintf(&path, "%s/%s.payload", dir, cases[i].name) < 0)
			return 1;
		r = render(plan, cases[i].table_flags, &got);
		if (r < 0)
			golden_fail(&g, cases[i].name, "policy_emit: %s", strerror(-r));
		else
			golden_check(&g, cases[i].name, path, got);
		golden_guard_check(&g, dir, cases[i].name, plan);
		free(path);
		free(got);
	}
	golden_guard_cases(&g, dir);
	golden_policy_cases(&g, dir);
	g.fails += check_invalid();
	return g.fails ? 1 : 0;
}
