/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

#include <jansson.h>

struct endpoint;
struct manager;
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

int flows_new(const char *file, uint64_t max_file_bytes, struct flows **ret);
struct flows *flows_free(struct flows *f);

/* The NFLOG socket of the namespace nsfd, bound to the group, copying packet headers. */
int flows_socket_open(int nsfd, int *ret_fd);
/* Reads what e's socket holds and records it. */
int flows_read(struct manager *m, struct endpoint *e);

/*
 * {"flows": [records with seq > since, oldest first, at most limit], "next": seq to ask from
 * next time, "dropped": records that left the ring before anyone could read them}, filtered by
 * an endpoint at either end, by verdict ("allowed"/"denied") and by time (records at or after
 * time_from, "YYYY-MM-DDTHH:MM:SS.ffffffZ") when given.
 */
json_t *flows_query(struct flows *f, const char *endpoint, const char *verdict, uint64_t since,
		    const char *time_from, size_t limit);
