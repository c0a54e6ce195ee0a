/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "netns-watch.h"
#include "netns.h"
#include "time-util.h"

static void pending_add(struct netns_watch *w, const char *name)
{
	for (size_t i = 0; i < w->n_pending; i++)
		if (streq(w->pending[i].name, name))
			return;
	if (w->n_pending == NETNS_WATCH_PENDING) {
		log_debug("Too many network namespace names pending; %s waits for the periodic "
			  "check",
			  name);
		return;
	}
	snprintf(w->pending[w->n_pending].name, sizeof(w->pending[0].name), "%s", name);
	w->pending[w->n_pending++].since_ms = now_msec();
	(void)timer_fd_arm(w->retry_fd, NETNS_WATCH_RETRY_MS, true);
}

static int report(struct netns_watch *w, const char *name)
{
	int r;

	w->events++;
	r = w->fn(name, w->userdata);
	log_debug("%s: %s changed (%d)", NETNS_RUN_DIR, name, r);
	if (r == -EAGAIN)
		pending_add(w, name);
	else if (r < 0 && r != -ENOMEM)
		log_warning_errno(r, "Network namespace %s: %m", name);
	return r == -ENOMEM ? r : 0;
}

static int on_event(struct watch *wt, uint32_t events)
{
	struct netns_watch *w = container_of(wt, struct netns_watch, watch);
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		ssize_t n = read(w->fd, buf, sizeof(buf));

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			int r;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				/* lost events: the periodic check looks at every endpoint */
				log_debug("inotify overflow on the network namespace directory");
				continue;
			}
			if (ev->len == 0 || !ev->name[0] || ev->name[0] == '.')
				continue;
			r = report(w, ev->name);
			if (r < 0)
				return r;
		}
	}
}

static int on_retry(struct watch *wt, uint32_t events)
{
	struct netns_watch *w = container_of(wt, struct netns_watch, retry_watch);
	int64_t now = now_msec();
	size_t k = 0;

	(void)timer_fd_ack(w->retry_fd);
	for (size_t i = 0; i < w->n_pending; i++) {
		int r = w->fn(w->pending[i].name, w->userdata);

		if (r == -ENOMEM)
			return r;
		if (r == -EAGAIN && now - w->pending[i].since_ms < NETNS_WATCH_PENDING_MS)
			w->pending[k++] = w->pending[i];
	}
	w->n_pending = k;
	if (k == 0)
		(void)timer_fd_arm(w->retry_fd, 0, false);
	return 0;
}

int netns_watch_open(struct netns_watch *w, struct loop *loop, const char *dir, netns_watch_fn fn,
		     void *userdata)
{
	int r;

	*w = (struct netns_watch){ .fd = -1, .retry_fd = -1, .fn = fn, .userdata = userdata };
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0)
		return -errno;
	if (inotify_add_watch(w->fd, dir,
			      IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_ONLYDIR) <
	    0) {
		r = -errno;
		netns_watch_close(w);
		return r;
	}
	w->retry_fd = timer_fd_new();
	r = w->retry_fd < 0 ? w->retry_fd : 0;
	if (r >= 0)
		r = loop_add(loop, &w->watch, w->fd, EPOLLIN, on_event);
	if (r >= 0)
		r = loop_add(loop, &w->retry_watch, w->retry_fd, EPOLLIN, on_retry);
	if (r < 0)
		netns_watch_close(w);
	return r;
}

void netns_watch_close(struct netns_watch *w)
{
	loop_remove(&w->watch);
	loop_remove(&w->retry_watch);
	w->fd = safe_close(w->fd);
	w->retry_fd = safe_close(w->retry_fd);
	w->n_pending = 0;
}
