/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A real etcd (3.4 or later) for rootless tests: started from PATH on free loopback ports with
 * a data dir under fixture_tmpdir(), stopped and started again on the same ports and data (a
 * member that goes away and comes back), killed when the test process dies (PR_SET_PDEATHSIG).
 * Started after fixture_enter(), it lives in the test's private network namespace.
 */
#include <stdbool.h>
#include <sys/types.h>

struct etcd_fixture {
	pid_t pid; /* 0: not running */
	int client_port, peer_port;
	char url[64]; /* http://127.0.0.1:PORT */
	char dir[300];
	char log[300];
};

/* Whether an `etcd` executable is in PATH. */
bool etcd_fixture_available(void);
/* A loopback TCP port nobody listens on (now). */
int etcd_fixture_free_port(void);
/* Starts etcd on new ports with a new data dir and waits until it answers a range; fails the
 * test when it does not (its log is named). Retries when a port was taken meanwhile. */
void etcd_fixture_start(struct etcd_fixture *fx);
/* Stops it (SIGTERM, then waits): its clients see connections refused. */
void etcd_fixture_stop(struct etcd_fixture *fx);
/* Starts it again on the same ports and data dir; waits until it answers. */
void etcd_fixture_restart(struct etcd_fixture *fx);
