/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "etcd.h"

/*
 * The etcd gateway's other answers and the watch stream's framing, pure (etcd.h has the
 * parsers the fuzz harness and tests call by name). grpc-gateway writes int64 fields as JSON
 * strings ("revision":"12") and leaves out every field at its zero value; both the string and
 * a plain JSON integer are accepted, anything else (a float, a sign, spaces, over INT64_MAX, a
 * negative value) is -EBADMSG.
 */

/* A failed request's body ({"error":"...","message":"...","code":N} from a unary call,
 * {"error":{"message":...}} inside a stream): the message, made printable and cut to fit, into
 * err; "no message" when the body holds none. */
void etcd_parse_error(const char *body, size_t len, struct etcd_error *err);
/* A txn answer: its header revision (> 0), and "succeeded" must be true. */
int etcd_parse_txn(const char *body, size_t len, int64_t *ret_revision, struct etcd_error *err);
/* A lease grant answer: ID > 0 and TTL > 0 (a non-empty "error" is -EIO). */
int etcd_parse_lease_grant(const char *body, size_t len, int64_t *ret_id, int64_t *ret_ttl,
			   struct etcd_error *err);
/* A keepalive answer ({"result":{"ID","TTL"}}, one stream message): the TTL, 0 when the lease
 * is gone; -EBADMSG if the ID is not `id`. */
int etcd_parse_lease_keepalive(const char *body, size_t len, int64_t id, int64_t *ret_ttl,
			       struct etcd_error *err);

/* The end of the key range of every key starting with prefix (etcd's rule: the prefix with
 * its last byte below 0xff incremented and what follows dropped; "\0" for "" or all 0xff,
 * which etcd reads as "every key from key on"). *ret_n bytes, NUL-terminated. */
int etcd_prefix_end(const char *prefix, char **ret, size_t *ret_n);

/* The watch stream's framing: the gateway writes one JSON message per line ("\n" after each).
 * Bytes are appended; each complete message goes to fn (without the newline; empty lines are
 * skipped). A message over `limit` bytes is -E2BIG (the stream must be dropped); fn's negative
 * return stops the feed and is returned. */
struct etcd_stream {
	char *buf;
	size_t len, allocated;
};
int etcd_stream_feed(struct etcd_stream *s, const char *data, size_t n, size_t limit,
		     int (*fn)(const char *msg, size_t len, void *userdata), void *userdata);
void etcd_stream_done(struct etcd_stream *s);

/* Fills err (when not NULL) with the message: for the client and its parsers alike. */
void etcd_set_error(struct etcd_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- request bodies (etcd-json.c) ---- */
int etcd_json_dump(json_t *o, char **ret);
json_t *etcd_json_b64(const void *data, size_t n);
json_t *etcd_json_int64(int64_t v);
bool etcd_key_valid(const char *key, bool empty_ok);
json_t *etcd_json_prefix(const char *prefix);
int etcd_kvs_append(struct etcd_kv **all, size_t *n_all, struct etcd_kv *kvs, size_t n);
json_t *etcd_json_op(const struct etcd_op *op);
