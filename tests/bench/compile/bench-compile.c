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
 * Generator (gen.c, seeded, deterministic, its benchmark mix): namespaces ns0..ns9 with labels
 * team, env; endpoints with 6-10 labels from 20 keys k0..k19, values v1..v50 drawn Zipf(s=1),
 * an IPv4 address (10.x.y.z, unique) and, for 30%, an IPv6 one; 0-2 named ports (http,
 * metrics, grpc with per-endpoint numbers). Policies: podSelector kA=vR (R in 1..4); 1-4 peers
 * over 1-2 rules of the policy's types (Ingress 60%, Egress 20%, both 20%); a peer is a
 * podSelector of kind matchLabels / In / NotIn(+matchLabels) / Exists(+matchLabels), with a
 * namespaceSelector 20% of the time, or an ipBlock (15%, some with except, some IPv6); ports:
 * none, numeric, range, protocol-only or named. Value ranks 1..8 make a peer select ~1-10% of
 * a namespace.
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

#include "gen.h"
#include "policy/policy.h"
#include "ref-compile.h"

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

static int emit_cb(enum policy_emit_kind kind, void *obj, const struct policy_plan_rule *pr,
		   void *ud)
{
	struct nlbuf *o = ud;
	struct nlmsghdr *h;

	switch (kind) {
	case POLICY_EMIT_TABLE:
		h = nftnl_nlmsg_build_hdr(o->scratch, NFT_MSG_NEWTABLE, NFPROTO_INET, NLM_F_CREATE,
					  o->seq++);
		nftnl_table_nlmsg_build_payload(h, obj);
		nl_append(o, h);
		nftnl_table_free(obj);
		break;
	case POLICY_EMIT_CHAIN:
		h = nftnl_nlmsg_build_hdr(o->scratch, NFT_MSG_NEWCHAIN, NFPROTO_INET, NLM_F_CREATE,
					  o->seq++);
		nftnl_chain_nlmsg_build_payload(h, obj);
		nl_append(o, h);
		nftnl_chain_free(obj);
		break;
	case POLICY_EMIT_SET: {
		h = nftnl_nlmsg_build_hdr(o->scratch, NFT_MSG_NEWSET, NFPROTO_INET, NLM_F_CREATE,
					  o->seq++);
		nftnl_set_nlmsg_build_payload(h, obj);
		nl_append(o, h);
		o->sets++;
		if (nftnl_set_is_set(obj, NFTNL_SET_ID) || 1) {
			h = nftnl_nlmsg_build_hdr(o->scratch, NFT_MSG_NEWSETELEM, NFPROTO_INET,
						  NLM_F_CREATE, o->seq++);
			nftnl_set_elems_nlmsg_build_payload(h, obj);
			nl_append(o, h);
		}
		nftnl_set_free(obj);
		break;
	}
	case POLICY_EMIT_RULE:
		h = nftnl_nlmsg_build_hdr(o->scratch, NFT_MSG_NEWRULE, NFPROTO_INET,
					  NLM_F_CREATE | NLM_F_APPEND, o->seq++);
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
	/* world */
	struct gen_params gp = { .n_endpoints = n, .n_policies = m };
	struct gen_world *gw = gen_world_new(&gp, seed);
	if (dump) {
		FILE *f = fopen(dump, "w");
		if (f) {
			fwrite(gw->text, 1, gw->text_len, f);
			fclose(f);
		}
	}
	struct policy_diags diags = { 0 };
	if (gen_world_parse(gw, &diags) < 0) {
		for (size_t i = 0; i < diags.n && i < 5; i++) {
			char *s = policy_diag_format(&diags.items[i]);
			fprintf(stderr, "parse: %s\n", s);
			free(s);
		}
		return 2;
	}
	struct policy_objects *objs = gw->objects;
	struct policy_endpoint **eps = gw->endpoints;
	struct policy_world w = gw->world;
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
					first_diff = strdup(
						"plans differ but their JSON is equal (field outside the JSON, e.g. element end bytes)");
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
	fprintf(f,
		"{\"N\":%u,\"M\":%u,\"seed\":%llu,\"reps\":%u,\"policies\":%zu,\"policy_text_bytes\":%zu,"
		"\"endpoints_isolated\":%zu,\"sets\":%zu,\"elements\":%zu,\"rules\":%zu,\"netlink_bytes\":%zu,"
		"\"netlink_sets_emitted\":%zu,\"netlink_rules_emitted\":%zu,\"t_emit_s\":%.6f,",
		n, m, (unsigned long long)seed, reps, objs->n_netpols, gw->text_len, isolated, sets,
		elems, rules, nl.n, nl.sets, nl.rules, t_emit);
	if (!check_only)
		fprintf(f,
			"\"t_ours_s\":%.6f,\"t_ours_min_s\":%.6f,\"t_ref_s\":%.6f,\"t_ref_min_s\":%.6f,"
			"\"t_memcpy_s\":%.9f,",
			to[reps / 2], to[0], tr[reps / 2], tr[0], tm[reps / 2]);
	fprintf(f, "\"rss_world_kb\":%ld,\"peak_rss_kb\":%ld,\"mismatches\":%zu", rss_world,
		ru.ru_maxrss, mismatches);
	if (mismatches) {
		fprintf(f, ",\"first_mismatch_endpoint\":");
		json_str(f, first_ep);
		fprintf(f, ",\"first_mismatch_diff\":");
		json_str(f, first_diff ? first_diff : "?");
	}
	fprintf(f, "}\n");
	return mismatches ? 1 : 0;
usage:
	fprintf(stderr,
		"usage: segd-bench-compile N M [--seed S] [--reps R] [--check-only] [--dump-policies FILE]\n");
	return 2;
}
