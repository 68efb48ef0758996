/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Capped growable buffers. Failure releases the buffer, so a caller that
 * checks the result never continues with a half-built string.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

void buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	b->max = max;
}

void buf_release(struct buf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
}

void buf_release_wipe(struct buf *b)
{
	if (!b)
		return;
	if (b->data) {
		/* volatile stores so the compiler cannot drop the wipe */
		volatile char *p = b->data;
		for (size_t i = 0; i < b->alloc; i++)
			p[i] = 0;
	}
	buf_release(b);
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

int buf_reserve(struct buf *b, size_t n)
{
	size_t need;

	if (__builtin_add_overflow(b->len, n, &need) || need > b->max) {
		buf_release(b);
		return -E2BIG;
	}
	if (need + 1 <= b->alloc)
		return 0;
	size_t na = b->alloc ? b->alloc : 64;
	while (na < need + 1) {
		if (__builtin_mul_overflow(na, 2, &na)) {
			na = need + 1;
			break;
		}
	}
	char *nd = realloc(b->data, na);
	if (!nd) {
		buf_release(b);
		return -ENOMEM;
	}
	b->data = nd;
	b->alloc = na;
	return 0;
}

int buf_add(struct buf *b, const void *p, size_t n)
{
	int rc = buf_reserve(b, n);
	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0) {
		buf_release(b);
		return -EINVAL;
	}
	int rc = buf_reserve(b, (size_t)n);
	if (rc)
		return rc;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = buf_vaddf(b, fmt, ap);
	va_end(ap);
	return rc;
}

char *buf_detach(struct buf *b, size_t *len)
{
	char *p = b->data;
	if (!p)
		p = calloc(1, 1);
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	return p;
}

const char *buf_str(const struct buf *b)
{
	return b->data ? b->data : "";
}
