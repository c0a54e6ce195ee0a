/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>

#include <libmnl/libmnl.h>
#include <libnetfilter_log/libnetfilter_log.h>

#include "flows.h"
#include "fsutil.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "netlink.h"
#include "netns.h"

#define READ_BUF_SIZE 65536

struct flows {
	json_t *ring[FLOWS_RING];
	uint64_t seq; /* of the newest record; record s lives at ring[s % FLOWS_RING] */
	uint64_t allowed, denied;
	char *file;
	uint64_t max_file_bytes, file_bytes;
	int fd;
	char buf[READ_BUF_SIZE];
};

static int file_open(struct flows *f)
{
	struct stat st;
	int fd;

	fd = open(f->file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int r = -errno;

		safe_close(fd);
		return r;
	}
	safe_close(f->fd);
	f->fd = fd;
	f->file_bytes = (uint64_t)st.st_size;
	return 0;
}

int flows_new(const char *file, uint64_t max_file_bytes, struct flows **ret)
{
	struct flows *f = calloc(1, sizeof(*f));
	int r;

	if (!f)
		return -ENOMEM;
	f->fd = -1;
	f->max_file_bytes = max_file_bytes;
	if (file) {
		f->file = strdup(file);
		if (!f->file) {
			free(f);
			return -ENOMEM;
		}
		r = file_open(f);
		if (r < 0) {
			flows_free(f);
			return log_error_errno(r, "Failed to open the flow log %s: %m", file);
		}
	}
	*ret = f;
	return 0;
}

int flows_reopen(struct flows *f)
{
	return f->file ? file_open(f) : 0;
}

uint64_t flows_count(const struct flows *f, bool denied)
{
	return denied ? f->denied : f->allowed;
}

struct flows *flows_free(struct flows *f)
{
	if (!f)
		return NULL;
	for (size_t i = 0; i < FLOWS_RING; i++)
		json_decref(f->ring[i]);
	safe_close(f->fd);
	free(f->file);
	free(f);
	return NULL;
}

/* ---- the NFLOG socket of one namespace ------------------------------------------------------ */

static int config(int fd, void (*put)(struct nlmsghdr *nlh, const void *arg), const void *arg)
{
	char buf[8192];
	struct nlmsghdr *nlh =
		nflog_nlmsg_put_header(buf, NFULNL_MSG_CONFIG, AF_UNSPEC, FLOWS_NFLOG_GROUP);
	ssize_t n;

	put(nlh, arg);
	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = 1;
	if (send(fd, nlh, nlh->nlmsg_len, 0) < 0)
		return -errno;
	n = netlink_recv(fd, buf, sizeof(buf), 0);
	if (n < 0)
		return (int)n;
	if (mnl_cb_run(buf, (size_t)n, 1, 0, NULL, NULL) < 0)
		return -errno;
	return 0;
}

static void put_bind(struct nlmsghdr *nlh, const void *arg)
{
	nflog_attr_put_cfg_cmd(nlh, NFULNL_CFG_CMD_BIND);
}

static void put_mode(struct nlmsghdr *nlh, const void *arg)
{
	nflog_attr_put_cfg_mode(nlh, NFULNL_COPY_PACKET, POLICY_FLOW_LOG_SNAPLEN);
	/* one packet per message, sent at once: records within a second */
	mnl_attr_put_u32(nlh, NFULA_CFG_QTHRESH, htonl(1));
	mnl_attr_put_u32(nlh, NFULA_CFG_TIMEOUT, htonl(1));
}

int flows_socket_open(int nsfd, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct timeval tv = { .tv_sec = 1 };
	int r;

	r = netns_socket(nsfd, AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER, &fd);
	if (r < 0)
		return r;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	r = config(fd, put_bind, NULL);
	if (r >= 0)
		r = config(fd, put_mode, NULL);
	if (r < 0)
		return r;
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static void put_unbind(struct nlmsghdr *nlh, const void *arg)
{
	nflog_attr_put_cfg_cmd(nlh, NFULNL_CFG_CMD_UNBIND);
}

void flows_socket_unbind(int fd)
{
	char buf[256];
	struct nlmsghdr *nlh =
		nflog_nlmsg_put_header(buf, NFULNL_MSG_CONFIG, AF_UNSPEC, FLOWS_NFLOG_GROUP);

	if (fd < 0)
		return;
	/* No ACK asked: nfnetlink handles it inside send(), and nobody reads this socket
	 * again. */
	put_unbind(nlh, NULL);
	(void)send(fd, nlh, nlh->nlmsg_len, MSG_DONTWAIT);
}

/* ---- records -------------------------------------------------------------------------------- */

static json_t *end_json(const struct flow_party *known, flows_lookup_fn lookup, void *userdata,
			int family, const uint8_t *addr, int port)
{
	struct flow_party p = { 0 };
	bool found = known || (lookup && lookup(family, addr, &p, userdata));
	char buf[INET6_ADDRSTRLEN] = "?";
	json_t *o;

	if (known)
		p = *known;
	inet_ntop(family, addr, buf, sizeof(buf));
	o = json_pack("{s:s}", "address", buf);
	if (o && port >= 0)
		json_object_set_new(o, "port", json_integer(port));
	if (o && found) {
		json_object_set_new(o, "endpoint", json_string(p.name));
		json_object_set_new(o, "namespace", json_string(p.namespace));
		json_object_set_new(o, "labels", json_labels(p.labels));
	}
	return o;
}

int flows_parse_packet(const uint8_t *p, size_t n, struct flow_packet *ret)
{
	struct flow_packet pk = { .sport = -1, .dport = -1 };
	size_t off;

	if (n < 1)
		return -EBADMSG;
	if (p[0] >> 4 == 4) {
		if (n < 20 || (p[0] & 0xf) < 5)
			return -EBADMSG;
		pk.family = AF_INET;
		pk.proto = p[9];
		memcpy(pk.src, p + 12, 4);
		memcpy(pk.dst, p + 16, 4);
		off = (size_t)(p[0] & 0xf) * 4;
		/* a later fragment has no transport header */
		if ((((size_t)p[6] << 8 | p[7]) & 0x1fff) != 0) {
			*ret = pk;
			return 0;
		}
	} else if (p[0] >> 4 == 6) {
		if (n < 40)
			return -EBADMSG;
		pk.family = AF_INET6;
		pk.proto = p[6];
		memcpy(pk.src, p + 8, 16);
		memcpy(pk.dst, p + 24, 16);
		off = 40;
	} else
		return -EBADMSG;
	if ((pk.proto == IPPROTO_TCP || pk.proto == IPPROTO_UDP || pk.proto == IPPROTO_SCTP) &&
	    n >= off + 4) {
		pk.sport = p[off] << 8 | p[off + 1];
		pk.dport = p[off + 2] << 8 | p[off + 3];
	}
	*ret = pk;
	return 0;
}

static json_t *now_json(void)
{
	char buf[40];

	return format_utc_now(buf, sizeof(buf), 6) < 0 ? json_null() : json_string(buf);
}

static void file_append(struct flows *f, json_t *rec)
{
	_cleanup_free_ char *line = NULL;
	size_t len;

	if (f->fd < 0)
		return;
	line = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!line)
		return;
	len = strlen(line);
	line[len++] = '\n';
	if (f->max_file_bytes && f->file_bytes + len > f->max_file_bytes) {
		_cleanup_free_ char *old = NULL;

		/* FILE -> FILE.1 (the previous FILE.1 goes), then a new FILE */
		if (asprintf(&old, "%s.1", f->file) >= 0 && rename(f->file, old) == 0) {
			int fd = open(f->file,
				      O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);

			if (fd >= 0) {
				safe_close(f->fd);
				f->fd = fd;
				f->file_bytes = 0;
			}
		}
	}
	if (write(f->fd, line, len) == (ssize_t)len)
		f->file_bytes += len;
}

static void record(struct flows *f, json_t *rec)
{
	size_t k;

	f->seq++;
	json_object_set_new(rec, "seq", json_integer((json_int_t)f->seq));
	file_append(f, rec);
	k = f->seq % FLOWS_RING;
	json_decref(f->ring[k]);
	f->ring[k] = rec;
}

struct read_ctx {
	struct flows *f;
	const struct flow_party *self;
	const struct policy_plan *plan;
	flows_lookup_fn lookup;
	void *userdata;
};

/* The names of the policies isolating `dir`, and their count. */
static json_t *isolating_json(const struct policy_plan *plan, enum policy_dir dir, size_t *ret_n)
{
	const char **names = plan ? calloc(plan->n_selected_by + 1, sizeof(*names)) : NULL;
	size_t n = policy_plan_isolating(plan, dir, names);
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(names[i]));
	free(names);
	*ret_n = n;
	return a;
}

/* "segd:D:i " (denied, ingress, by the default deny), "segd:D:e:3 " (denied by rule 3 of the
 * plan, a ClusterNetworkPolicy Deny), "segd:A:e:12 " (allowed, egress, rule 12): exactly, or
 * -EINVAL. *ret_index is ULONG_MAX for the default deny. */
static int parse_prefix(const char *prefix, bool *ret_denied, bool *ret_ingress,
			unsigned long *ret_index)
{
	const size_t k = strlen(POLICY_FLOW_PREFIX_DENIED); /* "segd:D:" and "segd:A:" */
	const char *p = prefix + k;
	unsigned long idx = 0;

	if (strncmp(prefix, POLICY_FLOW_PREFIX_DENIED, k) == 0)
		*ret_denied = true;
	else if (strncmp(prefix, POLICY_FLOW_PREFIX_ALLOWED, k) == 0)
		*ret_denied = false;
	else
		return -EINVAL;
	if (*p != 'i' && *p != 'e')
		return -EINVAL;
	*ret_ingress = *p++ == 'i';
	if (*ret_denied && *p != ':')
		idx = ULONG_MAX;
	else {
		if (*p++ != ':' || *p < '0' || *p > '9')
			return -EINVAL;
		for (; *p >= '0' && *p <= '9'; p++) {
			idx = idx * 10 + (unsigned long)(*p - '0');
			if (idx > 1u << 20)
				return -EINVAL;
		}
	}
	if (p[0] != ' ' || p[1] != 0)
		return -EINVAL;
	*ret_index = idx;
	return 0;
}

/* One logged packet from self's namespace. */
static int on_packet(struct read_ctx *c, const char *prefix, const uint8_t *pl, size_t n)
{
	const struct policy_plan *plan = c->plan;
	bool denied, ingress;
	unsigned long idx = 0;
	struct flow_packet pk;
	const char *pn;
	json_t *rec;

	if (parse_prefix(prefix, &denied, &ingress, &idx) < 0)
		return 0; /* not ours: someone else's rule logging to our group */
	/* a denied packet names a rule only if that rule denies */
	if (denied && idx != ULONG_MAX &&
	    (!plan || idx >= plan->n_rules || plan->rules[idx].tier == POLICY_TIER_NETPOL ||
	     plan->rules[idx].action != POLICY_ACTION_DENY))
		return 0;
	if (flows_parse_packet(pl, n, &pk) < 0)
		return 0;

	pn = policy_ipproto_to_string(pk.proto);
	rec = json_pack("{s:o, s:s, s:s, s:s, s:o, s:o, s:o}", "time", now_json(), "verdict",
			denied ? "denied" : "allowed", "direction", ingress ? "ingress" : "egress",
			"family", policy_family_to_string(pk.family), "protocol",
			pn ? json_string(pn) : json_integer(pk.proto), "source",
			end_json(ingress ? NULL : c->self, c->lookup, c->userdata, pk.family,
				 pk.src, pk.sport),
			"destination",
			end_json(ingress ? c->self : NULL, c->lookup, c->userdata, pk.family,
				 pk.dst, pk.dport));
	if (!rec)
		return -ENOMEM;
	json_object_set_new(rec, "enforced_at", json_string(c->self->name));
	if (plan && idx < plan->n_rules) {
		const struct policy_plan_rule *r = &plan->rules[idx];

		json_object_set_new(rec, "policy",
				    json_sprintf("%s/%s",
						 r->policy_namespace ? r->policy_namespace : "cnp",
						 r->policy_name));
		json_object_set_new(rec, "rule",
				    r->rule_name
					    ? json_sprintf("%s[%s]", policy_dir_to_string(r->dir),
							   r->rule_name)
					    : json_sprintf("%s[%u]", policy_dir_to_string(r->dir),
							   r->rule_index));
		if (r->tier != POLICY_TIER_NETPOL)
			json_object_set_new(rec, "tier",
					    json_string(policy_tier_to_string(r->tier)));
	}
	if (denied && plan && idx < plan->n_rules) {
		const struct policy_plan_rule *r = &plan->rules[idx];

		json_object_set_new(rec, "reason",
				    json_sprintf("denied by %s tier cnp/%s (priority %u)",
						 policy_tier_to_string(r->tier), r->policy_name,
						 r->priority));
		c->f->denied++;
	} else if (denied) {
		size_t n_sel = 0;
		json_t *sel = isolating_json(plan, ingress ? POLICY_DIR_INGRESS : POLICY_DIR_EGRESS,
					     &n_sel);

		json_object_set_new(rec, "policies", sel);
		json_object_set_new(
			rec, "reason",
			json_sprintf(
				"%s is isolated for %s by %zu polic%s and none of their rules allows it",
				c->self->name, ingress ? "ingress" : "egress", n_sel,
				n_sel == 1 ? "y" : "ies"));
		c->f->denied++;
	} else
		c->f->allowed++;
	record(c->f, rec);
	return 0;
}

static int log_cb(const struct nlmsghdr *nlh, void *data)
{
	struct read_ctx *c = data;
	struct nlattr *attr[NFULA_MAX + 1] = { 0 };
	const char *prefix;

	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_ULOG ||
	    NFNL_MSG_TYPE(nlh->nlmsg_type) != NFULNL_MSG_PACKET)
		return MNL_CB_OK;
	if (nflog_nlmsg_parse(nlh, attr) < 0 || !attr[NFULA_PREFIX] || !attr[NFULA_PAYLOAD])
		return MNL_CB_OK;
	prefix = mnl_attr_get_str(attr[NFULA_PREFIX]);
	if (mnl_attr_get_payload_len(attr[NFULA_PREFIX]) == 0 ||
	    !memchr(prefix, 0, mnl_attr_get_payload_len(attr[NFULA_PREFIX])))
		return MNL_CB_OK;
	return on_packet(c, prefix, mnl_attr_get_payload(attr[NFULA_PAYLOAD]),
			 mnl_attr_get_payload_len(attr[NFULA_PAYLOAD])) < 0
		       ? MNL_CB_ERROR
		       : MNL_CB_OK;
}

int flows_record(struct flows *f, const void *buf, size_t len, const struct flow_party *self,
		 const struct policy_plan *plan, flows_lookup_fn lookup, void *userdata)
{
	struct read_ctx c = { .f = f,
			      .self = self,
			      .plan = plan,
			      .lookup = lookup,
			      .userdata = userdata };

	if (!netlink_datagram_valid(buf, len))
		return -EBADMSG;
	return mnl_cb_run(buf, len, 0, 0, log_cb, &c) < 0 && errno == ENOMEM ? -ENOMEM : 0;
}

int flows_read(struct flows *f, int fd, const struct flow_party *self,
	       const struct policy_plan *plan, flows_lookup_fn lookup, void *userdata)
{
	for (int i = 0; i < 256; i++) {
		ssize_t n = netlink_recv(fd, f->buf, sizeof(f->buf), 0);

		if (n == -ENOBUFS) {
			log_debug("Endpoint %s: flow log messages lost (socket overran)",
				  self->name);
			continue;
		}
		if (n == -EAGAIN)
			return 0;
		if (n < 0)
			return (int)n;
		if (flows_record(f, f->buf, (size_t)n, self, plan, lookup, userdata) == -ENOMEM)
			return -ENOMEM;
	}
	return 0;
}

/* ---- queries -------------------------------------------------------------------------------- */

static bool names(json_t *rec, const char *side, const char *endpoint)
{
	const char *n = json_string_value(json_object_get(json_object_get(rec, side), "endpoint"));

	return n && streq(n, endpoint);
}

json_t *flows_query(struct flows *f, const struct flows_filter *q)
{
	const char *endpoint = q->endpoint, *verdict = q->verdict, *time_from = q->time_from;
	uint64_t since = q->since;
	size_t limit = q->limit;
	uint64_t oldest = f->seq >= FLOWS_RING ? f->seq - FLOWS_RING + 1 : 1, next = since;
	json_t *list = json_array();

	if (!list)
		return NULL;
	if (limit == 0 || limit > FLOWS_QUERY_MAX)
		limit = FLOWS_QUERY_MAX;
	for (uint64_t s = since + 1 > oldest ? since + 1 : oldest; s <= f->seq; s++) {
		json_t *rec = f->ring[s % FLOWS_RING];

		if (json_array_size(list) == limit)
			break;
		next = s;
		if (!rec)
			continue;
		if (endpoint && !names(rec, "source", endpoint) &&
		    !names(rec, "destination", endpoint))
			continue;
		if (verdict && !streq(json_string_value(json_object_get(rec, "verdict")), verdict))
			continue;
		/* same format, UTC: the text order is the time order */
		if (time_from &&
		    strcmp(json_string_value(json_object_get(rec, "time")) ?: "", time_from) < 0)
			continue;
		json_array_append(list, rec);
	}
	if (next < f->seq && json_array_size(list) < limit)
		next = f->seq;
	return json_pack("{s:o, s:I, s:I}", "flows", list, "next", (json_int_t)next, "dropped",
			 (json_int_t)(since + 1 < oldest ? oldest - since - 1 : 0));
}
