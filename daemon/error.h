/* SPDX-License-Identifier: MIT */
#pragma once

#include "policy/policy.h"

/*
 * Why an operation failed, beyond its negative errno: a message for people and, for bad
 * policy input, libpolicy's diagnostics (file, line, column, field path). Operations return
 * -errno and fill this; only the API turns the errno into an HTTP status.
 */
struct op_error {
	char *message;
	struct policy_diags diags;
};

void op_error_done(struct op_error *e);
/* Sets the message and returns r (r must be negative). */
int op_error_set(struct op_error *e, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
