/* SPDX-License-Identifier: MIT */
/*
 * Every policy file under examples/ parses and validates: the README and the demo point users
 * at them, so a field renamed or a typo there is a failing test, not a user's first error.
 * Compose files (compose.yaml) are not policies and are skipped. Argument: the examples dir.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy/policy.h"

static const char *examples_dir;

static char *slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0;

	assert_non_null(f);
	buf = malloc(1 << 20);
	assert_non_null(buf);
	len = fread(buf, 1, (1 << 20) - 1, f);
	assert_true(feof(f));
	fclose(f);
	buf[len] = 0;
	*ret_len = len;
	return buf;
}

static bool is_policy_file(const char *name)
{
	size_t n = strlen(name);

	if (strcmp(name, "compose.yaml") == 0)
		return false;
	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	       (n > 5 && strcmp(name + n - 5, ".json") == 0);
}

/* Parses every policy file in dir and its subdirectories; returns how many. */
static int parse_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		char path[4096];
		struct policy_objects *objs = NULL;
		struct policy_diags diags = { 0 };
		size_t len;
		char *text;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (de->d_type == DT_DIR) {
			n += parse_dir(path);
			continue;
		}
		if (!is_policy_file(de->d_name))
			continue;
		text = slurp(path, &len);
		if (policy_parse(path, text, len, &objs, &diags) < 0) {
			for (size_t i = 0; i < diags.n; i++) {
				char *msg = policy_diag_format(&diags.items[i]);

				print_error("%s\n", msg ? msg : "(out of memory)");
				free(msg);
			}
			fail_msg("%s does not parse", path);
		}
		print_message("# %s: ok\n", path);
		policy_objects_free(objs);
		policy_diags_done(&diags);
		free(text);
		n++;
	}
	closedir(d);
	return n;
}

static void test_examples_parse(void **state)
{
	/* three-tier, default-deny, allow-dns-by-cidr, compose/policy at least */
	assert_true(parse_dir(examples_dir) >= 4);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_examples_parse),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s EXAMPLES_DIR\n", argv[0]);
		return 2;
	}
	examples_dir = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
