/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the fd holder's requests (fdstore_proto_serve, which parses with
 * fdstore_proto_parse): input byte 0 says how many fds come with the message (bits 0-1), whether
 * the holder already holds four (bit 2) and whether its bound is 4 rather than 16 (bit 3); the
 * rest is the message. Whatever comes in: an error changes nothing, the bound holds, every fd
 * that came with the message is either held or closed, and what the holder would hand back
 * parses again. Real fds (copies of /dev/null), so that a leak or a double close shows.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdstore-proto.h"
#include "fdtable.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* Is fd one of the table's? */
static bool held(const struct fdtable *t, int fd)
{
	for (size_t i = 0; i < fdtable_size(t); i++)
		if (fdtable_fd(t, i) == fd)
			return true;
	return false;
}

/* Everything the holder would send back parses, names and fds in step. */
static void check_batches(const struct fdtable *t)
{
	static uint8_t buf[FDSTORE_PROTO_MSG_MAX];
	int fds[FDSTORE_PROTO_FDS_MAX];
	size_t cursor = 0, total = 0, n_fds = 0, len;

	while ((len = fdstore_proto_batch(t, &cursor, buf, fds, &n_fds)) > 0) {
		struct fdstore_msg m;

		if (fdstore_proto_parse(buf, len, n_fds, &m) < 0 || m.type != FDSTORE_MSG_FDS)
			abort();
		for (size_t i = 0; i < m.count; i++)
			if (fdtable_find(t, m.names[i], m.name_lens[i]) < 0 || !held(t, fds[i]))
				abort();
		total += m.count;
	}
	if (total != fdtable_size(t))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fdtable *t;
	static int devnull = -1;
	char names_before[4][8];
	int fds[3];
	size_t n_fds, max, before;
	uint32_t seq = 0;
	int r;

	if (size < 1)
		return 0;
	if (!t && fdtable_new(&t) < 0)
		abort();
	if (devnull < 0)
		devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0)
		abort();
	n_fds = data[0] & 3;
	if (n_fds == 3)
		n_fds = 2 + (size & 1); /* three is rare but possible */
	max = data[0] & 8 ? 4 : 16;
	if (data[0] & 4)
		for (int i = 0; i < 4; i++) {
			snprintf(names_before[i], sizeof(names_before[i]), "n%d", i);
			if (fdtable_set(t, names_before[i], 2,
					fcntl(devnull, F_DUPFD_CLOEXEC, 3)) != 1)
				abort();
		}
	before = fdtable_size(t);
	for (size_t i = 0; i < n_fds; i++)
		fds[i] = fcntl(devnull, F_DUPFD_CLOEXEC, 3);

	r = fdstore_proto_serve(t, max, data + 1, size - 1, fds, n_fds, &seq);

	if (r > 0 || r < -4095)
		abort();
	if (r < 0 && fdtable_size(t) != before)
		abort(); /* a refused request changes nothing */
	if (fdtable_size(t) > (before > max ? before : max))
		abort();
	for (size_t i = 0; i < n_fds; i++)
		if (fd_open(fds[i]) != (r == 0 && held(t, fds[i])))
			abort(); /* neither held nor closed, or held after a refusal */
	check_batches(t);

	fdtable_clear(t);
	for (size_t i = 0; i < n_fds; i++)
		if (fd_open(fds[i]))
			abort();
	return 0;
}
