/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the ops-*.c files only. */
#include "ops.h"

/*
 * The second half of every change, after the model changed and what it touches was marked:
 * write the audit record, persist (everything, or only endpoint e's registration, or its
 * removal), then reconcile; a kernel failure puts the persisted state back. On failure the
 * caller restores its snapshot and reconciles again.
 */
int ops_commit(struct ops *o, const struct endpoint *e, bool removed, size_t *ret_updated,
	       struct op_error *err);
