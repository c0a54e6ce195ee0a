/* SPDX-License-Identifier: MIT */
#pragma once

/* The plans the nft-* tests commit: db accepts web on 5432 (one hash set per family). */
#include "testutil.h"

static const char nft_test_policy[] = "apiVersion: networking.k8s.io/v1\n"
				      "kind: NetworkPolicy\n"
				      "metadata: {name: allow-web, namespace: shop}\n"
				      "spec:\n"
				      "  podSelector: {matchLabels: {app: db}}\n"
				      "  ingress:\n"
				      "  - from: [{podSelector: {matchLabels: {app: web}}}]\n"
				      "    ports: [{port: 5432}]\n";

/* db, plus web peers: `n_web` of them (1 to 3), with addresses 10.0.0.11.. and fd00::11.. */
static inline struct policy_plan *nft_test_plan(size_t n_web)
{
	const struct test_endpoint eps[] = {
		{ "db", "shop", "app=db", "10.0.0.3,fd00::3", NULL },
		{ "web1", "shop", "app=web", "10.0.0.11,fd00::11", NULL },
		{ "web2", "shop", "app=web", "10.0.0.12,fd00::12", NULL },
		{ "web3", "shop", "app=web", "10.0.0.13,fd00::13", NULL },
	};

	return test_plan(nft_test_policy, eps, 1 + n_web, 0);
}
