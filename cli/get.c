/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client.h"
#include "fleet.h"
#include "print.h"
#include "segctl.h"

static const char usage[] =
	"Usage: segctl get RESOURCE [NAME] [-n NAMESPACE | -A] [-o table|wide|json|yaml|name]\n"
	"\n"
	"List endpoints, network policies, cluster network policies, namespaces, the fleet's nodes\n"
	"or Kubernetes Node objects, or show one of them.\n"
	"\n"
	"Resources:\n"
	"  endpoints        (ep, endpoint)         all namespaces unless -n is given\n"
	"  networkpolicies  (netpol, networkpolicy) namespace 'default' unless -n or -A\n"
	"  clusternetworkpolicies (cnp, clusternetworkpolicy)  cluster-scoped: no -n\n"
	"  namespaces       (ns, namespace)\n"
	"  nodes            (node)                  the fleet's segd nodes: NAME, STATE (ready,\n"
	"                                           behind, lost, disconnected; local on a\n"
	"                                           single host), ENFORCED (policy revision),\n"
	"                                           ENDPOINTS, HEARTBEAT (age); cluster-scoped\n"
	"  k8snodes         (k8snode)               Kubernetes Node objects (ClusterNetworkPolicy\n"
	"                                           'nodes' peers); cluster-scoped: no -n\n"
	"\n"
	"Options:\n"
	"  -n, --namespace NAMESPACE  only objects of this namespace\n"
	"  -A, --all-namespaces       objects of every namespace; endpoints gain a NODE column\n"
	"                             (the fleet's node they run on)\n"
	"  -o, --output FORMAT        table (default), wide, json, yaml or name; wide adds the\n"
	"                             subject and the rule counts of cluster network policies,\n"
	"                             the NODE of endpoints, NOT-COMMITTED and SELF of nodes\n"
	"      --socket PATH          segd's API socket\n"
	"      --timeout DURATION     bound the calls to segd (default 30s)\n"
	"  -h, --help                 show this help\n";

enum resource {
	RESOURCE_ENDPOINTS,
	RESOURCE_NETPOLS,
	RESOURCE_CNPS,
	RESOURCE_NAMESPACES,
	RESOURCE_NODES,	   /* the fleet's: GET /v1/fleet (fleet.c) */
	RESOURCE_K8SNODES, /* Kubernetes Node objects: /v1/nodes */
	_RESOURCE_MAX,
};

static const struct {
	const char *names[3]; /* plural first; NULL: no more */
	const char *singular; /* for "-o name" and messages */
} resources[_RESOURCE_MAX] = {
	[RESOURCE_ENDPOINTS] = { { "endpoints", "endpoint", "ep" }, "endpoint" },
	[RESOURCE_NETPOLS] = { { "networkpolicies", "networkpolicy", "netpol" }, "networkpolicy" },
	[RESOURCE_CNPS] = { { "clusternetworkpolicies", "clusternetworkpolicy", "cnp" },
			    "clusternetworkpolicy" },
	[RESOURCE_NAMESPACES] = { { "namespaces", "namespace", "ns" }, "namespace" },
	[RESOURCE_NODES] = { { "nodes", "node" }, "node" },
	/* "no" was the Kubernetes Nodes' before the fleet's nodes: no alias is either's now */
	[RESOURCE_K8SNODES] = { { "k8snodes", "k8snode" }, "k8snode" },
};

struct get_args {
	enum resource res;
	const char *name; /* NULL: list */
	const char *ns;	  /* -n */
	bool all;	  /* -A */
	enum output_format out;
};

static int resource_from_string(const char *s)
{
	for (int r = 0; r < _RESOURCE_MAX; r++)
		for (size_t i = 0; i < ARRAY_SIZE(resources[r].names); i++)
			if (resources[r].names[i] && streq(s, resources[r].names[i]))
				return r;
	return -EINVAL;
}

static const char *object_name(json_t *o, enum resource res)
{
	if (res == RESOURCE_ENDPOINTS)
		return json_str(o, "name", "");
	return json_str(json_object_get(o, "metadata"), "name", "");
}

static const char *object_namespace(json_t *o, enum resource res)
{
	if (res == RESOURCE_ENDPOINTS)
		return json_str(o, "namespace", "");
	return json_str(json_object_get(o, "metadata"), "namespace", "");
}

/* kubectl's selector text: "app=web,tier in (a,b),!legacy"; NONE when it selects all. */
static char *format_selector(json_t *sel)
{
	json_t *labels = json_object_get(sel, "matchLabels"), *exprs, *e;
	_cleanup_free_ char *l = NULL;
	char *buf = NULL;
	size_t len = 0, i;
	FILE *f;

	exprs = json_object_get(sel, "matchExpressions");
	if (json_array_size(exprs) == 0)
		return format_labels(labels);
	f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	if (json_object_size(labels) > 0) {
		l = format_labels(labels);
		if (l)
			fprintf(f, "%s", l);
	}
	json_array_foreach(exprs, i, e) {
		const char *key = json_str(e, "key", "?"), *op = json_str(e, "operator", "?");
		_cleanup_free_ char *values = format_strings(json_object_get(e, "values"), ",");

		if (ftell(f) > 0)
			fputc(',', f);
		if (streq(op, "In"))
			fprintf(f, "%s in (%s)", key, values ? values : "");
		else if (streq(op, "NotIn"))
			fprintf(f, "%s notin (%s)", key, values ? values : "");
		else if (streq(op, "Exists"))
			fprintf(f, "%s", key);
		else if (streq(op, "DoesNotExist"))
			fprintf(f, "!%s", key);
		else
			fprintf(f, "%s %s (%s)", key, op, values ? values : "");
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* "namespaces:SEL" or "namespaces:SEL pods:SEL", from spec.subject. */
static char *format_subject(json_t *subject)
{
	json_t *pods = json_object_get(subject, "pods");
	_cleanup_free_ char *ns = NULL, *pod = NULL;
	char *s = NULL;

	if (!pods) {
		ns = format_selector(json_object_get(subject, "namespaces"));
		return ns && asprintf(&s, "namespaces:%s", ns) >= 0 ? s : NULL;
	}
	ns = format_selector(json_object_get(pods, "namespaceSelector"));
	pod = format_selector(json_object_get(pods, "podSelector"));
	return ns && pod && asprintf(&s, "namespaces:%s pods:%s", ns, pod) >= 0 ? s : NULL;
}

static int add_cnp_row(struct table *t, json_t *o, bool wide)
{
	json_t *spec = json_object_get(o, "spec"), *prio = json_object_get(spec, "priority");
	_cleanup_free_ char *subject = NULL;
	char priority[24] = "-", in[24], eg[24];

	if (json_is_integer(prio))
		snprintf(priority, sizeof(priority), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(prio));
	if (!wide)
		return table_add(t, object_name(o, RESOURCE_CNPS), json_str(spec, "tier", "-"),
				 priority);
	subject = format_subject(json_object_get(spec, "subject"));
	if (!subject)
		return -ENOMEM;
	snprintf(in, sizeof(in), "%zu", json_array_size(json_object_get(spec, "ingress")));
	snprintf(eg, sizeof(eg), "%zu", json_array_size(json_object_get(spec, "egress")));
	return table_add(t, object_name(o, RESOURCE_CNPS), json_str(spec, "tier", "-"), priority,
			 subject, in, eg);
}

/* NAME, ADDRESSES (comma-separated, as status.addresses lists them), LABELS */
static int add_k8snode_row(struct table *t, json_t *o)
{
	json_t *addrs = json_object_get(json_object_get(o, "status"), "addresses"), *a;
	_cleanup_free_ char *labels =
		format_labels(json_object_get(json_object_get(o, "metadata"), "labels"));
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, i;
	FILE *f;

	if (!labels)
		return -ENOMEM;
	f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	json_array_foreach(addrs, i, a)
		fprintf(f, "%s%s", i ? "," : "", json_str(a, "address", "?"));
	if (fclose(f) != 0)
		return -ENOMEM;
	return table_add(t, object_name(o, RESOURCE_K8SNODES), len ? buf : "<none>", labels);
}

static bool node_column(const struct get_args *a)
{
	return a->res == RESOURCE_ENDPOINTS && (a->all || a->out == OUTPUT_WIDE);
}

static int add_row(struct table *t, const struct get_args *a, json_t *o)
{
	enum resource res = a->res;
	bool wide = a->out == OUTPUT_WIDE;

	switch (res) {
	case RESOURCE_ENDPOINTS: {
		_cleanup_free_ char *addrs = format_strings(json_object_get(o, "addresses"), ",");
		_cleanup_free_ char *labels = format_labels(json_object_get(o, "labels"));
		_cleanup_free_ char *pols = format_strings(json_object_get(o, "policies"), ",");

		/* Containers show their (short) id, as podman ps does; namespaces added by hand "-". */
		char id[13] = "-";

		if (!addrs || !labels || !pols)
			return -ENOMEM;
		if (json_is_string(json_object_get(o, "id")))
			snprintf(id, sizeof(id), "%s", json_str(o, "id", "-"));
		if (node_column(a))
			return table_add(t, json_str(o, "name", ""), id,
					 json_str(o, "namespace", ""), json_str(o, "node", "-"),
					 json_str(o, "state", "unknown"),
					 json_str(json_object_get(o, "guard"), "state", "-"), addrs,
					 labels, pols);
		return table_add(t, json_str(o, "name", ""), id, json_str(o, "namespace", ""),
				 json_str(o, "state", "unknown"),
				 json_str(json_object_get(o, "guard"), "state", "-"), addrs, labels,
				 pols);
	}
	case RESOURCE_NETPOLS: {
		json_t *spec = json_object_get(o, "spec");
		_cleanup_free_ char *sel = format_selector(json_object_get(spec, "podSelector"));
		_cleanup_free_ char *types =
			format_strings(json_object_get(spec, "policyTypes"), ",");

		if (!sel || !types)
			return -ENOMEM;
		return table_add(t, object_namespace(o, res), object_name(o, res), sel, types);
	}
	case RESOURCE_CNPS:
		return add_cnp_row(t, o, wide);
	case RESOURCE_K8SNODES:
		return add_k8snode_row(t, o);
	case RESOURCE_NAMESPACES: {
		_cleanup_free_ char *labels =
			format_labels(json_object_get(json_object_get(o, "metadata"), "labels"));

		if (!labels)
			return -ENOMEM;
		return table_add(t, object_name(o, res), labels);
	}
	case RESOURCE_NODES: /* fleet.c */
	case _RESOURCE_MAX:
		break;
	}
	return -EINVAL;
}

static struct table *new_table(const struct get_args *a)
{
	bool wide = a->out == OUTPUT_WIDE;

	switch (a->res) {
	case RESOURCE_ENDPOINTS:
		if (node_column(a))
			return table_new(9, "NAME", "ID", "NAMESPACE", "NODE", "STATE", "GUARD",
					 "ADDRESSES", "LABELS", "POLICIES");
		return table_new(8, "NAME", "ID", "NAMESPACE", "STATE", "GUARD", "ADDRESSES",
				 "LABELS", "POLICIES");
	case RESOURCE_NETPOLS:
		return table_new(4, "NAMESPACE", "NAME", "POD-SELECTOR", "POLICY-TYPES");
	case RESOURCE_CNPS:
		return wide ? table_new(6, "NAME", "TIER", "PRIORITY", "SUBJECT", "INGRESS-RULES",
					"EGRESS-RULES")
			    : table_new(3, "NAME", "TIER", "PRIORITY");
	case RESOURCE_NAMESPACES:
		return table_new(2, "NAME", "LABELS");
	case RESOURCE_K8SNODES:
		return table_new(3, "NAME", "ADDRESSES", "LABELS");
	case RESOURCE_NODES: /* fleet.c */
	case _RESOURCE_MAX:
		break;
	}
	return NULL;
}

static int print_items(const struct get_args *a, json_t *items)
{
	_cleanup_(table_freep) struct table *t = NULL;
	json_t *o;
	size_t i;
	int r;

	if (a->out == OUTPUT_NAME) {
		json_array_foreach(items, i, o) {
			const char *ns = object_namespace(o, a->res);

			printf("%s/", resources[a->res].singular);
			if (a->res == RESOURCE_NETPOLS && *ns) {
				print_sanitized(stdout, ns);
				fputc('/', stdout);
			}
			print_sanitized(stdout, object_name(o, a->res));
			fputc('\n', stdout);
		}
		return 0;
	}

	if (json_array_size(items) == 0) {
		/* Like kubectl: nothing on stdout, a note on stderr, success. */
		if (a->res != RESOURCE_NAMESPACES && a->res != RESOURCE_K8SNODES && a->ns &&
		    !a->all)
			fprintf(stderr, "No resources found in %s namespace.\n", a->ns);
		else
			fputs("No resources found.\n", stderr);
		return 0;
	}
	t = new_table(a);
	if (!t)
		return -ENOMEM;
	json_array_foreach(items, i, o) {
		r = add_row(t, a, o);
		if (r < 0)
			return r;
	}
	table_print(t, stdout, "");
	return 0;
}

static int get_one(const struct segctl *c, const struct get_args *a, json_t **ret)
{
	_cleanup_free_ char *ename = client_escape(a->name), *ens = NULL, *path = NULL;
	json_auto_t *reply = NULL;
	json_t *o;
	size_t i;
	int r;

	if (!ename)
		return -ENOMEM;
	switch (a->res) {
	case RESOURCE_ENDPOINTS:
		if (asprintf(&path, "/v1/endpoints/%s", ename) < 0)
			return -ENOMEM;
		r = client_get(c, path, &reply);
		if (r < 0)
			return r;
		if (a->ns && !streq(object_namespace(reply, a->res), a->ns)) {
			fprintf(stderr, "segctl: endpoint \"%s\" not found in namespace \"%s\"\n",
				a->name, a->ns);
			return -ENOENT;
		}
		*ret = TAKE_PTR(reply);
		return 0;
	case RESOURCE_NETPOLS:
		ens = client_escape(a->ns ? a->ns : SEGCTL_DEFAULT_NAMESPACE);
		if (!ens || asprintf(&path, "/v1/networkpolicies/%s/%s", ens, ename) < 0)
			return -ENOMEM;
		r = client_get(c, path, &reply);
		if (r < 0)
			return r;
		*ret = TAKE_PTR(reply);
		return 0;
	case RESOURCE_CNPS:
		if (asprintf(&path, "/v1/clusternetworkpolicies/%s", ename) < 0)
			return -ENOMEM;
		r = client_get(c, path, &reply);
		if (r < 0)
			return r;
		*ret = TAKE_PTR(reply);
		return 0;
	case RESOURCE_K8SNODES:
		if (asprintf(&path, "/v1/nodes/%s", ename) < 0)
			return -ENOMEM;
		r = client_get(c, path, &reply);
		if (r < 0)
			return r;
		*ret = TAKE_PTR(reply);
		return 0;
	case RESOURCE_NODES: /* fleet.c */
		break;
	case RESOURCE_NAMESPACES:
		/* There is no per-namespace route: pick it from the list. */
		r = client_get(c, "/v1/namespaces", &reply);
		if (r < 0)
			return r;
		json_array_foreach(json_object_get(reply, "items"), i, o)
			if (streq(object_name(o, a->res), a->name)) {
				*ret = json_incref(o);
				return 0;
			}
		fprintf(stderr, "segctl: namespace \"%s\" not found\n", a->name);
		return -ENOENT;
	case _RESOURCE_MAX:
		break;
	}
	return -EINVAL;
}

static int get_list(const struct segctl *c, const struct get_args *a, json_t **ret)
{
	_cleanup_free_ char *ens = NULL, *path = NULL;
	const char *route = a->res == RESOURCE_ENDPOINTS  ? "/v1/endpoints"
			    : a->res == RESOURCE_NETPOLS  ? "/v1/networkpolicies"
			    : a->res == RESOURCE_CNPS	  ? "/v1/clusternetworkpolicies"
			    : a->res == RESOURCE_K8SNODES ? "/v1/nodes"
							  : "/v1/namespaces";
	json_auto_t *reply = NULL;
	int r;

	if (a->ns && !a->all && a->res != RESOURCE_NAMESPACES && a->res != RESOURCE_CNPS &&
	    a->res != RESOURCE_K8SNODES) {
		ens = client_escape(a->ns);
		if (!ens || asprintf(&path, "%s?namespace=%s", route, ens) < 0)
			return -ENOMEM;
	}
	r = client_get(c, path ? path : route, &reply);
	if (r < 0)
		return r;
	if (!json_is_array(json_object_get(reply, "items"))) {
		fprintf(stderr, "segctl: reply from segd has no \"items\" list\n");
		return -EPROTO;
	}
	*ret = TAKE_PTR(reply);
	return 0;
}

int get_main(struct segctl *c, int argc, char *argv[])
{
	static const struct option options[] = {
		{ "namespace", required_argument, NULL, 'n' },
		{ "all-namespaces", no_argument, NULL, 'A' },
		{ "output", required_argument, NULL, 'o' },
		COMMON_OPTIONS,
		{},
	};
	struct get_args a = { .out = OUTPUT_TABLE };
	json_auto_t *reply = NULL, *items = NULL;
	int opt, r, res;

	args_reset();
	while ((opt = getopt_long(argc, argv, ":n:Ao:h", options, NULL)) != -1) {
		switch (opt) {
		case 'n':
			r = args_check_namespace(c, optarg);
			if (r < 0)
				return exit_status(r);
			a.ns = optarg;
			break;
		case 'A':
			a.all = true;
			break;
		case 'o':
			r = args_output(c, optarg,
					OUTPUT_MASK(OUTPUT_TABLE) | OUTPUT_MASK(OUTPUT_WIDE) |
						OUTPUT_MASK(OUTPUT_JSON) |
						OUTPUT_MASK(OUTPUT_YAML) | OUTPUT_MASK(OUTPUT_NAME),
					&a.out);
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
	if (optind >= argc)
		return exit_status(usage_error(c,
					       "expected a resource: endpoints, networkpolicies, "
					       "clusternetworkpolicies, namespaces, nodes or "
					       "k8snodes"));
	res = resource_from_string(argv[optind]);
	if (res < 0)
		return exit_status(usage_error(c,
					       "unknown resource '%s' (expected endpoints, "
					       "networkpolicies, clusternetworkpolicies, "
					       "namespaces, nodes or k8snodes)",
					       argv[optind]));
	a.res = res;
	if (++optind < argc)
		a.name = argv[optind++];
	if (optind < argc)
		return exit_status(usage_error(c, "unexpected argument '%s'", argv[optind]));
	if (a.ns && a.all)
		return exit_status(usage_error(c, "-n and -A are exclusive"));
	if (a.res == RESOURCE_NAMESPACES && a.ns)
		return exit_status(
			usage_error(c, "namespaces are not namespaced: -n does not apply"));
	if (a.res == RESOURCE_CNPS && a.ns)
		return exit_status(usage_error(
			c, "clusternetworkpolicies are cluster-scoped: -n does not apply"));
	if ((a.res == RESOURCE_NODES || a.res == RESOURCE_K8SNODES) && a.ns)
		return exit_status(usage_error(c, "%s are cluster-scoped: -n does not apply",
					       resources[a.res].names[0]));
	if (a.name && a.all)
		return exit_status(usage_error(c, "-A lists every namespace: it takes no NAME"));
	if (a.name) {
		r = a.res == RESOURCE_ENDPOINTS
			    ? args_check_endpoint_ref(c, a.name)
			    : args_check_name(c, resources[a.res].singular, a.name);
		if (r < 0)
			return exit_status(r);
	}
	/* Network policies default to namespace "default", as kubectl does for namespaced kinds. */
	if (a.res == RESOURCE_NETPOLS && !a.ns && !a.all)
		a.ns = SEGCTL_DEFAULT_NAMESPACE;
	if (a.res == RESOURCE_NODES)
		return exit_status(fleet_get(c, a.name, a.out));

	if (a.name) {
		r = get_one(c, &a, &reply);
		if (r < 0)
			return exit_status(r);
		if (a.out == OUTPUT_JSON || a.out == OUTPUT_YAML)
			return exit_status(print_structured(reply, a.out));
		items = json_pack("[O]", reply);
		if (!items)
			return exit_status(-ENOMEM);
		return exit_status(print_items(&a, items));
	}

	r = get_list(c, &a, &reply);
	if (r < 0)
		return exit_status(r);
	if (a.out == OUTPUT_JSON || a.out == OUTPUT_YAML)
		return exit_status(print_structured(reply, a.out));
	return exit_status(print_items(&a, json_object_get(reply, "items")));
}
