/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for segd-runc's rewrite of a bundle's config.json (oci-bundle.c): the
 * input is the config. Accepted: the result is within the bound, its length is right, and
 * rewriting it again changes nothing (our entries are found, every integer beyond int64
 * survived as itself). Refused: only for the documented reasons.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci-bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct oci_segd_hook h = {
		.path = "/usr/local/libexec/segd/segd-oci-hook",
		.socket = "/run/segd/segd.sock",
		.config = "/etc/segd/segd.conf",
		.timeout_ms = 1500,
	};
	char *out = NULL, *err = NULL, *again = NULL, *err2 = NULL;
	size_t out_len = 0, again_len = 0;
	bool changed = false, changed2 = true;
	int r;

	r = oci_bundle_add_hooks((const char *)data, size, &h, &out, &out_len, &changed, &err);
	if (r < 0) {
		if (r != -EFBIG && r != -EBADMSG && r != -ENOMEM)
			abort();
		if (out || (r != -ENOMEM && !err))
			abort();
		free(err);
		return 0;
	}
	if (!out || err || strlen(out) != out_len || out_len > OCI_BUNDLE_MAX_CONFIG_BYTES)
		abort();
	if (!changed && (out_len != size || memcmp(out, data, size)))
		abort();
	r = oci_bundle_add_hooks(out, out_len, &h, &again, &again_len, &changed2, &err2);
	if (r == -ENOMEM) {
		free(out);
		return 0;
	}
	/* idempotent: the second pass finds both entries and leaves the text as it is */
	if (r < 0 || changed2 || again_len != out_len || strcmp(again, out))
		abort();
	free(again);
	free(out);
	return 0;
}
