/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "audit.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "settings.h"

static int arg_argc;
static char **arg_argv;

static void help(void)
{
	printf("Usage: segd [OPTIONS]\n"
	       "Enforce Kubernetes NetworkPolicy with nftables inside each endpoint's network\n"
	       "namespace. Runs in the foreground and logs to stderr.\n\n"
	       "  --config FILE          read options from FILE, one NAME = VALUE per line (NAME as\n"
	       "                         the long options below); the command line wins. SIGHUP\n"
	       "                         reads it again: log-level, resync-interval and\n"
	       "                         matrix-budget change at once, the rest at the next start\n"
	       "  --socket PATH          read-write control socket, root:--group mode 0660\n"
	       "                         (default /run/segd/segd.sock)\n"
	       "  --audit-socket PATH    read-only control socket, root:--audit-group mode 0660,\n"
	       "                         made when that group exists (default: audit.sock next\n"
	       "                         to --socket)\n"
	       "  --request-timeout SEC  an API request must be received in full within SEC\n"
	       "                         seconds of its connection (default 10)\n"
	       "  --state-dir DIR        persistent state (default /var/lib/segd)\n"
	       "  --engine ENGINE        container engine to follow: 'auto' (Podman's socket\n"
	       "                         /run/podman/podman.sock, then Docker's /var/run/docker.sock),\n"
	       "                         'unix:///path/to/engine.sock', or 'none' (default: endpoints\n"
	       "                         come from 'segctl endpoint add' and the OCI hook only)\n"
	       "  --resync-interval SEC  full resync with the engine every SEC seconds (default 30)\n"
	       "  --deny-action ACTION   drop (default) or reject denied traffic\n"
	       "  --group NAME           group allowed to use the socket besides root (default segd)\n"
	       "  --audit-group NAME     group with read-only access, on --audit-socket (default\n"
	       "                         segd-audit; ignored if the group does not exist)\n"
	       "  --audit-log PATH|none  append every change made through the API, before it is\n"
	       "                         acknowledged (default " AUDIT_LOG_DEFAULT ")\n"
	       "  --no-table-owner       do not make segd's tables owned (NFT_TABLE_F_OWNER): other\n"
	       "                         processes may then change them (e.g. nft tracing rules);\n"
	       "                         segd watches nf_tables events and repairs its tables\n"
	       "  --keep-established     when a change denies flows that are established, let them\n"
	       "                         go on (default: their conntrack entries are deleted in\n"
	       "                         the same change, so their next packet is judged anew)\n"
	       "  --fdstore MODE         where the sockets that own the tables wait while segd\n"
	       "                         restarts, so that no table is unowned for a moment:\n"
	       "                         auto (default: systemd's store when $NOTIFY_SOCKET is\n"
	       "                         set, else the segd-fdstore holder), systemd, holder, none\n"
	       "  --fdstore-socket PATH  the holder's socket (default: fdstore next to --socket)\n"
	       "  --store etcd:URL[,URL...]  share policies and endpoints with other nodes through\n"
	       "                         etcd v3 (docs/fleet.md); default: this host alone\n"
	       "  --node NAME            this node's name in the fleet (required with --store)\n"
	       "  --store-cacert FILE    CA of the etcd members' certificates (https URLs)\n"
	       "  --store-cert FILE      client certificate for etcd, with --store-key FILE\n"
	       "  --node-ttl SEC         a node that stops renewing its lease is lost after SEC\n"
	       "                         seconds; its endpoints leave every peer set (default 20)\n"
	       "  --drift MODE           with --no-table-owner: repair (default) or report (log,\n"
	       "                         count and mark the endpoint, leave the change in place)\n"
	       "  --flow-log MODE        NFLOG new connections in the endpoints' chains and keep them\n"
	       "                         for 'segctl flows': denied (default, 10/s per chain),\n"
	       "                         all (also every allowed new connection), or none\n"
	       "  --flow-log-file PATH   also append the records to PATH as JSON lines\n"
	       "  --flow-log-max-size N  rotate PATH to PATH.1 past N MiB (default 64)\n"
	       "  --metrics-listen ADDR  serve Prometheus metrics at http://ADDR/metrics, ADDR being\n"
	       "                         IPV4:PORT or [IPV6]:PORT, e.g. 127.0.0.1:9469 (default: off)\n"
	       "  --matrix-budget CELLS  what one 'segctl matrix' or 'segctl diff' may cost, in\n"
	       "                         cells (ordered pairs of endpoints x ports), counted before\n"
	       "                         any is evaluated; over it the answer is an error (413)\n"
	       "                         asking to narrow it (default 250000)\n"
	       "  --hook-fail-open NAME  a container segd-oci-hook may start without isolation\n"
	       "                         when segd does not answer (repeatable; default: none,\n"
	       "                         every container starts default-deny). The hook reads it\n"
	       "                         from the config file: set it there, and give the hook\n"
	       "                         the same --config\n"
	       "  --log-level LEVEL      error, warning, info (default) or debug\n"
	       "  -h, --help             show this help\n"
	       "  --version              show the version\n\n"
	       "Signals: SIGTERM and SIGINT stop segd (its tables stay in force); SIGHUP reloads\n"
	       "the settings and reopens the audit and flow log files.\n");
}

static const struct option options[] = { { "config", required_argument, NULL, 0 },
					 { "socket", required_argument, NULL, 0 },
					 { "audit-socket", required_argument, NULL, 0 },
					 { "request-timeout", required_argument, NULL, 0 },
					 { "state-dir", required_argument, NULL, 0 },
					 { "engine", required_argument, NULL, 0 },
					 { "resync-interval", required_argument, NULL, 0 },
					 { "deny-action", required_argument, NULL, 0 },
					 { "group", required_argument, NULL, 0 },
					 { "audit-group", required_argument, NULL, 0 },
					 { "audit-log", required_argument, NULL, 0 },
					 { "metrics-listen", required_argument, NULL, 0 },
					 { "no-table-owner", no_argument, NULL, 0 },
					 { "drift", required_argument, NULL, 0 },
					 { "keep-established", no_argument, NULL, 0 },
					 { "fdstore", required_argument, NULL, 0 },
					 { "fdstore-socket", required_argument, NULL, 0 },
					 { "flow-log", required_argument, NULL, 0 },
					 { "flow-log-file", required_argument, NULL, 0 },
					 { "flow-log-max-size", required_argument, NULL, 0 },
					 { "matrix-budget", required_argument, NULL, 0 },
					 { "hook-fail-open", required_argument, NULL, 0 },
					 { "log-level", required_argument, NULL, 0 },
					 { "store", required_argument, NULL, 0 },
					 { "node", required_argument, NULL, 0 },
					 { "store-cacert", required_argument, NULL, 0 },
					 { "store-cert", required_argument, NULL, 0 },
					 { "store-key", required_argument, NULL, 0 },
					 { "node-ttl", required_argument, NULL, 0 },
					 { "help", no_argument, NULL, 'h' },
					 { "version", no_argument, NULL, 'V' },
					 {} };

/*
 * The settings: defaults, then the config file (if the command line names one), then the
 * command line. 1 to run, 0 to exit successfully (--help, --version), -EINVAL.
 */
static int parse_settings(int argc, char **argv, struct settings *s, bool quiet)
{
	const char *config = NULL;
	char *err = NULL;
	int c, k, r;

	/* First pass: only --config, so that the command line can override the file. */
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", options, &k)) >= 0)
		if (c == 0 && streq(options[k].name, "config"))
			config = optarg;
	if (config) {
		r = settings_load_file(s, config, &err);
		if (r < 0) {
			log_error("%s", err ? err : "cannot read the config file");
			free(err);
			return r;
		}
		free(s->config);
		s->config = strdup(config);
		if (!s->config)
			return -ENOMEM;
	}
	opterr = !quiet;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", options, &k)) >= 0) {
		switch (c) {
		case 0:
			if (streq(options[k].name, "config"))
				break;
			r = settings_set(s, options[k].name, optarg, &err);
			if (r < 0) {
				log_error("%s", err ? err : "out of memory");
				free(err);
				return r;
			}
			break;
		case 'h':
			if (!quiet)
				help();
			return 0;
		case 'V':
			if (!quiet)
				printf("segd %s\n", SEGD_VERSION);
			return 0;
		default:
			return -EINVAL;
		}
	}
	if (optind < argc)
		return log_error_errno(-EINVAL, "Unexpected argument '%s' (see --help)",
				       argv[optind]);
	r = settings_check(s, &err);
	if (r < 0) {
		log_error("%s", err ? err : "out of memory");
		free(err);
		return r;
	}
	return 1;
}

static int reload(struct settings *ret, void *userdata)
{
	int r = parse_settings(arg_argc, arg_argv, ret, true);

	return r < 0 ? r : 0;
}

/* Each endpoint holds several descriptors (its namespace, our nftables socket, the address
 * monitor, ...): the default soft limit of 1024 would cap a host at a few hundred. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warning_errno(-errno, "Failed to raise the open file limit, ignoring: %m");
}

/* READY=1 straight to $NOTIFY_SOCKET, no libsystemd (ell does the same). */
static void notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	size_t len;

	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sa.sun_path))
		return;
	len = strlen(path);
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = 0;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	(void)sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *)&sa,
		     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
}

int main(int argc, char **argv)
{
	struct settings s;
	struct manager *m = NULL;
	sigset_t mask;
	int r;

	log_set_prefix(getenv("INVOCATION_ID") != NULL); /* under systemd: journald reads <N> */
	arg_argc = argc;
	arg_argv = argv;
	settings_init(&s);
	r = parse_settings(argc, argv, &s, false);
	if (r <= 0) {
		settings_done(&s);
		return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
	}
	log_set_level(s.log_level);

	if (geteuid() != 0)
		log_warning("Not running as root: entering network namespaces will fail");
	raise_nofile();

	/* Signals are read from a signalfd: block them before anything else. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	r = manager_new(&s, reload, NULL, &m);
	settings_done(&s);
	if (r < 0) {
		log_error_errno(r, "Failed to set up: %m");
		goto finish;
	}
	r = manager_start(m);
	if (r < 0)
		goto finish;
	log_info("segd %s ready", SEGD_VERSION);
	notify_ready();
	r = manager_run(m);
	if (r < 0)
		log_error_errno(r, "Event loop failed: %m");
finish:
	manager_free(m);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
