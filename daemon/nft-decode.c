/* SPDX-License-Identifier: MIT */
/*
 * A rule's expressions, as the kernel returns them, turned back into nft-like text
 * ("ip saddr @i0_p4 th dport 80 counter accept"): registers are followed from the load that
 * fills them (meta, payload, ct) to the comparison or lookup that reads them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "nft-decode.h"
#include "nftnl-util.h"

enum reg_src {
	SRC_NONE,
	SRC_META,
	SRC_PAYLOAD,
	SRC_CT,
};

struct reg {
	enum reg_src src;
	uint32_t key;		    /* meta/ct key */
	uint32_t base, offset, len; /* payload */
	bool masked;
	uint32_t mask;
};

struct decoder {
	nft_decode_set_fn anon_sets; /* anonymous set contents */
	void *userdata;
	FILE *out;
	bool first;
	struct reg regs[32];
	int nfproto; /* last `meta nfproto` matched, 0 if none */
	int l4proto; /* last `meta l4proto` matched, -1 if none */
	/* cmp gte waiting for its lte: printed together as a range */
	bool pending_gte;
	uint32_t pending_reg;
	uint8_t pending_data[16];
	uint32_t pending_len;
	struct nft_dump_rule *rule;
};

static void out_word(struct decoder *dc, const char *fmt, ...) _printf_(2, 3);
static void out_word(struct decoder *dc, const char *fmt, ...)
{
	va_list ap;

	if (!dc->first)
		fputc(' ', dc->out);
	dc->first = false;
	va_start(ap, fmt);
	vfprintf(dc->out, fmt, ap);
	va_end(ap);
}

static struct reg *dc_reg(struct decoder *dc, uint32_t r)
{
	return &dc->regs[r < ARRAY_SIZE(dc->regs) ? r : 0];
}

static const char *meta_key_name(uint32_t key)
{
	switch (key) {
	case NFT_META_LEN:
		return "length";
	case NFT_META_PROTOCOL:
		return "protocol";
	case NFT_META_MARK:
		return "mark";
	case NFT_META_IIF:
		return "iif";
	case NFT_META_OIF:
		return "oif";
	case NFT_META_IIFNAME:
		return "iifname";
	case NFT_META_OIFNAME:
		return "oifname";
	case NFT_META_NFPROTO:
		return "nfproto";
	case NFT_META_L4PROTO:
		return "l4proto";
	case NFT_META_SKUID:
		return "skuid";
	case NFT_META_SKGID:
		return "skgid";
	}
	return NULL;
}

/* The left-hand side a register stands for, nft style. */
static void lhs_name(struct decoder *dc, const struct reg *g, char *buf, size_t size)
{
	const char *n;

	switch (g->src) {
	case SRC_META:
		n = meta_key_name(g->key);
		if (g->key == NFT_META_IIFNAME || g->key == NFT_META_OIFNAME)
			snprintf(buf, size, "%s", n);
		else if (n)
			snprintf(buf, size, "meta %s", n);
		else
			snprintf(buf, size, "meta key%" PRIu32, g->key);
		return;
	case SRC_CT:
		snprintf(buf, size, g->key == NFT_CT_STATE ? "ct state" : "ct key%" PRIu32, g->key);
		return;
	case SRC_PAYLOAD:
		if (g->base == NFT_PAYLOAD_NETWORK_HEADER) {
			bool v6 = dc->nfproto == NFPROTO_IPV6 || (dc->nfproto == 0 && g->len == 16);

			if (!v6 && g->len == 4 && (g->offset == 12 || g->offset == 16)) {
				snprintf(buf, size, "ip %s", g->offset == 12 ? "saddr" : "daddr");
				return;
			}
			if (v6 && g->len == 16 && (g->offset == 8 || g->offset == 24)) {
				snprintf(buf, size, "ip6 %s", g->offset == 8 ? "saddr" : "daddr");
				return;
			}
		} else if (g->base == NFT_PAYLOAD_TRANSPORT_HEADER) {
			if (g->len == 2 && (g->offset == 0 || g->offset == 2)) {
				snprintf(buf, size, "th %s", g->offset == 0 ? "sport" : "dport");
				return;
			}
			if (g->len == 1 && g->offset == 1 &&
			    (dc->l4proto == IPPROTO_ICMP || dc->l4proto == IPPROTO_ICMPV6)) {
				snprintf(buf, size, "%s code",
					 dc->l4proto == IPPROTO_ICMP ? "icmp" : "icmpv6");
				return;
			}
			if (g->len == 1 && g->offset == 13 && dc->l4proto == IPPROTO_TCP) {
				snprintf(buf, size, "tcp flags");
				return;
			}
			if (g->len == 1 && g->offset == 0 && dc->l4proto == IPPROTO_ICMPV6) {
				snprintf(buf, size, "icmpv6 type");
				return;
			}
			if (g->len == 1 && g->offset == 0 && dc->l4proto == IPPROTO_ICMP) {
				snprintf(buf, size, "icmp type");
				return;
			}
		}
		snprintf(buf, size, "@%s,%" PRIu32 ",%" PRIu32,
			 g->base == NFT_PAYLOAD_LL_HEADER	 ? "ll"
			 : g->base == NFT_PAYLOAD_NETWORK_HEADER ? "nh"
								 : "th",
			 g->offset * 8, g->len * 8);
		return;
	case SRC_NONE:
		break;
	}
	snprintf(buf, size, "reg?");
}

static const char *icmpv6_type_name(unsigned v)
{
	switch (v) {
	case 1:
		return "destination-unreachable";
	case 128:
		return "echo-request";
	case 129:
		return "echo-reply";
	case 130:
		return "mld-listener-query";
	case 131:
		return "mld-listener-report";
	case 132:
		return "mld-listener-done";
	case 133:
		return "nd-router-solicit";
	case 134:
		return "nd-router-advert";
	case 135:
		return "nd-neighbor-solicit";
	case 136:
		return "nd-neighbor-advert";
	case 137:
		return "nd-redirect";
	case 143:
		return "mld2-listener-report";
	}
	return NULL;
}

static const char *l4proto_name(unsigned v)
{
	switch (v) {
	case IPPROTO_ICMP:
		return "icmp";
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMPV6:
		return "ipv6-icmp";
	case IPPROTO_SCTP:
		return "sctp";
	}
	return NULL;
}

uint64_t nft_be_value(const uint8_t *p, uint32_t len)
{
	uint64_t v = 0;

	for (uint32_t i = 0; i < len && i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint32_t host_u32(const uint8_t *p, uint32_t len)
{
	uint32_t v = 0;

	memcpy(&v, p, len < sizeof(v) ? len : sizeof(v));
	return v;
}

static void ct_state_names(uint32_t bits, char *buf, size_t size)
{
	static const char *const names[] = { "invalid", "established", "related", "new" };
	size_t o = 0;

	buf[0] = 0;
	for (unsigned i = 0; i < 32 && o < size; i++) {
		if (!(bits & (1u << i)))
			continue;
		if (i < ARRAY_SIZE(names))
			o += (size_t)snprintf(buf + o, size - o, "%s%s", o ? "," : "", names[i]);
		else
			o += (size_t)snprintf(buf + o, size - o, "%s0x%x", o ? "," : "", 1u << i);
	}
}

/* A value as the left-hand side's type shows it. */
static void value_text(const struct reg *g, const uint8_t *p, uint32_t len, char *buf, size_t size)
{
	if (g->src == SRC_META && (g->key == NFT_META_IIFNAME || g->key == NFT_META_OIFNAME)) {
		snprintf(buf, size, "\"%.*s\"", (int)strnlen((const char *)p, len),
			 (const char *)p);
		return;
	}
	if (g->src == SRC_META && g->key == NFT_META_NFPROTO && len == 1) {
		snprintf(buf, size, "%s",
			 p[0] == NFPROTO_IPV4	? "ipv4"
			 : p[0] == NFPROTO_IPV6 ? "ipv6"
						: "");
		if (!buf[0])
			snprintf(buf, size, "%u", p[0]);
		return;
	}
	if (g->src == SRC_META && g->key == NFT_META_L4PROTO && len == 1) {
		const char *n = l4proto_name(p[0]);

		if (n)
			snprintf(buf, size, "%s", n);
		else
			snprintf(buf, size, "%u", p[0]);
		return;
	}
	if (g->src == SRC_CT && g->key == NFT_CT_STATE) {
		ct_state_names(host_u32(p, len), buf, size);
		return;
	}
	if ((len == 4 || len == 16) && g->src == SRC_PAYLOAD &&
	    g->base == NFT_PAYLOAD_NETWORK_HEADER) {
		if (!inet_ntop(len == 4 ? AF_INET : AF_INET6, p, buf, (socklen_t)size))
			snprintf(buf, size, "?");
		return;
	}
	if (len == 1 && g->src == SRC_PAYLOAD && g->base == NFT_PAYLOAD_TRANSPORT_HEADER &&
	    g->offset == 13) {
		static const char *const flags[] = { "fin", "syn", "rst", "psh",
						     "ack", "urg", "ecn", "cwr" };
		size_t o = 0;

		buf[0] = 0;
		for (unsigned i = 0; i < 8 && o < size; i++)
			if (p[0] & (1u << i))
				o += (size_t)snprintf(buf + o, size - o, "%s%s", o ? "|" : "",
						      flags[i]);
		if (!buf[0])
			snprintf(buf, size, "0x0");
		return;
	}
	if (len == 1 && g->src == SRC_PAYLOAD && g->base == NFT_PAYLOAD_TRANSPORT_HEADER &&
	    g->offset == 0) {
		const char *n = icmpv6_type_name(p[0]);

		if (n)
			snprintf(buf, size, "%s", n);
		else
			snprintf(buf, size, "%u", p[0]);
		return;
	}
	if (len <= 8 && g->src == SRC_PAYLOAD) {
		snprintf(buf, size, "%" PRIu64, nft_be_value(p, len));
		return;
	}
	if (len <= 4) {
		snprintf(buf, size, "%" PRIu32, host_u32(p, len));
		return;
	}
	for (uint32_t i = 0, o = 0; i < len && o + 3 < size; i++)
		o += (uint32_t)snprintf(buf + o, size - o, i ? "%02x" : "0x%02x", p[i]);
}

static const char *cmp_op_text(uint32_t op)
{
	switch (op) {
	case NFT_CMP_EQ:
		return "";
	case NFT_CMP_NEQ:
		return "!= ";
	case NFT_CMP_LT:
		return "< ";
	case NFT_CMP_LTE:
		return "<= ";
	case NFT_CMP_GT:
		return "> ";
	case NFT_CMP_GTE:
		return ">= ";
	}
	return "?? ";
}

static void dc_flush_pending(struct decoder *dc)
{
	char lhs[64], v[64];
	const struct reg *g;

	if (!dc->pending_gte)
		return;
	dc->pending_gte = false;
	g = dc_reg(dc, dc->pending_reg);
	lhs_name(dc, g, lhs, sizeof(lhs));
	value_text(g, dc->pending_data, dc->pending_len, v, sizeof(v));
	out_word(dc, "%s >= %s", lhs, v);
}

static void dc_cmp(struct decoder *dc, const struct nftnl_expr *e)
{
	uint32_t sreg = nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_SREG);
	uint32_t op = nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_OP);
	uint32_t len = 0;
	const uint8_t *data = nftnl_expr_get(e, NFTNL_EXPR_CMP_DATA, &len);
	const struct reg *g = dc_reg(dc, sreg);
	char lhs[64], v[128], lo[64];

	if (!data)
		return;
	len = len > 16 ? 16 : len;
	if (op == NFT_CMP_GTE) {
		dc_flush_pending(dc);
		dc->pending_gte = true;
		dc->pending_reg = sreg;
		memcpy(dc->pending_data, data, len);
		dc->pending_len = len;
		return;
	}
	lhs_name(dc, g, lhs, sizeof(lhs));
	if (op == NFT_CMP_LTE && dc->pending_gte && dc->pending_reg == sreg) {
		dc->pending_gte = false;
		value_text(g, dc->pending_data, dc->pending_len, lo, sizeof(lo));
		value_text(g, data, len, v, sizeof(v));
		out_word(dc, "%s %s-%s", lhs, lo, v);
		return;
	}
	dc_flush_pending(dc);

	/* ct state established,related: (state & mask) != 0 */
	if (g->src == SRC_CT && g->key == NFT_CT_STATE && g->masked && op == NFT_CMP_NEQ &&
	    host_u32(data, len) == 0) {
		ct_state_names(g->mask, v, sizeof(v));
		out_word(dc, "%s %s", lhs, v);
		return;
	}
	/* (payload & mask) compared: shown with its mask, as nft shows it */
	if (g->masked && g->src == SRC_PAYLOAD) {
		size_t o = strlen(lhs);

		snprintf(lhs + o, sizeof(lhs) - o, " & 0x%" PRIx32, g->mask);
	}
	value_text(g, data, len, v, sizeof(v));
	if (g->src == SRC_META && g->key == NFT_META_NFPROTO && op == NFT_CMP_EQ && len == 1)
		dc->nfproto = data[0];
	if (g->src == SRC_META && g->key == NFT_META_L4PROTO && op == NFT_CMP_EQ && len == 1)
		dc->l4proto = data[0];
	out_word(dc, "%s %s%s", lhs, cmp_op_text(op), v);
}

static void dc_lookup(struct decoder *dc, const struct nftnl_expr *e)
{
	const char *set = nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET);
	bool inv = nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_FLAGS) &&
		   (nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_FLAGS) & NFT_LOOKUP_F_INV);
	const struct reg *g = dc_reg(dc, nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_SREG));
	const struct nft_dump_elem *elems = NULL;
	size_t n = 0;
	char lhs[64], v[64];

	if (set && dc->anon_sets)
		elems = dc->anon_sets(set, &n, dc->userdata);
	dc_flush_pending(dc);
	lhs_name(dc, g, lhs, sizeof(lhs));
	if (!elems) {
		out_word(dc, "%s %s@%s", lhs, inv ? "!= " : "", set ? set : "?");
		return;
	}
	/* anonymous sets are shown inline, as nft does */
	out_word(dc, "%s %s{", lhs, inv ? "!= " : "");
	for (size_t i = 0; i < n; i++) {
		if (elems[i].interval_end)
			continue;
		value_text(g, elems[i].key, elems[i].len, v, sizeof(v));
		fprintf(dc->out, "%s %s", i ? "," : "", v);
	}
	fputs(" }", dc->out);
}

static void dc_immediate(struct decoder *dc, const struct nftnl_expr *e)
{
	const char *chain;

	dc_flush_pending(dc);
	if (nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_DREG) != NFT_REG_VERDICT) {
		out_word(dc, "[immediate]");
		return;
	}
	switch ((int)nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT)) {
	case NF_ACCEPT:
		out_word(dc, "accept");
		return;
	case NF_DROP:
		out_word(dc, "drop");
		return;
	case NFT_CONTINUE:
		out_word(dc, "continue");
		return;
	case NFT_RETURN:
		out_word(dc, "return");
		return;
	case NFT_BREAK:
		out_word(dc, "break");
		return;
	case NFT_JUMP:
	case NFT_GOTO:
		chain = nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN);
		out_word(dc, "%s %s",
			 (int)nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT) == NFT_JUMP ? "jump"
											: "goto",
			 chain ? chain : "?");
		return;
	}
	out_word(dc, "verdict %d", (int)nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT));
}

static void dc_reject(struct decoder *dc, const struct nftnl_expr *e)
{
	static const char *const icmpx[] = { "no-route", "port-unreachable", "host-unreachable",
					     "admin-prohibited" };
	uint32_t type = nftnl_expr_get_u32(e, NFTNL_EXPR_REJECT_TYPE);
	uint8_t code = nftnl_expr_get_u8(e, NFTNL_EXPR_REJECT_CODE);

	dc_flush_pending(dc);
	switch (type) {
	case NFT_REJECT_TCP_RST:
		out_word(dc, "reject with tcp reset");
		return;
	case NFT_REJECT_ICMPX_UNREACH:
		if (code < ARRAY_SIZE(icmpx))
			out_word(dc, "reject with icmpx %s", icmpx[code]);
		else
			out_word(dc, "reject with icmpx %u", code);
		return;
	case NFT_REJECT_ICMP_UNREACH:
		out_word(dc, "reject with %s %u", dc->nfproto == NFPROTO_IPV6 ? "icmpv6" : "icmp",
			 code);
		return;
	}
	out_word(dc, "reject type %" PRIu32 " code %u", type, code);
}

static int dc_expr(struct nftnl_expr *e, void *data)
{
	struct decoder *dc = data;
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
	struct reg *g;

	if (!name)
		return 0;
	if (streq(name, "meta") && nftnl_expr_is_set(e, NFTNL_EXPR_META_DREG)) {
		g = dc_reg(dc, nftnl_expr_get_u32(e, NFTNL_EXPR_META_DREG));
		*g = (struct reg){ .src = SRC_META,
				   .key = nftnl_expr_get_u32(e, NFTNL_EXPR_META_KEY) };
	} else if (streq(name, "ct") && nftnl_expr_is_set(e, NFTNL_EXPR_CT_DREG)) {
		g = dc_reg(dc, nftnl_expr_get_u32(e, NFTNL_EXPR_CT_DREG));
		*g = (struct reg){ .src = SRC_CT, .key = nftnl_expr_get_u32(e, NFTNL_EXPR_CT_KEY) };
	} else if (streq(name, "payload") && nftnl_expr_is_set(e, NFTNL_EXPR_PAYLOAD_DREG)) {
		g = dc_reg(dc, nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_DREG));
		*g = (struct reg){
			.src = SRC_PAYLOAD,
			.base = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_BASE),
			.offset = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET),
			.len = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_LEN),
		};
	} else if (streq(name, "bitwise")) {
		uint32_t len = 0;
		const uint8_t *mask = nftnl_expr_get(e, NFTNL_EXPR_BITWISE_MASK, &len);
		struct reg src = *dc_reg(dc, nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_SREG));

		g = dc_reg(dc, nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_DREG));
		*g = src;
		if (mask) {
			g->masked = true;
			g->mask = host_u32(mask, len);
		}
	} else if (streq(name, "cmp")) {
		dc_cmp(dc, e);
	} else if (streq(name, "range")) {
		uint32_t l1 = 0, l2 = 0;
		const uint8_t *from = nftnl_expr_get(e, NFTNL_EXPR_RANGE_FROM_DATA, &l1);
		const uint8_t *to = nftnl_expr_get(e, NFTNL_EXPR_RANGE_TO_DATA, &l2);
		const struct reg *sg = dc_reg(dc, nftnl_expr_get_u32(e, NFTNL_EXPR_RANGE_SREG));
		char lhs[64], a[64], b[64];

		dc_flush_pending(dc);
		if (!from || !to)
			return 0;
		lhs_name(dc, sg, lhs, sizeof(lhs));
		value_text(sg, from, l1 > 16 ? 16 : l1, a, sizeof(a));
		value_text(sg, to, l2 > 16 ? 16 : l2, b, sizeof(b));
		out_word(dc, "%s %s%s-%s", lhs,
			 nftnl_expr_get_u32(e, NFTNL_EXPR_RANGE_OP) == NFT_RANGE_NEQ ? "!= " : "",
			 a, b);
	} else if (streq(name, "lookup")) {
		dc_lookup(dc, e);
	} else if (streq(name, "dynset")) {
		const char *set = nftnl_expr_get_str(e, NFTNL_EXPR_DYNSET_SET_NAME);
		const struct reg *sg =
			dc_reg(dc, nftnl_expr_get_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY));
		char lhs[64];

		dc_flush_pending(dc);
		lhs_name(dc, sg, lhs, sizeof(lhs));
		out_word(dc, "update @%s { %s", set ? set : "?", lhs);
		if (nftnl_expr_is_set(e, NFTNL_EXPR_DYNSET_TIMEOUT))
			fprintf(dc->out, " timeout %" PRIu64 "s",
				nftnl_expr_get_u64(e, NFTNL_EXPR_DYNSET_TIMEOUT) / 1000);
		fputs(" }", dc->out);
	} else if (streq(name, "counter")) {
		dc_flush_pending(dc);
		out_word(dc, "counter");
		dc->rule->has_counter = true;
		dc->rule->packets += nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS);
		dc->rule->bytes += nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_BYTES);
	} else if (streq(name, "immediate")) {
		dc_immediate(dc, e);
	} else if (streq(name, "reject")) {
		dc_reject(dc, e);
	} else if (streq(name, "limit")) {
		uint64_t unit = nftnl_expr_get_u64(e, NFTNL_EXPR_LIMIT_UNIT);

		dc_flush_pending(dc);
		out_word(dc, "limit rate %" PRIu64 "/%s burst %" PRIu32 " %s",
			 nftnl_expr_get_u64(e, NFTNL_EXPR_LIMIT_RATE),
			 unit == 1	? "second"
			 : unit == 60	? "minute"
			 : unit == 3600 ? "hour"
					: "?",
			 nftnl_expr_get_u32(e, NFTNL_EXPR_LIMIT_BURST),
			 nftnl_expr_get_u32(e, NFTNL_EXPR_LIMIT_TYPE) == NFT_LIMIT_PKT_BYTES
				 ? "bytes"
				 : "packets");
	} else if (streq(name, "log")) {
		const char *prefix = nftnl_expr_is_set(e, NFTNL_EXPR_LOG_PREFIX)
					     ? nftnl_expr_get_str(e, NFTNL_EXPR_LOG_PREFIX)
					     : NULL;

		dc_flush_pending(dc);
		out_word(dc, "log");
		if (prefix)
			out_word(dc, "prefix \"%s\"", prefix);
		if (nftnl_expr_is_set(e, NFTNL_EXPR_LOG_GROUP))
			out_word(dc, "group %u",
				 (unsigned)nftnl_expr_get_u16(e, NFTNL_EXPR_LOG_GROUP));
	} else {
		dc_flush_pending(dc);
		out_word(dc, "[%s]", name);
	}
	return 0;
}

static bool expr_ok(const struct nlattr *expr, unsigned depth);

/* A data attribute (NFTA_DATA_*) holding a jump or goto verdict names its chain. */
static bool data_ok(const struct nlattr *data)
{
	const struct nlattr *v, *x;

	mnl_attr_for_each_nested(v, data)
	{
		uint32_t code = 0;
		bool chain = false;

		if (mnl_attr_get_type(v) != NFTA_DATA_VERDICT)
			continue;
		mnl_attr_for_each_nested(x, v)
		{
			if (mnl_attr_get_type(x) == NFTA_VERDICT_CODE &&
			    mnl_attr_get_payload_len(x) == sizeof(uint32_t))
				code = ntohl(mnl_attr_get_u32(x));
			if (mnl_attr_get_type(x) != NFTA_VERDICT_CHAIN)
				continue;
			if (mnl_attr_validate(x, MNL_TYPE_NUL_STRING) < 0)
				return false;
			chain = true;
		}
		if ((code == (uint32_t)NFT_JUMP || code == (uint32_t)NFT_GOTO) && !chain)
			return false;
	}
	return true;
}

/* Whether attribute type t of expression `name` holds data that may be a verdict. */
static bool holds_data(const char *name, uint16_t t)
{
	return (streq(name, "immediate") && t == NFTA_IMMEDIATE_DATA) ||
	       (streq(name, "cmp") && t == NFTA_CMP_DATA) ||
	       (streq(name, "range") && (t == NFTA_RANGE_FROM_DATA || t == NFTA_RANGE_TO_DATA)) ||
	       (streq(name, "bitwise") &&
		(t == NFTA_BITWISE_MASK || t == NFTA_BITWISE_XOR || t == NFTA_BITWISE_DATA));
}

/* Every element of a list of expressions is one. */
static bool expr_list_ok(const struct nlattr *list, unsigned depth)
{
	const struct nlattr *elem;

	mnl_attr_for_each_nested(elem, list)
	{
		if (!expr_ok(elem, depth))
			return false;
	}
	return true;
}

/* An expression has a NUL-terminated name (the last one counts, as in libnftnl), and so do
 * the expressions inside a dynset (the only kind that holds some); a jump or goto in its data
 * names its chain (libnftnl strdup()s a missing one). */
static bool expr_ok(const struct nlattr *expr, unsigned depth)
{
	const struct nlattr *x, *data = NULL, *y;
	const char *name = NULL;

	if (depth > 4)
		return false;
	mnl_attr_for_each_nested(x, expr)
	{
		if (mnl_attr_get_type(x) == NFTA_EXPR_DATA)
			data = x;
		if (mnl_attr_get_type(x) != NFTA_EXPR_NAME)
			continue;
		if (mnl_attr_validate(x, MNL_TYPE_NUL_STRING) < 0)
			return false;
		name = mnl_attr_get_str(x);
	}
	if (!name)
		return false;
	if (!data)
		return true;
	mnl_attr_for_each_nested(y, data)
	{
		if (holds_data(name, mnl_attr_get_type(y)) && !data_ok(y))
			return false;
		if (!streq(name, "dynset"))
			continue;
		if (mnl_attr_get_type(y) == NFTA_DYNSET_EXPR && !expr_ok(y, depth + 1))
			return false;
		if (mnl_attr_get_type(y) == NFTA_DYNSET_EXPRESSIONS && !expr_list_ok(y, depth + 1))
			return false;
	}
	return true;
}

bool nft_decode_rule_msg_ok(const struct nlmsghdr *nlh)
{
	const struct nlattr *a;

	if (!mnl_nlmsg_ok(nlh, (int)nlh->nlmsg_len) ||
	    nlh->nlmsg_len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct nfgenmsg)))
		return false;
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
	{
		if (mnl_attr_get_type(a) == NFTA_RULE_EXPRESSIONS && !expr_list_ok(a, 0))
			return false;
	}
	return true;
}

int nft_decode_rule(const struct nftnl_rule *rule, nft_decode_set_fn anon_sets, void *userdata,
		    struct nft_dump_rule *ret)
{
	struct decoder dc = { .anon_sets = anon_sets,
			      .userdata = userdata,
			      .first = true,
			      .l4proto = -1,
			      .rule = ret };
	char *text = NULL;
	size_t len = 0;

	dc.out = open_memstream(&text, &len);
	if (!dc.out)
		return -ENOMEM;
	(void)nftnl_expr_foreach((struct nftnl_rule *)rule, dc_expr, &dc);
	dc_flush_pending(&dc);
	if (fclose(dc.out) != 0 || !text) {
		free(text);
		return -ENOMEM;
	}
	ret->expr = text;
	ret->handle = nftnl_rule_get_u64(rule, NFTNL_RULE_HANDLE);
	ret->comment = nftnl_rule_comment(rule); /* NULL: none */
	return 0;
}
