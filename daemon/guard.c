/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>

#include "closer.h"
#include "guard.h"
#include "links.h"
#include "log.h"
#include "macro.h"
#include "netns.h"
#include "nft-table.h"
#include "nftnl-util.h"
#include "owner.h"

DEFINE_CLEANUP(DIR *, closedir);

static const char *const state_names[_GUARD_STATE_MAX] = {
	[GUARD_PENDING] = "pending", [GUARD_ENFORCED] = "enforced", [GUARD_PARTIAL] = "partial",
	[GUARD_NONE] = "none",	     [GUARD_ERROR] = "error",
};

const char *guard_state_to_string(enum guard_state s)
{
	return s < _GUARD_STATE_MAX ? state_names[s] : "unknown";
}

int guards_new(struct nft_rx *rx, struct guards **ret)
{
	struct guards *gs = calloc(1, sizeof(*gs));
	int r;

	if (!gs)
		return -ENOMEM;
	gs->rx = rx;
	gs->search_dir = NETNS_RUN_DIR;
	r = netns_host_inode(&gs->host_ino);
	if (r < 0) {
		free(gs);
		return r;
	}
	*ret = gs;
	return 0;
}

static void ns_free(struct guard_ns *ns)
{
	/* Closed right after its last table's deletion: its release waits (closer.h). */
	closer_free_nft_sock(ns->hub->closer, ns->s);
	safe_close(ns->fd);
	free(ns->label);
	free(ns);
}

struct guards *guards_free(struct guards *gs)
{
	if (!gs)
		return NULL;
	/* Endpoints drop their references first; what is left is closed, tables stay. */
	for (size_t i = 0; i < gs->n_nss; i++)
		ns_free(gs->nss[i]);
	free(gs->nss);
	free(gs);
	return NULL;
}

static void ns_unref(struct guard_ns *ns, bool forget)
{
	struct guards *gs = ns->hub;

	if (--ns->refs > 0)
		return;
	if (forget) {
		/* No endpoint guards a device here any more: tables this socket still owns are
		 * of devices that went while segd was down (kept by the fd store till now). */
		int r = guard_sweep_socket(ns->s, ns->label, NULL, NULL, NULL);

		if (r < 0)
			log_debug_errno(r, "Cannot sweep guard tables in %s: %m", ns->label);
		owner_socket_forget(gs->fdstore, ns->store_name);
	}
	for (size_t i = 0; i < gs->n_nss; i++)
		if (gs->nss[i] == ns) {
			gs->nss[i] = gs->nss[--gs->n_nss];
			break;
		}
	ns_free(ns);
}

/* A new shared namespace of the hub, taking fd. */
static int ns_add(struct guards *gs, int fd, ino_t ino, const char *label, struct guard_ns **ret)
{
	struct guard_ns *ns, **nss;
	int r;

	nss = reallocarray(gs->nss, gs->n_nss + 1, sizeof(*nss));
	if (!nss) {
		close(fd);
		return -ENOMEM;
	}
	gs->nss = nss;
	ns = calloc(1, sizeof(*ns));
	if (!ns) {
		close(fd);
		return -ENOMEM;
	}
	*ns = (struct guard_ns){ .hub = gs, .ino = ino, .fd = fd, .label = strdup(label) };
	if (!ns->label)
		r = -ENOMEM;
	else
		r = owner_socket_open(gs->rx, gs->fdstore, fd, "guard", &ns->s, ns->store_name);
	if (r < 0) {
		ns_free(ns);
		return r;
	}
	gs->nss[gs->n_nss++] = ns;
	*ret = ns;
	return 0;
}

/* Whether namespace fd has id nsid in the endpoint's namespace (nl). */
static bool ns_matches(struct mnl_socket *nl, int fd, int32_t nsid)
{
	int32_t id;

	return links_nsid_of(nl, fd, &id) >= 0 && id == nsid;
}

/* The guard namespace whose id in the endpoint's namespace is nsid: a known one, the host's,
 * or one named in the search directory. -ENOENT if none. */
static int find_ns(struct guards *gs, struct mnl_socket *nl, ino_t ep_ino, int32_t nsid,
		   struct guard_ns **ret)
{
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;
	int fd = -1, r;

	for (size_t i = 0; i < gs->n_nss; i++)
		if (ns_matches(nl, gs->nss[i]->fd, nsid)) {
			*ret = gs->nss[i];
			return 0;
		}
	if (gs->host_ino != ep_ino) {
		fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (ns_matches(nl, fd, nsid))
			return ns_add(gs, fd, gs->host_ino, "host", ret);
		fd = safe_close(fd);
	}
	d = opendir(gs->search_dir);
	if (!d)
		return errno == ENOENT ? -ENOENT : -errno;
	while ((de = readdir(d))) {
		ino_t ino = 0;
		bool known = false;

		if (de->d_name[0] == '.')
			continue;
		r = netns_open_name(de->d_name, &fd);
		if (r < 0)
			continue;
		if (netns_inode(fd, &ino) < 0 || ino == ep_ino || ino == gs->host_ino) {
			fd = safe_close(fd);
			continue;
		}
		for (size_t i = 0; i < gs->n_nss; i++)
			known = known || gs->nss[i]->ino == ino;
		if (!known && ns_matches(nl, fd, nsid))
			return ns_add(gs, fd, ino, de->d_name, ret);
		fd = safe_close(fd);
	}
	return -ENOENT;
}

/* Interfaces whose traffic leaves through another interface of the namespace, or not at all. */
static bool rides_on_others(const char *kind)
{
	static const char *const kinds[] = {
		"bridge", "bond",  "vlan",   "vxlan",  "geneve",    "gre",  "gretap",
		"ip6gre", "ipip",  "ip6tnl", "sit",    "wireguard", "tun",  "vrf",
		"ifb",	  "nlmon", "dummy",  "macsec", "team",	    "veth",
	};

	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (streq(kind, kinds[i]))
			return true;
	return false;
}

static const struct guard_dev *dev_find(const struct ep_guard *g, const struct guard_ns *ns,
					int ifindex)
{
	for (size_t i = 0; i < g->n_devs; i++)
		if (g->devs[i].ns == ns && g->devs[i].ifindex == ifindex)
			return &g->devs[i];
	return NULL;
}

static void dev_delete_table(struct guard_dev *d)
{
	int r;

	if (!d->installed)
		return;
	r = nft_delete_table_named(d->ns->s, NFPROTO_NETDEV, d->table);
	if (r < 0)
		log_debug_errno(r, "Failed to delete guard table %s in %s: %m", d->table,
				d->ns->label);
	d->installed = false;
}

/* Appends "; " + text to *reason. */
static int reason_add(char **reason, const char *fmt, ...) _printf_(2, 3);
static int reason_add(char **reason, const char *fmt, ...)
{
	_cleanup_free_ char *text = NULL, *joined = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	if (!*reason) {
		*reason = TAKE_PTR(text);
		return 0;
	}
	if (asprintf(&joined, "%s; %s", *reason, text) < 0)
		return -ENOMEM;
	free(*reason);
	*reason = TAKE_PTR(joined);
	return 0;
}

int guard_discover(struct guards *gs, int nsfd, ino_t ino, struct ep_guard *g)
{
	_cleanup_(mnl_socket_closep) struct mnl_socket *nl = NULL;
	_cleanup_free_ struct link_info *links = NULL;
	_cleanup_free_ struct guard_dev *devs = NULL;
	_cleanup_free_ char *reason = NULL;
	size_t n_links = 0, n_devs = 0, unguarded = 0;
	int r;

	r = links_read(nsfd, &links, &n_links);
	if (r < 0)
		return r;
	devs = calloc(n_links + 1, sizeof(*devs));
	if (!devs)
		return -ENOMEM;

	for (size_t i = 0; i < n_links; i++) {
		const struct link_info *li = &links[i];
		const struct guard_dev *old;
		struct guard_ns *ns = NULL;
		struct guard_dev *d;

		if (li->loopback)
			continue;
		if (streq(li->kind, "veth") && li->peer_nsid >= 0) {
			/* the namespace's own socket, to name its peers' namespaces: opened for
			 * the first veth (a namespace with none needs no second socket) */
			if (!nl && (r = links_rtnl_open(nsfd, &nl)) < 0)
				goto fail;
			r = find_ns(gs, nl, ino, li->peer_nsid, &ns);
			if (r == -ENOMEM)
				goto fail;
			if (r < 0) {
				unguarded++;
				if (reason_add(&reason,
					       "%s: its peer is in a namespace segd cannot name",
					       li->name) < 0)
					goto oom;
				continue;
			}
			d = &devs[n_devs];
			*d = (struct guard_dev){ .ns = ns, .ifindex = li->peer_ifindex };
			r = links_name(ns->fd, li->peer_ifindex, d->ifname);
			if (r < 0) {
				unguarded++;
				if (reason_add(&reason, "%s: its peer device is gone", li->name) <
				    0)
					goto oom;
				continue;
			}
			snprintf(d->ep_ifname, sizeof(d->ep_ifname), "%s", li->name);
			snprintf(d->table, sizeof(d->table), POLICY_GUARD_TABLE_PREFIX "%d",
				 li->peer_ifindex);
			old = dev_find(g, ns, li->peer_ifindex);
			if (old) {
				memcpy(d->mac, old->mac, 6);
				/* a renamed device: its chain is bound by name, so it is made
				 * again */
				d->installed = old->installed && streq(old->ifname, d->ifname);
			} else if (li->has_mac)
				memcpy(d->mac, li->mac, 6);
			ns->refs++;
			n_devs++;
			continue;
		}
		if (li->kind[0] && rides_on_others(li->kind))
			continue;
		unguarded++;
		if (reason_add(&reason, "%s (%s): no host-side device to guard", li->name,
			       li->kind[0] ? li->kind : "device") < 0)
			goto oom;
	}

	/* Tables of devices that are gone go; references move to the new list. */
	for (size_t i = 0; i < g->n_devs; i++) {
		bool kept = false;

		for (size_t k = 0; k < n_devs; k++)
			kept = kept || (devs[k].ns == g->devs[i].ns &&
					devs[k].ifindex == g->devs[i].ifindex);
		if (!kept)
			dev_delete_table(&g->devs[i]);
		ns_unref(g->devs[i].ns, true);
	}
	free(g->devs);
	g->devs = TAKE_PTR(devs);
	g->n_devs = n_devs;
	free(g->reason);
	g->reason = TAKE_PTR(reason);
	g->state = unguarded == 0 ? GUARD_ENFORCED : n_devs > 0 ? GUARD_PARTIAL : GUARD_NONE;
	g->stale = false;
	/* Devices are committed by guard_commit(); a new one is not installed yet. */
	return 0;
oom:
	r = -ENOMEM;
fail:
	for (size_t k = 0; k < n_devs; k++)
		ns_unref(devs[k].ns, false);
	return r;
}

static bool same_addrs(const struct ep_guard *g, const struct policy_addr *addrs, size_t n)
{
	return g->n_addrs == n && (n == 0 || memcmp(g->addrs, addrs, n * sizeof(*addrs)) == 0);
}

int guard_commit(struct guards *gs, struct ep_guard *g, const struct policy_plan *old,
		 const struct policy_plan *plan, const struct policy_addr *addrs, size_t n_addrs,
		 struct nft_error *reterr)
{
	bool addrs_same = same_addrs(g, addrs, n_addrs);
	struct policy_addr *copy = NULL;
	bool loses = false;
	int r = 0;

	/* Elements gone: the reply records (flows its ingress admitted) may name peers it no
	 * longer admits; a new table starts them afresh, as the cut conntrack entries do. With
	 * tiers an element added can deny too (a Deny's set grows, a Pass's set takes a peer an
	 * Accept after it had): any change does. */
	if (old && policy_plan_same_shape(old, plan)) {
		struct policy_plan_diff diff = { 0 };

		loses = policy_plan_has_tiers(old) || policy_plan_diff(old, plan, &diff) < 0 ||
			diff.n_elems_removed > 0;
		policy_plan_diff_done(&diff);
	}

	for (size_t i = 0; i < g->n_devs; i++) {
		struct guard_dev *d = &g->devs[i];
		struct policy_guard pg = {
			.table = d->table,
			.device = d->ifname,
			.ifindex = (uint32_t)d->ifindex,
			.addrs = addrs,
			.n_addrs = n_addrs,
			.plan = plan,
			.table_flags = gs->table_flags,
		};

		memcpy(pg.mac, d->mac, 6);
		*reterr = (struct nft_error){ 0 };
		if (d->installed && addrs_same && old && policy_plan_equal(old, plan))
			continue;
		r = -ESTALE;
		if (d->installed && addrs_same && old && !loses &&
		    policy_plan_same_shape(old, plan))
			r = nft_update_elements_in(d->ns->s, NFPROTO_NETDEV, d->table, old, plan,
						   reterr);
		if (r < 0) {
			*reterr = (struct nft_error){ 0 };
			r = nft_replace_guard(d->ns->s, &pg, reterr);
		}
		gs->commits++;
		if (r < 0) {
			gs->errors++;
			d->installed = false;
			free(g->reason);
			g->state = GUARD_ERROR;
			if (asprintf(&g->reason, "guard of %s (%s in %s) not committed: %s%s%s",
				     d->ep_ifname, d->ifname, d->ns->label, strerror(-r),
				     reterr->message[0] ? ": " : "", reterr->message) < 0)
				g->reason = NULL;
			return r;
		}
		d->installed = true;
	}
	if (!addrs_same) {
		if (n_addrs > 0) {
			copy = calloc(n_addrs, sizeof(*copy));
			if (!copy)
				return -ENOMEM;
			memcpy(copy, addrs, n_addrs * sizeof(*copy));
		}
		free(g->addrs);
		g->addrs = copy;
		g->n_addrs = n_addrs;
	}
	if (g->state == GUARD_ERROR) {
		/* committed again: back to what discovery found */
		g->stale = true;
	}
	return 0;
}

void guard_drop(struct ep_guard *g, bool delete)
{
	for (size_t i = 0; i < g->n_devs; i++) {
		if (delete)
			dev_delete_table(&g->devs[i]);
		ns_unref(g->devs[i].ns, delete);
	}
	free(g->devs);
	free(g->reason);
	free(g->addrs);
	*g = (struct ep_guard){ 0 };
}

struct owned_tables {
	uint32_t portid;
	char (*names)[32];
	size_t n;
	int r;
};

static int owned_cb(const struct nlmsghdr *nlh, void *data)
{
	_cleanup_(nftnl_table_freep) struct nftnl_table *tb = nftnl_table_alloc();
	struct owned_tables *o = data;
	const char *name;
	char(*p)[32];

	if (!tb || nftnl_table_nlmsg_parse(nlh, tb) < 0)
		return MNL_CB_ERROR;
	name = nftnl_table_get_str(tb, NFTNL_TABLE_NAME);
	if (!name || strncmp(name, POLICY_GUARD_TABLE_PREFIX, strlen(POLICY_GUARD_TABLE_PREFIX)) ||
	    strlen(name) >= sizeof(*o->names) || !nftnl_table_is_set(tb, NFTNL_TABLE_OWNER) ||
	    nftnl_table_get_u32(tb, NFTNL_TABLE_OWNER) != o->portid)
		return MNL_CB_OK;
	p = reallocarray(o->names, o->n + 1, sizeof(*p));
	if (!p) {
		o->r = -ENOMEM;
		return MNL_CB_ERROR;
	}
	o->names = p;
	snprintf(o->names[o->n++], sizeof(*o->names), "%s", name);
	return MNL_CB_OK;
}

int guard_sweep_socket(struct nft_sock *s, const char *label, guard_claimed_fn claimed,
		       const void *ns, void *userdata)
{
	struct owned_tables o = { .portid = nft_sock_portid(s) };
	char buf[256] = {};
	struct nlmsghdr *nlh;
	int r, deleted = 0;

	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, NFPROTO_NETDEV, NLM_F_DUMP,
				    nft_sock_next_seq(s));
	r = nft_sock_request(s, nlh, owned_cb, &o);
	if (o.r < 0)
		r = o.r;
	for (size_t i = 0; r >= 0 && i < o.n; i++) {
		if (claimed && claimed(ns, o.names[i], userdata))
			continue;
		r = nft_delete_table_named(s, NFPROTO_NETDEV, o.names[i]);
		if (r < 0)
			break;
		log_info("Guard table %s in %s deleted: no endpoint's interface has it", o.names[i],
			 label);
		deleted++;
	}
	free(o.names);
	return r < 0 ? r : deleted;
}

int guards_sweep(struct guards *gs, guard_claimed_fn claimed, void *userdata)
{
	int n = 0;

	for (size_t i = 0; i < gs->n_nss; i++) {
		int r = guard_sweep_socket(gs->nss[i]->s, gs->nss[i]->label, claimed, gs->nss[i],
					   userdata);

		if (r < 0)
			return r;
		n += r;
	}
	return n;
}
