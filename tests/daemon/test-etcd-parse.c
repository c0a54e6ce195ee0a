/* SPDX-License-Identifier: MIT */
/*
 * etcd-parse: etcd's gateway answers as hostile input. base64 (round trips of every length
 * and byte, non-canonical and malformed text refused), range answers and watch messages as
 * etcd 3.4 writes them (int64 as strings, zero values left out) and broken ones (wrong types,
 * numbers over int64, negative, bad base64, keys with NULs or over the bound, out of order),
 * errors, leases, prefix ends and the stream's framing.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "etcd-parse.h"
#include "etcd.h"

static void test_b64_known(void **state)
{
	static const struct {
		const char *plain, *b64;
	} cases[] = {
		{ "", "" },
		{ "f", "Zg==" },
		{ "fo", "Zm8=" },
		{ "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
		{ "/segd/", "L3NlZ2Qv" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = etcd_b64_encode(cases[i].plain, strlen(cases[i].plain)), *d = NULL;
		size_t n = 99;

		assert_string_equal(s, cases[i].b64);
		assert_int_equal(etcd_b64_decode(s, strlen(s), &d, &n), 0);
		assert_int_equal(n, strlen(cases[i].plain));
		assert_memory_equal(d, cases[i].plain, n);
		assert_int_equal(d[n], 0);
		free(s);
		free(d);
	}
}

/* Every byte value, every length up to 300: decode(encode(x)) == x. */
static void test_b64_round_trip(void **state)
{
	unsigned char data[300];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7 + 255 - i);
	for (size_t n = 0; n <= sizeof(data); n++) {
		char *s = etcd_b64_encode(data, n), *d = NULL;
		size_t m = 0;

		assert_non_null(s);
		assert_int_equal(strlen(s), (n + 2) / 3 * 4);
		assert_int_equal(etcd_b64_decode(s, strlen(s), &d, &m), 0);
		assert_int_equal(m, n);
		assert_memory_equal(d, data, n);
		free(s);
		free(d);
	}
}

static void test_b64_invalid(void **state)
{
	static const char *const bad[] = {
		"Zg",	    /* no padding */
		"Zg=",	    /* short */
		"Z===",	    /* three pads */
		"====",	    /* only padding */
		"Zh==",	    /* non-canonical: unused bits set */
		"Zm9=",	    /* same with one pad */
		"Zg==Zg==", /* padding in the middle */
		"Zm9v\n",   /* newline */
		"Zm 9",	    /* space */
		"Zm-_",	    /* URL alphabet */
		"Zm9v=",    /* length */
		"=Zm9",	    /* pad first */
	};
	char *d = NULL;
	size_t n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(etcd_b64_decode(bad[i], strlen(bad[i]), &d, &n), -EBADMSG);
	/* an embedded NUL (len says 4) */
	assert_int_equal(etcd_b64_decode("Zm\0v", 4, &d, &n), -EBADMSG);
	assert_null(d);
}

/* An answer of etcd 3.4, as its gateway wrote it (tests/daemon/test-etcd.c gets real ones). */
#define HEADER                                                                     \
	"\"header\":{\"cluster_id\":\"15118495548433857066\",\"member_id\":\"1\"," \
	"\"revision\":\"7\",\"raft_term\":\"2\"}"

static void test_range(void **state)
{
	static const char body[] =
		"{" HEADER ",\"kvs\":[{\"key\":\"L3NlZ2QvYQ==\",\"create_revision\":\"2\","
		"\"mod_revision\":\"5\",\"version\":\"3\",\"value\":\"aGVsbG8=\"},"
		"{\"key\":\"L3NlZ2QvYg==\",\"create_revision\":\"2\",\"mod_revision\":\"2\","
		"\"version\":\"1\",\"lease\":\"4111120463852142346\"}],\"count\":\"2\"}";
	struct etcd_error err = { "" };
	struct etcd_kv *kvs = NULL;
	int64_t rev = 0;
	size_t n = 0;

	assert_int_equal(etcd_parse_range(body, strlen(body), &kvs, &n, &rev, &err), 0);
	assert_int_equal(rev, 7);
	assert_int_equal(n, 2);
	assert_string_equal(kvs[0].key, "/segd/a");
	assert_string_equal(kvs[0].value, "hello");
	assert_int_equal(kvs[0].value_len, 5);
	assert_int_equal(kvs[0].create_revision, 2);
	assert_int_equal(kvs[0].mod_revision, 5);
	assert_int_equal(kvs[0].version, 3);
	assert_int_equal(kvs[0].lease, 0);
	/* an empty value is left out */
	assert_string_equal(kvs[1].value, "");
	assert_int_equal(kvs[1].value_len, 0);
	assert_int_equal(kvs[1].lease, 4111120463852142346LL);
	etcd_kvs_free(kvs, n);

	/* no keys: no kvs, no count */
	assert_int_equal(etcd_parse_range("{" HEADER "}", strlen("{" HEADER "}"), &kvs, &n, &rev,
					  &err),
			 0);
	assert_int_equal(n, 0);
	assert_int_equal(rev, 7);
	etcd_kvs_free(kvs, n);
	/* plain JSON integers are read as well */
	{
		static const char b[] = "{\"header\":{\"revision\":9},\"kvs\":[{\"key\":\"YQ==\","
					"\"mod_revision\":3}],\"count\":1}";

		assert_int_equal(etcd_parse_range(b, strlen(b), &kvs, &n, &rev, &err), 0);
		assert_int_equal(rev, 9);
		assert_int_equal(kvs[0].mod_revision, 3);
		etcd_kvs_free(kvs, n);
	}
}

static void expect_range(const char *body, int error, const char *why)
{
	struct etcd_error err = { "" };
	struct etcd_kv *kvs = NULL;
	int64_t rev = -1;
	size_t n = 99;

	assert_int_equal(etcd_parse_range(body, strlen(body), &kvs, &n, &rev, &err), error);
	assert_null(kvs);
	assert_int_equal(rev, -1);
	assert_non_null(strstr(err.message, why));
}

static void test_range_hostile(void **state)
{
	expect_range("", -EBADMSG, "not JSON");
	expect_range("[]", -EBADMSG, "not a JSON object");
	expect_range("{\"kvs\":[]}", -EBADMSG, "no header revision");
	expect_range("{\"header\":[]}", -EBADMSG, "\"header\" is not an object");
	expect_range("{\"header\":{\"revision\":\"0\"}}", -EBADMSG, "no header revision");
	expect_range("{\"header\":{\"revision\":\"-1\"}}", -EBADMSG, "\"revision\" is not");
	expect_range("{\"header\":{\"revision\":-1}}", -EBADMSG, "\"revision\" is not");
	expect_range("{\"header\":{\"revision\":\"9223372036854775808\"}}", -EBADMSG,
		     "\"revision\" is not");
	expect_range("{\"header\":{\"revision\":\"99999999999999999999999\"}}", -EBADMSG,
		     "\"revision\" is not");
	expect_range("{\"header\":{\"revision\":1e3}}", -EBADMSG, "\"revision\" is not");
	expect_range("{\"header\":{\"revision\":\"1e3\"}}", -EBADMSG, "\"revision\" is not");
	expect_range("{\"header\":{\"revision\":\" 1\"}}", -EBADMSG, "\"revision\" is not");
	expect_range("{\"header\":{\"revision\":\"+1\"}}", -EBADMSG, "\"revision\" is not");
	expect_range("{\"header\":{\"revision\":\"\"}}", -EBADMSG, "\"revision\" is not");
	expect_range("{\"header\":{\"revision\":true}}", -EBADMSG, "\"revision\" is not");
	expect_range("{\"header\":{\"revision\":null}}", -EBADMSG, "\"revision\" is not");
	expect_range("{" HEADER ",\"kvs\":{}}", -EBADMSG, "\"kvs\" is not an array");
	expect_range("{" HEADER ",\"kvs\":[1],\"count\":\"1\"}", -EBADMSG, "not an object");
	expect_range("{" HEADER ",\"kvs\":[{}],\"count\":\"1\"}", -EBADMSG, "\"key\" is missing");
	expect_range("{" HEADER ",\"kvs\":[{\"key\":5}],\"count\":\"1\"}", -EBADMSG,
		     "\"key\" is not a string");
	expect_range("{" HEADER ",\"kvs\":[{\"key\":\"a!==\"}],\"count\":\"1\"}", -EBADMSG,
		     "\"key\" is not base64");
	expect_range("{" HEADER ",\"kvs\":[{\"key\":\"\"}],\"count\":\"1\"}", -EBADMSG,
		     "empty or holds a NUL");
	/* "a\0b" */
	expect_range("{" HEADER ",\"kvs\":[{\"key\":\"YQBi\"}],\"count\":\"1\"}", -EBADMSG,
		     "empty or holds a NUL");
	expect_range("{" HEADER ",\"kvs\":[{\"key\":\"YQ==\",\"value\":\"x\"}],\"count\":\"1\"}",
		     -EBADMSG, "\"value\" is not base64");
	expect_range("{" HEADER ",\"kvs\":[{\"key\":\"YQ==\",\"version\":\"x\"}],\"count\":\"1\"}",
		     -EBADMSG, "\"version\" is not");
	expect_range("{" HEADER ",\"kvs\":[{\"key\":\"YQ==\"}],\"count\":\"2\"}", -EBADMSG,
		     "holds 1 of 2 keys");
	expect_range("{" HEADER ",\"kvs\":[{\"key\":\"YQ==\"}],\"count\":\"1\",\"more\":true}",
		     -EBADMSG, "holds 1 of 1 keys");
	expect_range("{" HEADER ",\"more\":\"no\"}", -EBADMSG, "\"more\" is not a boolean");
	/* b before a; a twice */
	expect_range("{" HEADER ",\"kvs\":[{\"key\":\"Yg==\"},{\"key\":\"YQ==\"}],\"count\":2}",
		     -EBADMSG, "not in order");
	expect_range("{" HEADER ",\"kvs\":[{\"key\":\"YQ==\"},{\"key\":\"YQ==\"}],\"count\":2}",
		     -EBADMSG, "not in order");
	expect_range("{\"header\":{\"revision\":\"1\"},\"header\":{}}", -EBADMSG, "not JSON");
	/* an error answer */
	expect_range("{\"error\":\"etcdserver: no leader\",\"message\":\"etcdserver: no leader\","
		     "\"code\":14}",
		     -EIO, "etcd: etcdserver: no leader");
}

/* Keys and values over the bounds, refused before they are decoded. */
static void test_range_sizes(void **state)
{
	size_t big = ETCD_MAX_VALUE + 1, klen = ETCD_MAX_KEY + 1;
	char *value = calloc(1, big), *key = malloc(klen + 1);
	char *vb, *kb, *body;
	struct etcd_error err = { "" };
	struct etcd_kv *kvs = NULL;
	int64_t rev;
	size_t n;

	memset(key, 'k', klen);
	key[klen] = 0;
	vb = etcd_b64_encode(value, big);
	kb = etcd_b64_encode(key, klen);
	assert_true(asprintf(&body,
			     "{" HEADER ",\"kvs\":[{\"key\":\"YQ==\",\"value\":\"%s\"}],"
			     "\"count\":1}",
			     vb) > 0);
	assert_int_equal(etcd_parse_range(body, strlen(body), &kvs, &n, &rev, &err), -E2BIG);
	assert_non_null(strstr(err.message, "\"value\" is over"));
	free(body);
	assert_true(asprintf(&body, "{" HEADER ",\"kvs\":[{\"key\":\"%s\"}],\"count\":1}", kb) > 0);
	assert_int_equal(etcd_parse_range(body, strlen(body), &kvs, &n, &rev, &err), -E2BIG);
	free(body);
	/* exactly at the bounds: accepted */
	free(vb);
	free(kb);
	vb = etcd_b64_encode(value, ETCD_MAX_VALUE);
	kb = etcd_b64_encode(key, ETCD_MAX_KEY);
	assert_true(asprintf(&body,
			     "{" HEADER ",\"kvs\":[{\"key\":\"%s\",\"value\":\"%s\"}],"
			     "\"count\":1}",
			     kb, vb) > 0);
	assert_int_equal(etcd_parse_range(body, strlen(body), &kvs, &n, &rev, &err), 0);
	assert_int_equal(kvs[0].value_len, ETCD_MAX_VALUE);
	assert_int_equal(strlen(kvs[0].key), ETCD_MAX_KEY);
	etcd_kvs_free(kvs, n);
	free(body);
	free(vb);
	free(kb);
	free(value);
	free(key);
}

static void test_watch(void **state)
{
	/* etcd 3.4: a txn's put and delete in one message; PUT's type is left out */
	static const char msg[] =
		"{\"result\":{" HEADER ",\"events\":[{\"kv\":{\"key\":\"L3NlZ2QvYw==\","
		"\"create_revision\":\"5\",\"mod_revision\":\"5\",\"version\":\"1\","
		"\"value\":\"dg==\"}},{\"type\":\"DELETE\",\"kv\":{\"key\":\"L3NlZ2QvYQ==\","
		"\"mod_revision\":\"5\"}}]}}";
	static const char created[] = "{\"result\":{" HEADER ",\"created\":true}}";
	struct etcd_error err = { "" };
	struct etcd_event *ev = NULL;
	int64_t rev = 0, compact = 0;
	size_t n = 0;

	assert_int_equal(etcd_parse_watch(msg, strlen(msg), &ev, &n, &rev, &compact, &err), 0);
	assert_int_equal(rev, 7);
	assert_int_equal(n, 2);
	assert_int_equal(ev[0].type, ETCD_EVENT_PUT);
	assert_string_equal(ev[0].kv.key, "/segd/c");
	assert_string_equal(ev[0].kv.value, "v");
	assert_int_equal(ev[1].type, ETCD_EVENT_DELETE);
	assert_string_equal(ev[1].kv.key, "/segd/a");
	assert_int_equal(ev[1].kv.value_len, 0);
	assert_int_equal(ev[1].kv.mod_revision, 5);
	etcd_events_free(ev, n);

	assert_int_equal(etcd_parse_watch(created, strlen(created), &ev, &n, &rev, &compact, &err),
			 0);
	assert_int_equal(n, 0);
	etcd_events_free(ev, n);
}

static void expect_watch(const char *msg, int error, const char *why)
{
	struct etcd_error err = { "" };
	struct etcd_event *ev = NULL;
	int64_t rev = -1, compact = -1;
	size_t n = 99;

	assert_int_equal(etcd_parse_watch(msg, strlen(msg), &ev, &n, &rev, &compact, &err), error);
	assert_null(ev);
	assert_int_equal(rev, -1);
	if (error != -ESTALE)
		assert_int_equal(compact, -1);
	assert_non_null(strstr(err.message, why));
}

static void test_watch_ends(void **state)
{
	struct etcd_error err = { "" };
	struct etcd_event *ev = NULL;
	int64_t rev = -1, compact = -1;
	size_t n = 99;
	/* etcd 3.4 on a watch from a compacted revision (the header has no revision) */
	static const char compacted[] = "{\"result\":{\"header\":{\"cluster_id\":\"1\","
					"\"raft_term\":\"2\"},\"canceled\":true,"
					"\"compact_revision\":\"4\"}}";

	assert_int_equal(etcd_parse_watch(compacted, strlen(compacted), &ev, &n, &rev, &compact,
					  &err),
			 -ESTALE);
	assert_int_equal(compact, 4);
	assert_null(ev);
	expect_watch("{\"result\":{\"canceled\":true,\"cancel_reason\":\"permission denied\"}}",
		     -EIO, "etcd canceled the watch: permission denied");
	expect_watch("{\"result\":{\"canceled\":true}}", -EIO, "no reason");
	/* an error inside the stream, and a unary one */
	expect_watch("{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"no leader\"}}",
		     -EIO, "etcd: no leader");
	expect_watch("{\"error\":\"unexpected EOF\",\"message\":\"unexpected EOF\",\"code\":2}",
		     -EIO, "etcd: unexpected EOF");
	/* messages are made printable */
	expect_watch("{\"error\":\"a\\nb\\u00e9\"}", -EIO, "etcd: a?b??");
}

static void test_watch_hostile(void **state)
{
	expect_watch("", -EBADMSG, "not JSON");
	expect_watch("{}", -EBADMSG, "no result");
	expect_watch("{\"result\":[]}", -EBADMSG, "\"result\" is not an object");
	expect_watch("{\"result\":{\"canceled\":1}}", -EBADMSG, "\"canceled\" is not a boolean");
	expect_watch("{\"result\":{\"compact_revision\":\"x\"}}", -EBADMSG, "\"compact_revision\"");
	expect_watch("{\"result\":{\"fragment\":true}}", -EBADMSG, "fragmented");
	expect_watch("{\"result\":{" HEADER ",\"events\":{}}}", -EBADMSG, "\"events\" is not");
	expect_watch("{\"result\":{" HEADER ",\"events\":[null]}}", -EBADMSG, "not an object");
	expect_watch("{\"result\":{" HEADER ",\"events\":[{}]}}", -EBADMSG, "has no kv");
	expect_watch("{\"result\":{" HEADER ",\"events\":[{\"type\":\"PATCH\",\"kv\":{}}]}}",
		     -EBADMSG, "neither PUT nor DELETE");
	expect_watch("{\"result\":{" HEADER ",\"events\":[{\"type\":2,\"kv\":{}}]}}", -EBADMSG,
		     "neither PUT nor DELETE");
	expect_watch("{\"result\":{" HEADER ",\"events\":[{\"kv\":[]}]}}", -EBADMSG,
		     "not an object");
	/* revisions: none, after the header's, going back */
	expect_watch("{\"result\":{" HEADER ",\"events\":[{\"kv\":{\"key\":\"YQ==\"}}]}}", -EBADMSG,
		     "out of order");
	expect_watch("{\"result\":{" HEADER ",\"events\":[{\"kv\":{\"key\":\"YQ==\","
		     "\"mod_revision\":\"8\"}}]}}",
		     -EBADMSG, "out of order");
	expect_watch(
		"{\"result\":{" HEADER ",\"events\":[{\"kv\":{\"key\":\"YQ==\","
		"\"mod_revision\":\"6\"}},{\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"5\"}}]}}",
		-EBADMSG, "out of order");
	expect_watch(
		"{\"result\":{\"events\":[{\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"1\"}}]}}",
		-EBADMSG, "out of order");
}

static void test_error_body(void **state)
{
	struct etcd_error err;

	etcd_parse_error("{\"error\":\"x\",\"message\":\"etcdserver: requested lease not found\","
			 "\"code\":5}",
			 80, &err);
	assert_string_equal(err.message, "etcd: etcdserver: requested lease not found");
	etcd_parse_error("<html>", 6, &err);
	assert_string_equal(err.message, "etcd: no message");
	etcd_parse_error("", 0, &err);
	assert_string_equal(err.message, "etcd: no message");
	/* a long message is cut, never overflows */
	{
		char body[2000];

		memset(body, 'x', sizeof(body));
		memcpy(body, "{\"error\":\"", 10);
		memcpy(body + sizeof(body) - 2, "\"}", 2);
		etcd_parse_error(body, sizeof(body), &err);
		assert_int_equal(strlen(err.message), sizeof(err.message) - 1);
	}
}

static void test_txn_and_leases(void **state)
{
	struct etcd_error err = { "" };
	int64_t rev = 0, id = 0, ttl = -1;
	static const char txn[] = "{" HEADER ",\"succeeded\":true,\"responses\":[]}";
	static const char grant[] = "{" HEADER ",\"ID\":\"4111120463852142344\",\"TTL\":\"5\"}";
	static const char alive[] = "{\"result\":{" HEADER ",\"ID\":\"12\",\"TTL\":\"5\"}}\n";
	static const char gone[] = "{\"result\":{" HEADER ",\"ID\":\"12\"}}\n";

	assert_int_equal(etcd_parse_txn(txn, strlen(txn), &rev, &err), 0);
	assert_int_equal(rev, 7);
	assert_int_equal(etcd_parse_txn("{" HEADER "}", strlen(HEADER) + 2, &rev, &err), -EBADMSG);
	assert_non_null(strstr(err.message, "did not succeed"));
	assert_int_equal(etcd_parse_txn("{\"succeeded\":true}", 18, &rev, &err), -EBADMSG);

	assert_int_equal(etcd_parse_lease_grant(grant, strlen(grant), &id, &ttl, &err), 0);
	assert_int_equal(id, 4111120463852142344LL);
	assert_int_equal(ttl, 5);
	assert_int_equal(etcd_parse_lease_grant("{\"TTL\":\"5\"}", 11, &id, &ttl, &err), -EBADMSG);
	{
		static const char full[] = "{\"ID\":\"1\",\"TTL\":\"5\",\"error\":\"full\"}";

		assert_int_equal(etcd_parse_lease_grant(full, strlen(full), &id, &ttl, &err), -EIO);
	}

	assert_int_equal(etcd_parse_lease_keepalive(alive, strlen(alive), 12, &ttl, &err), 0);
	assert_int_equal(ttl, 5);
	assert_int_equal(etcd_parse_lease_keepalive(gone, strlen(gone), 12, &ttl, &err), 0);
	assert_int_equal(ttl, 0);
	assert_int_equal(etcd_parse_lease_keepalive(alive, strlen(alive), 13, &ttl, &err),
			 -EBADMSG);
	assert_int_equal(etcd_parse_lease_keepalive("{}", 2, 12, &ttl, &err), -EBADMSG);
}

static void test_prefix_end(void **state)
{
	static const struct {
		const char *prefix, *end;
		size_t n;
	} cases[] = {
		{ "/segd/", "/segd0", 6 },
		{ "a", "b", 1 },
		{ "a\xff", "b", 1 },
		{ "a\xff\xff", "b", 1 },
		{ "\xff", "", 1 }, /* "\0": every key */
		{ "", "", 1 },
		{ "ab\xfe", "ab\xff", 3 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *end = NULL;
		size_t n = 0;

		assert_int_equal(etcd_prefix_end(cases[i].prefix, &end, &n), 0);
		assert_int_equal(n, cases[i].n);
		assert_memory_equal(end, cases[i].end, n);
		free(end);
	}
}

struct collected {
	char msgs[8][64];
	size_t n;
	int fail_at;
};

static int collect(const char *msg, size_t len, void *userdata)
{
	struct collected *c = userdata;

	if ((int)c->n == c->fail_at)
		return -EIO;
	assert_true(c->n < 8 && len < 64);
	memcpy(c->msgs[c->n], msg, len);
	c->msgs[c->n++][len] = 0;
	return 0;
}

static void test_stream(void **state)
{
	static const char text[] = "{\"a\":1}\n\n{\"b\":2}\n{\"c\":";
	struct etcd_stream s = { 0 };
	struct collected c = { .fail_at = -1 };

	/* fed one byte at a time: the same messages as in one piece */
	for (size_t i = 0; i < strlen(text); i++)
		assert_int_equal(etcd_stream_feed(&s, text + i, 1, 64, collect, &c), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.msgs[0], "{\"a\":1}");
	assert_string_equal(c.msgs[1], "{\"b\":2}");
	assert_int_equal(etcd_stream_feed(&s, "3}\n", 3, 64, collect, &c), 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.msgs[2], "{\"c\":3}");
	etcd_stream_done(&s);

	/* in one piece */
	c = (struct collected){ .fail_at = -1 };
	assert_int_equal(etcd_stream_feed(&s, text, strlen(text), 64, collect, &c), 0);
	assert_int_equal(c.n, 2);
	etcd_stream_done(&s);

	/* the bound: exactly `limit` bytes pass, one more does not (buffered or not) */
	c = (struct collected){ .fail_at = -1 };
	assert_int_equal(etcd_stream_feed(&s, "12345678\n", 9, 8, collect, &c), 0);
	assert_int_equal(etcd_stream_feed(&s, "123456789\n", 10, 8, collect, &c), -E2BIG);
	etcd_stream_done(&s);
	assert_int_equal(etcd_stream_feed(&s, "1234", 4, 8, collect, &c), 0);
	assert_int_equal(etcd_stream_feed(&s, "5678", 4, 8, collect, &c), 0);
	assert_int_equal(etcd_stream_feed(&s, "9", 1, 8, collect, &c), -E2BIG);
	etcd_stream_done(&s);

	/* the callback's error stops the feed */
	c = (struct collected){ .fail_at = 1 };
	assert_int_equal(etcd_stream_feed(&s, "a\nb\nc\n", 6, 8, collect, &c), -EIO);
	assert_int_equal(c.n, 1);
	etcd_stream_done(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64_known),      cmocka_unit_test(test_b64_round_trip),
		cmocka_unit_test(test_b64_invalid),    cmocka_unit_test(test_range),
		cmocka_unit_test(test_range_hostile),  cmocka_unit_test(test_range_sizes),
		cmocka_unit_test(test_watch),	       cmocka_unit_test(test_watch_ends),
		cmocka_unit_test(test_watch_hostile),  cmocka_unit_test(test_error_body),
		cmocka_unit_test(test_txn_and_leases), cmocka_unit_test(test_prefix_end),
		cmocka_unit_test(test_stream),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
