/* SPDX-License-Identifier: MIT */
#include "duration.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define NSEC_PER_SEC UINT64_C(1000000000)

static const struct {
	const char *suffix;
	uint64_t ns; /* one unit */
} units[] = {
	{ "ms", NSEC_PER_SEC / 1000 }, { "s", NSEC_PER_SEC }, { "m", 60 * NSEC_PER_SEC },
	{ "h", 3600 * NSEC_PER_SEC },  { "", NSEC_PER_SEC },
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int duration_parse(const char *s, uint64_t max_ns, uint64_t *ret_ns, const char **why)
{
	uint64_t whole = 0, frac = 0, frac_scale = 1, unit = 0, total, frac_ns;
	const char *p = s;
	size_t n_whole = 0;

	if (!s || !*s) {
		*why = "empty";
		return -EINVAL;
	}
	/* The integer part, saturated: any number of digits, no overflow. */
	for (; is_digit(*p); p++, n_whole++)
		whole = whole > (UINT64_MAX - 9) / 10 ? UINT64_MAX
						      : whole * 10 + (uint64_t)(*p - '0');
	if (n_whole == 0) {
		*why = "not a number";
		return -EINVAL;
	}
	if (*p == '.') {
		size_t n_frac = 0;

		for (p++; is_digit(*p); p++, n_frac++)
			if (frac_scale < NSEC_PER_SEC) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				frac_scale *= 10;
			}
		if (n_frac == 0) {
			*why = "no digits after '.'";
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(p, units[i].suffix) == 0) {
			unit = units[i].ns;
			break;
		}
	if (!unit) {
		*why = "unknown unit (ms, s, m or h)";
		return -EINVAL;
	}
	/* whole * unit + frac / frac_scale * unit, each step checked against max_ns */
	if (whole > max_ns / unit) {
		*why = "too long";
		return -EINVAL;
	}
	total = whole * unit;
	/* frac < frac_scale <= 1e9, and every unit is a multiple of 1e6 ns (s, m and h of 1e9):
	 * frac * (unit / frac_scale) < unit, with no overflow */
	frac_ns = unit >= frac_scale ? frac * (unit / frac_scale) : frac / (frac_scale / unit);
	if (frac_ns > max_ns - total) {
		*why = "too long";
		return -EINVAL;
	}
	total += frac_ns;
	if (total == 0) {
		*why = "not more than 0";
		return -EINVAL;
	}
	*ret_ns = total;
	return 0;
}

const char *duration_age(int64_t then, int64_t now, char buf[static DURATION_AGE_MAX])
{
	const char *sign = "";
	uint64_t s, m, h, d;

	if (then <= 0)
		return "-";
	if (now >= then)
		s = (uint64_t)now - (uint64_t)then;
	else {
		s = (uint64_t)then - (uint64_t)now;
		if (s <= 1)
			s = 0;
		else
			sign = "-";
	}
	m = s / 60;
	h = s / 3600;
	d = s / 86400;
	if (s < 120)
		snprintf(buf, DURATION_AGE_MAX, "%s%" PRIu64 "s", sign, s);
	else if (m < 10 && s % 60)
		snprintf(buf, DURATION_AGE_MAX, "%s%" PRIu64 "m%" PRIu64 "s", sign, m, s % 60);
	else if (m < 180)
		snprintf(buf, DURATION_AGE_MAX, "%s%" PRIu64 "m", sign, m);
	else if (h < 8 && m % 60)
		snprintf(buf, DURATION_AGE_MAX, "%s%" PRIu64 "h%" PRIu64 "m", sign, h, m % 60);
	else if (h < 48)
		snprintf(buf, DURATION_AGE_MAX, "%s%" PRIu64 "h", sign, h);
	else if (h < 192 && h % 24)
		snprintf(buf, DURATION_AGE_MAX, "%s%" PRIu64 "d%" PRIu64 "h", sign, d, h % 24);
	else if (d < 730)
		snprintf(buf, DURATION_AGE_MAX, "%s%" PRIu64 "d", sign, d);
	else if (d < 8 * 365 && d % 365)
		snprintf(buf, DURATION_AGE_MAX, "%s%" PRIu64 "y%" PRIu64 "d", sign, d / 365,
			 d % 365);
	else
		snprintf(buf, DURATION_AGE_MAX, "%s%" PRIu64 "y", sign, d / 365);
	return buf;
}
