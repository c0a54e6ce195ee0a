/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include "containers.h"

/*
 * The Docker Engine API's answers (which Podman serves too) as segd reads them: pure, every
 * input hostile. Strings with embedded NULs are refused where they are used, a label no
 * selector could name is left out or made unmatchable (parse_labels), a bad segd.io/ label
 * quarantines its container rather than dropping it, and sizes are bounded.
 */
#define ENGINE_MAX_CONTAINERS 65536
#define ENGINE_MAX_LABEL_VALUE POLICY_MAX_LABEL_VALUE_TEXT
/* The value of an engine label whose value is no Kubernetes label value: no selector value can
 * equal it ('<' is no label character), while the key is there for Exists and NotIn. */
#define ENGINE_LABEL_UNMATCHABLE "<not-a-label-value>"

/* GET /containers/json: the valid container ids (*ret NULL-terminated; invalid entries are
 * skipped and counted in *ret_skipped). -EBADMSG if it is not an array of at most
 * ENGINE_MAX_CONTAINERS; *reterr (static) says why. */
int engine_parse_list(const char *buf, size_t len, char ***ret, size_t *ret_n, size_t *ret_skipped,
		      const char **reterr);
/* One line of GET /events: 1 and *ret_id for a container event, 0 for another type, -EBADMSG
 * for a line that is no event or has no valid id (*reterr says which). */
int engine_parse_event(const char *line, size_t len, char **ret_id, const char **reterr);
/* GET /containers/ID/json into *ret (id, name, state, pid, network mode, sandbox key, labels).
 * -EBADMSG if malformed or about another id. */
int engine_parse_inspect(const char *buf, size_t len, const char *id, struct container_info *ret);
/* Container names as engines allow them: [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 128. */
bool engine_container_name_valid(const char *s);
void engine_strv_free(char **v);
