/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fleet-parse.h"
#include "json-util.h"
#include "macro.h"

#define JSON_FLAGS JSON_REJECT_DUPLICATES

static int fail(char **reterr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char **reterr, const char *fmt, ...)
{
	va_list ap;

	if (reterr) {
		va_start(ap, fmt);
		if (vasprintf(reterr, fmt, ap) < 0)
			*reterr = NULL;
		va_end(ap);
	}
	return -EBADMSG;
}

static bool str_is(const char *a, const char *b)
{
	return a && streq(a, b);
}

/* A --store value's fault: -EINVAL with *reterr. */
static int fail_inval(char **reterr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail_inval(char **reterr, const char *fmt, ...)
{
	va_list ap;

	if (reterr) {
		va_start(ap, fmt);
		if (vasprintf(reterr, fmt, ap) < 0)
			*reterr = NULL;
		va_end(ap);
	}
	return -EINVAL;
}

void fleet_store_urls_free(char **urls, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(urls[i]);
	free(urls);
}

/* http[s]://HOST[:PORT][/]: printable, no credentials, no query. */
static const char *store_url_invalid(const char *u, size_t len)
{
	size_t skip = len >= 7 && strncmp(u, "http://", 7) == 0	   ? 7
		      : len >= 8 && strncmp(u, "https://", 8) == 0 ? 8
								   : 0;

	if (!skip)
		return "not http:// or https://";
	if (len == skip)
		return "no host";
	if (len > 256)
		return "longer than 256 bytes";
	for (size_t i = skip; i < len; i++) {
		if (u[i] <= ' ' || u[i] >= 0x7f)
			return "a space or a character that is not printable ASCII";
		if (u[i] == '@')
			return "credentials in a URL would be logged: use --store-cert";
		if (u[i] == '?' || u[i] == '#')
			return "a query or fragment";
	}
	return NULL;
}

int fleet_store_urls(const char *spec, char ***ret, size_t *ret_n, char **reterr)
{
	char **urls = NULL;
	size_t n = 0;
	const char *p;

	if (strncmp(spec, "etcd:", 5) != 0)
		return fail_inval(reterr, "--store: 'etcd:URL[,URL...]', not '%s'", spec);
	p = spec + 5;
	for (;;) {
		size_t len = strcspn(p, ",");
		const char *why = store_url_invalid(p, len);
		char **grown;

		if (why) {
			fleet_store_urls_free(urls, n);
			return fail_inval(reterr, "--store: URL %zu ('%.*s'): %s", n + 1,
					  (int)(len > 256 ? 256 : len), p, why);
		}
		if (n == FLEET_MAX_STORE_URLS) {
			fleet_store_urls_free(urls, n);
			return fail_inval(reterr, "--store: more than %d URLs",
					  FLEET_MAX_STORE_URLS);
		}
		grown = realloc(urls, (n + 1) * sizeof(*urls));
		if (!grown || !(grown[n] = strndup(p, len))) {
			fleet_store_urls_free(grown ? grown : urls, n);
			return -ENOMEM;
		}
		urls = grown;
		n++;
		if (!p[len])
			break;
		p += len + 1;
	}
	*ret = urls;
	*ret_n = n;
	return 0;
}

/* ---- keys ---- */

/* One segment of a key: a name as Kubernetes objects and nodes have them. The '/' after it is
 * taken only when another segment follows: "NAME/" is not the key of NAME. */
static bool segment(const char **p, char *out, size_t size)
{
	size_t len = strcspn(*p, "/");

	if (len == 0 || len >= size)
		return false;
	memcpy(out, *p, len);
	out[len] = '\0';
	*p += len;
	if (**p == '/' && (*p)[1])
		(*p)++;
	return policy_dns_subdomain_invalid(out) == NULL;
}

static const char *const policy_kinds[] = { "Namespace", "NetworkPolicy", "ClusterNetworkPolicy",
					    "Node" };

void fleet_key_parse(const char *key, struct fleet_key *k)
{
	const char *p;

	*k = (struct fleet_key){ .kind = FLEET_KEY_OTHER };
	if (streq(key, FLEET_REVISION_KEY)) {
		k->kind = FLEET_KEY_REVISION;
		return;
	}
	if (strncmp(key, FLEET_POLICY_PREFIX, strlen(FLEET_POLICY_PREFIX)) == 0) {
		p = key + strlen(FLEET_POLICY_PREFIX);
		for (size_t i = 0; i < ARRAY_SIZE(policy_kinds); i++) {
			size_t n = strlen(policy_kinds[i]);

			if (strncmp(p, policy_kinds[i], n) != 0 || p[n] != '/')
				continue;
			snprintf(k->kind_name, sizeof(k->kind_name), "%s", policy_kinds[i]);
			p += n + 1;
			if (i == 1 && !segment(&p, k->ns, sizeof(k->ns)))
				return;
			if (!segment(&p, k->name, sizeof(k->name)) || *p)
				return;
			k->kind = FLEET_KEY_POLICY;
			return;
		}
		return;
	}
	if (strncmp(key, FLEET_ENDPOINTS_PREFIX, strlen(FLEET_ENDPOINTS_PREFIX)) == 0) {
		p = key + strlen(FLEET_ENDPOINTS_PREFIX);
		if (!segment(&p, k->node, sizeof(k->node)))
			return;
		/* an endpoint's name: a DNS label or a container name (as local ones are), never
		 * any netns name: bytes that are not printable ASCII would reach every API answer
		 * and terminal that shows the peers (jansson refuses invalid UTF-8) */
		if (!*p || strlen(p) > FLEET_MAX_NAME || strchr(p, '/') ||
		    policy_container_name_invalid(p))
			return;
		snprintf(k->name, sizeof(k->name), "%s", p);
		k->kind = FLEET_KEY_ENDPOINT;
		return;
	}
	if (strncmp(key, FLEET_NODES_PREFIX, strlen(FLEET_NODES_PREFIX)) == 0 ||
	    strncmp(key, FLEET_MEMBERS_PREFIX, strlen(FLEET_MEMBERS_PREFIX)) == 0) {
		bool status = key[strlen(FLEET_PREFIX)] == 'n';

		p = key + strlen(status ? FLEET_NODES_PREFIX : FLEET_MEMBERS_PREFIX);
		if (!segment(&p, k->node, sizeof(k->node)) || *p)
			return;
		k->kind = status ? FLEET_KEY_NODE : FLEET_KEY_MEMBER;
	}
}

char *fleet_policy_key(const char *kind, const char *ns, const char *name)
{
	char *s;

	int r = ns ? asprintf(&s, FLEET_POLICY_PREFIX "%s/%s/%s", kind, ns, name)
		   : asprintf(&s, FLEET_POLICY_PREFIX "%s/%s", kind, name);

	if (r < 0)
		return NULL;
	return s;
}

static char *key2(const char *prefix, const char *a, const char *b)
{
	char *s;

	int r = b ? asprintf(&s, "%s%s/%s", prefix, a, b) : asprintf(&s, "%s%s", prefix, a);

	if (r < 0)
		return NULL;
	return s;
}

char *fleet_endpoint_key(const char *node, const char *name)
{
	return key2(FLEET_ENDPOINTS_PREFIX, node, name);
}

char *fleet_node_key(const char *node)
{
	return key2(FLEET_NODES_PREFIX, node, NULL);
}

char *fleet_member_key(const char *node)
{
	return key2(FLEET_MEMBERS_PREFIX, node, NULL);
}

/* ---- values ---- */

static char *dump(json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(o);
	return s;
}

static json_t *load_object(const char *text, size_t len, char **reterr)
{
	json_error_t jerr;
	json_t *o = json_loadb(text, len, JSON_FLAGS, &jerr);

	if (!o) {
		fail(reterr, "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		fail(reterr, "not a JSON object");
		return NULL;
	}
	return o;
}

char *fleet_policy_format(const char *object_json, const char *origin)
{
	json_t *obj = json_loads(object_json, JSON_FLAGS, NULL);

	return obj ? dump(json_pack("{s:s, s:o}", "node", origin, "object", obj)) : NULL;
}

int fleet_policy_parse(const char *text, size_t len, char **ret_object, char **ret_origin,
		       char **reterr)
{
	json_auto_t *o = load_object(text, len, reterr);
	json_t *obj, *node;
	char *s, *origin;

	if (!o)
		return -EBADMSG;
	obj = json_object_get(o, "object");
	node = json_object_get(o, "node");
	if (!json_is_object(obj))
		return fail(reterr, "object: not a JSON object");
	if (!json_is_string(node) || policy_dns_subdomain_invalid(json_string_value(node)))
		return fail(reterr, "node: not a node name");
	if (json_object_size(o) != 2)
		return fail(reterr, "fields other than node and object");
	s = json_dumps(obj, JSON_COMPACT);
	origin = strdup(json_string_value(node));
	if (!s || !origin) {
		free(s);
		free(origin);
		return -ENOMEM;
	}
	*ret_object = s;
	*ret_origin = origin;
	return 0;
}

/* fe80::/10: meaningful on one link only, never another host's peer. */
static bool link_local(const struct policy_addr *a)
{
	return a->family == AF_INET6 && a->addr[0] == 0xfe && (a->addr[1] & 0xc0) == 0x80;
}

char *fleet_endpoint_format(const struct policy_endpoint *pe, const char *node)
{
	json_t *ports = json_array(), *addrs = json_array();

	for (size_t i = 0; ports && i < pe->n_ports; i++) {
		char buf[64];

		snprintf(buf, sizeof(buf), "%s=%u/%s", pe->ports[i].name, pe->ports[i].port,
			 policy_proto_to_string(pe->ports[i].proto));
		json_array_append_new(ports, json_string(buf));
	}
	for (size_t i = 0; addrs && i < pe->n_addrs; i++)
		if (!link_local(&pe->addrs[i]))
			json_array_append_new(addrs, json_addr(&pe->addrs[i]));
	return dump(json_pack("{s:s, s:s, s:o, s:o, s:o, s:s}", "name", pe->name, "namespace",
			      pe->namespace, "labels", json_labels(&pe->labels), "addresses", addrs,
			      "ports", ports, "node", node));
}

void fleet_endpoint_done(struct policy_endpoint *pe)
{
	free(pe->name);
	free(pe->namespace);
	policy_labels_done(&pe->labels);
	free(pe->addrs);
	policy_named_ports_free(pe->ports, pe->n_ports);
	*pe = (struct policy_endpoint){ 0 };
}

static int addr_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct policy_addr));
}

static int parse_addrs(json_t *a, struct policy_endpoint *pe, char **reterr)
{
	size_t i;
	json_t *v;

	if (!json_is_array(a))
		return fail(reterr, "addresses: not a list");
	if (json_array_size(a) > POLICY_MAX_ENDPOINT_ADDRS)
		return fail(reterr, "addresses: more than %d", POLICY_MAX_ENDPOINT_ADDRS);
	pe->addrs = calloc(json_array_size(a) + 1, sizeof(*pe->addrs));
	if (!pe->addrs)
		return -ENOMEM;
	json_array_foreach(a, i, v) {
		const char *s = json_string_value(v);
		struct policy_addr *x = &pe->addrs[i];

		if (!s)
			return fail(reterr, "addresses[%zu]: not a string", i);
		if (inet_pton(AF_INET, s, x->addr) == 1)
			x->family = AF_INET;
		else if (inet_pton(AF_INET6, s, x->addr) == 1)
			x->family = AF_INET6;
		else
			return fail(reterr, "addresses[%zu]: not an IPv4 or IPv6 address", i);
		if (link_local(x))
			return fail(reterr, "addresses[%zu]: link-local, never another host's", i);
	}
	pe->n_addrs = json_array_size(a);
	if (pe->n_addrs > 1)
		qsort(pe->addrs, pe->n_addrs, sizeof(*pe->addrs), addr_cmp);
	for (i = 1; i < pe->n_addrs; i++)
		if (addr_cmp(&pe->addrs[i - 1], &pe->addrs[i]) == 0)
			return fail(reterr, "addresses: one is there twice");
	return 0;
}

static int parse_ports(json_t *a, struct policy_endpoint *pe, char **reterr)
{
	size_t i;
	json_t *v;

	if (!json_is_array(a))
		return fail(reterr, "ports: not a list");
	json_array_foreach(a, i, v) {
		struct policy_named_port p = { 0 };
		_cleanup_free_ char *why = NULL;
		const char *s = json_string_value(v);
		int r;

		if (!s)
			return fail(reterr, "ports[%zu]: not a string", i);
		r = policy_named_port_parse(s, &p, &why);
		if (r >= 0)
			r = policy_named_ports_add(&pe->ports, &pe->n_ports, &p, &why);
		if (r < 0) {
			free(p.name);
			return r == -ENOMEM
				       ? r
				       : fail(reterr, "ports[%zu]: %s", i, why ? why : "invalid");
		}
	}
	return 0;
}

int fleet_endpoint_parse(const char *text, size_t len, const char *node, const char *name,
			 struct policy_endpoint *ret, char **reterr)
{
	json_auto_t *o = load_object(text, len, reterr);
	struct policy_endpoint pe = { 0 };
	_cleanup_free_ char *labels = NULL, *why = NULL;
	const char *ns;
	int r;

	if (!o)
		return -EBADMSG;
	if (!str_is(json_string_value(json_object_get(o, "name")), name))
		return fail(reterr, "name: not the key's (%s)", name);
	if (!str_is(json_string_value(json_object_get(o, "node")), node))
		return fail(reterr, "node: not the key's (%s)", node);
	ns = json_string_value(json_object_get(o, "namespace"));
	if (!ns || policy_dns_label_invalid(ns))
		return fail(reterr, "namespace: not a namespace name");
	if (!json_is_object(json_object_get(o, "labels")))
		return fail(reterr, "labels: not an object");
	labels = json_dumps(json_object_get(o, "labels"), JSON_COMPACT);
	if (!labels)
		return -ENOMEM;
	if (json_object_size(o) != 6)
		return fail(reterr, "fields other than name, namespace, labels, addresses, ports "
				    "and node");
	pe.name = strdup(name);
	pe.namespace = strdup(ns);
	if (!pe.name || !pe.namespace) {
		fleet_endpoint_done(&pe);
		return -ENOMEM;
	}
	r = policy_labels_annotation_parse(labels, &pe.labels, &why);
	if (r < 0)
		r = r == -ENOMEM ? r : fail(reterr, "labels: %s", why ? why : "invalid");
	if (r >= 0)
		r = parse_addrs(json_object_get(o, "addresses"), &pe, reterr);
	if (r >= 0)
		r = parse_ports(json_object_get(o, "ports"), &pe, reterr);
	if (r < 0) {
		fleet_endpoint_done(&pe);
		return r;
	}
	*ret = pe;
	return 0;
}

static const char *const status_fields[] = { "enforced_revision", "endpoints", "heartbeat",
					     "started", "not_committed" };

char *fleet_status_format(const char *node, const struct fleet_status *st)
{
	return dump(json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "name", node, "enforced_revision",
			      (json_int_t)st->enforced_revision, "endpoints",
			      (json_int_t)st->endpoints, "heartbeat", (json_int_t)st->heartbeat,
			      "started", (json_int_t)st->started, "not_committed",
			      (json_int_t)st->not_committed));
}

int fleet_status_parse(const char *text, size_t len, const char *node, struct fleet_status *ret,
		       char **reterr)
{
	json_auto_t *o = load_object(text, len, reterr);
	int64_t v[ARRAY_SIZE(status_fields)];

	if (!o)
		return -EBADMSG;
	if (!str_is(json_string_value(json_object_get(o, "name")), node))
		return fail(reterr, "name: not the key's (%s)", node);
	for (size_t i = 0; i < ARRAY_SIZE(status_fields); i++) {
		json_t *x = json_object_get(o, status_fields[i]);

		if (!json_is_integer(x) || json_integer_value(x) < 0)
			return fail(reterr, "%s: not a number >= 0", status_fields[i]);
		v[i] = json_integer_value(x);
	}
	*ret = (struct fleet_status){ .enforced_revision = v[0],
				      .endpoints = v[1],
				      .heartbeat = v[2],
				      .started = v[3],
				      .not_committed = v[4] };
	return 0;
}

char *fleet_member_format(const char *node, int64_t joined)
{
	return dump(json_pack("{s:s, s:I}", "name", node, "joined", (json_int_t)joined));
}
