/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Helpers of the fd store's tests (include after <cmocka.h>): where a holder listens, its pid,
 * waiting for a process to be gone (pidfd), starting a holder ourselves, and a client that
 * speaks the protocol by hand. Everything asserts. WAIT_MS bounds a wait that would otherwise
 * hang a failing test; nothing is ever synchronised by sleeping.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdstore-proto.h"
#include "fdtable.h"
#include "fixture.h"
#include "macro.h"

#define WAIT_MS 10000

static inline pid_t fdtest_holder_pid(const char *sock);

/* Holders still running at exit (a test failed half-way) would keep the test's stderr open,
 * and the test runner waiting: they are stopped. */
static char *fdtest_sockets[32];

static inline void fdtest_stop_holders(void)
{
	for (size_t i = 0; i < 32 && fdtest_sockets[i]; i++) {
		pid_t pid = fdtest_holder_pid(fdtest_sockets[i]);

		if (pid > 0)
			(void)kill(pid, SIGTERM);
		free(fdtest_sockets[i]);
	}
}

/* fixture_tmpdir()/DIR/holder.sock; DIR does not exist yet (the store creates it). */
static inline char *fdtest_socket(const char *dir)
{
	char *p = NULL;
	size_t i = 0;

	assert_true(asprintf(&p, "%s/%s/holder.sock", fixture_tmpdir(), dir) > 0);
	while (i < 32 && fdtest_sockets[i])
		i++;
	assert_true(i < 32);
	if (i == 0)
		atexit(fdtest_stop_holders);
	fdtest_sockets[i] = strdup(p);
	return p;
}

/* The pid in SOCKET.pid, 0 if there is none. */
static inline pid_t fdtest_holder_pid(const char *sock)
{
	char path[256], text[32] = "";
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s%s", sock, FDSTORE_PROTO_PID_SUFFIX);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	return n > 0 ? (pid_t)atoi(text) : 0;
}

/* Waits (bounded) until the process behind pidfd is gone. */
static inline void fdtest_wait_gone(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	assert_int_equal(poll(&p, 1, WAIT_MS), 1);
}

static inline bool fdtest_alive(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	return poll(&p, 1, 0) == 0;
}

/* SIGTERM to the holder named by SOCKET.pid, and wait until it is gone. */
static inline void fdtest_holder_kill(const char *sock)
{
	pid_t pid = fdtest_holder_pid(sock);
	int pidfd;

	assert_true(pid > 0);
	pidfd = pidfd_open(pid, 0);
	assert_true(pidfd >= 0);
	assert_int_equal(pidfd_send_signal(pidfd, SIGTERM, NULL, 0), 0);
	fdtest_wait_gone(pidfd);
	close(pidfd);
}

static inline void fdtest_raise_nofile(void)
{
	struct rlimit rl;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = rl.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

/* Starts a holder as our own child (argv: --socket SOCK, then extra, NULL-terminated) and waits
 * until it listens. */
static inline pid_t fdtest_holder_start(const char *holder, const char *sock,
					const char *const *extra)
{
	const char *argv[16] = { holder, "--socket", sock, "--ready-fd" };
	char fdnum[16];
	int p[2];
	int32_t e = -1;
	size_t n = 5;
	pid_t pid;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	snprintf(fdnum, sizeof(fdnum), "%d", p[1]);
	argv[4] = fdnum;
	for (size_t i = 0; extra && extra[i] && n < 15; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGTERM); /* if the test dies first */
		(void)fcntl(p[1], F_SETFD, 0);
		execv(holder, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	assert_int_equal(poll(&(struct pollfd){ .fd = p[0], .events = POLLIN }, 1, WAIT_MS), 1);
	assert_int_equal(read(p[0], &e, sizeof(e)), sizeof(e));
	close(p[0]);
	assert_int_equal(e, 0);
	return pid;
}

static inline int fdtest_connect(const char *sock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* The next message on a raw connection (waiting, bounded): its fds in fds, or -ECONNRESET when
 * the holder hung up. */
static inline int fdtest_recv(int fd, int timeout_ms, struct fdstore_msg *m, int *fds,
			      size_t *ret_n_fds)
{
	static uint8_t buf[FDSTORE_PROTO_MSG_MAX];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t n_fds = 0;
	ssize_t n;

	if (poll(&p, 1, timeout_ms) == 0)
		return -ETIMEDOUT;
	n = fdstore_proto_recv(fd, buf, sizeof(buf), fds, &n_fds, NULL);
	if (n == 0 || n == -ECONNRESET)
		return -ECONNRESET;
	assert_true(n > 0);
	assert_int_equal(fdstore_proto_parse(buf, (size_t)n, n_fds, m), 0);
	*ret_n_fds = n_fds;
	return 0;
}

/* Reads HELLO and everything handed back, into t (or closing the fds if t is NULL); HELLO's
 * error. */
static inline int fdtest_hello_into(int fd, uint32_t *ret_held, struct fdtable *t)
{
	int fds[FDSTORE_PROTO_FDS_MAX];
	struct fdstore_msg m;
	size_t n_fds = 0, got = 0;

	assert_int_equal(fdtest_recv(fd, WAIT_MS, &m, fds, &n_fds), 0);
	assert_int_equal(m.type, FDSTORE_MSG_HELLO);
	if (ret_held)
		*ret_held = m.held;
	while (m.error == 0 && got < m.held) {
		uint32_t held = m.held;

		assert_int_equal(fdtest_recv(fd, WAIT_MS, &m, fds, &n_fds), 0);
		assert_int_equal(m.type, FDSTORE_MSG_FDS);
		for (size_t i = 0; i < n_fds; i++)
			if (!t || fdtable_set(t, m.names[i], m.name_lens[i], fds[i]) != 1)
				close(fds[i]);
		got += n_fds;
		m.held = held;
		m.error = 0;
	}
	return m.error;
}

static inline int fdtest_hello(int fd, uint32_t *ret_held)
{
	return fdtest_hello_into(fd, ret_held, NULL);
}

/* Sends len bytes with n_fds fds and returns the REPLY's error (its seq in *ret_seq). */
static inline int fdtest_request(int fd, const void *buf, size_t len, const int *fds, size_t n_fds,
				 uint32_t *ret_seq)
{
	int got[FDSTORE_PROTO_FDS_MAX];
	struct fdstore_msg m;
	size_t n = 0;

	assert_int_equal(fdstore_proto_send(fd, buf, len, fds, n_fds), 0);
	assert_int_equal(fdtest_recv(fd, WAIT_MS, &m, got, &n), 0);
	assert_int_equal(m.type, FDSTORE_MSG_REPLY);
	assert_int_equal(n, 0);
	if (ret_seq)
		*ret_seq = m.seq;
	return m.error;
}

/* PUT or REMOVE of one name (fd: -1 for none), as a well-behaved client sends them. */
static inline int fdtest_op(int fd, enum fdstore_msg_type type, const char *name, int put_fd)
{
	uint8_t buf[FDSTORE_PROTO_HDR_SIZE + 1 + FDSTORE_PROTO_NAME_MAX];
	static uint32_t seq;
	ssize_t len = fdstore_proto_build(buf, type, ++seq, 0, &name, 1);
	uint32_t got = 0;
	int r;

	assert_true(len > 0);
	r = fdtest_request(fd, buf, (size_t)len, &put_fd, put_fd >= 0 ? 1 : 0, &got);
	assert_int_equal(got, seq);
	return r;
}

/* A pipe: its read end goes to the holder, the write end tells us when the holder closed it. */
static inline void fdtest_pipe(int *ret_read, int *ret_write)
{
	int p[2];

	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	*ret_read = p[0];
	*ret_write = p[1];
}

/* True once every copy of the pipe's read end is closed. */
static inline bool fdtest_pipe_orphaned(int write_end)
{
	struct pollfd p = { .fd = write_end, .events = POLLOUT };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLERR);
}
