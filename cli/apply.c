/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "client.h"
#include "fleet.h"
#include "manifest.h"
#include "print.h"
#include "segctl.h"

#define MAX_FILES 256

static const char usage[] =
	"Usage: segctl apply -f FILE [-f FILE]... [--dry-run] [--no-wait] [-o json|yaml]\n"
	"\n"
	"Create or update Namespace, NetworkPolicy, ClusterNetworkPolicy and Node objects from\n"
	"JSON or YAML files (multi-document, kind: List). All or nothing: every file is validated by\n"
	"segd before any is applied, and a file is applied as one transaction.\n"
	"\n"
	"In a fleet (segd --store), segctl then waits until every live node enforces the change\n"
	"(its etcd revision), up to --timeout, and says \"enforced on N node(s) at revision R\";\n"
	"on timeout it names the nodes that have not and exits 1.\n"
	"\n"
	"Options:\n"
	"  -f, --filename FILE   policy file, '-' for standard input (repeatable)\n"
	"      --dry-run         validate and report, change nothing\n"
	"      --no-wait         in a fleet, do not wait for the other nodes\n"
	"  -o, --output FORMAT   json or yaml: print segd's reply instead of a summary\n"
	"      --socket PATH     segd's API socket\n"
	"      --timeout DURATION bound each call to segd, and the wait for the nodes\n"
	"                        (default 30s; 30, 30s, 500ms, 2m)\n"
	"  -h, --help            show this help\n";

static void manifests_done(struct manifest *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		manifest_done(&m[i]);
}

int apply_main(struct segctl *c, int argc, char *argv[])
{
	static const struct option options[] = {
		{ "filename", required_argument, NULL, 'f' },
		{ "dry-run", no_argument, NULL, 'D' },
		{ "no-wait", no_argument, NULL, 'W' },
		{ "output", required_argument, NULL, 'o' },
		COMMON_OPTIONS,
		{},
	};
	const char *files[MAX_FILES];
	struct manifest manifests[MAX_FILES] = {};
	enum output_format out = OUTPUT_TABLE;
	size_t n_files = 0;
	bool dry_run = false, stdin_used = false, no_wait = false;
	int64_t revision = 0;
	int opt, r, ret = 0;

	args_reset();
	while ((opt = getopt_long(argc, argv, ":f:o:h", options, NULL)) != -1) {
		switch (opt) {
		case 'f':
			if (n_files == MAX_FILES)
				return exit_status(usage_error(c, "more than %d files", MAX_FILES));
			if (streq(optarg, "-")) {
				if (stdin_used)
					return exit_status(usage_error(c, "'-f -' given twice"));
				stdin_used = true;
			}
			if (!*optarg)
				return exit_status(usage_error(c, "-f: empty file name"));
			files[n_files++] = optarg;
			break;
		case 'D':
			dry_run = true;
			break;
		case 'W':
			no_wait = true;
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
	if (n_files == 0)
		return exit_status(usage_error(c, "no files given (-f FILE)"));

	/* Read everything first: an unreadable file must not leave the others half applied. */
	for (size_t i = 0; i < n_files; i++) {
		r = manifest_read(files[i], &manifests[i]);
		if (r < 0) {
			manifests_done(manifests, i);
			return EXIT_FAIL;
		}
	}

	/* Several files: a dry run of each first, so that one bad file applies none. */
	for (size_t i = 0; n_files > 1 && !dry_run && i < n_files; i++) {
		json_auto_t *reply = NULL;

		r = manifest_send(c, "/v1/apply", &manifests[i], true, &reply);
		if (r == -ENOTCONN) {
			manifests_done(manifests, n_files);
			return EXIT_CONNECT;
		}
		if (r < 0)
			ret = EXIT_FAIL;
	}
	if (ret != 0) {
		fprintf(stderr, "segctl: nothing applied\n");
		manifests_done(manifests, n_files);
		return ret;
	}

	for (size_t i = 0; i < n_files; i++) {
		json_auto_t *reply = NULL;

		r = manifest_send(c, "/v1/apply", &manifests[i], dry_run, &reply);
		if (r == -ENOTCONN) {
			ret = EXIT_CONNECT;
			break;
		}
		if (r < 0) {
			ret = EXIT_FAIL;
			break; /* the kernel refused it: do not go on with the others */
		}
		if (out == OUTPUT_TABLE) {
			manifest_print_objects(json_object_get(reply, "applied"), NULL, dry_run);
			print_not_committed(reply);
		} else if (print_structured(reply, out) < 0)
			ret = EXIT_FAIL;
		/* each file is one transaction: the last revision is the newest */
		if (!dry_run && fleet_revision(reply, &revision) < 0)
			ret = EXIT_FAIL;
	}
	manifests_done(manifests, n_files);
	if (ret != 0)
		return ret;
	fflush(stdout); /* what was applied shows while the nodes catch up */
	return fleet_after_change(c, ret, revision, no_wait, out == OUTPUT_TABLE);
}
