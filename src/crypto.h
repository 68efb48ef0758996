/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Digests, HMAC, base64, hex, constant-time compare, secure wipe and
 * struct secret. The only module that includes OpenSSL headers. It knows
 * nothing of S3.
 */
#ifndef obsmount_CRYPTO_H
#define obsmount_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/compiler.h"

#define CRYPTO_SHA256_LEN 32
#define CRYPTO_SHA1_LEN 20
#define CRYPTO_MD5_LEN 16

/* One-shot digests into caller-provided arrays. Never fail. */
void crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_SHA256_LEN]);
void crypto_md5(const void *data, size_t len, uint8_t out[CRYPTO_MD5_LEN]);

/* HMAC-SHA256 and HMAC-SHA1 (the latter for SigV2). Never fail. */
void crypto_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
			uint8_t out[CRYPTO_SHA256_LEN]);
void crypto_hmac_sha1(const void *key, size_t key_len, const void *data, size_t len,
		      uint8_t out[CRYPTO_SHA1_LEN]);

/*
 * Streaming digest contexts (for hashing while staging or uploading).
 * crypto_md5_new()/crypto_sha256_new() return NULL on -ENOMEM; the caller
 * owns the context and frees it with crypto_digest_free() (NULL-safe).
 */
struct crypto_digest;
struct crypto_digest *crypto_md5_new(void);
struct crypto_digest *crypto_sha256_new(void);
void crypto_digest_update(struct crypto_digest *d, const void *data, size_t len);
/* Writes the digest (16 or 32 bytes) to @out and returns its length. */
size_t crypto_digest_final(struct crypto_digest *d, uint8_t *out);
void crypto_digest_free(struct crypto_digest *d);

/* Lowercase hex of @len bytes into @out, which must hold 2*len+1 bytes. */
void crypto_hex(const uint8_t *in, size_t len, char *out);

/*
 * Standard base64 (with padding) of @len bytes into @out, which must hold
 * CRYPTO_B64_LEN(len) bytes including the NUL. Returns the string length.
 */
#define CRYPTO_B64_LEN(n) ((((n) + 2) / 3) * 4 + 1)
size_t crypto_base64(const uint8_t *in, size_t len, char *out);

/*
 * Decode standard base64 (padding required, no whitespace) into @out of
 * capacity @cap. Returns 0 and sets *out_len, or -EINVAL on malformed input,
 * -E2BIG if it does not fit.
 */
int crypto_unbase64(const char *in, uint8_t *out, size_t cap, size_t *out_len) MUST_CHECK;

/* Decode exactly 2*len hex digits into @out. Returns 0 or -EINVAL. */
int crypto_unhex(const char *in, uint8_t *out, size_t len) MUST_CHECK;

/* Constant-time equality of two byte strings of the same length. */
bool crypto_equal(const void *a, const void *b, size_t len);

/* Overwrite @len bytes at @p so the compiler cannot elide it. NULL-safe. */
void crypto_wipe(void *p, size_t len);

/* Fill @out with @len cryptographically random bytes. Returns 0 or -EIO. */
int crypto_random(void *out, size_t len) MUST_CHECK;

/*
 * A secret string (secret key, session token, SSE-C key material). The
 * bytes are wiped on free. Never print ->data. Each secret lives in pages
 * of its own, excluded from core dumps (MADV_DONTDUMP) and locked in
 * memory (mlock) when the RLIMIT_MEMLOCK allows, so that neither a core
 * file nor swap holds it.
 */
struct secret {
	size_t len;
	char data[]; /* NUL-terminated */
};

/* Copy @len bytes of @p into a new secret. NULL on -ENOMEM. Caller owns it. */
struct secret *secret_new(const void *p, size_t len);
/* Wipe and free. NULL-safe. */
void secret_free(struct secret *s);

/*
 * Is @s (borrowed) locked in memory, as far as this process knows? A
 * child of fork() inherits the pages but not the lock: see
 * secret_lock_all(). Takes the secrets' lock.
 */
bool secret_is_locked(const struct secret *s);

/*
 * Lock the pages of every live secret again; call it in the process that
 * goes on after a fork() (daemonizing), which does not inherit memory
 * locks. Returns 0, or the first mlock() failure (-ENOMEM or -EPERM: the
 * RLIMIT_MEMLOCK is too small) after trying every secret. Takes the
 * secrets' lock.
 */
int secret_lock_all(void) MUST_CHECK;

/*
 * Make the process non-dumpable (prctl PR_SET_DUMPABLE 0): no core file,
 * and no ptrace or /proc/PID/mem access by other processes of the same
 * user. The flag survives fork() but is reset by execve() of a set-uid
 * program and by a change of credentials, so a process that forks or
 * changes ids calls it again. Returns 0 when reading it back says "not
 * dumpable", else a negative errno.
 */
int crypto_forbid_core_dumps(void) MUST_CHECK;

#endif
