/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "etcd-parse.h"
#include "etcd.h"
#include "macro.h"

#define JSON_FLAGS JSON_REJECT_DUPLICATES
/* The base64 text of n bytes is at most this long. */
#define B64_LEN(n) (((size_t)(n) + 2) / 3 * 4)

static void *mfree(void *p)
{
	free(p);
	return NULL;
}

void etcd_set_error(struct etcd_error *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

/* ---- base64 ---- */

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *etcd_b64_encode(const void *data, size_t n)
{
	const unsigned char *p = data;
	size_t o = 0;
	char *s;

	if (n > (SIZE_MAX - 1) / 4 * 3 - 3)
		return NULL;
	s = malloc(B64_LEN(n) + 1);
	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		s[o++] = b64_alphabet[(v >> 18) & 63];
		s[o++] = b64_alphabet[(v >> 12) & 63];
		s[o++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
		s[o++] = i + 2 < n ? b64_alphabet[v & 63] : '=';
	}
	s[o] = 0;
	return s;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int etcd_b64_decode(const char *s, size_t len, char **ret, size_t *ret_n)
{
	size_t pad = 0, n, o = 0;
	char *out;

	if (len % 4 != 0)
		return -EBADMSG;
	if (len > 0 && s[len - 1] == '=')
		pad = len > 1 && s[len - 2] == '=' ? 2 : 1;
	n = len / 4 * 3 - pad;
	out = malloc(n + 1);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		int v[4];
		uint32_t x;

		for (size_t k = 0; k < 4; k++) {
			bool padding = last && k >= 4 - pad;

			v[k] = padding ? (s[i + k] == '=' ? 0 : -1) : b64_value(s[i + k]);
			if (v[k] < 0) {
				free(out);
				return -EBADMSG;
			}
		}
		x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
		    (uint32_t)v[3];
		/* Canonical only: the bits the padding leaves unused are zero. */
		if ((last && pad == 2 && (x & 0xffff)) || (last && pad == 1 && (x & 0xff))) {
			free(out);
			return -EBADMSG;
		}
		out[o++] = (char)(x >> 16);
		if (!(last && pad == 2))
			out[o++] = (char)(x >> 8);
		if (!(last && pad >= 1))
			out[o++] = (char)x;
	}
	out[o] = 0;
	*ret = out;
	*ret_n = o;
	return 0;
}

/* ---- fields ---- */

/* An int64 field as grpc-gateway writes it: a string of decimal digits (or a JSON integer);
 * absent is 0. Negative values are refused: no field segd reads may be negative. */
static int get_int64(const json_t *o, const char *field, int64_t *ret, struct etcd_error *err)
{
	json_t *v = json_object_get(o, field);
	int64_t x = 0;

	if (!v) {
		*ret = 0;
		return 0;
	}
	if (json_is_integer(v)) {
		x = json_integer_value(v);
		if (x < 0)
			goto bad;
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);

		if (n == 0 || n > 19)
			goto bad;
		for (size_t i = 0; i < n; i++) {
			if (s[i] < '0' || s[i] > '9')
				goto bad;
			if (x > (INT64_MAX - (s[i] - '0')) / 10)
				goto bad;
			x = x * 10 + (s[i] - '0');
		}
	} else
		goto bad;
	*ret = x;
	return 0;
bad:
	etcd_set_error(err, "\"%s\" is not a non-negative 64-bit integer", field);
	return -EBADMSG;
}

static int get_bool(const json_t *o, const char *field, bool *ret, struct etcd_error *err)
{
	json_t *v = json_object_get(o, field);

	if (v && !json_is_boolean(v)) {
		etcd_set_error(err, "\"%s\" is not a boolean", field);
		return -EBADMSG;
	}
	*ret = v && json_is_true(v);
	return 0;
}

/* An optional object field: NULL when absent, -EBADMSG for another type. */
static int get_object(const json_t *o, const char *field, json_t **ret, struct etcd_error *err)
{
	json_t *v = json_object_get(o, field);

	if (v && !json_is_object(v)) {
		etcd_set_error(err, "\"%s\" is not an object", field);
		return -EBADMSG;
	}
	*ret = v;
	return 0;
}

/* A base64 field, decoded, at most max bytes; absent is empty unless required. */
static int get_bytes(const json_t *o, const char *field, bool required, size_t max, char **ret,
		     size_t *ret_n, struct etcd_error *err)
{
	json_t *v = json_object_get(o, field);
	int r;

	if (!v && !required) {
		*ret = strdup("");
		*ret_n = 0;
		return *ret ? 0 : -ENOMEM;
	}
	if (!v || !json_is_string(v)) {
		etcd_set_error(err, "\"%s\" is %s", field, v ? "not a string" : "missing");
		return -EBADMSG;
	}
	if (json_string_length(v) > B64_LEN(max)) {
		etcd_set_error(err, "\"%s\" is over %zu bytes", field, max);
		return -E2BIG;
	}
	r = etcd_b64_decode(json_string_value(v), json_string_length(v), ret, ret_n);
	if (r == -EBADMSG)
		etcd_set_error(err, "\"%s\" is not base64", field);
	if (r < 0)
		return r;
	if (*ret_n > max) {
		*ret = mfree(*ret);
		etcd_set_error(err, "\"%s\" is over %zu bytes", field, max);
		return -E2BIG;
	}
	return 0;
}

static int parse_kv(const json_t *o, struct etcd_kv *kv, struct etcd_error *err)
{
	size_t key_len;
	int r;

	if (!json_is_object(o)) {
		etcd_set_error(err, "a kv is not an object");
		return -EBADMSG;
	}
	r = get_bytes(o, "key", true, ETCD_MAX_KEY, &kv->key, &key_len, err);
	if (r < 0)
		return r;
	if (key_len == 0 || strlen(kv->key) != key_len) {
		etcd_set_error(err, "a key is empty or holds a NUL byte");
		return -EBADMSG;
	}
	r = get_bytes(o, "value", false, ETCD_MAX_VALUE, &kv->value, &kv->value_len, err);
	if (r >= 0)
		r = get_int64(o, "create_revision", &kv->create_revision, err);
	if (r >= 0)
		r = get_int64(o, "mod_revision", &kv->mod_revision, err);
	if (r >= 0)
		r = get_int64(o, "version", &kv->version, err);
	if (r >= 0)
		r = get_int64(o, "lease", &kv->lease, err);
	return r;
}

void etcd_kvs_free(struct etcd_kv *kvs, size_t n)
{
	if (!kvs)
		return;
	for (size_t i = 0; i < n; i++) {
		free(kvs[i].key);
		free(kvs[i].value);
	}
	free(kvs);
}

void etcd_events_free(struct etcd_event *ev, size_t n)
{
	if (!ev)
		return;
	for (size_t i = 0; i < n; i++) {
		free(ev[i].kv.key);
		free(ev[i].kv.value);
	}
	free(ev);
}

/* Copies a message printable (ASCII; anything else becomes '?'). */
static void set_err_text(struct etcd_error *err, const char *prefix, const char *s)
{
	size_t o;

	if (!err)
		return;
	o = (size_t)snprintf(err->message, sizeof(err->message), "%s", prefix);
	for (; s && *s && o + 1 < sizeof(err->message); s++)
		err->message[o++] =
			(unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f ? *s : '?';
	err->message[o] = 0;
}

/* The message of an error object ({"error":"..","message":".."} or {"error":{"message":..}});
 * NULL when o holds no error. */
static const char *error_message(const json_t *o)
{
	json_t *e = json_object_get(o, "error");
	json_t *m = json_object_get(o, "message");

	if (!e)
		return NULL;
	if (json_is_object(e))
		m = json_object_get(e, "message");
	if (json_is_string(m) && json_string_length(m) > 0)
		return json_string_value(m);
	if (json_is_string(e) && json_string_length(e) > 0)
		return json_string_value(e);
	return "no message";
}

void etcd_parse_error(const char *body, size_t len, struct etcd_error *err)
{
	json_t *o = json_loadb(body, len, JSON_FLAGS | JSON_DISABLE_EOF_CHECK, NULL);
	const char *m = o && json_is_object(o) ? error_message(o) : NULL;

	set_err_text(err, "etcd: ", m ? m : "no message");
	json_decref(o);
}

/* The body as a JSON object, or -EBADMSG; an error object is -EIO with its message. */
static int load_object(const char *body, size_t len, size_t flags, json_t **ret,
		       struct etcd_error *err)
{
	json_error_t jerr;
	json_t *o = json_loadb(body, len, JSON_FLAGS | flags, &jerr);
	const char *m;

	if (!o || !json_is_object(o)) {
		if (o)
			etcd_set_error(err, "the answer is not a JSON object");
		else
			etcd_set_error(err, "the answer is not JSON: %s", jerr.text);
		json_decref(o);
		return -EBADMSG;
	}
	m = error_message(o);
	if (m) {
		set_err_text(err, "etcd: ", m);
		json_decref(o);
		return -EIO;
	}
	*ret = o;
	return 0;
}

static int header_revision(const json_t *o, bool required, int64_t *ret, struct etcd_error *err)
{
	json_t *h;
	int r = get_object(o, "header", &h, err);

	if (r < 0)
		return r;
	if (h)
		r = get_int64(h, "revision", ret, err);
	else
		*ret = 0;
	if (r >= 0 && required && *ret <= 0) {
		etcd_set_error(err, "the answer has no header revision");
		return -EBADMSG;
	}
	return r;
}

/* ---- answers ---- */

int etcd_parse_range(const char *body, size_t len, struct etcd_kv **ret_kvs, size_t *ret_n,
		     int64_t *ret_revision, struct etcd_error *err)
{
	return etcd_parse_range_page(body, len, ret_kvs, ret_n, ret_revision, NULL, err);
}

int etcd_parse_range_page(const char *body, size_t len, struct etcd_kv **ret_kvs, size_t *ret_n,
			  int64_t *ret_revision, bool *ret_more, struct etcd_error *err)
{
	struct etcd_kv *kvs = NULL;
	json_t *o = NULL, *a;
	int64_t revision, count;
	size_t n = 0;
	bool more;
	int r;

	r = load_object(body, len, 0, &o, err);
	if (r < 0)
		return r;
	r = header_revision(o, true, &revision, err);
	if (r >= 0)
		r = get_int64(o, "count", &count, err);
	if (r >= 0)
		r = get_bool(o, "more", &more, err);
	if (r < 0)
		goto out;
	a = json_object_get(o, "kvs");
	if (a && !json_is_array(a)) {
		etcd_set_error(err, "\"kvs\" is not an array");
		r = -EBADMSG;
		goto out;
	}
	n = json_array_size(a);
	/* a page (a limit was asked for) may hold fewer than count, and say there are more */
	if ((more && !ret_more) || (uint64_t)count < n || (!more && (uint64_t)count != n) ||
	    (more && n == 0)) {
		etcd_set_error(err, "the answer holds %zu of %lld keys", n, (long long)count);
		r = -EBADMSG;
		goto out;
	}
	kvs = calloc(n ? n : 1, sizeof(*kvs));
	if (!kvs) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n && r >= 0; i++) {
		r = parse_kv(json_array_get(a, i), &kvs[i], err);
		if (r >= 0 && i > 0 && strcmp(kvs[i - 1].key, kvs[i].key) >= 0) {
			etcd_set_error(err, "the keys are not in order");
			r = -EBADMSG;
		}
	}
	if (r < 0)
		goto out;
	*ret_kvs = TAKE_PTR(kvs);
	*ret_n = n;
	*ret_revision = revision;
	if (ret_more)
		*ret_more = more;
out:
	etcd_kvs_free(kvs, n);
	json_decref(o);
	return r;
}

static int parse_event(const json_t *o, struct etcd_event *ev, struct etcd_error *err)
{
	json_t *t, *kv;

	if (!json_is_object(o)) {
		etcd_set_error(err, "an event is not an object");
		return -EBADMSG;
	}
	t = json_object_get(o, "type");
	if (!t || (json_is_string(t) && streq(json_string_value(t), "PUT")) ||
	    (json_is_integer(t) && json_integer_value(t) == 0))
		ev->type = ETCD_EVENT_PUT;
	else if ((json_is_string(t) && streq(json_string_value(t), "DELETE")) ||
		 (json_is_integer(t) && json_integer_value(t) == 1))
		ev->type = ETCD_EVENT_DELETE;
	else {
		etcd_set_error(err, "an event's type is neither PUT nor DELETE");
		return -EBADMSG;
	}
	kv = json_object_get(o, "kv");
	if (!kv) {
		etcd_set_error(err, "an event has no kv");
		return -EBADMSG;
	}
	return parse_kv(kv, &ev->kv, err);
}

int etcd_parse_watch(const char *msg, size_t len, struct etcd_event **ret_events, size_t *ret_n,
		     int64_t *ret_revision, int64_t *ret_compact, struct etcd_error *err)
{
	struct etcd_event *events = NULL;
	json_t *o = NULL, *res, *a, *reason;
	int64_t revision, compact, last = 0;
	bool canceled, fragment;
	size_t n = 0;
	int r;

	r = load_object(msg, len, 0, &o, err);
	if (r < 0)
		return r;
	r = get_object(o, "result", &res, err);
	if (r >= 0 && !res) {
		etcd_set_error(err, "the message has no result");
		r = -EBADMSG;
	}
	if (r >= 0)
		r = header_revision(res, false, &revision, err);
	if (r >= 0)
		r = get_int64(res, "compact_revision", &compact, err);
	if (r >= 0)
		r = get_bool(res, "canceled", &canceled, err);
	if (r >= 0)
		r = get_bool(res, "fragment", &fragment, err);
	if (r < 0)
		goto out;
	if (compact > 0) {
		etcd_set_error(err, "revisions up to %lld were compacted", (long long)compact);
		*ret_compact = compact;
		r = -ESTALE;
		goto out;
	}
	if (canceled) {
		reason = json_object_get(res, "cancel_reason");
		set_err_text(err, "etcd canceled the watch: ",
			     json_is_string(reason) ? json_string_value(reason) : "no reason");
		r = -EIO;
		goto out;
	}
	if (fragment) {
		etcd_set_error(err, "a fragmented watch message");
		r = -EBADMSG;
		goto out;
	}
	a = json_object_get(res, "events");
	if (a && !json_is_array(a)) {
		etcd_set_error(err, "\"events\" is not an array");
		r = -EBADMSG;
		goto out;
	}
	n = json_array_size(a);
	events = calloc(n ? n : 1, sizeof(*events));
	if (!events) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n && r >= 0; i++) {
		r = parse_event(json_array_get(a, i), &events[i], err);
		/* In revision order, none after the message's own revision. */
		if (r >= 0 && (events[i].kv.mod_revision < last || events[i].kv.mod_revision <= 0 ||
			       events[i].kv.mod_revision > revision)) {
			etcd_set_error(err, "an event's revision is out of order");
			r = -EBADMSG;
		}
		if (r >= 0)
			last = events[i].kv.mod_revision;
	}
	if (r < 0)
		goto out;
	*ret_events = TAKE_PTR(events);
	*ret_n = n;
	*ret_revision = revision;
out:
	etcd_events_free(events, n);
	json_decref(o);
	return r;
}

int etcd_parse_txn(const char *body, size_t len, int64_t *ret_revision, struct etcd_error *err)
{
	json_t *o = NULL;
	int64_t revision;
	bool ok;
	int r;

	r = load_object(body, len, 0, &o, err);
	if (r < 0)
		return r;
	r = header_revision(o, true, &revision, err);
	if (r >= 0)
		r = get_bool(o, "succeeded", &ok, err);
	if (r >= 0 && !ok) {
		etcd_set_error(err, "the transaction did not succeed");
		r = -EBADMSG;
	}
	if (r >= 0)
		*ret_revision = revision;
	json_decref(o);
	return r;
}

int etcd_parse_lease_grant(const char *body, size_t len, int64_t *ret_id, int64_t *ret_ttl,
			   struct etcd_error *err)
{
	json_t *o = NULL;
	int64_t id, ttl;
	int r;

	r = load_object(body, len, 0, &o, err);
	if (r < 0)
		return r;
	r = get_int64(o, "ID", &id, err);
	if (r >= 0)
		r = get_int64(o, "TTL", &ttl, err);
	if (r >= 0 && (id <= 0 || ttl <= 0)) {
		etcd_set_error(err, "the lease has no ID or TTL");
		r = -EBADMSG;
	}
	if (r >= 0) {
		*ret_id = id;
		*ret_ttl = ttl;
	}
	json_decref(o);
	return r;
}

int etcd_parse_lease_keepalive(const char *body, size_t len, int64_t id, int64_t *ret_ttl,
			       struct etcd_error *err)
{
	json_t *o = NULL, *res;
	int64_t got, ttl;
	int r;

	/* A stream of one message: what follows its newline is not read. */
	r = load_object(body, len, JSON_DISABLE_EOF_CHECK, &o, err);
	if (r < 0)
		return r;
	r = get_object(o, "result", &res, err);
	if (r >= 0 && !res) {
		etcd_set_error(err, "the answer has no result");
		r = -EBADMSG;
	}
	if (r >= 0)
		r = get_int64(res, "ID", &got, err);
	if (r >= 0)
		r = get_int64(res, "TTL", &ttl, err);
	if (r >= 0 && got != id) {
		etcd_set_error(err, "the answer is about another lease");
		r = -EBADMSG;
	}
	if (r >= 0)
		*ret_ttl = ttl;
	json_decref(o);
	return r;
}

int etcd_prefix_end(const char *prefix, char **ret, size_t *ret_n)
{
	size_t n = strlen(prefix);
	char *end;

	while (n > 0 && (unsigned char)prefix[n - 1] == 0xff)
		n--;
	end = malloc(n > 0 ? n + 1 : 2);
	if (!end)
		return -ENOMEM;
	if (n == 0) {
		end[0] = end[1] = 0;
		*ret = end;
		*ret_n = 1;
		return 0;
	}
	memcpy(end, prefix, n);
	end[n - 1] = (char)((unsigned char)end[n - 1] + 1);
	end[n] = 0;
	*ret = end;
	*ret_n = n;
	return 0;
}

/* ---- the stream ---- */

static int stream_append(struct etcd_stream *s, const char *data, size_t n, size_t limit)
{
	if (s->len + n > limit)
		return -E2BIG;
	if (s->len + n + 1 > s->allocated) {
		size_t m = (s->len + n + 1) * 2;
		char *p;

		if (m > limit + 1)
			m = limit + 1;
		p = realloc(s->buf, m);
		if (!p)
			return -ENOMEM;
		s->buf = p;
		s->allocated = m;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	s->buf[s->len] = 0;
	return 0;
}

int etcd_stream_feed(struct etcd_stream *s, const char *data, size_t n, size_t limit,
		     int (*fn)(const char *msg, size_t len, void *userdata), void *userdata)
{
	size_t start = 0;
	int r;

	for (size_t i = 0; i < n; i++) {
		if (data[i] != '\n')
			continue;
		if (s->len > 0) {
			size_t len;

			r = stream_append(s, data + start, i - start, limit);
			if (r < 0)
				return r;
			len = s->len;
			s->len = 0;
			r = fn(s->buf, len, userdata);
		} else if (i - start > limit)
			return -E2BIG;
		else
			r = i > start ? fn(data + start, i - start, userdata) : 0;
		if (r < 0)
			return r;
		start = i + 1;
	}
	return start < n ? stream_append(s, data + start, n - start, limit) : 0;
}

void etcd_stream_done(struct etcd_stream *s)
{
	s->buf = mfree(s->buf);
	s->len = s->allocated = 0;
}
