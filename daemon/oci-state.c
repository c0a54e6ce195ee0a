/* SPDX-License-Identifier: MIT */
/* The OCI runtime's input to segd-oci-hook, parsed (oci-state.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "oci-state.h"
#include "policy/policy.h"

int oci_state_parse(json_t *state, struct oci_state *ret, json_error_t *jerr)
{
	struct oci_state s = { 0 };

	if (json_unpack_ex(state, jerr, 0, "{s:s, s?I, s?s, s?o}", "id", &s.id, "pid", &s.pid,
			   "bundle", &s.bundle, "annotations", &s.annotations) < 0)
		return -EINVAL;
	if (policy_container_id_invalid(s.id) || s.pid < 0 ||
	    s.pid >= 4194304) { /* PID_MAX_LIMIT */
		snprintf(jerr->text, sizeof(jerr->text), "id or pid");
		return -EINVAL;
	}
	*ret = s;
	return 0;
}

const char *oci_config_netns(json_t *config, struct oci_state *s)
{
	json_t *cfg_ns = json_object_get(json_object_get(config, "linux"), "namespaces"), *ns;
	const char *netns = NULL;
	size_t i;

	json_array_foreach(cfg_ns, i, ns) {
		const char *type = json_string_value(json_object_get(ns, "type"));

		if (type && streq(type, "network"))
			netns = json_string_value(json_object_get(ns, "path"));
	}
	if (!s->annotations)
		s->annotations = json_object_get(config, "annotations");
	return netns;
}

char *oci_hook_request(const struct oci_state *s, const char *netns)
{
	json_auto_t *req =
		json_pack("{s:s, s:I, s:s?, s:O?}", "id", s->id, "pid", s->pid, "netns", netns,
			  "annotations", json_is_object(s->annotations) ? s->annotations : NULL);

	return req ? json_dumps(req, JSON_COMPACT) : NULL;
}
