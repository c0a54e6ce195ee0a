/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Helpers shared by the rootless tests of the daemon's pure modules (include after
 * <cmocka.h>): policy objects from text, endpoints that are never attached, small files.
 * Everything here asserts, so a helper that fails fails the test that called it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "endpoint.h"
#include "macro.h"
#include "policy/policy.h"

/* Policy objects from YAML or JSON text; fails the test on any diagnostic. */
static inline struct policy_objects *objects_parse(const char *text)
{
	struct policy_objects *o = NULL;
	struct policy_diags d = { 0 };
	int r = policy_parse("test.yaml", text, strlen(text), &o, &d);

	for (size_t i = 0; i < d.n; i++) {
		char *s = policy_diag_format(&d.items[i]);

		print_error("%s\n", s ? s : "?");
		free(s);
	}
	policy_diags_done(&d);
	assert_int_equal(r, 0);
	assert_non_null(o);
	return o;
}

/* The one netpol (or namespace) a text holds, taken out of its objects. */
static inline struct policy_netpol *netpol_parse(const char *text)
{
	struct policy_objects *o = objects_parse(text);
	struct policy_netpol *p;

	assert_int_equal(o->n_netpols, 1);
	p = o->netpols[0];
	o->n_netpols = 0;
	policy_objects_free(o);
	return p;
}

static inline struct policy_namespace *namespace_parse(const char *text)
{
	struct policy_objects *o = objects_parse(text);
	struct policy_namespace *n;

	assert_int_equal(o->n_namespaces, 1);
	n = o->namespaces[0];
	o->n_namespaces = 0;
	policy_objects_free(o);
	return n;
}

/* An endpoint that is never attached: an environment of zeroes is all it needs. */
static inline struct endpoint *ep_new(enum endpoint_kind kind, const char *name, const char *ns)
{
	static const struct endpoint_env unit_env;
	struct endpoint *e = NULL;
	char netns[300];

	snprintf(netns, sizeof(netns), "%s%s", kind == ENDPOINT_KIND_NETNS ? "" : "/proc/1/ns/",
		 kind == ENDPOINT_KIND_NETNS ? name : "net");
	assert_int_equal(endpoint_new(&unit_env, kind, name, netns, ns, &e), 0);
	assert_non_null(e);
	return e;
}

/* An address its namespace holds (held) and, until the registry settles conflicts, its own. */
static inline void ep_addr(struct endpoint *e, const char *text)
{
	struct policy_addr *a = reallocarray(e->pe.addrs, e->pe.n_addrs + 1, sizeof(*a));
	uint64_t *since;

	assert_non_null(a);
	e->pe.addrs = a;
	a = &e->pe.addrs[e->pe.n_addrs++];
	*a = (struct policy_addr){ .family = strchr(text, ':') ? AF_INET6 : AF_INET };
	assert_int_equal(inet_pton(a->family, text, a->addr), 1);
	a = reallocarray(e->held, e->n_held + 1, sizeof(*a));
	assert_non_null(a);
	e->held = a;
	since = reallocarray(e->held_since, e->n_held + 1, sizeof(*since));
	assert_non_null(since);
	e->held_since = since;
	e->held_since[e->n_held] = 0; /* first seen when the registry next settles */
	e->held[e->n_held++] = e->pe.addrs[e->pe.n_addrs - 1];
}

static inline void ep_label(struct endpoint *e, const char *key, const char *value)
{
	assert_int_equal(policy_labels_set(&e->pe.labels, key, value), 0);
}

static inline void ep_port(struct endpoint *e, const char *name, uint16_t port,
			   enum policy_proto proto)
{
	struct policy_named_port p = { .name = strdup(name), .port = port, .proto = proto };

	assert_non_null(p.name);
	assert_int_equal(policy_named_ports_add(&e->pe.ports, &e->pe.n_ports, &p, NULL), 0);
}

/* A container of endpoint e (ids kept sorted by the caller: tests add them in order). */
static inline void ep_container(struct endpoint *e, const char *id, const char *name, bool owner)
{
	struct ep_container *c = reallocarray(e->containers, e->n_containers + 1, sizeof(*c));

	assert_non_null(c);
	e->containers = c;
	c = &e->containers[e->n_containers++];
	*c = (struct ep_container){ .id = strdup(id),
				    .name = name ? strdup(name) : NULL,
				    .owner = owner,
				    .known = true };
	assert_non_null(c->id);
}

static inline void file_write(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* The whole file, NUL-terminated (caller frees); NULL if it does not exist. */
static inline char *file_read(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	size_t k;

	if (!f)
		return NULL;
	do {
		if (len + 4096 + 1 > cap) {
			cap = (len + 4096 + 1) * 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		k = fread(buf + len, 1, cap - len - 1, f);
		len += k;
	} while (k > 0);
	fclose(f);
	buf[len] = 0;
	if (ret_len)
		*ret_len = len;
	return buf;
}

static inline off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) < 0 ? -1 : st.st_size;
}

/* Lines of a file. */
static inline size_t file_lines(const char *path)
{
	_cleanup_free_ char *s = file_read(path, NULL);
	size_t n = 0;

	for (const char *p = s; p && *p; p++)
		n += *p == '\n';
	return n;
}

static inline json_t *json_parse(const char *text)
{
	json_error_t jerr;
	json_t *o = json_loads(text, JSON_DECODE_ANY, &jerr);

	if (!o)
		fail_msg("bad JSON in a test: %s: %s", jerr.text, text);
	return o;
}

/* Compact, key-sorted text of a JSON value (caller frees), for whole-answer comparisons. */
static inline char *json_text(const json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

	assert_non_null(s);
	return s;
}

#define assert_json_string(o, key, want)                                                        \
	assert_string_equal(json_string_value(json_object_get((o), (key))) ?: "(not a string)", \
			    (want))
#define assert_json_int(o, key, want) \
	assert_int_equal(json_integer_value(json_object_get((o), (key))), (want))
#define assert_json_true(o, key) assert_true(json_is_true(json_object_get((o), (key))))
#define assert_json_false(o, key) assert_true(json_is_false(json_object_get((o), (key))))
