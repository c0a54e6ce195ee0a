/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for segd-runc's reading of runc's command line (runc-args.c): the input,
 * split at NUL bytes, is argv after argv[0]. Whatever it is: a result or -EINVAL with a
 * reason; a hooked call is create, run or restore; the bundle and --log are argv's strings.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runc-args.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool in_argv(const char *s, char **argv, int argc)
{
	for (int i = 0; i < argc; i++)
		if (s >= argv[i] && s <= argv[i] + strlen(argv[i]))
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1), **argv = NULL, *err = NULL;
	struct runc_call c;
	int argc = 1, r;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = 0;
	for (size_t i = 0; i < size; i++)
		argc += copy[i] == 0;
	argc++;
	argv = calloc((size_t)argc + 1, sizeof(*argv));
	if (!argv) {
		free(copy);
		return 0;
	}
	argv[0] = (char *)"segd-runc";
	argc = 1;
	for (char *p = copy; p <= copy + size; p += strlen(p) + 1)
		argv[argc++] = p;
	if (size == 0)
		argc = 1;
	r = runc_args_scan(argc, argv, &c, &err);
	if (r < 0) {
		if ((r != -EINVAL || !err) && r != -ENOMEM)
			abort();
	} else {
		if (err)
			abort();
		if (c.hooked &&
		    (!c.command || (strcmp(c.command, "create") && strcmp(c.command, "run") &&
				    strcmp(c.command, "restore"))))
			abort();
		if (c.bundle && (!c.hooked || !in_argv(c.bundle, argv, argc)))
			abort();
		if (c.log && !in_argv(c.log, argv, argc))
			abort();
		if (c.command && !in_argv(c.command, argv, argc))
			abort();
	}
	free(err);
	free(argv);
	free(copy);
	return 0;
}
