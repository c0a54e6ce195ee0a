/* SPDX-License-Identifier: MIT */
/*
 * The expression decoder alone, on the rules policy_emit() builds (no kernel): each group of
 * expressions comes back as the nft text it stands for.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <cmocka.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "macro.h"
#include "nft-decode.h"
#include "nftplans.h"

struct collected {
	char *texts[64];
	char *comments[64];
	size_t n;
};

static int collect(enum policy_emit_kind kind, void *obj, const struct policy_plan_rule *pr,
		   void *userdata)
{
	struct collected *c = userdata;
	struct nft_dump_rule r = { 0 };

	if (kind == POLICY_EMIT_RULE) {
		assert_int_equal(nft_decode_rule(obj, NULL, NULL, &r), 0);
		assert_true(c->n < ARRAY_SIZE(c->texts));
		c->texts[c->n] = r.expr;
		c->comments[c->n++] = r.comment;
	}
	policy_emit_free(kind, obj);
	return 0;
}

static const char *text_of(const struct collected *c, const char *comment, size_t nth)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->comments[i] && streq(c->comments[i], comment) && nth-- == 0)
			return c->texts[i];
	fail_msg("no rule with comment %s", comment);
	return NULL;
}

static void test_decoded_text(void **state)
{
	struct policy_plan *plan = nft_test_plan(1);
	struct policy_emit_options opts = { .flow_log = POLICY_FLOW_LOG_ALL, .log_group = 5379 };
	struct collected c = { 0 };
	const char *set4 = NULL;
	char want[256];

	assert_int_equal(policy_emit(plan, &opts, collect, &c), 0);
	for (size_t i = 0; i < plan->n_sets; i++)
		if (plan->sets[i].family == AF_INET)
			set4 = plan->sets[i].name;
	snprintf(want, sizeof(want),
		 "meta nfproto ipv4 ip saddr @%s meta l4proto tcp th dport 5432 "
		 "log prefix \"segd:A:i:0 \" group 5379 counter accept",
		 set4);
	assert_string_equal(text_of(&c, "shop/allow-web ingress[0]", 0), want);
	assert_string_equal(text_of(&c, POLICY_COMMENT_LOOPBACK, 0), "iifname \"lo\" accept");
	assert_string_equal(text_of(&c, POLICY_COMMENT_LOOPBACK, 1), "oifname \"lo\" accept");
	assert_string_equal(text_of(&c, POLICY_COMMENT_ESTABLISHED_IN, 0),
			    "ct state established accept");
	assert_string_equal(text_of(&c, POLICY_COMMENT_ESTABLISHED, 0),
			    "ct state established,related accept");
	assert_string_equal(text_of(&c, POLICY_COMMENT_RELATED_PEERS, 0),
			    "ct state related meta nfproto ipv4 ip saddr @peers4 accept");
	assert_string_equal(text_of(&c, POLICY_COMMENT_RELATED_PEERS, 1),
			    "ct state related meta nfproto ipv6 ip6 saddr @peers6 accept");
	assert_string_equal(
		text_of(&c, POLICY_COMMENT_RELATED_PMTU, 0),
		"ct state related meta nfproto ipv4 meta l4proto icmp icmp type 3 icmp code 4 accept");
	assert_string_equal(
		text_of(&c, POLICY_COMMENT_PEERS, 0),
		"ct state new meta nfproto ipv4 update @peers4 { ip saddr timeout 86400s }");
	assert_string_equal(
		text_of(&c, POLICY_COMMENT_PEERS, 3),
		"ct state new meta nfproto ipv6 update @peers6 { ip6 daddr timeout 86400s }");
	assert_string_equal(text_of(&c, POLICY_COMMENT_INVALID, 0), "ct state invalid drop");
	assert_string_equal(
		text_of(&c, POLICY_COMMENT_FLOW_LOG, 0),
		"limit rate 10/second burst 20 packets log prefix \"segd:D:i \" group 5379");
	assert_string_equal(text_of(&c, POLICY_COMMENT_DEFAULT_DENY, 0), "counter drop");
	assert_string_equal(
		text_of(&c, POLICY_COMMENT_RA_OUT, 0),
		"meta nfproto ipv6 meta l4proto ipv6-icmp icmpv6 type nd-router-advert drop");
	assert_string_equal(text_of(&c, POLICY_COMMENT_TCP_NOT_SYN, 0),
			    "meta l4proto tcp ct state new tcp flags & 0x17 != syn drop");
	assert_string_equal(
		text_of(&c, POLICY_COMMENT_RA_IN, 0),
		"meta nfproto ipv6 meta l4proto ipv6-icmp icmpv6 type nd-router-advert drop");
	assert_string_equal(
		text_of(&c, POLICY_COMMENT_RA_IN, 1),
		"meta nfproto ipv6 meta l4proto ipv6-icmp icmpv6 type nd-redirect drop");
	for (size_t i = 0; i < c.n; i++) {
		free(c.texts[i]);
		free(c.comments[i]);
	}
	policy_plan_free(plan);
}

static void test_big_endian_values(void **state)
{
	const uint8_t port[2] = { 0x15, 0x38 }, mark[4] = { 0, 0, 1, 0 };

	assert_int_equal(nft_be_value(port, 2), 5432);
	assert_int_equal(nft_be_value(mark, 4), 256);
}

/* A rule's comment is read from its userdata TLVs only within their bounds (fuzz-nft found
 * libnftnl's parser handing out one that runs past the end). */
static void expect_comment(const void *udata, uint32_t len, const char *want)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nft_dump_rule out = { 0 };

	assert_non_null(r);
	assert_int_equal(nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, udata, len), 0);
	assert_int_equal(nft_decode_rule(r, NULL, NULL, &out), 0);
	if (want)
		assert_string_equal(out.comment, want);
	else
		assert_null(out.comment);
	free(out.expr);
	free(out.comment);
	nftnl_rule_free(r);
}

static void test_comment_bounds(void **state)
{
	/* {type 0 (comment), len 3, "ab\0"} */
	expect_comment("\x00\x03"
		       "ab",
		       5, "ab");
	/* another TLV first, then the comment */
	expect_comment("\x07\x01x\x00\x02hi", 7, "hi");
	/* says 10 bytes, has 2: no comment, nothing read past the end */
	expect_comment("\x00\x0a"
		       "ab",
		       4, NULL);
	/* a header cut after its type */
	expect_comment("\x00\x02"
		       "ab\x00",
		       5, "ab");
	expect_comment("\x00", 1, NULL);
}

/* A rule message goes to libnftnl only if every expression has a NUL-terminated name:
 * libnftnl 1.2.4 dereferences a missing one (found by fuzz-nft). */
static struct nlmsghdr *rule_msg(char *buf, const char *name, size_t name_len)
{
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWRULE, NFPROTO_INET, 0, 1);
	struct nlattr *list = mnl_attr_nest_start(nlh, NFTA_RULE_EXPRESSIONS), *elem;

	elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
	if (name)
		mnl_attr_put(nlh, NFTA_EXPR_NAME, name_len, name);
	mnl_attr_nest_end(nlh, mnl_attr_nest_start(nlh, NFTA_EXPR_DATA));
	mnl_attr_nest_end(nlh, elem);
	mnl_attr_nest_end(nlh, list);
	return nlh;
}

static void test_rule_msg_ok(void **state)
{
	char buf[512];
	struct nftnl_rule *r = nftnl_rule_alloc();

	assert_true(nft_decode_rule_msg_ok(rule_msg(buf, "counter", 8)));
	assert_false(nft_decode_rule_msg_ok(rule_msg(buf, NULL, 0)));
	assert_false(nft_decode_rule_msg_ok(rule_msg(buf, "counter", 7))); /* no NUL */
	/* a dynset's own expression without a name (found by fuzz-nft's long run) */
	{
		struct nlmsghdr *nlh =
			nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWRULE, NFPROTO_INET, 0, 1);
		struct nlattr *list = mnl_attr_nest_start(nlh, NFTA_RULE_EXPRESSIONS), *elem, *data,
			      *inner;

		elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
		mnl_attr_put_strz(nlh, NFTA_EXPR_NAME, "dynset");
		data = mnl_attr_nest_start(nlh, NFTA_EXPR_DATA);
		inner = mnl_attr_nest_start(nlh, NFTA_DYNSET_EXPR);
		mnl_attr_nest_end(nlh, mnl_attr_nest_start(nlh, NFTA_EXPR_DATA));
		mnl_attr_nest_end(nlh, inner);
		mnl_attr_nest_end(nlh, data);
		mnl_attr_nest_end(nlh, elem);
		mnl_attr_nest_end(nlh, list);
		assert_false(nft_decode_rule_msg_ok(nlh));
	}
	/* a goto without its chain (found by fuzz-nft's long run) */
	{
		struct nlmsghdr *nlh =
			nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWRULE, NFPROTO_INET, 0, 1);
		struct nlattr *list = mnl_attr_nest_start(nlh, NFTA_RULE_EXPRESSIONS), *elem, *data,
			      *imm, *verdict;

		elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
		mnl_attr_put_strz(nlh, NFTA_EXPR_NAME, "immediate");
		data = mnl_attr_nest_start(nlh, NFTA_EXPR_DATA);
		mnl_attr_put_u32(nlh, NFTA_IMMEDIATE_DREG, htonl(NFT_REG_VERDICT));
		imm = mnl_attr_nest_start(nlh, NFTA_IMMEDIATE_DATA);
		verdict = mnl_attr_nest_start(nlh, NFTA_DATA_VERDICT);
		mnl_attr_put_u32(nlh, NFTA_VERDICT_CODE, htonl((uint32_t)NFT_GOTO));
		mnl_attr_nest_end(nlh, verdict);
		mnl_attr_nest_end(nlh, imm);
		mnl_attr_nest_end(nlh, data);
		mnl_attr_nest_end(nlh, elem);
		mnl_attr_nest_end(nlh, list);
		assert_false(nft_decode_rule_msg_ok(nlh));
	}
	/* and what passes parses */
	assert_non_null(r);
	assert_true(nftnl_rule_nlmsg_parse(rule_msg(buf, "counter", 8), r) >= 0);
	nftnl_rule_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decoded_text),
		cmocka_unit_test(test_big_endian_values),
		cmocka_unit_test(test_comment_bounds),
		cmocka_unit_test(test_rule_msg_ok),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
