/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "store.h"

static const char *const put_names[_STORE_PUT_MAX] = {
	[STORE_UNCHANGED] = "unchanged",
	[STORE_CONFIGURED] = "configured",
	[STORE_CREATED] = "created",
};

const char *store_put_to_string(enum store_put p)
{
	return (unsigned)p < _STORE_PUT_MAX ? put_names[p] : NULL;
}

void store_done(struct store *s)
{
	for (size_t i = 0; i < s->n_namespaces; i++)
		policy_namespace_free(s->namespaces[i]);
	free(s->namespaces);
	for (size_t i = 0; i < s->n_netpols; i++)
		policy_netpol_free(s->netpols[i]);
	free(s->netpols);
	for (size_t i = 0; i < s->n_cnps; i++)
		policy_cnp_free(s->cnps[i]);
	free(s->cnps);
	for (size_t i = 0; i < s->n_nodes; i++)
		policy_node_free(s->nodes[i]);
	free(s->nodes);
	*s = (struct store){ 0 };
}

static int cmp_namespace(const void *a, const void *b)
{
	return strcmp((*(struct policy_namespace *const *)a)->name,
		      (*(struct policy_namespace *const *)b)->name);
}

static int cmp_netpol(const void *a, const void *b)
{
	const struct policy_netpol *x = *(struct policy_netpol *const *)a;
	const struct policy_netpol *y = *(struct policy_netpol *const *)b;
	int c = strcmp(x->namespace, y->namespace);

	return c ? c : strcmp(x->name, y->name);
}

static int cmp_cnp(const void *a, const void *b)
{
	return strcmp((*(struct policy_cnp *const *)a)->name,
		      (*(struct policy_cnp *const *)b)->name);
}

static int cmp_node(const void *a, const void *b)
{
	return strcmp((*(struct policy_node *const *)a)->name,
		      (*(struct policy_node *const *)b)->name);
}

void store_sort(struct store *s)
{
	qsort_safe(s->namespaces, s->n_namespaces, sizeof(*s->namespaces), cmp_namespace);
	qsort_safe(s->netpols, s->n_netpols, sizeof(*s->netpols), cmp_netpol);
	qsort_safe(s->cnps, s->n_cnps, sizeof(*s->cnps), cmp_cnp);
	qsort_safe(s->nodes, s->n_nodes, sizeof(*s->nodes), cmp_node);
}

void store_load(struct store *s, struct policy_objects *objs)
{
	store_done(s);
	s->namespaces = TAKE_PTR(objs->namespaces);
	s->n_namespaces = objs->n_namespaces;
	objs->n_namespaces = 0;
	s->netpols = TAKE_PTR(objs->netpols);
	s->n_netpols = objs->n_netpols;
	objs->n_netpols = 0;
	s->cnps = TAKE_PTR(objs->cnps);
	s->n_cnps = objs->n_cnps;
	objs->n_cnps = 0;
	s->nodes = TAKE_PTR(objs->nodes);
	s->n_nodes = objs->n_nodes;
	objs->n_nodes = 0;
	policy_objects_free(objs);
	store_sort(s);
}

ssize_t store_find_namespace(const struct store *s, const char *name)
{
	for (size_t i = 0; i < s->n_namespaces; i++)
		if (streq(s->namespaces[i]->name, name))
			return (ssize_t)i;
	return -1;
}

ssize_t store_find_netpol(const struct store *s, const char *ns, const char *name)
{
	for (size_t i = 0; i < s->n_netpols; i++)
		if (streq(s->netpols[i]->namespace, ns) && streq(s->netpols[i]->name, name))
			return (ssize_t)i;
	return -1;
}

ssize_t store_find_cnp(const struct store *s, const char *name)
{
	for (size_t i = 0; i < s->n_cnps; i++)
		if (streq(s->cnps[i]->name, name))
			return (ssize_t)i;
	return -1;
}

ssize_t store_find_node(const struct store *s, const char *name)
{
	for (size_t i = 0; i < s->n_nodes; i++)
		if (streq(s->nodes[i]->name, name))
			return (ssize_t)i;
	return -1;
}

static bool has_ptr(void *const *a, size_t n, const void *p)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] == p)
			return true;
	return false;
}

/* Puts *objp at index k (replacing what was there: freed unless the snapshot has it, i.e.
 * when one change puts the same object twice) or appends it (k < 0), taking it. A macro, so
 * that it works on arrays of either object type without casts. */
#define PUT(array, n, snap_array, snap_n, k, objp, free_fn)                                 \
	({                                                                                  \
		int _r = STORE_CONFIGURED;                                                  \
		if ((k) >= 0) {                                                             \
			if (!has_ptr((void *const *)(snap_array), (snap_n), (array)[k]))    \
				free_fn((array)[k]);                                        \
			(array)[k] = *(objp);                                               \
		} else {                                                                    \
			__typeof__(array) _p = reallocarray((array), (n) + 1, sizeof(*_p)); \
			if (!_p)                                                            \
				_r = -ENOMEM;                                               \
			else {                                                              \
				(array) = _p;                                               \
				(array)[(n)++] = *(objp);                                   \
				_r = STORE_CREATED;                                         \
			}                                                                   \
		}                                                                           \
		if (_r >= 0)                                                                \
			*(objp) = NULL;                                                     \
		_r;                                                                         \
	})

int store_put_namespace(struct store *s, const struct store_snapshot *snap,
			struct policy_namespace **objp)
{
	ssize_t k = store_find_namespace(s, (*objp)->name);

	if (k >= 0 && policy_labels_equal(&s->namespaces[k]->labels, &(*objp)->labels))
		return STORE_UNCHANGED;
	return PUT(s->namespaces, s->n_namespaces, snap->namespaces, snap->n_namespaces, k, objp,
		   policy_namespace_free);
}

int store_put_netpol(struct store *s, const struct store_snapshot *snap,
		     struct policy_netpol **objp)
{
	ssize_t k = store_find_netpol(s, (*objp)->namespace, (*objp)->name);

	if (k >= 0 && policy_netpol_equal(s->netpols[k], *objp))
		return STORE_UNCHANGED;
	return PUT(s->netpols, s->n_netpols, snap->netpols, snap->n_netpols, k, objp,
		   policy_netpol_free);
}

int store_put_cnp(struct store *s, const struct store_snapshot *snap, struct policy_cnp **objp)
{
	ssize_t k = store_find_cnp(s, (*objp)->name);

	if (k >= 0 && policy_cnp_equal(s->cnps[k], *objp))
		return STORE_UNCHANGED;
	return PUT(s->cnps, s->n_cnps, snap->cnps, snap->n_cnps, k, objp, policy_cnp_free);
}

int store_put_node(struct store *s, const struct store_snapshot *snap, struct policy_node **objp)
{
	ssize_t k = store_find_node(s, (*objp)->name);

	if (k >= 0 && policy_node_equal(s->nodes[k], *objp))
		return STORE_UNCHANGED;
	return PUT(s->nodes, s->n_nodes, snap->nodes, snap->n_nodes, k, objp, policy_node_free);
}

void store_remove_namespace_at(struct store *s, size_t k)
{
	memmove(&s->namespaces[k], &s->namespaces[k + 1],
		(s->n_namespaces - k - 1) * sizeof(*s->namespaces));
	s->n_namespaces--;
}

void store_remove_netpol_at(struct store *s, size_t k)
{
	memmove(&s->netpols[k], &s->netpols[k + 1], (s->n_netpols - k - 1) * sizeof(*s->netpols));
	s->n_netpols--;
}

void store_remove_cnp_at(struct store *s, size_t k)
{
	memmove(&s->cnps[k], &s->cnps[k + 1], (s->n_cnps - k - 1) * sizeof(*s->cnps));
	s->n_cnps--;
}

void store_remove_node_at(struct store *s, size_t k)
{
	memmove(&s->nodes[k], &s->nodes[k + 1], (s->n_nodes - k - 1) * sizeof(*s->nodes));
	s->n_nodes--;
}

int store_snapshot_take(const struct store *s, struct store_snapshot *snap)
{
	*snap = (struct store_snapshot){ .n_namespaces = s->n_namespaces,
					 .n_netpols = s->n_netpols,
					 .n_cnps = s->n_cnps,
					 .n_nodes = s->n_nodes };
	snap->namespaces = calloc(s->n_namespaces + 1, sizeof(*snap->namespaces));
	snap->netpols = calloc(s->n_netpols + 1, sizeof(*snap->netpols));
	snap->cnps = calloc(s->n_cnps + 1, sizeof(*snap->cnps));
	snap->nodes = calloc(s->n_nodes + 1, sizeof(*snap->nodes));
	if (!snap->namespaces || !snap->netpols || !snap->cnps || !snap->nodes) {
		free(snap->namespaces);
		free(snap->netpols);
		free(snap->cnps);
		free(snap->nodes);
		*snap = (struct store_snapshot){ 0 };
		return -ENOMEM;
	}
	memcpy_safe(snap->namespaces, s->namespaces, s->n_namespaces * sizeof(*s->namespaces));
	memcpy_safe(snap->netpols, s->netpols, s->n_netpols * sizeof(*s->netpols));
	memcpy_safe(snap->cnps, s->cnps, s->n_cnps * sizeof(*s->cnps));
	memcpy_safe(snap->nodes, s->nodes, s->n_nodes * sizeof(*s->nodes));
	return 0;
}

void store_snapshot_commit(struct store *s, struct store_snapshot *snap)
{
	for (size_t i = 0; i < snap->n_namespaces; i++)
		if (!has_ptr((void *const *)s->namespaces, s->n_namespaces, snap->namespaces[i]))
			policy_namespace_free(snap->namespaces[i]);
	for (size_t i = 0; i < snap->n_netpols; i++)
		if (!has_ptr((void *const *)s->netpols, s->n_netpols, snap->netpols[i]))
			policy_netpol_free(snap->netpols[i]);
	for (size_t i = 0; i < snap->n_cnps; i++)
		if (!has_ptr((void *const *)s->cnps, s->n_cnps, snap->cnps[i]))
			policy_cnp_free(snap->cnps[i]);
	for (size_t i = 0; i < snap->n_nodes; i++)
		if (!has_ptr((void *const *)s->nodes, s->n_nodes, snap->nodes[i]))
			policy_node_free(snap->nodes[i]);
	free(snap->namespaces);
	free(snap->netpols);
	free(snap->cnps);
	free(snap->nodes);
	*snap = (struct store_snapshot){ 0 };
}

void store_snapshot_restore(struct store *s, struct store_snapshot *snap)
{
	for (size_t i = 0; i < s->n_namespaces; i++)
		if (!has_ptr((void *const *)snap->namespaces, snap->n_namespaces, s->namespaces[i]))
			policy_namespace_free(s->namespaces[i]);
	for (size_t i = 0; i < s->n_netpols; i++)
		if (!has_ptr((void *const *)snap->netpols, snap->n_netpols, s->netpols[i]))
			policy_netpol_free(s->netpols[i]);
	for (size_t i = 0; i < s->n_cnps; i++)
		if (!has_ptr((void *const *)snap->cnps, snap->n_cnps, s->cnps[i]))
			policy_cnp_free(s->cnps[i]);
	for (size_t i = 0; i < s->n_nodes; i++)
		if (!has_ptr((void *const *)snap->nodes, snap->n_nodes, s->nodes[i]))
			policy_node_free(s->nodes[i]);
	free(s->namespaces);
	free(s->netpols);
	free(s->cnps);
	free(s->nodes);
	s->namespaces = snap->namespaces;
	s->n_namespaces = snap->n_namespaces;
	s->netpols = snap->netpols;
	s->n_netpols = snap->n_netpols;
	s->cnps = snap->cnps;
	s->n_cnps = snap->n_cnps;
	s->nodes = snap->nodes;
	s->n_nodes = snap->n_nodes;
	*snap = (struct store_snapshot){ 0 };
}

bool store_namespaces_changed(const struct store *s, const struct store_snapshot *snap)
{
	for (size_t i = 0; i < s->n_namespaces; i++)
		if (!has_ptr((void *const *)snap->namespaces, snap->n_namespaces, s->namespaces[i]))
			return true;
	for (size_t i = 0; i < snap->n_namespaces; i++)
		if (!has_ptr((void *const *)s->namespaces, s->n_namespaces, snap->namespaces[i]))
			return true;
	return false;
}

void store_netpols_changed(const struct store *s, const struct store_snapshot *snap,
			   void (*fn)(const struct policy_netpol *p, void *userdata),
			   void *userdata)
{
	for (size_t i = 0; i < s->n_netpols; i++)
		if (!has_ptr((void *const *)snap->netpols, snap->n_netpols, s->netpols[i]))
			fn(s->netpols[i], userdata);
	for (size_t i = 0; i < snap->n_netpols; i++)
		if (!has_ptr((void *const *)s->netpols, s->n_netpols, snap->netpols[i]))
			fn(snap->netpols[i], userdata);
}

void store_cnps_changed(const struct store *s, const struct store_snapshot *snap,
			void (*fn)(const struct policy_cnp *p, void *userdata), void *userdata)
{
	for (size_t i = 0; i < s->n_cnps; i++)
		if (!has_ptr((void *const *)snap->cnps, snap->n_cnps, s->cnps[i]))
			fn(s->cnps[i], userdata);
	for (size_t i = 0; i < snap->n_cnps; i++)
		if (!has_ptr((void *const *)s->cnps, s->n_cnps, snap->cnps[i]))
			fn(snap->cnps[i], userdata);
}

bool store_nodes_changed(const struct store *s, const struct store_snapshot *snap)
{
	if (s->n_nodes != snap->n_nodes)
		return true;
	for (size_t i = 0; i < s->n_nodes; i++)
		if (!has_ptr((void *const *)snap->nodes, snap->n_nodes, s->nodes[i]))
			return true;
	return false;
}

/* The old and new arrays of one kind, with how to name and print its objects. */
#define STORE_CHANGES(kind, arr, n_arr, ns_of, to_json, find)                               \
	do {                                                                                \
		for (size_t i = 0; r >= 0 && i < s->n_arr; i++) {                           \
			char *json;                                                         \
                                                                                            \
			if (has_ptr((void *const *)snap->arr, snap->n_arr, s->arr[i]))      \
				continue;                                                   \
			json = to_json(s->arr[i]);                                          \
			r = json ? ops->put(kind, ns_of(s->arr[i]), s->arr[i]->name, json,  \
					    userdata)                                       \
				 : -ENOMEM;                                                 \
		}                                                                           \
		for (size_t i = 0; r >= 0 && i < snap->n_arr; i++)                          \
			if (find < 0)                                                       \
				r = ops->del(kind, ns_of(snap->arr[i]), snap->arr[i]->name, \
					     userdata);                                     \
	} while (0)

#define NO_NS(o) ((const char *)NULL)
#define NETPOL_NS(o) ((const char *)(o)->namespace)

int store_changes(const struct store *s, const struct store_snapshot *snap,
		  const struct store_change_ops *ops, void *userdata)
{
	int r = 0;

	STORE_CHANGES("Namespace", namespaces, n_namespaces, NO_NS, policy_namespace_to_json,
		      store_find_namespace(s, snap->namespaces[i]->name));
	STORE_CHANGES("NetworkPolicy", netpols, n_netpols, NETPOL_NS, policy_netpol_to_json,
		      store_find_netpol(s, snap->netpols[i]->namespace, snap->netpols[i]->name));
	STORE_CHANGES("ClusterNetworkPolicy", cnps, n_cnps, NO_NS, policy_cnp_to_json,
		      store_find_cnp(s, snap->cnps[i]->name));
	STORE_CHANGES("Node", nodes, n_nodes, NO_NS, policy_node_to_json,
		      store_find_node(s, snap->nodes[i]->name));
	return r;
}
