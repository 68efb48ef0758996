/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * OpenSSL-backed primitives. Base64 and hex are our own: they are simple,
 * and OpenSSL's EVP encoder adds newlines we would have to strip.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "crypto.h"

struct crypto_digest {
	EVP_MD_CTX *ctx;
};

void crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_SHA256_LEN])
{
	unsigned int n = 0;
	EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

void crypto_md5(const void *data, size_t len, uint8_t out[CRYPTO_MD5_LEN])
{
	unsigned int n = 0;
	EVP_Digest(data, len, out, &n, EVP_md5(), NULL);
}

void crypto_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
			uint8_t out[CRYPTO_SHA256_LEN])
{
	unsigned int n = 0;
	HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &n);
}

void crypto_hmac_sha1(const void *key, size_t key_len, const void *data, size_t len,
		      uint8_t out[CRYPTO_SHA1_LEN])
{
	unsigned int n = 0;
	HMAC(EVP_sha1(), key, (int)key_len, data, len, out, &n);
}

static struct crypto_digest *digest_new(const EVP_MD *md)
{
	struct crypto_digest *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->ctx = EVP_MD_CTX_new();
	if (!d->ctx || EVP_DigestInit_ex(d->ctx, md, NULL) != 1) {
		crypto_digest_free(d);
		return NULL;
	}
	return d;
}

struct crypto_digest *crypto_md5_new(void)
{
	return digest_new(EVP_md5());
}

struct crypto_digest *crypto_sha256_new(void)
{
	return digest_new(EVP_sha256());
}

void crypto_digest_update(struct crypto_digest *d, const void *data, size_t len)
{
	EVP_DigestUpdate(d->ctx, data, len);
}

size_t crypto_digest_final(struct crypto_digest *d, uint8_t *out)
{
	unsigned int n = 0;
	EVP_DigestFinal_ex(d->ctx, out, &n);
	return n;
}

void crypto_digest_free(struct crypto_digest *d)
{
	if (!d)
		return;
	EVP_MD_CTX_free(d->ctx);
	free(d);
}

void crypto_hex(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t crypto_base64(const uint8_t *in, size_t len, char *out)
{
	size_t o = 0;
	size_t i = 0;
	for (; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = b64[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

static int b64val(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

int crypto_unbase64(const char *in, uint8_t *out, size_t cap, size_t *out_len)
{
	size_t n = strlen(in);
	size_t o = 0;

	if (n % 4)
		return -EINVAL;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad)
				return -EINVAL; /* data after padding */
			v[k] = b64val(in[i + k]);
			if (v[k] < 0)
				return -EINVAL;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		size_t take = 3 - (size_t)pad;
		if (o + take > cap)
			return -E2BIG;
		out[o++] = (uint8_t)(w >> 16);
		if (take > 1)
			out[o++] = (uint8_t)(w >> 8);
		if (take > 2)
			out[o++] = (uint8_t)w;
	}
	*out_len = o;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int crypto_unhex(const char *in, uint8_t *out, size_t len)
{
	if (strlen(in) != 2 * len)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		int hi = hexval(in[2 * i]);
		int lo = hexval(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

bool crypto_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

void crypto_wipe(void *p, size_t len)
{
	if (p)
		OPENSSL_cleanse(p, len);
}

int crypto_random(void *out, size_t len)
{
	return RAND_bytes(out, (int)len) == 1 ? 0 : -EIO;
}

/*
 * The pages of one secret: this header, then the struct secret at
 * SECRET_OFF. Every live secret is on one list so that a forked child can
 * lock them all again (mlock is not inherited across fork).
 */
struct secret_map {
	struct secret_map *prev, *next;
	size_t map_len;
	bool locked;
};

#define SECRET_OFF ((sizeof(struct secret_map) + 15) & ~(size_t)15)

static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static struct secret_map *secrets; /* guarded by secrets_lock */

static struct secret_map *map_of(const struct secret *s)
{
	return (struct secret_map *)(void *)((char *)(uintptr_t)s - SECRET_OFF);
}

struct secret *secret_new(const void *p, size_t len)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t need, map_len;

	if (pg <= 0 || __builtin_add_overflow(SECRET_OFF + sizeof(struct secret) + 1, len, &need) ||
	    __builtin_add_overflow(need, (size_t)pg - 1, &map_len))
		return NULL;
	map_len -= map_len % (size_t)pg;
	void *m = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	/* Best effort: kernels before 3.4 lack MADV_DONTDUMP, and the
	 * process is non-dumpable anyway (crypto_forbid_core_dumps). */
	(void)madvise(m, map_len, MADV_DONTDUMP);
	struct secret_map *h = m;
	h->map_len = map_len;
	h->locked = mlock(m, map_len) == 0;
	struct secret *s = (struct secret *)(void *)((char *)m + SECRET_OFF);
	s->len = len;
	memcpy(s->data, p, len);
	s->data[len] = '\0';
	pthread_mutex_lock(&secrets_lock);
	h->prev = NULL;
	h->next = secrets;
	if (secrets)
		secrets->prev = h;
	secrets = h;
	pthread_mutex_unlock(&secrets_lock);
	return s;
}

void secret_free(struct secret *s)
{
	if (!s)
		return;
	struct secret_map *h = map_of(s);
	OPENSSL_cleanse(s->data, s->len);
	pthread_mutex_lock(&secrets_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		secrets = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&secrets_lock);
	/* munmap drops the lock; the pages go back to the kernel zeroed anyway */
	munmap(h, h->map_len);
}

bool secret_is_locked(const struct secret *s)
{
	pthread_mutex_lock(&secrets_lock);
	bool locked = map_of(s)->locked;
	pthread_mutex_unlock(&secrets_lock);
	return locked;
}

int secret_lock_all(void)
{
	int rc = 0;

	pthread_mutex_lock(&secrets_lock);
	for (struct secret_map *h = secrets; h; h = h->next) {
		h->locked = mlock(h, h->map_len) == 0;
		if (!h->locked && !rc)
			rc = -errno;
	}
	pthread_mutex_unlock(&secrets_lock);
	return rc;
}

int crypto_forbid_core_dumps(void)
{
	if (prctl(PR_SET_DUMPABLE, 0L, 0L, 0L, 0L) != 0)
		return -errno;
	int d = prctl(PR_GET_DUMPABLE, 0L, 0L, 0L, 0L);
	if (d < 0)
		return -errno;
	return d == 0 ? 0 : -EPERM;
}
