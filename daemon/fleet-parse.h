/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"

/*
 * The fleet's keys and values in etcd (docs/fleet.md), read and written: pure, and every value
 * hostile (another node, or anything else that can write to etcd, wrote it). A value that is
 * not valid is refused whole with a message naming the key and the field.
 */
#define FLEET_PREFIX "/segd/"
#define FLEET_POLICY_PREFIX FLEET_PREFIX "policy/"
#define FLEET_ENDPOINTS_PREFIX FLEET_PREFIX "endpoints/"
#define FLEET_NODES_PREFIX FLEET_PREFIX "nodes/"
#define FLEET_MEMBERS_PREFIX FLEET_PREFIX "members/"
/* Written by every change of policies (with them, in its transaction): its mod_revision is the
 * newest policy revision, deletions included, which a re-list cannot see otherwise. */
#define FLEET_REVISION_KEY FLEET_PREFIX "policy-revision"
#define FLEET_MAX_NAME 253

/* The URLs of a --store value ("etcd:URL[,URL...]"): each http:// or https://, without
 * credentials (they would be logged), at most FLEET_MAX_STORE_URLS. The caller frees the
 * array and its strings (fleet_store_urls_free). -EINVAL with *reterr. */
#define FLEET_MAX_STORE_URLS 16
int fleet_store_urls(const char *spec, char ***ret, size_t *ret_n, char **reterr);
void fleet_store_urls_free(char **urls, size_t n);

enum fleet_key_kind {
	FLEET_KEY_POLICY,   /* kind, ns (NetworkPolicy only), name */
	FLEET_KEY_ENDPOINT, /* node, name */
	FLEET_KEY_NODE,	    /* node: its status */
	FLEET_KEY_MEMBER,   /* node */
	FLEET_KEY_REVISION, /* FLEET_REVISION_KEY */
	FLEET_KEY_OTHER,    /* not segd's: ignored */
	_FLEET_KEY_KIND_MAX,
};

struct fleet_key {
	enum fleet_key_kind kind;
	char kind_name[32]; /* FLEET_KEY_POLICY: Namespace, NetworkPolicy, ... */
	char ns[FLEET_MAX_NAME + 1];
	char node[FLEET_MAX_NAME + 1];
	char name[FLEET_MAX_NAME + 1];
};

/* Splits a key; a key under the prefix whose parts are not valid names is FLEET_KEY_OTHER. */
void fleet_key_parse(const char *key, struct fleet_key *ret);
/* The key of a policy object (ns NULL but for NetworkPolicy), of an endpoint, of a node's
 * status or member entry. NULL on ENOMEM. */
char *fleet_policy_key(const char *kind, const char *ns, const char *name);
char *fleet_endpoint_key(const char *node, const char *name);
char *fleet_node_key(const char *node);
char *fleet_member_key(const char *node);

/* {"node": origin, "object": OBJECT}: object_json is the object's JSON text. */
char *fleet_policy_format(const char *object_json, const char *origin);
/* The object's text (for policy_parse) and the node that wrote it. -EBADMSG with *reterr. */
int fleet_policy_parse(const char *text, size_t len, char **ret_object, char **ret_origin,
		       char **reterr);

/* {"name", "namespace", "labels": {..}, "addresses": [".."], "ports": ["NAME=PORT/PROTO"],
 * "node"} */
char *fleet_endpoint_format(const struct policy_endpoint *pe, const char *node);
/* The endpoint `name` of `node` (both from its key, which the value must match): validated as
 * an endpoint registered here is (labels, named ports, at most POLICY_MAX_ENDPOINT_ADDRS
 * addresses, sorted and unique). -EBADMSG with *reterr. */
int fleet_endpoint_parse(const char *text, size_t len, const char *node, const char *name,
			 struct policy_endpoint *ret, char **reterr);
void fleet_endpoint_done(struct policy_endpoint *pe);

struct fleet_status {
	int64_t enforced_revision;
	int64_t endpoints;
	int64_t heartbeat; /* unix seconds */
	int64_t started;
	int64_t not_committed;
};

char *fleet_status_format(const char *node, const struct fleet_status *st);
int fleet_status_parse(const char *text, size_t len, const char *node, struct fleet_status *ret,
		       char **reterr);
char *fleet_member_format(const char *node, int64_t joined);
