/* SPDX-License-Identifier: MIT */
#pragma once

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"

/*
 * Names appearing in and disappearing from a directory of named network namespaces
 * (/run/netns), as they happen (inotify): a registered name that is deleted and created again
 * must get its table within the same second, not at the next periodic check.
 *
 * `ip netns add` creates the file first and mounts the namespace on it after; a name whose
 * callback answers -EAGAIN (not a namespace yet) is asked again every NETNS_WATCH_RETRY_MS for
 * up to NETNS_WATCH_PENDING_MS, then left to the periodic check.
 */

#define NETNS_WATCH_PENDING 64 /* names waiting at once; more wait for the periodic check */
#define NETNS_WATCH_RETRY_MS 10
#define NETNS_WATCH_PENDING_MS 2000

/* 0 done (whatever it found), -EAGAIN ask again later, other -errno: logged, not asked again */
typedef int (*netns_watch_fn)(const char *name, void *userdata);

struct netns_watch {
	int fd, retry_fd;
	struct watch watch, retry_watch;
	netns_watch_fn fn;
	void *userdata;
	struct {
		char name[NAME_MAX + 1];
		int64_t since_ms;
	} pending[NETNS_WATCH_PENDING];
	size_t n_pending;
	uint64_t events; /* names reported, for tests and status */
};

/* Watches dir (created, mode 0755, if absent, as `ip netns` does). */
int netns_watch_open(struct netns_watch *w, struct loop *loop, const char *dir, netns_watch_fn fn,
		     void *userdata);
void netns_watch_close(struct netns_watch *w);
