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
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_by_name),
		cmocka_unit_test(test_open_by_path_refuses_what_is_not_a_netns),
		cmocka_unit_test(test_sockets_and_calls_inside),
	};

	fixture_enter();
	/* /var/run is /run on every system segd supports; make it so here too. */
	if (access("/var/run/netns", F_OK) < 0)
		print_message("# /var/run/netns missing in the private mount namespace\n");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
