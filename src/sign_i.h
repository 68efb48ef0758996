/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers shared by sign_v2.c and sign_v4.c (implemented in sign_v4.c):
 * header collection with lowercased names in a stable sorted order, and
 * percent-decoding. Not part of the public signer API.
 */
#ifndef obsmount_SIGN_I_H
#define obsmount_SIGN_I_H

#include <stdbool.h>
#include <stddef.h>

#include "sign.h"
#include "util/buf.h"
#include "util/compiler.h"

/* Cap on every scratch buffer the signers build internally. */
#define SIGN_SCRATCH_MAX ((size_t)1024 * 1024)

/* One request header with its name lowercased. */
struct sign_hdr {
	char *name;	   /* owned, lowercased copy */
	const char *value; /* borrowed from the request */
	size_t idx;	   /* position in the request, keeps sorting stable */
};

/* Decides whether a header (lowercased name) takes part; NULL takes all. */
typedef bool (*sign_hdr_filter_fn)(const char *lname);

/*
 * Collect the headers of @r that pass @filter, lowercase their names and
 * sort them by name, keeping request order among equal names. On success
 * *@out (owned by the caller, free with sign_hdrs_free()) holds *@n entries.
 * Returns 0, -EINVAL for a NULL or malformed name or a NULL value, -ENOMEM.
 */
int sign_hdrs_collect(const struct sign_request *r, sign_hdr_filter_fn filter,
		      struct sign_hdr **out, size_t *n) MUST_CHECK;

/* Free what sign_hdrs_collect() returned. NULL-safe. */
void sign_hdrs_free(struct sign_hdr *h, size_t n);

/*
 * Append the percent-decoding of @len bytes at @s to @out. A '%' not
 * followed by two hex digits is kept literally; '+' is kept as '+'.
 * Returns 0 or -errno from buf.
 */
int sign_pct_decode(const char *s, size_t len, struct buf *out) MUST_CHECK;

/*
 * An upper bound on the size of the canonical request or V2 string to
 * sign of @r (capped at SIGN_SCRATCH_MAX), so those buffers are allocated
 * once and can be wiped (they may hold the session token).
 */
size_t sign_estimate(const struct sign_request *r);

/* Cut @b (if not released) back to @len bytes; for undoing partial output. */
void sign_buf_truncate(struct buf *b, size_t len);

/* Space, tab, CR or LF. */
static inline bool sign_is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

#endif
