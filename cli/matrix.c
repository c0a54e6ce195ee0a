/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <unistd.h>

#include "client.h"
#include "print.h"
#include "probe.h"
#include "segctl.h"

#define MATRIX_MAX_PORT_ARGS 64

static const char usage[] =
	"Usage: segctl matrix [-n NAMESPACE | -A] [--port PORT[/PROTOCOL]]...\n"
	"                     [--probe] [-o table|csv|dot|json|yaml]\n"
	"\n"
	"Show who can reach whom: for every ordered pair of endpoints and every port,\n"
	"whether a new connection is allowed (egress at the source and ingress at the\n"
	"destination, in every address family both have), computed from the plans segd\n"
	"committed. Without --port, the ports the policies name are used (80/TCP if none).\n"
	"Endpoints without a committed ruleset are listed apart, not guessed. With --probe\n"
	"(root), every pair is also tried with real packets from inside the source's\n"
	"namespace, and any disagreement between plan and reality is reported (exit 1).\n"
	"A matrix of N endpoints costs N x (N - 1) x ports cells; segd refuses one over its\n"
	"--matrix-budget (default 250000): narrow it with a namespace or fewer --port.\n"
	"\n"
	"Options:\n"
	"  -n, --namespace NAMESPACE  endpoints of this namespace (default: default)\n"
	"  -A, --all-namespaces       endpoints of every namespace\n"
	"  -p, --port PORT[/PROTOCOL] a port to evaluate (repeatable; TCP by default)\n"
	"      --probe                test every pair with real packets (TCP, UDP)\n"
	"  -o, --output FORMAT        table (default), csv, dot (Graphviz: nodes grouped by\n"
	"                             namespace, edges labelled with allowed ports), json, yaml\n"
	"      --socket PATH          segd's API socket\n"
	"      --timeout SECONDS      bound the calls to segd (default 30)\n"
	"  -h, --help                 show this help\n";

enum matrix_format { FMT_TABLE, FMT_CSV, FMT_DOT, FMT_JSON, FMT_YAML };

/* Whether pairs[] says from -> to on port is allowed; -1 when absent (no common family). */
static int lookup(json_t *index, const char *from, const char *to, const char *port)
{
	_cleanup_free_ char *key = NULL;
	json_t *v;

	if (asprintf(&key, "%s\n%s\n%s", from, to, port) < 0)
		return -1;
	v = json_object_get(index, key);
	return v ? json_is_true(v) : -1;
}

static json_t *index_pairs(json_t *pairs)
{
	json_t *index = json_object(), *p;
	size_t i;

	if (!index)
		return NULL;
	json_array_foreach(pairs, i, p) {
		_cleanup_free_ char *key = NULL;

		if (asprintf(&key, "%s\n%s\n%s", json_str(p, "from", ""), json_str(p, "to", ""),
			     json_str(p, "port", "")) < 0 ||
		    json_object_set_new(index, key,
					json_boolean(json_is_true(json_object_get(p, "allowed")))) <
			    0) {
			json_decref(index);
			return NULL;
		}
	}
	return index;
}

/*
 * segd answers with rows of characters (one per cell: Y allowed, . denied, - the endpoint
 * itself, ? no address family in common; docs/api.md); everything here reads pairs. The rows
 * become {"from", "to", "port", "allowed"} pairs, in place of "rows".
 */
static int expand_rows(json_t *reply)
{
	json_t *eps = json_object_get(reply, "endpoints"), *ports = json_object_get(reply, "ports");
	json_t *rows = json_object_get(reply, "rows"), *port_rows, *pairs;
	size_t k, i;

	if (!rows)
		return 0;
	pairs = json_array();
	if (!pairs || json_object_set_new(reply, "pairs", pairs) < 0)
		return -ENOMEM;
	json_array_foreach(rows, k, port_rows) {
		json_t *port = json_array_get(ports, k), *row;

		json_array_foreach(port_rows, i, row) {
			const char *v = json_string_value(row);
			json_t *from = json_object_get(json_array_get(eps, i), "name");

			if (!port || !from || !v || strlen(v) != json_array_size(eps))
				return -EBADMSG;
			for (size_t j = 0; v[j]; j++) {
				json_t *to = json_object_get(json_array_get(eps, j), "name");

				if (v[j] != 'Y' && v[j] != '.')
					continue;
				if (json_array_append_new(pairs,
							  json_pack("{s:O, s:O, s:O, s:b}", "from",
								    from, "to", to, "port", port,
								    "allowed", v[j] == 'Y')) < 0)
					return -ENOMEM;
			}
		}
	}
	return json_object_del(reply, "rows") < 0 ? -ENOMEM : 0;
}

static void print_padded(const char *s, int width)
{
	print_sanitized(stdout, s);
	for (int k = (int)strlen(s); k < width; k++)
		fputc(' ', stdout);
}

static int print_table(json_t *reply)
{
	json_t *eps = json_object_get(reply, "endpoints"), *ports = json_object_get(reply, "ports");
	json_auto_t *index = index_pairs(json_object_get(reply, "pairs"));
	json_t *e, *p, *skipped = json_object_get(reply, "not_enforced");
	size_t i, j, k;
	int w = 7; /* "FROM\TO" */

	if (!index)
		return -ENOMEM;
	if (json_array_size(eps) == 0) {
		fputs("No endpoints with a committed ruleset.\n", stdout);
		return 0;
	}
	json_array_foreach(eps, i, e)
		if ((int)strlen(json_str(e, "name", "")) > w)
			w = (int)strlen(json_str(e, "name", ""));
	json_array_foreach(ports, k, p) {
		const char *port = json_string_value(p);

		if (k > 0)
			fputc('\n', stdout);
		printf("PORT %s (Y allowed, . denied, - same endpoint, ? no address family in common)\n",
		       port ? port : "?");
		print_padded("FROM\\TO", w + 3);
		json_array_foreach(eps, j, e)
			print_padded(json_str(e, "name", "?"), w + 3);
		fputc('\n', stdout);
		json_array_foreach(eps, i, e) {
			const char *from = json_str(e, "name", "");
			json_t *t;

			print_padded(from, w + 3);
			json_array_foreach(eps, j, t) {
				int v = i == j ? 2
					       : lookup(index, from, json_str(t, "name", ""),
							port ? port : "");

				print_padded(v == 2   ? "-"
					     : v == 1 ? "Y"
					     : v == 0 ? "."
						      : "?",
					     w + 3);
			}
			fputc('\n', stdout);
		}
	}
	/* the ClusterNetworkPolicies that decide some of it, in the order a connection meets them */
	if (json_array_size(json_object_get(reply, "tiers")) > 0) {
		fputs("\nTiers (ClusterNetworkPolicy, before and after NetworkPolicy):", stdout);
		json_array_foreach(json_object_get(reply, "tiers"), i, e) {
			fputs(i ? ", " : " ", stdout);
			print_sanitized(stdout, json_str(e, "tier", "?"));
			fputc(' ', stdout);
			print_sanitized(stdout, json_str(e, "policy", "?"));
			printf(" (priority %lld)",
			       (long long)json_integer_value(json_object_get(e, "priority")));
		}
		fputc('\n', stdout);
	}
	if (json_array_size(skipped) > 0) {
		fputs("\nNot evaluated (no committed ruleset):", stdout);
		json_array_foreach(skipped, i, e) {
			fputs(i ? ", " : " ", stdout);
			print_sanitized(stdout, json_str(e, "name", "?"));
			fputs(" (", stdout);
			print_sanitized(stdout, json_str(e, "state", "?"));
			fputc(')', stdout);
		}
		fputc('\n', stdout);
	}
	return 0;
}

/* RFC 4180: quote when needed, double the quotes. */
static void csv_field(const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		print_sanitized(stdout, s);
		return;
	}
	fputc('"', stdout);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', stdout);
		if ((unsigned char)*s < 0x20 && *s != '\t')
			fputc('?', stdout);
		else
			fputc(*s, stdout);
	}
	fputc('"', stdout);
}

static int print_csv(json_t *reply)
{
	json_t *p;
	size_t i;

	fputs("from,to,port,allowed\n", stdout);
	json_array_foreach(json_object_get(reply, "pairs"), i, p) {
		csv_field(json_str(p, "from", ""));
		fputc(',', stdout);
		csv_field(json_str(p, "to", ""));
		fputc(',', stdout);
		csv_field(json_str(p, "port", ""));
		printf(",%s\n", json_is_true(json_object_get(p, "allowed")) ? "true" : "false");
	}
	return 0;
}

/* A DOT quoted string: backslashes and quotes escaped, control characters replaced. */
static void dot_string(const char *s)
{
	fputc('"', stdout);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', stdout);
		fputc((unsigned char)*s < 0x20 ? '?' : *s, stdout);
	}
	fputc('"', stdout);
}

static int print_dot(json_t *reply)
{
	json_t *eps = json_object_get(reply, "endpoints"), *ports = json_object_get(reply, "ports");
	json_auto_t *index = index_pairs(json_object_get(reply, "pairs"));
	json_auto_t *done = json_object();
	json_t *e, *t, *p;
	size_t i, j, k;

	if (!index || !done)
		return -ENOMEM;
	fputs("digraph segd {\n\trankdir=LR;\n\tnode [shape=box];\n", stdout);
	/* one cluster per namespace, in the order the endpoints come */
	json_array_foreach(eps, i, e) {
		const char *ns = json_str(e, "namespace", "");

		if (json_object_get(done, ns))
			continue;
		json_object_set_new(done, ns, json_true());
		printf("\tsubgraph \"cluster_%zu\" {\n\t\tlabel=", i);
		dot_string(ns);
		fputs(";\n", stdout);
		json_array_foreach(eps, j, t)
			if (streq(json_str(t, "namespace", ""), ns)) {
				fputs("\t\t", stdout);
				dot_string(json_str(t, "name", ""));
				fputs(";\n", stdout);
			}
		fputs("\t}\n", stdout);
	}
	json_array_foreach(eps, i, e)
		json_array_foreach(eps, j, t) {
			const char *from = json_str(e, "name", ""), *to = json_str(t, "name", "");
			_cleanup_free_ char *label = NULL;
			size_t len = 0;
			bool first = true;
			FILE *f;

			if (i == j)
				continue;
			f = open_memstream(&label, &len);
			if (!f)
				return -ENOMEM;
			json_array_foreach(ports, k, p) {
				const char *port = json_string_value(p);

				if (port && lookup(index, from, to, port) == 1) {
					fprintf(f, "%s%s", first ? "" : ",", port);
					first = false;
				}
			}
			fclose(f);
			if (!label || !*label)
				continue;
			fputc('\t', stdout);
			dot_string(from);
			fputs(" -> ", stdout);
			dot_string(to);
			fputs(" [label=", stdout);
			dot_string(label);
			fputs("];\n", stdout);
		}
	fputs("}\n", stdout);
	return 0;
}

static void print_probe(json_t *p)
{
	json_t *d = json_object_get(p, "disagreements"), *v;
	size_t i, unknown = 0;

	json_array_foreach(json_object_get(p, "pairs"), i, v)
		unknown += json_is_null(json_object_get(v, "allowed"));
	printf("\nprobe: %zu pair(s) tried with real packets, %zu disagree with the plan",
	       json_array_size(json_object_get(p, "pairs")), json_array_size(d));
	if (unknown)
		printf(", %zu unknown (a UDP service of the endpoint's own holds the port)",
		       unknown);
	fputc('\n', stdout);
	json_array_foreach(d, i, v) {
		fputs("  ", stdout);
		print_sanitized(stdout, json_str(v, "from", "?"));
		fputs(" -> ", stdout);
		print_sanitized(stdout, json_str(v, "to", "?"));
		printf(" %s: plan %s, packets %s\n", json_str(v, "port", "?"),
		       json_is_true(json_object_get(v, "plan")) ? "allows" : "denies",
		       json_is_true(json_object_get(v, "probe")) ? "got through" : "did not");
	}
	json_array_foreach(json_object_get(p, "skipped"), i, v) {
		fputs("  not probed: ", stdout);
		print_sanitized(stdout, json_str(v, "port", "?"));
		fputs(" (", stdout);
		print_sanitized(stdout, json_str(v, "reason", "?"));
		fputs(")\n", stdout);
	}
}

/* Probes, prints the matrix with the probe's results; -EREMOTEIO when they disagree. */
static int probe_and_print(struct segctl *c, json_t *reply, enum matrix_format fmt)
{
	json_auto_t *eps = NULL, *p = NULL;
	int r;

	if (geteuid() != 0)
		return usage_error(c, "--probe needs root (it enters the endpoints' namespaces)");
	r = client_get(c, "/v1/endpoints", &eps);
	if (r < 0)
		return r;
	r = matrix_probe(reply, eps, 1000, &p);
	if (r < 0) {
		fprintf(stderr, "segctl: probing failed: %s\n", strerror(-r));
		return r;
	}
	json_object_set(reply, "probe", p);
	switch (fmt) {
	case FMT_JSON:
		r = print_structured(reply, OUTPUT_JSON);
		break;
	case FMT_YAML:
		r = print_structured(reply, OUTPUT_YAML);
		break;
	case FMT_CSV:
		r = print_csv(reply);
		break;
	case FMT_DOT:
		r = print_dot(reply);
		break;
	default:
		r = print_table(reply);
		print_probe(p);
		break;
	}
	if (r >= 0 && json_array_size(json_object_get(p, "disagreements")) > 0) {
		fprintf(stderr, "segctl: %zu pair(s) behave differently from the plan\n",
			json_array_size(json_object_get(p, "disagreements")));
		return -EREMOTEIO;
	}
	return r;
}

int matrix_main(struct segctl *c, int argc, char *argv[])
{
	static const struct option options[] = {
		{ "namespace", required_argument, NULL, 'n' },
		{ "all-namespaces", no_argument, NULL, 'A' },
		{ "port", required_argument, NULL, 'p' },
		{ "output", required_argument, NULL, 'o' },
		{ "probe", no_argument, NULL, 'P' },
		COMMON_OPTIONS,
		{},
	};
	static const char *const formats[] = { "table", "csv", "dot", "json", "yaml" };
	_cleanup_free_ char *path = NULL, *ports = NULL, *ens = NULL, *eports = NULL;
	const char *ns = NULL;
	bool all = false, probe = false;
	size_t n_ports = 0;
	enum matrix_format fmt = FMT_TABLE;
	json_auto_t *reply = NULL;
	int opt, r;

	args_reset();
	while ((opt = getopt_long(argc, argv, ":n:Ap:o:h", options, NULL)) != -1) {
		switch (opt) {
		case 'n':
			r = args_check_namespace(c, optarg);
			if (r < 0)
				return exit_status(r);
			ns = optarg;
			break;
		case 'A':
			all = true;
			break;
		case 'P':
			probe = true;
			break;
		case 'p': {
			char *s;

			r = args_check_port(c, optarg);
			if (r < 0)
				return exit_status(r);
			if (++n_ports > MATRIX_MAX_PORT_ARGS)
				return exit_status(
					usage_error(c, "at most %d ports", MATRIX_MAX_PORT_ARGS));
			if (asprintf(&s, "%s%s%s", ports ? ports : "", ports ? "," : "", optarg) <
			    0)
				return exit_status(-ENOMEM);
			free(ports);
			ports = s;
			break;
		}
		case 'o': {
			bool found = false;

			for (size_t i = 0; i < ARRAY_SIZE(formats); i++)
				if (streq(optarg, formats[i])) {
					fmt = (enum matrix_format)i;
					found = true;
				}
			if (!found)
				return exit_status(usage_error(c,
							       "unknown output format '%s' (table, "
							       "csv, dot, json or yaml)",
							       optarg));
			break;
		}
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
	if (optind < argc)
		return exit_status(usage_error(c, "unexpected argument '%s'", argv[optind]));
	if (all && ns)
		return exit_status(usage_error(c, "-n and -A exclude each other"));

	if (!all) {
		ens = client_escape(ns ? ns : SEGCTL_DEFAULT_NAMESPACE);
		if (!ens)
			return exit_status(-ENOMEM);
	}
	if (ports) {
		eports = client_escape(ports);
		if (!eports)
			return exit_status(-ENOMEM);
	}
	if (asprintf(&path, "/v1/matrix%s%s%s%s%s", ens || eports ? "?" : "",
		     ens ? "namespace=" : "", ens ? ens : "",
		     eports ? (ens ? "&ports=" : "ports=") : "", eports ? eports : "") < 0)
		return exit_status(-ENOMEM);
	r = client_get(c, path, &reply);
	if (r < 0)
		return exit_status(r);
	r = expand_rows(reply);
	if (r < 0) {
		if (r == -EBADMSG)
			fputs("segctl: segd's matrix has rows that do not fit its endpoints\n",
			      stderr);
		return exit_status(r);
	}
	if (probe)
		return exit_status(probe_and_print(c, reply, fmt));
	switch (fmt) {
	case FMT_CSV:
		return exit_status(print_csv(reply));
	case FMT_DOT:
		return exit_status(print_dot(reply));
	case FMT_JSON:
		return exit_status(print_structured(reply, OUTPUT_JSON));
	case FMT_YAML:
		return exit_status(print_structured(reply, OUTPUT_YAML));
	case FMT_TABLE:
	default:
		return exit_status(print_table(reply));
	}
}
