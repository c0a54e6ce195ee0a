/* SPDX-License-Identifier: MIT */
/*
 * Label sets, selector matching and the API server's name syntax rules
 * (k8s.io/apimachinery/pkg/util/validation: IsQualifiedName, IsValidLabelValue,
 * IsDNS1123Label, IsDNS1123Subdomain).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "macro.h"

/* Index of key in l, or ~index of its insertion point when absent. */
static ssize_t labels_find(const struct policy_labels *l, const char *key)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(l->items[mid].key, key);

		if (c == 0)
			return (ssize_t)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return ~(ssize_t)lo;
}

_public_ void policy_labels_done(struct policy_labels *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].key);
		free(l->items[i].value);
	}
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

_public_ const char *policy_labels_get(const struct policy_labels *l, const char *key)
{
	ssize_t i;

	if (!l || !key)
		return NULL;
	i = labels_find(l, key);
	return i >= 0 ? l->items[i].value : NULL;
}

_public_ int policy_labels_set(struct policy_labels *l, const char *key, const char *value)
{
	_cleanup_free_ char *k = NULL;
	_cleanup_free_ char *v = NULL;
	struct policy_label *items;
	ssize_t i;
	size_t at;

	if (!l || !key || !value)
		return -EINVAL;
	v = strdup(value);
	if (!v)
		return -ENOMEM;
	i = labels_find(l, key);
	if (i >= 0) {
		free(l->items[i].value);
		l->items[i].value = TAKE_PTR(v);
		return 0;
	}
	k = strdup(key);
	if (!k)
		return -ENOMEM;
	items = reallocarray(l->items, l->n + 1, sizeof(*items));
	if (!items)
		return -ENOMEM;
	l->items = items;
	at = (size_t)~i;
	memmove(&items[at + 1], &items[at], (l->n - at) * sizeof(*items));
	items[at].key = TAKE_PTR(k);
	items[at].value = TAKE_PTR(v);
	l->n++;
	return 0;
}

_public_ int policy_labels_unset(struct policy_labels *l, const char *key)
{
	ssize_t i;

	if (!l || !key)
		return -EINVAL;
	i = labels_find(l, key);
	if (i < 0)
		return -ENOENT;
	free(l->items[i].key);
	free(l->items[i].value);
	memmove(&l->items[i], &l->items[i + 1], (l->n - (size_t)i - 1) * sizeof(*l->items));
	l->n--;
	if (l->n == 0) {
		free(l->items);
		l->items = NULL;
	}
	return 0;
}

_public_ int policy_labels_copy(struct policy_labels *dst, const struct policy_labels *src)
{
	struct policy_labels t = { 0 };

	if (!dst || !src)
		return -EINVAL;
	if (src->n > 0) {
		t.items = calloc(src->n, sizeof(*t.items));
		if (!t.items)
			return -ENOMEM;
		for (size_t i = 0; i < src->n; i++) {
			t.items[i].key = strdup(src->items[i].key);
			t.items[i].value = strdup(src->items[i].value);
			t.n = i + 1;
			if (!t.items[i].key || !t.items[i].value) {
				policy_labels_done(&t);
				return -ENOMEM;
			}
		}
	}
	*dst = t;
	return 0;
}

_public_ bool policy_labels_equal(const struct policy_labels *a, const struct policy_labels *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (!streq(a->items[i].key, b->items[i].key) ||
		    !streq(a->items[i].value, b->items[i].value))
			return false;
	return true;
}

static bool expr_has_value(const struct policy_expr *e, const char *v)
{
	for (size_t i = 0; i < e->n_values; i++)
		if (streq(e->values[i], v))
			return true;
	return false;
}

static bool expr_matches(const struct policy_expr *e, const struct policy_labels *l)
{
	const char *v = policy_labels_get(l, e->key);

	switch (e->op) {
	case POLICY_OP_IN:
		return v && expr_has_value(e, v);
	case POLICY_OP_NOT_IN:
		/* Kubernetes: NotIn also matches objects without the key. */
		return !v || !expr_has_value(e, v);
	case POLICY_OP_EXISTS:
		return v;
	case POLICY_OP_DOES_NOT_EXIST:
		return !v;
	case _POLICY_OP_MAX:
		break;
	}
	return false;
}

/* A NULL selector is treated like an empty one: it matches everything. */
_public_ bool policy_selector_matches(const struct policy_selector *s,
				      const struct policy_labels *l)
{
	static const struct policy_labels none;

	if (!s)
		return true;
	if (!l)
		l = &none;
	for (size_t i = 0; i < s->match_labels.n; i++) {
		const char *v = policy_labels_get(l, s->match_labels.items[i].key);

		if (!v || !streq(v, s->match_labels.items[i].value))
			return false;
	}
	for (size_t i = 0; i < s->n_exprs; i++)
		if (!expr_matches(&s->exprs[i], l))
			return false;
	return true;
}

/* ---- syntax ------------------------------------------------------------------------------ */

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] over s[0..n), n >= 1 */
static bool is_qualified_name_part(const char *s, size_t n)
{
	if (!is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? over s[0..n) */
static bool is_dns_label(const char *s, size_t n)
{
	if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

/* label ('.' label)* over s[0..n) */
static bool is_dns_subdomain(const char *s, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (!is_dns_label(s + start, i - start))
				return false;
			start = i + 1;
		}
	}
	return true;
}

#define SUBDOMAIN_MSG                                                                             \
	"a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' " \
	"or '.', and must start and end with an alphanumeric character"
#define QUALIFIED_MSG                                                                             \
	"name part must consist of alphanumeric characters, '-', '_' or '.', and must start and " \
	"end with an alphanumeric character"

_public_ const char *policy_label_key_invalid(const char *key)
{
	const char *slash, *name;
	size_t n;

	if (!key)
		return "must be non-empty";
	slash = strchr(key, '/');
	name = key;
	if (slash) {
		size_t plen = (size_t)(slash - key);

		if (strchr(slash + 1, '/'))
			return "a qualified name must consist of alphanumeric characters, '-', '_' or '.', with an optional DNS subdomain prefix and '/'";
		if (plen == 0)
			return "prefix part must be non-empty";
		if (plen > 253)
			return "prefix part must be no more than 253 characters";
		if (!is_dns_subdomain(key, plen))
			return "prefix part " SUBDOMAIN_MSG;
		name = slash + 1;
	}
	n = strlen(name);
	if (n == 0)
		return "name part must be non-empty";
	if (n > 63)
		return "name part must be no more than 63 characters";
	if (!is_qualified_name_part(name, n))
		return QUALIFIED_MSG;
	return NULL;
}

_public_ const char *policy_label_value_invalid(const char *value)
{
	size_t n;

	if (!value)
		return "must be a string";
	n = strlen(value);
	if (n == 0)
		return NULL;
	if (n > 63)
		return "must be no more than 63 characters";
	if (!is_qualified_name_part(value, n))
		return "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
	return NULL;
}

_public_ const char *policy_dns_label_invalid(const char *name)
{
	size_t n;

	if (!name || !*name)
		return "must be non-empty";
	n = strlen(name);
	if (n > 63)
		return "must be no more than 63 characters";
	if (!is_dns_label(name, n))
		return "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
	return NULL;
}

_public_ const char *policy_dns_subdomain_invalid(const char *name)
{
	size_t n;

	if (!name || !*name)
		return "must be non-empty";
	n = strlen(name);
	if (n > 253)
		return "must be no more than 253 characters";
	if (!is_dns_subdomain(name, n))
		return SUBDOMAIN_MSG;
	return NULL;
}

/* ---- enums ------------------------------------------------------------------------------- */

static const char *const proto_names[_POLICY_PROTO_MAX] = {
	[POLICY_PROTO_TCP] = "TCP",
	[POLICY_PROTO_UDP] = "UDP",
	[POLICY_PROTO_SCTP] = "SCTP",
};

_public_ const char *policy_proto_to_string(enum policy_proto p)
{
	if ((unsigned)p >= _POLICY_PROTO_MAX)
		return NULL;
	return proto_names[p];
}

/* Case-sensitive, as the API server: "tcp" is not a protocol. */
_public_ int policy_proto_from_string(const char *s)
{
	if (!s)
		return -EINVAL;
	for (unsigned i = 0; i < _POLICY_PROTO_MAX; i++)
		if (streq(s, proto_names[i]))
			return (int)i;
	return -EINVAL;
}

_public_ uint8_t policy_proto_ipproto(enum policy_proto p)
{
	switch (p) {
	case POLICY_PROTO_TCP:
		return IPPROTO_TCP;
	case POLICY_PROTO_UDP:
		return IPPROTO_UDP;
	case POLICY_PROTO_SCTP:
		return IPPROTO_SCTP;
	case _POLICY_PROTO_MAX:
		break;
	}
	return 0;
}

_public_ const char *policy_dir_to_string(enum policy_dir d)
{
	switch (d) {
	case POLICY_DIR_INGRESS:
		return "ingress";
	case POLICY_DIR_EGRESS:
		return "egress";
	case _POLICY_DIR_MAX:
		break;
	}
	return NULL;
}
