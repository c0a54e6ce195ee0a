/* SPDX-License-Identifier: MIT */
/* The fleet's side of segctl (docs/fleet.md): `get nodes`, `node delete`, and the wait of a
 * change (apply, delete) for every live node to enforce it. */
#include "fleet.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "duration.h"
#include "print.h"

/* ---- get nodes ------------------------------------------------------------------------------ */

/* An integer into buf; buf (holding "-") as it is when v is not one. */
static void int_or_dash(json_t *v, char *buf, size_t size)
{
	if (json_is_integer(v))
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
}

static int add_node_row(struct table *t, json_t *n, int64_t now, bool wide)
{
	json_t *hb = json_object_get(n, "heartbeat");
	char rev[24] = "-", eps[24] = "-", nc[24] = "-", age[DURATION_AGE_MAX];
	const char *a = duration_age(json_is_integer(hb) ? json_integer_value(hb) : 0, now, age);

	/* a lost node has no status left: its numbers are not its own (segd says 0) */
	if (!streq(json_str(n, "state", ""), "lost")) {
		int_or_dash(json_object_get(n, "enforced_revision"), rev, sizeof(rev));
		int_or_dash(json_object_get(n, "endpoints"), eps, sizeof(eps));
		int_or_dash(json_object_get(n, "not_committed"), nc, sizeof(nc));
	}
	if (!wide)
		return table_add(t, json_str(n, "name", "?"), json_str(n, "state", "-"), rev, eps,
				 a);
	return table_add(t, json_str(n, "name", "?"), json_str(n, "state", "-"), rev, eps, a, nc,
			 json_is_true(json_object_get(n, "self")) ? "yes" : "-");
}

/* The node segctl talks to has lost etcd: what it shows is what it last knew. */
static void warn_disconnected(json_t *fleet)
{
	json_t *connected = json_object_get(fleet, "connected");

	if (!json_is_false(connected))
		return;
	fputs("segctl: warning: node ", stderr);
	print_sanitized(stderr, json_str(fleet, "node", "?"));
	fputs(" cannot reach the store", stderr);
	if (json_is_string(json_object_get(fleet, "error"))) {
		fputs(" (", stderr);
		print_sanitized(stderr, json_str(fleet, "error", ""));
		fputc(')', stderr);
	}
	fputs(": the nodes are as it last saw them\n", stderr);
}

int fleet_get(const struct segctl *c, const char *name, enum output_format out)
{
	_cleanup_(table_freep) struct table *t = NULL;
	json_auto_t *fleet = NULL, *one = NULL;
	json_t *nodes, *n;
	int64_t now = (int64_t)time(NULL);
	size_t i;
	int r;

	r = client_get(c, "/v1/fleet", &fleet);
	if (r < 0)
		return r;
	nodes = json_object_get(fleet, "nodes");
	if (!json_is_array(nodes)) {
		fprintf(stderr, "segctl: reply from segd has no \"nodes\" list\n");
		return -EPROTO;
	}
	if (name) {
		json_t *found = NULL;

		json_array_foreach(nodes, i, n)
			if (streq(json_str(n, "name", ""), name)) {
				found = n;
				break;
			}
		if (!found) {
			fprintf(stderr, "segctl: node \"%s\" not found\n", name);
			return -ENOENT;
		}
		n = found;
		if (out == OUTPUT_JSON || out == OUTPUT_YAML)
			return print_structured(n, out);
		one = json_pack("[O]", n);
		if (!one)
			return -ENOMEM;
		nodes = one;
	} else if (out == OUTPUT_JSON || out == OUTPUT_YAML)
		return print_structured(fleet, out);

	if (out == OUTPUT_NAME) {
		json_array_foreach(nodes, i, n) {
			fputs("node/", stdout);
			print_sanitized(stdout, json_str(n, "name", "?"));
			fputc('\n', stdout);
		}
		return 0;
	}
	warn_disconnected(fleet);
	if (json_array_size(nodes) == 0) {
		fputs("No resources found.\n", stderr);
		return 0;
	}
	t = out == OUTPUT_WIDE
		    ? table_new(7, "NAME", "STATE", "ENFORCED", "ENDPOINTS", "HEARTBEAT",
				"NOT-COMMITTED", "SELF")
		    : table_new(5, "NAME", "STATE", "ENFORCED", "ENDPOINTS", "HEARTBEAT");
	if (!t)
		return -ENOMEM;
	json_array_foreach(nodes, i, n) {
		r = add_node_row(t, n, now, out == OUTPUT_WIDE);
		if (r < 0)
			return r;
	}
	table_print(t, stdout, "");
	return 0;
}

/* ---- the wait for a change -------------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps until `until` (CLOCK_MONOTONIC seconds), through signals. */
static void sleep_until(double until)
{
	struct timespec ts = { .tv_sec = (time_t)until };

	ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
	if (ts.tv_nsec >= 1000000000)
		ts.tv_nsec = 999999999;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

int fleet_revision(json_t *reply, int64_t *max)
{
	json_t *v = json_object_get(reply, "revision");

	if (!v || json_is_null(v))
		return 0;
	/* 0: this node has written no change since it started (an apply that changed nothing) */
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		fprintf(stderr, "segctl: reply from segd has an invalid \"revision\"\n");
		return -EPROTO;
	}
	if (json_integer_value(v) > *max)
		*max = json_integer_value(v);
	return 0;
}

/* Where the nodes are: how many live, how many of those at the revision, and (when `lagging`
 * is not NULL) the others as "n2 (revision 41 < 42), ...". */
static int look(json_t *fleet, int64_t revision, size_t *ret_live, size_t *ret_done, char **lagging)
{
	json_t *nodes = json_object_get(fleet, "nodes"), *n, *v;
	size_t i, live = 0, done = 0, named = 0;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = NULL;

	if (!json_is_array(nodes)) {
		fprintf(stderr, "segctl: reply from segd has no \"nodes\" list\n");
		return -EPROTO;
	}
	if (lagging) {
		f = open_memstream(&buf, &len);
		if (!f)
			return -ENOMEM;
	}
	json_array_foreach(nodes, i, n) {
		if (streq(json_str(n, "state", ""), "lost"))
			continue;
		live++;
		v = json_object_get(n, "enforced_revision");
		if (json_is_integer(v) && json_integer_value(v) >= revision) {
			done++;
			continue;
		}
		if (!f)
			continue;
		if (named++ == FLEET_WAIT_MAX_NAMED) {
			fputs(", ...", f);
			continue;
		}
		if (named > FLEET_WAIT_MAX_NAMED)
			continue;
		if (named > 1)
			fputs(", ", f);
		print_sanitized(f, json_str(n, "name", "?"));
		if (json_is_integer(v))
			fprintf(f, " (revision %" JSON_INTEGER_FORMAT " < %" PRId64 ")",
				json_integer_value(v), revision);
		else
			fputs(" (revision unknown)", f);
	}
	if (f) {
		if (named > FLEET_WAIT_MAX_NAMED)
			fprintf(f, " (%zu in all)", named);
		if (fclose(f) != 0) {
			free(buf);
			return -ENOMEM;
		}
		*lagging = buf;
	}
	*ret_live = live;
	*ret_done = done;
	return 0;
}

static void report_timeout(double timeout, int64_t revision, json_t *fleet)
{
	_cleanup_free_ char *lagging = NULL;
	size_t live = 0, done = 0;

	fprintf(stderr, "segctl: timed out after %gs: ", timeout);
	if (!fleet || look(fleet, revision, &live, &done, &lagging) < 0)
		fprintf(stderr, "no answer from segd about the nodes of revision %" PRId64 "\n",
			revision);
	else if (live == 0)
		fprintf(stderr, "no live node to enforce revision %" PRId64 "\n", revision);
	else
		fprintf(stderr, "not enforced on node(s): %s\n", lagging);
	if (fleet)
		warn_disconnected(fleet);
}

int fleet_wait(const struct segctl *c, int64_t revision, bool print)
{
	double timeout = client_timeout(c), deadline = now_s() + timeout, next;
	struct segctl call = *c;
	json_auto_t *last = NULL;
	long pause_ms = FLEET_WAIT_FIRST_MS;
	size_t live, done;
	int r;

	call.deadline_s = deadline; /* no look at the nodes outlives the wait */
	for (;;) {
		json_t *fleet = NULL;

		r = client_get(&call, "/v1/fleet", &fleet);
		if (r == -ENOTCONN && now_s() >= deadline - 0.05) { /* cut by the deadline */
			report_timeout(timeout, revision, last);
			return -ETIME;
		}
		if (r < 0) {
			fprintf(stderr,
				"segctl: the change is at revision %" PRId64
				"; whether the nodes enforce it is unknown\n",
				revision);
			return r;
		}
		json_decref(last);
		last = fleet;
		r = look(last, revision, &live, &done, NULL);
		if (r < 0)
			return r;
		if (live > 0 && done == live)
			break;
		next = now_s() + pause_ms / 1000.0;
		if (next >= deadline) {
			sleep_until(deadline); /* the wait lasts --timeout, not less */
			report_timeout(timeout, revision, last);
			return -ETIME;
		}
		sleep_until(next);
		pause_ms = pause_ms * 2 > FLEET_WAIT_MAX_MS ? FLEET_WAIT_MAX_MS : pause_ms * 2;
	}
	if (print)
		printf("enforced on %zu node(s) at revision %" PRId64 "\n", live, revision);
	return 0;
}

int fleet_after_change(const struct segctl *c, int ret, int64_t revision, bool no_wait, bool print)
{
	int r;

	if (revision <= 0)
		return ret; /* a single host: the change is in force when segd answers */
	if (no_wait) {
		if (print)
			printf("revision %" PRId64 ": not waiting for the nodes (--no-wait)\n",
			       revision);
		return ret;
	}
	r = fleet_wait(c, revision, print);
	return ret != 0 ? ret : exit_status(r);
}

/* ---- node delete ------------------------------------------------------------------------------ */

static const char node_usage[] =
	"Usage: segctl node delete NAME... [-o json|yaml]\n"
	"\n"
	"Remove nodes from the fleet at once (aliases: del, rm): each one's member key, status and\n"
	"endpoints in etcd, so that every other node drops its endpoints now instead of after its\n"
	"lease (segd --node-ttl). A node that is still running publishes itself again on its next\n"
	"heartbeat. 'segctl get nodes' lists them. On a single host there is nothing to remove.\n"
	"\n"
	"Options:\n"
	"  -o, --output FORMAT   json or yaml: print segd's reply instead of a summary\n"
	"      --socket PATH     segd's API socket\n"
	"      --timeout DURATION bound each call to segd (default 30s)\n"
	"  -h, --help            show this help\n";

static int node_delete(const struct segctl *c, const char *name, enum output_format out)
{
	_cleanup_free_ char *ename = client_escape(name), *path = NULL;
	json_auto_t *reply = NULL;
	int r;

	if (!ename || asprintf(&path, "/v1/fleet/nodes/%s", ename) < 0)
		return -ENOMEM;
	r = client_call(c, "DELETE", path, NULL, NULL, 0, &reply);
	if (r < 0)
		return r;
	if (out != OUTPUT_TABLE)
		return print_structured(reply, out);
	fputs("node/", stdout);
	print_sanitized(stdout, json_str(reply, "deleted", name));
	fputs(" deleted\n", stdout);
	return 0;
}

int node_main(struct segctl *c, int argc, char *argv[])
{
	static const struct option options[] = {
		{ "output", required_argument, NULL, 'o' },
		COMMON_OPTIONS,
		{},
	};
	enum output_format out = OUTPUT_TABLE;
	int opt, r, ret = 0;

	args_reset();
	while ((opt = getopt_long(argc, argv, ":o:h", options, NULL)) != -1) {
		switch (opt) {
		case 'o':
			r = args_output(c, optarg,
					OUTPUT_MASK(OUTPUT_TABLE) | OUTPUT_MASK(OUTPUT_JSON) |
						OUTPUT_MASK(OUTPUT_YAML),
					&out);
			if (r < 0)
				return exit_status(r);
			break;
		case 'h':
			fputs(node_usage, stdout);
			return 0;
		default:
			r = args_common(c, opt, argv);
			if (r < 0)
				return exit_status(r);
			break;
		}
	}
	if (optind >= argc)
		return exit_status(usage_error(c, "expected a command: delete"));
	if (!streq(argv[optind], "delete") && !streq(argv[optind], "del") &&
	    !streq(argv[optind], "rm"))
		return exit_status(
			usage_error(c, "unknown command '%s' (expected delete)", argv[optind]));
	if (++optind >= argc)
		return exit_status(usage_error(c, "expected a node name after 'delete'"));
	for (int i = optind; i < argc; i++) {
		r = args_check_name(c, "node", argv[i]);
		if (r < 0)
			return exit_status(r);
	}
	for (int i = optind; i < argc; i++) {
		r = node_delete(c, argv[i], out);
		if (r == -ENOTCONN)
			return EXIT_CONNECT;
		if (r < 0)
			ret = EXIT_FAIL;
	}
	return ret;
}
