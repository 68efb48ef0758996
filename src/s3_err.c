/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one table from S3 error code and HTTP status to errno and a retry
 * decision, and filling struct s3_status from a reply. Parsing the <Error>
 * body is s3_xml's job; the retry loop itself lives in http/s3_perform.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "s3_err.h"
#include "s3_xml.h"

/*
 * One row: either a code row (@code set; matches that <Code> whatever the
 * status, @http is the status S3 usually sends with it) or a status row
 * (@code NULL; matches a reply without a known code whose status lies in
 * [@http, @http_hi]). Code rows are tried first, then status rows in table
 * order, so narrow status rows must come before the class-wide ones.
 *
 * Retry policy (style guide, section 5): transport-level trouble, 429,
 * 503/SlowDown, 500 and RequestTimeTooSkewed (after the caller resyncs its
 * clock) are retryable; no other 4xx is.
 */
struct err_row {
	const char *code;
	int id; /* enum s3_code */
	long http;
	long http_hi; /* status rows only */
	int err;      /* positive errno */
	bool retry;
	const char *desc;
};

static const struct err_row err_table[] = {
	/* not found */
	{ "NoSuchKey", S3_ERR_NO_SUCH_KEY, 404, 0, ENOENT, false, "object not found" },
	/* The mount layer turns ENOENT on the bucket itself into a clear message. */
	{ "NoSuchBucket", S3_ERR_NO_SUCH_BUCKET, 404, 0, ENOENT, false, "bucket does not exist" },
	{ "NoSuchUpload", S3_ERR_NO_SUCH_UPLOAD, 404, 0, ENOENT, false,
	  "multipart upload not found (aborted or completed)" },
	/* credentials and permissions */
	{ "AccessDenied", S3_ERR_ACCESS_DENIED, 403, 0, EACCES, false, "access denied" },
	{ "SignatureDoesNotMatch", S3_ERR_SIGNATURE_DOES_NOT_MATCH, 403, 0, EACCES, false,
	  "request signature does not match (check the secret key)" },
	{ "InvalidAccessKeyId", S3_ERR_INVALID_ACCESS_KEY_ID, 403, 0, EACCES, false,
	  "access key id does not exist" },
	{ "InvalidToken", S3_ERR_INVALID_TOKEN, 400, 0, EACCES, false,
	  "security token is malformed or invalid" },
	{ "ExpiredToken", S3_ERR_EXPIRED_TOKEN, 400, 0, EACCES, false,
	  "security token has expired" },
	/* Retryable only after the caller resyncs its clock; EACCES if it stays skewed. */
	{ "RequestTimeTooSkewed", S3_ERR_REQUEST_TIME_TOO_SKEWED, 403, 0, EACCES, true,
	  "local clock differs too much from the server's" },
	/* the server is busy or broken: retry with backoff */
	{ "SlowDown", S3_ERR_SLOW_DOWN, 503, 0, EAGAIN, true, "server asks to slow down" },
	{ "Throttling", S3_ERR_SLOW_DOWN, 503, 0, EAGAIN, true, "server asks to slow down" },
	{ "ThrottlingException", S3_ERR_SLOW_DOWN, 400, 0, EAGAIN, true,
	  "server asks to slow down" },
	{ "RequestLimitExceeded", S3_ERR_SLOW_DOWN, 503, 0, EAGAIN, true,
	  "server asks to slow down" },
	{ "TooManyRequests", S3_ERR_SLOW_DOWN, 429, 0, EAGAIN, true, "server asks to slow down" },
	{ "InternalError", S3_ERR_INTERNAL_ERROR, 500, 0, EIO, true, "internal server error" },
	{ "ServiceUnavailable", S3_ERR_SERVICE_UNAVAILABLE, 503, 0, EAGAIN, true,
	  "service unavailable" },
	/*
	 * The server gave up waiting for our body: a transport problem in
	 * S3 clothing, so retried like one.
	 */
	{ "RequestTimeout", S3_ERR_REQUEST_TIMEOUT, 400, 0, EIO, true,
	  "server timed out reading the request" },
	/* request shape and data */
	/* Reading at or past the end: callers may treat EINVAL here as EOF. */
	{ "InvalidRange", S3_ERR_INVALID_RANGE, 416, 0, EINVAL, false,
	  "requested range not satisfiable" },
	{ "EntityTooLarge", S3_ERR_ENTITY_TOO_LARGE, 400, 0, EFBIG, false,
	  "object or part too large" },
	{ "EntityTooSmall", S3_ERR_ENTITY_TOO_SMALL, 400, 0, EINVAL, false,
	  "multipart part smaller than the minimum" },
	{ "InvalidPart", S3_ERR_INVALID_PART, 400, 0, EIO, false,
	  "multipart part missing or its etag differs" },
	{ "InvalidPartOrder", S3_ERR_INVALID_PART_ORDER, 400, 0, EIO, false,
	  "multipart parts not in ascending order" },
	{ "InvalidArgument", S3_ERR_INVALID_ARGUMENT, 400, 0, EINVAL, false, "invalid argument" },
	{ "InvalidRequest", S3_ERR_INVALID_REQUEST, 400, 0, EINVAL, false, "invalid request" },
	{ "InvalidDigest", S3_ERR_INVALID_DIGEST, 400, 0, EIO, false, "content-md5 is invalid" },
	{ "BadDigest", S3_ERR_BAD_DIGEST, 400, 0, EIO, false,
	  "content-md5 does not match the body" },
	{ "XAmzContentSHA256Mismatch", S3_ERR_CONTENT_SHA256_MISMATCH, 400, 0, EIO, false,
	  "payload sha256 does not match the body" },
	{ "MissingContentLength", S3_ERR_MISSING_CONTENT_LENGTH, 411, 0, EINVAL, false,
	  "content-length missing" },
	{ "IncompleteBody", S3_ERR_INCOMPLETE_BODY, 400, 0, EIO, false,
	  "body shorter than content-length" },
	{ "MalformedXML", S3_ERR_MALFORMED_XML, 400, 0, EIO, false,
	  "server rejected our xml request body" },
	{ "InvalidBucketName", S3_ERR_INVALID_BUCKET_NAME, 400, 0, EINVAL, false,
	  "invalid bucket name" },
	{ "BucketNotEmpty", S3_ERR_BUCKET_NOT_EMPTY, 409, 0, ENOTEMPTY, false, "bucket not empty" },
	/*
	 * An If-Match/If-None-Match condition failed: the object changed
	 * under us. ESTALE says exactly that; retrying blindly would not help.
	 */
	{ "PreconditionFailed", S3_ERR_PRECONDITION_FAILED, 412, 0, ESTALE, false,
	  "object changed on the server (precondition failed)" },
	{ "NotImplemented", S3_ERR_NOT_IMPLEMENTED, 501, 0, ENOSYS, false,
	  "server does not implement this operation" },
	{ "KeyTooLongError", S3_ERR_KEY_TOO_LONG, 400, 0, ENAMETOOLONG, false, "key too long" },
	{ "MethodNotAllowed", S3_ERR_METHOD_NOT_ALLOWED, 405, 0, EPERM, false,
	  "method not allowed on this resource" },
	/* Ceph RGW: the cluster is full. */
	{ "InsufficientCapacity", S3_ERR_INSUFFICIENT_CAPACITY, 507, 0, ENOSPC, false,
	  "server out of storage capacity" },
	/* Ceph RGW: user or bucket quota. */
	{ "QuotaExceeded", S3_ERR_QUOTA_EXCEEDED, 403, 0, EDQUOT, false, "quota exceeded" },
	{ "InvalidEncryptionAlgorithmError", S3_ERR_INVALID_ENCRYPTION_ALGORITHM, 400, 0, EINVAL,
	  false, "invalid server-side encryption algorithm" },
	/* Archived (Glacier/cold) object that is not restored. */
	{ "InvalidObjectState", S3_ERR_INVALID_OBJECT_STATE, 403, 0, EACCES, false,
	  "object is archived and not restored" },
	/* KMS: throttling retries, everything else is a key permission problem. */
	{ "KMS.ThrottlingException", S3_ERR_KMS, 400, 0, EAGAIN, true, "kms throttling" },
	{ "KMS.", S3_ERR_KMS, 400, 0, EACCES, false, "kms key unusable or access denied" },

	/* status rows: a reply without a code we know */
	{ NULL, S3_ERR_NONE, 0, 0, EIO, true, "no reply from server (transport error)" },
	{ NULL, S3_ERR_NONE, 200, 299, 0, false, "success" },
	{ NULL, S3_ERR_NONE, 300, 399, EIO, false,
	  "unexpected redirect (wrong region or endpoint)" },
	{ NULL, S3_ERR_NONE, 400, 400, EINVAL, false, "bad request" },
	{ NULL, S3_ERR_NONE, 401, 401, EACCES, false, "unauthorized" },
	{ NULL, S3_ERR_NONE, 403, 403, EACCES, false, "access denied" },
	{ NULL, S3_ERR_NONE, 404, 404, ENOENT, false, "not found" },
	{ NULL, S3_ERR_NONE, 405, 405, EPERM, false, "method not allowed" },
	{ NULL, S3_ERR_NONE, 408, 408, EIO, true, "request timeout" },
	{ NULL, S3_ERR_NONE, 409, 409, EBUSY, false, "conflict" },
	{ NULL, S3_ERR_NONE, 411, 411, EINVAL, false, "length required" },
	{ NULL, S3_ERR_NONE, 412, 412, ESTALE, false, "precondition failed" },
	{ NULL, S3_ERR_NONE, 413, 413, EFBIG, false, "entity too large" },
	{ NULL, S3_ERR_NONE, 414, 414, ENAMETOOLONG, false, "uri too long" },
	{ NULL, S3_ERR_NONE, 416, 416, EINVAL, false, "range not satisfiable" },
	{ NULL, S3_ERR_NONE, 429, 429, EAGAIN, true, "too many requests" },
	{ NULL, S3_ERR_NONE, 400, 499, EIO, false, "client error" },
	{ NULL, S3_ERR_NONE, 500, 500, EIO, true, "internal server error" },
	{ NULL, S3_ERR_NONE, 501, 501, ENOSYS, false, "not implemented" },
	{ NULL, S3_ERR_NONE, 503, 503, EAGAIN, true, "service unavailable" },
	{ NULL, S3_ERR_NONE, 507, 507, ENOSPC, false, "insufficient storage" },
	{ NULL, S3_ERR_NONE, 500, 599, EIO, true, "server error" },
	/* 1xx, or nonsense such as 99 or 600: nothing we can use */
	{ NULL, S3_ERR_NONE, 1, 199, EIO, false, "unexpected http status" },
	{ NULL, S3_ERR_NONE, 600, 0x7fffffffL, EIO, false, "unexpected http status" },
};

/* Used when a code we do not know arrives in a 2xx reply (an embedded Error). */
static const struct err_row unknown_in_2xx = {
	NULL, S3_ERR_OTHER, 200, 299, EIO, false, "error inside a successful reply",
};

static bool is_prefix_row(const struct err_row *r)
{
	size_t n = strlen(r->code);
	return n > 0 && r->code[n - 1] == '.';
}

static const struct err_row *find_code(const char *code)
{
	if (!code || !*code)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(err_table); i++) {
		const struct err_row *r = &err_table[i];
		if (!r->code)
			continue;
		if (is_prefix_row(r) ? strncmp(code, r->code, strlen(r->code)) == 0
				     : strcmp(code, r->code) == 0)
			return r;
	}
	return NULL;
}

static const struct err_row *find_status(long http)
{
	for (size_t i = 0; i < ARRAY_SIZE(err_table); i++) {
		const struct err_row *r = &err_table[i];
		if (r->code)
			continue;
		long hi = r->http_hi ? r->http_hi : r->http;
		if (http >= r->http && http <= hi)
			return r;
	}
	/* Negative statuses: nonsense from below. */
	return &err_table[ARRAY_SIZE(err_table) - 1];
}

static const struct err_row *lookup(long http, const char *code)
{
	const struct err_row *r = find_code(code);
	if (r)
		return r;
	if (code && *code && http >= 200 && http <= 299)
		return &unknown_in_2xx;
	return find_status(http);
}

int s3_err_to_errno(long http_status, const char *code, bool *retryable)
{
	const struct err_row *r = lookup(http_status, code);
	if (retryable)
		*retryable = r->retry;
	return -r->err;
}

enum s3_code s3_err_code_from_string(const char *code)
{
	if (!code || !*code)
		return S3_ERR_NONE;
	const struct err_row *r = find_code(code);
	return r ? (enum s3_code)r->id : S3_ERR_OTHER;
}

const char *s3_err_code_name(enum s3_code c)
{
	if (c == S3_ERR_KMS)
		return "KMS";
	if (c == S3_ERR_OTHER)
		return "Other";
	for (size_t i = 0; i < ARRAY_SIZE(err_table); i++)
		if (err_table[i].code && err_table[i].id == (int)c)
			return err_table[i].code;
	return "";
}

void s3_status_init(struct s3_status *st)
{
	memset(st, 0, sizeof(*st));
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	/* Both sides are NUL-terminated arrays of ours; truncation is fine here. */
	int n = snprintf(dst, cap, "%s", src);
	(void)n;
}

int s3_status_set(struct s3_status *st, long http, const char *body, size_t len)
{
	struct s3_error_info info;
	bool have = false;

	st->http_status = http;
	st->code[0] = '\0';
	st->message[0] = '\0';
	if (body && len > 0 && s3_xml_parse_error(body, len, &info) == 0)
		have = true;

	if (have) {
		copy_str(st->code, sizeof(st->code), info.code);
		copy_str(st->message, sizeof(st->message), info.message);
		if (info.request_id[0])
			copy_str(st->request_id, sizeof(st->request_id), info.request_id);
	}
	st->s3_code = s3_err_code_from_string(st->code);
	st->err = s3_err_to_errno(http, st->code, &st->retryable);
	return st->err;
}

const char *s3_err_describe(const struct s3_status *st)
{
	return lookup(st->http_status, st->code)->desc;
}

bool s3_err_is_wrong_sse_key(const struct s3_status *st)
{
	if (!st || (st->http_status != 400 && st->http_status != 403))
		return false;
	switch ((enum s3_code)st->s3_code) {
	case S3_ERR_NONE: /* HEAD: no body, the status is all there is */
	case S3_ERR_ACCESS_DENIED:
	case S3_ERR_INVALID_REQUEST:
	case S3_ERR_INVALID_ARGUMENT:
		return true;
	default:
		return false;
	}
}
