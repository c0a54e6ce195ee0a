/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Creates every missing parent directory of `path` (mode 0755, or `parent_mode` for the
 * last one), like mkdir -p of dirname(path). 0 or -errno. */
int mkdir_parents(const char *path, mode_t parent_mode);

/* The current UTC time as "YYYY-MM-DDTHH:MM:SS" + "." and `decimals` (0, 3 or 6) digits + "Z".
 * 0, or -EINVAL when it does not fit `size`. */
int format_utc_now(char *buf, size_t size, unsigned decimals);

/* "name" in the directory of `path` ("/run/segd/segd.sock", "audit.sock" ->
 * "/run/segd/audit.sock"; a path without '/' gives "name"). NULL on OOM. */
char *path_sibling(const char *path, const char *name);

/* The read-only API socket when none is named: "audit.sock" next to the main one. segd and
 * segctl agree on it. */
#define API_AUDIT_SOCKET_NAME "audit.sock"
