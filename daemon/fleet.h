/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

#include "loop.h"
#include "ops.h"

/*
 * This node of a fleet (docs/fleet.md): its view of the etcd store, turned into operations.
 * It reads the whole prefix (a re-list) when it starts and whenever it cannot trust its view
 * (the store came back, the watch fell behind a compaction, its lease expired), then follows a
 * watch from the revision it read; publishes its endpoints and its status under its lease; and
 * writes the policy changes made here (ops->fleet->store_write). While the store cannot be
 * reached it changes nothing (fail static): the node enforces what it has.
 *
 * Requests to etcd other than the watch are blocking (etcd.h), bounded by short timeouts:
 * while a member does not answer, the loop waits for it at most that long per attempt.
 */
struct fleet;

struct fleet_config {
	const char *store; /* "etcd:URL[,URL...]" */
	const char *node;
	const char *cacert, *cert, *key; /* TLS files, or NULL */
	unsigned ttl_s;			 /* of the node's lease */
};

/* ops->fleet and the reconciler's peer_changed hook are set. Nothing is read from etcd yet. */
int fleet_new(struct loop *loop, struct ops *ops, const struct fleet_config *c, struct fleet **ret);
struct fleet *fleet_free(struct fleet *f);
/* Starts: the first re-list is tried at once (before the first reconcile of a restart, so that
 * other nodes' endpoints stay peers throughout); a failure is retried with a backoff, the
 * cached policies in force meanwhile. */
int fleet_start(struct fleet *f);
/* After every loop round: publishes what changed here (endpoints, the enforced revision). */
void fleet_flush(struct fleet *f);
/* For `segctl status` and metrics. */
json_t *fleet_status_json(struct fleet *f);
