/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "endpoint.h"
#include "errlog.h"
#include "error.h"
#include "reconcile.h"
#include "registry.h"

/*
 * Containers as endpoints. A container endpoint is a network namespace (pinned by fd, keyed by
 * its inode) and the containers that share it: one for a plain container, several for a pod or
 * `--network container:X`. Its labels are the union of its containers' labels, its namespace
 * comes from the label segd.io/namespace (else io.kubernetes.pod.namespace, else Compose's
 * com.docker.compose.project, else "default"),
 * its named ports from segd.io/ports ("name=PORT/PROTO,...").
 *
 * Fail closed: while any of its containers' labels are unknown (the OCI hook saw it before the
 * engine did) or unusable, the endpoint is quarantined: default-deny both ways, and not anyone's
 * peer. The engine's report lifts the quarantine. Nothing here reconciles: callers do, once.
 */
#define CONTAINER_LABEL_NAMESPACE "segd.io/namespace"
#define CONTAINER_LABEL_K8S_NAMESPACE "io.kubernetes.pod.namespace"
#define CONTAINER_LABEL_COMPOSE_PROJECT "com.docker.compose.project"
#define CONTAINER_LABEL_PORTS "segd.io/ports"
#define CONTAINER_ANNOTATION_LABELS "segd.io/labels"
/* Every pid is below this (the kernel's PID_MAX_LIMIT). */
#define CONTAINER_PID_LIMIT 4194304

/* What the engine (or the hook) tells about a container. */
struct container_info {
	char *id;
	char *name;
	bool running;
	bool finished; /* exited, stopped, dead or being removed (not merely created) */
	int pid;
	char *netns_path;   /* SandboxKey, or NULL */
	char *network_mode; /* "bridge", "host", "container:ID", ... */
	struct policy_labels labels;
	bool labels_known;
	char *invalid;		 /* label problem, or NULL */
	unsigned labels_ignored; /* labels no selector can name: left out, or made unmatchable */
	uint64_t observed_usec;	 /* CLOCK_MONOTONIC when this view arrived (0: unknown) */
};

void container_info_done(struct container_info *ci);

/* What an endpoint's containers make of it. */
struct container_derived {
	char *namespace;
	struct policy_labels labels; /* the union; on a conflict the first container wins */
	struct policy_named_port *ports;
	size_t n_ports;
	bool quarantine;
	char *why;			  /* the reason for an error (bad labels), or NULL */
	const struct ep_container *named; /* whose name the endpoint takes, or NULL */
};

/* Pure: from the containers (sorted by id) alone. */
int container_derive(const struct ep_container *cs, size_t n, struct container_derived *ret);
void container_derived_done(struct container_derived *d);

struct containers {
	struct registry *registry;
	struct reconciler *rc;
	const struct endpoint_env *env;
	struct errlog *errlog;
	ino_t host_netns_ino;
};

/* Puts ci into the endpoint of its namespace (existing or new), marking what changes: *ret is
 * that endpoint. Fails with -EINVAL (bad id, a path that is no network namespace), -ENOENT,
 * -ESRCH (nothing to open) or -ENOMEM, and err says why. */
int containers_upsert(struct containers *c, const struct container_info *ci, struct endpoint **ret,
		      struct op_error *err);
/* The container is gone: its endpoint loses it (and goes with its last container). false if it
 * was not known. */
bool containers_gone(struct containers *c, const char *id);
/* Known with its labels and name (an engine has reported it). */
bool containers_known(const struct containers *c, const char *id);
/*
 * After a full list (asked for at `asked_usec`): the ids of known containers the list does not
 * show, and that the engine last showed us before it was asked for. *ret is a NULL-terminated
 * array; returns their count or -ENOMEM.
 */
int containers_missing(const struct containers *c, char *const *listed, size_t n,
		       uint64_t asked_usec, char ***ret);
