/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "segctl.h"

#define NONE "<none>"

/* Column-aligned text tables, kubectl style: upper-case headers, three spaces between columns. */
struct table;

struct table *table_new(size_t n_cols, ...); /* n_cols header strings */
struct table *table_free(struct table *t);
/* Appends a row of n_cols strings (NULL prints as NONE). Control characters are replaced. */
int table_add(struct table *t, ...);
size_t table_rows(const struct table *t);
/* Prints every line prefixed with `indent`. */
void table_print(const struct table *t, FILE *f, const char *indent);

static inline void table_freep(struct table **t)
{
	table_free(*t);
}

/* Pretty JSON (4-space indent) or block YAML of `j`, to stdout. 0 or -errno. */
int print_json(json_t *j);
int print_yaml(json_t *j);
int print_structured(json_t *j, enum output_format f);

/* Writes `s` with control characters (other than tab) replaced by '?'. */
void print_sanitized(FILE *f, const char *s);

/* "k=v,k2=v2" sorted by key, NONE when empty or absent. NULL on OOM. */
char *format_labels(json_t *labels);
/* Array of strings joined with `sep`, NONE when empty or absent. NULL on OOM. */
char *format_strings(json_t *array, const char *sep);
/* A string member, or `fallback` when absent or not a string. */
const char *json_str(json_t *o, const char *key, const char *fallback);
/* A change's answer listing endpoints not committed yet ("not_committed": [{name, error}]):
 * one line each on stderr. The change itself is in force everywhere else. */
void print_not_committed(json_t *reply);
