/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client.h"
#include "print.h"
#include "segctl.h"

static const char usage[] =
	"Usage: segctl rules NAME [-o table|json|yaml]\n"
	"\n"
	"Show the ruleset installed in an endpoint's network namespace, as read back from\n"
	"the kernel: chains with their rules and counters, and the address sets.\n"
	"\n"
	"Options:\n"
	"  -o, --output FORMAT   table (default), json or yaml\n"
	"      --socket PATH     segd's API socket\n"
	"      --timeout SECONDS bound the calls to segd (default 30)\n"
	"  -h, --help            show this help\n";

static char *int_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	char *s;

	if (!json_is_integer(v))
		return strdup("-");
	if (asprintf(&s, "%" JSON_INTEGER_FORMAT, json_integer_value(v)) < 0)
		return NULL;
	return s;
}

/* The rule's comment (segd writes its provenance there), else the provenance fields. */
static char *provenance(json_t *rule)
{
	const char *comment = json_str(rule, "comment", NULL), *policy;
	json_t *idx;
	char *s;

	if (comment)
		return strdup(comment);
	policy = json_str(rule, "policy", NULL);
	if (!policy)
		return strdup("");
	idx = json_object_get(rule, "rule");
	if (asprintf(&s, "%s %s[%" JSON_INTEGER_FORMAT "]", policy,
		     json_str(rule, "direction", "?"), json_integer_value(idx)) < 0)
		return NULL;
	return s;
}

static int print_chain(json_t *chain)
{
	_cleanup_(table_freep) struct table *t = NULL;
	_cleanup_free_ char *prio = int_str(chain, "priority");
	json_t *rules = json_object_get(chain, "rules"), *rule;
	size_t i;
	int r;

	if (!prio)
		return -ENOMEM;
	fputs("chain ", stdout);
	print_sanitized(stdout, json_str(chain, "name", "?"));
	if (json_str(chain, "hook", NULL)) {
		fputs(" (hook ", stdout);
		print_sanitized(stdout, json_str(chain, "hook", ""));
		printf(", priority %s, policy ", prio);
		print_sanitized(stdout, json_str(chain, "policy", "accept"));
		fputc(')', stdout);
	}
	fputc('\n', stdout);
	if (json_array_size(rules) == 0) {
		fputs("  (no rules)\n", stdout);
		return 0;
	}

	t = table_new(5, "HANDLE", "PACKETS", "BYTES", "EXPR", "COMMENT");
	if (!t)
		return -ENOMEM;
	json_array_foreach(rules, i, rule) {
		_cleanup_free_ char *handle = int_str(rule, "handle");
		_cleanup_free_ char *packets = int_str(rule, "packets");
		_cleanup_free_ char *bytes = int_str(rule, "bytes");
		_cleanup_free_ char *prov = provenance(rule);

		if (!handle || !packets || !bytes || !prov)
			return -ENOMEM;
		r = table_add(t, handle, packets, bytes, json_str(rule, "expr", ""), prov);
		if (r < 0)
			return r;
	}
	table_print(t, stdout, "  ");
	return 0;
}

static int print_set(json_t *set)
{
	json_t *flags = json_object_get(set, "flags"), *elems = json_object_get(set, "elements"),
	       *e;
	_cleanup_free_ char *f = format_strings(flags, ",");
	size_t i;

	if (!f)
		return -ENOMEM;
	fputs("set ", stdout);
	print_sanitized(stdout, json_str(set, "name", "?"));
	fputs(" (", stdout);
	print_sanitized(stdout, json_str(set, "type", "?"));
	if (json_array_size(flags) > 0) {
		fputs(", ", stdout);
		print_sanitized(stdout, f);
	}
	fputs(")\n", stdout);
	if (json_array_size(elems) == 0)
		fputs("  (empty)\n", stdout);
	json_array_foreach(elems, i, e) {
		if (!json_is_string(e))
			continue;
		fputs("  ", stdout);
		print_sanitized(stdout, json_string_value(e));
		fputc('\n', stdout);
	}
	return 0;
}

static int print_ruleset(json_t *rs)
{
	_cleanup_free_ char *flags = format_strings(json_object_get(rs, "flags"), ",");
	json_t *in_sync = json_object_get(rs, "in_sync"), *v;
	size_t i;
	int r;

	if (!flags)
		return -ENOMEM;
	fputs("endpoint ", stdout);
	print_sanitized(stdout, json_str(rs, "endpoint", "?"));
	fputs("  netns ", stdout);
	print_sanitized(stdout, json_str(rs, "netns", "?"));
	fputs("  table ", stdout);
	print_sanitized(stdout, json_str(rs, "table", "?"));
	fputs("  flags ", stdout);
	print_sanitized(stdout, flags);
	fputc('\n', stdout);
	if (json_is_true(in_sync))
		fputs("in sync: yes\n", stdout);
	else if (json_is_false(in_sync))
		fputs("in sync: NO (the kernel ruleset differs from the compiled plan)\n", stdout);
	else
		fputs("in sync: unknown\n", stdout);

	json_array_foreach(json_object_get(rs, "chains"), i, v) {
		fputc('\n', stdout);
		r = print_chain(v);
		if (r < 0)
			return r;
	}
	if (json_array_size(json_object_get(rs, "sets")) > 0)
		fputc('\n', stdout);
	json_array_foreach(json_object_get(rs, "sets"), i, v) {
		r = print_set(v);
		if (r < 0)
			return r;
	}
	return 0;
}

int rules_main(struct segctl *c, int argc, char *argv[])
{
	static const struct option options[] = {
		{ "output", required_argument, NULL, 'o' },
		COMMON_OPTIONS,
		{},
	};
	_cleanup_free_ char *ename = NULL, *path = NULL;
	json_auto_t *reply = NULL;
	enum output_format out = OUTPUT_TABLE;
	const char *name;
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
	if (optind >= argc)
		return exit_status(usage_error(c, "expected an endpoint NAME"));
	name = argv[optind++];
	if (optind < argc)
		return exit_status(usage_error(c, "unexpected argument '%s'", argv[optind]));
	r = args_check_endpoint_ref(c, name);
	if (r < 0)
		return exit_status(r);

	ename = client_escape(name);
	if (!ename || asprintf(&path, "/v1/endpoints/%s/rules", ename) < 0)
		return exit_status(-ENOMEM);
	r = client_get(c, path, &reply);
	if (r < 0)
		return exit_status(r);
	if (out != OUTPUT_TABLE)
		return exit_status(print_structured(reply, out));
	return exit_status(print_ruleset(reply));
}
