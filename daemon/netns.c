/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <stdbool.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/nsfs.h>
#include <linux/sockios.h>

#include "netns.h"
#include "macro.h"
#include "policy/policy.h"

int netns_open_name(const char *name, int *ret_fd)
{
	char path[sizeof(NETNS_RUN_DIR) + 1 + 256];
	int fd;

	if (policy_netns_name_invalid(name))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%s", NETNS_RUN_DIR, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* `ip netns add` creates the file before it mounts the namespace on it. */
	if (ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET) {
		close(fd);
		return -ENOTTY;
	}
	*ret_fd = fd;
	return 0;
}

int netns_inode(int nsfd, ino_t *ret)
{
	struct stat st;

	if (fstat(nsfd, &st) < 0)
		return -errno;
	*ret = st.st_ino;
	return 0;
}

int netns_ident(int nsfd, dev_t *ret_dev, ino_t *ret_ino)
{
	struct stat st;

	if (fstat(nsfd, &st) < 0)
		return -errno;
	*ret_dev = st.st_dev;
	*ret_ino = st.st_ino;
	return 0;
}

int netns_of_socket(int sockfd, int *ret_fd)
{
	int fd = ioctl(sockfd, SIOCGSKNS);

	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

int netns_socket(int nsfd, int domain, int type, int protocol, int *ret_fd)
{
	_cleanup_close_ int self = -1;
	int fd, r = 0;

	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return -errno;
	if (setns(nsfd, CLONE_NEWNET) < 0)
		return -errno;
	fd = socket(domain, type | SOCK_CLOEXEC, protocol);
	if (fd < 0)
		r = -errno;
	if (setns(self, CLONE_NEWNET) < 0)
		abort();
	if (r < 0)
		return r;
	*ret_fd = fd;
	return 0;
}

int netns_call(int nsfd, int (*fn)(void *userdata), void *userdata)
{
	_cleanup_close_ int self = -1;
	int r;

	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return -errno;
	if (setns(nsfd, CLONE_NEWNET) < 0)
		return -errno;
	r = fn(userdata);
	if (setns(self, CLONE_NEWNET) < 0)
		abort();
	return r;
}

/* An absolute path without "." or ".." components and without "//": nothing to normalise. */
static bool path_clean(const char *path)
{
	size_t n = strlen(path);

	if (path[0] != '/' || n >= NETNS_PATH_MAX || strstr(path, "//") || strstr(path, "/./") ||
	    strstr(path, "/../"))
		return false;
	return !(n >= 2 && streq(path + n - 2, "/.")) && !(n >= 3 && streq(path + n - 3, "/.."));
}

static bool path_allowed(const char *path)
{
	unsigned long pid;
	char tail[16];

	if (!path_clean(path))
		return false;
	if (strncmp(path, "/run/netns/", 11) == 0 && path[11] && !strchr(path + 11, '/'))
		return true;
	if (strncmp(path, "/var/run/netns/", 15) == 0 && path[15] && !strchr(path + 15, '/'))
		return true;
	return sscanf(path, "/proc/%lu/ns/ne%15s", &pid, tail) == 2 && streq(tail, "t") &&
	       pid > 0 && strlen(path) < 40;
}

/*
 * Opens path as a network namespace without trusting what it is: O_PATH first (opening a
 * FIFO or a device for reading could block or have effects), then only an nsfs file of a
 * network namespace is opened for real, through the O_PATH descriptor. The last component
 * is never followed when it is a symlink (/proc/PID/ns/net, a magic link, excepted).
 */
int netns_open_nsfs(const char *path, int *ret_fd)
{
	_cleanup_close_ int pfd = -1, fd = -1;
	char self[64];
	struct statfs sfs;

	if (!path || !path_clean(path))
		return -EINVAL;
	/* /proc/PID/ns/net is a magic link: with O_NOFOLLOW, O_PATH would open the link. */
	pfd = open(path, O_PATH | O_CLOEXEC | (strncmp(path, "/proc/", 6) == 0 ? 0 : O_NOFOLLOW));
	if (pfd < 0)
		return -errno;
	if (fstatfs(pfd, &sfs) < 0)
		return -errno;
	if (sfs.f_type != NSFS_MAGIC)
		return -ENOTTY;
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	fd = open(self, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* Whatever the path said, it must be a network namespace. */
	if (ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET)
		return -ENOTTY;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int netns_open_path(const char *path, int *ret_fd)
{
	if (!path || !path_allowed(path))
		return -EINVAL;
	return netns_open_nsfs(path, ret_fd);
}

static bool same_netns(int a, int b)
{
	dev_t da = 0, db = 0;
	ino_t ia = 0, ib = 0;

	return netns_ident(a, &da, &ia) >= 0 && netns_ident(b, &db, &ib) >= 0 && da == db &&
	       ia == ib;
}

int netns_open_container(const char *path, int pid, int *ret_fd, bool *ret_by_path)
{
	_cleanup_close_ int byp = -1, bypid = -1;
	char pidpath[64];
	int r, rp = -ENXIO;

	if (pid > 0) {
		snprintf(pidpath, sizeof(pidpath), "/proc/%d/ns/net", pid);
		rp = netns_open_path(pidpath, &bypid);
		if (rp == -ENOENT)
			rp = -ESRCH; /* the process is gone: the container is exiting */
	}
	if (!path || !path[0]) {
		if (rp < 0)
			return rp;
		*ret_by_path = false;
		*ret_fd = TAKE_FD(bypid);
		return 0;
	}
	r = netns_open_nsfs(path, &byp);
	if (r == -EINVAL || r == -ENOTTY)
		return r; /* not a namespace, whatever the pid says: the engine is confused */
	if (rp < 0) {
		/* No pid to prove it by: only the system's netns directories are taken. */
		if (r < 0)
			return rp == -ESRCH ? rp : r;
		if (!path_allowed(path))
			return rp == -ESRCH ? rp : -EPERM;
		*ret_by_path = true;
		*ret_fd = TAKE_FD(byp);
		return 0;
	}
	if (r < 0) {
		/* The engine's path is not visible here (another mount namespace, or already
		 * gone): the pid's namespace is the container's. */
		*ret_by_path = false;
		*ret_fd = TAKE_FD(bypid);
		return 0;
	}
	if (!same_netns(byp, bypid))
		return -EXDEV;
	*ret_by_path = true;
	*ret_fd = TAKE_FD(byp);
	return 0;
}

int netns_host_inode(ino_t *ret)
{
	_cleanup_close_ int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	return netns_inode(fd, ret);
}
