/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "policy/policy.h"

/*
 * segd's settings: its command-line options, and the same options in a config file
 * (--config FILE: one "name = value" per line, names as the long options without "--", '#'
 * starts a comment; a flag takes true/false). One function sets each option from text, for
 * both. The command line wins over the file. On SIGHUP segd reads the file (and its command
 * line) again and applies what can change while it runs: log-level, resync-interval and
 * matrix-budget;
 * anything else that changed is logged as needing a restart.
 */
struct settings {
	char *socket_path;
	char *audit_socket;	    /* the read-only socket; NULL: "audit.sock" next to it */
	unsigned request_timeout_s; /* a request must be in this long after accept */
	char *state_dir;
	char *engine; /* "none", "auto" or "unix:///path" */
	unsigned resync_interval_s;
	enum policy_deny_action deny;
	char *group;	      /* may use the API besides root */
	char *audit_group;    /* read-only API access */
	char *audit_log;      /* NULL: none */
	char *metrics_listen; /* NULL: no metrics server */
	bool no_table_owner;
	bool keep_established; /* tightening leaves established flows alone */
	bool drift_report_only;
	enum policy_flow_log flow_log;
	char *flow_log_file;
	uint64_t flow_log_max_bytes;
	int log_level; /* LOG_ERR .. LOG_DEBUG */
	/* what one matrix or diff may cost, in cells (pairs x ports), checked before the work */
	uint64_t matrix_budget;
	/* containers the OCI hook may start without isolation when segd does not answer, by
	 * name (hook-fail-open, repeatable; the hook reads them from the config file) */
	char **hook_fail_open;
	size_t n_hook_fail_open;
	char *config; /* the file, or NULL */
	/* where the sockets that own the tables wait while segd restarts: "auto" (systemd's
	 * store when $NOTIFY_SOCKET is set, else segd-fdstore), "systemd", "holder", "none" */
	char *fdstore;
	char *fdstore_socket; /* the holder's socket; NULL: "fdstore" next to socket_path */
	/* a fleet (docs/fleet.md): "etcd:URL[,URL...]" or NULL (a single host), this node's
	 * name, TLS files, and the lease of its status and endpoints */
	char *store;
	char *node;
	char *store_cacert, *store_cert, *store_key;
	unsigned node_ttl_s;
};

#define SETTINGS_MAX_FILE_BYTES (64u * 1024)

void settings_init(struct settings *s);
void settings_done(struct settings *s);
/* Sets option `name` (a long option without "--") from value (NULL for a flag given without
 * one). -EINVAL with *reterr (caller frees) for an unknown name or a bad value. */
int settings_set(struct settings *s, const char *name, const char *value, char **reterr);
/* Reads the config file's text (file names it in messages, with its line). */
int settings_parse_text(struct settings *s, const char *file, const char *text, size_t len,
			char **reterr);
int settings_load_file(struct settings *s, const char *path, char **reterr);
/* What options need together: --store and --node, --store-cert and --store-key, TLS files
 * only with --store. -EINVAL with *reterr. */
int settings_check(const struct settings *s, char **reterr);
/* What changed between two settings that cannot change while segd runs: a name, or NULL. */
const char *settings_restart_needed(const struct settings *a, const struct settings *b);
