/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"

static char tmpdir[64];

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -EIO;
}

static void skip(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	fflush(stdout);
	exit(77);
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)(type == FTW_DP ? rmdir(path) : unlink(path));
	return 0;
}

static void cleanup_tmpdir(void)
{
	if (tmpdir[0])
		(void)nftw(tmpdir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

void fixture_enter(void)
{
	uid_t uid = getuid();
	gid_t gid = getgid();
	char map[64];

	if (unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWNS) < 0)
		skip("cannot create user, network and mount namespaces (unprivileged user "
		     "namespaces disabled?)");
	(void)write_file("/proc/self/setgroups", "deny");
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
	if (write_file("/proc/self/uid_map", map) < 0)
		skip("cannot map our uid in the user namespace");
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
	if (write_file("/proc/self/gid_map", map) < 0)
		skip("cannot map our gid in the user namespace");
	/* Our own /run (for /run/netns), invisible to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0 ||
	    mkdir("/run/netns", 0755) < 0)
		skip("cannot mount a private /run");
	if (fixture_run_in(-1, (const char *const[]){ "ip", "link", "set", "lo", "up", NULL }) != 0)
		skip("ip link set lo up failed (iproute2 missing?)");
}

int fixture_netns(const char *name, int *ret_fd)
{
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC), fd, mfd;
	char path[256];

	if (self < 0)
		return -errno;
	snprintf(path, sizeof(path), "/run/netns/%s", name);
	mfd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (mfd < 0) {
		close(self);
		return -errno;
	}
	close(mfd);
	if (unshare(CLONE_NEWNET) < 0 ||
	    mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) < 0) {
		int r = -errno;

		(void)setns(self, CLONE_NEWNET);
		close(self);
		return r;
	}
	fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (setns(self, CLONE_NEWNET) < 0)
		abort();
	close(self);
	if (fd < 0)
		return -errno;
	if (fixture_run_in(fd, (const char *const[]){ "ip", "link", "set", "lo", "up", NULL }) !=
	    0) {
		close(fd);
		return -EIO;
	}
	*ret_fd = fd;
	return 0;
}

void fixture_netns_delete(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	(void)umount2(path, MNT_DETACH);
	(void)unlink(path);
}

int fixture_run_in(int nsfd, const char *const *argv)
{
	int status = 0;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET) < 0)
			_exit(126);
		if (devnull >= 0) {
			dup2(devnull, STDOUT_FILENO);
			dup2(devnull, STDERR_FILENO);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

int fixture_veth(int a, const char *addr_a, int b, const char *addr_b)
{
	static unsigned n;
	char va[16], vb[16];

	snprintf(va, sizeof(va), "fxa%u", n);
	snprintf(vb, sizeof(vb), "fxb%u", n++);
	if (fixture_run_in(a, (const char *const[]){ "ip", "link", "add", va, "type", "veth",
						     "peer", "name", vb, NULL }) != 0)
		return -EIO;
	/* The peer moves to b: `ip link set dev X netns /proc/PID/fd/N` takes a path. */
	{
		char pid_path[48];

		snprintf(pid_path, sizeof(pid_path), "/proc/%d/fd/%d", (int)getpid(), b);
		if (fixture_run_in(a, (const char *const[]){ "ip", "link", "set", vb, "netns",
							     pid_path, NULL }) != 0)
			return -EIO;
	}
	if (fixture_run_in(a, (const char *const[]){ "ip", "addr", "add", addr_a, "dev", va,
						     NULL }) != 0 ||
	    fixture_run_in(a, (const char *const[]){ "ip", "link", "set", va, "up", NULL }) != 0 ||
	    fixture_run_in(b, (const char *const[]){ "ip", "addr", "add", addr_b, "dev", vb,
						     NULL }) != 0 ||
	    fixture_run_in(b, (const char *const[]){ "ip", "link", "set", vb, "up", NULL }) != 0)
		return -EIO;
	return 0;
}

const char *fixture_tmpdir(void)
{
	if (!tmpdir[0]) {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/segd-test.XXXXXX");
		if (!mkdtemp(tmpdir))
			abort();
		atexit(cleanup_tmpdir);
	}
	return tmpdir;
}
