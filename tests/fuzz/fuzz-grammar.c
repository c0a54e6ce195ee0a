/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for segd's own grammars (grammar.c, and the port lists of explain.c): each
 * parser gets a NUL-terminated copy of the input, and what it accepts must pass the checks
 * the rest of segd relies on (valid names and labels, ports 1-65535, no duplicates, limits).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_ports(const struct policy_named_port *p, size_t n)
{
	if (n > POLICY_MAX_ENDPOINT_PORTS)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (policy_port_name_invalid(p[i].name) || p[i].port == 0 ||
		    (unsigned)p[i].proto >= _POLICY_PROTO_MAX)
			abort();
		for (size_t k = 0; k < i; k++)
			if (strcmp(p[i].name, p[k].name) == 0)
				abort();
	}
}

static void fuzz_named_ports(const char *s)
{
	struct policy_named_port *ports = NULL, np = { 0 };
	size_t n = 0;
	char *err = NULL;

	if (policy_ports_label_parse(s, &ports, &n, &err) == 0) {
		if (err)
			abort();
		check_ports(ports, n);
		policy_named_ports_free(ports, n);
	} else if (!err) {
		abort(); /* a refusal always says why (or is -ENOMEM) */
	}
	free(err);
	err = NULL;
	if (policy_named_port_parse(s, &np, &err) == 0) {
		check_ports(&np, 1);
		free(np.name);
	}
	free(err);
}

static void fuzz_labels(const char *s)
{
	struct policy_labels l = { 0 };
	char *err = NULL;

	if (policy_labels_annotation_parse(s, &l, &err) == 0) {
		if (l.n > POLICY_MAX_LABELS)
			abort();
		for (size_t i = 0; i < l.n; i++) {
			if (policy_label_key_invalid(l.items[i].key) ||
			    policy_label_value_invalid(l.items[i].value))
				abort();
			if (i > 0 && strcmp(l.items[i - 1].key, l.items[i].key) >= 0)
				abort(); /* sorted, unique */
		}
		policy_labels_done(&l);
	}
	free(err);
}

static void fuzz_ports(const char *s)
{
	struct policy_l4 ports[8];
	enum policy_proto proto;
	uint16_t port;
	size_t n = 0;

	if (policy_port_spec_parse(s, &port, &proto) == 0 &&
	    (port == 0 || (unsigned)proto >= _POLICY_PROTO_MAX))
		abort();
	if (policy_l4_list_parse(s, ports, 8, &n) == 0) {
		if (n > 8)
			abort();
		for (size_t i = 0; i < n; i++) {
			if (ports[i].port == 0)
				abort();
			for (size_t k = 0; k < i; k++)
				if (ports[i].port == ports[k].port &&
				    ports[i].proto == ports[k].proto)
					abort();
		}
		policy_l4_sort(ports, n);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	fuzz_named_ports(s);
	fuzz_labels(s);
	fuzz_ports(s);
	(void)policy_port_name_invalid(s);
	(void)policy_container_id_invalid(s);
	(void)policy_netns_name_invalid(s);
	free(s);
	return 0;
}
