/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <stdbool.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/nsfs.h>

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

static bool path_allowed(const char *path)
{
	unsigned long pid;
	char tail[16];

	if (strstr(path, "/../") || strstr(path, "/./") || strstr(path, "//"))
		return false;
	if (strncmp(path, "/run/netns/", 11) == 0 && path[11] && !strchr(path + 11, '/'))
		return true;
	if (strncmp(path, "/var/run/netns/", 15) == 0 && path[15] && !strchr(path + 15, '/'))
		return true;
	return sscanf(path, "/proc/%lu/ns/ne%15s", &pid, tail) == 2 && streq(tail, "t") &&
	       pid > 0 && strlen(path) < 40;
}

int netns_open_path(const char *path, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	int type;

	if (!path || !path_allowed(path))
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ELOOP && strncmp(path, "/proc/", 6) == 0)
		fd = open(path, O_RDONLY | O_CLOEXEC); /* /proc/PID/ns/net is a magic link */
	if (fd < 0)
		return -errno;
	/* Whatever the path said, it must be a network namespace. */
	type = ioctl(fd, NS_GET_NSTYPE);
	if (type < 0 || type != CLONE_NEWNET)
		return -ENOTTY;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int netns_host_inode(ino_t *ret)
{
	_cleanup_close_ int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	return netns_inode(fd, ret);
}
