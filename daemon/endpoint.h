/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr-watch.h"
#include "backoff.h"
#include "guard.h"
#include "loop.h"
#include "nft-events.h"
#include "nft-sock.h"
#include "policy/policy.h"

struct closer;

/*
 * An endpoint: one network namespace segd enforces in (a plain namespace registered by hand, or
 * the namespace of one or more containers), the table it committed there, and the sockets it
 * holds in it. Descriptors per endpoint (docs/architecture.md, "Descriptors per endpoint"):
 * the nf_tables socket that owns the table, which is also what keeps the namespace alive (no
 * separate pin: endpoint_netns() gets the namespace back from it), and the NFLOG socket when
 * flow logs are on; nf_tables events (only when tables cannot be owned) add one more. Address
 * and link changes come from the one host-side socket of env->addr_watch, which maps the
 * namespace's nsid to the endpoint. What those sockets report goes to the callbacks of its
 * endpoint_env; the endpoint itself decides nothing.
 */

enum endpoint_state {
	ENDPOINT_PENDING,	/* registered, table not yet committed */
	ENDPOINT_ENFORCED,	/* the kernel holds its current plan */
	ENDPOINT_ERROR,		/* see error; the last committed table (if any) stays in place */
	ENDPOINT_UNENFORCEABLE, /* segd cannot enforce here (host network) */
	/* another process owns table inet segd in its namespace: an alarm; segd enforces from
	 * a table of another name (table), see error */
	ENDPOINT_COMPROMISED,
	/* the kernel refused its ruleset: it keeps the last one committed (default-deny if it
	 * had none), see error, and is tried again on its own (retry); other endpoints' changes
	 * do not wait for it */
	ENDPOINT_FAILED,
	/* enforced by another node of the fleet: here only a peer (ENDPOINT_KIND_REMOTE) */
	ENDPOINT_REMOTE,
	_ENDPOINT_STATE_MAX,
};

const char *endpoint_state_to_string(enum endpoint_state s);

enum endpoint_kind {
	ENDPOINT_KIND_NETNS,	 /* registered by hand: segctl endpoint add */
	ENDPOINT_KIND_CONTAINER, /* from the engine API or the OCI hook */
	/* another node's endpoint, from the fleet's store (docs/fleet.md): named "NODE/NAME",
	 * no namespace, no table here; its addresses are what that node published */
	ENDPOINT_KIND_REMOTE,
	_ENDPOINT_KIND_MAX,
};

/* One container of a container endpoint (several share one namespace in a pod). */
struct ep_container {
	char *id;
	char *name; /* NULL until the engine names it */
	struct policy_labels labels;
	bool known;		/* labels are known (engine inspect, or annotation) */
	char *invalid;		/* why its labels cannot be used, or NULL */
	bool owner;		/* created the namespace (not --network container:X) */
	uint64_t observed_usec; /* CLOCK_MONOTONIC when the engine's newest view of it arrived */
};

/* An address the endpoint's namespace holds that another endpoint's holds too. */
struct ep_conflict {
	struct policy_addr addr;
	char *with; /* the other holders' names, ", "-separated */
	bool owner; /* it held the address first: it keeps it */
};

struct endpoint;

/* What every endpoint shares: the loop, the nf_tables context, which sockets to open, and
 * where their news goes (called from the loop). */
struct endpoint_env {
	struct loop *loop;
	struct nft_rx *nft;
	struct fdstore *fdstore; /* keeps owner sockets across restarts; NULL: none */
	/* address changes of every endpoint (its callback: endpoint_addr_event); NULL: addresses
	 * are read at attach and not followed */
	struct addr_watch *addr_watch;
	struct closer *closer; /* closes nfnetlink sockets off the loop; NULL: here */
	bool nft_events;       /* follow nf_tables events (tables not owned: drift) */
	bool flow_logs;	       /* read NFLOG */
	void (*addresses_changed)(struct endpoint *e, void *userdata);
	void (*nft_events_ready)(struct endpoint *e, void *userdata);
	void (*flow_logs_ready)(struct endpoint *e, void *userdata);
	void *userdata;
};

struct endpoint {
	const struct endpoint_env *env;
	enum endpoint_kind kind;
	struct ep_container *containers; /* sorted by id */
	size_t n_containers;
	/* Labels unknown or unusable: default-deny both ways, and not anyone's peer. */
	bool quarantined;
	/* name, namespace, labels, named ports, and addrs: the addresses that are its alone
	 * (held minus conflicts, see registry_settle_addresses) */
	struct policy_endpoint pe;
	struct policy_addr *held; /* what its namespace holds, sorted */
	uint64_t *held_since;	  /* for each, the registry generation it was first seen in */
	size_t n_held;
	struct ep_conflict *conflicts; /* held by another endpoint too */
	size_t n_conflicts;
	/* The registry's view (registry.c): the addresses its address map holds for it (sorted),
	 * whether it is in the registry, and whether its held addresses wait to be settled. */
	struct policy_addr *mapped;
	size_t n_mapped;
	bool registered, held_pending, settle_seen, addr_listed;
	dev_t mapped_dev; /* the identity the registry finds it by */
	ino_t mapped_ino;
	char *netns;  /* name under /run/netns, or a path for containers ("" when remote) */
	char *node;   /* ENDPOINT_KIND_REMOTE: the node that enforces it; else NULL (this one) */
	dev_t ns_dev; /* its identity (nsfs device and inode): one namespace, one endpoint */
	ino_t ns_ino;
	struct nft_sock *nft; /* owns our table in that namespace, and keeps the namespace */
	char store_name[64];  /* its copy in the fd store ("" if none) */
	char table[32];	      /* its name: POLICY_NFT_TABLE, or a fallback when compromised */
	int32_t nsid;	      /* its namespace's id in segd's, in env->addr_watch; -1: not there */
	struct nft_events ev; /* nf_tables change events (only without the owner flag) */
	struct watch ev_watch;
	int log_fd; /* NFLOG: this namespace's flow logs */
	struct watch log_watch;
	bool addrs_dirty;
	struct policy_plan *installed; /* what the kernel holds, NULL before the first commit */
	struct ep_guard guard;	       /* host-side guards of its interfaces */
	bool dirty;	      /* its plan may have changed: recompile at the next reconcile */
	struct backoff retry; /* its commits failing in a row, and when to try again */
	enum endpoint_state state;
	char *error;
	struct loop_deferred deferred;
};

/* base with e's table. */
static inline struct policy_emit_options endpoint_emit(const struct endpoint *e,
						       const struct policy_emit_options *base)
{
	struct policy_emit_options o = *base;

	o.table = e->table;
	return o;
}

int endpoint_new(const struct endpoint_env *env, enum endpoint_kind kind, const char *name,
		 const char *netns, const char *ns, struct endpoint **ret);
struct endpoint *endpoint_free(struct endpoint *e);
/* Closes its sockets and frees it once the current loop round is over (its watches may have
 * events pending in it). */
void endpoint_release(struct endpoint *e);
/* Takes nsfd (a namespace), opens our sockets in it, follows its addresses and reads them;
 * nsfd is closed (the nf_tables socket keeps the namespace). On failure nothing is left open,
 * nsfd included. */
int endpoint_attach(struct endpoint *e, int nsfd);
/* Closes every socket: the table stays in the kernel (PERSIST), no longer ours to change.
 * Nothing is left to retry. */
void endpoint_close(struct endpoint *e);
/* A new fd of e's namespace (from its nf_tables socket), for the caller to close: -ENOTCONN
 * if e is not attached. */
int endpoint_netns(const struct endpoint *e, int *ret_fd);
/* env->addr_watch's callback: key (an endpoint) changed addresses or links. */
void endpoint_addr_event(void *key, void *userdata);
/* Attached to its namespace: it can have a table, and its addresses are real. */
bool endpoint_live(const struct endpoint *e);
/* Can be anyone's peer: attached here or enforced by another node, with usable labels (a
 * dead endpoint's address may be reused by anyone; a quarantined one has no labels). */
bool endpoint_peer(const struct endpoint *e);
void endpoint_set_error(struct endpoint *e, enum endpoint_state state, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void endpoint_clear_error(struct endpoint *e, enum endpoint_state state);
/* Replaces the held addresses with what the namespace holds now: 1 if they changed, 0 if not.
 * Its own addresses (pe.addrs) become the held ones until the registry settles conflicts. */
int endpoint_read_addresses(struct endpoint *e);
/* Replaces the held addresses with addrs (sorted, n of them; taken): 1 if they changed (then
 * the registry must hear of it: registry_held_changed), 0 if not (addrs freed). */
int endpoint_set_addresses(struct endpoint *e, struct policy_addr *addrs, size_t n);
/* Forgets every address (its namespace is gone). */
void endpoint_forget_addresses(struct endpoint *e);
void endpoint_conflicts_clear(struct endpoint *e);
void ep_container_done(struct ep_container *c);

/* e is gone for good: its socket leaves the store. */
void endpoint_retire_socket(struct endpoint *e);
