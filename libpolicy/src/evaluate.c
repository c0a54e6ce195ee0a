/* SPDX-License-Identifier: MIT */
/*
 * Evaluating a compiled plan for one connection, the way the kernel walks the chain segd
 * emits for it: in a direction the endpoint is not isolated for, everything passes; otherwise
 * the first allow rule whose peer and port match accepts, and the chain's drop (or reject)
 * ends everything else. Every matching rule is reported, the first being the deciding one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "evaluate.h"
#include "macro.h"
#include "policy/policy.h"

/* Whether set `s` holds `addr`: elements are sorted by start, intervals do not overlap. */
static bool set_has(const struct policy_set *s, const uint8_t addr[16])
{
	size_t lo = 0, hi = s->n_elems;

	/* the last element whose start is <= addr */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(s->elems[mid].start, addr, 16) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return false;
	return memcmp(addr, s->elems[lo - 1].end, 16) <= 0;
}

/* `key` is the peer's address as sets store it: an IPv4 address in the first 4 bytes, zeros
 * after. */
static bool peer_matches(const struct policy_plan *plan, const struct policy_plan_rule *r,
			 const struct policy_addr *peer, const uint8_t key[16])
{
	if (r->family == AF_UNSPEC && r->set < 0)
		return true;
	if (r->family != peer->family)
		return false;
	if (r->set < 0)
		return true;
	if ((size_t)r->set >= plan->n_sets)
		return false;
	return set_has(&plan->sets[r->set], key);
}

/* The rule's `meta l4proto P [th dport N|LO-HI]`, or nothing at all. */
static bool l4_matches(const struct policy_plan_rule *r, uint8_t ipproto, uint16_t port)
{
	if (!r->has_proto)
		return true;
	if (policy_proto_ipproto(r->proto) != ipproto)
		return false;
	if (r->port_lo == 0 && r->port_hi == 0)
		return true;
	return port >= r->port_lo && port <= r->port_hi;
}

size_t evaluate_next_match(const struct policy_plan *plan, enum policy_dir dir,
			   const struct policy_addr *peer, uint8_t ipproto, uint16_t port,
			   size_t from)
{
	uint8_t key[16] = { 0 };

	memcpy(key, peer->addr, peer->family == AF_INET ? 4 : 16);
	for (size_t i = from; i < plan->n_rules; i++) {
		const struct policy_plan_rule *r = &plan->rules[i];

		if (r->dir == dir && peer_matches(plan, r, peer, key) &&
		    l4_matches(r, ipproto, port))
			return i;
	}
	return plan->n_rules;
}

void evaluate_decide(const struct policy_plan *plan, enum policy_dir dir,
		     const struct policy_addr *peer, uint8_t ipproto, uint16_t port,
		     struct evaluate_decision *ret)
{
	struct evaluate_decision d = { .rule = plan->n_rules, .tier = _POLICY_TIER_MAX };
	/* the tier left by a Pass (its later rules are skipped) */
	bool left[_POLICY_TIER_MAX] = { false };

	for (size_t i = evaluate_next_match(plan, dir, peer, ipproto, port, 0); i < plan->n_rules;
	     i = evaluate_next_match(plan, dir, peer, ipproto, port, i + 1)) {
		const struct policy_plan_rule *r = &plan->rules[i];

		if ((unsigned)r->tier >= _POLICY_TIER_MAX || left[r->tier])
			continue;
		/* the Baseline tier is reached only where no NetworkPolicy isolates */
		if (r->tier == POLICY_TIER_BASELINE && plan->isolated[dir])
			break;
		if (r->tier != POLICY_TIER_NETPOL && r->action == POLICY_ACTION_PASS) {
			left[r->tier] = true;
			if (d.n_passes < ARRAY_SIZE(d.passes))
				d.passes[d.n_passes++] = i;
			continue;
		}
		d.rule = i;
		d.tier = r->tier;
		d.allowed = r->tier == POLICY_TIER_NETPOL || r->action == POLICY_ACTION_ACCEPT;
		*ret = d;
		return;
	}
	/* no rule decided: the NetworkPolicy default deny, or allowed */
	if (plan->isolated[dir])
		d.tier = POLICY_TIER_NETPOL;
	d.allowed = !plan->isolated[dir];
	*ret = d;
}

int policy_plan_evaluate(const struct policy_plan *plan, enum policy_dir dir,
			 const struct policy_addr *peer, enum policy_proto proto, uint16_t port,
			 struct policy_verdict *ret)
{
	struct policy_verdict v = { 0 };
	uint8_t ipproto;

	if ((unsigned)dir >= _POLICY_DIR_MAX || (unsigned)proto >= _POLICY_PROTO_MAX ||
	    (peer->family != AF_INET && peer->family != AF_INET6))
		return -EINVAL;
	ipproto = policy_proto_ipproto(proto);
	v.isolated = plan->isolated[dir];
	for (size_t i = evaluate_next_match(plan, dir, peer, ipproto, port, 0); i < plan->n_rules;
	     i = evaluate_next_match(plan, dir, peer, ipproto, port, i + 1)) {
		if (v.n_rules == 0) {
			v.rules = calloc(plan->n_rules - i, sizeof(*v.rules));
			if (!v.rules)
				return -ENOMEM;
		}
		v.rules[v.n_rules++] = i;
	}
	{
		struct evaluate_decision d;

		evaluate_decide(plan, dir, peer, ipproto, port, &d);
		v.allowed = d.allowed;
		v.decided_by = d.rule;
		v.tier = d.tier;
		v.n_passes = d.n_passes;
		memcpy(v.passes, d.passes, sizeof(v.passes));
	}
	*ret = v;
	return 0;
}

void policy_verdict_done(struct policy_verdict *v)
{
	free(v->rules);
	*v = (struct policy_verdict){ 0 };
}
