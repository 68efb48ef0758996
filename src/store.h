/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The storage interface the filesystem layers (fh, upload, cache, fs_ops)
 * talk to: a small table of operations on objects named by key. Production
 * binds it to the S3 layer (store_s3.c); unit tests bind it to an in-memory
 * store (tests/unit/mem_store.c). Nothing here knows about HTTP, signing,
 * XML or FUSE.
 *
 * Every operation returns 0 or a negative errno. All pointer arguments are
 * borrowed for the duration of the call unless stated otherwise. Every
 * operation may be called concurrently from many threads.
 */
#ifndef obsmount_STORE_H
#define obsmount_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/compiler.h"

#define STORE_ETAG_MAX 80 /* quoted ETag as the server sent it, NUL-terminated */
#define STORE_META_MAX 32 /* user metadata entries per object */

/* How an object is (or is to be) encrypted on the server. */
enum store_sse {
	STORE_SSE_UNKNOWN = 0, /* not known yet: the guard treats it as encrypted */
	STORE_SSE_NONE,
	STORE_SSE_C,
	STORE_SSE_KMS,
	STORE_SSE_S3,
};

struct store_enc {
	enum store_sse mode;
	char key_md5[32];    /* SSE-C: base64 MD5 of the key, NUL-terminated; else "" */
	char kms_key_id[96]; /* SSE-KMS: key id as reported; may be "" */
};

/*
 * User metadata (x-amz-meta-NAME: VALUE), names lowercase without the
 * prefix. Values are printable ASCII as S3 returns them.
 */
struct store_meta_kv {
	char *name;
	char *value;
};

struct store_meta {
	size_t n;
	struct store_meta_kv kv[STORE_META_MAX];
	char *content_type; /* may be NULL */
};

/* Release the strings of @m and empty it. NULL-safe. */
void store_meta_release(struct store_meta *m);
/* Find a value by name; borrowed, or NULL. */
const char *store_meta_get(const struct store_meta *m, const char *name);
/* Set (replace or add) a value; copies both strings. 0, -ENOMEM or -E2BIG. */
int store_meta_set(struct store_meta *m, const char *name, const char *value) MUST_CHECK;
/* Deep copy @src into the empty @dst. 0 or -ENOMEM. */
int store_meta_copy(struct store_meta *dst, const struct store_meta *src) MUST_CHECK;

/* What HEAD (or a GET) says about an object. */
struct store_info {
	uint64_t size;
	time_t last_modified;
	char etag[STORE_ETAG_MAX];
	struct store_meta meta; /* owned; release with store_info_release() */
	struct store_enc enc;
	/*
	 * The whole-object CRC-32C the server stored with the object (HEAD
	 * only), if any: objects written by other tools often have none.
	 */
	bool has_crc32c;
	uint32_t crc32c;
};

void store_info_release(struct store_info *i);

/* One entry of a listing page. */
struct store_entry {
	char *key; /* full key, owned */
	uint64_t size;
	time_t last_modified;
	char etag[STORE_ETAG_MAX];
};

/* One page of ListObjectsV2 with a delimiter. */
struct store_page {
	struct store_entry *objects; /* owned array of n_objects */
	size_t n_objects;
	char **prefixes; /* owned array of n_prefixes common prefixes (end in '/') */
	size_t n_prefixes;
	char *next_token; /* owned; NULL when this was the last page */
};

void store_page_release(struct store_page *p);

/* A finished part of a multipart upload. */
struct store_part {
	int number; /* 1..10000 */
	char etag[STORE_ETAG_MAX];
	uint64_t len;	 /* bytes in the part */
	bool has_crc32c; /* the part's CRC-32C is known (sent, or reported for a copy) */
	uint32_t crc32c;
};

struct store;

/* One piece of a caller's buffer in pieces (borrowed). */
struct store_iov {
	void *base;
	size_t len;
};
#define STORE_IOV_MAX 16 /* pieces of one get_range_v() */

/*
 * Told that piece @i of a get_range_v() is full, in order, from the thread
 * running it, before the call returns; only when the call has an
 * if_match, and for bytes of that version. A retried request may tell it
 * again and write the same bytes again; the call's result stands.
 */
typedef void (*store_piece_fn)(void *ctx, size_t i);

struct store_ops {
	/* HEAD key. -ENOENT if absent. Fills @out (caller releases it). */
	int (*head)(struct store *s, const char *key, struct store_info *out);
	/*
	 * Read [off, off+len) of key into @buf. *got receives the bytes read
	 * (short only at end of object). @enc: the object's encryption if
	 * known (for the SSE-C key), else NULL. @if_match: the ETag the
	 * object must still have (the version a file was opened at), NULL or
	 * "" for any; -ESTALE when it is another version now, never its
	 * bytes. A body shorter than the server announced is -EIO, never
	 * short data.
	 */
	int (*get_range)(struct store *s, const char *key, uint64_t off, size_t len, void *buf,
			 size_t *got, const struct store_enc *enc, const char *if_match);
	/*
	 * get_range() of [off, off + their total) into @n pieces (at most
	 * STORE_IOV_MAX), filled in order, with one request; @piece (may be
	 * NULL) is told of each one full. Optional: see store_get_range_v().
	 */
	int (*get_range_v)(struct store *s, const char *key, uint64_t off,
			   const struct store_iov *iov, size_t n, store_piece_fn piece,
			   void *piece_ctx, size_t *got, const struct store_enc *enc,
			   const char *if_match);
	/*
	 * Writes (put, the mpu_* calls, copy) take a @floor: the encryption
	 * of the object being replaced or copied (NULL or unknown: none). The
	 * target never ends less encrypted than its floor: a mount without
	 * encryption keeps an SSE-KMS or SSE-S3 object so encrypted. All the
	 * calls of one multipart upload must pass the same floor.
	 *
	 * PUT a whole object from memory with @meta (may be NULL). @etag (may
	 * be NULL) receives the new object's ETag as the server reports it
	 * ("" if it reported none); under SSE-C or SSE-KMS it is not the MD5.
	 */
	int (*put)(struct store *s, const char *key, const void *data, size_t len,
		   const struct store_meta *meta, const struct store_enc *floor,
		   char etag[STORE_ETAG_MAX]);
	/* Start a multipart upload; *upload_id is owned by the caller (free()). */
	int (*mpu_begin)(struct store *s, const char *key, const struct store_meta *meta,
			 const struct store_enc *floor, char **upload_id);
	/* Upload one part from memory; fills @out (number and ETag). */
	int (*mpu_part)(struct store *s, const char *key, const char *upload_id, int number,
			const void *data, size_t len, const struct store_enc *floor,
			struct store_part *out);
	/*
	 * Copy [off, off+len) of @src as part @number of an upload into key;
	 * the upload's floor is @src_enc. @src_if_match: the ETag @src must
	 * still have, NULL or "" for any; -ESTALE when it has another.
	 */
	int (*mpu_part_copy)(struct store *s, const char *key, const char *upload_id, int number,
			     const char *src, uint64_t off, uint64_t len,
			     const struct store_enc *src_enc, const char *src_if_match,
			     struct store_part *out);
	/* Complete with @n parts in ascending order; @etag as for put. */
	int (*mpu_complete)(struct store *s, const char *key, const char *upload_id,
			    const struct store_part *parts, size_t n, const struct store_enc *floor,
			    char etag[STORE_ETAG_MAX]);
	int (*mpu_abort)(struct store *s, const char *key, const char *upload_id);
	/*
	 * Server-side copy src -> dst (one CopyObject, objects up to 5 GiB).
	 * @meta NULL: keep the source's metadata (COPY); otherwise REPLACE
	 * with @meta. @src_enc: the source's encryption if known; it is also
	 * the floor of the target. @src_if_match as for mpu_part_copy.
	 */
	int (*copy)(struct store *s, const char *src, const char *dst,
		    const struct store_meta *meta, const struct store_enc *src_enc,
		    const char *src_if_match);
	/* DELETE key; deleting an absent key is 0. */
	int (*del)(struct store *s, const char *key);
	/*
	 * One page of the listing under @prefix. @delimiter "/" or NULL.
	 * @token: the previous page's next_token or NULL. @max_keys <= 1000.
	 */
	int (*list)(struct store *s, const char *prefix, const char *delimiter, const char *token,
		    int max_keys, struct store_page *out);
	/*
	 * The encryption a successful write with @floor (may be NULL) leaves
	 * on its target (the store checks the server's reply against it).
	 * Optional: NULL means writes are unencrypted.
	 */
	void (*write_enc)(struct store *s, const struct store_enc *floor, struct store_enc *out);
	/*
	 * Would a copy of an object so encrypted onto itself be sent (the
	 * protocol guard allows it on this mount)? Optional: NULL means yes.
	 */
	bool (*self_copy_allowed)(struct store *s, const struct store_enc *enc);
};

/* A store: an ops table plus the implementation's private state. */
struct store {
	const struct store_ops *ops;
	void *priv;
};

/* get_range_v(), or without it get_range() piece by piece until one is short. */
static inline int store_get_range_v(struct store *s, const char *key, uint64_t off,
				    const struct store_iov *iov, size_t n, store_piece_fn piece,
				    void *piece_ctx, size_t *got, const struct store_enc *enc,
				    const char *if_match)
{
	if (s->ops->get_range_v)
		return s->ops->get_range_v(s, key, off, iov, n, piece, piece_ctx, got, enc,
					   if_match);
	*got = 0;
	for (size_t i = 0; i < n; i++) {
		size_t g = 0;
		int rc = s->ops->get_range(s, key, off + *got, iov[i].len, iov[i].base, &g, enc,
					   if_match);
		if (rc)
			return rc;
		*got += g;
		if (g < iov[i].len)
			break;
		if (piece && if_match && *if_match)
			piece(piece_ctx, i);
	}
	return 0;
}

/* @s's write encryption for @floor into *out (none without write_enc). */
static inline void store_write_enc(struct store *s, const struct store_enc *floor,
				   struct store_enc *out)
{
	*out = (struct store_enc){ .mode = STORE_SSE_NONE };
	if (s->ops->write_enc)
		s->ops->write_enc(s, floor, out);
}

#endif
