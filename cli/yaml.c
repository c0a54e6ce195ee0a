/* SPDX-License-Identifier: MIT */
/* JSON values as block YAML through libyaml's emitter (it picks quoting and escaping). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <yaml.h>

#include "print.h"

/*
 * Would a YAML reader (1.1 or 1.2 core schema) take this plain scalar for something other than
 * a string? Then it must be quoted: "80", "true", "no", "~", "1e3", "2024-01-01", "".
 */
static bool needs_quotes(const char *s)
{
	static const char *const words[] = {
		"null", "~", "true", "false", "yes",   "no",	"on",
		"off",	"y", "n",    ".inf",  "-.inf", "+.inf", ".nan",
	};
	const char *t;
	char *end;

	if (!*s)
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(words); i++)
		if (strcasecmp(s, words[i]) == 0)
			return true;
	errno = 0;
	(void)strtod(s, &end);
	if (!*end)
		return true;
	/* YAML 1.1 ints and floats strtod() does not know: 1_000, 0o17, 0b101, 190:20:30. */
	t = s + (*s == '-' || *s == '+');
	if ((t[0] == '0' && strchr("oObB", t[1]) && t[2]) ||
	    (isdigit((unsigned char)t[0]) && strspn(t, "0123456789_.:") == strlen(t) &&
	     strpbrk(t, "_:")))
		return true;
	/* Timestamps: 2001-12-14, 2001-12-14t21:59:43.10-05:00 */
	if (strspn(s, "0123456789") == 4 && s[4] == '-' && isdigit((unsigned char)s[5]))
		return true;
	return false;
}

static int emit(yaml_emitter_t *e, yaml_event_t *ev)
{
	return yaml_emitter_emit(e, ev) ? 0 : -EIO;
}

static int emit_scalar(yaml_emitter_t *e, const char *s, bool plain)
{
	yaml_event_t ev;

	if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), plain,
					  !plain, YAML_ANY_SCALAR_STYLE))
		return -ENOMEM;
	return emit(e, &ev);
}

static int emit_value(yaml_emitter_t *e, json_t *j, unsigned depth)
{
	yaml_event_t ev;
	const char *k;
	json_t *v;
	size_t i;
	int r;

	/* jansson refuses to build deeper trees than this when decoding anyway. */
	if (depth > 2048)
		return -ELOOP;

	switch (json_typeof(j)) {
	case JSON_OBJECT:
		if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
							 YAML_BLOCK_MAPPING_STYLE))
			return -ENOMEM;
		r = emit(e, &ev);
		if (r < 0)
			return r;
		json_object_foreach(j, k, v) {
			r = emit_scalar(e, k, !needs_quotes(k));
			if (r < 0)
				return r;
			r = emit_value(e, v, depth + 1);
			if (r < 0)
				return r;
		}
		if (!yaml_mapping_end_event_initialize(&ev))
			return -ENOMEM;
		return emit(e, &ev);
	case JSON_ARRAY:
		if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
							  YAML_BLOCK_SEQUENCE_STYLE))
			return -ENOMEM;
		r = emit(e, &ev);
		if (r < 0)
			return r;
		json_array_foreach(j, i, v) {
			r = emit_value(e, v, depth + 1);
			if (r < 0)
				return r;
		}
		if (!yaml_sequence_end_event_initialize(&ev))
			return -ENOMEM;
		return emit(e, &ev);
	case JSON_STRING:
		return emit_scalar(e, json_string_value(j), !needs_quotes(json_string_value(j)));
	case JSON_INTEGER:
	case JSON_REAL:
	case JSON_TRUE:
	case JSON_FALSE:
	case JSON_NULL: {
		/* jansson's own text for numbers and literals is valid YAML as it stands. */
		_cleanup_free_ char *s = json_dumps(j, JSON_ENCODE_ANY);

		if (!s)
			return -ENOMEM;
		return emit_scalar(e, s, true);
	}
	}
	return -EINVAL;
}

static int emit_document(yaml_emitter_t *e, json_t *j)
{
	yaml_event_t ev;
	int r;

	if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING))
		return -ENOMEM;
	r = emit(e, &ev);
	if (r < 0)
		return r;
	if (!yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1))
		return -ENOMEM;
	r = emit(e, &ev);
	if (r < 0)
		return r;
	r = emit_value(e, j, 0);
	if (r < 0)
		return r;
	if (!yaml_document_end_event_initialize(&ev, 1))
		return -ENOMEM;
	r = emit(e, &ev);
	if (r < 0)
		return r;
	if (!yaml_stream_end_event_initialize(&ev))
		return -ENOMEM;
	return emit(e, &ev);
}

int print_yaml(json_t *j)
{
	yaml_emitter_t e;
	int r;

	if (!yaml_emitter_initialize(&e))
		return -ENOMEM;
	yaml_emitter_set_output_file(&e, stdout);
	yaml_emitter_set_unicode(&e, 1);
	yaml_emitter_set_width(&e, -1);

	r = emit_document(&e, j);
	if (r < 0 && e.error != YAML_NO_ERROR)
		fprintf(stderr, "segctl: cannot write YAML: %s\n",
			e.problem ? e.problem : "emitter error");
	yaml_emitter_delete(&e);
	return r;
}
