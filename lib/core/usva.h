/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * usva: initialisation and global state.
 *
 * Conventions for every usva call: return 0 or a count on success and a
 * negative errno on failure (never a bare -1); log one line naming the
 * cause on failure; config structs begin with their size (usva_struct.h).
 */
#ifndef USVA_H
#define USVA_H

#include <stdio.h>

#include "usva_build_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Bring up the EAL and usva.
 *
 * Command line: `prog [EAL options] -- [usva options] [application options]`.
 * usva options all begin with `--usva-` and are consumed up to the first
 * argument that does not; see usva_usage(). When the machine has no
 * hugepages and the EAL options choose no memory mode, usva adds
 * `--no-huge` (with `-m 512` unless a size is given) and `--no-pci`, and
 * logs one line saying so; it also adds `--no-shconf` in that case so that
 * several usva processes can run side by side.
 *
 * @return the number of arguments consumed (as rte_eal_init() does, so the
 *         caller does argc -= ret; argv += ret), or -errno: -EALREADY if
 *         already initialised, -EINVAL for a bad usva option, or the EAL's
 *         error.
 */
int usva_init(int argc, char **argv);

/**
 * Release everything usva_init() set up, then the EAL. Objects the
 * application did not destroy are logged. Safe to call once after a
 * successful usva_init().
 * @return 0, or -EALREADY if not initialised.
 */
int usva_cleanup(void);

/** Print the usva options to @p f. */
void usva_usage(FILE *f);

/** usva's version string. */
const char *usva_version(void);

#ifdef __cplusplus
}
#endif

#endif /* USVA_H */
