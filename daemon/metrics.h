/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <sys/socket.h>

#include "loop.h"
#include "ops.h"

/*
 * Prometheus text exposition (version 0.0.4) on --metrics-listen, served by a second
 * libmicrohttpd daemon in the same loop, so that every figure is read between events, never
 * concurrently. GET /metrics only. docs/metrics.md lists the figures.
 */
struct metrics;

/* "127.0.0.1:9469", "[::1]:9469" */
int metrics_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len);
/* The exposition text. */
int metrics_render(struct ops *o, char **ret, size_t *ret_len);

int metrics_new(struct loop *loop, struct ops *ops, const char *listen, struct metrics **ret);
struct metrics *metrics_free(struct metrics *x);
int metrics_timeout_ms(struct metrics *x);
