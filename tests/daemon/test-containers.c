/* SPDX-License-Identifier: MIT */
/*
 * Containers as endpoints: what their labels make of an endpoint (namespace, named ports,
 * name, quarantine), several containers in one namespace (a pod), host network, a container
 * that moves, and which known containers a list no longer shows. Private kernel, no root.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "containers.h"
#include "fixture.h"
#include "netns.h"

static struct ep_container ctr(const char *id, const char *name, const char *labels, bool known)
{
	struct ep_container c = { .id = (char *)id,
				  .name = (char *)name,
				  .known = known,
				  .owner = true };
	char buf[256];

	snprintf(buf, sizeof(buf), "%s", labels ? labels : "");
	for (char *save = NULL, *kv = strtok_r(buf, ";", &save); kv;
	     kv = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(kv, '=');

		*eq = 0;
		assert_int_equal(policy_labels_set(&c.labels, kv, eq + 1), 0);
	}
	return c;
}

static void test_derive(void **state)
{
	struct ep_container cs[2];
	struct container_derived d;

	cs[0] = ctr("aaaaaaaaaaaa", "web",
		    "app=web;segd.io/namespace=shop;"
		    "segd.io/ports=http=8080/TCP,dns=53/udp",
		    true);
	assert_int_equal(container_derive(cs, 1, &d), 0);
	assert_string_equal(d.namespace, "shop");
	assert_int_equal(d.n_ports, 2);
	assert_string_equal(d.ports[0].name, "http");
	assert_int_equal(d.ports[1].proto, POLICY_PROTO_UDP);
	assert_false(d.quarantine);
	assert_null(d.why);
	assert_ptr_equal(d.named, &cs[0]);
	container_derived_done(&d);

	/* A second container whose labels are not known yet: quarantined, no reason. */
	cs[1] = ctr("bbbbbbbbbbbb", NULL, NULL, false);
	assert_int_equal(container_derive(cs, 2, &d), 0);
	assert_true(d.quarantine);
	assert_null(d.why);
	container_derived_done(&d);
	policy_labels_done(&cs[1].labels);

	/* The kubernetes namespace label, and the union (first container wins a conflict). */
	cs[1] = ctr("bbbbbbbbbbbb", "side", "app=side;tier=back", true);
	policy_labels_done(&cs[0].labels);
	cs[0] = ctr("aaaaaaaaaaaa", "web", "app=web;io.kubernetes.pod.namespace=k8s", true);
	assert_int_equal(container_derive(cs, 2, &d), 0);
	assert_string_equal(d.namespace, "k8s");
	assert_string_equal(policy_labels_get(&d.labels, "app"), "web");
	assert_string_equal(policy_labels_get(&d.labels, "tier"), "back");
	container_derived_done(&d);

	/* Compose's project is the namespace when segd.io/namespace and the kubernetes label are
	 * absent; segd.io/namespace wins over it. A project name that is no DNS label (Compose
	 * allows "_") quarantines, naming the label. */
	policy_labels_done(&cs[0].labels);
	cs[0] = ctr("aaaaaaaaaaaa", "web", "app=web;com.docker.compose.project=shop", true);
	assert_int_equal(container_derive(cs, 1, &d), 0);
	assert_string_equal(d.namespace, "shop");
	assert_false(d.quarantine);
	container_derived_done(&d);
	policy_labels_done(&cs[0].labels);
	cs[0] = ctr("aaaaaaaaaaaa", "web",
		    "com.docker.compose.project=shop;segd.io/namespace=billing", true);
	assert_int_equal(container_derive(cs, 1, &d), 0);
	assert_string_equal(d.namespace, "billing");
	container_derived_done(&d);
	policy_labels_done(&cs[0].labels);
	cs[0] = ctr("aaaaaaaaaaaa", "web", "com.docker.compose.project=my_shop", true);
	assert_int_equal(container_derive(cs, 1, &d), 0);
	assert_true(d.quarantine);
	assert_string_equal(d.namespace, "default");
	assert_non_null(strstr(d.why, "com.docker.compose.project"));
	assert_non_null(strstr(d.why, "set segd.io/namespace"));
	container_derived_done(&d);

	/* Bad labels quarantine, with the reason: a bad namespace, bad ports. */
	policy_labels_done(&cs[0].labels);
	cs[0] = ctr("aaaaaaaaaaaa", "web", "segd.io/namespace=Not_Valid", true);
	assert_int_equal(container_derive(cs, 1, &d), 0);
	assert_true(d.quarantine);
	assert_string_equal(d.namespace, "default");
	assert_non_null(strstr(d.why, "invalid namespace"));
	container_derived_done(&d);
	policy_labels_done(&cs[0].labels);
	cs[0] = ctr("aaaaaaaaaaaa", "web", "segd.io/ports=HTTP=80", true);
	assert_int_equal(container_derive(cs, 1, &d), 0);
	assert_true(d.quarantine);
	assert_non_null(strstr(d.why, "segd.io/ports"));
	assert_non_null(strstr(d.why, "invalid port name \"HTTP\""));
	container_derived_done(&d);
	/* What the engine said was wrong with it. */
	policy_labels_done(&cs[0].labels);
	cs[0] = ctr("aaaaaaaaaaaa", "web", NULL, true);
	cs[0].invalid = (char *)"label \"x\": bad";
	assert_int_equal(container_derive(cs, 1, &d), 0);
	assert_true(d.quarantine);
	assert_string_equal(d.why, "label \"x\": bad");
	container_derived_done(&d);
	policy_labels_done(&cs[0].labels);
	policy_labels_done(&cs[1].labels);
}

#define ID1 "1111111111110000000000000000000000000000000000000000000000000001"
#define ID2 "2222222222220000000000000000000000000000000000000000000000000002"

struct world {
	struct endpoint_env env;
	struct store store;
	struct registry registry;
	struct errlog errlog;
	struct reconciler rc;
	struct containers c;
};

static void world_init(struct world *w)
{
	*w = (struct world){ 0 };
	assert_int_equal(loop_new(&w->env.loop), 0);
	w->rc = (struct reconciler){ .store = &w->store,
				     .registry = &w->registry,
				     .errlog = &w->errlog };
	w->c = (struct containers){ .registry = &w->registry,
				    .rc = &w->rc,
				    .env = &w->env,
				    .errlog = &w->errlog };
	assert_int_equal(netns_host_inode(&w->c.host_netns_ino), 0);
}

static void world_done(struct world *w)
{
	reconcile_done(&w->rc);
	registry_done(&w->registry);
	loop_flush(w->env.loop);
	errlog_done(&w->errlog);
	loop_free(w->env.loop);
}

static void test_upsert_pod_host_gone(void **state)
{
	struct container_info a = { .id = (char *)ID1,
				    .name = (char *)"infra",
				    .running = true,
				    .netns_path = (char *)"/run/netns/pod",
				    .labels_known = true,
				    .network_mode = (char *)"bridge" };
	struct container_info b = { .id = (char *)ID2,
				    .name = (char *)"app",
				    .running = true,
				    .netns_path = (char *)"/run/netns/pod",
				    .labels_known = true,
				    .network_mode = (char *)"container:" ID1 };
	struct op_error err = { 0 };
	struct endpoint *e = NULL, *e2 = NULL;
	struct world w;
	char **missing = NULL;
	int fd = -1;

	world_init(&w);
	assert_int_equal(fixture_netns("pod", &fd), 0);
	close(fd);
	assert_int_equal(policy_labels_set(&a.labels, "app", "web"), 0);
	assert_int_equal(containers_upsert(&w.c, &a, &e, &err), 0);
	assert_string_equal(e->pe.name, "infra");
	assert_true(e->dirty);
	/* The second container joins the first one's namespace: one endpoint. */
	assert_int_equal(containers_upsert(&w.c, &b, &e2, &err), 0);
	assert_ptr_equal(e, e2);
	assert_int_equal(e->n_containers, 2);
	assert_int_equal(w.registry.n, 1);
	assert_string_equal(e->pe.name, "infra"); /* the namespace owner names it */
	assert_true(containers_known(&w.c, ID1));
	assert_ptr_equal(registry_find(&w.registry, "111111"), e);

	/* A list taken after both were seen that shows neither: both are to be checked. */
	assert_int_equal(containers_missing(&w.c, NULL, 0, UINT64_MAX, &missing), 2);
	for (int i = 0; i < 2; i++)
		free(missing[i]);
	free(missing);
	/* One that showed only ID2 and was asked for before anything was observed: nothing. */
	assert_int_equal(containers_missing(&w.c, (char *const[]){ (char *)ID2 }, 1, 0, &missing),
			 0);
	free(missing);

	assert_true(containers_gone(&w.c, ID2));
	assert_int_equal(e->n_containers, 1);
	assert_false(containers_gone(&w.c, ID2));
	assert_true(containers_gone(&w.c, ID1));
	assert_int_equal(w.registry.n, 0); /* released, freed after the loop round */

	/* Host network: listed, unenforceable, never enforced. */
	a.network_mode = (char *)"host";
	a.netns_path = NULL;
	assert_int_equal(containers_upsert(&w.c, &a, &e, &err), 0);
	assert_int_equal(e->state, ENDPOINT_UNENFORCEABLE);
	assert_false(endpoint_live(e));
	/* Its own namespace, actually the host's by inode, is host network too. */
	a.network_mode = (char *)"bridge";
	a.pid = getpid();
	a.id = (char *)ID2;
	assert_int_equal(containers_upsert(&w.c, &a, &e, &err), 0);
	assert_int_equal(e->state, ENDPOINT_UNENFORCEABLE);

	/* Refused before anything is opened: bad ids, paths that are no namespace. */
	a.id = (char *)"not-hex";
	assert_int_equal(containers_upsert(&w.c, &a, &e, &err), -EINVAL);
	op_error_done(&err);
	a.id = (char *)ID1;
	a.pid = 0;
	a.netns_path = (char *)"/etc/passwd";
	assert_int_equal(containers_upsert(&w.c, &a, &e, &err), -ENOTTY);
	assert_non_null(strstr(err.message, "not a network namespace"));
	assert_non_null(strstr(err.message, "cannot open its network namespace"));
	op_error_done(&err);
	a.netns_path = NULL;
	assert_int_equal(containers_upsert(&w.c, &a, &e, &err), -ENXIO);
	op_error_done(&err);
	policy_labels_done(&a.labels);
	world_done(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_derive),
		cmocka_unit_test(test_upsert_pod_host_gone),
	};

	fixture_enter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
