/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "ops-internal.h"
#include "views.h"

int ops_container_seen(struct ops *o, const struct container_info *ci)
{
	struct op_error err = { 0 };
	struct endpoint *e = NULL;
	int r;

	if (!ci->running) {
		/* Created but not started yet (the OCI hook may be isolating it right now): keep
		 * whatever protects it. Only a finished container leaves. */
		if (ci->finished)
			ops_container_gone(o, ci->id);
		return 0;
	}
	r = containers_upsert(o->containers, ci, &e, &err);
	if (r == -EEXIST) {
		/* its namespace is another endpoint: logged and listed by containers_upsert() */
		op_error_done(&err);
		return r;
	}
	if (r == -ESRCH) {
		/* Running when inspected, its process gone since: it is exiting, and the engine's
		 * next event or inspection says so. Nothing to skip, nothing to warn about. */
		log_debug("Container %.12s: %s", ci->id, err.message ? err.message : "exiting");
		op_error_done(&err);
		return 0;
	}
	if (r < 0) {
		log_warning("Skipping container %.12s%s%s: %s", ci->id, ci->name ? " " : "",
			    ci->name ? ci->name : "", err.message ? err.message : strerror(-r));
		errlog_add(o->errlog, "container %.12s: %s", ci->id,
			   err.message ? err.message : strerror(-r));
		op_error_done(&err);
		return r;
	}
	if (ci->invalid)
		log_warning("Container %.12s: %s; it stays default-deny", ci->id, ci->invalid);
	r = reconcile_marked(o->rc, NULL);
	return r < 0 ? r : 0;
}

void ops_container_gone(struct ops *o, const char *id)
{
	if (containers_gone(o->containers, id))
		(void)reconcile_marked(o->rc, NULL);
}

/* The audit record of a hook call. The container's table is in place by now; only the record
 * can be missing. */
static int audit_hook(struct ops *o, const char *id, bool create, json_t *after,
		      struct op_error *err)
{
	int r;

	if (!audit_active(o->audit))
		return 0;
	audit_change(o->audit, "Container", NULL, id, create ? "created" : "stopped", NULL,
		     json_incref(after));
	r = audit_commit(o->audit);
	if (r < 0)
		return op_error_set(err, -EIO, "cannot write the audit log: %s", strerror(-r));
	return 0;
}

int ops_hook_create(struct ops *o, const struct hook_request *h, json_t **ret, struct op_error *err)
{
	struct container_info ci = {
		.id = h->id,
		.pid = h->pid,
		.netns_path = h->netns,
		.running = true,
		.labels = h->labels,
		.labels_known = h->labels_known,
		.invalid = h->labels_invalid,
	};
	struct endpoint *e = NULL;
	json_auto_t *out = NULL;
	int r;

	/* ci borrows from h: not container_info_done()'d. */
	r = containers_upsert(o->containers, &ci, &e, err);
	if (r < 0)
		return r;
	r = reconcile_marked(o->rc, NULL);
	if (r < 0)
		return op_error_set(err, r, "out of memory while compiling");
	if (e->nft &&
	    (e->state == ENDPOINT_FAILED || (e->state == ENDPOINT_ERROR && !e->installed)))
		return op_error_set(err, -EIO, "container %.12s: %s", h->id,
				    e->error ? e->error : "not enforced");
	log_info("Hook: container %.12s enforced in %s (%s)", h->id, e->netns,
		 e->quarantined ? "default-deny until its labels are known" : "its policy");
	out = view_endpoint(e);
	if (!out)
		return op_error_set(err, -ENOMEM, "out of memory");
	r = audit_hook(o, h->id, true, out, err);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(out);
	return 0;
}

int ops_hook_poststop(struct ops *o, const char *id, json_t **ret, struct op_error *err)
{
	int r;

	ops_container_gone(o, id);
	r = audit_hook(o, id, false, NULL, err);
	if (r < 0)
		return r;
	*ret = json_pack("{s:s}", "id", id);
	return *ret ? 0 : op_error_set(err, -ENOMEM, "out of memory");
}
