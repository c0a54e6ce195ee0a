/* SPDX-License-Identifier: MIT */
/* Brute-force reference compiler for benchmark (a): the correctness oracle of policy_compile(). */
#pragma once
#include "policy/policy.h"

int ref_compile(const struct policy_world *w, const struct policy_endpoint *ep,
		enum policy_deny_action deny, struct policy_plan **ret);
