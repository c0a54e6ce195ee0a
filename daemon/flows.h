/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "policy/policy.h"

struct flows;

/*
 * Flow logs. The endpoints' chains send new connections to NFLOG group FLOWS_NFLOG_GROUP of
 * their own namespace (denied ones rate-limited, allowed ones with --flow-log all, see
 * policy_emit_options); segd reads each namespace's group on a socket of its own and turns
 * every packet into a record naming both ends (endpoint, namespace, labels, address, port),
 * the verdict and what decided it. Records are kept in a ring of FLOWS_RING and, with a file,
 * appended as JSON lines (rotated to FILE.1 past its size limit).
 */
#define FLOWS_NFLOG_GROUP 5379
#define FLOWS_RING 4096
#define FLOWS_QUERY_MAX 4096

/* One end of a flow, as the records name it. */
struct flow_party {
	const char *name;
	const char *namespace;
	const struct policy_labels *labels;
};

/* Who has this address (false: nobody segd knows). */
typedef bool (*flows_lookup_fn)(int family, const uint8_t *addr, struct flow_party *ret,
				void *userdata);

int flows_new(const char *file, uint64_t max_file_bytes, struct flows **ret);
struct flows *flows_free(struct flows *f);
/* Reopens the file (after logrotate moved it). */
int flows_reopen(struct flows *f);

/* The NFLOG socket of the namespace nsfd, bound to the group, copying packet headers. */
int flows_socket_open(int nsfd, int *ret_fd);
/* Gives the group back at once (fd stays open): the namespace's next NFLOG socket can bind
 * it while this one waits to be closed (closer.h). Best effort. */
void flows_socket_unbind(int fd);
/* Reads what fd (the socket of endpoint `self`, enforcing `plan`) holds and records it. */
int flows_read(struct flows *f, int fd, const struct flow_party *self,
	       const struct policy_plan *plan, flows_lookup_fn lookup, void *userdata);
/* The records of one datagram of NFLOG messages (what flows_read() does with each). -EBADMSG
 * for a datagram whose messages do not fit it; messages that are not packets logged by segd's
 * rules are skipped. */
int flows_record(struct flows *f, const void *buf, size_t len, const struct flow_party *self,
		 const struct policy_plan *plan, flows_lookup_fn lookup, void *userdata);
/* Records seen so far, by verdict. */
uint64_t flows_count(const struct flows *f, bool denied);

/* The headers of a logged packet. -EBADMSG if it is not an IPv4/IPv6 packet. */
struct flow_packet {
	int family;
	uint8_t proto;
	uint8_t src[16], dst[16];
	int sport, dport; /* -1: none (not TCP/UDP/SCTP, a later fragment, or cut short) */
};

int flows_parse_packet(const uint8_t *p, size_t n, struct flow_packet *ret);

/* A query: records with seq > since, oldest first, at most limit (0: FLOWS_QUERY_MAX), with
 * an endpoint at either end, a verdict ("allowed"/"denied"), at or after time_from
 * ("YYYY-MM-DDTHH:MM:SS.ffffffZ") when given. */
struct flows_filter {
	const char *endpoint;
	const char *verdict;
	uint64_t since;
	const char *time_from;
	size_t limit;
};

/* {"flows": [...], "next": seq to ask from next time, "dropped": records that left the ring
 * before anyone could read them}. */
json_t *flows_query(struct flows *f, const struct flows_filter *q);
