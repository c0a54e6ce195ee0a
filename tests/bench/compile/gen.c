/* SPDX-License-Identifier: MIT */
/*
 * The seeded world generator of benchmark (a) and of the differential unit test (gen.h).
 *
 * Benchmark mix (wide = false; the draws must stay as they are, or published numbers stop
 * being reproducible): namespaces ns0..ns{K-1} with labels team=t{i%4} and env; endpoints
 * with 6-10 labels from keys k0..k{nkeys-1}, values v1..v{nvalues} drawn Zipf(s=1), an IPv4
 * address (10.x.y.z, unique) and, for 30%, an IPv6 one; 0-2 named TCP ports (http, metrics,
 * grpc). Policies: podSelector kA=vR (R in 1..4); 1-4 peers over 1-2 rules of the policy's
 * types (Ingress 60%, Egress 20%, both 20%); a peer is a podSelector of kind matchLabels / In
 * / NotIn(+matchLabels) / Exists(+matchLabels), with a namespaceSelector 20% of the time, or an
 * ipBlock (15%, some with except, some IPv6); ports: none, numeric, range, protocol-only or
 * named.
 *
 * Wide mix (wide = true), meant for small worlds (few keys, values and namespaces, so that
 * selectors select something): endpoints with 0-4 labels; no address, IPv4, IPv6, both, or
 * two IPv4; sometimes the address of the endpoint before (a stale registry entry); 0-4 named
 * ports over TCP, UDP and SCTP. The last namespace has no Namespace object (only its implicit
 * name label), and some namespaces have no team label. Policies: podSelector {} or with
 * expressions; policyTypes given or defaulted; 0-3 rules per direction, some without peers,
 * ports or both; peers with every selector operator, empty selectors, namespaceSelector alone
 * or with a podSelector (on team, env or kubernetes.io/metadata.name); ipBlocks over the
 * endpoints' own addresses, with nested excepts, /0 and host prefixes, both families; ports
 * over TCP, UDP and SCTP: numeric, endPort ranges, protocol only, named, protocol defaulted;
 * now and then a name long enough that the rule comments are shortened.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "gen.h"

struct buf {
	char *p;
	size_t n, a;
};

struct gen {
	struct gen_params p;
	uint64_t rs;
	double *zcdf;
	struct buf b;
};

/* ---- random numbers ------------------------------------------------------------------------- */

static uint64_t rnd(struct gen *g)
{
	g->rs ^= g->rs << 13;
	g->rs ^= g->rs >> 7;
	g->rs ^= g->rs << 17;
	return g->rs;
}

static unsigned rn(struct gen *g, unsigned n)
{
	return (unsigned)(rnd(g) % n);
}

/* 1..n_values, Zipf(s=1) */
static unsigned zipf(struct gen *g)
{
	double u = (double)(rnd(g) >> 11) / (double)(1ull << 53);

	for (unsigned i = 0; i < g->p.n_values; i++)
		if (u <= g->zcdf[i])
			return i + 1;
	return g->p.n_values;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		abort();
	return p;
}

/* ---- growing text buffer -------------------------------------------------------------------- */

static void bp(struct gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bp(struct gen *g, const char *fmt, ...)
{
	struct buf *b = &g->b;
	va_list ap;
	int k;

	if (!b->p) {
		b->a = 65536;
		b->p = malloc(b->a);
		if (!b->p)
			abort();
	}
	for (;;) {
		va_start(ap, fmt);
		k = vsnprintf(b->p + b->n, b->a - b->n, fmt, ap);
		va_end(ap);
		if (k < 0)
			abort();
		if ((size_t)k < b->a - b->n) {
			b->n += (size_t)k;
			return;
		}
		b->a *= 2;
		b->p = realloc(b->p, b->a);
		if (!b->p)
			abort();
	}
}

/* ---- endpoints ------------------------------------------------------------------------------ */

static const char *const pnames[4] = { "http", "metrics", "grpc", "dns" };

static void set_v4(struct policy_addr *a, uint8_t second, unsigned i)
{
	a->family = AF_INET;
	a->addr[0] = 10;
	a->addr[1] = second ? second : (uint8_t)(i >> 16);
	a->addr[2] = (uint8_t)(i >> 8);
	a->addr[3] = (uint8_t)i;
}

static void set_v6(struct policy_addr *a, unsigned i)
{
	a->family = AF_INET6;
	a->addr[0] = 0xfd;
	a->addr[13] = (uint8_t)(i >> 16);
	a->addr[14] = (uint8_t)(i >> 8);
	a->addr[15] = (uint8_t)i;
}

static void gen_labels(struct gen *g, struct policy_endpoint *e, unsigned nl)
{
	bool *used = xcalloc(g->p.n_keys, sizeof(bool));
	char k[16], v[16];

	for (unsigned j = 0; j < nl;) {
		unsigned key = rn(g, g->p.n_keys);

		if (used[key])
			continue;
		used[key] = true;
		j++;
		snprintf(k, sizeof(k), "k%u", key);
		snprintf(v, sizeof(v), "v%u", zipf(g));
		if (policy_labels_set(&e->labels, k, v) < 0)
			abort();
	}
	free(used);
}

static struct policy_endpoint *gen_endpoint(struct gen *g, unsigned i)
{
	struct policy_endpoint *e = xcalloc(1, sizeof(*e));
	unsigned nl = 6 + rn(g, 5);

	if (asprintf(&e->name, "ep%u", i) < 0 ||
	    asprintf(&e->namespace, "ns%u", rn(g, g->p.n_namespaces)) < 0)
		abort();
	gen_labels(g, e, nl);
	e->n_addrs = rn(g, 10) < 3 ? 2 : 1;
	e->addrs = xcalloc(2, sizeof(*e->addrs));
	set_v4(&e->addrs[0], 0, i);
	if (e->n_addrs == 2)
		set_v6(&e->addrs[1], i);
	e->n_ports = rn(g, 3);
	e->ports = xcalloc(3, sizeof(*e->ports));
	for (size_t j = 0; j < e->n_ports; j++) {
		e->ports[j].name = strdup(pnames[(j + i) % 3]);
		if (!e->ports[j].name)
			abort();
		e->ports[j].proto = POLICY_PROTO_TCP;
		e->ports[j].port = (uint16_t)(8000 + 10 * ((j + i) % 3) + rn(g, 3));
	}
	return e;
}

static struct policy_endpoint *gen_endpoint_wide(struct gen *g, unsigned i)
{
	static const enum policy_proto protos[4] = { POLICY_PROTO_TCP, POLICY_PROTO_TCP,
						     POLICY_PROTO_UDP, POLICY_PROTO_SCTP };
	struct policy_endpoint *e = xcalloc(1, sizeof(*e));
	unsigned nl = rn(g, (g->p.n_keys < 4 ? g->p.n_keys : 4) + 1), a = i, shape;

	if (asprintf(&e->name, "ep%u", i) < 0 ||
	    asprintf(&e->namespace, "ns%u", rn(g, g->p.n_namespaces)) < 0)
		abort();
	gen_labels(g, e, nl);

	/* one in twenty has the address of the endpoint before it */
	if (i > 0 && rn(g, 20) == 0)
		a = i - 1;
	e->addrs = xcalloc(2, sizeof(*e->addrs));
	shape = rn(g, 10);
	if (shape == 0) {
		e->n_addrs = 0;
	} else if (shape == 1) {
		set_v6(&e->addrs[0], a);
		e->n_addrs = 1;
	} else if (shape <= 3) {
		set_v4(&e->addrs[0], 0, a);
		set_v6(&e->addrs[1], a);
		e->n_addrs = 2;
	} else if (shape == 4) {
		set_v4(&e->addrs[0], 0, a);
		set_v4(&e->addrs[1], 200, a);
		e->n_addrs = 2;
	} else {
		set_v4(&e->addrs[0], 0, a);
		e->n_addrs = 1;
	}

	/* names unique per endpoint, protocols mixed: a name may be TCP here and UDP there */
	e->n_ports = rn(g, 5);
	e->ports = xcalloc(4, sizeof(*e->ports));
	for (size_t j = 0; j < e->n_ports; j++) {
		size_t k = (j + i) % 4;

		e->ports[j].name = strdup(pnames[k]);
		if (!e->ports[j].name)
			abort();
		e->ports[j].proto = protos[rn(g, 4)];
		if (k == 3)
			e->ports[j].port = rn(g, 2) ? 5353 : 53;
		else
			e->ports[j].port = (uint16_t)(8000 + 10 * k + rn(g, 3));
	}
	return e;
}

static void endpoint_free(struct policy_endpoint *e)
{
	if (!e)
		return;
	free(e->name);
	free(e->namespace);
	policy_labels_done(&e->labels);
	free(e->addrs);
	for (size_t j = 0; j < e->n_ports; j++)
		free(e->ports[j].name);
	free(e->ports);
	free(e);
}

static struct policy_namespace *gen_namespace(struct gen *g, unsigned i)
{
	struct policy_labels l = { 0 };
	struct policy_namespace *ns;
	char name[16], t[8];

	snprintf(name, sizeof(name), "ns%u", i);
	snprintf(t, sizeof(t), "t%u", i % 4);
	if (policy_labels_set(&l, POLICY_NS_NAME_LABEL, name) < 0 ||
	    ((!g->p.wide || i % 5 != 4) && policy_labels_set(&l, "team", t) < 0) ||
	    policy_labels_set(&l, "env", i % 2 ? "prod" : "dev") < 0)
		abort();
	ns = policy_namespace_new(name, &l);
	policy_labels_done(&l);
	if (!ns)
		abort();
	return ns;
}

/* ---- policies: the benchmark mix ------------------------------------------------------------ */

static void gen_selector(struct gen *g, unsigned kind)
{
	unsigned nk = g->p.n_keys;
	unsigned k1 = rn(g, nk), k2 = (k1 + 1 + rn(g, nk - 1)) % nk, r = 1 + rn(g, 8);

	switch (kind) {
	case 0:
		bp(g, "{\"matchLabels\":{\"k%u\":\"v%u\"}}", k1, r);
		break;
	case 1: /* In */
		bp(g,
		   "{\"matchExpressions\":[{\"key\":\"k%u\",\"operator\":\"In\",\"values\":"
		   "[\"v%u\",\"v%u\"]}]}",
		   k1, r + 1, r + 5);
		break;
	case 2: /* NotIn with a matchLabels that keeps it selective */
		bp(g,
		   "{\"matchLabels\":{\"k%u\":\"v%u\"},\"matchExpressions\":[{\"key\":\"k%u\","
		   "\"operator\":\"NotIn\",\"values\":[\"v1\",\"v2\"]}]}",
		   k1, r, k2);
		break;
	default: /* Exists */
		bp(g,
		   "{\"matchLabels\":{\"k%u\":\"v%u\"},\"matchExpressions\":[{\"key\":\"k%u\","
		   "\"operator\":\"Exists\"}]}",
		   k1, r, k2);
	}
}

static void gen_peer(struct gen *g)
{
	unsigned x = rn(g, 100);

	if (x < 15) {
		unsigned o = rn(g, 256), t = rn(g, 4), a, b;

		if (t == 0) {
			bp(g,
			   "{\"ipBlock\":{\"cidr\":\"fd00:%x::/32\",\"except\":[\"fd00:%x:1::/48\"]}}",
			   o, o);
		} else if (t == 1) {
			/* drawn last to first: the order gcc evaluated them in when this was one call */
			b = rn(g, 256);
			a = rn(g, 256);
			bp(g,
			   "{\"ipBlock\":{\"cidr\":\"10.%u.0.0/16\",\"except\":[\"10.%u.%u.0/24\","
			   "\"10.%u.%u.128/25\"]}}",
			   o, o, a, o, b);
		} else {
			bp(g, "{\"ipBlock\":{\"cidr\":\"172.%u.%u.0/24\"}}", 16 + rn(g, 16), o);
		}
		return;
	}
	bp(g, "{\"podSelector\":");
	gen_selector(g, rn(g, 4));
	if (rn(g, 5) == 0)
		bp(g, ",\"namespaceSelector\":{\"matchLabels\":{\"team\":\"t%u\"}}", rn(g, 4));
	bp(g, "}");
}

static void gen_ports(struct gen *g)
{
	unsigned n = rn(g, 3);

	if (n == 0)
		return;
	bp(g, ",\"ports\":[");
	for (unsigned i = 0; i < n; i++) {
		unsigned t = rn(g, 6);

		if (i)
			bp(g, ",");
		if (t == 0)
			bp(g, "{\"protocol\":\"TCP\",\"port\":%u}", 80 + rn(g, 3) * 363);
		else if (t == 1)
			bp(g, "{\"protocol\":\"TCP\",\"port\":8000,\"endPort\":%u}",
			   8100 + rn(g, 100));
		else if (t == 2)
			bp(g, "{\"protocol\":\"UDP\",\"port\":53}");
		else if (t == 3)
			bp(g, "{\"protocol\":\"UDP\"}");
		else
			bp(g, "{\"protocol\":\"TCP\",\"port\":\"%s\"}", pnames[rn(g, 3)]);
	}
	bp(g, "]");
}

static void gen_policy(struct gen *g, unsigned i)
{
	unsigned t = rn(g, 10), types = t < 6 ? 1 : t < 8 ? 2 : 3, npeers = 1 + rn(g, 4);
	unsigned nrules = npeers > 1 && rn(g, 2) ? 2 : 1;
	unsigned ns, key, value;

	/* drawn last to first: the order gcc evaluated them in when this was one call */
	value = 1 + rn(g, 4);
	key = rn(g, g->p.n_keys);
	ns = rn(g, g->p.n_namespaces);
	bp(g,
	   "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\","
	   "\"metadata\":{\"name\":\"p%u\",\"namespace\":\"ns%u\"},\"spec\":{\"podSelector\":"
	   "{\"matchLabels\":{\"k%u\":\"v%u\"}},\"policyTypes\":[%s%s%s]",
	   i, ns, key, value, types & 1 ? "\"Ingress\"" : "", types == 3 ? "," : "",
	   types & 2 ? "\"Egress\"" : "");
	for (unsigned d = 0; d < 2; d++) {
		unsigned left = npeers;

		if (!(types & (1u << d)))
			continue;
		bp(g, ",\"%s\":[", d ? "egress" : "ingress");
		for (unsigned r = 0; r < nrules; r++) {
			unsigned here = r + 1 == nrules ? left : 1 + rn(g, left - (nrules - r - 1));

			left -= here;
			bp(g, "%s{\"%s\":[", r ? "," : "", d ? "to" : "from");
			for (unsigned p = 0; p < here; p++) {
				if (p)
					bp(g, ",");
				gen_peer(g);
			}
			bp(g, "]");
			gen_ports(g);
			bp(g, "}");
		}
		bp(g, "]");
	}
	bp(g, "}}");
}

/* ---- policies: the wide mix ----------------------------------------------------------------- */

static void gen_selector_wide(struct gen *g)
{
	unsigned nk = g->p.n_keys, kind = rn(g, 8);
	unsigned k1 = rn(g, nk), k2 = nk > 1 ? (k1 + 1 + rn(g, nk - 1)) % nk : k1;
	unsigned r = 1 + rn(g, g->p.n_values + 1); /* now and then a value nobody has */

	switch (kind) {
	case 0:
		bp(g, "{}");
		break;
	case 1:
		bp(g, "{\"matchLabels\":{\"k%u\":\"v%u\"}}", k1, r);
		break;
	case 2:
		bp(g,
		   "{\"matchExpressions\":[{\"key\":\"k%u\",\"operator\":\"In\",\"values\":"
		   "[\"v%u\",\"v%u\"]}]}",
		   k1, r, r + 1);
		break;
	case 3:
		bp(g,
		   "{\"matchExpressions\":[{\"key\":\"k%u\",\"operator\":\"In\",\"values\":"
		   "[\"v%u\"]}]}",
		   k1, r);
		break;
	case 4:
		bp(g,
		   "{\"matchExpressions\":[{\"key\":\"k%u\",\"operator\":\"NotIn\",\"values\":"
		   "[\"v%u\"]}]}",
		   k1, r);
		break;
	case 5:
		bp(g, "{\"matchExpressions\":[{\"key\":\"k%u\",\"operator\":\"Exists\"}]}", k1);
		break;
	case 6:
		bp(g, "{\"matchExpressions\":[{\"key\":\"k%u\",\"operator\":\"DoesNotExist\"}]}",
		   k1);
		break;
	default:
		bp(g,
		   "{\"matchLabels\":{\"k%u\":\"v%u\"},\"matchExpressions\":[{\"key\":\"k%u\","
		   "\"operator\":\"NotIn\",\"values\":[\"v1\"]},{\"key\":\"k%u\",\"operator\":"
		   "\"Exists\"}]}",
		   k1, r, k2, k2);
	}
}

static void gen_ns_selector_wide(struct gen *g)
{
	switch (rn(g, 7)) {
	case 0:
		bp(g, "{}");
		break;
	case 1:
		bp(g, "{\"matchLabels\":{\"team\":\"t%u\"}}", rn(g, 4));
		break;
	case 2:
		bp(g, "{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"In\",\"values\":"
		      "[\"prod\"]}]}");
		break;
	case 3:
		bp(g, "{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"NotIn\",\"values\":"
		      "[\"prod\"]}]}");
		break;
	case 4:
		bp(g, "{\"matchLabels\":{\"" POLICY_NS_NAME_LABEL "\":\"ns%u\"}}",
		   rn(g, g->p.n_namespaces));
		break;
	case 5:
		bp(g, "{\"matchExpressions\":[{\"key\":\"team\",\"operator\":\"DoesNotExist\"}]}");
		break;
	default:
		bp(g, "{\"matchLabels\":{\"env\":\"dev\"},\"matchExpressions\":[{\"key\":\"team\","
		      "\"operator\":\"Exists\"}]}");
	}
}

/* Over the endpoints' own addresses (10.0.x.y, fd00::x) as well as elsewhere. */
static void gen_ipblock_wide(struct gen *g)
{
	unsigned a, b;

	switch (rn(g, 8)) {
	case 0:
		bp(g, "{\"ipBlock\":{\"cidr\":\"10.0.0.0/16\",\"except\":[\"10.0.%u.0/24\"]}}",
		   rn(g, 4));
		break;
	case 1: /* excepts that overlap each other */
		a = rn(g, 64) * 4;
		b = rn(g, 256);
		bp(g,
		   "{\"ipBlock\":{\"cidr\":\"10.0.0.0/24\",\"except\":[\"10.0.0.%u/30\","
		   "\"10.0.0.%u/32\"]}}",
		   a, b);
		break;
	case 2:
		bp(g, "{\"ipBlock\":{\"cidr\":\"0.0.0.0/0\",\"except\":[\"%s\"]}}",
		   rn(g, 2) ? "10.0.0.0/8" : "128.0.0.0/1");
		break;
	case 3:
		bp(g, "{\"ipBlock\":{\"cidr\":\"::/0\",\"except\":[\"fd00::/16\"]}}");
		break;
	case 4:
		bp(g, "{\"ipBlock\":{\"cidr\":\"fd00::/120\",\"except\":[\"fd00::%x/124\"]}}",
		   rn(g, 16) * 16);
		break;
	case 5:
		bp(g, "{\"ipBlock\":{\"cidr\":\"10.0.0.%u/32\"}}", rn(g, 256));
		break;
	case 6:
		bp(g, "{\"ipBlock\":{\"cidr\":\"fd00::%x/128\"}}", rn(g, 256));
		break;
	default:
		bp(g, "{\"ipBlock\":{\"cidr\":\"172.%u.0.0/16\"}}", 16 + rn(g, 16));
	}
}

static void gen_peer_wide(struct gen *g)
{
	unsigned x = rn(g, 100);

	if (x < 20) {
		gen_ipblock_wide(g);
	} else if (x < 35) {
		bp(g, "{\"namespaceSelector\":");
		gen_ns_selector_wide(g);
		bp(g, "}");
	} else {
		bp(g, "{\"podSelector\":");
		gen_selector_wide(g);
		if (rn(g, 4) == 0) {
			bp(g, ",\"namespaceSelector\":");
			gen_ns_selector_wide(g);
		}
		bp(g, "}");
	}
}

static void gen_ports_wide(struct gen *g)
{
	unsigned n = rn(g, 4);

	if (n == 0)
		return;
	bp(g, ",\"ports\":[");
	for (unsigned i = 0; i < n; i++) {
		if (i)
			bp(g, ",");
		switch (rn(g, 12)) {
		case 0:
			bp(g, "{\"protocol\":\"TCP\",\"port\":%u}", rn(g, 2) ? 8001 : 443);
			break;
		case 1:
			bp(g, "{\"protocol\":\"TCP\",\"port\":8000,\"endPort\":%u}",
			   8000 + rn(g, 30));
			break;
		case 2:
			bp(g, "{\"protocol\":\"UDP\",\"port\":53}");
			break;
		case 3:
			bp(g, "{\"protocol\":\"UDP\"}");
			break;
		case 4:
			bp(g, "{\"protocol\":\"TCP\",\"port\":\"%s\"}", pnames[rn(g, 4)]);
			break;
		case 5:
			bp(g, "{\"protocol\":\"SCTP\",\"port\":3868}");
			break;
		case 6:
			bp(g, "{\"protocol\":\"SCTP\"}");
			break;
		case 7:
			bp(g, "{\"protocol\":\"UDP\",\"port\":\"dns\"}");
			break;
		case 8:
			bp(g, "{\"protocol\":\"SCTP\",\"port\":\"%s\"}", pnames[rn(g, 4)]);
			break;
		case 9: /* protocol defaulted, over the named ports' numbers */
			bp(g, "{\"port\":8001,\"endPort\":8011}");
			break;
		case 10:
			bp(g, "{\"port\":\"%s\"}", pnames[rn(g, 4)]);
			break;
		default:
			bp(g, "{\"protocol\":\"UDP\",\"port\":5000,\"endPort\":%u}",
			   5000 + rn(g, 400));
		}
	}
	bp(g, "]");
}

static void gen_rule_wide(struct gen *g, unsigned d)
{
	unsigned shape = rn(g, 8), n;

	if (shape == 0) {
		bp(g, "{}"); /* every peer, every port */
		return;
	}
	bp(g, "{\"%s\":[", d ? "to" : "from");
	if (shape > 1) {
		n = 1 + rn(g, 3);
		for (unsigned p = 0; p < n; p++) {
			if (p)
				bp(g, ",");
			gen_peer_wide(g);
		}
	}
	bp(g, "]");
	gen_ports_wide(g);
	bp(g, "}");
}

/* A valid DNS subdomain long enough that "NS/NAME ingress[I]" is shortened in rule comments. */
static void gen_long_name(struct gen *g, unsigned i)
{
	bp(g, "p%u", i);
	for (unsigned j = 0; j < 4; j++) {
		bp(g, ".");
		for (unsigned k = 0; k < (j < 3 ? 60 : 50); k++)
			bp(g, "%c", 'a' + j);
	}
}

static void gen_policy_wide(struct gen *g, unsigned i)
{
	unsigned t = rn(g, 10), types = t < 4 ? 1 : t < 7 ? 2 : 3;
	bool explicit_types = rn(g, 5) != 0;

	bp(g, "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\","
	      "\"metadata\":{\"name\":\"");
	if (rn(g, 25) == 0)
		gen_long_name(g, i);
	else
		bp(g, "p%u", i);
	bp(g, "\",\"namespace\":\"ns%u\"},\"spec\":{\"podSelector\":", rn(g, g->p.n_namespaces));
	if (rn(g, 4) == 0)
		bp(g, "{}");
	else
		gen_selector_wide(g);
	if (explicit_types)
		bp(g, ",\"policyTypes\":[%s%s%s]", types & 1 ? "\"Ingress\"" : "",
		   types == 3 ? "," : "", types & 2 ? "\"Egress\"" : "");
	for (unsigned d = 0; d < 2; d++) {
		unsigned n = rn(g, 4);

		/* without policyTypes, a direction without rules is defaulted away (or never was) */
		if (!(types & (1u << d)) || (n == 0 && rn(g, 2)))
			continue;
		bp(g, ",\"%s\":[", d ? "egress" : "ingress");
		for (unsigned r = 0; r < n; r++) {
			if (r)
				bp(g, ",");
			gen_rule_wide(g, d);
		}
		bp(g, "]");
	}
	bp(g, "}}");
}

/* ---- worlds --------------------------------------------------------------------------------- */

struct gen_world *gen_world_new(const struct gen_params *params, uint64_t seed)
{
	struct gen_world *w = xcalloc(1, sizeof(*w));
	struct gen g = { .p = *params, .rs = seed * 0x9E3779B97F4A7C15ull + 1 };
	unsigned n_ns_objects;
	double h = 0, c = 0;

	if (!g.p.n_namespaces)
		g.p.n_namespaces = 10;
	if (!g.p.n_keys)
		g.p.n_keys = 20;
	if (!g.p.n_values)
		g.p.n_values = 50;
	if ((!g.p.wide && g.p.n_keys < 10) || g.p.n_keys < 2)
		abort(); /* endpoints could not get their distinct keys */
	g.zcdf = xcalloc(g.p.n_values, sizeof(double));
	for (unsigned i = 1; i <= g.p.n_values; i++)
		h += 1.0 / i;
	for (unsigned i = 1; i <= g.p.n_values; i++)
		g.zcdf[i - 1] = (c += 1.0 / i / h);

	w->endpoints = xcalloc(g.p.n_endpoints, sizeof(*w->endpoints));
	for (unsigned i = 0; i < g.p.n_endpoints; i++)
		w->endpoints[w->n_endpoints++] =
			g.p.wide ? gen_endpoint_wide(&g, i) : gen_endpoint(&g, i);

	n_ns_objects = g.p.wide && g.p.n_namespaces > 1 ? g.p.n_namespaces - 1 : g.p.n_namespaces;
	w->namespaces = xcalloc(n_ns_objects, sizeof(*w->namespaces));
	for (unsigned i = 0; i < n_ns_objects; i++)
		w->namespaces[w->n_namespaces++] = gen_namespace(&g, i);

	bp(&g, "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[");
	for (unsigned i = 0; i < g.p.n_policies; i++) {
		if (i)
			bp(&g, ",");
		if (g.p.wide)
			gen_policy_wide(&g, i);
		else
			gen_policy(&g, i);
	}
	bp(&g, "]}");
	w->text = g.b.p;
	w->text_len = g.b.n;
	free(g.zcdf);

	w->world = (struct policy_world){
		.namespaces = w->namespaces,
		.n_namespaces = w->n_namespaces,
		.endpoints = w->endpoints,
		.n_endpoints = w->n_endpoints,
	};
	return w;
}

int gen_world_parse(struct gen_world *w, struct policy_diags *reterr)
{
	int r;

	r = policy_parse("generated", w->text, w->text_len, &w->objects, reterr);
	if (r < 0)
		return r;
	w->world.netpols = w->objects->netpols;
	w->world.n_netpols = w->objects->n_netpols;
	return 0;
}

struct gen_world *gen_world_free(struct gen_world *w)
{
	if (!w)
		return NULL;
	for (size_t i = 0; i < w->n_endpoints; i++)
		endpoint_free(w->endpoints[i]);
	free(w->endpoints);
	for (size_t i = 0; i < w->n_namespaces; i++)
		policy_namespace_free(w->namespaces[i]);
	free(w->namespaces);
	policy_objects_free(w->objects);
	free(w->text);
	free(w);
	return NULL;
}
