/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "error.h"
#include "policy/policy.h"

/*
 * The JSON bodies of endpoint and hook requests as typed, validated specs: decoded once here
 * (the API's bodies and the state dir's stored endpoints alike), each field checked by the one
 * libpolicy function for its rule. Failures are -EINVAL (or -E2BIG, -EEXIST, -ERANGE) with the
 * field named in err; -ENOMEM.
 */

/* {"name", "netns", "namespace"?, "labels"?: {k: v}, "ports"?: [{"name", "port", "protocol"?}]} */
struct endpoint_spec {
	char *name;
	char *netns;
	char *namespace; /* "default" when absent */
	struct policy_labels labels;
	struct policy_named_port *ports;
	size_t n_ports;
};

int endpoint_spec_from_json(json_t *o, struct endpoint_spec *ret, struct op_error *err);
void endpoint_spec_done(struct endpoint_spec *s);

/* {"set"?: {k: v}, "remove"?: [k]} */
struct label_change {
	struct policy_labels set;
	char **remove;
	size_t n_remove;
};

int label_change_from_json(json_t *o, struct label_change *ret, struct op_error *err);
void label_change_done(struct label_change *c);

/* createRuntime: {"id", "pid"?, "netns"?: path or null, "annotations"?: {...}} */
struct hook_request {
	char *id;
	int pid;
	char *netns;	   /* NULL: none given */
	bool labels_known; /* the annotation segd.io/labels was there */
	struct policy_labels labels;
	char *labels_invalid; /* why that annotation is unusable, or NULL */
};

int hook_request_from_json(json_t *o, struct hook_request *ret, struct op_error *err);
void hook_request_done(struct hook_request *h);
/* poststop: {"id", ...} */
int hook_id_from_json(json_t *o, char **ret, struct op_error *err);
