/* SPDX-License-Identifier: MIT */
/*
 * segd-probe: traffic probe for the real-network tests.
 *
 *   segd-probe serve [--tcp PORT[,PORT]...] [--udp PORT[,PORT]...] [--pidfile FILE]
 *       Listens on every address of the namespace (one dual-stack [::] socket per port,
 *       IPV6_V6ONLY=0; plain IPv4 when IPv6 is disabled). TCP: accept, write a short reply,
 *       close. UDP: echo each datagram back from the address it was sent to. Prints "ready"
 *       on stdout once every socket listens; runs until killed.
 *
 *   segd-probe connect [--timeout-ms N] [--sport-base P] [-v] TARGET...
 *       TARGET is tcp:ADDR:PORT or udp:ADDR:PORT, IPv6 as tcp:[fd00::1]:80. All targets run
 *       concurrently (non-blocking sockets, one poll loop), each from a fresh socket and so a
 *       fresh source port. With --sport-base, target i is sent from source port P+i (falling
 *       back to an ephemeral port if that one is busy): a caller that hands out disjoint ranges
 *       guarantees that no probe reuses the 5-tuple of an earlier one, so a stale conntrack
 *       entry can never make a denied flow look allowed. --bind ADDR (at most one IPv4 and
 *       one IPv6) sends the targets of that family from ADDR. TCP ok = the handshake completes. UDP ok = an echo arrives; the
 *       datagram is sent three times spread over the timeout. Prints "TARGET ok|fail" per
 *       target in input order (-v appends the reason and the time taken), exits 0.
 *
 *   segd-probe hammer [--duration-ms N] [--interval-us N] [--concurrency N] [--timeout-ms N]
 *                     [--stop-on-eof] tcp:ADDR:PORT
 *       Zero-window measurement: starts a non-blocking TCP connect to the target every
 *       interval-us microseconds (default 1000; 0 = as fast as the concurrency allows), at most
 *       concurrency (default 64) in flight, each abandoned after timeout-ms (default 200), for
 *       duration-ms (default 1000) or until stdin reaches EOF (--stop-on-eof). Every completed
 *       handshake prints "ok T0 T1" and every reset "refused T0 T1" as it happens
 *       (CLOCK_MONOTONIC microseconds at the attempt's start and end); at the end, after the
 *       attempts still in flight are decided, one line
 *       "attempts N ok N refused N unreach N timeout N other N".
 *
 * Exit status: 0 success, 2 usage error, 1 other error.
 *
 * This file holds the entry point, the usage text, and what the subcommands share: the clock
 * and the parsers of ports, addresses and targets. Each subcommand has its own file:
 * probe-serve.c, probe-connect.c, probe-hammer.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "probe.h"

void usage(FILE *f)
{
	fputs("usage: segd-probe serve [--tcp PORT[,PORT]] [--udp PORT[,PORT]] [--pidfile FILE]\n"
	      "       segd-probe connect [--timeout-ms N] [--sport-base P] [--bind ADDR]... [-v] TARGET...\n"
	      "       segd-probe hammer [--duration-ms N] [--interval-us N] [--concurrency N]\n"
	      "                         [--timeout-ms N] [--stop-on-eof] tcp:ADDR:PORT\n"
	      "TARGET: tcp:ADDR:PORT | udp:ADDR:PORT (IPv6: tcp:[ADDR]:PORT), at most 4096\n",
	      f);
}

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int parse_port(const char *s, size_t len)
{
	char buf[8];
	char *end;
	long v;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno || *end || v < 1 || v > 65535)
		return -1;
	return (int)v;
}

/* "80,81" -> ports[]; returns the count or -1. */
int parse_port_list(const char *s, int *ports, int have)
{
	while (*s) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		int p = parse_port(s, len);

		if (p < 0 || have >= MAX_PORTS)
			return -1;
		ports[have++] = p;
		s += len;
		if (*s == ',')
			s++;
	}
	return have;
}

/*
 * A numeric IPv4 or IPv6 address (IPv6 with an optional %SCOPE, an interface name or index)
 * and a port into *sa. No resolver: the probe is also linked statically (segd-probe-static,
 * the binary inside the podman test image), where glibc's getaddrinfo is unusable.
 */
int parse_addr(const char *host, int port, struct sockaddr_storage *sa, socklen_t *salen)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
	char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	char *scope;

	memset(sa, 0, sizeof(*sa));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*salen = sizeof(*s4);
		return 0;
	}
	if (strlen(host) >= sizeof(buf))
		return -1;
	strcpy(buf, host);
	scope = strchr(buf, '%');
	if (scope)
		*scope++ = '\0';
	if (inet_pton(AF_INET6, buf, &s6->sin6_addr) != 1)
		return -1;
	if (scope) {
		char *end;
		unsigned long idx;

		errno = 0;
		idx = strtoul(scope, &end, 10);
		if (*scope == '\0' || errno || *end || idx > UINT32_MAX)
			idx = if_nametoindex(scope);
		if (idx == 0)
			return -1;
		s6->sin6_scope_id = (uint32_t)idx;
	}
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons((uint16_t)port);
	*salen = sizeof(*s6);
	return 0;
}

int parse_target(const char *text, struct target *t)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	const char *rest, *colon;
	size_t hlen;
	int port;

	memset(t, 0, sizeof(*t));
	t->text = text;
	t->fd = -1;
	if (!strncmp(text, "tcp:", 4))
		t->tcp = true;
	else if (strncmp(text, "udp:", 4) != 0)
		return -1;
	rest = text + 4;
	if (*rest == '[') {
		const char *close_br = strchr(rest, ']');

		if (!close_br || close_br[1] != ':')
			return -1;
		hlen = (size_t)(close_br - rest - 1);
		rest++;
		colon = close_br + 1;
	} else {
		colon = strrchr(rest, ':');
		if (!colon)
			return -1;
		hlen = (size_t)(colon - rest);
		if (memchr(rest, ':', hlen)) /* unbracketed IPv6 */
			return -1;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, rest, hlen);
	host[hlen] = '\0';
	port = parse_port(colon + 1, strlen(colon + 1));
	if (port < 0)
		return -1;
	return parse_addr(host, port, &t->sa, &t->salen);
}

size_t max_open_sockets(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			(void)setrlimit(RLIMIT_NOFILE, &rl);
			(void)getrlimit(RLIMIT_NOFILE, &rl);
		}
		if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < MAX_TARGETS + 32)
			return rl.rlim_cur > 64 ? (size_t)rl.rlim_cur - 32 : 16;
	}
	return MAX_TARGETS;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "serve"))
		return cmd_serve(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "connect"))
		return cmd_connect(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "hammer"))
		return cmd_hammer(argc - 2, argv + 2);
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
