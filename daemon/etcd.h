/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"

/*
 * A client of etcd v3 through its JSON gateway (POST /v3/kv/range, /v3/kv/txn,
 * /v3/lease/grant, /v3/lease/keepalive, /v3/lease/revoke, /v3/watch) over HTTP or HTTPS with
 * libcurl. Keys and values are base64 in the gateway's JSON; here they are plain bytes (keys
 * NUL-terminated, values with a length, also NUL-terminated for convenience). Every answer is
 * hostile: sizes are bounded (ETCD_MAX_*), anything malformed is an error, never a guess.
 *
 * Unary requests are blocking, bounded by the config's timeouts: they go to the member that
 * answered last and, when it cannot be reached (connection refused or timed out, HTTP 5xx),
 * to the next URL, each member at most once per request. A request that reached a member
 * that answered with an error is not tried elsewhere.
 *
 * The watch is a stream read from the loop (libcurl multi through http-multi.h, driven by the
 * loop's epoll): one at a time per client; its batches and its end are reported to the
 * callbacks, always from the loop and outside libcurl's callbacks. A watch that ends for any
 * reason but a compaction (its member could not be reached, broke or refused the stream, sent
 * something malformed) moves the client to the next URL, so that the caller's restart goes
 * there.
 *
 * Errors: -EHOSTUNREACH (no member answered), -ETIMEDOUT (one timed out, none answered),
 * -EBADMSG (malformed answer; message says what), -E2BIG (answer over the bound), -EIO (etcd
 * answered with an error: message holds it and the HTTP status), -ENOMEM, -EINVAL (bad
 * arguments). The watch adds -ECONNRESET (the stream broke or etcd closed it) and -ESTALE.
 */

#define ETCD_MAX_URLS 16
#define ETCD_MAX_BODY (64u * 1024 * 1024)    /* one unary answer */
#define ETCD_MAX_MESSAGE (16u * 1024 * 1024) /* one watch message */
#define ETCD_MAX_KEY 4096
#define ETCD_MAX_VALUE (1536u * 1024) /* etcd's own default request limit is 1.5 MiB */

struct etcd_config {
	/* "http://127.0.0.1:2379" or "https://...": no user info, query or fragment (URLs
	 * are logged and shown as they are); a trailing '/' is dropped. */
	const char *const *urls;
	size_t n_urls;
	const char *cacert;	     /* PEM file of the CA (https); NULL: the system's */
	const char *cert;	     /* client certificate (PEM); NULL: none */
	const char *key;	     /* its key (PEM) */
	unsigned connect_timeout_ms; /* per member; 0: 1000 */
	unsigned request_timeout_ms; /* per member; 0: 5000 */
};

struct etcd;

struct etcd_kv {
	char *key;
	char *value; /* NUL-terminated; value_len bytes before it */
	size_t value_len;
	int64_t create_revision, mod_revision, version, lease;
};

enum etcd_event_type {
	ETCD_EVENT_PUT,
	ETCD_EVENT_DELETE, /* kv.value empty, kv.mod_revision is the deletion's revision */
	_ETCD_EVENT_TYPE_MAX,
};

struct etcd_event {
	enum etcd_event_type type;
	struct etcd_kv kv;
};

struct etcd_op {
	enum {
		ETCD_OP_PUT,
		ETCD_OP_DELETE,	       /* the key */
		ETCD_OP_DELETE_PREFIX, /* every key starting with key */
	} type;
	const char *key;
	const char *value; /* ETCD_OP_PUT */
	size_t value_len;
	int64_t lease; /* ETCD_OP_PUT: 0 none */
};

/* A failed request's reason (for logs and answers: never holds credentials). */
struct etcd_error {
	char message[256];
};

/* loop may be NULL: unary requests only (etcd_watch is then -EINVAL). */
int etcd_new(struct loop *loop, const struct etcd_config *cfg, struct etcd **ret);
struct etcd *etcd_free(struct etcd *c);
/* The URL that answered last (for status), never NULL. */
const char *etcd_current_url(const struct etcd *c);

void etcd_kvs_free(struct etcd_kv *kvs, size_t n);

/* Every key starting with prefix (in key order), and the store's revision of that view: read
 * in pages of ETCD_RANGE_PAGE keys, all at the first page's revision (one consistent view;
 * -EIO if it is compacted meanwhile), at most ETCD_MAX_RANGE_KEYS (-E2BIG past it). *ret_kvs
 * is freed with etcd_kvs_free. */
#define ETCD_RANGE_PAGE 2000
#define ETCD_MAX_RANGE_KEYS (1u << 20)
int etcd_range_prefix(struct etcd *c, const char *prefix, struct etcd_kv **ret_kvs, size_t *ret_n,
		      int64_t *ret_revision, struct etcd_error *err);
/* Up to ETCD_MAX_TXN_OPS operations as one transaction (no compares: always the success
 * branch); the revision it made (the store's revision when it changed nothing). */
/* etcd's own default limit (--max-txn-ops 128): a larger transaction is refused by it */
#define ETCD_MAX_TXN_OPS 128
int etcd_txn(struct etcd *c, const struct etcd_op *ops, size_t n, int64_t *ret_revision,
	     struct etcd_error *err);
int etcd_lease_grant(struct etcd *c, int64_t ttl_s, int64_t *ret_id, struct etcd_error *err);
/* The lease's remaining TTL (etcd answers its full TTL: renewed): 0 (and success) when it
 * has expired. */
int etcd_lease_keepalive(struct etcd *c, int64_t id, int64_t *ret_ttl, struct etcd_error *err);
/* -ENOENT when etcd has no such lease (expired or revoked already). */
int etcd_lease_revoke(struct etcd *c, int64_t id, struct etcd_error *err);

/* ---- the watch ---- */

/* The events of one revision: one transaction's, in its order. etcd sends what a watch from a
 * past revision catches up on as one message of many revisions; the client splits it. */
struct etcd_watch_batch {
	/* The watch has seen every change up to this revision (to resume from revision + 1):
	 * the events' mod_revision, or the message's header revision (>= it) for the last batch
	 * of a message. */
	int64_t revision;
	const struct etcd_event *events;
	size_t n_events;
};

struct etcd_watch_ops {
	/* Never empty (etcd's "created" and progress messages are not reported). May cancel the
	 * watch, start another after cancelling, make unary requests; not free the client. */
	void (*batch)(const struct etcd_watch_batch *b, void *userdata);
	/* The watch ended: the stream broke or was refused (error < 0, err says why), or the
	 * start revision was compacted (error == -ESTALE, compact_revision set): the caller
	 * re-lists. Batches received before the end are reported first. The watch is gone
	 * when this is called; etcd_watch may be called in it. */
	void (*ended)(int error, int64_t compact_revision, const struct etcd_error *err,
		      void *userdata);
};

/* Watches every key starting with prefix, from start_revision (> 0). Returns once the
 * request is started; -EBUSY if a watch is running. */
int etcd_watch(struct etcd *c, const char *prefix, int64_t start_revision,
	       const struct etcd_watch_ops *ops, void *userdata);
/* Stops the running watch (no callback); no-op without one. */
void etcd_watch_cancel(struct etcd *c);
bool etcd_watching(const struct etcd *c);

/* ---- pure parsing, exposed for tests and the fuzz harness (etcd-parse.c) ---- */

/* base64 (RFC 4648, with padding) of n bytes: a NUL-terminated string, NULL on ENOMEM. */
char *etcd_b64_encode(const void *data, size_t n);
/* -EBADMSG if s is not canonical base64. *ret is NUL-terminated, *ret_n its length. */
int etcd_b64_decode(const char *s, size_t len, char **ret, size_t *ret_n);
/* A range answer ({"header":{"revision":"N"},"kvs":[...],"count":"N"}). */
/* One page of a range asked for with a limit: *ret_more says whether keys follow the last. */
int etcd_parse_range_page(const char *body, size_t len, struct etcd_kv **ret_kvs, size_t *ret_n,
			  int64_t *ret_revision, bool *ret_more, struct etcd_error *err);
int etcd_parse_range(const char *body, size_t len, struct etcd_kv **ret_kvs, size_t *ret_n,
		     int64_t *ret_revision, struct etcd_error *err);
/* One watch message ({"result":{"header":..,"events":[..],"created":..,"canceled":..,
 * "compact_revision":..}} or {"error":..}): 0 and events (possibly none: created,
 * progress), -ESTALE with *ret_compact set, or -EBADMSG/-EIO. */
int etcd_parse_watch(const char *msg, size_t len, struct etcd_event **ret_events, size_t *ret_n,
		     int64_t *ret_revision, int64_t *ret_compact, struct etcd_error *err);
void etcd_events_free(struct etcd_event *ev, size_t n);
