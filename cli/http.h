/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * One HTTP/1.1 request over a unix socket, "Connection: close", bounded in time by a
 * CLOCK_MONOTONIC deadline (every phase, connect() included: a listen queue that stays full
 * makes connect() wait, and that wait is bounded with SO_SNDTIMEO) and in size. segctl's
 * transport; client.c turns its result into messages.
 */
enum http_phase {
	HTTP_CONNECT,
	HTTP_SEND,
	HTTP_ANSWER,
};

struct http_call {
	const char *socket;
	const char *fallback; /* tried when socket says EACCES; may be NULL */
	double deadline;      /* http_now() based */
	const char *head;     /* request line and headers, ending in an empty line */
	const char *body;     /* may be NULL */
	size_t len;
	size_t max_body;
};

struct http_result {
	const char *socket; /* the one used */
	enum http_phase phase;
	bool timed_out;
	int error; /* errno of what failed in `phase`, or 0 */
	bool too_big;
	bool malformed; /* not an HTTP answer */
	long status;	/* 0 until a status line came */
	char *body;	/* NUL-terminated; caller frees */
	size_t len;
};

double http_now(void);
/* 0 with an answer in *res (status, body), or -1 with *res saying what went wrong. */
int http_call(const struct http_call *call, struct http_result *res);
