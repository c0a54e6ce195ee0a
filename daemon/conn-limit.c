/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "conn-limit.h"

int conn_limit_init(struct conn_limit *l, unsigned max_total, unsigned max_per_user,
		    unsigned reserved)
{
	if (max_total == 0 || max_total > CONN_LIMIT_MAX_TOTAL || max_per_user == 0 ||
	    reserved >= max_total)
		return -EINVAL;
	*l = (struct conn_limit){ .max_total = max_total,
				  .max_per_user = max_per_user,
				  .reserved = reserved };
	l->users = calloc(max_total, sizeof(*l->users));
	return l->users ? 0 : -ENOMEM;
}

void conn_limit_done(struct conn_limit *l)
{
	free(l->users);
	l->users = NULL;
	l->n_users = 0;
}

static bool in_group(gid_t gid, gid_t primary, const gid_t *groups, size_t n)
{
	if (primary == gid)
		return true;
	for (size_t i = 0; i < n; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

enum conn_role conn_role_of(const struct conn_groups *g, uid_t uid, gid_t primary,
			    const gid_t *groups, size_t n_groups, enum conn_role ceiling)
{
	enum conn_role r = CONN_ROLE_NONE;

	if (uid == 0 || (g->have_gid && in_group(g->gid, primary, groups, n_groups)))
		r = CONN_ROLE_WRITE;
	else if (g->have_audit_gid && in_group(g->audit_gid, primary, groups, n_groups))
		r = CONN_ROLE_READ;
	return r < ceiling ? r : ceiling;
}

static struct conn_user *user_find(const struct conn_limit *l, uid_t uid)
{
	for (size_t i = 0; i < l->n_users; i++)
		if (l->users[i].uid == uid)
			return &l->users[i];
	return NULL;
}

unsigned conn_limit_held(const struct conn_limit *l, uid_t uid)
{
	struct conn_user *u = user_find(l, uid);

	return u ? u->n : 0;
}

static enum conn_verdict refuse(struct conn_limit *l, enum conn_verdict v)
{
	l->refused[v]++;
	return v;
}

enum conn_verdict conn_limit_take(struct conn_limit *l, uid_t uid, enum conn_role role)
{
	struct conn_user *u;

	if (role == CONN_ROLE_NONE)
		return refuse(l, CONN_REFUSED_NO_ROLE);
	if (l->n_total >= l->max_total)
		return refuse(l, CONN_REFUSED_TOTAL);
	u = user_find(l, uid);
	if (uid != 0 && u && u->n >= l->max_per_user)
		return refuse(l, CONN_REFUSED_PER_USER);
	if (role == CONN_ROLE_READ && l->n_read >= l->max_total - l->reserved)
		return refuse(l, CONN_REFUSED_TOTAL);
	if (!u) {
		/* n_users <= n_total < max_total: there is room */
		u = &l->users[l->n_users++];
		*u = (struct conn_user){ .uid = uid };
	}
	u->n++;
	l->n_total++;
	if (role == CONN_ROLE_READ)
		l->n_read++;
	l->refused[CONN_ACCEPTED]++;
	return CONN_ACCEPTED;
}

void conn_limit_release(struct conn_limit *l, uid_t uid, enum conn_role role)
{
	struct conn_user *u = user_find(l, uid);

	if (!u || l->n_total == 0)
		return; /* not ours: never taken */
	l->n_total--;
	if (role == CONN_ROLE_READ && l->n_read > 0)
		l->n_read--;
	if (--u->n == 0)
		*u = l->users[--l->n_users];
}

const char *conn_verdict_to_string(enum conn_verdict v)
{
	static const char *const names[] = {
		[CONN_ACCEPTED] = "accepted",
		[CONN_REFUSED_NO_ROLE] = "no-role",
		[CONN_REFUSED_PER_USER] = "per-user",
		[CONN_REFUSED_TOTAL] = "total",
	};

	return v >= 0 && v < _CONN_VERDICT_MAX ? names[v] : "unknown";
}
