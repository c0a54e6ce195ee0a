/* SPDX-License-Identifier: MIT */
/*
 * Writes the seed corpus of fuzz-nft (tests/fuzz/corpus/nft/): the rules segd itself emits for
 * a plan with hash and interval sets, port ranges, SCTP, reject and flow logging, each as the
 * attributes of an NFT_MSG_NEWRULE message with a handle, as the kernel dumps them, after the
 * elements of the last anonymous set emitted before it (fuzz-nft.c gives the input format).
 *
 *   build-fuzz/tests/fuzz/nft-seeds tests/fuzz/corpus/nft
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <libmnl/libmnl.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "policy/policy.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct ctx {
	const char *dir;
	uint8_t elems[1 + 15 * 18];
	size_t elems_len;
	unsigned n;
};

static int on_set(struct nftnl_set *s, struct ctx *c)
{
	struct nftnl_set_elems_iter *it;
	struct nftnl_set_elem *e;
	size_t n = 0;

	if (!(nftnl_set_get_u32(s, NFTNL_SET_FLAGS) & NFT_SET_ANONYMOUS))
		return 0;
	it = nftnl_set_elems_iter_create(s);
	if (!it)
		return -ENOMEM;
	memset(c->elems, 0, sizeof(c->elems));
	while ((e = nftnl_set_elems_iter_next(it)) && n < 15) {
		uint8_t *p = c->elems + 1 + n * 18;
		uint32_t len = 0;
		const void *key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);

		p[0] = (uint8_t)(len > 16 ? 16 : len);
		p[1] = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS) &&
		       (nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) &
			NFT_SET_ELEM_INTERVAL_END);
		if (key)
			memcpy(p + 2, key, p[0]);
		n++;
	}
	nftnl_set_elems_iter_destroy(it);
	c->elems[0] = (uint8_t)n;
	c->elems_len = 1 + n * 18;
	return 0;
}

static int on_rule(struct nftnl_rule *r, struct ctx *c)
{
	static char buf[65536];
	size_t hdr = MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct nfgenmsg));
	struct nlmsghdr *nlh;
	char path[4096];
	FILE *f;

	nftnl_rule_set_u64(r, NFTNL_RULE_HANDLE, 2 + c->n);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWRULE, NFPROTO_INET, NLM_F_MULTI, 0);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	snprintf(path, sizeof(path), "%s/rule-%02u", c->dir, c->n++);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	if (c->elems_len)
		fwrite(c->elems, 1, c->elems_len, f);
	else
		fputc(0, f);
	fwrite(buf + hdr, 1, nlh->nlmsg_len - hdr, f);
	return fclose(f) == 0 ? 0 : -errno;
}

static int on_object(enum policy_emit_kind kind, void *obj, const struct policy_plan_rule *pr,
		     void *userdata)
{
	int r = 0;

	if (kind == POLICY_EMIT_SET)
		r = on_set(obj, userdata);
	else if (kind == POLICY_EMIT_RULE)
		r = on_rule(obj, userdata);
	policy_emit_free(kind, obj);
	return r;
}

static void addr(uint8_t *dst, int family, const char *s)
{
	memset(dst, 0, 16);
	if (inet_pton(family, s, dst) != 1)
		abort();
}

#define RULE(d, s, f, hp, p, lo, hi, name, idx, c)                                               \
	{                                                                                        \
		.dir = (d), .policy_namespace = (char *)"shop", .policy_name = (char *)(name),   \
		.rule_index = (idx), .family = (f), .set = (s), .has_proto = (hp), .proto = (p), \
		.port_lo = (lo), .port_hi = (hi), .comment = (char *)(c)                         \
	}

int main(int argc, char **argv)
{
	static struct policy_set_elem h4[2], c4[2], c6[1];
	static struct policy_set sets[] = {
		{ .name = (char *)"i0_p4", .family = AF_INET, .elems = h4, .n_elems = 2 },
		{ .name = (char *)"e0_c4",
		  .family = AF_INET,
		  .interval = true,
		  .elems = c4,
		  .n_elems = 2 },
		{ .name = (char *)"e0_c6",
		  .family = AF_INET6,
		  .interval = true,
		  .elems = c6,
		  .n_elems = 1 },
	};
	static struct policy_plan_rule rules[] = {
		RULE(POLICY_DIR_INGRESS, 0, AF_INET, true, POLICY_PROTO_TCP, 80, 80, "web", 0,
		     "shop/web ingress[0]"),
		RULE(POLICY_DIR_INGRESS, -1, AF_UNSPEC, true, POLICY_PROTO_SCTP, 9000, 9000, "web",
		     1, "shop/web ingress[1]"),
		RULE(POLICY_DIR_EGRESS, 1, AF_INET, true, POLICY_PROTO_UDP, 32000, 32768, "out", 0,
		     "shop/out egress[0]"),
		RULE(POLICY_DIR_EGRESS, 2, AF_INET6, false, POLICY_PROTO_TCP, 0, 0, "out", 1,
		     "shop/out egress[1]"),
	};
	static struct policy_plan p = { .endpoint = (char *)"web",
					.isolated = { true, true },
					.deny = POLICY_DENY_REJECT,
					.sets = sets,
					.n_sets = N(sets),
					.rules = rules,
					.n_rules = N(rules) };
	struct policy_emit_options o = { .flow_log = POLICY_FLOW_LOG_ALL, .log_group = 7 };
	struct ctx c = { 0 };
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: nft-seeds DIR\n");
		return 2;
	}
	c.dir = argv[1];
	addr(h4[0].start, AF_INET, "10.1.0.5");
	addr(h4[1].start, AF_INET, "10.1.0.6");
	addr(c4[0].start, AF_INET, "10.0.0.0");
	addr(c4[0].end, AF_INET, "10.0.255.255");
	addr(c4[1].start, AF_INET, "192.168.1.0");
	addr(c4[1].end, AF_INET, "192.168.1.255");
	addr(c6[0].start, AF_INET6, "fd00::");
	addr(c6[0].end, AF_INET6, "fd00::ffff");
	r = policy_emit(&p, &o, on_object, &c);
	if (r < 0) {
		fprintf(stderr, "nft-seeds: %s\n", strerror(-r));
		return 1;
	}
	printf("%u rule(s) written to %s\n", c.n, c.dir);
	return 0;
}
