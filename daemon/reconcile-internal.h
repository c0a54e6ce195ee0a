/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by reconcile.c and reconcile-mark.c only. */
#include "reconcile.h"

/* Lists e among the marked endpoints (it is dirty already). */
void reconcile_push_marked(struct reconciler *rc, struct endpoint *e);
/* The index made again from every endpoint (rc->index_failed if out of memory). */
void reconcile_index_rebuild(struct reconciler *rc);
/* Marks e (dirty, listed) without touching the index; another node's endpoint only makes the
 * remote models stale. */
void reconcile_mark_only(struct reconciler *rc, struct endpoint *e);
