/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <time.h>

#include <jansson.h>

/* The last ERRLOG_SIZE problems segd ran into, newest first in `segctl status`. */
#define ERRLOG_SIZE 16

struct errlog {
	struct {
		time_t time;
		char *message;
	} items[ERRLOG_SIZE];
	size_t total;
};

void errlog_add(struct errlog *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void errlog_done(struct errlog *l);
/* [{"time": "2026-12-05T03:00:00Z", "message": ...}], newest first. */
json_t *errlog_json(const struct errlog *l);
