/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Small memory helpers the models share (framework helper tier).
 */
#ifndef USVA_MEM_H
#define USVA_MEM_H

#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Bytes equal at the start of @p a and @p b, of @p n: memcmp() finds
 * whether they differ (fast), a byte loop only where.
 */
static inline uint64_t
usva_mem_same_prefix(const uint8_t *a, const uint8_t *b, uint64_t n)
{
	uint64_t i = 0;

	if (memcmp(a, b, n) == 0)
		return n;
	while (a[i] == b[i])
		i++;
	return i;
}

#ifdef __cplusplus
}
#endif

#endif /* USVA_MEM_H */
