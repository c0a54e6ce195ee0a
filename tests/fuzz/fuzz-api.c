/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the API's request lines (api.c): "METHOD URL" as a client sends it.
 * The path goes through the route table as dispatch() gives it (api_route_find), the query is
 * split and unescaped as libmicrohttpd does it (MHD_http_unescape), and the values the read-only
 * handlers take (check's from/to/port, matrix's namespace/ports) go to explain.c on an empty
 * registry. A route found names its method, and its '*' arguments are whole, non-empty segments;
 * a refusal is 404 or 405 and says why.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "api.h"
#include "explain.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_URL 4096

static size_t stars(const char *pattern)
{
	size_t n = 0;

	for (const char *p = pattern; *p; p++)
		n += *p == '*';
	return n;
}

static void fuzz_route(const char *method, const char *path)
{
	char *copy = strdup(path), *args[API_MAX_SEGMENTS];
	const struct api_route *rt;
	unsigned status = 0;

	if (!copy)
		return;
	memset(args, 0xa5, sizeof(args)); /* a stale pointer shows if one is not filled */
	rt = api_route_find(method, copy, args, &status);
	if (rt) {
		if (strcmp(rt->method, method) != 0 || !rt->handler ||
		    (rt->success != 200 && rt->success != 201))
			abort();
		for (size_t i = 0; i < stars(rt->path); i++)
			if (!args[i] || !args[i][0] || strchr(args[i], '/') || args[i] < copy ||
			    args[i] >= copy + strlen(path))
				abort();
	} else if (status != 404 && status != 405) {
		abort();
	}
	free(copy);
}

/* key=value pairs of the query, unescaped in place like libmicrohttpd does. */
struct query {
	const char *from, *to, *port, *ns, *ports;
};

static void query_parse(char *q, struct query *ret)
{
	char *save = NULL;

	for (char *kv = strtok_r(q, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
		char *v = strchr(kv, '=');

		if (v)
			*v++ = 0;
		MHD_http_unescape(kv);
		if (v)
			MHD_http_unescape(v);
		if (!strcmp(kv, "from"))
			ret->from = v;
		else if (!strcmp(kv, "to"))
			ret->to = v;
		else if (!strcmp(kv, "port"))
			ret->port = v;
		else if (!strcmp(kv, "namespace"))
			ret->ns = v;
		else if (!strcmp(kv, "ports"))
			ret->ports = v;
	}
}

static void fuzz_query(char *q)
{
	static const struct registry empty;
	static const struct policy_emit_options emit;
	struct query a = { 0 };
	struct op_error err = { 0 };
	json_t *out = NULL;
	int r;

	query_parse(q, &a);
	/* No endpoint is known: every check is refused, with a reason. */
	r = explain_check(&empty, &emit, a.from, a.to, a.port, &out, &err);
	if (r >= 0 || (r != -ENOMEM && !err.message))
		abort();
	op_error_done(&err);
	r = explain_matrix(&empty, a.ns, a.ports, EXPLAIN_DEFAULT_BUDGET, &out, &err);
	if (r >= 0) {
		if (!out)
			abort();
		json_decref(out);
	} else if (r != -ENOMEM && !err.message) {
		abort();
	}
	op_error_done(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = { "GET", "POST", "DELETE", "PATCH", "PUT" };
	char *s, *url, *q;
	const char *method;

	if (size == 0 || size > MAX_URL)
		return 0;
	log_set_level(-1);
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	/* "METHOD URL", or a URL alone under the method its first byte picks */
	url = strchr(s, ' ');
	if (url) {
		*url++ = 0;
		method = s;
	} else {
		url = s;
		method = methods[data[0] % 5];
	}
	q = strchr(url, '?');
	if (q)
		*q++ = 0;
	MHD_http_unescape(url); /* libmicrohttpd hands the handler the unescaped path */
	fuzz_route(method, url);
	if (q)
		fuzz_query(q);
	free(s);
	return 0;
}
