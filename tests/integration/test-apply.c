/* SPDX-License-Identifier: MIT */
/*
 * Commits plans into a fresh network namespace with nft_replace_table() and reads them back.
 * Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN for unshare); exits 77 (skip) otherwise.
 *
 * Everything runs in a child that unshare()s a new network namespace: when it exits the
 * namespace, and every table in it, is gone, whatever happened. The `nft` binary is used only
 * as an independent observer (the child's namespace is inherited by system()); it is required:
 * without it the checks that need it fail.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/udata.h>

#include "macro.h"
#include "nft.h"

/* nft_replace_table() with the table flags alone as emit options. */
static int replace_with_flags(struct nft_sock *s, const struct policy_plan *plan, uint32_t flags,
			      struct nft_error *reterr)
{
	struct policy_emit_options opts = { .table_flags = flags };

	return nft_replace_table(s, plan, &opts, reterr);
}

static int failures;

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			failures++;                                                              \
		}                                                                                \
	} while (0)

#define CHECK_R(expr, want)                                                                   \
	do {                                                                                  \
		int _r = (expr);                                                              \
		if (_r != (want)) {                                                           \
			fprintf(stderr, "%s:%d: %s = %d (%s), want %d\n", __FILE__, __LINE__, \
				#expr, _r, _r < 0 ? strerror(-_r) : "", (want));              \
			failures++;                                                           \
		}                                                                             \
	} while (0)

#define FLAGS_OP (NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST)

/* ---- plans ---------------------------------------------------------------------------------- */

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

static struct policy_set_elem e_i4[2], e_i6[1], e_c4[3], e_c6[1];
static struct policy_set sets_a[] = {
	{ .name = (char *)"i0_p4", .family = AF_INET, .elems = e_i4, .n_elems = 2 },
	{ .name = (char *)"i0_p6", .family = AF_INET6, .elems = e_i6, .n_elems = 1 },
	{ .name = (char *)"i1_c4",
	  .family = AF_INET,
	  .interval = true,
	  .elems = e_c4,
	  .n_elems = 3 },
	{ .name = (char *)"e0_c6",
	  .family = AF_INET6,
	  .interval = true,
	  .elems = e_c6,
	  .n_elems = 1 },
};

#define RULE(d, s, f, hp, p, lo, hi, c)                                                      \
	{                                                                                    \
		.dir = (d), .policy_namespace = (char *)"x", .policy_name = (char *)"p",     \
		.family = (f), .set = (s), .has_proto = (hp), .proto = (p), .port_lo = (lo), \
		.port_hi = (hi), .comment = (char *)(c)                                      \
	}

static struct policy_plan_rule rules_a[] = {
	RULE(POLICY_DIR_INGRESS, 0, AF_INET, true, POLICY_PROTO_TCP, 80, 80,
	     "x/allow-b ingress[0]"),
	RULE(POLICY_DIR_INGRESS, 1, AF_INET6, true, POLICY_PROTO_TCP, 80, 80,
	     "x/allow-b ingress[0]"),
	RULE(POLICY_DIR_INGRESS, 2, AF_INET, true, POLICY_PROTO_UDP, 5000, 5100,
	     "x/cidr ingress[1]"),
	RULE(POLICY_DIR_EGRESS, 3, AF_INET6, true, POLICY_PROTO_SCTP, 0, 0, "x/out egress[0]"),
	RULE(POLICY_DIR_EGRESS, -1, AF_UNSPEC, false, POLICY_PROTO_TCP, 0, 0, "x/any egress[1]"),
};

static struct policy_plan plan_a = {
	.endpoint = (char *)"x-a",
	.isolated = { true, true },
	.deny = POLICY_DENY_DROP,
	.sets = sets_a,
	.n_sets = ARRAY_SIZE(sets_a),
	.rules = rules_a,
	.n_rules = ARRAY_SIZE(rules_a),
};

static struct policy_plan plan_empty = { .endpoint = (char *)"x-a" };

static void plans_init(void)
{
	a4(e_i4[0].start, "10.71.0.3");
	a4(e_i4[1].start, "10.71.0.4");
	a6(e_i6[0].start, "fd71::3");
	/* 10.0.0.0/16 except 10.0.1.0/24, and a range open to the top */
	a4(e_c4[0].start, "10.0.0.0");
	a4(e_c4[0].end, "10.0.0.255");
	a4(e_c4[1].start, "10.0.2.0");
	a4(e_c4[1].end, "10.0.255.255");
	a4(e_c4[2].start, "192.168.0.0");
	a4(e_c4[2].end, "255.255.255.255");
	a6(e_c6[0].start, "fd00::");
	a6(e_c6[0].end, "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
}

/* ---- helpers -------------------------------------------------------------------------------- */

static const struct nft_dump_chain *chain(const struct nft_dump *d, const char *name)
{
	for (size_t i = 0; i < d->n_chains; i++)
		if (streq(d->chains[i].name, name))
			return &d->chains[i];
	return NULL;
}

static const struct nft_dump_set *set(const struct nft_dump *d, const char *name)
{
	for (size_t i = 0; i < d->n_sets; i++)
		if (streq(d->sets[i].name, name))
			return &d->sets[i];
	return NULL;
}

static bool has_rule(const struct nft_dump *d, const char *ch, const char *expr,
		     const char *comment)
{
	const struct nft_dump_chain *c = chain(d, ch);

	for (size_t i = 0; c && i < c->n_rules; i++)
		if (streq(c->rules[i].expr, expr) &&
		    (!comment || (c->rules[i].comment && streq(c->rules[i].comment, comment))))
			return true;
	fprintf(stderr, "rule not found in %s: %s\n", ch, expr);
	for (size_t i = 0; c && i < c->n_rules; i++)
		fprintf(stderr, "   have: %s  # %s\n", c->rules[i].expr,
			c->rules[i].comment ? c->rules[i].comment : "");
	return false;
}

static bool set_has(const struct nft_dump_set *s, const char *elem)
{
	for (size_t i = 0; s && i < s->n_elements; i++)
		if (streq(s->elements[i], elem))
			return true;
	fprintf(stderr, "element %s not in set %s\n", elem, s ? s->name : "(none)");
	return false;
}

/* Runs a shell command (the nft observer) and returns its stdout, or NULL. */
static char *run(const char *cmd)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = popen(cmd, "r"), *m;
	char buf[4096];
	size_t n;

	if (!f)
		return NULL;
	m = open_memstream(&out, &len);
	if (!m) {
		pclose(f);
		return NULL;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, m);
	fclose(m);
	if (pclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/*
 * The `nft` binary is the independent observer of several checks, and scripts/deps.sh installs
 * it (package nftables): when it is missing those checks fail, with this message, rather than
 * pass unseen. `what` names the test that needed it.
 */
static bool need_nft(const char *what)
{
	static int have = -1;

	if (have < 0)
		have = system("nft --version >/dev/null 2>&1") == 0;
	if (!have) {
		fprintf(stderr,
			"%s: FAIL: the nft binary is missing or does not run; it is this test's "
			"independent observer: install nftables (scripts/deps.sh)\n",
			what);
		failures++;
	}
	return have;
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_probe(struct nft_sock *s)
{
	uint32_t flags = 0;
	char *out;

	CHECK_R(nft_probe_table_flags(s, &flags), 0);
	printf("kernel accepts table flags 0x%x\n", flags);
	CHECK(flags & NFT_TABLE_F_OWNER);
	CHECK(flags & NFT_TABLE_F_PERSIST); /* Linux >= 6.9 */
	/* the probe leaves nothing behind */
	CHECK_R(nft_table_exists(s), 0);
	if (need_nft(__func__)) {
		out = run("nft list tables 2>&1");
		CHECK(out && !strstr(out, "segd-probe"));
		free(out);
	}
}

/* A table made by someone else without flags is replaced (second attempt in the same call). */
static void test_foreign_unowned_table(struct nft_sock *s)
{
	uint32_t flags = 0, owner = 0;

	if (!need_nft(__func__))
		return;
	CHECK(system("nft add table inet segd && nft add chain inet segd junk") == 0);
	CHECK_R(nft_table_get(s, &flags, &owner), 1);
	CHECK(flags == 0 && owner == 0);
	CHECK_R(replace_with_flags(s, &plan_empty, FLAGS_OP, NULL), 0);
	CHECK_R(nft_table_get(s, &flags, &owner), 1);
	CHECK(flags == FLAGS_OP);
	CHECK(owner == nft_sock_portid(s));
}

static void test_replace_and_dump(struct nft_sock *s)
{
	_cleanup_(nft_dump_freep) struct nft_dump *d = NULL;
	struct nft_error err = {};
	const struct nft_dump_chain *in, *out;
	json_t *j;
	char *text;

	CHECK_R(replace_with_flags(s, &plan_a, FLAGS_OP, &err), 0);
	CHECK_R(nft_dump(s, &d), 0);
	if (!d)
		return;
	CHECK(d->table_flags == FLAGS_OP);
	CHECK(d->owned_by_us);
	in = chain(d, "input");
	out = chain(d, "output");
	CHECK(in && out);
	if (!in || !out)
		return;
	CHECK(in->hook && streq(in->hook, "input") && in->priority == 0 &&
	      streq(in->policy, "accept"));
	CHECK(out->hook && streq(out->hook, "output"));
	CHECK(chain(d, "junk") == NULL);

	CHECK(has_rule(d, "input", "iifname \"lo\" accept", POLICY_COMMENT_LOOPBACK));
	CHECK(has_rule(d, "output", "oifname \"lo\" accept", POLICY_COMMENT_LOOPBACK));
	CHECK(has_rule(d, "input", "ct state established accept", POLICY_COMMENT_ESTABLISHED_IN));
	CHECK(has_rule(d, "output", "ct state established,related accept",
		       POLICY_COMMENT_ESTABLISHED));
	CHECK(has_rule(d, "input", "ct state related meta nfproto ipv4 ip saddr @peers4 accept",
		       POLICY_COMMENT_RELATED_PEERS));
	CHECK(has_rule(d, "input",
		       "meta nfproto ipv6 meta l4proto ipv6-icmp icmpv6 type nd-router-advert drop",
		       POLICY_COMMENT_RA_IN));
	CHECK(has_rule(d, "input", "meta l4proto tcp ct state new tcp flags & 0x17 != syn drop",
		       POLICY_COMMENT_TCP_NOT_SYN));
	CHECK(has_rule(d, "input", "ct state invalid drop", POLICY_COMMENT_INVALID));
	CHECK(has_rule(d, "input",
		       "meta nfproto ipv6 meta l4proto ipv6-icmp icmpv6 type { mld-listener-query, "
		       "mld-listener-report, mld-listener-done, nd-neighbor-solicit, "
		       "nd-neighbor-advert, mld2-listener-report } accept",
		       POLICY_COMMENT_ND));
	CHECK(has_rule(d, "output",
		       "meta nfproto ipv6 meta l4proto ipv6-icmp icmpv6 type nd-router-advert drop",
		       POLICY_COMMENT_RA_OUT));
	CHECK(has_rule(
		d, "input",
		"meta nfproto ipv4 ip saddr @i0_p4 meta l4proto tcp th dport 80 counter accept",
		"x/allow-b ingress[0]"));
	CHECK(has_rule(
		d, "input",
		"meta nfproto ipv6 ip6 saddr @i0_p6 meta l4proto tcp th dport 80 counter accept",
		"x/allow-b ingress[0]"));
	CHECK(has_rule(
		d, "input",
		"meta nfproto ipv4 ip saddr @i1_c4 meta l4proto udp th dport 5000-5100 counter "
		"accept",
		"x/cidr ingress[1]"));
	CHECK(has_rule(d, "output",
		       "meta nfproto ipv6 ip6 daddr @e0_c6 meta l4proto sctp counter accept",
		       "x/out egress[0]"));
	CHECK(has_rule(d, "output", "counter accept", "x/any egress[1]"));
	CHECK(has_rule(d, "input", "counter drop", POLICY_COMMENT_DEFAULT_DENY));
	CHECK(has_rule(d, "output", "counter drop", POLICY_COMMENT_DEFAULT_DENY));
	/* order: the fixed rules first, default deny last */
	CHECK(streq(in->rules[0].comment, POLICY_COMMENT_LOOPBACK));
	CHECK(streq(in->rules[in->n_rules - 1].comment, POLICY_COMMENT_DEFAULT_DENY));
	/* fixed: loopback, established, related from peers (2), path MTU (2), invalid, new TCP
	 * without SYN, RA and redirect, ND; output: loopback, established/related, invalid, new
	 * TCP without SYN, ND, RA */
	CHECK(in->n_rules == 11 + 3 + 1);
	CHECK(out->n_rules == 6 + 2 + 1);

	CHECK(set(d, "i0_p4") && set(d, "i0_p4")->key_type == 7 &&
	      set(d, "i0_p4")->n_elements == 2);
	CHECK(set_has(set(d, "i0_p4"), "10.71.0.3") && set_has(set(d, "i0_p4"), "10.71.0.4"));
	CHECK(set_has(set(d, "i0_p6"), "fd71::3"));
	CHECK(set(d, "i1_c4") && (set(d, "i1_c4")->flags & NFT_SET_INTERVAL));
	CHECK(set(d, "i1_c4") && set(d, "i1_c4")->n_elements == 3);
	CHECK(set_has(set(d, "i1_c4"), "10.0.0.0-10.0.0.255"));
	CHECK(set_has(set(d, "i1_c4"), "10.0.2.0-10.0.255.255"));
	CHECK(set_has(set(d, "i1_c4"), "192.168.0.0-255.255.255.255"));
	CHECK(set_has(set(d, "e0_c6"), "fd00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));

	j = nft_dump_to_json(d);
	CHECK(j);
	text = j ? json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
	CHECK(text && strstr(text, "\"policy\": \"x/allow-b\"") &&
	      strstr(text, "\"direction\": \"ingress\""));
	CHECK(text && strstr(text, "\"flags\": [\n  \"owner\",\n  \"persist\"\n ]"));
	CHECK(text && !strstr(text, "__set"));
	if (getenv("SEGD_TEST_VERBOSE"))
		printf("%s\n", text);
	free(text);
	json_decref(j);

	/* the independent observer sees the same: the interval encoding as nft understands it */
	if (need_nft(__func__)) {
		char *o = run("nft list table inet segd 2>&1");

		CHECK(o);
		if (getenv("SEGD_TEST_VERBOSE") && o)
			printf("%s\n", o);
		CHECK(o && strstr(o, "10.0.0.0/24") && strstr(o, "10.0.2.0-10.0.255.255"));
		CHECK(o && strstr(o, "192.168.0.0-255.255.255.255"));
		CHECK(o && strstr(o, "fd00::/8"));
		CHECK(o &&
		      strstr(o, "ip saddr @i0_p4 tcp dport 80 counter packets 0 bytes 0 accept "
				"comment \"x/allow-b ingress[0]\""));
		CHECK(o && strstr(o, "udp dport 5000-5100"));
		free(o);
	}
}

/* A batch that references a missing set fails as a whole, on that rule's seq. */
static void test_bad_batch(struct nft_sock *s)
{
	_cleanup_(nft_dump_freep) struct nft_dump *before = NULL, *after = NULL;
	struct nft_txn *t = NULL;
	struct nft_error err = {};
	struct nftnl_rule *rule;
	struct nftnl_expr *e;
	uint32_t bad_seq, gen1 = 0, gen2 = 0;
	int r;

	CHECK_R(nft_dump(s, &before), 0);
	CHECK_R(nft_genid(s, &gen1), 0);
	CHECK_R(nft_txn_new(s, &t), 0);
	if (!t)
		return;
	CHECK_R(nft_txn_add_table_ensure(t, FLAGS_OP), 0);
	CHECK_R(nft_txn_add_table_delete(t), 0);
	CHECK_R(nft_txn_add_table_ensure(t, FLAGS_OP), 0);

	/* ip saddr @missing accept, in a chain we do create */
	rule = nftnl_rule_alloc();
	nftnl_rule_set_u32(rule, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nftnl_rule_set_str(rule, NFTNL_RULE_TABLE, POLICY_NFT_TABLE);
	nftnl_rule_set_str(rule, NFTNL_RULE_CHAIN, "c");
	e = nftnl_expr_alloc("payload");
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, 12);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, 4);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	nftnl_rule_add_expr(rule, e);
	e = nftnl_expr_alloc("lookup");
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, "missing");
	nftnl_rule_add_expr(rule, e);
	{
		struct nftnl_chain *c = nftnl_chain_alloc();

		nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
		nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, POLICY_NFT_TABLE);
		nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, "c");
		CHECK_R(nft_txn_add(t, POLICY_EMIT_CHAIN, c, NULL), 0);
	}
	CHECK_R(nft_txn_add(t, POLICY_EMIT_RULE, rule, "the bad rule"), 0);
	bad_seq = nft_txn_last_seq(t);
	r = nft_txn_commit(t, &err);
	printf("bad batch: %d (%s) seq %u (want %u) object \"%s\" extack \"%s\" offset %u\n", r,
	       strerror(-r), err.seq, bad_seq, err.object, err.message, err.offset);
	CHECK(r == -ENOENT);
	CHECK(err.error == -ENOENT);
	CHECK(err.seq == bad_seq);
	CHECK(streq(err.object, "the bad rule"));
	t = nft_txn_free(t);

	/* nothing changed */
	CHECK_R(nft_genid(s, &gen2), 0);
	CHECK(gen1 == gen2);
	CHECK_R(nft_dump(s, &after), 0);
	if (before && after) {
		json_auto_t *a = nft_dump_to_json(before), *b = nft_dump_to_json(after);

		CHECK(a && b && json_equal(a, b));
	}

	/* a bad plan never reaches the kernel */
	{
		struct policy_plan_rule bad = rules_a[0];
		struct policy_plan p = plan_a;

		bad.set = 42;
		p.rules = &bad;
		p.n_rules = 1;
		CHECK_R(replace_with_flags(s, &p, FLAGS_OP, &err), -EINVAL);
	}
}

/* The table never disappears while it is replaced: a second process polls it. */
static void test_atomic(struct nft_sock *s)
{
	volatile int *shared =
		mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint32_t g1 = 0, g2 = 0;
	pid_t pid;
	int st = 0;

	CHECK(shared != MAP_FAILED);
	if (shared == MAP_FAILED)
		return;
	shared[0] = 0; /* stop */
	shared[1] = 0; /* polls */
	shared[2] = 0; /* absent */
	pid = fork();
	if (pid == 0) {
		struct nft_sock *r = NULL;

		if (nft_sock_open(NULL, -1, &r) < 0)
			_exit(2);
		while (!shared[0]) {
			int k = nft_table_exists(r);

			shared[1]++;
			if (k != 1)
				shared[2]++;
		}
		nft_sock_free(r);
		_exit(0);
	}
	CHECK_R(nft_genid(s, &g1), 0);
	for (int i = 0; i < 300; i++)
		CHECK_R(replace_with_flags(s, i % 2 ? &plan_a : &plan_empty, FLAGS_OP, NULL), 0);
	CHECK_R(nft_genid(s, &g2), 0);
	shared[0] = 1;
	waitpid(pid, &st, 0);
	printf("atomic: %d polls, %d without the table; genid %u -> %u\n", shared[1], shared[2], g1,
	       g2);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(shared[1] > 0);
	CHECK(shared[2] == 0);
	CHECK(g2 - g1 == 300); /* one generation per replace */
	munmap((void *)shared, 4096);
	CHECK_R(replace_with_flags(s, &plan_a, FLAGS_OP, NULL), 0);
}

/* Big sets: several NEWSETELEM messages, several batch pages. */
static void test_big_sets(struct nft_sock *s)
{
	_cleanup_(nft_dump_freep) struct nft_dump *d = NULL;
	enum { N_HASH = 20000, N_INT = 5000 };
	struct policy_set_elem *h = calloc(N_HASH, sizeof(*h)), *iv = calloc(N_INT, sizeof(*iv));
	struct policy_set sets[2] = {
		{ .name = (char *)"big_p6", .family = AF_INET6, .elems = h, .n_elems = N_HASH },
		{ .name = (char *)"big_c4",
		  .family = AF_INET,
		  .interval = true,
		  .elems = iv,
		  .n_elems = N_INT },
	};
	struct policy_plan_rule rules[] = {
		RULE(POLICY_DIR_INGRESS, 0, AF_INET6, false, POLICY_PROTO_TCP, 0, 0,
		     "x/big ingress[0]"),
		RULE(POLICY_DIR_INGRESS, 1, AF_INET, false, POLICY_PROTO_TCP, 0, 0,
		     "x/big ingress[1]"),
	};
	struct policy_plan p = { .endpoint = (char *)"x-a",
				 .isolated = { true, false },
				 .sets = sets,
				 .n_sets = 2,
				 .rules = rules,
				 .n_rules = 2 };
	struct nft_error err = {};

	if (!h || !iv)
		abort();
	for (unsigned i = 0; i < N_HASH; i++) {
		h[i].start[0] = 0xfd;
		h[i].start[14] = (uint8_t)(i >> 8);
		h[i].start[15] = (uint8_t)i;
	}
	for (unsigned i = 0; i < N_INT; i++) {
		/* 10.x.y.0 - 10.x.y.127 */
		iv[i].start[0] = iv[i].end[0] = 10;
		iv[i].start[1] = iv[i].end[1] = (uint8_t)(i >> 8);
		iv[i].start[2] = iv[i].end[2] = (uint8_t)i;
		iv[i].end[3] = 127;
	}
	CHECK_R(replace_with_flags(s, &p, FLAGS_OP, &err), 0);
	if (err.error)
		printf("big: %s: %s\n", err.object, err.message);
	CHECK_R(nft_dump(s, &d), 0);
	CHECK(d && set(d, "big_p6") && set(d, "big_p6")->n_elements == N_HASH);
	CHECK(d && set(d, "big_c4") && set(d, "big_c4")->n_elements == N_INT);
	CHECK(d && set_has(set(d, "big_c4"), "10.19.135.0-10.19.135.127"));
	CHECK(d && set_has(set(d, "big_p6"), "fd00::4e1f"));
	free(h);
	free(iv);
	CHECK_R(replace_with_flags(s, &plan_a, FLAGS_OP, NULL), 0);
}

/* OWNER: nobody else may touch the table. PERSIST: it outlives us and can be adopted. */
static void test_owner_persist(struct nft_sock **ps)
{
	struct nft_sock *s2 = NULL, *s3 = NULL;
	uint32_t flags = 0, owner = 0;

	CHECK_R(nft_sock_open(NULL, -1, &s2), 0);
	CHECK_R(nft_sock_open(NULL, -1, &s3), 0);
	if (!s2 || !s3)
		return;
	CHECK_R(nft_delete_table(s2), -EPERM);
	CHECK_R(replace_with_flags(s2, &plan_empty, FLAGS_OP, NULL), -EPERM);
	if (need_nft(__func__)) {
		CHECK(system("nft delete table inet segd 2>/dev/null") != 0);
		CHECK(system("nft flush ruleset") == 0); /* skips owned tables */
	}
	CHECK_R(nft_table_exists(s2), 1);

	/* our socket goes away: the table stays, orphaned */
	*ps = nft_sock_free(*ps);
	CHECK_R(nft_table_get(s2, &flags, &owner), 1);
	printf("orphan: flags 0x%x owner %u\n", flags, owner);
	CHECK(owner == 0);
	CHECK(flags == NFT_TABLE_F_PERSIST);

	/* a new socket adopts it by replacing it */
	CHECK_R(replace_with_flags(s2, &plan_a, FLAGS_OP, NULL), 0);
	CHECK_R(nft_table_get(s3, &flags, &owner), 1);
	CHECK(owner == nft_sock_portid(s2));
	CHECK(flags == FLAGS_OP);
	CHECK_R(nft_delete_table(s3), -EPERM);

	/* adoption without replacing: just the ensure message */
	s2 = nft_sock_free(s2);
	{
		struct nft_txn *t = NULL;

		CHECK_R(nft_txn_new(s3, &t), 0);
		CHECK_R(nft_txn_add_table_ensure(t, FLAGS_OP), 0);
		CHECK_R(nft_txn_commit(t, NULL), 0);
		nft_txn_free(t);
	}
	CHECK_R(nft_table_get(s3, &flags, &owner), 1);
	CHECK(owner == nft_sock_portid(s3));
	{
		_cleanup_(nft_dump_freep) struct nft_dump *d = NULL;

		CHECK_R(nft_dump(s3, &d), 0);
		CHECK(d && d->owned_by_us && set(d, "i0_p4")); /* content kept */
	}
	*ps = s3;
}

/* Interval encoding corner cases, checked against the kernel and nft's reading of it. */
static void test_interval_corners(struct nft_sock *s)
{
	_cleanup_(nft_dump_freep) struct nft_dump *d = NULL;
	struct policy_set_elem e6[2], e4[3];
	struct policy_set sets[] = {
		{ .name = (char *)"c6",
		  .family = AF_INET6,
		  .interval = true,
		  .elems = e6,
		  .n_elems = 2 },
		{ .name = (char *)"c4",
		  .family = AF_INET,
		  .interval = true,
		  .elems = e4,
		  .n_elems = 3 },
	};
	struct policy_plan_rule rules[] = {
		RULE(POLICY_DIR_INGRESS, 0, AF_INET6, false, POLICY_PROTO_TCP, 0, 0,
		     "x/c ingress[0]"),
		RULE(POLICY_DIR_INGRESS, 1, AF_INET, false, POLICY_PROTO_TCP, 0, 0,
		     "x/c ingress[1]"),
	};
	struct policy_plan p = { .endpoint = (char *)"x-a",
				 .sets = sets,
				 .n_sets = 2,
				 .rules = rules,
				 .n_rules = 2 };
	struct nft_error err = {};

	/* ::/0 except fd00::/8: starts at the first address, ends at the last */
	a6(e6[0].start, "::");
	a6(e6[0].end, "fcff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	a6(e6[1].start, "fe00::");
	a6(e6[1].end, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	/* adjacent intervals (not merged), and a single address */
	a4(e4[0].start, "10.0.0.0");
	a4(e4[0].end, "10.0.0.255");
	a4(e4[1].start, "10.0.1.0");
	a4(e4[1].end, "10.0.1.255");
	a4(e4[2].start, "10.9.9.9");
	a4(e4[2].end, "10.9.9.9");
	CHECK_R(replace_with_flags(s, &p, FLAGS_OP, &err), 0);
	if (err.error)
		printf("interval corners: %s: %d %s\n", err.object, err.error, err.message);
	CHECK_R(nft_dump(s, &d), 0);
	if (!d)
		return;
	CHECK(set_has(set(d, "c6"), "::-fcff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	CHECK(set_has(set(d, "c6"), "fe00::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	CHECK(set(d, "c4") && set(d, "c4")->n_elements == 3);
	CHECK(set_has(set(d, "c4"), "10.0.0.0-10.0.0.255"));
	CHECK(set_has(set(d, "c4"), "10.0.1.0-10.0.1.255"));
	CHECK(set_has(set(d, "c4"), "10.9.9.9"));
	if (need_nft(__func__)) {
		char *o = run("nft list set inet segd c6 2>&1; nft list set inet segd c4 2>&1");

		if (o)
			printf("%s", o);
		CHECK(o && strstr(o, "::-fcff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
		CHECK(o && strstr(o, "fe00::/7"));
		CHECK(o && strstr(o, "10.9.9.9"));
		free(o);
	}
}

/* The reject deny action and SCTP ports, as the kernel takes them. */
static void test_reject_sctp(struct nft_sock *s)
{
	_cleanup_(nft_dump_freep) struct nft_dump *d = NULL;
	struct policy_plan_rule rules[] = {
		RULE(POLICY_DIR_INGRESS, -1, AF_UNSPEC, true, POLICY_PROTO_SCTP, 3868, 3868,
		     "t/d ingress[0]"),
		RULE(POLICY_DIR_EGRESS, -1, AF_INET6, true, POLICY_PROTO_UDP, 53, 53,
		     "t/d egress[0]"),
	};
	struct policy_plan p = { .endpoint = (char *)"x-a",
				 .isolated = { true, true },
				 .deny = POLICY_DENY_REJECT,
				 .rules = rules,
				 .n_rules = 2 };

	CHECK_R(replace_with_flags(s, &p, FLAGS_OP, NULL), 0);
	CHECK_R(nft_dump(s, &d), 0);
	if (!d)
		return;
	CHECK(has_rule(d, "input", "meta l4proto sctp th dport 3868 counter accept",
		       "t/d ingress[0]"));
	CHECK(has_rule(d, "output", "meta nfproto ipv6 meta l4proto udp th dport 53 counter accept",
		       "t/d egress[0]"));
	CHECK(has_rule(d, "input", "meta l4proto tcp counter reject with tcp reset",
		       POLICY_COMMENT_DEFAULT_DENY));
	CHECK(has_rule(d, "input", "counter reject with icmpx port-unreachable",
		       POLICY_COMMENT_DEFAULT_DENY));
	CHECK(has_rule(d, "output", "counter reject with icmpx port-unreachable",
		       POLICY_COMMENT_DEFAULT_DENY));
}

static void test_delete(struct nft_sock *s)
{
	_cleanup_(nft_dump_freep) struct nft_dump *d = NULL;

	CHECK_R(nft_delete_table(s), 0);
	CHECK_R(nft_table_exists(s), 0);
	CHECK_R(nft_delete_table(s), 0);
	CHECK_R(nft_dump(s, &d), -ENOENT);
	/* no flags at all works too (old kernels) */
	CHECK_R(replace_with_flags(s, &plan_a, 0, NULL), 0);
	CHECK_R(replace_with_flags(s, &plan_a, 0, NULL), 0);
	/* and upgrading the flags of our own table */
	CHECK_R(replace_with_flags(s, &plan_a, NFT_TABLE_F_OWNER, NULL), 0);
	CHECK_R(replace_with_flags(s, &plan_a, FLAGS_OP, NULL), 0);
	CHECK_R(nft_delete_table(s), 0);
}

static int run_tests(void)
{
	struct nft_sock *s = NULL;
	int nsfd;

	plans_init();
	/* open through netns_socket(), as the daemon does */
	nsfd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return 1;
	CHECK_R(nft_sock_open(NULL, nsfd, &s), 0);
	close(nsfd);
	if (!s)
		return 1;

	test_probe(s);
	test_foreign_unowned_table(s);
	test_replace_and_dump(s);
	test_bad_batch(s);
	test_atomic(s);
	test_big_sets(s);
	test_interval_corners(s);
	test_reject_sctp(s);
	test_owner_persist(&s);
	test_delete(s);

	nft_sock_free(s);
	return failures ? 1 : 0;
}

int main(void)
{
	pid_t pid;
	int st = 0;

	if (geteuid() != 0) {
		fprintf(stderr, "not root, skipping\n");
		return 77;
	}
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		setvbuf(stdout, NULL, _IOLBF, 0);
		if (unshare(CLONE_NEWNET) < 0) {
			fprintf(stderr, "unshare(CLONE_NEWNET): %m, skipping\n");
			_exit(77);
		}
		exit(run_tests()); /* exit(), not _exit(): let LeakSanitizer run */
	}
	if (waitpid(pid, &st, 0) < 0)
		return 1;
	if (WIFSIGNALED(st)) {
		fprintf(stderr, "test child killed by signal %d\n", WTERMSIG(st));
		return 1;
	}
	if (WEXITSTATUS(st) == 0)
		printf("all integration checks passed\n");
	return WEXITSTATUS(st);
}
