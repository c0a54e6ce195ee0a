/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netns.h"
#include "macro.h"

int netns_name_valid(const char *name)
{
	size_t l = name ? strlen(name) : 0;

	if (l == 0 || l > 255 || strchr(name, '/') || streq(name, ".") || streq(name, ".."))
		return -EINVAL;
	return 0;
}

int netns_open_name(const char *name, int *ret_fd)
{
	char path[sizeof(NETNS_RUN_DIR) + 1 + 256];
	int fd;

	if (netns_name_valid(name) < 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%s", NETNS_RUN_DIR, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
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
