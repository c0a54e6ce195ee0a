/* SPDX-License-Identifier: MIT */
/*
 * libpolicy: Kubernetes NetworkPolicy for containers, as a pure library.
 *
 *   text (JSON/YAML) --policy_parse()--> objects --policy_compile()--> per-endpoint plan (IR)
 *   plan --policy_emit()--> libnftnl objects, handed to a caller's callback
 *
 * No sockets, no namespaces, no logging. Errors are negative errno; bad input is -EBADMSG with
 * diagnostics in struct policy_diags.
 *
 * The structs are visible on purpose: libpolicy is a static library inside segd, linked by the
 * daemon, the CLI and the tests only (the wireguard-tools "containers.h" trade-off). Objects are
 * created and destroyed only through the functions below.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hard limits. Input over a limit is rejected with a diagnostic, never truncated. */
#define POLICY_MAX_INPUT_BYTES (4u * 1024 * 1024)
#define POLICY_MAX_DOCUMENTS 4096
#define POLICY_MAX_DEPTH 64
#define POLICY_MAX_RULES 256	     /* ingress or egress rules per policy */
#define POLICY_MAX_PEERS 256	     /* from/to entries per rule */
#define POLICY_MAX_PORTS 256	     /* port entries per rule */
#define POLICY_MAX_EXCEPT 256	     /* except entries per ipBlock */
#define POLICY_MAX_LABELS 256	     /* labels per object, matchLabels per selector */
#define POLICY_MAX_EXPRESSIONS 64    /* matchExpressions per selector */
#define POLICY_MAX_VALUES 256	     /* values per matchExpression */
#define POLICY_MAX_NAME 253	     /* DNS subdomain (policy names) */
#define POLICY_MAX_NS_NAME 63	     /* DNS label (namespace names) */
#define POLICY_MAX_ENDPOINT_PORTS 64 /* named ports per endpoint */
#define POLICY_MAX_ENDPOINT_ADDRS 64 /* addresses per endpoint */
#define POLICY_MAX_PORT_NAME 15	     /* IANA service name */
#define POLICY_MIN_CONTAINER_ID 12   /* hex digits of a container id */
#define POLICY_MAX_CONTAINER_ID 128
#define POLICY_MAX_NETNS_NAME 255	 /* a name under /run/netns */
#define POLICY_MAX_CONTAINER_NAME 253	 /* Docker and Podman names */
#define POLICY_MAX_FAIL_OPEN 64		 /* names the host lets fail open (segd.conf) */
#define POLICY_MAX_LABEL_VALUE_TEXT 4096 /* segd.io/ports and other segd.io/ label values */
#define POLICY_MAX_ANNOTATION 65536	 /* the segd.io/labels annotation */

#define POLICY_NS_NAME_LABEL "kubernetes.io/metadata.name"

/* ---- diagnostics -------------------------------------------------------------------------- */

struct policy_diag {
	char *file;	 /* as given to the parser; "-" for stdin */
	unsigned line;	 /* 1-based; 0 if unknown */
	unsigned column; /* 1-based; 0 if unknown */
	char *path; /* field path, e.g. "spec.ingress[0].from[1].ipBlock.cidr"; "" for the document */
	char *message; /* e.g. "invalid CIDR \"10.0.0.0/33\"" */
};

struct policy_diags {
	struct policy_diag *items;
	size_t n;
};

void policy_diags_done(struct policy_diags *d);
/* "file:line:column: path: message" (line/column/path omitted when unknown). Caller frees. */
char *policy_diag_format(const struct policy_diag *d);
/* Appends a diagnostic (printf-style message). Returns 0 or -ENOMEM. */
int policy_diags_add(struct policy_diags *d, const char *file, unsigned line, unsigned column,
		     const char *path, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* ---- labels and selectors ----------------------------------------------------------------- */

struct policy_label {
	char *key;
	char *value;
};

/* Sorted by key, keys unique. */
struct policy_labels {
	struct policy_label *items;
	size_t n;
};

enum policy_op {
	POLICY_OP_IN,
	POLICY_OP_NOT_IN,
	POLICY_OP_EXISTS,
	POLICY_OP_DOES_NOT_EXIST,
	_POLICY_OP_MAX,
};

struct policy_expr {
	char *key;
	enum policy_op op;
	char **values; /* In/NotIn: at least one; Exists/DoesNotExist: none */
	size_t n_values;
};

/* A present selector with no matchLabels and no matchExpressions matches everything. */
struct policy_selector {
	struct policy_labels match_labels;
	struct policy_expr *exprs;
	size_t n_exprs;
};

void policy_labels_done(struct policy_labels *l);
const char *policy_labels_get(const struct policy_labels *l, const char *key);
/* Sets (adds or replaces) key=value, keeping the array sorted. */
int policy_labels_set(struct policy_labels *l, const char *key, const char *value);
int policy_labels_unset(struct policy_labels *l, const char *key);
int policy_labels_copy(struct policy_labels *dst, const struct policy_labels *src);
bool policy_labels_equal(const struct policy_labels *a, const struct policy_labels *b);
bool policy_selector_matches(const struct policy_selector *s, const struct policy_labels *l);

/* Label syntax as the API server checks it. Return NULL if valid, else a static reason. */
const char *policy_label_key_invalid(const char *key);
const char *policy_label_value_invalid(const char *value);
const char *policy_dns_label_invalid(const char *name);	    /* RFC 1123 label, <= 63 */
const char *policy_dns_subdomain_invalid(const char *name); /* RFC 1123 subdomain, <= 253 */

/* Whether s[0..len) is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
 * over U+10FFFF; NUL is allowed, the caller bounds what it accepts). When it is not, *ret_offset
 * (if given) is the offset of the first byte of the first bad sequence. */
bool policy_utf8_valid(const char *s, size_t len, size_t *ret_offset);

/* ---- policy objects ------------------------------------------------------------------------ */

enum policy_proto {
	POLICY_PROTO_TCP,
	POLICY_PROTO_UDP,
	POLICY_PROTO_SCTP,
	_POLICY_PROTO_MAX,
};

const char *policy_proto_to_string(enum policy_proto p); /* "TCP" */
int policy_proto_from_string(const char *s);		 /* -EINVAL if unknown */
uint8_t policy_proto_ipproto(enum policy_proto p);	 /* IPPROTO_TCP, ... */

struct policy_port {
	enum policy_proto proto; /* defaulted to TCP when absent */
	bool has_port;		 /* false: every port of proto */
	char *name;		 /* named port (IANA_SVC_NAME), or NULL for numeric */
	uint16_t port;		 /* numeric port, when has_port && !name */
	uint16_t end_port;	 /* 0: no range; else port <= end_port */
	bool any_proto;		 /* with name: the named port's own protocol (ClusterNetworkPolicy
			 * destinationNamedPort); proto is then not used */
};

struct policy_cidr {
	int family;	  /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network byte order, host bits are whatever was written */
	uint8_t prefixlen;
};

struct policy_ipblock {
	struct policy_cidr cidr;
	struct policy_cidr *except; /* each within cidr, same family */
	size_t n_except;
};

/*
 * At least one member is set. pod and ns together mean AND. A ClusterNetworkPolicy peer is
 * always a namespace selector (`namespaces`), a namespace and a pod selector (`pods`) or
 * `networks` or `nodes` (egress only), never a pod selector alone.
 */
struct policy_peer {
	struct policy_selector *pod_selector;  /* NULL: absent */
	struct policy_selector *ns_selector;   /* NULL: absent */
	struct policy_ipblock *ipblock;	       /* NULL: absent; exclusive with the selectors */
	struct policy_cidr *networks;	       /* ClusterNetworkPolicy `networks`: exclusive with */
	size_t n_networks;		       /* the members above; n_networks >= 1 when set */
	struct policy_selector *node_selector; /* ClusterNetworkPolicy egress `nodes`: the
						* addresses of the Nodes it selects; exclusive
						* with the members above; NULL: absent */
};

/* What a rule does with the traffic it matches. NetworkPolicy rules only accept. */
enum policy_action {
	POLICY_ACTION_ACCEPT,
	POLICY_ACTION_DENY,
	POLICY_ACTION_PASS, /* leave the tier: the next tier decides */
	_POLICY_ACTION_MAX,
};

const char *policy_action_to_string(enum policy_action a); /* "Accept", "Deny", "Pass" */

struct policy_rule {
	struct policy_peer *peers; /* n_peers == 0: every peer (NetworkPolicy only) */
	size_t n_peers;
	struct policy_port *ports; /* n_ports == 0: every port and protocol */
	size_t n_ports;
	enum policy_action action; /* POLICY_ACTION_ACCEPT for NetworkPolicy rules */
	char *name;		   /* ClusterNetworkPolicy rule name; NULL when absent */
};

enum {
	POLICY_TYPE_INGRESS = 1u << 0,
	POLICY_TYPE_EGRESS = 1u << 1,
};

/* Tiers. A connection meets Admin, then NetworkPolicy, then Baseline (policy_tier_rank());
 * NetworkPolicy is 0 so that a zeroed plan rule is a NetworkPolicy one. */
enum policy_tier {
	POLICY_TIER_NETPOL,
	POLICY_TIER_ADMIN,
	POLICY_TIER_BASELINE,
	_POLICY_TIER_MAX,
};

/* 0, 1, 2 in the order a connection meets the tiers. */
static inline unsigned policy_tier_rank(enum policy_tier t)
{
	return t == POLICY_TIER_ADMIN ? 0 : t == POLICY_TIER_NETPOL ? 1 : 2;
}

const char *policy_tier_to_string(enum policy_tier t); /* "Admin", "NetworkPolicy", "Baseline" */

struct policy_netpol {
	char *namespace; /* metadata.namespace, "default" when absent */
	char *name;
	struct policy_labels labels; /* metadata.labels (informational) */
	struct policy_selector pod_selector;
	struct policy_rule *ingress;
	size_t n_ingress;
	struct policy_rule *egress;
	size_t n_egress;
	unsigned types; /* POLICY_TYPE_*, after upstream defaulting */
	/* Where it came from, for messages: file and line of the document; may be NULL/0. */
	char *source_file;
	unsigned source_line;
};

/*
 * ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2), cluster-scoped. Its rules are
 * struct policy_rule with an action and a name; a `destinationNamedPort` is a port with a name
 * and any_proto set (the named port's own protocol). Limits are upstream's CRD schema.
 */
#define POLICY_CNP_MAX_PRIORITY 1000
#define POLICY_CNP_MAX_RULES 25	    /* ingress or egress rules */
#define POLICY_CNP_MAX_PEERS 25	    /* from/to entries per rule */
#define POLICY_CNP_MAX_PROTOCOLS 25 /* protocols per rule */
#define POLICY_CNP_MAX_NETWORKS 25  /* CIDRs per networks peer */
#define POLICY_CNP_MAX_RULE_NAME 100

struct policy_cnp {
	char *name;
	struct policy_labels labels; /* metadata.labels (informational) */
	enum policy_tier tier;	     /* POLICY_TIER_ADMIN or POLICY_TIER_BASELINE */
	unsigned priority;	     /* 0..POLICY_CNP_MAX_PRIORITY, lower first */
	/* subject: the endpoints of the namespaces ns_selector matches, and of those only the
	 * ones pod_selector matches when it is set (`subject.pods`); NULL: `subject.namespaces` */
	struct policy_selector ns_selector;
	struct policy_selector *pod_selector;
	struct policy_rule *ingress;
	size_t n_ingress;
	struct policy_rule *egress;
	size_t n_egress;
	char *source_file;
	unsigned source_line;
};

struct policy_namespace {
	char *name;
	struct policy_labels labels; /* includes kubernetes.io/metadata.name = name */
};

/* ---- addresses ------------------------------------------------------------------------------ */

struct policy_addr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
};

/*
 * Node (v1), cluster-scoped: what a ClusterNetworkPolicy egress `nodes` peer matches. segd
 * keeps its name, labels and the addresses of status.addresses of type InternalIP or
 * ExternalIP, in input order (other types, such as Hostname, are accepted and ignored; the type
 * itself is not kept: a peer matches both, so the canonical JSON writes every address as
 * InternalIP). spec is accepted and ignored. A Node is never an endpoint.
 */
struct policy_node {
	char *name;
	struct policy_labels labels;
	struct policy_addr *addrs; /* <= POLICY_MAX_ENDPOINT_ADDRS */
	size_t n_addrs;
};

struct policy_node *policy_node_free(struct policy_node *n);
struct policy_node *policy_node_dup(const struct policy_node *n);
bool policy_node_equal(const struct policy_node *a, const struct policy_node *b);
/* {"apiVersion":"v1","kind":"Node","metadata":{..},"status":{"addresses":[..]}} */
char *policy_node_to_json(const struct policy_node *n);

/* What one input (file) held, in input order. */
struct policy_objects {
	struct policy_namespace **namespaces;
	size_t n_namespaces;
	struct policy_netpol **netpols;
	size_t n_netpols;
	struct policy_cnp **cnps;
	size_t n_cnps;
	struct policy_node **nodes;
	size_t n_nodes;
};

/*
 * Parses JSON or YAML (detected from content: JSON if the first non-space byte is '{' or '['),
 * multi-document YAML, `kind: List` (items), and validates every object as the API server does.
 * On any problem returns -EBADMSG with one diagnostic per problem in *reterr and *ret untouched:
 * nothing of a bad input is used. Unknown kinds, unknown fields, duplicate keys, invalid UTF-8,
 * over-limit sizes are problems. `file` is used for diagnostics only.
 */
int policy_parse(const char *file, const char *text, size_t len, struct policy_objects **ret,
		 struct policy_diags *reterr);
struct policy_objects *policy_objects_free(struct policy_objects *o);

struct policy_netpol *policy_netpol_free(struct policy_netpol *p);
struct policy_netpol *policy_netpol_dup(const struct policy_netpol *p);
struct policy_cnp *policy_cnp_free(struct policy_cnp *p);
struct policy_cnp *policy_cnp_dup(const struct policy_cnp *p);
struct policy_namespace *policy_namespace_free(struct policy_namespace *n);
struct policy_namespace *policy_namespace_new(const char *name, const struct policy_labels *l);

/*
 * Canonical JSON (the upstream v1 object, defaults filled in, keys in a fixed order) as a
 * NUL-terminated string the caller frees. Parsing it back gives an equal object. Used for
 * state persistence and `segctl get -o json|yaml`.
 */
char *policy_netpol_to_json(const struct policy_netpol *p);
char *policy_namespace_to_json(const struct policy_namespace *n);
bool policy_netpol_equal(const struct policy_netpol *a, const struct policy_netpol *b);
char *policy_cnp_to_json(const struct policy_cnp *p);
bool policy_cnp_equal(const struct policy_cnp *a, const struct policy_cnp *b);

/* ---- endpoints (pods) ---------------------------------------------------------------------- */

struct policy_named_port {
	char *name;
	enum policy_proto proto;
	uint16_t port;
};

struct policy_endpoint {
	char *name;
	char *namespace;
	struct policy_labels labels;
	struct policy_addr *addrs;
	size_t n_addrs;
	struct policy_named_port *ports;
	size_t n_ports;
};

/* ---- segd's own grammars (grammar.c) --------------------------------------------------------
 *
 * One function per rule, shared by the daemon, the CLI and the container sources. The *_invalid
 * checks return NULL when valid, else a static reason. The parsers return 0 or a negative errno
 * (-EINVAL, -E2BIG, -EEXIST, -ENOMEM) and then set *reterr (when not NULL) to a message the
 * caller frees; nothing else is touched on failure.
 */

/* IANA service name (Kubernetes IsValidPortName): 1-15 of a-z, 0-9 and '-', a letter, no '--',
 * no '-' at either end. */
const char *policy_port_name_invalid(const char *name);
/* 12 to 128 lowercase hexadecimal digits, as Docker and Podman print them. */
const char *policy_container_id_invalid(const char *id);
/* A name under /run/netns, as `ip netns` takes it: 1-255 bytes, no '/', not "." or "..". */
const char *policy_netns_name_invalid(const char *name);
/* A container name as Docker and Podman take it: [a-zA-Z0-9][a-zA-Z0-9_.-]*, 1-253 bytes. */
const char *policy_container_name_invalid(const char *name);
/*
 * One line of segd's config file, "  name = value  # comment", split in place: *ret_name
 * NULL for a blank or comment-only line, else name and value trimmed (value may be "").
 * -EINVAL without '=' or with an empty name. segd's settings and the OCI hook both read it.
 */
int policy_config_line_split(char *line, char **ret_name, char **ret_value);
/* "PORT" or "PORT/PROTOCOL": 1-65535, TCP (default), UDP or SCTP in any case. -EINVAL,
 * -ERANGE or -EPROTONOSUPPORT. */
int policy_port_spec_parse(const char *s, uint16_t *ret_port, enum policy_proto *ret_proto);
/* "NAME=PORT[/PROTOCOL]" (segctl endpoint add --port, one item of segd.io/ports); ret->name is
 * allocated. */
int policy_named_port_parse(const char *s, struct policy_named_port *ret, char **reterr);
/* Appends *p to the array (taking p->name) unless its name is there already (-EEXIST) or the
 * array holds POLICY_MAX_ENDPOINT_PORTS (-E2BIG). */
int policy_named_ports_add(struct policy_named_port **ports, size_t *n, struct policy_named_port *p,
			   char **reterr);
void policy_named_ports_free(struct policy_named_port *ports, size_t n);
/* Adds the label key=value to l: the key and the value checked as labels, the key not there
 * yet (-EEXIST), at most POLICY_MAX_LABELS (-E2BIG). */
int policy_label_add(struct policy_labels *l, const char *key, const char *value, char **reterr);
/* The label segd.io/ports: "NAME=PORT[/PROTOCOL],..." with unique names; "" is no ports. */
int policy_ports_label_parse(const char *s, struct policy_named_port **ret, size_t *ret_n,
			     char **reterr);
/* The annotation segd.io/labels: "k=v;k=v" or a JSON object of strings; every key and value
 * must be a valid label, each key once; "" is no labels. */
int policy_labels_annotation_parse(const char *s, struct policy_labels *ret, char **reterr);

/* ---- compiler ------------------------------------------------------------------------------ */

/* Everything the compiler looks at. Borrowed pointers; nothing is freed by the compiler.
 * A namespace used by an endpoint but absent from `namespaces` has only its name label. */
struct policy_index;

struct policy_world {
	struct policy_namespace *const *namespaces;
	size_t n_namespaces;
	struct policy_netpol *const *netpols;
	size_t n_netpols;
	struct policy_cnp *const *cnps;
	size_t n_cnps;
	struct policy_node *const *nodes; /* what `nodes` peers match; never endpoints */
	size_t n_nodes;
	struct policy_endpoint *const *endpoints;
	size_t n_endpoints;
	/* When set, the possible peers are the indexed endpoints (endpoints/n_endpoints are not
	 * read by the compiler): a selector costs its matches, not the world. */
	const struct policy_index *index;
};

enum policy_dir {
	POLICY_DIR_INGRESS,
	POLICY_DIR_EGRESS,
	_POLICY_DIR_MAX,
};

const char *policy_dir_to_string(enum policy_dir d); /* "ingress" / "egress" */

enum policy_deny_action {
	POLICY_DENY_DROP,
	POLICY_DENY_REJECT,
	_POLICY_DENY_MAX,
};

/* One element of a set: a single address (hash sets), or [start, end] inclusive (interval). */
struct policy_set_elem {
	uint8_t start[16];
	uint8_t end[16];
};

/* A named set in the endpoint's table. */
struct policy_set {
	char *name;    /* <= 31 chars, e.g. "i0_p4" */
	int family;    /* AF_INET (ipv4_addr) or AF_INET6 (ipv6_addr) */
	bool interval; /* false: hash set of addresses; true: interval set of ranges */
	struct policy_set_elem *elems; /* sorted, unique; intervals merged, non-overlapping */
	size_t n_elems;
};

/*
 * One allow rule: [peer match] [l4 match] counter accept, in the chain of its direction.
 * The peer is the remote side: source address for ingress, destination for egress.
 */
struct policy_plan_rule {
	enum policy_dir dir;
	enum policy_tier tier;
	enum policy_action action; /* NetworkPolicy tier: always accept */
	/* provenance */
	char *policy_namespace; /* NULL for a ClusterNetworkPolicy */
	char *policy_name;
	unsigned rule_index; /* index in spec.ingress / spec.egress */
	char *rule_name;     /* ClusterNetworkPolicy rule name, or NULL */
	unsigned priority;   /* ClusterNetworkPolicy priority */
	/* peer match: family AF_UNSPEC and set -1 means any peer (both families) */
	int family;
	int set; /* index into plan->sets, or -1 */
	/* l4 match: has_proto false means any protocol and port */
	bool has_proto;
	enum policy_proto proto;
	uint16_t port_lo, port_hi; /* 0,0: any port of proto; else inclusive range */
	char *comment; /* "NS/NAME ingress[I]"; <= 128 bytes, stored as the nft comment */
};

struct policy_plan {
	char *endpoint;			/* endpoint name */
	bool isolated[_POLICY_DIR_MAX]; /* selected by a policy of that type: default drop */
	enum policy_deny_action deny;
	struct policy_set *sets;
	size_t n_sets;
	struct policy_plan_rule *rules; /* in chain order: ingress rules, then egress rules */
	size_t n_rules;
	/* "NS/NAME" of each policy selecting this endpoint, sorted, for display, and the
	 * POLICY_TYPE_* bits of each (which directions it isolates) */
	char **selected_by;
	unsigned *selected_types;
	size_t n_selected_by;
};

/* Whether p's subject selects e (e's namespace labels from w). */
bool policy_cnp_selects(const struct policy_world *w, const struct policy_cnp *p,
			const struct policy_endpoint *e);
/* As policy_netpol_references(), for a ClusterNetworkPolicy's peers. */
bool policy_cnp_references(const struct policy_world *w, const struct policy_cnp *p,
			   const struct policy_endpoint *e);
/* Whether p has an egress `nodes` peer. Nodes are not endpoints and policy_cnp_references()
 * does not see them: when a Node appears, changes or goes, the endpoints p selects need a new
 * plan exactly when this is true. */
bool policy_cnp_has_node_peers(const struct policy_cnp *p);
/* Whether p selects e (same namespace, podSelector matches). */
bool policy_netpol_selects(const struct policy_netpol *p, const struct policy_endpoint *e);
/*
 * Whether e can appear in the plans of the endpoints p selects: as a selector peer of one of
 * its rules, or as a candidate destination of an egress named port. When e changes (appears,
 * goes, is relabelled, moves address), only the endpoints selected by policies referencing e
 * (before or after the change) and e itself need a new plan.
 */
bool policy_netpol_references(const struct policy_world *w, const struct policy_netpol *p,
			      const struct policy_endpoint *e);

/*
 * Compiles the plan of endpoint `ep` (one of world->endpoints). Deterministic: the same world
 * gives a byte-identical plan (sets and rules ordered by policy namespace/name, rule index).
 * Named ports: ingress resolves against `ep`'s own named ports; egress against each selected
 * peer endpoint's named ports (peers grouped by resolved number); a named port that resolves
 * nowhere matches nothing. ipBlock except is computed exactly into interval sets.
 */
int policy_compile(const struct policy_world *world, const struct policy_endpoint *ep,
		   enum policy_deny_action deny, struct policy_plan **ret);
struct policy_plan *policy_plan_free(struct policy_plan *p);

/*
 * The label index (index.c): the endpoints of a world by namespace, by label key and by
 * key=value, kept by the world's owner across changes: an endpoint is added when it becomes a
 * possible peer, and removed before it goes or after its namespace or labels change (then added
 * again). The index keeps a copy of what it indexed an endpoint under, so removal never reads
 * the endpoint's current labels. A selector's endpoints cost its most selective posting list (a
 * matchLabels pair, the values of an In, an Exists key, else its namespace), not the world.
 */
struct policy_index;
int policy_index_new(struct policy_index **ret);
struct policy_index *policy_index_free(struct policy_index *x);
/* -EEXIST if ep is indexed already. On failure nothing changed. */
int policy_index_add(struct policy_index *x, const struct policy_endpoint *ep);
/* Whether ep was indexed (it is not any more). */
bool policy_index_remove(struct policy_index *x, const struct policy_endpoint *ep);
bool policy_index_has(const struct policy_index *x, const struct policy_endpoint *ep);
/* Indexed under the namespace and labels ep has now. */
bool policy_index_current(const struct policy_index *x, const struct policy_endpoint *ep);
size_t policy_index_count(const struct policy_index *x);
/* fn for each indexed endpoint of namespace ns that sel matches (NULL: all of them), in no
 * particular order; stops at fn's first negative return and returns it. */
int policy_index_select(const struct policy_index *x, const char *ns,
			const struct policy_selector *sel,
			int (*fn)(const struct policy_endpoint *ep, void *ud), void *ud);
/* fn for each namespace that has indexed endpoints; stops as above. */
int policy_index_foreach_namespace(const struct policy_index *x,
				   int (*fn)(const char *ns, void *ud), void *ud);

/*
 * Compiling many endpoints against one world: the endpoints a rule's selector peers select are
 * the same for every endpoint that rule applies to, so they are computed once per rule and
 * reused (a policy selecting A endpoints costs one scan of the world, not A). The cache borrows
 * `world` and is valid only while the world does not change.
 */
struct policy_compile_cache;
int policy_compile_cache_new(const struct policy_world *world, struct policy_compile_cache **ret);
struct policy_compile_cache *policy_compile_cache_free(struct policy_compile_cache *c);
int policy_compile_cached(struct policy_compile_cache *c, const struct policy_endpoint *ep,
			  enum policy_deny_action deny, struct policy_plan **ret);

/*
 * A connection through one direction of a plan, as the kernel evaluates the chains it emits:
 * `peer` is the remote side (the source for ingress, the destination for egress). The Admin
 * tier's rules first (the first that matches accepts, denies or passes to the next tier); then,
 * where NetworkPolicies isolate the direction, their rules (one matching allows, none denies);
 * else the Baseline tier's rules as the Admin's; what nothing decides is allowed.
 */
struct policy_verdict {
	bool isolated; /* selected by a NetworkPolicy with this direction in policyTypes */
	bool allowed;
	size_t *rules; /* indexes into plan->rules that match, whether reached or not */
	size_t n_rules;
	/* How it was decided: the deciding rule (plan->n_rules: none, the NetworkPolicy default
	 * deny when isolated, else allowed by default), its tier (_POLICY_TIER_MAX: none), and
	 * the Pass rules that led there. */
	size_t decided_by;
	enum policy_tier tier;
	size_t passes[2];
	size_t n_passes;
};

int policy_plan_evaluate(const struct policy_plan *plan, enum policy_dir dir,
			 const struct policy_addr *peer, enum policy_proto proto, uint16_t port,
			 struct policy_verdict *ret);
void policy_verdict_done(struct policy_verdict *v);
bool policy_plan_equal(const struct policy_plan *a, const struct policy_plan *b);
/* Equal but for the elements of hash sets: the kernel can go from one to the other with set
 * element messages alone (interval sets must be equal: changing those is O(set) anyway). */
bool policy_plan_same_shape(const struct policy_plan *a, const struct policy_plan *b);
/* Plan as JSON text (for `segctl rules`, `explain` and tests). Caller frees. */
char *policy_plan_to_json(const struct policy_plan *p);

/* ---- reading plans (explain.c) --------------------------------------------------------------- */

/* A port to evaluate. */
struct policy_l4 {
	uint16_t port;
	enum policy_proto proto;
};

const char *policy_family_to_string(int family); /* "ipv4", "ipv6", "any" */
/* "TCP", "UDP", "SCTP", "ICMP", "ICMPv6" for those IP protocol numbers, else NULL. */
const char *policy_ipproto_to_string(uint8_t ipproto);
/* The names of plan->selected_by that isolate `dir` into ret (room for n_selected_by); the
 * count. A NULL plan has none. */
size_t policy_plan_isolating(const struct policy_plan *plan, enum policy_dir dir, const char **ret);
/* Adds to ports[0..n) the ports `plan`'s rules name (a range by its first port), up to max;
 * returns the new count. */
size_t policy_plan_ports(const struct policy_plan *plan, struct policy_l4 *ports, size_t n,
			 size_t max);
void policy_l4_sort(struct policy_l4 *ports, size_t n);
/* "80,53/udp": comma-separated policy_port_spec_parse() items, duplicates dropped; "" or NULL
 * is none. -EINVAL on a bad item, -E2BIG past max. */
int policy_l4_list_parse(const char *spec, struct policy_l4 *ports, size_t max, size_t *ret_n);
/*
 * What an answer about pairs of endpoints costs, counted before any pair is evaluated, in
 * cells: one ordered pair of distinct endpoints on one port. A matrix of n endpoints on
 * n_ports is n * (n - 1) * n_ports cells. A diff evaluates each pair with a changed end
 * (each of n_changed against every other of the n_evaluated, both ways) before and after:
 * 2 * (2 * n_changed * (n_evaluated - 1) - n_changed * (n_changed - 1)) * n_ports. Both
 * saturate at UINT64_MAX. policy_cells_fit(): whether cells are within budget.
 */
uint64_t policy_matrix_cells(size_t n_endpoints, size_t n_ports);
uint64_t policy_diff_cells(size_t n_changed, size_t n_evaluated, size_t n_ports);
bool policy_cells_fit(uint64_t cells, uint64_t budget);
/*
 * Whether `from` (plan, addresses) may reach `to` on p: egress at `from` towards to's address
 * and ingress at `to` from from's address, in every address family both have. 1 allowed,
 * 0 denied, -errno; *ret_known false when they share no family (then 0).
 */
int policy_pair_allowed(const struct policy_plan *from, const struct policy_addr *from_addrs,
			size_t n_from, const struct policy_plan *to,
			const struct policy_addr *to_addrs, size_t n_to, const struct policy_l4 *p,
			bool *ret_known);
/*
 * Whether `plan` lets one flow through in direction `dir`, as the chain of that direction
 * decides its first packet: `peer` is the remote side (the source for ingress, the destination
 * for egress), `ipproto` the IP protocol number (IPPROTO_*) and `port` the destination port
 * (the endpoint's own port for ingress; ignored unless ipproto is TCP, UDP or SCTP). A
 * direction the endpoint is not isolated for lets everything through. A rule that names
 * ports or a protocol matches only that protocol; ICMP, ICMPv6 and every other protocol pass
 * only a rule that names none. 1 allowed, 0 denied, -EINVAL (no plan, bad direction or peer
 * family).
 */
int policy_plan_allows(const struct policy_plan *plan, enum policy_dir dir,
		       const struct policy_addr *peer, uint8_t ipproto, uint16_t port);
/* Whether `plan` can deny anything in direction dir: NetworkPolicies isolate it, or a
 * ClusterNetworkPolicy Deny rule is there. A NULL plan cannot. */
bool policy_plan_restricts(const struct policy_plan *plan, enum policy_dir dir);
/* Whether the plan has ClusterNetworkPolicy rules (in either direction). */
bool policy_plan_has_tiers(const struct policy_plan *plan);
/* "10.0.0.1", or "10.0.0.0-10.0.255.255" for a range of an interval set. -ENOBUFS if short. */
int policy_set_elem_text(const struct policy_set *s, const struct policy_set_elem *e, char *buf,
			 size_t size);
/* "NS/NAME ingress[0]: ipv4 from @i0_p4 TCP/80"; a ClusterNetworkPolicy rule ends in its
 * action, tier and priority ("cnp/NAME ingress[RULE]: ... TCP/80: Deny (Admin 10)"). Caller
 * frees; NULL on OOM. */
char *policy_plan_rule_text(const struct policy_plan *plan, const struct policy_plan_rule *r);
/* Pointers to the elements of `a` that `b` (may be NULL) lacks, into ret (room for a->n_elems);
 * the count. Both sorted as plans keep them. */
size_t policy_set_elems_minus(const struct policy_set *a, const struct policy_set *b,
			      const struct policy_set_elem **ret);

/* Elements of one set (pointers into the plan the set belongs to). */
struct policy_elems_delta {
	const struct policy_set *set;
	const struct policy_set_elem **elems;
	size_t n_elems;
};

/* What differs between two plans of one endpoint: rules by their text, set elements by set
 * name (a set absent from one side counts all its elements). Borrows from both plans. */
struct policy_plan_diff {
	char **rules_added, **rules_removed;
	size_t n_rules_added, n_rules_removed;
	struct policy_elems_delta *elems_added; /* sets of `new` */
	size_t n_elems_added;
	struct policy_elems_delta *elems_removed; /* sets of `old` */
	size_t n_elems_removed;
};

/* old or new may be NULL (nothing). */
int policy_plan_diff(const struct policy_plan *old, const struct policy_plan *new,
		     struct policy_plan_diff *ret);
void policy_plan_diff_done(struct policy_plan_diff *d);

/* ---- emitter: plan -> libnftnl objects ----------------------------------------------------- */

struct nftnl_table;
struct nftnl_chain;
struct nftnl_set;
struct nftnl_rule;

#define POLICY_NFT_TABLE "segd"
#define POLICY_NFT_CHAIN_INPUT "input"
#define POLICY_NFT_CHAIN_OUTPUT "output"
/* The Admin and Baseline tiers' rules, jumped to from input/output (regular chains, made only
 * when the plan has rules of that tier and direction): a Pass rule returns. */
#define POLICY_NFT_CHAIN_INPUT_ADMIN "input_admin"
#define POLICY_NFT_CHAIN_OUTPUT_ADMIN "output_admin"
#define POLICY_NFT_CHAIN_INPUT_BASELINE "input_baseline"
#define POLICY_NFT_CHAIN_OUTPUT_BASELINE "output_baseline"
/* After input/output (priority 10): they see what those accepted, and record its peers. */
#define POLICY_NFT_CHAIN_INPUT_ACCEPTED "input_accepted"
#define POLICY_NFT_CHAIN_OUTPUT_ACCEPTED "output_accepted"
/* Whom the endpoint has had accepted flows with, for related ICMP errors (dynamic sets). */
#define POLICY_NFT_SET_PEERS4 "peers4"
#define POLICY_NFT_SET_PEERS6 "peers6"
#define POLICY_PEERS_MAX 65536
#define POLICY_PEERS_TIMEOUT_MS 86400000ull

enum policy_emit_kind {
	POLICY_EMIT_TABLE, /* struct nftnl_table * (family NFPROTO_INET) */
	POLICY_EMIT_CHAIN, /* struct nftnl_chain * */
	POLICY_EMIT_SET,   /* struct nftnl_set * with its elements attached */
	POLICY_EMIT_RULE,  /* struct nftnl_rule * */
	_POLICY_EMIT_MAX,
};

/*
 * Called for each object in dependency order (table, chains, sets, rules). Ownership of `obj`
 * passes to the callback. `plan_rule` is the plan rule a rule came from, or NULL for the fixed
 * rules (loopback, ct state, ND, default drop) and for non-rule objects.
 */
typedef int (*policy_emit_fn)(enum policy_emit_kind kind, void *obj,
			      const struct policy_plan_rule *plan_rule, void *userdata);

/*
 * Flow logs (NFLOG): with DENIED, an isolated direction logs what it is about to deny, at most
 * log_rate packets per second (burst 2x) per chain, with prefix "segd:D:i " (ingress) or
 * "segd:D:e " (egress), and each ClusterNetworkPolicy Deny rule what it denies, as limited,
 * with prefix "segd:D:i:N " where N is the index of the rule in plan->rules; with ALL, every allow rule also logs the new flows it accepts, unlimited
 * (a limit there would turn into a deny), with prefix "segd:A:i:N " where N is the index of the
 * rule in plan->rules. Packets go to NFLOG group log_group with POLICY_FLOW_LOG_SNAPLEN bytes.
 */
enum policy_flow_log {
	POLICY_FLOW_LOG_NONE,
	POLICY_FLOW_LOG_DENIED,
	POLICY_FLOW_LOG_ALL,
};

#define POLICY_FLOW_PREFIX_DENIED "segd:D:"
#define POLICY_FLOW_PREFIX_ALLOWED "segd:A:"
#define POLICY_FLOW_LOG_PREFIX_MAX 32
#define POLICY_FLOW_LOG_SNAPLEN 128 /* IPv6 header + transport ports, with room */
#define POLICY_FLOW_LOG_RATE 10	    /* denied packets logged per second per chain */

struct policy_emit_options {
	uint32_t table_flags; /* NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST, decided by the caller */
	const char *table;    /* inet table name; NULL: POLICY_NFT_TABLE */
	enum policy_flow_log flow_log;
	uint16_t log_group;
	uint32_t log_rate; /* 0: POLICY_FLOW_LOG_RATE */
};

int policy_emit(const struct policy_plan *plan, const struct policy_emit_options *opts,
		policy_emit_fn fn, void *userdata);
/* Frees an object policy_emit() handed out (for callbacks that only look at it). */
void policy_emit_free(enum policy_emit_kind kind, void *obj);

/*
 * The host-side guard of one endpoint device: table netdev "segd-<ifindex>" in the namespace of
 * the host-side end of the endpoint's veth, out of the workload's reach. Chain from_endpoint
 * (hook ingress of that device: every frame the endpoint sends) pins the source MAC, the ARP
 * sender and the IPv4/IPv6 source to the endpoint's own, checks the ND target and link-layer
 * options, drops router advertisements, redirects and DHCP server replies, and enforces the
 * endpoint's egress policy again, statelessly: allowed destinations per plan rule, replies on
 * the flows its ingress policy admits (recorded in @replies4/6 by chain to_endpoint, hook
 * egress of that device), ICMP and TCP resets to addresses that sent it something (@seen4/6).
 * With ClusterNetworkPolicy tiers it decides as policy_plan_evaluate() does: replies first, then
 * the Admin tier's egress rules (chain from_endpoint_admin: Accept accepts, Deny drops, Pass
 * returns), the NetworkPolicy rules, the default drop where they isolate, else the Baseline
 * tier's (from_endpoint_baseline), else accept. Chain to_endpoint records a flow where the
 * ingress tiers admit it (to_endpoint_admin, to_endpoint_baseline) and records only while
 * something the endpoint sends can be denied.
 */
#define POLICY_GUARD_TABLE_PREFIX "segd-"
#define POLICY_GUARD_CHAIN_FROM "from_endpoint"
#define POLICY_GUARD_CHAIN_TO "to_endpoint"
/* Regular chains of the ClusterNetworkPolicy tiers, jumped to from the two above. */
#define POLICY_GUARD_CHAIN_FROM_ADMIN "from_endpoint_admin"
#define POLICY_GUARD_CHAIN_FROM_BASELINE "from_endpoint_baseline"
#define POLICY_GUARD_CHAIN_TO_ADMIN "to_endpoint_admin"
#define POLICY_GUARD_CHAIN_TO_BASELINE "to_endpoint_baseline"
#define POLICY_GUARD_FLOWS_MAX 65536		  /* elements of each dynamic set */
#define POLICY_GUARD_REPLY_TIMEOUT_MS 86400000ull /* a day, refreshed by every packet */
#define POLICY_GUARD_SEEN_TIMEOUT_MS 600000ull	  /* ten minutes */

struct policy_guard {
	const char *table;  /* POLICY_GUARD_TABLE_PREFIX + host-side ifindex */
	const char *device; /* host-side device name */
	uint32_t ifindex;   /* and its index: a chain is bound to a name, which another device
			     * may carry later; the guard's rules are for this device only */
	uint8_t mac[6];	    /* hardware address of the endpoint's end */
	/* addresses the endpoint may send from: its own (claimed) ones and the link-local
	 * addresses of that interface */
	const struct policy_addr *addrs;
	size_t n_addrs;
	const struct policy_plan *plan; /* its egress (and, for replies, ingress) rules */
	uint32_t table_flags;
};

/* Objects of the guard's table in dependency order, as policy_emit() does (table family
 * NFPROTO_NETDEV). The plan's sets are emitted with the same names and ids, so that the
 * element changes of the endpoint's table apply to the guard's as they are. */
int policy_emit_guard(const struct policy_guard *g, policy_emit_fn fn, void *userdata);

/* Comment strings of the fixed rules, so readers of the kernel ruleset can tell them apart. */
#define POLICY_COMMENT_LOOPBACK "segd: loopback"
#define POLICY_COMMENT_ESTABLISHED "segd: established,related"
#define POLICY_COMMENT_ESTABLISHED_IN "segd: established"
#define POLICY_COMMENT_RELATED_PEERS "segd: related, from a peer"
#define POLICY_COMMENT_RELATED_PMTU "segd: related, path MTU"
#define POLICY_COMMENT_PEERS "segd: record peer"
#define POLICY_COMMENT_INVALID "segd: invalid"
#define POLICY_COMMENT_ND "segd: icmpv6 neighbour discovery"
#define POLICY_COMMENT_RA_OUT "segd: no router advertisements from endpoints"
#define POLICY_COMMENT_TCP_NOT_SYN "segd: new tcp flow without syn"
#define POLICY_COMMENT_RA_IN "segd: no router advertisements or redirects into endpoints"
#define POLICY_COMMENT_DEFAULT_DENY "segd: default deny"
#define POLICY_COMMENT_ADMIN_TIER "segd: admin tier"
#define POLICY_COMMENT_BASELINE_TIER "segd: baseline tier"
#define POLICY_COMMENT_FLOW_LOG "segd: flow log"
