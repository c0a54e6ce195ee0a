/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for flow logs (flows.c): the input as a logged packet's headers
 * (flows_parse_packet), and as a datagram of nfnetlink messages recorded by flows_record(), as
 * flows_read() records each one the kernel sends. Ports are only ever read from inside the
 * packet, and records are only made from segd's exact prefixes.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "flows.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool lookup(int family, const uint8_t *addr, struct flow_party *ret, void *userdata)
{
	static const struct policy_labels none;

	if (addr[0] & 1)
		return false;
	*ret = (struct flow_party){ .name = "peer", .namespace = "ns", .labels = &none };
	return true;
}

static void fuzz_packet(const uint8_t *data, size_t size)
{
	struct flow_packet pk;
	size_t hl;

	if (flows_parse_packet(data, size, &pk) < 0)
		return;
	if (pk.family != AF_INET && pk.family != AF_INET6)
		abort();
	if (pk.sport < 0 && pk.dport < 0)
		return;
	hl = pk.family == AF_INET ? (size_t)(data[0] & 0xf) * 4 : 40;
	if (pk.sport < 0 || pk.dport < 0 || pk.sport > 65535 || pk.dport > 65535 || size < hl + 4 ||
	    (pk.proto != IPPROTO_TCP && pk.proto != IPPROTO_UDP && pk.proto != IPPROTO_SCTP))
		abort();
}

/* A plan of two allow rules and two isolating policies, for the records to name. */
static char *selected[] = { (char *)"ns/in", (char *)"ns/out" };
static unsigned selected_types[] = { POLICY_TYPE_INGRESS, POLICY_TYPE_EGRESS };
static struct policy_plan_rule rules[] = {
	{ .dir = POLICY_DIR_INGRESS,
	  .policy_namespace = (char *)"ns",
	  .policy_name = (char *)"in",
	  .family = AF_UNSPEC,
	  .set = -1 },
	{ .dir = POLICY_DIR_EGRESS,
	  .policy_namespace = (char *)"ns",
	  .policy_name = (char *)"out",
	  .rule_index = 3,
	  .family = AF_UNSPEC,
	  .set = -1 },
};
static const struct policy_plan plan = {
	.endpoint = (char *)"self",
	.rules = rules,
	.n_rules = 2,
	.selected_by = selected,
	.selected_types = selected_types,
	.n_selected_by = 2,
};

static void fuzz_read(const uint8_t *data, size_t size)
{
	static const struct policy_labels labels;
	const struct flow_party self = { .name = "self", .namespace = "ns", .labels = &labels };
	struct flows *f = NULL;

	if (size == 0 || size > 65536 || flows_new(NULL, 0, &f) < 0)
		return;
	if (flows_record(f, data, size, &self, data[0] & 1 ? &plan : NULL, lookup, NULL) == -ENOMEM)
		abort();
	/* everything recorded is queryable */
	json_decref(flows_query(f, &(struct flows_filter){ .verdict = "denied" }));
	flows_free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_packet(data, size);
	fuzz_read(data, size);
	return 0;
}
