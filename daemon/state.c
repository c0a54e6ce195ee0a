/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "state-internal.h"

void state_loaded_done(struct state_loaded *l)
{
	policy_objects_free(l->objects);
	json_decref(l->endpoints);
	json_decref(l->quarantined);
	*l = (struct state_loaded){ 0 };
}

int state_open(const char *dir, struct state **ret)
{
	_cleanup_free_ char *probe = NULL;
	struct state *st;
	int r;

	/* mkdir -p of the state dir, the last component private to root */
	if (asprintf(&probe, "%s/%s", dir, STATE_FILE) < 0)
		return -ENOMEM;
	r = mkdir_parents(probe, 0700);
	if (r < 0)
		return r;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->journal_fd = -1;
	st->dir = strdup(dir);
	if (!st->dir) {
		free(st);
		return -ENOMEM;
	}
	*ret = st;
	return 0;
}

struct state *state_free(struct state *st)
{
	if (!st)
		return NULL;
	safe_close(st->journal_fd);
	json_decref(st->quarantined);
	free(st->dir);
	free(st);
	return NULL;
}

json_t *state_endpoint_desc(const struct endpoint *e)
{
	return json_pack("{s:s, s:s, s:s, s:o, s:o}", "name", e->pe.name, "netns", e->netns,
			 "namespace", e->pe.namespace, "labels", json_labels(&e->pe.labels),
			 "ports", json_named_ports(e->pe.ports, e->pe.n_ports));
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* A quarantined endpoint is written back as it was loaded: its fault stays until it is
 * deleted (never rewritten as a valid endpoint with no labels). */
static json_t *stored_endpoint(const struct state *st, const struct endpoint *e)
{
	json_t *q = e->quarantined ? json_object_get(st->quarantined, e->pe.name) : NULL;

	return q ? json_incref(q) : state_endpoint_desc(e);
}

static char *state_text(const struct state *st, const struct store *s, const struct registry *reg)
{
	json_auto_t *root = NULL;
	json_t *items = json_array(), *eps = json_array();

	/* Version 2 holds ClusterNetworkPolicies and Nodes: written only when there are some, so
	 * that a segd that knows only version 1 refuses them by the version, not at a kind. */
	root = json_pack("{s:i, s:{s:s, s:s, s:o}, s:o}", "version",
			 s->n_cnps || s->n_nodes ? STATE_VERSION_CNP : 1, "objects", "apiVersion",
			 "v1", "kind", "List", "items", items, "endpoints", eps);
	if (!root)
		return NULL;
	for (size_t i = 0; i < s->n_namespaces; i++)
		if (json_array_append_new(items, json_take_text(policy_namespace_to_json(
							 s->namespaces[i]))) < 0)
			return NULL;
	for (size_t i = 0; i < s->n_netpols; i++)
		if (json_array_append_new(items,
					  json_take_text(policy_netpol_to_json(s->netpols[i]))) < 0)
			return NULL;
	for (size_t i = 0; i < s->n_cnps; i++)
		if (json_array_append_new(items, json_take_text(policy_cnp_to_json(s->cnps[i]))) <
		    0)
			return NULL;
	for (size_t i = 0; i < s->n_nodes; i++)
		if (json_array_append_new(items, json_take_text(policy_node_to_json(s->nodes[i]))) <
		    0)
			return NULL;
	for (size_t i = 0; i < reg->n; i++)
		if (reg->items[i]->kind == ENDPOINT_KIND_NETNS &&
		    json_array_append_new(eps, stored_endpoint(st, reg->items[i])) < 0)
			return NULL;
	return json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
}

static int fsync_dir(const char *dir)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0 || fsync(dfd) < 0)
		return -errno;
	return 0;
}

/* Writes state.json anew; with keep_prev, the old one stays as STATE_PREV (a hard link: no
 * space needed to put it back). */
int state_write_file(struct state *st, const struct store *s, const struct registry *reg,
		     bool keep_prev)
{
	_cleanup_free_ char *text = NULL, *tmp = NULL, *path = NULL, *prev = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	text = state_text(st, s, reg);
	if (!text)
		return -ENOMEM;
	if (asprintf(&path, "%s/%s", st->dir, STATE_FILE) < 0 ||
	    asprintf(&tmp, "%s/.%s.tmp", st->dir, STATE_FILE) < 0 ||
	    asprintf(&prev, "%s/%s", st->dir, STATE_PREV) < 0)
		return -ENOMEM;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	r = write_all(fd, text, strlen(text));
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (r >= 0 && keep_prev && (unlink(prev) < 0 && errno != ENOENT))
		r = -errno;
	if (r >= 0 && keep_prev) {
		st->prev_absent = false;
		if (link(path, prev) < 0 && errno == ENOENT)
			st->prev_absent = true;
		else if (access(prev, F_OK) < 0)
			r = -errno;
	}
	if (r >= 0 && rename(tmp, path) < 0)
		r = -errno;
	else if (r >= 0) {
		r = fsync_dir(st->dir);
		/* Renamed but not known durable: put the old one back. */
		if (r < 0 && keep_prev &&
		    (st->prev_absent ? unlink(path) == 0 : rename(prev, path) == 0))
			(void)fsync_dir(st->dir);
	}
	if (r < 0) {
		(void)unlink(tmp);
		return r;
	}
	st->state_bytes = strlen(text);
	return 0;
}

/* Everything into state.json, then an empty journal (a crash in between replays lines that
 * state.json holds already). */
static int fold(struct state *st, const struct store *s, const struct registry *reg)
{
	int r = state_write_file(st, s, reg, false);

	if (r < 0)
		return r;
	if (st->journal_fd >= 0 && st->journal_bytes > 0) {
		if (ftruncate(st->journal_fd, 0) < 0 || fdatasync(st->journal_fd) < 0)
			return -errno;
		st->journal_bytes = 0;
	}
	st->stale = false;
	return 0;
}

int state_save(struct state *st, const struct store *s, const struct registry *reg)
{
	int r;

	if (st->stale) {
		r = fold(st, s, reg);
		st->pending = STATE_PENDING_NONE; /* nothing to put back to: the old was wrong */
		return r;
	}
	r = state_write_file(st, s, reg, true);
	if (r < 0)
		return r;
	st->pending = STATE_PENDING_SAVE;
	return 0;
}

int state_undo(struct state *st)
{
	_cleanup_free_ char *path = NULL, *prev = NULL;
	enum state_pending p = st->pending;
	int r = 0;

	st->pending = STATE_PENDING_NONE;
	if (p == STATE_PENDING_JOURNAL) {
		if (st->journal_fd < 0 ||
		    ftruncate(st->journal_fd, (off_t)st->journal_before) < 0 ||
		    fdatasync(st->journal_fd) < 0)
			r = -errno;
		else
			st->journal_bytes = st->journal_before;
	} else if (p == STATE_PENDING_SAVE) {
		if (asprintf(&path, "%s/%s", st->dir, STATE_FILE) < 0 ||
		    asprintf(&prev, "%s/%s", st->dir, STATE_PREV) < 0)
			r = -ENOMEM;
		else if (st->prev_absent ? unlink(path) < 0 : rename(prev, path) < 0)
			r = -errno;
		else
			r = fsync_dir(st->dir);
	}
	if (r < 0) {
		st->stale = true;
		return log_error_errno(r,
				       "Failed to put the previous state back in %s (the next "
				       "change rewrites it; a restart before that enforces the "
				       "refused change): %m",
				       st->dir);
	}
	return 0;
}

void state_settle(struct state *st, const struct store *s, const struct registry *reg)
{
	_cleanup_free_ char *prev = NULL;
	int r;

	if (st->pending == STATE_PENDING_SAVE && asprintf(&prev, "%s/%s", st->dir, STATE_PREV) >= 0)
		(void)unlink(prev);
	st->pending = STATE_PENDING_NONE;
	if (!st->stale &&
	    (st->journal_bytes < STATE_JOURNAL_MIN || st->journal_bytes < st->state_bytes))
		return;
	r = fold(st, s, reg);
	if (r < 0)
		log_warning_errno(r, "Failed to fold %s into %s, trying again later: %m",
				  STATE_JOURNAL, STATE_FILE);
}

int state_journal_open(struct state *st)
{
	_cleanup_free_ char *path = NULL;
	struct stat sb;
	int fd;

	if (st->journal_fd >= 0)
		return 0;
	if (asprintf(&path, "%s/%s", st->dir, STATE_JOURNAL) < 0)
		return -ENOMEM;
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0) {
		int r = -errno;

		safe_close(fd);
		return r;
	}
	st->journal_fd = fd;
	st->journal_bytes = (uint64_t)sb.st_size;
	return 0;
}

int state_record_endpoint(struct state *st, const struct endpoint *e, bool removed,
			  const struct store *s, const struct registry *reg)
{
	json_auto_t *rec = NULL;
	_cleanup_free_ char *line = NULL;
	size_t len;
	int r;

	if (e->kind != ENDPOINT_KIND_NETNS)
		return 0;
	if (removed && st->quarantined)
		(void)json_object_del(st->quarantined, e->pe.name);
	if (st->stale)
		return state_save(st, s, reg);
	r = state_journal_open(st);
	if (r < 0)
		return r;

	rec = removed ? json_pack("{s:s, s:s}", "op", "remove", "name", e->pe.name)
		      : json_pack("{s:s, s:o}", "op", "put", "endpoint", state_endpoint_desc(e));
	if (!rec)
		return -ENOMEM;
	line = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!line)
		return -ENOMEM;
	len = strlen(line);
	line[len] = '\n'; /* replaces the NUL; written with its length */
	r = write_all(st->journal_fd, line, len + 1);
	if (r >= 0 && fdatasync(st->journal_fd) < 0)
		r = -errno;
	if (r < 0) {
		/* Leave no torn line for the next record to follow. */
		if (ftruncate(st->journal_fd, (off_t)st->journal_bytes) < 0)
			st->journal_fd = safe_close(st->journal_fd);
		return r;
	}
	st->journal_before = st->journal_bytes;
	st->journal_bytes += len + 1;
	st->pending = STATE_PENDING_JOURNAL;
	return 0;
}
