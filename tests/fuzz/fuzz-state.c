/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the state dir (state.c): the input, up to its first NUL byte, is
 * state.json (none if the input starts with NUL), and what follows the NUL is state.journal
 * (none without a NUL). state_load() reads them as segd does at start; then every endpoint it
 * returns goes through endpoint_spec_from_json() as ops_restore() does. What loads is a model
 * (objects, an object of endpoint descriptions by name), and the journal left behind is the
 * prefix of whole lines of what was there (a torn tail is cut off, nothing else changes).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "spec.h"
#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], state_path[96], journal_path[96];

static void write_file(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		abort();
	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k <= 0)
			abort();
		p += k;
		n -= (size_t)k;
	}
	close(fd);
}

static void check_journal(const uint8_t *j, size_t n)
{
	static uint8_t buf[1 << 20];
	size_t whole = 0;
	ssize_t k;
	int fd;

	for (size_t i = 0; i < n; i++)
		if (j[i] == '\n')
			whole = i + 1;
	fd = open(journal_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		abort(); /* opened (created) for appending once loaded */
	k = read(fd, buf, sizeof(buf));
	close(fd);
	/* Only a last line without its newline (torn) can be cut off. */
	if (k < 0 || (size_t)k != whole || memcmp(buf, j, whole) != 0)
		abort();
}

static void restore(json_t *endpoints)
{
	const char *key;
	json_t *desc;

	if (!json_is_object(endpoints))
		abort();
	json_object_foreach(endpoints, key, desc) {
		struct endpoint_spec spec = { 0 };
		struct op_error err = { 0 };

		if (endpoint_spec_from_json(desc, &spec, &err) == 0) {
			if (policy_dns_label_invalid(spec.name) ||
			    policy_netns_name_invalid(spec.netns))
				abort();
			endpoint_spec_done(&spec);
		} else if (!err.message) {
			abort();
		}
		op_error_done(&err);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t state_len = nul ? (size_t)(nul - data) : size;
	struct state_loaded l = { 0 };
	struct state *st = NULL;
	int r;

	if (size > (1 << 20))
		return 0;
	if (!dir[0]) {
		const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

		snprintf(dir, sizeof(dir), "%s/segd-fuzz-state-XXXXXX", base);
		if (!mkdtemp(dir))
			abort();
		snprintf(state_path, sizeof(state_path), "%s/%s", dir, STATE_FILE);
		snprintf(journal_path, sizeof(journal_path), "%s/%s", dir, STATE_JOURNAL);
		log_set_level(-1);
	}
	(void)unlink(state_path);
	(void)unlink(journal_path);
	if (state_len > 0)
		write_file(state_path, data, state_len);
	if (nul)
		write_file(journal_path, nul + 1, size - state_len - 1);

	if (state_open(dir, &st) < 0)
		abort();
	r = state_load(st, &l);
	if (r == 0) {
		if (!l.objects)
			abort();
		restore(l.endpoints);
		if (nul)
			check_journal(nul + 1, size - state_len - 1);
		state_loaded_done(&l);
	} else if (r == -EIO || r == -ENOENT || r == -EACCES || r == -EISDIR) {
		abort(); /* refused as invalid, never as an I/O error on a readable dir */
	}
	state_free(st);
	return 0;
}
