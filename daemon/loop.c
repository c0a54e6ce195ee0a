/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "loop.h"
#include "macro.h"

#define LOOP_MAX_EVENTS 64

struct loop {
	int epfd;
	uint64_t generation;
	struct loop_deferred *deferred; /* freed after the current round */
};

int loop_new(struct loop **ret)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int r = -errno;

		free(l);
		return r;
	}
	*ret = l;
	return 0;
}

struct loop *loop_free(struct loop *l)
{
	if (!l)
		return NULL;
	loop_flush(l);
	safe_close(l->epfd);
	free(l);
	return NULL;
}

int loop_add(struct loop *l, struct watch *w, int fd, uint32_t events, watch_fn fn)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	w->fd = fd;
	w->fn = fn;
	w->generation = ++l->generation;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	w->loop = l;
	return 0;
}

int loop_modify(struct watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (!w->loop)
		return -EINVAL;
	return RET_NERRNO(epoll_ctl(w->loop->epfd, EPOLL_CTL_MOD, w->fd, &ev));
}

void loop_remove(struct watch *w)
{
	if (!w->loop)
		return;
	(void)epoll_ctl(w->loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->loop = NULL;
	w->generation = 0;
}

void loop_free_later(struct loop *l, struct loop_deferred *d,
		     void (*free_fn)(struct loop_deferred *d))
{
	d->free_fn = free_fn;
	d->next = l->deferred;
	l->deferred = d;
}

void loop_flush(struct loop *l)
{
	/* A free_fn may defer more: take the list each time round. */
	while (l->deferred) {
		struct loop_deferred *d = l->deferred;

		l->deferred = NULL;
		while (d) {
			struct loop_deferred *next = d->next;

			d->free_fn(d);
			d = next;
		}
	}
}

int loop_iterate(struct loop *l, int timeout_ms)
{
	struct epoll_event evs[LOOP_MAX_EVENTS];
	uint64_t gens[LOOP_MAX_EVENTS];
	int n, r = 0;

	n = epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	/* Snapshot generations: a watch removed (or removed and re-added, which gives it a new
	 * generation) by an earlier callback of this round is skipped. */
	for (int i = 0; i < n; i++)
		gens[i] = ((struct watch *)evs[i].data.ptr)->generation;
	for (int i = 0; i < n && r == 0; i++) {
		struct watch *w = evs[i].data.ptr;

		if (!w->loop || w->generation != gens[i])
			continue;
		r = w->fn(w, evs[i].events);
	}
	loop_flush(l);
	return r;
}

int loop_run(struct loop *l, int (*tick)(void *userdata), void *userdata)
{
	int timeout = tick ? tick(userdata) : -1;

	for (;;) {
		int r = loop_iterate(l, timeout);

		if (r == LOOP_EXIT)
			return 0;
		if (r < 0)
			return r;
		timeout = tick ? tick(userdata) : -1;
	}
}

int timer_fd_new(void)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int timer_fd_arm(int fd, uint64_t msec, bool periodic)
{
	struct itimerspec its = { 0 };

	its.it_value.tv_sec = msec / 1000;
	its.it_value.tv_nsec = (msec % 1000) * 1000000;
	if (periodic)
		its.it_interval = its.it_value;
	return RET_NERRNO(timerfd_settime(fd, 0, &its, NULL));
}

int timer_fd_ack(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}
