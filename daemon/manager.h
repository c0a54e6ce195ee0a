/* SPDX-License-Identifier: MIT */
#pragma once

#include "settings.h"

/*
 * The manager owns every part of segd and wires them: the loop, signals (SIGTERM and SIGINT
 * exit, SIGHUP reloads), the timers (a short debounce for address changes, a periodic check of
 * the namespaces), the model (store, registry), the reconciler, the state dir, the audit log,
 * flow logs, the API, the metrics server and the engine source. It decides nothing itself:
 * operations do (ops.h).
 */
struct manager;

/* Re-reads the settings (SIGHUP): fills *ret (settings_init()'d by the caller). */
typedef int (*manager_reload_fn)(struct settings *ret, void *userdata);

int manager_new(const struct settings *s, manager_reload_fn reload, void *userdata,
		struct manager **ret);
struct manager *manager_free(struct manager *m);
/* Probes the kernel, loads the state dir, re-adopts and reconciles every namespace, then opens
 * the API, the metrics server and the engine source. */
int manager_start(struct manager *m);
/* Until SIGTERM or SIGINT (0), or a fatal error. */
int manager_run(struct manager *m);
/* What SIGHUP does: settings read again and applied where they can be, logs reopened. */
int manager_reload(struct manager *m);

/* For tests: the operations of a started manager, and one round of its loop (waiting at most
 * max_ms, less when libmicrohttpd has work due): 0, LOOP_EXIT or -errno. */
struct ops *manager_ops(struct manager *m);
int manager_run_once(struct manager *m, int max_ms);
