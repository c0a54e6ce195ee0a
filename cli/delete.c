/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "client.h"
#include "manifest.h"
#include "print.h"
#include "segctl.h"

static const char usage[] =
	"Usage: segctl delete -f FILE [-o json|yaml]\n"
	"       segctl delete networkpolicy NAME... [-n NAMESPACE]\n"
	"       segctl delete clusternetworkpolicy NAME...\n"
	"       segctl delete node NAME...\n"
	"       segctl delete endpoint NAME...\n"
	"\n"
	"Delete the objects named in a policy file (Namespaces, NetworkPolicies,\n"
	"ClusterNetworkPolicies and Nodes, in one change), or objects by name. A file naming an\n"
	"object that does not exist deletes nothing.\n"
	"\n"
	"Options:\n"
	"  -f, --filename FILE       policy file, '-' for standard input\n"
	"  -n, --namespace NAMESPACE namespace of the policies (default: default)\n"
	"  -o, --output FORMAT       json or yaml: print segd's reply instead of a summary\n"
	"      --socket PATH         segd's API socket\n"
	"      --timeout SECONDS     bound the calls to segd (default 30)\n"
	"  -h, --help                show this help\n"
	"\n"
	"Resource names: networkpolicy (netpol, networkpolicies), clusternetworkpolicy (cnp,\n"
	"clusternetworkpolicies), node (no, nodes), endpoint (ep, endpoints).\n";

enum kind {
	KIND_NETPOL,
	KIND_CNP,
	KIND_NODE,
	KIND_ENDPOINT,
};

static const char *const kind_names[] = {
	[KIND_NETPOL] = "networkpolicy",
	[KIND_CNP] = "clusternetworkpolicy",
	[KIND_NODE] = "node",
	[KIND_ENDPOINT] = "endpoint",
};

static int kind_from_string(const char *s)
{
	if (streq(s, "networkpolicy") || streq(s, "networkpolicies") || streq(s, "netpol"))
		return KIND_NETPOL;
	if (streq(s, "clusternetworkpolicy") || streq(s, "clusternetworkpolicies") ||
	    streq(s, "cnp"))
		return KIND_CNP;
	if (streq(s, "node") || streq(s, "nodes") || streq(s, "no"))
		return KIND_NODE;
	if (streq(s, "endpoint") || streq(s, "endpoints") || streq(s, "ep"))
		return KIND_ENDPOINT;
	return -EINVAL;
}

static int delete_one(const struct segctl *c, enum kind k, const char *ns, const char *name,
		      enum output_format out)
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
	else if (k == KIND_NODE)
		r = asprintf(&path, "/v1/nodes/%s", ename);
	else
		r = asprintf(&path, "/v1/endpoints/%s", ename);
	if (r < 0)
		return -ENOMEM;
	r = client_call(c, "DELETE", path, NULL, NULL, 0, &reply);
	if (r < 0)
		return r;
	if (out != OUTPUT_TABLE)
		return print_structured(reply, out);
	manifest_print_objects(json_object_get(reply, "deleted"), "deleted", false);
	return 0;
}

static int delete_file(const struct segctl *c, const char *file, enum output_format out)
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
		COMMON_OPTIONS,
		{},
	};
	const char *file = NULL, *ns = NULL;
	enum output_format out = OUTPUT_TABLE;
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
		return exit_status(delete_file(c, file, out));
	}

	if (optind >= argc)
		return exit_status(usage_error(c, "expected -f FILE or a resource and names"));
	k = kind_from_string(argv[optind]);
	if (k < 0)
		return exit_status(usage_error(c, "unknown resource '%s'", argv[optind]));
	if (++optind >= argc)
		return exit_status(usage_error(c, "expected a name after '%s'", argv[optind - 1]));
	if (k == KIND_ENDPOINT && ns)
		return exit_status(
			usage_error(c, "endpoints are deleted by name alone, without -n"));
	if ((k == KIND_CNP || k == KIND_NODE) && ns)
		return exit_status(usage_error(c, "%s are cluster-scoped: -n does not apply",
					       k == KIND_CNP ? "clusternetworkpolicies" : "nodes"));
	for (int i = optind; i < argc; i++) {
		r = args_check_name(c, kind_names[k], argv[i]);
		if (r < 0)
			return exit_status(r);
	}

	for (int i = optind; i < argc; i++) {
		r = delete_one(c, k, ns ? ns : SEGCTL_DEFAULT_NAMESPACE, argv[i], out);
		if (r == -ENOTCONN)
			return EXIT_CONNECT;
		if (r < 0)
			ret = EXIT_FAIL;
	}
	return ret;
}
