/* SPDX-License-Identifier: MIT */
/*
 * segd-oci-hook, run as a runtime runs it (the OCI state on stdin, the bundle's config.json
 * naming the network namespace): with segd answering, segd enforces; without, the hook
 * commits default-deny itself (fail closed), whatever the container's annotations say,
 * unless the host named it in hook-fail-open of the --config file; a
 * host-network container is unenforceable, refused with --refuse-unenforceable. Private
 * kernel, no root; argv[1] is the hook binary.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "harness.h"
#include "netns.h"
#include "nft.h"

#define ID "abcdef0123450000000000000000000000000000000000000000000000000001"

static const char *hook;

/* Starts the hook with the state on its stdin; its pid. */
static pid_t hook_start(const char *socket, const char *stage, const char *state_json,
			const char *extra)
{
	int p[2];
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(p[0], STDIN_FILENO);
		close(p[0]);
		close(p[1]);
		if (devnull >= 0)
			dup2(devnull, STDERR_FILENO);
		if (extra)
			execl(hook, hook, "--socket", socket, "--timeout-ms", "1000", extra, stage,
			      (char *)NULL);
		execl(hook, hook, "--socket", socket, "--timeout-ms", "1000", stage, (char *)NULL);
		_exit(127);
	}
	close(p[0]);
	assert_int_equal(write(p[1], state_json, strlen(state_json)), (ssize_t)strlen(state_json));
	close(p[1]);
	return pid;
}

static int hook_wait(pid_t pid)
{
	int status = 0;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* A bundle whose config.json puts the container in `netns_path`, with annotations. */
static void bundle(const char *dir, const char *netns_path, const char *annotations)
{
	char path[256];
	FILE *f;

	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/config.json", dir);
	f = fopen(path, "we");
	assert_non_null(f);
	fprintf(f,
		"{\"linux\": {\"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"network\", "
		"\"path\": \"%s\"}]}, \"annotations\": %s}",
		netns_path, annotations);
	assert_int_equal(fclose(f), 0);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static int table_in(const char *netns)
{
	struct nft_sock *s = NULL;
	int fd = -1, r;

	assert_int_equal(netns_open_name(netns, &fd), 0);
	assert_int_equal(nft_sock_open(NULL, fd, &s), 0);
	r = nft_table_exists(s);
	nft_sock_free(s);
	close(fd);
	return r;
}

static void test_without_segd(void **state)
{
	char dir[512], json[1024], nosock[200];
	int fd = -1;

	snprintf(nosock, sizeof(nosock), "%s/no-segd.sock", fixture_tmpdir());
	/* Fail closed: default-deny, committed by the hook. */
	assert_int_equal(fixture_netns("hooked", &fd), 0);
	close(fd);
	snprintf(dir, sizeof(dir), "%s/bundle1", fixture_tmpdir());
	bundle(dir, "/run/netns/hooked", "{}");
	snprintf(json, sizeof(json), "{\"id\": \"%s\", \"pid\": 0, \"bundle\": \"%s\"}", ID, dir);
	assert_int_equal(hook_wait(hook_start(nosock, "createRuntime", json, NULL)), 0);
	assert_int_equal(table_in("hooked"), 1);

	/* The container asking to fail open: ignored, default-deny all the same. */
	assert_int_equal(fixture_netns("asks", &fd), 0);
	close(fd);
	snprintf(dir, sizeof(dir), "%s/bundle2", fixture_tmpdir());
	bundle(dir, "/run/netns/asks", "{\"segd.io/fail-open\": \"true\"}");
	snprintf(json, sizeof(json), "{\"id\": \"%s\", \"pid\": 0, \"bundle\": \"%s\"}", ID, dir);
	assert_int_equal(hook_wait(hook_start(nosock, "createRuntime", json, NULL)), 0);
	assert_int_equal(table_in("asks"), 1);

	/* The host naming it (segd's config file, the name its engine recorded in
	 * containers/storage): it starts without isolation. */
	{
		char store[200], conf[300], other[300], opt[320], opt_other[320];

		snprintf(store, sizeof(store), "%s/overlay-containers", fixture_tmpdir());
		assert_int_equal(mkdir(store, 0700), 0);
		snprintf(dir, sizeof(dir), "%s/%s", store, ID);
		assert_int_equal(mkdir(dir, 0700), 0);
		snprintf(dir, sizeof(dir), "%s/%s/userdata", store, ID);
		bundle(dir, "/run/netns/named", "{\"segd.io/fail-open\": \"false\"}");
		snprintf(conf, sizeof(conf), "%s/containers.json", store);
		write_file(conf, "[{\"id\": \"" ID "\", \"names\": [\"trusted\"]}]");
		snprintf(conf, sizeof(conf), "%s/segd.conf", fixture_tmpdir());
		write_file(conf, "log-level = info\nhook-fail-open = trusted\n");
		snprintf(other, sizeof(other), "%s/other.conf", fixture_tmpdir());
		write_file(other, "hook-fail-open = someone-else\n");
		snprintf(opt, sizeof(opt), "--config=%s", conf);
		snprintf(opt_other, sizeof(opt_other), "--config=%s", other);
		snprintf(json, sizeof(json), "{\"id\": \"%s\", \"pid\": 0, \"bundle\": \"%s\"}", ID,
			 dir);
		/* control: the host names someone else */
		assert_int_equal(fixture_netns("named", &fd), 0);
		close(fd);
		assert_int_equal(hook_wait(hook_start(nosock, "createRuntime", json, opt_other)),
				 0);
		assert_int_equal(table_in("named"), 1);
		assert_int_equal(fixture_netns("named2", &fd), 0);
		close(fd);
		snprintf(dir, sizeof(dir), "%s/%s/userdata/config.json", store, ID);
		write_file(dir, "{\"linux\": {\"namespaces\": [{\"type\": \"network\", \"path\": "
				"\"/run/netns/named2\"}]}}");
		snprintf(dir, sizeof(dir), "%s/%s/userdata", store, ID);
		assert_int_equal(hook_wait(hook_start(nosock, "createRuntime", json, opt)), 0);
		assert_int_equal(table_in("named2"), 0);
	}

	/* Host network: nothing to enforce; refused when asked to. */
	snprintf(dir, sizeof(dir), "%s/bundle3", fixture_tmpdir());
	{
		char self[64];

		snprintf(self, sizeof(self), "/proc/%d/ns/net", (int)getpid());
		bundle(dir, self, "{}");
	}
	snprintf(json, sizeof(json), "{\"id\": \"%s\", \"pid\": 0, \"bundle\": \"%s\"}", ID, dir);
	assert_int_equal(hook_wait(hook_start(nosock, "createRuntime", json, NULL)), 0);
	assert_int_not_equal(hook_wait(hook_start(nosock, "createRuntime", json,
						  "--refuse-unenforceable")),
			     0);

	/* Not an OCI state, a bad id: refused. */
	assert_int_not_equal(hook_wait(hook_start(nosock, "createRuntime", "[]", NULL)), 0);
	assert_int_not_equal(hook_wait(hook_start(nosock, "createRuntime",
						  "{\"id\": \"../x\", \"pid\": 1}", NULL)),
			     0);
	/* poststop without segd: nothing to do, no failure. */
	snprintf(json, sizeof(json), "{\"id\": \"%s\"}", ID);
	assert_int_equal(hook_wait(hook_start(nosock, "poststop", json, NULL)), 0);
}

static void test_with_segd(void **state)
{
	struct harness h;
	char dir[200], json[512];
	pid_t pid;
	int fd = -1, status = 0;

	harness_start(&h, NULL);
	assert_int_equal(fixture_netns("served", &fd), 0);
	close(fd);
	snprintf(dir, sizeof(dir), "%s/bundle4", fixture_tmpdir());
	bundle(dir, "/run/netns/served", "{\"segd.io/labels\": \"app=web\"}");
	snprintf(json, sizeof(json), "{\"id\": \"%s\", \"pid\": 0, \"bundle\": \"%s\"}", ID, dir);
	pid = hook_start(h.socket, "createRuntime", json, NULL);
	/* segd serves the hook meanwhile. */
	while (waitpid(pid, &status, WNOHANG) == 0)
		assert_true(manager_run_once(h.m, 20) >= 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	{
		const struct endpoint *e = registry_find(h.ops->registry, ID);

		assert_non_null(e);
		assert_int_equal(e->state, ENDPOINT_ENFORCED);
		assert_false(e->quarantined); /* the annotation gave its labels */
		assert_string_equal(policy_labels_get(&e->pe.labels, "app"), "web");
	}
	snprintf(json, sizeof(json), "{\"id\": \"%s\"}", ID);
	pid = hook_start(h.socket, "poststop", json, NULL);
	while (waitpid(pid, &status, WNOHANG) == 0)
		assert_true(manager_run_once(h.m, 20) >= 0);
	assert_int_equal(h.ops->registry->n, 0);
	harness_stop(&h);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_without_segd),
		cmocka_unit_test(test_with_segd),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s SEGD-OCI-HOOK\n", argv[0]);
		return 2;
	}
	hook = argv[1];
	fixture_enter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
