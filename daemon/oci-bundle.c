/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "macro.h"
#include "oci-bundle.h"

/* An integer beyond int64 travels as a string value starting with BIG_MARK (0x1f cannot be
 * in a JSON string unescaped); jansson writes that string back as BIG_DUMPED + digits + '"'. */
#define BIG_MARK_JSON "\"\\u001Fsegd-int:"
#define BIG_DUMPED "\"\\u001Fsegd-int:"

_printf_(3, 4) static int fail(char **reterr, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(reterr, fmt, ap) < 0)
		*reterr = NULL;
	va_end(ap);
	return r;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* jansson refused the integer that ends at `end` (json_error_t.position) as beyond int64:
 * rewrites it, in place in *buf, as a string value that carries its digits. Only a whole
 * integer token is rewritten: digits, after an optional '-', between JSON separators. */
static int quote_big_integer(char **buf, size_t *len, size_t end)
{
	size_t start = end, add = strlen(BIG_MARK_JSON) + 1;
	char *b = *buf, *n;

	if (end > *len)
		return -EBADMSG;
	while (start > 0 && is_digit(b[start - 1]))
		start--;
	if (start == end)
		return -EBADMSG;
	if (start > 0 && b[start - 1] == '-')
		start--;
	if (start > 0 && !strchr(" \t\n\r[,:", b[start - 1]))
		return -EBADMSG;
	if (end < *len && !strchr(" \t\n\r]},", b[end]))
		return -EBADMSG;
	n = malloc(*len + add + 1);
	if (!n)
		return -ENOMEM;
	memcpy(n, b, start);
	memcpy(n + start, BIG_MARK_JSON, add - 1);
	memcpy(n + start + add - 1, b + start, end - start);
	n[end + add - 1] = '"';
	memcpy(n + end + add, b + end, *len - end);
	*len += add;
	n[*len] = 0;
	free(b);
	*buf = n;
	return 0;
}

/* The dumped text with every BIG_DUMPED...'"' back to its digits. Each of the n_big strings
 * we made is there once; any other occurrence of the marker came from the input (a string
 * that looks like ours): -EBADMSG. */
static int unquote_big_integers(char *text, size_t n_big, size_t *ret_len)
{
	size_t found = 0, mlen = strlen(BIG_DUMPED);
	char *w = text;

	for (const char *p = text; (p = strstr(p, &BIG_DUMPED[1])); p++)
		found++;
	if (found != n_big)
		return -EBADMSG;
	for (const char *r = text; *r;) {
		if (!strncmp(r, BIG_DUMPED, mlen)) {
			r += mlen;
			while (*r == '-' || is_digit(*r))
				*w++ = *r++;
			if (*r != '"')
				return -EBADMSG;
			r++;
		} else {
			*w++ = *r++;
		}
	}
	*w = 0;
	*ret_len = (size_t)(w - text);
	return 0;
}

int oci_bundle_hook_timeout_s(long timeout_ms)
{
	long s = timeout_ms / 1000 + OCI_BUNDLE_HOOK_MARGIN_S;

	return s > OCI_BUNDLE_HOOK_TIMEOUT_S ? (int)s : OCI_BUNDLE_HOOK_TIMEOUT_S;
}

/* {"path": ..., "args": ["segd-oci-hook", "--socket", S, ..., stage], "timeout": 30} */
static json_t *hook_entry(const struct oci_segd_hook *h, const char *stage)
{
	json_auto_t *e = NULL, *args = json_array();
	char ms[32];

	if (!args)
		return NULL;
	if (json_array_append_new(args, json_string("segd-oci-hook")) < 0 ||
	    json_array_append_new(args, json_string("--socket")) < 0 ||
	    json_array_append_new(args, json_string(h->socket)) < 0)
		return NULL;
	if (h->config && (json_array_append_new(args, json_string("--config")) < 0 ||
			  json_array_append_new(args, json_string(h->config)) < 0))
		return NULL;
	if (h->timeout_ms > 0) {
		snprintf(ms, sizeof(ms), "%ld", h->timeout_ms);
		if (json_array_append_new(args, json_string("--timeout-ms")) < 0 ||
		    json_array_append_new(args, json_string(ms)) < 0)
			return NULL;
	}
	if (json_array_append_new(args, json_string(stage)) < 0)
		return NULL;
	e = json_pack("{s:s,s:O,s:i}", "path", h->path, "args", args, "timeout",
		      oci_bundle_hook_timeout_s(h->timeout_ms));
	if (!e)
		return NULL;
	return TAKE_PTR(e);
}

/* Whether `stage` holds an entry with our path and args already. */
static bool hook_present(json_t *stage, json_t *entry)
{
	size_t i;
	json_t *e;

	json_array_foreach(stage, i, e)
		if (json_is_object(e) &&
		    json_equal(json_object_get(e, "path"), json_object_get(entry, "path")) &&
		    json_equal(json_object_get(e, "args"), json_object_get(entry, "args")))
			return true;
	return false;
}

/* hooks[stage] gets entry appended unless there; *changed when it was appended. */
static int add_to_stage(json_t *hooks, const char *name, json_t *entry, bool *changed,
			char **reterr)
{
	json_t *stage = json_object_get(hooks, name);

	if (!stage || json_is_null(stage)) {
		stage = json_array();
		if (!stage || json_object_set_new(hooks, name, stage) < 0)
			return -ENOMEM;
	} else if (!json_is_array(stage)) {
		return fail(reterr, -EBADMSG, "config.json: hooks.%s is not an array", name);
	}
	if (hook_present(stage, entry))
		return 0;
	if (json_array_append(stage, entry) < 0)
		return -ENOMEM;
	*changed = true;
	return 0;
}

int oci_bundle_add_hooks(const char *text, size_t len, const struct oci_segd_hook *h, char **ret,
			 size_t *ret_len, bool *ret_changed, char **reterr)
{
	static const char *const stages[] = { "createRuntime", "poststop" };
	_cleanup_free_ char *buf = NULL, *out = NULL;
	json_auto_t *root = NULL;
	json_t *hooks;
	json_error_t jerr;
	size_t n_big = 0, out_len, buf_len = len;
	bool changed = false;
	int r;

	*reterr = NULL;
	if (len > OCI_BUNDLE_MAX_CONFIG_BYTES)
		return fail(reterr, -EFBIG, "config.json: over %u bytes",
			    OCI_BUNDLE_MAX_CONFIG_BYTES);
	if (memchr(text, 0, len))
		return fail(reterr, -EBADMSG, "config.json: has a NUL byte");
	buf = strndup(text, len);
	if (!buf)
		return -ENOMEM;
	while (!(root = json_loadb(buf, buf_len, JSON_REJECT_DUPLICATES, &jerr))) {
		if (json_error_code(&jerr) != json_error_numeric_overflow || jerr.position < 0 ||
		    n_big == OCI_BUNDLE_MAX_BIG_INTEGERS)
			return fail(reterr, -EBADMSG, "config.json: line %d column %d: %s%s",
				    jerr.line, jerr.column, jerr.text,
				    n_big == OCI_BUNDLE_MAX_BIG_INTEGERS ? " (too many of them)"
									 : "");
		r = quote_big_integer(&buf, &buf_len, (size_t)jerr.position);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			return fail(reterr, -EBADMSG, "config.json: line %d column %d: %s",
				    jerr.line, jerr.column, jerr.text);
		n_big++;
	}
	if (!json_is_object(root))
		return fail(reterr, -EBADMSG, "config.json: not a JSON object");
	hooks = json_object_get(root, "hooks");
	if (!hooks || json_is_null(hooks)) {
		hooks = json_object();
		if (!hooks || json_object_set_new(root, "hooks", hooks) < 0)
			return -ENOMEM;
	} else if (!json_is_object(hooks)) {
		return fail(reterr, -EBADMSG, "config.json: hooks is not an object");
	}
	for (size_t i = 0; i < ARRAY_SIZE(stages); i++) {
		json_auto_t *entry = hook_entry(h, stages[i]);

		if (!entry)
			return fail(reterr, -EINVAL,
				    "segd's hook: path, socket or config is no "
				    "valid UTF-8 string");
		r = add_to_stage(hooks, stages[i], entry, &changed, reterr);
		if (r < 0)
			return r;
	}
	if (!changed) {
		*ret = strndup(text, len);
		if (!*ret)
			return -ENOMEM;
		*ret_len = len;
		*ret_changed = false;
		return 0;
	}
	out = json_dumps(root, JSON_COMPACT);
	if (!out)
		return -ENOMEM;
	r = unquote_big_integers(out, n_big, &out_len);
	if (r < 0)
		return fail(reterr, r, "config.json: has a string that looks like segd's own mark");
	/* segd-oci-hook reads the result with the same bound */
	if (out_len > OCI_BUNDLE_MAX_CONFIG_BYTES)
		return fail(reterr, -EFBIG, "config.json: over %u bytes with segd's hooks",
			    OCI_BUNDLE_MAX_CONFIG_BYTES);
	*ret = TAKE_PTR(out);
	*ret_len = out_len;
	*ret_changed = true;
	return 0;
}
