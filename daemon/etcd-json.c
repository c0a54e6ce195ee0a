/* SPDX-License-Identifier: MIT */
/* The bodies of etcd's gateway requests, and a range's pages put together: pure. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "etcd-parse.h"
#include "macro.h"

/* A JSON request body; -ENOMEM when it cannot be made. */
int etcd_json_dump(json_t *o, char **ret)
{
	*ret = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return *ret ? 0 : -ENOMEM;
}

json_t *etcd_json_b64(const void *data, size_t n)
{
	char *s = etcd_b64_encode(data, n);
	json_t *j = s ? json_string(s) : NULL;

	free(s);
	return j;
}

json_t *etcd_json_int64(int64_t v)
{
	char s[32];

	snprintf(s, sizeof(s), "%" PRId64, v);
	return json_string(s);
}

bool etcd_key_valid(const char *key, bool empty_ok)
{
	size_t n = key ? strnlen(key, ETCD_MAX_KEY + 1) : 0;

	return key && n <= ETCD_MAX_KEY && (empty_ok || n > 0);
}

/* {"key":..,"range_end":..} of every key starting with prefix ("" is every key). */
json_t *etcd_json_prefix(const char *prefix)
{
	_cleanup_free_ char *end = NULL;
	size_t n;

	if (etcd_prefix_end(prefix, &end, &n) < 0)
		return NULL;
	return json_pack("{s:o, s:o}", "key",
			 *prefix ? etcd_json_b64(prefix, strlen(prefix)) : etcd_json_b64("", 1),
			 "range_end", etcd_json_b64(end, n));
}

/* Appends n kvs (taken, with their array) to *all. */
int etcd_kvs_append(struct etcd_kv **all, size_t *n_all, struct etcd_kv *kvs, size_t n)
{
	struct etcd_kv *v;

	if (*n_all + n > ETCD_MAX_RANGE_KEYS) {
		etcd_kvs_free(kvs, n);
		return -E2BIG;
	}
	v = reallocarray(*all, *n_all + n + 1, sizeof(*v));
	if (!v) {
		etcd_kvs_free(kvs, n);
		return -ENOMEM;
	}
	if (n)
		memcpy(v + *n_all, kvs, n * sizeof(*kvs));
	free(kvs);
	*all = v;
	*n_all += n;
	return 0;
}

json_t *etcd_json_op(const struct etcd_op *op)
{
	switch (op->type) {
	case ETCD_OP_PUT:
		return json_pack("{s:{s:o, s:o, s:o}}", "request_put", "key",
				 etcd_json_b64(op->key, strlen(op->key)), "value",
				 etcd_json_b64(op->value ? op->value : "", op->value_len), "lease",
				 etcd_json_int64(op->lease));
	case ETCD_OP_DELETE:
		return json_pack("{s:{s:o}}", "request_delete_range", "key",
				 etcd_json_b64(op->key, strlen(op->key)));
	case ETCD_OP_DELETE_PREFIX:
		return json_pack("{s:o}", "request_delete_range", etcd_json_prefix(op->key));
	}
	return NULL;
}
