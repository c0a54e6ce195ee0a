/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A whole segd core for tests of the layers above the kernel modules: a manager started on a
 * temporary state dir, socket and audit log, no engine, inside the private kernel of
 * fixture.h. Tests drive its operations directly (manager_ops) and its loop by rounds.
 */
#include <jansson.h>

#include "manager.h"
#include "ops.h"

struct harness {
	struct manager *m;
	struct ops *ops;
	char dir[128];
	char socket[160];
	char audit[160];
};

/* Starts segd's core; `config` (NULL or "name = value" lines) adds settings. */
void harness_start(struct harness *h, const char *config);
void harness_stop(struct harness *h);
/* Registers netns endpoint NAME on /run/netns/NAME (created with fixture_netns if absent)
 * with labels "k=v,..." in namespace ns; asserts success. */
void harness_endpoint(struct harness *h, const char *name, const char *ns, const char *labels);
/* Applies policy text; asserts success. */
void harness_apply(struct harness *h, const char *text);
/* Runs loop rounds until cond(userdata) or timeout_ms passed; whether cond held. */
bool harness_until(struct harness *h, bool (*cond)(struct harness *h, void *userdata),
		   void *userdata, int timeout_ms);
