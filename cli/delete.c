/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "client.h"
#include "fleet.h"
#include "manifest.h"
#include "print.h"
#include "segctl.h"

static const char usage[] =
	"Usage: segctl delete -f FILE [--no-wait] [-o json|yaml]\n"
	"       segctl delete networkpolicy NAME... [-n NAMESPACE] [--no-wait]\n"
	"       segctl delete clusternetworkpolicy NAME... [--no-wait]\n"
	"       segctl delete k8snode NAME... [--no-wait]\n"
	"       segctl delete endpoint NAME...\n"
	"\n"
	"Delete the objects named in a policy file (Namespaces, NetworkPolicies,\n"
	"ClusterNetworkPolicies and Kubernetes Nodes, in one change), or objects by name. A file\n"
	"naming an object that does not exist deletes nothing. A node of the fleet is removed\n"
	"with 'segctl node delete NAME'.\n"
	"\n"
	"In a fleet (segd --store), segctl then waits until every live node enforces the change\n"
	"(its etcd revision), up to --timeout, and says \"enforced on N node(s) at revision R\";\n"
	"on timeout it names the nodes that have not and exits 1.\n"
	"\n"
	"Options:\n"
	"  -f, --filename FILE       policy file, '-' for standard input\n"
	"  -n, --namespace NAMESPACE namespace of the policies (default: default)\n"
	"      --no-wait             in a fleet, do not wait for the other nodes\n"
	"  -o, --output FORMAT       json or yaml: print segd's reply instead of a summary\n"
	"      --socket PATH         segd's API socket\n"
	"      --timeout DURATION    bound each call to segd, and the wait for the nodes\n"
	"                            (default 30s; 30, 30s, 500ms, 2m)\n"
	"  -h, --help                show this help\n"
	"\n"
	"Resource names: networkpolicy (netpol, networkpolicies), clusternetworkpolicy (cnp,\n"
	"clusternetworkpolicies), k8snode (k8snodes), endpoint (ep, endpoints).\n";

enum kind {
	KIND_NETPOL,
	KIND_CNP,
	KIND_K8SNODE,
	KIND_ENDPOINT,
};

static const char *const kind_names[] = {
	[KIND_NETPOL] = "networkpolicy",
	[KIND_CNP] = "clusternetworkpolicy",
	[KIND_K8SNODE] = "k8snode",
	[KIND_ENDPOINT] = "endpoint",
};

static int kind_from_string(const char *s)
{
	if (streq(s, "networkpolicy") || streq(s, "networkpolicies") || streq(s, "netpol"))
		return KIND_NETPOL;
	if (streq(s, "clusternetworkpolicy") || streq(s, "clusternetworkpolicies") ||
	    streq(s, "cnp"))
		return KIND_CNP;
	if (streq(s, "k8snode") || streq(s, "k8snodes"))
		return KIND_K8SNODE;
	if (streq(s, "endpoint") || streq(s, "endpoints") || streq(s, "ep"))
		return KIND_ENDPOINT;
	return -EINVAL;
}

static int delete_one(const struct segctl *c, enum kind k, const char *ns, const char *name,
		      enum output_format out, int64_t *revision)
{
	_cleanup_free_ char *ens = client_escape(ns), *ename = client_escape(name), *path = NULL;
	json_auto_t *reply = NULL;
	int r;

	if (!ens || !ename)
		return -ENOMEM;
	if (k == KIND_NETPOL)
		r = asprintf(&path, "/v1/networkpolicies/%s/%s", ens, ename);
	else if (k == KIND_CNP)
		r = asprintf(&path, "/v1/clusternetworkpolicies/%s", ename);
	else if (k == KIND_K8SNODE)
		r = asprintf(&path, "/v1/nodes/%s", ename);
	else
		r = asprintf(&path, "/v1/endpoints/%s", ename);
	if (r < 0)
		return -ENOMEM;
	r = client_call(c, "DELETE", path, NULL, NULL, 0, &reply);
	if (r < 0)
		return r;
	/* policy objects are the fleet's (a revision); endpoints are the node's own */
	if (k != KIND_ENDPOINT && fleet_revision(reply, revision) < 0)
		return -EPROTO;
	if (out != OUTPUT_TABLE)
		return print_structured(reply, out);
	manifest_print_objects(json_object_get(reply, "deleted"), "deleted", false);
	return 0;
}

static int delete_file(const struct segctl *c, const char *file, enum output_format out,
		       int64_t *revision)
{
	_cleanup_(manifest_done) struct manifest m = {};
	json_auto_t *reply = NULL;
	int r;

	r = manifest_read(file, &m);
	if (r < 0)
		return r;
	r = manifest_send(c, "/v1/delete", &m, false, &reply);
	if (r < 0)
		return r;
	if (fleet_revision(reply, revision) < 0)
		return -EPROTO;
	if (out != OUTPUT_TABLE)
		return print_structured(reply, out);
	manifest_print_objects(json_object_get(reply, "deleted"), "deleted", false);
	return 0;
}

int delete_main(struct segctl *c, int argc, char *argv[])
{
	static const struct option options[] = {
		{ "filename", required_argument, NULL, 'f' },
		{ "namespace", required_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' },
		{ "no-wait", no_argument, NULL, 'W' },
		COMMON_OPTIONS,
		{},
	};
	const char *file = NULL, *ns = NULL;
	enum output_format out = OUTPUT_TABLE;
	bool no_wait = false;
	int64_t revision = 0;
	int opt, r, k, ret = 0;

	args_reset();
	while ((opt = getopt_long(argc, argv, ":f:n:o:h", options, NULL)) != -1) {
		switch (opt) {
		case 'f':
			if (file)
				return exit_status(usage_error(c, "only one -f FILE at a time"));
			if (!*optarg)
				return exit_status(usage_error(c, "-f: empty file name"));
			file = optarg;
			break;
		case 'n':
			r = args_check_namespace(c, optarg);
			if (r < 0)
				return exit_status(r);
			ns = optarg;
			break;
		case 'o':
			r = args_output(c, optarg,
					OUTPUT_MASK(OUTPUT_TABLE) | OUTPUT_MASK(OUTPUT_JSON) |
						OUTPUT_MASK(OUTPUT_YAML),
					&out);
			if (r < 0)
				return exit_status(r);
			break;
		case 'W':
			no_wait = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			r = args_common(c, opt, argv);
			if (r < 0)
				return exit_status(r);
			break;
		}
	}

	if (file) {
		if (optind < argc)
			return exit_status(
				usage_error(c, "-f FILE and object names are exclusive"));
		if (ns)
			return exit_status(usage_error(c, "-n applies to names, not to -f FILE"));
		r = delete_file(c, file, out, &revision);
		if (r < 0)
			return exit_status(r);
		fflush(stdout);
		return fleet_after_change(c, 0, revision, no_wait, out == OUTPUT_TABLE);
	}

	if (optind >= argc)
		return exit_status(usage_error(c, "expected -f FILE or a resource and names"));
	k = kind_from_string(argv[optind]);
	if (k < 0 && (streq(argv[optind], "node") || streq(argv[optind], "nodes") ||
		      streq(argv[optind], "no")))
		return exit_status(
			usage_error(c,
				    "'%s' is ambiguous: 'segctl node delete NAME' removes "
				    "a node of the fleet, 'segctl delete k8snode NAME' a "
				    "Kubernetes Node object",
				    argv[optind]));
	if (k < 0)
		return exit_status(usage_error(c, "unknown resource '%s'", argv[optind]));
	if (++optind >= argc)
		return exit_status(usage_error(c, "expected a name after '%s'", argv[optind - 1]));
	if (k == KIND_ENDPOINT && ns)
		return exit_status(
			usage_error(c, "endpoints are deleted by name alone, without -n"));
	if ((k == KIND_CNP || k == KIND_K8SNODE) && ns)
		return exit_status(
			usage_error(c, "%s are cluster-scoped: -n does not apply",
				    k == KIND_CNP ? "clusternetworkpolicies" : "k8snodes"));
	for (int i = optind; i < argc; i++) {
		r = args_check_name(c, kind_names[k], argv[i]);
		if (r < 0)
			return exit_status(r);
	}

	for (int i = optind; i < argc; i++) {
		r = delete_one(c, k, ns ? ns : SEGCTL_DEFAULT_NAMESPACE, argv[i], out, &revision);
		if (r == -ENOTCONN)
			return EXIT_CONNECT;
		if (r < 0)
			ret = EXIT_FAIL;
	}
	/* the deletions that were done are waited for, even when another one failed */
	fflush(stdout);
	return fleet_after_change(c, ret, revision, no_wait, out == OUTPUT_TABLE);
}
