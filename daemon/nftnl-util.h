/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What the nft-* modules share about libmnl and libnftnl: _cleanup_ helpers (their destructors
 * are not NULL-safe) and reading a rule's comment (nft's userdata TLV).
 */
#include <stdio.h> /* libnftnl/expr.h needs it first */

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "macro.h"

DEFINE_CLEANUP(struct mnl_socket *, mnl_socket_close);
DEFINE_CLEANUP(struct nftnl_batch *, nftnl_batch_free);
DEFINE_CLEANUP(struct nftnl_table *, nftnl_table_free);
DEFINE_CLEANUP(struct nftnl_chain *, nftnl_chain_free);
DEFINE_CLEANUP(struct nftnl_set *, nftnl_set_free);
DEFINE_CLEANUP(struct nftnl_rule *, nftnl_rule_free);
DEFINE_CLEANUP(struct nftnl_gen *, nftnl_gen_free);
DEFINE_CLEANUP(struct nftnl_expr_iter *, nftnl_expr_iter_destroy);

/* The rule's comment (NFTNL_UDATA_RULE_COMMENT), newly allocated, or NULL if none. */
char *nftnl_rule_comment(const struct nftnl_rule *rule);
