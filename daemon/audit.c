/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "fsutil.h"
#include "log.h"
#include "macro.h"

struct audit {
	char *path;
	int fd;
	uint64_t seq, last_seq;
	/* the request being served */
	bool active;
	uid_t uid;
	pid_t pid;
	char *request, *file;
	json_t *changes;
	const char *node;
};

static int file_open(struct audit *a)
{
	int r, fd;

	r = mkdir_parents(a->path, 0750);
	if (r < 0)
		return r;
	fd = open(a->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	safe_close(a->fd);
	a->fd = fd;
	return 0;
}

int audit_open(const char *path, struct audit **ret)
{
	struct audit *a = calloc(1, sizeof(*a));
	int r;

	if (!a)
		return -ENOMEM;
	a->fd = -1;
	if (path) {
		a->path = strdup(path);
		if (!a->path) {
			free(a);
			return -ENOMEM;
		}
		r = file_open(a);
		if (r < 0) {
			log_error_errno(r, "Failed to open the audit log %s: %m", path);
			audit_free(a);
			return r;
		}
	}
	*ret = a;
	return 0;
}

int audit_reopen(struct audit *a)
{
	return a && a->path ? file_open(a) : 0;
}

struct audit *audit_free(struct audit *a)
{
	if (!a)
		return NULL;
	audit_end(a);
	safe_close(a->fd);
	free(a->path);
	free(a);
	return NULL;
}

void audit_begin(struct audit *a, uid_t uid, pid_t pid, const char *method, const char *url,
		 const char *file)
{
	if (!a)
		return;
	audit_end(a);
	a->active = true;
	a->uid = uid;
	a->pid = pid;
	if (asprintf(&a->request, "%s %s", method, url) < 0)
		a->request = NULL;
	a->file = file ? strdup(file) : NULL;
}

void audit_end(struct audit *a)
{
	if (!a)
		return;
	audit_discard(a);
	a->active = false;
	free(a->request);
	free(a->file);
	a->request = a->file = NULL;
}

bool audit_active(const struct audit *a)
{
	return a && a->active && a->fd >= 0;
}

void audit_change(struct audit *a, const char *kind, const char *ns, const char *name,
		  const char *action, json_t *before, json_t *after)
{
	json_t *c;

	if (!audit_active(a)) {
		json_decref(before);
		json_decref(after);
		return;
	}
	if (!a->changes)
		a->changes = json_array();
	c = json_pack("{s:s, s:s?, s:s, s:s, s:o, s:o}", "kind", kind, "namespace", ns, "name",
		      name, "action", action, "before", before ? before : json_null(), "after",
		      after ? after : json_null());
	if (!c || json_array_append_new(a->changes, c) < 0)
		log_error("Out of memory recording a change for the audit log");
}

static json_t *now_json(void)
{
	char buf[40];

	return format_utc_now(buf, sizeof(buf), 3) < 0 ? json_null() : json_string(buf);
}

/* The caller's command name, as /proc shows it (it may have exited: null). */
static json_t *comm_json(pid_t pid)
{
	char path[64], comm[64];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return json_null();
	n = read(fd, comm, sizeof(comm) - 1);
	if (n <= 0)
		return json_null();
	comm[n] = 0;
	comm[strcspn(comm, "\n")] = 0;
	return json_string(comm);
}

static int write_line(struct audit *a, json_t *rec)
{
	_cleanup_free_ char *line = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
	size_t len, off = 0;

	if (!line)
		return -ENOMEM;
	len = strlen(line);
	line[len++] = '\n'; /* the NUL: written by length */
	while (off < len) {
		ssize_t k = write(a->fd, line + off, len - off);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (size_t)k;
	}
	return fdatasync(a->fd) < 0 ? -errno : 0;
}

void audit_set_node(struct audit *a, const char *node)
{
	if (a)
		a->node = node;
}

int audit_commit(struct audit *a)
{
	json_auto_t *rec = NULL;
	int r;

	if (!audit_active(a) || json_array_size(a->changes) == 0) {
		/* no record of this change: a rollback has none to name either */
		if (a)
			a->last_seq = 0;
		audit_discard(a);
		return 0;
	}
	rec = json_pack("{s:o, s:I, s:I, s:i, s:o, s:s?, s:s?, s:O}", "time", now_json(), "seq",
			(json_int_t)(a->seq + 1), "uid", (json_int_t)a->uid, "pid", (int)a->pid,
			"comm", comm_json(a->pid), "request", a->request, "file", a->file,
			"changes", a->changes);
	if (rec && a->node)
		json_object_set_new(rec, "node", json_string(a->node));
	if (!rec)
		return -ENOMEM;
	r = write_line(a, rec);
	if (r < 0)
		return log_error_errno(r, "Failed to write the audit log %s: %m", a->path);
	a->last_seq = ++a->seq;
	audit_discard(a);
	return 0;
}

void audit_rolled_back(struct audit *a, const char *error)
{
	json_auto_t *rec = NULL;

	if (!a || a->fd < 0 || a->last_seq == 0)
		return;
	rec = json_pack("{s:o, s:I, s:s}", "time", now_json(), "seq_rolled_back",
			(json_int_t)a->last_seq, "error", error ? error : "");
	if (rec && write_line(a, rec) < 0)
		log_error("Failed to record a rollback in the audit log %s", a->path);
}

uint64_t audit_records(const struct audit *a)
{
	return a ? a->seq : 0;
}

void audit_discard(struct audit *a)
{
	if (!a)
		return;
	json_decref(a->changes);
	a->changes = NULL;
}
