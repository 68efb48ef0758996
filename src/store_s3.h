/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The production binding of struct store (store.h) to the S3 request
 * layer: each store operation is one s3 builder call, with the encryption
 * choices taken from the mount's sse configuration. No caching, no retry
 * (s3_perform retries), no POSIX semantics.
 */
#ifndef obsmount_STORE_S3_H
#define obsmount_STORE_S3_H

#include "s3.h"
#include "store.h"
#include "util/compiler.h"

/*
 * Bind @ctx (borrowed; it must outlive the store) as a store. Encryption
 * comes from s3_ctx_cfg(ctx)->sse (NULL: none). Returns 0 and sets *out
 * (caller owns; store_s3_free()), or -ENOMEM. Thread-safe like @ctx.
 */
int store_s3_new(struct s3_ctx *ctx, struct store **out) MUST_CHECK;

/* Free the binding (not the context). NULL-safe. */
void store_s3_free(struct store *s);

#endif
