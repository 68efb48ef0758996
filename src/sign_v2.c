/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * AWS Signature Version 2 for S3 REST requests: the string to sign
 * (positional Content-MD5/Content-Type/Date, canonical x-amz-* headers,
 * canonical resource with the signed sub-resources) and the Authorization
 * header. No query-string (presigned) authentication.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sign.h"
#include "sign_i.h"

/*
 * Query parameters that are part of the V2 canonical resource. The list
 * in the S3 documentation ("Constructing the CanonicalizedResource
 * element"), plus those later S3 APIs added (cors, delete, tagging,
 * restore). Kept sorted by strcmp so the output order is simply this
 * table's order.
 */
static const char *const subresources[] = {
	"acl",
	"cors",
	"delete",
	"lifecycle",
	"location",
	"logging",
	"notification",
	"partNumber",
	"policy",
	"requestPayment",
	"response-cache-control",
	"response-content-disposition",
	"response-content-encoding",
	"response-content-language",
	"response-content-type",
	"response-expires",
	"restore",
	"tagging",
	"torrent",
	"uploadId",
	"uploads",
	"versionId",
	"versioning",
	"versions",
	"website",
};

static bool is_amz(const char *lname)
{
	return strncmp(lname, "x-amz-", 6) == 0;
}

/* First header named @name (any case), or NULL. */
static const char *find_header(const struct sign_request *r, const char *name)
{
	for (size_t i = 0; i < r->n_headers; i++) {
		const struct sign_header *h = &r->headers[i];
		if (h->name && h->value && strcasecmp(h->name, name) == 0)
			return h->value;
	}
	return NULL;
}

/*
 * Append @v without leading and trailing whitespace; a folded line break
 * (a whitespace run containing CR or LF) becomes one space, other inner
 * whitespace is kept as V2 does not collapse it.
 */
static int add_v2_value(struct buf *out, const char *v)
{
	size_t n = strlen(v), i = 0;

	while (n && sign_is_ws(v[n - 1]))
		n--;
	while (i < n && sign_is_ws(v[i]))
		i++;
	while (i < n) {
		size_t run = i;
		while (run < n && v[run] != '\r' && v[run] != '\n')
			run++;
		if (run == n)
			return buf_add(out, v + i, n - i);
		/* drop the whitespace around the break, emit one space */
		size_t keep = run;
		while (keep > i && (v[keep - 1] == ' ' || v[keep - 1] == '\t'))
			keep--;
		int rc = buf_add(out, v + i, keep - i);
		if (!rc)
			rc = buf_add(out, " ", 1);
		if (rc)
			return rc;
		i = run;
		while (i < n && sign_is_ws(v[i]))
			i++;
	}
	return 0;
}

static int amz_headers(const struct sign_request *r, struct buf *out)
{
	struct sign_hdr *h;
	size_t n;
	int rc = sign_hdrs_collect(r, is_amz, &h, &n);
	if (rc)
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		bool first = i == 0 || strcmp(h[i - 1].name, h[i].name) != 0;
		bool last = i + 1 == n || strcmp(h[i + 1].name, h[i].name) != 0;
		rc = first ? buf_addf(out, "%s:", h[i].name) : buf_add(out, ",", 1);
		if (!rc)
			rc = add_v2_value(out, h[i].value);
		if (!rc && last)
			rc = buf_add(out, "\n", 1);
	}
	sign_hdrs_free(h, n);
	return rc;
}

/* Index of @name (length @len) in subresources[], or -1. */
static int subresource_index(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(subresources); i++) {
		if (strlen(subresources[i]) == len && memcmp(subresources[i], name, len) == 0)
			return (int)i;
	}
	return -1;
}

struct subres {
	int idx;
	const char *value; /* raw, points into the query */
	size_t vlen;
	bool has_value;
};

static int subres_cmp(const void *a, const void *b)
{
	const struct subres *x = a, *y = b;
	if (x->idx != y->idx)
		return x->idx < y->idx ? -1 : 1;
	size_t n = x->vlen < y->vlen ? x->vlen : y->vlen;
	int c = memcmp(x->value, y->value, n);
	if (c)
		return c;
	return x->vlen < y->vlen ? -1 : (x->vlen > y->vlen);
}

static int canonical_resource(const struct sign_request *r, struct buf *out)
{
	const char *res = r->v2_resource ? r->v2_resource : r->path;
	struct subres *s = NULL;
	size_t n = 0, cap = 1;
	struct buf dec;
	int rc;

	buf_init(&dec, SIGN_SCRATCH_MAX);
	rc = buf_adds(out, (res && *res) ? res : "/");
	if (rc || !r->query || !*r->query)
		goto out;
	for (const char *p = r->query; *p; p++)
		cap += *p == '&';
	s = calloc(cap, sizeof(*s));
	if (!s) {
		rc = -ENOMEM;
		goto out;
	}
	for (const char *p = r->query; *p;) {
		size_t seg = strcspn(p, "&");
		const char *eq = memchr(p, '=', seg);
		size_t nlen = eq ? (size_t)(eq - p) : seg;
		/* names are plain ASCII; an encoded name is not a sub-resource */
		int idx = subresource_index(p, nlen);
		if (idx >= 0) {
			s[n].idx = idx;
			s[n].has_value = eq && seg > nlen + 1;
			s[n].value = eq ? eq + 1 : p + seg;
			s[n].vlen = eq ? seg - nlen - 1 : 0;
			n++;
		}
		p += seg;
		if (*p == '&')
			p++;
	}
	if (n)
		qsort(s, n, sizeof(*s), subres_cmp);
	for (size_t i = 0; i < n && !rc; i++) {
		rc = buf_addf(out, "%c%s", i ? '&' : '?', subresources[s[i].idx]);
		if (rc || !s[i].has_value)
			continue;
		buf_reset(&dec);
		rc = sign_pct_decode(s[i].value, s[i].vlen, &dec);
		if (!rc)
			rc = buf_addf(out, "=%s", buf_str(&dec));
	}
out:
	free(s);
	buf_release(&dec);
	return rc;
}

static int add_positional(struct buf *out, const char *v)
{
	if (v) {
		int rc = add_v2_value(out, v);
		if (rc)
			return rc;
	}
	return buf_add(out, "\n", 1);
}

int sigv2_string_to_sign(const struct sign_request *r, struct buf *out)
{
	int rc;

	if (!r || !r->method || !*r->method || (r->n_headers && !r->headers))
		return -EINVAL;
	size_t start = out->len;
	rc = buf_addf(out, "%s\n", r->method);
	if (!rc)
		rc = add_positional(out, find_header(r, "content-md5"));
	if (!rc)
		rc = add_positional(out, find_header(r, "content-type"));
	/* with x-amz-date the server ignores Date; the value is signed below */
	if (!rc)
		rc = add_positional(out,
				    find_header(r, "x-amz-date") ? NULL : find_header(r, "date"));
	if (!rc)
		rc = amz_headers(r, out);
	if (!rc)
		rc = canonical_resource(r, out);
	if (rc)
		sign_buf_truncate(out, start);
	return rc;
}

int sigv2_sign(const struct sign_request *r, const struct sign_creds *c, struct buf *authz)
{
	struct buf sts;
	uint8_t mac[CRYPTO_SHA1_LEN];
	char b64[CRYPTO_B64_LEN(CRYPTO_SHA1_LEN)];
	int rc;

	if (!r || !c || !c->access_key || !*c->access_key || !c->secret_key)
		return -EINVAL;
	if (strpbrk(c->access_key, ": \t\r\n"))
		return -EINVAL;
	buf_init(&sts, SIGN_SCRATCH_MAX);
	/* sized once: it holds the session token, so no realloc() copies */
	rc = buf_reserve(&sts, sign_estimate(r));
	if (!rc)
		rc = sigv2_string_to_sign(r, &sts);
	if (rc)
		goto out;
	crypto_hmac_sha1(c->secret_key->data, c->secret_key->len, sts.data, sts.len, mac);
	crypto_base64(mac, sizeof(mac), b64);
	rc = buf_addf(authz, "AWS %s:%s", c->access_key, b64);
out:
	crypto_wipe(mac, sizeof(mac));
	buf_release_wipe(&sts);
	return rc;
}
