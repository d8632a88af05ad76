/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The monotonic clock the test and benchmark programs time with. Not part
 * of libusva: programs under app/ only.
 */
#ifndef USVA_APP_CLOCK_H
#define USVA_APP_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Nanoseconds since an arbitrary point, CLOCK_MONOTONIC. */
static inline uint64_t
app_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif /* USVA_APP_CLOCK_H */
