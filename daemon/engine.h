/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "containers.h"
#include "loop.h"

/*
 * The container engine source: the Docker Engine API (which Podman serves too) over its unix
 * socket, with libcurl's multi interface driven from our loop. It lists the running
 * containers, follows /events, and inspects every container an event names; what it learns
 * goes to its engine_ops. Events are hints: after every (re)connect and every resync interval
 * it lists all containers again, and containers the list no longer shows are inspected again
 * (only a 404 or a finished state removes). When the engine goes away it reconnects with
 * exponential backoff.
 *
 * spec: "auto" (/run/podman/podman.sock, then /var/run/docker.sock) or "unix:///path".
 */
struct engine;

struct engine_ops {
	/* An inspection's result (running or not). */
	int (*seen)(const struct container_info *ci, void *userdata);
	/* The engine says it does not exist (404). */
	void (*gone)(const char *id, void *userdata);
	/* Known with its labels and name: a list need not inspect it again. */
	bool (*known)(const char *id, void *userdata);
	/* After a full list asked for at asked_usec: the known containers it does not show (see
	 * containers_missing()); their count, or -errno. */
	int (*missing)(char *const *listed, size_t n, uint64_t asked_usec, char ***ret,
		       void *userdata);
};

int engine_new(struct loop *l, const char *spec, unsigned resync_interval_s,
	       const struct engine_ops *ops, void *userdata, struct engine **ret);
struct engine *engine_free(struct engine *e);
/* From the next resync on (SIGHUP). */
void engine_set_resync_interval(struct engine *e, unsigned seconds);

/* Container lists completed since the start. */
uint64_t engine_lists(const struct engine *eng);
/* {"socket", "connected", "queued", "inflight", "events", "lists", "inspections",
 * "connects"} for segctl status; NULL engine: null. */
json_t *engine_status_json(const struct engine *e);
/* Whether the event stream is up (false without an engine). */
bool engine_connected(const struct engine *e);
