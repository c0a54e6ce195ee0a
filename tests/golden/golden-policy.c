/* SPDX-License-Identifier: MIT */
/*
 * Golden cases that start from policy files: for every DIR/policy/<case>.world.json, the
 * policies are parsed (policy_parse), the plan of one endpoint of the world is compiled
 * (policy_compile) and emitted (policy_emit), and the printed objects are compared with
 * DIR/policy/<case>.payload. Cases run in name order; a new case is a new world file.
 *
 * A world file is one JSON object; unknown keys are errors. Everything but "endpoints" and
 * "emit" may be left out:
 *
 *   {
 *     "about": "what the case shows, for the reader",
 *     "policy": "other.policy.yaml",    (default <case>.policy.yaml; relative to the world file)
 *     "namespaces": [ { "name": "x", "labels": { "team": "blue" } } ],
 *     "endpoints": [
 *       { "name": "web", "namespace": "x", "labels": { "app": "web" },
 *         "addrs": [ "10.1.0.1", "fd01::1" ], "ports": [ "http=8080/TCP" ] }
 *     ],
 *     "emit": {
 *       "endpoint": "web",                    (whose table: endpoint names are unique)
 *       "deny": "drop" | "reject",            (default drop)
 *       "table_flags": [ "owner", "persist" ],  (default none)
 *       "flow_log": "none" | "denied" | "all",  (default none)
 *       "log_group": 3, "log_rate": 10        (defaults 0; a rate of 0 is the library's)
 *     }
 *   }
 *
 * The world's namespaces are added to the Namespace objects of the policy file; a namespace
 * used by an endpoint and defined nowhere has only its name label. An endpoint's namespace
 * defaults to "default"; named ports are NAME=PORT/PROTO, as in the segd.io/ports label.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <linux/netfilter/nf_tables.h>

#include <jansson.h>

#include "golden.h"
#include "policy/policy.h"

#ifndef NFT_TABLE_F_PERSIST
#define NFT_TABLE_F_PERSIST 0x4
#endif

#define WORLD_SUFFIX ".world.json"

struct world {
	json_t *root;			  /* the world file; strings are borrowed from it */
	struct policy_objects *objs;	  /* the policy file */
	struct policy_namespace **own_ns; /* the world file's namespaces */
	size_t n_own_ns;
	struct policy_namespace **namespaces; /* the policy file's, then the world file's */
	struct policy_endpoint *eps;
	struct policy_endpoint **ep_ptrs;
	size_t n_eps;
	const struct policy_endpoint *emit_ep;
	enum policy_deny_action deny;
	struct policy_emit_options opts;
	char *err; /* why the world could not be loaded */
};

static int world_error(struct world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int world_error(struct world *w, const char *fmt, ...)
{
	va_list ap;

	free(w->err);
	va_start(ap, fmt);
	if (vasprintf(&w->err, fmt, ap) < 0)
		w->err = NULL;
	va_end(ap);
	return -EINVAL;
}

static void world_done(struct world *w)
{
	for (size_t i = 0; i < w->n_eps; i++) {
		policy_labels_done(&w->eps[i].labels);
		free(w->eps[i].addrs);
		for (size_t j = 0; j < w->eps[i].n_ports; j++)
			free(w->eps[i].ports[j].name);
		free(w->eps[i].ports);
	}
	free(w->eps);
	free(w->ep_ptrs);
	for (size_t i = 0; i < w->n_own_ns; i++)
		policy_namespace_free(w->own_ns[i]);
	free(w->own_ns);
	free(w->namespaces);
	policy_objects_free(w->objs);
	json_decref(w->root);
	free(w->err);
}

static int load_labels(struct world *w, const char *what, json_t *o, struct policy_labels *l)
{
	const char *k;
	json_t *v;

	if (!o)
		return 0;
	if (!json_is_object(o))
		return world_error(w, "%s: labels must be an object", what);
	json_object_foreach(o, k, v) {
		if (!json_is_string(v))
			return world_error(w, "%s: label %s must be a string", what, k);
		if (policy_labels_set(l, k, json_string_value(v)) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int load_namespaces(struct world *w, json_t *a)
{
	size_t i;
	json_t *o;

	if (!a)
		return 0;
	if (!json_is_array(a))
		return world_error(w, "namespaces must be a list");
	w->own_ns = calloc(json_array_size(a) + 1, sizeof(*w->own_ns));
	if (!w->own_ns)
		return -ENOMEM;
	json_array_foreach(a, i, o) {
		struct policy_labels l = { 0 };
		json_t *labels = NULL;
		json_error_t e;
		const char *name;
		int r;

		if (json_unpack_ex(o, &e, JSON_STRICT, "{s:s, s?o}", "name", &name, "labels",
				   &labels) < 0)
			return world_error(w, "namespaces[%zu]: %s", i, e.text);
		r = load_labels(w, name, labels, &l);
		if (r >= 0) {
			w->own_ns[w->n_own_ns] = policy_namespace_new(name, &l);
			r = w->own_ns[w->n_own_ns] ? 0 : -ENOMEM;
			w->n_own_ns += r == 0;
		}
		policy_labels_done(&l);
		if (r < 0)
			return r;
	}
	return 0;
}

static int load_addrs(struct world *w, struct policy_endpoint *ep, json_t *a)
{
	size_t i;
	json_t *s;

	if (!a)
		return 0;
	if (!json_is_array(a))
		return world_error(w, "%s: addrs must be a list", ep->name);
	ep->addrs = calloc(json_array_size(a) + 1, sizeof(*ep->addrs));
	if (!ep->addrs)
		return -ENOMEM;
	json_array_foreach(a, i, s) {
		struct policy_addr *ad = &ep->addrs[ep->n_addrs];
		const char *text = json_string_value(s);

		if (!text)
			return world_error(w, "%s: addrs[%zu] must be a string", ep->name, i);
		ad->family = strchr(text, ':') ? AF_INET6 : AF_INET;
		if (inet_pton(ad->family, text, ad->addr) != 1)
			return world_error(w, "%s: bad address \"%s\"", ep->name, text);
		ep->n_addrs++;
	}
	return 0;
}

/* "http=8080/TCP" */
static int load_ports(struct world *w, struct policy_endpoint *ep, json_t *a)
{
	size_t i;
	json_t *s;

	if (!a)
		return 0;
	if (!json_is_array(a))
		return world_error(w, "%s: ports must be a list", ep->name);
	ep->ports = calloc(json_array_size(a) + 1, sizeof(*ep->ports));
	if (!ep->ports)
		return -ENOMEM;
	json_array_foreach(a, i, s) {
		struct policy_named_port *np = &ep->ports[ep->n_ports];
		const char *text = json_string_value(s), *eq, *slash;
		unsigned long num;
		char *end;
		int proto;

		eq = text ? strchr(text, '=') : NULL;
		slash = eq ? strchr(eq, '/') : NULL;
		if (!slash || eq == text)
			return world_error(w, "%s: ports[%zu] is not NAME=PORT/PROTO", ep->name, i);
		errno = 0;
		num = strtoul(eq + 1, &end, 10);
		proto = policy_proto_from_string(slash + 1);
		if (errno || end != slash || num == 0 || num > 65535 || proto < 0)
			return world_error(w, "%s: bad port \"%s\"", ep->name, text);
		np->name = strndup(text, (size_t)(eq - text));
		if (!np->name)
			return -ENOMEM;
		np->port = (uint16_t)num;
		np->proto = (enum policy_proto)proto;
		ep->n_ports++;
	}
	return 0;
}

static int load_endpoints(struct world *w, json_t *a)
{
	size_t i;
	json_t *o;

	if (!json_is_array(a))
		return world_error(w, "endpoints must be a list");
	w->eps = calloc(json_array_size(a) + 1, sizeof(*w->eps));
	w->ep_ptrs = calloc(json_array_size(a) + 1, sizeof(*w->ep_ptrs));
	if (!w->eps || !w->ep_ptrs)
		return -ENOMEM;
	json_array_foreach(a, i, o) {
		struct policy_endpoint *ep = &w->eps[w->n_eps];
		json_t *labels = NULL, *addrs = NULL, *ports = NULL;
		const char *name, *ns = "default";
		json_error_t e;
		int r;

		if (json_unpack_ex(o, &e, JSON_STRICT, "{s:s, s?s, s?o, s?o, s?o}", "name", &name,
				   "namespace", &ns, "labels", &labels, "addrs", &addrs, "ports",
				   &ports) < 0)
			return world_error(w, "endpoints[%zu]: %s", i, e.text);
		for (size_t j = 0; j < w->n_eps; j++)
			if (strcmp(w->eps[j].name, name) == 0)
				return world_error(w, "endpoint %s is there twice", name);
		ep->name = (char *)name;
		ep->namespace = (char *)ns;
		w->ep_ptrs[w->n_eps++] = ep;
		r = load_labels(w, name, labels, &ep->labels);
		if (r >= 0)
			r = load_addrs(w, ep, addrs);
		if (r >= 0)
			r = load_ports(w, ep, ports);
		if (r < 0)
			return r;
	}
	return 0;
}

static int load_emit(struct world *w, json_t *o)
{
	const char *ep = NULL, *deny = "drop", *flow_log = "none";
	json_t *flags = NULL, *f;
	int group = 0, rate = 0;
	json_error_t e;
	size_t i;

	if (json_unpack_ex(o, &e, JSON_STRICT, "{s:s, s?s, s?o, s?s, s?i, s?i}", "endpoint", &ep,
			   "deny", &deny, "table_flags", &flags, "flow_log", &flow_log, "log_group",
			   &group, "log_rate", &rate) < 0)
		return world_error(w, "emit: %s", e.text);
	for (size_t j = 0; j < w->n_eps && !w->emit_ep; j++)
		if (strcmp(w->eps[j].name, ep) == 0)
			w->emit_ep = &w->eps[j];
	if (!w->emit_ep)
		return world_error(w, "emit: no endpoint %s", ep);

	if (strcmp(deny, "drop") == 0)
		w->deny = POLICY_DENY_DROP;
	else if (strcmp(deny, "reject") == 0)
		w->deny = POLICY_DENY_REJECT;
	else
		return world_error(w, "emit: deny must be drop or reject");

	if (strcmp(flow_log, "none") == 0)
		w->opts.flow_log = POLICY_FLOW_LOG_NONE;
	else if (strcmp(flow_log, "denied") == 0)
		w->opts.flow_log = POLICY_FLOW_LOG_DENIED;
	else if (strcmp(flow_log, "all") == 0)
		w->opts.flow_log = POLICY_FLOW_LOG_ALL;
	else
		return world_error(w, "emit: flow_log must be none, denied or all");
	if (group < 0 || group > 65535 || rate < 0)
		return world_error(w, "emit: log_group or log_rate out of range");
	w->opts.log_group = (uint16_t)group;
	w->opts.log_rate = (uint32_t)rate;

	if (flags && !json_is_array(flags))
		return world_error(w, "emit: table_flags must be a list");
	json_array_foreach(flags, i, f) {
		const char *s = json_string_value(f);

		if (s && strcmp(s, "owner") == 0)
			w->opts.table_flags |= NFT_TABLE_F_OWNER;
		else if (s && strcmp(s, "persist") == 0)
			w->opts.table_flags |= NFT_TABLE_F_PERSIST;
		else
			return world_error(w, "emit: table_flags[%zu] must be owner or persist", i);
	}
	return 0;
}

static int load_policy(struct world *w, const char *path)
{
	struct policy_diags d = { 0 };
	size_t len = 0;
	char *text;
	int r;

	text = golden_read_file(path, &len);
	if (!text)
		return world_error(w, "cannot read %s: %m", path);
	r = policy_parse(path, text, len, &w->objs, &d);
	free(text);
	if (r == -EBADMSG) {
		char *s = d.n > 0 ? policy_diag_format(&d.items[0]) : NULL;

		if (d.n > 1)
			world_error(w, "%s (and %zu more problems)", s ? s : path, d.n - 1);
		else
			world_error(w, "%s", s ? s : path);
		free(s);
	} else if (r < 0) {
		world_error(w, "%s: %s", path, strerror(-r));
	}
	policy_diags_done(&d);
	return r;
}

/* Reads DIR/NAME.world.json and the policy file it names (or DIR/NAME.policy.yaml). */
static int world_load(struct world *w, const char *dir, const char *name)
{
	json_t *namespaces = NULL, *endpoints = NULL, *emit = NULL;
	const char *about = NULL, *policy = NULL;
	char *path = NULL;
	json_error_t e;
	int r;

	if (asprintf(&path, "%s/%s" WORLD_SUFFIX, dir, name) < 0)
		return -ENOMEM;
	w->root = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
	if (!w->root) {
		r = world_error(w, "%s:%d:%d: %s", path, e.line, e.column, e.text);
		free(path);
		return r;
	}
	if (json_unpack_ex(w->root, &e, JSON_STRICT, "{s?s, s?s, s?o, s:o, s:o}", "about", &about,
			   "policy", &policy, "namespaces", &namespaces, "endpoints", &endpoints,
			   "emit", &emit) < 0) {
		r = world_error(w, "%s: %s", path, e.text);
		free(path);
		return r;
	}
	free(path);
	path = NULL;

	if (policy ? asprintf(&path, "%s/%s", dir, policy) < 0
		   : asprintf(&path, "%s/%s.policy.yaml", dir, name) < 0)
		return -ENOMEM;
	r = load_policy(w, path);
	free(path);
	if (r < 0)
		return r;
	r = load_namespaces(w, namespaces);
	if (r >= 0)
		r = load_endpoints(w, endpoints);
	if (r >= 0)
		r = load_emit(w, emit);
	if (r < 0)
		return r;

	w->namespaces = calloc(w->objs->n_namespaces + w->n_own_ns + 1, sizeof(*w->namespaces));
	if (!w->namespaces)
		return -ENOMEM;
	for (size_t i = 0; i < w->objs->n_namespaces; i++)
		w->namespaces[i] = w->objs->namespaces[i];
	for (size_t i = 0; i < w->n_own_ns; i++)
		w->namespaces[w->objs->n_namespaces + i] = w->own_ns[i];
	return 0;
}

static void run_case(struct golden *g, const char *dir, const char *file_name)
{
	struct world w = { 0 };
	struct policy_world pw;
	struct policy_plan *plan = NULL;
	char *got = NULL, *path = NULL, *name = NULL;
	int r;

	if (asprintf(&name, "policy/%s", file_name) < 0) {
		golden_fail(g, file_name, "out of memory");
		return;
	}
	r = world_load(&w, dir, file_name);
	if (r < 0) {
		golden_fail(g, name, "%s", w.err ? w.err : strerror(-r));
		goto out;
	}
	pw = (struct policy_world){
		.namespaces = w.namespaces,
		.n_namespaces = w.objs->n_namespaces + w.n_own_ns,
		.netpols = w.objs->netpols,
		.n_netpols = w.objs->n_netpols,
		.cnps = w.objs->cnps,
		.n_cnps = w.objs->n_cnps,
		.endpoints = w.ep_ptrs,
		.n_endpoints = w.n_eps,
	};
	r = policy_compile(&pw, w.emit_ep, w.deny, &plan);
	if (r < 0) {
		golden_fail(g, name, "policy_compile: %s", strerror(-r));
		goto out;
	}
	r = golden_render(plan, &w.opts, &got);
	if (r < 0) {
		golden_fail(g, name, "policy_emit: %s", strerror(-r));
		goto out;
	}
	if (asprintf(&path, "%s/%s.payload", dir, file_name) < 0) {
		golden_fail(g, name, "out of memory");
		goto out;
	}
	golden_check(g, name, path, got);
out:
	free(name);
	free(path);
	free(got);
	policy_plan_free(plan);
	world_done(&w);
}

static int is_world(const struct dirent *d)
{
	size_t n = strlen(d->d_name), k = strlen(WORLD_SUFFIX);

	return n > k && strcmp(d->d_name + n - k, WORLD_SUFFIX) == 0;
}

void golden_policy_cases(struct golden *g, const char *dir)
{
	struct dirent **names = NULL;
	char *pdir = NULL;
	int n;

	if (asprintf(&pdir, "%s/policy", dir) < 0) {
		golden_fail(g, "policy cases", "out of memory");
		return;
	}
	n = scandir(pdir, &names, is_world, alphasort);
	if (n < 0) {
		golden_fail(g, "policy cases", "%s: %m", pdir);
	} else if (n == 0) {
		golden_fail(g, "policy cases", "no *" WORLD_SUFFIX " in %s", pdir);
	}
	for (int i = 0; i < n; i++) {
		names[i]->d_name[strlen(names[i]->d_name) - strlen(WORLD_SUFFIX)] = '\0';
		run_case(g, pdir, names[i]->d_name);
		free(names[i]);
	}
	free(names);
	free(pdir);
}
