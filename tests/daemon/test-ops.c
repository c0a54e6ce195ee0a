/* SPDX-License-Identifier: MIT */
/*
 * The operations, one transaction each: what they answer, what they refuse (with which
 * errno), and that a refused or failed change changes nothing, in the model, in the kernel
 * and in the state dir. A whole core in a private kernel (harness.h), no root.
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
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "testutil.h"
#include "harness.h"
#include "macro.h"
#include "netns.h"
#include "nft.h"

static const char policy[] = TEST_POLICY_DB_FROM_API;

static const struct endpoint *ep(struct harness *h, const char *name)
{
	const struct endpoint *e = registry_get(h->ops->registry, name);

	assert_non_null(e);
	return e;
}

static json_t *apply(struct harness *h, const char *text, bool dry_run, int want)
{
	struct op_error err = { 0 };
	json_t *out = NULL;
	int r = ops_apply(h->ops, "t.yaml", text, strlen(text), dry_run, &out, &err);

	if (r != want)
		fail_msg("apply: %d (%s), want %d", r, err.message, want);
	op_error_done(&err);
	return out;
}

static void test_apply_dry_run_and_diff(void **state)
{
	struct harness h;
	struct op_error err = { 0 };
	json_t *out;

	harness_start(&h, NULL);
	harness_endpoint(&h, "db", "shop", "app=db");
	harness_endpoint(&h, "api", "shop", "app=api");
	assert_false(ep(&h, "db")->installed->isolated[POLICY_DIR_INGRESS]);

	/* Dry run and diff change nothing. */
	out = apply(&h, policy, true, 0);
	assert_true(json_is_true(json_object_get(out, "dryRun")));
	json_decref(out);
	assert_int_equal(h.ops->store->n_netpols, 0);
	assert_int_equal(ops_diff(h.ops, "t.yaml", policy, strlen(policy), &out, &err), 0);
	assert_int_equal(json_array_size(json_object_get(out, "endpoints")), 1);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(out, "endpoints"), 0), "name")),
			    "db");
	json_decref(out);
	assert_int_equal(h.ops->store->n_netpols, 0);

	out = apply(&h, policy, false, 0);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(out, "applied"), 0), "action")),
			    "created");
	assert_int_equal(json_integer_value(json_object_get(out, "endpoints_updated")), 1);
	json_decref(out);
	assert_true(ep(&h, "db")->installed->isolated[POLICY_DIR_INGRESS]);
	/* Again: unchanged, nothing committed. */
	out = apply(&h, policy, false, 0);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(out, "applied"), 0), "action")),
			    "unchanged");
	assert_int_equal(json_integer_value(json_object_get(out, "endpoints_updated")), 0);
	json_decref(out);
	harness_stop(&h);
}

static void test_bad_input_changes_nothing(void **state)
{
	static const char bad[] = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
				  "metadata: {name: x}\nspec: {podSelector: {}, ingres: []}\n";
	struct op_error err = { 0 };
	struct harness h;
	json_t *out = NULL;

	harness_start(&h, NULL);
	assert_int_equal(ops_apply(h.ops, "bad.yaml", bad, strlen(bad), false, &out, &err),
			 -EBADMSG);
	assert_true(err.diags.n >= 1);
	assert_string_equal(err.diags.items[0].file, "bad.yaml");
	assert_int_equal(err.diags.items[0].line, 4);
	op_error_done(&err);
	assert_int_equal(h.ops->store->n_netpols, 0);

	/* A ClusterNetworkPolicy parses, but the daemon does not apply it yet: refused whole,
	 * the NetworkPolicy beside it included. */
	{
		static const char cnp[] =
			"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
			"metadata: {name: x}\nspec: {podSelector: {}}\n---\n"
			"apiVersion: policy.networking.k8s.io/v1alpha2\n"
			"kind: ClusterNetworkPolicy\nmetadata: {name: c}\n"
			"spec: {tier: Admin, priority: 1, subject: {namespaces: {}}}\n";

		assert_int_equal(ops_apply(h.ops, "c.yaml", cnp, strlen(cnp), false, &out, &err),
				 -EBADMSG);
		assert_int_equal(err.diags.n, 1);
		assert_int_equal(err.diags.items[0].line, 6);
		assert_string_equal(err.diags.items[0].message,
				    "ClusterNetworkPolicy c: not supported by this segd yet");
		op_error_done(&err);
		assert_int_equal(h.ops->store->n_netpols, 0);
	}

	/* Delete is all or nothing: one missing object, nothing deleted. */
	harness_apply(&h, policy);
	{
		static const char two[] =
			"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
			"metadata: {name: db-from-api, namespace: shop}\nspec: {podSelector: {}}\n"
			"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
			"metadata: {name: absent, namespace: shop}\nspec: {podSelector: {}}\n";

		assert_int_equal(ops_delete_file(h.ops, "d.yaml", two, strlen(two), &out, &err),
				 -ENOENT);
		assert_non_null(strstr(err.message, "absent"));
		op_error_done(&err);
		assert_int_equal(h.ops->store->n_netpols, 1);
	}
	assert_int_equal(ops_delete_netpol(h.ops, "shop", "absent", &out, &err), -ENOENT);
	op_error_done(&err);
	assert_int_equal(ops_get_netpol(h.ops, "shop", "db-from-api", &out, &err), 0);
	json_decref(out);
	assert_int_equal(ops_delete_netpol(h.ops, "shop", "db-from-api", &out, &err), 0);
	json_decref(out);
	assert_int_equal(h.ops->store->n_netpols, 0);
	harness_stop(&h);
}

static void test_endpoint_operations(void **state)
{
	struct endpoint_spec spec = { 0 };
	struct label_change c = { 0 };
	struct op_error err = { 0 };
	struct harness h;
	json_t *out = NULL;
	int fd = -1;

	harness_start(&h, NULL);
	harness_endpoint(&h, "db2", "shop", "app=db");
	harness_endpoint(&h, "web2", "shop", "app=web");
	harness_apply(&h, policy);

	/* Taken names and namespaces, missing namespaces. */
	spec = (struct endpoint_spec){ .name = strdup("db2"),
				       .netns = strdup("x1"),
				       .namespace = strdup("shop") };
	assert_int_equal(ops_endpoint_add(h.ops, &spec, &out, &err), -EEXIST);
	endpoint_spec_done(&spec);
	op_error_done(&err);
	spec = (struct endpoint_spec){ .name = strdup("other"),
				       .netns = strdup("db2"),
				       .namespace = strdup("shop") };
	assert_int_equal(ops_endpoint_add(h.ops, &spec, &out, &err), -EEXIST);
	assert_non_null(strstr(err.message, "already endpoint db2"));
	endpoint_spec_done(&spec);
	op_error_done(&err);
	spec = (struct endpoint_spec){ .name = strdup("other"),
				       .netns = strdup("absent"),
				       .namespace = strdup("shop") };
	assert_int_equal(ops_endpoint_add(h.ops, &spec, &out, &err), -ENXIO);
	endpoint_spec_done(&spec);
	op_error_done(&err);
	assert_int_equal(h.ops->registry->n, 2);

	/* Relabel web2 into the policy's peers: db2's set gains its address (none here, but
	 * db2 is marked and recompiled, web2 too). */
	assert_int_equal(policy_labels_set(&c.set, "app", "api"), 0);
	assert_int_equal(ops_endpoint_label(h.ops, "web2", &c, &out, &err), 0);
	assert_string_equal(json_string_value(
				    json_object_get(json_object_get(out, "labels"), "app")),
			    "api");
	json_decref(out);
	label_change_done(&c);
	assert_int_equal(ops_endpoint_label(h.ops, "nobody", &c, &out, &err), -ENOENT);
	op_error_done(&err);

	assert_int_equal(ops_endpoint_rules(h.ops, "db2", &out, &err), 0);
	assert_true(json_is_true(json_object_get(out, "in_sync")));
	json_decref(out);
	assert_int_equal(ops_endpoint_get(h.ops, "db2", &out, &err), 0);
	assert_string_equal(json_string_value(json_object_get(out, "state")), "enforced");
	json_decref(out);

	/* Deleting removes the table from its namespace. */
	assert_int_equal(ops_endpoint_del(h.ops, "web2", &out, &err), 0);
	json_decref(out);
	assert_null(registry_get(h.ops->registry, "web2"));
	{
		struct nft_sock *s = NULL;

		assert_int_equal(netns_open_name("web2", &fd), 0);
		assert_int_equal(nft_sock_open(NULL, fd, &s), 0);
		assert_int_equal(nft_table_exists(s), 0);
		nft_sock_free(s);
		close(fd);
	}
	assert_int_equal(ops_endpoint_del(h.ops, "web2", &out, &err), -ENOENT);
	op_error_done(&err);
	harness_stop(&h);
}

static void test_failed_change_is_rolled_back(void **state)
{
	char path[256];
	struct op_error err = { 0 };
	struct harness h;
	json_t *out = NULL;
	uint64_t commits;

	harness_start(&h, NULL);
	harness_endpoint(&h, "db3", "shop", "app=db");
	/* state.json cannot be replaced (a directory is in its way): write-ahead, the apply fails
	 * before the kernel sees anything. */
	snprintf(path, sizeof(path), "%s/state/state.json", h.dir);
	(void)unlink(path);
	assert_int_equal(mkdir(path, 0700), 0);
	{
		char dummy[300];

		snprintf(dummy, sizeof(dummy), "%s/x", path);
		assert_int_equal(close(open(dummy, O_CREAT | O_WRONLY, 0600)), 0);
	}
	commits = h.ops->rc->commits;
	assert_int_equal(ops_apply(h.ops, "t.yaml", policy, strlen(policy), false, &out, &err),
			 -EIO);
	assert_non_null(strstr(err.message, "state not saved"));
	op_error_done(&err);
	assert_int_equal(h.ops->rc->commits, commits); /* no transaction was even sent */
	assert_int_equal(h.ops->store->n_netpols, 0);
	assert_false(ep(&h, "db3")->installed->isolated[POLICY_DIR_INGRESS]);
	assert_int_equal(ep(&h, "db3")->state, ENDPOINT_ENFORCED);
	/* an endpoint that cannot be recorded is not added, and its namespace gets no table */
	{
		int fd;
		struct endpoint_spec spec = { 0 };
		char jpath[300];

		snprintf(jpath, sizeof(jpath), "%s/state/state.journal", h.dir);
		h.ops->state->journal_fd = safe_close(h.ops->state->journal_fd);
		(void)unlink(jpath);
		assert_int_equal(mkdir(jpath, 0700), 0);
		assert_int_equal(fixture_netns("web5", &fd), 0);
		spec.name = strdup("web5");
		spec.netns = strdup("web5");
		spec.namespace = strdup("shop");
		assert_int_equal(ops_endpoint_add(h.ops, &spec, &out, &err), -EIO);
		endpoint_spec_done(&spec);
		assert_non_null(strstr(err.message, "state not saved"));
		op_error_done(&err);
		assert_int_equal(h.ops->rc->commits, commits);
		assert_null(registry_get(h.ops->registry, "web5"));
		{
			struct nft_sock *s = NULL;

			assert_int_equal(nft_sock_open(NULL, fd, &s), 0);
			assert_int_equal(nft_table_exists(s), 0);
			nft_sock_free(s);
		}
		close(fd);
	}
	harness_stop(&h);
}

static void test_restore_from_the_state_dir(void **state)
{
	char config[256];
	struct harness h, again;

	harness_start(&h, NULL);
	harness_endpoint(&h, "db4", "shop", "app=db");
	harness_endpoint(&h, "api4", "shop", "app=api");
	harness_apply(&h, policy);
	snprintf(config, sizeof(config), "state-dir = %s/state\n", h.dir);
	harness_stop(&h);
	harness_start(&again, config);
	assert_int_equal(again.ops->registry->n, 2);
	assert_int_equal(again.ops->store->n_netpols, 1);
	assert_true(ep(&again, "db4")->installed->isolated[POLICY_DIR_INGRESS]);
	assert_int_equal(ep(&again, "api4")->state, ENDPOINT_ENFORCED);
	harness_stop(&again);
}

/* A stored endpoint that is not valid: restored quarantined in its namespace (default-deny
 * committed, in error with the position), never dropped; a relabel is refused, a deletion
 * ends it. */
static void test_restore_quarantined(void **state)
{
	static const char text[] =
		"{\"version\": 1, \"objects\": {\"apiVersion\": \"v1\", \"kind\": \"List\", "
		"\"items\": []},\n \"endpoints\": [{\"name\": \"db6\", \"netns\": \"db6\", "
		"\"labels\": {\"a b\": \"c\"}}]}\n";
	char config[256], path[300];
	struct label_change c = { 0 };
	struct op_error err = { 0 };
	const struct endpoint *e;
	struct harness h, again;
	json_t *out = NULL;
	int fd;

	harness_start(&h, NULL);
	harness_endpoint(&h, "db6", "shop", "app=db");
	snprintf(config, sizeof(config), "state-dir = %s/state\n", h.dir);
	snprintf(path, sizeof(path), "%s/state/state.json", h.dir);
	harness_stop(&h);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);

	/* the journal still puts a valid db6: a later put does not lift the quarantine */
	harness_start(&again, config);
	e = registry_get(again.ops->registry, "db6");
	assert_non_null(e);
	assert_true(e->quarantined);
	assert_int_equal(e->state, ENDPOINT_ERROR);
	assert_non_null(strstr(e->error, "state.json:2:58: endpoints[0]: labels: "));
	assert_non_null(e->installed);
	assert_true(e->installed->isolated[POLICY_DIR_INGRESS]);
	assert_true(e->installed->isolated[POLICY_DIR_EGRESS]);
	assert_int_equal(e->installed->n_rules, 0);
	assert_int_equal(policy_labels_set(&c.set, "app", "db"), 0);
	assert_int_equal(ops_endpoint_label(again.ops, "db6", &c, &out, &err), -EPERM);
	assert_non_null(strstr(err.message, "quarantined"));
	op_error_done(&err);
	label_change_done(&c);
	assert_int_equal(ops_endpoint_del(again.ops, "db6", &out, &err), 0);
	json_decref(out);
	harness_stop(&again);
}

static void test_hooks_and_containers(void **state)
{
	struct hook_request hr = { 0 };
	struct label_change c = { 0 };
	struct op_error err = { 0 };
	struct harness h;
	json_t *out = NULL;
	int fd = -1;
	const char *id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

	harness_start(&h, NULL);
	assert_int_equal(fixture_netns("ctr", &fd), 0);
	close(fd);
	hr.id = strdup(id);
	hr.netns = strdup("/run/netns/ctr");
	assert_int_equal(ops_hook_create(h.ops, &hr, &out, &err), 0);
	/* Labels unknown: quarantined, default-deny both ways, and committed. */
	assert_true(json_is_true(json_object_get(out, "quarantined")));
	assert_true(json_is_true(json_object_get(json_object_get(out, "isolation"), "ingress")));
	assert_true(json_is_true(json_object_get(json_object_get(out, "isolation"), "egress")));
	assert_string_equal(json_string_value(json_object_get(out, "state")), "enforced");
	json_decref(out);
	/* A container's labels are the engine's, not the API's. */
	assert_int_equal(ops_endpoint_label(h.ops, "ctr-0123456789ab", &c, &out, &err), -EPERM);
	op_error_done(&err);
	assert_int_equal(ops_endpoint_del(h.ops, id, &out, &err), -EPERM);
	op_error_done(&err);
	/* The engine reports it with labels: the quarantine lifts. */
	{
		struct container_info ci = { .id = (char *)id,
					     .name = (char *)"web",
					     .running = true,
					     .netns_path = (char *)"/run/netns/ctr",
					     .labels_known = true,
					     .network_mode = (char *)"bridge" };

		assert_int_equal(policy_labels_set(&ci.labels, "app", "web"), 0);
		assert_int_equal(ops_container_seen(h.ops, &ci), 0);
		policy_labels_done(&ci.labels);
	}
	assert_false(ep(&h, "web")->quarantined);
	assert_false(ep(&h, "web")->installed->isolated[POLICY_DIR_INGRESS]);
	assert_int_equal(ops_hook_poststop(h.ops, id, &out, &err), 0);
	json_decref(out);
	assert_int_equal(h.ops->registry->n, 0);
	/* A bad id is refused before anything is opened. */
	free(hr.id);
	hr.id = strdup("../etc");
	assert_int_equal(ops_hook_create(h.ops, &hr, &out, &err), -EINVAL);
	op_error_done(&err);
	hook_request_done(&hr);
	harness_stop(&h);
}

/* One namespace is one endpoint, whatever registers it: a container (hook, engine) in a
 * namespace registered by hand, the namespace by hand again under another name, a container's
 * namespace by hand. Each is refused naming the endpoint that has it; nothing else changes. */
static void test_one_namespace_one_endpoint(void **state)
{
	struct endpoint_spec spec = { 0 };
	struct hook_request hr = { 0 };
	struct op_error err = { 0 };
	struct harness h;
	json_t *out = NULL;
	int fd = -1;
	const char *id = "feedface0123456789abcdef0123456789abcdef0123456789abcdef01234567";
	const char *id2 = "feedface1123456789abcdef0123456789abcdef0123456789abcdef01234567";

	harness_start(&h, NULL);
	harness_endpoint(&h, "hm", "shop", "app=db");
	harness_apply(&h, policy);

	/* the OCI hook for a process in hm's namespace */
	hr.id = strdup(id);
	hr.netns = strdup("/run/netns/hm");
	assert_int_equal(ops_hook_create(h.ops, &hr, &out, &err), -EEXIST);
	assert_non_null(strstr(err.message, "already endpoint hm (registered by hand"));
	op_error_done(&err);
	assert_int_equal(h.ops->registry->n, 1);
	assert_int_equal(ep(&h, "hm")->state, ENDPOINT_ENFORCED);
	/* the engine's report of it */
	{
		struct container_info ci = { .id = (char *)id,
					     .name = (char *)"intruder",
					     .running = true,
					     .netns_path = (char *)"/run/netns/hm",
					     .labels_known = true,
					     .network_mode = (char *)"bridge" };

		assert_int_equal(ops_container_seen(h.ops, &ci), -EEXIST);
	}
	assert_int_equal(h.ops->registry->n, 1);

	/* hm's namespace by hand under another name (a bind mount of it) */
	fd = open("/run/netns/hm-alias", O_RDONLY | O_CREAT | O_CLOEXEC, 0444);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(mount("/run/netns/hm", "/run/netns/hm-alias", NULL, MS_BIND, NULL), 0);
	spec = (struct endpoint_spec){ .name = strdup("alias"),
				       .netns = strdup("hm-alias"),
				       .namespace = strdup("shop") };
	assert_int_equal(ops_endpoint_add(h.ops, &spec, &out, &err), -EEXIST);
	assert_non_null(strstr(err.message, "already endpoint hm"));
	endpoint_spec_done(&spec);
	op_error_done(&err);
	assert_int_equal(umount("/run/netns/hm-alias"), 0);
	assert_int_equal(unlink("/run/netns/hm-alias"), 0);

	/* a container's namespace by hand */
	assert_int_equal(fixture_netns("ctr2", &fd), 0);
	close(fd);
	free(hr.id);
	free(hr.netns);
	hr.id = strdup(id2);
	hr.netns = strdup("/run/netns/ctr2");
	assert_int_equal(ops_hook_create(h.ops, &hr, &out, &err), 0);
	json_decref(out);
	spec = (struct endpoint_spec){ .name = strdup("byhand"),
				       .netns = strdup("ctr2"),
				       .namespace = strdup("shop") };
	assert_int_equal(ops_endpoint_add(h.ops, &spec, &out, &err), -EEXIST);
	assert_non_null(strstr(err.message, "already endpoint ctr-feedface1123 (a container"));
	endpoint_spec_done(&spec);
	op_error_done(&err);
	assert_int_equal(h.ops->registry->n, 2);
	assert_int_equal(h.ops->registry->refused, 4);
	hook_request_done(&hr);
	harness_stop(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apply_dry_run_and_diff),
		cmocka_unit_test(test_bad_input_changes_nothing),
		cmocka_unit_test(test_endpoint_operations),
		cmocka_unit_test(test_failed_change_is_rolled_back),
		cmocka_unit_test(test_restore_quarantined),
		cmocka_unit_test(test_restore_from_the_state_dir),
		cmocka_unit_test(test_hooks_and_containers),
		cmocka_unit_test(test_one_namespace_one_endpoint),
	};

	fixture_enter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
