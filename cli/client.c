/* SPDX-License-Identifier: MIT */
#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <policy/policy.h>

#include "fsutil.h"
#include "http.h"
#include "print.h"

const char *client_socket(const struct segctl *c)
{
	const char *e;

	if (c->socket)
		return c->socket;
	e = getenv("SEGD_SOCKET");
	return e && *e ? e : SEGCTL_DEFAULT_SOCKET;
}

static double timeout_of(const struct segctl *c)
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
static int report_error(long status, const char *data, size_t len)
{
	json_auto_t *root = NULL;
	json_t *err, *msg, *diags, *d;
	size_t i;

	if (data)
		root = json_loadb(data, len, 0, NULL);
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

/* The request line and headers. NULL on OOM. */
static char *request_head(const char *method, const char *path, const char *content_type,
			  const char *body, size_t len)
{
	char *head = NULL, *ctype = NULL, *clen = NULL;

	if ((content_type && asprintf(&ctype, "Content-Type: %s\r\n", content_type) < 0) ||
	    (body && asprintf(&clen, "Content-Length: %zu\r\n", len) < 0) ||
	    asprintf(&head,
		     "%s %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: segctl/" SEGD_VERSION
		     "\r\nAccept: application/json\r\nConnection: close\r\n%s%s\r\n",
		     method, path, ctype ? ctype : "", clen ? clen : "") < 0)
		head = NULL;
	free(ctype);
	free(clen);
	return head;
}

/* Says what went wrong, on stderr; returns what client_call() returns. */
static int report_failure(const struct segctl *c, const struct http_result *res, const char *sock,
			  const char *audit_sock)
{
	static const char *const phases[] = {
		[HTTP_CONNECT] = "connecting to",
		[HTTP_SEND] = "sending the request to",
		[HTTP_ANSWER] = "waiting for the answer from",
	};

	if (res->timed_out) {
		fprintf(stderr, "segctl: timed out (--timeout %g) %s segd at %s\n", timeout_of(c),
			res->phase == HTTP_ANSWER && res->status ? "reading the answer from"
								 : phases[res->phase],
			res->socket);
		return -ENOTCONN;
	}
	if (res->too_big) {
		fprintf(stderr, "segctl: reply from segd is larger than %u MiB\n",
			CLIENT_MAX_RESPONSE >> 20);
		return -EMSGSIZE;
	}
	if (res->malformed) {
		fprintf(stderr, "segctl: reply from segd at %s is not valid HTTP\n", res->socket);
		return -EPROTO;
	}
	if (res->error == ENOMEM)
		return -ENOMEM;
	if (res->phase == HTTP_CONNECT && res->error == EACCES) {
		fprintf(stderr,
			"segctl: permission denied: cannot connect to segd at %s (open to root and "
			"segd's group; its audit group reads on %s)\n",
			sock, audit_sock ? audit_sock : sock);
		return -EACCES;
	}
	if (res->phase == HTTP_CONNECT) {
		fprintf(stderr, "segctl: cannot connect to segd at %s: %s\n", res->socket,
			strerror(res->error));
		return -ENOTCONN;
	}
	fprintf(stderr, "segctl: request to segd at %s failed: %s\n", res->socket,
		res->error == ECONNRESET || res->error == EPIPE
			? "the connection was closed before an answer"
			: strerror(res->error));
	return -ENOTCONN;
}

int client_call(const struct segctl *c, const char *method, const char *path,
		const char *content_type, const char *body, size_t len, json_t **ret)
{
	const char *sock = client_socket(c), *e = getenv("SEGD_AUDIT_SOCKET");
	_cleanup_free_ char *audit_sock = NULL, *head = NULL, *answer = NULL;
	struct http_result res;
	double deadline_s = http_now() + timeout_of(c); /* the whole call: connect, send, answer */
	json_error_t jerr;
	json_t *root;
	int r;

	audit_sock = e && *e ? strdup(e) : path_sibling(sock, API_AUDIT_SOCKET_NAME);
	head = request_head(method, path, content_type, body, len);
	if (!audit_sock || !head)
		return -ENOMEM;

	r = http_call(&(struct http_call){ .socket = sock,
					   .fallback = streq(audit_sock, sock) ? NULL : audit_sock,
					   .deadline = deadline_s,
					   .head = head,
					   .body = body,
					   .len = len,
					   .max_body = CLIENT_MAX_RESPONSE },
		      &res);
	answer = res.body;
	if (r < 0)
		return report_failure(c, &res, sock, audit_sock);
	if (res.status < 200 || res.status > 299) {
		return report_error(res.status, answer, res.len);
	}

	if (res.len == 0)
		root = json_object();
	else
		root = json_loadb(answer, res.len, 0, &jerr);
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
