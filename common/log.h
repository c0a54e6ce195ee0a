/* SPDX-License-Identifier: MIT */
#pragma once

#include <errno.h>
#include <syslog.h>

#include "macro.h"

/* Log level threshold (LOG_ERR .. LOG_DEBUG). Messages go to stderr with a "<N>" prefix
 * that journald understands when stderr is the journal stream. */
void log_set_level(int level);
int log_get_level(void);
void log_set_prefix(int enable);

/* Returns -abs(error) so callers can `return log_error_errno(r, "...: %m");`.
 * %m in the format expands to strerror(abs(error)). */
int log_internal(int level, int error, const char *file, int line, const char *fmt, ...)
	_printf_(5, 6);

#define log_full_errno(level, error, ...) \
	log_internal(level, error, __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)
