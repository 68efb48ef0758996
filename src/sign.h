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
	/* Raw query string as sent, without the '?'; "" or NULL for none. */
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

/* "20150830T123600Z" for V4's X-Amz-Date. @out holds at least 17 bytes. */
void sigv4_format_date(time_t t, char out[17]);

/* RFC 1123 "Sun, 30 Aug 2015 12:36:00 GMT" for V2's Date. @out >= 30 bytes. */
void sigv2_format_date(time_t t, char out[30]);

/*
 * V4 canonical request into @out (appended). Returns 0 or -errno from buf.
 * @signed_headers, if not NULL, receives the SignedHeaders list.
 */
int sigv4_canonical_request(const struct sign_request *r, struct buf *out,
			    struct buf *signed_headers) MUST_CHECK;

/* V4 string to sign for @canonical_request, @t, @region and @service. */
int sigv4_string_to_sign(const char *canonical_request, time_t t, const char *region,
			 const char *service, struct buf *out) MUST_CHECK;

/*
 * V4 Authorization header value
 * ("AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...")
 * appended to @authz. @t must match the X-Amz-Date header. Returns 0 or -errno.
 */
int sigv4_sign(const struct sign_request *r, time_t t, const char *region, const char *service,
	       const struct sign_creds *c, struct buf *authz) MUST_CHECK;

/* V2 string to sign (including the sub-resources V2 signs) appended to @out. */
int sigv2_string_to_sign(const struct sign_request *r, struct buf *out) MUST_CHECK;

/* V2 Authorization header value ("AWS AKID:signature") appended to @authz. */
int sigv2_sign(const struct sign_request *r, const struct sign_creds *c,
	       struct buf *authz) MUST_CHECK;

#endif
