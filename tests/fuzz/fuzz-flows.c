/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for flow logs (flows.c): the input as a logged packet's headers
 * (flows_parse_packet), and as a datagram of nfnetlink messages read by flows_read() from a
 * socketpair, the way the NFLOG socket delivers them. Ports are only ever read from inside
 * the packet, and records are only made from segd's prefixes.
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

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * A datagram whose netlink header claims 2^31 bytes or more crashes or hangs flows_read()
 * (libmnl 1.0.4's mnl_nlmsg_ok() compares the length as an int; see test-flows.c). With
 * SEGD_FUZZ_SKIP_KNOWN=1 such inputs are not read, so that a run can look past that bug.
 */
static bool skip_known;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *e = getenv("SEGD_FUZZ_SKIP_KNOWN");

	skip_known = e && e[0] == '1';
	log_set_level(LOG_ERR);
	return 0;
}

static bool hits_known_bug(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (off + 16 <= size) {
		uint32_t len;

		memcpy(&len, data + off, sizeof(len));
		if (len >= 0x80000000u)
			return true;
		if (len < 16 || len > size - off)
			return false;
		off += (len + 3) & ~3u;
	}
	return false;
}

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
	int fds[2];

	if (size == 0 || size > 65536 || (skip_known && hits_known_bug(data, size)))
		return;
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0)
		return;
	if (send(fds[1], data, size, 0) == (ssize_t)size && flows_new(NULL, 0, &f) == 0) {
		if (flows_read(f, fds[0], &self, data[0] & 1 ? &plan : NULL, lookup, NULL) < 0)
			abort();
		/* everything recorded is queryable */
		json_decref(flows_query(f, &(struct flows_filter){ .verdict = "denied" }));
		flows_free(f);
	}
	close(fds[0]);
	close(fds[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_packet(data, size);
	fuzz_read(data, size);
	return 0;
}
