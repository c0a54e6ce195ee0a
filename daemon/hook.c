/* SPDX-License-Identifier: MIT */
/*
 * segd-oci-hook: the OCI runtime hook that isolates a container before its first instruction.
 *
 * createRuntime: the runtime has created the container's namespaces and process but not
 * started the workload. We ask segd to enforce (it commits the container's plan, or default-deny
 * while it does not know the labels) and wait for that, bounded. If segd cannot answer in time,
 * we commit a default-deny table ourselves and let the container start: fail closed. Only the
 * host may exempt a container from that (hook-config.h): the annotation segd.io/fail-open,
 * which the container's creator writes, is ignored, and said to be.
 *
 * poststop: tells segd the container is gone (best effort; the engine reports it too).
 *
 * Exit status 0 lets the container start; we exit non-zero only for --refuse-unenforceable
 * (host network) or when even the fallback could not be committed. A container whose namespace
 * is already a segd endpoint (registered by hand; segd answers 409) starts under that
 * endpoint's ruleset, untouched.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include <linux/netfilter/nf_tables.h>

#include "hook-config.h"
#include "log.h"
#include "macro.h"
#include "netns.h"
#include "nft.h"
#include "oci-state.h"
#include "policy/policy.h"

#define MAX_STATE_BYTES (1024u * 1024)
#define MAX_CONFIG_BYTES (8u * 1024 * 1024)
#define MAX_REPLY_BYTES (1024u * 1024)
#define MAX_SEGD_CONFIG_BYTES (64u * 1024) /* SETTINGS_MAX_FILE_BYTES */

static struct hook_args args;

/* Reads all of fd, at most max bytes: over the limit is an error, never a truncation. */
static int read_bounded(int fd, size_t max, char **ret, size_t *ret_len)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, allocated = 0;

	for (;;) {
		ssize_t n;

		if (len + 4096 + 1 > allocated) {
			size_t m = allocated ? allocated * 2 : 8192;
			char *p;

			if (m > max + 4096 + 1)
				m = max + 4096 + 1;
			p = realloc(buf, m);
			if (!p)
				return -ENOMEM;
			buf = p;
			allocated = m;
		}
		n = read(fd, buf + len, allocated - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max)
			return -EFBIG;
	}
	buf[len] = 0;
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

/* flags: O_NOFOLLOW for a path under the bundle; the host's own files may be symlinks */
static int read_file_bounded(const char *path, int flags, size_t max, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | flags);

	if (fd < 0)
		return -errno;
	return read_bounded(fd, max, ret, ret_len);
}

struct reply {
	char *buf;
	size_t len;
	bool overflow;
};

static size_t on_reply(char *data, size_t size, size_t n, void *userdata)
{
	struct reply *rp = userdata;
	size_t len = size * n;
	char *p;

	if (rp->len + len > MAX_REPLY_BYTES) {
		rp->overflow = true;
		return 0;
	}
	p = realloc(rp->buf, rp->len + len + 1);
	if (!p)
		return 0;
	rp->buf = p;
	memcpy(rp->buf + rp->len, data, len);
	rp->len += len;
	rp->buf[rp->len] = 0;
	return len;
}

/* POSTs body to segd; returns the HTTP status (200 = done), or -errno. */
static int ask_segd(const char *route, const char *body, long timeout_ms, char **ret_message)
{
	_cleanup_free_ char *url = NULL;
	struct reply rp = { 0 };
	struct curl_slist *hdrs = NULL;
	CURL *c;
	CURLcode res;
	long code = 0;

	if (asprintf(&url, "http://segd/v1/hooks/%s", route) < 0)
		return -ENOMEM;
	c = curl_easy_init();
	if (!c)
		return -ENOMEM;
	hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, args.socket);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_reply);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &rp);
	res = curl_easy_perform(c);
	if (res == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);

	if (res != CURLE_OK) {
		if (ret_message)
			*ret_message = strdup(curl_easy_strerror(res));
		free(rp.buf);
		return res == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED;
	}
	if (ret_message) {
		json_auto_t *o = rp.buf ? json_loads(rp.buf, 0, NULL) : NULL;
		const char *msg =
			json_string_value(json_object_get(json_object_get(o, "error"), "message"));
		const char *state = json_string_value(json_object_get(o, "state"));

		*ret_message = msg ? strdup(msg) : state ? strdup(state) : NULL;
	}
	free(rp.buf);
	return (int)code;
}

/* The fallback: default-deny both ways, committed by us. */
static int install_default_deny(int nsfd, const char *id)
{
	struct policy_plan plan = {
		.endpoint = (char *)id,
		.isolated = { true, true },
		.deny = POLICY_DENY_DROP,
	};
	struct policy_emit_options opts = { 0 };
	struct nft_error nerr = { 0 };
	struct nft_sock *s = NULL;
	uint32_t flags = 0;
	int r;

	r = nft_sock_open(NULL, nsfd, &s);
	if (r < 0)
		return r;
	/* With PERSIST the table outlives our socket; segd adopts it later. Without it, an
	 * owned table would vanish when we exit: then no owner flag at all. */
	if (nft_probe_table_flags(s, &flags) < 0 || !(flags & NFT_TABLE_F_PERSIST))
		flags = 0;
	opts.table_flags = flags;
	r = nft_replace_table(s, &plan, &opts, &nerr);
	/* Owned by another socket: segd holds it, so it is already enforced. */
	if (r == -EPERM)
		r = 0;
	nft_sock_free(s);
	return r;
}

/*
 * Whether the host lets container id start without isolation: one of the names its engine
 * recorded for it is in the hook-fail-open lines of --config. Anything that cannot be read
 * or does not parse means no (and is logged).
 */
static bool host_allows_fail_open(const char *id, const char *bundle)
{
	_cleanup_free_ char *text = NULL, *err = NULL, *storage = NULL, *records = NULL;
	char **allowed = NULL, **names = NULL;
	size_t len = 0, n_allowed = 0, n_names = 0;
	bool yes = false;
	int r;

	if (!args.config)
		return false;
	r = read_file_bounded(args.config, 0, MAX_SEGD_CONFIG_BYTES, &text, &len);
	if (r < 0) {
		/* no file: nobody fails open, nothing wrong; anything else is worth a word */
		log_full_errno(r == -ENOENT ? LOG_DEBUG : LOG_ERR, r,
			       "segd-oci-hook: cannot read %s (nobody fails open): %m",
			       args.config);
		return false;
	}
	r = hook_fail_open_names(args.config, text, len, &allowed, &n_allowed, &err);
	if (r < 0) {
		if (r == -EINVAL)
			log_error("segd-oci-hook: %s (nobody fails open)", err ? err : "invalid");
		return false;
	}
	if (n_allowed == 0)
		goto out;
	r = hook_storage_file(bundle, id, &storage);
	if (r >= 0)
		r = read_file_bounded(storage, O_NOFOLLOW, HOOK_MAX_STORAGE_BYTES, &records, &len);
	if (r >= 0)
		r = hook_storage_names(records, len, id, &names, &n_names);
	if (r < 0) {
		log_warning_errno(r,
				  "segd-oci-hook: container %.12s: its name is not known "
				  "(containers/storage next to the bundle %s: %m); it cannot fail "
				  "open",
				  id, bundle ? bundle : "(none)");
		goto out;
	}
	for (size_t i = 0; i < n_names && !yes; i++)
		for (size_t k = 0; k < n_allowed && !yes; k++)
			if (streq(names[i], allowed[k])) {
				yes = true;
				log_warning("segd-oci-hook: container %.12s (%s) is named in "
					    "hook-fail-open of %s: starting it WITHOUT isolation",
					    id, names[i], args.config);
			}
out:
	hook_names_free(allowed, n_allowed);
	hook_names_free(names, n_names);
	return yes;
}

static int hook_create(json_t *state)
{
	struct oci_state st;
	json_t *annotations;
	json_auto_t *config = NULL;
	_cleanup_free_ char *cfg_path = NULL, *cfg_text = NULL, *body = NULL, *msg = NULL;
	_cleanup_close_ int nsfd = -1;
	const char *id, *netns = NULL;
	json_int_t pid;
	json_error_t jerr;
	size_t cfg_len = 0;
	ino_t ino = 0, host = 0;
	int r, code;

	if (oci_state_parse(state, &st, &jerr) < 0)
		return log_error_errno(-EINVAL, "segd-oci-hook: invalid OCI state: %s", jerr.text);
	id = st.id;
	pid = st.pid;

	/* The network namespace the runtime joined, if any, is in the bundle's config. */
	if (st.bundle && st.bundle[0] == '/' &&
	    asprintf(&cfg_path, "%s/config.json", st.bundle) > 0 &&
	    read_file_bounded(cfg_path, O_NOFOLLOW, MAX_CONFIG_BYTES, &cfg_text, &cfg_len) >= 0) {
		config = json_loadb(cfg_text, cfg_len, 0, &jerr);
		netns = oci_config_netns(config, &st);
	}
	annotations = st.annotations;

	body = oci_hook_request(&st, netns);
	if (!body)
		return log_error_errno(-ENOMEM, "segd-oci-hook: out of memory");

	code = ask_segd("createRuntime", body, args.timeout_ms, &msg);
	if (code == 200) {
		if (msg && streq(msg, "unenforceable") && args.refuse_unenforceable)
			return log_error_errno(-EPERM,
					       "segd-oci-hook: container %.12s is on the host "
					       "network; refusing to start it",
					       id);
		return 0;
	}
	if (code == 409) {
		/* Its namespace is another endpoint of segd's already (one registered by hand):
		 * enforced by that endpoint's ruleset, which must stay as it is. A fallback table
		 * here could only fight it. */
		log_warning("segd-oci-hook: container %.12s: %s", id,
			    msg ? msg : "its network namespace is already a segd endpoint");
		return 0;
	}
	log_warning("segd-oci-hook: segd did not enforce container %.12s (%s%s%s)", id,
		    code < 0 ? strerror(-code) : "HTTP error", msg ? ": " : "", msg ? msg : "");

	/* The container's own say: none. */
	if (json_object_get(annotations, "segd.io/fail-open"))
		log_warning(
			"segd-oci-hook: container %.12s: annotation segd.io/fail-open is "
			"ignored: only the host's hook-fail-open setting lets a container start "
			"without isolation",
			id);
	if (host_allows_fail_open(id, st.bundle))
		return 0;

	r = netns ? netns_open_path(netns, &nsfd) : -ENOENT;
	if (r < 0 && pid > 0) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%lld/ns/net", (long long)pid);
		r = netns_open_path(path, &nsfd);
	}
	if (r < 0)
		return log_error_errno(r,
				       "segd-oci-hook: container %.12s: cannot open its network "
				       "namespace: %m",
				       id);
	if (netns_inode(nsfd, &ino) >= 0 && netns_host_inode(&host) >= 0 && ino == host) {
		if (args.refuse_unenforceable)
			return log_error_errno(-EPERM,
					       "segd-oci-hook: container %.12s is on the host "
					       "network; refusing to start it",
					       id);
		log_warning("segd-oci-hook: container %.12s is on the host network: unenforceable",
			    id);
		return 0;
	}
	r = install_default_deny(nsfd, id);
	if (r < 0)
		return log_error_errno(r,
				       "segd-oci-hook: container %.12s: cannot install "
				       "default-deny: %m",
				       id);
	log_warning("segd-oci-hook: container %.12s starts default-deny until segd takes over", id);
	return 0;
}

static int hook_poststop(json_t *state)
{
	const char *id = json_string_value(json_object_get(state, "id"));
	json_auto_t *req = NULL;
	_cleanup_free_ char *body = NULL;

	if (!id || policy_container_id_invalid(id))
		return log_error_errno(-EINVAL, "segd-oci-hook: invalid OCI state");
	req = json_pack("{s:s}", "id", id);
	body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	if (body)
		(void)ask_segd("poststop", body, args.timeout_ms < 1000 ? args.timeout_ms : 1000,
			       NULL);
	return 0;
}

int main(int argc, char **argv)
{
	_cleanup_free_ char *text = NULL;
	json_auto_t *state = NULL;
	json_error_t jerr;
	size_t len = 0;
	int r;

	log_set_prefix(0);
	r = hook_args_parse(argc, argv, &args);
	if (r <= 0)
		return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

	r = read_bounded(STDIN_FILENO, MAX_STATE_BYTES, &text, &len);
	if (r < 0) {
		log_error_errno(r, "segd-oci-hook: cannot read the OCI state: %m");
		return EXIT_FAILURE;
	}
	state = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(state)) {
		log_error("segd-oci-hook: the OCI state is not a JSON object (%d:%d: %s)",
			  jerr.line, jerr.column, jerr.text);
		return EXIT_FAILURE;
	}
	curl_global_init(CURL_GLOBAL_NOTHING);
	r = streq(args.stage, "createRuntime") ? hook_create(state) : hook_poststop(state);
	curl_global_cleanup();
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
