/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/*
 * Named file descriptors: name -> fd, one fd per name. The fd store's holder keeps what it
 * holds in one, and a client what it was handed back. Names are byte strings of 1 to 255 bytes
 * (the caller validates them: fdstore_proto_name_valid); they are copied. An entry may have
 * no fd (-1): a name the client knows is in the store, with nothing left to hand out.
 *
 * The table owns its fds: replacing or removing an entry, and freeing the table, closes them.
 * Entries sit in a dense array (indexes 0 .. size-1, for iteration; removing one moves the last
 * entry into its place), found through an open-addressing hash index. Nothing here logs.
 */

struct fdtable;

int fdtable_new(struct fdtable **ret);
struct fdtable *fdtable_free(struct fdtable *t);
size_t fdtable_size(const struct fdtable *t);
/* Closes every fd and forgets every name. */
void fdtable_clear(struct fdtable *t);

/* Index of the entry named name[0..len), or -ENOENT. */
int fdtable_find(const struct fdtable *t, const char *name, size_t len);
/* Sets name to fd (may be -1). On success the table owns fd and the fd the entry had before is
 * closed; on failure (-ENOMEM, -EINVAL for an empty or over-long name) fd is still the
 * caller's. 1 if the name is new, 0 if it replaced an entry. */
int fdtable_set(struct fdtable *t, const char *name, size_t len, int fd);
/* Hands the entry's fd to the caller (the entry stays, with fd -1). -ENOENT if there is no such
 * entry or it has no fd. */
int fdtable_take(struct fdtable *t, const char *name, size_t len, int *ret_fd);
/* Forgets the entry and closes its fd; -ENOENT if there is none. */
int fdtable_remove(struct fdtable *t, const char *name, size_t len);

/* Entry i (< fdtable_size): its NUL-terminated name (and length) and its fd (-1: none). */
const char *fdtable_name(const struct fdtable *t, size_t i, size_t *ret_len);
int fdtable_fd(const struct fdtable *t, size_t i);
