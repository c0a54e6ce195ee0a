/* SPDX-License-Identifier: MIT */
#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <policy/policy.h>

#include "print.h"

DEFINE_CLEANUP(CURL *, curl_easy_cleanup);
DEFINE_CLEANUP(struct curl_slist *, curl_slist_free_all);

struct buffer {
	char *data;
	size_t len;
	size_t cap;
	bool too_big;
};

static void buffer_done(struct buffer *b)
{
	free(b->data);
}

const char *client_socket(const struct segctl *c)
{
	const char *e;

	if (c->socket)
		return c->socket;
	e = getenv("SEGD_SOCKET");
	return e && *e ? e : SEGCTL_DEFAULT_SOCKET;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct buffer *b = userdata;
	size_t n = size * nmemb;

	if (n > CLIENT_MAX_RESPONSE - b->len) {
		b->too_big = true;
		return 0; /* curl aborts with CURLE_WRITE_ERROR */
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
static int report_error(long status, const struct buffer *b)
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

int client_call(const struct segctl *c, const char *method, const char *path,
		const char *content_type, const char *body, size_t len, json_t **ret)
{
	_cleanup_(curl_easy_cleanupp) CURL *curl = curl_easy_init();
	_cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
	_cleanup_free_ char *url = NULL, *ctype = NULL;
	_cleanup_(buffer_done) struct buffer b = {};
	char errbuf[CURL_ERROR_SIZE] = "";
	const char *sock = client_socket(c);
	json_error_t jerr;
	json_t *root;
	CURLcode cc;
	long status = 0, os_errno = 0;
	struct curl_slist *h;

	if (!curl)
		return -ENOMEM;
	if (asprintf(&url, "http://localhost%s", path) < 0)
		return -ENOMEM;

	/* No "Expect: 100-continue" round trip for bodies over 1 KiB. */
	h = curl_slist_append(headers, "Expect:");
	if (!h)
		return -ENOMEM;
	headers = h;
	h = curl_slist_append(headers, "Accept: application/json");
	if (!h)
		return -ENOMEM;
	headers = h;
	if (content_type) {
		if (asprintf(&ctype, "Content-Type: %s", content_type) < 0)
			return -ENOMEM;
		h = curl_slist_append(headers, ctype);
		if (!h)
			return -ENOMEM;
		headers = h;
	}

	(void)curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, sock);
	(void)curl_easy_setopt(curl, CURLOPT_URL, url);
	(void)curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	(void)curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	(void)curl_easy_setopt(curl, CURLOPT_USERAGENT, "segctl/" SEGD_VERSION);
	(void)curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	(void)curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	(void)curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CLIENT_MAX_RESPONSE);
	(void)curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	(void)curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
	if (body) {
		(void)curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		(void)curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}

	cc = curl_easy_perform(curl);
	(void)curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (cc == CURLE_COULDNT_CONNECT || (cc == CURLE_OPERATION_TIMEDOUT && status == 0)) {
		(void)curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
		fprintf(stderr, "segctl: cannot connect to segd at %s: %s\n", sock,
			os_errno  ? strerror((int)os_errno)
			: *errbuf ? errbuf
				  : curl_easy_strerror(cc));
		return -ENOTCONN;
	}
	if (b.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		fprintf(stderr, "segctl: reply from segd is larger than %u MiB\n",
			CLIENT_MAX_RESPONSE >> 20);
		return -EMSGSIZE;
	}
	if (cc != CURLE_OK) {
		fprintf(stderr, "segctl: request to segd at %s failed: %s\n", sock,
			*errbuf ? errbuf : curl_easy_strerror(cc));
		return cc == CURLE_OUT_OF_MEMORY || cc == CURLE_WRITE_ERROR ? -ENOMEM : -ENOTCONN;
	}
	if (status < 200 || status > 299) {
		int r = report_error(status, &b);

		return r;
	}

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
