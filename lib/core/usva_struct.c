/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "usva_log.h"
#include "usva_struct.h"

static bool
all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != 0)
			return false;
	return true;
}

int
usva_struct_load(void *dst, size_t dst_size, const void *src,
		 size_t min_size, const char *what)
{
	uint32_t size;

	if (src == NULL) {
		USVA_LOG(ERR, core, "%s: NULL config", what);
		return -EFAULT;
	}
	memcpy(&size, src, sizeof(size));
	if (size < min_size || size > USVA_STRUCT_MAX_SIZE) {
		USVA_LOG(ERR, core, "%s: size %u outside [%zu, %u]",
			 what, size, min_size, USVA_STRUCT_MAX_SIZE);
		return -EINVAL;
	}
	if (size > dst_size &&
	    !all_zero((const uint8_t *)src + dst_size, size - dst_size)) {
		USVA_LOG(ERR, core,
			 "%s: size %u has non-zero bytes past the %zu this version knows",
			 what, size, dst_size);
		return -E2BIG;
	}
	memset(dst, 0, dst_size);
	memcpy(dst, src, size < dst_size ? size : dst_size);
	return 0;
}

int
usva_check_flags(uint64_t flags, uint64_t known, const char *what)
{
	if (flags & ~known) {
		USVA_LOG(ERR, core, "%s: unknown flags 0x%" PRIx64, what,
			 flags & ~known);
		return -EOPNOTSUPP;
	}
	return 0;
}

int
usva_check_reserved(const void *p, size_t len, const char *what)
{
	if (!all_zero(p, len)) {
		USVA_LOG(ERR, core, "%s: reserved field is not zero", what);
		return -EINVAL;
	}
	return 0;
}

int
usva_config_load(void *dst, size_t dst_size, const void *src, size_t min_size,
		 size_t reserved_off, uint32_t known_flags, const char *what)
{
	uint32_t flags;
	int rc;

	rc = usva_struct_load(dst, dst_size, src, min_size, what);
	if (rc)
		return rc;
	memcpy(&flags, (const uint8_t *)dst + sizeof(uint32_t), sizeof(flags));
	rc = usva_check_flags(flags, known_flags, what);
	if (rc)
		return rc;
	return usva_check_reserved((const uint8_t *)dst + reserved_off,
				   dst_size - reserved_off, what);
}
