/* SPDX-License-Identifier: MIT */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "nft-sock.h"
#include "nft-txn.h"
#include "policy/policy.h"

/*
 * Host-side guards (policy.h, policy_emit_guard): for each interface of an endpoint whose veth
 * peer lives in another namespace, a netdev table on that peer device, committed through a
 * socket of that namespace which owns it. The peer's namespace is found by its id as the
 * endpoint's namespace sees it (IFLA_LINK_NETNSID): among the namespaces already guarded in,
 * the host's, and those named under the search directories (/run/netns). One socket per peer
 * namespace is shared by every device guarded there.
 *
 * Interfaces with nothing to guard on a host side (macvlan, ipvlan, a physical device moved
 * in, a veth whose peer is in a namespace segd cannot name) make the guard partial or absent,
 * with the reason; loopback and interfaces that only ride on others (tunnels, VLANs, bridges,
 * a veth pair kept inside the namespace) need none.
 */

enum guard_state {
	GUARD_PENDING,	/* not looked at yet */
	GUARD_ENFORCED, /* every way out is guarded (possibly none: only loopback) */
	GUARD_PARTIAL,	/* some interfaces guarded, others cannot be (reason) */
	GUARD_NONE,	/* nothing could be guarded (reason) */
	GUARD_ERROR,	/* a guard table could not be committed (reason) */
	_GUARD_STATE_MAX,
};

const char *guard_state_to_string(enum guard_state s);

struct guards;

struct guard_ns {
	struct guards *hub;
	ino_t ino;
	int fd;
	char store_name[64]; /* its socket's copy in the fd store ("" if none) */
	char *label;	     /* "host", or its name under a search directory */
	struct nft_sock *s;
	unsigned refs;
};

struct guard_dev {
	struct guard_ns *ns;
	int ifindex; /* host side, in ns */
	char ifname[IF_NAMESIZE];
	char ep_ifname[IF_NAMESIZE];
	uint8_t mac[6]; /* the endpoint end's, as first seen */
	char table[32];
	bool installed;
};

struct ep_guard {
	enum guard_state state;
	char *reason; /* why not (fully) guarded, or the error; NULL when enforced */
	struct guard_dev *devs;
	size_t n_devs;
	bool stale; /* its interfaces may have changed: discover again */
	/* what the installed tables pin */
	struct policy_addr *addrs;
	size_t n_addrs;
};

struct closer;
struct fdstore;

struct guards {
	struct nft_rx *rx;
	struct fdstore *fdstore; /* keeps the owner sockets across restarts; NULL: none */
	struct closer *closer;	 /* closes a namespace's socket off the loop; NULL: here */
	ino_t host_ino;
	const char *search_dir; /* NETNS_RUN_DIR; tests may point elsewhere */
	struct guard_ns **nss;
	size_t n_nss;
	uint32_t table_flags;
	uint64_t commits, errors;
};

int guards_new(struct nft_rx *rx, struct guards **ret);
struct guards *guards_free(struct guards *gs);

/*
 * Looks at the interfaces of the endpoint's namespace (nsfd, inode ino) and sets g's devices,
 * state and reason. Devices seen before keep their MAC (a workload changing its MAC does not
 * move the pin); tables of devices no longer there are deleted.
 */
int guard_discover(struct guards *gs, int nsfd, ino_t ino, struct ep_guard *g);
/*
 * Brings every device's table to (plan, addrs): by set elements alone when only the plan's
 * elements changed since `old` and the addresses are the same, else by replacing it. On
 * failure g is in state error with the reason, and *reterr says where.
 */
int guard_commit(struct guards *gs, struct ep_guard *g, const struct policy_plan *old,
		 const struct policy_plan *plan, const struct policy_addr *addrs, size_t n_addrs,
		 struct nft_error *reterr);
/* Forgets g's devices; with delete, removes their tables first (the endpoint is gone), and a
 * peer namespace no endpoint guards in any more leaves the fd store. */
void guard_drop(struct ep_guard *g, bool delete);

/* Whether a guard table (name) in guard namespace ns (a struct guard_ns *, or the namespace
 * given to guard_sweep_socket) belongs to a device some endpoint guards. */
typedef bool (*guard_claimed_fn)(const void *ns, const char *table, void *userdata);
/*
 * Deletes the guard tables (netdev segd-N) that s owns and claimed() does not claim (NULL: none
 * is claimed): left by devices that went while segd was not looking (a container removed while
 * segd was down). Only tables s owns: another segd's, or nobody's, are left alone. The number
 * deleted, or -errno.
 */
int guard_sweep_socket(struct nft_sock *s, const char *label, guard_claimed_fn claimed,
		       const void *ns, void *userdata);
/* guard_sweep_socket() over every guard namespace's socket. The caller makes sure every
 * endpoint's devices are known (none pending discovery). */
int guards_sweep(struct guards *gs, guard_claimed_fn claimed, void *userdata);
