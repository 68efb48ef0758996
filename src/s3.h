/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The S3 request layer: configuration, the single send point s3_perform()
 * (URL and key encoding, dates, payload hash, SSE headers, the protocol
 * guard, signing, bounded retries) and one thin builder per S3 operation.
 * XML parsing lives in s3_xml.c and the errno table in s3_err.c; the key
 * prefix of a mount and every POSIX notion belong to the layers above.
 */
#ifndef obsmount_S3_H
#define obsmount_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guard.h"
#include "http.h"
#include "s3_err.h"
#include "s3_xml.h"
#include "sse.h"
#include "store.h"
#include "util/buf.h"
#include "util/compiler.h"

struct cred;

/* Longest key S3 accepts, in bytes. */
#define S3_KEY_MAX 1024
/* Retries when s3_cfg.retries is negative (the default). */
#define S3_DEFAULT_RETRIES 5

enum s3_addressing {
	S3_ADDR_PATH = 0, /* https://host/bucket/key */
	S3_ADDR_VIRTUAL,  /* https://bucket.host/key */
};

/*
 * Configuration, filled once (start from s3_cfg_defaults()) and immutable
 * afterwards. Every pointer is borrowed and must outlive the s3_ctx.
 */
struct s3_cfg {
	const char *bucket;
	const char *url;       /* "http://host[:port]" or "https://host[:port]" */
	const char *https_url; /* optional HTTPS endpoint when url is plain HTTP */
	const char *region;    /* default "us-east-1" */
	int sigv;	       /* 2 or 4 (default 4) */
	enum s3_addressing addressing;
	const char *ca_file; /* NULL: system CA store */
	int retries;	     /* retries after the first attempt; negative: S3_DEFAULT_RETRIES */
	int timeout_s;	     /* connect timeout and stall time; 0: defaults */
	unsigned parallel;   /* concurrent requests expected (pool size) */
	enum guard_policy guard_policy;
	/* Credentials. NULL sends unsigned (anonymous) requests. */
	const struct cred *cred;
	/*
	 * The mount's encryption settings and SSE-C key ring, NULL for none.
	 * Only the store binding (store_s3.c) consults it, for the target and
	 * source choices; the builders take explicit choices.
	 */
	const struct sse_cfg *sse;
	/* Test hook: one curl resolve entry "HOST:PORT:ADDR", or NULL. */
	const char *resolve;
	/* Send "Expect: 100-continue" on uploads (default off: one round trip
	 * less per PUT; S3 answers errors after the body anyway). */
	bool expect_continue;
};

/* Fill @cfg with the defaults (everything else zero/NULL). */
void s3_cfg_defaults(struct s3_cfg *cfg);

struct s3_ctx;

/*
 * Validate @cfg (borrowed; it must outlive the context) and create a
 * context with its connection pool. Returns 0 and sets *out (caller owns;
 * s3_ctx_free()), or -EINVAL (bad URL, bucket or setting) / -ENOMEM.
 */
int s3_ctx_new(const struct s3_cfg *cfg, struct s3_ctx **out) MUST_CHECK;
void s3_ctx_free(struct s3_ctx *c);

/*
 * Would the guard send a CopyObject of an object encrypted with @mode onto
 * itself (a metadata change) on this mount? Known before any request.
 */
bool s3_self_copy_allowed(const struct s3_ctx *c, enum store_sse mode);

/*
 * Mount-time check: would the protocol guard, with @c's endpoints,
 * signature and policy, refuse any of the requests a mount writing and
 * reading objects encrypted as @mode issues (SSE configured but no HTTPS
 * endpoint; guard=strict with plain HTTP or sigv=2 and SSE-KMS)? Returns 0,
 * or -EACCES with one line (rule and fix, no key material) appended to
 * @err. Sends nothing.
 */
int s3_ctx_check_guard(const struct s3_ctx *c, enum store_sse mode, struct buf *err) MUST_CHECK;

/* The configuration of @c (borrowed). */
const struct s3_cfg *s3_ctx_cfg(const struct s3_ctx *c);

/*
 * Record the bucket's default encryption @enc (copied; from
 * s3_get_bucket_encryption()). Call once, before any other thread uses
 * @c: it is read without a lock afterwards. The guard is then told that a
 * write without an encryption of its own makes an object so encrypted.
 */
void s3_ctx_set_bucket_enc(struct s3_ctx *c, const struct store_enc *enc);

/* The bucket's default encryption as recorded (mode none if never set). Borrowed. */
const struct store_enc *s3_ctx_bucket_enc(const struct s3_ctx *c);

enum s3_op_kind {
	S3_OP_HEAD_OBJECT,
	S3_OP_GET_OBJECT,
	S3_OP_PUT_OBJECT,
	S3_OP_DELETE_OBJECT,
	S3_OP_DELETE_OBJECTS,
	S3_OP_LIST_OBJECTS_V2,
	S3_OP_CREATE_MPU,
	S3_OP_UPLOAD_PART,
	S3_OP_COMPLETE_MPU,
	S3_OP_ABORT_MPU,
	S3_OP_LIST_MPU,
	S3_OP_COPY_OBJECT,
	S3_OP_UPLOAD_PART_COPY,
	S3_OP_HEAD_BUCKET,
	S3_OP_GET_BUCKET_ENCRYPTION,
	S3_OP_COUNT
};

/* "PutObject", ...; "?" when out of range. Static string. */
const char *s3_op_name(enum s3_op_kind k);

#define S3_OP_MAX_QUERY 8
#define S3_OP_MAX_HEADERS (STORE_META_MAX + 16)

/* A name/value pair; value NULL in a query means "?name" without '='. */
struct s3_kv {
	const char *name;
	const char *value;
};

/* Rewind a read_fn body source to its start; 0 or -errno. */
typedef int (*s3_rewind_fn)(void *ctx);

/*
 * One request. s3_op_init() it, fill it (the builders below do), pass it
 * to s3_perform(), read op->resp, then s3_op_release() it. Strings added
 * with s3_op_query()/s3_op_header() are copied and owned by the op; other
 * pointers are borrowed until s3_op_release().
 */
struct s3_op {
	enum s3_op_kind kind;
	const char *method;
	const char *key; /* NULL for a bucket-level request */

	struct s3_kv query[S3_OP_MAX_QUERY];
	size_t n_query;
	struct s3_kv headers[S3_OP_MAX_HEADERS];
	size_t n_headers;

	/* Encryption: headers sent for the object written or read... */
	const struct sse_choice *sse;
	bool sse_write;			   /* ...all of them (PUT/initiate/copy) or only SSE-C's */
	const struct sse_choice *copy_sse; /* copy-source SSE-C key, or NULL */
	/* What the guard is told about the source and target. */
	enum guard_enc src_enc;
	enum guard_enc dst_enc;

	/* Body: memory, or read_fn (+ rewind_fn to allow retries). */
	const void *body;
	size_t body_len;
	http_read_fn read_fn;
	void *read_ctx;
	s3_rewind_fn rewind_fn;
	uint64_t read_len;
	bool content_md5; /* send Content-MD5 of the memory body */

	/* Where a 2xx body goes (see struct http_request). */
	enum http_sink sink;
	size_t body_max;
	void *sink_mem;
	size_t sink_cap;
	const struct http_iov *sink_iov;
	size_t sink_n_iov;
	http_head_fn sink_head;
	http_piece_fn sink_piece;
	void *piece_ctx;
	http_write_fn sink_fn;
	void *sink_ctx;
	s3_rewind_fn sink_reset; /* allows retrying a sink_fn download */

	/* A 200 reply may carry an <Error> (Copy, UploadPartCopy, Complete). */
	bool error_in_200;
	/* The caller expects and handles failures: log them at DEBUG only, and do
	 * not count them in the failed requests of the statistics. */
	bool quiet;
	/* One more status treated as success (416 for a range past the end). */
	long accept_status;
	/* Out: the last attempt went over HTTPS (set by s3_perform). */
	bool sent_https;

	struct http_response resp; /* the final attempt's reply (owned) */

	/* Strings owned by the op. */
	char *owned[S3_OP_MAX_QUERY + S3_OP_MAX_HEADERS];
	size_t n_owned;
};

void s3_op_init(struct s3_op *op, enum s3_op_kind kind, const char *method, const char *key);
void s3_op_release(struct s3_op *op);
/* Add a query parameter / header; @value copied (NULL allowed for query). */
int s3_op_query(struct s3_op *op, const char *name, const char *value) MUST_CHECK;
int s3_op_header(struct s3_op *op, const char *name, const char *value) MUST_CHECK;

/*
 * Send @op: build the URL, add the date, payload hash, token and SSE
 * headers, ask the guard (which picks HTTP/HTTPS and V2/V4), sign, send,
 * retry transient failures with capped, jittered exponential backoff.
 * Returns 0 for a 2xx reply, else -errno with @st (optional) filled:
 * -EACCES for a guard refusal (logged once at ERR), -ENAMETOOLONG for a
 * key over S3_KEY_MAX, the s3_err mapping for S3 errors, transport errors
 * from http_exec(). Errors are logged once, at ERR (a missing object at
 * DEBUG). Thread-safe; takes no lock of its own across the network.
 */
int s3_perform(struct s3_ctx *c, struct s3_op *op, struct s3_status *st) MUST_CHECK;

/* Counters of s3_perform() since s3_ctx_new(). */
struct s3_stats {
	unsigned long requests; /* sent, retries included */
	unsigned long retries;
	unsigned long errors; /* failed calls, a missing object (-ENOENT) excepted */
};

/* A snapshot of the counters (each read atomically, not all at once). */
void s3_get_stats(struct s3_ctx *c, struct s3_stats *out);

/*
 * Pieces of s3_perform(), exported for tests.
 *
 * Percent-encode @s as S3 wants it: every byte except A-Za-z0-9-_.~ (and
 * '/' when @keep_slash) as %XX, uppercase hex. Appends to @out.
 */
int s3_uri_encode(const char *s, bool keep_slash, struct buf *out) MUST_CHECK;
/* The query string of @q (sorted by name, then value, both encoded). */
int s3_build_query(const struct s3_kv *q, size_t n, struct buf *out) MUST_CHECK;
/*
 * The URL, Host header value, path as sent and V2 resource of a request
 * for @key (NULL: the bucket) and query @query ("" or NULL) over @https
 * (the configured endpoint for that scheme). Appends to the four buffers.
 * Returns 0, -ENAMETOOLONG, -EINVAL (no such endpoint) or buffer errors.
 */
int s3_build_target(const struct s3_ctx *c, bool https, const char *key, const char *query,
		    struct buf *url, struct buf *host, struct buf *path,
		    struct buf *v2_resource) MUST_CHECK;

/* ---- builders: one per operation, all thin wrappers around s3_perform() --- */

/*
 * Encryption arguments of the builders below:
 *  - @sse (target, for writes): the encryption of the object written; its
 *    headers are sent and the guard is told its mode. NULL: none.
 *  - @sse (reads) / @src_sse (copies): the key to present for an SSE-C
 *    source; only SSE-C choices send headers.
 *  - @known / @src_known: the source's encryption if known. The guard is
 *    told @known's mode, else SSE-C when an SSE-C key is presented, else
 *    GUARD_ENC_UNKNOWN (a choice of "no key" says nothing about the
 *    object); pass a store_enc with STORE_SSE_UNKNOWN to say "unknown"
 *    while still presenting a key.
 */

/* HEAD an object. Fills @out (caller releases), -ENOENT if absent. */
int s3_head_object(struct s3_ctx *c, const char *key, const struct sse_choice *sse,
		   const struct store_enc *known, struct store_info *out,
		   struct s3_status *st) MUST_CHECK;

/*
 * s3_head_object() for a caller that tries alternatives (the keys of an
 * SSE-C ring) and reports failure itself: failures are logged at DEBUG.
 */
int s3_head_object_probe(struct s3_ctx *c, const char *key, const struct sse_choice *sse,
			 const struct store_enc *known, struct store_info *out,
			 struct s3_status *st) MUST_CHECK;

/*
 * GET [off, off + len) of @key, len being the total of the @n pieces of
 * @iov (borrowed), filled in order. *got: bytes stored (short only at
 * the end of the object; 0 when @off is at or past the end). @info, if not
 * NULL, is filled from the reply headers (caller releases). @if_match
 * (borrowed; NULL or "": none): the ETag the object must still have; sent
 * as If-Match and checked against the reply's ETag too. -ESTALE when the
 * object is another version now. @piece, if not NULL, is told of each
 * piece once it is full, in order, from the calling thread (see
 * http_piece_fn; a retry tells again, with the same bytes): only with
 * @if_match, for a reply of that version and of the range asked for.
 * Whatever it was told, the result is the call's.
 */
int s3_get_object(struct s3_ctx *c, const char *key, uint64_t off, const struct http_iov *iov,
		  size_t n, http_piece_fn piece, void *piece_ctx, size_t *got,
		  const struct sse_choice *sse, const struct store_enc *known, const char *if_match,
		  struct store_info *info, struct s3_status *st) MUST_CHECK;

/*
 * Does the server verify the CRC-32C that every PUT and part carries? One
 * PUT of @key with a wrong one: refused with BadDigest, *verified is true
 * and from then on bodies go without Content-MD5 (the CRC-32C protects
 * them end to end for less CPU); stored, the object is deleted again and
 * Content-MD5 stays. 0, or -errno when the answer tells nothing (then
 * Content-MD5 stays too).
 */
int s3_probe_checksum(struct s3_ctx *c, const char *key, bool *verified) MUST_CHECK;

/*
 * PUT @len bytes of @data as @key with Content-MD5 (or a verified CRC-32C,
 * see s3_probe_checksum()), metadata @meta (may be
 * NULL) and the target encryption @sse (NULL: none). @etag (optional)
 * receives the ETag.
 */
int s3_put_object(struct s3_ctx *c, const char *key, const void *data, size_t len,
		  const struct store_meta *meta, const struct sse_choice *sse,
		  char etag[STORE_ETAG_MAX], struct s3_status *st) MUST_CHECK;

/* DELETE @key (S3 answers 204 for an absent key too). */
int s3_delete_object(struct s3_ctx *c, const char *key, struct s3_status *st) MUST_CHECK;

/*
 * Delete @n (1..1000) keys in one POST ?delete (quiet). Per-key failures
 * are -EIO with @res (optional) describing the first one.
 */
int s3_delete_objects(struct s3_ctx *c, const char *const *keys, size_t n,
		      struct s3_xml_delete_result *res, struct s3_status *st) MUST_CHECK;

/* One ListObjectsV2 page (encoding-type=url); @out zeroed on entry, caller releases. */
int s3_list_objects_v2(struct s3_ctx *c, const char *prefix, const char *delimiter,
		       const char *token, int max_keys, struct store_page *out,
		       struct s3_status *st) MUST_CHECK;

/* Initiate a multipart upload; *upload_id is the caller's (free()). */
int s3_create_mpu(struct s3_ctx *c, const char *key, const struct store_meta *meta,
		  const struct sse_choice *sse, char **upload_id, struct s3_status *st) MUST_CHECK;

/* Upload part @number (1..10000) from memory with Content-MD5; fills @out. */
int s3_upload_part(struct s3_ctx *c, const char *key, const char *upload_id, int number,
		   const void *data, size_t len, const struct sse_choice *sse,
		   struct store_part *out, struct s3_status *st) MUST_CHECK;

/* Complete with @n ascending parts (SSE-C headers too when @sse is SSE-C). */
int s3_complete_mpu(struct s3_ctx *c, const char *key, const char *upload_id,
		    const struct store_part *parts, size_t n, const struct sse_choice *sse,
		    char etag[STORE_ETAG_MAX], struct s3_status *st) MUST_CHECK;

int s3_abort_mpu(struct s3_ctx *c, const char *key, const char *upload_id,
		 struct s3_status *st) MUST_CHECK;

/* One page of in-progress uploads under @prefix; @out zeroed on entry. */
int s3_list_mpu(struct s3_ctx *c, const char *prefix, const char *key_marker,
		const char *upload_id_marker, struct s3_xml_uploads *out,
		struct s3_status *st) MUST_CHECK;

/*
 * Server-side copy @src -> @dst. @meta NULL: COPY the source's metadata;
 * else REPLACE with @meta. @sse: target encryption; @src_sse: the source's
 * SSE-C key (or NULL); @src_known: the source's encryption if known.
 * @src_if_match (borrowed; NULL or "": none): the ETag the source must
 * still have (x-amz-copy-source-if-match); -ESTALE when it has another.
 */
int s3_copy_object(struct s3_ctx *c, const char *src, const char *dst,
		   const struct store_meta *meta, const struct sse_choice *sse,
		   const struct sse_choice *src_sse, const struct store_enc *src_known,
		   const char *src_if_match, char etag[STORE_ETAG_MAX],
		   struct s3_status *st) MUST_CHECK;

/*
 * Copy [off, off+len) of @src as part @number of upload @upload_id of @key.
 * @src_if_match as for s3_copy_object(). Ceph RGW ignores that condition
 * on UploadPartCopy, so with one the source is HEADed after the copy as
 * well: a part copied from another version fails with -ESTALE.
 */
int s3_upload_part_copy(struct s3_ctx *c, const char *key, const char *upload_id, int number,
			const char *src, uint64_t off, uint64_t len, const struct sse_choice *sse,
			const struct sse_choice *src_sse, const struct store_enc *src_known,
			const char *src_if_match, struct store_part *out,
			struct s3_status *st) MUST_CHECK;

/*
 * Is the encryption @got (borrowed) that the server reports for a write
 * what @want (borrowed; NULL: none) asked for? SSE-C: same key MD5;
 * SSE-KMS: aws:kms and, when @want names a key, that key (id or an ARN
 * ending in it; a reply without a key id is accepted); SSE-S3: AES256 or
 * aws:kms; none: anything (a bucket default may encrypt, never less).
 * Every write and copy builder checks this on the reply (CompleteMultipart
 * by a HEAD when its reply carries no encryption headers) and fails with
 * -EIO when it does not hold.
 */
bool s3_enc_satisfies(const struct sse_choice *want, const struct store_enc *got);

/* HEAD the bucket: 0, -ENOENT (no such bucket), -EACCES, ... */
int s3_head_bucket(struct s3_ctx *c, struct s3_status *st) MUST_CHECK;

/*
 * GetBucketEncryption (GET /?encryption): the bucket's default encryption
 * into @out (mode none when the bucket has none: 404
 * ServerSideEncryptionConfigurationNotFoundError). -EIO for a reply we
 * cannot parse, else as s3_perform(). @out is the caller's.
 */
int s3_get_bucket_encryption(struct s3_ctx *c, struct store_enc *out,
			     struct s3_status *st) MUST_CHECK;

#endif
