/* SPDX-License-Identifier: MIT */
/*
 * The etcd client against a real etcd (3.4 or later) that this test starts on free loopback
 * ports with a temporary data dir, and kills at the end: prefix ranges, transactions (atomic,
 * deletes of a key and of a prefix), leases (grant, keepalive, revoke, expiry), the watch
 * (a transaction's events in one batch, a compacted start revision, restart from `ended`),
 * failover across URLs, https with a client certificate. Without an `etcd` binary in PATH every test fails, saying so.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "etcd-fixture.h"
#include "etcd.h"
#include "fixture.h"
#include "loop.h"
#include "macro.h"
#include "time-util.h"

#define WAIT_TIMEOUT_MS 20000

static struct {
	bool missing; /* no etcd binary */
	struct etcd_server server;
	const char *url;
	char dead[64]; /* a loopback port nobody listens on */
	struct loop *loop;
} g;

static struct etcd *client(const char *a, const char *b)
{
	const char *urls[] = { a, b };
	struct etcd_config cfg = { .urls = urls, .n_urls = b ? 2 : 1 };
	struct etcd *c = NULL;

	assert_int_equal(etcd_new(g.loop, &cfg, &c), 0);
	return c;
}

static int setup(void **state)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (!etcd_fixture_have("etcd")) {
		g.missing = true;
		return 0;
	}
	assert_int_equal(loop_new(&g.loop), 0);
	etcd_server_start(&g.server, NULL);
	g.url = g.server.url;
	snprintf(g.dead, sizeof(g.dead), "http://127.0.0.1:%d", etcd_fixture_free_port());
	return 0;
}

static int teardown(void **state)
{
	etcd_server_stop(&g.server);
	g.loop = loop_free(g.loop);
	curl_global_cleanup();
	return 0;
}

#define NEED_ETCD() ETCD_FIXTURE_NEEDED(g.missing)

static int64_t txn(struct etcd *c, const struct etcd_op *ops, size_t n)
{
	struct etcd_error err = { "" };
	int64_t rev = 0;
	int r = etcd_txn(c, ops, n, &rev, &err);

	if (r < 0)
		fail_msg("txn: %d %s", r, err.message);
	assert_true(rev > 0);
	return rev;
}

static int64_t put(struct etcd *c, const char *key, const char *value)
{
	struct etcd_op op = { ETCD_OP_PUT, key, value, strlen(value), 0 };

	return txn(c, &op, 1);
}

static size_t range(struct etcd *c, const char *prefix, struct etcd_kv **kvs, int64_t *rev)
{
	struct etcd_error err = { "" };
	size_t n = 0;
	int r = etcd_range_prefix(c, prefix, kvs, &n, rev, &err);

	if (r < 0)
		fail_msg("range %s: %d %s", prefix, r, err.message);
	return n;
}

static void test_range_prefix(void **state)
{
	static const char binary[] = { 'a', 0, (char)0xff, '\n', 'z' };
	struct etcd_op ops[] = {
		{ ETCD_OP_PUT, "/r/b", "B", 1, 0 },
		{ ETCD_OP_PUT, "/r/a", binary, sizeof(binary), 0 },
		{ ETCD_OP_PUT, "/r/c/d", "", 0, 0 },
		{ ETCD_OP_PUT, "/r", "outside", 7, 0 },
		{ ETCD_OP_PUT, "/r0", "outside", 7, 0 },
		{ ETCD_OP_PUT, "/rx", "outside", 7, 0 },
	};
	struct etcd_kv *kvs = NULL;
	struct etcd *c;
	int64_t rev, written;
	size_t n;

	NEED_ETCD();
	c = client(g.url, NULL);
	written = txn(c, ops, ARRAY_SIZE(ops));
	n = range(c, "/r/", &kvs, &rev);
	assert_true(rev >= written);
	assert_int_equal(n, 3);
	assert_string_equal(kvs[0].key, "/r/a");
	assert_int_equal(kvs[0].value_len, sizeof(binary));
	assert_memory_equal(kvs[0].value, binary, sizeof(binary));
	assert_string_equal(kvs[1].key, "/r/b");
	assert_string_equal(kvs[1].value, "B");
	assert_string_equal(kvs[2].key, "/r/c/d");
	assert_int_equal(kvs[2].value_len, 0);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(kvs[i].mod_revision, written);
		assert_int_equal(kvs[i].create_revision, written);
		assert_int_equal(kvs[i].version, 1);
		assert_int_equal(kvs[i].lease, 0);
	}
	etcd_kvs_free(kvs, n);
	/* nothing there: no keys, the store's revision */
	assert_int_equal(range(c, "/nothing/", &kvs, &rev), 0);
	assert_true(rev >= written);
	etcd_kvs_free(kvs, 0);
	/* "" is every key */
	n = range(c, "", &kvs, &rev);
	assert_true(n >= 6);
	etcd_kvs_free(kvs, n);
	assert_string_equal(etcd_current_url(c), g.url);
	etcd_free(c);
}

/* More keys than a page: read in pages, every key once, in order, at one revision (a write
 * between pages is not seen). */
static void test_range_pages(void **state)
{
	const size_t total = ETCD_RANGE_PAGE + ETCD_RANGE_PAGE / 2 + 7;
	struct etcd_op *ops = calloc(ETCD_MAX_TXN_OPS, sizeof(*ops));
	char(*keys)[32] = calloc(total, sizeof(*keys));
	struct etcd_kv *kvs = NULL;
	struct etcd *c;
	int64_t rev, written = 0;
	size_t n, k = 0;

	NEED_ETCD();
	assert_non_null(ops);
	assert_non_null(keys);
	c = client(g.url, NULL);
	while (k < total) {
		size_t m = 0;

		for (; m < ETCD_MAX_TXN_OPS && k < total; m++, k++) {
			snprintf(keys[k], sizeof(keys[k]), "/pages/%06zu", k);
			ops[m] = (struct etcd_op){ ETCD_OP_PUT, keys[k], "v", 1, 0 };
		}
		written = txn(c, ops, m);
	}
	n = range(c, "/pages/", &kvs, &rev);
	assert_int_equal(n, total);
	assert_true(rev >= written);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(kvs[i].key, keys[i]);
	etcd_kvs_free(kvs, n);
	ops[0] = (struct etcd_op){ ETCD_OP_DELETE_PREFIX, "/pages/", NULL, 0, 0 };
	(void)txn(c, ops, 1);
	etcd_free(c);
	free(ops);
	free(keys);
}

static void test_txn(void **state)
{
	struct etcd_op setup_ops[] = {
		{ ETCD_OP_PUT, "/x/a", "1", 1, 0 },   { ETCD_OP_PUT, "/x/p/1", "1", 1, 0 },
		{ ETCD_OP_PUT, "/x/p/2", "2", 1, 0 }, { ETCD_OP_PUT, "/x/p", "3", 1, 0 },
		{ ETCD_OP_PUT, "/x/q", "4", 1, 0 },
	};
	struct etcd_op change[] = {
		{ .type = ETCD_OP_DELETE, .key = "/x/a" },
		{ .type = ETCD_OP_DELETE_PREFIX, .key = "/x/p/" },
		{ ETCD_OP_PUT, "/x/new", "n", 1, 0 },
	};
	/* a lease that does not exist: etcd refuses the whole transaction */
	struct etcd_op refused[] = {
		{ ETCD_OP_PUT, "/x/never", "n", 1, 0 },
		{ ETCD_OP_PUT, "/x/never2", "n", 1, 424242 },
	};
	struct etcd_op nothing = { .type = ETCD_OP_DELETE, .key = "/x/missing" };
	struct etcd_op bad = { ETCD_OP_PUT, "", "v", 1, 0 };
	struct etcd_error err = { "" };
	struct etcd_kv *kvs = NULL;
	int64_t rev, r1, r2, r3 = 0;
	struct etcd *c;
	size_t n;

	NEED_ETCD();
	c = client(g.url, NULL);
	r1 = txn(c, setup_ops, ARRAY_SIZE(setup_ops));
	r2 = txn(c, change, ARRAY_SIZE(change));
	assert_int_equal(r2, r1 + 1); /* one revision for the whole transaction */
	n = range(c, "/x/", &kvs, &rev);
	assert_int_equal(n, 3);
	assert_string_equal(kvs[0].key, "/x/new");
	assert_int_equal(kvs[0].mod_revision, r2);
	assert_string_equal(kvs[1].key, "/x/p"); /* not under "/x/p/" */
	assert_string_equal(kvs[2].key, "/x/q");
	etcd_kvs_free(kvs, n);

	assert_int_equal(etcd_txn(c, refused, ARRAY_SIZE(refused), &r3, &err), -EIO);
	assert_non_null(strstr(err.message, "lease not found"));
	assert_int_equal(r3, 0);
	n = range(c, "/x/never", &kvs, &rev);
	assert_int_equal(n, 0); /* all or nothing */
	assert_int_equal(rev, r2);
	etcd_kvs_free(kvs, n);

	/* a transaction that changes nothing: the store's revision */
	assert_int_equal(txn(c, &nothing, 1), r2);

	assert_int_equal(etcd_txn(c, &bad, 1, &r3, &err), -EINVAL);
	assert_int_equal(etcd_txn(c, &nothing, 0, &r3, &err), -EINVAL);
	etcd_free(c);
}

static void test_lease(void **state)
{
	struct etcd_error err = { "" };
	struct etcd_kv *kvs = NULL;
	int64_t id = 0, ttl = -1, rev;
	struct etcd *c;
	size_t n;

	NEED_ETCD();
	c = client(g.url, NULL);
	assert_int_equal(etcd_lease_grant(c, 60, &id, &err), 0);
	assert_true(id > 0);
	assert_int_equal(etcd_lease_keepalive(c, id, &ttl, &err), 0);
	assert_int_equal(ttl, 60);
	{
		struct etcd_op op = { ETCD_OP_PUT, "/l/k", "v", 1, id };

		txn(c, &op, 1);
	}
	n = range(c, "/l/", &kvs, &rev);
	assert_int_equal(n, 1);
	assert_int_equal(kvs[0].lease, id);
	etcd_kvs_free(kvs, n);

	assert_int_equal(etcd_lease_revoke(c, id, &err), 0);
	/* its keys went with it, at once */
	assert_int_equal(range(c, "/l/", &kvs, &rev), 0);
	etcd_kvs_free(kvs, 0);
	assert_int_equal(etcd_lease_keepalive(c, id, &ttl, &err), 0);
	assert_int_equal(ttl, 0);
	assert_int_equal(etcd_lease_revoke(c, id, &err), -ENOENT);
	assert_int_equal(etcd_lease_grant(c, 0, &id, &err), -EINVAL);
	etcd_free(c);
}

/* ---- the watch ---- */

struct seen {
	size_t batches;
	int64_t batch_revision[8];
	size_t batch_size[8];
	struct {
		enum etcd_event_type type;
		char key[64], value[64];
		int64_t mod_revision;
	} ev[32];
	size_t n;
	bool ended;
	int error;
	int64_t compact;
	char message[256];
	/* restart from `ended` */
	struct etcd *restart;
	const char *prefix;
	int64_t from;
	int restarts;
};

static void on_batch(const struct etcd_watch_batch *b, void *userdata)
{
	struct seen *s = userdata;

	assert_true(s->batches < 8);
	s->batch_revision[s->batches] = b->revision;
	s->batch_size[s->batches++] = b->n_events;
	for (size_t i = 0; i < b->n_events; i++) {
		assert_true(s->n < 32);
		s->ev[s->n].type = b->events[i].type;
		snprintf(s->ev[s->n].key, 64, "%s", b->events[i].kv.key);
		snprintf(s->ev[s->n].value, 64, "%s", b->events[i].kv.value);
		s->ev[s->n++].mod_revision = b->events[i].kv.mod_revision;
	}
}

static const struct etcd_watch_ops watch_ops;

static void on_ended(int error, int64_t compact, const struct etcd_error *err, void *userdata)
{
	struct seen *s = userdata;

	if (s->restart && s->restarts++ == 0) {
		/* the caller's restart, from inside `ended` */
		assert_int_equal(error, -EHOSTUNREACH);
		assert_int_equal(etcd_watch(s->restart, s->prefix, s->from, &watch_ops, s), 0);
		return;
	}
	s->ended = true;
	s->error = error;
	s->compact = compact;
	snprintf(s->message, sizeof(s->message), "%s", err->message);
}

static const struct etcd_watch_ops watch_ops = { .batch = on_batch, .ended = on_ended };

/* Runs the loop until cond holds (fails after WAIT_TIMEOUT_MS). */
#define RUN_UNTIL(cond)                                                      \
	do {                                                                 \
		int64_t t0_ = now_msec();                                    \
		while (!(cond)) {                                            \
			assert_true(loop_iterate(g.loop, 100) >= 0);         \
			if (now_msec() - t0_ > WAIT_TIMEOUT_MS)              \
				fail_msg("timed out waiting for %s", #cond); \
		}                                                            \
	} while (0)

static void test_watch_txn(void **state)
{
	struct etcd_op ops[] = {
		{ ETCD_OP_PUT, "/w/a", "A", 1, 0 },
		{ ETCD_OP_PUT, "/w/b", "B", 1, 0 },
		{ .type = ETCD_OP_DELETE, .key = "/w/c" },
	};
	struct seen s = { 0 };
	struct etcd *c;
	int64_t start, rev, later;

	NEED_ETCD();
	c = client(g.url, NULL);
	start = put(c, "/w/c", "C");
	assert_int_equal(etcd_watch(c, "/w/", start, &watch_ops, &s), 0);
	assert_true(etcd_watching(c));
	assert_int_equal(etcd_watch(c, "/w/", start, &watch_ops, &s), -EBUSY);
	/* its first event: the watch is live from here on */
	RUN_UNTIL(s.batches >= 1);
	assert_int_equal(s.batch_size[0], 1);
	assert_int_equal(s.batch_revision[0], start);
	assert_string_equal(s.ev[0].key, "/w/c");

	rev = txn(c, ops, ARRAY_SIZE(ops));
	RUN_UNTIL(s.batches >= 2);
	/* the transaction's events: one batch, in order, one revision */
	assert_int_equal(s.batch_size[1], 3);
	assert_int_equal(s.batch_revision[1], rev);
	assert_int_equal(s.ev[1].type, ETCD_EVENT_PUT);
	assert_string_equal(s.ev[1].key, "/w/a");
	assert_string_equal(s.ev[1].value, "A");
	assert_string_equal(s.ev[2].key, "/w/b");
	assert_int_equal(s.ev[3].type, ETCD_EVENT_DELETE);
	assert_string_equal(s.ev[3].key, "/w/c");
	assert_string_equal(s.ev[3].value, "");
	for (size_t i = 1; i < 4; i++)
		assert_int_equal(s.ev[i].mod_revision, rev);
	/* then the next change alone; the key outside the prefix never */
	put(c, "/wx", "outside");
	later = put(c, "/w/a", "A2");
	RUN_UNTIL(s.batches >= 3);
	assert_int_equal(s.batch_size[2], 1);
	assert_int_equal(s.batch_revision[2], later);
	assert_string_equal(s.ev[4].value, "A2");
	assert_false(s.ended);

	etcd_watch_cancel(c);
	assert_false(etcd_watching(c));
	put(c, "/w/z", "after");
	/* a watch on another prefix sees its change: the cancelled one reported nothing */
	{
		struct seen s2 = { 0 };

		assert_int_equal(etcd_watch(c, "/w2/", start, &watch_ops, &s2), 0);
		put(c, "/w2/k", "v");
		RUN_UNTIL(s2.batches >= 1);
		etcd_watch_cancel(c);
	}
	assert_int_equal(s.batches, 3);
	assert_false(s.ended);
	etcd_free(c);
}

/* From a past revision etcd sends what the watch catches up on in one message: still one
 * batch per transaction. */
static void test_watch_catch_up(void **state)
{
	struct etcd_op two[] = {
		{ ETCD_OP_PUT, "/cu/a", "1", 1, 0 },
		{ ETCD_OP_PUT, "/cu/b", "2", 1, 0 },
	};
	struct etcd_op mixed[] = {
		{ ETCD_OP_PUT, "/cu/c", "3", 1, 0 },
		{ .type = ETCD_OP_DELETE, .key = "/cu/a" },
	};
	struct seen s = { 0 };
	struct etcd *c;
	int64_t r1, r2, r3;

	NEED_ETCD();
	c = client(g.url, NULL);
	r1 = txn(c, two, 2);
	r2 = put(c, "/cu/b", "2b");
	r3 = txn(c, mixed, 2);
	assert_int_equal(etcd_watch(c, "/cu/", r1, &watch_ops, &s), 0);
	RUN_UNTIL(s.n >= 5);
	assert_int_equal(s.batches, 3);
	assert_int_equal(s.batch_size[0], 2);
	assert_int_equal(s.batch_revision[0], r1);
	assert_int_equal(s.batch_size[1], 1);
	assert_int_equal(s.batch_revision[1], r2);
	assert_int_equal(s.batch_size[2], 2);
	assert_true(s.batch_revision[2] >= r3);
	assert_int_equal(s.ev[3].mod_revision, r3);
	assert_int_equal(s.ev[4].type, ETCD_EVENT_DELETE);
	etcd_free(c);
}

/* A lease that is not renewed expires: its key's DELETE arrives on the watch. */
static void test_lease_expiry(void **state)
{
	struct etcd_error err = { "" };
	struct etcd_kv *kvs = NULL;
	struct seen s = { 0 };
	int64_t id = 0, ttl = -1, rev;
	struct etcd *c;

	NEED_ETCD();
	c = client(g.url, NULL);
	assert_int_equal(etcd_lease_grant(c, 1, &id, &err), 0);
	{
		struct etcd_op op = { ETCD_OP_PUT, "/e/k", "v", 1, id };

		rev = txn(c, &op, 1);
	}
	assert_int_equal(etcd_watch(c, "/e/", rev, &watch_ops, &s), 0);
	RUN_UNTIL(s.n >= 2);
	assert_int_equal(s.ev[0].type, ETCD_EVENT_PUT);
	assert_int_equal(s.ev[1].type, ETCD_EVENT_DELETE);
	assert_string_equal(s.ev[1].key, "/e/k");
	assert_int_equal(etcd_lease_keepalive(c, id, &ttl, &err), 0);
	assert_int_equal(ttl, 0);
	assert_int_equal(range(c, "/e/", &kvs, &rev), 0);
	etcd_kvs_free(kvs, 0);
	etcd_free(c);
}

static void test_watch_compacted(void **state)
{
	struct seen s = { 0 };
	struct etcd *c;
	int64_t first, last;

	NEED_ETCD();
	c = client(g.url, NULL);
	first = put(c, "/k/1", "1");
	put(c, "/k/2", "2");
	last = put(c, "/k/3", "3");
	etcd_server_compact(&g.server, last);
	assert_int_equal(etcd_watch(c, "/k/", first, &watch_ops, &s), 0);
	RUN_UNTIL(s.ended);
	assert_int_equal(s.error, -ESTALE);
	assert_int_equal(s.compact, last);
	assert_int_equal(s.batches, 0);
	assert_false(etcd_watching(c));
	/* from the compacted revision on, it works */
	s = (struct seen){ 0 };
	assert_int_equal(etcd_watch(c, "/k/", last, &watch_ops, &s), 0);
	RUN_UNTIL(s.batches >= 1);
	assert_string_equal(s.ev[0].key, "/k/3");
	etcd_free(c);
}

static void test_failover(void **state)
{
	struct etcd_error err = { "" };
	struct etcd_kv *kvs = NULL;
	struct etcd *c;
	int64_t rev, t0;
	size_t n;
	char dead2[64];

	NEED_ETCD();
	/* a dead member first: the live one answers, and is asked first from then on */
	c = client(g.dead, g.url);
	assert_string_equal(etcd_current_url(c), g.dead);
	assert_int_equal(etcd_range_prefix(c, "/r/", &kvs, &n, &rev, &err), 0);
	etcd_kvs_free(kvs, n);
	assert_string_equal(etcd_current_url(c), g.url);
	put(c, "/f/k", "v");
	etcd_free(c);

	/* all dead: -EHOSTUNREACH, at once (connection refused) */
	snprintf(dead2, sizeof(dead2), "http://127.0.0.1:%d", etcd_fixture_free_port());
	c = client(g.dead, dead2);
	t0 = now_msec();
	assert_int_equal(etcd_range_prefix(c, "/r/", &kvs, &n, &rev, &err), -EHOSTUNREACH);
	assert_true(now_msec() - t0 < 1000);
	assert_non_null(strstr(err.message, "127.0.0.1"));
	assert_int_equal(etcd_txn(c, &(struct etcd_op){ ETCD_OP_PUT, "/f/k", "v", 1, 0 }, 1, &rev,
				  &err),
			 -EHOSTUNREACH);
	etcd_free(c);
}

/* A watch that cannot reach its member ends; restarted from `ended`, it goes to the next. */
static void test_watch_failover(void **state)
{
	struct seen s = { 0 };
	struct etcd *c, *w;
	int64_t rev;

	NEED_ETCD();
	w = client(g.url, NULL);
	rev = put(w, "/wf/a", "1");
	c = client(g.dead, g.url);
	s.restart = c;
	s.prefix = "/wf/";
	s.from = rev;
	assert_int_equal(etcd_watch(c, "/wf/", rev, &watch_ops, &s), 0);
	RUN_UNTIL(s.batches >= 1);
	assert_int_equal(s.restarts, 1);
	assert_string_equal(s.ev[0].key, "/wf/a");
	assert_string_equal(etcd_current_url(c), g.url);
	assert_false(s.ended);
	etcd_free(c);
	etcd_free(w);
}

static void test_config(void **state)
{
	const char *bad_urls[] = { "ftp://x:1",	    "http://",	  "http://u:p@h:1",
				   "http://h:1/?a", "http://h 1", "127.0.0.1:2379" };
	const char *good[] = { "http://127.0.0.1:2379/" };
	struct etcd_config cfg = { .urls = good, .n_urls = 1 };
	struct etcd *c = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(bad_urls); i++) {
		struct etcd_config b = { .urls = &bad_urls[i], .n_urls = 1 };

		assert_int_equal(etcd_new(NULL, &b, &c), -EINVAL);
	}
	cfg.n_urls = 0;
	assert_int_equal(etcd_new(NULL, &cfg, &c), -EINVAL);
	cfg.n_urls = 1;
	cfg.cert = "/c.pem"; /* without its key */
	assert_int_equal(etcd_new(NULL, &cfg, &c), -EINVAL);
	cfg.cert = NULL;
	assert_int_equal(etcd_new(NULL, &cfg, &c), 0);
	assert_string_equal(etcd_current_url(c), "http://127.0.0.1:2379");
	/* no loop: no watch */
	assert_int_equal(etcd_watch(c, "/", 1, &watch_ops, NULL), -EINVAL);
	etcd_free(c);
}

/* A member that answers once with status and body (a child process), then exits; its URL. */
static pid_t fake_member(int status, const char *body, char *url, size_t size)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t pid;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	snprintf(url, size, "http://127.0.0.1:%d", ntohs(a.sin_port));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char req[8192], head[256];
		int conn = accept(fd, NULL, NULL);

		/* the request's headers and its small body: one read is enough on loopback */
		if (conn < 0 || read(conn, req, sizeof(req)) <= 0)
			_exit(1);
		snprintf(head, sizeof(head),
			 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			 status, strlen(body));
		if (write(conn, head, strlen(head)) < 0 || write(conn, body, strlen(body)) < 0)
			_exit(1);
		close(conn);
		_exit(0);
	}
	close(fd);
	return pid;
}

/* A member answering 5xx gives way to the next; any other error answer is final. */
static void test_member_errors(void **state)
{
	static const char unavailable[] = "{\"error\":\"etcdserver: no leader\",\"message\":"
					  "\"etcdserver: no leader\",\"code\":14}";
	static const char bad[] = "{\"error\":\"bad\",\"message\":\"etcdserver: too many "
				  "operations in txn request\",\"code\":3}";
	struct etcd_error err = { "" };
	struct etcd_kv *kvs = NULL;
	char url[64];
	struct etcd *c;
	int64_t rev;
	size_t n;
	pid_t pid;

	NEED_ETCD();
	pid = fake_member(503, unavailable, url, sizeof(url));
	c = client(url, g.url);
	assert_int_equal(etcd_range_prefix(c, "/r/", &kvs, &n, &rev, &err), 0);
	etcd_kvs_free(kvs, n);
	assert_string_equal(etcd_current_url(c), g.url);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	etcd_free(c);

	pid = fake_member(400, bad, url, sizeof(url));
	c = client(url, g.url);
	assert_int_equal(etcd_range_prefix(c, "/r/", &kvs, &n, &rev, &err), -EIO);
	assert_string_equal(err.message,
			    "etcd: etcdserver: too many operations in txn request (HTTP 400)");
	assert_string_equal(etcd_current_url(c), url); /* it answered */
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	etcd_free(c);

	/* 5xx from every member: -EIO with the last one's message */
	pid = fake_member(503, unavailable, url, sizeof(url));
	c = client(url, NULL);
	assert_int_equal(etcd_range_prefix(c, "/r/", &kvs, &n, &rev, &err), -EIO);
	assert_string_equal(err.message, "etcd: etcdserver: no leader (HTTP 503)");
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	etcd_free(c);
}

/* A member of a running watch stops: the watch ends with an error, and the client's next
 * watch goes to the next URL. */
static void test_watch_broken(void **state)
{
	struct etcd_server other = { 0 };
	struct seen s = { 0 };
	struct etcd *c;
	int64_t rev;

	NEED_ETCD();
	etcd_server_start(&other, NULL);
	c = client(other.url, g.url);
	rev = put(c, "/wb/a", "1");
	assert_string_equal(etcd_current_url(c), other.url);
	assert_int_equal(etcd_watch(c, "/wb/", rev, &watch_ops, &s), 0);
	RUN_UNTIL(s.batches >= 1);
	etcd_server_stop(&other);
	RUN_UNTIL(s.ended);
	print_message("# the stream of a stopped member ended with %d: %s\n", s.error, s.message);
	assert_true(s.error == -ECONNRESET || s.error == -EIO || s.error == -EHOSTUNREACH);
	assert_true(s.message[0] != 0);
	assert_false(etcd_watching(c));
	assert_string_equal(etcd_current_url(c), g.url);
	etcd_free(c);
}

/* https, with the client certificate etcd asks for (--client-cert-auth); without it, or
 * without the CA, no member answers. */
static void test_tls(void **state)
{
	char dir[300], ca[320], cert[320], key[320];
	struct etcd_server tls = { 0 };
	const char *urls[1];
	/* generous: a handshake's refusal, not a slow machine, must end the failing cases */
	struct etcd_config cfg = { .urls = urls,
				   .n_urls = 1,
				   .connect_timeout_ms = 20000,
				   .request_timeout_ms = 30000 };
	struct etcd_error err = { "" };
	struct etcd_kv *kvs = NULL;
	struct seen s = { 0 };
	struct etcd *c = NULL;
	int64_t rev;
	size_t n;

	NEED_ETCD();
	if (!etcd_fixture_have("openssl"))
		fail_msg("openssl is not installed (scripts/deps.sh installs it): no certificates");
	snprintf(dir, sizeof(dir), "%s/tls", fixture_tmpdir());
	assert_int_equal(mkdir(dir, 0700), 0);
	etcd_fixture_certs(dir);
	etcd_server_start(&tls, dir);
	urls[0] = tls.url;
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(cert, sizeof(cert), "%s/client.pem", dir);
	snprintf(key, sizeof(key), "%s/client.key", dir);

	cfg.cacert = ca;
	cfg.cert = cert;
	cfg.key = key;
	assert_int_equal(etcd_new(g.loop, &cfg, &c), 0);
	rev = put(c, "/tls/k", "v");
	assert_int_equal(range(c, "/tls/", &kvs, &rev), 1);
	etcd_kvs_free(kvs, 1);
	assert_int_equal(etcd_watch(c, "/tls/", rev, &watch_ops, &s), 0);
	RUN_UNTIL(s.batches >= 1);
	assert_string_equal(s.ev[0].key, "/tls/k");
	c = etcd_free(c);

	/* no client certificate: refused in the handshake */
	cfg.cert = cfg.key = NULL;
	assert_int_equal(etcd_new(NULL, &cfg, &c), 0);
	assert_int_equal(etcd_range_prefix(c, "/tls/", &kvs, &n, &rev, &err), -EHOSTUNREACH);
	c = etcd_free(c);
	/* the system's CAs do not know this one */
	cfg.cacert = NULL;
	cfg.cert = cert;
	cfg.key = key;
	assert_int_equal(etcd_new(NULL, &cfg, &c), 0);
	assert_int_equal(etcd_range_prefix(c, "/tls/", &kvs, &n, &rev, &err), -EHOSTUNREACH);
	assert_null(strstr(err.message, "PRIVATE"));
	c = etcd_free(c);
	etcd_server_stop(&tls);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),		cmocka_unit_test(test_range_prefix),
		cmocka_unit_test(test_range_pages),	cmocka_unit_test(test_txn),
		cmocka_unit_test(test_lease),		cmocka_unit_test(test_watch_txn),
		cmocka_unit_test(test_watch_catch_up),	cmocka_unit_test(test_lease_expiry),
		cmocka_unit_test(test_watch_compacted), cmocka_unit_test(test_failover),
		cmocka_unit_test(test_watch_failover),	cmocka_unit_test(test_member_errors),
		cmocka_unit_test(test_watch_broken),	cmocka_unit_test(test_tls),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
