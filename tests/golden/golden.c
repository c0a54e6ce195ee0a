/* SPDX-License-Identifier: MIT */
/*
 * The golden test's machinery (golden.h): a plan goes through policy_emit(), every object it
 * hands out is printed with nftnl_*_snprintf() under a "# table", "# chain", "# set (...)" or
 * "# rule ..." line, and the text is compared with a payload file, or written to it with
 * --regenerate. Used by both kinds of case: hand-built plans and policy files.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "golden.h"

struct printer {
	FILE *out;
	const struct policy_plan *plan;
	char buf[64 * 1024];
};

static int print_obj(enum policy_emit_kind kind, void *obj, const struct policy_plan_rule *pr,
		     void *userdata)
{
	struct printer *p = userdata;

	switch (kind) {
	case POLICY_EMIT_TABLE:
		nftnl_table_snprintf(p->buf, sizeof(p->buf), obj, NFTNL_OUTPUT_DEFAULT, 0);
		fprintf(p->out, "# table\n%s\n", p->buf);
		nftnl_table_free(obj);
		break;
	case POLICY_EMIT_CHAIN:
		nftnl_chain_snprintf(p->buf, sizeof(p->buf), obj, NFTNL_OUTPUT_DEFAULT, 0);
		fprintf(p->out, "# chain\n%s\n", p->buf);
		nftnl_chain_free(obj);
		break;
	case POLICY_EMIT_SET:
		nftnl_set_snprintf(p->buf, sizeof(p->buf), obj, NFTNL_OUTPUT_DEFAULT, 0);
		fprintf(p->out, "# set (flags 0x%x, key type %u len %u, id %u)\n%s\n",
			nftnl_set_get_u32(obj, NFTNL_SET_FLAGS),
			nftnl_set_get_u32(obj, NFTNL_SET_KEY_TYPE),
			nftnl_set_get_u32(obj, NFTNL_SET_KEY_LEN),
			nftnl_set_get_u32(obj, NFTNL_SET_ID), p->buf);
		nftnl_set_free(obj);
		break;
	case POLICY_EMIT_RULE:
		nftnl_rule_snprintf(p->buf, sizeof(p->buf), obj, NFTNL_OUTPUT_DEFAULT, 0);
		if (pr)
			fprintf(p->out, "# rule from plan rule %td\n%s\n", pr - p->plan->rules,
				p->buf);
		else
			fprintf(p->out, "# rule (fixed)\n%s\n", p->buf);
		nftnl_rule_free(obj);
		break;
	case _POLICY_EMIT_MAX:
		return -EINVAL;
	}
	return 0;
}

/* Runs emit with a printer for plan (whose rules the printed rules point into). */
static int render_with(const struct policy_plan *plan,
		       int (*emit)(const void *what, policy_emit_fn fn, void *userdata),
		       const void *what, char **ret)
{
	struct printer *p = calloc(1, sizeof(*p));
	char *text = NULL;
	size_t len = 0;
	int r;

	if (!p)
		return -ENOMEM;
	p->plan = plan;
	p->out = open_memstream(&text, &len);
	if (!p->out) {
		free(p);
		return -ENOMEM;
	}
	r = emit(what, print_obj, p);
	fclose(p->out);
	free(p);
	if (r < 0) {
		free(text);
		return r;
	}
	*ret = text;
	return 0;
}

struct plan_opts {
	const struct policy_plan *plan;
	const struct policy_emit_options *opts;
};

static int emit_plan(const void *what, policy_emit_fn fn, void *userdata)
{
	const struct plan_opts *po = what;

	return policy_emit(po->plan, po->opts, fn, userdata);
}

int golden_render(const struct policy_plan *plan, const struct policy_emit_options *opts,
		  char **ret)
{
	struct plan_opts po = { .plan = plan, .opts = opts };

	return render_with(plan, emit_plan, &po, ret);
}

static int emit_guard(const void *what, policy_emit_fn fn, void *userdata)
{
	return policy_emit_guard(what, fn, userdata);
}

int golden_render_guard(const struct policy_guard *guard, char **ret)
{
	return render_with(guard->plan, emit_guard, guard, ret);
}

char *golden_read_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t len = 0;
	FILE *m;
	char buf[4096];
	size_t n;

	if (!f)
		return NULL;
	m = open_memstream(&text, &len);
	if (!m) {
		fclose(f);
		return NULL;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, m);
	fclose(m);
	fclose(f);
	if (ret_len)
		*ret_len = len;
	return text;
}

static void show_first_difference(const char *want, const char *got)
{
	unsigned line = 1;
	const char *w = want, *g = got;

	while (*w && *w == *g) {
		if (*w == '\n')
			line++;
		w++;
		g++;
	}
	fprintf(stderr, "  first difference at line %u:\n  want: %.*s\n  got:  %.*s\n", line,
		(int)strcspn(w, "\n"), w, (int)strcspn(g, "\n"), g);
}

void golden_fail(struct golden *g, const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("not ok %u - %s: ", ++g->n, name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	g->fails++;
}

void golden_check(struct golden *g, const char *name, const char *path, const char *got)
{
	char *want;

	if (g->regenerate) {
		FILE *f = fopen(path, "we");

		if (!f || fputs(got, f) < 0 || fclose(f) != 0) {
			fprintf(stderr, "%s: %m\n", path);
			g->fails++;
		} else {
			printf("wrote %s\n", path);
		}
		return;
	}
	want = golden_read_file(path, NULL);
	if (!want) {
		golden_fail(g, name, "cannot read %s: %m", path);
	} else if (strcmp(want, got) != 0) {
		golden_fail(g, name, "differs from %s", path);
		show_first_difference(want, got);
	} else {
		printf("ok %u - %s\n", ++g->n, name);
	}
	free(want);
}
