/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the read-back of rules (nft-decode.c): the bytes of a rule as the kernel
 * dumps it (the attributes of an NFT_MSG_NEWRULE message) parsed by libnftnl, as nft-dump.c
 * does, then decoded into nft-like text. Input byte 0 (low 4 bits) says how many elements the
 * anonymous sets the rule looks up hold; each is 18 bytes (key length, flags: bit 0 interval
 * end, 16 key bytes); the rest is the message's attributes. Whatever the kernel (or whoever
 * holds the socket) sends, the decoder neither reads out of bounds nor fails but for memory.
 *
 * libnftnl (1.2.4) calls exit() on an attribute of the wrong size ("nf_tables kernel ABI is
 * broken"): its policy for what only the kernel can send (nfnetlink does not take messages from
 * unprivileged senders). Here that exit is caught (exit() is interposed while libnftnl parses)
 * and counts as a refused message, so that fuzzing goes on into the decoder. What libnftnl had
 * allocated then is lost, and libFuzzer would stop the world for a leak check after each such
 * input (most of them): this harness runs with -detect_leaks=0 unless told otherwise. The
 * decoder's own leaks are the unit suite's to find (test-daemon-nft-decode under ASan).
 */
#include <dlfcn.h>
#include <errno.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sanitizer/lsan_interface.h>

#include <libmnl/libmnl.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "nft-decode.h"
#include "nft-dump.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* -detect_leaks=0 unless the command line says otherwise (see above). */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char flag[] = "-detect_leaks=0";
	char **v;

	for (int i = 1; i < *argc; i++)
		if (strncmp((*argv)[i], "-detect_leaks=", 14) == 0)
			return 0;
	v = calloc((size_t)*argc + 2, sizeof(char *));
	if (!v)
		return 0;
	memcpy(v, *argv, sizeof(char *) * (size_t)*argc);
	v[(*argc)++] = flag;
	*argv = v;
	return 0;
}

#define MAX_MSG 65536
#define ELEM_BYTES 18

struct elems {
	struct nft_dump_elem items[15];
	size_t n;
};

static const struct nft_dump_elem *anon_set(const char *name, size_t *ret_n, void *userdata)
{
	struct elems *e = userdata;

	if (!name)
		abort();
	*ret_n = e->n;
	return e->n ? e->items : NULL;
}

static jmp_buf parse_exit;
static volatile int parsing;

/* libnftnl's exit() while it parses returns to parse() instead; every other exit() is real. */
__attribute__((noreturn)) void exit(int status)
{
	static void (*real_exit)(int);

	if (parsing)
		longjmp(parse_exit, 1);
	if (!real_exit)
		real_exit = (void (*)(int))dlsym(RTLD_NEXT, "exit");
	real_exit(status);
	__builtin_unreachable();
}

/* The dump of one chain holding the rule and one set holding the elements, as JSON. */
static void show(struct nft_dump_rule *rule, const struct elems *el, unsigned flags)
{
	struct nft_dump_set set = {
		.name = (char *)"s",
		.flags = (flags & 1 ? NFT_SET_INTERVAL : 0) | (flags & 2 ? NFT_SET_ANONYMOUS : 0),
		.key_type = flags & 4	? 7
			    : flags & 8 ? 8
					: 13,
		.key_len = el->n ? el->items[0].len : 4,
		.anonymous = flags & 2,
		.n_raw = el->n,
	};
	struct nft_dump_chain chain = { .name = (char *)"input",
					.type = (char *)"filter",
					.hook = "input",
					.policy = "drop",
					.rules = rule,
					.n_rules = 1 };
	struct nft_dump d = { .table = "segd",
			      .chains = &chain,
			      .n_chains = 1,
			      .sets = &set,
			      .n_sets = 1 };
	json_t *j;
	int r;

	set.raw = malloc(sizeof(*set.raw) * (el->n ? el->n : 1));
	if (!set.raw)
		return;
	memcpy(set.raw, el->items, sizeof(*set.raw) * el->n);
	r = nft_dump_set_render(&set);
	if (r < 0 && r != -ENOMEM)
		abort();
	if (r == 0) {
		if (set.n_elements > set.n_raw)
			abort();
		for (size_t i = 0; i < set.n_elements; i++)
			if (!set.elements[i] || !set.elements[i][0])
				abort();
		/* NULL for text that is not UTF-8 (a comment or log prefix): refused as a whole */
		j = nft_dump_to_json(&d);
		json_decref(j);
	}
	for (size_t i = 0; i < set.n_elements; i++)
		free(set.elements[i]);
	free(set.elements);
	free(set.raw);
}

/* The rule of message nlh as nftnl_rule_nlmsg_parse() reads it, or NULL if libnftnl refused the
 * message or exited on it (what it had allocated then is lost, and not counted as a leak). */
static struct nftnl_rule *parse(const struct nlmsghdr *nlh)
{
	struct nftnl_rule *volatile r = NULL;

	__lsan_disable();
	if (setjmp(parse_exit) == 0) {
		parsing = 1;
		r = nftnl_rule_alloc();
		if (r && nftnl_rule_nlmsg_parse(nlh, r) < 0) {
			nftnl_rule_free(r);
			r = NULL;
		}
	} else {
		r = NULL;
	}
	parsing = 0;
	__lsan_enable();
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct nfgenmsg)) + MAX_MSG];
	static size_t last_size;
	struct nft_dump_rule out = { 0 };
	struct elems el = { 0 };
	struct nftnl_rule *r;
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;
	size_t need;
	unsigned flags;

	if (size < 1)
		return 0;
	el.n = data[0] & 0xf;
	flags = data[0] >> 4;
	need = 1 + el.n * ELEM_BYTES;
	if (size < need || size - need > MAX_MSG)
		return 0;
	for (size_t i = 0; i < el.n; i++) {
		const uint8_t *p = data + 1 + i * ELEM_BYTES;

		/* as nft-dump.c keeps them: at most 16 key bytes */
		el.items[i].len = p[0] > 16 ? 16 : p[0];
		el.items[i].interval_end = p[1] & 1;
		memcpy(el.items[i].key, p + 2, 16);
	}
	data += need;
	size -= need;

	memset(buf, 0, MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*nfg)));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE;
	nlh->nlmsg_flags = NLM_F_MULTI;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = NFPROTO_INET;
	nfg->version = NFNETLINK_V0;
	memcpy((uint8_t *)nfg + MNL_ALIGN(sizeof(*nfg)), data, size);
	/* no bytes of a longer input before it past the end (libnftnl trusts the kernel's NULs) */
	if (size < last_size)
		memset((uint8_t *)nfg + MNL_ALIGN(sizeof(*nfg)) + size, 0, last_size - size);
	last_size = size;
	nlh->nlmsg_len += (uint32_t)size;

	/* as nft-dump.c's rule_cb() does */
	if (!nft_decode_rule_msg_ok(nlh))
		return 0;
	r = parse(nlh);
	if (!r)
		return 0;
	{
		int k = nft_decode_rule(r, anon_set, &el, &out);

		if (k < 0 && k != -ENOMEM)
			abort();
		if (k == 0) {
			if (!out.expr || strlen(out.expr) > 1u << 20)
				abort();
			show(&out, &el, flags);
			free(out.expr);
			free(out.comment);
		}
	}
	nftnl_rule_free(r);
	return 0;
}
