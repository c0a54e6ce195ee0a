/* SPDX-License-Identifier: MIT */
/*
 * The engine source against an engine served from this test (the Docker Engine API on a unix
 * socket, in the same loop): it lists and inspects at connect, follows events, treats a 404
 * as gone, skips hostile lines, resyncs on its interval, reconnects when the stream ends.
 * No root, no kernel beyond a unix socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "engine.h"
#include "fixture.h"
#include "loop.h"
#include "macro.h"
#include "time-util.h"

#define ID_A "aaaaaaaaaaaa0000000000000000000000000000000000000000000000000001"
#define ID_B "bbbbbbbbbbbb0000000000000000000000000000000000000000000000000002"
#define ID_C "cccccccccccc0000000000000000000000000000000000000000000000000003"

/* ---- the fake engine ---- */

struct conn {
	struct watch w;
	int fd;
	char req[4096];
	size_t len;
	bool events; /* the events stream: kept open */
	struct loop_deferred deferred;
};

static struct {
	struct loop *loop;
	struct watch listen_watch;
	int listen_fd;
	char path[108];
	bool listed[3];	     /* which of A, B, C the list shows */
	bool exists[3];	     /* which ones inspect finds */
	struct conn *events; /* the open stream, if any */
	int lists, inspects;
} fake;

static void conn_free(struct loop_deferred *d)
{
	struct conn *c = container_of(d, struct conn, deferred);

	safe_close(c->fd);
	free(c);
}

static void conn_close(struct conn *c)
{
	if (fake.events == c)
		fake.events = NULL;
	loop_remove(&c->w);
	loop_free_later(fake.loop, &c->deferred, conn_free);
}

static void reply(struct conn *c, int status, const char *body)
{
	char head[256];

	snprintf(head, sizeof(head),
		 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		 status, strlen(body));
	assert_true(write(c->fd, head, strlen(head)) > 0);
	assert_true(write(c->fd, body, strlen(body)) >= 0);
	conn_close(c);
}

static const char *const ids[] = { ID_A, ID_B, ID_C };
static const char *const names[] = { "a", "b", "c" };

static void answer(struct conn *c)
{
	char path[512], body[4096];
	size_t n = 0;

	assert_int_equal(sscanf(c->req, "GET %511s", path), 1);
	if (strstr(path, "/events")) {
		static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
					   "Transfer-Encoding: chunked\r\n\r\n";

		assert_true(write(c->fd, head, strlen(head)) > 0);
		c->events = true;
		fake.events = c;
		return;
	}
	if (strstr(path, "/containers/json")) {
		fake.lists++;
		n = (size_t)snprintf(body, sizeof(body), "[");
		for (int i = 0; i < 3; i++)
			if (fake.listed[i])
				n += (size_t)snprintf(body + n, sizeof(body) - n,
						      "%s{\"Id\":\"%s\"}", n > 1 ? "," : "",
						      ids[i]);
		snprintf(body + n, sizeof(body) - n, "]");
		reply(c, 200, body);
		return;
	}
	for (int i = 0; i < 3; i++)
		if (strstr(path, ids[i])) {
			fake.inspects++;
			if (!fake.exists[i]) {
				reply(c, 404, "{\"message\":\"no such container\"}");
				return;
			}
			snprintf(
				body, sizeof(body),
				"{\"Id\":\"%s\",\"Name\":\"/%s\",\"State\":{\"Status\":\"running\","
				"\"Running\":true,\"Pid\":1},\"Config\":{\"Labels\":{\"app\":\"%s\"}},"
				"\"HostConfig\":{\"NetworkMode\":\"bridge\"},"
				"\"NetworkSettings\":{\"SandboxKey\":\"/run/netns/x\"}}",
				ids[i], names[i], names[i]);
			reply(c, 200, body);
			return;
		}
	reply(c, 404, "{}");
}

static int on_conn(struct watch *w, uint32_t events)
{
	struct conn *c = container_of(w, struct conn, w);
	ssize_t n = read(c->fd, c->req + c->len, sizeof(c->req) - 1 - c->len);

	if (n <= 0) {
		if (n == 0 || errno != EAGAIN)
			conn_close(c);
		return 0;
	}
	c->len += (size_t)n;
	c->req[c->len] = 0;
	if (!c->events && strstr(c->req, "\r\n\r\n"))
		answer(c);
	return 0;
}

static int on_accept(struct watch *w, uint32_t events)
{
	int fd = accept4(fake.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct conn *c;

	if (fd < 0)
		return 0;
	c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->fd = fd;
	assert_int_equal(loop_add(fake.loop, &c->w, fd, EPOLLIN, on_conn), 0);
	return 0;
}

static void fake_start(struct loop *l)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	fake.loop = l;
	snprintf(fake.path, sizeof(fake.path), "%s/engine.sock", fixture_tmpdir());
	memcpy(sa.sun_path, fake.path, strlen(fake.path) + 1);
	fake.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fake.listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fake.listen_fd, 16), 0);
	assert_int_equal(loop_add(l, &fake.listen_watch, fake.listen_fd, EPOLLIN, on_accept), 0);
}

/* One event line as a chunk of the stream. */
static void fake_event(const char *line)
{
	char chunk[1024];

	assert_non_null(fake.events);
	snprintf(chunk, sizeof(chunk), "%zx\r\n%s\n\r\n", strlen(line) + 1, line);
	assert_true(write(fake.events->fd, chunk, strlen(chunk)) > 0);
}

/* ---- what the engine source reports ---- */

static struct {
	char seen[8][80];
	int n_seen;
	char gone[8][80];
	int n_gone;
	bool known[3];
} got;

static int on_seen(const struct container_info *ci, void *userdata)
{
	assert_true(got.n_seen < 8);
	snprintf(got.seen[got.n_seen++], 80, "%s %s %s %d", ci->name ? ci->name : "?",
		 policy_labels_get(&ci->labels, "app") ?: "-", ci->running ? "running" : "stopped",
		 ci->pid);
	return 0;
}

static void on_gone(const char *id, void *userdata)
{
	assert_true(got.n_gone < 8);
	snprintf(got.gone[got.n_gone++], 80, "%s", id);
}

static bool on_known(const char *id, void *userdata)
{
	for (int i = 0; i < 3; i++)
		if (streq(id, ids[i]))
			return got.known[i];
	return false;
}

static int on_missing(char *const *listed, size_t n, uint64_t asked, char ***ret, void *userdata)
{
	*ret = calloc(1, sizeof(**ret));
	return *ret ? 0 : -ENOMEM;
}

static const struct engine_ops ops = {
	.seen = on_seen,
	.gone = on_gone,
	.known = on_known,
	.missing = on_missing,
};

static bool run_until(struct loop *l, bool (*cond)(void), int timeout_ms)
{
	int64_t deadline = now_msec() + timeout_ms;

	while (!cond()) {
		if (now_msec() > deadline)
			return false;
		assert_true(loop_iterate(l, 20) >= 0);
	}
	return true;
}

static bool one_seen(void)
{
	return got.n_seen >= 1 && fake.events;
}

static bool two_seen(void)
{
	return got.n_seen >= 2;
}

static bool one_gone(void)
{
	return got.n_gone >= 1;
}

static int lists_at_least;

static bool listed_again(void)
{
	return fake.lists >= lists_at_least;
}

static bool reconnected(void)
{
	return fake.events != NULL;
}

static void test_follow_a_fake_engine(void **state)
{
	struct loop *l = NULL;
	struct engine *e = NULL;
	char spec[160];
	json_t *st;

	assert_int_equal(loop_new(&l), 0);
	fake_start(l);
	fake.listed[0] = fake.exists[0] = fake.exists[1] = true;
	snprintf(spec, sizeof(spec), "unix://%s", fake.path);
	assert_int_equal(engine_new(l, "tcp://nope", 30, &ops, NULL, &e), -EINVAL);
	assert_int_equal(engine_new(l, "unix://relative", 30, &ops, NULL, &e), -EINVAL);
	assert_int_equal(engine_new(l, spec, 30, &ops, NULL, &e), 0);

	/* At connect: the list, and an inspection of what it shows. */
	assert_true(run_until(l, one_seen, 5000));
	assert_string_equal(got.seen[0], "a a running 1");
	assert_true(engine_connected(e));
	st = engine_status_json(e);
	assert_int_equal(json_integer_value(json_object_get(st, "lists")), 1);
	assert_int_equal(json_integer_value(json_object_get(st, "inspections")), 1);
	assert_int_equal(json_integer_value(json_object_get(st, "connects")), 1);
	json_decref(st);

	/* Events are hints: hostile lines are skipped, a valid one is inspected. */
	fake_event("not json");
	fake_event("{\"Type\":\"container\",\"Action\":\"start\",\"id\":\"../../etc\"}");
	fake_event("{\"Type\":\"network\",\"Action\":\"connect\",\"Actor\":{\"ID\":\"" ID_B "\"}}");
	fake_event("{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"" ID_B "\"}}");
	assert_true(run_until(l, two_seen, 5000));
	assert_string_equal(got.seen[1], "b b running 1");
	/* An inspection that finds nothing: gone. */
	fake_event("{\"Type\":\"container\",\"Action\":\"die\",\"id\":\"" ID_C "\"}");
	assert_true(run_until(l, one_gone, 5000));
	assert_string_equal(got.gone[0], ID_C);
	st = engine_status_json(e);
	assert_int_equal(json_integer_value(json_object_get(st, "events")), 5);
	json_decref(st);

	/* The resync interval, changed while running (SIGHUP): another list comes. */
	lists_at_least = fake.lists + 1;
	engine_set_resync_interval(e, 1);
	assert_true(run_until(l, listed_again, 3000));

	/* The stream ends: it reconnects (and lists again). */
	lists_at_least = fake.lists + 1;
	conn_close(fake.events);
	assert_false(engine_connected(e) && fake.events);
	assert_true(run_until(l, reconnected, 5000));
	assert_true(run_until(l, listed_again, 5000));
	st = engine_status_json(e);
	assert_int_equal(json_integer_value(json_object_get(st, "connects")), 2);
	json_decref(st);

	engine_free(e);
	loop_remove(&fake.listen_watch);
	close(fake.listen_fd);
	if (fake.events)
		conn_close(fake.events);
	loop_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_follow_a_fake_engine),
	};

	curl_global_init(CURL_GLOBAL_NOTHING);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
