/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client.h"
#include "print.h"
#include "segctl.h"

static const char usage[] =
	"Usage: segctl check FROM TO PORT[/PROTOCOL] [-o table|json|yaml]\n"
	"\n"
	"Explain one flow: whether FROM may open a connection to TO on PORT (TCP unless a\n"
	"protocol is given), and why. FROM and TO are endpoints (names or container id\n"
	"prefixes) or IP addresses. A flow passes egress at the source and ingress at the\n"
	"destination; for each, segctl names the tier, policy and rule that decides it (and\n"
	"the ClusterNetworkPolicy Pass rules that led there), or the policies that isolate\n"
	"the endpoint when none of their rules allows it. The answer comes\n"
	"from the plans segd committed, and segd reads both namespaces' rulesets back from\n"
	"the kernel to confirm it still holds them.\n"
	"\n"
	"Options:\n"
	"  -o, --output FORMAT   table (default), json or yaml\n"
	"      --socket PATH     segd's API socket\n"
	"      --timeout SECONDS bound the calls to segd (default 30)\n"
	"  -h, --help            show this help\n"
	"\n"
	"Exit status: 0 when the answer was printed, whatever the verdict.\n";

static void print_direction(const char *label, json_t *d)
{
	const char *where = json_str(d, "endpoint", NULL), *state;
	json_t *guard;

	printf("  %-8s", label);
	if (where) {
		fputs(" at ", stdout);
		print_sanitized(stdout, where);
	}
	printf(": %s", json_is_true(json_object_get(d, "allowed")) ? "allowed" : "DENIED");
	fputs(" - ", stdout);
	print_sanitized(stdout, json_str(d, "reason", ""));
	fputc('\n', stdout);
	/* Egress is enforced on the host side too; say when it is not. */
	guard = json_object_get(d, "guard");
	state = json_str(guard, "state", NULL);
	if (state && !streq(state, "enforced")) {
		fputs("           not guarded on the host side (", stdout);
		print_sanitized(stdout, state);
		if (json_str(guard, "reason", NULL)) {
			fputs(": ", stdout);
			print_sanitized(stdout, json_str(guard, "reason", ""));
		}
		fputs("): a workload with CAP_NET_RAW or CAP_NET_ADMIN can get around this\n",
		      stdout);
	}
}

static void print_side(json_t *s)
{
	const char *ep = json_str(s, "endpoint", NULL);

	if (ep) {
		print_sanitized(stdout, json_str(s, "namespace", "?"));
		fputc('/', stdout);
		print_sanitized(stdout, ep);
		fputs(" (", stdout);
		print_sanitized(stdout, json_str(s, "address", "?"));
		fputc(')', stdout);
	} else
		print_sanitized(stdout, json_str(s, "address", "?"));
}

static int print_check(json_t *o)
{
	json_t *checks = json_object_get(o, "checks"), *c, *k;
	size_t i;

	printf("%s -> %s %s: %s\n", json_str(o, "from", "?"), json_str(o, "to", "?"),
	       json_str(o, "port", "?"),
	       streq(json_str(o, "verdict", ""), "allowed") ? "allowed" : "DENIED");
	json_array_foreach(checks, i, c) {
		fputs(json_str(c, "family", "?"), stdout);
		fputs(": ", stdout);
		print_side(json_object_get(c, "from"));
		fputs(" -> ", stdout);
		print_side(json_object_get(c, "to"));
		printf(": %s\n",
		       json_is_true(json_object_get(c, "allowed")) ? "allowed" : "DENIED");
		print_direction("egress", json_object_get(c, "egress"));
		print_direction("ingress", json_object_get(c, "ingress"));
	}
	fputs("kernel:", stdout);
	json_array_foreach(json_object_get(o, "kernel"), i, k) {
		fputs(i ? ", " : " ", stdout);
		print_sanitized(stdout, json_str(k, "endpoint", "?"));
		if (json_is_true(json_object_get(k, "remote"))) {
			/* modelled from the fleet's store; its kernel is on its node */
			fputs(" enforced on node ", stdout);
			print_sanitized(stdout, json_str(k, "node", "?"));
			continue;
		}
		fputs(json_is_true(json_object_get(k, "in_sync")) ? " in sync"
								  : " DIFFERS from the plan",
		      stdout);
		if (json_str(k, "error", NULL)) {
			fputs(" (", stdout);
			print_sanitized(stdout, json_str(k, "error", ""));
			fputc(')', stdout);
		}
	}
	fputc('\n', stdout);
	if (json_is_true(json_object_get(o, "kernel_mismatch")))
		fputs("warning: the kernel does not hold the committed plan in every namespace above; "
		      "the verdict is the plan's (see segctl rules)\n",
		      stdout);
	return 0;
}

int check_main(struct segctl *c, int argc, char *argv[])
{
	static const struct option options[] = {
		{ "output", required_argument, NULL, 'o' },
		COMMON_OPTIONS,
		{},
	};
	_cleanup_free_ char *from = NULL, *to = NULL, *port = NULL, *path = NULL;
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
	if (argc - optind != 3)
		return exit_status(
			usage_error(c, "expected FROM TO PORT[/PROTOCOL], got %d argument(s)",
				    argc - optind));
	r = args_check_port(c, argv[optind + 2]);
	if (r < 0)
		return exit_status(r);

	from = client_escape(argv[optind]);
	to = client_escape(argv[optind + 1]);
	port = client_escape(argv[optind + 2]);
	if (!from || !to || !port ||
	    asprintf(&path, "/v1/check?from=%s&to=%s&port=%s", from, to, port) < 0)
		return exit_status(-ENOMEM);
	r = client_get(c, path, &reply);
	if (r < 0)
		return exit_status(r);
	if (out != OUTPUT_TABLE)
		return exit_status(print_structured(reply, out));
	return exit_status(print_check(reply));
}
