/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>

#include "segctl.h"

/*
 * Tests every pair of the matrix reply (GET /v1/matrix) with real packets from inside each
 * source's network namespace, the namespaces and addresses taken from `endpoints` (GET
 * /v1/endpoints). Root only. *ret: {"pairs": [{from, to, port, allowed: bool or null when a
 * UDP service of the endpoint's own holds the port}], "disagreements": [{from, to, port, plan,
 * probe}], "skipped": [{port, reason}]}.
 */
int matrix_probe(json_t *matrix, json_t *endpoints, int timeout_ms, json_t **ret);
