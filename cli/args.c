/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <stdint.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include <policy/policy.h>

#include "duration.h"
#include "segctl.h"

static const char *const output_names[_OUTPUT_MAX] = {
	[OUTPUT_TABLE] = "table", [OUTPUT_JSON] = "json", [OUTPUT_YAML] = "yaml",
	[OUTPUT_NAME] = "name",	  [OUTPUT_WIDE] = "wide",
};

void args_reset(void)
{
	/* optind = 0 makes glibc re-initialise its permutation state, not just the index. */
	optind = 0;
	opterr = 0;
}

int usage_error(const struct segctl *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "segctl%s%s: ", *c->verb ? " " : "", c->verb);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'segctl%s%s --help' for more information.\n", *c->verb ? " " : "",
		c->verb);
	return -EINVAL;
}

int args_common(struct segctl *c, int opt, char *const argv[])
{
	switch (opt) {
	case OPT_SOCKET: {
		struct sockaddr_un sa;

		if (!*optarg)
			return usage_error(c, "--socket: empty path");
		if (strlen(optarg) >= sizeof(sa.sun_path))
			return usage_error(c, "--socket: path longer than %zu bytes",
					   sizeof(sa.sun_path) - 1);
		c->socket = optarg;
		return 0;
	}
	case OPT_TIMEOUT: {
		const char *why;
		uint64_t ns;

		if (duration_parse(optarg, (uint64_t)SEGCTL_MAX_TIMEOUT_S * 1000000000, &ns, &why) <
		    0)
			return usage_error(
				c,
				"--timeout: invalid duration '%s': %s; expected 30, 30s, 500ms, "
				"2m or 1h, more than 0 and at most 24h",
				optarg, why);
		c->timeout_s = (double)ns / 1e9;
		return 0;
	}
	case ':':
		/* optopt is the option's val: a letter for short options, anything for long ones. */
		if (optopt > 0 && optopt < 0x80 && argv[optind - 1][1] != '-')
			return usage_error(c, "option '-%c' requires an argument", optopt);
		return usage_error(c, "option '%s' requires an argument", argv[optind - 1]);
	case '?':
		if (optopt > 0 && optopt < 0x80)
			return usage_error(c, "unknown option '-%c'", optopt);
		return usage_error(c, "unknown option '%s'", argv[optind - 1]);
	default:
		return usage_error(c, "unhandled option %d", opt);
	}
}

int args_output(struct segctl *c, const char *s, unsigned allowed, enum output_format *ret)
{
	char list[64] = "";

	for (int f = 0; f < _OUTPUT_MAX; f++) {
		if (!(allowed & OUTPUT_MASK(f)))
			continue;
		if (streq(s, output_names[f])) {
			*ret = f;
			return 0;
		}
		if (*list)
			strcat(list, ", ");
		strcat(list, output_names[f]);
	}
	return usage_error(c, "unknown output format '%s' (expected one of: %s)", s, list);
}

int args_check_name(const struct segctl *c, const char *what, const char *name)
{
	const char *why;

	/* Policy names are DNS subdomains; endpoint and namespace names DNS labels. */
	/* Node names, the fleet's (segd --node) and Kubernetes', are DNS subdomains too. */
	if (streq(what, "networkpolicy") || streq(what, "clusternetworkpolicy") ||
	    streq(what, "node") || streq(what, "k8snode"))
		why = policy_dns_subdomain_invalid(name);
	else
		why = policy_dns_label_invalid(name);
	if (why)
		return usage_error(c, "invalid %s name '%s': %s", what, name, why);
	return 0;
}

/* An existing endpoint: by hand it has a DNS-label name, a container keeps its engine name
 * ([a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 128) and can also be named by an id prefix. */
int args_check_endpoint_ref(const struct segctl *c, const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 128 || !isalnum((unsigned char)name[0]))
		return usage_error(c, "invalid endpoint name '%s'", name);
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("_.-", name[i]))
			return usage_error(c, "invalid endpoint name '%s'", name);
	return 0;
}

int args_check_port(const struct segctl *c, const char *spec)
{
	enum policy_proto proto;
	uint16_t port;

	if (policy_port_spec_parse(spec, &port, &proto) < 0)
		return usage_error(c,
				   "invalid port '%s': expected PORT or PORT/PROTOCOL (1-65535, "
				   "TCP, UDP or SCTP)",
				   spec);
	return 0;
}

int args_check_namespace(const struct segctl *c, const char *ns)
{
	return args_check_name(c, "namespace", ns);
}

int exit_status(int r)
{
	if (r >= 0)
		return 0;
	return r == -ENOTCONN ? EXIT_CONNECT : EXIT_FAIL;
}
