/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/*
 * The retry schedule of something that failed and is tried again later, on its own: the first
 * retry BACKOFF_START_MS after the first failure, each next delay twice the last, never more
 * than BACKOFF_CAP_MS. A success (or the thing going away) resets it. Pure: times are given
 * (CLOCK_MONOTONIC microseconds), nothing sleeps, the caller arms its own timer.
 */
#define BACKOFF_START_MS 100
#define BACKOFF_CAP_MS 30000

struct backoff {
	unsigned failures; /* in a row; 0: not failing */
	uint64_t due_usec; /* when the next try is due (0 while not failing) */
};

/* The delay after the n-th failure in a row (n >= 1), in ms; 0 for n == 0. */
uint64_t backoff_delay_ms(unsigned failures);
/* One more failure at now_usec: schedules the next try and returns its delay in ms. */
uint64_t backoff_fail(struct backoff *b, uint64_t now_usec);
void backoff_reset(struct backoff *b);
/* Failing, and its next try is not due yet at now_usec. */
bool backoff_waiting(const struct backoff *b, uint64_t now_usec);
