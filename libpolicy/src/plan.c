/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>

#include "macro.h"
#include "policy/policy.h"

struct policy_plan *policy_plan_free(struct policy_plan *p)
{
	if (!p)
		return NULL;
	for (size_t i = 0; i < p->n_sets; i++) {
		free(p->sets[i].name);
		free(p->sets[i].elems);
	}
	free(p->sets);
	for (size_t i = 0; i < p->n_rules; i++) {
		free(p->rules[i].policy_namespace);
		free(p->rules[i].policy_name);
		free(p->rules[i].rule_name);
		free(p->rules[i].comment);
	}
	free(p->rules);
	for (size_t i = 0; i < p->n_selected_by; i++)
		free(p->selected_by[i]);
	free(p->selected_by);
	free(p->selected_types);
	free(p->endpoint);
	free(p);
	return NULL;
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && streq(a, b));
}

static bool set_equal(const struct policy_set *a, const struct policy_set *b, bool elements)
{
	if (!str_eq(a->name, b->name) || a->family != b->family || a->interval != b->interval)
		return false;
	if (!elements && !a->interval)
		return true;
	if (a->n_elems != b->n_elems)
		return false;
	return a->n_elems == 0 || memcmp(a->elems, b->elems, a->n_elems * sizeof(*a->elems)) == 0;
}

static bool rule_equal(const struct policy_plan_rule *a, const struct policy_plan_rule *b)
{
	return a->dir == b->dir && a->tier == b->tier && a->action == b->action &&
	       a->priority == b->priority && str_eq(a->rule_name, b->rule_name) &&
	       a->rule_index == b->rule_index && a->family == b->family && a->set == b->set &&
	       a->has_proto == b->has_proto && (!a->has_proto || a->proto == b->proto) &&
	       a->port_lo == b->port_lo && a->port_hi == b->port_hi &&
	       str_eq(a->policy_namespace, b->policy_namespace) &&
	       str_eq(a->policy_name, b->policy_name) && str_eq(a->comment, b->comment);
}

static bool plan_equal(const struct policy_plan *a, const struct policy_plan *b, bool elements)
{
	if (!a || !b)
		return a == b;
	if (!str_eq(a->endpoint, b->endpoint) || a->deny != b->deny || a->n_sets != b->n_sets ||
	    a->n_rules != b->n_rules || a->n_selected_by != b->n_selected_by)
		return false;
	for (enum policy_dir d = 0; d < _POLICY_DIR_MAX; d++)
		if (a->isolated[d] != b->isolated[d])
			return false;
	for (size_t i = 0; i < a->n_sets; i++)
		if (!set_equal(&a->sets[i], &b->sets[i], elements))
			return false;
	for (size_t i = 0; i < a->n_rules; i++)
		if (!rule_equal(&a->rules[i], &b->rules[i]))
			return false;
	for (size_t i = 0; i < a->n_selected_by; i++)
		if (!str_eq(a->selected_by[i], b->selected_by[i]) ||
		    a->selected_types[i] != b->selected_types[i])
			return false;
	return true;
}

bool policy_plan_equal(const struct policy_plan *a, const struct policy_plan *b)
{
	return plan_equal(a, b, true);
}

bool policy_plan_same_shape(const struct policy_plan *a, const struct policy_plan *b)
{
	return plan_equal(a, b, false);
}

static json_t *elem_to_json(const struct policy_set *s, const struct policy_set_elem *e)
{
	char buf[2 * INET6_ADDRSTRLEN + 2];

	return policy_set_elem_text(s, e, buf, sizeof(buf)) < 0 ? json_null() : json_string(buf);
}

char *policy_plan_to_json(const struct policy_plan *p)
{
	json_auto_t *root = NULL;
	json_t *sets, *rules, *pols;

	root = json_pack("{s:s, s:{s:b, s:b}, s:s}", "endpoint", p->endpoint, "isolation",
			 "ingress", p->isolated[POLICY_DIR_INGRESS], "egress",
			 p->isolated[POLICY_DIR_EGRESS], "deny",
			 p->deny == POLICY_DENY_REJECT ? "reject" : "drop");
	if (!root)
		return NULL;
	pols = json_array();
	sets = json_array();
	rules = json_array();
	if (json_object_set_new(root, "policies", pols) < 0 ||
	    json_object_set_new(root, "sets", sets) < 0 ||
	    json_object_set_new(root, "rules", rules) < 0)
		return NULL;

	for (size_t i = 0; i < p->n_selected_by; i++)
		if (json_array_append_new(pols, json_string(p->selected_by[i])) < 0)
			return NULL;

	for (size_t i = 0; i < p->n_sets; i++) {
		const struct policy_set *s = &p->sets[i];
		json_t *elems = json_array(), *o;

		for (size_t j = 0; elems && j < s->n_elems; j++)
			json_array_append_new(elems, elem_to_json(s, &s->elems[j]));
		o = json_pack("{s:s, s:s, s:s, s:o*}", "name", s->name, "family",
			      policy_family_to_string(s->family), "type",
			      s->interval ? "interval" : "hash", "elements", elems);
		if (!o || json_array_append_new(sets, o) < 0)
			return NULL;
	}

	for (size_t i = 0; i < p->n_rules; i++) {
		const struct policy_plan_rule *r = &p->rules[i];
		char ports[16] = "";
		json_t *o;

		if (r->has_proto && r->port_lo) {
			if (r->port_lo == r->port_hi)
				snprintf(ports, sizeof(ports), "%u", r->port_lo);
			else
				snprintf(ports, sizeof(ports), "%u-%u", r->port_lo, r->port_hi);
		}
		o = json_pack("{s:s, s:s++, s:I, s:s, s:o, s:o, s:o, s:s}", "direction",
			      policy_dir_to_string(r->dir), "policy",
			      r->policy_namespace ? r->policy_namespace : "cnp", "/",
			      r->policy_name, "rule", (json_int_t)r->rule_index, "family",
			      policy_family_to_string(r->family), "set",
			      r->set >= 0 ? json_string(p->sets[r->set].name) : json_null(),
			      "protocol",
			      r->has_proto ? json_string(policy_proto_to_string(r->proto))
					   : json_null(),
			      "ports", ports[0] ? json_string(ports) : json_null(), "comment",
			      r->comment);
		/* ClusterNetworkPolicy rules only: NetworkPolicy rules accept, in their own tier */
		if (o && r->tier != POLICY_TIER_NETPOL &&
		    json_object_update_new(o, json_pack("{s:s, s:I, s:s, s:o}", "tier",
							policy_tier_to_string(r->tier), "priority",
							(json_int_t)r->priority, "action",
							policy_action_to_string(r->action),
							"rule_name",
							r->rule_name ? json_string(r->rule_name)
								     : json_null())) < 0)
			return NULL;
		if (!o || json_array_append_new(rules, o) < 0)
			return NULL;
	}

	return json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
}
