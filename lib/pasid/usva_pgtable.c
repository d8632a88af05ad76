/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Registry of page-table formats. Formats register from constructors,
 * before main(), so the table is written before any lcore can read it.
 */
#include <errno.h>

#include "usva_log.h"
#include "usva_pgtable_driver.h"

#define MAX_FORMATS 8

static const struct usva_pgtable_fmt_ops *formats[MAX_FORMATS];

int
usva_pgtable_fmt_register(const struct usva_pgtable_fmt_ops *ops)
{
	unsigned int i;

	if (ops == NULL || ops->name == NULL || ops->geometry == NULL ||
	    ops->check_va == NULL || ops->make_table == NULL ||
	    ops->make_leaf == NULL || ops->decode == NULL ||
	    ops->hw_update == NULL) {
		USVA_LOG(ERR, as, "page-table format with incomplete ops");
		return -EINVAL;
	}
	for (i = 0; i < MAX_FORMATS && formats[i] != NULL; i++) {
		if (formats[i]->format == ops->format) {
			USVA_LOG(ERR, as, "page-table format %u (%s) registered twice",
				 ops->format, ops->name);
			return -EEXIST;
		}
	}
	if (i == MAX_FORMATS) {
		USVA_LOG(ERR, as, "no room to register format %s", ops->name);
		return -ENOSPC;
	}
	formats[i] = ops;
	return 0;
}

const struct usva_pgtable_fmt_ops *
usva_pgtable_fmt_find(uint32_t format)
{
	for (unsigned int i = 0; i < MAX_FORMATS && formats[i] != NULL; i++)
		if (formats[i]->format == format)
			return formats[i];
	return NULL;
}
