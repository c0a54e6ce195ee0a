/* SPDX-License-Identifier: MIT */
/*
 * segd-runc: an OCI runtime that is runc with segd's hooks, for engines that do not read OCI
 * hooks.d (Docker: dockerd --add-runtime segd=/usr/local/sbin/segd-runc --default-runtime segd).
 *
 * For `create`, `run` and `restore` we add segd-oci-hook to the bundle's config.json as a
 * createRuntime and a poststop hook (oci-bundle.h), then execute the real runc with the same
 * command line: the container is isolated before its first instruction, and fails closed
 * when segd does not answer, as with Podman. If the config cannot be read or rewritten, or
 * the hook is missing, nothing runs: the container does not start, and the reason goes to
 * stderr and to runc's --log, where containerd reads it for the docker user. Every other
 * subcommand goes to runc untouched, whether segd is up or not.
 *
 * The real runc is SEGD_RUNC, or runc on PATH (never segd-runc itself); the rest of the
 * environment is in runc-args.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "macro.h"
#include "oci-bundle.h"
#include "runc-args.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static struct runc_call call;

/* logrus's time format, as runc writes it */
static void now_rfc3339(char *buf, size_t size)
{
	time_t t = time(NULL);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, size, "1970-01-01T00:00:00Z");
}

/* runc's --log file gets our error as runc would write it: containerd reads the last error
 * there ("OCI runtime create failed: ..."). Best effort: stderr has it too. */
static void log_to_runc_log(const char *msg)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *line = NULL;
	char when[64];

	if (!call.log)
		return;
	now_rfc3339(when, sizeof(when));
	if (call.log_json) {
		json_t *o = json_pack("{s:s,s:s,s:s}", "level", "error", "msg", msg, "time", when);

		line = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		if (!line)
			return;
	} else {
		json_t *s = json_string(msg);
		char *q = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL; /* a quoted, escaped msg */

		json_decref(s);
		if (!q || asprintf(&line, "time=\"%s\" level=error msg=%s", when, q) < 0)
			line = NULL;
		free(q);
		if (!line)
			return;
	}
	fd = open(call.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return;
	(void)!write(fd, line, strlen(line));
	(void)!write(fd, "\n", 1);
}

_printf_(1, 2) _noreturn_ static void die(const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL, *full = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (asprintf(&full, "segd-runc: %s", msg ? msg : "out of memory") < 0)
		full = NULL;
	fprintf(stderr, "%s\n", full ? full : "segd-runc: out of memory");
	if (full)
		log_to_runc_log(full);
	exit(EXIT_FAILURE);
}

static int stat_self(struct stat *ret)
{
	return RET_NERRNO(stat("/proc/self/exe", ret));
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* A regular file someone may execute: 0, or -errno (-EACCES: not executable). */
static int check_executable(const char *path, struct stat *ret)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EISDIR;
	if (!(st.st_mode & 0111))
		return -EACCES;
	if (ret)
		*ret = st;
	return 0;
}

/* The real runtime: SEGD_RUNC, else the first executable runc on PATH that is not us. */
static char *find_runtime(const char *configured)
{
	struct stat self, st;
	const char *path = getenv("PATH");
	int r;

	if (stat_self(&self) < 0)
		die("cannot stat /proc/self/exe: %m");
	if (configured) {
		r = check_executable(configured, &st);
		if (r < 0)
			die("SEGD_RUNC=%s: %s", configured, strerror(-r));
		if (same_file(&st, &self))
			die("SEGD_RUNC=%s is segd-runc itself, not runc", configured);
		return strdup(configured);
	}
	if (!path || !path[0])
		path = DEFAULT_PATH;
	for (const char *p = path; *p;) {
		size_t len = strcspn(p, ":");
		_cleanup_free_ char *cand = NULL;

		/* only absolute directories: a relative one depends on where we were started */
		if (len > 0 && p[0] == '/' && asprintf(&cand, "%.*s/runc", (int)len, p) >= 0 &&
		    check_executable(cand, &st) == 0 && !same_file(&st, &self))
			return TAKE_PTR(cand);
		p += len;
		if (*p == ':')
			p++;
	}
	die("no runc on PATH (%s) other than segd-runc itself; set SEGD_RUNC", path);
}

/* segd-oci-hook: SEGD_OCI_HOOK, else next to our own executable, else where it is installed. */
static char *find_hook(const char *configured)
{
	char self[PATH_MAX];
	_cleanup_free_ char *path = NULL;
	ssize_t n;
	int r;

	if (configured) {
		path = strdup(configured);
	} else {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n > 0) {
			char *slash;

			self[n] = 0;
			slash = strrchr(self, '/');
			if (slash &&
			    asprintf(&path, "%.*s/segd-oci-hook", (int)(slash - self), self) < 0)
				path = NULL;
			if (path && path[0] == '/' && check_executable(path, NULL) == 0)
				return TAKE_PTR(path);
			free(path);
			path = NULL;
		}
		path = strdup(SEGD_LIBEXECDIR "/segd/segd-oci-hook");
	}
	if (!path)
		die("out of memory");
	r = check_executable(path, NULL);
	if (path[0] != '/' || r < 0)
		die("segd-oci-hook %s: %s; the container is not started", path,
		    path[0] != '/' ? "not an absolute path" : strerror(-r));
	return TAKE_PTR(path);
}

/* config.json of the bundle at dfd, bounded, and its mode and owner. */
static int read_config(int dfd, char **ret, size_t *ret_len, struct stat *ret_st)
{
	_cleanup_close_ int fd = openat(dfd, "config.json",
					O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, max = OCI_BUNDLE_MAX_CONFIG_BYTES;
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADFD;
	if ((uintmax_t)st.st_size > max)
		return -EFBIG;
	buf = malloc(max + 2);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(fd, buf + len, max + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) /* it grew while we read: over the bound, never truncated */
			return -EFBIG;
	}
	buf[len] = 0;
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	*ret_st = st;
	return 0;
}

/* text replaces config.json atomically: a temporary file beside it, same mode and owner,
 * synced, renamed over it. */
static int write_config(int dfd, const char *text, size_t len, const struct stat *st)
{
	char tmp[64];
	_cleanup_close_ int fd = -1;
	size_t done = 0;
	int r = 0;

	snprintf(tmp, sizeof(tmp), ".config.json.segd-runc.%ld", (long)getpid());
	(void)unlinkat(dfd, tmp, 0);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, st->st_mode & 07777) < 0 ||
	    ((st->st_uid != geteuid() || st->st_gid != getegid()) &&
	     fchown(fd, st->st_uid, st->st_gid) < 0))
		r = -errno;
	while (r == 0 && done < len) {
		ssize_t n = write(fd, text + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = -errno;
		else
			done += (size_t)n;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && close(TAKE_FD(fd)) < 0)
		r = -errno;
	if (r == 0 && renameat(dfd, tmp, dfd, "config.json") < 0)
		r = -errno;
	if (r < 0) {
		(void)unlinkat(dfd, tmp, 0);
		return r;
	}
	(void)fsync(dfd);
	return 0;
}

static void add_hooks(const char *bundle, const struct runc_env *env)
{
	_cleanup_free_ char *hook = find_hook(env->hook), *text = NULL, *out = NULL, *err = NULL;
	_cleanup_close_ int dfd = open(bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct oci_segd_hook h = {
		.path = hook,
		.socket = env->socket,
		.config = env->config,
		.timeout_ms = env->timeout_ms,
	};
	struct stat st = { 0 };
	size_t len = 0, out_len = 0;
	bool changed = false;
	int r;

	if (dfd < 0)
		die("bundle %s: %m; the container is not started", bundle);
	r = read_config(dfd, &text, &len, &st);
	if (r < 0)
		die("%s/config.json: %s; the container is not started", bundle,
		    r == -EBADFD  ? "not a regular file"
		    : r == -EFBIG ? "too large"
				  : strerror(-r));
	r = oci_bundle_add_hooks(text, len, &h, &out, &out_len, &changed, &err);
	if (r < 0)
		die("%s/%s; the container is not started", bundle, err ? err : strerror(-r));
	if (!changed)
		return;
	r = write_config(dfd, out, out_len, &st);
	if (r < 0)
		die("%s/config.json: cannot write it: %s; the container is not started", bundle,
		    strerror(-r));
}

int main(int argc, char **argv)
{
	_cleanup_free_ char *err = NULL, *runtime = NULL;
	const char *configured;
	char **nargv;
	int r;

	/* first: it finds runc's --log, where our errors go too */
	r = runc_args_scan(argc, argv, &call, &err);
	if (r < 0)
		die("%s (runc would refuse this command line too)", err ? err : strerror(-r));
	r = runc_env_runtime(getenv, &configured, &err);
	if (r < 0)
		die("%s", err ? err : strerror(-r));
	runtime = find_runtime(configured);
	if (!runtime)
		die("out of memory");
	if (call.hooked) {
		struct runc_env env;

		r = runc_env_parse(getenv, &env, &err);
		if (r < 0)
			die("%s; the container is not started", err ? err : strerror(-r));
		add_hooks(call.bundle ? call.bundle : ".", &env);
	}
	nargv = calloc((size_t)argc + 1, sizeof(*nargv));
	if (!nargv)
		die("out of memory");
	memcpy(nargv, argv, (size_t)argc * sizeof(*nargv));
	nargv[0] = runtime; /* runc re-executes /proc/self/exe; argv[0] names it for ps */
	execv(runtime, nargv);
	die("cannot execute %s: %m", runtime);
}
