/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

/*
 * One thread, one epoll fd. A watch is embedded in its owner and recovered with container_of().
 * Callbacks return 0, LOOP_EXIT, or -errno (fatal: the loop stops and returns it).
 *
 * Removal during dispatch: a watch removed while its round is being dispatched is not called
 * again in that round, but the round may still hold an event for it, so its memory must stay
 * valid until the round ends. An owner that goes away therefore hands itself to
 * loop_free_later(): the loop frees it after the round (the embedded struct loop_deferred
 * needs no allocation, so this cannot fail).
 */
#define LOOP_EXIT 1

struct loop;
struct watch;

typedef int (*watch_fn)(struct watch *w, uint32_t events);

struct watch {
	int fd;
	watch_fn fn;
	struct loop *loop;   /* set while registered */
	uint64_t generation; /* guards against stale events after removal */
};

struct loop_deferred {
	struct loop_deferred *next;
	void (*free_fn)(struct loop_deferred *d);
};

int loop_new(struct loop **ret);
/* Frees what was handed to loop_free_later() too. Watches still registered are the owners'
 * business: remove them first. */
struct loop *loop_free(struct loop *l);
int loop_add(struct loop *l, struct watch *w, int fd, uint32_t events, watch_fn fn);
int loop_modify(struct watch *w, uint32_t events);
void loop_remove(struct watch *w);
/* free_fn(d) runs after the current dispatch round, or at the next loop_flush() (called by
 * loop_run() after every round, and by loop_free()). */
void loop_free_later(struct loop *l, struct loop_deferred *d,
		     void (*free_fn)(struct loop_deferred *d));
void loop_flush(struct loop *l);
/* Runs until a callback returns LOOP_EXIT (returns 0) or an error (returns it). The `tick`
 * callback runs after each dispatch round (deferred frees done) and returns the next epoll
 * timeout in ms (-1 none). */
int loop_run(struct loop *l, int (*tick)(void *userdata), void *userdata);
/* One round: waits up to timeout_ms, dispatches, frees what was deferred. Returns 0, LOOP_EXIT
 * or -errno (what a callback returned stops the round). For tests and for loop_run(). */
int loop_iterate(struct loop *l, int timeout_ms);

/* timerfd helpers (CLOCK_MONOTONIC, non-blocking, close-on-exec). */
int timer_fd_new(void);
int timer_fd_arm(int fd, uint64_t msec, bool periodic); /* msec 0 disarms */
int timer_fd_ack(int fd);
