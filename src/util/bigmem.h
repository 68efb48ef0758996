/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Large buffers (upload parts, read-ahead blocks) straight from mmap(),
 * 2 MiB aligned and marked for transparent huge pages where they are at
 * least that large: touching 16 MiB of fresh memory then costs 8 page
 * faults instead of 4,096, which on a virtual machine is most of what a
 * first write into it costs.
 */
#ifndef obsmount_UTIL_BIGMEM_H
#define obsmount_UTIL_BIGMEM_H

#include <stddef.h>

/* @len bytes of zeroed memory, or NULL (errno set). Free with bigmem_free(). */
void *bigmem_alloc(size_t len);
/* Free what bigmem_alloc(@len) gave. NULL-safe. */
void bigmem_free(void *p, size_t len);

#endif
