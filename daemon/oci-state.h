/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>

/*
 * What segd-oci-hook reads from the container runtime, as pure functions (no I/O) so that the
 * fuzz harness runs the hook's own parsing: the OCI state on its stdin, the bundle's
 * config.json, and the createRuntime request it makes of them for segd.
 */

/* {"id", "pid"?, "bundle"?, "annotations"?}; pointers borrowed from the state object. */
struct oci_state {
	const char *id;	     /* a valid container id */
	json_int_t pid;	     /* 0 to PID_MAX_LIMIT - 1 */
	const char *bundle;  /* NULL if none */
	json_t *annotations; /* NULL if none (not necessarily an object) */
};

/* -EINVAL if state is not an OCI state, with the reason in jerr->text. */
int oci_state_parse(json_t *state, struct oci_state *ret, json_error_t *jerr);
/* The network namespace the runtime joins (linux.namespaces[type=network].path, the last one),
 * or NULL; the config's annotations replace absent ones in s. config may be NULL. */
const char *oci_config_netns(json_t *config, struct oci_state *s);
/* The createRuntime request: {"id", "pid", "netns"?, "annotations"?}; NULL on OOM. */
char *oci_hook_request(const struct oci_state *s, const char *netns);
