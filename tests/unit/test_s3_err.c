/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * s3_err: every code we know and every status class against an expected
 * table written here independently, plus filling struct s3_status from
 * replies with and without an <Error> body.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "unit.h"
#include "s3_err.h"

struct want {
	const char *code;
	enum s3_code id;
	long http;
	int err; /* negative errno */
	bool retry;
};

static const struct want code_rows[] = {
	{ "NoSuchKey", S3_ERR_NO_SUCH_KEY, 404, -ENOENT, false },
	{ "NoSuchBucket", S3_ERR_NO_SUCH_BUCKET, 404, -ENOENT, false },
	{ "NoSuchUpload", S3_ERR_NO_SUCH_UPLOAD, 404, -ENOENT, false },
	{ "AccessDenied", S3_ERR_ACCESS_DENIED, 403, -EACCES, false },
	{ "SignatureDoesNotMatch", S3_ERR_SIGNATURE_DOES_NOT_MATCH, 403, -EACCES, false },
	{ "InvalidAccessKeyId", S3_ERR_INVALID_ACCESS_KEY_ID, 403, -EACCES, false },
	{ "InvalidToken", S3_ERR_INVALID_TOKEN, 400, -EACCES, false },
	{ "ExpiredToken", S3_ERR_EXPIRED_TOKEN, 400, -EACCES, false },
	{ "RequestTimeTooSkewed", S3_ERR_REQUEST_TIME_TOO_SKEWED, 403, -EACCES, true },
	{ "SlowDown", S3_ERR_SLOW_DOWN, 503, -EAGAIN, true },
	{ "Throttling", S3_ERR_SLOW_DOWN, 503, -EAGAIN, true },
	{ "ThrottlingException", S3_ERR_SLOW_DOWN, 400, -EAGAIN, true },
	{ "RequestLimitExceeded", S3_ERR_SLOW_DOWN, 503, -EAGAIN, true },
	{ "TooManyRequests", S3_ERR_SLOW_DOWN, 429, -EAGAIN, true },
	{ "InternalError", S3_ERR_INTERNAL_ERROR, 500, -EIO, true },
	{ "ServiceUnavailable", S3_ERR_SERVICE_UNAVAILABLE, 503, -EAGAIN, true },
	{ "RequestTimeout", S3_ERR_REQUEST_TIMEOUT, 400, -EIO, true },
	{ "InvalidRange", S3_ERR_INVALID_RANGE, 416, -EINVAL, false },
	{ "EntityTooLarge", S3_ERR_ENTITY_TOO_LARGE, 400, -EFBIG, false },
	{ "EntityTooSmall", S3_ERR_ENTITY_TOO_SMALL, 400, -EINVAL, false },
	{ "InvalidPart", S3_ERR_INVALID_PART, 400, -EIO, false },
	{ "InvalidPartOrder", S3_ERR_INVALID_PART_ORDER, 400, -EIO, false },
	{ "InvalidArgument", S3_ERR_INVALID_ARGUMENT, 400, -EINVAL, false },
	{ "InvalidRequest", S3_ERR_INVALID_REQUEST, 400, -EINVAL, false },
	{ "InvalidDigest", S3_ERR_INVALID_DIGEST, 400, -EIO, false },
	{ "BadDigest", S3_ERR_BAD_DIGEST, 400, -EIO, false },
	{ "XAmzContentSHA256Mismatch", S3_ERR_CONTENT_SHA256_MISMATCH, 400, -EIO, false },
	{ "MissingContentLength", S3_ERR_MISSING_CONTENT_LENGTH, 411, -EINVAL, false },
	{ "IncompleteBody", S3_ERR_INCOMPLETE_BODY, 400, -EIO, false },
	{ "MalformedXML", S3_ERR_MALFORMED_XML, 400, -EIO, false },
	{ "InvalidBucketName", S3_ERR_INVALID_BUCKET_NAME, 400, -EINVAL, false },
	{ "BucketNotEmpty", S3_ERR_BUCKET_NOT_EMPTY, 409, -ENOTEMPTY, false },
	{ "PreconditionFailed", S3_ERR_PRECONDITION_FAILED, 412, -ESTALE, false },
	{ "NotImplemented", S3_ERR_NOT_IMPLEMENTED, 501, -ENOSYS, false },
	{ "KeyTooLongError", S3_ERR_KEY_TOO_LONG, 400, -ENAMETOOLONG, false },
	{ "MethodNotAllowed", S3_ERR_METHOD_NOT_ALLOWED, 405, -EPERM, false },
	{ "InsufficientCapacity", S3_ERR_INSUFFICIENT_CAPACITY, 507, -ENOSPC, false },
	{ "QuotaExceeded", S3_ERR_QUOTA_EXCEEDED, 403, -EDQUOT, false },
	{ "InvalidEncryptionAlgorithmError", S3_ERR_INVALID_ENCRYPTION_ALGORITHM, 400, -EINVAL,
	  false },
	{ "InvalidObjectState", S3_ERR_INVALID_OBJECT_STATE, 403, -EACCES, false },
	{ "KMS.ThrottlingException", S3_ERR_KMS, 400, -EAGAIN, true },
	{ "KMS.DisabledException", S3_ERR_KMS, 400, -EACCES, false },
	{ "KMS.NotFoundException", S3_ERR_KMS, 400, -EACCES, false },
	{ "KMS.AccessDeniedException", S3_ERR_KMS, 403, -EACCES, false },
};

/* Replies without a code we know: by status alone. */
static const struct want status_rows[] = {
	{ NULL, S3_ERR_NONE, 0, -EIO, true }, /* transport error, no reply */
	{ NULL, S3_ERR_NONE, 200, 0, false },
	{ NULL, S3_ERR_NONE, 204, 0, false },
	{ NULL, S3_ERR_NONE, 206, 0, false },
	{ NULL, S3_ERR_NONE, 299, 0, false },
	{ NULL, S3_ERR_NONE, 301, -EIO, false },
	{ NULL, S3_ERR_NONE, 307, -EIO, false },
	{ NULL, S3_ERR_NONE, 400, -EINVAL, false },
	{ NULL, S3_ERR_NONE, 401, -EACCES, false },
	{ NULL, S3_ERR_NONE, 403, -EACCES, false },
	{ NULL, S3_ERR_NONE, 404, -ENOENT, false },
	{ NULL, S3_ERR_NONE, 405, -EPERM, false },
	{ NULL, S3_ERR_NONE, 408, -EIO, true },
	{ NULL, S3_ERR_NONE, 409, -EBUSY, false },
	{ NULL, S3_ERR_NONE, 411, -EINVAL, false },
	{ NULL, S3_ERR_NONE, 412, -ESTALE, false },
	{ NULL, S3_ERR_NONE, 413, -EFBIG, false },
	{ NULL, S3_ERR_NONE, 414, -ENAMETOOLONG, false },
	{ NULL, S3_ERR_NONE, 416, -EINVAL, false },
	{ NULL, S3_ERR_NONE, 429, -EAGAIN, true },
	{ NULL, S3_ERR_NONE, 402, -EIO, false },
	{ NULL, S3_ERR_NONE, 418, -EIO, false },
	{ NULL, S3_ERR_NONE, 499, -EIO, false },
	{ NULL, S3_ERR_NONE, 500, -EIO, true },
	{ NULL, S3_ERR_NONE, 501, -ENOSYS, false },
	{ NULL, S3_ERR_NONE, 502, -EIO, true },
	{ NULL, S3_ERR_NONE, 503, -EAGAIN, true },
	{ NULL, S3_ERR_NONE, 504, -EIO, true },
	{ NULL, S3_ERR_NONE, 507, -ENOSPC, false },
	{ NULL, S3_ERR_NONE, 599, -EIO, true },
	{ NULL, S3_ERR_NONE, 100, -EIO, false },
	{ NULL, S3_ERR_NONE, 600, -EIO, false },
	{ NULL, S3_ERR_NONE, 999, -EIO, false },
	{ NULL, S3_ERR_NONE, -1, -EIO, false },
};

static void test_code_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(code_rows) / sizeof(code_rows[0]); i++) {
		const struct want *w = &code_rows[i];
		bool retry = !w->retry;
		print_message("%s/%ld\n", w->code, w->http);
		assert_int_equal(s3_err_to_errno(w->http, w->code, &retry), w->err);
		assert_int_equal(retry, w->retry);
		assert_int_equal(s3_err_code_from_string(w->code), w->id);
		/* The code decides, whatever status came with it. */
		retry = !w->retry;
		assert_int_equal(s3_err_to_errno(400, w->code, &retry), w->err);
		assert_int_equal(retry, w->retry);
		assert_int_equal(s3_err_to_errno(500, w->code, NULL), w->err);
	}
}

static void test_status_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(status_rows) / sizeof(status_rows[0]); i++) {
		const struct want *w = &status_rows[i];
		bool retry = !w->retry;
		print_message("status %ld\n", w->http);
		assert_int_equal(s3_err_to_errno(w->http, NULL, &retry), w->err);
		assert_int_equal(retry, w->retry);
		retry = !w->retry;
		assert_int_equal(s3_err_to_errno(w->http, "", &retry), w->err);
		assert_int_equal(retry, w->retry);
		/* An unknown code falls back to the status, except inside a 2xx. */
		if (w->http < 200 || w->http > 299) {
			retry = !w->retry;
			assert_int_equal(s3_err_to_errno(w->http, "SomethingNew", &retry), w->err);
			assert_int_equal(retry, w->retry);
		}
	}
	/* An Error we do not know inside a 200: a failure, not a success. */
	bool retry = true;
	assert_int_equal(s3_err_to_errno(200, "SomethingNew", &retry), -EIO);
	assert_false(retry);
}

static void test_code_names(void **state)
{
	(void)state;
	assert_int_equal(s3_err_code_from_string(NULL), S3_ERR_NONE);
	assert_int_equal(s3_err_code_from_string(""), S3_ERR_NONE);
	assert_int_equal(s3_err_code_from_string("NoSuchThing"), S3_ERR_OTHER);
	/* Codes are case-sensitive, as S3 sends them. */
	assert_int_equal(s3_err_code_from_string("nosuchkey"), S3_ERR_OTHER);
	assert_int_equal(s3_err_code_from_string("KMS"), S3_ERR_OTHER);
	assert_string_equal(s3_err_code_name(S3_ERR_NONE), "");
	assert_string_equal(s3_err_code_name(S3_ERR_KMS), "KMS");
	/* Every named code round-trips, and each appears in code_rows. */
	for (int c = S3_ERR_NO_SUCH_KEY; c < S3_ERR_COUNT_; c++) {
		const char *name = s3_err_code_name((enum s3_code)c);
		assert_true(name[0] != '\0');
		bool listed = false;
		for (size_t i = 0; i < sizeof(code_rows) / sizeof(code_rows[0]); i++)
			if ((int)code_rows[i].id == c)
				listed = true;
		assert_true(listed);
		if (c != S3_ERR_KMS)
			assert_int_equal(s3_err_code_from_string(name), c);
	}
}

static void test_status_set_body(void **state)
{
	(void)state;
	static const char body[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
				   "<Error><Code>NoSuchKey</Code>"
				   "<Message>The specified key does not exist.</Message>"
				   "<Key>a/b</Key><RequestId>4442587FB7D0A2F9</RequestId>"
				   "<HostId>host</HostId></Error>";
	struct s3_status st;
	s3_status_init(&st);
	assert_int_equal(s3_status_set(&st, 404, body, sizeof(body) - 1), -ENOENT);
	assert_int_equal(st.err, -ENOENT);
	assert_int_equal(st.http_status, 404);
	assert_int_equal(st.s3_code, S3_ERR_NO_SUCH_KEY);
	assert_string_equal(st.code, "NoSuchKey");
	assert_string_equal(st.message, "The specified key does not exist.");
	assert_string_equal(st.request_id, "4442587FB7D0A2F9");
	assert_false(st.retryable);
	assert_string_equal(s3_err_describe(&st), "object not found");

	static const char slow[] = "<Error><Code>SlowDown</Code><Message>Please reduce your "
				   "request rate.</Message></Error>";
	s3_status_init(&st);
	/* The id from the x-amz-request-id header survives a body without one. */
	memcpy(st.request_id, "hdr-id", 7);
	assert_int_equal(s3_status_set(&st, 503, slow, sizeof(slow) - 1), -EAGAIN);
	assert_true(st.retryable);
	assert_int_equal(st.s3_code, S3_ERR_SLOW_DOWN);
	assert_string_equal(st.request_id, "hdr-id");
}

static void test_status_set_no_body(void **state)
{
	(void)state;
	struct s3_status st;
	s3_status_init(&st);
	/* HEAD: no body at all. */
	assert_int_equal(s3_status_set(&st, 404, NULL, 0), -ENOENT);
	assert_int_equal(st.s3_code, S3_ERR_NONE);
	assert_string_equal(st.code, "");
	assert_string_equal(s3_err_describe(&st), "not found");
	assert_int_equal(s3_status_set(&st, 403, NULL, 0), -EACCES);
	assert_int_equal(s3_status_set(&st, 503, NULL, 0), -EAGAIN);
	assert_true(st.retryable);
	assert_int_equal(s3_status_set(&st, 200, NULL, 0), 0);
	assert_false(st.retryable);
	assert_int_equal(st.err, 0);

	/* A proxy's HTML page is not an S3 error: by status alone. */
	static const char html[] = "<html><body>502 Bad Gateway</body></html>";
	assert_int_equal(s3_status_set(&st, 502, html, sizeof(html) - 1), -EIO);
	assert_true(st.retryable);
	assert_string_equal(st.code, "");
	static const char junk[] = "\x01\x02garbage";
	assert_int_equal(s3_status_set(&st, 400, junk, sizeof(junk) - 1), -EINVAL);
	/* A stale code from an earlier reply does not leak into this one. */
	assert_int_equal(st.s3_code, S3_ERR_NONE);
}

static void test_status_set_200_error(void **state)
{
	(void)state;
	/* CopyObject: 200 OK, and the failure is in the body. */
	static const char body[] = "\n\n  <?xml version=\"1.0\" encoding=\"UTF-8\"?>"
				   "<Error><Code>InternalError</Code>"
				   "<Message>We encountered an internal error.</Message>"
				   "<RequestId>R1</RequestId></Error>";
	struct s3_status st;
	s3_status_init(&st);
	/* The leading blanks are the keep-alive spaces AWS sends during a long copy. */
	int ret = s3_status_set(&st, 200, body, sizeof(body) - 1);
	assert_int_equal(ret, -EIO);
	assert_true(st.retryable);
	assert_int_equal(st.s3_code, S3_ERR_INTERNAL_ERROR);
	assert_string_equal(st.request_id, "R1");

	static const char ok[] = "<CopyObjectResult><LastModified>2009-10-12T17:50:30.000Z"
				 "</LastModified><ETag>\"9b2cf535f27731c974343645a3985328\""
				 "</ETag></CopyObjectResult>";
	s3_status_init(&st);
	assert_int_equal(s3_status_set(&st, 200, ok, sizeof(ok) - 1), 0);
	assert_int_equal(st.s3_code, S3_ERR_NONE);
}

static void test_describe(void **state)
{
	(void)state;
	struct s3_status st;
	s3_status_init(&st);
	st.http_status = 403;
	memcpy(st.code, "SignatureDoesNotMatch", 22);
	assert_non_null(strstr(s3_err_describe(&st), "signature"));
	memcpy(st.code, "Whatever", 9);
	assert_string_equal(s3_err_describe(&st), "access denied");
	st.http_status = 0;
	st.code[0] = '\0';
	assert_non_null(strstr(s3_err_describe(&st), "transport"));
}

/* One server's answer to a read with a wrong, missing or needless SSE-C key. */
struct key_answer {
	const char *server;
	long http;
	const char *body; /* NULL: HEAD, no body */
	bool wrong_key;
};

#define ERR_XML(code, msg)                                                                    \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" code "</Code><Message>" msg \
	"</Message><RequestId>r</RequestId></Error>"

static const struct key_answer key_answers[] = {
	/* Ceph RGW: 400 for a wrong or missing key */
	{ "ceph HEAD wrong key", 400, NULL, true },
	{ "ceph GET wrong key", 400,
	  ERR_XML("InvalidArgument", "The calculated MD5 hash of the key did not match the hash "
				     "that was provided."),
	  true },
	{ "ceph GET no key", 400,
	  ERR_XML("InvalidRequest", "Requests specifying Server Side Encryption with Customer "
				    "provided keys must provide an appropriate secret key."),
	  true },
	/* AWS S3: 403 AccessDenied for a wrong key, 400 for a missing one */
	{ "aws HEAD wrong key", 403, NULL, true },
	{ "aws GET wrong key", 403, ERR_XML("AccessDenied", "Access Denied"), true },
	{ "aws HEAD no key", 400, NULL, true },
	{ "aws GET no key", 400,
	  ERR_XML("InvalidRequest", "The object was stored using a form of Server Side "
				    "Encryption. The correct parameters must be provided to "
				    "retrieve the object."),
	  true },
	/* AWS and MinIO: SSE-C headers for an object that is plain or SSE-KMS */
	{ "aws HEAD plain object with key", 400, NULL, true },
	{ "aws GET plain object with key", 400,
	  ERR_XML("InvalidRequest", "The encryption parameters are not applicable to this "
				    "object."),
	  true },
	/* MinIO: 403 AccessDenied for a wrong key, 400 InvalidRequest otherwise */
	{ "minio HEAD wrong key", 403, NULL, true },
	{ "minio GET wrong key", 403, ERR_XML("AccessDenied", "Access Denied."), true },
	{ "minio GET no key", 400,
	  ERR_XML("InvalidRequest", "The object was stored using a form of Server Side "
				    "Encryption. The correct parameters must be provided to "
				    "retrieve the object."),
	  true },
	{ "minio GET plain object with key", 400,
	  ERR_XML("InvalidRequest", "The encryption parameters are not applicable to this "
				    "object."),
	  true },
	/* not key answers: another key would not help */
	{ "signature", 403,
	  ERR_XML("SignatureDoesNotMatch", "The request signature we calculated does not "
					   "match the signature you provided."),
	  false },
	{ "access key", 403, ERR_XML("InvalidAccessKeyId", "no such key id"), false },
	{ "clock", 403, ERR_XML("RequestTimeTooSkewed", "skewed"), false },
	{ "quota", 403, ERR_XML("QuotaExceeded", "quota"), false },
	{ "kms", 400, ERR_XML("KMS.NotFoundException", "no such kms key"), false },
	{ "expired token", 400, ERR_XML("ExpiredToken", "expired"), false },
	{ "unknown code", 400, ERR_XML("SomethingNew", "?"), false },
	{ "not found", 404, NULL, false },
	{ "transport", 0, NULL, false },
	{ "server error", 500, NULL, false },
	{ "success", 200, NULL, false },
};

static void test_wrong_sse_key(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(key_answers) / sizeof(key_answers[0]); i++) {
		const struct key_answer *a = &key_answers[i];
		struct s3_status st;

		print_message("%s\n", a->server);
		s3_status_init(&st);
		(void)s3_status_set(&st, a->http, a->body, a->body ? strlen(a->body) : 0);
		assert_int_equal(s3_err_is_wrong_sse_key(&st), a->wrong_key);
	}
	assert_false(s3_err_is_wrong_sse_key(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_code_rows),
		cmocka_unit_test(test_status_rows),
		cmocka_unit_test(test_code_names),
		cmocka_unit_test(test_status_set_body),
		cmocka_unit_test(test_status_set_no_body),
		cmocka_unit_test(test_status_set_200_error),
		cmocka_unit_test(test_describe),
		cmocka_unit_test(test_wrong_sse_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
