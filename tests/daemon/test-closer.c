/* SPDX-License-Identifier: MIT */
/*
 * closer: fds handed to it are released by its child process, never on the caller's path.
 * The proof is structural, not a timing: with the child stopped, closer_close() has returned
 * and our copy is gone, yet the object is alive (its peer sees no EOF, a netlink socket's
 * port id stays taken); once the child runs, it goes. Also: the child keeps nothing else of
 * ours, and without a closer or without a child the fd is closed here, at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/netlink.h>

#include <cmocka.h>

#include "closer.h"
#include "nft-sock.h"

/* Whether fd's peer has closed: within timeout_ms (0: now). */
static bool peer_gone(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&p, 1, timeout_ms) <= 0)
		return false;
	return read(fd, &c, 1) == 0;
}

static void stop_child(pid_t pid)
{
	siginfo_t si = { 0 };

	assert_int_equal(kill(pid, SIGSTOP), 0);
	/* stopped for certain before going on */
	assert_int_equal(waitid(P_PID, pid, &si, WSTOPPED), 0);
	assert_int_equal(si.si_code, CLD_STOPPED);
}

static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void test_released_by_the_child(void **state)
{
	struct closer *c = NULL;
	bool ours, alive;
	int sv[2], handed;

	assert_int_equal(closer_new(&c), 0);
	assert_true(closer_pid(c) > 0 && closer_pid(c) != getpid());
	pair(sv);
	stop_child(closer_pid(c));
	handed = closer_close(c, sv[0]);
	ours = fcntl(sv[0], F_GETFD) < 0 && errno == EBADF;
	alive = !peer_gone(sv[1], 0);
	assert_int_equal(kill(closer_pid(c), SIGCONT), 0);
	assert_int_equal(handed, 1);
	/* ours is closed... */
	assert_true(ours);
	/* ...but not the last reference: while the child could not run, the object lived */
	assert_true(alive);
	assert_true(peer_gone(sv[1], 10000));
	close(sv[1]);
	c = closer_free(c);
}

static void test_nft_sock_released_by_the_child(void **state)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct closer *c = NULL;
	struct nft_sock *s = NULL;
	int sv[2], fd, handed;
	bool taken;

	assert_int_equal(closer_new(&c), 0);
	assert_int_equal(nft_sock_open(NULL, -1, &s), 0);
	sa.nl_pid = nft_sock_portid(s);
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	assert_true(fd >= 0);
	pair(sv);
	stop_child(closer_pid(c));
	assert_null(closer_free_nft_sock(c, s));
	taken = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == EADDRINUSE;
	/* a marker after it: the child closes in order, so once the marker is gone, so is it */
	handed = closer_close(c, sv[0]);
	assert_int_equal(kill(closer_pid(c), SIGCONT), 0);
	/* its port id was still taken: the socket was not released here */
	assert_true(taken);
	assert_int_equal(handed, 1);
	assert_true(peer_gone(sv[1], 10000));
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	close(sv[1]);
	c = closer_free(c);
}

static void test_child_keeps_nothing_of_ours(void **state)
{
	struct closer *c = NULL;
	int sv[2];

	pair(sv);
	assert_int_equal(closer_new(&c), 0);
	/* the child was forked holding a copy of sv[0]; it drops every fd but its own */
	close(sv[0]);
	assert_true(peer_gone(sv[1], 10000));
	close(sv[1]);
	c = closer_free(c);
}

static void test_closed_here_without_a_child(void **state)
{
	struct closer *c = NULL;
	siginfo_t si = { 0 };
	int sv[2];
	pid_t pid;

	/* no closer: closed here, at once */
	pair(sv);
	assert_int_equal(closer_close(NULL, sv[0]), 0);
	assert_true(peer_gone(sv[1], 0));
	close(sv[1]);
	assert_int_equal(closer_close(NULL, -1), 0);

	/* the child gone: closed here, at once (not lost in a dead socket) */
	assert_int_equal(closer_new(&c), 0);
	pid = closer_pid(c);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitid(P_PID, pid, &si, WEXITED | WNOWAIT), 0);
	pair(sv);
	assert_int_equal(closer_close(c, sv[0]), 0);
	assert_true(peer_gone(sv[1], 0));
	close(sv[1]);
	c = closer_free(c);
	/* reaped */
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
}

static void test_free_waits_for_the_child(void **state)
{
	struct closer *c = NULL;
	int sv[2];
	pid_t pid;

	assert_int_equal(closer_new(&c), 0);
	pid = closer_pid(c);
	pair(sv);
	assert_int_equal(closer_close(c, sv[0]), 1);
	c = closer_free(c);
	/* what it was handed is closed, and it has exited and been reaped */
	assert_true(peer_gone(sv[1], 0));
	close(sv[1]);
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
	assert_null(closer_free(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_released_by_the_child),
		cmocka_unit_test(test_nft_sock_released_by_the_child),
		cmocka_unit_test(test_child_keeps_nothing_of_ours),
		cmocka_unit_test(test_closed_here_without_a_child),
		cmocka_unit_test(test_free_waits_for_the_child),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
