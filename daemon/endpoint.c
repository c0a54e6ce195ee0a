/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "addr.h"
#include "closer.h"
#include "endpoint.h"
#include "flows.h"
#include "log.h"
#include "macro.h"
#include "netns.h"
#include "owner.h"

static const char *const state_names[_ENDPOINT_STATE_MAX] = {
	[ENDPOINT_PENDING] = "pending",
	[ENDPOINT_ENFORCED] = "enforced",
	[ENDPOINT_ERROR] = "error",
	[ENDPOINT_UNENFORCEABLE] = "unenforceable",
	[ENDPOINT_COMPROMISED] = "compromised",
	[ENDPOINT_FAILED] = "failed",
	[ENDPOINT_REMOTE] = "remote",
};

const char *endpoint_state_to_string(enum endpoint_state s)
{
	return s < _ENDPOINT_STATE_MAX ? state_names[s] : "unknown";
}

void ep_container_done(struct ep_container *c)
{
	free(c->id);
	free(c->name);
	policy_labels_done(&c->labels);
	free(c->invalid);
	*c = (struct ep_container){ 0 };
}

static void policy_endpoint_done(struct policy_endpoint *pe)
{
	free(pe->name);
	free(pe->namespace);
	policy_labels_done(&pe->labels);
	free(pe->addrs);
	policy_named_ports_free(pe->ports, pe->n_ports);
	*pe = (struct policy_endpoint){ 0 };
}

int endpoint_new(const struct endpoint_env *env, enum endpoint_kind kind, const char *name,
		 const char *netns, const char *ns, struct endpoint **ret)
{
	struct endpoint *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->env = env;
	e->kind = kind;
	e->ev.fd = e->log_fd = -1;
	e->nsid = -1;
	e->state = ENDPOINT_PENDING;
	snprintf(e->table, sizeof(e->table), "%s", POLICY_NFT_TABLE);
	e->pe.name = strdup(name);
	e->pe.namespace = strdup(ns);
	e->netns = strdup(netns);
	if (!e->pe.name || !e->pe.namespace || !e->netns) {
		endpoint_free(e);
		return -ENOMEM;
	}
	*ret = e;
	return 0;
}

void endpoint_close(struct endpoint *e)
{
	/* The nfnetlink sockets go through the closer: after a commit, their release waits for
	 * nf_tables' deferred free (closer.h), and no request waits on that. */
	struct closer *c = e->env ? e->env->closer : NULL;

	if (e->nsid >= 0)
		addr_watch_remove(e->env->addr_watch, e->nsid);
	e->nsid = -1;
	loop_remove(&e->ev_watch);
	(void)closer_close(c, TAKE_FD(e->ev.fd));
	loop_remove(&e->log_watch);
	flows_socket_unbind(e->log_fd);
	(void)closer_close(c, TAKE_FD(e->log_fd));
	e->nft = closer_free_nft_sock(c, e->nft);
	backoff_reset(&e->retry);
	/* Guard tables stay in force, like the namespace's own table. */
	guard_drop(&e->guard, false);
}

struct endpoint *endpoint_free(struct endpoint *e)
{
	if (!e)
		return NULL;
	endpoint_close(e);
	for (size_t i = 0; i < e->n_containers; i++)
		ep_container_done(&e->containers[i]);
	free(e->containers);
	policy_endpoint_done(&e->pe);
	free(e->held);
	free(e->held_since);
	free(e->mapped);
	endpoint_conflicts_clear(e);
	policy_plan_free(e->installed);
	free(e->netns);
	free(e->node);
	free(e->error);
	free(e);
	return NULL;
}

static void free_deferred(struct loop_deferred *d)
{
	endpoint_free(container_of(d, struct endpoint, deferred));
}

void endpoint_release(struct endpoint *e)
{
	if (!e)
		return;
	endpoint_close(e);
	loop_free_later(e->env->loop, &e->deferred, free_deferred);
}

bool endpoint_live(const struct endpoint *e)
{
	return e->nft != NULL;
}

bool endpoint_peer(const struct endpoint *e)
{
	return (endpoint_live(e) || e->kind == ENDPOINT_KIND_REMOTE) && !e->quarantined;
}

void endpoint_set_error(struct endpoint *e, enum endpoint_state state, const char *fmt, ...)
{
	va_list ap;

	free(e->error);
	e->error = NULL;
	e->state = state;
	va_start(ap, fmt);
	if (vasprintf(&e->error, fmt, ap) < 0)
		e->error = NULL;
	va_end(ap);
}

void endpoint_clear_error(struct endpoint *e, enum endpoint_state state)
{
	free(e->error);
	e->error = NULL;
	e->state = state;
}

void endpoint_addr_event(void *key, void *userdata)
{
	struct endpoint *e = key;

	e->addrs_dirty = true;
	if (e->env->addresses_changed)
		e->env->addresses_changed(e, e->env->userdata);
}

int endpoint_netns(const struct endpoint *e, int *ret_fd)
{
	if (!e->nft)
		return -ENOTCONN;
	return netns_of_socket(nft_sock_fd(e->nft), ret_fd);
}

static int on_nft_event(struct watch *w, uint32_t events)
{
	struct endpoint *e = container_of(w, struct endpoint, ev_watch);

	if (e->env->nft_events_ready)
		e->env->nft_events_ready(e, e->env->userdata);
	return 0;
}

static int on_flow_event(struct watch *w, uint32_t events)
{
	struct endpoint *e = container_of(w, struct endpoint, log_watch);

	if (e->env->flow_logs_ready)
		e->env->flow_logs_ready(e, e->env->userdata);
	return 0;
}

void endpoint_retire_socket(struct endpoint *e)
{
	owner_socket_forget(e->env->fdstore, e->store_name);
}

int endpoint_attach(struct endpoint *e, int nsfd)
{
	const struct endpoint_env *env = e->env;
	int r;

	r = netns_ident(nsfd, &e->ns_dev, &e->ns_ino);
	if (r >= 0)
		r = owner_socket_open(env->nft, env->fdstore, nsfd, "ns", &e->nft, e->store_name);
	/* Subscribe before reading, so that no change falls between the two. */
	if (r >= 0 && env->addr_watch)
		r = addr_watch_add(env->addr_watch, nsfd, e, &e->nsid);
	if (r >= 0 && env->nft_events) {
		r = nft_events_open(nsfd, &e->ev.fd);
		if (r >= 0)
			r = loop_add(env->loop, &e->ev_watch, e->ev.fd, EPOLLIN, on_nft_event);
	}
	if (r >= 0 && env->flow_logs) {
		int k = flows_socket_open(nsfd, &e->log_fd);

		/* Not fatal: enforcement does not depend on it (EBUSY: the group is taken). */
		if (k < 0)
			log_warning_errno(k, "Endpoint %s: no flow logs from netns %s: %m",
					  e->pe.name, e->netns);
		else
			r = loop_add(env->loop, &e->log_watch, e->log_fd, EPOLLIN, on_flow_event);
	}
	/* The nf_tables socket keeps the namespace from here on. */
	safe_close(nsfd);
	if (r >= 0)
		r = endpoint_read_addresses(e);
	if (r < 0) {
		endpoint_retire_socket(e);
		endpoint_close(e);
		return r;
	}
	return 0;
}

int endpoint_read_addresses(struct endpoint *e)
{
	struct policy_addr *addrs = NULL;
	size_t n = 0;
	int nsfd = -1, r;

	r = endpoint_netns(e, &nsfd);
	if (r < 0)
		return r;
	r = addr_read(nsfd, &addrs, &n);
	safe_close(nsfd);
	if (r < 0)
		return r;
	return endpoint_set_addresses(e, addrs, n);
}

int endpoint_set_addresses(struct endpoint *e, struct policy_addr *addrs, size_t n)
{
	struct policy_addr *own = NULL;
	uint64_t *since = NULL;

	if (n == e->n_held && (n == 0 || memcmp(addrs, e->held, n * sizeof(*addrs)) == 0)) {
		free(addrs);
		return 0;
	}
	own = calloc(n + 1, sizeof(*own));
	since = calloc(n + 1, sizeof(*since));
	if (!own || !since) {
		free(own);
		free(since);
		free(addrs);
		return -ENOMEM;
	}
	memcpy(own, addrs, n * sizeof(*own));
	/* An address held before keeps when it was first seen; a new one gets its generation
	 * when the registry settles (0: not yet). */
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < e->n_held; k++)
			if (memcmp(&e->held[k], &addrs[i], sizeof(addrs[i])) == 0)
				since[i] = e->held_since ? e->held_since[k] : 0;
	free(e->held);
	free(e->held_since);
	e->held = addrs;
	e->held_since = since;
	e->n_held = n;
	free(e->pe.addrs);
	e->pe.addrs = own;
	e->pe.n_addrs = n;
	return 1;
}

void endpoint_forget_addresses(struct endpoint *e)
{
	free(e->held);
	free(e->held_since);
	e->held_since = NULL;
	e->held = NULL;
	e->n_held = 0;
	free(e->pe.addrs);
	e->pe.addrs = NULL;
	e->pe.n_addrs = 0;
	endpoint_conflicts_clear(e);
}

void endpoint_conflicts_clear(struct endpoint *e)
{
	for (size_t i = 0; i < e->n_conflicts; i++)
		free(e->conflicts[i].with);
	free(e->conflicts);
	e->conflicts = NULL;
	e->n_conflicts = 0;
}
