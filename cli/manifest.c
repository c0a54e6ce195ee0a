/* SPDX-License-Identifier: MIT */
#include "manifest.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <policy/policy.h>

#include "client.h"
#include "print.h"

static int read_bounded(int fd, char **ret, size_t *ret_len)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;

	for (;;) {
		ssize_t n;

		if (len == cap) {
			/* Room for one byte past the limit tells "exactly the limit" from "over". */
			size_t ncap = cap ? cap * 2 : 65536;
			char *p;

			if (ncap > POLICY_MAX_INPUT_BYTES + 1)
				ncap = POLICY_MAX_INPUT_BYTES + 1;
			if (ncap == cap)
				return -EFBIG;
			p = realloc(buf, ncap + 1);
			if (!p)
				return -ENOMEM;
			buf = p;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > POLICY_MAX_INPUT_BYTES)
		return -EFBIG;
	if (!buf) {
		buf = malloc(1);
		if (!buf)
			return -ENOMEM;
	}
	buf[len] = 0;
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

int manifest_read(const char *path, struct manifest *ret)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	char *data;
	size_t len;
	int r;

	if (streq(path, "-"))
		r = read_bounded(STDIN_FILENO, &data, &len);
	else {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			r = -errno;
			fprintf(stderr, "segctl: cannot open %s: %s\n", path, strerror(-r));
			return r;
		}
		if (fstat(fd, &st) < 0) {
			r = -errno;
			fprintf(stderr, "segctl: cannot stat %s: %s\n", path, strerror(-r));
			return r;
		}
		if (S_ISDIR(st.st_mode)) {
			fprintf(stderr, "segctl: %s: is a directory\n", path);
			return -EISDIR;
		}
		r = read_bounded(fd, &data, &len);
	}
	if (r == -EFBIG) {
		fprintf(stderr, "segctl: %s: larger than the %u MiB limit\n", path,
			POLICY_MAX_INPUT_BYTES >> 20);
		return r;
	}
	if (r < 0) {
		fprintf(stderr, "segctl: cannot read %s: %s\n", path, strerror(-r));
		return r;
	}
	*ret = (struct manifest){ .name = path, .data = data, .len = len };
	return 0;
}

void manifest_done(struct manifest *m)
{
	free(m->data);
	m->data = NULL;
}

int manifest_send(const struct segctl *c, const char *route, const struct manifest *m, bool dry_run,
		  json_t **ret)
{
	_cleanup_free_ char *file = client_escape(m->name), *path = NULL;
	const char *p = m->data;

	if (!file)
		return -ENOMEM;
	if (asprintf(&path, "%s?file=%s%s", route, file, dry_run ? "&dryRun=true" : "") < 0)
		return -ENOMEM;
	/* a UTF-8 byte order mark is not content (segd drops it, as kubectl does) */
	if (m->len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (p < m->data + m->len && isspace((unsigned char)*p))
		p++;
	return client_call(c, "POST", path,
			   *p == '{' || *p == '[' ? "application/json" : "application/yaml",
			   m->data, m->len, ret);
}

void manifest_print_objects(json_t *list, const char *action, bool dry_run)
{
	json_t *o;
	size_t i;

	json_array_foreach(list, i, o) {
		_cleanup_free_ char *kind = strdup(json_str(o, "kind", "object"));
		const char *ns = json_str(o, "namespace", NULL);

		if (!kind)
			return;
		for (char *k = kind; *k; k++)
			*k = (char)tolower((unsigned char)*k);
		print_sanitized(stdout, kind);
		fputc('/', stdout);
		if (ns && *ns) {
			print_sanitized(stdout, ns);
			fputc('/', stdout);
		}
		print_sanitized(stdout, json_str(o, "name", "?"));
		fputc(' ', stdout);
		print_sanitized(stdout, action ? action : json_str(o, "action", "applied"));
		fputs(dry_run ? " (dry run)\n" : "\n", stdout);
	}
}
