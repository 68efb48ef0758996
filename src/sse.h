/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Server-side encryption settings of a mount and the SSE-C key ring.
 * Implemented in sse.c.
 */
#ifndef obsmount_SSE_H
#define obsmount_SSE_H

#include "crypto.h"
#include "store.h"
#include "util/compiler.h"

/*
 * One encryption choice for one side (target or copy source) of a request.
 * All pointers borrowed from the key ring / mount configuration, which
 * outlive every request.
 */
struct sse_choice {
	enum store_sse mode; /* STORE_SSE_NONE, _C, _KMS or _S3 */
	const struct secret *key; /* SSE-C: the 32 raw key bytes */
	const char *key_b64; /* SSE-C: base64 of the key (header value; secret) */
	const char *key_md5_b64; /* SSE-C: base64 MD5 of the raw key */
	const char *kms_key_id; /* SSE-KMS: key id, or NULL for the default key */
};

#endif
