/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdstore-proto.h"
#include "fdstore.h"
#include "fdtable.h"
#include "macro.h"
#include "time-util.h"

/* sd_listen_fds(): passed fds start at 3 */
#define LISTEN_FDS_START 3
/* More fds than this in $LISTEN_FDS is not a store of ours. */
#define LISTEN_FDS_MAX (FDSTORE_PROTO_HOLD_MAX * 64)
/* "FDSTOREREMOVE=1\nFDNAME=" + name + "\nFDPOLL=0" */
#define NOTIFY_MSG_MAX (64 + FDSTORE_PROTO_NAME_MAX)

extern char **environ;

struct fdstore {
	enum fdstore_kind kind;
	int sock; /* holder: the connection; systemd: a datagram socket */
	struct sockaddr_un notify;
	socklen_t notify_len;
	size_t max; /* 0: unknown */
	uint32_t seq;
	int broken; /* holder: the error that broke the connection; requests fail from then on */
	/* Every name in the store; the fd of a name handed back and not taken yet, else -1. */
	struct fdtable *names;
	uint8_t buf[FDSTORE_PROTO_MSG_MAX];
};

bool fdstore_name_valid(const char *name)
{
	return name && fdstore_proto_name_valid(name, strnlen(name, FDSTORE_PROTO_NAME_MAX + 1));
}

enum fdstore_kind fdstore_kind(const struct fdstore *s)
{
	return s->kind;
}

size_t fdstore_size(const struct fdstore *s)
{
	return fdtable_size(s->names);
}

struct fdstore *fdstore_free(struct fdstore *s)
{
	if (!s)
		return NULL;
	fdtable_free(s->names);
	safe_close(s->sock);
	free(s);
	return NULL;
}

static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int64_t left = deadline - now_msec();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0)
			return 0;
	}
}

/* Strict decimal, no sign, no leading space; -EINVAL otherwise. */
static int parse_unsigned(const char *s, unsigned long max, unsigned long *ret)
{
	unsigned long v;
	char *end;

	if (!s || s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* ---- systemd ---- */

static int notify_address(struct fdstore *s, const char *e)
{
	size_t l = strlen(e);

	if (l < 2 || l >= sizeof(s->notify.sun_path))
		return -EINVAL;
	s->notify.sun_family = AF_UNIX;
	if (e[0] == '@') { /* abstract */
		memcpy(s->notify.sun_path + 1, e + 1, l - 1);
		s->notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + l);
	} else if (e[0] == '/') {
		memcpy(s->notify.sun_path, e, l + 1);
		s->notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + l + 1);
	} else
		return -EPROTONOSUPPORT; /* vsock: not for a store on this host */
	return 0;
}

/* One sd_notify datagram, with fd if >= 0. Blocks while systemd's queue is full (bounded). */
static int notify_send(struct fdstore *s, const char *text, int fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control = { 0 };
	struct iovec iov = { .iov_base = (void *)text, .iov_len = strlen(text) };
	struct msghdr mh = {
		.msg_name = &s->notify,
		.msg_namelen = s->notify_len,
		.msg_iov = &iov,
		.msg_iovlen = 1,
	};
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *c;

		mh.msg_control = control.buf;
		mh.msg_controllen = sizeof(control.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	n = sendmsg(s->sock, &mh, MSG_NOSIGNAL);
	if (n < 0)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;
	return (size_t)n == iov.iov_len ? 0 : -EIO;
}

/* fds 3..3+n from $LISTEN_FDS, named by $LISTEN_FDNAMES, if $LISTEN_PID is us (sd_listen_fds
 * semantics). All of it is checked before any fd is touched. */
static int listen_fds_take(struct fdstore *s)
{
	const char *pid_s = getenv("LISTEN_PID"), *n_s = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	unsigned long pid, n, n_names = 0;
	int r;

	if (!pid_s || !n_s)
		return 0;
	if (parse_unsigned(pid_s, INT_MAX, &pid) < 0 || parse_unsigned(n_s, LISTEN_FDS_MAX, &n) < 0)
		return -EBADMSG;
	if (pid != (unsigned long)getpid())
		return 0; /* meant for another process */
	if (names && *names) {
		n_names = 1;
		for (const char *p = names; *p; p++)
			n_names += *p == ':';
	}
	if (n_names > n)
		return -EBADMSG;
	for (unsigned long i = 0; i < n; i++)
		if (fcntl(LISTEN_FDS_START + (int)i, F_GETFD) < 0)
			return -EBADMSG;

	/* From here on every fd is ours: in the table, or closed. */
	r = 0;
	for (unsigned long i = 0; i < n; i++) {
		int fd = LISTEN_FDS_START + (int)i;
		const char *name = "unknown"; /* what libsystemd calls an fd without a name */
		size_t len = strlen(name);

		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		if (names && *names) {
			const char *colon = strchrnul(names, ':');

			name = names;
			len = (size_t)(colon - names);
			names = *colon ? colon + 1 : colon;
		}
		/* A name we would never give, or a second fd under one name: systemd keeps its
		 * copy (fdstore_remove() of a valid name drops all of them), we close ours. */
		if (r < 0 || !fdstore_proto_name_valid(name, len) ||
		    fdtable_find(s->names, name, len) >= 0) {
			close(fd);
			continue;
		}
		r = fdtable_set(s->names, name, len, fd);
		if (r < 0)
			close(fd);
	}
	return r < 0 ? r : 0;
}

static int systemd_open(struct fdstore *s)
{
	const char *e = getenv("NOTIFY_SOCKET");
	struct timeval tv = { .tv_sec = FDSTORE_TIMEOUT_MS / 1000 };
	unsigned long max = 0;
	int r;

	if (!e || !*e)
		return -ENXIO;
	r = notify_address(s, e);
	if (r < 0)
		return r;
	if (parse_unsigned(getenv("FDSTORE"), UINT32_MAX, &max) >= 0)
		s->max = max;
	/* Before we open anything: a socket of ours could land where $LISTEN_FDS points. */
	r = listen_fds_take(s);
	/* Like sd_listen_fds(true): no child of ours may take these for its own. */
	(void)unsetenv("LISTEN_PID");
	(void)unsetenv("LISTEN_FDS");
	(void)unsetenv("LISTEN_FDNAMES");
	if (r < 0)
		return r;
	s->sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s->sock < 0)
		return -errno;
	if (setsockopt(s->sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

static int systemd_put(struct fdstore *s, const char *name, int fd)
{
	char text[NOTIFY_MSG_MAX];
	int r;

	if (fdtable_find(s->names, name, strlen(name)) >= 0) {
		snprintf(text, sizeof(text), "FDSTOREREMOVE=1\nFDNAME=%s", name);
		r = notify_send(s, text, -1);
		if (r < 0)
			return r;
	} else if (s->max > 0 && fdtable_size(s->names) >= s->max)
		return -ENOSPC; /* systemd would close it and say nothing */
	/* FDPOLL=0: systemd would otherwise drop a stored socket on EPOLLERR, and a netlink
	 * socket reports an overrun (ENOBUFS) that way. */
	snprintf(text, sizeof(text), "FDSTORE=1\nFDNAME=%s\nFDPOLL=0", name);
	return notify_send(s, text, fd);
}

static int systemd_remove(struct fdstore *s, const char *name)
{
	char text[NOTIFY_MSG_MAX];

	snprintf(text, sizeof(text), "FDSTOREREMOVE=1\nFDNAME=%s", name);
	return notify_send(s, text, -1);
}

/* ---- segd-fdstore ---- */

/* Receives one message (waiting until the deadline) and checks it. */
static int holder_recv(struct fdstore *s, int64_t deadline, struct fdstore_msg *m, int *fds,
		       size_t *ret_n_fds)
{
	for (;;) {
		size_t n_fds = 0;
		ssize_t n = fdstore_proto_recv(s->sock, s->buf, sizeof(s->buf), fds, &n_fds, NULL);
		int r;

		if (n == -EAGAIN || n == -EINTR) {
			r = wait_fd(s->sock, POLLIN, deadline);
			if (r < 0)
				return r;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return (int)n;
		r = fdstore_proto_parse(s->buf, (size_t)n, n_fds, m);
		if (r < 0) {
			for (size_t i = 0; i < n_fds; i++)
				close(fds[i]);
			return -EBADMSG;
		}
		*ret_n_fds = n_fds;
		return 0;
	}
}

/* HELLO, then every fd the holder keeps, in FDS messages. */
static int holder_handshake(struct fdstore *s)
{
	int64_t deadline = now_msec() + FDSTORE_TIMEOUT_MS;
	int fds[FDSTORE_PROTO_FDS_MAX];
	struct fdstore_msg m;
	size_t n_fds, got = 0, held;
	int r;

	r = holder_recv(s, deadline, &m, fds, &n_fds);
	if (r < 0)
		return r;
	if (m.type != FDSTORE_MSG_HELLO || m.held > LISTEN_FDS_MAX)
		return -EBADMSG;
	if (m.error < 0)
		return m.error;
	held = m.held;
	s->max = m.max;
	while (got < held) {
		deadline = now_msec() + FDSTORE_TIMEOUT_MS;
		r = holder_recv(s, deadline, &m, fds, &n_fds);
		if (r >= 0 && (m.type != FDSTORE_MSG_FDS || m.count > held - got))
			r = -EBADMSG;
		for (size_t i = 0; i < n_fds; i++) {
			if (r >= 0) {
				r = fdtable_set(s->names, m.names[i], m.name_lens[i], fds[i]);
				if (r == 0) /* a name twice */
					r = -EBADMSG;
				else if (r > 0)
					continue;
			}
			close(fds[i]);
		}
		if (r < 0)
			return r;
		got += m.count;
	}
	return 0;
}

static int holder_connect(const char *socket_path, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	struct ucred cred;
	socklen_t sl = sizeof(cred);
	struct stat st;

	if (lstat(socket_path, &st) < 0)
		return -errno;
	if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid())
		return -EPERM;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	strcpy(sa.sun_path, socket_path); /* length checked by fdstore_proto_check_dir */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return errno == EAGAIN ? -EBUSY : -errno; /* EAGAIN: its backlog is full */
	/* The holder is us (root, or the same uid): anyone else could keep our sockets. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &sl) < 0)
		return -errno;
	if (cred.uid != 0 && cred.uid != geteuid())
		return -EPERM;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* Our environment without what the service manager gave us: the holder is not the service. */
static char **holder_env(void)
{
	static const char *const drop[] = { "LISTEN_PID=",    "LISTEN_FDS=", "LISTEN_FDNAMES=",
					    "NOTIFY_SOCKET=", "FDSTORE=",    "WATCHDOG_PID=",
					    "WATCHDOG_USEC=" };
	size_t n = 0, k = 0;
	char **env;

	while (environ && environ[n])
		n++;
	env = calloc(n + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		bool keep = true;

		for (size_t j = 0; j < ARRAY_SIZE(drop); j++)
			keep = keep && strncmp(environ[i], drop[j], strlen(drop[j])) != 0;
		if (keep)
			env[k++] = environ[i];
	}
	return env;
}

/* In the holder-to-be, between fork and exec: async-signal-safe calls only. */
static _noreturn_ void holder_exec(const char *holder_path, char *const *argv, char *const *env,
				   int ready)
{
	sigset_t none;
	int32_t e;
	int devnull, high, flags;

	if (setsid() < 0)
		_exit(1);
	/* The double fork: the holder is nobody's child and never gets a terminal. */
	switch (fork()) {
	case -1:
		_exit(1);
	case 0:
		break;
	default:
		_exit(0);
	}
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	/* Both out of 0..3 first: a closed stdio fd must not leave either of them there. */
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0 && devnull < 10) {
		int moved = fcntl(devnull, F_DUPFD_CLOEXEC, 10);

		close(devnull);
		devnull = moved;
	}
	high = fcntl(ready, F_DUPFD_CLOEXEC, 10);
	if (devnull < 0 || high < 0 || dup2(devnull, STDIN_FILENO) < 0 ||
	    dup2(devnull, STDOUT_FILENO) < 0 || dup2(high, 3) < 0)
		_exit(1);
	/* No stderr for it (ours was closed, and fd 2 is nothing or one of our CLOEXEC files):
	 * /dev/null, or the holder's first file would become its stderr. */
	flags = fcntl(STDERR_FILENO, F_GETFD);
	if ((flags < 0 || (flags & FD_CLOEXEC)) && dup2(devnull, STDERR_FILENO) < 0)
		_exit(1);
	(void)close_range(4, ~0U, 0);
	(void)!chdir("/");
	execve(holder_path, argv, env);
	e = errno;
	(void)!write(3, &e, sizeof(e));
	_exit(127);
}

/* Starts a holder at socket_path and waits until it listens. */
static int holder_spawn(const char *holder_path, const char *socket_path)
{
	char *argv[] = { (char *)"segd-fdstore", (char *)"--socket", (char *)socket_path,
			 (char *)"--ready-fd",	 (char *)"3",	     NULL };
	_cleanup_free_ char **env = holder_env();
	_cleanup_close_ int rd = -1, wr = -1;
	int64_t deadline = now_msec() + FDSTORE_TIMEOUT_MS;
	int p[2], status = 0, r;
	int32_t e = 0;
	ssize_t n;
	pid_t pid;

	if (!env)
		return -ENOMEM;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	rd = p[0];
	wr = p[1];
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		holder_exec(holder_path, argv, env, wr);
	wr = safe_close(wr);
	/* The middle process exits at once. ECHILD: someone else reaped it (SIGCHLD ignored, or
	 * a loop that waits for any child); the pipe tells us all we need anyway. */
	while (waitpid(pid, &status, 0) < 0 && errno != ECHILD)
		if (errno != EINTR)
			return -errno;
	/* 4 bytes: 0 once it listens, else an errno (exec, setup); nothing: it died. */
	r = wait_fd(rd, POLLIN, deadline);
	if (r < 0)
		return r;
	n = read(rd, &e, sizeof(e));
	if (n < 0)
		return -errno;
	if (n != sizeof(e))
		return -ECHILD;
	return e > 0 ? -e : 0;
}

/*
 * Connects to the holder, starting one if none answers. Under PATH.lock, which an exiting
 * holder takes too: a holder either sees our connection queued and stays, or has removed its
 * socket before we look (and we start another).
 */
static int holder_connect_or_spawn(const char *holder_path, const char *socket_path, int *ret_fd)
{
	_cleanup_free_ char *lock_path = fdstore_proto_path(socket_path, FDSTORE_PROTO_LOCK_SUFFIX);
	_cleanup_close_ int lock = -1;
	int r;

	if (!lock_path)
		return -ENOMEM;
	lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lock < 0)
		return -errno;
	while (flock(lock, LOCK_EX) < 0)
		if (errno != EINTR)
			return -errno;
	r = holder_connect(socket_path, ret_fd);
	if (r != -ENOENT && r != -ECONNREFUSED)
		return r;
	if (!holder_path)
		return -ENOENT;
	r = holder_spawn(holder_path, socket_path);
	if (r < 0)
		return r;
	return holder_connect(socket_path, ret_fd);
}

static int holder_open(struct fdstore *s, const char *holder_path, const char *socket_path)
{
	_cleanup_free_ char *exe = NULL;
	int r;

	r = fdstore_proto_check_dir(socket_path, true);
	if (r < 0)
		return r;
	/* The holder starts in "/": a relative path would name something else there. */
	if (holder_path) {
		exe = realpath(holder_path, NULL);
		if (!exe)
			return -errno;
	}
	/* A holder killed between our connect and its answer: once more, with a new one. */
	for (int attempt = 0;; attempt++) {
		r = holder_connect_or_spawn(exe, socket_path, &s->sock);
		if (r < 0)
			return r;
		r = holder_handshake(s);
		if (r != -ECONNRESET || attempt > 0)
			return r;
		s->sock = safe_close(s->sock);
		fdtable_clear(s->names);
	}
}

/* One request, one reply. A failed exchange breaks the connection for good. */
static int holder_request(struct fdstore *s, enum fdstore_msg_type type, const char *name, int fd)
{
	int64_t deadline = now_msec() + FDSTORE_TIMEOUT_MS;
	int fds[FDSTORE_PROTO_FDS_MAX];
	struct fdstore_msg m;
	size_t n_fds = 0;
	ssize_t len;
	int r;

	if (s->broken)
		return -ENOTCONN;
	len = fdstore_proto_build(s->buf, type, ++s->seq, 0, &name, 1);
	if (len < 0)
		return (int)len;
	for (;;) {
		r = fdstore_proto_send(s->sock, s->buf, (size_t)len, &fd, fd >= 0 ? 1 : 0);
		if (r != -EAGAIN)
			break;
		r = wait_fd(s->sock, POLLOUT, deadline);
		if (r < 0)
			break;
	}
	if (r >= 0)
		r = holder_recv(s, deadline, &m, fds, &n_fds);
	if (r >= 0 && (m.type != FDSTORE_MSG_REPLY || m.seq != s->seq))
		r = -EBADMSG;
	if (r < 0) {
		s->broken = r;
		return r;
	}
	return m.error;
}

/* ---- the API ---- */

int fdstore_open(enum fdstore_kind kind, const char *holder_path, const char *socket_path,
		 struct fdstore **ret)
{
	struct fdstore *s;
	unsigned long v;
	int r;

	if (kind == FDSTORE_AUTO) {
		const char *e = getenv("NOTIFY_SOCKET");

		kind = e && *e && parse_unsigned(getenv("FDSTORE"), UINT32_MAX, &v) >= 0 && v > 0
			       ? FDSTORE_SYSTEMD
			       : FDSTORE_HOLDER;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->kind = kind;
	s->sock = -1;
	r = fdtable_new(&s->names);
	if (r >= 0)
		r = kind == FDSTORE_SYSTEMD ? systemd_open(s)
					    : holder_open(s, holder_path, socket_path);
	if (r < 0) {
		fdstore_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

int fdstore_take(struct fdstore *s, const char *name, int *ret_fd)
{
	if (!fdstore_name_valid(name))
		return -ENOENT;
	return fdtable_take(s->names, name, strlen(name), ret_fd);
}

int fdstore_put(struct fdstore *s, const char *name, int fd)
{
	int r;

	if (!fdstore_name_valid(name))
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	r = s->kind == FDSTORE_SYSTEMD ? systemd_put(s, name, fd)
				       : holder_request(s, FDSTORE_MSG_PUT, name, fd);
	if (r < 0)
		return r;
	/* Known to be in the store now; a copy handed back under name is stale. */
	r = fdtable_set(s->names, name, strlen(name), -1);
	return r < 0 ? r : 0;
}

int fdstore_remove(struct fdstore *s, const char *name)
{
	int r;

	if (!fdstore_name_valid(name))
		return -EINVAL;
	r = s->kind == FDSTORE_SYSTEMD ? systemd_remove(s, name)
				       : holder_request(s, FDSTORE_MSG_REMOVE, name, -1);
	if (r < 0 && r != -ENOENT)
		return r;
	(void)fdtable_remove(s->names, name, strlen(name));
	return r;
}

int fdstore_untaken(struct fdstore *s, char ***ret_names)
{
	size_t n = 0, bytes = 0, k = 0;
	char **names, *p;

	for (size_t i = 0; i < fdtable_size(s->names); i++) {
		size_t l;

		if (fdtable_fd(s->names, i) < 0)
			continue;
		(void)fdtable_name(s->names, i, &l);
		n++;
		bytes += l + 1;
	}
	names = malloc((n + 1) * sizeof(char *) + bytes);
	if (!names)
		return -ENOMEM;
	p = (char *)(names + n + 1);
	for (size_t i = 0; i < fdtable_size(s->names); i++) {
		size_t l;
		const char *name = fdtable_name(s->names, i, &l);

		if (fdtable_fd(s->names, i) < 0)
			continue;
		memcpy(p, name, l + 1);
		names[k++] = p;
		p += l + 1;
	}
	names[k] = NULL;
	*ret_names = names;
	return (int)n;
}
