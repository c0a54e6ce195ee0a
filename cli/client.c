/* SPDX-License-Identifier: MIT */
#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <policy/policy.h>

#include "fsutil.h"
#include "print.h"

DEFINE_CLEANUP(CURL *, curl_easy_cleanup);
DEFINE_CLEANUP(struct curl_slist *, curl_slist_free_all);

/* The answer's body, bounded by CLIENT_MAX_RESPONSE: over it is an error, never a cut. */
struct reply {
	char *data;
	size_t len;
	size_t cap;
	bool too_big;
};

static void reply_done(struct reply *b)
{
	free(b->data);
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct reply *b = userdata;
	size_t n = size * nmemb;

	if (n > CLIENT_MAX_RESPONSE - b->len) {
		b->too_big = true;
		return 0; /* curl stops with CURLE_WRITE_ERROR */
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->data, cap);
		if (!p)
			return 0;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = 0;
	return n;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *client_socket(const struct segctl *c)
{
	const char *e;

	if (c->socket)
		return c->socket;
	e = getenv("SEGD_SOCKET");
	return e && *e ? e : SEGCTL_DEFAULT_SOCKET;
}

double client_timeout(const struct segctl *c)
{
	return c->timeout_s > 0 ? c->timeout_s : SEGCTL_DEFAULT_TIMEOUT_S;
}

char *client_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *o = out;

	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p))
			*o++ = (char)*p;
		else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = 0;
	return out;
}

static void print_diagnostic(json_t *d)
{
	struct policy_diag diag = { .file = (char *)"-",
				    .path = (char *)"",
				    .message = (char *)"" };
	json_t *v;
	_cleanup_free_ char *line = NULL;

	if (!json_is_object(d))
		return;
	if ((v = json_object_get(d, "file")) && json_is_string(v))
		diag.file = (char *)json_string_value(v);
	if ((v = json_object_get(d, "line")) && json_is_integer(v) && json_integer_value(v) > 0)
		diag.line = (unsigned)json_integer_value(v);
	if ((v = json_object_get(d, "column")) && json_is_integer(v) && json_integer_value(v) > 0)
		diag.column = (unsigned)json_integer_value(v);
	if ((v = json_object_get(d, "path")) && json_is_string(v))
		diag.path = (char *)json_string_value(v);
	if ((v = json_object_get(d, "message")) && json_is_string(v))
		diag.message = (char *)json_string_value(v);

	line = policy_diag_format(&diag);
	if (!line)
		return;
	print_sanitized(stderr, line);
	fputc('\n', stderr);
}

/* Reports a non-2xx reply: {"error": {"message", "errno", "diagnostics": [...]}}. */
static int report_error(long status, const struct reply *b)
{
	json_auto_t *root = NULL;
	json_t *err, *msg, *diags, *d;
	size_t i;

	if (b->data)
		root = json_loadb(b->data, b->len, 0, NULL);
	err = json_object_get(root, "error");
	msg = json_object_get(err, "message");
	if (!json_is_string(msg)) {
		fprintf(stderr, "segctl: segd answered HTTP %ld without an error message\n",
			status);
		return -EBADMSG;
	}
	fputs("segctl: ", stderr);
	print_sanitized(stderr, json_string_value(msg));
	fputc('\n', stderr);
	diags = json_object_get(err, "diagnostics");
	json_array_foreach(diags, i, d)
		print_diagnostic(d);
	return -EBADMSG;
}

/* What the socket curl connects was: opened (by open_socket()), or socket() failed. */
struct attempt {
	bool opened;
	int socket_errno;
};

static curl_socket_t open_socket(void *userdata, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct attempt *at = userdata;
	int fd;

	(void)purpose;
	fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (fd < 0) {
		at->socket_errno = errno;
		return CURL_SOCKET_BAD;
	}
	at->opened = true;
	return fd;
}

/* One easy handle for the request; the socket and the time left are set per attempt. */
static CURL *request_new(const char *method, const char *path, const char *content_type,
			 const char *body, size_t len, struct curl_slist **headers, struct reply *b,
			 char *errbuf)
{
	_cleanup_(curl_easy_cleanupp) CURL *curl = curl_easy_init();
	_cleanup_free_ char *url = NULL, *ctype = NULL;
	struct curl_slist *h;

	if (!curl || asprintf(&url, "http://localhost%s", path) < 0)
		return NULL;
	/* No "Expect: 100-continue" round trip for bodies over 1 KiB. */
	if (!(h = curl_slist_append(*headers, "Expect:")))
		return NULL;
	*headers = h;
	if (!(h = curl_slist_append(*headers, "Accept: application/json")))
		return NULL;
	*headers = h;
	if (content_type) {
		if (asprintf(&ctype, "Content-Type: %s", content_type) < 0 ||
		    !(h = curl_slist_append(*headers, ctype)))
			return NULL;
		*headers = h;
	}

	/* CURLOPT_URL copies the string. */
	if (curl_easy_setopt(curl, CURLOPT_URL, url) != CURLE_OK)
		return NULL;
	(void)curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L); /* the path is sent as escaped */
	(void)curl_easy_setopt(curl, CURLOPT_PROXY, "");      /* never a proxy from the env */
	(void)curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	(void)curl_easy_setopt(curl, CURLOPT_HTTPHEADER, *headers);
	(void)curl_easy_setopt(curl, CURLOPT_USERAGENT, "segctl/" SEGD_VERSION);
	(void)curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	(void)curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
	(void)curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	(void)curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CLIENT_MAX_RESPONSE);
	(void)curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	(void)curl_easy_setopt(curl, CURLOPT_WRITEDATA, b);
	if (body) {
		(void)curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		(void)curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	return TAKE_PTR(curl);
}

/*
 * Runs the request on `sock` within the deadline (CURLOPT_TIMEOUT_MS: connect, send and
 * answer together). *os_errno is the errno of what failed, or 0.
 *
 * curl connects non-blocking, and a non-blocking AF_UNIX connect() does not wait for room in
 * a full listen queue: it fails at once with EAGAIN. curl 7.88 takes that EAGAIN for "in
 * progress", sees the socket hang up with no SO_ERROR, and returns CURLE_COULDNT_CONNECT with
 * CURLINFO_OS_ERRNO 0 (later versions may say EAGAIN). Every other AF_UNIX connect() failure
 * has its errno, and a failed socket() is caught by open_socket(); so COULDNT_CONNECT on an
 * opened socket with errno 0 or EAGAIN is the full queue. Nothing was sent then: the attempt
 * is repeated after a pause growing from 5 to 100 ms, for as long as time is left (a client
 * retry policy), and a queue that stays full is a connect that timed out. (A blocking
 * connect() of our own in CURLOPT_OPENSOCKETFUNCTION, handed over with
 * CURL_SOCKOPT_ALREADY_CONNECTED, would wait in the kernel instead; curl 7.88.1 connects such a
 * socket again and fails with EISCONN.)
 */
static CURLcode perform(CURL *curl, const char *sock, double deadline, struct reply *b,
			long *os_errno)
{
	long pause_ms = 5;

	for (;;) {
		double left = deadline - now_s();
		struct attempt at = {};
		struct timespec ts;
		CURLcode cc;

		*os_errno = 0;
		if (left <= 0)
			return CURLE_OPERATION_TIMEDOUT; /* in the connect phase: nothing connected */
		b->len = 0;
		b->too_big = false;
		(void)curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &at);
		(void)curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, sock);
		(void)curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)(left * 1000) + 1);
		cc = curl_easy_perform(curl);
		(void)curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, os_errno);
		if (cc == CURLE_COULDNT_CONNECT && !at.opened && at.socket_errno)
			*os_errno = at.socket_errno;
		if (cc != CURLE_COULDNT_CONNECT || !at.opened ||
		    (*os_errno != 0 && *os_errno != EAGAIN))
			return cc;

		left = deadline - now_s();
		if (left > pause_ms / 1000.0)
			left = pause_ms / 1000.0;
		if (left > 0) {
			ts.tv_sec = 0;
			ts.tv_nsec = (long)(left * 1e9);
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
		}
		pause_ms = pause_ms * 2 > 100 ? 100 : pause_ms * 2;
	}
}

/* Which part of the call the deadline cut: the message's words for it. */
static const char *timed_out_phase(CURL *curl, size_t body_len)
{
	curl_off_t connect_us = 0, sent = 0;
	long status = 0;

	(void)curl_easy_getinfo(curl, CURLINFO_CONNECT_TIME_T, &connect_us);
	(void)curl_easy_getinfo(curl, CURLINFO_SIZE_UPLOAD_T, &sent);
	(void)curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (connect_us == 0)
		return "connecting to";
	if (sent < (curl_off_t)body_len)
		return "sending the request to";
	return status ? "reading the answer from" : "waiting for the answer from";
}

/* Says what went wrong, on stderr; returns what client_call() returns. */
static int report_failure(const struct segctl *c, CURL *curl, CURLcode cc, long os_errno,
			  const struct reply *b, size_t body_len, const char *used,
			  const char *sock, const char *audit_sock, const char *errbuf)
{
	const char *why = *errbuf ? errbuf : curl_easy_strerror(cc);

	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		/* cut short by a wait's own deadline (apply's, for the nodes): the wait says so */
		if (c->deadline_s <= 0 || now_s() < c->deadline_s - 0.05)
			fprintf(stderr, "segctl: timed out (--timeout %g) %s segd at %s\n",
				client_timeout(c), timed_out_phase(curl, body_len), used);
		return -ENOTCONN;
	case CURLE_COULDNT_CONNECT:
		if (os_errno == EACCES) {
			fprintf(stderr,
				"segctl: permission denied: cannot connect to segd at %s (open to root "
				"and segd's group; its audit group reads on %s)\n",
				sock, audit_sock);
			return -EACCES;
		}
		fprintf(stderr, "segctl: cannot connect to segd at %s: %s\n", used,
			os_errno ? strerror((int)os_errno) : why);
		return -ENOTCONN;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		if (!b->too_big && cc == CURLE_WRITE_ERROR)
			return -ENOMEM; /* on_data() could not grow the buffer */
		fprintf(stderr, "segctl: reply from segd is larger than %u MiB\n",
			CLIENT_MAX_RESPONSE >> 20);
		return -EMSGSIZE;
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_UNSUPPORTED_PROTOCOL: /* an HTTP/0.9 answer */
	case CURLE_PARTIAL_FILE:
	case CURLE_BAD_CONTENT_ENCODING:
		fprintf(stderr, "segctl: reply from segd at %s is not valid HTTP\n", used);
		return -EPROTO;
	case CURLE_GOT_NOTHING:
		why = "the connection was closed before an answer";
		break;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		if (os_errno == ECONNRESET || os_errno == EPIPE)
			why = "the connection was closed before an answer";
		break;
	default:
		break;
	}
	fprintf(stderr, "segctl: request to segd at %s failed: %s\n", used, why);
	return -ENOTCONN;
}

int client_call(const struct segctl *c, const char *method, const char *path,
		const char *content_type, const char *body, size_t len, json_t **ret)
{
	const char *sock = client_socket(c), *e = getenv("SEGD_AUDIT_SOCKET"), *used = sock;
	double deadline = now_s() + client_timeout(c); /* the whole call: connect, send, answer */
	_cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
	_cleanup_(curl_easy_cleanupp) CURL *curl = NULL;
	_cleanup_(reply_done) struct reply b = {};
	_cleanup_free_ char *audit_sock = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	long status = 0, os_errno = 0;
	json_error_t jerr;
	json_t *root;
	CURLcode cc;

	if (c->deadline_s > 0 && c->deadline_s < deadline)
		deadline = c->deadline_s; /* a wait that ends sooner (apply's, for the nodes) */
	audit_sock = e && *e ? strdup(e) : path_sibling(sock, API_AUDIT_SOCKET_NAME);
	if (!audit_sock)
		return -ENOMEM;
	curl = request_new(method, path, content_type, body, len, &headers, &b, errbuf);
	if (!curl)
		return -ENOMEM;

	cc = perform(curl, sock, deadline, &b, &os_errno);
	if (cc == CURLE_COULDNT_CONNECT && os_errno == EACCES && !streq(audit_sock, sock)) {
		long os_errno2 = 0;
		CURLcode cc2;

		errbuf[0] = 0;
		cc2 = perform(curl, audit_sock, deadline, &b, &os_errno2);
		/* no read-only socket there: the main one's answer stands */
		if (cc2 != CURLE_COULDNT_CONNECT || os_errno2 != ENOENT) {
			used = audit_sock;
			cc = cc2;
			os_errno = os_errno2;
		}
	}
	if (cc != CURLE_OK)
		return report_failure(c, curl, cc, os_errno, &b, body ? len : 0, used, sock,
				      audit_sock, errbuf);

	(void)curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299)
		return report_error(status, &b);

	if (b.len == 0)
		root = json_object();
	else
		root = json_loadb(b.data, b.len, 0, &jerr);
	if (!root) {
		fprintf(stderr,
			"segctl: reply from segd is not valid JSON: %s (line %d, column %d)\n",
			jerr.text, jerr.line, jerr.column);
		return -EPROTO;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		fprintf(stderr, "segctl: reply from segd is not a JSON object\n");
		return -EPROTO;
	}
	*ret = root;
	return 0;
}
