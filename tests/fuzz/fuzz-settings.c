/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the config file (settings_parse_text): whatever it accepts is in range. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <syslog.h>

#include "settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct settings s;
	char *err = NULL;
	int r;

	settings_init(&s);
	r = settings_parse_text(&s, "fuzz.conf", (const char *)data, size, &err);
	if (r == -EINVAL && !err)
		abort(); /* a refusal says why */
	if (r == 0) {
		if (s.resync_interval_s < 1 || s.resync_interval_s > 86400 ||
		    s.flow_log_max_bytes < (1u << 20) || s.flow_log_max_bytes > (65536ull << 20) ||
		    s.log_level < LOG_ERR || s.log_level > LOG_DEBUG || !s.socket_path ||
		    s.socket_path[0] != '/' || !s.state_dir || s.state_dir[0] != '/')
			abort();
	}
	free(err);
	settings_done(&s);
	return 0;
}
