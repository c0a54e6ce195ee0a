/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * Durations on the command line (--timeout): DIGITS[.DIGITS][UNIT], UNIT one of ms, s, m, h;
 * no unit is seconds ("30", "0.5", "500ms", "2m", "1.5h"). Nothing else: no sign, no blanks, no
 * exponent, no "inf". Digits past nanoseconds are dropped; the result must be more than 0 and at
 * most max_ns.
 *
 * Returns 0 and the duration in *ret_ns, or -EINVAL with a short reason in *why (static).
 */
int duration_parse(const char *s, uint64_t max_ns, uint64_t *ret_ns, const char **why);

/*
 * The age of a unix-seconds timestamp `then` at `now`, as kubectl shows ages: "45s", "2m30s",
 * "12m", "3h20m", "30h", "2d5h", "40d", "2y3d". "-" when then <= 0 (unknown). A timestamp in
 * the future by more than a second (another host's clock ahead of ours) is a negative age,
 * "-5s"; by at most a second, "0s". `buf` must hold DURATION_AGE_MAX bytes.
 */
#define DURATION_AGE_MAX 32
const char *duration_age(int64_t then, int64_t now, char buf[static DURATION_AGE_MAX]);
