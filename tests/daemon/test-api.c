/* SPDX-License-Identifier: MIT */
/*
 * The control API: the route table, the one mapping from an operation's errno to an HTTP
 * status, and a real server on a unix socket (a whole core in a private kernel, harness.h):
 * answers, errors with diagnostics, body limits, and the audit record of a change.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "api.h"
#include "fixture.h"
#include "harness.h"
#include "macro.h"
#include "time-util.h"

static void test_routes(void **state)
{
	char *args[API_MAX_SEGMENTS];
	const struct api_route *rt;
	unsigned status;
	char path[128];

	snprintf(path, sizeof(path), "/v1/status");
	rt = api_route_find("GET", path, args, &status);
	assert_non_null(rt);
	assert_int_equal(rt->role, API_READ);
	snprintf(path, sizeof(path), "/v1/status");
	assert_null(api_route_find("DELETE", path, args, &status));
	assert_int_equal(status, 405);
	snprintf(path, sizeof(path), "/v1/nothing");
	assert_null(api_route_find("GET", path, args, &status));
	assert_int_equal(status, 404);
	snprintf(path, sizeof(path), "/v1/endpoints/web/labels");
	rt = api_route_find("PATCH", path, args, &status);
	assert_non_null(rt);
	assert_int_equal(rt->role, API_WRITE);
	assert_string_equal(args[0], "web");
	snprintf(path, sizeof(path), "/v1/networkpolicies/shop/db");
	rt = api_route_find("DELETE", path, args, &status);
	assert_non_null(rt);
	assert_string_equal(args[0], "shop");
	assert_string_equal(args[1], "db");
	snprintf(path, sizeof(path), "/v1/endpoints");
	rt = api_route_find("POST", path, args, &status);
	assert_int_equal(rt->success, 201);
	snprintf(path, sizeof(path), "/v1/a/b/c/d/e/f/g/h/i");
	assert_null(api_route_find("GET", path, args, &status));
	assert_int_equal(status, 404);
	/* ClusterNetworkPolicies: cluster-scoped, by name; the roles of NetworkPolicies. */
	snprintf(path, sizeof(path), "/v1/clusternetworkpolicies");
	assert_int_equal(api_route_find("GET", path, args, &status)->role, API_READ);
	snprintf(path, sizeof(path), "/v1/clusternetworkpolicies/deny-all");
	rt = api_route_find("GET", path, args, &status);
	assert_int_equal(rt->role, API_READ);
	assert_string_equal(args[0], "deny-all");
	snprintf(path, sizeof(path), "/v1/clusternetworkpolicies/deny-all");
	rt = api_route_find("DELETE", path, args, &status);
	assert_int_equal(rt->role, API_WRITE);
	assert_string_equal(args[0], "deny-all");
	snprintf(path, sizeof(path), "/v1/clusternetworkpolicies/deny-all");
	assert_null(api_route_find("PUT", path, args, &status));
	assert_int_equal(status, 405);
	snprintf(path, sizeof(path), "/v1/clusternetworkpolicies/a/b");
	assert_null(api_route_find("GET", path, args, &status));
	assert_int_equal(status, 404);
	/* Every change is a write: the audit group may GET only. */
	snprintf(path, sizeof(path), "/v1/diff");
	assert_int_equal(api_route_find("POST", path, args, &status)->role, API_WRITE);
}

static void test_statuses(void **state)
{
	assert_int_equal(api_http_status(-ENOENT), 404);
	assert_int_equal(api_http_status(-EEXIST), 409);
	assert_int_equal(api_http_status(-EPERM), 409);
	assert_int_equal(api_http_status(-ENOTCONN), 409);
	assert_int_equal(api_http_status(-EACCES), 403);
	assert_int_equal(api_http_status(-EMSGSIZE), 413);
	assert_int_equal(api_http_status(-EINVAL), 400);
	assert_int_equal(api_http_status(-EBADMSG), 400);
	assert_int_equal(api_http_status(-E2BIG), 400);
	assert_int_equal(api_http_status(-ENXIO), 400);
	assert_int_equal(api_http_status(-EIO), 500);
	assert_int_equal(api_http_status(-ENOMEM), 500);
}

/* One request over the socket, the loop serving it meanwhile: status and parsed body. */
static int http(struct harness *h, const char *method, const char *path, const char *body,
		size_t len, json_t **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char head[512], *resp = NULL, *p;
	size_t sent = 0, total, got = 0, cap = 0;
	int64_t deadline = now_msec() + 20000;
	int fd, status = 0;

	assert_true(strlen(h->socket) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, h->socket, strlen(h->socket) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	snprintf(head, sizeof(head),
		 "%s %s HTTP/1.1\r\nHost: segd\r\nConnection: close\r\n"
		 "Content-Length: %zu\r\n\r\n",
		 method, path, len);
	total = strlen(head) + len;
	for (;;) {
		ssize_t n;

		assert_true(now_msec() < deadline);
		while (sent < total) {
			const char *src =
				sent < strlen(head) ? head + sent : body + (sent - strlen(head));
			size_t chunk = sent < strlen(head) ? strlen(head) - sent : total - sent;

			n = send(fd, src, chunk, MSG_NOSIGNAL);
			if (n <= 0)
				break;
			sent += (size_t)n;
		}
		assert_true(manager_run_once(h->m, 10) >= 0);
		if (got + 65536 > cap) {
			cap = got + 65536;
			resp = realloc(resp, cap + 1);
			assert_non_null(resp);
		}
		n = recv(fd, resp + got, cap - got, 0);
		if (n == 0)
			break;
		if (n > 0)
			got += (size_t)n;
	}
	close(fd);
	resp[got] = 0;
	assert_int_equal(sscanf(resp, "HTTP/1.1 %d", &status), 1);
	p = strstr(resp, "\r\n\r\n");
	assert_non_null(p);
	*ret = json_loads(p + 4, 0, NULL);
	free(resp);
	return status;
}

static const char policy[] = "apiVersion: networking.k8s.io/v1\n"
			     "kind: NetworkPolicy\n"
			     "metadata: {name: deny, namespace: shop}\n"
			     "spec: {podSelector: {}, policyTypes: [Ingress]}\n";

static void test_server(void **state)
{
	struct harness h;
	json_t *o = NULL;
	char *big;

	harness_start(&h, NULL);
	assert_int_equal(http(&h, "GET", "/v1/status", "", 0, &o), 200);
	assert_string_equal(json_string_value(json_object_get(o, "version")), SEGD_VERSION);
	json_decref(o);
	assert_int_equal(http(&h, "GET", "/v1/nothing", "", 0, &o), 404);
	assert_string_equal(json_string_value(
				    json_object_get(json_object_get(o, "error"), "message")),
			    "no such API path");
	json_decref(o);
	assert_int_equal(http(&h, "DELETE", "/v1/status", "", 0, &o), 405);
	json_decref(o);

	/* Bodies: not JSON, not an object, a bad field, then a good registration. */
	assert_int_equal(http(&h, "POST", "/v1/endpoints", "{", 1, &o), 400);
	assert_non_null(
		strstr(json_string_value(json_object_get(json_object_get(o, "error"), "message")),
		       "invalid JSON body"));
	json_decref(o);
	assert_int_equal(http(&h, "POST", "/v1/endpoints", "[]", 2, &o), 400);
	json_decref(o);
	{
		static const char bad[] = "{\"name\": \"Bad_Name\", \"netns\": \"x\"}";
		static const char absent[] = "{\"name\": \"a\", \"netns\": \"absent\"}";

		assert_int_equal(http(&h, "POST", "/v1/endpoints", bad, strlen(bad), &o), 400);
		assert_non_null(strstr(
			json_string_value(json_object_get(json_object_get(o, "error"), "message")),
			"name:"));
		json_decref(o);
		assert_int_equal(http(&h, "POST", "/v1/endpoints", absent, strlen(absent), &o),
				 400);
		json_decref(o);
	}
	{
		static const char good[] = "{\"name\": \"web\", \"netns\": \"web\", \"namespace\": "
					   "\"shop\", \"labels\": {\"app\": \"web\"}}";
		int fd = -1;

		assert_int_equal(fixture_netns("web", &fd), 0);
		close(fd);
		assert_int_equal(http(&h, "POST", "/v1/endpoints", good, strlen(good), &o), 201);
		assert_string_equal(json_string_value(json_object_get(o, "state")), "enforced");
		json_decref(o);
		assert_int_equal(http(&h, "POST", "/v1/endpoints", good, strlen(good), &o), 409);
		json_decref(o);
		assert_int_equal(http(&h, "GET", "/v1/endpoints/web/rules", "", 0, &o), 200);
		assert_true(json_is_true(json_object_get(o, "in_sync")));
		json_decref(o);
		assert_int_equal(http(&h, "GET", "/v1/endpoints/nobody", "", 0, &o), 404);
		json_decref(o);
	}

	/* Policy input: diagnostics with positions, then an apply audited before its answer. */
	{
		static const char bad[] =
			"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
			"metadata: {name: x}\nspec: {podSelector: {}, ingres: []}\n";
		json_t *d;

		assert_int_equal(http(&h, "POST", "/v1/apply?file=bad.yaml", bad, strlen(bad), &o),
				 400);
		d = json_array_get(json_object_get(json_object_get(o, "error"), "diagnostics"), 0);
		assert_string_equal(json_string_value(json_object_get(d, "file")), "bad.yaml");
		assert_int_equal(json_integer_value(json_object_get(d, "line")), 4);
		assert_non_null(json_object_get(d, "column"));
		json_decref(o);
	}
	assert_int_equal(http(&h, "POST", "/v1/apply?file=p.yaml", policy, strlen(policy), &o),
			 200);
	json_decref(o);
	{
		/* The last record: the registration above has one of its own. */
		char line[8192], last[8192] = "";
		FILE *f = fopen(h.audit, "re");
		json_t *rec;

		assert_non_null(f);
		while (fgets(line, sizeof(line), f))
			memcpy(last, line, sizeof(last));
		fclose(f);
		rec = json_loads(last, 0, NULL);
		assert_non_null(rec);
		assert_string_equal(json_string_value(json_object_get(rec, "request")),
				    "POST /v1/apply");
		assert_string_equal(json_string_value(json_object_get(rec, "file")), "p.yaml");
		assert_string_equal(json_string_value(json_object_get(
					    json_array_get(json_object_get(rec, "changes"), 0),
					    "name")),
				    "deny");
		json_decref(rec);
	}

	/* Over the limit: refused, nothing read into memory beyond it. */
	big = malloc(POLICY_MAX_INPUT_BYTES + 16);
	assert_non_null(big);
	memset(big, ' ', POLICY_MAX_INPUT_BYTES + 16);
	assert_int_equal(http(&h, "POST", "/v1/apply", big, POLICY_MAX_INPUT_BYTES + 16, &o), 413);
	json_decref(o);
	free(big);
	/* Hooks: a body that is no object; an unknown stage. */
	assert_int_equal(http(&h, "POST", "/v1/hooks/createRuntime", "[1]", 3, &o), 400);
	json_decref(o);
	assert_int_equal(http(&h, "POST", "/v1/hooks/preStart", "{}", 2, &o), 404);
	json_decref(o);
	harness_stop(&h);
}

static void assert_json_eq(json_t *got, const char *want_text)
{
	json_t *want = json_loads(want_text, 0, NULL);
	char *g = json_dumps(got, JSON_SORT_KEYS | JSON_ENCODE_ANY);

	assert_non_null(want);
	if (!json_equal(got, want))
		fail_msg("JSON differs:\n  got:  %s\n  want: %s", g, want_text);
	free(g);
	json_decref(want);
}

/* The last line of the audit log, parsed. */
static json_t *last_audit_record(const struct harness *h)
{
	char line[8192], last[8192] = "";
	FILE *f = fopen(h->audit, "re");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		memcpy(last, line, sizeof(last));
	fclose(f);
	return json_loads(last, 0, NULL);
}

/* ClusterNetworkPolicy over HTTP: applied with /v1/apply, listed, got, deleted, audited. */
static void test_cnp_routes(void **state)
{
	static const char cnp[] = "apiVersion: policy.networking.k8s.io/v1alpha2\n"
				  "kind: ClusterNetworkPolicy\nmetadata: {name: deny-all}\n"
				  "spec: {tier: Admin, priority: 3, subject: {namespaces: {}},\n"
				  "       ingress: [{action: Deny, from: [{namespaces: {}}]}]}\n";
	struct harness h;
	json_t *o = NULL, *rec, *c;

	harness_start(&h, NULL);
	assert_int_equal(http(&h, "GET", "/v1/clusternetworkpolicies", "", 0, &o), 200);
	assert_json_eq(o, "{\"items\": []}");
	json_decref(o);
	assert_int_equal(http(&h, "POST", "/v1/apply?file=c.yaml", cnp, strlen(cnp), &o), 200);
	c = json_array_get(json_object_get(o, "applied"), 0);
	assert_string_equal(json_string_value(json_object_get(c, "kind")), "ClusterNetworkPolicy");
	assert_string_equal(json_string_value(json_object_get(c, "action")), "created");
	assert_null(json_object_get(c, "namespace"));
	json_decref(o);
	rec = last_audit_record(&h);
	c = json_array_get(json_object_get(rec, "changes"), 0);
	assert_string_equal(json_string_value(json_object_get(c, "kind")), "ClusterNetworkPolicy");
	assert_string_equal(json_string_value(json_object_get(c, "name")), "deny-all");
	assert_true(json_is_null(json_object_get(c, "before")));
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(json_object_get(c, "after"), "spec"), "priority")),
			 3);
	json_decref(rec);

	assert_int_equal(http(&h, "GET", "/v1/clusternetworkpolicies", "", 0, &o), 200);
	assert_int_equal(json_array_size(json_object_get(o, "items")), 1);
	assert_string_equal(json_string_value(
				    json_object_get(json_array_get(json_object_get(o, "items"), 0),
						    "kind")),
			    "ClusterNetworkPolicy");
	json_decref(o);
	assert_int_equal(http(&h, "GET", "/v1/clusternetworkpolicies/deny-all", "", 0, &o), 200);
	c = json_array_get(json_object_get(json_object_get(o, "spec"), "ingress"), 0);
	assert_string_equal(json_string_value(json_object_get(c, "action")), "Deny");
	json_decref(o);
	assert_int_equal(http(&h, "GET", "/v1/clusternetworkpolicies/nope", "", 0, &o), 404);
	assert_string_equal(json_string_value(
				    json_object_get(json_object_get(o, "error"), "message")),
			    "clusternetworkpolicy nope not found");
	json_decref(o);
	assert_int_equal(http(&h, "DELETE", "/v1/clusternetworkpolicies/nope", "", 0, &o), 404);
	json_decref(o);
	assert_int_equal(http(&h, "DELETE", "/v1/clusternetworkpolicies/deny-all", "", 0, &o), 200);
	assert_json_eq(json_object_get(o, "deleted"),
		       "[{\"kind\": \"ClusterNetworkPolicy\", \"name\": \"deny-all\"}]");
	json_decref(o);
	rec = last_audit_record(&h);
	assert_string_equal(json_string_value(json_object_get(rec, "request")),
			    "DELETE /v1/clusternetworkpolicies/deny-all");
	c = json_array_get(json_object_get(rec, "changes"), 0);
	assert_string_equal(json_string_value(json_object_get(c, "action")), "deleted");
	assert_true(json_is_null(json_object_get(c, "after")));
	json_decref(rec);
	assert_int_equal(http(&h, "GET", "/v1/clusternetworkpolicies/deny-all", "", 0, &o), 404);
	json_decref(o);
	harness_stop(&h);
}

/* Nodes over HTTP: applied with /v1/apply, changed, listed, got, deleted, audited. */
static void test_node_routes(void **state)
{
	static const char node[] = "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n"
				   "status: {addresses: [{type: InternalIP, address: 10.0.0.9}]}\n";
	static const char moved[] =
		"apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n"
		"status: {addresses: [{type: InternalIP, address: \"fd00::9\"}]}\n";
	struct harness h;
	json_t *o = NULL, *rec, *c;

	harness_start(&h, NULL);
	assert_int_equal(http(&h, "GET", "/v1/nodes", "", 0, &o), 200);
	assert_json_eq(o, "{\"items\": []}");
	json_decref(o);
	assert_int_equal(http(&h, "POST", "/v1/apply?file=n.yaml", node, strlen(node), &o), 200);
	assert_json_eq(json_object_get(o, "applied"),
		       "[{\"kind\": \"Node\", \"name\": \"n1\", \"action\": \"created\"}]");
	json_decref(o);
	assert_int_equal(http(&h, "POST", "/v1/apply?file=n.yaml", moved, strlen(moved), &o), 200);
	c = json_array_get(json_object_get(o, "applied"), 0);
	assert_string_equal(json_string_value(json_object_get(c, "action")), "configured");
	json_decref(o);
	rec = last_audit_record(&h);
	c = json_array_get(json_object_get(rec, "changes"), 0);
	assert_string_equal(json_string_value(json_object_get(c, "kind")), "Node");
	assert_json_eq(json_object_get(json_object_get(c, "before"), "status"),
		       "{\"addresses\": [{\"type\": \"InternalIP\", \"address\": \"10.0.0.9\"}]}");
	assert_json_eq(json_object_get(json_object_get(c, "after"), "status"),
		       "{\"addresses\": [{\"type\": \"InternalIP\", \"address\": \"fd00::9\"}]}");
	json_decref(rec);
	assert_int_equal(http(&h, "GET", "/v1/nodes", "", 0, &o), 200);
	assert_int_equal(json_array_size(json_object_get(o, "items")), 1);
	json_decref(o);
	assert_int_equal(http(&h, "GET", "/v1/nodes/n1", "", 0, &o), 200);
	assert_string_equal(json_string_value(json_object_get(o, "kind")), "Node");
	json_decref(o);
	assert_int_equal(http(&h, "GET", "/v1/nodes/nope", "", 0, &o), 404);
	assert_string_equal(json_string_value(
				    json_object_get(json_object_get(o, "error"), "message")),
			    "node nope not found");
	json_decref(o);
	assert_int_equal(http(&h, "DELETE", "/v1/nodes/n1", "", 0, &o), 200);
	assert_json_eq(json_object_get(o, "deleted"), "[{\"kind\": \"Node\", \"name\": \"n1\"}]");
	json_decref(o);
	rec = last_audit_record(&h);
	c = json_array_get(json_object_get(rec, "changes"), 0);
	assert_string_equal(json_string_value(json_object_get(c, "action")), "deleted");
	json_decref(rec);
	assert_int_equal(http(&h, "DELETE", "/v1/nodes/n1", "", 0, &o), 404);
	json_decref(o);
	harness_stop(&h);
}

/* A file with a UTF-8 byte order mark and CRLF line ends (Windows editors) applies as kubectl
 * applies it, YAML (several documents) and JSON; its diagnostics keep their positions. */
static void test_apply_bom_crlf(void **state)
{
	static const char yaml[] = "\xef\xbb\xbf"
				   "apiVersion: v1\r\nkind: Namespace\r\nmetadata: {name: shop}\r\n"
				   "---\r\n"
				   "apiVersion: networking.k8s.io/v1\r\nkind: NetworkPolicy\r\n"
				   "metadata: {name: deny, namespace: shop}\r\n"
				   "spec: {podSelector: {}, policyTypes: [Ingress]}\r\n";
	static const char json[] =
		"\xef\xbb\xbf{\"apiVersion\": \"networking.k8s.io/v1\",\r\n"
		" \"kind\": \"NetworkPolicy\", \"metadata\": {\"name\": \"j\", \"namespace\": \"shop\"},\r\n"
		" \"spec\": {\"podSelector\": {}}}\r\n";
	static const char bad[] = "\xef\xbb\xbf"
				  "apiVersion: networking.k8s.io/v1\r\nkind: NetworkPolicy\r\n"
				  "metadata: {name: x}\r\nspec: {podSelector: {}, ingres: []}\r\n";
	struct harness h;
	json_t *o = NULL, *d;

	harness_start(&h, NULL);
	assert_int_equal(http(&h, "POST", "/v1/apply?file=w.yaml", yaml, strlen(yaml), &o), 200);
	assert_int_equal(json_array_size(json_object_get(o, "applied")), 2);
	json_decref(o);
	assert_int_equal(http(&h, "POST", "/v1/apply?file=w.json", json, strlen(json), &o), 200);
	assert_int_equal(json_array_size(json_object_get(o, "applied")), 1);
	json_decref(o);
	assert_int_equal(http(&h, "POST", "/v1/apply?file=bad.yaml", bad, strlen(bad), &o), 400);
	d = json_array_get(json_object_get(json_object_get(o, "error"), "diagnostics"), 0);
	assert_int_equal(json_integer_value(json_object_get(d, "line")), 4);
	assert_int_equal(json_integer_value(json_object_get(d, "column")), 25);
	json_decref(o);
	harness_stop(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),	       cmocka_unit_test(test_statuses),
		cmocka_unit_test(test_server),	       cmocka_unit_test(test_cnp_routes),
		cmocka_unit_test(test_apply_bom_crlf), cmocka_unit_test(test_node_routes),
	};

	fixture_enter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
