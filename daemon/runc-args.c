/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "macro.h"
#include "runc-args.h"

/* A flag of runc 1.1 (`runc --help`, `runc create --help`, ...): its names, and whether it
 * takes a value (Go's flag package: a non-boolean flag takes the next argument, whatever it
 * looks like). urfave/cli adds help/h to every command and version/v to the application. */
struct go_flag {
	const char *names[2];
	bool value;
};

enum { F_HELP = 0, F_BUNDLE = 1, F_LOG = 1, F_LOG_FORMAT = 2, F_VERSION = 3 };

static const struct go_flag global_flags[] = {
	[F_HELP] = { { "help", "h" }, false },
	[F_LOG] = { { "log" }, true },
	[F_LOG_FORMAT] = { { "log-format" }, true },
	[F_VERSION] = { { "version", "v" }, false },
	{ { "debug" }, false },
	{ { "root" }, true },
	{ { "criu" }, true },
	{ { "systemd-cgroup" }, false },
	{ { "rootless" }, true },
	{},
};

static const struct go_flag create_flags[] = {
	[F_HELP] = { { "help", "h" }, false },
	[F_BUNDLE] = { { "bundle", "b" }, true },
	{ { "console-socket" }, true },
	{ { "pid-file" }, true },
	{ { "no-pivot" }, false },
	{ { "no-new-keyring" }, false },
	{ { "preserve-fds" }, true },
	{},
};

static const struct go_flag run_flags[] = {
	[F_HELP] = { { "help", "h" }, false },
	[F_BUNDLE] = { { "bundle", "b" }, true },
	{ { "console-socket" }, true },
	{ { "detach", "d" }, false },
	{ { "keep" }, false },
	{ { "pid-file" }, true },
	{ { "no-subreaper" }, false },
	{ { "no-pivot" }, false },
	{ { "no-new-keyring" }, false },
	{ { "preserve-fds" }, true },
	{},
};

static const struct go_flag restore_flags[] = {
	[F_HELP] = { { "help", "h" }, false },
	[F_BUNDLE] = { { "bundle", "b" }, true },
	{ { "console-socket" }, true },
	{ { "image-path" }, true },
	{ { "work-path" }, true },
	{ { "tcp-established" }, false },
	{ { "ext-unix-sk" }, false },
	{ { "shell-job" }, false },
	{ { "file-locks" }, false },
	{ { "manage-cgroups-mode" }, true },
	{ { "detach", "d" }, false },
	{ { "pid-file" }, true },
	{ { "no-subreaper" }, false },
	{ { "no-pivot" }, false },
	{ { "empty-ns" }, true },
	{ { "auto-dedup" }, false },
	{ { "lazy-pages" }, false },
	{ { "lsm-profile" }, true },
	{ { "lsm-mount-context" }, true },
	{},
};

#define MAX_FLAGS 24

/* What one parse found: per flag, the last value given (or "true"/"false" for a boolean)
 * and which of its names were used. */
struct go_parse {
	const char *value[MAX_FLAGS];
	unsigned names_used[MAX_FLAGS];
	int operand; /* index of the first operand, or n */
};

_printf_(2, 3) static int fail(char **reterr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(reterr, fmt, ap) < 0)
		*reterr = NULL;
	va_end(ap);
	return -EINVAL;
}

/* The flag called `name` (without dashes, up to len bytes), or -1. */
static int flag_find(const struct go_flag *flags, const char *name, size_t len, unsigned *ret_name)
{
	for (int i = 0; flags[i].names[0]; i++)
		for (unsigned k = 0; k < 2 && flags[i].names[k]; k++)
			if (strlen(flags[i].names[k]) == len &&
			    !strncmp(flags[i].names[k], name, len)) {
				*ret_name = k;
				return i;
			}
	return -1;
}

/* strconv.ParseBool */
static const char *go_bool(const char *s)
{
	static const char *const t[] = { "1", "t", "T", "TRUE", "true", "True" };
	static const char *const f[] = { "0", "f", "F", "FALSE", "false", "False" };

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		if (streq(s, t[i]))
			return "true";
		if (streq(s, f[i]))
			return "false";
	}
	return NULL;
}

/* Go's flag.FlagSet.Parse of args[0..n), then urfave/cli's check that a flag was not given
 * under two of its names. */
static int go_parse(const struct go_flag *flags, char *const *args, int n, struct go_parse *p,
		    char **reterr)
{
	int i = 0;

	*p = (struct go_parse){ .operand = n };
	while (i < n) {
		const char *s = args[i], *name, *eq;
		size_t len;
		unsigned k;
		int f;

		if (strlen(s) < 2 || s[0] != '-')
			break;
		name = s + 1;
		if (name[0] == '-') {
			name++;
			if (!name[0]) { /* "--" ends the flags */
				i++;
				break;
			}
		}
		if (name[0] == '-' || name[0] == '=')
			return fail(reterr, "bad flag syntax: %s", s);
		i++;
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		f = flag_find(flags, name, len, &k);
		if (f < 0) {
			if (asprintf(reterr, "flag provided but not defined: -%.*s", (int)len,
				     name) < 0)
				*reterr = NULL;
			return -EINVAL;
		}
		p->names_used[f] |= 1u << k;
		if (!flags[f].value) {
			p->value[f] = eq ? go_bool(eq + 1) : "true";
			if (!p->value[f])
				return fail(reterr, "invalid boolean value \"%s\" for -%s", eq + 1,
					    flags[f].names[k]);
		} else if (eq) {
			p->value[f] = eq + 1;
		} else if (i < n) {
			p->value[f] = args[i++];
		} else {
			return fail(reterr, "flag needs an argument: -%s", flags[f].names[k]);
		}
	}
	p->operand = i;
	for (int f = 0; flags[f].names[0]; f++)
		if (p->names_used[f] == 3)
			return fail(reterr, "Cannot use two forms of the same flag: %s %s",
				    flags[f].names[0], flags[f].names[1]);
	return 0;
}

/* urfave/cli v1's argIsFlag: "-x", "--x", "-x=v", "--x=v" for a flag x of the command. */
static bool arg_is_flag(const struct go_flag *flags, const char *arg)
{
	const char *name = arg;
	unsigned k;

	if (arg[0] != '-' || streq(arg, "-") || streq(arg, "--"))
		return false;
	/* strings.Replace(arg, "-", "", 2) for "--", then of one more leading '-': so
	 * "---bundle" counts as a flag here (and is then bad syntax to Go) */
	name += name[1] == '-' ? 2 : 1;
	if (name[0] == '-')
		name++;
	return flag_find(flags, name, strcspn(name, "="), &k) >= 0;
}

/* urfave/cli v1's reorderArgs: the command's flags (and the argument after a flag without
 * '=', which may be its value) move ahead of the operands; "--" comes first among the
 * operands, and nothing after it moves. out and rest have room for n. */
static void reorder(const struct go_flag *flags, char *const *args, int n, char **out, char **rest)
{
	int nf = 0, nr = 0;
	bool may_be_value = false;

	for (int i = 0; i < n; i++) {
		char *a = args[i];

		if (may_be_value && !arg_is_flag(flags, a)) {
			may_be_value = false;
			out[nf++] = a;
		} else if (streq(a, "--")) {
			out[nf++] = a;
			for (int j = 0; j < nr; j++)
				out[nf++] = rest[j];
			for (int j = i + 1; j < n; j++)
				out[nf++] = args[j];
			return;
		} else if (arg_is_flag(flags, a)) {
			out[nf++] = a;
			may_be_value = !strchr(a, '=');
		} else {
			rest[nr++] = a;
		}
	}
	for (int j = 0; j < nr; j++)
		out[nf++] = rest[j];
}

int runc_args_scan(int argc, char *const *argv, struct runc_call *ret, char **reterr)
{
	struct runc_call c = { 0 };
	struct go_parse g, s;
	const struct go_flag *flags = NULL;
	_cleanup_free_ char **moved = NULL;
	int n = argc - 1, r;

	*reterr = NULL;
	if (argc < 1)
		return fail(reterr, "no command line");
	r = go_parse(global_flags, argv + 1, n, &g, reterr);
	if (r < 0)
		return r;
	c.log = g.value[F_LOG];
	c.log_json = g.value[F_LOG_FORMAT] && streq(g.value[F_LOG_FORMAT], "json");
	/* urfave/cli shows the help or the version and runs no command */
	if ((g.value[F_HELP] && streq(g.value[F_HELP], "true")) ||
	    (g.value[F_VERSION] && streq(g.value[F_VERSION], "true")) || g.operand >= n) {
		*ret = c;
		return 0;
	}
	c.command = argv[1 + g.operand];
	if (streq(c.command, "create"))
		flags = create_flags;
	else if (streq(c.command, "run"))
		flags = run_flags;
	else if (streq(c.command, "restore"))
		flags = restore_flags;
	if (!flags) {
		*ret = c;
		return 0;
	}
	n -= g.operand + 1;
	moved = calloc((size_t)n * 2 + 1, sizeof(*moved));
	if (!moved)
		return -ENOMEM;
	reorder(flags, argv + 2 + g.operand, n, moved, moved + n);
	r = go_parse(flags, moved, n, &s, reterr);
	if (r < 0)
		return r;
	c.hooked = !(s.value[F_HELP] && streq(s.value[F_HELP], "true"));
	c.bundle = c.hooked ? s.value[F_BUNDLE] : NULL;
	*ret = c;
	return 0;
}

/* An absolute path of printable bytes, at most max long; NULL when fine, else the reason. */
static const char *path_invalid(const char *v, size_t max)
{
	size_t len = strlen(v);

	if (v[0] != '/')
		return "not an absolute path";
	if (len > max)
		return "too long";
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return "has a control character";
	return NULL;
}

static const char *env_get(char *(*getenv_fn)(const char *), const char *name)
{
	const char *v = getenv_fn(name);

	return v && v[0] ? v : NULL;
}

static int env_path(char *(*getenv_fn)(const char *), const char *name, size_t max,
		    const char **ret, char **reterr)
{
	const char *v = env_get(getenv_fn, name), *why;

	*ret = NULL;
	if (!v)
		return 0;
	why = path_invalid(v, max);
	if (why)
		return fail(reterr, "%s: %s", name, why);
	*ret = v;
	return 0;
}

int runc_env_runtime(char *(*getenv_fn)(const char *), const char **ret, char **reterr)
{
	*reterr = NULL;
	return env_path(getenv_fn, "SEGD_RUNC", RUNC_MAX_PATH, ret, reterr);
}

int runc_env_parse(char *(*getenv_fn)(const char *), struct runc_env *ret, char **reterr)
{
	struct runc_env e = { 0 };
	const char *t;
	int r;

	*reterr = NULL;
	r = env_path(getenv_fn, "SEGD_SOCKET", sizeof(((struct sockaddr_un *)0)->sun_path) - 1,
		     &e.socket, reterr);
	if (r < 0)
		return r;
	if (!e.socket)
		e.socket = RUNC_DEFAULT_SOCKET;
	r = env_path(getenv_fn, "SEGD_OCI_HOOK", RUNC_MAX_PATH, &e.hook, reterr);
	if (r < 0)
		return r;
	r = env_path(getenv_fn, "SEGD_HOOK_CONFIG", RUNC_MAX_PATH, &e.config, reterr);
	if (r < 0)
		return r;
	r = env_path(getenv_fn, "SEGD_RUNC", RUNC_MAX_PATH, &e.runc, reterr);
	if (r < 0)
		return r;
	t = env_get(getenv_fn, "SEGD_HOOK_TIMEOUT_MS");
	if (t) {
		/* digits only, 1 to 60000: segd-oci-hook's --timeout-ms */
		size_t len = strspn(t, "0123456789");

		if (len == 0 || t[len] || len > 5 || (e.timeout_ms = strtol(t, NULL, 10)) < 1 ||
		    e.timeout_ms > 60000)
			return fail(reterr, "SEGD_HOOK_TIMEOUT_MS: not a number of milliseconds "
					    "from 1 to 60000");
	}
	*ret = e;
	return 0;
}
