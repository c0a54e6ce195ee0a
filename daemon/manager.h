/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#include "loop.h"
#include "metrics.h"
#include "nft.h"
#include "policy/policy.h"

struct api;
struct engine;
struct nft_sock;

enum endpoint_state {
	ENDPOINT_PENDING,	/* registered, table not yet committed */
	ENDPOINT_ENFORCED,	/* the kernel holds its current plan */
	ENDPOINT_ERROR,		/* see error; the last committed table (if any) stays in place */
	ENDPOINT_UNENFORCEABLE,	/* segd cannot enforce here (later: host network, ...) */
	_ENDPOINT_STATE_MAX,
};

const char *endpoint_state_to_string(enum endpoint_state s);

enum endpoint_kind {
	ENDPOINT_KIND_NETNS,		/* registered by hand: segctl endpoint add */
	ENDPOINT_KIND_CONTAINER,	/* from the engine API or the OCI hook */
	_ENDPOINT_KIND_MAX,
};

/* One container of a container endpoint (several share one namespace in a pod). */
struct ep_container {
	char *id;
	char *name;		/* NULL until the engine names it */
	struct policy_labels labels;
	bool known;		/* labels are known (engine inspect, or annotation) */
	char *invalid;		/* why its labels cannot be used, or NULL */
	bool owner;		/* created the namespace (not --network container:X) */
	uint64_t observed_usec;	/* CLOCK_MONOTONIC when the engine's newest view of it arrived */
};

/* What the engine (or the hook) tells about a container. */
struct container_info {
	char *id;
	char *name;
	bool running;
	bool finished;		/* exited, stopped, dead or being removed (not merely created) */
	int pid;
	char *netns_path;	/* SandboxKey, or NULL */
	char *network_mode;	/* "bridge", "host", "container:ID", ... */
	struct policy_labels labels;
	bool labels_known;
	char *invalid;		/* label problem, or NULL */
	uint64_t observed_usec;	/* CLOCK_MONOTONIC when this view arrived (0: unknown) */
};

struct endpoint {
	struct manager *manager;
	enum endpoint_kind kind;
	struct ep_container *containers;
	size_t n_containers;
	/* Labels unknown or unusable: default-deny both ways, and not anyone's peer. */
	bool quarantined;
	struct policy_endpoint pe;	/* name, namespace, labels, addrs, named ports */
	char *netns;			/* name under /run/netns */
	int nsfd;			/* pins the namespace */
	ino_t ns_ino;
	struct nft_sock *nft;		/* owns our table in that namespace */
	int mon_fd;			/* address change events */
	struct watch mon_watch;
	struct nft_events ev;		/* nf_tables change events (only without the owner flag) */
	struct watch ev_watch;
	int log_fd;			/* NFLOG: this namespace's flow logs */
	struct watch log_watch;
	bool addrs_dirty;
	struct policy_plan *installed;	/* what the kernel holds, NULL before the first commit */
	bool dirty;			/* its plan may have changed: recompile at the next reconcile */
	enum endpoint_state state;
	char *error;
};

struct manager_config {
	const char *socket_path;
	const char *state_dir;
	enum policy_deny_action deny;
	const char *group;	/* group allowed to use the API besides root, e.g. "segd" */
	const char *engine;	/* "none", "auto" or "unix:///path" */
	unsigned resync_interval_s;
	bool no_table_owner;	/* tables without NFT_TABLE_F_OWNER: others may change them */
	bool drift_report_only;	/* log and count foreign changes, do not repair them */
	const char *audit_group;	/* read-only API access, e.g. "segd-audit" */
	const char *audit_log;		/* JSON lines (audit.h); NULL: none */
	const char *metrics_listen;	/* "127.0.0.1:9469"; NULL: no metrics server */
	enum policy_flow_log flow_log;
	const char *flow_log_file;	/* JSON lines; NULL: the ring buffer only */
	uint64_t flow_log_max_bytes;	/* rotation size of flow_log_file */
};

#define MANAGER_MAX_ERRORS 16

struct manager {
	struct manager_config cfg;
	struct loop *loop;
	int signal_fd;
	struct watch signal_watch;
	int debounce_fd;
	struct watch debounce_watch;
	bool debounce_armed;
	int periodic_fd;
	struct watch periodic_watch;
	struct api *api;
	struct engine *engine;
	struct audit *audit;
	struct metrics *metrics;
	struct flows *flows;
	ino_t host_netns_ino;

	struct endpoint **endpoints;	/* sorted by name */
	size_t n_endpoints;
	struct policy_namespace **namespaces;	/* sorted by name; only applied ones */
	size_t n_namespaces;
	struct policy_netpol **netpols;	/* sorted by namespace, name */
	size_t n_netpols;
	/* Endpoints removed while a loop round may still hold their watch: freed in tick. */
	struct endpoint **dead;
	size_t n_dead;

	uint32_t table_flags;
	bool table_flags_known;
	bool drift_watch;	/* tables are not owned: watch nf_tables events for foreign changes */
	bool all_dirty;		/* the next reconcile compiles every endpoint */
	/* What the kernel was sent: in total, and for the last change. */
	struct change_stats {
		uint64_t namespaces;	/* namespaces committed */
		uint64_t incremental;	/* of those, by set elements alone */
		uint64_t compiled;	/* plans compiled */
		uint64_t batches, messages, bytes;
		uint64_t usec;
	} total, last;
	time_t started;
	uint64_t commits, commit_errors;
	/* for the metrics */
	struct {
		struct histogram reconcile;
		uint64_t drift_detected, drift_repairs, event_overruns;
		uint64_t flows_allowed, flows_denied;
	} stats;
	/* state.journal (state.h): open for appending, its size, and state.json's */
	int journal_fd;
	uint64_t journal_bytes, state_bytes;
	struct {
		time_t time;
		char *message;
	} errors[MANAGER_MAX_ERRORS];
	size_t n_errors_total;
};

/* An operation's failure as the API reports it. */
struct op_error {
	int status;		/* HTTP status */
	char *message;
	struct policy_diags diags;
};

void op_error_done(struct op_error *e);
int op_error_set(struct op_error *e, int status, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

int manager_new(const struct manager_config *cfg, struct manager **ret);
struct manager *manager_free(struct manager *m);
/* Loads the state dir, re-adopts and reconciles every namespace, opens the API socket. */
int manager_start(struct manager *m);
int manager_run(struct manager *m);

/* Operations behind the API. Each returns 0 and a JSON result, or -errno with *err filled;
 * a failed operation changes nothing. */
int manager_apply(struct manager *m, const char *file, const char *text, size_t len,
		  bool dry_run, json_t **ret, struct op_error *err);
/* What applying the file would change (plans per endpoint, reachability per pair), without
 * changing anything. */
int manager_diff(struct manager *m, const char *file, const char *text, size_t len, json_t **ret,
		 struct op_error *err);
int manager_delete_file(struct manager *m, const char *file, const char *text, size_t len,
			json_t **ret, struct op_error *err);
int manager_delete_netpol(struct manager *m, const char *ns, const char *name, json_t **ret,
			  struct op_error *err);
int manager_endpoint_add(struct manager *m, json_t *body, json_t **ret, struct op_error *err);
int manager_endpoint_label(struct manager *m, const char *name, json_t *body, json_t **ret,
			   struct op_error *err);
int manager_endpoint_del(struct manager *m, const char *name, json_t **ret, struct op_error *err);
int manager_endpoint_rules(struct manager *m, const char *name, json_t **ret,
			   struct op_error *err);

/* Containers: from the engine source (inspect results, gone containers, the containers a
 * resync's list no longer shows) and from the OCI hook. */
void container_info_done(struct container_info *ci);
int manager_container_seen(struct manager *m, const struct container_info *ci);
void manager_container_gone(struct manager *m, const char *id);
bool manager_container_known(struct manager *m, const char *id);
/* After a full list (asked for at `asked_usec`): the ids of known containers the list does
 * not show, and that the engine last showed us before it was asked for. They are not removed
 * here: the caller inspects each again (a list is a hint too; a 404 or a finished state
 * removes). *ret is a NULL-terminated array the caller frees with strv_free(). */
int manager_containers_missing(struct manager *m, char *const *running_ids, size_t n,
			       uint64_t asked_usec, char ***ret);
int manager_hook_create(struct manager *m, json_t *body, json_t **ret, struct op_error *err);
int manager_hook_poststop(struct manager *m, json_t *body, json_t **ret, struct op_error *err);

json_t *manager_status_json(struct manager *m);
/* GET /v1/flows: records after `since`, optionally of one endpoint and one verdict. */
int manager_flows(struct manager *m, const char *endpoint, const char *verdict, const char *since,
		  const char *time_from, const char *limit, json_t **ret, struct op_error *err);
json_t *manager_netpols_json(struct manager *m, const char *ns);
int manager_netpol_json(struct manager *m, const char *ns, const char *name, json_t **ret,
			struct op_error *err);
json_t *manager_namespaces_json(struct manager *m);
json_t *manager_endpoints_json(struct manager *m, const char *ns);
int manager_endpoint_json(struct manager *m, const char *name, json_t **ret, struct op_error *err);

struct endpoint *manager_find_endpoint(struct manager *m, const char *name);
void manager_record_error(struct manager *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
