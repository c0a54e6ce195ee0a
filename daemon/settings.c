/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "audit.h"
#include "explain.h"
#include "macro.h"
#include "metrics.h"
#include "fleet-parse.h"
#include "settings.h"

static int fail(char **reterr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char **reterr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(reterr, fmt, ap) < 0)
		*reterr = NULL;
	va_end(ap);
	return -EINVAL;
}

void settings_init(struct settings *s)
{
	*s = (struct settings){
		.resync_interval_s = 30,
		.deny = POLICY_DENY_DROP,
		.flow_log = POLICY_FLOW_LOG_DENIED,
		.flow_log_max_bytes = 64ull << 20,
		.log_level = LOG_INFO,
		.matrix_budget = EXPLAIN_DEFAULT_BUDGET,
		.request_timeout_s = 10,
		.node_ttl_s = 20,
	};
	s->socket_path = strdup("/run/segd/segd.sock");
	s->state_dir = strdup("/var/lib/segd");
	s->engine = strdup("none");
	s->group = strdup("segd");
	s->audit_group = strdup("segd-audit");
	s->audit_log = strdup(AUDIT_LOG_DEFAULT);
	s->fdstore = strdup("auto");
}

void settings_done(struct settings *s)
{
	free(s->socket_path);
	free(s->audit_socket);
	free(s->state_dir);
	free(s->engine);
	free(s->group);
	free(s->audit_group);
	free(s->audit_log);
	free(s->metrics_listen);
	free(s->flow_log_file);
	free(s->config);
	free(s->fdstore);
	free(s->fdstore_socket);
	free(s->store);
	free(s->node);
	free(s->store_cacert);
	free(s->store_cert);
	free(s->store_key);
	for (size_t i = 0; i < s->n_hook_fail_open; i++)
		free(s->hook_fail_open[i]);
	free(s->hook_fail_open);
	*s = (struct settings){ 0 };
}

static int set_str(char **p, const char *v)
{
	char *c = v ? strdup(v) : NULL;

	if (v && !c)
		return -ENOMEM;
	free(*p);
	*p = c;
	return 0;
}

static int number(const char *v, unsigned long lo, unsigned long hi, unsigned long *ret)
{
	char *end;

	if (!v || *v < '0' || *v > '9') /* strtoul() would take spaces and a sign */
		return -EINVAL;
	errno = 0;
	*ret = strtoul(v, &end, 10);
	return errno || *end || *ret < lo || *ret > hi ? -EINVAL : 0;
}

static int flag(const char *v, bool *ret)
{
	if (!v || streq(v, "true") || streq(v, "yes") || streq(v, "1"))
		*ret = true;
	else if (streq(v, "false") || streq(v, "no") || streq(v, "0"))
		*ret = false;
	else
		return -EINVAL;
	return 0;
}

static int choice(const char *v, const char *const *names, int n)
{
	for (int i = 0; v && i < n; i++)
		if (streq(v, names[i]))
			return i;
	return -EINVAL;
}

int settings_set(struct settings *s, const char *name, const char *v, char **reterr)
{
	static const char *const levels[] = { "error", "warning", "info", "debug" };
	static const int level_values[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	static const char *const flow_modes[] = { "none", "denied", "all" };
	static const char *const denies[] = { "drop", "reject" };
	static const char *const drifts[] = { "repair", "report" };
	unsigned long n;
	bool b;
	int k;

	if (!v && !streq(name, "no-table-owner") && !streq(name, "keep-established"))
		return fail(reterr, "--%s needs a value", name);
	if (streq(name, "socket")) {
		if (v[0] != '/' || strlen(v) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return fail(reterr, "--socket needs an absolute path of at most 107 bytes");
		return set_str(&s->socket_path, v);
	}
	if (streq(name, "audit-socket")) {
		if (v[0] != '/' || strlen(v) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return fail(reterr,
				    "--audit-socket needs an absolute path of at most 107 bytes");
		return set_str(&s->audit_socket, v);
	}
	if (streq(name, "request-timeout")) {
		if (number(v, 1, 3600, &n) < 0)
			return fail(reterr, "--request-timeout: 1 to 3600 seconds");
		s->request_timeout_s = (unsigned)n;
		return 0;
	}
	if (streq(name, "state-dir")) {
		if (v[0] != '/')
			return fail(reterr, "--state-dir needs an absolute path");
		return set_str(&s->state_dir, v);
	}
	if (streq(name, "engine")) {
		if (!streq(v, "none") && !streq(v, "auto") &&
		    !(strncmp(v, "unix:///", 8) == 0 && strlen(v) < 115))
			return fail(reterr, "--engine: 'auto', 'none' or 'unix:///path', not '%s'",
				    v);
		return set_str(&s->engine, v);
	}
	if (streq(name, "resync-interval")) {
		if (number(v, 1, 86400, &n) < 0)
			return fail(reterr, "--resync-interval: 1 to 86400 seconds");
		s->resync_interval_s = (unsigned)n;
		return 0;
	}
	if (streq(name, "deny-action")) {
		k = choice(v, denies, ARRAY_SIZE(denies));
		if (k < 0)
			return fail(reterr, "--deny-action: 'drop' or 'reject', not '%s'", v);
		s->deny = k == 0 ? POLICY_DENY_DROP : POLICY_DENY_REJECT;
		return 0;
	}
	if (streq(name, "group") || streq(name, "audit-group")) {
		if (!*v)
			return fail(reterr, "--%s needs a group name", name);
		return set_str(streq(name, "group") ? &s->group : &s->audit_group, v);
	}
	if (streq(name, "audit-log")) {
		if (streq(v, "none"))
			return set_str(&s->audit_log, NULL);
		if (v[0] != '/')
			return fail(reterr,
				    "--audit-log needs an absolute path or 'none', not '%s'", v);
		return set_str(&s->audit_log, v);
	}
	if (streq(name, "metrics-listen")) {
		struct sockaddr_storage ss;
		socklen_t sl;

		if (metrics_parse_listen(v, &ss, &sl) < 0)
			return fail(reterr, "--metrics-listen: IPV4:PORT or [IPV6]:PORT, not '%s'",
				    v);
		return set_str(&s->metrics_listen, v);
	}
	if (streq(name, "no-table-owner")) {
		if (flag(v, &b) < 0)
			return fail(reterr, "--no-table-owner: true or false, not '%s'", v);
		s->no_table_owner = b;
		return 0;
	}
	if (streq(name, "fdstore")) {
		if (!streq(v, "auto") && !streq(v, "systemd") && !streq(v, "holder") &&
		    !streq(v, "none"))
			return fail(reterr, "--fdstore: auto, systemd, holder or none, not '%s'",
				    v);
		return set_str(&s->fdstore, v);
	}
	if (streq(name, "fdstore-socket")) {
		if (v[0] != '/' || strlen(v) >= sizeof(((struct sockaddr_un *)0)->sun_path) - 8)
			return fail(reterr, "--fdstore-socket needs an absolute path of at most 99 "
					    "bytes");
		return set_str(&s->fdstore_socket, v);
	}
	if (streq(name, "store")) {
		char **urls = NULL;
		size_t n_urls = 0;
		int r = fleet_store_urls(v, &urls, &n_urls, reterr);

		if (r < 0)
			return r;
		fleet_store_urls_free(urls, n_urls);
		return set_str(&s->store, v);
	}
	if (streq(name, "node")) {
		const char *why = policy_dns_subdomain_invalid(v);

		if (why)
			return fail(reterr, "--node: '%s' is not a node name: %s", v, why);
		return set_str(&s->node, v);
	}
	if (streq(name, "store-cacert") || streq(name, "store-cert") || streq(name, "store-key")) {
		if (v[0] != '/' || strlen(v) > 4095)
			return fail(reterr, "--%s needs an absolute path", name);
		return set_str(streq(name, "store-cacert") ? &s->store_cacert
			       : streq(name, "store-cert") ? &s->store_cert
							   : &s->store_key,
			       v);
	}
	if (streq(name, "node-ttl")) {
		if (number(v, 5, 3600, &n) < 0)
			return fail(reterr, "--node-ttl: 5 to 3600 seconds");
		s->node_ttl_s = (unsigned)n;
		return 0;
	}
	if (streq(name, "keep-established")) {
		if (flag(v, &b) < 0)
			return fail(reterr, "--keep-established: true or false, not '%s'", v);
		s->keep_established = b;
		return 0;
	}
	if (streq(name, "drift")) {
		k = choice(v, drifts, ARRAY_SIZE(drifts));
		if (k < 0)
			return fail(reterr, "--drift: repair or report, not '%s'", v);
		s->drift_report_only = k == 1;
		return 0;
	}
	if (streq(name, "flow-log")) {
		k = choice(v, flow_modes, ARRAY_SIZE(flow_modes));
		if (k < 0)
			return fail(reterr, "--flow-log: denied, all or none, not '%s'", v);
		s->flow_log = k == 0   ? POLICY_FLOW_LOG_NONE
			      : k == 1 ? POLICY_FLOW_LOG_DENIED
				       : POLICY_FLOW_LOG_ALL;
		return 0;
	}
	if (streq(name, "flow-log-file")) {
		if (v[0] != '/')
			return fail(reterr, "--flow-log-file needs an absolute path");
		return set_str(&s->flow_log_file, v);
	}
	if (streq(name, "flow-log-max-size")) {
		if (number(v, 1, 65536, &n) < 0)
			return fail(reterr, "--flow-log-max-size: 1 to 65536 (MiB)");
		s->flow_log_max_bytes = (uint64_t)n << 20;
		return 0;
	}
	if (streq(name, "matrix-budget")) {
		if (number(v, 1, 1000000000, &n) < 0)
			return fail(reterr,
				    "--matrix-budget: 1 to 1000000000 cells (pairs x ports)");
		s->matrix_budget = n;
		return 0;
	}
	if (streq(name, "hook-fail-open")) {
		const char *why = policy_container_name_invalid(v);
		char **names, *copy;

		if (why)
			return fail(reterr, "--hook-fail-open: container name '%s' %s", v, why);
		for (size_t i = 0; i < s->n_hook_fail_open; i++)
			if (streq(s->hook_fail_open[i], v))
				return 0;
		if (s->n_hook_fail_open >= POLICY_MAX_FAIL_OPEN)
			return fail(reterr, "--hook-fail-open: at most %d names",
				    POLICY_MAX_FAIL_OPEN);
		names = reallocarray(s->hook_fail_open, s->n_hook_fail_open + 1, sizeof(*names));
		if (!names)
			return -ENOMEM;
		s->hook_fail_open = names;
		copy = strdup(v);
		if (!copy)
			return -ENOMEM;
		names[s->n_hook_fail_open++] = copy;
		return 0;
	}
	if (streq(name, "log-level")) {
		k = choice(v, levels, ARRAY_SIZE(levels));
		if (k < 0)
			return fail(reterr, "--log-level: error, warning, info or debug, not '%s'",
				    v);
		s->log_level = level_values[k];
		return 0;
	}
	return fail(reterr, "unknown option '%s'", name);
}

int settings_parse_text(struct settings *s, const char *file, const char *text, size_t len,
			char **reterr)
{
	_cleanup_free_ char *copy = NULL;
	unsigned lineno = 0;
	char *save = NULL;

	if (len > SETTINGS_MAX_FILE_BYTES)
		return fail(reterr, "%s: over %u bytes", file, SETTINGS_MAX_FILE_BYTES);
	if (memchr(text, 0, len))
		return fail(reterr, "%s: holds a NUL byte", file);
	copy = strndup(text, len);
	if (!copy)
		return -ENOMEM;
	/* strtok_r skips empty lines; count them from the text itself */
	for (char *p = copy, *line; p; p = save) {
		char *name = NULL, *value = NULL, *inner = NULL;
		int r;

		line = p;
		save = strchr(p, '\n');
		if (save)
			*save++ = 0;
		lineno++;
		if (policy_config_line_split(line, &name, &value) < 0)
			return fail(reterr, "%s:%u: expected NAME = VALUE", file, lineno);
		if (!name)
			continue;
		if (streq(name, "config"))
			return fail(reterr, "%s:%u: a config file cannot name another", file,
				    lineno);
		r = settings_set(s, name, value, &inner);
		if (r == -EINVAL) {
			r = fail(reterr, "%s:%u: %s", file, lineno, inner ? inner : "invalid");
			free(inner);
			return r;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int settings_load_file(struct settings *s, const char *path, char **reterr)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char buf[SETTINGS_MAX_FILE_BYTES + 1];
	size_t len = 0;
	ssize_t n;

	if (fd < 0)
		return fail(reterr, "%s: %s", path, strerror(errno));
	while ((n = read(fd, buf + len, sizeof(buf) - len)) > 0) {
		len += (size_t)n;
		if (len == sizeof(buf))
			break;
	}
	if (n < 0)
		return fail(reterr, "%s: %s", path, strerror(errno));
	return settings_parse_text(s, path, buf, len, reterr);
}

static bool str_differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && !streq(a, b));
}

const char *settings_restart_needed(const struct settings *a, const struct settings *b)
{
	if (str_differs(a->socket_path, b->socket_path))
		return "socket";
	if (str_differs(a->audit_socket, b->audit_socket))
		return "audit-socket";
	if (a->request_timeout_s != b->request_timeout_s)
		return "request-timeout";
	if (str_differs(a->state_dir, b->state_dir))
		return "state-dir";
	if (str_differs(a->engine, b->engine))
		return "engine";
	if (a->deny != b->deny)
		return "deny-action";
	if (str_differs(a->group, b->group))
		return "group";
	if (str_differs(a->audit_group, b->audit_group))
		return "audit-group";
	if (str_differs(a->audit_log, b->audit_log))
		return "audit-log";
	if (str_differs(a->metrics_listen, b->metrics_listen))
		return "metrics-listen";
	if (a->no_table_owner != b->no_table_owner)
		return "no-table-owner";
	if (a->drift_report_only != b->drift_report_only)
		return "drift";
	if (a->keep_established != b->keep_established)
		return "keep-established";
	if (str_differs(a->fdstore, b->fdstore))
		return "fdstore";
	if (str_differs(a->fdstore_socket, b->fdstore_socket))
		return "fdstore-socket";
	if (str_differs(a->store, b->store))
		return "store";
	if (str_differs(a->node, b->node))
		return "node";
	if (str_differs(a->store_cacert, b->store_cacert) ||
	    str_differs(a->store_cert, b->store_cert) || str_differs(a->store_key, b->store_key))
		return "store-cert";
	if (a->node_ttl_s != b->node_ttl_s)
		return "node-ttl";
	if (a->flow_log != b->flow_log)
		return "flow-log";
	if (str_differs(a->flow_log_file, b->flow_log_file))
		return "flow-log-file";
	if (a->flow_log_max_bytes != b->flow_log_max_bytes)
		return "flow-log-max-size";
	return NULL;
}

int settings_check(const struct settings *s, char **reterr)
{
	if (s->store && !s->node)
		return fail(reterr, "--store needs --node NAME: every node of a fleet has a name");
	if (s->node && !s->store)
		return fail(reterr, "--node is for a fleet: give --store etcd:URL too");
	if (!s->store && (s->store_cacert || s->store_cert || s->store_key))
		return fail(reterr, "--store-cacert, --store-cert and --store-key need --store");
	if (!s->store_cert != !s->store_key)
		return fail(reterr, "--store-cert and --store-key go together");
	return 0;
}
