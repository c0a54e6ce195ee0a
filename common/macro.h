/* SPDX-License-Identifier: MIT */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _public_ __attribute__((visibility("default")))
#define _noreturn_ __attribute__((noreturn))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Hand ownership out of a _cleanup_ variable. */
#define TAKE_PTR(p)                      \
	({                               \
		__typeof__(p) _p_ = (p); \
		(p) = NULL;              \
		_p_;                     \
	})
#define TAKE_FD(fd)              \
	({                       \
		int _fd_ = (fd); \
		(fd) = -1;       \
		_fd_;            \
	})

/* libc convention (-1 + errno) to ours (-errno). */
#define RET_NERRNO(expr)                     \
	({                                   \
		long _r_ = (long)(expr);     \
		_r_ < 0 ? -errno : (int)_r_; \
	})

/* A NULL-skipping cleanup helper for destructors that are not NULL-safe. */
#define DEFINE_CLEANUP(type, func)                   \
	static inline _unused_ void func##p(type *p) \
	{                                            \
		if (*p)                              \
			func(*p);                    \
	}

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
#define _cleanup_close_ _cleanup_(closep)

static inline int safe_close(int fd)
{
	if (fd >= 0)
		close(fd);
	return -1;
}

#define streq(a, b) (strcmp((a), (b)) == 0)

/* qsort() and memcpy() declare their pointers nonnull even for zero elements; an empty array
 * here is often NULL (systemd's qsort_safe/memcpy_safe). */
static inline void qsort_safe(void *base, size_t n, size_t size,
			      int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

static inline void *memcpy_safe(void *dst, const void *src, size_t n)
{
	return n > 0 ? memcpy(dst, src, n) : dst;
}

/* A malloc'd copy of n bytes (n > 0); NULL when out of memory. */
static inline void *memdup(const void *p, size_t n)
{
	void *q = malloc(n);

	return q ? memcpy(q, p, n) : NULL;
}
