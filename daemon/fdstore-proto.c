/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdstore-proto.h"
#include "macro.h"

struct hdr {
	uint32_t magic;
	uint16_t type;
	uint16_t count;
	uint32_t seq;
	int32_t error;
};
_Static_assert(sizeof(struct hdr) == FDSTORE_PROTO_HDR_SIZE, "header layout");

/* Room for the most fds one message can carry, and a little for anything else. */
union control {
	struct cmsghdr align;
	char buf[CMSG_SPACE(sizeof(int) * FDSTORE_PROTO_FDS_MAX) + CMSG_SPACE(64)];
};

int fdstore_proto_check_dir(const char *socket_path, bool create)
{
	_cleanup_free_ char *dir = NULL;
	struct sockaddr_un sa;
	struct stat st;
	char *slash;

	if (!socket_path || socket_path[0] != '/' || strlen(socket_path) >= sizeof(sa.sun_path))
		return -EINVAL;
	dir = strdup(socket_path);
	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash[1] == 0)
		return -EINVAL;
	if (slash == dir)
		slash[1] = 0; /* "/" itself */
	else
		*slash = 0;
	if (lstat(dir, &st) < 0) {
		if (errno != ENOENT || !create)
			return -errno;
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return -errno;
		if (lstat(dir, &st) < 0)
			return -errno;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return -EPERM;
	return 0;
}

char *fdstore_proto_path(const char *socket_path, const char *suffix)
{
	char *p = NULL;

	return asprintf(&p, "%s%s", socket_path, suffix) < 0 ? NULL : p;
}

bool fdstore_proto_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > FDSTORE_PROTO_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static bool error_valid(int32_t error)
{
	return error <= 0 && error > -4096;
}

int fdstore_proto_parse(const void *buf, size_t len, size_t n_fds, struct fdstore_msg *ret)
{
	const uint8_t *p = buf;
	struct hdr h;
	size_t off = sizeof(h);
	bool ok;

	if (len < sizeof(h) || len > FDSTORE_PROTO_MSG_MAX)
		return -EBADMSG;
	memcpy(&h, p, sizeof(h));
	if (h.magic != FDSTORE_PROTO_MAGIC)
		return -EBADMSG;
	switch (h.type) {
	case FDSTORE_MSG_HELLO:
		ok = h.count == 0 && n_fds == 0 && len == sizeof(h) + 8 && error_valid(h.error);
		break;
	case FDSTORE_MSG_REPLY:
		ok = h.count == 0 && n_fds == 0 && len == sizeof(h) && error_valid(h.error);
		break;
	case FDSTORE_MSG_FDS:
		ok = h.count >= 1 && h.count <= FDSTORE_PROTO_FDS_MAX && n_fds == h.count &&
		     h.error == 0;
		break;
	case FDSTORE_MSG_PUT:
		ok = h.count == 1 && n_fds == 1 && h.error == 0;
		break;
	case FDSTORE_MSG_REMOVE:
		ok = h.count == 1 && n_fds == 0 && h.error == 0;
		break;
	default:
		ok = false;
	}
	if (!ok)
		return -EBADMSG;

	ret->type = h.type;
	ret->seq = h.seq;
	ret->error = h.error;
	ret->count = h.count;
	ret->held = ret->max = 0;
	if (h.type == FDSTORE_MSG_HELLO) {
		memcpy(&ret->held, p + off, 4);
		memcpy(&ret->max, p + off + 4, 4);
		return 0;
	}
	for (size_t i = 0; i < h.count; i++) {
		size_t l;

		if (off >= len)
			return -EBADMSG;
		l = p[off++];
		if (l > len - off)
			return -EBADMSG;
		ret->names[i] = (const char *)p + off;
		ret->name_lens[i] = (uint8_t)l;
		off += l;
	}
	if (off != len)
		return -EBADMSG;
	for (size_t i = 0; i < h.count; i++)
		if (!fdstore_proto_name_valid(ret->names[i], ret->name_lens[i]))
			return -EINVAL;
	return 0;
}

static void put_hdr(void *buf, enum fdstore_msg_type type, size_t count, uint32_t seq, int error)
{
	struct hdr h = {
		.magic = FDSTORE_PROTO_MAGIC,
		.type = (uint16_t)type,
		.count = (uint16_t)count,
		.seq = seq,
		.error = error,
	};

	memcpy(buf, &h, sizeof(h));
}

ssize_t fdstore_proto_build(void *buf, enum fdstore_msg_type type, uint32_t seq, int error,
			    const char *const *names, size_t count)
{
	uint8_t *p = buf;
	size_t off = sizeof(struct hdr);

	if (count > FDSTORE_PROTO_FDS_MAX)
		return -EMSGSIZE;
	for (size_t i = 0; i < count; i++) {
		size_t l = strlen(names[i]);

		if (!fdstore_proto_name_valid(names[i], l))
			return -EINVAL;
		p[off++] = (uint8_t)l;
		memcpy(p + off, names[i], l);
		off += l;
	}
	put_hdr(buf, type, count, seq, error);
	return (ssize_t)off;
}

size_t fdstore_proto_build_hello(void *buf, int error, uint32_t held, uint32_t max)
{
	uint8_t *p = buf;

	put_hdr(buf, FDSTORE_MSG_HELLO, 0, 0, error);
	memcpy(p + sizeof(struct hdr), &held, 4);
	memcpy(p + sizeof(struct hdr) + 4, &max, 4);
	return sizeof(struct hdr) + 8;
}

int fdstore_proto_send(int sock, const void *buf, size_t len, const int *fds, size_t n_fds)
{
	union control control;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (n_fds > FDSTORE_PROTO_FDS_MAX)
		return -EINVAL;
	if (n_fds > 0) {
		struct cmsghdr *c;

		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
	}
	n = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

static uint32_t peek_seq(const void *buf, size_t len)
{
	struct hdr h;

	if (len < sizeof(h))
		return 0;
	memcpy(&h, buf, sizeof(h));
	return h.seq;
}

ssize_t fdstore_proto_recv(int sock, void *buf, size_t size, int *fds, size_t *ret_n_fds,
			   uint32_t *ret_seq)
{
	union control control;
	struct iovec iov = { .iov_base = buf, .iov_len = size };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof(control.buf),
	};
	size_t n_fds = 0;
	ssize_t n;

	*ret_n_fds = 0;
	n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	/* Every fd that arrived is ours now, whatever else is wrong with the message. */
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t j = 0; j < k; j++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + j * sizeof(int), sizeof(int));
			if (n_fds < FDSTORE_PROTO_FDS_MAX)
				fds[n_fds++] = fd;
			else
				close(fd);
		}
	}
	if (ret_seq)
		*ret_seq = peek_seq(buf, (size_t)n);
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		for (size_t j = 0; j < n_fds; j++)
			close(fds[j]);
		return mh.msg_flags & MSG_TRUNC ? -EMSGSIZE : -EMFILE;
	}
	*ret_n_fds = n_fds;
	return n;
}

/* A socket whose other end could be the holder's own connection would keep that connection
 * open forever (and unix sockets in flight are what the kernel's garbage collector is for):
 * the holder keeps no AF_UNIX sockets. */
static bool fd_storable(int fd)
{
	struct stat st;
	int domain = 0;
	socklen_t sl = sizeof(domain);

	if (fstat(fd, &st) < 0)
		return false;
	if (!S_ISSOCK(st.st_mode))
		return true;
	return getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &sl) == 0 && domain != AF_UNIX;
}

int fdstore_proto_serve(struct fdtable *t, size_t max, const void *buf, size_t len, int *fds,
			size_t n_fds, uint32_t *ret_seq)
{
	struct fdstore_msg m;
	int r;

	*ret_seq = peek_seq(buf, len);
	r = fdstore_proto_parse(buf, len, n_fds, &m);
	if (r >= 0 && m.type != FDSTORE_MSG_PUT && m.type != FDSTORE_MSG_REMOVE)
		r = -EBADMSG;
	if (r >= 0 && m.type == FDSTORE_MSG_PUT) {
		if (!fd_storable(fds[0]))
			r = -EPROTOTYPE;
		else if (fdtable_find(t, m.names[0], m.name_lens[0]) < 0 && fdtable_size(t) >= max)
			r = -ENOSPC;
		else
			r = fdtable_set(t, m.names[0], m.name_lens[0], fds[0]);
		if (r >= 0)
			return 0; /* fds[0] is the table's now */
	}
	for (size_t i = 0; i < n_fds; i++)
		close(fds[i]);
	if (r < 0)
		return r;
	return fdtable_remove(t, m.names[0], m.name_lens[0]);
}

size_t fdstore_proto_batch(const struct fdtable *t, size_t *cursor, void *buf, int *fds,
			   size_t *ret_n_fds)
{
	uint8_t *p = buf;
	size_t off = sizeof(struct hdr), n = 0, i;

	for (i = *cursor; i < fdtable_size(t) && n < FDSTORE_PROTO_FDS_MAX; i++) {
		size_t l;
		const char *name = fdtable_name(t, i, &l);

		if (fdtable_fd(t, i) < 0 || l > FDSTORE_PROTO_NAME_MAX)
			continue;
		p[off++] = (uint8_t)l;
		memcpy(p + off, name, l);
		off += l;
		fds[n++] = fdtable_fd(t, i);
	}
	*cursor = i;
	*ret_n_fds = n;
	if (n == 0)
		return 0;
	put_hdr(buf, FDSTORE_MSG_FDS, n, 0, 0);
	return off;
}
