/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hook-config.h"
#include "log.h"
#include "macro.h"
#include "policy/policy.h"

static void help(void)
{
	printf("Usage: segd-oci-hook [OPTIONS] createRuntime|poststop < OCI-STATE\n"
	       "OCI runtime hook for segd: isolates a container before its workload starts.\n\n"
	       "  --socket PATH             segd's control socket (default /run/segd/segd.sock)\n"
	       "  --timeout-ms N            how long to wait for segd (default 2000)\n"
	       "  --refuse-unenforceable    fail (refuse to start) host-network containers\n"
	       "  --config FILE             segd's config file: its hook-fail-open names\n"
	       "  -h, --help                show this help\n\n"
	       "If segd does not answer in time, a default-deny table is installed in the\n"
	       "container's network namespace. Only the host can exempt a container: by its\n"
	       "name (as its engine recorded it in containers/storage) in a line\n"
	       "'hook-fail-open = NAME' of the --config file. The container's annotations\n"
	       "(segd.io/fail-open) have no effect.\n");
}

int hook_args_parse(int argc, char **argv, struct hook_args *ret)
{
	enum { ARG_SOCKET = 0x100, ARG_TIMEOUT, ARG_REFUSE, ARG_CONFIG };
	static const struct option options[] = {
		{ "socket", required_argument, NULL, ARG_SOCKET },
		{ "timeout-ms", required_argument, NULL, ARG_TIMEOUT },
		{ "refuse-unenforceable", no_argument, NULL, ARG_REFUSE },
		{ "config", required_argument, NULL, ARG_CONFIG },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct hook_args a = { .socket = "/run/segd/segd.sock", .timeout_ms = 2000 };
	char *end;
	int c;

	optind = 0; /* from the start, every time (the tests parse several command lines) */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
		switch (c) {
		case ARG_SOCKET:
			if (optarg[0] != '/')
				return log_error_errno(-EINVAL, "segd-oci-hook: --socket needs an "
								"absolute path");
			a.socket = optarg;
			break;
		case ARG_TIMEOUT:
			errno = 0;
			a.timeout_ms = strtol(optarg, &end, 10);
			if (errno || *end || optarg[0] < '0' || optarg[0] > '9' ||
			    a.timeout_ms < 1 || a.timeout_ms > 60000)
				return log_error_errno(-EINVAL,
						       "segd-oci-hook: --timeout-ms: 1 to 60000");
			break;
		case ARG_REFUSE:
			a.refuse_unenforceable = true;
			break;
		case ARG_CONFIG:
			if (optarg[0] != '/')
				return log_error_errno(-EINVAL, "segd-oci-hook: --config needs an "
								"absolute path");
			a.config = optarg;
			break;
		case 'h':
			help();
			return 0;
		case ':':
			return log_error_errno(-EINVAL, "segd-oci-hook: %s needs a value",
					       argv[optind - 1]);
		default:
			return log_error_errno(-EINVAL, "segd-oci-hook: unknown option '%s'",
					       argv[optind - 1]);
		}
	}
	if (optind + 1 != argc ||
	    (!streq(argv[optind], "createRuntime") && !streq(argv[optind], "poststop")))
		return log_error_errno(-EINVAL, "segd-oci-hook: expected one stage, "
						"createRuntime or poststop (see --help)");
	a.stage = argv[optind];
	*ret = a;
	return 1;
}

void hook_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int names_add(char ***names, size_t *n, const char *name)
{
	char **p = reallocarray(*names, *n + 1, sizeof(**names));

	if (!p)
		return -ENOMEM;
	*names = p;
	p[*n] = strdup(name);
	if (!p[*n])
		return -ENOMEM;
	(*n)++;
	return 0;
}

static int fail(char **reterr, const char *fmt, ...) _printf_(2, 3);
static int fail(char **reterr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(reterr, fmt, ap) < 0)
		*reterr = NULL;
	va_end(ap);
	return -EINVAL;
}

int hook_fail_open_names(const char *file, const char *text, size_t len, char ***ret, size_t *ret_n,
			 char **reterr)
{
	_cleanup_free_ char *copy = NULL;
	char **names = NULL, *next;
	size_t n = 0;
	unsigned lineno = 0;
	int r = 0;

	if (memchr(text, 0, len))
		return fail(reterr, "%s: holds a NUL byte", file);
	copy = strndup(text, len);
	if (!copy)
		return -ENOMEM;
	for (char *line = copy; line && r >= 0; line = next) {
		char *name = NULL, *value = NULL;
		const char *why;

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		lineno++;
		if (policy_config_line_split(line, &name, &value) < 0) {
			r = fail(reterr, "%s:%u: expected NAME = VALUE", file, lineno);
			break;
		}
		if (!name || !streq(name, "hook-fail-open"))
			continue;
		why = policy_container_name_invalid(value);
		if (why)
			r = fail(reterr, "%s:%u: hook-fail-open: container name '%s' %s", file,
				 lineno, value, why);
		else if (n >= POLICY_MAX_FAIL_OPEN)
			r = fail(reterr, "%s:%u: hook-fail-open: at most %d names", file, lineno,
				 POLICY_MAX_FAIL_OPEN);
		else
			r = names_add(&names, &n, value);
	}
	if (r < 0) {
		hook_names_free(names, n);
		return r;
	}
	*ret = names;
	*ret_n = n;
	return 0;
}

int hook_storage_names(const char *text, size_t len, const char *id, char ***ret, size_t *ret_n)
{
	json_auto_t *all = json_loadb(text, len, 0, NULL);
	json_t *c, *v;
	size_t i, k;

	if (!json_is_array(all))
		return -EBADMSG;
	json_array_foreach(all, i, c) {
		const char *cid = json_string_value(json_object_get(c, "id"));
		char **names = NULL;
		size_t n = 0;

		if (!cid || !streq(cid, id))
			continue;
		json_array_foreach(json_object_get(c, "names"), k, v) {
			if (!json_is_string(v) ||
			    policy_container_name_invalid(json_string_value(v)))
				continue;
			if (names_add(&names, &n, json_string_value(v)) < 0) {
				hook_names_free(names, n);
				return -ENOMEM;
			}
		}
		*ret = names;
		*ret_n = n;
		return 0;
	}
	return -ENOENT;
}

int hook_storage_file(const char *bundle, const char *id, char **ret)
{
	_cleanup_free_ char *b = strdup(bundle ? bundle : ""), *tail = NULL;
	size_t n, t;

	if (!b || asprintf(&tail, "/%s/userdata", id) < 0)
		return -ENOMEM;
	n = strlen(b);
	while (n > 1 && b[n - 1] == '/')
		b[--n] = 0;
	t = strlen(tail);
	if (b[0] != '/' || n <= t || !streq(b + n - t, tail))
		return -ENOENT;
	b[n - t] = 0;
	return asprintf(ret, "%s/containers.json", b) < 0 ? -ENOMEM : 0;
}
