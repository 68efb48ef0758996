/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * AWS Signature Version 4 in its S3 flavour: canonical request, string to
 * sign, signing key and the Authorization header. The path is signed as
 * given (S3 wants no normalisation and no second encoding). Also the
 * helpers shared with sign_v2.c (sign_i.h). No presigned URLs, no chunked
 * payload signing.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sign.h"
#include "sign_i.h"

#define V4_ALGO "AWS4-HMAC-SHA256"

static const char hexup[] = "0123456789ABCDEF";

/* ---- shared helpers (sign_i.h) ------------------------------------------ */

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

size_t sign_estimate(const struct sign_request *r)
{
	size_t n = 64, add = 0;
	bool ovf = false;

	/* the query may triple when encoded; header names appear twice */
	ovf |= __builtin_add_overflow(n, r->method ? strlen(r->method) : 0, &n);
	ovf |= __builtin_add_overflow(n, r->path ? strlen(r->path) : 0, &n);
	ovf |= __builtin_add_overflow(n, r->v2_resource ? strlen(r->v2_resource) : 0, &n);
	ovf |= __builtin_mul_overflow(r->query ? strlen(r->query) : 0, 3, &add);
	ovf |= __builtin_add_overflow(n, add, &n);
	ovf |= __builtin_add_overflow(n, r->payload_hash ? strlen(r->payload_hash) : 0, &n);
	for (size_t i = 0; r->headers && i < r->n_headers; i++) {
		const struct sign_header *h = &r->headers[i];
		size_t nl = h->name ? strlen(h->name) : 0;
		ovf |= __builtin_add_overflow(n, 2 * nl + 3, &n);
		ovf |= __builtin_add_overflow(n, h->value ? strlen(h->value) : 0, &n);
	}
	return (ovf || n > SIGN_SCRATCH_MAX) ? SIGN_SCRATCH_MAX : n;
}

void sign_buf_truncate(struct buf *b, size_t len)
{
	if (b && b->data && b->len > len) {
		b->len = len;
		b->data[len] = '\0';
	}
}

int sign_pct_decode(const char *s, size_t len, struct buf *out)
{
	size_t i = 0;

	while (i < len) {
		size_t run = i;
		while (run < len && s[run] != '%')
			run++;
		int rc = buf_add(out, s + i, run - i);
		if (rc)
			return rc;
		i = run;
		if (i >= len)
			break;
		int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
		int lo = i + 2 < len ? hexval(s[i + 2]) : -1;
		if (hi < 0 || lo < 0) {
			/* not an escape: keep the '%' itself */
			rc = buf_add(out, "%", 1);
			i++;
		} else {
			char c = (char)(hi << 4 | lo);
			rc = buf_add(out, &c, 1);
			i += 3;
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* RFC 7230 token characters: what a header name may contain. */
static bool is_tchar(unsigned char c)
{
	if (c >= 'a' && c <= 'z')
		return true;
	if (c >= 'A' && c <= 'Z')
		return true;
	if (c >= '0' && c <= '9')
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static char *lower_dup(const char *s)
{
	size_t n = strlen(s);
	char *d = malloc(n + 1);
	if (!d)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		d[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	d[n] = '\0';
	return d;
}

static int hdr_cmp(const void *a, const void *b)
{
	const struct sign_hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

void sign_hdrs_free(struct sign_hdr *h, size_t n)
{
	if (!h)
		return;
	for (size_t i = 0; i < n; i++)
		free(h[i].name);
	free(h);
}

int sign_hdrs_collect(const struct sign_request *r, sign_hdr_filter_fn filter,
		      struct sign_hdr **out, size_t *n)
{
	struct sign_hdr *h = NULL;
	size_t used = 0;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (r->n_headers && !r->headers)
		return -EINVAL;
	if (r->n_headers) {
		h = calloc(r->n_headers, sizeof(*h));
		if (!h)
			return -ENOMEM;
	}
	for (size_t i = 0; i < r->n_headers; i++) {
		const struct sign_header *sh = &r->headers[i];
		if (!sh->name || !sh->value || !sh->name[0]) {
			rc = -EINVAL;
			goto out;
		}
		for (const char *p = sh->name; *p; p++) {
			if (!is_tchar((unsigned char)*p)) {
				rc = -EINVAL;
				goto out;
			}
		}
		char *lname = lower_dup(sh->name);
		if (!lname) {
			rc = -ENOMEM;
			goto out;
		}
		if (filter && !filter(lname)) {
			free(lname);
			continue;
		}
		h[used].name = lname;
		h[used].value = sh->value;
		h[used].idx = i;
		used++;
	}
	if (used)
		qsort(h, used, sizeof(*h), hdr_cmp);
out:
	if (rc) {
		sign_hdrs_free(h, used);
		return rc;
	}
	*out = h;
	*n = used;
	return 0;
}

/* ---- dates --------------------------------------------------------------- */

/*
 * UTC broken-down time with every field inside its range, years clamped
 * to 0..9999, so the fixed-width formats below always fit.
 */
static void utc(time_t t, struct tm *tm)
{
	if (!gmtime_r(&t, tm)) {
		time_t zero = 0;
		gmtime_r(&zero, tm);
	}
	if (tm->tm_year < -1900)
		tm->tm_year = -1900;
	if (tm->tm_year > 9999 - 1900)
		tm->tm_year = 9999 - 1900;
}

/* Write @v (0 <= v < 10^width) as exactly @width decimal digits. */
static char *digits(char *p, int v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + width;
}

void sigv4_format_date(time_t t, char out[SIGV4_DATE_LEN])
{
	struct tm tm;
	char *p = out;

	utc(t, &tm);
	p = digits(p, tm.tm_year + 1900, 4);
	p = digits(p, tm.tm_mon + 1, 2);
	p = digits(p, tm.tm_mday, 2);
	*p++ = 'T';
	p = digits(p, tm.tm_hour, 2);
	p = digits(p, tm.tm_min, 2);
	p = digits(p, tm.tm_sec % 61, 2);
	*p++ = 'Z';
	*p = '\0';
}

void sigv2_format_date(time_t t, char out[SIGV2_DATE_LEN])
{
	/* fixed English names: strftime's %a and %b follow the locale */
	static const char days[] = "SunMonTueWedThuFriSat";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct tm tm;
	char *p = out;

	utc(t, &tm);
	memcpy(p, days + 3 * (size_t)(tm.tm_wday % 7), 3);
	p += 3;
	*p++ = ',';
	*p++ = ' ';
	p = digits(p, tm.tm_mday, 2);
	*p++ = ' ';
	memcpy(p, months + 3 * (size_t)(tm.tm_mon % 12), 3);
	p += 3;
	*p++ = ' ';
	p = digits(p, tm.tm_year + 1900, 4);
	*p++ = ' ';
	p = digits(p, tm.tm_hour, 2);
	*p++ = ':';
	p = digits(p, tm.tm_min, 2);
	*p++ = ':';
	p = digits(p, tm.tm_sec % 61, 2);
	memcpy(p, " GMT", 5);
}

/* ---- URI encoding and the canonical query -------------------------------- */

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

int sigv4_uri_encode(const char *s, size_t len, bool keep_slash, struct buf *out)
{
	size_t i = 0;

	while (i < len) {
		size_t run = i;
		while (run < len &&
		       (is_unreserved((unsigned char)s[run]) || (keep_slash && s[run] == '/')))
			run++;
		int rc = buf_add(out, s + i, run - i);
		if (rc)
			return rc;
		i = run;
		if (i >= len)
			break;
		unsigned char c = (unsigned char)s[i++];
		char esc[3] = { '%', hexup[c >> 4], hexup[c & 15] };
		rc = buf_add(out, esc, sizeof(esc));
		if (rc)
			return rc;
	}
	return 0;
}

struct qparam {
	char *name;  /* encoded, owned */
	char *value; /* encoded, owned */
};

static int qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->value, y->value);
}

/* Decode then encode @len bytes at @s into a new string at *@out. */
static int reencode(const char *s, size_t len, char **out)
{
	struct buf dec, enc;
	int rc;

	buf_init(&dec, SIGN_SCRATCH_MAX);
	buf_init(&enc, SIGN_SCRATCH_MAX);
	rc = sign_pct_decode(s, len, &dec);
	if (rc)
		goto out;
	rc = sigv4_uri_encode(buf_str(&dec), dec.len, false, &enc);
	if (rc)
		goto out;
	*out = buf_detach(&enc, NULL);
	if (!*out)
		rc = -ENOMEM;
out:
	buf_release(&dec);
	buf_release(&enc);
	return rc;
}

static void qparams_free(struct qparam *q, size_t n)
{
	if (!q)
		return;
	for (size_t i = 0; i < n; i++) {
		free(q[i].name);
		free(q[i].value);
	}
	free(q);
}

static int canonical_query(const char *query, struct buf *out)
{
	struct qparam *q = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (!query || !*query)
		return 0;
	/* every parameter needs at least one byte or an '&', so this bounds n */
	for (const char *p = query; *p; p++)
		cap += *p == '&';
	cap++;
	q = calloc(cap, sizeof(*q));
	if (!q)
		return -ENOMEM;

	const char *p = query;
	while (*p) {
		size_t seg = strcspn(p, "&");
		if (seg) {
			const char *eq = memchr(p, '=', seg);
			size_t nlen = eq ? (size_t)(eq - p) : seg;
			rc = reencode(p, nlen, &q[n].name);
			if (!rc)
				rc = eq ? reencode(eq + 1, seg - nlen - 1, &q[n].value)
					: reencode("", 0, &q[n].value);
			n++;
			if (rc)
				goto out;
		}
		p += seg;
		if (*p == '&')
			p++;
	}
	qsort(q, n, sizeof(*q), qparam_cmp);
	for (size_t i = 0; i < n; i++) {
		rc = buf_addf(out, "%s%s=%s", i ? "&" : "", q[i].name, q[i].value);
		if (rc)
			goto out;
	}
out:
	qparams_free(q, n);
	return rc;
}

/* ---- canonical headers --------------------------------------------------- */

/* Append @v trimmed, with every inner whitespace run collapsed to one space. */
static int add_v4_value(struct buf *out, const char *v)
{
	bool pending_space = false, any = false;

	for (const char *p = v; *p; p++) {
		if (sign_is_ws(*p)) {
			pending_space = any;
			continue;
		}
		const char *run = p;
		while (p[1] && !sign_is_ws(p[1]))
			p++;
		if (pending_space) {
			int rc = buf_add(out, " ", 1);
			if (rc)
				return rc;
		}
		int rc = buf_add(out, run, (size_t)(p - run) + 1);
		if (rc)
			return rc;
		pending_space = false;
		any = true;
	}
	return 0;
}

static int canonical_headers(const struct sign_request *r, struct buf *out, struct buf *signed_hdrs)
{
	struct sign_hdr *h;
	size_t n;
	int rc = sign_hdrs_collect(r, NULL, &h, &n);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		bool first = i == 0 || strcmp(h[i - 1].name, h[i].name) != 0;
		bool last = i + 1 == n || strcmp(h[i + 1].name, h[i].name) != 0;
		if (first) {
			rc = buf_addf(out, "%s:", h[i].name);
			if (!rc && signed_hdrs)
				rc = buf_addf(signed_hdrs, "%s%s", i ? ";" : "", h[i].name);
		} else {
			rc = buf_add(out, ",", 1);
		}
		if (!rc)
			rc = add_v4_value(out, h[i].value);
		if (!rc && last)
			rc = buf_add(out, "\n", 1);
		if (rc)
			break;
	}
	sign_hdrs_free(h, n);
	return rc;
}

/* ---- canonical request, string to sign, signature ------------------------ */

int sigv4_canonical_request(const struct sign_request *r, struct buf *out,
			    struct buf *signed_headers)
{
	struct buf sh;
	int rc;

	if (!r || !r->method || !*r->method || !r->payload_hash)
		return -EINVAL;
	size_t start = out->len, sh_start = signed_headers ? signed_headers->len : 0;
	buf_init(&sh, SIGN_SCRATCH_MAX);
	const char *path = (r->path && *r->path) ? r->path : "/";
	rc = buf_addf(out, "%s\n%s\n", r->method, path);
	if (!rc)
		rc = canonical_query(r->query, out);
	if (!rc)
		rc = buf_add(out, "\n", 1);
	if (!rc)
		rc = canonical_headers(r, out, &sh);
	if (!rc)
		rc = buf_addf(out, "\n%s\n%s", buf_str(&sh), r->payload_hash);
	if (!rc && signed_headers)
		rc = buf_adds(signed_headers, buf_str(&sh));
	if (rc) {
		/* a malformed request leaves no partial output behind */
		sign_buf_truncate(out, start);
		sign_buf_truncate(signed_headers, sh_start);
	}
	buf_release(&sh);
	return rc;
}

static bool is_scope_part(const char *s)
{
	/* region and service go into the scope and the Credential field */
	if (!s || !*s)
		return false;
	for (; *s; s++) {
		if (*s == '/' || *s == ',' || *s == ' ' || (unsigned char)*s < 0x21)
			return false;
	}
	return true;
}

int sigv4_string_to_sign(const char *canonical_request, time_t t, const char *region,
			 const char *service, struct buf *out)
{
	char date[SIGV4_DATE_LEN];
	uint8_t digest[CRYPTO_SHA256_LEN];
	char hex[2 * CRYPTO_SHA256_LEN + 1];

	if (!canonical_request || !is_scope_part(region) || !is_scope_part(service))
		return -EINVAL;
	sigv4_format_date(t, date);
	crypto_sha256(canonical_request, strlen(canonical_request), digest);
	crypto_hex(digest, sizeof(digest), hex);
	return buf_addf(out, V4_ALGO "\n%s\n%.8s/%s/%s/aws4_request\n%s", date, date, region,
			service, hex);
}

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request") */
static int signing_key(const struct secret *sk, const char *date8, const char *region,
		       const char *service, uint8_t key[CRYPTO_SHA256_LEN])
{
	size_t klen;
	if (__builtin_add_overflow(sk->len, 4, &klen))
		return -E2BIG;
	char *k = malloc(klen);
	if (!k)
		return -ENOMEM;
	memcpy(k, "AWS4", 4);
	memcpy(k + 4, sk->data, sk->len);
	crypto_hmac_sha256(k, klen, date8, 8, key);
	crypto_wipe(k, klen);
	free(k);
	crypto_hmac_sha256(key, CRYPTO_SHA256_LEN, region, strlen(region), key);
	crypto_hmac_sha256(key, CRYPTO_SHA256_LEN, service, strlen(service), key);
	crypto_hmac_sha256(key, CRYPTO_SHA256_LEN, "aws4_request", 12, key);
	return 0;
}

/* Does the request's x-amz-date header (if any) say @date? */
static bool date_matches(const struct sign_request *r, const char *date)
{
	for (size_t i = 0; i < r->n_headers; i++) {
		const struct sign_header *h = &r->headers[i];
		if (!h->name || strcasecmp(h->name, "x-amz-date") != 0)
			continue;
		const char *v = h->value ? h->value : "";
		while (sign_is_ws(*v))
			v++;
		size_t n = strlen(v);
		while (n && sign_is_ws(v[n - 1]))
			n--;
		if (n != SIGV4_DATE_LEN - 1 || memcmp(v, date, n) != 0)
			return false;
	}
	return true;
}

int sigv4_sign(const struct sign_request *r, time_t t, const char *region, const char *service,
	       const struct sign_creds *c, struct buf *authz)
{
	struct buf creq, sh, sts;
	char date[SIGV4_DATE_LEN];
	uint8_t key[CRYPTO_SHA256_LEN], sig[CRYPTO_SHA256_LEN];
	char sighex[2 * CRYPTO_SHA256_LEN + 1];
	int rc;

	if (!r || !c || !c->access_key || !*c->access_key || !c->secret_key)
		return -EINVAL;
	if (strpbrk(c->access_key, "/, \t\r\n"))
		return -EINVAL;
	sigv4_format_date(t, date);
	if (r->headers && !date_matches(r, date))
		return -EINVAL;

	buf_init(&creq, SIGN_SCRATCH_MAX);
	buf_init(&sh, SIGN_SCRATCH_MAX);
	buf_init(&sts, SIGN_SCRATCH_MAX);
	/* sized once: it holds the session token, so no realloc() copies */
	rc = buf_reserve(&creq, sign_estimate(r));
	if (!rc)
		rc = sigv4_canonical_request(r, &creq, &sh);
	if (!rc)
		rc = sigv4_string_to_sign(buf_str(&creq), t, region, service, &sts);
	if (!rc)
		rc = signing_key(c->secret_key, date, region, service, key);
	if (rc)
		goto out;
	crypto_hmac_sha256(key, sizeof(key), sts.data, sts.len, sig);
	crypto_wipe(key, sizeof(key));
	crypto_hex(sig, sizeof(sig), sighex);
	rc = buf_addf(authz,
		      V4_ALGO " Credential=%s/%.8s/%s/%s/aws4_request, SignedHeaders=%s, "
			      "Signature=%s",
		      c->access_key, date, region, service, buf_str(&sh), sighex);
out:
	crypto_wipe(key, sizeof(key));
	buf_release_wipe(&creq);
	buf_release(&sh);
	buf_release(&sts);
	return rc;
}
