/* SPDX-License-Identifier: MIT */
#pragma once

/* Plans for tests, compiled by libpolicy from policy text (the daemon never builds plans by
 * hand, so neither do its tests). */
#include "policy/policy.h"

/* The policy most tests apply: in namespace shop, app=db accepts app=api on TCP 5432. */
#define TEST_POLICY_DB_FROM_API                                  \
	"apiVersion: networking.k8s.io/v1\n"                     \
	"kind: NetworkPolicy\n"                                  \
	"metadata: {name: db-from-api, namespace: shop}\n"       \
	"spec:\n"                                                \
	"  podSelector: {matchLabels: {app: db}}\n"              \
	"  ingress:\n"                                           \
	"  - from: [{podSelector: {matchLabels: {app: api}}}]\n" \
	"    ports: [{port: 5432}]\n"

/* An endpoint of a test world: "name", "ns", labels "k=v,k=v", addresses "10.0.0.1,fd00::1",
 * named ports "http=80/TCP,..." (NULL for none). */
struct test_endpoint {
	const char *name;
	const char *ns;
	const char *labels;
	const char *addrs;
	const char *ports;
};

/* Parses YAML/JSON policy text, builds the world from eps[0..n) and compiles endpoint
 * `which`'s plan (deny: drop). Fails the test on any error. */
struct policy_plan *test_plan(const char *policy_text, const struct test_endpoint *eps, size_t n,
			      size_t which);
/* Fills pe from e (the caller frees with test_policy_endpoint_done). */
void test_policy_endpoint(const struct test_endpoint *e, struct policy_endpoint *pe);
void test_policy_endpoint_done(struct policy_endpoint *pe);
