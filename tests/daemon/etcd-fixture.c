/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "etcd-fixture.h"
#include "etcd.h"
#include "fixture.h"
#include "time-util.h"

#define READY_TIMEOUT_MS 30000

int etcd_fixture_free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

bool etcd_fixture_available(void)
{
	const char *path = getenv("PATH");
	char *copy, *save = NULL;
	bool found = false;

	if (!path)
		return false;
	copy = strdup(path);
	assert_non_null(copy);
	for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		char f[4096];

		snprintf(f, sizeof(f), "%s/etcd", d);
		found = access(f, X_OK) == 0;
	}
	free(copy);
	return found;
}

static void pause_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };

	(void)nanosleep(&ts, NULL);
}

/* Runs etcd on fx's ports and dir; 0 once it answers a range, -EAGAIN if it exited. */
static int run(struct etcd_fixture *fx)
{
	char client_url[64], peer_url[64], cluster[96];
	const char *urls[1] = { client_url };
	struct etcd_config cfg = { .urls = urls, .n_urls = 1 };
	struct etcd *c = NULL;
	int64_t t0 = now_msec();
	int fd;

	snprintf(client_url, sizeof(client_url), "http://127.0.0.1:%d", fx->client_port);
	snprintf(peer_url, sizeof(peer_url), "http://127.0.0.1:%d", fx->peer_port);
	snprintf(cluster, sizeof(cluster), "t=%s", peer_url);
	/* appended: a restart keeps what the first run said */
	fd = open(fx->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	fx->pid = fork();
	assert_true(fx->pid >= 0);
	if (fx->pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			(void)dup2(fd, 1);
			(void)dup2(fd, 2);
		}
		execlp("etcd", "etcd", "--name", "t", "--data-dir", fx->dir, "--listen-client-urls",
		       client_url, "--advertise-client-urls", client_url, "--listen-peer-urls",
		       peer_url, "--initial-advertise-peer-urls", peer_url, "--initial-cluster",
		       cluster, "--log-level", "warn", NULL);
		_exit(127);
	}
	if (fd >= 0)
		close(fd);
	snprintf(fx->url, sizeof(fx->url), "%s", client_url);
	assert_int_equal(etcd_new(NULL, &cfg, &c), 0);
	/* Ready when it answers: retried (connection refused is immediate) until it does. */
	for (;;) {
		struct etcd_error err = { { 0 } };
		struct etcd_kv *kvs = NULL;
		size_t n;
		int64_t rev;
		int status;

		if (etcd_range_prefix(c, "/", &kvs, &n, &rev, &err) == 0) {
			etcd_kvs_free(kvs, n);
			break;
		}
		if (waitpid(fx->pid, &status, WNOHANG) == fx->pid) {
			fx->pid = 0;
			etcd_free(c);
			return -EAGAIN;
		}
		if (now_msec() - t0 > READY_TIMEOUT_MS)
			fail_msg("etcd did not answer within %d ms (log: %s): %s", READY_TIMEOUT_MS,
				 fx->log, err.message);
		pause_ms(20);
	}
	etcd_free(c);
	return 0;
}

void etcd_fixture_start(struct etcd_fixture *fx)
{
	for (int i = 0; i < 3; i++) {
		*fx = (struct etcd_fixture){ .client_port = etcd_fixture_free_port(),
					     .peer_port = etcd_fixture_free_port() };
		snprintf(fx->dir, sizeof(fx->dir), "%s/etcd-%d", fixture_tmpdir(), fx->client_port);
		snprintf(fx->log, sizeof(fx->log), "%s/etcd-%d.log", fixture_tmpdir(),
			 fx->client_port);
		if (run(fx) == 0)
			return;
	}
	fail_msg("etcd exited at start three times (log: %s)", fx->log);
}

void etcd_fixture_stop(struct etcd_fixture *fx)
{
	if (fx->pid <= 0)
		return;
	(void)kill(fx->pid, SIGTERM);
	(void)waitpid(fx->pid, NULL, 0);
	fx->pid = 0;
}

void etcd_fixture_restart(struct etcd_fixture *fx)
{
	etcd_fixture_stop(fx);
	if (run(fx) < 0)
		fail_msg("etcd did not start again on port %d (log: %s)", fx->client_port, fx->log);
}
