/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client.h"
#include "manifest.h"
#include "print.h"
#include "segctl.h"

static const char usage[] =
	"Usage: segctl diff -f FILE [-o table|json|yaml]\n"
	"\n"
	"Show what applying FILE would change, without changing anything: the objects it\n"
	"creates or configures, for each endpoint whose plan changes the rules and set\n"
	"elements added and removed (and its isolation and selecting policies), and every\n"
	"pair of endpoints whose reachability changes, per port.\n"
	"\n"
	"Options:\n"
	"  -f, --filename FILE   the policy file (JSON or YAML; - for stdin)\n"
	"  -o, --output FORMAT   table (default), json or yaml\n"
	"      --socket PATH     segd's API socket\n"
	"      --timeout SECONDS bound the calls to segd (default 30)\n"
	"  -h, --help            show this help\n"
	"\n"
	"Exit status: 0 whether or not there are changes (json: \"changed\").\n";

static void print_strings(json_t *a, const char *prefix)
{
	json_t *v;
	size_t i;

	json_array_foreach(a, i, v) {
		fputs(prefix, stdout);
		print_sanitized(stdout, json_string_value(v) ? json_string_value(v) : "?");
		fputc('\n', stdout);
	}
}

static void print_elements(json_t *sets, char sign)
{
	const char *name;
	json_t *list, *v;
	size_t i;

	json_object_foreach(sets, name, list) {
		printf("    set %s:", name);
		json_array_foreach(list, i, v) {
			printf(" %c", sign);
			print_sanitized(stdout, json_string_value(v) ? json_string_value(v) : "?");
		}
		fputc('\n', stdout);
	}
}

static const char *yes_no(json_t *iso, const char *dir)
{
	if (!json_is_object(iso))
		return "-";
	return json_is_true(json_object_get(iso, dir)) ? "isolated" : "open";
}

static void print_endpoint(json_t *e)
{
	json_t *iso = json_object_get(e, "isolation"), *sel = json_object_get(e, "selected_by");
	json_t *ib = json_object_get(iso, "before"), *ia = json_object_get(iso, "after");
	_cleanup_free_ char *sb = format_strings(json_object_get(sel, "before"), ", ");
	_cleanup_free_ char *sa = format_strings(json_object_get(sel, "after"), ", ");

	fputs("endpoint ", stdout);
	print_sanitized(stdout, json_str(e, "namespace", "?"));
	fputc('/', stdout);
	print_sanitized(stdout, json_str(e, "name", "?"));
	fputs(json_is_true(json_object_get(e, "committed_before")) ? ":\n"
								   : " (nothing committed yet):\n",
	      stdout);
	for (const char *const *d = (const char *const[]){ "ingress", "egress", NULL }; *d; d++)
		if (!streq(yes_no(ib, *d), yes_no(ia, *d)))
			printf("    %s: %s -> %s\n", *d, yes_no(ib, *d), yes_no(ia, *d));
	if (sb && sa && !streq(sb, sa)) {
		fputs("    selected by: ", stdout);
		print_sanitized(stdout, sb);
		fputs(" -> ", stdout);
		print_sanitized(stdout, sa);
		fputc('\n', stdout);
	}
	print_strings(json_object_get(e, "rules_removed"), "  - ");
	print_strings(json_object_get(e, "rules_added"), "  + ");
	print_elements(json_object_get(e, "elements_removed"), '-');
	print_elements(json_object_get(e, "elements_added"), '+');
}

static int print_diff(json_t *d)
{
	json_t *eps = json_object_get(d, "endpoints"), *reach = json_object_get(d, "reachability"),
	       *v;
	size_t i;

	manifest_print_objects(json_object_get(d, "applied"), NULL, true);
	if (json_array_size(eps) == 0) {
		fputs("No endpoint's rules would change.\n", stdout);
		return 0;
	}
	json_array_foreach(eps, i, v)
		print_endpoint(v);
	if (json_is_null(reach) || !reach) {
		fputs("reachability: ", stdout);
		print_sanitized(stdout, json_str(d, "reachability_error", "not computed"));
		fputc('\n', stdout);
		return 0;
	}
	if (json_array_size(reach) == 0) {
		fputs("reachability: no pair of endpoints changes on the ports the policies name\n",
		      stdout);
		return 0;
	}
	fputs("reachability:\n", stdout);
	json_array_foreach(reach, i, v) {
		fputs("  ", stdout);
		print_sanitized(stdout, json_str(v, "from", "?"));
		fputs(" -> ", stdout);
		print_sanitized(stdout, json_str(v, "to", "?"));
		printf(" %s: %s -> %s\n", json_str(v, "port", "?"),
		       json_is_true(json_object_get(v, "before")) ? "allowed" : "denied",
		       json_is_true(json_object_get(v, "after")) ? "allowed" : "DENIED");
	}
	if (json_integer_value(json_object_get(d, "reachability_more")) > 0)
		printf("  ... %lld more\n",
		       (long long)json_integer_value(json_object_get(d, "reachability_more")));
	return 0;
}

int diff_main(struct segctl *c, int argc, char *argv[])
{
	static const struct option options[] = {
		{ "filename", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		COMMON_OPTIONS,
		{},
	};
	_cleanup_(manifest_done) struct manifest m = { 0 };
	json_auto_t *reply = NULL;
	enum output_format out = OUTPUT_TABLE;
	const char *file = NULL;
	int opt, r;

	args_reset();
	while ((opt = getopt_long(argc, argv, ":f:o:h", options, NULL)) != -1) {
		switch (opt) {
		case 'f':
			if (file)
				return exit_status(usage_error(c, "one -f at a time"));
			file = optarg;
			break;
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
	if (!file)
		return exit_status(usage_error(c, "-f FILE is required"));

	r = manifest_read(file, &m);
	if (r < 0)
		return exit_status(r);
	r = manifest_send(c, "/v1/diff", &m, false, &reply);
	if (r < 0)
		return exit_status(r);
	json_object_set_new(reply, "changed",
			    json_boolean(json_array_size(json_object_get(reply, "endpoints")) > 0));
	if (out != OUTPUT_TABLE)
		return exit_status(print_structured(reply, out));
	return exit_status(print_diff(reply));
}
