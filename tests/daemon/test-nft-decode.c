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

#include <cmocka.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decoded_text),
		cmocka_unit_test(test_big_endian_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
