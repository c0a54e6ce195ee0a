/* SPDX-License-Identifier: MIT */
/*
 * What the golden test's two kinds of case share (golden.c): rendering a plan as the text of
 * the libnftnl objects policy_emit() hands out, and comparing that text with a payload file, or
 * (re)writing it. test-golden.c holds the cases built by hand as plans; golden-policy.c the
 * cases that start from a policy file and a world file (tests/golden/policy/).
 */
#pragma once

#include <stdbool.h>

#include "policy/policy.h"

struct golden {
	bool regenerate;
	unsigned n; /* cases so far, for "ok N - NAME" */
	unsigned fails;
};

/* Emits plan with opts (may be NULL) and prints every object. 0 and the text, or -errno. */
int golden_render(const struct policy_plan *plan, const struct policy_emit_options *opts,
		  char **ret);
/* The same for the host-side guard of guard->plan (policy_emit_guard()). */
int golden_render_guard(const struct policy_guard *guard, char **ret);
/* Compares got with the payload file at path (or writes it) and prints one TAP-like line. */
void golden_check(struct golden *g, const char *name, const char *path, const char *got);
/* Counts a case as failed and prints "not ok N - NAME: why". */
void golden_fail(struct golden *g, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The whole file as a NUL-terminated string, or NULL with errno set. */
char *golden_read_file(const char *path, size_t *ret_len);

/* Renders the guard of plan on a fixed device (golden-guard.c) and compares it with
 * DIR/guard/NAME.payload. */
void golden_guard_check(struct golden *g, const char *dir, const char *name,
			const struct policy_plan *plan);
/* Runs the guard cases of hand-built ClusterNetworkPolicy plans (golden-guard.c). */
void golden_guard_cases(struct golden *g, const char *dir);
/* Runs every case of DIR/policy (golden-policy.c). */
void golden_policy_cases(struct golden *g, const char *dir);
