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
#include "state.h"

/* read-only streams: nothing to flush */
static void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

void state_loaded_done(struct state_loaded *l)
{
	policy_objects_free(l->objects);
	json_decref(l->endpoints);
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

static char *state_text(const struct store *s, const struct registry *reg)
{
	json_auto_t *root = NULL;
	json_t *items = json_array(), *eps = json_array();

	root = json_pack("{s:i, s:{s:s, s:s, s:o}, s:o}", "version", 1, "objects", "apiVersion",
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
	for (size_t i = 0; i < reg->n; i++)
		if (reg->items[i]->kind == ENDPOINT_KIND_NETNS &&
		    json_array_append_new(eps, state_endpoint_desc(reg->items[i])) < 0)
			return NULL;
	return json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
}

int state_save(struct state *st, const struct store *s, const struct registry *reg)
{
	_cleanup_free_ char *text = NULL, *tmp = NULL, *path = NULL;
	_cleanup_close_ int fd = -1, dfd = -1;
	int r;

	text = state_text(s, reg);
	if (!text)
		return -ENOMEM;
	if (asprintf(&path, "%s/%s", st->dir, STATE_FILE) < 0 ||
	    asprintf(&tmp, "%s/.%s.tmp", st->dir, STATE_FILE) < 0)
		return -ENOMEM;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	r = write_all(fd, text, strlen(text));
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlink(tmp);
		return r;
	}
	if (rename(tmp, path) < 0) {
		r = -errno;
		(void)unlink(tmp);
		return r;
	}
	dfd = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		(void)fsync(dfd);
	st->state_bytes = strlen(text);

	/* state.json now holds everything the journal said. */
	if (st->journal_fd >= 0 && st->journal_bytes > 0) {
		if (ftruncate(st->journal_fd, 0) < 0 || fdatasync(st->journal_fd) < 0) {
			/* Replaying it over the new state is harmless; start a new one later. */
			log_warning_errno(-errno, "Failed to empty %s, ignoring: %m",
					  STATE_JOURNAL);
			st->journal_fd = safe_close(st->journal_fd);
		}
		st->journal_bytes = 0;
	}
	return 0;
}

static int journal_open(struct state *st)
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
	if (st->journal_bytes >= STATE_JOURNAL_MIN && st->journal_bytes >= st->state_bytes)
		return state_save(st, s, reg);
	r = journal_open(st);
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
	st->journal_bytes += len + 1;
	return 0;
}

/* Applies one journal line to eps (name -> description). 1 applied, 0 invalid (skipped). */
static int journal_apply(json_t *eps, const char *line, size_t n, const char *path, size_t lineno)
{
	json_auto_t *rec = NULL;
	json_t *desc = NULL;
	const char *op = NULL, *name = NULL, *ename = NULL;
	json_error_t jerr;

	rec = json_loadb(line, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!rec || json_unpack_ex(rec, &jerr, JSON_STRICT, "{s:s, s?s, s?o}", "op", &op, "name",
				   &name, "endpoint", &desc) < 0) {
		log_warning("%s:%zu: invalid record, skipped: %s", path, lineno, jerr.text);
		return 0;
	}
	if (streq(op, "put") ? !desc || name || json_unpack(desc, "{s:s}", "name", &ename) < 0
			     : !streq(op, "remove") || !name || desc) {
		log_warning("%s:%zu: invalid record, skipped: not {\"op\": \"put\", \"endpoint\": "
			    "{\"name\", ...}} or {\"op\": \"remove\", \"name\"}",
			    path, lineno);
		return 0;
	}
	if (desc)
		return json_object_set(eps, ename, desc) < 0 ? -ENOMEM : 1;
	(void)json_object_del(eps, name);
	return 1;
}

/* Replays state.journal over what state.json gave. */
static int journal_replay(struct state *st, json_t *eps)
{
	_cleanup_free_ char *path = NULL, *line = NULL;
	_cleanup_(fclosep) FILE *f = NULL;
	size_t cap = 0, lineno = 0, replayed = 0;
	uint64_t good = 0; /* bytes of complete lines */
	struct stat sb;
	ssize_t n;
	int r;

	if (asprintf(&path, "%s/%s", st->dir, STATE_JOURNAL) < 0)
		return -ENOMEM;
	f = fopen(path, "re");
	if (!f && errno != ENOENT)
		return -errno;
	if (f && fstat(fileno(f), &sb) < 0)
		return -errno;
	if (f && (uint64_t)sb.st_size > STATE_MAX_BYTES)
		return log_error_errno(-EFBIG, "%s is over %u bytes, refusing it", path,
				       STATE_MAX_BYTES);

	while (f && (n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (n == 0 || line[n - 1] != '\n') {
			log_warning("%s:%zu: incomplete last record (a crash while writing it), "
				    "skipped",
				    path, lineno);
			break;
		}
		good += (uint64_t)n;
		r = journal_apply(eps, line, (size_t)n, path, lineno);
		if (r < 0)
			return r;
		replayed += (size_t)r;
	}
	if (f && ferror(f))
		return -EIO;
	if (replayed > 0)
		log_info("Replayed %zu record(s) of %s", replayed, path);
	/* Appends go after what was replayed, and the next full write empties it; a torn tail
	 * is cut off so that the next record starts a line of its own. */
	r = journal_open(st);
	if (r < 0)
		return r;
	if (st->journal_bytes > good) {
		if (ftruncate(st->journal_fd, (off_t)good) < 0)
			return -errno;
		st->journal_bytes = good;
	}
	return 0;
}

/* state.json into objects and eps; absent is empty. */
static int load_file(struct state *st, struct policy_objects **ret_objs, json_t *eps)
{
	_cleanup_free_ char *path = NULL, *objs_text = NULL;
	json_auto_t *root = NULL;
	json_t *objs = NULL, *list = NULL, *v;
	struct policy_diags diags = { 0 };
	json_error_t jerr;
	struct stat sb;
	int version = 0, r;
	size_t i;

	if (asprintf(&path, "%s/%s", st->dir, STATE_FILE) < 0)
		return -ENOMEM;
	if (stat(path, &sb) < 0) {
		if (errno != ENOENT)
			return -errno;
		/* Registrations may have gone to the journal alone so far. */
		*ret_objs = calloc(1, sizeof(**ret_objs));
		return *ret_objs ? 0 : -ENOMEM;
	}
	if ((size_t)sb.st_size > STATE_MAX_BYTES)
		return log_error_errno(-EFBIG, "%s is over %u bytes, refusing it", path,
				       STATE_MAX_BYTES);
	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return log_error_errno(-EBADMSG, "%s:%d:%d: %s", path, jerr.line, jerr.column,
				       jerr.text);
	if (json_unpack_ex(root, &jerr, JSON_STRICT, "{s:i, s:o, s:o}", "version", &version,
			   "objects", &objs, "endpoints", &list) < 0)
		return log_error_errno(-EBADMSG, "%s: not a segd state file (%s)", path, jerr.text);
	if (version != 1 || !json_is_array(list))
		return log_error_errno(-EBADMSG,
				       "%s: not a segd state file (version %d, endpoints "
				       "%s)",
				       path, version,
				       json_is_array(list) ? "a list" : "not a list");

	/* Stored objects pass the same parser and validation as user input. */
	objs_text = json_dumps(objs, JSON_COMPACT);
	if (!objs_text)
		return -ENOMEM;
	r = policy_parse(path, objs_text, strlen(objs_text), ret_objs, &diags);
	if (r < 0) {
		for (size_t k = 0; k < diags.n; k++) {
			_cleanup_free_ char *s = policy_diag_format(&diags.items[k]);

			log_error("%s", s ? s : "invalid stored object");
		}
		policy_diags_done(&diags);
		return log_error_errno(r, "Refusing the stored policies in %s", path);
	}
	json_array_foreach(list, i, v) {
		const char *name = json_string_value(json_object_get(v, "name"));

		if (!name) {
			log_error("%s: endpoints[%zu] has no name, ignoring it", path, i);
			continue;
		}
		if (json_object_set(eps, name, v) < 0)
			return -ENOMEM;
	}
	st->state_bytes = (uint64_t)sb.st_size;
	return 0;
}

int state_load(struct state *st, struct state_loaded *ret)
{
	struct state_loaded l = { .endpoints = json_object() };
	int r;

	if (!l.endpoints)
		return -ENOMEM;
	r = load_file(st, &l.objects, l.endpoints);
	if (r >= 0) {
		r = journal_replay(st, l.endpoints);
		if (r < 0)
			log_error_errno(r, "Failed to read %s/%s: %m", st->dir, STATE_JOURNAL);
	}
	if (r < 0) {
		state_loaded_done(&l);
		return r;
	}
	*ret = l;
	return 0;
}
