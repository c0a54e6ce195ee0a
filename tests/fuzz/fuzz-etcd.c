/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for etcd's gateway answers (etcd-parse.c): the same bytes as a range
 * answer, a watch message, a txn, lease answers, an error body, base64 text and a stream cut
 * in two. What is accepted must be what the fleet then trusts: keys non-empty, NUL-free, in
 * order and within the bounds, values NUL-terminated at their length, revisions positive and
 * in order; base64 accepted only when canonical (encoding it back gives the same text); the
 * stream's messages the same however the bytes are cut.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "etcd-parse.h"
#include "etcd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_kv(const struct etcd_kv *kv)
{
	size_t n = strlen(kv->key);

	if (n == 0 || n > ETCD_MAX_KEY || kv->value_len > ETCD_MAX_VALUE ||
	    kv->value[kv->value_len] != 0 || kv->create_revision < 0 || kv->mod_revision < 0 ||
	    kv->version < 0 || kv->lease < 0)
		abort();
}

static void check_message(const struct etcd_error *err)
{
	if (!memchr(err->message, 0, sizeof(err->message)))
		abort();
}

/* The messages of a stream, as (offset-independent) lengths and a checksum. */
struct digest {
	size_t n;
	uint64_t sum;
};

static int digest(const char *msg, size_t len, void *userdata)
{
	struct digest *d = userdata;

	if (len == 0 || len > 4096)
		abort();
	d->n++;
	for (size_t i = 0; i < len; i++)
		d->sum = d->sum * 131 + (unsigned char)msg[i];
	d->sum = d->sum * 131 + len;
	return 0;
}

static void check_stream(const char *buf, size_t size)
{
	struct etcd_stream s1 = { 0 }, s2 = { 0 };
	struct digest d1 = { 0 }, d2 = { 0 };
	size_t cut = size ? (unsigned char)buf[0] % size : 0;
	int r1, r2;

	r1 = etcd_stream_feed(&s1, buf, size, 4096, digest, &d1);
	r2 = etcd_stream_feed(&s2, buf, cut, 4096, digest, &d2);
	if (r2 == 0)
		r2 = etcd_stream_feed(&s2, buf + cut, size - cut, 4096, digest, &d2);
	if (r1 != r2 || (r1 == 0 && (d1.n != d2.n || d1.sum != d2.sum)))
		abort();
	etcd_stream_done(&s1);
	etcd_stream_done(&s2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct etcd_error err = { "" };
	struct etcd_kv *kvs = NULL;
	struct etcd_event *ev = NULL;
	int64_t rev = 0, compact = 0, id = 0, ttl = 0;
	size_t n = 0;
	char *dec = NULL;
	int r;

	r = etcd_parse_range(buf, size, &kvs, &n, &rev, &err);
	check_message(&err);
	if (r == 0) {
		if (rev <= 0)
			abort();
		for (size_t i = 0; i < n; i++) {
			check_kv(&kvs[i]);
			if (i > 0 && strcmp(kvs[i - 1].key, kvs[i].key) >= 0)
				abort();
		}
		etcd_kvs_free(kvs, n);
	}

	r = etcd_parse_watch(buf, size, &ev, &n, &rev, &compact, &err);
	check_message(&err);
	if (r == 0) {
		for (size_t i = 0; i < n; i++) {
			check_kv(&ev[i].kv);
			if (ev[i].type >= _ETCD_EVENT_TYPE_MAX || ev[i].kv.mod_revision <= 0 ||
			    ev[i].kv.mod_revision > rev ||
			    (i > 0 && ev[i].kv.mod_revision < ev[i - 1].kv.mod_revision))
				abort();
		}
		etcd_events_free(ev, n);
	} else if (r == -ESTALE && compact <= 0) {
		abort();
	}

	if (etcd_parse_txn(buf, size, &rev, &err) == 0 && rev <= 0)
		abort();
	if (etcd_parse_lease_grant(buf, size, &id, &ttl, &err) == 0 && (id <= 0 || ttl <= 0))
		abort();
	if (etcd_parse_lease_keepalive(buf, size, 12, &ttl, &err) == 0 && ttl < 0)
		abort();
	etcd_parse_error(buf, size, &err);
	check_message(&err);

	/* base64: accepted only when canonical */
	if (etcd_b64_decode(buf, size, &dec, &n) == 0) {
		char *enc = etcd_b64_encode(dec, n);

		if (!enc || dec[n] != 0 || strlen(enc) != size || memcmp(enc, buf, size) != 0)
			abort();
		free(enc);
		free(dec);
	}

	check_stream(buf, size);
	return 0;
}
