/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "drift.h"
#include "log.h"
#include "nft-events.h"
#include "nft-verify.h"

struct gen_ctx {
	struct drift *d;
	char *why;
	size_t size;
};

static int on_gen(const struct nft_gen_event *g, void *data)
{
	struct gen_ctx *c = data;

	if (!g->touched || g->pid == getpid())
		return 0; /* not our table, or our own commit */
	c->d->detected++;
	snprintf(c->why, c->size, "table inet %s changed by pid %d (%s), generation %u",
		 POLICY_NFT_TABLE, (int)g->pid, g->comm[0] ? g->comm : "?", g->genid);
	return 0;
}

int drift_check(struct drift *d, struct endpoint *e, char *why, size_t size)
{
	struct gen_ctx c = { .d = d, .why = why, .size = size };
	int r;

	why[0] = 0;
	r = nft_events_read(&e->ev, d->ctx, on_gen, &c);
	if (r < 0) {
		struct policy_emit_options eo = endpoint_emit(e, d->emit);
		json_t *o = NULL;
		bool in_sync = false;

		/* Events were lost: compare the table with the plan instead. */
		d->event_overruns++;
		log_debug_errno(r, "Endpoint %s: nf_tables events lost (%m), checking its table",
				e->pe.name);
		if (e->nft && e->installed &&
		    nft_rules_json(e->nft, e->installed, &eo, &o, &in_sync) >= 0 && in_sync) {
			json_decref(o);
			return 0;
		}
		json_decref(o);
		if (!why[0])
			snprintf(why, size,
				 "table inet %s differs from the plan after lost nf_tables "
				 "events",
				 POLICY_NFT_TABLE);
	}
	return why[0] && endpoint_live(e) ? 1 : 0;
}
