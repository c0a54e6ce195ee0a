/* SPDX-License-Identifier: MIT */
/*
 * metrics: --metrics-listen addresses (IPv4, [IPv6], bad forms, port bounds) and the
 * Prometheus exposition rendered from a struct ops whose parts are built directly: every
 * series is there, well formed, with the values the counters hold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fixture.h"
#include "metrics.h"
#include "unit.h"

static void expect_listen(const char *s, int family, const char *addr, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	char buf[INET6_ADDRSTRLEN];
	int r = metrics_parse_listen(s, &ss, &len);

	if (r != 0)
		fail_msg("metrics_parse_listen(%s) = %d", s, r);
	assert_int_equal(ss.ss_family, family);
	if (family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

		assert_int_equal(len, sizeof(struct sockaddr_in));
		assert_int_equal(ntohs(in->sin_port), port);
		assert_non_null(inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf)));
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;

		assert_int_equal(len, sizeof(struct sockaddr_in6));
		assert_int_equal(ntohs(in6->sin6_port), port);
		assert_non_null(inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf)));
	}
	assert_string_equal(buf, addr);
}

static void test_parse_listen(void **state)
{
	static const char *const bad[] = {
		"",
		"127.0.0.1",
		"127.0.0.1:",
		":9469",
		"127.0.0.1:0",
		"127.0.0.1:65536",
		"127.0.0.1:99999999999999999999999",
		"127.0.0.1:-1",
		"127.0.0.1:80x",
		"127.0.0.1:0x50",
		"localhost:9469",
		"127.0.0.256:80",
		"::1:9469",
		"[::1]",
		"[::1]9469",
		"[::1:9469",
		"[]:9469",
		"[::1]:",
		"[::1]:0",
		"[::1]:65536",
		"[fe80::1%lo]:9469",
		"[::1]:9469:1",
		"1.2.3.4:5:6",
		"[gg::1]:80",
	};
	struct sockaddr_storage ss;
	socklen_t len = 77;

	expect_listen("127.0.0.1:9469", AF_INET, "127.0.0.1", 9469);
	expect_listen("0.0.0.0:1", AF_INET, "0.0.0.0", 1);
	expect_listen("10.1.2.3:65535", AF_INET, "10.1.2.3", 65535);
	expect_listen("[::1]:9469", AF_INET6, "::1", 9469);
	expect_listen("[::]:80", AF_INET6, "::", 80);
	expect_listen("[fd00:1:2:3:4:5:6:7]:65535", AF_INET6, "fd00:1:2:3:4:5:6:7", 65535);
	expect_listen("[::ffff:10.0.0.1]:80", AF_INET6, "::ffff:10.0.0.1", 80);

	assert_int_equal(metrics_parse_listen(NULL, &ss, &len), -EINVAL);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (metrics_parse_listen(bad[i], &ss, &len) != -EINVAL)
			fail_msg("metrics_parse_listen(\"%s\") accepted", bad[i]);
	assert_int_equal(len, 77); /* untouched */
}

static void test_listen_port_digits_only(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;

	/* strtoul() would take leading spaces and a sign: the port must start with a digit */
	assert_int_equal(metrics_parse_listen("127.0.0.1:+80", &ss, &len), -EINVAL);
	assert_int_equal(metrics_parse_listen("127.0.0.1:-80", &ss, &len), -EINVAL);
	assert_int_equal(metrics_parse_listen("[::1]: 80", &ss, &len), -EINVAL);
	assert_int_equal(metrics_parse_listen("127.0.0.1:80", &ss, &len), 0);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 80);
	/* brackets are for IPv6 only, and IPv6 needs them */
	assert_int_equal(metrics_parse_listen("[127.0.0.1]:80", &ss, &len), -EINVAL);
	assert_int_equal(metrics_parse_listen("[::1]:80", &ss, &len), 0);
}

/* Everything metrics_render reads, zeroed but valid. */
struct parts {
	struct store store;
	struct registry registry;
	struct reconciler rc;
	struct drift drift;
	struct errlog errlog;
	struct flows *flows;
	struct audit *audit;
	struct ops ops;
};

static json_t *engine_up(void *userdata)
{
	return json_pack("{s:b, s:s}", "connected", *(bool *)userdata, "spec", "x");
}

static void parts_init(struct parts *p, const char *audit_path)
{
	memset(p, 0, sizeof(*p));
	assert_int_equal(flows_new(NULL, 0, &p->flows), 0);
	assert_int_equal(audit_open(audit_path, &p->audit), 0);
	p->rc.store = &p->store;
	p->rc.registry = &p->registry;
	p->rc.errlog = &p->errlog;
	p->ops = (struct ops){ .store = &p->store,
			       .registry = &p->registry,
			       .rc = &p->rc,
			       .drift = &p->drift,
			       .flows = p->flows,
			       .audit = p->audit,
			       .errlog = &p->errlog };
}

static void parts_done(struct parts *p)
{
	flows_free(p->flows);
	audit_free(p->audit);
	store_done(&p->store);
	registry_done(&p->registry);
	errlog_done(&p->errlog);
}

/* The exposition, checked for form: every sample line belongs to a family declared by
 * "# HELP" and "# TYPE" lines before it, and has a numeric value. */
static char *render(struct parts *p)
{
	char *text = NULL, *copy, *save = NULL;
	char family[128] = "";
	size_t len = 0;

	assert_int_equal(metrics_render(&p->ops, &text, &len), 0);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	assert_true(len > 0 && text[len - 1] == '\n');
	copy = strdup(text);
	assert_non_null(copy);
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[128], *end;

		if (strncmp(line, "# HELP ", 7) == 0) {
			assert_int_equal(sscanf(line + 7, "%127s", family), 1);
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			char type[32];

			assert_int_equal(sscanf(line + 7, "%127s %31s", name, type), 2);
			assert_string_equal(name, family);
			assert_true(streq(type, "gauge") || streq(type, "counter") ||
				    streq(type, "histogram"));
			continue;
		}
		assert_int_equal(sscanf(line, "%127[^ {]", name), 1);
		if (strncmp(name, family, strlen(family)) != 0)
			fail_msg("sample %s outside its family %s", line, family);
		end = NULL;
		(void)strtod(strrchr(line, ' ') + 1, &end);
		if (!end || *end)
			fail_msg("not a number: %s", line);
	}
	free(copy);
	return text;
}

static void assert_has(const char *text, const char *line)
{
	char want[256];

	snprintf(want, sizeof(want), "\n%s\n", line);
	if (!strstr(text, want))
		fail_msg("no line \"%s\" in:\n%s", line, text);
}

static void test_render_zero(void **state)
{
	struct parts p;
	char *text;

	parts_init(&p, NULL);
	text = render(&p);
	assert_true(strncmp(text, "# HELP segd_endpoints ", 22) == 0);
	assert_has(text, "# TYPE segd_endpoints gauge");
	assert_has(text, "segd_endpoints{state=\"pending\"} 0");
	assert_has(text, "segd_endpoints{state=\"enforced\"} 0");
	assert_has(text, "segd_endpoints{state=\"error\"} 0");
	assert_has(text, "segd_endpoints{state=\"unenforceable\"} 0");
	assert_has(text, "segd_endpoints_quarantined 0");
	assert_has(text, "segd_endpoints_containers 0");
	assert_has(text, "segd_networkpolicies 0");
	assert_has(text, "segd_namespaces 0");
	assert_has(text, "# TYPE segd_reconcile_duration_seconds histogram");
	assert_has(text, "segd_reconcile_duration_seconds_bucket{le=\"0.0001\"} 0");
	assert_has(text, "segd_reconcile_duration_seconds_bucket{le=\"+Inf\"} 0");
	assert_has(text, "segd_reconcile_duration_seconds_sum 0.000000");
	assert_has(text, "segd_reconcile_duration_seconds_count 0");
	assert_has(text, "# TYPE segd_reconciles_total counter");
	assert_has(text, "segd_reconciles_total 0");
	assert_has(text, "segd_namespace_commits_total 0");
	assert_has(text, "segd_namespace_commits_incremental_total 0");
	assert_has(text, "segd_plans_compiled_total 0");
	assert_has(text, "segd_netlink_messages_total 0");
	assert_has(text, "segd_netlink_bytes_total 0");
	assert_has(text, "segd_netlink_errors_total 0");
	assert_has(text, "segd_drift_detected_total 0");
	assert_has(text, "segd_drift_repairs_total 0");
	assert_has(text, "segd_netlink_event_overruns_total 0");
	assert_has(text, "# TYPE segd_flows_total counter");
	assert_has(text, "segd_flows_total{verdict=\"allowed\"} 0");
	assert_has(text, "segd_flows_total{verdict=\"denied\"} 0");
	assert_has(text, "segd_audit_records_total 0");
	assert_has(text, "segd_engine_connected 0");
	assert_has(text, "segd_start_time_seconds 0");
	free(text);
	parts_done(&p);
}

static void test_render_values(void **state)
{
	static const char *const states[] = { "pending", "enforced", "error", "unenforceable" };
	char path[256], *text, line[128];
	struct parts p;
	struct endpoint *e;
	bool connected = true;

	snprintf(path, sizeof(path), "%s/metrics-audit.jsonl", fixture_tmpdir());
	parts_init(&p, path);

	/* 1 pending, 2 enforced (one a quarantined container), 0 error, 1 unenforceable */
	e = ep_new(ENDPOINT_KIND_NETNS, "a", "x");
	assert_int_equal(registry_insert(&p.registry, e), 0);
	e = ep_new(ENDPOINT_KIND_NETNS, "b", "x");
	e->state = ENDPOINT_ENFORCED;
	assert_int_equal(registry_insert(&p.registry, e), 0);
	e = ep_new(ENDPOINT_KIND_CONTAINER, "c", "x");
	e->state = ENDPOINT_ENFORCED;
	e->quarantined = true;
	assert_int_equal(registry_insert(&p.registry, e), 0);
	e = ep_new(ENDPOINT_KIND_CONTAINER, "d", "x");
	e->state = ENDPOINT_UNENFORCEABLE;
	assert_int_equal(registry_insert(&p.registry, e), 0);
	store_load(&p.store,
		   objects_parse("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n"
				 "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
				 "metadata: {name: a, namespace: x}\nspec: {podSelector: {}}\n---\n"
				 "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
				 "metadata: {name: b, namespace: x}\nspec: {podSelector: {}}\n"));

	histogram_observe(&p.rc.duration, 0.003);
	histogram_observe(&p.rc.duration, 7.5);
	p.rc.total = (struct change_stats){ .namespaces = 11,
					    .incremental = 5,
					    .compiled = 13,
					    .batches = 2,
					    .messages = 17,
					    .bytes = 1ull << 40 };
	p.rc.commit_errors = 19;
	p.rc.index_repairs = 37;
	p.drift = (struct drift){ .detected = 23, .repairs = 29, .event_overruns = 31 };
	p.ops.engine_status = engine_up;
	p.ops.userdata = &connected;
	p.ops.started = 1700000000;
	audit_begin(p.audit, 0, getpid(), "POST", "/v1/apply", NULL);
	audit_change(p.audit, "Namespace", NULL, "x", "created", NULL, NULL);
	assert_int_equal(audit_commit(p.audit), 0);
	audit_end(p.audit);

	text = render(&p);
	for (size_t i = 0; i < ARRAY_SIZE(states); i++) {
		snprintf(line, sizeof(line), "segd_endpoints{state=\"%s\"} %d", states[i],
			 (int[]){ 1, 2, 0, 1 }[i]);
		assert_has(text, line);
	}
	assert_has(text, "segd_endpoints_quarantined 1");
	assert_has(text, "segd_endpoints_containers 2");
	assert_has(text, "segd_networkpolicies 2");
	assert_has(text, "segd_namespaces 1");
	assert_has(text, "segd_reconcile_duration_seconds_bucket{le=\"0.0025\"} 0");
	assert_has(text, "segd_reconcile_duration_seconds_bucket{le=\"0.005\"} 1");
	assert_has(text, "segd_reconcile_duration_seconds_bucket{le=\"5\"} 1");
	assert_has(text, "segd_reconcile_duration_seconds_bucket{le=\"+Inf\"} 2");
	assert_has(text, "segd_reconcile_duration_seconds_sum 7.503000");
	assert_has(text, "segd_reconcile_duration_seconds_count 2");
	assert_has(text, "segd_reconciles_total 2");
	assert_has(text, "segd_namespace_commits_total 11");
	assert_has(text, "segd_namespace_commits_incremental_total 5");
	assert_has(text, "segd_plans_compiled_total 13");
	assert_has(text, "segd_netlink_messages_total 17");
	assert_has(text, "segd_netlink_bytes_total 1099511627776");
	assert_has(text, "segd_netlink_errors_total 19");
	assert_has(text, "segd_drift_detected_total 23");
	assert_has(text, "segd_drift_repairs_total 29");
	assert_has(text, "segd_label_index_repairs_total 37");
	assert_has(text, "segd_netlink_event_overruns_total 31");
	assert_has(text, "segd_audit_records_total 1");
	assert_has(text, "segd_engine_connected 1");
	/* the buckets are cumulative and there are 15 of them, then +Inf */
	{
		const char *b = strstr(text, "segd_reconcile_duration_seconds_bucket");
		size_t n = 0;

		for (; b; b = strstr(b + 1, "segd_reconcile_duration_seconds_bucket"))
			n++;
		assert_int_equal(n, HISTOGRAM_BUCKETS + 1);
	}
	free(text);

	connected = false;
	text = render(&p);
	assert_has(text, "segd_engine_connected 0");
	free(text);
	parts_done(&p);
}

static void test_start_time_precision(void **state)
{
	struct parts p;
	char *text;

	/* every digit of a Unix time, not %g's six significant ones ("1.795e+09") */
	parts_init(&p, NULL);
	p.ops.started = 1795000123;
	text = render(&p);
	assert_has(text, "segd_start_time_seconds 1795000123");
	free(text);
	parts_done(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_listen),
		cmocka_unit_test(test_listen_port_digits_only),
		cmocka_unit_test(test_render_zero),
		cmocka_unit_test(test_render_values),
		cmocka_unit_test(test_start_time_precision),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
