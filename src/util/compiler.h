/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Compiler attributes used across the tree. Nothing else lives here.
 */
#ifndef obsmount_COMPILER_H
#define obsmount_COMPILER_H

/* Every fallible function returns 0 or -errno; the result must be looked at. */
#define MUST_CHECK __attribute__((warn_unused_result))
#define PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
