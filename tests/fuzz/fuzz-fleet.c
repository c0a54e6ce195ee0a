/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the fleet's keys and values (fleet-parse.c), which any writer of the
 * etcd store controls: the input is a key, a --store value, and an endpoint, status and policy
 * value (the endpoint's node and name from its first bytes). Whatever is accepted is in its
 * bounds and formats back to a value that parses to the same thing.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleet-parse.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const nodes[] = { "n1", "n2", "node-2.dc1" };
static const char *const names[] = { "web-1", "db", "My_Container.2" };

static void check_key(const char *s)
{
	struct fleet_key k;

	fleet_key_parse(s, &k);
	switch (k.kind) {
	case FLEET_KEY_POLICY: {
		char *again = fleet_policy_key(k.kind_name, k.ns[0] ? k.ns : NULL, k.name);

		/* the key is exactly the one its parts make */
		if (!again || strcmp(again, s) != 0)
			abort();
		free(again);
		break;
	}
	case FLEET_KEY_ENDPOINT:
	case FLEET_KEY_NODE:
	case FLEET_KEY_MEMBER: {
		char *again = k.kind == FLEET_KEY_ENDPOINT ? fleet_endpoint_key(k.node, k.name)
			      : k.kind == FLEET_KEY_NODE   ? fleet_node_key(k.node)
							   : fleet_member_key(k.node);

		if (!again || strcmp(again, s) != 0)
			abort();
		free(again);
		break;
	}
	case FLEET_KEY_REVISION:
		if (strcmp(s, FLEET_REVISION_KEY) != 0)
			abort();
		break;
	case FLEET_KEY_OTHER:
		break;
	default:
		abort();
	}
}

static void check_urls(const char *s)
{
	char **urls = NULL, *err = NULL;
	size_t n = 0;
	int r = fleet_store_urls(s, &urls, &n, &err);

	if (r == 0) {
		if (n == 0 || n > FLEET_MAX_STORE_URLS || err)
			abort();
		for (size_t i = 0; i < n; i++)
			if (strchr(urls[i], '@') || strchr(urls[i], ',') || strchr(urls[i], ' '))
				abort();
		fleet_store_urls_free(urls, n);
	} else if (r == -EINVAL && !err) {
		abort(); /* a refusal says why */
	}
	free(err);
}

static void check_endpoint(const char *text, size_t len, const char *node, const char *name)
{
	struct policy_endpoint pe = { 0 }, again = { 0 };
	char *err = NULL, *out;
	int r = fleet_endpoint_parse(text, len, node, name, &pe, &err);

	if (r == -EBADMSG && !err)
		abort();
	free(err);
	if (r < 0)
		return;
	if (strcmp(pe.name, name) != 0 || pe.n_addrs > POLICY_MAX_ENDPOINT_ADDRS)
		abort();
	for (size_t i = 1; i < pe.n_addrs; i++)
		if (memcmp(&pe.addrs[i - 1], &pe.addrs[i], sizeof(pe.addrs[i])) >= 0)
			abort(); /* sorted, unique */
	/* what this node would publish of it, read back, is the same */
	out = fleet_endpoint_format(&pe, node);
	if (!out || fleet_endpoint_parse(out, strlen(out), node, name, &again, NULL) != 0)
		abort();
	if (strcmp(pe.namespace, again.namespace) != 0 || pe.n_addrs != again.n_addrs ||
	    pe.n_ports != again.n_ports || pe.labels.n != again.labels.n ||
	    (pe.n_addrs && memcmp(pe.addrs, again.addrs, pe.n_addrs * sizeof(*pe.addrs)) != 0))
		abort();
	free(out);
	fleet_endpoint_done(&again);
	fleet_endpoint_done(&pe);
}

static void check_status(const char *text, size_t len)
{
	struct fleet_status st, again;
	char *err = NULL, *out;
	int r = fleet_status_parse(text, len, "n1", &st, &err);

	if (r == -EBADMSG && !err)
		abort();
	free(err);
	if (r < 0)
		return;
	if (st.enforced_revision < 0 || st.endpoints < 0 || st.heartbeat < 0 || st.started < 0 ||
	    st.not_committed < 0)
		abort();
	out = fleet_status_format("n1", &st);
	if (!out || fleet_status_parse(out, strlen(out), "n1", &again, NULL) != 0 ||
	    memcmp(&st, &again, sizeof(st)) != 0)
		abort();
	free(out);
}

static void check_policy(const char *text, size_t len)
{
	char *obj = NULL, *origin = NULL, *err = NULL, *out, *obj2 = NULL, *origin2 = NULL;
	int r = fleet_policy_parse(text, len, &obj, &origin, &err);

	if (r == -EBADMSG && !err)
		abort();
	free(err);
	if (r < 0)
		return;
	out = fleet_policy_format(obj, origin);
	if (!out || fleet_policy_parse(out, strlen(out), &obj2, &origin2, NULL) != 0 ||
	    strcmp(origin, origin2) != 0)
		abort();
	free(out);
	free(obj);
	free(origin);
	free(obj2);
	free(origin2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size > 1 << 16)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	/* as a C string: keys and --store values (up to the first NUL) */
	check_key(s);
	check_urls(s);
	/* as a value of `len` bytes (NULs included): the endpoint's key from the first byte */
	if (size >= 1)
		check_endpoint(s + 1, size - 1, nodes[data[0] % ARRAY_SIZE(nodes)],
			       names[(data[0] / ARRAY_SIZE(nodes)) % ARRAY_SIZE(names)]);
	check_status(s, size);
	check_policy(s, size);
	free(s);
	return 0;
}
