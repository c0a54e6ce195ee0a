/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "testutil.h"

void test_policy_endpoint(const struct test_endpoint *e, struct policy_endpoint *pe)
{
	char buf[512];

	*pe = (struct policy_endpoint){ .name = strdup(e->name), .namespace = strdup(e->ns) };
	assert_non_null(pe->name);
	snprintf(buf, sizeof(buf), "%s", e->labels ? e->labels : "");
	for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv;
	     kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');

		assert_non_null(eq);
		*eq = 0;
		assert_int_equal(policy_labels_set(&pe->labels, kv, eq + 1), 0);
	}
	pe->addrs = calloc(8, sizeof(*pe->addrs));
	assert_non_null(pe->addrs);
	snprintf(buf, sizeof(buf), "%s", e->addrs ? e->addrs : "");
	for (char *save = NULL, *a = strtok_r(buf, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
		struct policy_addr *x = &pe->addrs[pe->n_addrs++];

		x->family = strchr(a, ':') ? AF_INET6 : AF_INET;
		assert_int_equal(inet_pton(x->family, a, x->addr), 1);
	}
	if (e->ports && *e->ports) {
		char *why = NULL;

		assert_int_equal(policy_ports_label_parse(e->ports, &pe->ports, &pe->n_ports, &why),
				 0);
	}
}

void test_policy_endpoint_done(struct policy_endpoint *pe)
{
	free(pe->name);
	free(pe->namespace);
	policy_labels_done(&pe->labels);
	free(pe->addrs);
	policy_named_ports_free(pe->ports, pe->n_ports);
	*pe = (struct policy_endpoint){ 0 };
}

struct policy_plan *test_plan(const char *text, const struct test_endpoint *eps, size_t n,
			      size_t which)
{
	struct policy_objects *objs = NULL;
	struct policy_diags diags = { 0 };
	struct policy_endpoint *pes = calloc(n + 1, sizeof(*pes));
	struct policy_endpoint **ptrs = calloc(n + 1, sizeof(*ptrs));
	struct policy_plan *plan = NULL;
	struct policy_world w;
	int r;

	assert_non_null(pes);
	assert_non_null(ptrs);
	r = policy_parse("test.yaml", text, strlen(text), &objs, &diags);
	for (size_t i = 0; r < 0 && i < diags.n; i++) {
		char *s = policy_diag_format(&diags.items[i]);

		print_error("%s\n", s);
		free(s);
	}
	assert_int_equal(r, 0);
	for (size_t i = 0; i < n; i++) {
		test_policy_endpoint(&eps[i], &pes[i]);
		ptrs[i] = &pes[i];
	}
	w = (struct policy_world){ .namespaces = objs->namespaces,
				   .n_namespaces = objs->n_namespaces,
				   .netpols = objs->netpols,
				   .n_netpols = objs->n_netpols,
				   .endpoints = ptrs,
				   .n_endpoints = n };
	assert_int_equal(policy_compile(&w, &pes[which], POLICY_DENY_DROP, &plan), 0);
	for (size_t i = 0; i < n; i++)
		test_policy_endpoint_done(&pes[i]);
	free(pes);
	free(ptrs);
	policy_objects_free(objs);
	return plan;
}
