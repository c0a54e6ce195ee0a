/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * segd-oci-hook's command line, and what it reads besides the OCI state to decide whether a
 * container may start without isolation while segd does not answer: only the host decides
 * that, never the container. The host names such containers in segd's config file
 * (`hook-fail-open = NAME`, the same file segd reads, given to the hook with --config); the
 * name of a container is the one its engine recorded in containers/storage (Podman, CRI-O:
 * <graphroot>/overlay-containers/containers.json, next to the bundle), not anything the
 * container's own configuration or annotations say.
 */
struct hook_args {
	const char *socket;
	long timeout_ms;
	bool refuse_unenforceable;
	const char *config; /* segd's config file, or NULL: nobody fails open */
	const char *stage;  /* "createRuntime" or "poststop" */
};

#define HOOK_MAX_STORAGE_BYTES (32u * 1024 * 1024)

/* 1: run with *ret; 0: --help was printed; -EINVAL: the reason was logged. */
int hook_args_parse(int argc, char **argv, struct hook_args *ret);
/* The `hook-fail-open` names in segd's config file text; the other options are segd's and
 * skipped. -EINVAL with *reterr (caller frees) on a line that is not NAME = VALUE or a name
 * that is no container name: then nobody fails open. */
int hook_fail_open_names(const char *file, const char *text, size_t len, char ***ret, size_t *ret_n,
			 char **reterr);
/* The names containers/storage's containers.json text gives container `id`; -ENOENT when it
 * is not listed, -EBADMSG when the text is not such a file. */
int hook_storage_names(const char *text, size_t len, const char *id, char ***ret, size_t *ret_n);
/* containers.json of the storage holding `bundle` (".../overlay-containers/ID/userdata"), or
 * -ENOENT when the bundle is not laid out that way. Caller frees. */
int hook_storage_file(const char *bundle, const char *id, char **ret);
void hook_names_free(char **names, size_t n);
