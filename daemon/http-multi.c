/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "http-multi.h"
#include "loop.h"
#include "macro.h"

struct curl_sock {
	struct watch w;
	struct http_multi *m;
	curl_socket_t fd;
	struct loop_deferred deferred;
};

struct http_multi {
	struct loop *loop;
	const struct http_multi_ops *ops;
	void *userdata;
	CURLM *multi;
	int timer_fd;
	struct watch timer_watch;
};

static void process_done(struct http_multi *m)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(m->multi, &left))) {
		CURL *easy = msg->easy_handle;
		CURLcode res = msg->data.result;

		if (msg->msg != CURLMSG_DONE)
			continue;
		(void)curl_multi_remove_handle(m->multi, easy);
		m->ops->done(easy, res, m->userdata);
	}
	if (m->ops->after)
		m->ops->after(m->userdata);
}

static int on_curl_event(struct watch *w, uint32_t events)
{
	struct curl_sock *cs = container_of(w, struct curl_sock, w);
	struct http_multi *m = cs->m;
	int flags = 0, running;

	if (events & EPOLLIN)
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		flags |= CURL_CSELECT_ERR;
	(void)curl_multi_socket_action(m->multi, cs->fd, flags, &running);
	process_done(m);
	return 0;
}

static void curl_sock_free(struct loop_deferred *d)
{
	free(container_of(d, struct curl_sock, deferred));
}

static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct http_multi *m = userp;
	struct curl_sock *cs = socketp;
	uint32_t ev = 0;

	if (what == CURL_POLL_REMOVE) {
		if (cs) {
			loop_remove(&cs->w);
			(void)curl_multi_assign(m->multi, s, NULL);
			/* This round may still hold an event for it: freed after it. */
			loop_free_later(m->loop, &cs->deferred, curl_sock_free);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev |= EPOLLOUT;
	if (!cs) {
		cs = calloc(1, sizeof(*cs));
		if (!cs)
			return -1;
		cs->m = m;
		cs->fd = s;
		if (loop_add(m->loop, &cs->w, s, ev, on_curl_event) < 0) {
			free(cs);
			return -1;
		}
		(void)curl_multi_assign(m->multi, s, cs);
	} else if (loop_modify(&cs->w, ev) < 0)
		return -1;
	return 0;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct http_multi *m = userp;

	if (timeout_ms < 0)
		return timer_fd_arm(m->timer_fd, 0, false) < 0 ? -1 : 0;
	/* 0 means "now": a 1 ms timer keeps libcurl out of its own callback. */
	return timer_fd_arm(m->timer_fd, timeout_ms > 0 ? (uint64_t)timeout_ms : 1, false) < 0 ? -1
											       : 0;
}

static int on_timer(struct watch *w, uint32_t events)
{
	struct http_multi *m = container_of(w, struct http_multi, timer_watch);
	int running;

	(void)timer_fd_ack(m->timer_fd);
	(void)curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	process_done(m);
	return 0;
}

int http_multi_new(struct loop *loop, const struct http_multi_ops *ops, void *userdata,
		   struct http_multi **ret)
{
	struct http_multi *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->loop = loop;
	m->ops = ops;
	m->userdata = userdata;
	m->timer_fd = timer_fd_new();
	m->multi = curl_multi_init();
	if (m->timer_fd < 0 || !m->multi ||
	    loop_add(loop, &m->timer_watch, m->timer_fd, EPOLLIN, on_timer) < 0) {
		http_multi_free(m);
		return -ENOMEM;
	}
	curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
	curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
	*ret = m;
	return 0;
}

struct http_multi *http_multi_free(struct http_multi *m)
{
	if (!m)
		return NULL;
	if (m->multi)
		curl_multi_cleanup(m->multi);
	loop_remove(&m->timer_watch);
	safe_close(m->timer_fd);
	free(m);
	return NULL;
}

CURLM *http_multi_handle(struct http_multi *m)
{
	return m->multi;
}

int http_multi_add(struct http_multi *m, CURL *easy)
{
	return curl_multi_add_handle(m->multi, easy) == CURLM_OK ? 0 : -EIO;
}

void http_multi_remove(struct http_multi *m, CURL *easy)
{
	/* Removing the handle makes libcurl release (CURL_POLL_REMOVE) its sockets. */
	if (m && easy)
		(void)curl_multi_remove_handle(m->multi, easy);
}
