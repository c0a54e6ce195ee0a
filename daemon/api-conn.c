/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api-conn.h"
#include "fsutil.h"
#include "log.h"
#include "macro.h"
#include "time-util.h"

#define ACCEPT_BURST 64 /* accepts per wake-up, so that one socket cannot starve the loop */
#define LOG_INTERVAL_MS 1000

struct listener {
	struct api_conns *owner;
	int fd;
	char *path;
	enum conn_role ceiling;
	struct watch watch;
};

/* One admitted connection, in the deadline list (earliest first) until it is closed. */
struct conn {
	struct api_peer peer;
	int fd;
	int64_t deadline_ms;
	bool attached, expired;
	struct conn *prev, *next;
};

struct api_conns {
	struct loop *loop;
	struct MHD_Daemon *mhd;
	struct conn_limit limit;
	struct conn_groups groups;
	struct listener ls[2];
	bool paused; /* out of descriptors: accepting waits for a connection to close */
	unsigned request_timeout_ms;
	struct conn *head; /* by deadline */
	struct conn *adding;
	int timer_fd;
	struct watch timer;
	int64_t last_log_ms;
	unsigned unlogged;
};

DEFINE_CLEANUP(struct api_conns *, api_conns_free);

/* One notice per LOG_INTERVAL_MS at most: a flood must not flood the journal too. */
static void log_limited(struct api_conns *ac, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void log_limited(struct api_conns *ac, const char *fmt, ...)
{
	int64_t now = now_msec();
	char buf[256];
	va_list ap;

	if (ac->last_log_ms && now - ac->last_log_ms < LOG_INTERVAL_MS) {
		ac->unlogged++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (ac->unlogged)
		log_notice("%s (and %u more API connection problem(s) not logged)", buf,
			   ac->unlogged);
	else
		log_notice("%s", buf);
	ac->last_log_ms = now;
	ac->unlogged = 0;
}

/* ---- deadlines ------------------------------------------------------------------------------ */

static void conn_unlink(struct api_conns *ac, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else if (ac->head == c)
		ac->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

static void conn_insert(struct api_conns *ac, struct conn *c)
{
	struct conn **p = &ac->head, *prev = NULL;

	while (*p && (*p)->deadline_ms <= c->deadline_ms) {
		prev = *p;
		p = &(*p)->next;
	}
	c->prev = prev;
	c->next = *p;
	if (*p)
		(*p)->prev = c;
	*p = c;
}

static void timer_rearm(struct api_conns *ac)
{
	struct conn *c = ac->head;
	int64_t left;

	while (c && c->expired)
		c = c->next;
	if (!c) {
		(void)timer_fd_arm(ac->timer_fd, 0, false);
		return;
	}
	left = c->deadline_ms - now_msec();
	(void)timer_fd_arm(ac->timer_fd, left < 1 ? 1 : (uint64_t)left, false);
}

static int on_timer(struct watch *w, uint32_t events)
{
	struct api_conns *ac = container_of(w, struct api_conns, timer);
	int64_t now = now_msec();

	(void)timer_fd_ack(ac->timer_fd);
	for (struct conn *c = ac->head; c && c->deadline_ms <= now; c = c->next) {
		if (c->expired)
			continue;
		/* libmicrohttpd sees the end of the stream and closes the connection */
		c->expired = true;
		ac->limit.timed_out++;
		(void)shutdown(c->fd, SHUT_RDWR);
		log_limited(ac, "Closed an API connection from uid %u pid %d: past its deadline",
			    (unsigned)c->peer.uid, (int)c->peer.pid);
	}
	timer_rearm(ac);
	return 0;
}

/* ---- accepting ------------------------------------------------------------------------------ */

static void conn_free(struct api_conns *ac, struct conn *c)
{
	conn_limit_release(&ac->limit, c->peer.uid, c->peer.role);
	conn_unlink(ac, c);
	if (ac->adding == c)
		ac->adding = NULL;
	free(c);
	if (ac->paused) {
		ac->paused = false;
		for (size_t i = 0; i < ARRAY_SIZE(ac->ls); i++)
			if (ac->ls[i].fd >= 0)
				(void)loop_modify(&ac->ls[i].watch, EPOLLIN);
	}
}

static void admit(struct api_conns *ac, struct listener *ls, int fd, struct sockaddr_un *sa,
		  socklen_t salen)
{
	static gid_t groups[NGROUPS_MAX]; /* one thread; too large for the stack */
	struct ucred cred = { .uid = (uid_t)-1, .gid = (gid_t)-1 };
	socklen_t len = sizeof(cred), glen = sizeof(groups);
	enum conn_role role = CONN_ROLE_NONE;
	enum conn_verdict v;
	struct conn *c;
	size_t n = 0;

	/* The credentials and groups the peer had at connect(); on any doubt, no role. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0)
			n = glen / sizeof(gid_t);
		role = conn_role_of(&ac->groups, cred.uid, cred.gid, groups, n, ls->ceiling);
	}
	v = conn_limit_take(&ac->limit, cred.uid, role);
	if (v != CONN_ACCEPTED) {
		safe_close(fd);
		log_limited(ac, "Refused an API connection on %s from uid %u pid %d: %s", ls->path,
			    (unsigned)cred.uid, (int)cred.pid,
			    v == CONN_REFUSED_NO_ROLE ? "no role (root, --group or --audit-group)"
			    : v == CONN_REFUSED_PER_USER
				    ? "the user holds as many connections as one may"
				    : "too many connections");
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		conn_limit_release(&ac->limit, cred.uid, role);
		safe_close(fd);
		return;
	}
	*c = (struct conn){ .peer = { .uid = cred.uid, .pid = cred.pid, .role = role },
			    .fd = fd,
			    .deadline_ms = now_msec() + ac->request_timeout_ms };
	conn_insert(ac, c);
	timer_rearm(ac);
	ac->adding = c;
	/* Closes fd on failure. */
	if (MHD_add_connection(ac->mhd, fd, (struct sockaddr *)sa, salen) != MHD_YES) {
		log_limited(ac, "libmicrohttpd refused an API connection from uid %u: %m",
			    (unsigned)cred.uid);
		if (ac->adding == c && !c->attached)
			conn_free(ac, c);
	}
	ac->adding = NULL;
}

static int on_accept(struct watch *w, uint32_t events)
{
	struct listener *ls = container_of(w, struct listener, watch);
	struct api_conns *ac = ls->owner;

	for (int i = 0; i < ACCEPT_BURST; i++) {
		struct sockaddr_un sa = { 0 };
		socklen_t salen = sizeof(sa);
		int fd = accept4(ls->fd, (struct sockaddr *)&sa, &salen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			admit(ac, ls, fd, &sa, salen);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* level-triggered: wait for a close rather than spin */
			log_limited(ac,
				    "Cannot accept API connections: %m; waiting for one to close");
			for (size_t k = 0; k < ARRAY_SIZE(ac->ls); k++)
				if (ac->ls[k].fd >= 0)
					(void)loop_modify(&ac->ls[k].watch, 0);
			ac->paused = ac->head != NULL;
			if (!ac->paused) /* nothing will close: keep trying */
				for (size_t k = 0; k < ARRAY_SIZE(ac->ls); k++)
					if (ac->ls[k].fd >= 0)
						(void)loop_modify(&ac->ls[k].watch, EPOLLIN);
		} else if (errno != EAGAIN)
			log_limited(ac, "Failed to accept an API connection: %m");
		break;
	}
	return 0;
}

void api_conns_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
		      enum MHD_ConnectionNotificationCode code)
{
	struct api_conns *ac = cls;
	struct conn *c;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);

		c = ac->adding;
		if (!ci || !c || c->fd != ci->connect_fd)
			for (c = ac->head; ci && c; c = c->next)
				if (!c->attached && c->fd == ci->connect_fd)
					break;
		if (c) /* else: the request handler finds no peer and refuses it */
			c->attached = true;
		*socket_context = c;
		return;
	}
	if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
		conn_free(ac, *socket_context);
		*socket_context = NULL;
		timer_rearm(ac);
	}
}

const struct api_peer *api_conn_peer(struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn *c = ci ? ci->socket_context : NULL;

	return c ? &c->peer : NULL;
}

void api_conn_received(struct MHD_Connection *mc, struct api_conns *ac)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn *c = ci ? ci->socket_context : NULL;

	if (!c || c->expired)
		return;
	conn_unlink(ac, c);
	c->deadline_ms = now_msec() + API_ANSWER_TIMEOUT_S * 1000;
	conn_insert(ac, c);
	timer_rearm(ac);
}

const struct conn_limit *api_conns_stats(const struct api_conns *ac)
{
	return ac ? &ac->limit : NULL;
}

/* ---- sockets -------------------------------------------------------------------------------- */

static int listen_unix(const char *path, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	r = mkdir_parents(path, 0755);
	if (r < 0)
		return r;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;

	/* A socket file that nobody answers on is stale; one that answers is another segd. */
	if (access(path, F_OK) == 0) {
		_cleanup_close_ int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return -EADDRINUSE;
		if (unlink(path) < 0 && errno != ENOENT)
			return -errno;
	}
	/* Never reachable by all, not even between bind() and chmod(). */
	{
		mode_t old = umask(0177);

		r = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
		umask(old);
	}
	if (r < 0)
		return r;
	if (chmod(path, 0660) < 0 || listen(fd, 128) < 0) {
		r = -errno;
		(void)unlink(path);
		return r;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int listener_open(struct api_conns *ac, struct listener *ls, const char *path,
			 enum conn_role ceiling, const char *group, bool have_gid, gid_t gid)
{
	int r;

	ls->owner = ac;
	ls->ceiling = ceiling;
	ls->path = strdup(path);
	if (!ls->path)
		return -ENOMEM;
	r = listen_unix(path, &ls->fd);
	if (r == -EADDRINUSE)
		return log_error_errno(r, "Another segd is serving %s", path);
	if (r < 0)
		return log_error_errno(r, "Failed to listen on %s: %m", path);
	/* Without its group, root alone can connect. */
	if (have_gid && chown(path, 0, gid) < 0)
		log_warning_errno(-errno, "Failed to give %s to group %s, ignoring: %m", path,
				  group);
	return 0;
}

int api_conns_new(struct loop *l, const struct api_conns_config *cfg, struct api_conns **ret)
{
	_cleanup_(api_conns_freep) struct api_conns *ac = calloc(1, sizeof(*ac));
	struct group *g;
	int r;

	if (!ac)
		return -ENOMEM;
	ac->loop = l;
	ac->timer_fd = -1;
	ac->ls[0].fd = ac->ls[1].fd = -1;
	ac->request_timeout_ms = cfg->request_timeout_s * 1000;
	r = conn_limit_init(&ac->limit, CONN_DEFAULT_MAX_TOTAL, CONN_DEFAULT_MAX_PER_USER,
			    CONN_DEFAULT_RESERVED);
	if (r < 0)
		return r;
	g = cfg->group ? getgrnam(cfg->group) : NULL;
	if (g) {
		ac->groups.gid = g->gr_gid;
		ac->groups.have_gid = true;
	}
	g = cfg->audit_group ? getgrnam(cfg->audit_group) : NULL;
	if (g) {
		ac->groups.audit_gid = g->gr_gid;
		ac->groups.have_audit_gid = true;
	}
	ac->timer_fd = timer_fd_new();
	if (ac->timer_fd < 0)
		return ac->timer_fd;
	r = loop_add(l, &ac->timer, ac->timer_fd, EPOLLIN, on_timer);
	if (r < 0)
		return r;
	r = listener_open(ac, &ac->ls[0], cfg->socket_path, CONN_ROLE_WRITE, cfg->group,
			  ac->groups.have_gid, ac->groups.gid);
	if (r < 0)
		return r;
	if (ac->groups.have_audit_gid && cfg->audit_socket_path) {
		if (streq(cfg->audit_socket_path, cfg->socket_path))
			return log_error_errno(-EINVAL,
					       "The read-only socket cannot be the main one (%s)",
					       cfg->socket_path);
		r = listener_open(ac, &ac->ls[1], cfg->audit_socket_path, CONN_ROLE_READ,
				  cfg->audit_group, true, ac->groups.audit_gid);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(ac);
	return 0;
}

int api_conns_start(struct api_conns *ac, struct MHD_Daemon *mhd)
{
	ac->mhd = mhd;
	for (size_t i = 0; i < ARRAY_SIZE(ac->ls); i++) {
		int r;

		if (ac->ls[i].fd < 0)
			continue;
		r = loop_add(ac->loop, &ac->ls[i].watch, ac->ls[i].fd, EPOLLIN, on_accept);
		if (r < 0)
			return r;
		log_info("Serving the API on %s (%s)", ac->ls[i].path,
			 ac->ls[i].ceiling == CONN_ROLE_WRITE ? "read-write" : "read-only");
	}
	return 0;
}

struct api_conns *api_conns_free(struct api_conns *ac)
{
	if (!ac)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(ac->ls); i++) {
		struct listener *ls = &ac->ls[i];

		loop_remove(&ls->watch);
		if (ls->fd >= 0) {
			(void)unlink(ls->path);
			safe_close(ls->fd);
		}
		free(ls->path);
	}
	while (ac->head) { /* left by libmicrohttpd: not ours to close */
		struct conn *c = ac->head;

		conn_unlink(ac, c);
		free(c);
	}
	loop_remove(&ac->timer);
	safe_close(ac->timer_fd);
	conn_limit_done(&ac->limit);
	free(ac);
	return NULL;
}
