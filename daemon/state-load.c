/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json-pos.h"
#include "log.h"
#include "macro.h"
#include "spec.h"
#include "state-internal.h"

/*
 * Loading the state dir, failing closed (docs/state.md): a stored endpoint that is not valid
 * but names its network namespace is quarantined; any other fault refuses the whole state,
 * with the file, line and column.
 */

/* read-only streams: nothing to flush */
static void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

/* ---- loading ---------------------------------------------------------------------------- */

static bool streq_ptr(const char *a, const char *b)
{
	return a && b && streq(a, b);
}

/* The whole file, NUL-terminated; -EFBIG over max bytes (told by its size, unread). */
static int read_file_bounded(const char *path, size_t max, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	struct stat sb;
	size_t n = 0;

	if (fd < 0 || fstat(fd, &sb) < 0)
		return -errno;
	if ((uint64_t)sb.st_size > max)
		return -EFBIG;
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (n < (size_t)sb.st_size) {
		ssize_t k = read(fd, buf + n, (size_t)sb.st_size - n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		n += (size_t)k;
	}
	buf[n] = 0;
	*ret = TAKE_PTR(buf);
	*ret_len = n;
	return 0;
}

/* One load: the text being read (state.json, or one journal line) and what it gave so far. */
struct loader {
	const char *path; /* of the file being read */
	const char *text; /* state.json, or the current journal line */
	size_t len;
	unsigned lineno; /* journal: the line's number; 0 for state.json */
	json_t *eps;	 /* name -> stored description */
	json_t *quar;	 /* netns -> {"name", "netns", "quarantined", "stored"}, "reason" */
};

/* "file:line:column" of offset off of the current text. */
static void where(const struct loader *ld, size_t off, char *buf, size_t size)
{
	unsigned line = 1, column = 1;

	if (off != JSON_POS_NONE)
		json_pos_line_col(ld->text, ld->len, off, &line, &column);
	if (ld->lineno)
		line = ld->lineno;
	snprintf(buf, size, "%s:%u:%u", ld->path, line, column);
}

/* A fault that no endpoint can answer for: nothing stored is used, segd does not start, and
 * every table in the kernel stays as it is. */
static int _printf_(3, 4) refuse(const struct loader *ld, size_t off, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	char pos[PATH_MAX + 32];
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	where(ld, off, pos, sizeof(pos));
	log_error("%s: %s", pos, msg);
	log_error("Refusing the state in %s: segd does not start, every table in the kernel stays "
		  "as it is (see segd(8), STATE FAULTS)",
		  ld->path);
	return -EBADMSG;
}

/* Text that is not JSON at all: jansson's own position. */
static int refuse_syntax(const struct loader *ld, const json_error_t *jerr, const char *what)
{
	log_error("%s:%d:%d: %s: %s", ld->path,
		  ld->lineno	   ? (int)ld->lineno
		  : jerr->line > 0 ? jerr->line
				   : 1,
		  jerr->column > 0 ? jerr->column : 1, what, jerr->text);
	log_error("Refusing the state in %s: segd does not start, every table in the kernel stays "
		  "as it is (see segd(8), STATE FAULTS)",
		  ld->path);
	return -EBADMSG;
}

/* The network namespace a stored value names, when it is a usable name. */
static const char *netns_of(json_t *v)
{
	const char *n = json_string_value(json_object_get(v, "netns"));

	return n && !policy_netns_name_invalid(n) ? n : NULL;
}

/* The offset of the field a spec message starts with ("labels: ...", "ports[1].name: ..."),
 * else of the value itself. */
static size_t field_at(const struct loader *ld, size_t off, json_t *v, const char *msg)
{
	char key[32];
	size_t n = strspn(msg, "abcdefghijklmnopqrstuvwxyz");
	size_t at;

	if (off == JSON_POS_NONE || n == 0 || n >= sizeof(key) || !strchr(":.[", msg[n]))
		return off;
	memcpy(key, msg, n);
	key[n] = 0;
	if (!json_object_get(v, key))
		return off;
	at = json_pos_find(ld->text, ld->len, off, &(struct json_step){ .key = key }, 1);
	return at == JSON_POS_NONE ? off : at;
}

/* Endpoint in netns is quarantined: whatever else was stored for that namespace goes, and
 * nothing later lifts it in this load. stored: what to keep (taken). */
static int _printf_(5, 6) quarantine(struct loader *ld, const char *netns_arg, json_t *stored,
				     size_t off, const char *fmt, ...)
{
	/* a copy: it may be the string of an entry dropped below */
	_cleanup_free_ char *netns = strdup(netns_arg);
	_cleanup_free_ char *msg = NULL, *reason = NULL;
	json_t *q, *v, *prior = json_object_get(stored, "quarantined");
	const char *key, *name = json_string_value(json_object_get(stored, "name"));
	char pos[PATH_MAX + 32];
	void *tmp;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	where(ld, off, pos, sizeof(pos));
	if (r < 0 || !netns || asprintf(&reason, "%s: %s", pos, msg) < 0) {
		json_decref(stored);
		return -ENOMEM;
	}
	log_error("%s; the endpoint in network namespace %s is quarantined (default-deny)", reason,
		  netns);
	if (json_object_get(ld->quar, netns)) {
		json_decref(stored);
		return 0;
	}
	json_object_foreach_safe(ld->eps, tmp, key, v)
	{
		if (streq_ptr(json_string_value(json_object_get(v, "netns")), netns))
			(void)json_object_del(ld->eps, key);
	}
	/* Quarantined at an earlier start: kept as it was, with its first reason. */
	q = json_is_string(prior)
		    ? json_pack("{s:s?, s:s, s:O, s:O?, s:s}", "name", name, "netns", netns,
				"quarantined", prior, "stored", json_object_get(stored, "stored"),
				"reason", reason)
		    : json_pack("{s:s?, s:s, s:s, s:O, s:s}", "name", name, "netns", netns,
				"quarantined", reason, "stored", stored, "reason", reason);
	json_decref(stored);
	if (!q || json_object_set_new(ld->quar, netns, q) < 0)
		return -ENOMEM;
	return 0;
}

/* The quarantine entry of endpoint name, if any. */
static json_t *quarantined_name(const struct loader *ld, const char *name)
{
	const char *key;
	json_t *q;

	json_object_foreach(ld->quar, key, q)
		if (streq_ptr(json_string_value(json_object_get(q, "name")), name))
			return q;
	return NULL;
}

/* The stored endpoint (other than name) in netns. */
static const char *netns_taken(const struct loader *ld, const char *netns, const char *name)
{
	const char *key;
	json_t *v;

	json_object_foreach(ld->eps, key, v)
		if (!streq(key, name) &&
		    streq_ptr(json_string_value(json_object_get(v, "netns")), netns))
			return key;
	return NULL;
}

/*
 * A stored endpoint v (at offset off of the current text; `what` names it in messages): kept,
 * quarantined, or refused (-EBADMSG). replace: a journal's put, which may replace an endpoint
 * of that name in the same namespace (a relabel).
 */
static int take_endpoint(struct loader *ld, json_t *v, size_t off, const char *what, bool replace)
{
	struct endpoint_spec spec = { 0 };
	struct op_error err = { 0 };
	const char *netns = netns_of(v), *other;
	json_t *old;
	int r;

	if (json_object_get(v, "quarantined")) {
		if (!netns || !json_is_string(json_object_get(v, "quarantined")))
			return refuse(ld, off, "%s: a quarantined endpoint without a usable netns",
				      what);
		return quarantine(ld, netns, json_incref(v), off,
				  "%s: quarantined at an earlier start: %s", what,
				  json_string_value(json_object_get(v, "quarantined")));
	}
	r = endpoint_spec_from_json(v, &spec, &err);
	if (r == -ENOMEM) {
		op_error_done(&err);
		return r;
	}
	if (r < 0) {
		size_t at = field_at(ld, off, v, err.message ? err.message : "");

		if (!netns)
			r = refuse(ld, at,
				   "%s: %s (and no usable netns: no namespace to contain it in)",
				   what, err.message ? err.message : "invalid");
		else
			r = quarantine(ld, netns, json_incref(v), at, "%s: %s", what,
				       err.message ? err.message : "invalid");
		op_error_done(&err);
		return r;
	}
	if (json_object_get(ld->quar, spec.netns) || quarantined_name(ld, spec.name)) {
		log_warning("%s:%u: %s: endpoint %s stays quarantined", ld->path, ld->lineno, what,
			    spec.name);
		endpoint_spec_done(&spec);
		return 0;
	}
	old = json_object_get(ld->eps, spec.name);
	other = netns_taken(ld, spec.netns, spec.name);
	if ((old && (!replace || !streq_ptr(netns_of(old), spec.netns))) || other) {
		const char *old_netns = old ? netns_of(old) : NULL;

		/* Which one is right cannot be told: every namespace involved is contained. */
		r = 0;
		if (old_netns && !streq(old_netns, spec.netns))
			r = quarantine(ld, old_netns, json_incref(old), off,
				       "%s: endpoint %s is stored twice", what, spec.name);
		if (r >= 0)
			r = quarantine(ld, spec.netns, json_incref(v), off, "%s: %s", what,
				       other ? "its network namespace is another endpoint's too"
					     : "its name is another endpoint's too");
		endpoint_spec_done(&spec);
		return r;
	}
	r = json_object_set(ld->eps, spec.name, v) < 0 ? -ENOMEM : 0;
	endpoint_spec_done(&spec);
	return r;
}

/* One journal line (without its newline). */
static int journal_line(struct loader *ld)
{
	json_auto_t *rec = NULL;
	json_t *desc, *name;
	const char *op, *netns, *n;
	json_error_t jerr;
	size_t off;

	rec = json_loadb(ld->text, ld->len, JSON_REJECT_DUPLICATES, &jerr);
	if (!rec)
		return refuse_syntax(ld, &jerr, "not JSON, no endpoint can be told from it");
	op = json_string_value(json_object_get(rec, "op"));
	desc = json_object_get(rec, "endpoint");
	name = json_object_get(rec, "name");
	if (json_is_object(rec) && streq_ptr(op, "put") && json_is_object(desc) && !name &&
	    json_object_size(rec) == 2) {
		off = json_pos_find(ld->text, ld->len, 0, &(struct json_step){ .key = "endpoint" },
				    1);
		return take_endpoint(ld, desc, off, "endpoint", true);
	}
	if (json_is_object(rec) && streq_ptr(op, "remove") && json_is_string(name) && !desc &&
	    json_object_size(rec) == 2) {
		json_t *q = quarantined_name(ld, json_string_value(name));

		/* Only a deletion (segctl endpoint delete) ends a quarantine. */
		if (q) {
			log_notice("%s:%u: quarantined endpoint %s was deleted", ld->path,
				   ld->lineno, json_string_value(name));
			(void)json_object_del(ld->quar,
					      json_string_value(json_object_get(q, "netns")));
		} else
			(void)json_object_del(ld->eps, json_string_value(name));
		return 0;
	}
	/* Not a record segd writes: quarantine the endpoint it names, if any. */
	netns = netns_of(desc);
	n = json_string_value(name) ?: json_string_value(json_object_get(desc, "name"));
	if (!netns && n && json_object_get(ld->eps, n))
		netns = netns_of(json_object_get(ld->eps, n));
	if (!netns && n && quarantined_name(ld, n))
		return 0; /* quarantined already */
	if (!netns)
		return refuse(ld, 0,
			      "not {\"op\": \"put\", \"endpoint\": {...}} or {\"op\": \"remove\", "
			      "\"name\": ...}, and it names no stored endpoint");
	return quarantine(ld, netns, json_incref(rec), 0,
			  "not {\"op\": \"put\", \"endpoint\": {...}} or {\"op\": \"remove\", "
			  "\"name\": ...}");
}

/* Replays state.journal over what state.json gave. */
static int journal_replay(struct state *st, struct loader *ld)
{
	_cleanup_free_ char *path = NULL, *line = NULL;
	_cleanup_(fclosep) FILE *f = NULL;
	size_t cap = 0, replayed = 0;
	uint64_t good = 0; /* bytes of complete lines */
	struct stat sb;
	ssize_t n;
	int r;

	if (asprintf(&path, "%s/%s", st->dir, STATE_JOURNAL) < 0)
		return -ENOMEM;
	f = fopen(path, "re");
	if (!f && errno != ENOENT)
		return log_error_errno(-errno, "Failed to open %s: %m", path);
	if (f && fstat(fileno(f), &sb) < 0)
		return -errno;
	if (f && (uint64_t)sb.st_size > STATE_MAX_BYTES)
		return log_error_errno(-EFBIG, "%s is over %u bytes, refusing it", path,
				       STATE_MAX_BYTES);

	ld->path = path;
	while (f && (n = getline(&line, &cap, f)) >= 0) {
		ld->lineno++;
		if (n == 0 || line[n - 1] != '\n') {
			/* The append of a change that never reached the kernel (it is written
			 * first): the change did not happen. */
			log_warning("%s:%u: incomplete last record (a crash while writing it), "
				    "skipped",
				    path, ld->lineno);
			break;
		}
		good += (uint64_t)n;
		ld->text = line;
		ld->len = (size_t)n - 1;
		r = journal_line(ld);
		if (r < 0)
			return r;
		replayed++;
	}
	if (f && ferror(f))
		return log_error_errno(-EIO, "Failed to read %s", path);
	if (replayed > 0)
		log_info("Replayed %zu record(s) of %s", replayed, path);
	/* Appends go after what was replayed, and the next fold empties it; a torn tail is
	 * cut off so that the next record starts a line of its own. */
	r = state_journal_open(st);
	if (r < 0)
		return r;
	if (st->journal_bytes > good) {
		if (ftruncate(st->journal_fd, (off_t)good) < 0)
			return -errno;
		st->journal_bytes = good;
	}
	return 0;
}

/* The stored objects: parsed from their own place in the text, so that diagnostics name the
 * line and column in state.json. */
static int load_objects(struct loader *ld, json_t *objs, struct policy_objects **ret)
{
	struct policy_diags diags = { 0 };
	_cleanup_free_ char *compact = NULL;
	size_t off =
		json_pos_find(ld->text, ld->len, 0, &(struct json_step){ .key = "objects" }, 1);
	size_t end = off == JSON_POS_NONE ? 0 : json_pos_value_end(ld->text, ld->len, off);
	const char *text = ld->text + off;
	unsigned line = 1, column = 1;
	int r;

	if (off == JSON_POS_NONE || end - off > POLICY_MAX_INPUT_BYTES) {
		/* Too large to parse in place: a compact copy (positions are its own). */
		compact = json_dumps(objs, JSON_COMPACT);
		if (!compact)
			return -ENOMEM;
		text = compact;
		off = 0;
		end = strlen(compact);
	} else
		json_pos_line_col(ld->text, ld->len, off, &line, &column);
	r = policy_parse(ld->path, text, end - off, ret, &diags);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		for (size_t k = 0; k < diags.n; k++) {
			const struct policy_diag *d = &diags.items[k];
			unsigned l = d->line ? d->line + line - 1 : line;
			unsigned c = d->line == 1 ? d->column + column - 1 : d->column;

			log_error("%s:%u:%u: objects%s%s: %s", ld->path, l, c ? c : 1,
				  d->path && d->path[0] ? "." : "", d->path ? d->path : "",
				  d->message);
		}
		policy_diags_done(&diags);
		return refuse(ld, off, "the stored policies are not valid");
	}
	return 0;
}

/* state.json into objects and the stored endpoints. */
static int load_file(struct state *st, struct loader *ld, struct policy_objects **ret_objs)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	json_auto_t *root = NULL;
	json_t *objs = NULL, *list = NULL, *v;
	json_error_t jerr;
	size_t len = 0, i;
	int version = 0, r;

	if (asprintf(&path, "%s/%s", st->dir, STATE_FILE) < 0)
		return -ENOMEM;
	r = read_file_bounded(path, STATE_MAX_BYTES, &text, &len);
	if (r == -EFBIG)
		return log_error_errno(r, "%s is over %u bytes, refusing it", path,
				       STATE_MAX_BYTES);
	if (r < 0)
		return log_error_errno(r, "Failed to read %s: %m", path);
	ld->path = path;
	ld->text = text;
	ld->len = len;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return refuse_syntax(ld, &jerr, "not valid JSON");
	if (json_unpack_ex(root, &jerr, JSON_STRICT, "{s:i, s:o, s:o}", "version", &version,
			   "objects", &objs, "endpoints", &list) < 0)
		return refuse(ld, 0, "not a segd state file (%s)", jerr.text);
	if (version != 1 && version != STATE_VERSION_CNP)
		return refuse(ld,
			      json_pos_find(text, len, 0, &(struct json_step){ .key = "version" },
					    1),
			      "version %d, not 1 or %d", version, STATE_VERSION_CNP);
	if (!json_is_array(list))
		return refuse(ld,
			      json_pos_find(text, len, 0, &(struct json_step){ .key = "endpoints" },
					    1),
			      "endpoints: not a list");
	r = load_objects(ld, objs, ret_objs);
	if (r < 0)
		return r;
	if (version == 1 && ((*ret_objs)->n_cnps > 0 || (*ret_objs)->n_nodes > 0)) {
		*ret_objs = policy_objects_free(*ret_objs);
		return refuse(ld,
			      json_pos_find(text, len, 0, &(struct json_step){ .key = "version" },
					    1),
			      "version 1 holds no ClusterNetworkPolicy or Node (version %d does)",
			      STATE_VERSION_CNP);
	}
	json_array_foreach(list, i, v) {
		char what[48];
		size_t off = json_pos_find(text, len, 0,
					   (struct json_step[]){ { .key = "endpoints" },
								 { .index = i } },
					   2);

		snprintf(what, sizeof(what), "endpoints[%zu]", i);
		r = take_endpoint(ld, v, off, what, false);
		if (r < 0) {
			policy_objects_free(*ret_objs);
			*ret_objs = NULL;
			return r;
		}
	}
	st->state_bytes = len;
	ld->text = NULL;
	ld->len = 0;
	return 0;
}

/* The quarantined, by the name each gets: the stored one when it is usable and free. */
static int name_quarantined(struct state *st, struct loader *ld, json_t *ret)
{
	const char *netns;
	json_t *q;
	unsigned k = 0;

	json_decref(st->quarantined);
	st->quarantined = json_object();
	if (!st->quarantined)
		return -ENOMEM;
	json_object_foreach(ld->quar, netns, q) {
		const char *stored = json_string_value(json_object_get(q, "name"));
		json_auto_t *reason = json_incref(json_object_get(q, "reason"));
		char name[POLICY_MAX_NS_NAME + 1];

		/* a copy: q's own "name" is replaced below */
		if (stored && !policy_dns_label_invalid(stored) &&
		    !json_object_get(ld->eps, stored) && !json_object_get(ret, stored))
			snprintf(name, sizeof(name), "%s", stored);
		else
			do
				snprintf(name, sizeof(name), "quarantined-%u", k++);
			while (json_object_get(ld->eps, name) || json_object_get(ret, name));
		(void)json_object_del(q, "reason");
		if (json_object_set_new(q, "name", json_string(name)) < 0 ||
		    json_object_set(st->quarantined, name, q) < 0 ||
		    json_object_set_new(ret, name,
					json_pack("{s:s, s:O}", "netns", netns, "reason", reason)) <
			    0)
			return -ENOMEM;
	}
	return 0;
}

int state_load(struct state *st, struct state_loaded *ret)
{
	_cleanup_free_ char *spath = NULL, *jpath = NULL, *prev = NULL;
	struct state_loaded l = { .endpoints = json_object(), .quarantined = json_object() };
	struct loader ld = { .eps = l.endpoints, .quar = json_object() };
	bool have_state, have_journal;
	int r;

	if (!l.endpoints || !l.quarantined || !ld.quar ||
	    asprintf(&spath, "%s/%s", st->dir, STATE_FILE) < 0 ||
	    asprintf(&jpath, "%s/%s", st->dir, STATE_JOURNAL) < 0 ||
	    asprintf(&prev, "%s/%s", st->dir, STATE_PREV) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	st->journal_fd = safe_close(st->journal_fd); /* learnt anew below */
	st->journal_bytes = 0;
	/* A change persisted but not settled before a crash: state.json is the newer state. */
	(void)unlink(prev);
	have_state = access(spath, F_OK) == 0;
	have_journal = access(jpath, F_OK) == 0;
	if (!have_state && have_journal) {
		log_error("%s: missing, but %s exists: the state it holds changes to is lost",
			  spath, jpath);
		r = refuse(&(struct loader){ .path = jpath, .lineno = 1 }, JSON_POS_NONE,
			   "a journal without its %s (restore it, or see segd(8), STATE FAULTS)",
			   STATE_FILE);
		goto fail;
	}
	if (!have_state) {
		/* A fresh dir: from now on state.json is always there. */
		r = state_write_file(st, &(struct store){ 0 }, &(struct registry){ 0 }, false);
		if (r < 0) {
			log_error_errno(r, "Failed to create %s: %m", spath);
			goto fail;
		}
	}
	r = load_file(st, &ld, &l.objects);
	if (r >= 0)
		r = journal_replay(st, &ld);
	if (r >= 0)
		r = name_quarantined(st, &ld, l.quarantined);
	if (r < 0)
		goto fail;
	json_decref(ld.quar);
	st->pending = STATE_PENDING_NONE;
	*ret = l;
	return 0;
fail:
	json_decref(ld.quar);
	state_loaded_done(&l);
	return r;
}
