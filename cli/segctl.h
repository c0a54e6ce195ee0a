/* SPDX-License-Identifier: MIT */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <string.h>

#include "macro.h"

#define SEGCTL_DEFAULT_SOCKET "/run/segd/segd.sock"
#define SEGCTL_DEFAULT_NAMESPACE "default"
#define SEGCTL_DEFAULT_TIMEOUT_S 30
#define SEGCTL_MAX_TIMEOUT_S 86400 /* 24h */

/* Exit statuses: 0 success, 1 usage errors and errors reported by segd, 2 segd unreachable. */
#define EXIT_FAIL 1
#define EXIT_CONNECT 2

/* What every verb gets: the global options and the name to print in messages. */
struct segctl {
	const char *socket; /* --socket; NULL: $SEGD_SOCKET, then SEGCTL_DEFAULT_SOCKET */
	double timeout_s;   /* --timeout: bounds each call to segd as a whole; 0: the default */
	double deadline_s;  /* a CLOCK_MONOTONIC time the calls must also keep; 0: none */
	const char *verb;   /* "apply", "endpoint add", ... */
};

/* Verbs (one file each). They return an exit status. */
int apply_main(struct segctl *c, int argc, char *argv[]);
int delete_main(struct segctl *c, int argc, char *argv[]);
int endpoint_main(struct segctl *c, int argc, char *argv[]);
int check_main(struct segctl *c, int argc, char *argv[]);
int diff_main(struct segctl *c, int argc, char *argv[]);
int flows_main(struct segctl *c, int argc, char *argv[]);
int get_main(struct segctl *c, int argc, char *argv[]);
int matrix_main(struct segctl *c, int argc, char *argv[]);
int node_main(struct segctl *c, int argc, char *argv[]);
int rules_main(struct segctl *c, int argc, char *argv[]);
int status_main(struct segctl *c, int argc, char *argv[]);

/* ---- arguments (args.c) ------------------------------------------------------------------- */

/* Long options every verb accepts, after the verb as well as before it. A verb's own long
 * options without a letter start at OPT_VERB. */
#define OPT_SOCKET 0x100
#define OPT_TIMEOUT 0x101
#define OPT_VERB 0x110
#define COMMON_OPTIONS                                               \
	{ "socket", required_argument, NULL, OPT_SOCKET },           \
		{ "timeout", required_argument, NULL, OPT_TIMEOUT }, \
	{                                                            \
		"help", no_argument, NULL, 'h'                       \
	}

enum output_format {
	OUTPUT_TABLE,
	OUTPUT_JSON,
	OUTPUT_YAML,
	OUTPUT_NAME,
	OUTPUT_WIDE, /* the table with more columns */
	_OUTPUT_MAX,
};

#define OUTPUT_MASK(f) (1u << (f))

/* Resets getopt so a verb can parse its own argv (argv[0] is the verb). */
void args_reset(void);
/* Handles --socket and getopt's error returns ('?', ':'). Returns 0, or -EINVAL after printing. */
int args_common(struct segctl *c, int opt, char *const argv[]);
/* Parses -o/--output against the formats in `allowed` (OUTPUT_MASK bits). */
int args_output(struct segctl *c, const char *s, unsigned allowed, enum output_format *ret);
/* "segctl VERB: message" + a hint about --help, on stderr. Returns -EINVAL. */
int usage_error(const struct segctl *c, const char *fmt, ...) _printf_(2, 3);
/* Validators for names given on the command line. Return 0 or -EINVAL after printing. */
int args_check_name(const struct segctl *c, const char *what, const char *name);
int args_check_namespace(const struct segctl *c, const char *ns);
int args_check_endpoint_ref(const struct segctl *c, const char *name);
int args_check_port(const struct segctl *c, const char *spec); /* "80", "53/UDP" */
/* 0 for r >= 0, EXIT_CONNECT for -ENOTCONN, else EXIT_FAIL. */
int exit_status(int r);
