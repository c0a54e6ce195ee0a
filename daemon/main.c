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

#include "log.h"
#include "macro.h"
#include "audit.h"
#include "manager.h"
#include "metrics.h"

static const char *arg_socket = "/run/segd/segd.sock";
static const char *arg_state_dir = "/var/lib/segd";
static const char *arg_group = "segd";
static const char *arg_audit_group = "segd-audit";
static const char *arg_audit_log = AUDIT_LOG_DEFAULT;
static const char *arg_metrics_listen = NULL;
static bool arg_no_table_owner = false;
static bool arg_drift_report_only = false;
static enum policy_flow_log arg_flow_log = POLICY_FLOW_LOG_DENIED;
static const char *arg_flow_log_file = NULL;
static uint64_t arg_flow_log_max = 64ull << 20;
static enum policy_deny_action arg_deny = POLICY_DENY_DROP;
static const char *arg_engine = "none";
static unsigned arg_resync_interval = 30;

static void help(void)
{
	printf("Usage: segd [OPTIONS]\n"
	       "Enforce Kubernetes NetworkPolicy with nftables inside each endpoint's network\n"
	       "namespace. Runs in the foreground and logs to stderr.\n\n"
	       "  --socket PATH          control socket (default /run/segd/segd.sock)\n"
	       "  --state-dir DIR        persistent state (default /var/lib/segd)\n"
	       "  --engine ENGINE        container engine to follow: 'auto' (Podman's socket\n"
	       "                         /run/podman/podman.sock, then Docker's /var/run/docker.sock),\n"
	       "                         'unix:///path/to/engine.sock', or 'none' (default: endpoints\n"
	       "                         come from 'segctl endpoint add' and the OCI hook only)\n"
	       "  --resync-interval SEC  full resync with the engine every SEC seconds (default 30)\n"
	       "  --deny-action ACTION   drop (default) or reject denied traffic\n"
	       "  --group NAME           group allowed to use the socket besides root (default segd)\n"
	       "  --audit-group NAME     group with read-only access to the socket (default\n"
	       "                         segd-audit; ignored if the group does not exist)\n"
	       "  --audit-log PATH|none  append every change made through the API, before it is\n"
	       "                         acknowledged (default " AUDIT_LOG_DEFAULT ")\n"
	       "  --no-table-owner       do not make segd's tables owned (NFT_TABLE_F_OWNER): other\n"
	       "                         processes may then change them (e.g. nft tracing rules);\n"
	       "                         segd watches nf_tables events and repairs its tables\n"
	       "  --drift MODE           with --no-table-owner: repair (default) or report (log,\n"
	       "                         count and mark the endpoint, leave the change in place)\n"
	       "  --flow-log MODE        NFLOG new connections in the endpoints' chains and keep them\n"
	       "                         for 'segctl flows': denied (default, 10/s per chain),\n"
	       "                         all (also every allowed new connection), or none\n"
	       "  --flow-log-file PATH   also append the records to PATH as JSON lines\n"
	       "  --flow-log-max-size N  rotate PATH to PATH.1 past N MiB (default 64)\n"
	       "  --metrics-listen ADDR  serve Prometheus metrics at http://ADDR/metrics, ADDR being\n"
	       "                         IPV4:PORT or [IPV6]:PORT, e.g. 127.0.0.1:9469 (default: off)\n"
	       "  --log-level LEVEL      error, warning, info (default) or debug\n"
	       "  -h, --help             show this help\n"
	       "  --version              show the version\n");
}

static int parse_level(const char *s)
{
	if (streq(s, "error"))
		return LOG_ERR;
	if (streq(s, "warning"))
		return LOG_WARNING;
	if (streq(s, "info"))
		return LOG_INFO;
	if (streq(s, "debug"))
		return LOG_DEBUG;
	return -EINVAL;
}

static int parse_argv(int argc, char **argv)
{
	enum { ARG_SOCKET = 0x100, ARG_STATE_DIR, ARG_ENGINE, ARG_DENY, ARG_GROUP, ARG_LOG_LEVEL,
	       ARG_VERSION, ARG_RESYNC, ARG_AUDIT_GROUP, ARG_AUDIT_LOG, ARG_METRICS,
	       ARG_NO_OWNER, ARG_FLOW_LOG, ARG_FLOW_FILE, ARG_FLOW_MAX, ARG_DRIFT };
	static const struct option options[] = {
		{ "socket", required_argument, NULL, ARG_SOCKET },
		{ "state-dir", required_argument, NULL, ARG_STATE_DIR },
		{ "engine", required_argument, NULL, ARG_ENGINE },
		{ "resync-interval", required_argument, NULL, ARG_RESYNC },
		{ "deny-action", required_argument, NULL, ARG_DENY },
		{ "group", required_argument, NULL, ARG_GROUP },
		{ "audit-group", required_argument, NULL, ARG_AUDIT_GROUP },
		{ "audit-log", required_argument, NULL, ARG_AUDIT_LOG },
		{ "metrics-listen", required_argument, NULL, ARG_METRICS },
		{ "no-table-owner", no_argument, NULL, ARG_NO_OWNER },
		{ "drift", required_argument, NULL, ARG_DRIFT },
		{ "flow-log", required_argument, NULL, ARG_FLOW_LOG },
		{ "flow-log-file", required_argument, NULL, ARG_FLOW_FILE },
		{ "flow-log-max-size", required_argument, NULL, ARG_FLOW_MAX },
		{ "log-level", required_argument, NULL, ARG_LOG_LEVEL },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{}
	};
	int c, l;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case ARG_SOCKET:
			if (strlen(optarg) >= sizeof(((struct sockaddr_un *)0)->sun_path) ||
			    optarg[0] != '/')
				return log_error_errno(-EINVAL, "--socket needs an absolute path of "
							       "at most 107 bytes");
			arg_socket = optarg;
			break;
		case ARG_STATE_DIR:
			arg_state_dir = optarg;
			break;
		case ARG_ENGINE:
			if (!streq(optarg, "none") && !streq(optarg, "auto") &&
			    !(strncmp(optarg, "unix:///", 8) == 0 && strlen(optarg) < 115))
				return log_error_errno(-EINVAL, "--engine: 'auto', 'none' or "
								"'unix:///path', not '%s'", optarg);
			arg_engine = optarg;
			break;
		case ARG_RESYNC: {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || v < 1 || v > 86400)
				return log_error_errno(-EINVAL, "--resync-interval: 1 to 86400 seconds");
			arg_resync_interval = (unsigned)v;
			break;
		}
		case ARG_DENY:
			if (streq(optarg, "drop"))
				arg_deny = POLICY_DENY_DROP;
			else if (streq(optarg, "reject"))
				arg_deny = POLICY_DENY_REJECT;
			else
				return log_error_errno(-EINVAL, "--deny-action: 'drop' or 'reject', "
								"not '%s'", optarg);
			break;
		case ARG_GROUP:
			arg_group = optarg;
			break;
		case ARG_AUDIT_GROUP:
			arg_audit_group = optarg;
			break;
		case ARG_FLOW_LOG:
			if (streq(optarg, "denied"))
				arg_flow_log = POLICY_FLOW_LOG_DENIED;
			else if (streq(optarg, "all"))
				arg_flow_log = POLICY_FLOW_LOG_ALL;
			else if (streq(optarg, "none"))
				arg_flow_log = POLICY_FLOW_LOG_NONE;
			else
				return log_error_errno(-EINVAL, "--flow-log: denied, all or none, not '%s'",
						       optarg);
			break;
		case ARG_FLOW_FILE:
			if (optarg[0] != '/')
				return log_error_errno(-EINVAL, "--flow-log-file needs an absolute path");
			arg_flow_log_file = optarg;
			break;
		case ARG_FLOW_MAX: {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || v < 1 || v > 65536)
				return log_error_errno(-EINVAL, "--flow-log-max-size: 1 to 65536 (MiB)");
			arg_flow_log_max = (uint64_t)v << 20;
			break;
		}
		case ARG_DRIFT:
			if (streq(optarg, "report"))
				arg_drift_report_only = true;
			else if (streq(optarg, "repair"))
				arg_drift_report_only = false;
			else
				return log_error_errno(-EINVAL, "--drift: repair or report, not '%s'", optarg);
			break;
		case ARG_NO_OWNER:
			arg_no_table_owner = true;
			break;
		case ARG_METRICS: {
			struct sockaddr_storage ss;
			socklen_t sl;

			if (metrics_parse_listen(optarg, &ss, &sl) < 0)
				return log_error_errno(-EINVAL, "--metrics-listen: IPV4:PORT or "
								"[IPV6]:PORT, not '%s'", optarg);
			arg_metrics_listen = optarg;
			break;
		}
		case ARG_AUDIT_LOG:
			if (streq(optarg, "none"))
				arg_audit_log = NULL;
			else if (optarg[0] != '/')
				return log_error_errno(-EINVAL, "--audit-log needs an absolute path or "
								"'none', not '%s'", optarg);
			else
				arg_audit_log = optarg;
			break;
		case ARG_LOG_LEVEL:
			l = parse_level(optarg);
			if (l < 0)
				return log_error_errno(l, "--log-level: error, warning, info or debug");
			log_set_level(l);
			break;
		case 'h':
			help();
			return 0;
		case ARG_VERSION:
			printf("segd %s\n", SEGD_VERSION);
			return 0;
		default:
			return -EINVAL;
		}
	}
	if (optind < argc)
		return log_error_errno(-EINVAL, "Unexpected argument '%s' (see --help)", argv[optind]);
	return 1;
}

/* Each endpoint holds three descriptors (its namespace, our nftables socket, the address
 * monitor): the default soft limit of 1024 would cap a host at ~300 endpoints. */
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
	struct manager_config cfg;
	struct manager *m = NULL;
	sigset_t mask;
	int r;

	if (getenv("INVOCATION_ID"))	/* under systemd: journald reads the <N> prefixes */
		log_set_prefix(1);
	else
		log_set_prefix(0);

	r = parse_argv(argc, argv);
	if (r <= 0)
		return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

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

	cfg = (struct manager_config){
		.socket_path = arg_socket,
		.state_dir = arg_state_dir,
		.deny = arg_deny,
		.group = arg_group,
		.engine = arg_engine,
		.resync_interval_s = arg_resync_interval,
		.audit_group = arg_audit_group,
		.audit_log = arg_audit_log,
		.metrics_listen = arg_metrics_listen,
		.no_table_owner = arg_no_table_owner,
		.drift_report_only = arg_drift_report_only,
		.flow_log = arg_flow_log,
		.flow_log_file = arg_flow_log_file,
		.flow_log_max_bytes = arg_flow_log_max,
	};
	r = manager_new(&cfg, &m);
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
