/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

/*
 * segd-runc's reading of the command line it hands on to the real runc, untouched: which
 * subcommand runs, and for create, run and restore, which bundle. runc parses its command line
 * with urfave/cli v1 over Go's flag package, and so do we, exactly: global flags (single or
 * double dash, `-x v` or `-x=v`; the booleans take only `=v`) up to the first operand, the
 * subcommand; then the subcommand's flags, which urfave/cli first moves ahead of the operands
 * (so `create ID --bundle B` is `create --bundle B ID`). A flag runc does not define, a value
 * missing, a bad boolean or two spellings of one flag are errors runc would report too: we
 * report them without running anything, for every subcommand we cannot read (fail closed).
 */
struct runc_call {
	const char *command; /* the subcommand's name, or NULL (none; or --help, --version) */
	bool hooked;	     /* create, run or restore (and not their --help) */
	const char *bundle;  /* --bundle/-b of a hooked call, or NULL: the current directory */
	const char *log;     /* the global --log, or NULL */
	bool log_json;	     /* --log-format json */
};

/* 0 with *ret (pointing into argv); -EINVAL with *reterr (caller frees) when runc would
 * refuse the command line. */
int runc_args_scan(int argc, char *const *argv, struct runc_call *ret, char **reterr);

/*
 * segd-runc's environment, validated: every value is hostile. An empty value is unset.
 *   SEGD_SOCKET           segd's socket (absolute, fits sun_path), else /run/segd/segd.sock
 *   SEGD_OCI_HOOK         the hook's absolute path, else found next to segd-runc or installed
 *   SEGD_HOOK_CONFIG      the hook's --config (absolute), else none
 *   SEGD_HOOK_TIMEOUT_MS  the hook's --timeout-ms (1 to 60000, digits), else its default
 *   SEGD_RUNC             the real runtime (absolute), else runc on PATH
 */
struct runc_env {
	const char *socket;
	const char *hook;   /* or NULL */
	const char *config; /* or NULL */
	long timeout_ms;    /* or 0 */
	const char *runc;   /* or NULL */
};

#define RUNC_DEFAULT_SOCKET "/run/segd/segd.sock"
#define RUNC_MAX_PATH 4095

/* getenv_fn is getenv, or a test's table. 0 with *ret, or -EINVAL with *reterr naming the
 * variable. SEGD_RUNC is checked alone by runc_env_runtime: every subcommand needs it, the
 * others only the hooked ones. */
int runc_env_parse(char *(*getenv_fn)(const char *), struct runc_env *ret, char **reterr);
int runc_env_runtime(char *(*getenv_fn)(const char *), const char **ret, char **reterr);
