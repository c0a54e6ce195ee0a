/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ipset.h"
#include "macro.h"

void range_list_done(struct range_list *l)
{
	free(l->items);
	*l = (struct range_list){ 0 };
}

int range_list_add(struct range_list *l, u128 lo, u128 hi)
{
	if (l->n == l->allocated) {
		size_t n = l->allocated ? l->allocated * 2 : 8;
		struct range *p = reallocarray(l->items, n, sizeof(*p));

		if (!p)
			return -ENOMEM;
		l->items = p;
		l->allocated = n;
	}
	l->items[l->n++] = (struct range){ .lo = lo, .hi = hi };
	return 0;
}

static int range_cmp(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return 0;
}

void range_list_normalize(struct range_list *l)
{
	size_t o = 0;

	if (l->n == 0)
		return;
	qsort_safe(l->items, l->n, sizeof(*l->items), range_cmp);
	for (size_t i = 1; i < l->n; i++) {
		struct range *cur = &l->items[o];
		const struct range *next = &l->items[i];

		/* overlapping or adjacent (cur->hi + 1 == next->lo; no overflow when hi < lo) */
		if (next->lo <= cur->hi || next->lo - 1 == cur->hi) {
			if (next->hi > cur->hi)
				cur->hi = next->hi;
		} else
			l->items[++o] = *next;
	}
	l->n = o + 1;
}

u128 addr_to_u128(int family, const uint8_t addr[16])
{
	size_t len = family == AF_INET ? 4 : 16;
	u128 v = 0;

	for (size_t i = 0; i < len; i++)
		v = (v << 8) | addr[i];
	return v;
}

void u128_to_addr(int family, u128 v, uint8_t ret[16])
{
	size_t len = family == AF_INET ? 4 : 16;

	memset(ret, 0, 16);
	for (size_t i = len; i > 0; i--) {
		ret[i - 1] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

struct range cidr_range(const struct policy_cidr *c)
{
	unsigned bits = c->family == AF_INET ? 32 : 128;
	unsigned host = bits - c->prefixlen;
	u128 v = addr_to_u128(c->family, c->addr);
	u128 hostmask = host >= 128 ? ~(u128)0 : (((u128)1 << host) - 1);

	return (struct range){ .lo = v & ~hostmask, .hi = v | hostmask };
}

int ipblock_ranges(const struct policy_ipblock *b, struct range_list *out)
{
	static const struct policy_cidr link_local = { .family = AF_INET6,
						       .addr = { 0xfe, 0x80 },
						       .prefixlen = 10 };
	struct range_list cur = { 0 }, next = { 0 };
	struct range all = cidr_range(&b->cidr), ll = cidr_range(&link_local);
	bool drop_ll = b->cidr.family == AF_INET6 && !(all.lo >= ll.lo && all.hi <= ll.hi);
	int r;

	r = range_list_add(&cur, all.lo, all.hi);
	if (r < 0)
		return r;

	/* Subtract each except (and fe80::/10) from every remaining range: at most one split
	 * per range. */
	for (size_t e = 0; e < b->n_except + drop_ll; e++) {
		struct range x = e < b->n_except ? cidr_range(&b->except[e]) : ll;

		next.n = 0;
		for (size_t i = 0; i < cur.n; i++) {
			struct range c = cur.items[i];

			if (x.hi < c.lo || x.lo > c.hi) {
				r = range_list_add(&next, c.lo, c.hi);
			} else {
				r = 0;
				if (x.lo > c.lo)
					r = range_list_add(&next, c.lo, x.lo - 1);
				if (r >= 0 && x.hi < c.hi)
					r = range_list_add(&next, x.hi + 1, c.hi);
			}
			if (r < 0)
				goto out;
		}
		struct range_list t = cur;
		cur = next;
		next = t;
	}

	for (size_t i = 0; i < cur.n; i++) {
		r = range_list_add(out, cur.items[i].lo, cur.items[i].hi);
		if (r < 0)
			goto out;
	}
	r = 0;
out:
	range_list_done(&cur);
	range_list_done(&next);
	return r;
}
