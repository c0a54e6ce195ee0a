/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "segctl.h"

/* A policy file read into memory, as sent to /v1/apply and /v1/delete. */
struct manifest {
	const char *name; /* as given on the command line; "-" for stdin */
	char *data;	  /* NUL-terminated */
	size_t len;
};

/* Reads `path` ("-": stdin), at most POLICY_MAX_INPUT_BYTES. Errors are printed. */
int manifest_read(const char *path, struct manifest *ret);
void manifest_done(struct manifest *m);

/* POSTs the raw text to `route`?file=NAME[&dryRun=true]. Errors are printed. */
int manifest_send(const struct segctl *c, const char *route, const struct manifest *m, bool dry_run,
		  json_t **ret);

/*
 * Prints one line per object of `list` ([{"kind", "namespace", "name", "action"}]):
 * "networkpolicy/NS/NAME created", "namespace/NAME configured". `action` overrides the
 * objects' own action when not NULL.
 */
void manifest_print_objects(json_t *list, const char *action, bool dry_run);
