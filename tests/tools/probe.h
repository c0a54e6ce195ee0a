/* SPDX-License-Identifier: MIT */
/*
 * What the subcommands of segd-probe share (probe.c): the limits, a probe target (one
 * tcp:/udp: address and port, and its state while connect or hammer runs it), the parsers of
 * ports, addresses and targets, the clock, and the entry point of each subcommand
 * (probe-serve.c, probe-connect.c, probe-hammer.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#define MAX_TARGETS 4096
#define MAX_PORTS 64

enum tstate { T_NEW, T_RUNNING, T_OK, T_FAIL };

struct target {
	const char *text;
	bool tcp;
	struct sockaddr_storage sa;
	socklen_t salen;
	int fd;
	int sport;			    /* 0 = ephemeral */
	const struct sockaddr_storage *src; /* NULL = routing chooses */
	enum tstate state;
	int sends; /* UDP datagrams sent so far */
	int err;   /* errno of the failure, 0 = timeout */
	int64_t t_start, t_end;
};

void usage(FILE *f);
int64_t now_ms(void);
/* a decimal port 1..65535 from s[0..len), or -1 */
int parse_port(const char *s, size_t len);
/* "80,81" -> ports[]; returns the count or -1. */
int parse_port_list(const char *s, int *ports, int have);

/* a numeric IPv4 or IPv6 address (IPv6 with an optional %SCOPE) and a port into *sa */
int parse_addr(const char *host, int port, struct sockaddr_storage *sa, socklen_t *salen);
/* "tcp:ADDR:PORT" or "udp:ADDR:PORT" (IPv6 in brackets) into a fresh *t; -1 if malformed */
int parse_target(const char *text, struct target *t);
/* how many sockets may be open at once (raises RLIMIT_NOFILE to its hard limit first) */
size_t max_open_sockets(void);

int cmd_serve(int argc, char **argv);
int cmd_connect(int argc, char **argv);
int cmd_hammer(int argc, char **argv);
