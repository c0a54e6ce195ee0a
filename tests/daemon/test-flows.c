/* SPDX-License-Identifier: MIT */
/*
 * flows: packet headers as the kernel logs them (IPv4, IPv6, fragments, truncation, ICMP,
 * other versions); hand-built nfnetlink NFLOG messages fed through a datagram socketpair into
 * flows_read() with a lookup naming the other end, and the records they make (verdict,
 * direction, ends, deciding rule or isolating policies, counts); queries over the ring; the
 * flow log file, its rotation and reopening.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "fixture.h"
#include "flows.h"
#include "unit.h"
#include "flows-fixture.h"

static void addr_is(const uint8_t *a, int family, const char *want)
{
	char buf[INET6_ADDRSTRLEN];

	assert_non_null(inet_ntop(family, a, buf, sizeof(buf)));
	assert_string_equal(buf, want);
}

static void test_parse_v4(void **state)
{
	uint8_t p[128];
	struct flow_packet pk;
	size_t n;

	n = ip4(p, 5, "10.0.0.9", "10.0.0.1", IPPROTO_TCP, 40000, 443);
	assert_int_equal(flows_parse_packet(p, n, &pk), 0);
	assert_int_equal(pk.family, AF_INET);
	assert_int_equal(pk.proto, IPPROTO_TCP);
	addr_is(pk.src, AF_INET, "10.0.0.9");
	addr_is(pk.dst, AF_INET, "10.0.0.1");
	assert_int_equal(pk.sport, 40000);
	assert_int_equal(pk.dport, 443);

	/* options: the ports come after them */
	n = ip4(p, 7, "1.2.3.4", "5.6.7.8", IPPROTO_UDP, 53, 65535);
	assert_int_equal(flows_parse_packet(p, n, &pk), 0);
	assert_int_equal(pk.proto, IPPROTO_UDP);
	assert_int_equal(pk.sport, 53);
	assert_int_equal(pk.dport, 65535);
	n = ip4(p, 5, "1.2.3.4", "5.6.7.8", IPPROTO_SCTP, 1, 2);
	assert_int_equal(flows_parse_packet(p, n, &pk), 0);
	assert_int_equal(pk.dport, 2);

	/* cut short: the header alone, or the first three bytes of the ports */
	n = ip4(p, 5, "1.2.3.4", "5.6.7.8", IPPROTO_TCP, 1, 2);
	assert_int_equal(flows_parse_packet(p, 20, &pk), 0);
	assert_int_equal(pk.sport, -1);
	assert_int_equal(pk.dport, -1);
	assert_int_equal(flows_parse_packet(p, 23, &pk), 0);
	assert_int_equal(pk.sport, -1);
	assert_int_equal(flows_parse_packet(p, 24, &pk), 0);
	assert_int_equal(pk.sport, 1);
	/* a header that claims more than the packet has */
	p[0] = 0x4f;
	assert_int_equal(flows_parse_packet(p, 40, &pk), 0);
	assert_int_equal(pk.sport, -1);

	/* ICMP and others: no ports */
	n = ip4(p, 5, "1.2.3.4", "5.6.7.8", IPPROTO_ICMP, 0x0800, 0x1234);
	assert_int_equal(flows_parse_packet(p, n, &pk), 0);
	assert_int_equal(pk.proto, IPPROTO_ICMP);
	assert_int_equal(pk.sport, -1);
	assert_int_equal(pk.dport, -1);
	n = ip4(p, 5, "1.2.3.4", "5.6.7.8", 47, 1, 2);
	assert_int_equal(flows_parse_packet(p, n, &pk), 0);
	assert_int_equal(pk.proto, 47);
	assert_int_equal(pk.sport, -1);
}

static void test_parse_fragments(void **state)
{
	uint8_t p[64];
	struct flow_packet pk;
	size_t n = ip4(p, 5, "10.0.0.2", "10.0.0.1", IPPROTO_UDP, 5353, 53);

	/* the first fragment (more fragments, offset 0) has the ports */
	p[6] = 0x20;
	assert_int_equal(flows_parse_packet(p, n, &pk), 0);
	assert_int_equal(pk.dport, 53);
	/* a later one does not: what is there is payload */
	p[6] = 0x20;
	p[7] = 0xb9;
	assert_int_equal(flows_parse_packet(p, n, &pk), 0);
	assert_int_equal(pk.family, AF_INET);
	assert_int_equal(pk.proto, IPPROTO_UDP);
	addr_is(pk.src, AF_INET, "10.0.0.2");
	assert_int_equal(pk.sport, -1);
	assert_int_equal(pk.dport, -1);
	/* the last one (offset, no more fragments), offset in the high bits only */
	p[6] = 0x01;
	p[7] = 0x00;
	assert_int_equal(flows_parse_packet(p, n, &pk), 0);
	assert_int_equal(pk.sport, -1);
	/* don't fragment alone is no fragment */
	p[6] = 0x40;
	assert_int_equal(flows_parse_packet(p, n, &pk), 0);
	assert_int_equal(pk.sport, 5353);
}

static void test_parse_v6(void **state)
{
	uint8_t p[64];
	struct flow_packet pk;
	size_t n = ip6(p, "fd00::9", "fd00::1", IPPROTO_TCP, 50000, 80);

	assert_int_equal(flows_parse_packet(p, n, &pk), 0);
	assert_int_equal(pk.family, AF_INET6);
	assert_int_equal(pk.proto, IPPROTO_TCP);
	addr_is(pk.src, AF_INET6, "fd00::9");
	addr_is(pk.dst, AF_INET6, "fd00::1");
	assert_int_equal(pk.sport, 50000);
	assert_int_equal(pk.dport, 80);
	assert_int_equal(flows_parse_packet(p, 43, &pk), 0);
	assert_int_equal(pk.sport, -1);
	assert_int_equal(flows_parse_packet(p, 40, &pk), 0);
	assert_int_equal(pk.dport, -1);
	n = ip6(p, "fd00::9", "fd00::1", IPPROTO_ICMPV6, 0x8000, 1);
	assert_int_equal(flows_parse_packet(p, n, &pk), 0);
	assert_int_equal(pk.proto, IPPROTO_ICMPV6);
	assert_int_equal(pk.sport, -1);
	/* an extension header first: its type is the protocol, and there are no ports */
	n = ip6(p, "fd00::9", "fd00::1", 44, 1, 2);
	assert_int_equal(flows_parse_packet(p, n, &pk), 0);
	assert_int_equal(pk.proto, 44);
	assert_int_equal(pk.sport, -1);
}

static void test_parse_invalid(void **state)
{
	uint8_t p[64] = { 0 };
	struct flow_packet pk = { .family = 77 };

	assert_int_equal(flows_parse_packet(p, 0, &pk), -EBADMSG);
	ip4(p, 5, "1.2.3.4", "5.6.7.8", IPPROTO_TCP, 1, 2);
	assert_int_equal(flows_parse_packet(p, 19, &pk), -EBADMSG);
	assert_int_equal(flows_parse_packet(p, 1, &pk), -EBADMSG);
	p[0] = 0x44; /* IHL 4: shorter than a header */
	assert_int_equal(flows_parse_packet(p, 40, &pk), -EBADMSG);
	p[0] = 0x40;
	assert_int_equal(flows_parse_packet(p, 40, &pk), -EBADMSG);
	ip6(p, "fd00::9", "fd00::1", IPPROTO_TCP, 1, 2);
	assert_int_equal(flows_parse_packet(p, 39, &pk), -EBADMSG);
	for (unsigned v = 0; v < 16; v++) {
		if (v == 4 || v == 6)
			continue;
		p[0] = (uint8_t)(v << 4 | 5);
		assert_int_equal(flows_parse_packet(p, 48, &pk), -EBADMSG);
	}
	assert_int_equal(pk.family, 77); /* untouched */
}

static void test_read_records(void **state)
{
	static struct batch b;
	struct world w;
	uint8_t p[128];
	char prefix[32];
	json_auto_t *o = NULL;
	json_t *recs, *r;
	size_t n;

	world_init(&w, NULL, 0);

	/* denied: 10.0.0.9 (nobody) to web:443 */
	n = ip4(p, 5, "10.0.0.9", "10.0.0.1", IPPROTO_TCP, 40000, 443);
	put_packet(&b, "segd:D:i ", p, n);
	/* allowed: web to db:5432, by the first egress rule */
	n = ip4(p, 5, "10.0.0.1", "10.0.0.3", IPPROTO_TCP, 40001, 5432);
	snprintf(prefix, sizeof(prefix), "segd:A:e:%zu ", first_rule(w.plan, POLICY_DIR_EGRESS));
	put_packet(&b, prefix, p, n);
	feed(&w, &b);
	assert_int_equal(flows_count(w.f, true), 1);
	assert_int_equal(flows_count(w.f, false), 1);

	o = all_records(&w);
	recs = json_object_get(o, "flows");
	assert_int_equal(json_array_size(recs), 2);
	assert_json_int(o, "next", 2);
	assert_json_int(o, "dropped", 0);

	r = json_array_get(recs, 0);
	assert_json_int(r, "seq", 1);
	assert_json_string(r, "verdict", "denied");
	assert_json_string(r, "direction", "ingress");
	assert_json_string(r, "family", "ipv4");
	assert_json_string(r, "protocol", "TCP");
	assert_json_string(r, "enforced_at", "web");
	{
		_cleanup_free_ char *src = json_text(json_object_get(r, "source"));
		_cleanup_free_ char *dst = json_text(json_object_get(r, "destination"));
		_cleanup_free_ char *pol = json_text(json_object_get(r, "policies"));

		assert_string_equal(src, "{\"address\":\"10.0.0.9\",\"port\":40000}");
		assert_string_equal(dst,
				    "{\"address\":\"10.0.0.1\",\"endpoint\":\"web\",\"labels\":"
				    "{\"app\":\"web\"},\"namespace\":\"shop\",\"port\":443}");
		/* both ingress policies, not the egress one */
		assert_string_equal(pol, "[\"shop/deny-in\",\"shop/web-in\"]");
	}
	assert_json_string(r, "reason",
			   "web is isolated for ingress by 2 policies and none of "
			   "their rules allows it");
	assert_null(json_object_get(r, "policy"));
	/* "YYYY-MM-DDTHH:MM:SS.ffffffZ" */
	assert_int_equal(strlen(json_string_value(json_object_get(r, "time"))), 27);

	r = json_array_get(recs, 1);
	assert_json_int(r, "seq", 2);
	assert_json_string(r, "verdict", "allowed");
	assert_json_string(r, "direction", "egress");
	assert_json_string(r, "policy", "shop/web-out");
	assert_json_string(r, "rule", "egress[0]");
	assert_null(json_object_get(r, "policies"));
	assert_null(json_object_get(r, "reason"));
	{
		_cleanup_free_ char *src = json_text(json_object_get(r, "source"));
		_cleanup_free_ char *dst = json_text(json_object_get(r, "destination"));

		assert_string_equal(src,
				    "{\"address\":\"10.0.0.1\",\"endpoint\":\"web\",\"labels\":"
				    "{\"app\":\"web\"},\"namespace\":\"shop\",\"port\":40001}");
		assert_string_equal(dst, "{\"address\":\"10.0.0.3\",\"endpoint\":\"db\",\"labels\":"
					 "{\"app\":\"db\"},\"namespace\":\"shop\",\"port\":5432}");
	}
	world_done(&w);
}

static void test_read_more_records(void **state)
{
	static struct batch b;
	struct world w;
	uint8_t p[128];
	char prefix[32];
	json_auto_t *o = NULL;
	json_t *recs, *r;
	size_t n;

	world_init(&w, NULL, 0);
	/* denied egress over IPv6 UDP: one isolating policy */
	n = ip6(p, "fd00::1", "fd00::2", IPPROTO_UDP, 5353, 53);
	put_packet(&b, "segd:D:e ", p, n);
	/* allowed ingress from client, by the first ingress rule */
	n = ip4(p, 5, "10.0.0.2", "10.0.0.1", IPPROTO_TCP, 33333, 80);
	snprintf(prefix, sizeof(prefix), "segd:A:i:%zu ", first_rule(w.plan, POLICY_DIR_INGRESS));
	put_packet(&b, prefix, p, n);
	/* an allow rule the plan does not have: the record has no rule */
	put_packet(&b, "segd:A:i:999 ", p, n);
	/* ICMP, and a protocol without a name */
	n = ip4(p, 5, "10.0.0.9", "10.0.0.1", IPPROTO_ICMP, -1, -1);
	put_packet(&b, "segd:D:i ", p, n + 8);
	n = ip4(p, 5, "10.0.0.9", "10.0.0.1", 47, -1, -1);
	put_packet(&b, "segd:D:i ", p, n);
	feed(&w, &b);

	o = all_records(&w);
	recs = json_object_get(o, "flows");
	assert_int_equal(json_array_size(recs), 5);
	r = json_array_get(recs, 0);
	assert_json_string(r, "verdict", "denied");
	assert_json_string(r, "direction", "egress");
	assert_json_string(r, "family", "ipv6");
	assert_json_string(r, "protocol", "UDP");
	assert_json_string(json_object_get(r, "source"), "endpoint", "web");
	assert_json_string(json_object_get(r, "destination"), "endpoint", "client");
	assert_json_string(json_object_get(r, "destination"), "address", "fd00::2");
	assert_json_int(json_object_get(r, "destination"), "port", 53);
	assert_json_string(r, "reason",
			   "web is isolated for egress by 1 policy and none of their "
			   "rules allows it");
	{
		_cleanup_free_ char *pol = json_text(json_object_get(r, "policies"));

		assert_string_equal(pol, "[\"shop/web-out\"]");
	}
	r = json_array_get(recs, 1);
	assert_json_string(r, "verdict", "allowed");
	assert_json_string(r, "direction", "ingress");
	assert_json_string(r, "policy", "shop/web-in");
	assert_json_string(r, "rule", "ingress[0]");
	assert_json_string(json_object_get(r, "source"), "endpoint", "client");
	assert_json_string(json_object_get(r, "destination"), "endpoint", "web");
	r = json_array_get(recs, 2);
	assert_json_string(r, "verdict", "allowed");
	assert_null(json_object_get(r, "policy"));
	assert_null(json_object_get(r, "rule"));
	r = json_array_get(recs, 3);
	assert_json_string(r, "protocol", "ICMP");
	assert_null(json_object_get(json_object_get(r, "source"), "port"));
	assert_null(json_object_get(json_object_get(r, "source"), "endpoint"));
	r = json_array_get(recs, 4);
	assert_json_int(r, "protocol", 47);
	assert_int_equal(flows_count(w.f, true), 3);
	assert_int_equal(flows_count(w.f, false), 2);
	world_done(&w);
}

static void test_read_ignored(void **state)
{
	static struct batch b;
	struct world w;
	uint8_t p[128];
	json_auto_t *o = NULL;
	size_t n = ip4(p, 5, "10.0.0.9", "10.0.0.1", IPPROTO_TCP, 1, 2);

	world_init(&w, NULL, 0);
	put_packet(&b, "other: ", p, n); /* someone else's rule */
	put_packet(&b, "segd ", p, n);
	put_packet(&b, "SEGD:D:i ", p, n);
	put_packet(&b, "segd:X:i ", p, n);
	put_packet(&b, "", p, n);
	put_packet(&b, NULL, p, n);			  /* no prefix */
	put_packet(&b, "segd:D:i ", NULL, 0);		  /* no payload */
	put_packet(&b, "segd:D:i ", p, 0);		  /* an empty one */
	put_msg(&b, PACKET_TYPE, "segd:D:i", true, p, n); /* a prefix without its NUL */
	p[0] = 0x55;
	put_packet(&b, "segd:D:i ", p, n); /* not IPv4 or IPv6 */
	p[0] = 0x45;
	put_msg(&b, (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG, "segd:D:i ", false, p, n);
	put_msg(&b, (NFNL_SUBSYS_QUEUE << 8) | NFULNL_MSG_PACKET, "segd:D:i ", false, p, n);
	feed(&w, &b);
	/* garbage that is no netlink at all: refused whole */
	memset(b.buf, 0xff, 64);
	b.len = 64;
	assert_int_equal(flows_record(w.f, b.buf, b.len, &w.self, w.plan, lookup, &w), -EBADMSG);
	b.len = 3;
	assert_int_equal(flows_record(w.f, b.buf, b.len, &w.self, w.plan, lookup, &w), -EBADMSG);
	b.len = 0;

	assert_int_equal(flows_count(w.f, true), 0);
	assert_int_equal(flows_count(w.f, false), 0);
	o = all_records(&w);
	assert_int_equal(json_array_size(json_object_get(o, "flows")), 0);
	assert_json_int(o, "next", 0);
	assert_int_equal(w.lookups, 0);

	/* a good one after all that still counts */
	put_packet(&b, "segd:D:i ", p, n);
	feed(&w, &b);
	assert_int_equal(flows_count(w.f, true), 1);
	/* nothing pending: reading returns at once */
	assert_int_equal(flows_read(w.f, w.fds[0], &w.self, w.plan, lookup, &w), 0);
	/* only the kernel is heard: a datagram from another socket is dropped unread */
	put_packet(&b, "segd:D:e ", p, n);
	assert_int_equal(send(w.fds[1], b.buf, b.len, 0), (ssize_t)b.len);
	assert_int_equal(flows_read(w.f, w.fds[0], &w.self, w.plan, lookup, &w), 0);
	assert_int_equal(flows_count(w.f, true), 1);
	/* a plan-less endpoint and no lookup: records all the same */
	assert_int_equal(flows_record(w.f, b.buf, b.len, &w.self, NULL, NULL, NULL), 0);
	assert_int_equal(flows_count(w.f, true), 2);
	json_decref(o);
	o = all_records(&w);
	{
		json_t *r = json_array_get(json_object_get(o, "flows"), 1);

		assert_json_string(r, "reason",
				   "web is isolated for egress by 0 policies and none "
				   "of their rules allows it");
		assert_int_equal(json_array_size(json_object_get(r, "policies")), 0);
	}
	/* a socket that is not readable: its error */
	assert_true(flows_read(w.f, -1, &w.self, w.plan, lookup, &w) < 0);
	world_done(&w);
}

static void test_prefixes_must_be_exact(void **state)
{
	static const char *const foreign[] = {
		"segd:A:i",	"segd:A:",  "segd:A:i:", "segd:A:i:x ", "segd:A:i:0",
		"segd:A:i:0 x", "segd:D:i", "segd:D:x ", "segd:D:i:0 ", "segd:X:i "
	};
	static struct batch b;
	struct world w;
	uint8_t p[128];
	json_auto_t *o = NULL;
	size_t n = ip4(p, 5, "10.0.0.2", "10.0.0.1", IPPROTO_TCP, 1, 80);

	/* Someone else's rule logging to the group with a prefix like ours is not a record:
	 * no rule index is read past its end, no verdict is guessed. */
	world_init(&w, NULL, 0);
	for (size_t i = 0; i < ARRAY_SIZE(foreign); i++) {
		put_packet(&b, foreign[i], p, n);
		feed(&w, &b);
	}
	assert_int_equal(flows_count(w.f, true) + flows_count(w.f, false), 0);
	put_packet(&b, "segd:A:i:0 ", p, n);
	feed(&w, &b);
	o = all_records(&w);
	assert_json_string(json_array_get(json_object_get(o, "flows"), 0), "rule", "ingress[0]");
	world_done(&w);
}

static void test_huge_lengths_are_refused(void **state)
{
	static const uint32_t lens[] = { 100, 0x7ffffff0, 0xfffffff0, 0xfffffffd, 4 };
	struct world w;

	/* libmnl's walk trusts a length of 2^31 or more (it compares it as an int): one such
	 * 16-byte datagram used to crash or hang segd. Now no message that does not fit its
	 * datagram reaches libmnl. */
	world_init(&w, NULL, 0);
	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		struct nlmsghdr h = { .nlmsg_len = lens[i], .nlmsg_type = 0xff };

		assert_int_equal(flows_record(w.f, &h, sizeof(h), &w.self, w.plan, lookup, &w),
				 -EBADMSG);
	}
	assert_int_equal(flows_count(w.f, true) + flows_count(w.f, false), 0);
	world_done(&w);
}

/* Sends count denied records, in datagrams of 64 messages. */
static void make_records(struct world *w, unsigned count, bool allowed_every_third)
{
	static struct batch b;
	uint8_t p[64];
	size_t n = ip4(p, 5, "10.0.0.2", "10.0.0.1", IPPROTO_TCP, 1000, 80);

	for (unsigned i = 0; i < count; i++) {
		bool allowed = allowed_every_third && i % 3 == 2;

		p[20] = (uint8_t)(i >> 8); /* source port: the record's number */
		p[21] = (uint8_t)i;
		put_packet(&b, allowed ? "segd:A:i:0 " : "segd:D:i ", p, n);
		if (b.len > 60000 || (i + 1) % 64 == 0 || i + 1 == count)
			feed(w, &b);
	}
}

static void test_query_filters(void **state)
{
	struct world w;
	struct flows_filter q = { 0 };
	json_auto_t *o = NULL;
	json_t *recs;

	world_init(&w, NULL, 0);
	o = flows_query(w.f, &q);
	assert_int_equal(json_array_size(json_object_get(o, "flows")), 0);
	assert_json_int(o, "next", 0);
	assert_json_int(o, "dropped", 0);
	json_decref(o);

	make_records(&w, 9, true); /* 3, 6, 9 allowed */
	q = (struct flows_filter){ .since = 4 };
	o = flows_query(w.f, &q);
	recs = json_object_get(o, "flows");
	assert_int_equal(json_array_size(recs), 5);
	assert_json_int(json_array_get(recs, 0), "seq", 5);
	assert_json_int(o, "next", 9);
	json_decref(o);

	/* limit: the next query goes on where this one stopped */
	q = (struct flows_filter){ .since = 1, .limit = 3 };
	o = flows_query(w.f, &q);
	recs = json_object_get(o, "flows");
	assert_int_equal(json_array_size(recs), 3);
	assert_json_int(json_array_get(recs, 2), "seq", 4);
	assert_json_int(o, "next", 4);
	json_decref(o);
	q.since = 4;
	o = flows_query(w.f, &q);
	assert_json_int(json_array_get(json_object_get(o, "flows"), 0), "seq", 5);
	json_decref(o);

	q = (struct flows_filter){ .verdict = "allowed" };
	o = flows_query(w.f, &q);
	recs = json_object_get(o, "flows");
	assert_int_equal(json_array_size(recs), 3);
	assert_json_int(json_array_get(recs, 1), "seq", 6);
	assert_json_int(o, "next", 9);
	json_decref(o);
	q = (struct flows_filter){ .verdict = "denied", .limit = 2 };
	o = flows_query(w.f, &q);
	recs = json_object_get(o, "flows");
	assert_int_equal(json_array_size(recs), 2);
	assert_json_int(json_array_get(recs, 1), "seq", 2);
	assert_json_int(o, "next", 2);
	json_decref(o);
	q = (struct flows_filter){ .verdict = "dropped" };
	o = flows_query(w.f, &q);
	assert_int_equal(json_array_size(json_object_get(o, "flows")), 0);
	assert_json_int(o, "next", 9);
	json_decref(o);

	/* either end */
	q = (struct flows_filter){ .endpoint = "client" };
	o = flows_query(w.f, &q);
	assert_int_equal(json_array_size(json_object_get(o, "flows")), 9);
	json_decref(o);
	q = (struct flows_filter){ .endpoint = "web", .verdict = "allowed" };
	o = flows_query(w.f, &q);
	assert_int_equal(json_array_size(json_object_get(o, "flows")), 3);
	json_decref(o);
	q = (struct flows_filter){ .endpoint = "db" };
	o = flows_query(w.f, &q);
	assert_int_equal(json_array_size(json_object_get(o, "flows")), 0);
	assert_json_int(o, "next", 9);
	json_decref(o);

	/* time */
	q = (struct flows_filter){ .time_from = "2000-01-01T00:00:00.000000Z" };
	o = flows_query(w.f, &q);
	assert_int_equal(json_array_size(json_object_get(o, "flows")), 9);
	json_decref(o);
	q = (struct flows_filter){ .time_from = "2999-01-01T00:00:00.000000Z" };
	o = flows_query(w.f, &q);
	assert_int_equal(json_array_size(json_object_get(o, "flows")), 0);
	json_decref(o);
	{
		/* from the time of record 5 on: 5 or more records, ending with 9 */
		json_auto_t *all = all_records(&w);
		json_t *r5 = json_array_get(json_object_get(all, "flows"), 4);
		json_t *got;

		q = (struct flows_filter){ .time_from =
						   json_string_value(json_object_get(r5, "time")) };
		o = flows_query(w.f, &q);
		got = json_object_get(o, "flows");
		assert_true(json_array_size(got) >= 5);
		assert_json_int(json_array_get(got, json_array_size(got) - 1), "seq", 9);
	}

	/* asking from the future */
	json_decref(o);
	q = (struct flows_filter){ .since = 100 };
	o = flows_query(w.f, &q);
	assert_int_equal(json_array_size(json_object_get(o, "flows")), 0);
	assert_json_int(o, "next", 100);
	assert_json_int(o, "dropped", 0);
	world_done(&w);
}

static void test_query_ring(void **state)
{
	struct world w;
	struct flows_filter q = { 0 };
	json_auto_t *o = NULL;
	json_t *recs;

	world_init(&w, NULL, 0);
	make_records(&w, FLOWS_RING + 10, false);
	assert_int_equal(flows_count(w.f, true), FLOWS_RING + 10);

	/* the 10 oldest left the ring */
	o = flows_query(w.f, &q);
	recs = json_object_get(o, "flows");
	assert_int_equal(json_array_size(recs), FLOWS_QUERY_MAX);
	assert_json_int(json_array_get(recs, 0), "seq", 11);
	assert_json_int(json_object_get(json_array_get(recs, 0), "source"), "port", 10);
	assert_json_int(json_array_get(recs, FLOWS_RING - 1), "seq", FLOWS_RING + 10);
	assert_json_int(o, "next", FLOWS_RING + 10);
	assert_json_int(o, "dropped", 10);
	json_decref(o);

	q = (struct flows_filter){ .since = 5, .limit = 1 };
	o = flows_query(w.f, &q);
	assert_json_int(json_array_get(json_object_get(o, "flows"), 0), "seq", 11);
	assert_json_int(o, "dropped", 5);
	assert_json_int(o, "next", 11);
	json_decref(o);
	q = (struct flows_filter){ .since = 10, .limit = 100000 };
	o = flows_query(w.f, &q);
	assert_int_equal(json_array_size(json_object_get(o, "flows")), FLOWS_RING);
	assert_json_int(o, "dropped", 0);
	json_decref(o);
	q = (struct flows_filter){ .since = FLOWS_RING + 9 };
	o = flows_query(w.f, &q);
	assert_int_equal(json_array_size(json_object_get(o, "flows")), 1);
	assert_json_int(o, "dropped", 0);
	world_done(&w);
}

static void test_file(void **state)
{
	char path[256], old[300], moved[300];
	struct world w;
	size_t lines;
	off_t size1;

	snprintf(path, sizeof(path), "%s/flows.jsonl", fixture_tmpdir());
	snprintf(old, sizeof(old), "%s.1", path);
	snprintf(moved, sizeof(moved), "%s.moved", path);

	/* no size limit: one line per record, each the record */
	world_init(&w, path, 0);
	make_records(&w, 3, true);
	assert_int_equal(file_lines(path), 3);
	{
		_cleanup_free_ char *text = file_read(path, NULL);
		json_auto_t *last = NULL;
		char *nl;

		/* the last line: after the one-but-last newline */
		text[strlen(text) - 1] = 0;
		nl = strrchr(text, '\n');
		assert_non_null(nl);
		last = json_parse(nl + 1);
		assert_json_int(last, "seq", 3);
		assert_json_string(last, "verdict", "allowed");
		assert_json_string(last, "policy", "shop/web-in");
	}
	world_done(&w);

	/* appended to what is there */
	world_init(&w, path, 0);
	make_records(&w, 2, false);
	assert_int_equal(file_lines(path), 5);

	/* logrotate moved it: reopening starts a new file */
	assert_int_equal(rename(path, moved), 0);
	assert_int_equal(flows_reopen(w.f), 0);
	make_records(&w, 1, false);
	assert_int_equal(file_lines(path), 1);
	assert_int_equal(file_lines(moved), 5);
	world_done(&w);
	unlink(path);
	unlink(moved);

	/* rotation: past 1000 bytes the file goes to FILE.1 and a new one starts */
	world_init(&w, path, 1000);
	make_records(&w, 1, false);
	size1 = file_size(path);
	assert_true(size1 > 100 && size1 < 1000);
	make_records(&w, (unsigned)(1000 / size1), false);
	assert_true(file_size(path) <= 1000);
	assert_true(file_size(old) > 0 && file_size(old) <= 1000);
	lines = file_lines(path) + file_lines(old);
	assert_int_equal(lines, 1 + 1000 / size1);
	/* again: the previous FILE.1 goes */
	make_records(&w, (unsigned)(2 * 1000 / size1), false);
	assert_true(file_size(path) <= 1000);
	assert_true(file_lines(old) <= (size_t)(1000 / size1));
	assert_int_equal(flows_count(w.f, true), 1 + 3 * (1000 / size1));
	world_done(&w);

	/* the file is not followed through a symlink, nor created in a missing dir */
	unlink(path);
	assert_int_equal(symlink(old, path), 0);
	{
		struct flows *f = NULL;

		assert_int_equal(flows_new(path, 0, &f), -ELOOP);
		assert_null(f);
		snprintf(moved, sizeof(moved), "%s/no/such/dir/flows.jsonl", fixture_tmpdir());
		assert_int_equal(flows_new(moved, 0, &f), -ENOENT);
		/* without a file, reopening has nothing to do */
		assert_int_equal(flows_new(NULL, 0, &f), 0);
		assert_int_equal(flows_reopen(f), 0);
		flows_free(f);
		flows_free(NULL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_v4),
		cmocka_unit_test(test_parse_fragments),
		cmocka_unit_test(test_parse_v6),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_read_records),
		cmocka_unit_test(test_read_more_records),
		cmocka_unit_test(test_read_ignored),
		cmocka_unit_test(test_prefixes_must_be_exact),
		cmocka_unit_test(test_huge_lengths_are_refused),
		cmocka_unit_test(test_query_filters),
		cmocka_unit_test(test_query_ring),
		cmocka_unit_test(test_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
