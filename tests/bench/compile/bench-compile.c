/* SPDX-License-Identifier: MIT */
/*
 * Benchmark (a): policy_compile for all N endpoints of a generated world of N endpoints and M
 * NetworkPolicies, against A1 (ref_compile: brute force, the correctness oracle) and A3 (one
 * memcpy of the netlink bytes policy_emit produces for all plans).
 *
 *   segd-bench-compile N M [--seed S] [--reps R] [--check-only] [--dump-policies FILE]
 *
 * Prints one JSON object: world and output stats, per-arm median/min times over R interleaved
 * repetitions (ours, A1, A3) after one warm-up, peak RSS, and mismatches (first endpoint + plan
 * diff). Exit 1 on any mismatch.
 *
 * Generator (seeded, deterministic): namespaces ns0..ns{K-1} (K = 10) with labels team, env;
 * endpoints with 6-10 labels from 20 keys k0..k19, values v1..v50 drawn Zipf(s=1), an IPv4
 * address (10.x.y.z, unique) and, for 30%, an IPv6 one; 0-2 named ports (http, metrics, grpc
 * with per-endpoint numbers). Policies: podSelector kA=vR (R in 1..4); 1-4 peers over 1-2 rules
 * of the policy's types (Ingress 60%, Egress 20%, both 20%); a peer is a podSelector of
 * kind matchLabels / In / NotIn(+matchLabels) / Exists(+matchLabels), with a namespaceSelector
 * 20% of the time, or an ipBlock (15%, some with except, some IPv6); ports: none, numeric,
 * range, protocol-only or named. Value ranks 1..8 make a peer select ~1-10% of a namespace.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "policy/policy.h"
#include "ref-compile.h"

#define NKEYS 20
#define NVALS 50
#define NNS 10

/* ---- rng ------------------------------------------------------------------------------------ */
static uint64_t rs;
static uint64_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}
static unsigned rn(unsigned n) { return (unsigned)(rnd() % n); }
static double zcdf[NVALS];
static unsigned zipf(void)	/* 1..NVALS */
{
	double u = (double)(rnd() >> 11) / (double)(1ull << 53);
	for (unsigned i = 0; i < NVALS; i++)
		if (u <= zcdf[i])
			return i + 1;
	return NVALS;
}

/* ---- growing text buffer ---------------------------------------------------------------------- */
struct buf {
	char *p;
	size_t n, a;
};
static void bp(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bp(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int k = vsnprintf(b->p + b->n, b->a - b->n, fmt, ap);
		va_end(ap);
		if ((size_t)k < b->a - b->n) {
			b->n += (size_t)k;
			return;
		}
		b->a = b->a ? b->a * 2 : 65536;
		b->p = realloc(b->p, b->a);
		if (!b->p)
			abort();
	}
}

/* ---- world ---------------------------------------------------------------------------------- */
static const char *pnames[3] = { "http", "metrics", "grpc" };

static struct policy_endpoint *gen_endpoint(unsigned i)
{
	struct policy_endpoint *e = calloc(1, sizeof(*e));
	char k[16], v[16];
	unsigned nl = 6 + rn(5);
	bool used[NKEYS] = { 0 };

	if (asprintf(&e->name, "ep%u", i) < 0 || asprintf(&e->namespace, "ns%u", rn(NNS)) < 0)
		abort();
	for (unsigned j = 0; j < nl;) {
		unsigned key = rn(NKEYS);
		if (used[key])
			continue;
		used[key] = true;
		j++;
		snprintf(k, sizeof(k), "k%u", key);
		snprintf(v, sizeof(v), "v%u", zipf());
		if (policy_labels_set(&e->labels, k, v) < 0)
			abort();
	}
	e->n_addrs = rn(10) < 3 ? 2 : 1;
	e->addrs = calloc(2, sizeof(*e->addrs));
	e->addrs[0].family = AF_INET;
	e->addrs[0].addr[0] = 10;
	e->addrs[0].addr[1] = (uint8_t)(i >> 16);
	e->addrs[0].addr[2] = (uint8_t)(i >> 8);
	e->addrs[0].addr[3] = (uint8_t)i;
	if (e->n_addrs == 2) {
		e->addrs[1].family = AF_INET6;
		e->addrs[1].addr[0] = 0xfd;
		e->addrs[1].addr[13] = (uint8_t)(i >> 16);
		e->addrs[1].addr[14] = (uint8_t)(i >> 8);
		e->addrs[1].addr[15] = (uint8_t)i;
	}
	e->n_ports = rn(3);
	e->ports = calloc(3, sizeof(*e->ports));
	for (size_t j = 0; j < e->n_ports; j++) {
		e->ports[j].name = strdup(pnames[(j + i) % 3]);
		e->ports[j].proto = POLICY_PROTO_TCP;
		e->ports[j].port = (uint16_t)(8000 + 10 * ((j + i) % 3) + rn(3));
	}
	return e;
}

static void gen_selector(struct buf *b, int kind)
{
	unsigned k1 = rn(NKEYS), k2 = (k1 + 1 + rn(NKEYS - 1)) % NKEYS, r = 1 + rn(8);
	switch (kind) {
	case 0:
		bp(b, "{\"matchLabels\":{\"k%u\":\"v%u\"}}", k1, r);
		break;
	case 1:	/* In */
		bp(b, "{\"matchExpressions\":[{\"key\":\"k%u\",\"operator\":\"In\",\"values\":[\"v%u\",\"v%u\"]}]}",
		   k1, r + 1, r + 5);
		break;
	case 2:	/* NotIn with a matchLabels that keeps it selective */
		bp(b, "{\"matchLabels\":{\"k%u\":\"v%u\"},\"matchExpressions\":[{\"key\":\"k%u\","
		      "\"operator\":\"NotIn\",\"values\":[\"v1\",\"v2\"]}]}", k1, r, k2);
		break;
	default:	/* Exists */
		bp(b, "{\"matchLabels\":{\"k%u\":\"v%u\"},\"matchExpressions\":[{\"key\":\"k%u\","
		      "\"operator\":\"Exists\"}]}", k1, r, k2);
	}
}

static void gen_peer(struct buf *b)
{
	unsigned x = rn(100);
	if (x < 15) {
		unsigned o = rn(256), t = rn(4);
		if (t == 0)
			bp(b, "{\"ipBlock\":{\"cidr\":\"fd00:%x::/32\",\"except\":[\"fd00:%x:1::/48\"]}}", o, o);
		else if (t == 1)
			bp(b, "{\"ipBlock\":{\"cidr\":\"10.%u.0.0/16\",\"except\":[\"10.%u.%u.0/24\",\"10.%u.%u.128/25\"]}}",
			   o, o, rn(256), o, rn(256));
		else
			bp(b, "{\"ipBlock\":{\"cidr\":\"172.%u.%u.0/24\"}}", 16 + rn(16), o);
		return;
	}
	bp(b, "{\"podSelector\":");
	gen_selector(b, (int)rn(4));
	if (rn(5) == 0)
		bp(b, ",\"namespaceSelector\":{\"matchLabels\":{\"team\":\"t%u\"}}", rn(4));
	bp(b, "}");
}

static void gen_ports(struct buf *b)
{
	unsigned n = rn(3);
	if (n == 0)
		return;
	bp(b, ",\"ports\":[");
	for (unsigned i = 0; i < n; i++) {
		unsigned t = rn(6);
		if (i)
			bp(b, ",");
		if (t == 0)
			bp(b, "{\"protocol\":\"TCP\",\"port\":%u}", 80 + rn(3) * 363);
		else if (t == 1)
			bp(b, "{\"protocol\":\"TCP\",\"port\":8000,\"endPort\":%u}", 8100 + rn(100));
		else if (t == 2)
			bp(b, "{\"protocol\":\"UDP\",\"port\":53}");
		else if (t == 3)
			bp(b, "{\"protocol\":\"UDP\"}");
		else
			bp(b, "{\"protocol\":\"TCP\",\"port\":\"%s\"}", pnames[rn(3)]);
	}
	bp(b, "]");
}

static void gen_policies(struct buf *b, unsigned m)
{
	bp(b, "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[");
	for (unsigned i = 0; i < m; i++) {
		unsigned t = rn(10), types = t < 6 ? 1 : t < 8 ? 2 : 3, npeers = 1 + rn(4);
		unsigned nrules = npeers > 1 && rn(2) ? 2 : 1;
		if (i)
			bp(b, ",");
		bp(b, "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\","
		      "\"metadata\":{\"name\":\"p%u\",\"namespace\":\"ns%u\"},\"spec\":{\"podSelector\":"
		      "{\"matchLabels\":{\"k%u\":\"v%u\"}},\"policyTypes\":[%s%s%s]",
		   i, rn(NNS), rn(NKEYS), 1 + rn(4), types & 1 ? "\"Ingress\"" : "",
		   types == 3 ? "," : "", types & 2 ? "\"Egress\"" : "");
		for (unsigned d = 0; d < 2; d++) {
			if (!(types & (1u << d)))
				continue;
			bp(b, ",\"%s\":[", d ? "egress" : "ingress");
			unsigned left = npeers;
			for (unsigned r = 0; r < nrules; r++) {
				unsigned here = r + 1 == nrules ? left : 1 + rn(left - (nrules - r - 1));
				left -= here;
				bp(b, "%s{\"%s\":[", r ? "," : "", d ? "to" : "from");
				for (unsigned p = 0; p < here; p++) {
					if (p)
						bp(b, ",");
					gen_peer(b);
				}
				bp(b, "]");
				gen_ports(b);
				bp(b, "}");
			}
			bp(b, "]");
		}
		bp(b, "}}");
	}
	bp(b, "]}");
}

/* ---- netlink bytes (A3) ------------------------------------------------------------------------ */
struct nlbuf {
	char *p;
	size_t n, a;
	char *scratch;
	uint32_t seq;
	size_t sets, elems, rules;
};

static void nl_append(struct nlbuf *o, const struct nlmsghdr *h)
{
	if (o->n + h->nlmsg_len > o->a) {
		while (o->n + h->nlmsg_len > o->a)
			o->a = o->a ? o->a * 2 : (1 << 20);
		o->p = realloc(o->p, o->a);
		if (!o->p)
			abort();
	}
	memcpy(o->p + o->n, h, h->nlmsg_len);
	o->n += h->nlmsg_len;
}

static int emit_cb(enum policy_emit_kind kind, void *obj, const struct policy_plan_rule *pr, void *ud)
{
	struct nlbuf *o = ud;
	struct nlmsghdr *h;

	switch (kind) {
	case POLICY_EMIT_TABLE:
		h = nftnl_nlmsg_build_hdr(o->scratch, NFT_MSG_NEWTABLE, NFPROTO_INET, NLM_F_CREATE, o->seq++);
		nftnl_table_nlmsg_build_payload(h, obj);
		nl_append(o, h);
		nftnl_table_free(obj);
		break;
	case POLICY_EMIT_CHAIN:
		h = nftnl_nlmsg_build_hdr(o->scratch, NFT_MSG_NEWCHAIN, NFPROTO_INET, NLM_F_CREATE, o->seq++);
		nftnl_chain_nlmsg_build_payload(h, obj);
		nl_append(o, h);
		nftnl_chain_free(obj);
		break;
	case POLICY_EMIT_SET: {
		h = nftnl_nlmsg_build_hdr(o->scratch, NFT_MSG_NEWSET, NFPROTO_INET, NLM_F_CREATE, o->seq++);
		nftnl_set_nlmsg_build_payload(h, obj);
		nl_append(o, h);
		o->sets++;
		if (nftnl_set_is_set(obj, NFTNL_SET_ID) || 1) {
			h = nftnl_nlmsg_build_hdr(o->scratch, NFT_MSG_NEWSETELEM, NFPROTO_INET, NLM_F_CREATE, o->seq++);
			nftnl_set_elems_nlmsg_build_payload(h, obj);
			nl_append(o, h);
		}
		nftnl_set_free(obj);
		break;
	}
	case POLICY_EMIT_RULE:
		h = nftnl_nlmsg_build_hdr(o->scratch, NFT_MSG_NEWRULE, NFPROTO_INET, NLM_F_CREATE | NLM_F_APPEND, o->seq++);
		nftnl_rule_nlmsg_build_payload(h, obj);
		nl_append(o, h);
		nftnl_rule_free(obj);
		o->rules++;
		break;
	default:
		break;
	}
	(void)pr;
	return 0;
}

/* ---- timing ----------------------------------------------------------------------------------- */
static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static long rss_kb(const char *what)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, what, strlen(what)) == 0)
			v = atol(line + strlen(what) + 1);
	fclose(f);
	return v;
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* first differing line of two texts, with a little context */
static char *diff_text(const char *a, const char *b)
{
	size_t line = 1;
	const char *la = a, *lb = b;
	while (*a && *a == *b) {
		if (*a == '\n') {
			line++;
			la = a + 1;
			lb = b + 1;
		}
		a++;
		b++;
	}
	const char *ea = strchr(la, '\n'), *eb = strchr(lb, '\n');
	int na = ea ? (int)(ea - la) : (int)strlen(la), nb = eb ? (int)(eb - lb) : (int)strlen(lb);
	char *out = NULL;
	if (asprintf(&out, "line %zu: ours: %.*s | ref: %.*s", line, na > 200 ? 200 : na, la,
		     nb > 200 ? 200 : nb, lb) < 0)
		return NULL;
	return out;
}

int main(int argc, char **argv)
{
	unsigned n, m, reps = 5;
	uint64_t seed = 1;
	bool check_only = false;
	const char *dump = NULL;

	if (argc < 3)
		goto usage;
	n = (unsigned)strtoul(argv[1], NULL, 10);
	m = (unsigned)strtoul(argv[2], NULL, 10);
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--check-only"))
			check_only = true;
		else if (!strcmp(argv[i], "--dump-policies") && i + 1 < argc)
			dump = argv[++i];
		else
			goto usage;
	}
	if (n == 0 || m == 0 || reps == 0)
		goto usage;
	rs = seed * 0x9E3779B97F4A7C15ull + 1;
	{
		double h = 0, c = 0;
		for (unsigned i = 1; i <= NVALS; i++)
			h += 1.0 / i;
		for (unsigned i = 1; i <= NVALS; i++)
			zcdf[i - 1] = (c += 1.0 / i / h);
	}

	/* world */
	struct policy_endpoint **eps = calloc(n, sizeof(*eps));
	for (unsigned i = 0; i < n; i++)
		eps[i] = gen_endpoint(i);
	struct policy_namespace **nss = calloc(NNS, sizeof(*nss));
	for (unsigned i = 0; i < NNS; i++) {
		struct policy_labels l = { 0 };
		char name[16], t[8];
		snprintf(name, sizeof(name), "ns%u", i);
		snprintf(t, sizeof(t), "t%u", i % 4);
		policy_labels_set(&l, POLICY_NS_NAME_LABEL, name);
		policy_labels_set(&l, "team", t);
		policy_labels_set(&l, "env", i % 2 ? "prod" : "dev");
		nss[i] = policy_namespace_new(name, &l);
		policy_labels_done(&l);
		if (!nss[i])
			abort();
	}
	struct buf text = { 0 };
	gen_policies(&text, m);
	if (dump) {
		FILE *f = fopen(dump, "w");
		if (f) {
			fwrite(text.p, 1, text.n, f);
			fclose(f);
		}
	}
	struct policy_objects *objs = NULL;
	struct policy_diags diags = { 0 };
	if (policy_parse("generated", text.p, text.n, &objs, &diags) < 0) {
		for (size_t i = 0; i < diags.n && i < 5; i++) {
			char *s = policy_diag_format(&diags.items[i]);
			fprintf(stderr, "parse: %s\n", s);
			free(s);
		}
		return 2;
	}
	struct policy_world w = { .namespaces = nss, .n_namespaces = NNS, .netpols = objs->netpols,
				  .n_netpols = objs->n_netpols, .endpoints = eps, .n_endpoints = n };
	long rss_world = rss_kb("VmRSS:");

	/* correctness first: every endpoint, ours vs reference */
	size_t mismatches = 0, sets = 0, elems = 0, rules = 0, isolated = 0;
	char *first_diff = NULL, *first_ep = NULL;
	struct nlbuf nl = { .scratch = malloc(1 << 24) };
	double t_emit = 0;
	struct policy_compile_cache *check_cache = NULL;
	if (policy_compile_cache_new(&w, &check_cache) < 0)
		return 2;
	for (unsigned i = 0; i < n; i++) {
		struct policy_plan *a = NULL, *b = NULL;
		if (policy_compile_cached(check_cache, eps[i], POLICY_DENY_DROP, &a) < 0 ||
		    ref_compile(&w, eps[i], POLICY_DENY_DROP, &b) < 0) {
			fprintf(stderr, "compile failed for %s\n", eps[i]->name);
			return 2;
		}
		if (!policy_plan_equal(a, b)) {
			char *ja = policy_plan_to_json(a), *jb = policy_plan_to_json(b);
			if (mismatches++ == 0) {
				first_ep = strdup(eps[i]->name);
				first_diff = diff_text(ja ? ja : "", jb ? jb : "");
				if (ja && jb && strcmp(ja, jb) == 0) {
					free(first_diff);
					first_diff = strdup("plans differ but their JSON is equal (field outside the JSON, e.g. element end bytes)");
				}
			}
			free(ja);
			free(jb);
		}
		sets += a->n_sets;
		rules += a->n_rules;
		isolated += a->isolated[0] || a->isolated[1];
		for (size_t s = 0; s < a->n_sets; s++)
			elems += a->sets[s].n_elems;
		double t0 = now();
		struct policy_emit_options eo = { 0 };
		if (policy_emit(a, &eo, emit_cb, &nl) < 0) {
			fprintf(stderr, "emit failed for %s\n", eps[i]->name);
			return 2;
		}
		t_emit += now() - t0;
		policy_plan_free(a);
		policy_plan_free(b);
	}

	/* timing: warm-up round then reps interleaved (ours, A1, A3) */
	double *to = calloc(reps, sizeof(double)), *tr = calloc(reps, sizeof(double)),
	       *tm = calloc(reps, sizeof(double));
	char *dst = malloc(nl.n ? nl.n : 1);
	if (!check_only) {
		for (unsigned r = 0; r <= reps; r++) {
			/* ours = what segd does on a full reconcile: one compile cache per
			 * world, so each rule's peers are selected once */
			double t0 = now();
			struct policy_compile_cache *cache = NULL;
			if (policy_compile_cache_new(&w, &cache) < 0)
				return 2;
			for (unsigned i = 0; i < n; i++) {
				struct policy_plan *a = NULL;
				if (policy_compile_cached(cache, eps[i], POLICY_DENY_DROP, &a) < 0)
					return 2;
				policy_plan_free(a);
			}
			policy_compile_cache_free(cache);
			double t1 = now();
			for (unsigned i = 0; i < n; i++) {
				struct policy_plan *b = NULL;
				if (ref_compile(&w, eps[i], POLICY_DENY_DROP, &b) < 0)
					return 2;
				policy_plan_free(b);
			}
			double t2 = now();
			memcpy(dst, nl.p, nl.n);
			__asm__ volatile("" : : "r"(dst) : "memory");
			double t3 = now();
			if (r > 0) {
				to[r - 1] = t1 - t0;
				tr[r - 1] = t2 - t1;
				tm[r - 1] = t3 - t2;
			}
		}
		qsort(to, reps, sizeof(double), cmpd);
		qsort(tr, reps, sizeof(double), cmpd);
		qsort(tm, reps, sizeof(double), cmpd);
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);

	FILE *f = stdout;
	fprintf(f, "{\"N\":%u,\"M\":%u,\"seed\":%llu,\"reps\":%u,\"policies\":%zu,\"policy_text_bytes\":%zu,"
		   "\"endpoints_isolated\":%zu,\"sets\":%zu,\"elements\":%zu,\"rules\":%zu,\"netlink_bytes\":%zu,"
		   "\"netlink_sets_emitted\":%zu,\"netlink_rules_emitted\":%zu,\"t_emit_s\":%.6f,",
		n, m, (unsigned long long)seed, reps, objs->n_netpols, text.n, isolated, sets, elems, rules,
		nl.n, nl.sets, nl.rules, t_emit);
	if (!check_only)
		fprintf(f, "\"t_ours_s\":%.6f,\"t_ours_min_s\":%.6f,\"t_ref_s\":%.6f,\"t_ref_min_s\":%.6f,"
			   "\"t_memcpy_s\":%.9f,",
			to[reps / 2], to[0], tr[reps / 2], tr[0], tm[reps / 2]);
	fprintf(f, "\"rss_world_kb\":%ld,\"peak_rss_kb\":%ld,\"mismatches\":%zu", rss_world, ru.ru_maxrss,
		mismatches);
	if (mismatches) {
		fprintf(f, ",\"first_mismatch_endpoint\":");
		json_str(f, first_ep);
		fprintf(f, ",\"first_mismatch_diff\":");
		json_str(f, first_diff ? first_diff : "?");
	}
	fprintf(f, "}\n");
	return mismatches ? 1 : 0;
usage:
	fprintf(stderr, "usage: segd-bench-compile N M [--seed S] [--reps R] [--check-only] [--dump-policies FILE]\n");
	return 2;
}
