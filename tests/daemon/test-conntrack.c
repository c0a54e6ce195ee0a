/* SPDX-License-Identifier: MIT */
/*
 * conntrack: cutting the entries a tightened plan no longer allows, in a real conntrack table.
 * Every network namespace has a table of its own, and ctnetlink needs CAP_NET_ADMIN over the
 * namespace only: root of the private user namespace (fixture.h) may dump, create and delete
 * entries, no root needed. Entries are made two ways: created with IPCTNL_MSG_CT_NEW (any
 * tuple, both families, ICMP and other protocols, zones), and by real UDP traffic over a veth
 * pair into a namespace whose nf_tables ruleset tracks connections (segd's table: `ct state`).
 * The traffic test shows the hole the module closes: after the tighter ruleset is committed,
 * an established flow it denies still passes, and after conntrack_cut() it no longer does.
 * Odd messages (no tuple, wrong sizes, families) are fed to the parser by hand.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/netfilter/nfnetlink.h>

#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack_tcp.h>

#include "conntrack.h"
#include "fixture.h"
#include "macro.h"
#include "netns.h"
#include "nft.h"
#include "testutil.h"

/* db takes web on 7000/UDP and 5432/TCP; db reaches web, 10.9.0.0/16 and fd09::/32 on 53/UDP
 * only. */
static const char policy[] =
	"apiVersion: networking.k8s.io/v1\n"
	"kind: NetworkPolicy\n"
	"metadata: {name: db, namespace: shop}\n"
	"spec:\n"
	"  podSelector: {matchLabels: {app: db}}\n"
	"  policyTypes: [Ingress, Egress]\n"
	"  ingress:\n"
	"  - from: [{podSelector: {matchLabels: {app: web}}}]\n"
	"    ports: [{port: 7000, protocol: UDP}, {port: 5432}]\n"
	"  egress:\n"
	"  - to: [{podSelector: {matchLabels: {app: web}}}]\n"
	"    ports: [{port: 53, protocol: UDP}]\n"
	"  - to: [{ipBlock: {cidr: 10.9.0.0/16}}, {ipBlock: {cidr: 'fd09::/32'}}]\n"
	"    ports: [{port: 53, protocol: UDP}]\n";

/* One conntrack entry, by its original tuple. ICMP: an echo request, sport is its id. A zone
 * (not 0) is the entry's, or only its original direction's (orig_zone). */
struct flow {
	const char *src, *dst;
	uint8_t proto;
	uint16_t sport, dport;
	uint16_t zone;
	bool orig_zone;
};

static int family_of(const char *a)
{
	return strchr(a, ':') ? AF_INET6 : AF_INET;
}

static void set_tuple(struct nf_conntrack *ct, const struct flow *f)
{
	int family = family_of(f->src);
	bool v4 = family == AF_INET;
	uint8_t s[16], d[16];

	assert_int_equal(inet_pton(family, f->src, s), 1);
	assert_int_equal(inet_pton(family, f->dst, d), 1);
	nfct_set_attr_u8(ct, ATTR_ORIG_L3PROTO, (uint8_t)family);
	nfct_set_attr_u8(ct, ATTR_REPL_L3PROTO, (uint8_t)family);
	nfct_set_attr(ct, v4 ? ATTR_ORIG_IPV4_SRC : ATTR_ORIG_IPV6_SRC, s);
	nfct_set_attr(ct, v4 ? ATTR_ORIG_IPV4_DST : ATTR_ORIG_IPV6_DST, d);
	nfct_set_attr(ct, v4 ? ATTR_REPL_IPV4_SRC : ATTR_REPL_IPV6_SRC, d);
	nfct_set_attr(ct, v4 ? ATTR_REPL_IPV4_DST : ATTR_REPL_IPV6_DST, s);
	nfct_set_attr_u8(ct, ATTR_ORIG_L4PROTO, f->proto);
	nfct_set_attr_u8(ct, ATTR_REPL_L4PROTO, f->proto);
	if (f->proto == IPPROTO_TCP || f->proto == IPPROTO_UDP || f->proto == IPPROTO_SCTP) {
		nfct_set_attr_u16(ct, ATTR_ORIG_PORT_SRC, htons(f->sport));
		nfct_set_attr_u16(ct, ATTR_ORIG_PORT_DST, htons(f->dport));
		nfct_set_attr_u16(ct, ATTR_REPL_PORT_SRC, htons(f->dport));
		nfct_set_attr_u16(ct, ATTR_REPL_PORT_DST, htons(f->sport));
	} else if (f->proto == IPPROTO_ICMP || f->proto == IPPROTO_ICMPV6) {
		/* libnetfilter_conntrack fills in the reply's type (echo reply) */
		nfct_set_attr_u8(ct, ATTR_ICMP_TYPE, f->proto == IPPROTO_ICMP ? 8 : 128);
		nfct_set_attr_u8(ct, ATTR_ICMP_CODE, 0);
		nfct_set_attr_u16(ct, ATTR_ICMP_ID, htons(f->sport));
	}
	if (f->zone && f->orig_zone)
		nfct_set_attr_u16(ct, ATTR_ORIG_ZONE, f->zone);
	else if (f->zone)
		nfct_set_attr_u16(ct, ATTR_ZONE, f->zone);
}

static int count_cb(const struct nlmsghdr *nlh, void *data)
{
	(*(unsigned *)data)++;
	return MNL_CB_OK;
}

/* One request about f in nsfd: IPCTNL_MSG_CT_NEW creates it, IPCTNL_MSG_CT_GET looks it up. */
static int ct_request(int nsfd, uint16_t type, uint16_t flags, const struct flow *f)
{
	struct nft_sock *s = NULL;
	struct nf_conntrack *ct = nfct_new();
	char buf[1024] = { 0 };
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;
	unsigned replies = 0;
	int r;

	assert_non_null(ct);
	assert_int_equal(nft_sock_open(NULL, nsfd, &s), 0);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = nft_sock_next_seq(s);
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = (uint8_t)family_of(f->src);
	set_tuple(ct, f);
	if (type == IPCTNL_MSG_CT_NEW) {
		nfct_set_attr_u32(ct, ATTR_TIMEOUT, 600);
		if (f->proto == IPPROTO_TCP)
			nfct_set_attr_u8(ct, ATTR_TCP_STATE, TCP_CONNTRACK_ESTABLISHED);
	}
	assert_int_equal(nfct_nlmsg_build(nlh, ct), 0);
	r = nft_sock_request(s, nlh, count_cb, &replies);
	/* a lookup answers with the entry, then the ACK */
	if (r == 0 && type == IPCTNL_MSG_CT_GET)
		assert_int_equal(replies, 1);
	nfct_destroy(ct);
	nft_sock_free(s);
	return r;
}

static void ct_insert(int nsfd, const struct flow *f)
{
	assert_int_equal(ct_request(nsfd, IPCTNL_MSG_CT_NEW, NLM_F_CREATE | NLM_F_EXCL, f), 0);
}

/* 1 if the entry is there, 0 if not. */
static int ct_exists(int nsfd, const struct flow *f)
{
	int r = ct_request(nsfd, IPCTNL_MSG_CT_GET, 0, f);

	assert_true(r == 0 || r == -ENOENT);
	return r == 0;
}

static unsigned ct_count(int nsfd)
{
	unsigned n = 0;

	assert_int_equal(conntrack_count(nsfd, &n), 0);
	return n;
}

/* The endpoint of the created entries: db, 10.0.0.3 and fd00::3; web is 10.0.0.11, fd00::11. */
static const struct test_endpoint ins_eps[] = {
	{ "db", "shop", "app=db", "10.0.0.3,fd00::3", NULL },
	{ "web", "shop", "app=web", "10.0.0.11,fd00::11", NULL },
	{ "cache", "shop", "app=cache", "10.0.0.4", NULL },
};

static const struct flow keep[] = {
	{ "10.0.0.11", "10.0.0.3", IPPROTO_TCP, 40000, 5432 }, /* ingress, allowed */
	{ "fd00::11", "fd00::3", IPPROTO_TCP, 40000, 5432 },   /* ingress, allowed, v6 */
	{ "10.0.0.11", "10.0.0.3", IPPROTO_UDP, 40000, 7000 }, /* ingress, allowed, UDP */
	{ "10.0.0.3", "10.9.1.1", IPPROTO_UDP, 50000, 53 },    /* egress, allowed */
	{ "fd00::3", "fd09::1", IPPROTO_UDP, 50000, 53 },      /* egress, allowed, v6 */
	{ "10.0.0.50", "10.0.0.51", IPPROTO_TCP, 1, 22 },      /* not db's */
	{ "fd00::50", "fd00::51", IPPROTO_TCP, 1, 22 },	       /* not db's, v6 */
	{ "10.0.0.50", "10.0.0.51", IPPROTO_ICMP, 7, 0 },      /* not db's, ICMP */
	{ "10.0.0.3", "10.0.0.3", IPPROTO_TCP, 33000, 22 },    /* db to itself (lo) */
	{ "fd00::3", "fd00::3", IPPROTO_UDP, 33000, 9 },       /* db to itself, v6 */
};

static const struct flow cut[] = {
	{ "10.0.0.11", "10.0.0.3", IPPROTO_TCP, 40001, 22 },	/* ingress: port */
	{ "10.0.0.11", "10.0.0.3", IPPROTO_UDP, 40001, 5432 },	/* ingress: protocol */
	{ "10.0.0.99", "10.0.0.3", IPPROTO_TCP, 40002, 5432 },	/* ingress: peer */
	{ "fd00::99", "fd00::3", IPPROTO_TCP, 40002, 5432 },	/* ingress: peer, v6 */
	{ "10.0.0.3", "10.9.1.1", IPPROTO_TCP, 50001, 80 },	/* egress: port */
	{ "10.0.0.3", "10.9.1.1", IPPROTO_UDP, 50002, 54 },	/* egress: port, UDP */
	{ "fd00::3", "2001:db8::1", IPPROTO_TCP, 50001, 443 },	/* egress: peer, v6 */
	{ "10.0.0.11", "10.0.0.3", IPPROTO_ICMP, 7, 0 },	/* ingress ICMP: rule has ports */
	{ "fd00::3", "fd09::1", IPPROTO_ICMPV6, 9, 0 },		/* egress ICMPv6 */
	{ "10.0.0.3", "10.9.1.1", 253, 0, 0 },			/* egress, another protocol */
	{ "10.0.0.11", "10.0.0.3", IPPROTO_TCP, 40001, 22, 5 }, /* in a zone */
	{ "10.0.0.11", "10.0.0.3", IPPROTO_TCP, 40003, 22, 6, true }, /* a directional zone */
};

static void test_cut_created_entries(void **state)
{
	struct policy_plan *db = test_plan(policy, ins_eps, 3, 0);
	struct policy_plan *cache = test_plan(policy, ins_eps, 3, 2);
	struct policy_endpoint pe;
	unsigned deleted = 12345;
	int ns = -1, other = -1;

	uint64_t dumps;

	assert_int_equal(fixture_netns("ins", &ns), 0);
	assert_int_equal(fixture_netns("ins-other", &other), 0);
	assert_int_equal(ct_count(ns), 0);
	test_policy_endpoint(&ins_eps[0], &pe);
	/* An empty table is not dumped: the kernel's count says there is nothing to cut. */
	dumps = conntrack_dumps();
	assert_int_equal(conntrack_cut(ns, NULL, db, pe.addrs, pe.n_addrs, &deleted), 0);
	assert_int_equal(deleted, 0);
	assert_int_equal(conntrack_dumps(), dumps);
	test_policy_endpoint_done(&pe);
	for (size_t i = 0; i < ARRAY_SIZE(keep); i++)
		ct_insert(ns, &keep[i]);
	for (size_t i = 0; i < ARRAY_SIZE(cut); i++)
		ct_insert(ns, &cut[i]);
	/* the same denied entry in another namespace: its table is its own */
	ct_insert(other, &cut[0]);
	assert_int_equal(ct_count(ns), ARRAY_SIZE(keep) + ARRAY_SIZE(cut));
	test_policy_endpoint(&ins_eps[0], &pe);

	/* An endpoint no policy isolates: nothing is cut. */
	assert_int_equal(conntrack_cut(ns, NULL, cache, pe.addrs, pe.n_addrs, &deleted), 0);
	assert_int_equal(deleted, 0);
	assert_int_equal(ct_count(ns), ARRAY_SIZE(keep) + ARRAY_SIZE(cut));

	dumps = conntrack_dumps();
	assert_int_equal(conntrack_cut(ns, NULL, db, pe.addrs, pe.n_addrs, &deleted), 0);
	assert_int_equal(deleted, ARRAY_SIZE(cut));
	assert_true(conntrack_dumps() > dumps);
	for (size_t i = 0; i < ARRAY_SIZE(keep); i++)
		assert_int_equal(ct_exists(ns, &keep[i]), 1);
	for (size_t i = 0; i < ARRAY_SIZE(cut); i++)
		assert_int_equal(ct_exists(ns, &cut[i]), 0);
	assert_int_equal(ct_count(ns), ARRAY_SIZE(keep));
	assert_int_equal(ct_exists(other, &cut[0]), 1);

	/* Nothing more to cut. */
	assert_int_equal(conntrack_cut(ns, NULL, db, pe.addrs, pe.n_addrs, &deleted), 0);
	assert_int_equal(deleted, 0);
	assert_int_equal(ct_count(ns), ARRAY_SIZE(keep));

	test_policy_endpoint_done(&pe);
	policy_plan_free(db);
	policy_plan_free(cache);
	close(ns);
	close(other);
}

/* More denied entries than a batch: the collected ones are deleted and the table is dumped
 * again, until none is left; the count covers every pass. */
static void test_cut_past_the_batch(void **state)
{
	struct policy_plan *db = test_plan(policy, ins_eps, 3, 0);
	struct policy_endpoint pe;
	unsigned deleted = 0;
	int ns = -1;

	assert_int_equal(fixture_netns("batch", &ns), 0);
	for (uint16_t i = 0; i < 10; i++) {
		ct_insert(ns,
			  &(struct flow){ "10.0.0.99", "10.0.0.3", IPPROTO_TCP, 41000 + i, 22 });
		ct_insert(ns, &(struct flow){ "fd00::3", "fd09::7", IPPROTO_TCP, 42000 + i, 80 });
	}
	for (size_t i = 0; i < 3; i++)
		ct_insert(ns, &keep[i]);
	test_policy_endpoint(&ins_eps[0], &pe);
	assert_int_equal(conntrack_cut_batched(ns, NULL, db, pe.addrs, pe.n_addrs, 3, &deleted), 0);
	assert_int_equal(deleted, 20);
	assert_int_equal(ct_count(ns), 3);
	for (uint16_t i = 0; i < 5; i++)
		ct_insert(ns, &(struct flow){ "10.0.0.98", "10.0.0.3", IPPROTO_UDP, 41000 + i, 9 });
	assert_int_equal(conntrack_cut_batched(ns, NULL, db, pe.addrs, pe.n_addrs, 1, &deleted), 0);
	assert_int_equal(deleted, 5);
	assert_int_equal(ct_count(ns), 3);
	test_policy_endpoint_done(&pe);
	policy_plan_free(db);
	close(ns);
}

static void test_errors(void **state)
{
	struct policy_plan *db = test_plan(policy, ins_eps, 3, 0);
	struct policy_endpoint pe;
	unsigned deleted = 77, n = 77;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	test_policy_endpoint(&ins_eps[0], &pe);
	assert_int_equal(conntrack_cut(-1, NULL, db, pe.addrs, pe.n_addrs, &deleted), -EBADF);
	assert_int_equal(conntrack_count(-1, &n), -EBADF);
	assert_true(fd >= 0);
	assert_int_equal(conntrack_cut(fd, NULL, NULL, pe.addrs, pe.n_addrs, &deleted), -EINVAL);
	/* not a namespace: setns() refuses it */
	assert_int_equal(conntrack_cut(fd, NULL, db, pe.addrs, pe.n_addrs, &deleted), -EINVAL);
	assert_int_equal(conntrack_count(fd, &n), -EINVAL);
	/* nothing written on failure */
	assert_int_equal(deleted, 77);
	assert_int_equal(n, 77);
	close(fd);
	test_policy_endpoint_done(&pe);
	policy_plan_free(db);
}

/* ---- odd messages ---------------------------------------------------------------------------- */

static struct nlmsghdr *msg_start(char *buf, size_t size, int family)
{
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;

	memset(buf, 0, size);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = (uint8_t)family;
	return nlh;
}

/* CTA_TUPLE_ORIG { CTA_TUPLE_IP { src, dst of addr_len bytes (v4: 0 or 4) } CTA_TUPLE_PROTO {
 * num, ports when given } } */
static void put_tuple(struct nlmsghdr *nlh, bool v6, size_t addr_len, uint8_t proto, int sport,
		      int dport)
{
	static const uint8_t a[16] = { 10, 0, 0, 1 }, b[16] = { 10, 0, 0, 2 };
	struct nlattr *t = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG), *n;

	n = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	mnl_attr_put(nlh, v6 ? CTA_IP_V6_SRC : CTA_IP_V4_SRC, addr_len, a);
	mnl_attr_put(nlh, v6 ? CTA_IP_V6_DST : CTA_IP_V4_DST, addr_len, b);
	mnl_attr_nest_end(nlh, n);
	n = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, proto);
	if (sport >= 0)
		mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons((uint16_t)sport));
	if (dport >= 0)
		mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons((uint16_t)dport));
	mnl_attr_nest_end(nlh, n);
	mnl_attr_nest_end(nlh, t);
}

static void test_odd_messages_are_skipped(void **state)
{
	char buf[512];
	struct nlmsghdr *nlh;
	struct conntrack_flow f;

	/* a good one */
	nlh = msg_start(buf, sizeof(buf), AF_INET);
	put_tuple(nlh, false, 4, IPPROTO_TCP, 1000, 80);
	mnl_attr_put_u32(nlh, CTA_ID, htonl(99));
	assert_int_equal(conntrack_flow_parse(nlh, &f), 0);
	assert_int_equal(f.family, AF_INET);
	assert_int_equal(f.proto, IPPROTO_TCP);
	assert_memory_equal(f.src, ((uint8_t[16]){ 10, 0, 0, 1 }), 16);
	assert_memory_equal(f.dst, ((uint8_t[16]){ 10, 0, 0, 2 }), 16);
	assert_true(f.has_ports);
	assert_int_equal(f.sport, 1000);
	assert_int_equal(f.dport, 80);
	assert_true(f.has_id);
	assert_int_equal(f.id, 99);

	/* another subsystem's message, another message type, no room for the nfgenmsg */
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK_EXP << 8) | IPCTNL_MSG_CT_NEW;
	assert_int_equal(conntrack_flow_parse(nlh, &f), -EBADMSG);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
	assert_int_equal(conntrack_flow_parse(nlh, &f), -EBADMSG);
	nlh = msg_start(buf, sizeof(buf), AF_INET);
	nlh->nlmsg_len = NLMSG_HDRLEN + 2;
	assert_int_equal(conntrack_flow_parse(nlh, &f), -EBADMSG);
	/* no tuple */
	nlh = msg_start(buf, sizeof(buf), AF_INET);
	mnl_attr_put_u32(nlh, CTA_STATUS, htonl(8));
	assert_int_equal(conntrack_flow_parse(nlh, &f), -EBADMSG);
	/* a family that is neither */
	nlh = msg_start(buf, sizeof(buf), AF_BRIDGE);
	put_tuple(nlh, false, 4, IPPROTO_TCP, 1, 2);
	assert_int_equal(conntrack_flow_parse(nlh, &f), -EBADMSG);
	/* IPv6 addresses in an IPv4 message */
	nlh = msg_start(buf, sizeof(buf), AF_INET);
	put_tuple(nlh, true, 16, IPPROTO_TCP, 1, 2);
	assert_int_equal(conntrack_flow_parse(nlh, &f), -EBADMSG);
	/* addresses of the wrong size */
	nlh = msg_start(buf, sizeof(buf), AF_INET);
	put_tuple(nlh, false, 2, IPPROTO_TCP, 1, 2);
	assert_int_equal(conntrack_flow_parse(nlh, &f), -EBADMSG);
	nlh = msg_start(buf, sizeof(buf), AF_INET6);
	put_tuple(nlh, true, 4, IPPROTO_TCP, 1, 2);
	assert_int_equal(conntrack_flow_parse(nlh, &f), -EBADMSG);
	/* no addresses at all */
	nlh = msg_start(buf, sizeof(buf), AF_INET);
	put_tuple(nlh, false, 0, IPPROTO_TCP, 1, 2);
	assert_int_equal(conntrack_flow_parse(nlh, &f), -EBADMSG);
	/* TCP or UDP with a port missing, ICMP without type, code and id */
	nlh = msg_start(buf, sizeof(buf), AF_INET);
	put_tuple(nlh, false, 4, IPPROTO_TCP, 1, -1);
	assert_int_equal(conntrack_flow_parse(nlh, &f), -EBADMSG);
	nlh = msg_start(buf, sizeof(buf), AF_INET);
	put_tuple(nlh, false, 4, IPPROTO_UDP, -1, -1);
	assert_int_equal(conntrack_flow_parse(nlh, &f), -EBADMSG);
	nlh = msg_start(buf, sizeof(buf), AF_INET);
	put_tuple(nlh, false, 4, IPPROTO_ICMP, -1, -1);
	assert_int_equal(conntrack_flow_parse(nlh, &f), -EBADMSG);
	/* ICMPv6 in an IPv4 entry */
	nlh = msg_start(buf, sizeof(buf), AF_INET);
	put_tuple(nlh, false, 4, IPPROTO_ICMPV6, -1, -1);
	assert_int_equal(conntrack_flow_parse(nlh, &f), -EBADMSG);
	/* a nested attribute claiming more than its message: never read past it */
	nlh = msg_start(buf, sizeof(buf), AF_INET);
	put_tuple(nlh, false, 4, IPPROTO_TCP, 1, 2);
	((struct nlattr *)mnl_nlmsg_get_payload_offset(nlh, sizeof(struct nfgenmsg)))->nla_len =
		400;
	assert_int_equal(conntrack_flow_parse(nlh, &f), -EBADMSG);
	/* a protocol without ports: only its number */
	nlh = msg_start(buf, sizeof(buf), AF_INET);
	put_tuple(nlh, false, 4, 253, -1, -1);
	assert_int_equal(conntrack_flow_parse(nlh, &f), 0);
	assert_false(f.has_ports);
	assert_false(f.has_icmp);
	assert_false(f.has_id);
}

static void test_flow_direction(void **state)
{
	struct policy_plan *db = test_plan(policy, ins_eps, 3, 0);
	struct policy_endpoint pe;
	struct conntrack_flow f = { .family = AF_INET, .proto = IPPROTO_TCP, .has_ports = true };
	const uint8_t own[4] = { 10, 0, 0, 3 }, web[4] = { 10, 0, 0, 11 }, far[4] = { 1, 1, 1, 1 };

	test_policy_endpoint(&ins_eps[0], &pe);
	/* towards db from web on 5432: ingress, allowed; on 22: denied */
	memcpy(f.src, web, 4);
	memcpy(f.dst, own, 4);
	f.dport = 5432;
	assert_int_equal(conntrack_flow_denied(&f, db, pe.addrs, pe.n_addrs), 0);
	f.dport = 22;
	assert_int_equal(conntrack_flow_denied(&f, db, pe.addrs, pe.n_addrs), 1);
	/* the same tuple, but db has no address: not db's flow */
	assert_int_equal(conntrack_flow_denied(&f, db, NULL, 0), 0);
	/* from db to web on 5432/TCP: egress, denied (only 53/UDP goes out) */
	memcpy(f.src, own, 4);
	memcpy(f.dst, web, 4);
	f.dport = 5432;
	assert_int_equal(conntrack_flow_denied(&f, db, pe.addrs, pe.n_addrs), 1);
	f.proto = IPPROTO_UDP;
	f.dport = 53;
	assert_int_equal(conntrack_flow_denied(&f, db, pe.addrs, pe.n_addrs), 0);
	/* the source port does not matter */
	f.sport = 53;
	f.dport = 40000;
	assert_int_equal(conntrack_flow_denied(&f, db, pe.addrs, pe.n_addrs), 1);
	/* db to itself, strangers among themselves */
	memcpy(f.dst, own, 4);
	assert_int_equal(conntrack_flow_denied(&f, db, pe.addrs, pe.n_addrs), 0);
	memcpy(f.src, far, 4);
	memcpy(f.dst, web, 4);
	assert_int_equal(conntrack_flow_denied(&f, db, pe.addrs, pe.n_addrs), 0);
	/* the same bytes in the other family are not db's address */
	f.family = AF_INET6;
	memcpy(f.src, own, 4);
	assert_int_equal(conntrack_flow_denied(&f, db, pe.addrs, pe.n_addrs), 0);
	test_policy_endpoint_done(&pe);
	policy_plan_free(db);
}

/* ---- real traffic ---------------------------------------------------------------------------- */

static socklen_t sockaddr_of(const char *addr, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family_of(addr) == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, addr, &sin->sin_addr), 1);
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	assert_int_equal(inet_pton(AF_INET6, addr, &sin6->sin6_addr), 1);
	return sizeof(*sin6);
}

/* One UDP flow that has seen an answer (conntrack: established), client to server. */
struct udp_flow {
	int client, server;
	struct sockaddr_storage client_addr; /* as the server saw it */
	socklen_t client_len;
};

static void udp_flow_open(struct udp_flow *u, int client_ns, const char *client_addr, int server_ns,
			  const char *server_addr, uint16_t port)
{
	struct timeval tv = { .tv_sec = 10 }; /* a failure, never a wait */
	struct sockaddr_storage ss;
	socklen_t len;
	char b[8];

	assert_int_equal(netns_socket(client_ns, family_of(client_addr), SOCK_DGRAM, 0, &u->client),
			 0);
	assert_int_equal(netns_socket(server_ns, family_of(server_addr), SOCK_DGRAM, 0, &u->server),
			 0);
	assert_int_equal(setsockopt(u->client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(setsockopt(u->server, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	len = sockaddr_of(client_addr, 0, &ss);
	assert_int_equal(bind(u->client, (struct sockaddr *)&ss, len), 0);
	len = sockaddr_of(server_addr, port, &ss);
	assert_int_equal(bind(u->server, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(connect(u->client, (struct sockaddr *)&ss, len), 0);

	assert_int_equal(send(u->client, "ping", 4, 0), 4);
	u->client_len = sizeof(u->client_addr);
	assert_int_equal(recvfrom(u->server, b, sizeof(b), 0, (struct sockaddr *)&u->client_addr,
				  &u->client_len),
			 4);
	assert_int_equal(sendto(u->server, "pong", 4, 0, (struct sockaddr *)&u->client_addr,
				u->client_len),
			 4);
	assert_int_equal(recv(u->client, b, sizeof(b), 0), 4);
	assert_memory_equal(b, "pong", 4);
}

static void udp_flow_close(struct udp_flow *u)
{
	close(u->client);
	close(u->server);
}

/* 0 if a datagram from the client leaves, else -errno: a drop by the output chain of the
 * sender's namespace is -EPERM, within send() (no waiting on anything). */
static int udp_send(const struct udp_flow *u, bool from_server)
{
	ssize_t n = from_server ? sendto(u->server, "more", 4, 0,
					 (const struct sockaddr *)&u->client_addr, u->client_len)
				: send(u->client, "more", 4, 0);

	return n == 4 ? 0 : n < 0 ? -errno : -EIO;
}

/*
 * ep (db: 10.7.0.1, fd07::1) and peer (web: 10.7.0.2, fd07::2) over a veth pair. With an
 * open table in ep (tracking connections), four UDP flows per family become established: ep to
 * peer on 53 and 5353, peer to ep on 7000 and 7001. The tight table then allows only 53 out
 * and 7000 in, yet the flows on 5353 and 7001 still pass (their entries accept them); cutting
 * deletes exactly those entries, and then they stop.
 */
static void test_cut_real_traffic(void **state)
{
	static const char *const ep_addr[2] = { "10.7.0.1", "fd07::1" };
	static const char *const peer_addr[2] = { "10.7.0.2", "fd07::2" };
	const struct test_endpoint eps[] = {
		{ "ep", "shop", "app=db", "10.7.0.1,fd07::1", NULL },
		{ "peer", "shop", "app=web", "10.7.0.2,fd07::2", NULL },
		{ "ep", "shop", "app=none", "10.7.0.1,fd07::1", NULL },
	};
	static const struct policy_emit_options opts = { 0 };
	struct policy_plan *tight = test_plan(policy, eps, 2, 0);
	struct policy_plan *loose = test_plan(policy, &eps[1], 2, 1);
	struct udp_flow out_ok[2], out_cut[2], in_ok[2], in_cut[2];
	struct nft_error err = { 0 };
	struct nft_sock *s = NULL;
	struct policy_endpoint pe;
	unsigned deleted = 0;
	int ep = -1, peer = -1;

	assert_false(loose->isolated[POLICY_DIR_INGRESS] || loose->isolated[POLICY_DIR_EGRESS]);
	assert_int_equal(fixture_netns("ep", &ep), 0);
	assert_int_equal(fixture_netns("peer", &peer), 0);
	assert_int_equal(fixture_veth(ep, "10.7.0.1/24", peer, "10.7.0.2/24"), 0);
	/* the first veth pair of this process (fixture.c names them); no DAD: usable at once */
	assert_int_equal(fixture_run_in(ep,
					(const char *const[]){ "ip", "addr", "add", "fd07::1/64",
							       "dev", "fxa0", "nodad", NULL }),
			 0);
	assert_int_equal(fixture_run_in(peer,
					(const char *const[]){ "ip", "addr", "add", "fd07::2/64",
							       "dev", "fxb0", "nodad", NULL }),
			 0);
	assert_int_equal(nft_sock_open(NULL, ep, &s), 0);
	assert_int_equal(nft_replace_table(s, loose, &opts, &err), 0);

	for (int i = 0; i < 2; i++) {
		udp_flow_open(&out_ok[i], ep, ep_addr[i], peer, peer_addr[i], 53);
		udp_flow_open(&out_cut[i], ep, ep_addr[i], peer, peer_addr[i], 5353);
		udp_flow_open(&in_ok[i], peer, peer_addr[i], ep, ep_addr[i], 7000);
		udp_flow_open(&in_cut[i], peer, peer_addr[i], ep, ep_addr[i], 7001);
	}
	/* the entries are ep's alone: peer has no ruleset, so nothing tracks there */
	assert_int_equal(ct_count(ep), 8);
	assert_int_equal(ct_count(peer), 0);

	/* The tight ruleset: the established flows it denies still pass. */
	assert_int_equal(nft_replace_table(s, tight, &opts, &err), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(udp_send(&out_cut[i], false), 0);
		assert_int_equal(udp_send(&in_cut[i], true), 0);
	}

	test_policy_endpoint(&eps[0], &pe);
	assert_int_equal(conntrack_cut(ep, NULL, tight, pe.addrs, pe.n_addrs, &deleted), 0);
	assert_int_equal(deleted, 4);
	assert_int_equal(ct_count(ep), 4);
	for (int i = 0; i < 2; i++) {
		/* cut: ep's next datagram is a new flow its egress chain drops */
		assert_int_equal(udp_send(&out_cut[i], false), -EPERM);
		assert_int_equal(udp_send(&in_cut[i], true), -EPERM);
		/* kept */
		assert_int_equal(udp_send(&out_ok[i], false), 0);
		assert_int_equal(udp_send(&in_ok[i], true), 0);
	}
	for (int i = 0; i < 2; i++) {
		udp_flow_close(&out_ok[i]);
		udp_flow_close(&out_cut[i]);
		udp_flow_close(&in_ok[i]);
		udp_flow_close(&in_cut[i]);
	}
	test_policy_endpoint_done(&pe);
	nft_sock_free(s);
	policy_plan_free(tight);
	policy_plan_free(loose);
	close(ep);
	close(peer);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cut_created_entries),
		cmocka_unit_test(test_cut_past_the_batch),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_odd_messages_are_skipped),
		cmocka_unit_test(test_flow_direction),
		cmocka_unit_test(test_cut_real_traffic),
	};

	fixture_enter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
