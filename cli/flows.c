/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "client.h"
#include "print.h"
#include "segctl.h"

#define FOLLOW_INTERVAL_MS 250

static const char usage[] =
	"Usage: segctl flows [-f|--follow] [--endpoint NAME] [--verdict denied|allowed]\n"
	"                    [--since DURATION] [--after N] [-o table|json]\n"
	"\n"
	"Show the new connections the endpoints' rulesets logged: denied ones (rate-limited\n"
	"in the kernel), and allowed ones when segd runs with --flow-log all. Each record names\n"
	"both ends (endpoint, namespace, address, port), the protocol, the verdict and what\n"
	"decided it: the policy and rule that allowed it, or the policies that isolate the\n"
	"endpoint. segd keeps the most recent records (and, with --flow-log-file, a file).\n"
	"\n"
	"Options:\n"
	"  -f, --follow            keep printing new records until interrupted\n"
	"      --endpoint NAME     records with this endpoint at either end\n"
	"      --verdict VERDICT   denied or allowed\n"
	"      --since DURATION    records of the last DURATION: 90s, 15m, 1h, 2d\n"
	"      --after N           records after record number N\n"
	"  -o, --output FORMAT     table (default) or json (one record per line)\n"
	"      --socket PATH       segd's API socket\n"
	"      --timeout SECONDS   bound the calls to segd (default 30)\n"
	"  -h, --help              show this help\n";

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static void print_end(json_t *e)
{
	const char *ep = json_str(e, "endpoint", NULL);
	json_t *port = json_object_get(e, "port");

	if (ep) {
		print_sanitized(stdout, json_str(e, "namespace", "?"));
		fputc('/', stdout);
		print_sanitized(stdout, ep);
		fputc(' ', stdout);
	}
	fputc('(', stdout);
	print_sanitized(stdout, json_str(e, "address", "?"));
	if (json_is_integer(port))
		printf(" port %" JSON_INTEGER_FORMAT, json_integer_value(port));
	fputc(')', stdout);
}

static void print_record(json_t *r, enum output_format out)
{
	json_t *proto = json_object_get(r, "protocol");

	if (out == OUTPUT_JSON) {
		char *s = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);

		if (s)
			puts(s);
		free(s);
		return;
	}
	print_sanitized(stdout, json_str(r, "time", "?"));
	printf(" %-7s %-7s ", json_str(r, "verdict", "?"), json_str(r, "direction", "?"));
	if (json_is_string(proto))
		print_sanitized(stdout, json_string_value(proto));
	else
		printf("proto %" JSON_INTEGER_FORMAT, json_integer_value(proto));
	fputc(' ', stdout);
	print_end(json_object_get(r, "source"));
	fputs(" -> ", stdout);
	print_end(json_object_get(r, "destination"));
	if (streq(json_str(r, "verdict", ""), "allowed")) {
		if (json_str(r, "policy", NULL)) {
			fputs(" by ", stdout);
			print_sanitized(stdout, json_str(r, "policy", "?"));
			fputc(' ', stdout);
			print_sanitized(stdout, json_str(r, "rule", "?"));
		}
	} else {
		_cleanup_free_ char *pols = format_strings(json_object_get(r, "policies"), ",");

		fputs(" isolated by ", stdout);
		print_sanitized(stdout, pols ? pols : "?");
	}
	fputc('\n', stdout);
}

/* "90s", "15m", "1h", "2d" (a number alone: seconds) */
static int parse_duration(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;
	uint64_t mult = 1;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	if (streq(end, "m"))
		mult = 60;
	else if (streq(end, "h"))
		mult = 3600;
	else if (streq(end, "d"))
		mult = 86400;
	else if (*end && !streq(end, "s"))
		return -EINVAL;
	if (v == 0 || v > 366ull * 86400 / mult)
		return -EINVAL;
	*ret = v * mult;
	return 0;
}

static int fetch(struct segctl *c, const char *filter, uint64_t since, json_t **ret)
{
	_cleanup_free_ char *path = NULL;

	if (asprintf(&path, "/v1/flows?since=%" PRIu64 "%s", since, filter) < 0)
		return -ENOMEM;
	return client_get(c, path, ret);
}

int flows_main(struct segctl *c, int argc, char *argv[])
{
	enum { OPT_ENDPOINT = 0x200, OPT_VERDICT, OPT_SINCE, OPT_AFTER };
	static const struct option options[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "endpoint", required_argument, NULL, OPT_ENDPOINT },
		{ "verdict", required_argument, NULL, OPT_VERDICT },
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "after", required_argument, NULL, OPT_AFTER },
		{ "output", required_argument, NULL, 'o' },
		COMMON_OPTIONS,
		{},
	};
	_cleanup_free_ char *filter = NULL, *eep = NULL;
	char from[64] = "";
	const char *endpoint = NULL, *verdict = NULL;
	enum output_format out = OUTPUT_TABLE;
	bool follow = false, header = false;
	uint64_t since = 0, window = 0;
	int opt, r;

	args_reset();
	while ((opt = getopt_long(argc, argv, ":fo:h", options, NULL)) != -1) {
		switch (opt) {
		case 'f':
			follow = true;
			break;
		case OPT_ENDPOINT:
			r = args_check_endpoint_ref(c, optarg);
			if (r < 0)
				return exit_status(r);
			endpoint = optarg;
			break;
		case OPT_VERDICT:
			if (!streq(optarg, "denied") && !streq(optarg, "allowed"))
				return exit_status(
					usage_error(c, "--verdict: denied or allowed, not '%s'",
						    optarg));
			verdict = optarg;
			break;
		case OPT_AFTER: {
			char *end;

			errno = 0;
			since = strtoull(optarg, &end, 10);
			if (errno || *end || end == optarg || !isdigit((unsigned char)optarg[0]))
				return exit_status(usage_error(c, "--after: a record number"));
			break;
		}
		case OPT_SINCE:
			if (parse_duration(optarg, &window) < 0)
				return exit_status(
					usage_error(c,
						    "--since: a duration such as 90s, 15m, "
						    "1h or 2d, not '%s'",
						    optarg));
			break;
		case 'o':
			r = args_output(c, optarg,
					OUTPUT_MASK(OUTPUT_TABLE) | OUTPUT_MASK(OUTPUT_JSON), &out);
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

	if (endpoint) {
		eep = client_escape(endpoint);
		if (!eep)
			return exit_status(-ENOMEM);
	}
	if (window) {
		time_t t = time(NULL) - (time_t)window;
		struct tm tm;

		if (!gmtime_r(&t, &tm) ||
		    !strftime(from, sizeof(from), "&from=%Y-%m-%dT%H:%M:%S.000000Z", &tm))
			return exit_status(-EINVAL);
	}
	if (asprintf(&filter, "%s%s%s%s%s", eep ? "&endpoint=" : "", eep ? eep : "",
		     verdict ? "&verdict=" : "", verdict ? verdict : "", from) < 0)
		return exit_status(-ENOMEM);
	if (follow) {
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		setvbuf(stdout, NULL, _IOLBF, 0);
	}

	do {
		json_auto_t *reply = NULL;
		json_t *rec;
		size_t i;

		r = fetch(c, filter, since, &reply);
		if (r < 0)
			return exit_status(stop ? 0 : r);
		if (!header && out == OUTPUT_TABLE && streq(json_str(reply, "logging", ""), "none"))
			fputs("note: segd runs with --flow-log none: nothing is logged\n", stderr);
		header = true;
		json_array_foreach(json_object_get(reply, "flows"), i, rec)
			print_record(rec, out);
		if (json_integer_value(json_object_get(reply, "dropped")) > 0 &&
		    out == OUTPUT_TABLE)
			fprintf(stderr,
				"note: %" JSON_INTEGER_FORMAT " record(s) left segd's buffer "
				"before they were read\n",
				json_integer_value(json_object_get(reply, "dropped")));
		since = (uint64_t)json_integer_value(json_object_get(reply, "next"));
		if (follow && !stop) {
			struct timespec ts = { 0, FOLLOW_INTERVAL_MS * 1000000L };

			nanosleep(&ts, NULL);
		}
	} while (follow && !stop);
	return 0;
}
