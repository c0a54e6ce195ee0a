/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A real etcd for tests: started as a child on free loopback ports with a data dir under
 * fixture_tmpdir(), ready once it answers a range (retried: a refused connection fails at
 * once), killed by etcd_server_stop() or, should the test die, by the kernel (PDEATHSIG).
 * Call from cmocka tests: failures fail the test.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct etcd_server {
	pid_t pid;
	char url[64];
	char log[300];
	int client_port, peer_port; /* kept by a restart, with the data dir */
	char certdir[300];
};

/* A loopback TCP port that was free a moment ago. */
int etcd_fixture_free_port(void);
bool etcd_fixture_have(const char *binary);
/* Writes ca.pem, server.pem/.key (127.0.0.1, server and client use: etcd 3.4's gateway dials
 * its own server with it) and client.pem/.key into dir with openssl. */
void etcd_fixture_certs(const char *dir);
/* Starts etcd: http, or with certdir https with client certificates required. */
void etcd_server_start(struct etcd_server *s, const char *certdir);
void etcd_server_stop(struct etcd_server *s);
/* Compacts its history up to revision (physically): a watch from before it is refused. */
void etcd_server_compact(const struct etcd_server *s, int64_t revision);
/* Stops it if it runs and starts it again on the same ports and data (its keys survive). */
void etcd_server_restart(struct etcd_server *s);

/* A writer's requests that fail the test when etcd refuses them: the revision a transaction
 * made; a key's value (NULL if absent; its mod_revision in *ret_mod); how many keys a prefix
 * has. */
struct etcd;
struct etcd_op;
int64_t etcd_fixture_txn(struct etcd *c, const struct etcd_op *ops, size_t n);
char *etcd_fixture_get(struct etcd *c, const char *key, int64_t *ret_mod);
size_t etcd_fixture_count(struct etcd *c, const char *prefix);

/* A missing etcd is a missing package (scripts/deps.sh installs etcd-server), not a missing
 * kernel feature: the test fails and says so, it is not skipped. */
#define ETCD_FIXTURE_NEEDED(missing)                                                          \
	do {                                                                                  \
		if (missing)                                                                  \
			fail_msg("etcd is not installed (no `etcd` in PATH: scripts/deps.sh " \
				 "installs etcd-server)");                                    \
	} while (0)
