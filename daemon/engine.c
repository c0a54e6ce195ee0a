/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "engine-parse.h"
#include "engine.h"
#include "http-multi.h"
#include "log.h"
#include "loop.h"
#include "macro.h"
#include "time-util.h"

#define API_PREFIX "http://engine/v1.41"
/* {"type":["container"]} */
#define EVENTS_PATH "/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D"
#define MAX_LIST_BYTES (16u * 1024 * 1024)
#define MAX_INSPECT_BYTES (4u * 1024 * 1024)
#define MAX_EVENT_LINE (1024u * 1024)
#define MAX_INFLIGHT 8
#define REQUEST_TIMEOUT_MS 10000
#define CONNECT_TIMEOUT_MS 2000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

static const char *const auto_sockets[] = { "/run/podman/podman.sock", "/var/run/docker.sock" };

enum req_kind {
	REQ_LIST,
	REQ_INSPECT,
	REQ_EVENTS,
	_REQ_KIND_MAX,
};

struct req {
	struct engine *eng;
	struct req *next, *prev; /* every request in flight, for engine_free() */
	enum req_kind kind;
	CURL *easy;
	char *id;  /* REQ_INSPECT */
	bool full; /* REQ_LIST: inspect every container, not only new ones */
	char *buf;
	size_t len, allocated, limit;
	bool overflow;
	size_t lines;	       /* REQ_EVENTS: events handled */
	uint64_t seq;	       /* start order of requests */
	uint64_t started_usec; /* CLOCK_MONOTONIC */
	bool stale;	       /* REQ_INSPECT: a newer view of this container exists */
	char errbuf[CURL_ERROR_SIZE];
};

struct engine {
	struct loop *loop;
	const struct engine_ops *ops;
	void *userdata;
	char *spec_path; /* NULL for auto */
	char *path;	 /* socket in use */
	unsigned resync_interval_s;
	struct http_multi *http;
	int retry_fd;
	struct watch retry_watch;
	unsigned backoff_ms;
	struct req *events, *list;
	struct req *reqs; /* all in flight */
	uint64_t seq;
	char **queue; /* container ids waiting for an inspect */
	size_t n_queue;
	size_t inflight;
	bool logged_down;
	/* What has been handled so far, for `segctl status` (tests synchronise on these). */
	uint64_t n_events, n_lists, n_inspections, n_connects;
};

static void req_free(struct req *q)
{
	if (!q)
		return;
	if (q->prev)
		q->prev->next = q->next;
	else if (q->eng && q->eng->reqs == q)
		q->eng->reqs = q->next;
	if (q->next)
		q->next->prev = q->prev;
	if (q->easy)
		curl_easy_cleanup(q->easy);
	free(q->id);
	free(q->buf);
	free(q);
}

/* ---- requests ------------------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t n, void *userdata);
static size_t on_events(char *data, size_t size, size_t n, void *userdata);

static int req_start(struct engine *eng, enum req_kind kind, const char *id, struct req **ret)
{
	_cleanup_free_ char *url = NULL;
	struct req *q;
	int r;

	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->eng = eng;
	q->kind = kind;
	switch (kind) {
	case REQ_LIST:
		r = asprintf(&url, "%s/containers/json", API_PREFIX);
		q->limit = MAX_LIST_BYTES;
		break;
	case REQ_INSPECT:
		q->id = strdup(id);
		r = q->id ? asprintf(&url, "%s/containers/%s/json", API_PREFIX, id) : -1;
		q->limit = MAX_INSPECT_BYTES;
		break;
	case REQ_EVENTS:
		r = asprintf(&url, "%s%s", API_PREFIX, EVENTS_PATH);
		q->limit = MAX_EVENT_LINE;
		break;
	case _REQ_KIND_MAX:
	default:
		r = -1;
		break;
	}
	q->easy = r >= 0 ? curl_easy_init() : NULL;
	if (!q->easy) {
		req_free(q);
		return -ENOMEM;
	}
	curl_easy_setopt(q->easy, CURLOPT_URL, url);
	curl_easy_setopt(q->easy, CURLOPT_UNIX_SOCKET_PATH, eng->path);
	curl_easy_setopt(q->easy, CURLOPT_PRIVATE, q);
	curl_easy_setopt(q->easy, CURLOPT_ERRORBUFFER, q->errbuf);
	curl_easy_setopt(q->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(q->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(q->easy, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(q->easy, CURLOPT_WRITEDATA, q);
	if (kind == REQ_EVENTS) {
		curl_easy_setopt(q->easy, CURLOPT_WRITEFUNCTION, on_events);
		/* A stream: no overall timeout; TCP-level keepalive is meaningless on a unix
		 * socket, the periodic resync covers a silently stuck engine. */
	} else {
		curl_easy_setopt(q->easy, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(q->easy, CURLOPT_TIMEOUT_MS, (long)REQUEST_TIMEOUT_MS);
	}
	if (http_multi_add(eng->http, q->easy) < 0) {
		req_free(q);
		return -EIO;
	}
	q->seq = ++eng->seq;
	q->started_usec = now_usec();
	/* Replies may arrive out of order: an older inspection of the same container must never
	 * undo what a newer one found (a slow "running" after a quick 404 would bring back a
	 * container that is gone). */
	if (kind == REQ_INSPECT)
		for (struct req *o = eng->reqs; o; o = o->next)
			if (o->kind == REQ_INSPECT && streq(o->id, q->id))
				o->stale = true;
	q->next = eng->reqs;
	if (eng->reqs)
		eng->reqs->prev = q;
	eng->reqs = q;
	if (kind == REQ_INSPECT)
		eng->inflight++;
	if (ret)
		*ret = q;
	return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
	struct req *q = userdata;
	size_t len = size * n;

	if (q->len + len > q->limit) {
		q->overflow = true;
		return 0; /* aborts the transfer: over the bound is rejected, never cut */
	}
	if (q->len + len + 1 > q->allocated) {
		size_t m = (q->len + len + 1) * 2;
		char *p;

		if (m > q->limit + 1)
			m = q->limit + 1;
		p = realloc(q->buf, m);
		if (!p)
			return 0;
		q->buf = p;
		q->allocated = m;
	}
	memcpy(q->buf + q->len, data, len);
	q->len += len;
	q->buf[q->len] = 0;
	return len;
}

static void enqueue_inspect(struct engine *eng, const char *id)
{
	char **p;

	for (size_t i = 0; i < eng->n_queue; i++)
		if (streq(eng->queue[i], id))
			return;
	if (eng->n_queue >= ENGINE_MAX_CONTAINERS) {
		log_warning("Engine: over %d containers waiting for inspection, dropping %.12s "
			    "(the next resync catches it)",
			    ENGINE_MAX_CONTAINERS, id);
		return;
	}
	p = reallocarray(eng->queue, eng->n_queue + 1, sizeof(*p));
	if (!p)
		return;
	eng->queue = p;
	eng->queue[eng->n_queue] = strdup(id);
	if (eng->queue[eng->n_queue])
		eng->n_queue++;
}

static void inspect_queue_run(struct engine *eng)
{
	while (eng->n_queue > 0 && eng->inflight < MAX_INFLIGHT) {
		char *id = eng->queue[0];

		memmove(&eng->queue[0], &eng->queue[1], (eng->n_queue - 1) * sizeof(*eng->queue));
		eng->n_queue--;
		if (req_start(eng, REQ_INSPECT, id, NULL) < 0)
			log_warning("Engine: cannot inspect %.12s, ignoring", id);
		free(id);
	}
}

/* One line of the event stream: every container event is a hint to look at that container. */
static void handle_event_line(struct engine *eng, const char *line, size_t len)
{
	_cleanup_free_ char *id = NULL;
	const char *why = NULL;
	int r;

	if (len == 0)
		return;
	r = engine_parse_event(line, len, &id, &why);
	if (r == -EBADMSG)
		log_warning("Engine: ignoring a malformed event (%s)", why);
	if (r <= 0)
		return;
	log_debug("Engine event for %.12s", id);
	/* Only queued here: this runs inside libcurl's write callback, where no transfer may be
	 * added; on_after() starts the inspections. */
	enqueue_inspect(eng, id);
}

static size_t on_events(char *data, size_t size, size_t n, void *userdata)
{
	struct req *q = userdata;
	struct engine *eng = q->eng;
	size_t len = size * n, start = 0;

	for (size_t i = 0; i < len; i++) {
		if (data[i] != '\n')
			continue;
		/* the line is the buffered part plus data[start..i) */
		if (q->len > 0) {
			if (on_body(data + start, 1, i - start, q) != i - start) {
				q->overflow = true;
				return 0;
			}
			handle_event_line(eng, q->buf, q->len);
			q->len = 0;
		} else
			handle_event_line(eng, data + start, i - start);
		q->lines++;
		eng->n_events++;
		start = i + 1;
	}
	if (start < len && on_body(data + start, 1, len - start, q) != len - start) {
		log_warning("Engine: an event line is over %u bytes; reconnecting", MAX_EVENT_LINE);
		q->overflow = true;
		return 0;
	}
	return len;
}

/* ---- connection ----------------------------------------------------------------------------- */

static void schedule_retry(struct engine *eng)
{
	if (eng->backoff_ms < BACKOFF_MIN_MS)
		eng->backoff_ms = BACKOFF_MIN_MS;
	(void)timer_fd_arm(eng->retry_fd, eng->backoff_ms, false);
	eng->backoff_ms =
		eng->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : eng->backoff_ms * 2;
}

static const char *pick_socket(struct engine *eng)
{
	struct stat st;

	if (eng->spec_path)
		return eng->spec_path;
	for (size_t i = 0; i < ARRAY_SIZE(auto_sockets); i++)
		if (stat(auto_sockets[i], &st) == 0 && S_ISSOCK(st.st_mode))
			return auto_sockets[i];
	return NULL;
}

static int start_list(struct engine *eng, bool full)
{
	int r;

	if (eng->list)
		return 0;
	r = req_start(eng, REQ_LIST, NULL, &eng->list);
	if (r >= 0)
		eng->list->full = full;
	return r;
}

/* Events first, then the list: nothing that happens in between is missed. */
static void engine_connect(struct engine *eng)
{
	const char *path = pick_socket(eng);
	int r;

	if (!path) {
		if (!eng->logged_down)
			log_info("Engine: no Podman or Docker socket yet, waiting");
		eng->logged_down = true;
		schedule_retry(eng);
		return;
	}
	if (!eng->path || !streq(eng->path, path)) {
		char *p = strdup(path);

		if (!p) {
			schedule_retry(eng);
			return;
		}
		free(eng->path);
		eng->path = p;
	}
	r = req_start(eng, REQ_EVENTS, NULL, &eng->events);
	if (r >= 0)
		eng->n_connects++;
	if (r >= 0)
		r = start_list(eng, true);
	if (r < 0) {
		log_warning_errno(r, "Engine: cannot start requests to %s: %m", eng->path);
		schedule_retry(eng);
	}
}

static long http_status(CURL *easy)
{
	long code = 0;

	(void)curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

static void list_done(struct engine *eng, struct req *q, CURLcode res)
{
	char **ids = NULL, **missing = NULL;
	size_t n = 0, skipped = 0;
	long code = http_status(q->easy);
	const char *why = NULL;
	int r;

	if (res != CURLE_OK || code != 200) {
		if (!eng->logged_down)
			log_warning("Engine: listing containers at %s failed: %s", eng->path,
				    q->overflow ? "reply over the size limit"
				    : res != CURLE_OK
					    ? (q->errbuf[0] ? q->errbuf : curl_easy_strerror(res))
					    : "unexpected HTTP status");
		eng->logged_down = true;
		return;
	}
	r = engine_parse_list(q->buf ? q->buf : "", q->len, &ids, &n, &skipped, &why);
	if (r == -EBADMSG)
		log_warning("Engine: ignoring a malformed container list (%s)", why);
	if (r < 0)
		return;
	if (skipped > 0)
		log_warning("Engine: %zu listed container(s) have no valid Id, skipping them",
			    skipped);
	if (eng->logged_down)
		log_info("Engine: connected to %s, %zu running container(s)", eng->path, n);
	eng->logged_down = false;
	eng->backoff_ms = 0;

	/* Inspections started before this list about containers it no longer shows are stale. */
	for (struct req *x = eng->reqs; x; x = x->next) {
		bool listed = false;

		if (x->kind != REQ_INSPECT || x->seq > q->seq)
			continue;
		for (size_t k = 0; k < n && !listed; k++)
			listed = streq(ids[k], x->id);
		if (!listed)
			x->stale = true;
	}
	/* Not removed on the list's word alone: inspected again, and a 404 or a finished state
	 * removes them. */
	r = eng->ops->missing(ids, n, q->started_usec, &missing, eng->userdata);
	for (int x = 0; x < r; x++) {
		log_debug("Engine: %.12s is not listed any more, checking it", missing[x]);
		enqueue_inspect(eng, missing[x]);
	}
	engine_strv_free(missing);
	for (size_t k = 0; k < n; k++)
		if (q->full || !eng->ops->known(ids[k], eng->userdata))
			enqueue_inspect(eng, ids[k]);
	engine_strv_free(ids);
	inspect_queue_run(eng);
}

static void inspect_done(struct engine *eng, struct req *q, CURLcode res)
{
	struct container_info ci = { 0 };
	long code = http_status(q->easy);
	int r;

	if (q->stale) {
		log_debug("Engine: dropping an outdated inspection of %.12s", q->id);
		return;
	}
	if (res == CURLE_OK && code == 404) {
		eng->ops->gone(q->id, eng->userdata);
		return;
	}
	if (res != CURLE_OK || code != 200) {
		log_warning(
			"Engine: inspecting %.12s failed (%s), skipping it until the next event "
			"or resync",
			q->id,
			q->overflow	  ? "reply over the size limit"
			: res != CURLE_OK ? (q->errbuf[0] ? q->errbuf : curl_easy_strerror(res))
					  : "unexpected HTTP status");
		return;
	}
	r = engine_parse_inspect(q->buf ? q->buf : "", q->len, q->id, &ci);
	if (r == -EBADMSG)
		log_warning("Engine: ignoring a malformed inspect reply for %.12s", q->id);
	if (r < 0)
		return;
	/* When we learnt it, not when we asked: a list requested before this reply may predate
	 * the state the reply shows (a container "created" when the list was taken, running
	 * when inspected), and must not sweep it. */
	ci.observed_usec = now_usec();
	(void)eng->ops->seen(&ci, eng->userdata);
	container_info_done(&ci);
}

/* A finished transfer (http_multi took it out of the multi handle). */
static void on_done(CURL *easy, CURLcode res, void *userdata)
{
	struct engine *eng = userdata;
	struct req *q = NULL;

	(void)curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&q);
	if (!q)
		return;
	switch (q->kind) {
	case REQ_LIST:
		eng->list = NULL;
		list_done(eng, q, res);
		eng->n_lists++;
		break;
	case REQ_INSPECT:
		eng->inflight--;
		inspect_done(eng, q, res);
		eng->n_inspections++;
		break;
	case REQ_EVENTS:
		eng->events = NULL;
		if (!eng->logged_down)
			log_warning("Engine: event stream from %s ended (%s); reconnecting",
				    eng->path,
				    q->overflow ? "line over the size limit"
				    : res != CURLE_OK
					    ? (q->errbuf[0] ? q->errbuf : curl_easy_strerror(res))
					    : "closed by the engine");
		eng->logged_down = true;
		schedule_retry(eng);
		break;
	case _REQ_KIND_MAX:
		break;
	}
	req_free(q);
}

/* After every action: start the inspections that event lines queued. */
static void on_after(void *userdata)
{
	inspect_queue_run(userdata);
}

static const struct http_multi_ops engine_http_ops = {
	.done = on_done,
	.after = on_after,
};

/* Reconnect after a backoff, or (connected) the periodic level-triggered resync. */
static int on_retry(struct watch *w, uint32_t events)
{
	struct engine *eng = container_of(w, struct engine, retry_watch);

	(void)timer_fd_ack(eng->retry_fd);
	if (!eng->events)
		engine_connect(eng);
	else
		(void)start_list(eng, false);
	if (eng->events)
		(void)timer_fd_arm(eng->retry_fd, (uint64_t)eng->resync_interval_s * 1000, false);
	return 0;
}

int engine_new(struct loop *l, const char *spec, unsigned resync_interval_s,
	       const struct engine_ops *ops, void *userdata, struct engine **ret)
{
	struct engine *eng;

	if (!streq(spec, "auto") && strncmp(spec, "unix://", 7) != 0)
		return log_error_errno(-EINVAL,
				       "--engine: 'none', 'auto' or 'unix:///path', not '%s'",
				       spec);
	if (strncmp(spec, "unix://", 7) == 0 && spec[7] != '/')
		return log_error_errno(-EINVAL, "--engine %s: the socket path must be absolute",
				       spec);

	eng = calloc(1, sizeof(*eng));
	if (!eng)
		return -ENOMEM;
	eng->loop = l;
	eng->ops = ops;
	eng->userdata = userdata;
	eng->retry_fd = -1;
	eng->resync_interval_s = resync_interval_s ? resync_interval_s : 30;
	eng->logged_down = true;
	if (strncmp(spec, "unix://", 7) == 0) {
		eng->spec_path = strdup(spec + 7);
		if (!eng->spec_path)
			goto oom;
	}
	eng->retry_fd = timer_fd_new();
	if (eng->retry_fd < 0 || http_multi_new(l, &engine_http_ops, eng, &eng->http) < 0)
		goto oom;
	/* Idle connections kept for reuse: a burst of inspections must not leave a burst of
	 * open sockets behind. */
	curl_multi_setopt(http_multi_handle(eng->http), CURLMOPT_MAXCONNECTS, 2L);
	if (loop_add(l, &eng->retry_watch, eng->retry_fd, EPOLLIN, on_retry) < 0)
		goto oom;

	log_info("Engine: following %s, resync every %us",
		 eng->spec_path ? eng->spec_path
				: "/run/podman/podman.sock or /var/run/docker.sock",
		 eng->resync_interval_s);
	engine_connect(eng);
	if (eng->events)
		(void)timer_fd_arm(eng->retry_fd, (uint64_t)eng->resync_interval_s * 1000, false);
	*ret = eng;
	return 0;
oom:
	engine_free(eng);
	return -ENOMEM;
}

struct engine *engine_free(struct engine *eng)
{
	if (!eng)
		return NULL;
	while (eng->reqs) {
		struct req *q = eng->reqs;

		http_multi_remove(eng->http, q->easy);
		req_free(q);
	}
	eng->http = http_multi_free(eng->http);
	loop_remove(&eng->retry_watch);
	safe_close(eng->retry_fd);
	for (size_t i = 0; i < eng->n_queue; i++)
		free(eng->queue[i]);
	free(eng->queue);
	free(eng->spec_path);
	free(eng->path);
	free(eng);
	return NULL;
}

bool engine_connected(const struct engine *eng)
{
	return eng && eng->events != NULL && !eng->logged_down;
}

void engine_set_resync_interval(struct engine *eng, unsigned s)
{
	if (!eng || s == 0 || s == eng->resync_interval_s)
		return;
	eng->resync_interval_s = s;
	if (eng->events)
		(void)timer_fd_arm(eng->retry_fd, (uint64_t)s * 1000, false);
	log_info("Engine: resync every %us", s);
}

uint64_t engine_lists(const struct engine *eng)
{
	return eng ? eng->n_lists : 0;
}

json_t *engine_status_json(const struct engine *eng)
{
	if (!eng)
		return json_null();
	return json_pack("{s:s?, s:b, s:I, s:I, s:I, s:I, s:I, s:I}", "socket", eng->path,
			 "connected", eng->events != NULL && !eng->logged_down, "queued",
			 (json_int_t)eng->n_queue, "inflight", (json_int_t)eng->inflight, "events",
			 (json_int_t)eng->n_events, "lists", (json_int_t)eng->n_lists,
			 "inspections", (json_int_t)eng->n_inspections, "connects",
			 (json_int_t)eng->n_connects);
}
