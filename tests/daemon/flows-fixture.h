/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The flow-log tests' fixture (include after <cmocka.h> and "unit.h"): hand-built IPv4/IPv6
 * headers with transport ports; batches of nfnetlink NFULNL_MSG_PACKET messages built with
 * libmnl, recorded as one datagram with flows_record(), the way an endpoint's NFLOG socket delivers
 * them; and the logging endpoint's world (its plan, a lookup naming the other end).
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>

#include <libmnl/libmnl.h>

#include "flows.h"

/* An IPv4 header (ihl words) of proto from src to dst, then the two ports (when >= 0). */
static inline size_t ip4(uint8_t *p, unsigned ihl, const char *src, const char *dst, uint8_t proto,
			 int sport, int dport)
{
	size_t off = ihl * 4u;

	memset(p, 0, off + 8);
	p[0] = (uint8_t)(0x40 | ihl);
	p[8] = 64;
	p[9] = proto;
	assert_int_equal(inet_pton(AF_INET, src, p + 12), 1);
	assert_int_equal(inet_pton(AF_INET, dst, p + 16), 1);
	if (sport < 0)
		return off;
	p[off] = (uint8_t)(sport >> 8);
	p[off + 1] = (uint8_t)sport;
	p[off + 2] = (uint8_t)(dport >> 8);
	p[off + 3] = (uint8_t)dport;
	return off + 8;
}

static inline size_t ip6(uint8_t *p, const char *src, const char *dst, uint8_t proto, int sport,
			 int dport)
{
	memset(p, 0, 48);
	p[0] = 0x60;
	p[6] = proto;
	p[7] = 64;
	assert_int_equal(inet_pton(AF_INET6, src, p + 8), 1);
	assert_int_equal(inet_pton(AF_INET6, dst, p + 24), 1);
	if (sport < 0)
		return 40;
	p[40] = (uint8_t)(sport >> 8);
	p[41] = (uint8_t)sport;
	p[42] = (uint8_t)(dport >> 8);
	p[43] = (uint8_t)dport;
	return 48;
}

struct batch {
	char buf[65536];
	size_t len;
};

/* Appends one NFULNL_MSG_PACKET: prefix (NULL: none; raw: without its NUL), payload. */
static inline void put_msg(struct batch *b, uint16_t type, const char *prefix, bool raw,
			   const uint8_t *payload, size_t n)
{
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;

	assert_true(b->len + 512 < sizeof(b->buf));
	nlh = mnl_nlmsg_put_header(b->buf + b->len);
	nlh->nlmsg_type = type;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = htons(FLOWS_NFLOG_GROUP);
	mnl_attr_put_u16(nlh, NFULA_HWTYPE, htons(1));
	if (prefix && raw)
		mnl_attr_put(nlh, NFULA_PREFIX, strlen(prefix), prefix);
	else if (prefix)
		mnl_attr_put_strz(nlh, NFULA_PREFIX, prefix);
	if (payload)
		mnl_attr_put(nlh, NFULA_PAYLOAD, n, payload);
	b->len += nlh->nlmsg_len;
}

#define PACKET_TYPE ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET)

static inline void put_packet(struct batch *b, const char *prefix, const uint8_t *payload, size_t n)
{
	put_msg(b, PACKET_TYPE, prefix, false, payload, n);
}

/* The world of the endpoint that logs: web (10.0.0.1, fd00::1) in shop. */
struct world {
	struct policy_objects *objs;
	struct policy_endpoint eps[3];
	struct policy_endpoint *ptrs[3];
	struct policy_label labels[3];
	struct policy_addr addrs[3][2];
	struct policy_plan *plan;
	struct flow_party self;
	struct flows *f;
	int fds[2];
	unsigned lookups;
};

static inline bool lookup(int family, const uint8_t *addr, struct flow_party *ret, void *userdata)
{
	struct world *w = userdata;

	w->lookups++;
	for (size_t i = 0; i < 3; i++)
		for (size_t k = 0; k < w->eps[i].n_addrs; k++)
			if (w->eps[i].addrs[k].family == family &&
			    memcmp(w->eps[i].addrs[k].addr, addr, family == AF_INET ? 4 : 16) ==
				    0) {
				*ret = (struct flow_party){ .name = w->eps[i].name,
							    .namespace = w->eps[i].namespace,
							    .labels = &w->eps[i].labels };
				return true;
			}
	return false;
}

#define WORLD_POLICIES                                                                \
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"                     \
	"metadata: {name: web-in, namespace: shop}\n"                                 \
	"spec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Ingress]\n" \
	"  ingress: [{from: [{podSelector: {matchLabels: {app: client}}}],"           \
	" ports: [{port: 80}]}]\n"                                                    \
	"---\n"                                                                       \
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"                     \
	"metadata: {name: deny-in, namespace: shop}\n"                                \
	"spec:\n  podSelector: {}\n  policyTypes: [Ingress]\n"                        \
	"---\n"                                                                       \
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"                     \
	"metadata: {name: web-out, namespace: shop}\n"                                \
	"spec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Egress]\n"  \
	"  egress: [{to: [{podSelector: {matchLabels: {app: db}}}], ports: [{port: 5432}]}]\n"

static inline void world_init(struct world *w, const char *file, uint64_t max)
{
	static const struct {
		const char *name, *app, *a4, *a6;
	} def[3] = { { "web", "web", "10.0.0.1", "fd00::1" },
		     { "client", "client", "10.0.0.2", "fd00::2" },
		     { "db", "db", "10.0.0.3", "fd00::3" } };
	struct policy_world pw;

	memset(w, 0, sizeof(*w));
	w->objs = objects_parse(WORLD_POLICIES);
	for (size_t i = 0; i < 3; i++) {
		struct policy_endpoint *e = &w->eps[i];

		e->name = (char *)def[i].name;
		e->namespace = (char *)"shop";
		w->labels[i] = (struct policy_label){ (char *)"app", (char *)def[i].app };
		e->labels = (struct policy_labels){ &w->labels[i], 1 };
		w->addrs[i][0].family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, def[i].a4, w->addrs[i][0].addr), 1);
		w->addrs[i][1].family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, def[i].a6, w->addrs[i][1].addr), 1);
		e->addrs = w->addrs[i];
		e->n_addrs = 2;
		w->ptrs[i] = e;
	}
	pw = (struct policy_world){ .netpols = w->objs->netpols,
				    .n_netpols = w->objs->n_netpols,
				    .endpoints = w->ptrs,
				    .n_endpoints = 3 };
	assert_int_equal(policy_compile(&pw, &w->eps[0], POLICY_DENY_DROP, &w->plan), 0);
	w->self = (struct flow_party){ .name = "web",
				       .namespace = "shop",
				       .labels = &w->eps[0].labels };
	assert_int_equal(flows_new(file, max, &w->f), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, w->fds),
			 0);
}

static inline void world_done(struct world *w)
{
	close(w->fds[0]);
	close(w->fds[1]);
	flows_free(w->f);
	policy_plan_free(w->plan);
	policy_objects_free(w->objs);
}

/* Records the batch as one datagram, as flows_read() records each it reads from the kernel. */
static inline void feed(struct world *w, struct batch *b)
{
	assert_int_equal(flows_record(w->f, b->buf, b->len, &w->self, w->plan, lookup, w), 0);
	b->len = 0;
}

/* The index in plan->rules of the first rule of direction dir. */
static inline size_t first_rule(const struct policy_plan *p, enum policy_dir dir)
{
	for (size_t i = 0; i < p->n_rules; i++)
		if (p->rules[i].dir == dir)
			return i;
	fail_msg("no %s rule", policy_dir_to_string(dir));
	return 0;
}

static inline json_t *all_records(struct world *w)
{
	struct flows_filter q = { 0 };
	json_t *o = flows_query(w->f, &q);

	assert_non_null(o);
	return o;
}
