/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * segd's hooks in an OCI bundle's config.json, for runtimes that do not read OCI hooks.d
 * (Docker through segd-runc): a `hooks.createRuntime` and a `hooks.poststop` entry that run
 * segd-oci-hook, appended after the hooks already there, which stay untouched (Docker puts its
 * libnetwork `prestart` hook there). Pure: text in, text out.
 *
 * Every other field and the order of keys survive; so do integers beyond jansson's int64
 * (Docker writes RLIM_INFINITY as 18446744073709551615 for `--ulimit memlock=-1`): they are
 * carried through as text. The config is hostile: over OCI_BUNDLE_MAX_CONFIG_BYTES, a NUL
 * byte, invalid JSON or UTF-8, duplicate keys, a root that is no object, `hooks` that is no
 * object or a stage that is no array are errors, never repaired.
 */
#define OCI_BUNDLE_MAX_CONFIG_BYTES (8u * 1024 * 1024) /* hook.c's MAX_CONFIG_BYTES */
#define OCI_BUNDLE_MAX_BIG_INTEGERS 64
#define OCI_BUNDLE_HOOK_TIMEOUT_S 30
#define OCI_BUNDLE_HOOK_MARGIN_S 10

struct oci_segd_hook {
	const char *path;   /* segd-oci-hook, absolute */
	const char *socket; /* --socket */
	const char *config; /* --config, or NULL */
	long timeout_ms;    /* --timeout-ms, or 0 */
};

/* The entries' "timeout" (seconds, runc kills the hook then): 30, or longer when the hook
 * waits for segd longer (--timeout-ms + OCI_BUNDLE_HOOK_MARGIN_S), so that it always has the
 * time to commit default-deny itself. */
int oci_bundle_hook_timeout_s(long timeout_ms);

/* The new config text in *ret (caller frees; NUL-terminated, *ret_len bytes). *ret_changed is
 * false when both of segd's entries (same path and args) were there already: then *ret is the
 * input, unchanged. -EFBIG (too large), -EBADMSG (not such a config), -EINVAL (a hook field
 * that is no valid string), -ENOMEM; with *reterr (caller frees) for the first three. */
int oci_bundle_add_hooks(const char *text, size_t len, const struct oci_segd_hook *h, char **ret,
			 size_t *ret_len, bool *ret_changed, char **reterr);
