/* SPDX-License-Identifier: MIT */
/*
 * The holder's protocol: messages built and parsed, then a running holder (argv[1] is
 * segd-fdstore) fed everything a hostile client could send: oversized, cut and padded
 * messages, bad names, missing and extra fds, fds past its bound, a peer of another uid. Each
 * gets an error reply, every fd that came with it is closed, and the holder keeps running with
 * what it held before. Private kernel, no root (the other uid needs root outside it).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fdstore-fixture.h"
#include "fixture.h"

static const char *holder;

#define NAME_VALID(s) fdstore_proto_name_valid((s), strlen(s))

/* A header as a hostile client would write it. */
static size_t craft(uint8_t *buf, uint32_t magic, uint16_t type, uint16_t count, uint32_t seq,
		    int32_t error)
{
	memcpy(buf, &magic, 4);
	memcpy(buf + 4, &type, 2);
	memcpy(buf + 6, &count, 2);
	memcpy(buf + 8, &seq, 4);
	memcpy(buf + 12, &error, 4);
	return FDSTORE_PROTO_HDR_SIZE;
}

/* craft() + one length-prefixed name. */
static size_t craft_named(uint8_t *buf, uint16_t type, uint32_t seq, const char *name, size_t len)
{
	size_t off = craft(buf, FDSTORE_PROTO_MAGIC, type, 1, seq, 0);

	buf[off++] = (uint8_t)len;
	memcpy(buf + off, name, len);
	return off + len;
}

static void test_build_parse(void **state)
{
	static uint8_t buf[FDSTORE_PROTO_MSG_MAX + 1];
	const char *names[FDSTORE_PROTO_FDS_MAX + 1];
	char long_name[FDSTORE_PROTO_NAME_MAX + 1];
	struct fdstore_msg m;
	ssize_t len;

	memset(long_name, 'n', FDSTORE_PROTO_NAME_MAX);
	long_name[FDSTORE_PROTO_NAME_MAX] = 0;
	for (size_t i = 0; i <= FDSTORE_PROTO_FDS_MAX; i++)
		names[i] = long_name;
	/* The largest message there is. */
	len = fdstore_proto_build(buf, FDSTORE_MSG_FDS, 7, 0, names, FDSTORE_PROTO_FDS_MAX);
	assert_int_equal(len, FDSTORE_PROTO_MSG_MAX);
	assert_int_equal(fdstore_proto_parse(buf, (size_t)len, FDSTORE_PROTO_FDS_MAX, &m), 0);
	assert_int_equal(m.type, FDSTORE_MSG_FDS);
	assert_int_equal(m.count, FDSTORE_PROTO_FDS_MAX);
	assert_int_equal(m.seq, 7);
	assert_int_equal(m.name_lens[252], FDSTORE_PROTO_NAME_MAX);
	assert_memory_equal(m.names[252], long_name, FDSTORE_PROTO_NAME_MAX);
	assert_int_equal(fdstore_proto_parse(buf, (size_t)len, 252, &m), -EBADMSG);
	assert_int_equal(fdstore_proto_build(buf, FDSTORE_MSG_FDS, 7, 0, names, 254), -EMSGSIZE);

	/* Names: 1 to 255 of [A-Za-z0-9._-]; no ':' (systemd's separator), nothing else. */
	assert_true(NAME_VALID("ns-64768-4026532291"));
	assert_true(NAME_VALID("A.z_0-9"));
	assert_true(NAME_VALID(long_name));
	assert_false(NAME_VALID(""));
	assert_false(NAME_VALID("ns:1:2"));
	assert_false(NAME_VALID("a b"));
	assert_false(NAME_VALID("a/b"));
	assert_false(NAME_VALID("caf\xc3\xa9"));
	assert_int_equal(fdstore_proto_build(buf, FDSTORE_MSG_PUT, 1, 0, (const char *[]){ "a:b" },
					     1),
			 -EINVAL);
	{
		char over[FDSTORE_PROTO_NAME_MAX + 2];

		memset(over, 'n', sizeof(over) - 1);
		over[sizeof(over) - 1] = 0;
		assert_false(NAME_VALID(over));
	}

	/* HELLO and REPLY carry errors; nothing else does. */
	len = (ssize_t)fdstore_proto_build_hello(buf, -EACCES, 3, 9);
	assert_int_equal(fdstore_proto_parse(buf, (size_t)len, 0, &m), 0);
	assert_int_equal(m.error, -EACCES);
	assert_int_equal(m.held, 3);
	assert_int_equal(m.max, 9);
	assert_int_equal(fdstore_proto_parse(buf, (size_t)len - 1, 0, &m), -EBADMSG);
	assert_int_equal(fdstore_proto_parse(buf, (size_t)len, 1, &m), -EBADMSG);
	len = (ssize_t)craft(buf, FDSTORE_PROTO_MAGIC, FDSTORE_MSG_REPLY, 0, 5, -ENOSPC);
	assert_int_equal(fdstore_proto_parse(buf, (size_t)len, 0, &m), 0);
	assert_int_equal(m.error, -ENOSPC);
	len = (ssize_t)craft(buf, FDSTORE_PROTO_MAGIC, FDSTORE_MSG_REPLY, 0, 5, 1);
	assert_int_equal(fdstore_proto_parse(buf, (size_t)len, 0, &m), -EBADMSG);
	len = (ssize_t)craft_named(buf, FDSTORE_MSG_PUT, 1, "a", 1);
	assert_int_equal(fdstore_proto_parse(buf, (size_t)len, 1, &m), 0);
	memcpy(buf + 12, &(int32_t){ -1 }, 4);
	assert_int_equal(fdstore_proto_parse(buf, (size_t)len, 1, &m), -EBADMSG);
	assert_int_equal(fdstore_proto_parse(buf, 0, 0, &m), -EBADMSG);
}

/* The uid test needs a process of another uid, made before we leave the host's user
 * namespace (only root can): it waits for a socket path, connects, and reports HELLO's error. */
static int stranger_cmd = -1, stranger_res = -1;

static void stranger_run(int cmd, int res)
{
	uint8_t buf[FDSTORE_PROTO_MSG_MAX];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pollfd p = { .events = POLLIN };
	struct fdstore_msg m;
	int fds[FDSTORE_PROTO_FDS_MAX];
	size_t n_fds = 0;
	int32_t result;
	ssize_t n;
	int fd;

	n = read(cmd, sa.sun_path, sizeof(sa.sun_path) - 1);
	if (n <= 0)
		_exit(0);
	if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0) {
		result = -errno;
		goto out;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		result = -errno - 1000; /* not what the test is about */
		goto out;
	}
	p.fd = fd;
	if (poll(&p, 1, WAIT_MS) != 1) {
		result = -ETIMEDOUT - 1000;
		goto out;
	}
	n = fdstore_proto_recv(fd, buf, sizeof(buf), fds, &n_fds, NULL);
	if (n <= 0 || fdstore_proto_parse(buf, (size_t)n, n_fds, &m) < 0 ||
	    m.type != FDSTORE_MSG_HELLO)
		result = -EBADMSG - 1000;
	else
		result = m.error;
out:
	(void)!write(res, &result, sizeof(result));
	_exit(0);
}

static void stranger_start(void)
{
	int cmd[2], res[2];
	pid_t pid;

	if (getuid() != 0 || pipe2(cmd, O_CLOEXEC) < 0 || pipe2(res, O_CLOEXEC) < 0)
		return;
	pid = fork();
	if (pid < 0)
		return;
	if (pid == 0) {
		close(cmd[1]);
		close(res[0]);
		stranger_run(cmd[0], res[1]);
	}
	close(cmd[0]);
	close(res[1]);
	stranger_cmd = cmd[1];
	stranger_res = res[0];
}

static void test_hostile_input(void **state)
{
	static uint8_t big[FDSTORE_PROTO_MSG_MAX + 100];
	_cleanup_free_ char *sock = fdtest_socket("hostile");
	const char *const max8[] = { "--max", "8", NULL };
	uint8_t buf[FDSTORE_PROTO_HDR_SIZE + 300];
	struct fdtable *t = NULL;
	int r[16], w[16], two[2];
	uint32_t seq = 0, held = 99;
	char name[16];
	size_t len;
	pid_t pid;
	int c, status;

	pid = fdtest_holder_start(holder, sock, max8);
	c = fdtest_connect(sock);
	assert_int_equal(fdtest_hello(c, &held), 0);
	assert_int_equal(held, 0);
	for (int i = 0; i < 16; i++)
		fdtest_pipe(&r[i], &w[i]);
	assert_int_equal(fdtest_op(c, FDSTORE_MSG_PUT, "good", r[0]), 0);

	/* Longer than any message may be: cut, refused, its fd closed. */
	len = craft_named(big, FDSTORE_MSG_PUT, 41, "x", 1);
	assert_int_equal(fdtest_request(c, big, sizeof(big), &r[1], 1, &seq), -EMSGSIZE);
	assert_int_equal(seq, 41);
	/* A name longer than the message; bytes after the name; a zero-length name. */
	len = craft_named(buf, FDSTORE_MSG_PUT, 42, "abc", 3);
	buf[FDSTORE_PROTO_HDR_SIZE] = 200;
	assert_int_equal(fdtest_request(c, buf, len, &r[2], 1, &seq), -EBADMSG);
	assert_int_equal(seq, 42);
	len = craft_named(buf, FDSTORE_MSG_PUT, 43, "abc", 3);
	assert_int_equal(fdtest_request(c, buf, len + 1, &r[3], 1, NULL), -EBADMSG);
	len = craft_named(buf, FDSTORE_MSG_PUT, 44, "", 0);
	assert_int_equal(fdtest_request(c, buf, len, &r[4], 1, NULL), -EINVAL);
	/* Bad characters. */
	for (int i = 0; i < 4; i++) {
		static const char *const bad[] = { "ns:1:2", "a/b", "a\nb", "\x01" };

		len = craft_named(buf, FDSTORE_MSG_PUT, 45, bad[i], strlen(bad[i]));
		assert_int_equal(fdtest_request(c, buf, len, &r[5 + i], 1, NULL), -EINVAL);
	}
	/* PUT without its fd, or with two; REMOVE with one. */
	len = craft_named(buf, FDSTORE_MSG_PUT, 46, "nofd", 4);
	assert_int_equal(fdtest_request(c, buf, len, NULL, 0, NULL), -EBADMSG);
	assert_int_equal(fdtest_request(c, buf, len, &r[9], 2, NULL), -EBADMSG); /* r[9], r[10] */
	len = craft_named(buf, FDSTORE_MSG_REMOVE, 47, "good", 4);
	assert_int_equal(fdtest_request(c, buf, len, &r[11], 1, NULL), -EBADMSG);
	/* Wrong magic, unknown or holder-only types, a count the body does not have, a cut
	 * header (whose seq we cannot know). */
	len = craft(buf, 0xdeadbeef, FDSTORE_MSG_REMOVE, 0, 48, 0);
	assert_int_equal(fdtest_request(c, buf, len, NULL, 0, NULL), -EBADMSG);
	for (uint16_t type = 0; type < 8; type++) {
		if (type == FDSTORE_MSG_PUT || type == FDSTORE_MSG_REMOVE)
			continue;
		len = craft(buf, FDSTORE_PROTO_MAGIC, type, 0, 49, 0);
		assert_int_equal(fdtest_request(c, buf, len, NULL, 0, NULL), -EBADMSG);
	}
	len = craft(buf, FDSTORE_PROTO_MAGIC, FDSTORE_MSG_REMOVE, 2, 50, 0);
	assert_int_equal(fdtest_request(c, buf, len, NULL, 0, NULL), -EBADMSG);
	assert_int_equal(fdtest_request(c, buf, 5, NULL, 0, &seq), -EBADMSG);
	assert_int_equal(seq, 0);
	/* A unix socket (it could be our own connection): refused, closed. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, two), 0);
	assert_int_equal(fdtest_op(c, FDSTORE_MSG_PUT, "unix", two[0]), -EPROTOTYPE);
	close(two[0]);
	assert_int_equal(poll(&(struct pollfd){ .fd = two[1], .events = POLLIN }, 1, WAIT_MS), 1);
	assert_int_equal(read(two[1], buf, 1), 0); /* EOF: the holder closed its copy */
	close(two[1]);
	/* Every fd that came with a refused request is closed. */
	for (int i = 1; i <= 11; i++) {
		close(r[i]);
		assert_true(fdtest_pipe_orphaned(w[i]));
	}

	/* The bound: 8 held, a 9th name refused (and closed), replacing and removing fine. */
	for (int i = 1; i < 8; i++) {
		snprintf(name, sizeof(name), "ns-%d", i);
		assert_int_equal(fdtest_op(c, FDSTORE_MSG_PUT, name, r[0]), 0);
	}
	assert_int_equal(fdtest_op(c, FDSTORE_MSG_PUT, "ns-8", r[12]), -ENOSPC);
	close(r[12]);
	assert_true(fdtest_pipe_orphaned(w[12]));
	assert_int_equal(fdtest_op(c, FDSTORE_MSG_PUT, "good", r[13]), 0);
	close(r[13]);
	assert_true(fdtest_pipe_orphaned(w[0]) == false); /* "good" was r[0] too */
	assert_int_equal(fdtest_op(c, FDSTORE_MSG_REMOVE, "ns-1", -1), 0);
	assert_int_equal(fdtest_op(c, FDSTORE_MSG_REMOVE, "ns-1", -1), -ENOENT);
	assert_int_equal(fdtest_op(c, FDSTORE_MSG_PUT, "ns-8", r[0]), 0);
	close(r[0]);
	assert_false(fdtest_pipe_orphaned(w[0])); /* ns-2..ns-8 keep it */
	close(c);

	/* Still running, holding exactly what was accepted. */
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
	assert_int_equal(fdtable_new(&t), 0);
	c = fdtest_connect(sock);
	assert_int_equal(fdtest_hello_into(c, &held, t), 0);
	assert_int_equal(held, 8);
	assert_int_equal(fdtable_size(t), 8);
	for (int i = 2; i <= 8; i++) {
		snprintf(name, sizeof(name), "ns-%d", i);
		assert_true(fdtable_find(t, name, strlen(name)) >= 0);
	}
	assert_true(fdtable_find(t, "good", 4) >= 0);
	t = fdtable_free(t);
	close(c);

	/* SIGTERM: everything it held is closed. */
	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(fdtest_pipe_orphaned(w[0]));
	assert_true(fdtest_pipe_orphaned(w[13]));
	for (int i = 0; i < 16; i++)
		close(w[i]);
	close(r[14]);
	close(r[15]);
}

static void test_other_uid_refused(void **state)
{
	_cleanup_free_ char *sock = fdtest_socket("uid");
	char dir[256];
	int32_t result = 0;
	uint32_t held = 0;
	pid_t pid;
	int c, rd, wr, status;

	if (stranger_cmd < 0) {
		print_message("# SKIP: another uid needs root outside the test's user namespace\n");
		skip();
	}
	pid = fdtest_holder_start(holder, sock, NULL);
	c = fdtest_connect(sock);
	assert_int_equal(fdtest_hello(c, NULL), 0);
	fdtest_pipe(&rd, &wr);
	assert_int_equal(fdtest_op(c, FDSTORE_MSG_PUT, "kept", rd), 0);
	close(rd);
	close(c);

	/* Say the socket's mode let everybody in: the holder still checks who connects. */
	snprintf(dir, sizeof(dir), "%s/uid", fixture_tmpdir());
	assert_int_equal(chmod(fixture_tmpdir(), 0711), 0);
	assert_int_equal(chmod(dir, 0711), 0);
	assert_int_equal(chmod(sock, 0666), 0);
	assert_int_equal(write(stranger_cmd, sock, strlen(sock)), (ssize_t)strlen(sock));
	assert_int_equal(read(stranger_res, &result, sizeof(result)), sizeof(result));
	assert_int_equal(result, -EACCES);
	assert_int_equal(chmod(fixture_tmpdir(), 0700), 0);

	/* Nothing changed for us. */
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
	c = fdtest_connect(sock);
	assert_int_equal(fdtest_hello(c, &held), 0);
	assert_int_equal(held, 1);
	assert_false(fdtest_pipe_orphaned(wr));
	close(c);
	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(fdtest_pipe_orphaned(wr));
	close(wr);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_parse),
		cmocka_unit_test(test_hostile_input),
		cmocka_unit_test(test_other_uid_refused),
	};
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: %s SEGD-FDSTORE\n", argv[0]);
		return 1;
	}
	holder = argv[1];
	stranger_start();
	fixture_enter();
	fdtest_raise_nofile();
	r = cmocka_run_group_tests(tests, NULL, NULL);
	if (stranger_cmd >= 0)
		close(stranger_cmd); /* the stranger exits */
	return r;
}
