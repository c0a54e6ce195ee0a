/* SPDX-License-Identifier: MIT */
#include <string.h>

#include <libnftnl/udata.h>

#include "nftnl-util.h"

static int udata_comment_cb(const struct nftnl_udata *attr, void *data)
{
	const struct nftnl_udata **tb = data;

	if (nftnl_udata_type(attr) == NFTNL_UDATA_RULE_COMMENT)
		*tb = attr;
	return 0;
}

char *nftnl_rule_comment(const struct nftnl_rule *rule)
{
	const struct nftnl_udata *c = NULL;
	const void *data;
	uint32_t len = 0;

	if (!nftnl_rule_is_set(rule, NFTNL_RULE_USERDATA))
		return NULL;
	data = nftnl_rule_get_data(rule, NFTNL_RULE_USERDATA, &len);
	if (!data || nftnl_udata_parse(data, len, udata_comment_cb, &c) < 0 || !c)
		return NULL;
	return strndup(nftnl_udata_get(c), nftnl_udata_len(c));
}
