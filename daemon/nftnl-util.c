/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <string.h>

#include <libnftnl/udata.h>

#include "nftnl-util.h"

char *nftnl_rule_comment(const struct nftnl_rule *rule)
{
	const uint8_t *p, *end, *comment = NULL;
	uint8_t comment_len = 0;
	uint32_t len = 0;

	if (!nftnl_rule_is_set(rule, NFTNL_RULE_USERDATA))
		return NULL;
	p = nftnl_rule_get_data(rule, NFTNL_RULE_USERDATA, &len);
	if (!p)
		return NULL;
	/* TLVs of {type, len, value[len]}, read here rather than with nftnl_udata_parse(), which
	 * (libnftnl 1.2.4) hands out one that runs past the end (found by fuzz-nft). One that does
	 * is no comment. */
	for (end = p + len; end - p >= 2; p += 2 + p[1]) {
		if (p[1] > end - p - 2)
			return NULL;
		if (p[0] == NFTNL_UDATA_RULE_COMMENT) {
			comment = p + 2;
			comment_len = p[1];
		}
	}
	return comment ? strndup((const char *)comment, comment_len) : NULL;
}
