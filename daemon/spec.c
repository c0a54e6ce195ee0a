/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "containers.h"
#include "macro.h"
#include "spec.h"

static int labels_from_json(json_t *o, const char *path, struct policy_labels *l,
			    struct op_error *err)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		return op_error_set(err, -EINVAL, "%s: must be an object of strings", path);
	if (json_object_size(o) > POLICY_MAX_LABELS)
		return op_error_set(err, -E2BIG, "%s: more than %d labels", path,
				    POLICY_MAX_LABELS);
	json_object_foreach(o, k, v) {
		_cleanup_free_ char *why = NULL;
		int r;

		if (!json_is_string(v))
			return op_error_set(err, -EINVAL, "%s.%s: must be a string", path, k);
		r = policy_label_add(l, k, json_string_value(v), &why);
		if (r < 0)
			return op_error_set(err, r, "%s: %s", path, why ? why : "out of memory");
	}
	return 0;
}

static int ports_from_json(json_t *a, struct endpoint_spec *s, struct op_error *err)
{
	size_t i;
	json_t *v;

	if (!json_is_array(a))
		return op_error_set(err, -EINVAL, "ports: must be an array");
	if (json_array_size(a) > POLICY_MAX_ENDPOINT_PORTS)
		return op_error_set(err, -E2BIG, "ports: more than %d entries",
				    POLICY_MAX_ENDPOINT_PORTS);
	json_array_foreach(a, i, v) {
		const char *name = NULL, *proto = "TCP", *why;
		struct policy_named_port np = { 0 };
		_cleanup_free_ char *perr = NULL;
		json_int_t port = 0;
		json_error_t jerr;
		int p, r;

		if (json_unpack_ex(v, &jerr, JSON_STRICT, "{s:s, s:I, s?s}", "name", &name, "port",
				   &port, "protocol", &proto) < 0)
			return op_error_set(err, -EINVAL, "ports[%zu]: %s", i, jerr.text);
		why = policy_port_name_invalid(name);
		if (why)
			return op_error_set(err, -EINVAL,
					    "ports[%zu].name: invalid port name \"%s\": %s", i,
					    name, why);
		if (port < 1 || port > 65535)
			return op_error_set(err, -ERANGE, "ports[%zu].port: %lld out of 1-65535", i,
					    (long long)port);
		p = policy_proto_from_string(proto);
		if (p < 0)
			return op_error_set(
				err, -EINVAL,
				"ports[%zu].protocol: unsupported protocol \"%s\" (TCP, UDP "
				"or SCTP)",
				i, proto);
		np = (struct policy_named_port){ .name = strdup(name),
						 .proto = p,
						 .port = (uint16_t)port };
		if (!np.name)
			return op_error_set(err, -ENOMEM, "out of memory");
		r = policy_named_ports_add(&s->ports, &s->n_ports, &np, &perr);
		free(np.name);
		if (r < 0)
			return op_error_set(err, r, "ports[%zu]: %s", i,
					    perr ? perr : "out of memory");
	}
	return 0;
}

int endpoint_spec_from_json(json_t *o, struct endpoint_spec *ret, struct op_error *err)
{
	const char *name = NULL, *netns = NULL, *ns = "default", *why;
	struct endpoint_spec s = { 0 };
	json_t *labels = NULL, *ports = NULL;
	json_error_t jerr;
	int r = 0;

	if (json_unpack_ex(o, &jerr, JSON_STRICT, "{s:s, s:s, s?s, s?o, s?o}", "name", &name,
			   "netns", &netns, "namespace", &ns, "labels", &labels, "ports",
			   &ports) < 0)
		return op_error_set(err, -EINVAL, "invalid endpoint: %s", jerr.text);
	why = policy_dns_label_invalid(name);
	if (why)
		return op_error_set(err, -EINVAL, "name: invalid endpoint name \"%s\": %s", name,
				    why);
	why = policy_dns_label_invalid(ns);
	if (why)
		return op_error_set(err, -EINVAL, "namespace: invalid namespace \"%s\": %s", ns,
				    why);
	why = policy_netns_name_invalid(netns);
	if (why)
		return op_error_set(err, -EINVAL,
				    "netns: invalid network namespace name \"%s\": %s", netns, why);
	s.name = strdup(name);
	s.netns = strdup(netns);
	s.namespace = strdup(ns);
	if (!s.name || !s.netns || !s.namespace)
		r = op_error_set(err, -ENOMEM, "out of memory");
	if (r >= 0 && labels)
		r = labels_from_json(labels, "labels", &s.labels, err);
	if (r >= 0 && ports)
		r = ports_from_json(ports, &s, err);
	if (r < 0) {
		endpoint_spec_done(&s);
		return r;
	}
	*ret = s;
	return 0;
}

void endpoint_spec_done(struct endpoint_spec *s)
{
	free(s->name);
	free(s->netns);
	free(s->namespace);
	policy_labels_done(&s->labels);
	policy_named_ports_free(s->ports, s->n_ports);
	*s = (struct endpoint_spec){ 0 };
}

int label_change_from_json(json_t *o, struct label_change *ret, struct op_error *err)
{
	struct label_change c = { 0 };
	json_t *set = NULL, *remove = NULL, *v;
	json_error_t jerr;
	size_t i;
	int r = 0;

	if (json_unpack_ex(o, &jerr, JSON_STRICT, "{s?o, s?o}", "set", &set, "remove", &remove) < 0)
		return op_error_set(err, -EINVAL, "invalid label change: %s", jerr.text);
	if (remove && !json_is_array(remove))
		return op_error_set(err, -EINVAL, "remove: must be an array of keys");
	if (remove && json_array_size(remove) > POLICY_MAX_LABELS)
		return op_error_set(err, -E2BIG, "remove: more than %d keys", POLICY_MAX_LABELS);
	if (set)
		r = labels_from_json(set, "set", &c.set, err);
	if (r >= 0 && remove) {
		c.remove = calloc(json_array_size(remove) + 1, sizeof(*c.remove));
		if (!c.remove)
			r = op_error_set(err, -ENOMEM, "out of memory");
	}
	json_array_foreach(remove, i, v) {
		if (r < 0)
			break;
		if (!json_is_string(v))
			r = op_error_set(err, -EINVAL, "remove[%zu]: must be a string", i);
		else if (policy_label_key_invalid(json_string_value(v)))
			r = op_error_set(err, -EINVAL, "remove[%zu]: invalid label key \"%s\": %s",
					 i, json_string_value(v),
					 policy_label_key_invalid(json_string_value(v)));
		else if (!(c.remove[c.n_remove++] = strdup(json_string_value(v))))
			r = op_error_set(err, -ENOMEM, "out of memory");
	}
	if (r < 0) {
		label_change_done(&c);
		return r;
	}
	*ret = c;
	return 0;
}

void label_change_done(struct label_change *c)
{
	policy_labels_done(&c->set);
	for (size_t i = 0; i < c->n_remove; i++)
		free(c->remove[i]);
	free(c->remove);
	*c = (struct label_change){ 0 };
}

int hook_request_from_json(json_t *o, struct hook_request *ret, struct op_error *err)
{
	struct hook_request h = { 0 };
	const char *id = NULL, *why;
	json_t *annotations = NULL, *lab, *jnetns = NULL;
	json_int_t pid = 0;
	json_error_t jerr;
	int r;

	if (json_unpack_ex(o, &jerr, JSON_STRICT, "{s:s, s?I, s?o, s?o}", "id", &id, "pid", &pid,
			   "netns", &jnetns, "annotations", &annotations) < 0)
		return op_error_set(err, -EINVAL, "invalid hook request: %s", jerr.text);
	if (jnetns && !json_is_null(jnetns) && !json_is_string(jnetns))
		return op_error_set(err, -EINVAL, "netns: must be a path or null");
	why = policy_container_id_invalid(id);
	if (why)
		return op_error_set(err, -EINVAL, "id: invalid container id: %s", why);
	if (pid < 0 || pid >= CONTAINER_PID_LIMIT)
		return op_error_set(err, -EINVAL, "pid: invalid pid %lld", (long long)pid);
	if (json_is_null(annotations))
		annotations = NULL; /* none: what segd-oci-hook sends when the runtime gave none */
	if (annotations && !json_is_object(annotations))
		return op_error_set(err, -EINVAL, "annotations: must be an object");

	h.id = strdup(id);
	h.pid = (int)pid;
	if (json_string_value(jnetns))
		h.netns = strdup(json_string_value(jnetns));
	if (!h.id || (json_string_value(jnetns) && !h.netns)) {
		hook_request_done(&h);
		return op_error_set(err, -ENOMEM, "out of memory");
	}
	/* Bad labels do not refuse the container: it stays quarantined, with the reason. */
	lab = annotations ? json_object_get(annotations, CONTAINER_ANNOTATION_LABELS) : NULL;
	if (lab && !json_is_string(lab)) {
		h.labels_known = true;
		h.labels_invalid =
			strdup("annotation " CONTAINER_ANNOTATION_LABELS ": not a string");
		if (!h.labels_invalid) {
			hook_request_done(&h);
			return op_error_set(err, -ENOMEM, "out of memory");
		}
	} else if (lab) {
		r = policy_labels_annotation_parse(json_string_value(lab), &h.labels,
						   &h.labels_invalid);
		if (r == -ENOMEM) {
			hook_request_done(&h);
			return op_error_set(err, r, "out of memory");
		}
		if (r < 0) {
			char *why_labels = NULL;

			if (asprintf(&why_labels, "annotation %s: %s", CONTAINER_ANNOTATION_LABELS,
				     h.labels_invalid ? h.labels_invalid : "invalid") < 0) {
				hook_request_done(&h);
				return op_error_set(err, -ENOMEM, "out of memory");
			}
			free(h.labels_invalid);
			h.labels_invalid = why_labels;
		}
		h.labels_known = true;
	}
	*ret = h;
	return 0;
}

void hook_request_done(struct hook_request *h)
{
	free(h->id);
	free(h->netns);
	policy_labels_done(&h->labels);
	free(h->labels_invalid);
	*h = (struct hook_request){ 0 };
}

int hook_id_from_json(json_t *o, char **ret, struct op_error *err)
{
	const char *id = NULL, *why;
	json_error_t jerr;

	if (json_unpack_ex(o, &jerr, 0, "{s:s}", "id", &id) < 0)
		return op_error_set(err, -EINVAL, "invalid hook request: %s", jerr.text);
	why = policy_container_id_invalid(id);
	if (why)
		return op_error_set(err, -EINVAL, "id: invalid container id: %s", why);
	*ret = strdup(id);
	return *ret ? 0 : op_error_set(err, -ENOMEM, "out of memory");
}
