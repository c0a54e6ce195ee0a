/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

/*
 * One thread, one epoll fd. A watch is embedded in its owner and recovered with container_of().
 * Callbacks return 0, LOOP_EXIT, or -errno (fatal: the loop stops and returns it).
 * A watch removed while its round is being dispatched is not called again in that round.
 */
#define LOOP_EXIT 1

struct loop;
struct watch;

typedef int (*watch_fn)(struct watch *w, uint32_t events);

struct watch {
	int fd;
	watch_fn fn;
	struct loop *loop;	/* set while registered */
	uint64_t generation;	/* guards against stale events after removal */
};

int loop_new(struct loop **ret);
struct loop *loop_free(struct loop *l);
int loop_add(struct loop *l, struct watch *w, int fd, uint32_t events, watch_fn fn);
int loop_modify(struct watch *w, uint32_t events);
void loop_remove(struct watch *w);
/* Runs until a callback returns LOOP_EXIT (returns 0) or an error (returns it). The `tick`
 * callback runs after each dispatch round and returns the next epoll timeout in ms (-1 none). */
int loop_run(struct loop *l, int (*tick)(void *userdata), void *userdata);

/* timerfd helpers (CLOCK_MONOTONIC, non-blocking, close-on-exec). */
int timer_fd_new(void);
int timer_fd_arm(int fd, uint64_t msec, bool periodic);	/* msec 0 disarms */
int timer_fd_ack(int fd);
