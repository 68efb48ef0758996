/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Request signing, AWS Signature Version 2 and 4 (also used by OBS in its
 * AWS-compatible mode). Pure functions: no clock, no I/O, no globals. The
 * caller hands in the request exactly as it will go on the wire and the
 * time to sign with; the result is the Authorization header value.
 * Implemented in sign_v2.c and sign_v4.c.
 */
#ifndef obsmount_SIGN_H
#define obsmount_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "crypto.h"
#include "util/buf.h"
#include "util/compiler.h"

/* One request header; both strings borrowed. Names in any case. */
struct sign_header {
	const char *name;
	const char *value;
};

/* A request as it goes on the wire. Every pointer is borrowed. */
struct sign_request {
	const char *method; /* "GET", "PUT", ... */
	/*
	 * Path exactly as sent (already percent-encoded once, as S3 wants),
	 * starting with '/'. S3 signs it as is: no normalisation, no second
	 * encoding.
	 */
	const char *path;
	/*
	 * Raw query string as sent, without the '?'; "" or NULL for none.
	 * V4 percent-decodes each name and value and encodes it again the AWS
	 * way, so both already-encoded and raw input give the same canonical
	 * form. A literal '+' means '+' (it is signed as %2B), so the sender
	 * must encode a '+' in a value as %2B, never send it raw.
	 */
	const char *query;
	/*
	 * Every header that will be sent, Host included. V4 signs all of them;
	 * V2 uses Content-MD5, Content-Type, Date and the x-amz-* ones. The
	 * caller must already have added X-Amz-Date (V4, from
	 * sigv4_format_date()) or Date (V2, from sigv2_format_date()), and for
	 * V4 x-amz-content-sha256 and, with a session token, x-amz-security-token.
	 */
	const struct sign_header *headers;
	size_t n_headers;
	/* V4 only: hex SHA-256 of the body, or "UNSIGNED-PAYLOAD". */
	const char *payload_hash;
	/*
	 * V2 only: the resource to sign, "/bucket/key" (percent-encoded), for
	 * both path-style and virtual-hosted requests. NULL means use @path.
	 */
	const char *v2_resource;
};

/* Credentials for signing; all borrowed. */
struct sign_creds {
	const char *access_key;
	const struct secret *secret_key;
};

#define SIGV4_DATE_LEN 17
#define SIGV2_DATE_LEN 30

/*
 * "20150830T123600Z" for V4's X-Amz-Date, in UTC. @out holds at least
 * SIGV4_DATE_LEN bytes. Never fails (a time gmtime() cannot represent
 * gives "19700101T000000Z").
 */
void sigv4_format_date(time_t t, char out[SIGV4_DATE_LEN]);

/*
 * RFC 1123 "Sun, 30 Aug 2015 12:36:00 GMT" for V2's Date, in UTC, with
 * English day and month names whatever the locale. @out holds at least
 * SIGV2_DATE_LEN bytes. Never fails (same fallback as above).
 */
void sigv2_format_date(time_t t, char out[SIGV2_DATE_LEN]);

/*
 * Append the AWS URI encoding of @len bytes at @s to @out: A-Z a-z 0-9
 * '-' '_' '.' '~' are kept, every other byte becomes %XX (uppercase hex);
 * '/' is kept too when @keep_slash (object keys in a path). This is how
 * the request layer must encode keys so that the path it sends is the path
 * V4 signs. Returns 0 or -errno from buf.
 */
int sigv4_uri_encode(const char *s, size_t len, bool keep_slash, struct buf *out) MUST_CHECK;

/*
 * V4 canonical request into @out (appended). Header names are lowercased,
 * values trimmed with inner whitespace runs (CR and LF included, so folded
 * lines unfold) collapsed to one space, duplicates joined with ',' in
 * request order. @signed_headers, if not NULL, receives the SignedHeaders
 * list (appended). Returns 0, -EINVAL for a missing method or payload hash
 * or a malformed header name, or -errno from buf (the failing buffer is
 * released).
 */
int sigv4_canonical_request(const struct sign_request *r, struct buf *out,
			    struct buf *signed_headers) MUST_CHECK;

/*
 * V4 string to sign for @canonical_request, @t, @region and @service,
 * appended to @out. Returns 0, -EINVAL for NULL arguments, or -errno from buf.
 */
int sigv4_string_to_sign(const char *canonical_request, time_t t, const char *region,
			 const char *service, struct buf *out) MUST_CHECK;

/*
 * V4 Authorization header value
 * ("AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...")
 * appended to @authz. @t must match the X-Amz-Date header when there is one
 * (-EINVAL otherwise). Intermediate keys are wiped. Returns 0 or -errno.
 */
int sigv4_sign(const struct sign_request *r, time_t t, const char *region, const char *service,
	       const struct sign_creds *c, struct buf *authz) MUST_CHECK;

/*
 * V2 string to sign appended to @out: VERB, Content-MD5, Content-Type and
 * Date lines (Date empty when an x-amz-date header is present), the
 * x-amz-* headers lowercased, sorted, trimmed and comma-joined, then the
 * resource (@v2_resource or @path, as given) with the sub-resources V2
 * signs taken from the query, sorted by name. Sub-resource values are
 * signed percent-decoded: the S3 documentation says they are not encoded
 * when signing, and servers (S3, RGW) compare against decoded values.
 * Returns 0, -EINVAL for a missing method or malformed header name, or
 * -errno from buf.
 */
int sigv2_string_to_sign(const struct sign_request *r, struct buf *out) MUST_CHECK;

/*
 * V2 Authorization header value ("AWS AKID:signature", HMAC-SHA1 in
 * base64) appended to @authz. Returns 0 or -errno.
 */
int sigv2_sign(const struct sign_request *r, const struct sign_creds *c,
	       struct buf *authz) MUST_CHECK;

#endif
