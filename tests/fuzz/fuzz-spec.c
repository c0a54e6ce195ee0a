/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the API's request bodies (spec.c): JSON text parsed as the API parses
 * it, then decoded as an endpoint, a label change and a hook request. A decoded spec must hold
 * only what its validators accept.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_labels(const struct policy_labels *l)
{
	if (l->n > POLICY_MAX_LABELS)
		abort();
	for (size_t i = 0; i < l->n; i++)
		if (policy_label_key_invalid(l->items[i].key) ||
		    policy_label_value_invalid(l->items[i].value))
			abort();
}

static void fuzz_endpoint(json_t *o)
{
	struct endpoint_spec s = { 0 };
	struct op_error err = { 0 };

	if (endpoint_spec_from_json(o, &s, &err) == 0) {
		if (policy_dns_label_invalid(s.name) || policy_dns_label_invalid(s.namespace) ||
		    policy_netns_name_invalid(s.netns) || s.n_ports > POLICY_MAX_ENDPOINT_PORTS)
			abort();
		check_labels(&s.labels);
		for (size_t i = 0; i < s.n_ports; i++) {
			if (policy_port_name_invalid(s.ports[i].name) || s.ports[i].port == 0)
				abort();
			for (size_t k = 0; k < i; k++)
				if (strcmp(s.ports[i].name, s.ports[k].name) == 0)
					abort();
		}
		endpoint_spec_done(&s);
	} else if (!err.message) {
		abort(); /* a refusal names its field */
	}
	op_error_done(&err);
}

static void fuzz_label_change(json_t *o)
{
	struct label_change c = { 0 };
	struct op_error err = { 0 };

	if (label_change_from_json(o, &c, &err) == 0) {
		check_labels(&c.set);
		if (c.n_remove > POLICY_MAX_LABELS)
			abort();
		label_change_done(&c);
	}
	op_error_done(&err);
}

static void fuzz_hook(json_t *o)
{
	struct hook_request h = { 0 };
	struct op_error err = { 0 };
	char *id = NULL;

	if (hook_request_from_json(o, &h, &err) == 0) {
		if (policy_container_id_invalid(h.id) || h.pid < 0)
			abort();
		if (!h.labels_known && (h.labels.n || h.labels_invalid))
			abort();
		if (h.labels_invalid && h.labels.n)
			abort(); /* unusable labels are dropped */
		check_labels(&h.labels);
		hook_request_done(&h);
	}
	op_error_done(&err);
	if (hook_id_from_json(o, &id, &err) == 0) {
		if (policy_container_id_invalid(id))
			abort();
		free(id);
	}
	op_error_done(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t jerr;
	json_t *o = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);

	if (!o)
		return 0;
	fuzz_endpoint(o);
	fuzz_label_change(o);
	fuzz_hook(o);
	json_decref(o);
	return 0;
}
