/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * S3 error codes and the one table that maps (S3 code, HTTP status) to a
 * negative errno and a retry decision, plus struct s3_status that carries
 * a failure up from the request layer. No transport and no retry loop here.
 */
#ifndef obsmount_S3_ERR_H
#define obsmount_S3_ERR_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "util/compiler.h"

/* Field sizes, including the NUL; longer server strings are truncated. */
#define S3_CODE_LEN 64
#define S3_MESSAGE_LEN 256
#define S3_REQUEST_ID_LEN 128

/* The S3 error codes we treat specially. Anything else is S3_ERR_OTHER. */
enum s3_code {
	S3_ERR_NONE = 0, /* no error code (success, or a reply without a body) */
	S3_ERR_OTHER,	 /* a code we do not know; mapped by HTTP status */
	S3_ERR_NO_SUCH_KEY,
	S3_ERR_NO_SUCH_BUCKET,
	S3_ERR_NO_SUCH_UPLOAD,
	S3_ERR_ACCESS_DENIED,
	S3_ERR_SIGNATURE_DOES_NOT_MATCH,
	S3_ERR_INVALID_ACCESS_KEY_ID,
	S3_ERR_INVALID_TOKEN,
	S3_ERR_EXPIRED_TOKEN,
	S3_ERR_REQUEST_TIME_TOO_SKEWED,
	S3_ERR_SLOW_DOWN,
	S3_ERR_INTERNAL_ERROR,
	S3_ERR_SERVICE_UNAVAILABLE,
	S3_ERR_REQUEST_TIMEOUT,
	S3_ERR_INVALID_RANGE,
	S3_ERR_ENTITY_TOO_LARGE,
	S3_ERR_ENTITY_TOO_SMALL,
	S3_ERR_INVALID_PART,
	S3_ERR_INVALID_PART_ORDER,
	S3_ERR_INVALID_ARGUMENT,
	S3_ERR_INVALID_REQUEST,
	S3_ERR_INVALID_DIGEST,
	S3_ERR_BAD_DIGEST,
	S3_ERR_INVALID_BUCKET_NAME,
	S3_ERR_BUCKET_NOT_EMPTY,
	S3_ERR_PRECONDITION_FAILED,
	S3_ERR_NOT_IMPLEMENTED,
	S3_ERR_KEY_TOO_LONG,
	S3_ERR_METHOD_NOT_ALLOWED,
	S3_ERR_INSUFFICIENT_CAPACITY,
	S3_ERR_QUOTA_EXCEEDED,
	S3_ERR_CONTENT_SHA256_MISMATCH,
	S3_ERR_MISSING_CONTENT_LENGTH,
	S3_ERR_INCOMPLETE_BODY,
	S3_ERR_MALFORMED_XML,
	S3_ERR_INVALID_ENCRYPTION_ALGORITHM,
	S3_ERR_INVALID_OBJECT_STATE,
	S3_ERR_KMS,   /* any code starting with "KMS." */
	S3_ERR_COUNT_ /* not a code */
};

/*
 * The outcome of one S3 request, filled by the request layer. Embedded by
 * callers (usually on the stack); all strings are NUL-terminated, possibly
 * empty, and never hold secrets.
 */
struct s3_status {
	long http_status;		    /* 0 when no HTTP reply arrived (transport error) */
	int s3_code;			    /* enum s3_code */
	char code[S3_CODE_LEN];		    /* the <Code> string as sent, or "" */
	char message[S3_MESSAGE_LEN];	    /* the <Message> string, or "" */
	char request_id[S3_REQUEST_ID_LEN]; /* <RequestId> (or x-amz-request-id), or "" */
	bool retryable;			    /* the request may be retried (with backoff) */
	int err; /* the negative errno this status maps to; 0 on success */
	time_t date; /* the reply's Date header (any status), 0 if none or unparsable */
};

/* Empty @st (all zero: no status, no code, not retryable). */
void s3_status_init(struct s3_status *st);

/*
 * The one mapping. @code: the S3 <Code> string or NULL/"" when there is no
 * body (HEAD, or an empty or non-XML reply): then the mapping goes by
 * @http_status alone. Returns the negative errno (0 for a 2xx status with
 * no code). Sets *retryable if @retryable is not NULL. Pure, thread-safe.
 */
int s3_err_to_errno(long http_status, const char *code, bool *retryable);

/* Classify a code string ("NoSuchKey" -> S3_ERR_NO_SUCH_KEY). NULL/"" -> S3_ERR_NONE. */
enum s3_code s3_err_code_from_string(const char *code);

/* The canonical name of @c ("NoSuchKey"); "" for NONE, "KMS" for KMS. Static string. */
const char *s3_err_code_name(enum s3_code c);

/*
 * Fill @st from a reply: status @http and the body (@body, @len; NULL/0 for
 * HEAD or when the body was not kept). The body is parsed as an S3 <Error>
 * document if it is one; otherwise the mapping goes by status alone.
 *
 * For a 2xx status pass a body only for operations whose 200 reply may
 * carry an <Error> (CopyObject, UploadPartCopy, CompleteMultipartUpload):
 * an Error there makes the status a failure (st->err set; retryable as the
 * code says, with InternalError/SlowDown retryable).
 *
 * A request id already in @st (copied by the caller from the
 * x-amz-request-id header) is kept unless the body carries one.
 * Returns st->err. Borrowed arguments; thread-safe.
 */
int s3_status_set(struct s3_status *st, long http, const char *body, size_t len);

/*
 * A short lowercase human description of @st for messages ("object not
 * found", "request signature does not match"), by code, else by status.
 * Static string, never NULL.
 */
const char *s3_err_describe(const struct s3_status *st);

/*
 * Is @st a server's way of saying "not with this SSE-C key" (or "not with
 * any key": SSE-C headers for an object that is not SSE-C)? Servers
 * differ: Ceph RGW answers 400, AWS S3 403 AccessDenied for a wrong key
 * and 400 InvalidRequest/InvalidArgument for a missing key or SSE-C
 * headers on an unencrypted object, MinIO 403 AccessDenied or 400
 * InvalidRequest. A HEAD reply has no body, so there the status alone
 * decides. A code that names another cause (signature, credentials,
 * clock, quota, KMS) is not a key answer. The one rule for every caller
 * that tries the keys of a ring in turn. Pure, thread-safe; borrowed @st.
 */
bool s3_err_is_wrong_sse_key(const struct s3_status *st);

#endif
