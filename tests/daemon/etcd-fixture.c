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
#include <curl/curl.h>

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

bool etcd_fixture_have(const char *binary)
{
	const char *path = getenv("PATH");
	char *copy, *save = NULL;
	bool found = false;

	if (!path)
		return false;
	copy = strdup(path);
	for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		char f[4096];

		snprintf(f, sizeof(f), "%s/%s", d, binary);
		found = access(f, X_OK) == 0;
	}
	free(copy);
	return found;
}

/* Runs argv (output to log), fails the test unless it exits 0. */
static void run(const char *const *argv, const char *log)
{
	int status = -1;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (fd >= 0) {
			(void)dup2(fd, 1);
			(void)dup2(fd, 2);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("%s %s failed (log: %s)", argv[0], argv[1], log);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* A key and a certificate named NAME, signed by the CA (or self-signed: the CA itself). */
static void cert(const char *dir, const char *name, const char *cn, const char *ext,
		 const char *log)
{
	char key[300], pem[300], csr[300], extf[300], subj[128], ca[300], cakey[300];

	snprintf(key, sizeof(key), "%s/%s.key", dir, name);
	snprintf(pem, sizeof(pem), "%s/%s.pem", dir, name);
	snprintf(csr, sizeof(csr), "%s/%s.csr", dir, name);
	snprintf(extf, sizeof(extf), "%s/%s.ext", dir, name);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(cakey, sizeof(cakey), "%s/ca.key", dir);
	snprintf(subj, sizeof(subj), "/CN=%s", cn);
	if (!ext) {
		run((const char *const[]){ "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
					   "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
					   "-out", pem, "-days", "1", "-subj", subj, NULL },
		    log);
		return;
	}
	write_text(extf, ext);
	run((const char *const[]){ "openssl", "req", "-newkey", "ec", "-pkeyopt",
				   "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out",
				   csr, "-subj", subj, NULL },
	    log);
	run((const char *const[]){ "openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey",
				   cakey, "-CAcreateserial", "-out", pem, "-days", "1", "-extfile",
				   extf, NULL },
	    log);
}

void etcd_fixture_certs(const char *dir)
{
	char log[300];

	snprintf(log, sizeof(log), "%s/openssl.log", dir);
	cert(dir, "ca", "segd-test-ca", NULL, log);
	cert(dir, "server", "127.0.0.1",
	     "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n", log);
	cert(dir, "client", "segd", "extendedKeyUsage=clientAuth\n", log);
}

static void pause_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };

	(void)nanosleep(&ts, NULL);
}

/* 0 once it answers, -EAGAIN if it exited (a port taken meanwhile). On s's ports (and data
 * dir) when it has them, else on new ones. */
static int try_start(struct etcd_server *s, const char *certdir)
{
	char dir[300], client_url[64], peer_url[64], cluster[96], ca[300], pem[300], key[300],
		cpem[300], ckey[300];
	int cport = s->client_port ? s->client_port : etcd_fixture_free_port();
	int pport = s->peer_port ? s->peer_port : etcd_fixture_free_port();
	const char *urls[1] = { client_url };
	struct etcd_config cfg = { .urls = urls, .n_urls = 1 };
	struct etcd *c = NULL;
	int64_t t0 = now_msec();

	snprintf(dir, sizeof(dir), "%s/etcd-%d", fixture_tmpdir(), cport);
	snprintf(s->log, sizeof(s->log), "%s/etcd-%d.log", fixture_tmpdir(), cport);
	snprintf(client_url, sizeof(client_url), "%s://127.0.0.1:%d", certdir ? "https" : "http",
		 cport);
	snprintf(peer_url, sizeof(peer_url), "http://127.0.0.1:%d", pport);
	snprintf(cluster, sizeof(cluster), "t=%s", peer_url);
	if (certdir) {
		snprintf(ca, sizeof(ca), "%s/ca.pem", certdir);
		snprintf(pem, sizeof(pem), "%s/server.pem", certdir);
		snprintf(key, sizeof(key), "%s/server.key", certdir);
		snprintf(cpem, sizeof(cpem), "%s/client.pem", certdir);
		snprintf(ckey, sizeof(ckey), "%s/client.key", certdir);
		cfg.cacert = ca;
		cfg.cert = cpem;
		cfg.key = ckey;
	}
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		const char *argv[32] = { "etcd",     "--name",
					 "t",	     "--data-dir",
					 dir,	     "--listen-client-urls",
					 client_url, "--advertise-client-urls",
					 client_url, "--listen-peer-urls",
					 peer_url,   "--initial-advertise-peer-urls",
					 peer_url,   "--initial-cluster",
					 cluster,    "--log-level",
					 "warn" };
		int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), n = 17;

		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			(void)dup2(fd, 1);
			(void)dup2(fd, 2);
		}
		if (certdir) {
			argv[n++] = "--cert-file";
			argv[n++] = pem;
			argv[n++] = "--key-file";
			argv[n++] = key;
			argv[n++] = "--trusted-ca-file";
			argv[n++] = ca;
			argv[n++] = "--client-cert-auth";
		}
		execvp("etcd", (char *const *)argv);
		_exit(127);
	}
	snprintf(s->url, sizeof(s->url), "%s", client_url);
	s->client_port = cport;
	s->peer_port = pport;
	snprintf(s->certdir, sizeof(s->certdir), "%s", certdir ? certdir : "");
	assert_int_equal(etcd_new(NULL, &cfg, &c), 0);
	/* Ready when it answers: retried (connection refused is immediate) until it does. */
	for (;;) {
		struct etcd_error err = { "" };
		struct etcd_kv *kvs = NULL;
		size_t n;
		int64_t rev;
		int status;

		if (etcd_range_prefix(c, "/", &kvs, &n, &rev, &err) == 0) {
			etcd_kvs_free(kvs, n);
			break;
		}
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			s->client_port = s->peer_port = 0;
			etcd_free(c);
			return -EAGAIN;
		}
		if (now_msec() - t0 > READY_TIMEOUT_MS)
			fail_msg("etcd did not answer within %d ms (log: %s): %s", READY_TIMEOUT_MS,
				 s->log, err.message);
		pause_ms(20);
	}
	etcd_free(c);
	return 0;
}

void etcd_server_start(struct etcd_server *s, const char *certdir)
{
	for (int i = 0; i < 3; i++)
		if (try_start(s, certdir) == 0)
			return;
	fail_msg("etcd exited at start three times (log: %s)", s->log);
}

void etcd_server_restart(struct etcd_server *s)
{
	etcd_server_stop(s);
	if (try_start(s, s->certdir[0] ? s->certdir : NULL) < 0)
		fail_msg("etcd did not start again on its ports (log: %s)", s->log);
}

void etcd_server_stop(struct etcd_server *s)
{
	if (s->pid > 0) {
		(void)kill(s->pid, SIGTERM);
		(void)waitpid(s->pid, NULL, 0);
	}
	s->pid = 0;
}

void etcd_server_compact(const struct etcd_server *s, int64_t revision)
{
	char url[128], body[64];
	CURL *easy = curl_easy_init();
	long status = 0;
	FILE *null = fopen("/dev/null", "w");

	snprintf(url, sizeof(url), "%s/v3/kv/compaction", s->url);
	snprintf(body, sizeof(body), "{\"revision\":\"%lld\",\"physical\":true}",
		 (long long)revision);
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, null);
	curl_easy_setopt(easy, CURLOPT_PROXY, "");
	assert_int_equal(curl_easy_perform(easy), CURLE_OK);
	(void)curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	assert_int_equal(status, 200);
	curl_easy_cleanup(easy);
	fclose(null);
}

int64_t etcd_fixture_txn(struct etcd *c, const struct etcd_op *ops, size_t n)
{
	struct etcd_error err = { { 0 } };
	int64_t rev = 0;

	if (etcd_txn(c, ops, n, &rev, &err) < 0)
		fail_msg("txn: %s", err.message);
	return rev;
}

char *etcd_fixture_get(struct etcd *c, const char *key, int64_t *ret_mod)
{
	struct etcd_error err = { { 0 } };
	struct etcd_kv *kvs = NULL;
	size_t n = 0;
	int64_t rev;
	char *v = NULL;

	if (etcd_range_prefix(c, key, &kvs, &n, &rev, &err) < 0)
		fail_msg("range %s: %s", key, err.message);
	for (size_t i = 0; i < n; i++)
		if (strcmp(kvs[i].key, key) == 0) {
			v = strdup(kvs[i].value);
			if (ret_mod)
				*ret_mod = kvs[i].mod_revision;
		}
	etcd_kvs_free(kvs, n);
	return v;
}

size_t etcd_fixture_count(struct etcd *c, const char *prefix)
{
	struct etcd_error err = { { 0 } };
	struct etcd_kv *kvs = NULL;
	size_t n = 0;
	int64_t rev;

	if (etcd_range_prefix(c, prefix, &kvs, &n, &rev, &err) < 0)
		fail_msg("range %s: %s", prefix, err.message);
	etcd_kvs_free(kvs, n);
	return n;
}
