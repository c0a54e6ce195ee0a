/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include <jansson.h>

#include "policy/policy.h"

/* libpolicy's objects as JSON values (libpolicy itself hands out text: no jansson in its API). */

/* Parses text (taking it: it is freed); NULL for NULL or on error. */
json_t *json_take_text(char *text);
json_t *json_labels(const struct policy_labels *l);
json_t *json_addr(const struct policy_addr *a); /* "10.0.0.1"; null if unprintable */
json_t *json_addrs(const struct policy_addr *a, size_t n);
/* [{"name", "port", "protocol"}] */
json_t *json_named_ports(const struct policy_named_port *p, size_t n);
json_t *json_l4(const struct policy_l4 *p); /* "80/TCP" */
