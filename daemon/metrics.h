/* SPDX-License-Identifier: MIT */
#pragma once

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct loop;
struct manager;
struct metrics;

#define METRICS_BUCKETS 15
extern const double metrics_duration_buckets[METRICS_BUCKETS];

/* A Prometheus histogram of durations in seconds (cumulative buckets). */
struct histogram {
	uint64_t buckets[METRICS_BUCKETS];
	uint64_t count;
	double sum;
};

void metrics_observe(struct histogram *h, double seconds);

/* "127.0.0.1:9469", "[::1]:9469" */
int metrics_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len);
/* The exposition text of the manager's figures (docs/metrics.md). */
int metrics_render(struct manager *m, char **ret, size_t *ret_len);

int metrics_new(struct manager *m, struct loop *loop, const char *listen, struct metrics **ret);
struct metrics *metrics_free(struct metrics *x);
int metrics_timeout_ms(struct metrics *x);
