/* SPDX-License-Identifier: MIT */
#pragma once

#include <curl/curl.h>

#include "loop.h"

/*
 * libcurl's multi interface driven by the loop: its sockets are loop watches, its timer a
 * timerfd. The owner adds easy handles; when a transfer finishes, the module removes it from
 * the multi handle and calls `done` (the owner frees the easy handle). After every action
 * (socket readiness or timeout) and the `done` calls it caused, `after` runs: the place for
 * work that may not happen inside libcurl's callbacks (starting transfers queued by a write
 * callback, reporting what a stream delivered). Both run outside every libcurl callback: they
 * may add and remove handles, but not free the http_multi.
 */
struct http_multi;

struct http_multi_ops {
	void (*done)(CURL *easy, CURLcode result, void *userdata);
	void (*after)(void *userdata); /* may be NULL */
};

int http_multi_new(struct loop *loop, const struct http_multi_ops *ops, void *userdata,
		   struct http_multi **ret);
/* Removes (without `done`) and leaves to the owner whatever handles it still holds: remove
 * them first. */
struct http_multi *http_multi_free(struct http_multi *m);
CURLM *http_multi_handle(struct http_multi *m);
/* 0, or -EIO when libcurl refuses the handle. */
int http_multi_add(struct http_multi *m, CURL *easy);
/* Takes a transfer out before it finished (no `done`); no-op for a handle it does not hold. */
void http_multi_remove(struct http_multi *m, CURL *easy);
