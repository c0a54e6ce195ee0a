/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <policy/policy.h>

#include "client.h"
#include "manifest.h"
#include "print.h"
#include "segctl.h"

static const char usage[] =
	"Usage: segctl endpoint add NAME --netns NETNS [-n NAMESPACE] [-l KEY=VALUE]...\n"
	"                           [-p NAME=PORT[/PROTO]]... [-o json|yaml]\n"
	"       segctl endpoint label NAME KEY=VALUE... KEY-... [-o json|yaml]\n"
	"       segctl endpoint del NAME...\n"
	"\n"
	"Register a network namespace (from /run/netns) as an endpoint, change its labels\n"
	"(KEY=VALUE sets, KEY- removes), or remove it (aliases: delete, rm).\n"
	"\n"
	"Options:\n"
	"      --netns NETNS          network namespace name, as 'ip netns' lists it\n"
	"  -n, --namespace NAMESPACE  the endpoint's namespace (default: default)\n"
	"  -l, --label KEY=VALUE      a label (repeatable)\n"
	"  -p, --port NAME=PORT[/PROTO] a named port; PROTO is TCP (default), UDP or SCTP\n"
	"  -o, --output FORMAT        json or yaml: print the endpoint segd returns\n"
	"      --socket PATH          segd's API socket\n"
	"      --timeout SECONDS      bound the calls to segd (default 30)\n"
	"  -h, --help                 show this help\n";

#define OPT_NETNS OPT_VERB

static int parse_output(struct segctl *c, enum output_format *out)
{
	return args_output(c, optarg,
			   OUTPUT_MASK(OUTPUT_TABLE) | OUTPUT_MASK(OUTPUT_JSON) |
				   OUTPUT_MASK(OUTPUT_YAML),
			   out);
}

static int print_endpoint_result(json_t *reply, const char *name, const char *what,
				 enum output_format out)
{
	if (out != OUTPUT_TABLE)
		return print_structured(reply, out);
	fputs("endpoint/", stdout);
	print_sanitized(stdout, json_str(reply, "name", name));
	printf(" %s\n", what);
	print_not_committed(reply);
	return 0;
}

static int check_netns(const struct segctl *c, const char *s)
{
	const char *why = policy_netns_name_invalid(s);

	if (why)
		return usage_error(c, "invalid netns name '%s': %s", s, why);
	return 0;
}

static int check_label(const struct segctl *c, const char *k, const char *v)
{
	const char *why = policy_label_key_invalid(k);

	if (why)
		return usage_error(c, "invalid label key '%s': %s", k, why);
	why = v ? policy_label_value_invalid(v) : NULL;
	if (why)
		return usage_error(c, "invalid value for label '%s': %s", k, why);
	return 0;
}

/* NAME=PORT[/PROTO] -> {"name", "port", "protocol"} */
static int parse_port(const struct segctl *c, const char *arg, json_t **ret)
{
	struct policy_named_port np = { 0 };
	_cleanup_free_ char *why = NULL;
	json_t *o;
	int r;

	r = policy_named_port_parse(arg, &np, &why);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return usage_error(c, "invalid port '%s': %s", arg,
				   why ? why
				       : "expected "
					 "NAME=PORT[/PROTOCOL]");
	o = json_pack("{s:s, s:i, s:s}", "name", np.name, "port", (json_int_t)np.port, "protocol",
		      policy_proto_to_string(np.proto));
	free(np.name);
	if (!o)
		return -ENOMEM;
	*ret = o;
	return 0;
}

static int endpoint_add(struct segctl *c, int argc, char *argv[])
{
	static const struct option options[] = {
		{ "netns", required_argument, NULL, OPT_NETNS },
		{ "namespace", required_argument, NULL, 'n' },
		{ "label", required_argument, NULL, 'l' },
		{ "port", required_argument, NULL, 'p' },
		{ "output", required_argument, NULL, 'o' },
		COMMON_OPTIONS,
		{},
	};
	json_auto_t *labels = json_object(), *ports = json_array(), *body = NULL, *reply = NULL;
	_cleanup_free_ char *text = NULL;
	enum output_format out = OUTPUT_TABLE;
	const char *netns = NULL, *ns = NULL, *name;
	json_t *port = NULL, *p;
	char *eq;
	size_t i;
	int opt, r;

	if (!labels || !ports)
		return exit_status(-ENOMEM);
	args_reset();
	while ((opt = getopt_long(argc, argv, ":n:l:p:o:h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_NETNS:
			r = check_netns(c, optarg);
			if (r < 0)
				return exit_status(r);
			netns = optarg;
			break;
		case 'n':
			r = args_check_namespace(c, optarg);
			if (r < 0)
				return exit_status(r);
			ns = optarg;
			break;
		case 'l':
			eq = strchr(optarg, '=');
			if (!eq)
				return exit_status(
					usage_error(c, "invalid label '%s': expected KEY=VALUE",
						    optarg));
			*eq = 0;
			r = check_label(c, optarg, eq + 1);
			if (r < 0)
				return exit_status(r);
			if (json_object_get(labels, optarg))
				return exit_status(
					usage_error(c, "label '%s' given twice", optarg));
			if (json_object_size(labels) >= POLICY_MAX_LABELS)
				return exit_status(
					usage_error(c, "more than %d labels", POLICY_MAX_LABELS));
			if (json_object_set_new(labels, optarg, json_string(eq + 1)) < 0)
				return exit_status(-ENOMEM);
			break;
		case 'p':
			r = parse_port(c, optarg, &port);
			if (r < 0)
				return exit_status(r);
			json_array_foreach(ports, i, p)
				if (streq(json_str(p, "name", ""), json_str(port, "name", ""))) {
					json_decref(port);
					return exit_status(usage_error(c, "port '%s' given twice",
								       json_str(p, "name", "")));
				}
			if (json_array_size(ports) >= POLICY_MAX_ENDPOINT_PORTS) {
				json_decref(port);
				return exit_status(usage_error(c, "more than %d ports",
							       POLICY_MAX_ENDPOINT_PORTS));
			}
			if (json_array_append_new(ports, port) < 0)
				return exit_status(-ENOMEM);
			break;
		case 'o':
			r = parse_output(c, &out);
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
		return exit_status(usage_error(c, "expected an endpoint NAME"));
	name = argv[optind++];
	if (optind < argc)
		return exit_status(usage_error(c, "unexpected argument '%s'", argv[optind]));
	r = args_check_name(c, "endpoint", name);
	if (r < 0)
		return exit_status(r);
	if (!netns)
		return exit_status(usage_error(c, "--netns NETNS is required"));

	body = json_pack("{s:s, s:s}", "name", name, "netns", netns);
	if (!body || (ns && json_object_set_new(body, "namespace", json_string(ns)) < 0) ||
	    (json_object_size(labels) && json_object_set(body, "labels", labels) < 0) ||
	    (json_array_size(ports) && json_object_set(body, "ports", ports) < 0))
		return exit_status(-ENOMEM);
	text = json_dumps(body, JSON_COMPACT);
	if (!text)
		return exit_status(-ENOMEM);
	r = client_call(c, "POST", "/v1/endpoints", "application/json", text, strlen(text), &reply);
	if (r < 0)
		return exit_status(r);
	return exit_status(print_endpoint_result(reply, name, "created", out));
}

static int endpoint_label(struct segctl *c, int argc, char *argv[])
{
	static const struct option options[] = {
		{ "output", required_argument, NULL, 'o' },
		COMMON_OPTIONS,
		{},
	};
	json_auto_t *set = json_object(), *remove = json_array(), *body = NULL, *reply = NULL;
	_cleanup_free_ char *text = NULL, *ename = NULL, *path = NULL;
	enum output_format out = OUTPUT_TABLE;
	const char *name;
	int opt, r;

	if (!set || !remove)
		return exit_status(-ENOMEM);
	args_reset();
	while ((opt = getopt_long(argc, argv, ":o:h", options, NULL)) != -1) {
		switch (opt) {
		case 'o':
			r = parse_output(c, &out);
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
		return exit_status(usage_error(c, "expected an endpoint NAME"));
	name = argv[optind++];
	r = args_check_name(c, "endpoint", name);
	if (r < 0)
		return exit_status(r);
	if (optind >= argc)
		return exit_status(usage_error(c, "expected KEY=VALUE or KEY- after the name"));

	for (int i = optind; i < argc; i++) {
		char *a = argv[i], *eq = strchr(a, '=');
		size_t n = strlen(a);
		bool dup = false;
		json_t *v;
		size_t j;

		if (eq) {
			*eq = 0;
			r = check_label(c, a, eq + 1);
		} else if (n > 1 && a[n - 1] == '-') {
			a[n - 1] = 0;
			r = check_label(c, a, NULL);
		} else
			r = usage_error(c, "invalid label change '%s': expected KEY=VALUE or KEY-",
					a);
		if (r < 0)
			return exit_status(r);
		json_array_foreach(remove, j, v)
			dup = dup || streq(json_string_value(v), a);
		if (dup || json_object_get(set, a))
			return exit_status(usage_error(c, "label '%s' given twice", a));
		if (eq)
			r = json_object_set_new(set, a, json_string(eq + 1));
		else
			r = json_array_append_new(remove, json_string(a));
		if (r < 0)
			return exit_status(-ENOMEM);
	}

	body = json_pack("{s:O, s:O}", "set", set, "remove", remove);
	if (!body)
		return exit_status(-ENOMEM);
	text = json_dumps(body, JSON_COMPACT);
	ename = client_escape(name);
	if (!text || !ename || asprintf(&path, "/v1/endpoints/%s/labels", ename) < 0)
		return exit_status(-ENOMEM);
	r = client_call(c, "PATCH", path, "application/json", text, strlen(text), &reply);
	if (r < 0)
		return exit_status(r);
	return exit_status(print_endpoint_result(reply, name, "labeled", out));
}

static int endpoint_del(struct segctl *c, int argc, char *argv[])
{
	static const struct option options[] = {
		COMMON_OPTIONS,
		{},
	};
	int opt, r, ret = 0;

	args_reset();
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (opt) {
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
		return exit_status(usage_error(c, "expected an endpoint NAME"));
	for (int i = optind; i < argc; i++) {
		r = args_check_name(c, "endpoint", argv[i]);
		if (r < 0)
			return exit_status(r);
	}
	for (int i = optind; i < argc; i++) {
		_cleanup_free_ char *ename = client_escape(argv[i]), *path = NULL;
		json_auto_t *reply = NULL;

		if (!ename || asprintf(&path, "/v1/endpoints/%s", ename) < 0)
			return exit_status(-ENOMEM);
		r = client_call(c, "DELETE", path, NULL, NULL, 0, &reply);
		if (r == -ENOTCONN)
			return EXIT_CONNECT;
		if (r < 0) {
			ret = EXIT_FAIL;
			continue;
		}
		printf("endpoint/%s deleted\n", argv[i]);
	}
	return ret;
}

static const struct {
	const char *name;
	const char *verb; /* for messages */
	int (*fn)(struct segctl *c, int argc, char *argv[]);
} subcommands[] = {
	{ "add", "endpoint add", endpoint_add }, { "label", "endpoint label", endpoint_label },
	{ "del", "endpoint del", endpoint_del }, { "delete", "endpoint delete", endpoint_del },
	{ "rm", "endpoint rm", endpoint_del },
};

int endpoint_main(struct segctl *c, int argc, char *argv[])
{
	static const struct option options[] = {
		COMMON_OPTIONS,
		{},
	};
	int opt;

	args_reset();
	/* '+': stop at the sub-verb; its own options are parsed by the sub-verb. */
	while ((opt = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
		switch (opt) {
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			if (args_common(c, opt, argv) < 0)
				return EXIT_FAIL;
		}
	}
	if (optind >= argc)
		return exit_status(usage_error(c, "expected add, label or del"));
	for (size_t i = 0; i < ARRAY_SIZE(subcommands); i++)
		if (streq(argv[optind], subcommands[i].name)) {
			c->verb = subcommands[i].verb;
			return subcommands[i].fn(c, argc - optind, argv + optind);
		}
	return exit_status(usage_error(c, "unknown sub-command '%s' (expected add, label or del)",
				       argv[optind]));
}
