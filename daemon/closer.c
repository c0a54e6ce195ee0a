/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <linux/membarrier.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "closer.h"
#include "log.h"
#include "macro.h"

/* fds the child takes at a time; one message carries at most SCM_MAX_FDS */
#define CLOSER_BATCH 256
#define SCM_MAX_FDS 253

struct closer {
	int fd; /* our end of the pair */
	pid_t pid;
	bool warned;
};

/* Receives one message: the fds it carries added to fds[*n] (up to max), 1; 0 at EOF;
 * -EAGAIN when flags has MSG_DONTWAIT and nothing is queued. */
static int closer_recv(int sock, int flags, int *fds, size_t *n, size_t max)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * SCM_MAX_FDS)];
	} ctl;
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	ssize_t k;

	do
		k = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | flags);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return -errno;
	for (struct cmsghdr *c = k > 0 ? CMSG_FIRSTHDR(&mh) : NULL; c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t m = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int got[SCM_MAX_FDS];

			memcpy(got, CMSG_DATA(c), m * sizeof(int));
			for (size_t i = 0; i < m; i++)
				if (*n < max)
					fds[(*n)++] = got[i];
				else
					(void)close(got[i]);
		}
	return k > 0;
}

/*
 * The child: takes what is queued (at most CLOSER_BATCH fds), lets two RCU grace periods
 * pass, closes them, and again, until the other end is gone. The wait is for the kernel, not
 * for us: the release of an nfnetlink socket takes its namespace's nf_tables commit mutex and,
 * holding it, waits for the work that frees the objects of the namespace's last commit (it
 * does a synchronize_rcu() of its own). Released while that work is pending, the socket would
 * hold the mutex for a grace period, and segd's next commit in that namespace (the same
 * namespace added again, say) would wait on it. The work was queued before the fd was handed
 * over; two grace periods later (membarrier's global barrier is one) it has run, and the
 * release takes the mutex only for itself. Without membarrier, the fds close at once.
 */
static _noreturn_ void closer_run(int sock)
{
	int fds[CLOSER_BATCH];
	sigset_t none;

	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	(void)prctl(PR_SET_NAME, "segd-closer");
	/* Only stdio and the pair: nothing of segd's stays open because of us. */
	if (sock != 3 && (dup2(sock, 3) < 0 || close(sock) < 0))
		_exit(1);
	(void)close_range(4, ~0U, 0);
	for (;;) {
		size_t n = 0;
		int r = closer_recv(3, 0, fds, &n, CLOSER_BATCH);

		while (r > 0 && n < CLOSER_BATCH)
			r = closer_recv(3, MSG_DONTWAIT, fds, &n, CLOSER_BATCH);
		if (n > 0)
			for (int i = 0; i < 2; i++)
				if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) < 0)
					break;
		for (size_t i = 0; i < n; i++)
			(void)close(fds[i]);
		if (r == 0 || (r < 0 && r != -EAGAIN))
			_exit(0);
	}
}

int closer_new(struct closer **ret)
{
	struct closer *c;
	int sv[2];
	pid_t pid;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	/* SEQPACKET: one message per fd, and EOF when we close our end. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		free(c);
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		int r = -errno;

		close(sv[0]);
		close(sv[1]);
		free(c);
		return r;
	}
	if (pid == 0) {
		close(sv[0]);
		closer_run(sv[1]);
	}
	close(sv[1]);
	c->fd = sv[0];
	c->pid = pid;
	*ret = c;
	return 0;
}

struct closer *closer_free(struct closer *c)
{
	if (!c)
		return NULL;
	c->fd = safe_close(c->fd);
	while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
		;
	free(c);
	return NULL;
}

pid_t closer_pid(const struct closer *c)
{
	return c->pid;
}

int closer_close(struct closer *c, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl = { 0 };
	char byte = 0;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *cm;

	if (fd < 0)
		return 0;
	if (!c || c->fd < 0) {
		close(fd);
		return 0;
	}
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		/* Full (the child is behind) or gone: as without a closer. */
		if (!c->warned)
			log_warning_errno(-errno,
					  "The closer (pid %d) takes no more descriptors, closing "
					  "them in segd: %m",
					  (int)c->pid);
		c->warned = true;
		close(fd);
		return 0;
	}
	close(fd);
	return 1;
}

struct nft_sock *closer_free_nft_sock(struct closer *c, struct nft_sock *s)
{
	if (!s)
		return NULL;
	/* A copy goes to the child first, so that closing the socket here is not its last
	 * reference. Without a copy (EMFILE), it closes here. */
	if (c)
		(void)closer_close(c, fcntl(nft_sock_fd(s), F_DUPFD_CLOEXEC, 3));
	return nft_sock_free(s);
}
