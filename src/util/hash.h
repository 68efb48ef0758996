/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * FNV-1a, the string hash of the in-memory tables (caches, the deferred
 * metadata changes). Not for anything an attacker could choose to collide
 * at will beyond slowing a lookup down.
 */
#ifndef obsmount_UTIL_HASH_H
#define obsmount_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a of the first @n bytes of @s. */
static inline uint32_t fnv1a(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

#endif
