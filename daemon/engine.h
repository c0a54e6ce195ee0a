/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

struct engine;
struct manager;

/*
 * The container engine source: the Docker Engine API (which Podman serves too) over its unix
 * socket, with libcurl's multi interface driven from our epoll loop. It lists the running
 * containers, follows /events, and inspects every container an event names; each result goes to
 * the manager. Events are hints: after every (re)connect and every resync interval it lists all
 * containers again and the manager sweeps the ones that are gone. When the engine goes away it
 * reconnects with exponential backoff.
 *
 * spec: "auto" (/run/podman/podman.sock, then /var/run/docker.sock) or "unix:///path".
 */
int engine_new(struct manager *m, const char *spec, unsigned resync_interval_s,
	       struct engine **ret);
struct engine *engine_free(struct engine *e);
/* Frees what the last loop round released; called after every round. */
void engine_tick(struct engine *e);

#include <jansson.h>
/* {"socket", "connected", "queued"} for segctl status; NULL engine: null. */
json_t *engine_status_json(const struct engine *e);
/* Whether the event stream is up (false without an engine). */
bool engine_connected(const struct engine *e);
