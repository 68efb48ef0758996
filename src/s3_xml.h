/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * S3 response parsing and request-body building. The only file that
 * includes libxml2 (s3_xml.c). Parsing is hardened: no network, no entity
 * substitution, no DTD, a size cap, and any surprise is -EIO with nothing
 * half-filled. It knows nothing of HTTP status codes or errno mapping.
 *
 * The caller must have run xmlInitParser() (main does, before threads).
 * All functions are thread-safe and take no locks.
 */
#ifndef obsmount_S3_XML_H
#define obsmount_S3_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "util/compiler.h"
#include "util/buf.h"
#include "s3_err.h"
#include "store.h"

/* Bodies larger than this are refused (-E2BIG) before parsing. */
#define S3_XML_MAX_BODY ((size_t)16 * 1024 * 1024)

/* Longest S3 key in bytes (S3 and OBS limit keys to 1024 bytes). */
#define S3_XML_KEY_MAX 1024

/* The fields of an S3 <Error> document; strings NUL-terminated, truncated to fit. */
struct s3_error_info {
	char code[S3_CODE_LEN];
	char message[S3_MESSAGE_LEN];
	char request_id[S3_REQUEST_ID_LEN];
	char resource[256];
	char host_id[256];
};

/*
 * Parse an <Error> document into @out (zeroed first).
 * Returns 0 if it is one, -ENOENT if the body is empty or well-formed XML
 * with another root, -EIO if malformed or hostile, -E2BIG over the cap.
 */
int s3_xml_parse_error(const char *body, size_t len, struct s3_error_info *out) MUST_CHECK;

/*
 * Parse a ListObjectsV2 <ListBucketResult> into @out, which must be
 * zeroed (or released) on entry. Contents -> objects (Key, Size,
 * LastModified, ETag), CommonPrefixes/Prefix -> prefixes, and next_token
 * set iff IsTruncated is true (a truncated page without a
 * NextContinuationToken is -EIO). With <EncodingType>url</EncodingType>
 * the keys and prefixes are percent-decoded. On any failure @out is left
 * released (all NULL/0). Returns 0, -EIO, -E2BIG or -ENOMEM.
 */
int s3_xml_parse_list_v2(const char *body, size_t len, struct store_page *out) MUST_CHECK;

/*
 * Parse <InitiateMultipartUploadResult>. *upload_id receives a new string
 * owned by the caller (free()). Returns 0, -EIO, -E2BIG or -ENOMEM.
 */
int s3_xml_parse_initiate_mpu(const char *body, size_t len, char **upload_id) MUST_CHECK;

/* The result of CopyObject / UploadPartCopy. */
struct s3_xml_copy_result {
	char etag[STORE_ETAG_MAX]; /* quoted, as sent */
	time_t last_modified;	   /* 0 if absent */
};

/*
 * Parse <CopyObjectResult> or <CopyPartResult> into @out. A 200 reply
 * whose body is an <Error> returns -EIO with @err filled (if not NULL);
 * the caller should run s3_status_set() on it for the errno. Returns 0,
 * -EIO, -E2BIG.
 */
int s3_xml_parse_copy_result(const char *body, size_t len, struct s3_xml_copy_result *out,
			     struct s3_error_info *err) MUST_CHECK;

/*
 * Parse <CompleteMultipartUploadResult>; @etag receives the ETag (quoted,
 * as sent). An <Error> root returns -EIO with @err filled (if not NULL).
 * Returns 0, -EIO, -E2BIG.
 */
int s3_xml_parse_complete_mpu(const char *body, size_t len, char etag[STORE_ETAG_MAX],
			      struct s3_error_info *err) MUST_CHECK;

/* The result of DeleteObjects. */
struct s3_xml_delete_result {
	size_t n_deleted;			  /* <Deleted> entries (none in quiet mode) */
	size_t n_errors;			  /* <Error> entries */
	char first_error_key[S3_XML_KEY_MAX + 1]; /* key of the first <Error>, or "" */
	char first_error_code[S3_CODE_LEN];
	char first_error_message[S3_MESSAGE_LEN];
};

/*
 * Parse <DeleteResult> into @out (zeroed first). Returns 0 (look at
 * n_errors for per-key failures), -EIO, -E2BIG.
 */
int s3_xml_parse_delete_result(const char *body, size_t len,
			       struct s3_xml_delete_result *out) MUST_CHECK;

/* One in-progress multipart upload. */
struct s3_xml_upload {
	char *key;	 /* owned */
	char *upload_id; /* owned */
	time_t initiated;
};

/* A page of ListMultipartUploads. Release with s3_xml_uploads_release(). */
struct s3_xml_uploads {
	struct s3_xml_upload *uploads; /* owned array of n */
	size_t n;
	bool truncated;
	char *next_key_marker;	     /* owned; NULL unless truncated */
	char *next_upload_id_marker; /* owned; NULL unless truncated */
};

/*
 * Parse <ListMultipartUploadsResult> into @out, which must be zeroed on
 * entry. A truncated page must carry NextKeyMarker (else -EIO). On
 * failure @out is left released. Returns 0, -EIO, -E2BIG or -ENOMEM.
 */
int s3_xml_parse_list_uploads(const char *body, size_t len, struct s3_xml_uploads *out) MUST_CHECK;

/* Free everything in @u and zero it. NULL-safe. */
void s3_xml_uploads_release(struct s3_xml_uploads *u);

/*
 * Append @s escaped for XML character data / attribute values to @out:
 * & < > " ' as entities, TAB/LF/CR as &#xN; (so they survive attribute
 * and line-end normalisation). Characters that XML 1.0 cannot carry (other
 * C0 controls, invalid UTF-8, U+FFFE/U+FFFF) give -EINVAL. Returns 0,
 * -EINVAL, or @out's -E2BIG/-ENOMEM (then @out is released).
 */
int s3_xml_escape(const char *s, struct buf *out) MUST_CHECK;

/*
 * Append a <CompleteMultipartUpload> body for @n parts (in the given order,
 * which must be ascending; -EINVAL otherwise, or for n == 0, a part number
 * outside 1..10000 or an empty ETag) to @out (initialised by the caller,
 * with its cap). When every part has its CRC-32C, each <Part> carries it as
 * <ChecksumCRC32C> (AWS wants all or none for an upload begun with a
 * checksum algorithm). Returns 0, -EINVAL, -E2BIG or -ENOMEM.
 */
int s3_xml_build_complete_mpu(const struct store_part *parts, size_t n, struct buf *out) MUST_CHECK;

/*
 * Append a DeleteObjects <Delete> body for @n keys (1..1000) to @out.
 * @quiet: ask for errors only. A key that XML 1.0 cannot carry, an empty
 * key or a bad @n gives -EINVAL. Returns 0, -EINVAL, -E2BIG or -ENOMEM.
 */
int s3_xml_build_delete(const char *const *keys, size_t n, bool quiet, struct buf *out) MUST_CHECK;

/*
 * A GetBucketEncryption reply (ServerSideEncryptionConfiguration) into
 * @out: the default of the first rule, SSE_KMS with its KMSMasterKeyID
 * (empty: the server's default key) or SSE_S3 for AES256; anything else,
 * a missing or repeated algorithm or a second rule with a different
 * default is -EIO. A KMS key id longer than the field is -EIO, never
 * truncated. Borrowed body; fills the caller's @out.
 */
int s3_xml_parse_bucket_encryption(const char *body, size_t len, struct store_enc *out) MUST_CHECK;

#endif
