/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "etcd-parse.h"
#include "etcd.h"
#include "http-multi.h"
#include "log.h"
#include "loop.h"
#include "macro.h"

#define ETCD_MAX_URL 512
#define KEEP_BODY_BUFFER (1024u * 1024)
#define ETCD_MAX_ERROR_BODY (64u * 1024) /* what is kept of an error answer */
#define DEFAULT_CONNECT_TIMEOUT_MS 1000
#define DEFAULT_REQUEST_TIMEOUT_MS 5000

/* A message of the watch stream, parsed, waiting to be reported outside libcurl's callbacks. */
struct watch_item {
	struct watch_item *next;
	struct etcd_event *events;
	size_t n_events;
	int64_t revision;
};

struct watch_req {
	struct etcd *c;
	CURL *easy;
	struct curl_slist *headers;
	const struct etcd_watch_ops *ops;
	void *userdata;
	size_t member;
	struct etcd_stream stream;
	struct watch_item *head, **tail;
	long status;   /* HTTP status, once the answer began */
	char *errbody; /* a refusal's body (status not 200), bounded */
	size_t errlen;
	bool stopping; /* a message ended it: nothing more is read */
	bool finished; /* the transfer is over: `ended` follows the queue */
	int end_error;
	int64_t end_compact;
	struct etcd_error end_err;
	char errbuf[CURL_ERROR_SIZE];
};

struct etcd {
	char **urls;
	size_t n_urls, current;
	char *cacert, *cert, *key;
	long connect_ms, request_ms;
	CURL *easy; /* unary requests, one at a time: its connection is reused */
	struct curl_slist *headers;
	char *body; /* the answer being read */
	size_t len, allocated;
	bool overflow;
	char errbuf[CURL_ERROR_SIZE];
	struct http_multi *http; /* NULL without a loop */
	struct watch_req *watch;
};

/* ---- configuration ---- */

static bool url_valid(const char *u)
{
	size_t n = strlen(u);
	const char *host;

	if (strncmp(u, "http://", 7) == 0)
		host = u + 7;
	else if (strncmp(u, "https://", 8) == 0)
		host = u + 8;
	else
		return false;
	if (n > ETCD_MAX_URL || !*host || *host == '/')
		return false;
	/* No credentials, query or fragment: a URL is logged and shown as it is. */
	for (const char *p = u; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || strchr("@?#\\", *p))
			return false;
	return true;
}

static void easy_common(struct etcd *c, CURL *easy, char *errbuf)
{
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_PROXY, ""); /* never through a proxy from the environment */
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
	if (c->cacert)
		curl_easy_setopt(easy, CURLOPT_CAINFO, c->cacert);
	if (c->cert) {
		curl_easy_setopt(easy, CURLOPT_SSLCERT, c->cert);
		curl_easy_setopt(easy, CURLOPT_SSLKEY, c->key);
	}
}

static void watch_done(CURL *easy, CURLcode res, void *userdata);
static void watch_dispatch(void *userdata);

static const struct http_multi_ops etcd_http_ops = {
	.done = watch_done,
	.after = watch_dispatch,
};

static int dup_opt(const char *s, char **ret)
{
	*ret = NULL;
	if (!s)
		return 0;
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

int etcd_new(struct loop *loop, const struct etcd_config *cfg, struct etcd **ret)
{
	struct etcd *c;
	int r = -ENOMEM;

	if (!cfg || cfg->n_urls == 0 || cfg->n_urls > ETCD_MAX_URLS || !cfg->urls ||
	    !cfg->cert != !cfg->key)
		return -EINVAL;
	for (size_t i = 0; i < cfg->n_urls; i++)
		if (!cfg->urls[i] || !url_valid(cfg->urls[i]))
			return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->connect_ms = cfg->connect_timeout_ms ? (long)cfg->connect_timeout_ms
						: DEFAULT_CONNECT_TIMEOUT_MS;
	c->request_ms = cfg->request_timeout_ms ? (long)cfg->request_timeout_ms
						: DEFAULT_REQUEST_TIMEOUT_MS;
	c->urls = calloc(cfg->n_urls, sizeof(*c->urls));
	if (!c->urls)
		goto fail;
	for (; c->n_urls < cfg->n_urls; c->n_urls++) {
		char *u = strdup(cfg->urls[c->n_urls]);
		size_t n;

		if (!u)
			goto fail;
		n = strlen(u);
		while (n > 0 && u[n - 1] == '/')
			u[--n] = 0;
		c->urls[c->n_urls] = u;
	}
	if (dup_opt(cfg->cacert, &c->cacert) < 0 || dup_opt(cfg->cert, &c->cert) < 0 ||
	    dup_opt(cfg->key, &c->key) < 0)
		goto fail;
	c->easy = curl_easy_init();
	c->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (!c->easy || !c->headers)
		goto fail;
	easy_common(c, c->easy, c->errbuf);
	if (loop) {
		r = http_multi_new(loop, &etcd_http_ops, c, &c->http);
		if (r < 0)
			goto fail;
	}
	*ret = c;
	return 0;
fail:
	etcd_free(c);
	return r;
}

struct etcd *etcd_free(struct etcd *c)
{
	if (!c)
		return NULL;
	etcd_watch_cancel(c);
	c->http = http_multi_free(c->http);
	if (c->easy)
		curl_easy_cleanup(c->easy);
	curl_slist_free_all(c->headers);
	for (size_t i = 0; i < c->n_urls; i++)
		free(c->urls[i]);
	free(c->urls);
	free(c->cacert);
	free(c->cert);
	free(c->key);
	free(c->body);
	free(c);
	return NULL;
}

const char *etcd_current_url(const struct etcd *c)
{
	return c->urls[c->current];
}

/* ---- unary requests ---- */

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
	struct etcd *c = userdata;
	size_t len = size * n;

	if (c->len + len > ETCD_MAX_BODY) {
		c->overflow = true;
		return 0; /* aborts the transfer: over the bound is refused, never cut */
	}
	if (c->len + len + 1 > c->allocated) {
		size_t m = (c->len + len + 1) * 2;
		char *p;

		if (m > ETCD_MAX_BODY + 1)
			m = ETCD_MAX_BODY + 1;
		p = realloc(c->body, m);
		if (!p)
			return 0;
		c->body = p;
		c->allocated = m;
	}
	memcpy(c->body + c->len, data, len);
	c->len += len;
	c->body[c->len] = 0;
	return len;
}

/* The answer request() read ("" when empty). */
static const char *answer(const struct etcd *c)
{
	return c->body ? c->body : "";
}

/*
 * POSTs body to path, from the member that answered last on: 0 and the answer in c->body
 * (c->len bytes) when one answered 200. A member that cannot be reached or answers 5xx gives
 * way to the next one; any other answer is final (-EIO, its HTTP status in *ret_status).
 */
static int request(struct etcd *c, const char *path, const char *body, long *ret_status,
		   struct etcd_error *err)
{
	int best = -EHOSTUNREACH;
	struct etcd_error last = { "no member answered" };

	*ret_status = 0;
	/* The buffer of a big answer (the first range of a fleet) is not kept for small ones. */
	if (c->allocated > KEEP_BODY_BUFFER) {
		free(c->body);
		c->body = NULL;
		c->allocated = 0;
	}
	for (size_t k = 0; k < c->n_urls; k++) {
		size_t i = (c->current + k) % c->n_urls;
		char url[ETCD_MAX_URL + 64];
		long status = 0;
		CURLcode res;

		snprintf(url, sizeof(url), "%s%s", c->urls[i], path);
		c->len = 0;
		c->overflow = false;
		c->errbuf[0] = 0;
		curl_easy_setopt(c->easy, CURLOPT_URL, url);
		curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
		curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
		curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, c->request_ms);
		res = curl_easy_perform(c->easy);
		if (res == CURLE_OK)
			(void)curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
		if (c->overflow) {
			etcd_set_error(err, "%s: the answer is over %u bytes", c->urls[i],
				       ETCD_MAX_BODY);
			return -E2BIG;
		}
		if (res == CURLE_OK && status == 200) {
			c->current = i;
			return 0;
		}
		if (res == CURLE_OK && status < 500) {
			c->current = i;
			etcd_parse_error(answer(c), c->len, err);
			if (err) {
				size_t m = strlen(err->message);

				snprintf(err->message + m, sizeof(err->message) - m, " (HTTP %ld)",
					 status);
			}
			*ret_status = status;
			return -EIO;
		}
		if (res == CURLE_OK) {
			size_t m;

			etcd_parse_error(answer(c), c->len, &last);
			m = strlen(last.message);
			snprintf(last.message + m, sizeof(last.message) - m, " (HTTP %ld)", status);
			best = -EIO;
			*ret_status = status;
		} else {
			etcd_set_error(&last, "%s: %s", c->urls[i],
				       c->errbuf[0] ? c->errbuf : curl_easy_strerror(res));
			if (best != -EIO)
				best = res == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : best;
		}
		log_debug("etcd: %s did not answer (%s)%s", c->urls[i], last.message,
			  k + 1 < c->n_urls ? ", trying the next member" : "");
	}
	if (err)
		*err = last;
	return best;
}

int etcd_range_prefix(struct etcd *c, const char *prefix, struct etcd_kv **ret_kvs, size_t *ret_n,
		      int64_t *ret_revision, struct etcd_error *err)
{
	_cleanup_free_ char *end = NULL, *start = NULL;
	struct etcd_kv *all = NULL;
	size_t n_all = 0, n_end, n_start;
	int64_t rev = 0;
	bool more = true;
	int r;

	if (!etcd_key_valid(prefix, true)) {
		etcd_set_error(err, "invalid prefix");
		return -EINVAL;
	}
	if (etcd_prefix_end(prefix, &end, &n_end) < 0)
		return -ENOMEM;
	/* the empty prefix starts at "\0", as etcd reads an empty key */
	n_start = *prefix ? strlen(prefix) : 1;
	start = calloc(1, n_start + 1);
	if (!start)
		return -ENOMEM;
	memcpy(start, prefix, strlen(prefix));
	while (more) {
		_cleanup_free_ char *body = NULL;
		struct etcd_kv *kvs = NULL;
		size_t n = 0;
		int64_t page_rev = 0;
		long status;

		r = etcd_json_dump(json_pack("{s:o, s:o, s:I, s:o*}", "key",
					     etcd_json_b64(start, n_start), "range_end",
					     etcd_json_b64(end, n_end), "limit",
					     (json_int_t)ETCD_RANGE_PAGE, "revision",
					     rev ? etcd_json_int64(rev) : NULL),
				   &body);
		if (r >= 0)
			r = request(c, "/v3/kv/range", body, &status, err);
		if (r >= 0)
			r = etcd_parse_range_page(answer(c), c->len, &kvs, &n, &page_rev, &more,
						  err);
		if (r >= 0 && more) {
			/* the next page starts just after the last key: it with a NUL */
			char *next = calloc(1, strlen(kvs[n - 1].key) + 2);

			if (!next) {
				etcd_kvs_free(kvs, n);
				r = -ENOMEM;
			} else {
				n_start = strlen(kvs[n - 1].key) + 1;
				memcpy(next, kvs[n - 1].key, n_start - 1);
				free(start);
				start = next;
			}
		}
		if (r >= 0)
			r = etcd_kvs_append(&all, &n_all, kvs, n);
		if (r < 0) {
			if (r == -E2BIG)
				etcd_set_error(err, "more than %u keys under %s",
					       ETCD_MAX_RANGE_KEYS, prefix);
			etcd_kvs_free(all, n_all);
			return r;
		}
		if (!rev)
			rev = page_rev; /* the view every later page is read at */
	}
	*ret_kvs = all ? all : calloc(1, sizeof(*all));
	if (!*ret_kvs)
		return -ENOMEM;
	*ret_n = n_all;
	*ret_revision = rev;
	return 0;
}

int etcd_txn(struct etcd *c, const struct etcd_op *ops, size_t n, int64_t *ret_revision,
	     struct etcd_error *err)
{
	_cleanup_free_ char *body = NULL;
	size_t total = 0;
	json_t *a;
	long status;
	int r;

	if (n == 0 || n > ETCD_MAX_TXN_OPS || !ops) {
		etcd_set_error(err, "a transaction has 1 to %d operations", ETCD_MAX_TXN_OPS);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!etcd_key_valid(ops[i].key, false) || ops[i].type > ETCD_OP_DELETE_PREFIX ||
		    (ops[i].type == ETCD_OP_PUT &&
		     (ops[i].value_len > ETCD_MAX_VALUE || (!ops[i].value && ops[i].value_len) ||
		      ops[i].lease < 0))) {
			etcd_set_error(err, "operation %zu is invalid", i);
			return -EINVAL;
		}
		total += ops[i].value_len + strlen(ops[i].key);
	}
	if (total > ETCD_MAX_BODY / 2) {
		etcd_set_error(err, "the transaction is over %u bytes", ETCD_MAX_BODY / 2);
		return -E2BIG;
	}
	a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, etcd_json_op(&ops[i])) < 0)
			a = (json_decref(a), NULL);
	r = etcd_json_dump(a ? json_pack("{s:o}", "success", a) : NULL, &body);
	if (r >= 0)
		r = request(c, "/v3/kv/txn", body, &status, err);
	if (r < 0)
		return r;
	return etcd_parse_txn(answer(c), c->len, ret_revision, err);
}

int etcd_lease_grant(struct etcd *c, int64_t ttl_s, int64_t *ret_id, struct etcd_error *err)
{
	_cleanup_free_ char *body = NULL;
	int64_t ttl;
	long status;
	int r;

	if (ttl_s <= 0 || ttl_s > INT32_MAX) {
		etcd_set_error(err, "invalid TTL");
		return -EINVAL;
	}
	r = etcd_json_dump(json_pack("{s:o}", "TTL", etcd_json_int64(ttl_s)), &body);
	if (r >= 0)
		r = request(c, "/v3/lease/grant", body, &status, err);
	if (r < 0)
		return r;
	return etcd_parse_lease_grant(answer(c), c->len, ret_id, &ttl, err);
}

int etcd_lease_keepalive(struct etcd *c, int64_t id, int64_t *ret_ttl, struct etcd_error *err)
{
	_cleanup_free_ char *body = NULL;
	long status;
	int r;

	if (id <= 0) {
		etcd_set_error(err, "invalid lease");
		return -EINVAL;
	}
	r = etcd_json_dump(json_pack("{s:o}", "ID", etcd_json_int64(id)), &body);
	if (r >= 0)
		r = request(c, "/v3/lease/keepalive", body, &status, err);
	if (r < 0)
		return r;
	return etcd_parse_lease_keepalive(answer(c), c->len, id, ret_ttl, err);
}

int etcd_lease_revoke(struct etcd *c, int64_t id, struct etcd_error *err)
{
	_cleanup_free_ char *body = NULL;
	long status;
	int r;

	if (id <= 0) {
		etcd_set_error(err, "invalid lease");
		return -EINVAL;
	}
	r = etcd_json_dump(json_pack("{s:o}", "ID", etcd_json_int64(id)), &body);
	if (r >= 0)
		r = request(c, "/v3/lease/revoke", body, &status, err);
	/* gRPC's NotFound: expired or revoked already. */
	if (r == -EIO && status == 404)
		return -ENOENT;
	return r;
}

/* ---- the watch ---- */

static void watch_req_free(struct watch_req *w)
{
	if (!w)
		return;
	if (w->easy) {
		http_multi_remove(w->c->http, w->easy);
		curl_easy_cleanup(w->easy);
	}
	curl_slist_free_all(w->headers);
	while (w->head) {
		struct watch_item *it = w->head;

		w->head = it->next;
		etcd_events_free(it->events, it->n_events);
		free(it);
	}
	etcd_stream_done(&w->stream);
	free(w->errbody);
	free(w);
}

static void watch_stop(struct watch_req *w, int error, const struct etcd_error *err)
{
	w->stopping = true;
	w->end_error = error;
	if (err)
		w->end_err = *err;
}

/* Queues the events of one revision (a transaction's): events[0..n) share one mod_revision;
 * revision is what the watch has seen everything up to. Takes the events in any case. */
static int queue_batch(struct watch_req *w, struct etcd_event *events, size_t n, int64_t revision)
{
	struct watch_item *it = calloc(1, sizeof(*it));

	if (!it) {
		etcd_events_free(events, n);
		return -ENOMEM;
	}
	*it = (struct watch_item){ .events = events, .n_events = n, .revision = revision };
	*w->tail = it;
	w->tail = &it->next;
	return 0;
}

static int on_message(const char *msg, size_t len, void *userdata)
{
	struct watch_req *w = userdata;
	struct etcd_error err = { "" };
	struct etcd_event *events = NULL;
	int64_t revision = 0, compact = 0;
	size_t n = 0, start = 0;
	int r;

	r = etcd_parse_watch(msg, len, &events, &n, &revision, &compact, &err);
	if (r == -ESTALE)
		w->end_compact = compact;
	if (r < 0) {
		watch_stop(w, r, &err);
		return r;
	}
	/* Nothing (created, a progress notification), or events of one or more revisions: a
	 * watch that catches up on the past gets several in one message. One batch each, so
	 * that a batch is always one transaction; the message's last batch carries its header
	 * revision (everything up to it was seen). */
	while (r >= 0 && start < n) {
		int64_t rev = events[start].kv.mod_revision;
		size_t end = start + 1;
		struct etcd_event *part;

		while (end < n && events[end].kv.mod_revision == rev)
			end++;
		part = calloc(end - start, sizeof(*part));
		if (!part) {
			r = -ENOMEM;
			break;
		}
		memcpy(part, events + start, (end - start) * sizeof(*part));
		memset(events + start, 0, (end - start) * sizeof(*part));
		r = queue_batch(w, part, end - start, end == n ? revision : rev);
		start = end;
	}
	etcd_events_free(events, n);
	if (r < 0) {
		etcd_set_error(&err, "out of memory");
		watch_stop(w, r, &err);
	}
	return r;
}

static size_t on_stream(char *data, size_t size, size_t n, void *userdata)
{
	struct watch_req *w = userdata;
	size_t len = size * n;
	int r;

	if (w->stopping)
		return 0;
	if (w->status == 0)
		(void)curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &w->status);
	if (w->status != 200) {
		/* A refusal: its body says why (kept up to a bound, for the message only). */
		size_t keep = ETCD_MAX_ERROR_BODY - w->errlen;
		char *p;

		if (keep > len)
			keep = len;
		p = realloc(w->errbody, w->errlen + keep + 1);
		if (!p)
			return 0;
		w->errbody = p;
		memcpy(p + w->errlen, data, keep);
		w->errlen += keep;
		p[w->errlen] = 0;
		return len;
	}
	r = etcd_stream_feed(&w->stream, data, len, ETCD_MAX_MESSAGE, on_message, w);
	if (r == -E2BIG || r == -ENOMEM) {
		struct etcd_error err;

		etcd_set_error(&err,
			       r == -E2BIG ? "a watch message is over %u bytes" : "out of memory",
			       ETCD_MAX_MESSAGE);
		watch_stop(w, r, &err);
	}
	return r < 0 ? 0 : len;
}

static void watch_done(CURL *easy, CURLcode res, void *userdata)
{
	struct etcd *c = userdata;
	struct watch_req *w = c->watch;

	if (!w || w->easy != easy)
		return; /* not ours: cannot happen, every other handle is removed first */
	w->finished = true;
	if (w->end_error)
		return;
	if (w->status == 0 && res == CURLE_OK)
		(void)curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &w->status);
	if (w->status != 0 && w->status != 200) {
		size_t m;

		etcd_parse_error(w->errbody ? w->errbody : "", w->errlen, &w->end_err);
		m = strlen(w->end_err.message);
		snprintf(w->end_err.message + m, sizeof(w->end_err.message) - m, " (HTTP %ld)",
			 w->status);
		w->end_error = -EIO;
		return;
	}
	/* Unreachable, or the stream broke. */
	if (w->status == 0)
		w->end_error = res == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EHOSTUNREACH;
	else
		w->end_error = -ECONNRESET;
	etcd_set_error(&w->end_err, "%s: %s", c->urls[w->member],
		       res != CURLE_OK ? (w->errbuf[0] ? w->errbuf : curl_easy_strerror(res))
				       : "etcd closed the watch stream");
}

/* Reports what the stream delivered, then its end: outside libcurl's callbacks, so that the
 * callbacks may cancel, start a watch or make requests. */
static void watch_dispatch(void *userdata)
{
	struct etcd *c = userdata;
	struct watch_req *w;

	while ((w = c->watch)) {
		struct watch_item *it = w->head;

		if (it) {
			struct etcd_watch_batch b = { .revision = it->revision,
						      .events = it->events,
						      .n_events = it->n_events };

			w->head = it->next;
			if (!w->head)
				w->tail = &w->head;
			w->ops->batch(&b, w->userdata);
			etcd_events_free(it->events, it->n_events);
			free(it);
			continue; /* the callback may have ended this watch and started another */
		}
		if (!w->finished)
			return;
		{
			const struct etcd_watch_ops *ops = w->ops;
			struct etcd_error err = w->end_err;
			int64_t compact = w->end_compact;
			void *ud = w->userdata;
			int error = w->end_error;

			/* Whatever ended it but a compaction (the member could not be reached,
			 * broke the stream, refused or garbled it), the caller's next watch goes to
			 * the next member. */
			if (error != -ESTALE && c->current == w->member)
				c->current = (w->member + 1) % c->n_urls;
			c->watch = NULL;
			watch_req_free(w);
			ops->ended(error, compact, &err, ud);
		}
	}
}

int etcd_watch(struct etcd *c, const char *prefix, int64_t start_revision,
	       const struct etcd_watch_ops *ops, void *userdata)
{
	_cleanup_free_ char *body = NULL;
	char url[ETCD_MAX_URL + 64];
	struct watch_req *w;
	json_t *req;
	int r;

	if (!c->http || !ops || !ops->batch || !ops->ended || start_revision <= 0 ||
	    !etcd_key_valid(prefix, true))
		return -EINVAL;
	if (c->watch)
		return -EBUSY;
	req = etcd_json_prefix(prefix);
	if (req && json_object_set_new(req, "start_revision", etcd_json_int64(start_revision)) < 0)
		req = (json_decref(req), NULL);
	r = etcd_json_dump(req ? json_pack("{s:o}", "create_request", req) : NULL, &body);
	if (r < 0)
		return r;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->c = c;
	w->ops = ops;
	w->userdata = userdata;
	w->member = c->current;
	w->tail = &w->head;
	w->easy = curl_easy_init();
	w->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (!w->easy || !w->headers) {
		watch_req_free(w);
		return -ENOMEM;
	}
	snprintf(url, sizeof(url), "%s/v3/watch", c->urls[w->member]);
	easy_common(c, w->easy, w->errbuf);
	curl_easy_setopt(w->easy, CURLOPT_URL, url);
	curl_easy_setopt(w->easy, CURLOPT_HTTPHEADER, w->headers);
	curl_easy_setopt(w->easy, CURLOPT_COPYPOSTFIELDS, body);
	curl_easy_setopt(w->easy, CURLOPT_WRITEFUNCTION, on_stream);
	curl_easy_setopt(w->easy, CURLOPT_WRITEDATA, w);
	/* A stream: no overall timeout; TCP keepalive notices a member host that vanished. */
	curl_easy_setopt(w->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(w->easy, CURLOPT_TCP_KEEPIDLE, 10L);
	curl_easy_setopt(w->easy, CURLOPT_TCP_KEEPINTVL, 5L);
	r = http_multi_add(c->http, w->easy);
	if (r < 0) {
		curl_easy_cleanup(TAKE_PTR(w->easy));
		watch_req_free(w);
		return r;
	}
	c->watch = w;
	return 0;
}

void etcd_watch_cancel(struct etcd *c)
{
	if (!c || !c->watch)
		return;
	watch_req_free(TAKE_PTR(c->watch));
}

bool etcd_watching(const struct etcd *c)
{
	return c && c->watch;
}
