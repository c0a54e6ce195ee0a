/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

/* A Prometheus histogram of durations in seconds (cumulative buckets). */
#define HISTOGRAM_BUCKETS 15
extern const double histogram_buckets[HISTOGRAM_BUCKETS];

struct histogram {
	uint64_t buckets[HISTOGRAM_BUCKETS];
	uint64_t count;
	double sum;
};

static inline void histogram_observe(struct histogram *h, double seconds)
{
	for (int i = 0; i < HISTOGRAM_BUCKETS; i++)
		if (seconds <= histogram_buckets[i])
			h->buckets[i]++;
	h->count++;
	h->sum += seconds;
}
