/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <stdlib.h>

#include "json-util.h"

json_t *json_take_text(char *text)
{
	json_t *o = text ? json_loads(text, 0, NULL) : NULL;

	free(text);
	return o;
}

json_t *json_labels(const struct policy_labels *l)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < l->n; i++)
		json_object_set_new(o, l->items[i].key, json_string(l->items[i].value));
	return o;
}

json_t *json_addr(const struct policy_addr *a)
{
	char buf[INET6_ADDRSTRLEN];

	if (!inet_ntop(a->family, a->addr, buf, sizeof(buf)))
		return json_null();
	return json_string(buf);
}

json_t *json_addrs(const struct policy_addr *a, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++)
		json_array_append_new(arr, json_addr(&a[i]));
	return arr;
}

json_t *json_named_ports(const struct policy_named_port *p, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:i, s:s}", "name", p[i].name, "port",
						     p[i].port, "protocol",
						     policy_proto_to_string(p[i].proto)));
	return arr;
}

json_t *json_l4(const struct policy_l4 *p)
{
	return json_sprintf("%u/%s", p->port, policy_proto_to_string(p->proto));
}
