/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the container engine's replies (engine-parse.c): the same bytes as a
 * container list, an event line and an inspection. What is accepted must be what segd then
 * trusts: valid container ids, valid names, pids in range, valid label keys, and values that
 * are label values or the unmatchable one (not for segd.io/ labels), none when quarantined.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The id the inspection is asked about (libFuzzer learns it from the comparison). */
#define FUZZ_ID "0123456789ab"

static void check_inspect(const struct container_info *ci)
{
	if (strcmp(ci->id, FUZZ_ID) != 0 || ci->pid < 0 || ci->pid >= 4194304 ||
	    (ci->name && !engine_container_name_valid(ci->name)) || !ci->labels_known)
		abort();
	if (ci->invalid && ci->labels.n)
		abort(); /* quarantined: no labels kept */
	if (ci->labels.n > POLICY_MAX_LABELS)
		abort();
	for (size_t i = 0; i < ci->labels.n; i++) {
		const char *k = ci->labels.items[i].key, *v = ci->labels.items[i].value;

		bool ours = strncmp(k, "segd.io/", 8) == 0;

		/* A value no selector could name is kept only as the unmatchable one, and never
		 * for segd's own labels (those quarantine instead). */
		if (policy_label_key_invalid(k) || strlen(v) > ENGINE_MAX_LABEL_VALUE ||
		    (ours && strcmp(v, ENGINE_LABEL_UNMATCHABLE) == 0) ||
		    (!ours && policy_label_value_invalid(v) && strcmp(v, ENGINE_LABEL_UNMATCHABLE)))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data, *why = NULL;
	struct container_info ci = { 0 };
	char **ids = NULL, *id = NULL;
	size_t n = 0, skipped = 0;
	int r;

	r = engine_parse_list(buf, size, &ids, &n, &skipped, &why);
	if (r == 0) {
		for (size_t i = 0; i < n; i++)
			if (!ids[i] || policy_container_id_invalid(ids[i]))
				abort();
		if (ids[n])
			abort();
		engine_strv_free(ids);
	} else if (r == -EBADMSG && !why) {
		abort();
	}
	why = NULL;
	r = engine_parse_event(buf, size, &id, &why);
	if (r == 1) {
		if (policy_container_id_invalid(id))
			abort();
		free(id);
	} else if (r == -EBADMSG && !why) {
		abort();
	}
	if (engine_parse_inspect(buf, size, FUZZ_ID, &ci) == 0) {
		check_inspect(&ci);
		container_info_done(&ci);
	}
	return 0;
}
