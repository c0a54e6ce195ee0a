/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for what the OCI runtime hands segd-oci-hook (oci-state.c), end to end: the
 * input up to its first NUL byte is the OCI state (stdin of the hook), what follows is the
 * bundle's config.json. The hook's request made of them must be one segd then accepts
 * (hook_request_from_json, spec.c) for the same container, with the annotations' labels
 * (segd.io/labels and the other segd.io/ grammars) valid or quarantined with a reason.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "oci-state.h"
#include "spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_request(const char *body, const struct oci_state *s, const char *netns)
{
	json_error_t jerr;
	json_t *o = json_loads(body, JSON_REJECT_DUPLICATES, &jerr);
	struct hook_request h = { 0 };
	struct op_error err = { 0 };
	int r;

	if (!o)
		abort(); /* the hook sends JSON */
	/* segd refuses only for memory: the hook checked the id and pid already */
	r = hook_request_from_json(o, &h, &err);
	if (r < 0) {
		if (r != -ENOMEM)
			abort();
	} else {
		if (strcmp(h.id, s->id) != 0 || h.pid != s->pid ||
		    (netns ? !h.netns || strcmp(h.netns, netns) : h.netns != NULL))
			abort();
		if (h.labels_invalid && h.labels.n)
			abort();
		if (!h.labels_known && (h.labels.n || h.labels_invalid))
			abort();
		if (h.labels.n > POLICY_MAX_LABELS)
			abort();
		for (size_t i = 0; i < h.labels.n; i++)
			if (policy_label_key_invalid(h.labels.items[i].key) ||
			    policy_label_value_invalid(h.labels.items[i].value))
				abort();
		hook_request_done(&h);
	}
	op_error_done(&err);
	json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t state_len = nul ? (size_t)(nul - data) : size;
	json_t *state, *config = NULL;
	struct oci_state s;
	const char *netns = NULL;
	json_error_t jerr;
	char *body;

	/* as segd-oci-hook's main() reads stdin */
	state = json_loadb((const char *)data, state_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(state))
		goto out;
	if (oci_state_parse(state, &s, &jerr) < 0) {
		if (!jerr.text[0])
			abort(); /* the log says why */
		goto out;
	}
	if (policy_container_id_invalid(s.id) || s.pid < 0 || s.pid >= 4194304)
		abort();
	if (nul) {
		config = json_loadb((const char *)nul + 1, size - state_len - 1, 0, &jerr);
		netns = oci_config_netns(config, &s);
	}
	body = oci_hook_request(&s, netns);
	if (body) {
		check_request(body, &s, netns);
		free(body);
	}
out:
	json_decref(config);
	json_decref(state);
	return 0;
}
