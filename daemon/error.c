/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"

void op_error_done(struct op_error *e)
{
	free(e->message);
	policy_diags_done(&e->diags);
	*e = (struct op_error){ 0 };
}

int op_error_set(struct op_error *e, int r, const char *fmt, ...)
{
	va_list ap;

	free(e->message);
	va_start(ap, fmt);
	if (vasprintf(&e->message, fmt, ap) < 0)
		e->message = NULL;
	va_end(ap);
	return r;
}
