/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "segctl.h"

/*
 * The verbs. A new one (hook, check, matrix, flows, diff) is a file with a NAME_main() and
 * one line here; main() needs no other change.
 */
static const struct {
	const char *name;
	int (*fn)(struct segctl *c, int argc, char *argv[]);
	const char *description;
} subcommands[] = {
	{ "apply", apply_main, "Create or update policies and namespaces from files" },
	{ "delete", delete_main, "Delete policies by file or by name, or endpoints by name" },
	{ "get", get_main,
	  "List or show endpoints, network policies, namespaces and the fleet's nodes" },
	{ "endpoint", endpoint_main, "Add, label or remove an endpoint (a network namespace)" },
	{ "rules", rules_main,
	  "Show the ruleset in an endpoint's namespace, read from the kernel" },
	{ "check", check_main, "Explain whether one flow is allowed, by which policy and rule" },
	{ "diff", diff_main, "Show what applying a file would change, before applying it" },
	{ "flows", flows_main,
	  "Show logged connections: who tried to reach whom, and the verdict" },
	{ "matrix", matrix_main, "Show who can reach whom: every pair of endpoints, per port" },
	{ "node", node_main, "Remove a node from the fleet ('segctl get nodes' lists them)" },
	{ "status", status_main, "Show segd's state" },
};

static void show_usage(FILE *f)
{
	fputs("Usage: segctl [--socket PATH] [--timeout DURATION] COMMAND [ARGS...]\n"
	      "\n"
	      "Client of segd, the network micro-segmentation enforcer for Linux containers.\n"
	      "\n"
	      "Commands:\n",
	      f);
	for (size_t i = 0; i < ARRAY_SIZE(subcommands); i++)
		fprintf(f, "  %-10s %s\n", subcommands[i].name, subcommands[i].description);
	fputs("\n"
	      "Options (also accepted after the command):\n"
	      "      --socket PATH  segd's API socket (default: $SEGD_SOCKET, else " SEGCTL_DEFAULT_SOCKET
	      ")\n"
	      "                     when it is closed to the caller (EACCES), segctl uses the\n"
	      "                     read-only socket: $SEGD_AUDIT_SOCKET, else " API_AUDIT_SOCKET_NAME
	      "\n"
	      "                     next to it\n"
	      "      --timeout DURATION\n"
	      "                     bound each call to segd as a whole: connect, send and\n"
	      "                     answer (default 30s; 30, 30s, 500ms, 2m, 1h; at most 24h);\n"
	      "                     on expiry segctl says whether it was connecting, sending or\n"
	      "                     waiting for the answer, and exits 2. apply and delete also\n"
	      "                     wait that long for every node of a fleet to enforce a change\n"
	      "  -h, --help         show this help; 'segctl COMMAND --help' for a command\n"
	      "      --version      show the version\n"
	      "\n"
	      "Exit status: 0 success, 1 error (usage, permission, or reported by segd), 2 segd\n"
	      "unreachable or not answering in time.\n",
	      f);
}

int main(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "version", no_argument, NULL, 'V' },
		COMMON_OPTIONS,
		{},
	};
	struct segctl c = { .verb = "" };
	char *help_argv[3] = {};
	int opt;

	/* Global options come before the verb; '+' stops at the first non-option. */
	args_reset();
	while ((opt = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
		switch (opt) {
		case 'h':
			show_usage(stdout);
			return 0;
		case 'V':
			puts("segctl " SEGD_VERSION);
			return 0;
		default:
			if (args_common(&c, opt, argv) < 0)
				return EXIT_FAIL;
		}
	}
	if (optind >= argc) {
		show_usage(stderr);
		return EXIT_FAIL;
	}
	if (streq(argv[optind], "help")) {
		if (optind + 1 >= argc) {
			show_usage(stdout);
			return 0;
		}
		/* "segctl help VERB" is "segctl VERB --help" */
		help_argv[0] = argv[optind + 1];
		help_argv[1] = (char *)"--help";
		argv = help_argv;
		argc = 2;
		optind = 0;
	}

	for (size_t i = 0; i < ARRAY_SIZE(subcommands); i++) {
		if (!streq(argv[optind], subcommands[i].name))
			continue;
		c.verb = subcommands[i].name;
		return subcommands[i].fn(&c, argc - optind, argv + optind);
	}
	fprintf(stderr, "segctl: unknown command '%s'\nTry 'segctl --help' for more information.\n",
		argv[optind]);
	return EXIT_FAIL;
}
