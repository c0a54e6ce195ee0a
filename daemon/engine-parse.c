/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "engine-parse.h"
#include "macro.h"

/* Parsed with JSON_ALLOW_NUL, so that one bad value does not make a whole reply unreadable;
 * jstr() then refuses the strings that hold a NUL. */
#define JSON_FLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)

static const char *jstr(json_t *v)
{
	const char *s = json_string_value(v);

	return s && strlen(s) == json_string_length(v) ? s : NULL;
}

void engine_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

int engine_parse_list(const char *buf, size_t len, char ***ret, size_t *ret_n, size_t *ret_skipped,
		      const char **reterr)
{
	json_auto_t *o = NULL;
	json_error_t jerr;
	char **ids;
	size_t n = 0, skipped = 0, i;
	json_t *v;

	o = json_loadb(buf, len, JSON_FLAGS, &jerr);
	if (!json_is_array(o) || json_array_size(o) > ENGINE_MAX_CONTAINERS) {
		*reterr = o ? "not an array of at most 65536 containers" : "not JSON";
		return -EBADMSG;
	}
	ids = calloc(json_array_size(o) + 1, sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	json_array_foreach(o, i, v) {
		const char *id = jstr(json_object_get(v, "Id"));

		if (!id || policy_container_id_invalid(id)) {
			skipped++;
			continue;
		}
		ids[n] = strdup(id);
		if (!ids[n]) {
			engine_strv_free(ids);
			return -ENOMEM;
		}
		n++;
	}
	*ret = ids;
	*ret_n = n;
	*ret_skipped = skipped;
	return 0;
}

int engine_parse_event(const char *line, size_t len, char **ret_id, const char **reterr)
{
	json_auto_t *o = NULL;
	json_error_t jerr;
	const char *type, *id;
	json_t *actor;

	o = json_loadb(line, len, JSON_FLAGS, &jerr);
	if (!json_is_object(o)) {
		*reterr = o ? "not an object" : "not JSON";
		return -EBADMSG;
	}
	type = jstr(json_object_get(o, "Type"));
	if (!type)
		type = jstr(json_object_get(o, "type"));
	if (type && !streq(type, "container"))
		return 0;
	id = jstr(json_object_get(o, "id"));
	actor = json_object_get(o, "Actor");
	if (!id && json_is_object(actor))
		id = jstr(json_object_get(actor, "ID"));
	if (!id || policy_container_id_invalid(id)) {
		*reterr = "no valid container id";
		return -EBADMSG;
	}
	*ret_id = strdup(id);
	return *ret_id ? 1 : -ENOMEM;
}

bool engine_container_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || (i > 0 && strchr("_.-", s[i]))))
			return false;
	return true;
}

/* Quarantines the container: its labels are dropped, and why is kept. */
static int set_invalid(struct container_info *ci, const char *why)
{
	policy_labels_done(&ci->labels);
	free(ci->invalid);
	ci->invalid = strdup(why);
	return ci->invalid ? 0 : -ENOMEM;
}

/*
 * Labels as the engine gives them. Engines allow any string (image labels such as
 * "maintainer=A <a@b>", Compose's working_dir and config_files paths), Kubernetes selectors do
 * not: a selector can only name a valid key and valid values. So a label whose key is no label
 * key is left out (no selector can tell it is there), and one whose value is no label value
 * keeps its key with ENGINE_LABEL_UNMATCHABLE (Exists and NotIn match it, no In or equality
 * can, as with a value no selector can name). segd's own labels (segd.io/) must be right: a bad
 * one quarantines the container (ci->invalid says why), as does a malformed or oversized set.
 */
static int parse_labels(json_t *labels, struct container_info *ci)
{
	const char *k;
	json_t *v;

	ci->labels_known = true;
	if (!labels || json_is_null(labels))
		return 0;
	if (!json_is_object(labels))
		return set_invalid(ci, "engine labels are not an object");
	if (json_object_size(labels) > POLICY_MAX_LABELS)
		return set_invalid(ci, "more than 256 labels");
	json_object_foreach(labels, k, v) {
		bool ours = strncmp(k, "segd.io/", 8) == 0;
		const char *value = jstr(v), *why = NULL;

		if (!value)
			why = "not a string without NULs";
		else if (strlen(value) > ENGINE_MAX_LABEL_VALUE)
			why = "value over 4096 bytes";
		else if (policy_label_key_invalid(k))
			why = policy_label_key_invalid(k);
		/* segd.io/ports: "http=80/TCP,..." has its own syntax, checked where it is read. */
		else if (!ours && policy_label_value_invalid(value))
			why = policy_label_value_invalid(value);
		if (why && !ours) {
			ci->labels_ignored++;
			if (policy_label_key_invalid(k))
				continue;
			value = ENGINE_LABEL_UNMATCHABLE;
		} else if (why) {
			_cleanup_free_ char *msg = NULL;

			if (asprintf(&msg, "label \"%.64s\": %s", k, why) < 0)
				return -ENOMEM;
			return set_invalid(ci, msg);
		}
		if (policy_labels_set(&ci->labels, k, value) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int dup_string(json_t *o, const char *key, char **ret)
{
	const char *s = jstr(json_object_get(o, key));

	*ret = NULL;
	if (!s)
		return 0;
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

static bool finished(json_t *state, bool running)
{
	static const char *const done[] = { "exited", "stopped", "dead", "removing" };
	const char *status = jstr(json_object_get(state, "Status"));

	if (!status)
		return !running;
	for (size_t k = 0; k < ARRAY_SIZE(done); k++)
		if (streq(status, done[k]))
			return true;
	return false;
}

int engine_parse_inspect(const char *buf, size_t len, const char *id, struct container_info *ret)
{
	struct container_info ci = { 0 };
	json_auto_t *o = NULL;
	json_t *state, *config, *host, *net, *pid;
	json_error_t jerr;
	const char *name, *oid;
	int r = 0;

	o = json_loadb(buf, len, JSON_FLAGS, &jerr);
	state = json_object_get(o, "State");
	config = json_object_get(o, "Config");
	host = json_object_get(o, "HostConfig");
	net = json_object_get(o, "NetworkSettings");
	oid = jstr(json_object_get(o, "Id"));
	if (!json_is_object(o) || !json_is_object(state) || !oid || !streq(oid, id))
		return -EBADMSG;

	ci.id = strdup(id);
	if (!ci.id)
		return -ENOMEM;
	name = jstr(json_object_get(o, "Name"));
	if (name && name[0] == '/')
		name++;
	if (name && engine_container_name_valid(name) && !(ci.name = strdup(name)))
		r = -ENOMEM;
	ci.running = json_is_true(json_object_get(state, "Running")) ||
		     json_is_true(json_object_get(state, "Paused"));
	ci.finished = finished(state, ci.running);
	pid = json_object_get(state, "Pid");
	if (json_is_integer(pid) && json_integer_value(pid) > 0 &&
	    json_integer_value(pid) < CONTAINER_PID_LIMIT)
		ci.pid = (int)json_integer_value(pid);
	if (r >= 0 && json_is_object(host))
		r = dup_string(host, "NetworkMode", &ci.network_mode);
	if (r >= 0 && json_is_object(net))
		r = dup_string(net, "SandboxKey", &ci.netns_path);
	if (r >= 0)
		r = parse_labels(json_is_object(config) ? json_object_get(config, "Labels") : NULL,
				 &ci);
	if (r < 0) {
		container_info_done(&ci);
		return r;
	}
	*ret = ci;
	return 0;
}
