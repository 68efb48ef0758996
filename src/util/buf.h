/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * struct buf: a growable byte buffer with a hard cap, always NUL-terminated.
 * It owns its memory. It does not know about secrets: use crypto_wipe() on
 * the contents before buf_release() where that matters (buf_release_wipe()).
 */
#ifndef obsmount_BUF_H
#define obsmount_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/compiler.h"

struct buf {
	char *data; /* owned; NULL until the first append, then NUL-terminated */
	size_t len; /* bytes used, not counting the NUL */
	size_t alloc; /* bytes allocated */
	size_t max; /* hard cap on len; appends beyond it fail with -E2BIG */
};

/* Initialise an empty buffer that may grow to @max bytes. Never fails. */
void buf_init(struct buf *b, size_t max);

/* Free the memory; the buffer is empty and reusable afterwards. NULL-safe. */
void buf_release(struct buf *b);

/* As buf_release(), but first overwrites the whole allocation (secrets). */
void buf_release_wipe(struct buf *b);

/* Forget the contents, keep the allocation. */
void buf_reset(struct buf *b);

/*
 * Append @n bytes of @p. Returns 0, -E2BIG if the cap would be exceeded
 * (the buffer is released), or -ENOMEM (the buffer is released).
 */
int buf_add(struct buf *b, const void *p, size_t n) MUST_CHECK;

/* Append a NUL-terminated string. Same returns as buf_add(). */
int buf_adds(struct buf *b, const char *s) MUST_CHECK;

/* Append formatted text. Same returns as buf_add(), -EINVAL on a bad format. */
int buf_addf(struct buf *b, const char *fmt, ...) PRINTF_LIKE(2, 3) MUST_CHECK;
int buf_vaddf(struct buf *b, const char *fmt, va_list ap) PRINTF_LIKE(2, 0) MUST_CHECK;

/* Make room for @n more bytes without changing len. Returns 0 or -E2BIG/-ENOMEM. */
int buf_reserve(struct buf *b, size_t n) MUST_CHECK;

/*
 * Hand the contents to the caller (who must free() them) and leave the
 * buffer empty. Returns an empty string for an empty buffer; NULL on -ENOMEM.
 */
char *buf_detach(struct buf *b, size_t *len);

/* The contents as a string; "" for an empty buffer. Borrowed until the next change. */
const char *buf_str(const struct buf *b);

#endif
