/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "containers.h"
#include <linux/netfilter.h>

#include "log.h"
#include "macro.h"
#include "netns.h"
#include "nft-table.h"

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

void container_derived_done(struct container_derived *d)
{
	free(d->namespace);
	policy_labels_done(&d->labels);
	policy_named_ports_free(d->ports, d->n_ports);
	free(d->why);
	*d = (struct container_derived){ 0 };
}

/* Where a container's namespace comes from, in this order (docs/containers.md). */
static const char *const namespace_labels[] = {
	CONTAINER_LABEL_NAMESPACE,
	CONTAINER_LABEL_K8S_NAMESPACE,
	CONTAINER_LABEL_COMPOSE_PROJECT,
};

/* Keeps the first reason only. */
static void why_set(char **why, char *reason)
{
	if (*why)
		free(reason);
	else
		*why = reason;
}

int container_derive(const struct ep_container *cs, size_t n, struct container_derived *ret)
{
	struct container_derived d = { 0 };
	const char *ns, *ports, *ns_label = NULL;
	char *reason = NULL;
	int r;

	for (size_t i = 0; i < n; i++) {
		const struct ep_container *c = &cs[i];

		if (c->name && (!d.named || (c->owner && !d.named->owner)))
			d.named = c;
		if (!c->known || c->invalid) {
			d.quarantine = true;
			if (c->invalid)
				why_set(&d.why, strdup(c->invalid));
			continue;
		}
		for (size_t k = 0; k < c->labels.n; k++)
			if (!policy_labels_get(&d.labels, c->labels.items[k].key) &&
			    policy_labels_set(&d.labels, c->labels.items[k].key,
					      c->labels.items[k].value) < 0)
				goto oom;
	}

	/* The namespace: the first of these labels that is there, else "default". */
	ns = NULL;
	for (size_t k = 0; !ns && k < ARRAY_SIZE(namespace_labels); k++) {
		ns_label = namespace_labels[k];
		ns = policy_labels_get(&d.labels, ns_label);
	}
	if (!ns)
		ns = "default";
	if (policy_dns_label_invalid(ns)) {
		d.quarantine = true;
		if (asprintf(&reason, "label %s: invalid namespace \"%.64s\"%s", ns_label, ns,
			     streq(ns_label, CONTAINER_LABEL_NAMESPACE)
				     ? ""
				     : " (set " CONTAINER_LABEL_NAMESPACE " to a valid one)") < 0)
			goto oom;
		why_set(&d.why, reason);
		ns = "default";
	}
	d.namespace = strdup(ns);
	if (!d.namespace)
		goto oom;

	ports = policy_labels_get(&d.labels, CONTAINER_LABEL_PORTS);
	if (ports) {
		char *perr = NULL;

		r = policy_ports_label_parse(ports, &d.ports, &d.n_ports, &perr);
		if (r == -ENOMEM)
			goto oom;
		if (r < 0) {
			d.quarantine = true;
			reason = NULL;
			if (asprintf(&reason, "label %s: %s", CONTAINER_LABEL_PORTS,
				     perr ? perr : "invalid") < 0)
				reason = NULL;
			free(perr);
			if (!reason)
				goto oom;
			why_set(&d.why, reason);
		}
	}
	*ret = d;
	return 0;
oom:
	container_derived_done(&d);
	return -ENOMEM;
}

/* Recomputes name, labels, namespace, ports and quarantine of e from its containers. */
static int endpoint_derive_inner(struct containers *c, struct endpoint *e)
{
	struct container_derived d;
	char *name = NULL;
	int r;

	r = container_derive(e->containers, e->n_containers, &d);
	if (r < 0)
		return r;
	/* Name: the namespace owner's container name, made unique against other endpoints. */
	if (d.named)
		r = asprintf(&name, "%s", d.named->name);
	else
		r = asprintf(&name, "ctr-%.12s", e->containers[0].id);
	if (r >= 0 && registry_name_taken(c->registry, e, name)) {
		char *longer = NULL;

		r = asprintf(&longer, "%s-%.8s", name, d.named ? d.named->id : e->containers[0].id);
		free(name);
		name = r >= 0 ? longer : NULL;
	}
	if (r < 0 || !name) {
		container_derived_done(&d);
		return -ENOMEM;
	}

	free(e->pe.name);
	e->pe.name = name;
	registry_reposition(c->registry, e); /* no-op while e is not in the registry yet */
	free(e->pe.namespace);
	e->pe.namespace = TAKE_PTR(d.namespace);
	policy_labels_done(&e->pe.labels);
	e->pe.labels = d.labels;
	d.labels = (struct policy_labels){ 0 };
	policy_named_ports_free(e->pe.ports, e->pe.n_ports);
	e->pe.ports = TAKE_PTR(d.ports);
	e->pe.n_ports = d.n_ports;
	d.n_ports = 0;
	e->quarantined = d.quarantine;
	if (e->state != ENDPOINT_UNENFORCEABLE) {
		if (d.why)
			endpoint_set_error(e, ENDPOINT_ERROR, "%s", d.why);
		else if (e->state == ENDPOINT_ERROR)
			endpoint_clear_error(e, ENDPOINT_PENDING);
	}
	container_derived_done(&d);
	return 0;
}

/* Recomputes what the containers make of e, marking for the next reconcile every endpoint
 * whose plan may see the difference: e, and the peers of e before and after. */
static int endpoint_derive(struct containers *c, struct endpoint *e)
{
	int r;

	if (e->installed && !e->quarantined)
		reconcile_mark_peers_of(c->rc, e);
	r = endpoint_derive_inner(c, e);
	reconcile_mark(c->rc, e);
	if (!e->quarantined)
		reconcile_mark_peers_of(c->rc, e);
	return r;
}

static int cmp_container(const void *a, const void *b)
{
	return strcmp(((const struct ep_container *)a)->id, ((const struct ep_container *)b)->id);
}

/* Adds or updates the record of ci in e. Labels only replace known ones when ci knows them. */
static int endpoint_put_container(struct endpoint *e, const struct container_info *ci, bool owner)
{
	struct ep_container *ec = NULL;

	for (size_t i = 0; i < e->n_containers; i++)
		if (streq(e->containers[i].id, ci->id))
			ec = &e->containers[i];
	if (!ec) {
		struct ep_container *p =
			reallocarray(e->containers, e->n_containers + 1, sizeof(*p));

		if (!p)
			return -ENOMEM;
		e->containers = p;
		ec = &e->containers[e->n_containers];
		*ec = (struct ep_container){ .owner = ci->network_mode && owner };
		ec->id = strdup(ci->id);
		if (!ec->id)
			return -ENOMEM;
		e->n_containers++;
	}
	if (ci->name && (!ec->name || !streq(ec->name, ci->name))) {
		char *n = strdup(ci->name);

		if (!n)
			return -ENOMEM;
		free(ec->name);
		ec->name = n;
	}
	if (ci->labels_known) {
		policy_labels_done(&ec->labels);
		if (policy_labels_copy(&ec->labels, &ci->labels) < 0)
			return -ENOMEM;
		ec->known = true;
		free(ec->invalid);
		ec->invalid = ci->invalid ? strdup(ci->invalid) : NULL;
	}
	/* Only the engine knows the network mode; the hook cannot tell an owner from a joiner. */
	if (ci->network_mode)
		ec->owner = owner;
	if (ci->observed_usec > ec->observed_usec)
		ec->observed_usec = ci->observed_usec;
	qsort_safe(e->containers, e->n_containers, sizeof(*e->containers), cmp_container);
	return 0;
}

/* Removes endpoint e for good: its table goes, its addresses stop being peers. */
static void endpoint_retire(struct containers *c, struct endpoint *e)
{
	if (!e->quarantined)
		reconcile_mark_peers_of(c->rc, e);
	reconcile_forget(c->rc, e);
	registry_remove(c->registry, e);
	guard_drop(&e->guard, true);
	endpoint_retire_socket(e);
	if (e->nft) {
		int r = nft_delete_table_named(e->nft, NFPROTO_INET, e->table);

		if (r < 0)
			log_debug_errno(r, "Failed to remove the table of %s (namespace gone?): %m",
					e->pe.name);
	}
	log_info("Endpoint %s removed (no containers left)", e->pe.name);
	endpoint_release(e);
}

static void container_remove(struct containers *c, struct endpoint *e, size_t k)
{
	ep_container_done(&e->containers[k]);
	memmove(&e->containers[k], &e->containers[k + 1],
		(e->n_containers - k - 1) * sizeof(*e->containers));
	e->n_containers--;
	if (e->n_containers == 0)
		endpoint_retire(c, e);
	else if (endpoint_derive(c, e) < 0)
		log_error("Out of memory updating endpoint %s", e->pe.name);
}

/* The namespace of a container: the engine's path when its pid proves it, else its pid's
 * (netns_open_container). */
static int open_container_netns(const struct container_info *ci, char **ret_path, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	bool by_path = false;
	char *path = NULL;
	int r;

	r = netns_open_container(ci->netns_path, ci->pid, &fd, &by_path);
	if (r < 0)
		return r;
	if (by_path)
		path = strdup(ci->netns_path);
	else if (asprintf(&path, "/proc/%d/ns/net", ci->pid) < 0)
		path = NULL;
	if (!path)
		return -ENOMEM;
	*ret_path = path;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static const char *netns_open_why(int r)
{
	switch (r) {
	case -EXDEV:
		return "it is not the network namespace of the container's process";
	case -EPERM:
		return "the container has no process to prove that path by";
	case -ENOTTY:
		return "not a network namespace";
	case -EINVAL:
		return "not a clean absolute path";
	case -ESRCH:
		return "its process is gone (the container is exiting)";
	case -ENXIO:
		return "the engine reports neither a path nor a process";
	default:
		return strerror(-r);
	}
}

static bool host_network(const struct containers *c, const struct container_info *ci, int nsfd)
{
	ino_t ino = 0;

	if (ci->network_mode && streq(ci->network_mode, "host"))
		return true;
	return nsfd >= 0 && netns_inode(nsfd, &ino) >= 0 && ino == c->host_netns_ino;
}

/* A container on the host network: listed, never enforced. */
static int upsert_host(struct containers *c, const struct container_info *ci, struct endpoint *old,
		       size_t k, struct endpoint **ret, struct op_error *err)
{
	int r;

	if (old && old->state != ENDPOINT_UNENFORCEABLE) {
		container_remove(c, old, k);
		old = NULL;
	}
	if (!old) {
		r = endpoint_new(c->env, ENDPOINT_KIND_CONTAINER, ci->name ? ci->name : ci->id,
				 "host", "default", &old);
		if (r < 0)
			return op_error_set(err, r, "out of memory");
		r = endpoint_put_container(old, ci, true);
		if (r >= 0)
			r = registry_insert(c->registry, old);
		if (r < 0) {
			endpoint_free(old);
			return op_error_set(err, r, "out of memory");
		}
	} else if (endpoint_put_container(old, ci, true) < 0)
		return op_error_set(err, -ENOMEM, "out of memory");
	if (endpoint_derive(c, old) < 0)
		return op_error_set(err, -ENOMEM, "out of memory");
	endpoint_set_error(old, ENDPOINT_UNENFORCEABLE,
			   "host network: segd cannot isolate a "
			   "container that shares the host's network namespace");
	*ret = old;
	return 0;
}

/*
 * ci's namespace is already endpoint e, registered by hand: a namespace is one endpoint, so
 * the container does not become a second one (its own table socket would fight e's). It runs
 * under e's ruleset, which stays as it is: nothing about e changes, its confinement least of
 * all. Containers sharing a container endpoint's namespace (a pod) join it instead.
 */
static int refuse_taken(struct containers *c, const struct container_info *ci, const char *path,
			const struct endpoint *e, struct op_error *err)
{
	c->registry->refused++;
	op_error_set(err, -EEXIST,
		     "container %.12s: its network namespace %s is already endpoint %s (%s, netns "
		     "%s): the container runs under that endpoint's policy, its own labels do not "
		     "apply",
		     ci->id, path, e->pe.name, registry_kind_text(e), e->netns);
	errlog_add(c->errlog, "%s", err->message ? err->message : "namespace taken");
	log_warning("%s", err->message ? err->message : "namespace taken");
	return -EEXIST;
}

int containers_upsert(struct containers *c, const struct container_info *ci, struct endpoint **ret,
		      struct op_error *err)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int nsfd = -1;
	struct endpoint *e, *old;
	bool owner = !ci->network_mode || strncmp(ci->network_mode, "container:", 10) != 0;
	const char *why = policy_container_id_invalid(ci->id);
	size_t k = 0;
	dev_t dev = 0;
	ino_t ino = 0;
	int r;

	if (why)
		return op_error_set(err, -EINVAL, "invalid container id: %s", why);
	if (ci->labels_ignored)
		log_debug("Container %.12s: %u label(s) no selector can name (key or value not a "
			  "Kubernetes label's): left out, or kept unmatchable",
			  ci->id, ci->labels_ignored);
	r = open_container_netns(ci, &path, &nsfd);
	if (r == -ENOMEM)
		return op_error_set(err, r, "out of memory");
	if (r < 0 && !(ci->network_mode && streq(ci->network_mode, "host")))
		return op_error_set(
			err, r, "container %.12s: cannot open its network namespace %.256s%s: %s",
			ci->id, ci->netns_path && ci->netns_path[0] ? ci->netns_path : "(by pid)",
			ci->pid > 0 ? "" : " (no pid)", netns_open_why(r));

	old = registry_find_container(c->registry, ci->id, &k);
	if (host_network(c, ci, nsfd))
		return upsert_host(c, ci, old, k, ret, err);

	r = netns_ident(nsfd, &dev, &ino);
	if (r < 0)
		return op_error_set(err, -EIO, "cannot stat a network namespace: %s", strerror(-r));

	/* A container seen before in another namespace (restarted): it moves. */
	if (old && (!endpoint_live(old) || old->ns_ino != ino || old->ns_dev != dev)) {
		container_remove(c, old, k);
		old = NULL;
	}

	e = old ? old : registry_find_ns(c->registry, dev, ino);
	if (e && e->kind != ENDPOINT_KIND_CONTAINER)
		return refuse_taken(c, ci, path, e, err);
	if (!e) {
		r = endpoint_new(c->env, ENDPOINT_KIND_CONTAINER, ci->name ? ci->name : ci->id,
				 path, "default", &e);
		if (r < 0)
			return op_error_set(err, r, "out of memory");
		r = endpoint_attach(e, TAKE_FD(nsfd));
		if (r < 0) {
			endpoint_free(e);
			return op_error_set(err, r == -ENOMEM ? r : -EIO,
					    "container %.12s: cannot attach to %s: %s", ci->id,
					    path, strerror(-r));
		}
		r = endpoint_put_container(e, ci, owner);
		if (r >= 0)
			r = registry_insert(c->registry, e);
		if (r < 0) {
			endpoint_free(e);
			return op_error_set(err, r, "out of memory");
		}
		log_info("Container %.12s%s%s: new endpoint in %s", ci->id, ci->name ? " " : "",
			 ci->name ? ci->name : "", path);
	} else if (endpoint_put_container(e, ci, owner) < 0)
		return op_error_set(err, -ENOMEM, "out of memory");

	if (endpoint_derive(c, e) < 0)
		return op_error_set(err, -ENOMEM, "out of memory");
	*ret = e;
	return 0;
}

bool containers_gone(struct containers *c, const char *id)
{
	size_t k;
	struct endpoint *e = registry_find_container(c->registry, id, &k);

	if (!e)
		return false;
	log_info("Container %.12s is gone", id);
	container_remove(c, e, k);
	return true;
}

bool containers_known(const struct containers *c, const char *id)
{
	size_t k;
	struct endpoint *e = registry_find_container(c->registry, id, &k);

	return e && e->containers[k].known && e->containers[k].name;
}

static bool listed(char *const *ids, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (streq(ids[i], id))
			return true;
	return false;
}

int containers_missing(const struct containers *c, char *const *ids, size_t n, uint64_t asked_usec,
		       char ***ret)
{
	char **out = calloc(1, sizeof(*out));
	size_t k = 0;

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < c->registry->n; i++) {
		const struct endpoint *e = c->registry->items[i];

		for (size_t j = 0; j < e->n_containers; j++) {
			const struct ep_container *ec = &e->containers[j];
			char **p;

			/* Only the hook has seen it (being created), or the engine showed it after
			 * this list was asked for: missing from the list proves nothing. */
			if (!ec->known || !ec->name || ec->observed_usec >= asked_usec ||
			    listed(ids, n, ec->id))
				continue;
			p = reallocarray(out, k + 2, sizeof(*p));
			if (!p)
				goto oom;
			out = p;
			out[k] = strdup(ec->id);
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
