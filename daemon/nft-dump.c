/* SPDX-License-Identifier: MIT */
/*
 * Read-back of table inet segd: a consistent dump (retried when the ruleset generation
 * changes under it), its expressions decoded into nft-like text, and its JSON form.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include <jansson.h>

#include "nft.h"
#include "macro.h"
#include "nft-internal.h"

/*
 * Batch pages: nftnl_batch_update() moves a message that overruns a page to a new page, and
 * silently loses one larger than a whole page; libnftnl writes messages without bounds checks,
 * so the overrun area must hold the largest message we build (a NEWSETELEM of at most
 * NFT_TXN_MAX_ELEMS elements is < 40 KiB; a rule < 2 KiB).
 */
#define BATCH_PAGE_SIZE (256u * 1024)
#define BATCH_PAGE_OVERRUN (128u * 1024)
#define RECV_BUF_SIZE (128u * 1024)
#define RCVBUF_SIZE (8 * 1024 * 1024)
#define REPLY_TIMEOUT_MS 5000
#define DUMP_RETRIES 5

DEFINE_CLEANUP(struct mnl_socket *, mnl_socket_close);
DEFINE_CLEANUP(struct nftnl_batch *, nftnl_batch_free);
DEFINE_CLEANUP(struct nftnl_table *, nftnl_table_free);
DEFINE_CLEANUP(struct nftnl_chain *, nftnl_chain_free);
DEFINE_CLEANUP(struct nftnl_set *, nftnl_set_free);
DEFINE_CLEANUP(struct nftnl_rule *, nftnl_rule_free);
DEFINE_CLEANUP(struct nftnl_gen *, nftnl_gen_free);
DEFINE_CLEANUP(struct nftnl_expr_iter *, nftnl_expr_iter_destroy);

/* ---- read-back: expression decoder -------------------------------------------------------- */

enum reg_src {
	SRC_NONE,
	SRC_META,
	SRC_PAYLOAD,
	SRC_CT,
};

struct reg {
	enum reg_src src;
	uint32_t key;		/* meta/ct key */
	uint32_t base, offset, len;	/* payload */
	bool masked;
	uint32_t mask;
};

struct decoder {
	const struct nft_dump *d;	/* sets, for anonymous set contents */
	FILE *out;
	bool first;
	struct reg regs[32];
	int nfproto;		/* last `meta nfproto` matched, 0 if none */
	int l4proto;		/* last `meta l4proto` matched, -1 if none */
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
			 g->base == NFT_PAYLOAD_LL_HEADER	 ? "ll" :
			 g->base == NFT_PAYLOAD_NETWORK_HEADER ? "nh" :
								 "th",
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

static uint64_t be_value(const uint8_t *p, uint32_t len)
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
		snprintf(buf, size, "\"%.*s\"", (int)strnlen((const char *)p, len), (const char *)p);
		return;
	}
	if (g->src == SRC_META && g->key == NFT_META_NFPROTO && len == 1) {
		snprintf(buf, size, "%s", p[0] == NFPROTO_IPV4 ? "ipv4" :
					  p[0] == NFPROTO_IPV6 ? "ipv6" : "");
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
	    g->offset == 0) {
		const char *n = icmpv6_type_name(p[0]);

		if (n)
			snprintf(buf, size, "%s", n);
		else
			snprintf(buf, size, "%u", p[0]);
		return;
	}
	if (len <= 8 && g->src == SRC_PAYLOAD) {
		snprintf(buf, size, "%" PRIu64, be_value(p, len));
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
	value_text(g, data, len, v, sizeof(v));
	if (g->src == SRC_META && g->key == NFT_META_NFPROTO && op == NFT_CMP_EQ && len == 1)
		dc->nfproto = data[0];
	if (g->src == SRC_META && g->key == NFT_META_L4PROTO && op == NFT_CMP_EQ && len == 1)
		dc->l4proto = data[0];
	out_word(dc, "%s %s%s", lhs, cmp_op_text(op), v);
}

static const struct nft_dump_set *dump_find_set(const struct nft_dump *d, const char *name)
{
	for (size_t i = 0; d && i < d->n_sets; i++)
		if (streq(d->sets[i].name, name))
			return &d->sets[i];
	return NULL;
}

static void dc_lookup(struct decoder *dc, const struct nftnl_expr *e)
{
	const char *set = nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET);
	bool inv = nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_FLAGS) &&
		   (nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_FLAGS) & NFT_LOOKUP_F_INV);
	const struct reg *g = dc_reg(dc, nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_SREG));
	const struct nft_dump_set *ds = set ? dump_find_set(dc->d, set) : NULL;
	char lhs[64], v[64];

	dc_flush_pending(dc);
	lhs_name(dc, g, lhs, sizeof(lhs));
	if (!ds || !ds->anonymous) {
		out_word(dc, "%s %s@%s", lhs, inv ? "!= " : "", set ? set : "?");
		return;
	}
	/* anonymous sets are shown inline, as nft does */
	out_word(dc, "%s %s{", lhs, inv ? "!= " : "");
	for (size_t i = 0; i < ds->n_raw; i++) {
		if (ds->raw[i].interval_end)
			continue;
		value_text(g, ds->raw[i].key, ds->raw[i].len, v, sizeof(v));
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
			 (int)nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT) == NFT_JUMP ? "jump" :
											  "goto",
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
		*g = (struct reg){ .src = SRC_META, .key = nftnl_expr_get_u32(e, NFTNL_EXPR_META_KEY) };
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
			 nftnl_expr_get_u32(e, NFTNL_EXPR_RANGE_OP) == NFT_RANGE_NEQ ? "!= " : "", a, b);
	} else if (streq(name, "lookup")) {
		dc_lookup(dc, e);
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
			 unit == 1 ? "second" : unit == 60 ? "minute" : unit == 3600 ? "hour" : "?",
			 nftnl_expr_get_u32(e, NFTNL_EXPR_LIMIT_BURST),
			 nftnl_expr_get_u32(e, NFTNL_EXPR_LIMIT_TYPE) == NFT_LIMIT_PKT_BYTES ? "bytes"
											 : "packets");
	} else if (streq(name, "log")) {
		const char *prefix = nftnl_expr_is_set(e, NFTNL_EXPR_LOG_PREFIX)
					     ? nftnl_expr_get_str(e, NFTNL_EXPR_LOG_PREFIX) : NULL;

		dc_flush_pending(dc);
		out_word(dc, "log");
		if (prefix)
			out_word(dc, "prefix \"%s\"", prefix);
		if (nftnl_expr_is_set(e, NFTNL_EXPR_LOG_GROUP))
			out_word(dc, "group %u", (unsigned)nftnl_expr_get_u16(e, NFTNL_EXPR_LOG_GROUP));
	} else {
		dc_flush_pending(dc);
		out_word(dc, "[%s]", name);
	}
	return 0;
}

static int rule_decode(const struct nft_dump *d, const struct nftnl_rule *rule,
		       struct nft_dump_rule *ret)
{
	struct decoder dc = { .d = d, .first = true, .l4proto = -1, .rule = ret };
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
	ret->comment = rule_comment(rule); /* NULL: none */
	return 0;
}

/* ---- read-back: dump ---------------------------------------------------------------------- */

struct rule_list {
	struct nftnl_rule **items;
	size_t n, cap;
};

static void rule_list_done(struct rule_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		nftnl_rule_free(l->items[i]);
	free(l->items);
	*l = (struct rule_list){};
}

static void *grow(void *p, size_t *cap, size_t n, size_t size)
{
	size_t c;
	void *q;

	if (n < *cap)
		return p;
	c = *cap ? *cap * 2 : 16;
	q = reallocarray(p, c, size);
	if (q)
		*cap = c;
	return q;
}

static void dump_rule_done(struct nft_dump_rule *r)
{
	free(r->expr);
	free(r->comment);
}

static void dump_chain_done(struct nft_dump_chain *c)
{
	free(c->name);
	free(c->type);
	for (size_t i = 0; i < c->n_rules; i++)
		dump_rule_done(&c->rules[i]);
	free(c->rules);
}

static void dump_set_done(struct nft_dump_set *s)
{
	free(s->name);
	free(s->raw);
	for (size_t i = 0; i < s->n_elements; i++)
		free(s->elements[i]);
	free(s->elements);
}

struct nft_dump *nft_dump_free(struct nft_dump *d)
{
	if (!d)
		return NULL;
	for (size_t i = 0; i < d->n_chains; i++)
		dump_chain_done(&d->chains[i]);
	free(d->chains);
	for (size_t i = 0; i < d->n_sets; i++)
		dump_set_done(&d->sets[i]);
	free(d->sets);
	free(d);
	return NULL;
}

struct dump_ctx {
	struct nft_dump *d;
	size_t cap_chains, cap_sets;
	struct rule_list *rules;
	struct nft_dump_set *cur_set;
	size_t cap_raw;
	int error;
};

static const char *hook_name(uint32_t h)
{
	switch (h) {
	case NF_INET_PRE_ROUTING:
		return "prerouting";
	case NF_INET_LOCAL_IN:
		return "input";
	case NF_INET_FORWARD:
		return "forward";
	case NF_INET_LOCAL_OUT:
		return "output";
	case NF_INET_POST_ROUTING:
		return "postrouting";
	case NF_INET_INGRESS:
		return "ingress";
	}
	return "?";
}

static bool ours(const char *table, uint32_t family)
{
	return table && streq(table, POLICY_NFT_TABLE) && family == NFPROTO_INET;
}

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	_cleanup_(nftnl_chain_freep) struct nftnl_chain *c = nftnl_chain_alloc();
	struct dump_ctx *x = data;
	struct nft_dump *d = x->d;
	struct nft_dump_chain *dc, *v;

	if (!c || nftnl_chain_nlmsg_parse(nlh, c) < 0)
		return MNL_CB_ERROR;
	if (!ours(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE), nftnl_chain_get_u32(c, NFTNL_CHAIN_FAMILY)))
		return MNL_CB_OK;
	v = grow(d->chains, &x->cap_chains, d->n_chains, sizeof(*v));
	if (!v)
		return MNL_CB_ERROR;
	d->chains = v;
	dc = &d->chains[d->n_chains];
	*dc = (struct nft_dump_chain){};
	dc->name = strdup(nftnl_chain_get_str(c, NFTNL_CHAIN_NAME) ?: "");
	if (!dc->name)
		return MNL_CB_ERROR;
	d->n_chains++;
	if (nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM)) {
		dc->hook = hook_name(nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM));
		dc->priority = nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO);
		dc->policy = nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY) == NF_DROP ? "drop" :
										    "accept";
		if (nftnl_chain_is_set(c, NFTNL_CHAIN_TYPE)) {
			dc->type = strdup(nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE));
			if (!dc->type)
				return MNL_CB_ERROR;
		}
	}
	return MNL_CB_OK;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *r = nftnl_rule_alloc();
	struct dump_ctx *x = data;
	struct nftnl_rule **v;

	if (!r || nftnl_rule_nlmsg_parse(nlh, r) < 0)
		return MNL_CB_ERROR;
	if (!ours(nftnl_rule_get_str(r, NFTNL_RULE_TABLE), nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY)))
		return MNL_CB_OK;
	v = grow(x->rules->items, &x->rules->cap, x->rules->n, sizeof(*v));
	if (!v)
		return MNL_CB_ERROR;
	x->rules->items = v;
	v[x->rules->n++] = TAKE_PTR(r);
	return MNL_CB_OK;
}

static int set_cb(const struct nlmsghdr *nlh, void *data)
{
	_cleanup_(nftnl_set_freep) struct nftnl_set *s = nftnl_set_alloc();
	struct dump_ctx *x = data;
	struct nft_dump *d = x->d;
	struct nft_dump_set *ds, *v;

	if (!s || nftnl_set_nlmsg_parse(nlh, s) < 0)
		return MNL_CB_ERROR;
	if (!ours(nftnl_set_get_str(s, NFTNL_SET_TABLE), nftnl_set_get_u32(s, NFTNL_SET_FAMILY)))
		return MNL_CB_OK;
	v = grow(d->sets, &x->cap_sets, d->n_sets, sizeof(*v));
	if (!v)
		return MNL_CB_ERROR;
	d->sets = v;
	ds = &d->sets[d->n_sets];
	*ds = (struct nft_dump_set){
		.flags = nftnl_set_get_u32(s, NFTNL_SET_FLAGS),
		.key_type = nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE),
		.key_len = nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN),
	};
	ds->anonymous = ds->flags & NFT_SET_ANONYMOUS;
	ds->name = strdup(nftnl_set_get_str(s, NFTNL_SET_NAME) ?: "");
	if (!ds->name)
		return MNL_CB_ERROR;
	d->n_sets++;
	return MNL_CB_OK;
}

static int elem_add_cb(struct nftnl_set_elem *e, void *data)
{
	struct dump_ctx *x = data;
	struct nft_dump_set *ds = x->cur_set;
	struct nft_dump_elem *v;
	uint32_t len = 0;
	const void *key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);

	v = grow(ds->raw, &x->cap_raw, ds->n_raw, sizeof(*v));
	if (!v)
		return -ENOMEM;
	ds->raw = v;
	v = &ds->raw[ds->n_raw++];
	*v = (struct nft_dump_elem){ .len = len > 16 ? 16 : len };
	if (key)
		memcpy(v->key, key, v->len);
	v->interval_end = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS) &&
			  (nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) & NFT_SET_ELEM_INTERVAL_END);
	return 0;
}

static int elem_cb(const struct nlmsghdr *nlh, void *data)
{
	_cleanup_(nftnl_set_freep) struct nftnl_set *s = nftnl_set_alloc();
	struct dump_ctx *x = data;

	if (!s || nftnl_set_elems_nlmsg_parse(nlh, s) < 0)
		return MNL_CB_ERROR;
	if (nftnl_set_elem_foreach(s, elem_add_cb, x) < 0)
		return MNL_CB_ERROR;
	return MNL_CB_OK;
}

static int elem_cmp(const void *a, const void *b)
{
	const struct nft_dump_elem *x = a, *y = b;
	int c = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);

	if (c)
		return c;
	/* an interval's end (exclusive) sorts before the start of the next at the same key */
	return (int)y->interval_end - (int)x->interval_end;
}

static void key_text(const struct nft_dump_set *s, const uint8_t *k, uint32_t len, char *buf,
		     size_t size)
{
	if (len == 4 && s->key_type != 8 && (s->key_type == 7 || s->key_len == 4)) {
		inet_ntop(AF_INET, k, buf, (socklen_t)size);
		return;
	}
	if (len == 16) {
		inet_ntop(AF_INET6, k, buf, (socklen_t)size);
		return;
	}
	if (len <= 8) {
		snprintf(buf, size, "%" PRIu64, be_value(k, len));
		return;
	}
	for (uint32_t i = 0, o = 0; i < len && o + 3 < size; i++)
		o += (uint32_t)snprintf(buf + o, size - o, i ? "%02x" : "0x%02x", k[i]);
}

static bool key_dec(uint8_t *k, uint32_t len)
{
	for (uint32_t i = len; i-- > 0;)
		if (k[i]-- != 0)
			return true;
	return false;
}

static int set_render(struct nft_dump_set *s)
{
	char a[INET6_ADDRSTRLEN + 8], b[INET6_ADDRSTRLEN + 8];
	size_t n = 0;

	if (s->n_raw > 1)
		qsort_safe(s->raw, s->n_raw, sizeof(*s->raw), elem_cmp);
	s->elements = calloc(s->n_raw ? s->n_raw : 1, sizeof(char *));
	if (!s->elements)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_raw; i++) {
		const struct nft_dump_elem *e = &s->raw[i];
		char *str;

		/* nft writes a leading end element at key 0; it carries no addresses */
		if (e->interval_end)
			continue;
		key_text(s, e->key, e->len, a, sizeof(a));
		if (s->flags & NFT_SET_INTERVAL) {
			uint8_t last[16];

			if (i + 1 < s->n_raw && s->raw[i + 1].interval_end) {
				memcpy(last, s->raw[i + 1].key, e->len);
				(void)key_dec(last, e->len);
			} else {
				memset(last, 0xff, e->len); /* open to the top */
			}
			if (memcmp(last, e->key, e->len) != 0) {
				key_text(s, last, e->len, b, sizeof(b));
				if (asprintf(&str, "%s-%s", a, b) < 0)
					return -ENOMEM;
				s->elements[n++] = str;
				continue;
			}
		}
		str = strdup(a);
		if (!str)
			return -ENOMEM;
		s->elements[n++] = str;
	}
	s->n_elements = n;
	return 0;
}

static struct nlmsghdr *dump_hdr(struct nft_sock *s, char *buf, uint16_t type)
{
	return nftnl_nlmsg_build_hdr(buf, type, NFPROTO_INET, NLM_F_DUMP, sock_next_seq(s));
}

static int dump_once(struct nft_sock *s, struct nft_dump **ret)
{
	_cleanup_(nft_dump_freep) struct nft_dump *d = calloc(1, sizeof(*d));
	_cleanup_(rule_list_done) struct rule_list rules = {};
	struct dump_ctx x = { .d = d, .rules = &rules };
	uint32_t gen2 = 0;
	char buf[1024] = {};
	struct nlmsghdr *nlh;
	int r;

	if (!d)
		return -ENOMEM;
	r = nft_genid(s, &d->genid);
	if (r < 0)
		return r;
	r = nft_table_get(s, &d->table_flags, &d->owner);
	if (r < 0)
		return r;
	if (r == 0)
		return -ENOENT;
	d->owned_by_us = d->owner != 0 && d->owner == s->portid;

	nlh = dump_hdr(s, buf, NFT_MSG_GETCHAIN);
	mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, POLICY_NFT_TABLE);
	r = sock_request(s, nlh, chain_cb, &x);
	if (r < 0)
		return r;

	nlh = dump_hdr(s, buf, NFT_MSG_GETSET);
	mnl_attr_put_strz(nlh, NFTA_SET_TABLE, POLICY_NFT_TABLE);
	r = sock_request(s, nlh, set_cb, &x);
	if (r < 0)
		return r;
	for (size_t i = 0; i < d->n_sets; i++) {
		nlh = dump_hdr(s, buf, NFT_MSG_GETSETELEM);
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, POLICY_NFT_TABLE);
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, d->sets[i].name);
		x.cur_set = &d->sets[i];
		x.cap_raw = 0;
		r = sock_request(s, nlh, elem_cb, &x);
		if (r < 0)
			return r;
		r = set_render(&d->sets[i]);
		if (r < 0)
			return r;
	}

	nlh = dump_hdr(s, buf, NFT_MSG_GETRULE);
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, POLICY_NFT_TABLE);
	r = sock_request(s, nlh, rule_cb, &x);
	if (r < 0)
		return r;
	for (size_t i = 0; i < rules.n; i++) {
		const char *cn = nftnl_rule_get_str(rules.items[i], NFTNL_RULE_CHAIN);
		struct nft_dump_chain *c = NULL;
		struct nft_dump_rule *v;

		for (size_t j = 0; cn && j < d->n_chains; j++)
			if (streq(d->chains[j].name, cn))
				c = &d->chains[j];
		if (!c)
			continue; /* chain created after the chain dump: genid check retries */
		v = reallocarray(c->rules, c->n_rules + 1, sizeof(*v));
		if (!v)
			return -ENOMEM;
		c->rules = v;
		v = &c->rules[c->n_rules++];
		*v = (struct nft_dump_rule){};
		r = rule_decode(d, rules.items[i], v);
		if (r < 0)
			return r;
	}

	r = nft_genid(s, &gen2);
	if (r < 0)
		return r;
	if (gen2 != d->genid)
		return -EINTR;
	*ret = TAKE_PTR(d);
	return 0;
}

int nft_dump(struct nft_sock *s, struct nft_dump **ret)
{
	int r = -EINTR;

	for (int i = 0; i < DUMP_RETRIES && r == -EINTR; i++)
		r = dump_once(s, ret);
	return r == -EINTR ? -EAGAIN : r;
}

const struct nft_dump_rule *nft_dump_find_rule(const struct nft_dump *d, const char *chain,
						const char *comment)
{
	for (size_t i = 0; i < d->n_chains; i++) {
		if (chain && !streq(d->chains[i].name, chain))
			continue;
		for (size_t j = 0; j < d->chains[i].n_rules; j++) {
			const struct nft_dump_rule *r = &d->chains[i].rules[j];

			if (r->comment && streq(r->comment, comment))
				return r;
		}
	}
	return NULL;
}

/* ---- read-back: JSON ---------------------------------------------------------------------- */

static const char *set_type_name(uint32_t t, char *buf, size_t size)
{
	switch (t) {
	case 7:
		return "ipv4_addr";
	case 8:
		return "ipv6_addr";
	case 29:
		return "icmpv6_type";
	}
	snprintf(buf, size, "type %" PRIu32, t);
	return buf;
}

static json_t *flag_names(uint32_t flags, const char *const *names, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		if ((flags & (1u << i)) && names[i] && json_array_append_new(a, json_string(names[i])) < 0)
			return json_decref(a), NULL;
	return a;
}

/* "NS/NAME ingress[3]" -> policy "NS/NAME", direction "ingress", rule 3 */
static int rule_provenance(json_t *o, const char *comment)
{
	const char *sp = comment ? strrchr(comment, ' ') : NULL;
	char dir[16];
	unsigned idx;
	int end = 0;

	if (!sp || sp == comment || !strchr(comment, '/') || strncmp(comment, "segd:", 5) == 0)
		return 0;
	if (sscanf(sp + 1, "%15[a-z][%u]%n", dir, &idx, &end) != 2 || sp[1 + end] != 0)
		return 0;
	if (!streq(dir, "ingress") && !streq(dir, "egress"))
		return 0;
	if (json_object_set_new(o, "policy", json_stringn(comment, (size_t)(sp - comment))) < 0 ||
	    json_object_set_new(o, "direction", json_string(dir)) < 0 ||
	    json_object_set_new(o, "rule", json_integer(idx)) < 0)
		return -ENOMEM;
	return 0;
}

json_t *nft_dump_to_json(const struct nft_dump *d)
{
	static const char *const table_flags[] = { "dormant", "owner", "persist" };
	static const char *const set_flags[] = { "anonymous", "constant", "interval", "map",
						 "timeout", "dynamic", "object", "concat", "expr" };
	json_auto_t *root = NULL;
	json_t *chains, *sets;

	root = json_pack("{s:s, s:o, s:o, s:o}", "table", "inet " POLICY_NFT_TABLE, "flags",
			 flag_names(d->table_flags, table_flags, ARRAY_SIZE(table_flags)), "chains",
			 json_array(), "sets", json_array());
	if (!root)
		return NULL;
	chains = json_object_get(root, "chains");
	sets = json_object_get(root, "sets");

	for (size_t i = 0; i < d->n_chains; i++) {
		const struct nft_dump_chain *c = &d->chains[i];
		json_t *jc, *rules;

		jc = json_pack("{s:s, s:o}", "name", c->name, "rules", json_array());
		if (!jc || json_array_append_new(chains, jc) < 0)
			return NULL;
		if (c->hook && (json_object_set_new(jc, "hook", json_string(c->hook)) < 0 ||
				json_object_set_new(jc, "priority", json_integer(c->priority)) < 0 ||
				json_object_set_new(jc, "policy", json_string(c->policy)) < 0))
			return NULL;
		rules = json_object_get(jc, "rules");
		for (size_t j = 0; j < c->n_rules; j++) {
			const struct nft_dump_rule *r = &c->rules[j];
			json_t *jr;

			jr = json_pack("{s:I, s:s, s:o, s:I, s:I}", "handle", (json_int_t)r->handle,
				       "expr", r->expr, "comment",
				       r->comment ? json_string(r->comment) : json_null(), "packets",
				       (json_int_t)r->packets, "bytes", (json_int_t)r->bytes);
			if (!jr || json_array_append_new(rules, jr) < 0)
				return NULL;
			if (rule_provenance(jr, r->comment) < 0)
				return NULL;
		}
	}

	for (size_t i = 0; i < d->n_sets; i++) {
		const struct nft_dump_set *s = &d->sets[i];
		char tbuf[32];
		json_t *js, *el;

		if (s->anonymous)
			continue; /* shown inline in the rules' expr */
		js = json_pack("{s:s, s:s, s:o, s:o}", "name", s->name, "type",
			       set_type_name(s->key_type, tbuf, sizeof(tbuf)), "flags",
			       flag_names(s->flags, set_flags, ARRAY_SIZE(set_flags)), "elements",
			       json_array());
		if (!js || json_array_append_new(sets, js) < 0)
			return NULL;
		el = json_object_get(js, "elements");
		for (size_t j = 0; j < s->n_elements; j++)
			if (json_array_append_new(el, json_string(s->elements[j])) < 0)
				return NULL;
	}
	return json_incref(root);
}
