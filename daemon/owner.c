/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>

#include "fdstore.h"
#include "log.h"
#include "macro.h"
#include "netns.h"
#include "owner.h"

/* Whether socket fd lives in the namespace st is the nsfs file of. */
static bool in_netns(int fd, const struct stat *st)
{
	_cleanup_close_ int ns = -1;
	struct stat s;

	return netns_of_socket(fd, &ns) >= 0 && fstat(ns, &s) == 0 && s.st_dev == st->st_dev &&
	       s.st_ino == st->st_ino;
}

int owner_socket_open(struct nft_rx *rx, struct fdstore *store, int nsfd, const char *prefix,
		      struct nft_sock **ret, char *ret_name)
{
	struct stat st;
	int fd = -1, r;

	ret_name[0] = '\0';
	if (!store)
		return nft_sock_open(rx, nsfd, ret);
	if (fstat(nsfd, &st) < 0)
		return -errno;
	snprintf(ret_name, 64, "%s-%llx-%llx", prefix, (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	if (fdstore_take(store, ret_name, &fd) >= 0) {
		r = nft_sock_adopt(rx, fd, ret);
		/* Endpoints find their namespace through this socket (netns_of_socket): it must
		 * be the one its name says. */
		if (r >= 0 && !in_netns(nft_sock_fd(*ret), &st)) {
			*ret = nft_sock_free(*ret);
			r = -EXDEV;
		}
		if (r >= 0)
			return 0;
		log_warning_errno(r, "The stored socket %s is unusable, opening another: %m",
				  ret_name);
		(void)fdstore_remove(store, ret_name);
	}
	r = nft_sock_open(rx, nsfd, ret);
	if (r < 0)
		return r;
	/* In the store before it owns anything: a crash after the first commit cannot leave a
	 * table without an owner. */
	r = fdstore_put(store, ret_name, nft_sock_fd(*ret));
	if (r < 0) {
		log_warning_errno(r,
				  "Cannot keep socket %s in the fd store (its tables will not be "
				  "owned while segd restarts): %m",
				  ret_name);
		ret_name[0] = '\0';
	}
	return 0;
}

void owner_socket_forget(struct fdstore *store, char *name)
{
	int r;

	if (!store || !name[0])
		return;
	r = fdstore_remove(store, name);
	if (r < 0 && r != -ENOENT)
		log_warning_errno(r, "Cannot remove %s from the fd store: %m", name);
	name[0] = '\0';
}
