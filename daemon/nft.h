/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * nftables over netlink, by concern:
 *   nft-sock.h    a NETLINK_NETFILTER socket in one namespace, and the context whose receive
 *                 buffer the sockets of one process share
 *   nft-txn.h     one transaction: a batch, committed in one sendmsg(), errors mapped back
 *   nft-table.h   table inet segd as a whole: replace or update to a plan, delete, flags
 *   nft-dump.h    read-back (nft-decode.c turns expressions into text)
 *   nft-verify.h  read-back compared with the plan segd committed
 *   nft-events.h  nf_tables change events of one namespace
 * Everything returns 0 (or a documented value) or -errno; nothing here logs.
 */
#include "nft-dump.h"
#include "nft-events.h"
#include "nft-sock.h"
#include "nft-table.h"
#include "nft-txn.h"
#include "nft-verify.h"
