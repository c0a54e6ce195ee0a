/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/*
 * Where a value lies in a JSON text, for messages that name file:line:column (jansson keeps
 * no positions once it has parsed). The text must be one that jansson accepted: this only
 * walks it, validating nothing, and never reads past len.
 */

/* One step of a path: an object's key (key != NULL) or an array's index. */
struct json_step {
	const char *key;
	size_t index;
};

#define JSON_POS_NONE ((size_t)-1)

/* The byte offset of the value at path under the value at `from` (an offset into text), or
 * JSON_POS_NONE when the path is not there. Keys are compared as written (no escapes). */
size_t json_pos_find(const char *text, size_t len, size_t from, const struct json_step *path,
		     size_t n);
/* One past the end of the value that starts at off. */
size_t json_pos_value_end(const char *text, size_t len, size_t off);
/* The 1-based line and column (in bytes) of offset off. */
void json_pos_line_col(const char *text, size_t len, size_t off, unsigned *ret_line,
		       unsigned *ret_column);
