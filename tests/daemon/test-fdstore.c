/* SPDX-License-Identifier: MIT */
/*
 * The fd store, as segd uses it. With the holder (argv[1] is segd-fdstore, started by the store
 * itself): a thousand fds survive a disconnect, and above all a table's ownership survives the
 * death of the client that created it: nobody else can touch the table while the holder keeps
 * the owner socket, the next client takes that very socket back and still owns the table, and
 * the table is gone once the holder stops. With systemd: the datagrams sent to a fake
 * $NOTIFY_SOCKET, and the fds handed back through $LISTEN_FDS. Private kernel, no root.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/netlink.h>

#include "fdstore-fixture.h"
#include "fdstore.h"
#include "fixture.h"
#include "netns.h"
#include "nft.h"
#include "owner.h"
#include "nftplans.h"

#define MANY 1000

static const char *holder;

static void test_round_trip_many(void **state)
{
	_cleanup_free_ char *sock = fdtest_socket("many");
	struct {
		dev_t dev;
		ino_t ino;
	} ids[MANY];
	struct fdstore *s = NULL;
	char **names = NULL;
	struct stat st;
	char name[32];
	int pidfd;

	/* The first segd: a thousand distinct open files, a copy of each in the store. */
	assert_int_equal(fdstore_open(FDSTORE_HOLDER, holder, sock, &s), 0);
	assert_int_equal(fdstore_kind(s), FDSTORE_HOLDER);
	assert_int_equal(fdstore_size(s), 0);
	for (int i = 0; i < MANY; i++) {
		int fd = memfd_create("fdstore-test", MFD_CLOEXEC);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, &i, sizeof(i)), sizeof(i));
		assert_int_equal(fstat(fd, &st), 0);
		ids[i].dev = st.st_dev;
		ids[i].ino = st.st_ino;
		snprintf(name, sizeof(name), "file-%d", i);
		assert_int_equal(fdstore_put(s, name, fd), 0);
		close(fd);
	}
	assert_int_equal(fdstore_size(s), MANY);
	assert_int_equal(fdstore_untaken(s, &names), 0); /* put, not handed back */
	free(names);
	pidfd = pidfd_open(fdtest_holder_pid(sock), 0);
	assert_true(pidfd >= 0);
	s = fdstore_free(s);

	/* The next one: every name, every file (same inode, same content), taken back. */
	assert_int_equal(fdstore_open(FDSTORE_HOLDER, holder, sock, &s), 0);
	assert_true(fdtest_alive(pidfd)); /* the same holder */
	assert_int_equal(fdstore_size(s), MANY);
	assert_int_equal(fdstore_untaken(s, &names), MANY);
	free(names);
	for (int i = 0; i < MANY; i++) {
		int fd = -1, v = -1;

		snprintf(name, sizeof(name), "file-%d", i);
		assert_int_equal(fdstore_take(s, name, &fd), 0);
		assert_int_equal(fcntl(fd, F_GETFD), FD_CLOEXEC);
		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal(st.st_dev, ids[i].dev);
		assert_int_equal(st.st_ino, ids[i].ino);
		assert_int_equal(pread(fd, &v, sizeof(v), 0), sizeof(v));
		assert_int_equal(v, i);
		assert_int_equal(fdstore_take(s, name, &fd), -ENOENT); /* taken already */
		close(fd);
	}
	assert_int_equal(fdstore_untaken(s, &names), 0);
	free(names);
	assert_int_equal(fdstore_take(s, "file-1000", &(int){ -1 }), -ENOENT);

	/* Everything removed and the client gone: the holder has nothing to keep, and exits. */
	for (int i = 0; i < MANY; i++) {
		snprintf(name, sizeof(name), "file-%d", i);
		assert_int_equal(fdstore_remove(s, name), 0);
	}
	assert_int_equal(fdstore_remove(s, "file-0"), -ENOENT);
	assert_int_equal(fdstore_size(s), 0);
	assert_true(fdtest_alive(pidfd));
	fdstore_free(s);
	fdtest_wait_gone(pidfd);
	close(pidfd);
	assert_int_equal(access(sock, F_OK), -1);
	assert_int_equal(fdtest_holder_pid(sock), 0);
}

static const struct policy_emit_options owner_only = { .table_flags = NFT_TABLE_F_OWNER };

static void test_ownership_survives_client_death(void **state)
{
	_cleanup_free_ char *sock = fdtest_socket("owner");
	struct policy_plan *one = nft_test_plan(1), *two = nft_test_plan(2);
	struct nft_sock *s = NULL, *other = NULL;
	struct nft_error err = { 0 };
	struct fdstore *store = NULL;
	struct sockaddr_nl sa;
	socklen_t sl = sizeof(sa);
	uint32_t portid, owner = 0, flags = 0;
	int ns = -1, fd = -1;

	assert_int_equal(fixture_netns("owner", &ns), 0);
	assert_int_equal(nft_sock_open(NULL, ns, &s), 0);
	assert_int_equal(nft_replace_table(s, one, &owner_only, &err), 0);
	portid = nft_sock_portid(s);

	/* segd puts its owner socket into the store, then dies: both of its copies close. */
	assert_int_equal(fdstore_open(FDSTORE_HOLDER, holder, sock, &store), 0);
	assert_int_equal(fdstore_put(store, "ns-owner", nft_sock_fd(s)), 0);
	s = nft_sock_free(s);
	store = fdstore_free(store);

	/* Still owned: another socket may neither delete nor take over the table. */
	assert_int_equal(nft_sock_open(NULL, ns, &other), 0);
	assert_int_equal(nft_delete_table(other), -EPERM);
	assert_int_equal(nft_replace_table(other, two, &owner_only, &err), -EPERM);
	assert_int_equal(nft_table_get(other, &flags, &owner), 1);
	assert_int_equal(owner, portid);
	assert_int_equal(flags, NFT_TABLE_F_OWNER);

	/* The next segd takes the very socket back: same portid, and it still owns the table. */
	assert_int_equal(fdstore_open(FDSTORE_HOLDER, holder, sock, &store), 0);
	assert_int_equal(fdstore_take(store, "ns-owner", &fd), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	assert_int_equal(sa.nl_pid, portid);
	assert_int_equal(nft_sock_adopt(NULL, fd, &s), 0);
	assert_int_equal(nft_sock_portid(s), portid);
	assert_int_equal(nft_replace_table(s, two, &owner_only, &err), 0);
	assert_int_equal(nft_table_get(other, NULL, &owner), 1);
	assert_int_equal(owner, portid);
	s = nft_sock_free(s);
	store = fdstore_free(store);
	assert_int_equal(nft_table_exists(other), 1); /* the holder's copy */

	/* The holder stops: the last copy closes, and the kernel deletes the table. */
	fdtest_holder_kill(sock);
	assert_int_equal(nft_table_exists(other), 0);
	assert_int_equal(access(sock, F_OK), -1);

	nft_sock_free(other);
	policy_plan_free(one);
	policy_plan_free(two);
	close(ns);
}

static void test_one_client_at_a_time(void **state)
{
	_cleanup_free_ char *sock = fdtest_socket("one");
	struct fdstore *s = NULL;
	struct fdstore_msg m;
	int fds[FDSTORE_PROTO_FDS_MAX];
	uint32_t held = 0;
	size_t n = 0;
	int a = -1, b = -1, c;

	/* A client holds the holder; a second connection waits, unanswered. */
	assert_int_equal(fdstore_open(FDSTORE_HOLDER, holder, sock, &s), 0);
	fdtest_pipe(&a, &b);
	assert_int_equal(fdstore_put(s, "kept", a), 0);
	close(a);
	c = fdtest_connect(sock);
	assert_int_equal(fdtest_recv(c, 0, &m, fds, &n), -ETIMEDOUT);
	/* The first goes: the second gets everything. */
	fdstore_free(s);
	assert_int_equal(fdtest_hello(c, &held), 0);
	assert_int_equal(held, 1);
	assert_false(fdtest_pipe_orphaned(b));
	assert_int_equal(fdtest_op(c, FDSTORE_MSG_REMOVE, "kept", -1), 0);
	assert_true(fdtest_pipe_orphaned(b));
	close(c);
	close(b);
}

static void test_holder_missing(void **state)
{
	_cleanup_free_ char *sock = fdtest_socket("missing");
	struct fdstore *s = NULL;

	assert_false(fdstore_name_valid(NULL));
	assert_false(fdstore_name_valid("ns:1:2"));
	assert_true(fdstore_name_valid("ns-1-2"));
	/* No holder there and none to start. */
	assert_int_equal(fdstore_open(FDSTORE_HOLDER, NULL, sock, &s), -ENOENT);
	assert_int_equal(fdstore_open(FDSTORE_HOLDER, "/nonexistent/segd-fdstore", sock, &s),
			 -ENOENT);
	assert_int_equal(fdstore_open(FDSTORE_HOLDER, holder, "relative.sock", &s), -EINVAL);
	/* A directory others may write to is no place for it. */
	assert_int_equal(chmod(fixture_tmpdir(), 0777), 0);
	{
		char path[256];

		snprintf(path, sizeof(path), "%s/x.sock", fixture_tmpdir());
		assert_int_equal(fdstore_open(FDSTORE_HOLDER, holder, path, &s), -EPERM);
	}
	assert_int_equal(chmod(fixture_tmpdir(), 0700), 0);
}

/* In a child of ours: the first failed check is its exit status (and its line on stderr). */
#define CHECK(x)                                                        \
	do {                                                            \
		if (!(x)) {                                             \
			fprintf(stderr, "line %d: %s\n", __LINE__, #x); \
			_exit(__LINE__ % 250 + 1);                      \
		}                                                       \
	} while (0)

/* A holder started by a segd without stderr still gets 0, 1 and 2 (else its first file would
 * become its stderr). */
static bool is_devnull(pid_t pid, int fd)
{
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = 0;
	return strcmp(target, "/dev/null") == 0;
}

static void test_spawn_without_stderr(void **state)
{
	_cleanup_free_ char *sock = fdtest_socket("nostderr");
	int status = 0;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct fdstore *s = NULL;
		pid_t h;

		close(STDERR_FILENO);
		CHECK(fdstore_open(FDSTORE_HOLDER, holder, sock, &s) == 0);
		h = fdtest_holder_pid(sock);
		CHECK(h > 0 && is_devnull(h, 0) && is_devnull(h, 1) && is_devnull(h, 2));
		fdstore_free(s); /* holding nothing: it exits */
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* segds starting together where no holder runs: one holder is started, and every one of them is
 * served by it, one after the other. */
static void test_concurrent_open(void **state)
{
	_cleanup_free_ char *sock = fdtest_socket("race");
	struct fdstore *s = NULL;
	char **names = NULL;
	pid_t kids[4];
	int pidfd;

	for (int k = 0; k < 4; k++) {
		kids[k] = fork();
		assert_true(kids[k] >= 0);
		if (kids[k] == 0) {
			int fd = memfd_create("race", MFD_CLOEXEC);
			char name[16];

			snprintf(name, sizeof(name), "kid-%d", k);
			CHECK(fd >= 0 && fdstore_open(FDSTORE_HOLDER, holder, sock, &s) == 0);
			CHECK(fdstore_put(s, name, fd) == 0);
			fdstore_free(s);
			_exit(0);
		}
	}
	for (int k = 0; k < 4; k++) {
		int status = 0;

		assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(fdstore_open(FDSTORE_HOLDER, holder, sock, &s), 0);
	assert_int_equal(fdstore_untaken(s, &names), 4);
	for (int k = 0; k < 4; k++)
		assert_int_equal(fdstore_remove(s, names[k]), 0);
	free(names);
	pidfd = pidfd_open(fdtest_holder_pid(sock), 0);
	assert_true(pidfd >= 0);
	fdstore_free(s);
	fdtest_wait_gone(pidfd);
	close(pidfd);
}

/* ---- systemd ---- */

/* A fake service manager: a datagram socket at $NOTIFY_SOCKET. */
static int notify_listen(const char *addr)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	strcpy(sa.sun_path, addr);
	len = offsetof(struct sockaddr_un, sun_path) + strlen(addr) + 1;
	if (addr[0] == '@') {
		sa.sun_path[0] = 0;
		len--;
	}
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", addr, 1), 0);
	return fd;
}

/* The next datagram (it is there already: sendmsg() queued it), and its fd or -1. */
static void notify_recv(int fd, const char *want, int *ret_fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} control;
	char text[512];
	struct iovec iov = { .iov_base = text, .iov_len = sizeof(text) - 1 };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf) };
	struct cmsghdr *c;
	ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);

	assert_true(n > 0);
	text[n] = 0;
	assert_string_equal(text, want);
	c = CMSG_FIRSTHDR(&mh);
	if (!ret_fd) {
		assert_null(c);
		return;
	}
	assert_non_null(c);
	assert_int_equal(c->cmsg_type, SCM_RIGHTS);
	assert_int_equal(c->cmsg_len, CMSG_LEN(sizeof(int)));
	memcpy(ret_fd, CMSG_DATA(c), sizeof(int));
}

/* The received fd is the same socket: same inode, same netlink portid. */
static void assert_same_netlink_socket(int a, int b)
{
	struct sockaddr_nl x, y;
	socklen_t lx = sizeof(x), ly = sizeof(y);
	struct stat sa, sb;

	assert_int_equal(fstat(a, &sa), 0);
	assert_int_equal(fstat(b, &sb), 0);
	assert_int_equal(sa.st_ino, sb.st_ino);
	assert_int_equal(getsockname(a, (struct sockaddr *)&x, &lx), 0);
	assert_int_equal(getsockname(b, (struct sockaddr *)&y, &ly), 0);
	assert_int_equal(x.nl_pid, y.nl_pid);
	assert_int_not_equal(x.nl_pid, 0);
}

static void systemd_put_remove(const char *addr)
{
	struct nft_sock *nl = NULL;
	struct fdstore *s = NULL;
	int srv = notify_listen(addr), got = -1;

	assert_int_equal(setenv("FDSTORE", "2", 1), 0); /* FileDescriptorStoreMax=2 */
	assert_int_equal(fdstore_open(FDSTORE_AUTO, holder, "/nonexistent/x.sock", &s), 0);
	assert_int_equal(fdstore_kind(s), FDSTORE_SYSTEMD);
	assert_int_equal(nft_sock_open(NULL, -1, &nl), 0);

	assert_int_equal(fdstore_put(s, "ns-1", nft_sock_fd(nl)), 0);
	notify_recv(srv, "FDSTORE=1\nFDNAME=ns-1\nFDPOLL=0", &got);
	assert_same_netlink_socket(got, nft_sock_fd(nl));
	close(got);
	/* Replacing: systemd would keep both, so the old one is removed first. */
	assert_int_equal(fdstore_put(s, "ns-1", nft_sock_fd(nl)), 0);
	notify_recv(srv, "FDSTOREREMOVE=1\nFDNAME=ns-1", NULL);
	notify_recv(srv, "FDSTORE=1\nFDNAME=ns-1\nFDPOLL=0", &got);
	assert_same_netlink_socket(got, nft_sock_fd(nl));
	close(got);
	/* The maximum is ours to enforce: systemd would drop the fd without a word. */
	assert_int_equal(fdstore_put(s, "ns-2", nft_sock_fd(nl)), 0);
	notify_recv(srv, "FDSTORE=1\nFDNAME=ns-2\nFDPOLL=0", &got);
	close(got);
	assert_int_equal(fdstore_put(s, "ns-3", nft_sock_fd(nl)), -ENOSPC);
	assert_int_equal(fdstore_put(s, "ns:3", nft_sock_fd(nl)), -EINVAL);
	assert_int_equal(fdstore_put(s, "ns-3", -1), -EBADF);
	assert_int_equal(fdstore_remove(s, "ns-2"), 0);
	notify_recv(srv, "FDSTOREREMOVE=1\nFDNAME=ns-2", NULL);
	assert_int_equal(fdstore_size(s), 1);
	assert_int_equal(recv(srv, &got, sizeof(got), 0), -1); /* nothing else was sent */

	fdstore_free(s);
	nft_sock_free(nl);
	close(srv);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("FDSTORE");
}

static void test_systemd_put_remove(void **state)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/notify", fixture_tmpdir());
	systemd_put_remove(path);
	systemd_put_remove("@segd-test-notify");
}

static void test_systemd_needs_notify_socket(void **state)
{
	_cleanup_free_ char *sock = fdtest_socket("auto");
	struct fdstore *s = NULL;

	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(fdstore_open(FDSTORE_SYSTEMD, NULL, NULL, &s), -ENXIO);
	/* $NOTIFY_SOCKET without $FDSTORE: the service has no store, AUTO takes a holder. */
	assert_int_equal(setenv("NOTIFY_SOCKET", "/run/nonexistent", 1), 0);
	assert_int_equal(fdstore_open(FDSTORE_AUTO, holder, sock, &s), 0);
	assert_int_equal(fdstore_kind(s), FDSTORE_HOLDER);
	fdstore_free(s); /* holding nothing: that holder exits */
	unsetenv("NOTIFY_SOCKET");
}

/*
 * $LISTEN_FDS wants the fds at 3, 4, ...: a child of ours arranges them (memfds, so that each is
 * recognisable) and reports the first failed check as its exit status (CHECK).
 */

static int listen_child(int n, const char *pid, const char *names, int *ret_fds)
{
	char text[16];

	for (int i = 0; i < n; i++) {
		int fd = memfd_create("listen", 0);

		CHECK(fd >= 0 && write(fd, &i, sizeof(i)) == sizeof(i));
		CHECK(dup2(fd, 100 + i) == 100 + i);
	}
	CHECK(close_range(3, 99, 0) == 0);
	for (int i = 0; i < n; i++)
		CHECK(dup2(100 + i, 3 + i) == 3 + i && close(100 + i) == 0);
	snprintf(text, sizeof(text), "%d", n);
	CHECK(setenv("NOTIFY_SOCKET", "/run/nonexistent", 1) == 0);
	CHECK(setenv("LISTEN_FDS", text, 1) == 0);
	snprintf(text, sizeof(text), "%d", (int)getpid());
	CHECK(setenv("LISTEN_PID", pid ? pid : text, 1) == 0);
	if (names)
		CHECK(setenv("LISTEN_FDNAMES", names, 1) == 0);
	for (int i = 0; i < n; i++)
		ret_fds[i] = 3 + i;
	return 0;
}

static int memfd_index(int fd)
{
	int v = -1;

	return pread(fd, &v, sizeof(v), 0) == sizeof(v) ? v : -1;
}

static void listen_cases(void)
{
	struct fdstore *s = NULL;
	char **names = NULL;
	int fds[8], fd = -1;

	/* Three named fds: each taken under its name, CLOEXEC, and $LISTEN_* gone. */
	listen_child(3, NULL, "ns-a:ns-b:ns-c", fds);
	CHECK(fdstore_open(FDSTORE_SYSTEMD, NULL, NULL, &s) == 0);
	CHECK(!getenv("LISTEN_FDS") && !getenv("LISTEN_PID") && !getenv("LISTEN_FDNAMES"));
	CHECK(fdstore_size(s) == 3 && fdstore_untaken(s, &names) == 3);
	free(names);
	CHECK(fdstore_take(s, "ns-b", &fd) == 0 && fd == 4 && memfd_index(fd) == 1);
	CHECK(fcntl(fd, F_GETFD) == FD_CLOEXEC);
	CHECK(fdstore_untaken(s, &names) == 2 && names[2] == NULL);
	CHECK((!strcmp(names[0], "ns-a") && !strcmp(names[1], "ns-c")) ||
	      (!strcmp(names[0], "ns-c") && !strcmp(names[1], "ns-a")));
	free(names);
	CHECK(fdstore_take(s, "ns-a", &fd) == 0 && fd == 3 && memfd_index(fd) == 0);
	s = fdstore_free(s); /* ns-c, untaken, closed */
	CHECK(fcntl(5, F_GETFD) < 0 && fcntl(4, F_GETFD) >= 0);
	close(3);
	close(4);

	/* For another process: nothing taken, nothing touched. */
	listen_child(2, "1", "ns-a:ns-b", fds);
	CHECK(fdstore_open(FDSTORE_SYSTEMD, NULL, NULL, &s) == 0 && fdstore_size(s) == 0);
	CHECK(fcntl(3, F_GETFD) == 0 && fcntl(4, F_GETFD) == 0);
	s = fdstore_free(s);
	close(3);
	close(4);

	/* A second fd under a name, a name we would never give, one without a name. */
	listen_child(4, NULL, "ns-a:ns-a:bad name", fds);
	CHECK(fdstore_open(FDSTORE_SYSTEMD, NULL, NULL, &s) == 0 && fdstore_size(s) == 2);
	CHECK(fdstore_take(s, "ns-a", &fd) == 0 && fd == 3);
	CHECK(fdstore_take(s, "unknown", &fd) == 0 && fd == 6);
	/* (the store's own socket may have taken one of their numbers since) */
	CHECK(memfd_index(4) < 0 && memfd_index(5) < 0);
	s = fdstore_free(s);
	close(3);
	close(6);

	/* Malformed: refused, and the fds left alone. */
	listen_child(2, NULL, "a:b:c", fds);
	CHECK(fdstore_open(FDSTORE_SYSTEMD, NULL, NULL, &s) == -EBADMSG);
	CHECK(fcntl(3, F_GETFD) == 0 && fcntl(4, F_GETFD) == 0);
	listen_child(2, NULL, NULL, fds);
	CHECK(setenv("LISTEN_FDS", "2x", 1) == 0);
	CHECK(fdstore_open(FDSTORE_SYSTEMD, NULL, NULL, &s) == -EBADMSG);
	listen_child(2, NULL, NULL, fds);
	CHECK(setenv("LISTEN_FDS", "3", 1) == 0); /* fd 5 is not open */
	CHECK(fdstore_open(FDSTORE_SYSTEMD, NULL, NULL, &s) == -EBADMSG);
	_exit(0);
}

static void test_systemd_listen_fds(void **state)
{
	int status = 0;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		listen_cases();
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* The socket of namespace a's name: adopted back when it lives in a, refused (and replaced
 * by a new one in a) when it lives elsewhere. Endpoints find their namespace through it. */
static void ns_of(int fd, struct stat *ret)
{
	int ns = -1;

	assert_int_equal(netns_of_socket(fd, &ns), 0);
	assert_int_equal(fstat(ns, ret), 0);
	close(ns);
}

static void test_owner_socket_in_its_namespace(void **state)
{
	_cleanup_free_ char *sock = fdtest_socket("owner-ns");
	struct nft_sock *wrong = NULL, *s = NULL;
	struct fdstore *store = NULL;
	struct stat a_st, st;
	char name[64], got[64];
	uint32_t portid;
	int a = -1, b = -1;

	assert_int_equal(fixture_netns("owner-ns-a", &a), 0);
	assert_int_equal(fixture_netns("owner-ns-b", &b), 0);
	assert_int_equal(fstat(a, &a_st), 0);
	snprintf(name, sizeof(name), "ns-%llx-%llx", (unsigned long long)a_st.st_dev,
		 (unsigned long long)a_st.st_ino);

	/* Under a's name, a socket of b's. */
	assert_int_equal(fdstore_open(FDSTORE_HOLDER, holder, sock, &store), 0);
	assert_int_equal(nft_sock_open(NULL, b, &wrong), 0);
	assert_int_equal(fdstore_put(store, name, nft_sock_fd(wrong)), 0);
	wrong = nft_sock_free(wrong);
	store = fdstore_free(store);
	/* The next segd: what the store hands back at connection is what it can take. */
	assert_int_equal(fdstore_open(FDSTORE_HOLDER, holder, sock, &store), 0);
	assert_int_equal(fdstore_size(store), 1);
	assert_int_equal(owner_socket_open(NULL, store, a, "ns", &s, got), 0);
	assert_string_equal(got, name);
	ns_of(nft_sock_fd(s), &st);
	assert_true(st.st_dev == a_st.st_dev && st.st_ino == a_st.st_ino);
	portid = nft_sock_portid(s);
	s = nft_sock_free(s);
	store = fdstore_free(store);

	/* The one put in its place is a's: taken back, the very socket. */
	assert_int_equal(fdstore_open(FDSTORE_HOLDER, holder, sock, &store), 0);
	assert_int_equal(owner_socket_open(NULL, store, a, "ns", &s, got), 0);
	assert_int_equal(nft_sock_portid(s), portid);
	ns_of(nft_sock_fd(s), &st);
	assert_true(st.st_dev == a_st.st_dev && st.st_ino == a_st.st_ino);
	owner_socket_forget(store, got);
	nft_sock_free(s);
	fdstore_free(store); /* holding nothing: the holder exits */
	close(a);
	close(b);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_many),
		cmocka_unit_test(test_ownership_survives_client_death),
		cmocka_unit_test(test_owner_socket_in_its_namespace),
		cmocka_unit_test(test_one_client_at_a_time),
		cmocka_unit_test(test_holder_missing),
		cmocka_unit_test(test_spawn_without_stderr),
		cmocka_unit_test(test_concurrent_open),
		cmocka_unit_test(test_systemd_put_remove),
		cmocka_unit_test(test_systemd_needs_notify_socket),
		cmocka_unit_test(test_systemd_listen_fds),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s SEGD-FDSTORE\n", argv[0]);
		return 1;
	}
	holder = argv[1];
	fixture_enter();
	fdtest_raise_nofile();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
