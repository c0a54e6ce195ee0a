/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "client.h"
#include "print.h"
#include "segctl.h"

static const char usage[] = "Usage: segctl status [-o table|json|yaml]\n"
			    "\n"
			    "Show segd's version, uptime, object counts and recent errors.\n"
			    "\n"
			    "Options:\n"
			    "  -o, --output FORMAT   table (default), json or yaml\n"
			    "      --socket PATH     segd's API socket\n"
			    "      --timeout SECONDS bound the calls to segd (default 30)\n"
			    "  -h, --help            show this help\n";

static json_int_t int_of(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key)); /* 0 when absent */
}

static void print_duration(json_int_t s)
{
	if (s >= 86400)
		printf("%" JSON_INTEGER_FORMAT "d ", s / 86400);
	if (s >= 3600)
		printf("%" JSON_INTEGER_FORMAT "h ", s / 3600 % 24);
	if (s >= 60)
		printf("%" JSON_INTEGER_FORMAT "m ", s / 60 % 60);
	printf("%" JSON_INTEGER_FORMAT "s", s % 60);
}

/* Times may come as text (printed as is) or as seconds since the epoch (printed in UTC). */
static void print_time(json_t *t)
{
	char buf[64];
	struct tm tm;
	time_t secs;

	if (json_is_string(t)) {
		print_sanitized(stdout, json_string_value(t));
		return;
	}
	if (!json_is_number(t)) {
		fputs("-", stdout);
		return;
	}
	secs = (time_t)json_number_value(t);
	if (!gmtime_r(&secs, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm)) {
		fputs("-", stdout);
		return;
	}
	fputs(buf, stdout);
}

static int print_status(json_t *st)
{
	_cleanup_free_ char *flags = format_strings(json_object_get(st, "table_flags"), ",");
	json_t *errors = json_object_get(st, "last_errors"), *e;
	size_t i;

	if (!flags)
		return -ENOMEM;
	fputs("segd ", stdout);
	print_sanitized(stdout, json_str(st, "version", "?"));
	printf(" (pid %" JSON_INTEGER_FORMAT "), up ", int_of(st, "pid"));
	print_duration(int_of(st, "uptime_seconds"));
	fputc('\n', stdout);
	printf("endpoints:        %" JSON_INTEGER_FORMAT " (%" JSON_INTEGER_FORMAT
	       " enforced, %" JSON_INTEGER_FORMAT " in error",
	       int_of(st, "endpoints"), int_of(st, "enforced"), int_of(st, "errors"));
	if (int_of(st, "failed") > 0)
		printf(", %" JSON_INTEGER_FORMAT " failed", int_of(st, "failed"));
	fputs(")\n", stdout);
	json_array_foreach(json_object_get(st, "failed_endpoints"), i, e) {
		/* kept at its last ruleset, retried on its own; other changes go on */
		fputs("  failed: ", stdout);
		print_sanitized(stdout, json_str(e, "name", "?"));
		fputs(": ", stdout);
		print_sanitized(stdout, json_str(e, "error", "?"));
		printf(" (%" JSON_INTEGER_FORMAT " failure(s), next retry in %" JSON_INTEGER_FORMAT
		       " ms)\n",
		       int_of(e, "failures"), int_of(e, "next_in_ms"));
	}
	printf("networkpolicies:  %" JSON_INTEGER_FORMAT "\n", int_of(st, "networkpolicies"));
	/* a segd before ClusterNetworkPolicy does not count them */
	if (json_is_integer(json_object_get(st, "clusternetworkpolicies")))
		printf("cluster policies: %" JSON_INTEGER_FORMAT "\n",
		       int_of(st, "clusternetworkpolicies"));
	printf("namespaces:       %" JSON_INTEGER_FORMAT "\n", int_of(st, "namespaces"));
	printf("table flags:      %s\n", flags);
	{
		json_t *last = json_object_get(json_object_get(st, "changes"), "last");

		if (json_is_object(last))
			printf("last change:      %" JSON_INTEGER_FORMAT
			       " plan(s) compiled, %" JSON_INTEGER_FORMAT
			       " namespace(s) committed (%" JSON_INTEGER_FORMAT
			       " by set elements), %" JSON_INTEGER_FORMAT
			       " messages, %" JSON_INTEGER_FORMAT " bytes, %" JSON_INTEGER_FORMAT
			       " us\n",
			       int_of(last, "compiled"), int_of(last, "namespaces"),
			       int_of(last, "incremental"), int_of(last, "messages"),
			       int_of(last, "bytes"), int_of(last, "usec"));
	}
	{
		json_t *d = json_object_get(st, "drift");

		if (json_is_object(d))
			printf("drift:            %s, %" JSON_INTEGER_FORMAT " change(s) by other "
			       "processes, %" JSON_INTEGER_FORMAT " repaired\n",
			       json_is_true(json_object_get(d, "watching"))
				       ? "watching nf_tables events"
				       : "tables owned by segd (the kernel refuses other writers)",
			       int_of(d, "detected"), int_of(d, "repairs"));
	}
	{
		json_t *eng = json_object_get(st, "engine");
		const char *spec = json_string_value(json_object_get(st, "engine_spec"));

		if (json_is_object(eng))
			printf("engine:           %s (%s%s)\n", spec ? spec : "?",
			       json_is_true(json_object_get(eng, "connected")) ? "connected to "
									       : "not connected",
			       json_is_true(json_object_get(eng, "connected"))
				       ? json_string_value(json_object_get(eng, "socket"))
				       : "");
		else if (spec)
			printf("engine:           %s\n", spec);
	}
	{
		/* a fleet's node (segd --store): its view of the store */
		json_t *fl = json_object_get(st, "fleet");
		const char *err = json_string_value(json_object_get(fl, "error"));
		const char *bad = json_string_value(json_object_get(fl, "last_bad_value"));

		if (json_is_object(fl)) {
			fputs("fleet:            node ", stdout);
			print_sanitized(stdout, json_str(fl, "node", "?"));
			fputs(json_is_true(json_object_get(fl, "connected"))
				      ? ", following "
				      : ", NOT CONNECTED to ",
			      stdout);
			print_sanitized(stdout, json_str(fl, "url", "?"));
			printf(", policy revision %" JSON_INTEGER_FORMAT
			       ", %zu node(s), %" JSON_INTEGER_FORMAT
			       " bad value(s) in the store\n",
			       int_of(fl, "revision"),
			       json_array_size(json_object_get(fl, "nodes")),
			       int_of(json_object_get(fl, "counters"), "bad_values"));
		}
		if (err) {
			fputs("fleet error:      ", stdout);
			print_sanitized(stdout, err);
			fputc('\n', stdout);
		}
		if (bad) {
			fputs("fleet bad value:  ", stdout);
			print_sanitized(stdout, bad);
			fputc('\n', stdout);
		}
	}
	{
		/* who the OCI hook lets start unisolated while segd is down: the host's list */
		json_t *fo = json_object_get(st, "hook_fail_open"), *n;
		size_t k;

		if (fo) {
			fputs("hook fail-open:   ", stdout);
			if (json_array_size(json_object_get(fo, "names")) == 0)
				fputs("none (every container starts default-deny while segd is "
				      "down)",
				      stdout);
			json_array_foreach(json_object_get(fo, "names"), k, n) {
				fputs(k ? ", " : "", stdout);
				print_sanitized(stdout,
						json_string_value(n) ? json_string_value(n) : "?");
			}
			if (json_string_value(json_object_get(fo, "config"))) {
				fputs(" (", stdout);
				print_sanitized(stdout,
						json_string_value(json_object_get(fo, "config")));
				fputc(')', stdout);
			}
			fputc('\n', stdout);
		}
	}
	if (json_array_size(errors) == 0) {
		fputs("last errors:      none\n", stdout);
		return 0;
	}
	fputs("last errors:\n", stdout);
	json_array_foreach(errors, i, e) {
		fputs("  ", stdout);
		print_time(json_object_get(e, "time"));
		fputs("  ", stdout);
		print_sanitized(stdout, json_str(e, "message", ""));
		fputc('\n', stdout);
	}
	return 0;
}

int status_main(struct segctl *c, int argc, char *argv[])
{
	static const struct option options[] = {
		{ "output", required_argument, NULL, 'o' },
		COMMON_OPTIONS,
		{},
	};
	json_auto_t *reply = NULL;
	enum output_format out = OUTPUT_TABLE;
	int opt, r;

	args_reset();
	while ((opt = getopt_long(argc, argv, ":o:h", options, NULL)) != -1) {
		switch (opt) {
		case 'o':
			r = args_output(c, optarg,
					OUTPUT_MASK(OUTPUT_TABLE) | OUTPUT_MASK(OUTPUT_JSON) |
						OUTPUT_MASK(OUTPUT_YAML),
					&out);
			if (r < 0)
				return exit_status(r);
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			r = args_common(c, opt, argv);
			if (r < 0)
				return exit_status(r);
			break;
		}
	}
	if (optind < argc)
		return exit_status(usage_error(c, "unexpected argument '%s'", argv[optind]));

	r = client_get(c, "/v1/status", &reply);
	if (r < 0)
		return exit_status(r);
	if (out != OUTPUT_TABLE)
		return exit_status(print_structured(reply, out));
	return exit_status(print_status(reply));
}
