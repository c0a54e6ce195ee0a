/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by fleet.c and fleet-write.c only. */
#include <jansson.h>

#include "backoff.h"
#include "etcd.h"
#include "fleet-parse.h"
#include "fleet.h"

struct fleet {
	struct loop *loop;
	struct ops *ops;
	struct etcd *etcd;
	struct ops_fleet vt;
	char *node;
	char **urls;
	size_t n_urls;
	unsigned ttl_s;
	int64_t lease;		 /* of our status and endpoints; 0: none */
	int64_t revision;	 /* of the newest view read (list or watch) */
	int64_t policy_revision; /* of the newest policy change applied here */
	int64_t enforced;	 /* what our status says */
	bool synced;		 /* listed since the last break, watching */
	bool status_due;	 /* our status (or member key) must be written again */
	/* the revision of our last heartbeat, and whether the watch brought it back: a watch
	 * that does not (a member that accepted it and went silent) is replaced */
	int64_t hb_revision;
	bool hb_seen;
	unsigned hb_failures; /* heartbeats in a row that did not get through */
	time_t started;
	uint64_t next_heartbeat_usec;
	struct backoff retry;
	int timer_fd;
	struct watch timer_watch;
	/* local endpoints whose published view may have changed, by name */
	char **dirty;
	size_t n_dirty, cap_dirty;
	json_t *status;	     /* node -> {enforced_revision, endpoints, heartbeat, ...} */
	json_t *members;     /* node -> {joined} */
	char error[320];     /* the last failure ("" when none) */
	char bad_value[320]; /* the last value in the store that was not valid ("" none) */
	uint64_t relists, batches, remote_changes, bad_values;
};

/* A growing array of strings. */
struct strv {
	char **v;
	size_t n, cap;
};

/* Operations of one transaction, owning their keys and values. */
struct txn {
	struct etcd_op *ops;
	size_t n, cap;
};

int fleet_str_cmp(const void *a, const void *b);
void fleet_strv_sort(char **v, size_t n);
bool fleet_sorted_has(char *const *v, size_t n, const char *s);
void fleet_strv_free(char **v, size_t n);
int fleet_strv_push(struct strv *s, char *str);
int fleet_txn_add(struct txn *t, int type, char *key, char *value, int64_t lease);
void fleet_txn_done(struct txn *t);
int fleet_txn_send(struct fleet *f, const struct txn *t, int64_t *ret_revision);
int fleet_add_status(struct fleet *f, struct txn *t);
int fleet_publish_all(struct fleet *f, char *const *stored, size_t n_stored);
void fleet_lost(struct fleet *f);
void fleet_arm(struct fleet *f);
void fleet_dirty_add(struct fleet *f, const char *name);
void fleet_on_peer_changed(struct endpoint *e, void *userdata);
int fleet_store_write(void *userdata, const struct store *s, const struct store_snapshot *snap,
		      int64_t *ret_revision, struct op_error *err);
json_t *fleet_view(void *userdata);
int fleet_node_delete(void *userdata, const char *name, json_t **ret, struct op_error *err);
void fleet_set_error(struct fleet *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
