/* SPDX-License-Identifier: BSD-3-Clause */
/* What the harnesses share: failure reporting. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_harness.h"

bool fz_abort_on_fail;
bool fz_verbose;

void
fz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FUZZ INVARIANT BROKEN at %s:%d: %s: ", file, line,
		cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	if (fz_abort_on_fail)
		abort();
}
