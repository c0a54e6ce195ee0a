/* SPDX-License-Identifier: MIT */
/*
 * segd-bench-apply: the in-process arms of benchmark (b) and the namespace plumbing of the
 * benchmark suite. Root only. Never part of the product.
 *
 *   segd-bench-apply mk PREFIX N [addr]     create N netns bind-mounted at /run/netns/PREFIXi
 *                                           (addr: 10.128.0.0+i+1/32 on lo in each)
 *   segd-bench-apply rm PREFIX N            remove them (absent ones are skipped)
 *   segd-bench-apply apply ARM PREFIX N PEERS FAMILY [OPTIONS]
 *        ARM    ours     nft_sock_open(netns) + nft_replace_table(plan) + close, per netns
 *               lib      setns + libnftables nft_run_cmd_from_buffer(TEXT) + setns back
 *               replay   setns + socket + bind + sendmsg(captured bytes) + read ACK + close
 *        PEERS  peers per set; FAMILY 4 (IPv4) or 46 (dual stack)
 *        --capture FILE   (ours) write the exact bytes of the first batch sent
 *        --text FILE      (lib) ruleset text
 *        --replay FILE    (replay) bytes to send
 *        --client ADDR    (ours) make ADDR one of the allowed ingress peers (benchmark e)
 *        --ports A,B,..   (ours) ingress TCP+UDP ports (default 80); egress TCP 5432
 *        --flags N        table flags (default: what the kernel accepts of owner|persist)
 *   Prints one JSON object: per-netns times (ns), wall, user/sys CPU, bytes/messages.
 *
 * The plan is built by hand as struct policy_plan (the compiler is benchmark (a)'s business):
 * ingress from set i0_p4 [i0_p6] to the given ports, egress to e0_p4 [e0_p6] TCP 5432, both
 * directions isolated; peer i has 10.64.0.0 + i + 1 and fd00:64:: + i + 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <nftables/libnftables.h>

#include "nft.h"
#include "policy/policy.h"

/* nft_replace_table() with the table flags alone as emit options. */
static int replace_with_flags(struct nft_sock *s, const struct policy_plan *plan, uint32_t flags,
			      struct nft_error *reterr)
{
	struct policy_emit_options opts = { .table_flags = flags };

	return nft_replace_table(s, plan, &opts, reterr);
}

/* ---- sendmsg capture (linked with -Wl,--wrap=sendmsg) ------------------------------------- */

ssize_t __real_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t __wrap_sendmsg(int fd, const struct msghdr *msg, int flags);

static const char *capture_path;
static int captured, capture_armed;
static size_t sent_bytes, sent_msgs;

ssize_t __wrap_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	if (capture_path && capture_armed && !captured) {
		FILE *f = fopen(capture_path, "w");

		if (!f) {
			perror(capture_path);
			exit(1);
		}
		for (size_t i = 0; i < msg->msg_iovlen; i++)
			fwrite(msg->msg_iov[i].iov_base, 1, msg->msg_iov[i].iov_len, f);
		fclose(f);
		captured = 1;
	}
	sent_msgs++;
	for (size_t i = 0; i < msg->msg_iovlen; i++)
		sent_bytes += msg->msg_iov[i].iov_len;
	return __real_sendmsg(fd, msg, flags);
}

/* ---- helpers ------------------------------------------------------------------------------- */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "segd-bench-apply: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		die(path, errno);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		die(path, EIO);
	buf[n] = 0;
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void ns_path(char *buf, size_t len, const char *prefix, long i)
{
	snprintf(buf, len, "/run/netns/%s%ld", prefix, i);
}

/* ---- mk / rm -------------------------------------------------------------------------------- */

/* 10.128.0.0 + i + 1 /32 on lo (a global-scope address for segd to find), via rtnetlink. */
static void add_lo_addr(long i)
{
	char buf[512];
	struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifaddrmsg *ifa;
	uint32_t a = htonl(0x0a800000u + (uint32_t)i + 1);

	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		die("rtnetlink", errno);
	nlh->nlmsg_type = RTM_NEWADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
	nlh->nlmsg_seq = 1;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = 32;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = 1; /* lo */
	mnl_attr_put_u32(nlh, IFA_LOCAL, a);
	mnl_attr_put_u32(nlh, IFA_ADDRESS, a);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		die("RTM_NEWADDR", errno);
	if (mnl_socket_recvfrom(nl, buf, sizeof(buf)) < 0)
		die("RTM_NEWADDR ack", errno);
	if (mnl_cb_run(buf, sizeof(buf) > 0 ? (size_t)((struct nlmsghdr *)buf)->nlmsg_len : 0, 1,
		       mnl_socket_get_portid(nl), NULL, NULL) < 0)
		die("RTM_NEWADDR", errno);
	mnl_socket_close(nl);
}

static int cmd_mk(const char *prefix, long n, int with_addr)
{
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	char path[512];

	if (self < 0)
		die("open own netns", errno);
	mkdir("/run/netns", 0755);
	for (long i = 0; i < n; i++) {
		int fd;

		ns_path(path, sizeof(path), prefix, i);
		fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
		if (fd < 0)
			die(path, errno);
		close(fd);
		if (unshare(CLONE_NEWNET) < 0)
			die("unshare", errno);
		if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) < 0)
			die("mount", errno);
		if (with_addr)
			add_lo_addr(i);
		if (setns(self, CLONE_NEWNET) < 0)
			abort();
	}
	return 0;
}

static int cmd_rm(const char *prefix, long n)
{
	char path[512];

	for (long i = 0; i < n; i++) {
		ns_path(path, sizeof(path), prefix, i);
		umount2(path, MNT_DETACH);
		unlink(path);
	}
	return 0;
}

/* ---- the plan ------------------------------------------------------------------------------- */

static void peer_addr(int family, long i, uint8_t out[16])
{
	uint32_t v = 0x0a400000u + (uint32_t)i + 1; /* 10.64.0.0 + i + 1 */

	memset(out, 0, 16);
	if (family == AF_INET) {
		v = htonl(v);
		memcpy(out, &v, 4);
	} else {
		inet_pton(AF_INET6, "fd00:64::", out);
		v = htonl((uint32_t)i + 1);
		memcpy(out + 12, &v, 4);
	}
}

static int cmp_elem(const void *a, const void *b)
{
	return memcmp(((const struct policy_set_elem *)a)->start,
		      ((const struct policy_set_elem *)b)->start, 16);
}

static void make_set(struct policy_set *s, const char *name, int family, long peers,
		     const char *client)
{
	s->name = strdup(name);
	s->family = family;
	s->n_elems = (size_t)peers;
	s->elems = calloc((size_t)peers + 1, sizeof(*s->elems));
	for (long i = 0; i < peers; i++)
		peer_addr(family, i, s->elems[i].start);
	if (client && peers > 0) {
		uint8_t a[16] = {};

		if (inet_pton(family, client, a) == 1) {
			memcpy(s->elems[0].start, a, 16); /* replaces peer 0 */
		}
	}
	qsort(s->elems, s->n_elems, sizeof(*s->elems), cmp_elem);
	for (size_t i = 0; i < s->n_elems; i++)
		memcpy(s->elems[i].end, s->elems[i].start, 16);
}

static void add_rule(struct policy_plan *p, enum policy_dir dir, int family, int set,
		     enum policy_proto proto, uint16_t port, unsigned idx)
{
	struct policy_plan_rule *r = &p->rules[p->n_rules++];
	char c[128];

	snprintf(c, sizeof(c), "bench/allow %s[%u]", policy_dir_to_string(dir), idx);
	*r = (struct policy_plan_rule){ .dir = dir,
					.policy_namespace = strdup("bench"),
					.policy_name = strdup("allow"),
					.rule_index = idx,
					.family = family,
					.set = set,
					.has_proto = true,
					.proto = proto,
					.port_lo = port,
					.port_hi = port,
					.comment = strdup(c) };
}

static struct policy_plan *make_plan(long peers, int dual, const char *client, const char *ports)
{
	struct policy_plan *p = calloc(1, sizeof(*p));
	uint16_t portv[16];
	int nports = 0, fams[2] = { AF_INET, AF_INET6 }, nf = dual ? 2 : 1;
	char *copy = strdup(ports ? ports : "80"), *tok, *save = NULL;
	int client_is_v6 = client && strchr(client, ':');

	for (tok = strtok_r(copy, ",", &save); tok && nports < 16; tok = strtok_r(NULL, ",", &save))
		portv[nports++] = (uint16_t)atoi(tok);
	free(copy);
	p->endpoint = strdup("bench");
	p->isolated[POLICY_DIR_INGRESS] = p->isolated[POLICY_DIR_EGRESS] = true;
	p->deny = POLICY_DENY_DROP;
	p->sets = calloc(4, sizeof(*p->sets));
	p->rules = calloc((size_t)(nf * (2 * nports + 1)), sizeof(*p->rules));
	for (int f = 0; f < nf; f++) {
		const char *cl = (fams[f] == AF_INET6) == !!client_is_v6 ? client : NULL;

		make_set(&p->sets[p->n_sets++], f ? "i0_p6" : "i0_p4", fams[f], peers, cl);
	}
	for (int f = 0; f < nf; f++)
		make_set(&p->sets[p->n_sets++], f ? "e0_p6" : "e0_p4", fams[f], peers, NULL);
	/* plan rules in chain order: ingress rules, then egress rules */
	for (int f = 0; f < nf; f++)
		for (int i = 0; i < nports; i++) {
			add_rule(p, POLICY_DIR_INGRESS, fams[f], f, POLICY_PROTO_TCP, portv[i], 0);
			add_rule(p, POLICY_DIR_INGRESS, fams[f], f, POLICY_PROTO_UDP, portv[i], 0);
		}
	for (int f = 0; f < nf; f++)
		add_rule(p, POLICY_DIR_EGRESS, fams[f], nf + f, POLICY_PROTO_TCP, 5432, 0);
	p->selected_by = calloc(1, sizeof(char *));
	p->selected_by[0] = strdup("bench/allow");
	p->n_selected_by = 1;
	return p;
}

/* ---- arms ----------------------------------------------------------------------------------- */

static int replay_one(int nsfd, int self, const char *buf, size_t len)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	char rbuf[65536];
	int fd, v = (int)len + 65536, done = 0;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_name = &sa,
			      .msg_namelen = sizeof(sa),
			      .msg_iov = &iov,
			      .msg_iovlen = 1 };

	if (setns(nsfd, CLONE_NEWNET) < 0)
		return -errno;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (setns(self, CLONE_NEWNET) < 0)
		abort();
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0)
		return -errno;
	if (__real_sendmsg(fd, &msg, 0) != (ssize_t)len) {
		close(fd);
		return -EIO;
	}
	/* the batch asks for one ACK (its last command); errors come as NLMSG_ERROR too */
	while (!done) {
		ssize_t n = recv(fd, rbuf, sizeof(rbuf), 0);
		unsigned int rem = (unsigned int)n;

		if (n < 0) {
			close(fd);
			return -errno;
		}
		for (struct nlmsghdr *h = (void *)rbuf; NLMSG_OK(h, rem); h = NLMSG_NEXT(h, rem)) {
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);

				if (e->error) {
					close(fd);
					return e->error;
				}
				done = 1;
			}
		}
	}
	close(fd);
	return 0;
}

static int lib_one(int nsfd, int self, const char *text)
{
	struct nft_ctx *ctx;
	int r;

	if (setns(nsfd, CLONE_NEWNET) < 0)
		return -errno;
	ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	nft_ctx_buffer_output(ctx);
	nft_ctx_buffer_error(ctx);
	r = nft_run_cmd_from_buffer(ctx, text);
	if (r != 0)
		fprintf(stderr, "libnftables: %s\n", nft_ctx_get_error_buffer(ctx));
	nft_ctx_free(ctx);
	if (setns(self, CLONE_NEWNET) < 0)
		abort();
	return r ? -EINVAL : 0;
}

static int ours_one(int nsfd, const struct policy_plan *plan, uint32_t flags)
{
	struct nft_sock *s = NULL;
	struct nft_error err = {};
	int r = nft_sock_open(NULL, nsfd, &s);

	if (r < 0)
		return r;
	r = replace_with_flags(s, plan, flags, &err);
	if (r < 0)
		fprintf(stderr, "nft_replace_table: %s: %s %s\n", strerror(-r), err.object,
			err.message);
	nft_sock_free(s);
	return r;
}

static double tv_s(struct timeval tv)
{
	return tv.tv_sec + tv.tv_usec / 1e6;
}

static int cmd_apply(int argc, char **argv)
{
	const char *arm = argv[0], *prefix = argv[1];
	long n = atol(argv[2]), peers = atol(argv[3]);
	int dual = atoi(argv[4]) == 46;
	const char *text_path = NULL, *replay_path = NULL, *client = NULL, *ports = NULL;
	long flags = -1;
	char *text = NULL, *rbytes = NULL;
	size_t rlen = 0, tlen = 0;
	struct policy_plan *plan = NULL;
	int64_t *times = calloc((size_t)n, sizeof(int64_t));
	int *fds = calloc((size_t)n, sizeof(int));
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	struct rusage ru0, ru1;
	int64_t w0, w1;
	char path[512];

	for (int i = 5; i < argc; i += 2) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			die(argv[i], EINVAL);
		if (!strcmp(argv[i], "--capture"))
			capture_path = v;
		else if (!strcmp(argv[i], "--text"))
			text_path = v;
		else if (!strcmp(argv[i], "--replay"))
			replay_path = v;
		else if (!strcmp(argv[i], "--client"))
			client = v;
		else if (!strcmp(argv[i], "--ports"))
			ports = v;
		else if (!strcmp(argv[i], "--flags"))
			flags = atol(v);
		else
			die(argv[i], EINVAL);
	}
	if (!strcmp(arm, "ours")) {
		plan = make_plan(peers, dual, client, ports);
		if (flags < 0) {
			struct nft_sock *s = NULL;
			uint32_t f = 0;

			if (nft_sock_open(NULL, -1, &s) < 0 || nft_probe_table_flags(s, &f) < 0)
				f = 0;
			nft_sock_free(s);
			flags = f;
		}
	} else if (!strcmp(arm, "lib")) {
		if (!text_path)
			die("lib needs --text", EINVAL);
		text = read_file(text_path, &tlen);
	} else if (!strcmp(arm, "replay")) {
		if (!replay_path)
			die("replay needs --replay", EINVAL);
		rbytes = read_file(replay_path, &rlen);
	} else {
		die(arm, EINVAL);
	}
	/* namespaces are pinned by fd before timing, as segd pins them at registration */
	for (long i = 0; i < n; i++) {
		ns_path(path, sizeof(path), prefix, i);
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0)
			die(path, errno);
	}
	capture_armed = 1;
	sent_msgs = sent_bytes = 0;
	getrusage(RUSAGE_SELF, &ru0);
	w0 = now_ns();
	for (long i = 0; i < n; i++) {
		int64_t t0 = now_ns();
		int r;

		if (plan)
			r = ours_one(fds[i], plan, (uint32_t)flags);
		else if (text)
			r = lib_one(fds[i], self, text);
		else
			r = replay_one(fds[i], self, rbytes, rlen);
		times[i] = now_ns() - t0;
		if (r < 0)
			die(arm, r);
	}
	w1 = now_ns();
	getrusage(RUSAGE_SELF, &ru1);
	printf("{\"arm\": \"%s\", \"n\": %ld, \"wall_ns\": %" PRId64 ", \"user_s\": %.6f, "
	       "\"sys_s\": %.6f, \"flags\": %ld, \"sendmsg_calls\": %zu, \"sent_bytes\": %zu, "
	       "\"times_ns\": [",
	       arm, n, w1 - w0, tv_s(ru1.ru_utime) - tv_s(ru0.ru_utime),
	       tv_s(ru1.ru_stime) - tv_s(ru0.ru_stime), flags, sent_msgs, sent_bytes);
	for (long i = 0; i < n; i++)
		printf("%s%" PRId64, i ? ", " : "", times[i]);
	printf("]}\n");
	for (long i = 0; i < n; i++)
		close(fds[i]);
	policy_plan_free(plan);
	free(text);
	free(rbytes);
	free(times);
	free(fds);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "mk"))
		return cmd_mk(argv[2], atol(argv[3]), argc >= 5 && !strcmp(argv[4], "addr"));
	if (argc >= 4 && !strcmp(argv[1], "rm"))
		return cmd_rm(argv[2], atol(argv[3]));
	if (argc >= 7 && !strcmp(argv[1], "apply"))
		return cmd_apply(argc - 2, argv + 2);
	fprintf(stderr,
		"usage: segd-bench-apply mk|rm PREFIX N | apply ARM PREFIX N PEERS FAMILY [...]\n");
	return 2;
}
