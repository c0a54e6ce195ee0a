/* SPDX-License-Identifier: MIT */
#include <stdbool.h>
#include <string.h>

#include "json-pos.h"

static size_t skip_ws(const char *t, size_t len, size_t i)
{
	while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
		i++;
	return i;
}

/* i at the opening quote: one past the closing one. */
static size_t skip_string(const char *t, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		if (t[i] == '\\')
			i++;
		else if (t[i] == '"')
			return i + 1;
	}
	return len;
}

size_t json_pos_value_end(const char *t, size_t len, size_t i)
{
	size_t depth = 0;

	if (i >= len)
		return len;
	if (t[i] == '"')
		return skip_string(t, len, i);
	if (t[i] != '{' && t[i] != '[') {
		while (i < len && !strchr(",}] \t\r\n", t[i]))
			i++;
		return i;
	}
	while (i < len) {
		if (t[i] == '"') {
			i = skip_string(t, len, i);
			continue;
		}
		if (t[i] == '{' || t[i] == '[')
			depth++;
		else if ((t[i] == '}' || t[i] == ']') && --depth == 0)
			return i + 1;
		i++;
	}
	return len;
}

/* The value of key in the object at i, or JSON_POS_NONE. */
static size_t member(const char *t, size_t len, size_t i, const char *key)
{
	size_t klen = strlen(key);

	if (i >= len || t[i] != '{')
		return JSON_POS_NONE;
	i = skip_ws(t, len, i + 1);
	while (i < len && t[i] == '"') {
		size_t k = i + 1, end = skip_string(t, len, i);
		bool match = end - k == klen + 1 && memcmp(t + k, key, klen) == 0;

		i = skip_ws(t, len, end);
		if (i >= len || t[i] != ':')
			return JSON_POS_NONE;
		i = skip_ws(t, len, i + 1);
		if (match)
			return i;
		i = skip_ws(t, len, json_pos_value_end(t, len, i));
		if (i >= len || t[i] != ',')
			return JSON_POS_NONE;
		i = skip_ws(t, len, i + 1);
	}
	return JSON_POS_NONE;
}

static size_t element(const char *t, size_t len, size_t i, size_t index)
{
	if (i >= len || t[i] != '[')
		return JSON_POS_NONE;
	i = skip_ws(t, len, i + 1);
	if (i < len && t[i] == ']')
		return JSON_POS_NONE;
	for (size_t k = 0; i < len; k++) {
		if (k == index)
			return i;
		i = skip_ws(t, len, json_pos_value_end(t, len, i));
		if (i >= len || t[i] != ',')
			return JSON_POS_NONE;
		i = skip_ws(t, len, i + 1);
	}
	return JSON_POS_NONE;
}

size_t json_pos_find(const char *text, size_t len, size_t from, const struct json_step *path,
		     size_t n)
{
	size_t i = skip_ws(text, len, from);

	for (size_t k = 0; k < n && i != JSON_POS_NONE; k++)
		i = path[k].key ? member(text, len, i, path[k].key)
				: element(text, len, i, path[k].index);
	return i != JSON_POS_NONE && i < len ? i : JSON_POS_NONE;
}

void json_pos_line_col(const char *text, size_t len, size_t off, unsigned *ret_line,
		       unsigned *ret_column)
{
	unsigned line = 1, column = 1;

	for (size_t i = 0; i < off && i < len; i++) {
		if (text[i] == '\n') {
			line++;
			column = 1;
		} else
			column++;
	}
	*ret_line = line;
	*ret_column = column;
}
