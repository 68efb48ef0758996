/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store_ops bound to the S3 builders. Owns only the mapping: which SSE
 * choice goes with which operation (target for writes, source for reads
 * and copy sources) and what the guard is told about a source whose
 * encryption is unknown. Everything on the wire is s3_req.c's.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"
#include "store_s3.h"

static const struct store_enc unknown_enc = { .mode = STORE_SSE_UNKNOWN };

static struct s3_ctx *ctx_of(struct store *s)
{
	return s->priv;
}

static const struct sse_cfg *sse_of(struct store *s)
{
	return s3_ctx_cfg(ctx_of(s))->sse;
}

/*
 * The target choice for a write replacing or copying an object encrypted
 * as @floor (NULL or unknown: none), or NULL for a plain write. The
 * mount's own setting wins; a mount without one keeps an SSE-KMS or
 * SSE-S3 floor (its key id borrowed from @floor), so that no rename,
 * metadata change or rewrite leaves an object less encrypted; else the
 * bucket's default encryption, asked for explicitly (key id borrowed from
 * the context): the guard then knows what the write creates, the reply is
 * checked against it, and a multipart upload gets it too (Ceph RGW 20
 * does not apply a bucket's default to one).
 */
static int target(struct store *s, const struct store_enc *floor, struct sse_choice *ch,
		  const struct sse_choice **out)
{
	const struct sse_cfg *cfg = sse_of(s);
	*out = NULL;
	if (cfg && sse_cfg_mode(cfg) != STORE_SSE_NONE) {
		int rc = sse_target_choice(cfg, ch);
		if (!rc)
			*out = ch;
		return rc;
	}
	if (!floor || (floor->mode != STORE_SSE_KMS && floor->mode != STORE_SSE_S3))
		floor = s3_ctx_bucket_enc(ctx_of(s));
	if (floor->mode == STORE_SSE_KMS || floor->mode == STORE_SSE_S3) {
		*ch = (struct sse_choice){ .mode = floor->mode };
		if (floor->mode == STORE_SSE_KMS && floor->kms_key_id[0])
			ch->kms_key_id = floor->kms_key_id;
		*out = ch;
	}
	return 0;
}

/* The key to present for a source of encryption @enc (NULL: unknown). */
static int source(struct store *s, const struct store_enc *enc, struct sse_choice *ch,
		  const struct sse_choice **out)
{
	const struct sse_cfg *cfg = sse_of(s);
	*out = NULL;
	if (!cfg)
		return 0;
	int rc = sse_source_choice(cfg, enc, ch);
	if (!rc)
		*out = ch;
	return rc;
}

/*
 * HEAD is how a source's encryption is learnt, so it cannot be known
 * yet: the guard is told the mount's own idea (SSE-C under an SSE-C mount,
 * whose key is presented, otherwise the mode the source choice reports).
 * A server does not say which SSE-C key an object wants, and refuses a
 * HEAD with another key, or with SSE-C headers for an object that is not
 * SSE-C (AWS, MinIO; Ceph RGW ignores them): the keys of the ring are
 * tried in order (current first), then no key at all, for a plain or
 * SSE-KMS object. The object's key MD5 comes back with the key that fits.
 * What counts as "not this key" is s3_err_is_wrong_sse_key()'s, the rule
 * obsmount-rekey uses too. The last failure is the one reported; a key
 * refusal from every try is -EACCES (an SSE-C object without our key).
 */
static int op_head(struct store *s, const char *key, struct store_info *out)
{
	const struct sse_cfg *cfg = sse_of(s);
	struct sse_choice ch;
	const struct sse_choice *src = NULL;
	struct s3_status st;
	size_t n = cfg && sse_cfg_mode(cfg) == STORE_SSE_C ? sse_cfg_key_count(cfg) : 0;
	int rc = 0;

	s3_status_init(&st);
	for (size_t i = 0; i <= n; i++) {
		/* key i, told to the guard as "unknown": it may be a plain object */
		struct store_enc as = { .mode = STORE_SSE_C };
		const struct store_enc *known = NULL;

		if (i < n) {
			snprintf(as.key_md5, sizeof(as.key_md5), "%s",
				 sse_cfg_key(cfg, i)->md5_b64);
			rc = sse_source_choice(cfg, &as, &ch);
			src = &ch;
			as.mode = STORE_SSE_UNKNOWN;
			known = &as;
		} else if (n) {
			/* the keyless try after the ring: a plain or SSE-KMS object */
			rc = 0;
			src = NULL;
			known = &unknown_enc;
		} else {
			rc = source(s, NULL, &ch, &src);
		}
		if (rc)
			return rc;
		if (i < n)
			rc = s3_head_object_probe(ctx_of(s), key, src, known, out, &st);
		else
			rc = s3_head_object(ctx_of(s), key, src, known, out, &st);
		if (rc == 0 || !s3_err_is_wrong_sse_key(&st))
			break;
	}
	/* A HEAD has no body: its 400 or 403 is an SSE-C object without (our) key. */
	if (rc && s3_err_is_wrong_sse_key(&st))
		rc = -EACCES;
	return rc;
}

static int op_get_range_v(struct store *s, const char *key, uint64_t off,
			  const struct store_iov *iov, size_t n, store_piece_fn piece,
			  void *piece_ctx, size_t *got, const struct store_enc *enc,
			  const char *if_match)
{
	struct http_iov hv[STORE_IOV_MAX];
	struct sse_choice ch;
	const struct sse_choice *src;
	*got = 0;
	if (n > STORE_IOV_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		hv[i] = (struct http_iov){ iov[i].base, iov[i].len };
	int rc = source(s, enc, &ch, &src);
	if (!rc)
		rc = s3_get_object(ctx_of(s), key, off, hv, n, piece, piece_ctx, got, src,
				   enc ? enc : &unknown_enc, if_match, NULL, NULL);
	return rc;
}

static int op_get_range(struct store *s, const char *key, uint64_t off, size_t len, void *buf,
			size_t *got, const struct store_enc *enc, const char *if_match)
{
	const struct store_iov one = { buf, len };
	return op_get_range_v(s, key, off, &one, 1, NULL, NULL, got, enc, if_match);
}

static int op_put(struct store *s, const char *key, const void *data, size_t len,
		  const struct store_meta *meta, const struct store_enc *floor,
		  char etag[STORE_ETAG_MAX])
{
	struct sse_choice ch;
	const struct sse_choice *dst;
	int rc = target(s, floor, &ch, &dst);
	if (!rc)
		rc = s3_put_object(ctx_of(s), key, data, len, meta, dst, etag, NULL);
	return rc;
}

static int op_mpu_begin(struct store *s, const char *key, const struct store_meta *meta,
			const struct store_enc *floor, char **upload_id)
{
	struct sse_choice ch;
	const struct sse_choice *dst;
	*upload_id = NULL;
	int rc = target(s, floor, &ch, &dst);
	if (!rc)
		rc = s3_create_mpu(ctx_of(s), key, meta, dst, upload_id, NULL);
	return rc;
}

static int op_mpu_part(struct store *s, const char *key, const char *upload_id, int number,
		       const void *data, size_t len, const struct store_enc *floor,
		       struct store_part *out)
{
	struct sse_choice ch;
	const struct sse_choice *dst;
	int rc = target(s, floor, &ch, &dst);
	if (!rc)
		rc = s3_upload_part(ctx_of(s), key, upload_id, number, data, len, dst, out, NULL);
	return rc;
}

static int op_mpu_part_copy(struct store *s, const char *key, const char *upload_id, int number,
			    const char *src, uint64_t off, uint64_t len,
			    const struct store_enc *src_enc, const char *src_if_match,
			    struct store_part *out)
{
	struct sse_choice dch, sch;
	const struct sse_choice *dst, *from;
	int rc = target(s, src_enc, &dch, &dst);
	if (!rc)
		rc = source(s, src_enc, &sch, &from);
	if (!rc)
		rc = s3_upload_part_copy(ctx_of(s), key, upload_id, number, src, off, len, dst,
					 from, src_enc ? src_enc : &unknown_enc, src_if_match, out,
					 NULL);
	return rc;
}

static int op_mpu_complete(struct store *s, const char *key, const char *upload_id,
			   const struct store_part *parts, size_t n, const struct store_enc *floor,
			   char etag[STORE_ETAG_MAX])
{
	struct sse_choice ch;
	const struct sse_choice *dst;
	int rc = target(s, floor, &ch, &dst);
	if (!rc)
		rc = s3_complete_mpu(ctx_of(s), key, upload_id, parts, n, dst, etag, NULL);
	return rc;
}

static int op_mpu_abort(struct store *s, const char *key, const char *upload_id)
{
	return s3_abort_mpu(ctx_of(s), key, upload_id, NULL);
}

static int op_copy(struct store *s, const char *src, const char *dst, const struct store_meta *meta,
		   const struct store_enc *src_enc, const char *src_if_match)
{
	struct sse_choice dch, sch;
	const struct sse_choice *to, *from;
	int rc = target(s, src_enc, &dch, &to);
	if (!rc)
		rc = source(s, src_enc, &sch, &from);
	if (!rc)
		rc = s3_copy_object(ctx_of(s), src, dst, meta, to, from,
				    src_enc ? src_enc : &unknown_enc, src_if_match, NULL, NULL);
	return rc;
}

static int op_del(struct store *s, const char *key)
{
	int rc = s3_delete_object(ctx_of(s), key, NULL);
	return rc == -ENOENT ? 0 : rc;
}

static int op_list(struct store *s, const char *prefix, const char *delimiter, const char *token,
		   int max_keys, struct store_page *out)
{
	return s3_list_objects_v2(ctx_of(s), prefix, delimiter, token, max_keys, out, NULL);
}

static bool op_self_copy_allowed(struct store *s, const struct store_enc *enc)
{
	return s3_self_copy_allowed(ctx_of(s), enc ? enc->mode : STORE_SSE_UNKNOWN);
}

static void op_write_enc(struct store *s, const struct store_enc *floor, struct store_enc *out)
{
	struct sse_choice ch;
	const struct sse_choice *dst;
	struct store_enc fl = floor ? *floor : (struct store_enc){ .mode = STORE_SSE_NONE };

	*out = (struct store_enc){ .mode = STORE_SSE_NONE };
	if (target(s, &fl, &ch, &dst) || !dst)
		return;
	out->mode = dst->mode;
	if (dst->key_md5_b64)
		snprintf(out->key_md5, sizeof(out->key_md5), "%s", dst->key_md5_b64);
	if (dst->kms_key_id)
		snprintf(out->kms_key_id, sizeof(out->kms_key_id), "%s", dst->kms_key_id);
}

static const struct store_ops s3_store_ops = {
	.head = op_head,
	.get_range = op_get_range,
	.get_range_v = op_get_range_v,
	.put = op_put,
	.mpu_begin = op_mpu_begin,
	.mpu_part = op_mpu_part,
	.mpu_part_copy = op_mpu_part_copy,
	.mpu_complete = op_mpu_complete,
	.mpu_abort = op_mpu_abort,
	.copy = op_copy,
	.del = op_del,
	.list = op_list,
	.write_enc = op_write_enc,
	.self_copy_allowed = op_self_copy_allowed,
};

int store_s3_new(struct s3_ctx *ctx, struct store **out)
{
	struct store *s = calloc(1, sizeof(*s));
	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->ops = &s3_store_ops;
	s->priv = ctx;
	*out = s;
	return 0;
}

void store_s3_free(struct store *s)
{
	free(s);
}
