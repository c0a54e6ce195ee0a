/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "fsutil.h"
#include "log.h"
#include "macro.h"
#include "manager-internal.h"
#include "manager.h"
#include "state.h"

int manager_restore_endpoint(struct manager *m, json_t *desc);
int manager_restore_objects(struct manager *m, struct policy_objects *objs);
void manager_forget_endpoint(struct manager *m, const char *name);

/* read-only streams: nothing to flush */
static void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

static json_t *text_to_json(char *text)
{
	json_t *o = text ? json_loads(text, 0, NULL) : NULL;

	free(text);
	return o;
}

static json_t *endpoint_desc(const struct endpoint *e)
{
	json_t *labels = json_object(), *ports = json_array();

	for (size_t i = 0; labels && i < e->pe.labels.n; i++)
		json_object_set_new(labels, e->pe.labels.items[i].key,
				    json_string(e->pe.labels.items[i].value));
	for (size_t i = 0; ports && i < e->pe.n_ports; i++)
		json_array_append_new(ports, json_pack("{s:s, s:i, s:s}", "name", e->pe.ports[i].name,
						       "port", e->pe.ports[i].port, "protocol",
						       policy_proto_to_string(e->pe.ports[i].proto)));
	return json_pack("{s:s, s:s, s:s, s:o, s:o}", "name", e->pe.name, "netns", e->netns,
			 "namespace", e->pe.namespace, "labels", labels, "ports", ports);
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

int state_save(struct manager *m)
{
	json_auto_t *root = NULL;
	json_t *items, *eps;
	_cleanup_free_ char *text = NULL, *tmp = NULL, *path = NULL;
	_cleanup_close_ int fd = -1, dfd = -1;
	int r;

	items = json_array();
	eps = json_array();
	root = json_pack("{s:i, s:{s:s, s:s, s:o}, s:o}", "version", 1, "objects", "apiVersion", "v1",
			 "kind", "List", "items", items, "endpoints", eps);
	if (!root)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_namespaces; i++)
		if (json_array_append_new(items, text_to_json(policy_namespace_to_json(m->namespaces[i]))) < 0)
			return -ENOMEM;
	for (size_t i = 0; i < m->n_netpols; i++)
		if (json_array_append_new(items, text_to_json(policy_netpol_to_json(m->netpols[i]))) < 0)
			return -ENOMEM;
	/* Container endpoints are not stored: the engine is their source of truth, and a
	 * restarted segd lists the containers again (their tables stay meanwhile). */
	for (size_t i = 0; i < m->n_endpoints; i++)
		if (m->endpoints[i]->kind == ENDPOINT_KIND_NETNS &&
		    json_array_append_new(eps, endpoint_desc(m->endpoints[i])) < 0)
			return -ENOMEM;

	text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	if (!text)
		return -ENOMEM;
	if (asprintf(&path, "%s/%s", m->cfg.state_dir, STATE_FILE) < 0 ||
	    asprintf(&tmp, "%s/.%s.tmp", m->cfg.state_dir, STATE_FILE) < 0)
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
	dfd = open(m->cfg.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		(void)fsync(dfd);
	m->state_bytes = strlen(text);

	/* state.json now holds everything the journal said. */
	if (m->journal_fd >= 0 && m->journal_bytes > 0) {
		if (ftruncate(m->journal_fd, 0) < 0 || fdatasync(m->journal_fd) < 0) {
			/* Replaying it over the new state is harmless; start a new one later. */
			log_warning_errno(-errno, "Failed to empty %s, ignoring: %m", STATE_JOURNAL);
			m->journal_fd = safe_close(m->journal_fd);
		}
		m->journal_bytes = 0;
	}
	return 0;
}

static int journal_open(struct manager *m)
{
	_cleanup_free_ char *path = NULL;
	struct stat st;
	int fd;

	if (m->journal_fd >= 0)
		return 0;
	if (asprintf(&path, "%s/%s", m->cfg.state_dir, STATE_JOURNAL) < 0)
		return -ENOMEM;
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int r = -errno;

		safe_close(fd);
		return r;
	}
	m->journal_fd = fd;
	m->journal_bytes = (uint64_t)st.st_size;
	return 0;
}

int state_record_endpoint(struct manager *m, const struct endpoint *e, bool removed)
{
	json_auto_t *rec = NULL;
	_cleanup_free_ char *line = NULL;
	size_t len;
	int r;

	/* Containers are not stored (see state_save); a journal past state.json's size is
	 * folded into a new state.json. */
	if (e->kind != ENDPOINT_KIND_NETNS)
		return 0;
	if (m->journal_bytes >= STATE_JOURNAL_MIN && m->journal_bytes >= m->state_bytes)
		return state_save(m);
	r = journal_open(m);
	if (r < 0)
		return r;

	rec = removed ? json_pack("{s:s, s:s}", "op", "remove", "name", e->pe.name)
		      : json_pack("{s:s, s:o}", "op", "put", "endpoint", endpoint_desc(e));
	if (!rec)
		return -ENOMEM;
	line = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!line)
		return -ENOMEM;
	len = strlen(line);
	line[len] = '\n';	/* replaces the NUL; written with its length */
	r = write_all(m->journal_fd, line, len + 1);
	if (r >= 0 && fdatasync(m->journal_fd) < 0)
		r = -errno;
	if (r < 0) {
		/* Leave no torn line for the next record to follow. */
		if (ftruncate(m->journal_fd, (off_t)m->journal_bytes) < 0)
			m->journal_fd = safe_close(m->journal_fd);
		return r;
	}
	m->journal_bytes += len + 1;
	return 0;
}

void state_close(struct manager *m)
{
	m->journal_fd = safe_close(m->journal_fd);
}

/* Replays state.journal over what state.json gave. */
static int journal_replay(struct manager *m)
{
	_cleanup_free_ char *path = NULL, *line = NULL;
	_cleanup_(fclosep) FILE *f = NULL;
	size_t cap = 0, lineno = 0, replayed = 0;
	uint64_t good = 0;	/* bytes of complete lines */
	struct stat st;
	ssize_t n;
	int r;

	if (asprintf(&path, "%s/%s", m->cfg.state_dir, STATE_JOURNAL) < 0)
		return -ENOMEM;
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fileno(f), &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size > STATE_MAX_BYTES)
		return log_error_errno(-EFBIG, "%s is over %u bytes, refusing it", path,
				       STATE_MAX_BYTES);

	while ((n = getline(&line, &cap, f)) >= 0) {
		json_auto_t *rec = NULL;
		json_t *desc = NULL;
		const char *op = NULL, *name = NULL;
		json_error_t jerr;

		lineno++;
		if (n == 0 || line[n - 1] != '\n') {
			log_warning("%s:%zu: incomplete last record (a crash while writing it), "
				    "skipped", path, lineno);
			break;
		}
		good += (uint64_t)n;
		rec = json_loadb(line, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
		if (!rec || json_unpack_ex(rec, &jerr, JSON_STRICT, "{s:s, s?s, s?o}", "op", &op,
					   "name", &name, "endpoint", &desc) < 0 ||
		    (streq(op, "put") ? !desc || name : !streq(op, "remove") || !name || desc)) {
			log_warning("%s:%zu:%d: invalid record, skipped: %s", path, lineno,
				    jerr.column, rec ? "unknown operation" : jerr.text);
			continue;
		}
		if (desc) {
			const char *ename = NULL;

			if (json_unpack(desc, "{s:s}", "name", &ename) == 0)
				manager_forget_endpoint(m, ename);
			if (manager_restore_endpoint(m, desc) < 0)
				return -ENOMEM;
		} else
			manager_forget_endpoint(m, name);
		replayed++;
	}
	if (ferror(f))
		return -EIO;
	if (replayed > 0)
		log_info("Replayed %zu record(s) of %s", replayed, path);
	/* Appends go after what was replayed, and the next full write empties it; a torn tail
	 * is cut off so that the next record starts a line of its own. */
	r = journal_open(m);
	if (r < 0)
		return r;
	if (m->journal_bytes > good) {
		if (ftruncate(m->journal_fd, (off_t)good) < 0)
			return -errno;
		m->journal_bytes = good;
	}
	return 0;
}

int state_load(struct manager *m)
{
	_cleanup_free_ char *path = NULL, *objs_text = NULL;
	json_auto_t *root = NULL;
	json_t *objs = NULL, *eps = NULL, *v;
	struct policy_objects *parsed = NULL;
	struct policy_diags diags = { 0 };
	json_error_t jerr;
	struct stat st;
	int version = 0, r;
	size_t i;

	{
		_cleanup_free_ char *probe = NULL;

		/* mkdir -p of the state dir, the last component private to root */
		if (asprintf(&probe, "%s/%s", m->cfg.state_dir, STATE_FILE) < 0)
			return -ENOMEM;
		r = mkdir_parents(probe, 0700);
		if (r < 0)
			return r;
	}
	if (asprintf(&path, "%s/%s", m->cfg.state_dir, STATE_FILE) < 0)
		return -ENOMEM;
	if (stat(path, &st) < 0) {
		if (errno == ENOENT) {
			/* Registrations may have gone to the journal alone so far. */
			r = journal_replay(m);
			if (r < 0)
				return log_error_errno(r, "Failed to read %s/%s: %m",
						       m->cfg.state_dir, STATE_JOURNAL);
			if (m->n_endpoints == 0)
				log_info("No state in %s, starting empty", m->cfg.state_dir);
			return 0;
		}
		return -errno;
	}
	if ((size_t)st.st_size > STATE_MAX_BYTES)
		return log_error_errno(-EFBIG, "%s is over %u bytes, refusing it", path,
				       STATE_MAX_BYTES);

	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return log_error_errno(-EBADMSG, "%s:%d:%d: %s", path, jerr.line, jerr.column,
				       jerr.text);
	if (json_unpack_ex(root, &jerr, JSON_STRICT, "{s:i, s:o, s:o}", "version", &version,
			   "objects", &objs, "endpoints", &eps) < 0 ||
	    version != 1 || !json_is_array(eps))
		return log_error_errno(-EBADMSG, "%s: not a segd state file (%s)", path, jerr.text);

	/* Stored objects pass the same parser and validation as user input. */
	objs_text = json_dumps(objs, JSON_COMPACT);
	if (!objs_text)
		return -ENOMEM;
	r = policy_parse(path, objs_text, strlen(objs_text), &parsed, &diags);
	if (r < 0) {
		for (size_t k = 0; k < diags.n; k++) {
			_cleanup_free_ char *s = policy_diag_format(&diags.items[k]);

			log_error("%s", s ? s : "invalid stored object");
		}
		policy_diags_done(&diags);
		return log_error_errno(r, "Refusing the stored policies in %s", path);
	}
	r = manager_restore_objects(m, parsed);
	if (r < 0)
		return r;

	json_array_foreach(eps, i, v) {
		r = manager_restore_endpoint(m, v);
		if (r < 0)
			return r;
	}
	m->state_bytes = (uint64_t)st.st_size;
	r = journal_replay(m);
	if (r < 0)
		return log_error_errno(r, "Failed to read %s/%s: %m", m->cfg.state_dir, STATE_JOURNAL);
	log_info("Loaded state: %zu namespace(s), %zu policies, %zu endpoint(s)", m->n_namespaces,
		 m->n_netpols, m->n_endpoints);
	return 0;
}
