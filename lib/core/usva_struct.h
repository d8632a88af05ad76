/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Size-versioned structs (argsz discipline).
 *
 * Every usva config struct begins with `uint32_t size`, set by the caller
 * to sizeof() of the struct it was compiled against. A library built later
 * may know more fields; one built earlier may know fewer. The rules, as the
 * kernel's copy_struct_from_user() applies them:
 *  - size below the end of the last mandatory field: -EINVAL;
 *  - size larger than this version knows: accepted only if every byte past
 *    what it knows is zero, else -E2BIG;
 *  - fields the caller did not pass read as zero.
 * Unknown flag bits are -EOPNOTSUPP; non-zero reserved fields are -EINVAL.
 * Each rejection logs one line naming the struct and the cause.
 */
#ifndef USVA_STRUCT_H
#define USVA_STRUCT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Offset of the first byte after @p field in @p type. */
#define USVA_OFFSETOFEND(type, field) \
	(offsetof(type, field) + sizeof(((type *)0)->field))

/** Largest size any caller may claim for a struct (sanity bound). */
#define USVA_STRUCT_MAX_SIZE 4096u

/**
 * Copy a caller's size-versioned struct into @p dst (this version's layout).
 *
 * @param dst       Destination, @p dst_size bytes; zero-filled past what
 *                  the caller passed.
 * @param dst_size  sizeof() the struct in this version.
 * @param src       Caller's struct; its first uint32_t is its size.
 * @param min_size  End of the last mandatory field.
 * @param what      Struct name for the log line.
 * @return 0; -EFAULT if @p src is NULL; -EINVAL if its size is below
 *         @p min_size or above USVA_STRUCT_MAX_SIZE; -E2BIG if bytes past
 *         @p dst_size are not zero.
 */
int usva_struct_load(void *dst, size_t dst_size, const void *src,
		     size_t min_size, const char *what);

/**
 * Reject flag bits this version does not know.
 * @return 0, or -EOPNOTSUPP with a log line naming @p what and the bits.
 */
int usva_check_flags(uint64_t flags, uint64_t known, const char *what);

/**
 * Reject a reserved area that is not all zero.
 * @return 0, or -EINVAL with a log line naming @p what.
 */
int usva_check_reserved(const void *p, size_t len, const char *what);

/** Load a struct whose type is in scope: USVA_STRUCT_LOAD(&local, user, last_mandatory_field). */
#define USVA_STRUCT_LOAD(dst, src, last_mandatory)			\
	usva_struct_load((dst), sizeof(*(dst)), (src),			\
			 USVA_OFFSETOFEND(__typeof__(*(dst)), last_mandatory), \
			 __func__)

/**
 * Load a config struct and apply the three generic rules in one call: the
 * size rules of usva_struct_load(), unknown flags (the uint32_t after
 * `size`, as every usva config has it) and a reserved tail that must be
 * zero (every usva config keeps its reserved fields last).
 *
 * @param reserved_off  Offset of the first reserved field.
 * @param known_flags   Flag bits this version knows.
 * @return 0, or the errno of the first rule broken (with its log line).
 */
int usva_config_load(void *dst, size_t dst_size, const void *src,
		     size_t min_size, size_t reserved_off, uint32_t known_flags,
		     const char *what);

/**
 * USVA_CONFIG_LOAD(&local, user, last_mandatory_field, first_reserved_field,
 * known_flags), for a config type in scope.
 */
#define USVA_CONFIG_LOAD(dst, src, last_mandatory, first_reserved, known) \
	usva_config_load((dst), sizeof(*(dst)), (src),			\
			 USVA_OFFSETOFEND(__typeof__(*(dst)), last_mandatory), \
			 offsetof(__typeof__(*(dst)), first_reserved),	\
			 (known), __func__)

#ifdef __cplusplus
}
#endif

#endif /* USVA_STRUCT_H */
