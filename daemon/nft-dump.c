/* SPDX-License-Identifier: MIT */
/*
 * Read-back of table inet segd: chains, sets with their elements (intervals rendered as
 * ranges), rules decoded by nft-decode.c, all between two reads of the ruleset generation so
 * that a dump that raced a change is retried; and its JSON form.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>

#include <jansson.h>

#include "nft-decode.h"
#include "nft-dump.h"
#include "nft-table.h"
#include "nftnl-util.h"

#define DUMP_RETRIES 5

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

static bool ours(const struct nft_dump *d, const char *table, uint32_t family)
{
	return table && streq(table, d->table) && family == NFPROTO_INET;
}

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	_cleanup_(nftnl_chain_freep) struct nftnl_chain *c = nftnl_chain_alloc();
	struct dump_ctx *x = data;
	struct nft_dump *d = x->d;
	struct nft_dump_chain *dc, *v;

	if (!c || nftnl_chain_nlmsg_parse(nlh, c) < 0)
		return MNL_CB_ERROR;
	if (!ours(x->d, nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE),
		  nftnl_chain_get_u32(c, NFTNL_CHAIN_FAMILY)))
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
		dc->policy =
			nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY) == NF_DROP ? "drop" : "accept";
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

	if (!r || !nft_decode_rule_msg_ok(nlh) || nftnl_rule_nlmsg_parse(nlh, r) < 0)
		return MNL_CB_ERROR;
	if (!ours(x->d, nftnl_rule_get_str(r, NFTNL_RULE_TABLE),
		  nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY)))
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
	if (!ours(x->d, nftnl_set_get_str(s, NFTNL_SET_TABLE),
		  nftnl_set_get_u32(s, NFTNL_SET_FAMILY)))
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
	v->interval_end =
		nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS) &&
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
		snprintf(buf, size, "%" PRIu64, nft_be_value(k, len));
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

int nft_dump_set_render(struct nft_dump_set *s)
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

static const struct nft_dump_elem *anon_set(const char *name, size_t *ret_n, void *userdata)
{
	const struct nft_dump *d = userdata;

	for (size_t i = 0; i < d->n_sets; i++)
		if (d->sets[i].anonymous && streq(d->sets[i].name, name)) {
			*ret_n = d->sets[i].n_raw;
			return d->sets[i].raw;
		}
	return NULL;
}

static struct nlmsghdr *dump_hdr(struct nft_sock *s, char *buf, uint16_t type)
{
	return nftnl_nlmsg_build_hdr(buf, type, NFPROTO_INET, NLM_F_DUMP, nft_sock_next_seq(s));
}

static int dump_once(struct nft_sock *s, const char *table, struct nft_dump **ret)
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
	if (strlen(table) >= sizeof(d->table))
		return -EINVAL;
	snprintf(d->table, sizeof(d->table), "%s", table);
	r = nft_genid(s, &d->genid);
	if (r < 0)
		return r;
	r = nft_table_get_named(s, NFPROTO_INET, table, &d->table_flags, &d->owner);
	if (r < 0)
		return r;
	if (r == 0)
		return -ENOENT;
	d->owned_by_us = d->owner != 0 && d->owner == nft_sock_portid(s);

	nlh = dump_hdr(s, buf, NFT_MSG_GETCHAIN);
	mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, table);
	r = nft_sock_request(s, nlh, chain_cb, &x);
	if (r < 0)
		return r;

	nlh = dump_hdr(s, buf, NFT_MSG_GETSET);
	mnl_attr_put_strz(nlh, NFTA_SET_TABLE, table);
	r = nft_sock_request(s, nlh, set_cb, &x);
	if (r < 0)
		return r;
	for (size_t i = 0; i < d->n_sets; i++) {
		nlh = dump_hdr(s, buf, NFT_MSG_GETSETELEM);
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table);
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, d->sets[i].name);
		x.cur_set = &d->sets[i];
		x.cap_raw = 0;
		r = nft_sock_request(s, nlh, elem_cb, &x);
		if (r < 0)
			return r;
		r = nft_dump_set_render(&d->sets[i]);
		if (r < 0)
			return r;
	}

	nlh = dump_hdr(s, buf, NFT_MSG_GETRULE);
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, table);
	r = nft_sock_request(s, nlh, rule_cb, &x);
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
		r = nft_decode_rule(rules.items[i], anon_set, d, v);
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

int nft_dump_table(struct nft_sock *s, const char *table, struct nft_dump **ret)
{
	int r = -EINTR;

	for (int i = 0; i < DUMP_RETRIES && r == -EINTR; i++)
		r = dump_once(s, table, ret);
	return r == -EINTR ? -EAGAIN : r;
}

int nft_dump(struct nft_sock *s, struct nft_dump **ret)
{
	return nft_dump_table(s, POLICY_NFT_TABLE, ret);
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
		if ((flags & (1u << i)) && names[i] &&
		    json_array_append_new(a, json_string(names[i])) < 0)
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
	static const char *const set_flags[] = { "anonymous", "constant", "interval",
						 "map",	      "timeout",  "dynamic",
						 "object",    "concat",	  "expr" };
	json_auto_t *root = NULL;
	json_t *chains, *sets;
	char name[64];

	snprintf(name, sizeof(name), "inet %s", d->table);
	root = json_pack("{s:s, s:o, s:o, s:o}", "table", name, "flags",
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
		if (c->hook &&
		    (json_object_set_new(jc, "hook", json_string(c->hook)) < 0 ||
		     json_object_set_new(jc, "priority", json_integer(c->priority)) < 0 ||
		     json_object_set_new(jc, "policy", json_string(c->policy)) < 0))
			return NULL;
		rules = json_object_get(jc, "rules");
		for (size_t j = 0; j < c->n_rules; j++) {
			const struct nft_dump_rule *r = &c->rules[j];
			json_t *jr;

			jr = json_pack("{s:I, s:s, s:o, s:I, s:I}", "handle", (json_int_t)r->handle,
				       "expr", r->expr, "comment",
				       r->comment ? json_string(r->comment) : json_null(),
				       "packets", (json_int_t)r->packets, "bytes",
				       (json_int_t)r->bytes);
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
