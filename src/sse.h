/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Server-side encryption settings of a mount (the sse= option), the SSE-C
 * key ring loaded from a key file, and the choice of encryption for each
 * side of a request. It builds no HTTP headers and makes no guard decision.
 * Implemented in sse.c.
 */
#ifndef obsmount_SSE_H
#define obsmount_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "crypto.h"
#include "guard.h"
#include "store.h"
#include "util/compiler.h"

/*
 * One encryption choice for one side (target or copy source) of a request.
 * All pointers borrowed from the key ring / mount configuration, which
 * outlive every request.
 */
struct sse_choice {
	enum store_sse mode;	  /* STORE_SSE_NONE, _C, _KMS or _S3 */
	const struct secret *key; /* SSE-C: the 32 raw key bytes */
	const char *key_b64;	  /* SSE-C: base64 of the key (header value; secret) */
	const char *key_md5_b64;  /* SSE-C: base64 MD5 of the raw key */
	const char *kms_key_id;	  /* SSE-KMS: key id, or NULL for the default key */
};

/* Limits on a key file: size in bytes and number of keys. */
#define SSE_KEY_FILE_MAX ((size_t)64 * 1024)
#define SSE_KEYS_MAX 64
#define SSE_KEY_LEN 32 /* AES-256 */
#define SSE_KMS_KEY_ID_MAX 256

struct buf;

/*
 * One SSE-C key of the ring. The ring owns all three; they live as long as
 * the struct sse_cfg.
 */
struct sse_key {
	struct secret *raw; /* SSE_KEY_LEN raw bytes */
	struct secret *b64; /* base64 of raw: the header value, hence secret */
	char md5_b64[CRYPTO_B64_LEN(CRYPTO_MD5_LEN)]; /* base64 MD5 of raw; not secret */
};

/*
 * The mount-wide encryption settings: mode, SSE-KMS key id and the SSE-C
 * key ring. Opaque; built once by sse_cfg_parse(), immutable afterwards, so
 * every function below taking a const cfg is safe from any thread without
 * locks.
 */
struct sse_cfg;

/*
 * Parse the value of the sse= option and build the configuration:
 *   "none"        no encryption (also what a NULL @value means)
 *   "s3"          SSE-S3
 *   "kms"         SSE-KMS with the bucket's default key
 *   "kms:KEYID"   SSE-KMS with key KEYID
 *   "c:PATH"      SSE-C with the keys in file PATH (see sse_cfg_load_keys)
 * @value is borrowed. On success *out receives a new cfg the caller owns
 * (free with sse_cfg_free()). On failure a message (lowercase, no key
 * material) is appended to @err if @err is not NULL, and the return is
 * -EINVAL (bad value or key file content), -EACCES (key file ownership or
 * mode), -ENOENT and other open/read errors, or -ENOMEM.
 */
int sse_cfg_parse(const char *value, struct sse_cfg **out, struct buf *err) MUST_CHECK;

/*
 * Wipe and free @cfg and every key in it. NULL-safe. Pointers borrowed from
 * it (struct sse_choice, struct sse_key) are invalid afterwards.
 */
void sse_cfg_free(struct sse_cfg *cfg);

/* The mode: STORE_SSE_NONE, _C, _KMS or _S3. */
enum store_sse sse_cfg_mode(const struct sse_cfg *cfg);
/* The SSE-KMS key id, or NULL for the default key. Borrowed from @cfg. */
const char *sse_cfg_kms_key_id(const struct sse_cfg *cfg);
/* Number of keys in the ring (0 unless the mode is SSE-C). */
size_t sse_cfg_key_count(const struct sse_cfg *cfg);
/*
 * Key @i of the ring: 0 is the current key (the first in the file), the
 * others are older keys in file order. Borrowed from @cfg; NULL if out of
 * range.
 */
const struct sse_key *sse_cfg_key(const struct sse_cfg *cfg, size_t i);

/*
 * The key whose base64 MD5 is @md5_b64 (borrowed), or NULL if the ring has
 * none. Borrowed from @cfg.
 */
const struct sse_key *sse_key_by_md5(const struct sse_cfg *cfg, const char *md5_b64);

/*
 * Check the stat of an SSE-C key file before trusting it: a regular file,
 * owned by @uid (the mounting user, geteuid() in production), with no
 * group or other permission bits. @path (borrowed) is only used in the
 * message appended to @err (may be NULL), which says how to fix it.
 * Returns 0, -EACCES (owner or mode) or -EINVAL (not a regular file).
 */
int sse_check_key_file_stat(const struct stat *st, uid_t uid, const char *path,
			    struct buf *err) MUST_CHECK;

/*
 * Open @path (borrowed), check it with sse_check_key_file_stat() against
 * @uid on the opened descriptor, read it (at most SSE_KEY_FILE_MAX bytes)
 * and add its keys to @cfg with sse_cfg_add_keys(). The read buffer is
 * wiped. @cfg must be in SSE-C mode. Returns 0 or a negative errno with a
 * message in @err (may be NULL).
 */
int sse_cfg_load_keys(struct sse_cfg *cfg, const char *path, uid_t uid, struct buf *err) MUST_CHECK;

/*
 * Parse key file content @text of @len bytes (borrowed, need not be
 * NUL-terminated) into @cfg's ring, after any keys already there. One key
 * per line, base64 of exactly 32 bytes or 64 hex digits; surrounding blanks,
 * blank lines and lines starting with '#' are ignored. A duplicate key, a
 * malformed line or more than SSE_KEYS_MAX keys is -EINVAL, reported with
 * @path (borrowed, for the message) and the line number only; a file with
 * no key at all is -EINVAL. On failure the ring is as before the call.
 * -ENOMEM if allocation fails.
 */
int sse_cfg_add_keys(struct sse_cfg *cfg, const char *text, size_t len, const char *path,
		     struct buf *err) MUST_CHECK;

/*
 * The encryption for a new object written through this mount (PUT, MPU,
 * copy target). Fills *out (caller's; its pointers borrow from @cfg).
 * Returns 0, or -ENOKEY in SSE-C mode with an empty ring.
 */
int sse_target_choice(const struct sse_cfg *cfg, struct sse_choice *out) MUST_CHECK;

/*
 * The encryption to present when reading or copying from an existing object
 * whose encryption is @enc (borrowed; NULL means unknown):
 *  - SSE-C: the ring key whose MD5 matches enc->key_md5 (the current key if
 *    the server did not report an MD5); -ENOKEY if the ring lacks it.
 *  - SSE-KMS, SSE-S3, none: no key is needed; mode as reported,
 *    kms_key_id NULL (reads never name the KMS key).
 *  - unknown: under an SSE-C mount, the current key (objects this mount
 *    writes carry it); otherwise none. The guard still treats the object
 *    as encrypted.
 * Fills *out (caller's; its pointers borrow from @cfg). Returns 0 or
 * -ENOKEY.
 */
int sse_source_choice(const struct sse_cfg *cfg, const struct store_enc *enc,
		      struct sse_choice *out) MUST_CHECK;

/* Does a request using @c carry SSE-C key material? */
bool sse_choice_has_key(const struct sse_choice *c);

/* The guard's view of a storage encryption mode (UNKNOWN stays unknown). */
enum guard_enc sse_guard_enc(enum store_sse mode);

/* "none", "SSE-C", "SSE-KMS", "SSE-S3" or "unknown": static, for messages. */
const char *sse_mode_name(enum store_sse mode);

#endif
