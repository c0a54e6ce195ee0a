/* SPDX-License-Identifier: MIT */
#include <stdbool.h>
#include <stddef.h>

#include "policy/policy.h"
#include "macro.h"

/* The length of the sequence at p (at most n bytes left), 0 if it is not well-formed. The
 * second byte's range excludes overlong forms (E0, F0), surrogates (ED) and > U+10FFFF (F4). */
static size_t sequence(const unsigned char *p, size_t n)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t k;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		k = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		k = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		k = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < k || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < k; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return k;
}

_public_ bool policy_utf8_valid(const char *s, size_t len, size_t *ret_offset)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < len;) {
		size_t k = sequence(p + i, len - i);

		if (k == 0) {
			if (ret_offset)
				*ret_offset = i;
			return false;
		}
		i += k;
	}
	return true;
}
