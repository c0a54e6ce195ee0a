/* SPDX-License-Identifier: MIT */
/*
 * segd-fdstore: keeps file descriptors for segd while segd restarts.
 *
 * segd creates each namespace's table with NFT_TABLE_F_OWNER through a netlink socket it keeps;
 * when the last reference to that socket closes, the kernel deletes the table. Before segd
 * exits, it has put a copy of every such socket here (fdstore.c), and the next segd takes them
 * back: the tables stay owned the whole time, and nothing in a namespace can create its own
 * `inet segd` in between.
 *
 * One process, one thread, one client at a time; the protocol is in fdstore-proto.h. segd
 * starts it detached (its own session, stdin and stdout /dev/null, stderr segd's); it must not
 * die with segd. It exits when it holds nothing and has no client, and on SIGTERM or SIGINT,
 * when it closes every fd it holds: the kernel then deletes the tables those sockets owned.
 * Errors never make it drop what it holds: only those two ways out close anything.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdstore-proto.h"
#include "fdtable.h"
#include "log.h"
#include "macro.h"
#include "time-util.h"

/* How long a client may take to read what we send before we hang up on it. */
#define SEND_TIMEOUT_MS 10000
/* How long a new holder waits for its first client before it exits (holding nothing). */
#define FIRST_CLIENT_TIMEOUT_MS 10000
/* fds we need besides those we hold: sockets, signalfd, pid and lock files, stdio, spare. */
#define OWN_FDS 64

static const char *arg_socket;
static long arg_max = FDSTORE_PROTO_HOLD_MAX;
static int arg_ready_fd = -1;

struct holder {
	struct fdtable *table;
	size_t max;
	int listen_fd, client_fd, signal_fd, pid_fd, lock_fd;
	int spare_fd; /* /dev/null, given up to accept (and refuse) a client when out of fds */
	char *pid_path, *lock_path;
	bool served; /* a client came (and maybe went) */
	uint8_t buf[FDSTORE_PROTO_MSG_MAX];
};

static void help(void)
{
	printf("Usage: segd-fdstore --socket PATH [OPTIONS]\n"
	       "Keeps file descriptors for segd while segd restarts: the netlink sockets that own\n"
	       "segd's nftables tables (the kernel deletes a table when its owner socket closes).\n\n"
	       "  --socket PATH   where segd connects; its directory belongs to us, writable by\n"
	       "                  nobody else. PATH.pid holds our pid, PATH.lock is a lock file\n"
	       "  --max N         hold at most N fds (default %d, at most RLIMIT_NOFILE - %d)\n"
	       "  --ready-fd N    once listening, write 4 bytes to fd N (0, or an errno) and close it\n"
	       "  -h, --help      show this help\n\n"
	       "segd starts it when it needs it. It serves one client at a time (others wait), only\n"
	       "uid 0 or its own uid. It exits when it holds nothing and segd is not connected.\n"
	       "SIGTERM or SIGINT: it closes every fd it holds, and the kernel deletes every table\n"
	       "those sockets owned.\n",
	       FDSTORE_PROTO_HOLD_MAX, OWN_FDS);
}

static void report_ready(int error)
{
	int32_t v = error < 0 ? -error : error;

	if (arg_ready_fd < 0)
		return;
	(void)!write(arg_ready_fd, &v, sizeof(v));
	close(arg_ready_fd);
	arg_ready_fd = -1;
}

static int setup_signals(struct holder *h)
{
	sigset_t mask;

	(void)signal(SIGPIPE, SIG_IGN); /* stderr may be a pipe whose reader went with segd */
	(void)signal(SIGHUP, SIG_IGN);
	/* An ignored signal is dropped before a signalfd could see it: whatever we inherited,
	 * these two must arrive. */
	(void)signal(SIGTERM, SIG_DFL);
	(void)signal(SIGINT, SIG_DFL);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	h->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	return h->signal_fd < 0 ? -errno : 0;
}

/* As many fds as the hard limit allows; the bound is what is left after our own. */
static int setup_limit(struct holder *h)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return -errno;
	}
	h->max = (size_t)arg_max;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)h->max + OWN_FDS) {
		if (rl.rlim_cur <= OWN_FDS)
			return -EMFILE;
		h->max = (size_t)(rl.rlim_cur - OWN_FDS);
	}
	return 0;
}

/* The pid file, locked for as long as we run: a second holder for the same socket stops here
 * (-EALREADY), before it could remove the first one's socket. */
static int lock_pid_file(struct holder *h)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		struct stat a, b;
		int fd = open(h->pid_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

		if (fd < 0)
			return -errno;
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int r = errno == EWOULDBLOCK ? -EALREADY : -errno;

			close(fd);
			return r;
		}
		/* Still the file at that path (an exiting holder removes its own)? */
		if (fstat(fd, &a) == 0 && stat(h->pid_path, &b) == 0 && a.st_dev == b.st_dev &&
		    a.st_ino == b.st_ino) {
			h->pid_fd = fd;
			return 0;
		}
		close(fd);
	}
	return -EBUSY;
}

static int setup_socket(struct holder *h)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char pid[32];
	mode_t old;
	int r, n;

	r = fdstore_proto_check_dir(arg_socket, true);
	if (r < 0)
		return r;
	h->pid_path = fdstore_proto_path(arg_socket, FDSTORE_PROTO_PID_SUFFIX);
	h->lock_path = fdstore_proto_path(arg_socket, FDSTORE_PROTO_LOCK_SUFFIX);
	if (!h->pid_path || !h->lock_path)
		return -ENOMEM;
	r = lock_pid_file(h);
	if (r < 0)
		return r;
	h->lock_fd = open(h->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (h->lock_fd < 0)
		return -errno;
	h->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (h->spare_fd < 0)
		return -errno;

	/* We hold the pid file's lock: a socket there is a dead holder's. */
	if (unlink(arg_socket) < 0 && errno != ENOENT)
		return -errno;
	h->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (h->listen_fd < 0)
		return -errno;
	strcpy(sa.sun_path, arg_socket); /* length checked by fdstore_proto_check_dir */
	old = umask(0177);
	r = bind(h->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0)
		return -errno;
	if (chmod(arg_socket, 0600) < 0 || listen(h->listen_fd, 16) < 0)
		return -errno;

	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(h->pid_fd, 0) < 0 || pwrite(h->pid_fd, pid, (size_t)n, 0) != n)
		return -errno;
	return 0;
}

/* Sends one message to the client, waiting while its queue is full (bounded); a pending
 * signal cuts the wait short (the main loop handles it). */
static int send_wait(struct holder *h, const void *buf, size_t len, const int *fds, size_t n_fds)
{
	int64_t deadline = now_msec() + SEND_TIMEOUT_MS;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = h->client_fd, .events = POLLOUT },
			{ .fd = h->signal_fd, .events = POLLIN },
		};
		int64_t left;
		int r = fdstore_proto_send(h->client_fd, buf, len, fds, n_fds);

		if (r != -EAGAIN)
			return r;
		left = deadline - now_msec();
		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(p, 2, (int)left);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0 && p[1].revents)
			return -ECANCELED;
	}
}

static void drop_client(struct holder *h, const char *why, int error)
{
	if (error < 0)
		log_warning_errno(error, "segd-fdstore: client gone (%s: %m), holding %zu fds", why,
				  fdtable_size(h->table));
	else
		log_info("segd-fdstore: client gone (%s), holding %zu fds", why,
			 fdtable_size(h->table));
	h->client_fd = safe_close(h->client_fd);
}

/* Refuses a connection: one HELLO carrying the error, then we hang up. */
static void refuse(int fd, int error)
{
	uint8_t buf[FDSTORE_PROTO_HDR_SIZE + 8];
	size_t len = fdstore_proto_build_hello(buf, error, 0, 0);

	(void)fdstore_proto_send(fd, buf, len, NULL, 0);
	close(fd);
}

static void accept_client(struct holder *h)
{
	struct ucred cred;
	socklen_t sl = sizeof(cred);
	size_t cursor = 0, len, n_fds;
	int fds[FDSTORE_PROTO_FDS_MAX];
	int fd, r;

	fd = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0 && (errno == EMFILE || errno == ENFILE) && h->spare_fd >= 0) {
		/* Out of fds: a pending connection would wake us forever. Take it with the spare
		 * fd and tell the client why it is refused. */
		h->spare_fd = safe_close(h->spare_fd);
		fd = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0)
			refuse(fd, -EMFILE);
		h->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		log_error("segd-fdstore: out of file descriptors, refused a client");
		return;
	}
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warning_errno(-errno, "segd-fdstore: accept failed: %m");
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &sl) < 0) {
		refuse(fd, -errno);
		return;
	}
	if (cred.uid != 0 && cred.uid != geteuid()) {
		log_warning("segd-fdstore: refused pid %d: uid %u", (int)cred.pid,
			    (unsigned)cred.uid);
		refuse(fd, -EACCES);
		return;
	}
	h->client_fd = fd;
	h->served = true;
	log_info("segd-fdstore: client pid %d, handing back %zu fds", (int)cred.pid,
		 fdtable_size(h->table));

	len = fdstore_proto_build_hello(h->buf, 0, (uint32_t)fdtable_size(h->table),
					(uint32_t)h->max);
	r = send_wait(h, h->buf, len, NULL, 0);
	while (r >= 0 && (len = fdstore_proto_batch(h->table, &cursor, h->buf, fds, &n_fds)) > 0)
		r = send_wait(h, h->buf, len, fds, n_fds);
	if (r < 0)
		drop_client(h, "handing back", r);
}

static void serve_client(struct holder *h)
{
	int fds[FDSTORE_PROTO_FDS_MAX];
	size_t n_fds = 0;
	uint32_t seq = 0;
	ssize_t n, len;
	int r;

	n = fdstore_proto_recv(h->client_fd, h->buf, sizeof(h->buf), fds, &n_fds, &seq);
	if (n == -EAGAIN || n == -EINTR)
		return;
	if (n == 0 || (n < 0 && n != -EMSGSIZE && n != -EMFILE)) {
		drop_client(h, "disconnected", (int)n);
		return;
	}
	if (n < 0)
		r = (int)n; /* the message's fds are closed already */
	else
		r = fdstore_proto_serve(h->table, h->max, h->buf, (size_t)n, fds, n_fds, &seq);
	if (r < 0) /* removing what is not there is harmless; the rest is a client's bug */
		log_full_errno(r == -ENOENT ? LOG_DEBUG : LOG_WARNING, r,
			       "segd-fdstore: request %u refused: %m", (unsigned)seq);
	len = fdstore_proto_build(h->buf, FDSTORE_MSG_REPLY, seq, r, NULL, 0);
	r = send_wait(h, h->buf, (size_t)len, NULL, 0);
	if (r < 0)
		drop_client(h, "replying", r);
}

/*
 * Holding nothing, no client: we go, unless a client is just connecting. Under the lock a
 * client takes to connect (or to start a holder), a connection is either already queued on
 * our socket (then we stay and serve it) or will find no socket (and start a new holder).
 */
static bool try_exit(struct holder *h)
{
	struct pollfd p = { .fd = h->listen_fd, .events = POLLIN };

	if (flock(h->lock_fd, LOCK_EX) < 0)
		return false;
	if (poll(&p, 1, 0) > 0) {
		(void)flock(h->lock_fd, LOCK_UN);
		return false;
	}
	(void)unlink(arg_socket);
	(void)unlink(h->pid_path);
	h->listen_fd = safe_close(h->listen_fd);
	return true; /* the lock goes with the process */
}

static void terminate(struct holder *h, int signo)
{
	log_notice("segd-fdstore: %s, closing %zu fds (the kernel deletes the tables they own)",
		   strsignal(signo), fdtable_size(h->table));
	(void)flock(h->lock_fd, LOCK_EX);
	(void)unlink(arg_socket);
	(void)unlink(h->pid_path);
	h->listen_fd = safe_close(h->listen_fd);
	h->client_fd = safe_close(h->client_fd);
	fdtable_clear(h->table);
}

static int run(struct holder *h)
{
	int64_t first_deadline = now_msec() + FIRST_CLIENT_TIMEOUT_MS;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = h->signal_fd, .events = POLLIN },
			{ .fd = h->client_fd >= 0 ? h->client_fd : h->listen_fd, .events = POLLIN },
		};
		int timeout = -1, n;

		if (h->client_fd < 0 && fdtable_size(h->table) == 0) {
			if (h->served && try_exit(h)) {
				log_info("segd-fdstore: holding nothing, no client: exiting");
				return 0;
			}
			if (!h->served) {
				int64_t left = first_deadline - now_msec();

				timeout = left > 0 ? (int)left : 0;
			}
		}
		n = poll(p, 2, timeout);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return log_error_errno(-errno, "segd-fdstore: poll failed: %m");
		if (p[0].revents) {
			struct signalfd_siginfo si;

			if (read(h->signal_fd, &si, sizeof(si)) == sizeof(si)) {
				terminate(h, (int)si.ssi_signo);
				return 0;
			}
			continue;
		}
		if (n == 0) {
			h->served = true; /* nobody came: exit (if nothing is held) */
			continue;
		}
		if (h->client_fd >= 0)
			serve_client(h);
		else
			accept_client(h);
	}
}

int main(int argc, char **argv)
{
	enum { ARG_SOCKET = 0x100, ARG_MAX, ARG_READY_FD };
	static const struct option options[] = { { "socket", required_argument, NULL, ARG_SOCKET },
						 { "max", required_argument, NULL, ARG_MAX },
						 { "ready-fd", required_argument, NULL,
						   ARG_READY_FD },
						 { "help", no_argument, NULL, 'h' },
						 {} };
	struct holder h = {
		.listen_fd = -1,
		.client_fd = -1,
		.signal_fd = -1,
		.pid_fd = -1,
		.lock_fd = -1,
		.spare_fd = -1,
	};
	char *end;
	long v;
	int c, r;

	log_set_prefix(0);
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case ARG_SOCKET:
			arg_socket = optarg;
			break;
		case ARG_MAX:
		case ARG_READY_FD:
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || v < (c == ARG_MAX ? 1 : 0) ||
			    v > (c == ARG_MAX ? FDSTORE_PROTO_HOLD_MAX * 64L : 65535)) {
				log_error("segd-fdstore: bad number: %s", optarg);
				return EXIT_FAILURE;
			}
			if (c == ARG_MAX)
				arg_max = v;
			else
				arg_ready_fd = (int)v;
			break;
		case 'h':
			help();
			return EXIT_SUCCESS;
		default:
			return EXIT_FAILURE;
		}
	}
	if (optind != argc || !arg_socket) {
		log_error("segd-fdstore: --socket PATH is required (see --help)");
		return EXIT_FAILURE;
	}
	if (arg_ready_fd >= 0 && fcntl(arg_ready_fd, F_SETFD, FD_CLOEXEC) < 0)
		arg_ready_fd = -1;

	r = fdtable_new(&h.table);
	if (r >= 0)
		r = setup_signals(&h);
	if (r >= 0)
		r = setup_limit(&h);
	if (r >= 0)
		r = setup_socket(&h);
	report_ready(r);
	if (r == -EALREADY) {
		log_info("segd-fdstore: another holder serves %s", arg_socket);
		return 3;
	}
	if (r < 0) {
		log_error_errno(r, "segd-fdstore: cannot serve %s: %m", arg_socket);
		return EXIT_FAILURE;
	}
	log_info("segd-fdstore: pid %d serving %s, holding at most %zu fds", (int)getpid(),
		 arg_socket, h.max);

	r = run(&h);
	fdtable_free(h.table);
	safe_close(h.spare_fd);
	safe_close(h.signal_fd);
	safe_close(h.pid_fd);
	safe_close(h.lock_fd);
	free(h.pid_path);
	free(h.lock_path);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
