/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by state.c (writing) and state-load.c (loading) only. */
#include "state.h"

/* Writes state.json anew from the model; with keep_prev, the old one stays as STATE_PREV. */
int state_write_file(struct state *st, const struct store *s, const struct registry *reg,
		     bool keep_prev);
/* Opens state.journal for appending (if not yet), and learns its size. */
int state_journal_open(struct state *st);
