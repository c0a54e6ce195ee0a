/* SPDX-License-Identifier: MIT */
/*
 * Containers as endpoints. A container endpoint is a network namespace (pinned by fd, keyed by
 * its inode) and the containers that share it: one for a plain container, several for a pod or
 * `--network container:X`. Its labels are the union of its containers' labels, its namespace
 * comes from the label segd.io/namespace (else io.kubernetes.pod.namespace, else "default"), its
 * named ports from segd.io/ports ("name=PORT/PROTO,...").
 *
 * Fail closed: while any of its containers' labels are unknown (the OCI hook saw it before the
 * engine did) or unusable, the endpoint is quarantined: default-deny both ways, and not anyone's
 * peer. The engine's report lifts the quarantine.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "manager-internal.h"
#include "netns.h"
#include "nft.h"

#define LABEL_NAMESPACE "segd.io/namespace"
#define LABEL_K8S_NAMESPACE "io.kubernetes.pod.namespace"
#define LABEL_PORTS "segd.io/ports"
#define ANNOTATION_LABELS "segd.io/labels"
#define CONTAINER_ID_MAX 128

void container_info_done(struct container_info *ci)
{
	free(ci->id);
	free(ci->name);
	free(ci->netns_path);
	free(ci->network_mode);
	policy_labels_done(&ci->labels);
	free(ci->invalid);
	*ci = (struct container_info){ 0 };
}

static void ep_container_done(struct ep_container *c)
{
	free(c->id);
	free(c->name);
	policy_labels_done(&c->labels);
	free(c->invalid);
	*c = (struct ep_container){ 0 };
}

void endpoint_containers_done(struct endpoint *e)
{
	for (size_t i = 0; i < e->n_containers; i++)
		ep_container_done(&e->containers[i]);
	free(e->containers);
	e->containers = NULL;
	e->n_containers = 0;
}

static bool container_id_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n < 4 || n > CONTAINER_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

static struct endpoint *find_by_container(struct manager *m, const char *id, size_t *ret_index)
{
	for (size_t i = 0; i < m->n_endpoints; i++) {
		struct endpoint *e = m->endpoints[i];

		for (size_t j = 0; j < e->n_containers; j++)
			if (streq(e->containers[j].id, id)) {
				if (ret_index)
					*ret_index = j;
				return e;
			}
	}
	return NULL;
}

static struct endpoint *find_by_inode(struct manager *m, ino_t ino)
{
	for (size_t i = 0; i < m->n_endpoints; i++)
		if (m->endpoints[i]->kind == ENDPOINT_KIND_CONTAINER && m->endpoints[i]->nft &&
		    m->endpoints[i]->ns_ino == ino)
			return m->endpoints[i];
	return NULL;
}

/* "http=8080/TCP,dns=53/UDP" */
static int parse_ports_label(const char *s, struct policy_endpoint *pe, char **reterr)
{
	_cleanup_free_ char *copy = strdup(s);
	char *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '='), *slash, *end;
		const char *proto = "TCP";
		unsigned long port;
		int p;

		if (pe->n_ports >= POLICY_MAX_ENDPOINT_PORTS)
			return asprintf(reterr, "label %s: more than %d ports", LABEL_PORTS,
					POLICY_MAX_ENDPOINT_PORTS) < 0 ? -ENOMEM : -EINVAL;
		if (!eq || eq == item)
			return asprintf(reterr, "label %s: \"%s\" is not NAME=PORT[/PROTO]", LABEL_PORTS,
					item) < 0 ? -ENOMEM : -EINVAL;
		*eq = 0;
		slash = strchr(eq + 1, '/');
		if (slash) {
			*slash = 0;
			proto = slash + 1;
		}
		errno = 0;
		port = strtoul(eq + 1, &end, 10);
		p = policy_proto_from_string(proto);
		if (errno || *end || end == eq + 1 || port < 1 || port > 65535 || p < 0 ||
		    strlen(item) > 15)
			return asprintf(reterr, "label %s: invalid port \"%s=%s%s%s\"", LABEL_PORTS, item,
					eq + 1, slash ? "/" : "", slash ? proto : "") < 0 ? -ENOMEM
											 : -EINVAL;
		for (size_t i = 0; i < pe->n_ports; i++)
			if (streq(pe->ports[i].name, item))
				return asprintf(reterr, "label %s: port name \"%s\" given twice",
						LABEL_PORTS, item) < 0 ? -ENOMEM : -EINVAL;
		pe->ports[pe->n_ports] = (struct policy_named_port){ .proto = p, .port = (uint16_t)port };
		pe->ports[pe->n_ports].name = strdup(item);
		if (!pe->ports[pe->n_ports].name)
			return -ENOMEM;
		pe->n_ports++;
	}
	return 0;
}

static bool name_taken(struct manager *m, const struct endpoint *self, const char *name)
{
	for (size_t i = 0; i < m->n_endpoints; i++)
		if (m->endpoints[i] != self && streq(m->endpoints[i]->pe.name, name))
			return true;
	return false;
}

/* Recomputes name, labels, namespace, ports and quarantine from the containers. */
static int endpoint_derive_inner(struct manager *m, struct endpoint *e);

/* Recomputes what the containers make of e, marking for the next reconcile every endpoint
 * whose plan may see the difference: e, and the peers of e before and after. */
static int endpoint_derive(struct manager *m, struct endpoint *e)
{
	int r;

	if (e->installed && !e->quarantined)
		mark_peers_of(m, &e->pe);
	r = endpoint_derive_inner(m, e);
	e->dirty = true;
	if (!e->quarantined)
		mark_peers_of(m, &e->pe);
	return r;
}

static int endpoint_derive_inner(struct manager *m, struct endpoint *e)
{
	struct policy_labels merged = { 0 };
	_cleanup_free_ char *why = NULL;
	const struct ep_container *named = NULL;
	const char *ns;
	char *name = NULL;
	bool quarantine = false;
	int r;

	for (size_t i = 0; i < e->n_containers; i++) {
		const struct ep_container *c = &e->containers[i];

		if (c->name && (!named || (c->owner && !named->owner)))
			named = c;
		if (!c->known || c->invalid) {
			quarantine = true;
			if (c->invalid && !why)
				why = strdup(c->invalid);
			continue;
		}
		/* Union; on a conflict the first container (by id) wins. */
		for (size_t k = 0; k < c->labels.n; k++)
			if (!policy_labels_get(&merged, c->labels.items[k].key) &&
			    policy_labels_set(&merged, c->labels.items[k].key, c->labels.items[k].value) < 0) {
				policy_labels_done(&merged);
				return -ENOMEM;
			}
	}

	ns = policy_labels_get(&merged, LABEL_NAMESPACE);
	if (!ns)
		ns = policy_labels_get(&merged, LABEL_K8S_NAMESPACE);
	if (!ns)
		ns = "default";
	if (policy_dns_label_invalid(ns)) {
		quarantine = true;
		if (!why && asprintf(&why, "label %s: invalid namespace \"%s\"", LABEL_NAMESPACE, ns) < 0)
			why = NULL;
		ns = "default";
	}

	for (size_t i = 0; i < e->pe.n_ports; i++)
		free(e->pe.ports[i].name);
	e->pe.n_ports = 0;
	if (!e->pe.ports)
		e->pe.ports = calloc(POLICY_MAX_ENDPOINT_PORTS, sizeof(*e->pe.ports));
	if (!e->pe.ports) {
		policy_labels_done(&merged);
		return -ENOMEM;
	}
	if (policy_labels_get(&merged, LABEL_PORTS)) {
		char *perr = NULL;

		r = parse_ports_label(policy_labels_get(&merged, LABEL_PORTS), &e->pe, &perr);
		if (r == -ENOMEM) {
			policy_labels_done(&merged);
			return r;
		}
		if (r < 0) {
			quarantine = true;
			if (!why)
				why = perr;
			else
				free(perr);
		}
	}

	/* Name: the namespace owner's container name, made unique against endpoints by hand. */
	if (named)
		r = asprintf(&name, "%s", named->name);
	else
		r = asprintf(&name, "ctr-%.12s", e->containers[0].id);
	if (r >= 0 && name_taken(m, e, name)) {
		char *longer = NULL;

		r = asprintf(&longer, "%s-%.8s", name, named ? named->id : e->containers[0].id);
		free(name);
		name = longer;
	}
	if (r < 0 || !name) {
		policy_labels_done(&merged);
		return -ENOMEM;
	}

	free(e->pe.name);
	e->pe.name = name;
	endpoints_reposition(m, e);	/* no-op while e is not in the list yet */
	if (!streq(e->pe.namespace, ns)) {
		char *n = strdup(ns);

		if (!n) {
			policy_labels_done(&merged);
			return -ENOMEM;
		}
		free(e->pe.namespace);
		e->pe.namespace = n;
	}
	policy_labels_done(&e->pe.labels);
	e->pe.labels = merged;
	e->quarantined = quarantine;
	if (e->state != ENDPOINT_UNENFORCEABLE) {
		if (why)
			endpoint_set_error(e, ENDPOINT_ERROR, "%s", why);
		else if (e->state == ENDPOINT_ERROR) {
			e->state = ENDPOINT_PENDING;
			free(e->error);
			e->error = NULL;
		}
	}
	return 0;
}

static int cmp_container(const void *a, const void *b)
{
	return strcmp(((const struct ep_container *)a)->id, ((const struct ep_container *)b)->id);
}

/* Adds or updates the record of ci in e. Labels only replace known ones when ci knows them. */
static int endpoint_put_container(struct endpoint *e, const struct container_info *ci, bool owner)
{
	struct ep_container *c = NULL;

	for (size_t i = 0; i < e->n_containers; i++)
		if (streq(e->containers[i].id, ci->id))
			c = &e->containers[i];
	if (!c) {
		struct ep_container *p = reallocarray(e->containers, e->n_containers + 1, sizeof(*p));

		if (!p)
			return -ENOMEM;
		e->containers = p;
		c = &e->containers[e->n_containers];
		*c = (struct ep_container){ .owner = ci->network_mode && owner };
		c->id = strdup(ci->id);
		if (!c->id)
			return -ENOMEM;
		e->n_containers++;
	}
	if (ci->name && (!c->name || !streq(c->name, ci->name))) {
		char *n = strdup(ci->name);

		if (!n)
			return -ENOMEM;
		free(c->name);
		c->name = n;
	}
	if (ci->labels_known) {
		policy_labels_done(&c->labels);
		if (policy_labels_copy(&c->labels, &ci->labels) < 0)
			return -ENOMEM;
		c->known = true;
		free(c->invalid);
		c->invalid = ci->invalid ? strdup(ci->invalid) : NULL;
	}
	/* Only the engine knows the network mode; the hook cannot tell an owner from a joiner. */
	if (ci->network_mode)
		c->owner = owner;
	if (ci->observed_usec > c->observed_usec)
		c->observed_usec = ci->observed_usec;
	qsort_safe(e->containers, e->n_containers, sizeof(*e->containers), cmp_container);
	return 0;
}

/* Removes endpoint e for good: its table goes, its addresses stop being peers. */
static void endpoint_retire(struct manager *m, struct endpoint *e)
{
	if (!e->quarantined)
		mark_peers_of(m, &e->pe);
	endpoints_remove(m, e);
	if (e->nft) {
		int r = nft_delete_table(e->nft);

		if (r < 0)
			log_debug_errno(r, "Failed to remove the table of %s (namespace gone?): %m",
					e->pe.name);
	}
	log_info("Endpoint %s removed (no containers left)", e->pe.name);
	bury(m, e);
}

static void container_remove(struct manager *m, struct endpoint *e, size_t k)
{
	ep_container_done(&e->containers[k]);
	memmove(&e->containers[k], &e->containers[k + 1],
		(e->n_containers - k - 1) * sizeof(*e->containers));
	e->n_containers--;
	if (e->n_containers == 0)
		endpoint_retire(m, e);
	else if (endpoint_derive(m, e) < 0)
		log_error("Out of memory updating endpoint %s", e->pe.name);
}

/* The namespace of a container: the engine's path, else its pid's. */
static int open_container_netns(const struct container_info *ci, char **ret_path, int *ret_fd)
{
	_cleanup_free_ char *path = NULL;
	int r;

	if (ci->netns_path && ci->netns_path[0])
		path = strdup(ci->netns_path);
	else if (ci->pid > 0)
		r = asprintf(&path, "/proc/%d/ns/net", ci->pid);
	else
		return -ESRCH;
	if (!path)
		return -ENOMEM;
	r = netns_open_path(path, ret_fd);
	if (r < 0)
		return r;
	*ret_path = TAKE_PTR(path);
	return 0;
}

static bool host_network(struct manager *m, const struct container_info *ci, int nsfd)
{
	ino_t ino = 0;

	if (ci->network_mode && streq(ci->network_mode, "host"))
		return true;
	return nsfd >= 0 && netns_inode(nsfd, &ino) >= 0 && ino == m->host_netns_ino;
}

/*
 * Puts ci where it belongs: into the endpoint of its namespace (existing or new). Returns the
 * endpoint in *ret. Does not reconcile.
 */
static int container_upsert(struct manager *m, const struct container_info *ci,
			    struct endpoint **ret, struct op_error *err)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int nsfd = -1;
	struct endpoint *e, *old;
	bool owner = !ci->network_mode || strncmp(ci->network_mode, "container:", 10) != 0;
	size_t k = 0;
	ino_t ino = 0;
	int r;

	if (!container_id_valid(ci->id))
		return op_error_set(err, 400, -EINVAL, "invalid container id");

	r = open_container_netns(ci, &path, &nsfd);
	if (r < 0 && !(ci->network_mode && streq(ci->network_mode, "host")))
		return op_error_set(err, r == -EINVAL ? 400 : 404, r,
				    "container %.12s: cannot open its network namespace %s: %s",
				    ci->id, ci->netns_path && ci->netns_path[0] ? ci->netns_path : "(by pid)",
				    strerror(-r));

	old = find_by_container(m, ci->id, &k);

	if (host_network(m, ci, nsfd)) {
		/* Nothing of ours can be enforced there: say so, never show it as enforced. */
		if (old && old->state != ENDPOINT_UNENFORCEABLE) {
			container_remove(m, old, k);
			old = NULL;
		}
		if (!old) {
			r = endpoint_new(m, ci->name ? ci->name : ci->id, "host", "default", &old);
			if (r < 0)
				return op_error_set(err, 500, r, "out of memory");
			old->kind = ENDPOINT_KIND_CONTAINER;
			r = endpoint_put_container(old, ci, true);
			if (r >= 0)
				r = endpoints_insert(m, old);
			if (r < 0) {
				endpoint_free(old);
				return op_error_set(err, 500, r, "out of memory");
			}
		} else if (endpoint_put_container(old, ci, true) < 0)
			return op_error_set(err, 500, -ENOMEM, "out of memory");
		if (endpoint_derive(m, old) < 0)
			return op_error_set(err, 500, -ENOMEM, "out of memory");
		endpoint_set_error(old, ENDPOINT_UNENFORCEABLE,
				   "host network: segd cannot isolate a container that shares the "
				   "host's network namespace");
		*ret = old;
		return 0;
	}

	r = netns_inode(nsfd, &ino);
	if (r < 0)
		return op_error_set(err, 500, r, "cannot stat a network namespace: %s", strerror(-r));

	/* A container seen before in another namespace (restarted): it moves. */
	if (old && (!old->nft || old->ns_ino != ino)) {
		container_remove(m, old, k);
		old = NULL;
	}

	e = old ? old : find_by_inode(m, ino);
	if (!e) {
		r = endpoint_new(m, ci->name ? ci->name : ci->id, path, "default", &e);
		if (r < 0)
			return op_error_set(err, 500, r, "out of memory");
		e->kind = ENDPOINT_KIND_CONTAINER;
		r = endpoint_attach(e, TAKE_FD(nsfd));
		if (r < 0) {
			endpoint_free(e);
			return op_error_set(err, 500, r, "container %.12s: cannot attach to %s: %s",
					    ci->id, path, strerror(-r));
		}
		r = endpoint_put_container(e, ci, owner);
		if (r >= 0)
			r = endpoints_insert(m, e);
		if (r < 0) {
			endpoint_free(e);
			return op_error_set(err, 500, r, "out of memory");
		}
		log_info("Container %.12s%s%s: new endpoint in %s", ci->id, ci->name ? " " : "",
			 ci->name ? ci->name : "", path);
	} else if (endpoint_put_container(e, ci, owner) < 0)
		return op_error_set(err, 500, -ENOMEM, "out of memory");

	if (endpoint_derive(m, e) < 0)
		return op_error_set(err, 500, -ENOMEM, "out of memory");
	*ret = e;
	return 0;
}

int manager_container_seen(struct manager *m, const struct container_info *ci)
{
	struct op_error err = { 0 };
	struct endpoint *e = NULL;
	int r;

	if (!ci->running) {
		/* Created but not started yet (the OCI hook may be isolating it right now): keep
		 * whatever protects it. Only a finished container leaves. */
		if (ci->finished)
			manager_container_gone(m, ci->id);
		return 0;
	}
	r = container_upsert(m, ci, &e, &err);
	if (r < 0) {
		log_warning("Skipping container %.12s%s%s: %s", ci->id, ci->name ? " " : "",
			    ci->name ? ci->name : "", err.message ? err.message : strerror(-r));
		manager_record_error(m, "container %.12s: %s", ci->id,
				     err.message ? err.message : strerror(-r));
		op_error_done(&err);
		return r;
	}
	if (ci->invalid)
		log_warning("Container %.12s: %s; it stays default-deny", ci->id, ci->invalid);
	r = reconcile_marked(m, NULL);
	return r < 0 ? r : 0;
}

void manager_container_gone(struct manager *m, const char *id)
{
	size_t k;
	struct endpoint *e = find_by_container(m, id, &k);

	if (!e)
		return;
	log_info("Container %.12s is gone", id);
	container_remove(m, e, k);
	(void)reconcile_marked(m, NULL);
}

bool manager_container_known(struct manager *m, const char *id)
{
	size_t k;
	struct endpoint *e = find_by_container(m, id, &k);

	return e && e->containers[k].known && e->containers[k].name;
}

int manager_containers_missing(struct manager *m, char *const *running_ids, size_t n,
			       uint64_t asked_usec, char ***ret)
{
	char **out = NULL;
	size_t k = 0;

	for (size_t i = 0; i < m->n_endpoints; i++) {
		const struct endpoint *e = m->endpoints[i];

		for (size_t j = 0; j < e->n_containers; j++) {
			const struct ep_container *c = &e->containers[j];
			bool listed = false;
			char **p;

			/* Only the hook has seen it (being created), or the engine showed it after
			 * this list was asked for: missing from the list proves nothing. */
			if (!c->known || !c->name || c->observed_usec >= asked_usec)
				continue;
			for (size_t x = 0; x < n && !listed; x++)
				listed = streq(running_ids[x], c->id);
			if (listed)
				continue;
			p = reallocarray(out, k + 2, sizeof(*p));
			if (!p)
				goto oom;
			out = p;
			out[k] = strdup(c->id);
			if (!out[k])
				goto oom;
			out[++k] = NULL;
		}
	}
	*ret = out;
	return (int)k;
oom:
	for (size_t i = 0; i < k; i++)
		free(out[i]);
	free(out);
	return -ENOMEM;
}

/* ---- OCI hook ------------------------------------------------------------------------------ */

static int labels_from_annotation(const char *text, struct policy_labels *l, char **reterr)
{
	json_auto_t *o = NULL;
	json_error_t jerr;
	const char *k;
	json_t *v;

	/* "app=web;tier=front" (podman reads --annotation values as CSV, so JSON needs quoting
	 * there), or a JSON object of strings. */
	if (text[0] != '{') {
		_cleanup_free_ char *copy = strdup(text);
		char *save = NULL;

		if (!copy)
			return -ENOMEM;
		for (char *kv = strtok_r(copy, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
			char *eq = strchr(kv, '=');

			if (!eq || l->n >= POLICY_MAX_LABELS)
				return asprintf(reterr, "annotation %s: \"%s\" is not KEY=VALUE",
						ANNOTATION_LABELS, kv) < 0 ? -ENOMEM : -EINVAL;
			*eq = 0;
			if (policy_label_key_invalid(kv) || policy_label_value_invalid(eq + 1))
				return asprintf(reterr, "annotation %s: invalid label \"%s\"",
						ANNOTATION_LABELS, kv) < 0 ? -ENOMEM : -EINVAL;
			if (policy_labels_set(l, kv, eq + 1) < 0)
				return -ENOMEM;
		}
		return 0;
	}
	o = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(o))
		return asprintf(reterr, "annotation %s: not a JSON object of strings", ANNOTATION_LABELS) < 0
			       ? -ENOMEM : -EINVAL;
	if (json_object_size(o) > POLICY_MAX_LABELS)
		return asprintf(reterr, "annotation %s: more than %d labels", ANNOTATION_LABELS,
				POLICY_MAX_LABELS) < 0 ? -ENOMEM : -EINVAL;
	json_object_foreach(o, k, v) {
		if (!json_is_string(v) || policy_label_key_invalid(k) ||
		    policy_label_value_invalid(json_string_value(v)))
			return asprintf(reterr, "annotation %s: invalid label \"%s\"", ANNOTATION_LABELS,
					k) < 0 ? -ENOMEM : -EINVAL;
		if (policy_labels_set(l, k, json_string_value(v)) < 0)
			return -ENOMEM;
	}
	return 0;
}

int manager_hook_create(struct manager *m, json_t *body, json_t **ret, struct op_error *err)
{
	struct container_info ci = { .running = true };
	const char *id = NULL, *netns = NULL;
	json_t *annotations = NULL, *lab, *jnetns = NULL;
	struct endpoint *e = NULL;
	json_int_t pid = 0;
	json_error_t jerr;
	int r;

	if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s?I, s?o, s?o}", "id", &id, "pid", &pid,
			   "netns", &jnetns, "annotations", &annotations) < 0)
		return op_error_set(err, 400, -EINVAL, "invalid hook request: %s", jerr.text);
	if (jnetns && !json_is_null(jnetns) && !json_is_string(jnetns))
		return op_error_set(err, 400, -EINVAL, "netns: must be a path or null");
	netns = json_string_value(jnetns);
	if (!container_id_valid(id))
		return op_error_set(err, 400, -EINVAL, "invalid container id");
	if (pid < 0 || pid > 4194304)
		return op_error_set(err, 400, -EINVAL, "invalid pid %lld", (long long)pid);
	if (annotations && !json_is_object(annotations))
		return op_error_set(err, 400, -EINVAL, "annotations: must be an object");

	ci.id = strdup(id);
	ci.pid = (int)pid;
	ci.netns_path = netns ? strdup(netns) : NULL;
	if (!ci.id || (netns && !ci.netns_path)) {
		container_info_done(&ci);
		return op_error_set(err, 500, -ENOMEM, "out of memory");
	}
	lab = annotations ? json_object_get(annotations, ANNOTATION_LABELS) : NULL;
	if (json_is_string(lab)) {
		r = labels_from_annotation(json_string_value(lab), &ci.labels, &ci.invalid);
		if (r == -ENOMEM) {
			container_info_done(&ci);
			return op_error_set(err, 500, r, "out of memory");
		}
		ci.labels_known = true;
	}

	r = container_upsert(m, &ci, &e, err);
	container_info_done(&ci);
	if (r < 0)
		return r;
	r = reconcile_marked(m, NULL);
	if (r < 0)
		return op_error_set(err, 500, r, "out of memory while compiling");
	if (e->state == ENDPOINT_ERROR && e->nft && !e->installed)
		return op_error_set(err, 500, -EIO, "container %.12s: %s", id,
				    e->error ? e->error : "not enforced");
	log_info("Hook: container %.12s enforced in %s (%s)", id, e->netns,
		 e->quarantined ? "default-deny until its labels are known" : "its policy");
	*ret = endpoint_json(e);
	return *ret ? 0 : op_error_set(err, 500, -ENOMEM, "out of memory");
}

int manager_hook_poststop(struct manager *m, json_t *body, json_t **ret, struct op_error *err)
{
	const char *id = NULL;
	json_error_t jerr;

	if (json_unpack_ex(body, &jerr, 0, "{s:s}", "id", &id) < 0)
		return op_error_set(err, 400, -EINVAL, "invalid hook request: %s", jerr.text);
	if (!container_id_valid(id))
		return op_error_set(err, 400, -EINVAL, "invalid container id");
	manager_container_gone(m, id);
	*ret = json_pack("{s:s}", "id", id);
	return *ret ? 0 : op_error_set(err, 500, -ENOMEM, "out of memory");
}
