/* SPDX-License-Identifier: MIT */
/*
 * Reading plans (explain.c): names of families and protocols, isolating policies, the ports
 * rules name, port lists, pair verdicts across address families, one flow through one plan
 * (any IP protocol), set elements and rules as text, and the diff of two plans. Plans are
 * compiled from a small world, or built by hand where a corner needs it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "macro.h"
#include "policy/policy.h"

/*
 * x/db-in: db takes 5432/TCP from web. x/web-out: web sends to db on 5432 and 8000-8080, to
 * anyone on 53/UDP, and to 192.168.0.0/16 except 192.168.1.0/24 on any port (IPv4 only).
 * `port` is the db-in port, so that a second world can differ in it.
 */
#define POLICIES                                                   \
	"apiVersion: networking.k8s.io/v1\n"                       \
	"kind: NetworkPolicy\n"                                    \
	"metadata: {name: db-in, namespace: x}\n"                  \
	"spec:\n"                                                  \
	"  podSelector: {matchLabels: {app: db}}\n"                \
	"  policyTypes: [Ingress]\n"                               \
	"  ingress:\n"                                             \
	"  - from: [{podSelector: {matchLabels: {app: web}}}]\n"   \
	"    ports: [{port: %u}]\n"                                \
	"---\n"                                                    \
	"apiVersion: networking.k8s.io/v1\n"                       \
	"kind: NetworkPolicy\n"                                    \
	"metadata: {name: web-out, namespace: x}\n"                \
	"spec:\n"                                                  \
	"  podSelector: {matchLabels: {app: web}}\n"               \
	"  policyTypes: [Egress]\n"                                \
	"  egress:\n"                                              \
	"  - to: [{podSelector: {matchLabels: {app: db}}}]\n"      \
	"    ports: [{port: 5432}, {port: 8000, endPort: 8080}]\n" \
	"  - ports: [{port: 53, protocol: UDP}]\n"                 \
	"  - to: [{ipBlock: {cidr: 192.168.0.0/16, except: [192.168.1.0/24]}}]\n"

enum { WEB, DB, CACHE, V6, EXT, N_EPS };

struct world {
	struct policy_objects *objs;
	struct policy_endpoint eps[N_EPS];
	struct policy_endpoint *ptrs[N_EPS];
	struct policy_label labels[N_EPS];
	struct policy_addr addrs[N_EPS][2];
	struct policy_world w;
	struct policy_plan *plans[N_EPS];
};

static void set_addr(struct policy_addr *a, const char *s)
{
	a->family = strchr(s, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(a->family, s, a->addr), 1);
}

/* db's IPv4 address is db_addr; the db-in policy's port is db_port. */
static void world_init(struct world *w, const char *db_addr, unsigned db_port)
{
	static const struct {
		const char *name, *app, *a, *b;
	} def[N_EPS] = {
		[WEB] = { "web", "web", "10.0.0.1", "fd00::1" },
		[DB] = { "db", "db", NULL, "fd00::2" },
		[CACHE] = { "cache", "cache", "10.0.0.3", NULL },
		[V6] = { "v6", "v6", "fd00::4", NULL },
		[EXT] = { "ext", "ext", "192.168.0.5", "fd00::5" },
	};
	struct policy_diags d = { 0 };
	char text[2048];

	memset(w, 0, sizeof(*w));
	snprintf(text, sizeof(text), POLICIES, db_port);
	assert_int_equal(policy_parse("t.yaml", text, strlen(text), &w->objs, &d), 0);
	for (size_t i = 0; i < N_EPS; i++) {
		struct policy_endpoint *e = &w->eps[i];

		e->name = (char *)def[i].name;
		e->namespace = (char *)"x";
		w->labels[i] = (struct policy_label){ (char *)"app", (char *)def[i].app };
		e->labels = (struct policy_labels){ &w->labels[i], 1 };
		set_addr(&w->addrs[i][0], i == DB ? db_addr : def[i].a);
		e->n_addrs = 1;
		if (def[i].b)
			set_addr(&w->addrs[i][e->n_addrs++], def[i].b);
		e->addrs = w->addrs[i];
		w->ptrs[i] = e;
	}
	w->w = (struct policy_world){ .netpols = w->objs->netpols,
				      .n_netpols = w->objs->n_netpols,
				      .endpoints = w->ptrs,
				      .n_endpoints = N_EPS };
	for (size_t i = 0; i < N_EPS; i++)
		assert_int_equal(policy_compile(&w->w, &w->eps[i], POLICY_DENY_DROP, &w->plans[i]),
				 0);
}

static void world_done(struct world *w)
{
	for (size_t i = 0; i < N_EPS; i++)
		policy_plan_free(w->plans[i]);
	policy_objects_free(w->objs);
}

static void test_names(void **state)
{
	assert_string_equal(policy_family_to_string(AF_INET), "ipv4");
	assert_string_equal(policy_family_to_string(AF_INET6), "ipv6");
	assert_string_equal(policy_family_to_string(AF_UNSPEC), "any");
	assert_string_equal(policy_family_to_string(AF_UNIX), "any");

	assert_string_equal(policy_ipproto_to_string(1), "ICMP");
	assert_string_equal(policy_ipproto_to_string(6), "TCP");
	assert_string_equal(policy_ipproto_to_string(17), "UDP");
	assert_string_equal(policy_ipproto_to_string(58), "ICMPv6");
	assert_string_equal(policy_ipproto_to_string(132), "SCTP");
	assert_null(policy_ipproto_to_string(0));
	assert_null(policy_ipproto_to_string(2));
	assert_null(policy_ipproto_to_string(41));
	assert_null(policy_ipproto_to_string(255));
}

static void test_isolating(void **state)
{
	char *names[3] = { (char *)"a/in", (char *)"a/out", (char *)"a/both" };
	unsigned types[3] = { POLICY_TYPE_INGRESS, POLICY_TYPE_EGRESS,
			      POLICY_TYPE_INGRESS | POLICY_TYPE_EGRESS };
	struct policy_plan p = { .selected_by = names,
				 .selected_types = types,
				 .n_selected_by = 3 };
	const char *out[3] = { NULL };
	struct world w;

	assert_int_equal(policy_plan_isolating(&p, POLICY_DIR_INGRESS, out), 2);
	assert_string_equal(out[0], "a/in");
	assert_string_equal(out[1], "a/both");
	assert_int_equal(policy_plan_isolating(&p, POLICY_DIR_EGRESS, out), 2);
	assert_string_equal(out[0], "a/out");
	assert_string_equal(out[1], "a/both");
	/* no types recorded: every selecting policy counts */
	p.selected_types = NULL;
	assert_int_equal(policy_plan_isolating(&p, POLICY_DIR_EGRESS, out), 3);
	assert_string_equal(out[2], "a/both");
	assert_int_equal(policy_plan_isolating(NULL, POLICY_DIR_INGRESS, out), 0);

	world_init(&w, "10.0.0.2", 5432);
	assert_int_equal(policy_plan_isolating(w.plans[WEB], POLICY_DIR_EGRESS, out), 1);
	assert_string_equal(out[0], "x/web-out");
	assert_int_equal(policy_plan_isolating(w.plans[WEB], POLICY_DIR_INGRESS, out), 0);
	assert_int_equal(policy_plan_isolating(w.plans[DB], POLICY_DIR_INGRESS, out), 1);
	assert_string_equal(out[0], "x/db-in");
	assert_int_equal(policy_plan_isolating(w.plans[CACHE], POLICY_DIR_INGRESS, out), 0);
	world_done(&w);
}

static void test_plan_ports(void **state)
{
	struct policy_l4 ports[8] = { { 53, POLICY_PROTO_UDP } };
	struct world w;
	size_t n;

	world_init(&w, "10.0.0.2", 5432);
	/* 5432 and 8000 (a range by its first port) once each; 53/UDP is there already; the
	 * ipBlock rule names no port */
	n = policy_plan_ports(w.plans[WEB], ports, 1, 8);
	assert_int_equal(n, 3);
	assert_int_equal(ports[1].port, 5432);
	assert_int_equal(ports[1].proto, POLICY_PROTO_TCP);
	assert_int_equal(ports[2].port, 8000);
	assert_int_equal(ports[2].proto, POLICY_PROTO_TCP);
	/* adding the same plan again adds nothing */
	assert_int_equal(policy_plan_ports(w.plans[WEB], ports, n, 8), 3);
	/* up to max */
	assert_int_equal(policy_plan_ports(w.plans[WEB], ports, 0, 2), 2);
	assert_int_equal(policy_plan_ports(w.plans[WEB], ports, 2, 2), 2);
	assert_int_equal(policy_plan_ports(w.plans[CACHE], ports, 1, 8), 1);
	assert_int_equal(policy_plan_ports(NULL, ports, 1, 8), 1);
	world_done(&w);
}

static void test_l4_sort(void **state)
{
	struct policy_l4 p[] = { { 80, POLICY_PROTO_UDP }, { 443, POLICY_PROTO_TCP },
				 { 9, POLICY_PROTO_SCTP }, { 80, POLICY_PROTO_TCP },
				 { 53, POLICY_PROTO_UDP }, { 65535, POLICY_PROTO_TCP } };

	policy_l4_sort(p, 6);
	assert_true(p[0].proto == POLICY_PROTO_TCP && p[0].port == 80);
	assert_true(p[1].proto == POLICY_PROTO_TCP && p[1].port == 443);
	assert_true(p[2].proto == POLICY_PROTO_TCP && p[2].port == 65535);
	assert_true(p[3].proto == POLICY_PROTO_UDP && p[3].port == 53);
	assert_true(p[4].proto == POLICY_PROTO_UDP && p[4].port == 80);
	assert_true(p[5].proto == POLICY_PROTO_SCTP && p[5].port == 9);
	policy_l4_sort(NULL, 0);
}

static void expect_l4_list(const char *spec, size_t max, int want_r, const char *want)
{
	struct policy_l4 ports[8];
	size_t n = 4242;
	char got[256] = "";
	int r = policy_l4_list_parse(spec, ports, max, &n);

	if (r != want_r)
		fail_msg("policy_l4_list_parse(\"%s\", %zu) = %d, want %d", spec ? spec : "(null)",
			 max, r, want_r);
	if (r < 0) {
		assert_int_equal(n, 4242); /* untouched */
		return;
	}
	for (size_t i = 0; i < n; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%u/%s", i ? "," : "",
			 ports[i].port, policy_proto_to_string(ports[i].proto));
	assert_string_equal(got, want);
}

static void test_l4_list(void **state)
{
	expect_l4_list(NULL, 8, 0, "");
	expect_l4_list("", 8, 0, "");
	expect_l4_list("", 0, 0, "");
	expect_l4_list("80", 8, 0, "80/TCP");
	expect_l4_list("80,53/udp,9/SCTP,65535", 8, 0, "80/TCP,53/UDP,9/SCTP,65535/TCP");
	expect_l4_list("80,80/tcp,80/TCP,80/udp", 8, 0, "80/TCP,80/UDP");
	expect_l4_list("00000000000080", 8, 0, "80/TCP");
	/* at the limit, and a duplicate past it is still no new port */
	expect_l4_list("1,2", 2, 0, "1/TCP,2/TCP");
	expect_l4_list("1,2,2,1/tcp", 2, 0, "1/TCP,2/TCP");
	expect_l4_list("1,2,3", 2, -E2BIG, NULL);
	expect_l4_list("1", 0, -E2BIG, NULL);

	expect_l4_list("80,", 8, -EINVAL, NULL);
	expect_l4_list(",80", 8, -EINVAL, NULL);
	expect_l4_list("80,,81", 8, -EINVAL, NULL);
	expect_l4_list(",", 8, -EINVAL, NULL);
	expect_l4_list("0", 8, -EINVAL, NULL);
	expect_l4_list("65536", 8, -EINVAL, NULL);
	expect_l4_list("80/icmp", 8, -EINVAL, NULL);
	expect_l4_list("http", 8, -EINVAL, NULL);
	expect_l4_list("80, 81", 8, -EINVAL, NULL);
	expect_l4_list("000000000000080", 8, 0, "80/TCP");    /* an item of 15 characters */
	expect_l4_list("0000000000000080", 8, -EINVAL, NULL); /* and of 16 */
	expect_l4_list("80/tcp,81/sctpx", 8, -EINVAL, NULL);
}

static void test_pair_allowed(void **state)
{
	const struct policy_l4 pg = { 5432, POLICY_PROTO_TCP }, alt = { 8000, POLICY_PROTO_TCP },
			       other = { 5433, POLICY_PROTO_TCP }, dns = { 53, POLICY_PROTO_UDP },
			       any = { 9999, POLICY_PROTO_TCP }, bad = { 80, _POLICY_PROTO_MAX };
	struct world w;
	bool known;

#define PAIR(a, b, p)                                                                  \
	(known = false,                                                                \
	 policy_pair_allowed(w.plans[a], w.eps[a].addrs, w.eps[a].n_addrs, w.plans[b], \
			     w.eps[b].addrs, w.eps[b].n_addrs, &(p), &known))

	world_init(&w, "10.0.0.2", 5432);
	/* both directions allow it, in both families */
	assert_int_equal(PAIR(WEB, DB, pg), 1);
	assert_true(known);
	/* web's egress allows 8000, db's ingress does not */
	assert_int_equal(PAIR(WEB, DB, alt), 0);
	assert_true(known);
	/* web's egress does not allow 5433 */
	assert_int_equal(PAIR(WEB, DB, other), 0);
	/* nobody isolates db's egress or web's ingress */
	assert_int_equal(PAIR(DB, WEB, other), 1);
	/* db's ingress only admits web */
	assert_int_equal(PAIR(CACHE, DB, pg), 0);
	assert_true(known);
	/* 53/UDP to anyone, in any family */
	assert_int_equal(PAIR(WEB, CACHE, dns), 1);
	assert_int_equal(PAIR(WEB, V6, dns), 1);
	assert_true(known);
	assert_int_equal(PAIR(WEB, V6, pg), 0);
	assert_true(known);
	/* IPv4 only vs IPv6 only: unknown, and not allowed */
	assert_int_equal(PAIR(CACHE, V6, pg), 0);
	assert_false(known);
	assert_int_equal(PAIR(V6, CACHE, dns), 0);
	assert_false(known);
	/* ext: IPv4 is allowed (ipBlock, any port), IPv6 is not: every shared family must allow */
	assert_int_equal(PAIR(WEB, EXT, any), 0);
	assert_true(known);
	{
		/* the IPv4 address alone is allowed */
		known = false;
		assert_int_equal(policy_pair_allowed(w.plans[WEB], w.eps[WEB].addrs, 1,
						     w.plans[EXT], w.eps[EXT].addrs, 1, &any,
						     &known),
				 1);
		assert_true(known);
	}
	/* a port the evaluator refuses */
	assert_int_equal(PAIR(WEB, DB, bad), -EINVAL);
#undef PAIR
	world_done(&w);
}

static struct policy_addr addr(const char *s)
{
	struct policy_addr a = { 0 };

	set_addr(&a, s);
	return a;
}

/* policy_plan_allows() for one flow, `peer` as text. */
static int allows(const struct policy_plan *plan, enum policy_dir dir, const char *peer,
		  uint8_t ipproto, uint16_t port)
{
	struct policy_addr a = addr(peer);

	return policy_plan_allows(plan, dir, &a, ipproto, port);
}
#define ALLOWS(plan, dir, peer, ipproto, port) \
	allows((plan), POLICY_DIR_##dir, (peer), (ipproto), (port))

static void test_plan_allows(void **state)
{
	struct world w;

	world_init(&w, "10.0.0.2", 5432);
	/* not isolated: cache has no policy, db's egress and web's ingress are not isolated */
	assert_int_equal(ALLOWS(w.plans[CACHE], INGRESS, "10.9.9.9", IPPROTO_TCP, 22), 1);
	assert_int_equal(ALLOWS(w.plans[CACHE], EGRESS, "fd00::99", IPPROTO_ICMPV6, 0), 1);
	assert_int_equal(ALLOWS(w.plans[DB], EGRESS, "10.9.9.9", IPPROTO_UDP, 9), 1);
	assert_int_equal(ALLOWS(w.plans[WEB], INGRESS, "10.0.0.3", 47, 0), 1);

	/* a selector peer: db takes web on 5432/TCP, in both families, and nothing else */
	assert_int_equal(ALLOWS(w.plans[DB], INGRESS, "10.0.0.1", IPPROTO_TCP, 5432), 1);
	assert_int_equal(ALLOWS(w.plans[DB], INGRESS, "fd00::1", IPPROTO_TCP, 5432), 1);
	assert_int_equal(ALLOWS(w.plans[DB], INGRESS, "10.0.0.1", IPPROTO_TCP, 5433), 0);
	assert_int_equal(ALLOWS(w.plans[DB], INGRESS, "10.0.0.1", IPPROTO_UDP, 5432), 0);
	assert_int_equal(ALLOWS(w.plans[DB], INGRESS, "10.0.0.1", IPPROTO_SCTP, 5432), 0);
	assert_int_equal(ALLOWS(w.plans[DB], INGRESS, "10.0.0.3", IPPROTO_TCP, 5432), 0);
	assert_int_equal(ALLOWS(w.plans[DB], INGRESS, "fd00::5", IPPROTO_TCP, 5432), 0);

	/* a port range: web reaches db on 5432 and 8000-8080 */
	assert_int_equal(ALLOWS(w.plans[WEB], EGRESS, "10.0.0.2", IPPROTO_TCP, 8000), 1);
	assert_int_equal(ALLOWS(w.plans[WEB], EGRESS, "10.0.0.2", IPPROTO_TCP, 8080), 1);
	assert_int_equal(ALLOWS(w.plans[WEB], EGRESS, "fd00::2", IPPROTO_TCP, 8042), 1);
	assert_int_equal(ALLOWS(w.plans[WEB], EGRESS, "10.0.0.2", IPPROTO_TCP, 7999), 0);
	assert_int_equal(ALLOWS(w.plans[WEB], EGRESS, "10.0.0.2", IPPROTO_TCP, 8081), 0);
	assert_int_equal(ALLOWS(w.plans[WEB], EGRESS, "10.0.0.2", IPPROTO_UDP, 8000), 0);

	/* ipBlock 192.168.0.0/16 except 192.168.1.0/24, any port and protocol, IPv4 only; 53/UDP
	 * to anyone in both families */
	assert_int_equal(ALLOWS(w.plans[WEB], EGRESS, "192.168.0.5", IPPROTO_TCP, 1), 1);
	assert_int_equal(ALLOWS(w.plans[WEB], EGRESS, "192.168.255.255", IPPROTO_UDP, 9), 1);
	assert_int_equal(ALLOWS(w.plans[WEB], EGRESS, "192.168.1.0", IPPROTO_TCP, 1), 0);
	assert_int_equal(ALLOWS(w.plans[WEB], EGRESS, "192.168.1.255", IPPROTO_TCP, 1), 0);
	assert_int_equal(ALLOWS(w.plans[WEB], EGRESS, "192.168.1.7", IPPROTO_UDP, 53), 1);
	assert_int_equal(ALLOWS(w.plans[WEB], EGRESS, "192.169.0.0", IPPROTO_TCP, 1), 0);
	assert_int_equal(ALLOWS(w.plans[WEB], EGRESS, "fd00::99", IPPROTO_UDP, 53), 1);
	assert_int_equal(ALLOWS(w.plans[WEB], EGRESS, "fd00::99", IPPROTO_TCP, 53), 0);

	/* ICMP, ICMPv6 and other protocols pass a rule naming no ports only */
	assert_int_equal(ALLOWS(w.plans[WEB], EGRESS, "192.168.0.5", IPPROTO_ICMP, 0), 1);
	assert_int_equal(ALLOWS(w.plans[WEB], EGRESS, "192.168.0.5", 47, 0), 1);
	assert_int_equal(ALLOWS(w.plans[WEB], EGRESS, "192.168.1.5", IPPROTO_ICMP, 0), 0);
	assert_int_equal(ALLOWS(w.plans[WEB], EGRESS, "10.0.0.2", IPPROTO_ICMP, 0), 0);
	assert_int_equal(ALLOWS(w.plans[WEB], EGRESS, "10.0.0.2", IPPROTO_ICMP, 5432), 0);
	assert_int_equal(ALLOWS(w.plans[WEB], EGRESS, "fd00::2", IPPROTO_ICMPV6, 0), 0);
	assert_int_equal(ALLOWS(w.plans[WEB], EGRESS, "fd00::5", IPPROTO_ICMPV6, 0), 0);
	assert_int_equal(ALLOWS(w.plans[DB], INGRESS, "10.0.0.1", IPPROTO_ICMP, 0), 0);
	/* the ipBlock rule is IPv4: nothing of it reaches an IPv6 peer */
	assert_int_equal(ALLOWS(w.plans[WEB], EGRESS, "fd00::5", IPPROTO_TCP, 1), 0);

	/* what the evaluator refuses */
	assert_int_equal(ALLOWS(NULL, EGRESS, "10.0.0.2", IPPROTO_TCP, 1), -EINVAL);
	assert_int_equal(allows(w.plans[WEB], _POLICY_DIR_MAX, "10.0.0.2", IPPROTO_TCP, 1),
			 -EINVAL);
	assert_int_equal(policy_plan_allows(w.plans[WEB], POLICY_DIR_EGRESS,
					    &(struct policy_addr){ .family = AF_UNIX }, 6, 1),
			 -EINVAL);
	world_done(&w);
}

/* Isolated with no rule for the direction (a deny-all), by hand: everything is denied. */
static void test_plan_allows_isolated_without_rules(void **state)
{
	struct policy_plan p = { .isolated = { [POLICY_DIR_INGRESS] = true } };

	assert_int_equal(ALLOWS(&p, INGRESS, "10.0.0.1", IPPROTO_TCP, 80), 0);
	assert_int_equal(ALLOWS(&p, INGRESS, "fd00::1", IPPROTO_ICMPV6, 0), 0);
	assert_int_equal(ALLOWS(&p, EGRESS, "10.0.0.1", IPPROTO_TCP, 80), 1);
}

/* Named ports, resolved by the compiler: ingress against the endpoint's own ports, egress per
 * destination endpoint. */
static void test_plan_allows_named_ports(void **state)
{
	static const char text[] = "apiVersion: networking.k8s.io/v1\n"
				   "kind: NetworkPolicy\n"
				   "metadata: {name: api, namespace: x}\n"
				   "spec:\n"
				   "  podSelector: {matchLabels: {app: api}}\n"
				   "  ingress: [{ports: [{port: http}]}]\n"
				   "---\n"
				   "apiVersion: networking.k8s.io/v1\n"
				   "kind: NetworkPolicy\n"
				   "metadata: {name: client, namespace: x}\n"
				   "spec:\n"
				   "  podSelector: {matchLabels: {app: client}}\n"
				   "  policyTypes: [Egress]\n"
				   "  egress:\n"
				   "  - to: [{podSelector: {matchLabels: {app: api}}}]\n"
				   "    ports: [{port: http}]\n";
	struct policy_objects *objs = NULL;
	struct policy_diags d = { 0 };
	struct policy_named_port ports[2] = { { (char *)"http", POLICY_PROTO_TCP, 8080 },
					      { (char *)"http", POLICY_PROTO_TCP, 9090 } };
	struct policy_label labels[3] = { { (char *)"app", (char *)"api" },
					  { (char *)"app", (char *)"api" },
					  { (char *)"app", (char *)"client" } };
	struct policy_addr addrs[3] = { addr("10.1.0.1"), addr("10.1.0.2"), addr("fd01::3") };
	struct policy_endpoint eps[3];
	struct policy_endpoint *ptrs[3] = { &eps[0], &eps[1], &eps[2] };
	struct policy_plan *plans[3];
	struct policy_world w;

	assert_int_equal(policy_parse("t.yaml", text, strlen(text), &objs, &d), 0);
	for (size_t i = 0; i < 3; i++)
		eps[i] = (struct policy_endpoint){ .name = (char *)(i == 0   ? "api1"
								    : i == 1 ? "api2"
									     : "client"),
						   .namespace = (char *)"x",
						   .labels = { &labels[i], 1 },
						   .addrs = &addrs[i],
						   .n_addrs = 1,
						   .ports = i < 2 ? &ports[i] : NULL,
						   .n_ports = i < 2 ? 1 : 0 };
	w = (struct policy_world){ .netpols = objs->netpols,
				   .n_netpols = objs->n_netpols,
				   .endpoints = ptrs,
				   .n_endpoints = 3 };
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(policy_compile(&w, &eps[i], POLICY_DENY_DROP, &plans[i]), 0);

	assert_int_equal(ALLOWS(plans[0], INGRESS, "fd01::3", IPPROTO_TCP, 8080), 1);
	assert_int_equal(ALLOWS(plans[0], INGRESS, "fd01::3", IPPROTO_TCP, 9090), 0);
	assert_int_equal(ALLOWS(plans[1], INGRESS, "10.9.9.9", IPPROTO_TCP, 9090), 1);
	assert_int_equal(ALLOWS(plans[1], INGRESS, "10.9.9.9", IPPROTO_TCP, 8080), 0);
	assert_int_equal(ALLOWS(plans[1], INGRESS, "10.9.9.9", IPPROTO_UDP, 9090), 0);
	/* the client's http is 8080 at the first api endpoint and 9090 at the second */
	assert_int_equal(ALLOWS(plans[2], EGRESS, "10.1.0.1", IPPROTO_TCP, 8080), 1);
	assert_int_equal(ALLOWS(plans[2], EGRESS, "10.1.0.1", IPPROTO_TCP, 9090), 0);
	assert_int_equal(ALLOWS(plans[2], EGRESS, "10.1.0.2", IPPROTO_TCP, 9090), 1);
	assert_int_equal(ALLOWS(plans[2], EGRESS, "10.1.0.2", IPPROTO_TCP, 8080), 0);
	assert_int_equal(ALLOWS(plans[2], EGRESS, "10.1.0.3", IPPROTO_TCP, 8080), 0);
	for (size_t i = 0; i < 3; i++)
		policy_plan_free(plans[i]);
	policy_objects_free(objs);
}

/* policy_plan_allows() and policy_plan_evaluate() agree on one flow of TCP, UDP or SCTP. */
static void agree(const struct policy_plan *plan, enum policy_dir dir, const char *peer,
		  enum policy_proto proto, uint16_t port)
{
	struct policy_addr a = addr(peer);
	struct policy_verdict v;

	assert_int_equal(policy_plan_evaluate(plan, dir, &a, proto, port, &v), 0);
	assert_int_equal(policy_plan_allows(plan, dir, &a, policy_proto_ipproto(proto), port),
			 v.allowed);
	policy_verdict_done(&v);
}

/* One evaluator: every endpoint's plan, both directions, peers and ports around the rules'
 * edges. */
static void test_plan_allows_agrees_with_evaluate(void **state)
{
	static const char *const peers[] = { "10.0.0.1", "10.0.0.2", "192.168.1.1", "192.168.2.1",
					     "fd00::1",	 "fd00::2",  "fd00::5",	    "8.8.8.8" };
	static const uint16_t ports[] = { 1, 53, 5431, 5432, 5433, 7999, 8000, 8080, 8081 };
	struct world w;

	world_init(&w, "10.0.0.2", 5432);
	for (size_t i = 0; i < N_EPS * _POLICY_DIR_MAX * _POLICY_PROTO_MAX; i++)
		for (size_t a = 0; a < ARRAY_SIZE(peers); a++)
			for (size_t k = 0; k < ARRAY_SIZE(ports); k++)
				agree(w.plans[i % N_EPS], i / N_EPS % _POLICY_DIR_MAX, peers[a],
				      i / N_EPS / _POLICY_DIR_MAX, ports[k]);
	world_done(&w);
}

static void test_set_elem_text(void **state)
{
	struct policy_set_elem e = { { 10, 0, 0, 1 }, { 10, 0, 0, 1 } };
	struct policy_set hash = { .name = (char *)"h",
				   .family = AF_INET,
				   .elems = &e,
				   .n_elems = 1 };
	struct policy_set iv = { .name = (char *)"i", .family = AF_INET, .interval = true };
	struct policy_set v6 = { .name = (char *)"v6", .family = AF_INET6, .interval = true };
	struct policy_set bad = { .name = (char *)"b", .family = AF_UNIX };
	char buf[128];

	assert_int_equal(policy_set_elem_text(&hash, &e, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "10.0.0.1");
	/* exactly the text and its NUL */
	assert_int_equal(policy_set_elem_text(&hash, &e, buf, 9), 0);
	assert_string_equal(buf, "10.0.0.1");
	assert_int_equal(policy_set_elem_text(&hash, &e, buf, 8), -ENOBUFS);
	assert_int_equal(policy_set_elem_text(&hash, &e, buf, 0), -ENOBUFS);
	/* an interval of one address reads as the address */
	assert_int_equal(policy_set_elem_text(&iv, &e, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "10.0.0.1");
	e.end[3] = 255;
	assert_int_equal(policy_set_elem_text(&iv, &e, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "10.0.0.1-10.0.0.255");
	assert_int_equal(policy_set_elem_text(&iv, &e, buf, 19), -ENOBUFS);
	assert_int_equal(policy_set_elem_text(&iv, &e, buf, 20), 0);
	/* a hash set shows the start only */
	assert_int_equal(policy_set_elem_text(&hash, &e, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "10.0.0.1");

	memset(&e, 0, sizeof(e));
	e.start[0] = 0xfd;
	e.end[0] = 0xfd;
	e.end[15] = 0xff;
	assert_int_equal(policy_set_elem_text(&v6, &e, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "fd00::-fd00::ff");
	assert_int_equal(policy_set_elem_text(&bad, &e, buf, sizeof(buf)), -EINVAL);
}

static void expect_rule_text(const struct policy_plan *p, size_t i, const char *want)
{
	char *s = policy_plan_rule_text(p, &p->rules[i]);

	assert_non_null(s);
	assert_string_equal(s, want);
	free(s);
}

static void test_rule_text(void **state)
{
	struct policy_set sets[1] = { { .name = (char *)"i0_p4", .family = AF_INET } };
	struct policy_plan_rule rules[] = {
		{ .dir = POLICY_DIR_INGRESS,
		  .family = AF_UNSPEC,
		  .set = -1,
		  .comment = (char *)"a/b ingress[1]" },
		{ .dir = POLICY_DIR_EGRESS,
		  .family = AF_INET6,
		  .set = -1,
		  .has_proto = true,
		  .proto = POLICY_PROTO_TCP },
		{ .dir = POLICY_DIR_INGRESS,
		  .family = AF_INET,
		  .set = 0,
		  .has_proto = true,
		  .proto = POLICY_PROTO_SCTP,
		  .port_lo = 1,
		  .port_hi = 65535,
		  .comment = (char *)"c" },
		{ .dir = POLICY_DIR_INGRESS,
		  .family = AF_INET,
		  .set = 1,
		  .has_proto = true,
		  .proto = POLICY_PROTO_UDP,
		  .port_lo = 53,
		  .port_hi = 53,
		  .comment = (char *)"d" },
	};
	struct policy_plan p = { .sets = sets, .n_sets = 1, .rules = rules, .n_rules = 4 };
	struct world w;

	expect_rule_text(&p, 0, "a/b ingress[1]: any family from anyone any port");
	expect_rule_text(&p, 1, "?: ipv6 to anyone TCP any port");
	expect_rule_text(&p, 2, "c: ipv4 from @i0_p4 SCTP/1-65535");
	/* a set index out of range names no set */
	expect_rule_text(&p, 3, "d: ipv4 from anyone UDP/53");

	world_init(&w, "10.0.0.2", 5432);
	assert_int_equal(w.plans[WEB]->n_rules, 6);
	expect_rule_text(w.plans[WEB], 0, "x/web-out egress[0]: ipv4 to @e0_p4 TCP/5432");
	expect_rule_text(w.plans[WEB], 1, "x/web-out egress[0]: ipv4 to @e0_p4 TCP/8000-8080");
	expect_rule_text(w.plans[WEB], 3, "x/web-out egress[0]: ipv6 to @e0_p6 TCP/8000-8080");
	expect_rule_text(w.plans[WEB], 4, "x/web-out egress[1]: any family to anyone UDP/53");
	expect_rule_text(w.plans[WEB], 5, "x/web-out egress[2]: ipv4 to @e2_c4 any port");
	expect_rule_text(w.plans[DB], 1, "x/db-in ingress[0]: ipv6 from @i0_p6 TCP/5432");
	world_done(&w);
}

static void test_elems_minus(void **state)
{
	struct policy_set_elem ea[4] = { 0 }, eb[3] = { 0 };
	struct policy_set a = { .name = (char *)"s", .elems = ea, .n_elems = 4 };
	struct policy_set b = { .name = (char *)"s", .elems = eb, .n_elems = 3 };
	struct policy_set empty = { .name = (char *)"s" };
	const struct policy_set_elem *out[4];
	const uint8_t av[4] = { 1, 2, 3, 5 }, bv[3] = { 2, 5, 7 };

	for (size_t i = 0; i < 4; i++)
		ea[i].start[3] = ea[i].end[3] = av[i];
	for (size_t i = 0; i < 3; i++)
		eb[i].start[3] = eb[i].end[3] = bv[i];
	assert_int_equal(policy_set_elems_minus(&a, &b, out), 2);
	assert_ptr_equal(out[0], &ea[0]);
	assert_ptr_equal(out[1], &ea[2]);
	assert_int_equal(policy_set_elems_minus(&b, &a, out), 1);
	assert_ptr_equal(out[0], &eb[2]);
	assert_int_equal(policy_set_elems_minus(&a, NULL, out), 4);
	assert_ptr_equal(out[3], &ea[3]);
	assert_int_equal(policy_set_elems_minus(&a, &a, out), 0);
	assert_int_equal(policy_set_elems_minus(&empty, &a, out), 0);
	assert_int_equal(policy_set_elems_minus(&a, &empty, out), 4);
	assert_int_equal(policy_set_elems_minus(NULL, &a, out), 0);
	/* an element whose end differs is another element */
	eb[0].end[3] = 3;
	assert_int_equal(policy_set_elems_minus(&a, &b, out), 3);
}

/* "set:elem,elem;set:..." of a delta list */
static void elems_text(const struct policy_elems_delta *d, size_t n, char *buf, size_t size)
{
	buf[0] = 0;
	for (size_t i = 0; i < n; i++) {
		snprintf(buf + strlen(buf), size - strlen(buf), "%s%s:", i ? ";" : "",
			 d[i].set->name);
		for (size_t k = 0; k < d[i].n_elems; k++) {
			char e[96];

			assert_int_equal(policy_set_elem_text(d[i].set, d[i].elems[k], e,
							      sizeof(e)),
					 0);
			snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", k ? "," : "", e);
		}
	}
}

static void test_plan_diff(void **state)
{
	struct policy_plan_diff d;
	struct world w, moved, port;
	char buf[512];

	world_init(&w, "10.0.0.2", 5432);
	world_init(&moved, "10.0.0.9", 5432);
	world_init(&port, "10.0.0.2", 5433);

	/* nothing before: everything is added */
	assert_int_equal(policy_plan_diff(NULL, w.plans[WEB], &d), 0);
	assert_int_equal(d.n_rules_added, 6);
	assert_string_equal(d.rules_added[0], "x/web-out egress[0]: ipv4 to @e0_p4 TCP/5432");
	assert_string_equal(d.rules_added[5], "x/web-out egress[2]: ipv4 to @e2_c4 any port");
	assert_int_equal(d.n_rules_removed, 0);
	elems_text(d.elems_added, d.n_elems_added, buf, sizeof(buf));
	assert_string_equal(buf, "e0_p4:10.0.0.2;e0_p6:fd00::2;"
				 "e2_c4:192.168.0.0-192.168.0.255,192.168.2.0-192.168.255.255");
	assert_int_equal(d.n_elems_removed, 0);
	policy_plan_diff_done(&d);
	assert_int_equal(d.n_rules_added, 0);
	assert_null(d.rules_added);

	/* and the other way round */
	assert_int_equal(policy_plan_diff(w.plans[DB], NULL, &d), 0);
	assert_int_equal(d.n_rules_added, 0);
	assert_int_equal(d.n_rules_removed, 2);
	assert_string_equal(d.rules_removed[1], "x/db-in ingress[0]: ipv6 from @i0_p6 TCP/5432");
	elems_text(d.elems_removed, d.n_elems_removed, buf, sizeof(buf));
	assert_string_equal(buf, "i0_p4:10.0.0.1;i0_p6:fd00::1");
	assert_int_equal(d.n_elems_added, 0);
	policy_plan_diff_done(&d);

	/* the same plan: nothing */
	assert_int_equal(policy_plan_diff(w.plans[WEB], w.plans[WEB], &d), 0);
	assert_int_equal(d.n_rules_added + d.n_rules_removed + d.n_elems_added + d.n_elems_removed,
			 0);
	policy_plan_diff_done(&d);
	assert_int_equal(policy_plan_diff(NULL, NULL, &d), 0);
	assert_int_equal(d.n_rules_added + d.n_rules_removed + d.n_elems_added + d.n_elems_removed,
			 0);
	policy_plan_diff_done(&d);

	/* db moved: the same rules, one element out and one in */
	assert_int_equal(policy_plan_diff(w.plans[WEB], moved.plans[WEB], &d), 0);
	assert_int_equal(d.n_rules_added, 0);
	assert_int_equal(d.n_rules_removed, 0);
	elems_text(d.elems_added, d.n_elems_added, buf, sizeof(buf));
	assert_string_equal(buf, "e0_p4:10.0.0.9");
	elems_text(d.elems_removed, d.n_elems_removed, buf, sizeof(buf));
	assert_string_equal(buf, "e0_p4:10.0.0.2");
	/* the deltas point into the plans they came from */
	assert_ptr_equal(d.elems_added[0].set, &moved.plans[WEB]->sets[0]);
	assert_ptr_equal(d.elems_removed[0].set, &w.plans[WEB]->sets[0]);
	policy_plan_diff_done(&d);

	/* db-in's port changed: its rules change, its sets do not */
	assert_int_equal(policy_plan_diff(w.plans[DB], port.plans[DB], &d), 0);
	assert_int_equal(d.n_rules_added, 2);
	assert_int_equal(d.n_rules_removed, 2);
	assert_string_equal(d.rules_added[0], "x/db-in ingress[0]: ipv4 from @i0_p4 TCP/5433");
	assert_string_equal(d.rules_removed[0], "x/db-in ingress[0]: ipv4 from @i0_p4 TCP/5432");
	assert_int_equal(d.n_elems_added + d.n_elems_removed, 0);
	policy_plan_diff_done(&d);

	world_done(&w);
	world_done(&moved);
	world_done(&port);
}

/* What matrices and diffs cost, counted before the work; the budget check. */
static void test_cells(void **state)
{
	/* n endpoints: n * (n - 1) ordered pairs, each on every port */
	assert_int_equal(policy_matrix_cells(0, 4), 0);
	assert_int_equal(policy_matrix_cells(1, 4), 0);
	assert_int_equal(policy_matrix_cells(2, 1), 2);
	assert_int_equal(policy_matrix_cells(500, 4), 998000);
	assert_int_equal(policy_matrix_cells(3, 0), 0);
	/* saturates instead of wrapping around to a small number */
	assert_true(policy_matrix_cells(SIZE_MAX, 2) == UINT64_MAX);
	assert_true(policy_matrix_cells((size_t)1 << 32, 64) == UINT64_MAX);

	/* a diff: pairs with a changed end, evaluated before and after */
	assert_int_equal(policy_diff_cells(0, 100, 4), 0);
	assert_int_equal(policy_diff_cells(1, 1, 4), 0);
	/* one changed of 3: it to the 2 others and back, 4 pairs */
	assert_int_equal(policy_diff_cells(1, 3, 1), 2 * 4);
	/* all changed: every ordered pair once */
	assert_int_equal(policy_diff_cells(100, 100, 1), 2 * 100 * 99);
	assert_int_equal(policy_diff_cells(3, 10, 2), 2 * (2 * 3 * 9 - 3 * 2) * 2);
	/* more changed than evaluated (new endpoints have no plan before): as many as evaluated */
	assert_int_equal(policy_diff_cells(50, 10, 1), policy_diff_cells(10, 10, 1));
	assert_true(policy_diff_cells(SIZE_MAX, SIZE_MAX, 1) == UINT64_MAX);

	assert_true(policy_cells_fit(0, 0));
	assert_true(policy_cells_fit(250000, 250000));
	assert_false(policy_cells_fit(250001, 250000));
	assert_false(policy_cells_fit(UINT64_MAX, UINT64_MAX - 1));
	assert_false(policy_cells_fit(policy_matrix_cells(500, 4), 250000));
	assert_true(policy_cells_fit(policy_matrix_cells(250, 4), 250000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_isolating),
		cmocka_unit_test(test_plan_ports),
		cmocka_unit_test(test_l4_sort),
		cmocka_unit_test(test_l4_list),
		cmocka_unit_test(test_pair_allowed),
		cmocka_unit_test(test_cells),
		cmocka_unit_test(test_plan_allows),
		cmocka_unit_test(test_plan_allows_isolated_without_rules),
		cmocka_unit_test(test_plan_allows_named_ports),
		cmocka_unit_test(test_plan_allows_agrees_with_evaluate),
		cmocka_unit_test(test_set_elem_text),
		cmocka_unit_test(test_rule_text),
		cmocka_unit_test(test_elems_minus),
		cmocka_unit_test(test_plan_diff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
