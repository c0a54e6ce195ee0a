/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fsutil.h"
#include "macro.h"

int mkdir_parents(const char *path, mode_t parent_mode)
{
	_cleanup_free_ char *p = strdup(path);
	char *last;

	if (!p)
		return -ENOMEM;
	last = strrchr(p, '/');
	if (!last || last == p)
		return 0;
	*last = 0;
	for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = 0;
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, parent_mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int format_utc_now(char *buf, size_t size, unsigned decimals)
{
	struct timespec ts;
	struct tm tm;
	size_t n;
	int k;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (!gmtime_r(&ts.tv_sec, &tm))
		return -EINVAL;
	n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	if (n == 0)
		return -EINVAL;
	if (decimals == 3)
		k = snprintf(buf + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000);
	else if (decimals == 6)
		k = snprintf(buf + n, size - n, ".%06ldZ", ts.tv_nsec / 1000);
	else
		k = snprintf(buf + n, size - n, "Z");
	return k < 0 || (size_t)k >= size - n ? -EINVAL : 0;
}

char *path_sibling(const char *path, const char *name)
{
	const char *slash = strrchr(path, '/');
	char *s;

	if (!slash)
		return strdup(name);
	if (asprintf(&s, "%.*s/%s", (int)(slash - path), path, name) < 0)
		return NULL;
	return s;
}
