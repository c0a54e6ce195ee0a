/* SPDX-License-Identifier: MIT */
/*
 * Opening network namespaces safely: by /run/netns name, by an allowed path (never following a
 * path somewhere else, and whatever is opened must be a network namespace), sockets created
 * inside one, and back to our own namespace afterwards. Rootless: a private kernel
 * (fixture.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/sockios.h>

#include "fixture.h"
#include "netns.h"

static ino_t self_ino(void)
{
	struct stat st;

	assert_int_equal(stat("/proc/thread-self/ns/net", &st), 0);
	return st.st_ino;
}

static void test_open_by_name(void **state)
{
	int pinned = -1, fd = -1;
	ino_t a = 0, b = 0;

	assert_int_equal(fixture_netns("byname", &pinned), 0);
	assert_int_equal(netns_open_name("byname", &fd), 0);
	assert_int_equal(netns_inode(fd, &a), 0);
	assert_int_equal(netns_inode(pinned, &b), 0);
	assert_int_equal(a, b);
	assert_int_not_equal(a, self_ino());
	close(fd);
	assert_int_equal(netns_open_name("no-such-netns", &fd), -ENOENT);
	assert_int_equal(netns_open_name("../etc", &fd), -EINVAL);
	assert_int_equal(netns_open_name("..", &fd), -EINVAL);
	assert_int_equal(netns_open_name("", &fd), -EINVAL);
	close(pinned);
}

static void test_open_by_path_refuses_what_is_not_a_netns(void **state)
{
	char path[64];
	int pinned = -1, fd = -1;

	assert_int_equal(fixture_netns("bypath", &pinned), 0);
	assert_int_equal(netns_open_path("/run/netns/bypath", &fd), 0);
	close(fd);
	assert_int_equal(netns_open_path("/var/run/netns/bypath", &fd), 0);
	close(fd);
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)getpid());
	assert_int_equal(netns_open_path(path, &fd), 0);
	close(fd);

	/* Paths anywhere else, or with tricks, are refused before anything is opened. */
	assert_int_equal(netns_open_path("/etc/passwd", &fd), -EINVAL);
	assert_int_equal(netns_open_path("/run/netns/../../etc/passwd", &fd), -EINVAL);
	assert_int_equal(netns_open_path("/run/netns//bypath", &fd), -EINVAL);
	assert_int_equal(netns_open_path("/run/netns/", &fd), -EINVAL);
	assert_int_equal(netns_open_path("/proc/1/ns/mnt", &fd), -EINVAL);
	assert_int_equal(netns_open_path(NULL, &fd), -EINVAL);
	/* Allowed path, but a regular file: not a network namespace. */
	fd = open("/run/netns/plainfile", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(netns_open_path("/run/netns/plainfile", &fd), -ENOTTY);
	/* A symlink there is not followed. */
	assert_int_equal(symlink("/etc/passwd", "/run/netns/link"), 0);
	assert_true(netns_open_path("/run/netns/link", &fd) < 0);
	assert_int_equal(netns_open_path("/run/netns/absent", &fd), -ENOENT);
	close(pinned);
}

static int count_links(void *userdata)
{
	*(ino_t *)userdata = self_ino();
	return 7;
}

static void test_sockets_and_calls_inside(void **state)
{
	int pinned = -1, s = -1;
	ino_t inside = 0, want = 0, before = self_ino(), host = 0;
	struct stat st;

	assert_int_equal(fixture_netns("inside", &pinned), 0);
	assert_int_equal(netns_inode(pinned, &want), 0);
	assert_int_equal(netns_call(pinned, count_links, &inside), 7);
	assert_int_equal(inside, want);
	assert_int_equal(self_ino(), before); /* back home */

	assert_int_equal(netns_socket(pinned, AF_INET, SOCK_DGRAM, 0, &s), 0);
	assert_int_equal(self_ino(), before);
	/* The socket belongs to the namespace it was created in. */
	{
		int nsfd = ioctl(s, SIOCGSKNS);

		assert_true(nsfd >= 0);
		assert_int_equal(fstat(nsfd, &st), 0);
		assert_int_equal(st.st_ino, want);
		close(nsfd);
	}
	assert_int_equal(fcntl(s, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	close(s);
	assert_int_equal(netns_host_inode(&host), 0);
	assert_int_equal(host, before);
	close(pinned);
}

/* A child process that lives in nsfd until its pipe closes: a container's "pid". Returns
 * once the child is in nsfd. */
static pid_t child_in(int nsfd, int *ret_pipe)
{
	int p[2], ready[2];
	char c = 0;
	pid_t pid;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[1]);
		close(ready[0]);
		if (setns(nsfd, CLONE_NEWNET) < 0)
			_exit(1);
		(void)!write(ready[1], "x", 1);
		(void)!read(p[0], &c, 1);
		_exit(0);
	}
	close(p[0]);
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	*ret_pipe = p[1];
	return pid;
}

static ino_t ino_of(int fd)
{
	ino_t ino = 0;

	assert_int_equal(netns_inode(fd, &ino), 0);
	return ino;
}

/*
 * The engine reports a sandbox path (Docker's are under its exec root) and a pid: the path is
 * taken when it is the pid's network namespace, never on its own word.
 */
static void test_open_container(void **state)
{
	const char *dk = "/run/engine-exec/netns/0123abcd";
	int box = -1, other = -1, fd = -1, pipe_w = -1, status = 0, f;
	bool by_path = true;
	pid_t pid;

	assert_int_equal(fixture_netns("sandbox", &box), 0);
	assert_int_equal(fixture_netns("other", &other), 0);
	/* Docker's layout: a bind mount of the namespace under its exec root. */
	assert_int_equal(mkdir("/run/engine-exec", 0700), 0);
	assert_int_equal(mkdir("/run/engine-exec/netns", 0700), 0);
	f = open(dk, O_CREAT | O_WRONLY | O_CLOEXEC, 0444);
	assert_true(f >= 0);
	close(f);
	assert_int_equal(mount("/run/netns/sandbox", dk, "none", MS_BIND, NULL), 0);
	pid = child_in(box, &pipe_w);

	/* Proved by the pid: taken by path. */
	assert_int_equal(netns_open_container(dk, pid, &fd, &by_path), 0);
	assert_true(by_path);
	assert_int_equal(ino_of(fd), ino_of(box));
	close(fd);
	/* No path: the pid's. A path not there (another mount namespace): the pid's. */
	assert_int_equal(netns_open_container(NULL, pid, &fd, &by_path), 0);
	assert_false(by_path);
	assert_int_equal(ino_of(fd), ino_of(box));
	close(fd);
	assert_int_equal(netns_open_container("/run/engine-exec/netns/gone", pid, &fd, &by_path),
			 0);
	assert_false(by_path);
	assert_int_equal(ino_of(fd), ino_of(box));
	close(fd);
	/* Another namespace than the pid's: refused, whichever is right. */
	assert_int_equal(netns_open_container("/run/netns/other", pid, &fd, &by_path), -EXDEV);
	/* Nothing to prove it by: only the system's netns directories. */
	assert_int_equal(netns_open_container(dk, 0, &fd, &by_path), -EPERM);
	assert_int_equal(netns_open_container("/run/netns/other", 0, &fd, &by_path), 0);
	assert_true(by_path);
	assert_int_equal(ino_of(fd), ino_of(other));
	close(fd);
	assert_int_equal(netns_open_container(NULL, 0, &fd, &by_path), -ENXIO);
	assert_int_equal(netns_open_container("", 0, &fd, &by_path), -ENXIO);

	/* Not a namespace: refused even with the pid, and nothing is opened for reading (a
	 * FIFO would block an open for reading forever). */
	assert_int_equal(mkfifo("/run/engine-exec/netns/fifo", 0600), 0);
	assert_int_equal(netns_open_container("/run/engine-exec/netns/fifo", pid, &fd, &by_path),
			 -ENOTTY);
	assert_int_equal(netns_open_container("/proc/self/ns/mnt", pid, &fd, &by_path), -ENOTTY);
	assert_int_equal(netns_open_container("/etc/passwd", pid, &fd, &by_path), -ENOTTY);
	assert_int_equal(symlink(dk, "/run/engine-exec/netns/link"), 0);
	assert_int_equal(netns_open_container("/run/engine-exec/netns/link", pid, &fd, &by_path),
			 -ENOTTY);
	assert_int_equal(netns_open_container("/run/engine-exec/netns/../netns/0123abcd", pid, &fd,
					      &by_path),
			 -EINVAL);
	assert_int_equal(netns_open_container("run/engine-exec/netns/0123abcd", pid, &fd, &by_path),
			 -EINVAL);
	assert_int_equal(netns_open_container("/run/engine-exec//netns/0123abcd", pid, &fd,
					      &by_path),
			 -EINVAL);

	close(pipe_w);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* The pid is gone (the container is exiting): the path alone proves nothing. */
	assert_int_equal(netns_open_container(dk, pid, &fd, &by_path), -ESRCH);
	assert_int_equal(netns_open_container(NULL, pid, &fd, &by_path), -ESRCH);
	assert_int_equal(netns_open_container("/run/engine-exec/netns/gone", pid, &fd, &by_path),
			 -ESRCH);
	/* ... but a /run/netns path needs no pid */
	assert_int_equal(netns_open_container("/run/netns/other", pid, &fd, &by_path), 0);
	close(fd);
	(void)umount2(dk, MNT_DETACH);
	fixture_netns_delete("sandbox");
	fixture_netns_delete("other");
	close(box);
	close(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_by_name),
		cmocka_unit_test(test_open_by_path_refuses_what_is_not_a_netns),
		cmocka_unit_test(test_sockets_and_calls_inside),
		cmocka_unit_test(test_open_container),
	};

	fixture_enter();
	/* /var/run is /run on every system segd supports; make it so here too. */
	if (access("/var/run/netns", F_OK) < 0)
		print_message("# /var/run/netns missing in the private mount namespace\n");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
