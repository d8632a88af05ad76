/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdlib.h>
#include <string.h>

#include "usva_alloc.h"
#include "usva_log.h"

int usva_failnth_armed;
static uint32_t failnth_target;	/* atomic; the fail point that must fail */
static uint32_t failnth_count;	/* atomic; fail points passed since arming */
static int64_t alloc_live;	/* atomic; usva_malloc() minus usva_free() */

void
usva_failnth_set(uint32_t nth)
{
	__atomic_store_n(&failnth_count, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&failnth_target, nth, __ATOMIC_RELAXED);
	/* Release: a fail point that sees armed also sees the new target. */
	__atomic_store_n(&usva_failnth_armed, nth != 0, __ATOMIC_RELEASE);
}

uint32_t
usva_failnth_hits(void)
{
	return __atomic_load_n(&failnth_count, __ATOMIC_RELAXED);
}

bool
usva_failnth_fired(void)
{
	uint32_t target = __atomic_load_n(&failnth_target, __ATOMIC_RELAXED);

	return target != 0 && usva_failnth_hits() >= target;
}

bool
usva_failnth_check(const char *site)
{
	/* Acquire pairs with the release in usva_failnth_set(). */
	if (!__atomic_load_n(&usva_failnth_armed, __ATOMIC_ACQUIRE))
		return false;
	uint32_t n = __atomic_add_fetch(&failnth_count, 1, __ATOMIC_RELAXED);
	if (n != __atomic_load_n(&failnth_target, __ATOMIC_RELAXED))
		return false;
	USVA_LOG(DEBUG, core, "fail-nth: injected failure #%u at %s", n, site);
	return true;
}

void *
usva_malloc(size_t size)
{
	void *p;

	if (usva_fail_point("malloc"))
		return NULL;
	p = malloc(size);
	if (p != NULL)
		__atomic_add_fetch(&alloc_live, 1, __ATOMIC_RELAXED);
	return p;
}

void *
usva_zmalloc(size_t size)
{
	void *p = usva_malloc(size);

	if (p != NULL)
		memset(p, 0, size);
	return p;
}

void *
usva_zmalloc_aligned(size_t size, size_t align)
{
	void *p;

	if (usva_fail_point("malloc_aligned"))
		return NULL;
	if (align < sizeof(void *))
		align = sizeof(void *);
	if (posix_memalign(&p, align, size) != 0)
		return NULL;
	__atomic_add_fetch(&alloc_live, 1, __ATOMIC_RELAXED);
	memset(p, 0, size);
	return p;
}

void
usva_free(void *p)
{
	if (p == NULL)
		return;
	__atomic_sub_fetch(&alloc_live, 1, __ATOMIC_RELAXED);
	free(p);
}

int64_t
usva_alloc_outstanding(void)
{
	return __atomic_load_n(&alloc_live, __ATOMIC_RELAXED);
}
