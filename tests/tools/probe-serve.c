/* SPDX-License-Identifier: MIT */
/*
 * segd-probe serve: one listening socket per requested TCP and UDP port, dual-stack where the
 * namespace has IPv6. TCP connections get a short reply and are closed; UDP datagrams are
 * echoed back from the local address they were sent to. Runs until killed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "probe.h"

static const char reply_text[] = "segd-probe\n";

struct listener {
	int fd;
	bool tcp;
	int family;
};

static int open_listener(int port, bool tcp, struct listener *ret)
{
	int one = 1, zero = 0;
	int fd;

	fd = socket(AF_INET6, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd >= 0) {
		struct sockaddr_in6 sa6 = { .sin6_family = AF_INET6,
					    .sin6_port = htons((uint16_t)port),
					    .sin6_addr = IN6ADDR_ANY_INIT };

		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0 ||
		    (!tcp &&
		     setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) < 0) ||
		    bind(fd, (struct sockaddr *)&sa6, sizeof(sa6)) < 0) {
			fprintf(stderr, "segd-probe: [::]:%d/%s: %s\n", port, tcp ? "tcp" : "udp",
				strerror(errno));
			close(fd);
			return -1;
		}
		ret->family = AF_INET6;
	} else if (errno == EAFNOSUPPORT) {
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_port = htons((uint16_t)port),
					  .sin_addr = { htonl(INADDR_ANY) } };

		fd = socket(AF_INET,
			    (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return -1;
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if ((!tcp && setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0) ||
		    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			fprintf(stderr, "segd-probe: 0.0.0.0:%d/%s: %s\n", port,
				tcp ? "tcp" : "udp", strerror(errno));
			close(fd);
			return -1;
		}
		ret->family = AF_INET;
	} else {
		fprintf(stderr, "segd-probe: socket: %s\n", strerror(errno));
		return -1;
	}
	if (tcp && listen(fd, 512) < 0) {
		fprintf(stderr, "segd-probe: listen %d: %s\n", port, strerror(errno));
		close(fd);
		return -1;
	}
	ret->fd = fd;
	ret->tcp = tcp;
	return 0;
}

static void serve_tcp(int lfd)
{
	for (;;) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (c < 0)
			return;
		/* Best effort: the client may already be gone. */
		(void)send(c, reply_text, sizeof(reply_text) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(c);
	}
}

/* Echo one datagram back, from the local address it was sent to (pods may have several). */
static void serve_udp(const struct listener *l)
{
	for (;;) {
		char buf[2048];
		union {
			char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) +
				 CMSG_SPACE(sizeof(struct in_pktinfo))];
			struct cmsghdr align;
		} ctl_in, ctl_out;
		struct sockaddr_storage peer;
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr mh = { .msg_name = &peer,
				     .msg_namelen = sizeof(peer),
				     .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = ctl_in.buf,
				     .msg_controllen = sizeof(ctl_in.buf) };
		struct msghdr out = { 0 };
		struct cmsghdr *cm;
		ssize_t n;

		n = recvmsg(l->fd, &mh, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		iov.iov_len = (size_t)n;
		out.msg_name = &peer;
		out.msg_namelen = mh.msg_namelen;
		out.msg_iov = &iov;
		out.msg_iovlen = 1;
		memset(&ctl_out, 0, sizeof(ctl_out));
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			struct cmsghdr *o;

			if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
				struct in6_pktinfo pi;

				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				out.msg_control = ctl_out.buf;
				out.msg_controllen = CMSG_SPACE(sizeof(pi));
				o = CMSG_FIRSTHDR(&out);
				o->cmsg_level = IPPROTO_IPV6;
				o->cmsg_type = IPV6_PKTINFO;
				o->cmsg_len = CMSG_LEN(sizeof(pi));
				pi.ipi6_ifindex = 0;
				memcpy(CMSG_DATA(o), &pi, sizeof(pi));
				break;
			}
			if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo pi;

				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				out.msg_control = ctl_out.buf;
				out.msg_controllen = CMSG_SPACE(sizeof(pi));
				o = CMSG_FIRSTHDR(&out);
				o->cmsg_level = IPPROTO_IP;
				o->cmsg_type = IP_PKTINFO;
				o->cmsg_len = CMSG_LEN(sizeof(pi));
				pi.ipi_ifindex = 0;
				pi.ipi_spec_dst = pi.ipi_addr;
				memcpy(CMSG_DATA(o), &pi, sizeof(pi));
				break;
			}
		}
		if (sendmsg(l->fd, &out, MSG_DONTWAIT) < 0 && out.msg_control) {
			/* Fall back to letting the kernel choose the source address. */
			out.msg_control = NULL;
			out.msg_controllen = 0;
			(void)sendmsg(l->fd, &out, MSG_DONTWAIT);
		}
	}
}

int cmd_serve(int argc, char **argv)
{
	int tcp_ports[MAX_PORTS], udp_ports[MAX_PORTS];
	int ntcp = 0, nudp = 0, nl = 0;
	const char *pidfile = NULL;
	struct listener ls[2 * MAX_PORTS];
	struct pollfd pfd[2 * MAX_PORTS];
	int i;

	for (i = 0; i < argc; i++) {
		const char *a = argv[i];

		if ((!strcmp(a, "--tcp") || !strcmp(a, "--udp") || !strcmp(a, "--pidfile")) &&
		    i + 1 >= argc) {
			usage(stderr);
			return 2;
		}
		if (!strcmp(a, "--tcp")) {
			ntcp = parse_port_list(argv[++i], tcp_ports, ntcp);
			if (ntcp < 0)
				goto bad;
		} else if (!strcmp(a, "--udp")) {
			nudp = parse_port_list(argv[++i], udp_ports, nudp);
			if (nudp < 0)
				goto bad;
		} else if (!strcmp(a, "--pidfile")) {
			pidfile = argv[++i];
		} else {
			goto bad;
		}
	}
	if (ntcp + nudp == 0)
		goto bad;

	for (i = 0; i < ntcp; i++)
		if (open_listener(tcp_ports[i], true, &ls[nl++]) < 0)
			return 1;
	for (i = 0; i < nudp; i++)
		if (open_listener(udp_ports[i], false, &ls[nl++]) < 0)
			return 1;

	if (pidfile) {
		FILE *f = fopen(pidfile, "we");

		if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0) {
			fprintf(stderr, "segd-probe: %s: %s\n", pidfile, strerror(errno));
			return 1;
		}
	}
	printf("ready\n");
	fflush(stdout);

	for (i = 0; i < nl; i++) {
		pfd[i].fd = ls[i].fd;
		pfd[i].events = POLLIN;
	}
	for (;;) {
		int r = poll(pfd, (nfds_t)nl, -1);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "segd-probe: poll: %s\n", strerror(errno));
			return 1;
		}
		for (i = 0; i < nl; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			if (ls[i].tcp)
				serve_tcp(ls[i].fd);
			else
				serve_udp(&ls[i]);
		}
	}
bad:
	usage(stderr);
	return 2;
}
