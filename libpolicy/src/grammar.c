/* SPDX-License-Identifier: MIT */
/*
 * The small grammars and identifiers segd reads besides Kubernetes objects, each checked by
 * exactly one function here, which the daemon, the CLI and the container sources all call:
 *
 *   port names            IANA service names, as Kubernetes' IsValidPortName
 *   "PORT[/PROTO]"        a port to evaluate (segctl check, matrix)
 *   "NAME=PORT[/PROTO]"   one named port (segctl endpoint add --port, segd.io/ports items)
 *   segd.io/ports         "NAME=PORT[/PROTO],..." on a container
 *   segd.io/labels        "k=v;k=v" or a JSON object of strings, an OCI annotation
 *   container ids         lowercase hex, as engines print them
 *   netns names           names under /run/netns, as `ip netns` accepts them
 *   container names       as Docker and Podman accept them
 *   config file lines     "name = value # comment", segd's settings and its OCI hook
 *
 * Protocols in these text forms are case-insensitive ("80/tcp"); in Kubernetes objects they
 * are not (policy_proto_from_string).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "macro.h"
#include "policy/policy.h"

/* Sets *reterr to a formatted message and returns r (-ENOMEM if even that fails). */
static int fail(char **reterr, int r, const char *fmt, ...) _printf_(3, 4);
static int fail(char **reterr, int r, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (!reterr)
		return r;
	va_start(ap, fmt);
	k = vasprintf(reterr, fmt, ap);
	va_end(ap);
	if (k < 0) {
		*reterr = NULL;
		return -ENOMEM;
	}
	return r;
}

_public_ const char *policy_port_name_invalid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	bool letter = false;

	if (n == 0)
		return "must be non-empty";
	if (n > POLICY_MAX_PORT_NAME)
		return "must be no more than 15 characters";
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 'a' && s[i] <= 'z')
			letter = true;
		else if (!(s[i] >= '0' && s[i] <= '9') && s[i] != '-')
			return "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)";
	}
	if (strstr(s, "--"))
		return "must not contain consecutive hyphens";
	if (!letter)
		return "must contain at least one letter (a-z)";
	if (s[0] == '-' || s[n - 1] == '-')
		return "must not begin or end with a hyphen";
	return NULL;
}

_public_ const char *policy_container_id_invalid(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n < POLICY_MIN_CONTAINER_ID || n > POLICY_MAX_CONTAINER_ID)
		return "must be 12 to 128 hexadecimal digits";
	if (strspn(id, "0123456789abcdef") != n)
		return "must contain only lowercase hexadecimal digits";
	return NULL;
}

_public_ const char *policy_netns_name_invalid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > POLICY_MAX_NETNS_NAME)
		return "must be 1 to 255 bytes";
	if (strchr(name, '/'))
		return "must not contain '/'";
	if (streq(name, ".") || streq(name, ".."))
		return "must not be '.' or '..'";
	return NULL;
}

_public_ const char *policy_container_name_invalid(const char *name)
{
	static const char alnum[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > POLICY_MAX_CONTAINER_NAME)
		return "must be 1 to 253 bytes";
	if (!strchr(alnum, name[0]))
		return "must start with a letter or a digit";
	for (size_t i = 1; i < n; i++)
		if (!strchr(alnum, name[i]) && !strchr("_.-", name[i]))
			return "must contain only letters, digits, '_', '.' and '-'";
	return NULL;
}

_public_ int policy_config_line_split(char *line, char **ret_name, char **ret_value)
{
	char *hash = strchr(line, '#'), *eq, *end;

	if (hash)
		*hash = 0;
	line += strspn(line, " \t\r");
	for (end = line + strlen(line); end > line && strchr(" \t\r", end[-1]); end--)
		end[-1] = 0;
	if (!*line) {
		*ret_name = NULL;
		*ret_value = NULL;
		return 0;
	}
	eq = strchr(line, '=');
	if (!eq)
		return -EINVAL;
	for (end = eq; end > line && strchr(" \t", end[-1]); end--)
		end[-1] = 0;
	*eq++ = 0;
	eq += strspn(eq, " \t");
	if (!*line)
		return -EINVAL;
	*ret_name = line;
	*ret_value = eq;
	return 0;
}

static int proto_from_text(const char *s)
{
	for (int p = 0; p < _POLICY_PROTO_MAX; p++)
		if (strcasecmp(s, policy_proto_to_string((enum policy_proto)p)) == 0)
			return p;
	return -EINVAL;
}

/* "PORT" or "PORT/PROTO" in s[0..len): 1-65535, decimal digits only. */
static int port_proto_parse(const char *s, size_t len, uint16_t *ret_port,
			    enum policy_proto *ret_proto)
{
	unsigned long v = 0;
	size_t i = 0;
	int proto = POLICY_PROTO_TCP;

	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		v = v * 10 + (unsigned long)(s[i] - '0');
		if (v > 65535)
			return -ERANGE;
	}
	if (i == 0)
		return -EINVAL;
	if (v == 0)
		return -ERANGE;
	if (i < len) {
		char p[8];

		if (s[i] != '/' || len - i - 1 == 0)
			return -EINVAL;
		if (len - i - 1 >= sizeof(p))
			return -EPROTONOSUPPORT; /* longer than any protocol's name */
		memcpy(p, s + i + 1, len - i - 1);
		p[len - i - 1] = 0;
		proto = proto_from_text(p);
		if (proto < 0)
			return -EPROTONOSUPPORT;
	}
	*ret_port = (uint16_t)v;
	*ret_proto = (enum policy_proto)proto;
	return 0;
}

_public_ int policy_port_spec_parse(const char *s, uint16_t *ret_port, enum policy_proto *ret_proto)
{
	if (!s)
		return -EINVAL;
	return port_proto_parse(s, strlen(s), ret_port, ret_proto);
}

/* One "NAME=PORT[/PROTO]" in s[0..len). */
static int named_port_parse(const char *s, size_t len, struct policy_named_port *ret, char **reterr)
{
	const char *eq = memchr(s, '=', len);
	char name[POLICY_MAX_PORT_NAME + 1];
	const char *why;
	size_t nl;
	int r;

	if (!eq)
		return fail(reterr, -EINVAL, "\"%.*s\" is not NAME=PORT[/PROTOCOL]", (int)len, s);
	nl = (size_t)(eq - s);
	if (nl == 0 || nl > POLICY_MAX_PORT_NAME || memchr(s, 0, nl))
		return fail(reterr, -EINVAL,
			    "invalid port name \"%.*s\": must be 1 to 15 characters", (int)nl, s);
	memcpy(name, s, nl);
	name[nl] = 0;
	why = policy_port_name_invalid(name);
	if (why)
		return fail(reterr, -EINVAL, "invalid port name \"%s\": %s", name, why);
	r = port_proto_parse(eq + 1, len - nl - 1, &ret->port, &ret->proto);
	if (r == -EPROTONOSUPPORT) {
		const char *slash = memchr(eq + 1, '/', len - nl - 1);
		int pl = (int)(len - (size_t)(slash + 1 - s));

		return fail(reterr, -EINVAL,
			    "unsupported protocol \"%.*s\" in \"%.*s\" (TCP, UDP or "
			    "SCTP)",
			    pl, slash + 1, (int)len, s);
	}
	if (r < 0) {
		const char *slash = memchr(eq + 1, '/', len - nl - 1);
		int pl = slash ? (int)(slash - eq - 1) : (int)(len - nl - 1);

		return fail(reterr, -EINVAL, "invalid port number \"%.*s\" in \"%.*s\" (1-65535)",
			    pl, eq + 1, (int)len, s);
	}
	ret->name = strdup(name);
	return ret->name ? 0 : -ENOMEM;
}

_public_ int policy_named_port_parse(const char *s, struct policy_named_port *ret, char **reterr)
{
	struct policy_named_port p = { 0 };
	int r;

	if (!s)
		return fail(reterr, -EINVAL, "no port given");
	r = named_port_parse(s, strlen(s), &p, reterr);
	if (r < 0)
		return r;
	*ret = p;
	return 0;
}

_public_ void policy_named_ports_free(struct policy_named_port *ports, size_t n)
{
	for (size_t i = 0; ports && i < n; i++)
		free(ports[i].name);
	free(ports);
}

_public_ int policy_named_ports_add(struct policy_named_port **ports, size_t *n,
				    struct policy_named_port *p, char **reterr)
{
	struct policy_named_port *a;

	for (size_t i = 0; i < *n; i++)
		if (streq((*ports)[i].name, p->name))
			return fail(reterr, -EEXIST, "port name \"%s\" given twice", p->name);
	if (*n >= POLICY_MAX_ENDPOINT_PORTS)
		return fail(reterr, -E2BIG, "more than %d named ports", POLICY_MAX_ENDPOINT_PORTS);
	a = reallocarray(*ports, *n + 1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	*ports = a;
	a[(*n)++] = *p;
	*p = (struct policy_named_port){ 0 };
	return 0;
}

_public_ int policy_ports_label_parse(const char *s, struct policy_named_port **ret, size_t *ret_n,
				      char **reterr)
{
	struct policy_named_port *ports = NULL;
	size_t n = 0;
	int r = 0;

	if (!s)
		return fail(reterr, -EINVAL, "no ports given");
	if (strlen(s) > POLICY_MAX_LABEL_VALUE_TEXT)
		return fail(reterr, -E2BIG, "over %d bytes", POLICY_MAX_LABEL_VALUE_TEXT);
	for (const char *p = s; r >= 0 && *p;) {
		size_t len = strcspn(p, ",");
		struct policy_named_port np = { 0 };

		r = named_port_parse(p, len, &np, reterr);
		if (r >= 0) {
			r = policy_named_ports_add(&ports, &n, &np, reterr);
			free(np.name);
		}
		p += len;
		if (*p == ',' && !*++p)
			r = r < 0 ? r : fail(reterr, -EINVAL, "a trailing ',' names no port");
	}
	if (r < 0) {
		policy_named_ports_free(ports, n);
		return r;
	}
	*ret = ports;
	*ret_n = n;
	return 0;
}

_public_ int policy_label_add(struct policy_labels *l, const char *k, const char *v, char **reterr)
{
	const char *why = policy_label_key_invalid(k);

	if (why)
		return fail(reterr, -EINVAL, "invalid label key \"%.64s\": %s", k, why);
	why = policy_label_value_invalid(v);
	if (why)
		return fail(reterr, -EINVAL, "label \"%.64s\": invalid value \"%.64s\": %s", k, v,
			    why);
	if (policy_labels_get(l, k))
		return fail(reterr, -EEXIST, "label \"%.64s\" given twice", k);
	if (l->n >= POLICY_MAX_LABELS)
		return fail(reterr, -E2BIG, "more than %d labels", POLICY_MAX_LABELS);
	return policy_labels_set(l, k, v);
}

static int labels_annotation_text(const char *s, struct policy_labels *l, char **reterr)
{
	_cleanup_free_ char *copy = strdup(s);
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (char *kv = copy; r >= 0 && kv;) {
		char *next = strchr(kv, ';'), *eq;

		if (next)
			*next++ = 0;
		eq = strchr(kv, '=');
		if (!eq)
			return fail(reterr, -EINVAL, "\"%.64s\" is not KEY=VALUE", kv);
		*eq = 0;
		r = policy_label_add(l, kv, eq + 1, reterr);
		kv = next;
	}
	return r;
}

static int labels_annotation_json(const char *s, struct policy_labels *l, char **reterr)
{
	json_auto_t *o = NULL;
	json_error_t jerr;
	const char *k;
	json_t *v;

	o = json_loads(s, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(o))
		return fail(reterr, -EINVAL, "not a JSON object of strings%s%s", o ? "" : ": ",
			    o ? "" : jerr.text);
	if (json_object_size(o) > POLICY_MAX_LABELS)
		return fail(reterr, -E2BIG, "more than %d labels", POLICY_MAX_LABELS);
	json_object_foreach(o, k, v) {
		int r;

		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
			return fail(reterr, -EINVAL, "label \"%.64s\": not a string", k);
		r = policy_label_add(l, k, json_string_value(v), reterr);
		if (r < 0)
			return r;
	}
	return 0;
}

_public_ int policy_labels_annotation_parse(const char *s, struct policy_labels *ret, char **reterr)
{
	struct policy_labels l = { 0 };
	int r;

	if (!s)
		return fail(reterr, -EINVAL, "no labels given");
	if (strlen(s) > POLICY_MAX_ANNOTATION)
		return fail(reterr, -E2BIG, "over %d bytes", POLICY_MAX_ANNOTATION);
	r = s[0] == '{' ? labels_annotation_json(s, &l, reterr)
	    : s[0]	? labels_annotation_text(s, &l, reterr)
			: 0;
	if (r < 0) {
		policy_labels_done(&l);
		return r;
	}
	*ret = l;
	return 0;
}
