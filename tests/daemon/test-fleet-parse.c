/* SPDX-License-Identifier: MIT */
/*
 * The fleet's keys and values (fleet-parse.c) as hostile input: every key shape and keys that
 * are not segd's (too long, bad names, extra or missing segments, other prefixes), --store
 * URL lists, and the values other nodes (or anything that can write to etcd) put there:
 * endpoints, node status and policy objects, round-tripped and refused whole when wrong.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <jansson.h>

#include "fleet-parse.h"
#include "macro.h"
#include "testutil.h"
#include "unit.h"

/* ---- keys ---- */

static void key_is(const char *key, enum fleet_key_kind kind, const char *kind_name, const char *ns,
		   const char *node, const char *name)
{
	struct fleet_key k;

	fleet_key_parse(key, &k);
	if (k.kind != kind)
		fail_msg("%s: kind %d, not %d", key, k.kind, kind);
	assert_string_equal(k.kind_name, kind_name);
	assert_string_equal(k.ns, ns);
	assert_string_equal(k.node, node);
	assert_string_equal(k.name, name);
}

static void key_other(const char *key)
{
	struct fleet_key k;

	fleet_key_parse(key, &k);
	if (k.kind != FLEET_KEY_OTHER)
		fail_msg("'%s': kind %d, not OTHER", key, k.kind);
}

/* A DNS subdomain of `len` bytes: labels of 63 'a's joined by dots. */
static char *subdomain(size_t len)
{
	char *s = malloc(len + 1);

	assert_non_null(s);
	for (size_t i = 0; i < len; i++)
		s[i] = (i % 64 == 63) ? '.' : 'a';
	s[len] = '\0';
	if (len && s[len - 1] == '.')
		s[len - 1] = 'b';
	return s;
}

static void test_key_shapes(void **state)
{
	key_is("/segd/policy/Namespace/shop", FLEET_KEY_POLICY, "Namespace", "", "", "shop");
	key_is("/segd/policy/NetworkPolicy/shop/db-from-api", FLEET_KEY_POLICY, "NetworkPolicy",
	       "shop", "", "db-from-api");
	key_is("/segd/policy/ClusterNetworkPolicy/deny.all", FLEET_KEY_POLICY,
	       "ClusterNetworkPolicy", "", "", "deny.all");
	key_is("/segd/policy/Node/n1.example.com", FLEET_KEY_POLICY, "Node", "", "",
	       "n1.example.com");
	key_is("/segd/endpoints/n1/web-1", FLEET_KEY_ENDPOINT, "", "", "n1", "web-1");
	/* an endpoint's name is a netns or container name, not always a DNS name */
	key_is("/segd/endpoints/n1/My_Container.2", FLEET_KEY_ENDPOINT, "", "", "n1",
	       "My_Container.2");
	key_is("/segd/nodes/n1", FLEET_KEY_NODE, "", "", "n1", "");
	key_is("/segd/members/node-2.dc1", FLEET_KEY_MEMBER, "", "", "node-2.dc1", "");
	key_is(FLEET_REVISION_KEY, FLEET_KEY_REVISION, "", "", "", "");
}

static void test_key_builders_round_trip(void **state)
{
	_cleanup_free_ char *a = fleet_policy_key("NetworkPolicy", "shop", "db");
	_cleanup_free_ char *b = fleet_policy_key("Namespace", NULL, "shop");
	_cleanup_free_ char *c = fleet_endpoint_key("n1", "web");
	_cleanup_free_ char *d = fleet_node_key("n1");
	_cleanup_free_ char *e = fleet_member_key("n1");

	assert_string_equal(a, "/segd/policy/NetworkPolicy/shop/db");
	key_is(a, FLEET_KEY_POLICY, "NetworkPolicy", "shop", "", "db");
	assert_string_equal(b, "/segd/policy/Namespace/shop");
	key_is(b, FLEET_KEY_POLICY, "Namespace", "", "", "shop");
	assert_string_equal(c, "/segd/endpoints/n1/web");
	key_is(c, FLEET_KEY_ENDPOINT, "", "", "n1", "web");
	assert_string_equal(d, "/segd/nodes/n1");
	key_is(d, FLEET_KEY_NODE, "", "", "n1", "");
	assert_string_equal(e, "/segd/members/n1");
	key_is(e, FLEET_KEY_MEMBER, "", "", "n1", "");
}

static void test_key_lengths(void **state)
{
	_cleanup_free_ char *n253 = subdomain(253), *n254 = subdomain(254), *n300 = subdomain(300);
	char key[1024];

	/* a name of FLEET_MAX_NAME bytes is a name; one more is not */
	snprintf(key, sizeof(key), "/segd/policy/Namespace/%s", n253);
	key_is(key, FLEET_KEY_POLICY, "Namespace", "", "", n253);
	snprintf(key, sizeof(key), "/segd/policy/Namespace/%s", n254);
	key_other(key);
	snprintf(key, sizeof(key), "/segd/policy/NetworkPolicy/%s/x", n254);
	key_other(key);
	snprintf(key, sizeof(key), "/segd/policy/NetworkPolicy/x/%s", n300);
	key_other(key);
	snprintf(key, sizeof(key), "/segd/nodes/%s", n254);
	key_other(key);
	snprintf(key, sizeof(key), "/segd/members/%s", n300);
	key_other(key);
	snprintf(key, sizeof(key), "/segd/endpoints/%s/web", n254);
	key_other(key);
	snprintf(key, sizeof(key), "/segd/endpoints/n1/%s", n253);
	key_is(key, FLEET_KEY_ENDPOINT, "", "", "n1", n253);
	snprintf(key, sizeof(key), "/segd/endpoints/n1/%s", n254);
	key_other(key);
}

static void test_key_hostile(void **state)
{
	static const char *const keys[] = {
		/* not under the prefix, or not a part segd knows */
		"",
		"/",
		"/segd",
		"/segd/",
		"/segdx/policy/Namespace/shop",
		"segd/policy/Namespace/shop",
		"/other/segd/policy/Namespace/shop",
		"/segd/unknown/x",
		"/segd/policy-revision/x",
		"/segd/policy-revisionx",
		"/segd/policy",
		"/segd/policy/",
		"/segd/policyNamespace/shop",
		/* policy kinds: unknown, wrong case, missing or extra segments */
		"/segd/policy/Pod/x",
		"/segd/policy/namespace/shop",
		"/segd/policy/Namespace",
		"/segd/policy/Namespace/",
		"/segd/policy/Namespace//shop",
		"/segd/policy/Namespace/shop/extra",
		"/segd/policy/NetworkPolicy/shop",
		"/segd/policy/NetworkPolicy/shop/",
		"/segd/policy/NetworkPolicy//db",
		"/segd/policy/NetworkPolicy/shop/db/x",
		"/segd/policy/ClusterNetworkPolicy/a/b",
		"/segd/policy/Node/",
		/* a trailing '/' is another key than the object's */
		"/segd/policy/Namespace/shop/",
		"/segd/policy/NetworkPolicy/shop/db/",
		"/segd/nodes/n1/",
		"/segd/members/n1/",
		/* names that are not names */
		"/segd/policy/Namespace/Shop",
		"/segd/policy/Namespace/shop_1",
		"/segd/policy/Namespace/-shop",
		"/segd/policy/Namespace/shop-",
		"/segd/policy/Namespace/sh op",
		"/segd/policy/Namespace/sh\nop",
		"/segd/policy/NetworkPolicy/Shop/db",
		"/segd/policy/Node/n1..x",
		/* endpoints: node, name */
		"/segd/endpoints/",
		"/segd/endpoints/n1",
		"/segd/endpoints/n1/",
		"/segd/endpoints//web",
		"/segd/endpoints/n1/web/x",
		"/segd/endpoints/N1/web",
		"/segd/endpoints/n_1/web",
		"/segd/endpoints/n1/.",
		"/segd/endpoints/n1/..",
		/* an endpoint's name is a container name (DNS labels are): not any netns name */
		"/segd/endpoints/n1/\xff\xfe",
		"/segd/endpoints/n1/a b",
		"/segd/endpoints/n1/\x1b[31mred",
		"/segd/endpoints/n1/-web",
		"/segd/endpoints/n1/_web",
		/* nodes and members */
		"/segd/nodes/",
		"/segd/nodes",
		"/segd/nodes/n1/x",
		"/segd/nodes/N1",
		"/segd/members/",
		"/segd/members/n1/x",
		"/segd/members/n\x01",
		"/segd/nodesx/n1",
	};

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		key_other(keys[i]);
}

/* ---- --store ---- */

static void urls_ok(const char *spec, size_t want_n, const char *first, const char *last)
{
	char **urls = NULL, *err = NULL;
	size_t n = 0;

	if (fleet_store_urls(spec, &urls, &n, &err) != 0)
		fail_msg("%s: %s", spec, err);
	assert_int_equal(n, want_n);
	assert_string_equal(urls[0], first);
	assert_string_equal(urls[n - 1], last);
	fleet_store_urls_free(urls, n);
}

static void urls_bad(const char *spec, const char *why)
{
	char **urls = (char **)0x1, *err = NULL;
	size_t n = 777;

	assert_int_equal(fleet_store_urls(spec, &urls, &n, &err), -EINVAL);
	assert_non_null(err);
	if (!strstr(err, why))
		fail_msg("'%s': '%s' does not say '%s'", spec, err, why);
	/* nothing returned */
	assert_ptr_equal(urls, (char **)0x1);
	assert_int_equal(n, 777);
	free(err);
	/* without reterr too */
	assert_int_equal(fleet_store_urls(spec, &urls, &n, NULL), -EINVAL);
}

static void test_store_urls(void **state)
{
	char spec[4096], *p;

	urls_ok("etcd:http://127.0.0.1:2379", 1, "http://127.0.0.1:2379", "http://127.0.0.1:2379");
	urls_ok("etcd:https://e1.example:2379/,http://[fd00::1]:2379,http://e3", 3,
		"https://e1.example:2379/", "http://e3");
	/* 16 URLs: the bound */
	p = spec + sprintf(spec, "etcd:");
	for (int i = 0; i < FLEET_MAX_STORE_URLS; i++)
		p += sprintf(p, "%shttp://h%d:2379", i ? "," : "", i);
	urls_ok(spec, FLEET_MAX_STORE_URLS, "http://h0:2379", "http://h15:2379");
	/* 17: one over */
	sprintf(p, ",http://h16:2379");
	urls_bad(spec, "more than 16 URLs");

	urls_bad("http://127.0.0.1:2379", "'etcd:URL[,URL...]'");
	urls_bad("", "'etcd:URL[,URL...]'");
	urls_bad("consul:http://a", "'etcd:URL[,URL...]'");
	urls_bad("etcd:", "not http:// or https://");
	urls_bad("etcd:http://a:1,", "URL 2");
	urls_bad("etcd:,http://a:1", "URL 1");
	urls_bad("etcd:http://a:1,,http://b:1", "URL 2");
	urls_bad("etcd:ftp://a:1", "not http:// or https://");
	urls_bad("etcd:HTTP://a:1", "not http:// or https://");
	urls_bad("etcd:a:2379", "not http:// or https://");
	urls_bad("etcd:http://", "no host");
	urls_bad("etcd:https://", "no host");
	urls_bad("etcd:http://user:secret@a:1", "credentials");
	urls_bad("etcd:http://a:1,https://u@b:1", "URL 2");
	urls_bad("etcd:http://a 1", "space");
	urls_bad("etcd:http://a:1\t", "space");
	urls_bad("etcd:http://a:1\n", "space");
	urls_bad("etcd:http://\xc3\xa9t\xc3\xa9:1", "printable ASCII");
	urls_bad("etcd:http://a:1/?x=1", "query");
	urls_bad("etcd:http://a:1/#f", "query or fragment");
	/* longer than 256 bytes */
	p = spec + sprintf(spec, "etcd:http://");
	memset(p, 'a', 300);
	p[300] = '\0';
	urls_bad(spec, "longer than 256 bytes");
}

/* ---- endpoints ---- */

static const char base_ep[] =
	"{\"name\": \"web-1\", \"namespace\": \"default\", \"labels\": {\"app\": \"web\"}, "
	"\"addresses\": [\"10.0.0.5\", \"fd00::5\"], \"ports\": [\"http=80/TCP\"], \"node\": "
	"\"n1\"}";

/* base_ep with field set to v (NULL: removed); the caller frees. */
static char *ep_with(const char *field, json_t *v)
{
	json_t *o = json_loads(base_ep, 0, NULL);
	char *s;

	assert_non_null(o);
	if (v)
		json_object_set_new(o, field, v);
	else
		json_object_del(o, field);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	assert_non_null(s);
	return s;
}

static void ep_bad_text(const char *text, size_t len, const char *why)
{
	struct policy_endpoint pe = { .name = (char *)0x1 };
	char *err = NULL;

	int r = fleet_endpoint_parse(text, len, "n1", "web-1", &pe, &err);

	if (r != -EBADMSG)
		fail_msg("'%.*s': %d, not -EBADMSG", (int)(len > 200 ? 200 : len), text, r);
	assert_non_null(err);
	if (!strstr(err, why))
		fail_msg("'%.*s': '%s' does not say '%s'", (int)(len > 200 ? 200 : len), text, err,
			 why);
	assert_ptr_equal(pe.name, (char *)0x1); /* untouched */
	free(err);
}

static void ep_bad(const char *field, json_t *v, const char *why)
{
	char *s = ep_with(field, v);

	ep_bad_text(s, strlen(s), why);
	free(s);
}

static json_t *addrs_n(size_t n, bool v6)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++) {
		char buf[64];

		if (v6)
			snprintf(buf, sizeof(buf), "fd00::%zx", i + 1);
		else
			snprintf(buf, sizeof(buf), "10.0.%zu.%zu", i / 200, i % 200 + 1);
		json_array_append_new(a, json_string(buf));
	}
	return a;
}

static void assert_same_endpoint(const struct policy_endpoint *a, const struct policy_endpoint *b)
{
	assert_string_equal(a->name, b->name);
	assert_string_equal(a->namespace, b->namespace);
	assert_true(policy_labels_equal(&a->labels, &b->labels));
	assert_int_equal(a->n_addrs, b->n_addrs);
	for (size_t i = 0; i < a->n_addrs; i++) {
		assert_int_equal(a->addrs[i].family, b->addrs[i].family);
		assert_memory_equal(a->addrs[i].addr, b->addrs[i].addr, 16);
	}
	assert_int_equal(a->n_ports, b->n_ports);
	for (size_t i = 0; i < a->n_ports; i++) {
		assert_string_equal(a->ports[i].name, b->ports[i].name);
		assert_int_equal(a->ports[i].port, b->ports[i].port);
		assert_int_equal(a->ports[i].proto, b->ports[i].proto);
	}
}

static void test_endpoint_round_trip(void **state)
{
	static const struct test_endpoint cases[] = {
		{ "web-1", "default", "app=web,tier=front", "10.0.0.5,fd00::5",
		  "http=80/TCP,dns=53/UDP" },
		{ "My_Container.2", "shop", NULL, NULL, NULL },
		{ "db", "kube-system", "app.kubernetes.io/name=db", "192.0.2.1", "pg=5432/TCP" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct policy_endpoint in, out = { 0 };
		_cleanup_free_ char *text = NULL, *err = NULL;
		json_auto_t *o = NULL;

		test_policy_endpoint(&cases[i], &in);
		text = fleet_endpoint_format(&in, "n1");
		assert_non_null(text);
		/* the documented fields, all of them */
		o = json_loads(text, 0, NULL);
		assert_non_null(o);
		assert_int_equal(json_object_size(o), 6);
		assert_string_equal(json_string_value(json_object_get(o, "node")), "n1");
		if (fleet_endpoint_parse(text, strlen(text), "n1", cases[i].name, &out, &err) != 0)
			fail_msg("%s: %s", text, err);
		assert_same_endpoint(&in, &out);
		fleet_endpoint_done(&out);
		assert_null(out.name);
		test_policy_endpoint_done(&in);
	}
}

static void test_endpoint_addresses_sorted(void **state)
{
	struct policy_endpoint pe = { 0 };
	char *err = NULL;
	char *s = ep_with("addresses", json_pack("[s, s, s]", "fd00::5", "10.0.0.9", "10.0.0.5"));
	char a[INET6_ADDRSTRLEN];

	assert_int_equal(fleet_endpoint_parse(s, strlen(s), "n1", "web-1", &pe, &err), 0);
	assert_int_equal(pe.n_addrs, 3);
	inet_ntop(pe.addrs[0].family, pe.addrs[0].addr, a, sizeof(a));
	assert_string_equal(a, "10.0.0.5");
	inet_ntop(pe.addrs[2].family, pe.addrs[2].addr, a, sizeof(a));
	assert_string_equal(a, "fd00::5");
	fleet_endpoint_done(&pe);
	free(s);
	/* exactly POLICY_MAX_ENDPOINT_ADDRS is fine */
	s = ep_with("addresses", addrs_n(POLICY_MAX_ENDPOINT_ADDRS, true));
	assert_int_equal(fleet_endpoint_parse(s, strlen(s), "n1", "web-1", &pe, &err), 0);
	assert_int_equal(pe.n_addrs, POLICY_MAX_ENDPOINT_ADDRS);
	fleet_endpoint_done(&pe);
	free(s);
}

static void test_endpoint_hostile(void **state)
{
	static const char *const not_json[] = {
		"", "{", "[]", "null", "\"x\"", "42", "{} x", "{\"name\": \"web-1\",}",
	};
	char nul[] = "{\"name\": \"web-1\"\0}";
	char *dup;

	for (size_t i = 0; i < ARRAY_SIZE(not_json); i++)
		ep_bad_text(not_json[i], strlen(not_json[i]), "");
	ep_bad_text(nul, sizeof(nul) - 1, "line");
	ep_bad_text("[1, 2]", 6, "not a JSON object");
	/* a key twice is refused (JSON_REJECT_DUPLICATES) */
	assert_true(asprintf(&dup, "%.*s, \"node\": \"n1\"}", (int)strlen(base_ep) - 1, base_ep) >
		    0);
	ep_bad_text(dup, strlen(dup), "duplicate");
	free(dup);
	/* len bounds the text: a cut value is not JSON */
	ep_bad_text(base_ep, strlen(base_ep) - 1, "line");

	/* the key's name and node */
	ep_bad("name", json_string("web-2"), "name: not the key's (web-1)");
	ep_bad("name", json_integer(1), "name: not the key's");
	ep_bad("name", NULL, "name: not the key's");
	ep_bad("node", json_string("n2"), "node: not the key's (n1)");
	ep_bad("node", json_null(), "node: not the key's");
	/* namespace */
	ep_bad("namespace", json_string("Default"), "namespace");
	ep_bad("namespace", json_string(""), "namespace");
	ep_bad("namespace", json_string("a.b"), "namespace");
	ep_bad("namespace", json_string("x-"), "namespace");
	ep_bad("namespace", json_integer(5), "namespace");
	ep_bad("namespace", NULL, "namespace");
	{
		char ns[80];

		memset(ns, 'a', 64);
		ns[64] = '\0';
		ep_bad("namespace", json_string(ns), "namespace");
	}
	/* labels */
	ep_bad("labels", json_pack("[s]", "app=web"), "labels: not an object");
	ep_bad("labels", json_string("app=web"), "labels: not an object");
	ep_bad("labels", NULL, "labels: not an object");
	ep_bad("labels", json_pack("{s:i}", "app", 5), "labels");
	ep_bad("labels", json_pack("{s:s}", "bad key!", "x"), "labels");
	ep_bad("labels", json_pack("{s:s}", "app", "bad value!"), "labels");
	ep_bad("labels", json_pack("{s:s}", "", "x"), "labels");
	{
		char v[80];

		memset(v, 'v', 64);
		v[64] = '\0';
		ep_bad("labels", json_pack("{s:s}", "app", v), "labels");
	}
	/* addresses */
	ep_bad("addresses", addrs_n(POLICY_MAX_ENDPOINT_ADDRS + 1, false), "more than 64");
	ep_bad("addresses", json_pack("[s, s]", "10.0.0.5", "10.0.0.5"), "twice");
	ep_bad("addresses", json_pack("[s, s]", "fd00::5", "fd00:0:0::5"), "twice");
	ep_bad("addresses", json_pack("[s]", "10.0.0.256"), "addresses[0]: not an IPv4 or IPv6");
	ep_bad("addresses", json_pack("[s, s]", "10.0.0.1", "10.0.0.0/24"), "addresses[1]");
	ep_bad("addresses", json_pack("[s]", ""), "addresses[0]");
	ep_bad("addresses", json_pack("[s]", " 10.0.0.1"), "addresses[0]");
	ep_bad("addresses", json_pack("[s]", "fd00::5%eth0"), "addresses[0]");
	ep_bad("addresses", json_pack("[i]", 167772165), "addresses[0]: not a string");
	ep_bad("addresses", json_pack("[n]"), "addresses[0]: not a string");
	ep_bad("addresses", json_string("10.0.0.5"), "addresses: not a list");
	ep_bad("addresses", json_object(), "addresses: not a list");
	ep_bad("addresses", NULL, "fields other than");
	/* ports */
	ep_bad("ports", json_pack("[s]", "http=0/TCP"), "ports[0]");
	ep_bad("ports", json_pack("[s]", "http=65536/TCP"), "ports[0]");
	ep_bad("ports", json_pack("[s]", "http=-1/TCP"), "ports[0]");
	ep_bad("ports", json_pack("[s]", "http=80/XTP"), "ports[0]");
	ep_bad("ports", json_pack("[s]", "80/TCP"), "ports[0]");
	ep_bad("ports", json_pack("[s]", "HTTP=80/TCP"), "ports[0]");
	ep_bad("ports", json_pack("[s]", "http=8o/TCP"), "ports[0]");
	ep_bad("ports", json_pack("[s]", "http=80/TCP "), "ports[0]");
	ep_bad("ports", json_pack("[s]", "a-very-long-port-name=80/TCP"), "ports[0]");
	ep_bad("ports", json_pack("[s, s]", "http=80/TCP", "http=80/TCP"), "ports[1]");
	ep_bad("ports", json_pack("[i]", 80), "ports[0]: not a string");
	ep_bad("ports", json_pack("[{s:s, s:i}]", "name", "http", "port", 80),
	       "ports[0]: not a string");
	ep_bad("ports", json_string("http=80/TCP"), "ports: not a list");
	ep_bad("ports", NULL, "fields other than");
	/* fields other than the six */
	ep_bad("extra", json_true(), "fields other than");
	ep_bad("Name", json_string("web-1"), "fields other than");
}

/* ---- node status ---- */

static void test_status_round_trip(void **state)
{
	struct fleet_status in = { .enforced_revision = 1234,
				   .endpoints = 12,
				   .heartbeat = 1764950000,
				   .started = 1764940000,
				   .not_committed = 0 },
			    out = { 0 };
	_cleanup_free_ char *text = fleet_status_format("n1", &in), *err = NULL;
	char *big = NULL;

	assert_non_null(text);
	assert_int_equal(fleet_status_parse(text, strlen(text), "n1", &out, &err), 0);
	assert_memory_equal(&in, &out, sizeof(in));
	/* the largest revision etcd can have */
	in.enforced_revision = INT64_MAX;
	in.not_committed = 3;
	big = fleet_status_format("n1", &in);
	assert_int_equal(fleet_status_parse(big, strlen(big), "n1", &out, &err), 0);
	assert_memory_equal(&in, &out, sizeof(in));
	free(big);
}

static void status_bad(const char *text, const char *why)
{
	struct fleet_status st = { .endpoints = 99 };
	char *err = NULL;

	assert_int_equal(fleet_status_parse(text, strlen(text), "n1", &st, &err), -EBADMSG);
	assert_non_null(err);
	if (!strstr(err, why))
		fail_msg("'%s': '%s' does not say '%s'", text, err, why);
	assert_int_equal(st.endpoints, 99); /* untouched */
	free(err);
}

#define ST_REST "\"endpoints\": 1, \"heartbeat\": 2, \"started\": 3, \"not_committed\": 0"

static void test_status_hostile(void **state)
{
	status_bad("", "line");
	status_bad("[]", "not a JSON object");
	status_bad("{\"name\": \"n2\", \"enforced_revision\": 1, " ST_REST "}",
		   "name: not the key's (n1)");
	status_bad("{\"enforced_revision\": 1, " ST_REST "}", "name: not the key's");
	status_bad("{\"name\": 1, \"enforced_revision\": 1, " ST_REST "}", "name");
	status_bad("{\"name\": \"n1\", " ST_REST "}", "enforced_revision: not a number >= 0");
	status_bad("{\"name\": \"n1\", \"enforced_revision\": -1, " ST_REST "}",
		   "enforced_revision: not a number >= 0");
	status_bad("{\"name\": \"n1\", \"enforced_revision\": \"5\", " ST_REST "}",
		   "enforced_revision");
	status_bad("{\"name\": \"n1\", \"enforced_revision\": 1.5, " ST_REST "}",
		   "enforced_revision");
	status_bad("{\"name\": \"n1\", \"enforced_revision\": null, " ST_REST "}",
		   "enforced_revision");
	/* beyond int64: not JSON jansson takes */
	status_bad("{\"name\": \"n1\", \"enforced_revision\": 9223372036854775808, " ST_REST "}",
		   "line");
	status_bad("{\"name\": \"n1\", \"enforced_revision\": 1, \"endpoints\": 1, "
		   "\"heartbeat\": 2, \"started\": 3}",
		   "not_committed");
	status_bad("{\"name\": \"n1\", \"enforced_revision\": 1, \"endpoints\": -4, "
		   "\"heartbeat\": 2, \"started\": 3, \"not_committed\": 0}",
		   "endpoints");
	status_bad("{\"name\": \"n1\", \"name\": \"n1\", \"enforced_revision\": 1, " ST_REST "}",
		   "duplicate");
}

static void test_member_format(void **state)
{
	_cleanup_free_ char *s = fleet_member_format("n1", 1764940000);
	json_auto_t *o = json_loads(s, 0, NULL);

	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "name")), "n1");
	assert_int_equal(json_integer_value(json_object_get(o, "joined")), 1764940000);
}

/* ---- policy objects ---- */

static const char netpol_json[] =
	"{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\","
	"\"metadata\":{\"name\":\"db\",\"namespace\":\"shop\"},\"spec\":{\"podSelector\":{}}}";

static void test_policy_round_trip(void **state)
{
	_cleanup_free_ char *text = fleet_policy_format(netpol_json, "n1");
	_cleanup_free_ char *obj = NULL, *origin = NULL, *err = NULL;
	json_auto_t *a = NULL, *b = NULL;

	assert_non_null(text);
	assert_int_equal(fleet_policy_parse(text, strlen(text), &obj, &origin, &err), 0);
	assert_string_equal(origin, "n1");
	a = json_loads(obj, 0, NULL);
	b = json_loads(netpol_json, 0, NULL);
	assert_true(json_equal(a, b));
	/* the object's text is what policy_parse reads back */
	{
		struct policy_objects *o = objects_parse(obj);

		assert_int_equal(o->n_netpols, 1);
		assert_string_equal(o->netpols[0]->name, "db");
		policy_objects_free(o);
	}
	/* an object that is not JSON is not formatted */
	assert_null(fleet_policy_format("{not json", "n1"));
}

static void policy_bad(const char *text, const char *why)
{
	char *obj = (char *)0x1, *origin = (char *)0x1, *err = NULL;

	assert_int_equal(fleet_policy_parse(text, strlen(text), &obj, &origin, &err), -EBADMSG);
	assert_non_null(err);
	if (!strstr(err, why))
		fail_msg("'%s': '%s' does not say '%s'", text, err, why);
	assert_ptr_equal(obj, (char *)0x1);
	assert_ptr_equal(origin, (char *)0x1);
	free(err);
}

static void test_policy_hostile(void **state)
{
	policy_bad("", "line");
	policy_bad("{\"node\": \"n1\", \"object\": {}", "line");
	policy_bad("[{\"node\": \"n1\", \"object\": {}}]", "not a JSON object");
	policy_bad("{\"node\": \"n1\"}", "object: not a JSON object");
	policy_bad("{\"node\": \"n1\", \"object\": null}", "object: not a JSON object");
	policy_bad("{\"node\": \"n1\", \"object\": [1]}", "object: not a JSON object");
	policy_bad("{\"node\": \"n1\", \"object\": \"kind: Namespace\"}",
		   "object: not a JSON object");
	policy_bad("{\"object\": {}}", "node: not a node name");
	policy_bad("{\"node\": 1, \"object\": {}}", "node: not a node name");
	policy_bad("{\"node\": \"\", \"object\": {}}", "node: not a node name");
	policy_bad("{\"node\": \"N1\", \"object\": {}}", "node: not a node name");
	policy_bad("{\"node\": \"n1/x\", \"object\": {}}", "node: not a node name");
	policy_bad("{\"node\": \"n1\", \"object\": {}, \"extra\": 1}", "fields other than");
	policy_bad("{\"node\": \"n1\", \"object\": {}, \"object\": {}}", "duplicate");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_shapes),
		cmocka_unit_test(test_key_builders_round_trip),
		cmocka_unit_test(test_key_lengths),
		cmocka_unit_test(test_key_hostile),
		cmocka_unit_test(test_store_urls),
		cmocka_unit_test(test_endpoint_round_trip),
		cmocka_unit_test(test_endpoint_addresses_sorted),
		cmocka_unit_test(test_endpoint_hostile),
		cmocka_unit_test(test_status_round_trip),
		cmocka_unit_test(test_status_hostile),
		cmocka_unit_test(test_member_format),
		cmocka_unit_test(test_policy_round_trip),
		cmocka_unit_test(test_policy_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
