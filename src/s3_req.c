/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The S3 request layer: endpoints and addressing, key and query encoding,
 * s3_perform() (the only place a request is dated, guarded, signed, sent
 * and retried) and the per-operation builders. XML lives in s3_xml.c, the
 * errno mapping in s3_err.c, the transport in http.c.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cred.h"
#include "crypto.h"
#include "log.h"
#include "s3.h"
#include "sign.h"
#include "util/crc32c.h"

#define BACKOFF_BASE_MS 100u
#define BACKOFF_CAP_MS 5000u
#define URL_MAX (16u * 1024u)
#define MAX_SEND_HEADERS (S3_OP_MAX_HEADERS + 16)

struct endpoint {
	char *scheme;	 /* "http" or "https" (owned) */
	char *authority; /* "host[:port]" as configured (owned) */
};

struct s3_ctx {
	const struct s3_cfg *cfg;
	struct http_pool *pool;
	struct endpoint ep[2]; /* [0] HTTP, [1] HTTPS; authority NULL if absent */
	unsigned want_transport;
	unsigned want_sig;
	int retries;
	const char *region;
	long clock_offset;	     /* server minus local seconds; atomic */
	unsigned long next_req;	     /* atomic */
	struct s3_stats stats;	     /* atomic */
	struct store_enc bucket_enc; /* set before serving, read-only afterwards */
	bool probe_noted;	     /* the residual probe was logged; atomic */
	/*
	 * atomic: the server refused a wrong CRC-32C (s3_probe_checksum()),
	 * so the CRC-32C every body carries is verified and Content-MD5 is
	 * left out (it costs about 1.6 s of CPU per GiB here).
	 */
	bool crc_verified;
};

static const char *const op_names[S3_OP_COUNT] = {
	[S3_OP_HEAD_OBJECT] = "HeadObject",
	[S3_OP_GET_OBJECT] = "GetObject",
	[S3_OP_PUT_OBJECT] = "PutObject",
	[S3_OP_DELETE_OBJECT] = "DeleteObject",
	[S3_OP_DELETE_OBJECTS] = "DeleteObjects",
	[S3_OP_LIST_OBJECTS_V2] = "ListObjectsV2",
	[S3_OP_CREATE_MPU] = "CreateMultipartUpload",
	[S3_OP_UPLOAD_PART] = "UploadPart",
	[S3_OP_COMPLETE_MPU] = "CompleteMultipartUpload",
	[S3_OP_ABORT_MPU] = "AbortMultipartUpload",
	[S3_OP_LIST_MPU] = "ListMultipartUploads",
	[S3_OP_COPY_OBJECT] = "CopyObject",
	[S3_OP_GET_BUCKET_ENCRYPTION] = "GetBucketEncryption",
	[S3_OP_UPLOAD_PART_COPY] = "UploadPartCopy",
	[S3_OP_HEAD_BUCKET] = "HeadBucket",
};

const char *s3_op_name(enum s3_op_kind k)
{
	return (unsigned)k < S3_OP_COUNT ? op_names[k] : "?";
}

static enum guard_op guard_op_of(enum s3_op_kind k)
{
	switch (k) {
	case S3_OP_HEAD_OBJECT:
		return GUARD_OP_HEAD_OBJECT;
	case S3_OP_GET_OBJECT:
		return GUARD_OP_GET_OBJECT;
	case S3_OP_PUT_OBJECT:
		return GUARD_OP_PUT_OBJECT;
	case S3_OP_CREATE_MPU:
		return GUARD_OP_INITIATE_MPU;
	case S3_OP_UPLOAD_PART:
		return GUARD_OP_UPLOAD_PART;
	case S3_OP_COMPLETE_MPU:
		return GUARD_OP_COMPLETE_MPU;
	case S3_OP_COPY_OBJECT:
		return GUARD_OP_COPY_OBJECT;
	case S3_OP_UPLOAD_PART_COPY:
		return GUARD_OP_UPLOAD_PART_COPY;
	default:
		return GUARD_OP_OTHER;
	}
}

static enum guard_enc guard_enc_of(enum store_sse m)
{
	switch (m) {
	case STORE_SSE_NONE:
		return GUARD_ENC_NONE;
	case STORE_SSE_C:
		return GUARD_ENC_C;
	case STORE_SSE_KMS:
		return GUARD_ENC_KMS;
	case STORE_SSE_S3:
		return GUARD_ENC_S3;
	default:
		return GUARD_ENC_UNKNOWN;
	}
}

/* ---- configuration and context ------------------------------------------ */

void s3_cfg_defaults(struct s3_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->region = "us-east-1";
	cfg->sigv = 4;
	cfg->addressing = S3_ADDR_PATH;
	cfg->retries = -1;
	cfg->parallel = 8;
	cfg->guard_policy = GUARD_POLICY_UPGRADE;
}

/* Split "scheme://authority[/]" into @ep. -EINVAL for anything else. */
static int parse_endpoint(const char *url, struct endpoint *ep, bool *https)
{
	const char *sep = url ? strstr(url, "://") : NULL;
	if (!sep)
		return -EINVAL;
	size_t slen = (size_t)(sep - url);
	if (slen == 4 && strncasecmp(url, "http", 4) == 0)
		*https = false;
	else if (slen == 5 && strncasecmp(url, "https", 5) == 0)
		*https = true;
	else
		return -EINVAL;
	const char *auth = sep + 3;
	size_t alen = strcspn(auth, "/?#");
	if (!alen || strspn(auth + alen, "/") != strlen(auth + alen))
		return -EINVAL; /* a path, query or fragment: not an endpoint */
	if (memchr(auth, '@', alen) || strpbrk(auth, " \t\r\n"))
		return -EINVAL;
	ep->scheme = strdup(*https ? "https" : "http");
	ep->authority = strndup(auth, alen);
	if (!ep->scheme || !ep->authority)
		return -ENOMEM;
	return 0;
}

static bool valid_bucket(const char *b, bool dns)
{
	size_t n = b ? strlen(b) : 0;
	if (n < 3 || n > 255 || (dns && n > 63))
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = b[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
			  ch == '.';
		if (!dns)
			ok = ok || (ch >= 'A' && ch <= 'Z') || ch == '_';
		if (!ok)
			return false;
	}
	return !dns || (b[0] != '-' && b[0] != '.' && b[n - 1] != '-' && b[n - 1] != '.');
}

static int setup_endpoints(struct s3_ctx *c)
{
	const struct s3_cfg *cfg = c->cfg;
	struct endpoint tmp = { 0 };
	bool https;
	int rc = parse_endpoint(cfg->url, &tmp, &https);
	if (rc)
		goto fail;
	c->ep[https] = tmp;
	tmp = (struct endpoint){ 0 };
	c->want_transport = https ? GUARD_HTTPS : GUARD_HTTP;
	if (cfg->https_url && *cfg->https_url) {
		bool second;
		rc = parse_endpoint(cfg->https_url, &tmp, &second);
		if (!rc && (!second || https))
			rc = -EINVAL; /* https_url must be https, beside an http url */
		if (rc)
			goto fail;
		c->ep[1] = tmp;
	}
	return 0;
fail:
	free(tmp.scheme);
	free(tmp.authority);
	return rc;
}

int s3_ctx_new(const struct s3_cfg *cfg, struct s3_ctx **out)
{
	int rc;
	*out = NULL;
	if (!cfg || (cfg->sigv != 2 && cfg->sigv != 4) ||
	    !valid_bucket(cfg->bucket, cfg->addressing == S3_ADDR_VIRTUAL))
		return -EINVAL;
	struct s3_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->bucket_enc.mode = STORE_SSE_NONE;
	c->cfg = cfg;
	c->want_sig = cfg->sigv == 2 ? GUARD_V2 : GUARD_V4;
	c->retries = cfg->retries < 0 ? S3_DEFAULT_RETRIES : cfg->retries;
	c->region = cfg->region && *cfg->region ? cfg->region : "us-east-1";
	rc = setup_endpoints(c);
	if (rc)
		goto fail;
	struct http_pool_cfg pc = {
		.max_conns = cfg->parallel ? cfg->parallel + 2 : 8,
		.ca_file = cfg->ca_file,
		.connect_timeout_s = cfg->timeout_s,
		.low_speed_time_s = cfg->timeout_s,
		.resolve = cfg->resolve,
		.expect_continue = cfg->expect_continue,
	};
	c->pool = http_pool_new(&pc);
	if (!c->pool) {
		rc = -ENOMEM;
		goto fail;
	}
	*out = c;
	return 0;
fail:
	s3_ctx_free(c);
	return rc;
}

void s3_ctx_free(struct s3_ctx *c)
{
	if (!c)
		return;
	http_pool_free(c->pool);
	for (size_t i = 0; i < ARRAY_SIZE(c->ep); i++) {
		free(c->ep[i].scheme);
		free(c->ep[i].authority);
	}
	free(c);
}

const struct s3_cfg *s3_ctx_cfg(const struct s3_ctx *c)
{
	return c->cfg;
}

/* ---- the op ------------------------------------------------------------- */

void s3_op_init(struct s3_op *op, enum s3_op_kind kind, const char *method, const char *key)
{
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	op->method = method;
	op->key = key;
	op->src_enc = GUARD_ENC_NONE;
	op->dst_enc = GUARD_ENC_NONE;
	http_response_init(&op->resp);
}

void s3_op_release(struct s3_op *op)
{
	if (!op)
		return;
	for (size_t i = 0; i < op->n_owned; i++)
		free(op->owned[i]);
	op->n_owned = 0;
	http_response_release(&op->resp);
}

/* Copy "name\0value\0" into one owned allocation. */
static int own_pair(struct s3_op *op, const char *name, const char *value, struct s3_kv *kv)
{
	size_t nl = strlen(name), vl = value ? strlen(value) : 0;
	if (op->n_owned >= ARRAY_SIZE(op->owned))
		return -E2BIG;
	char *p = malloc(nl + vl + 2);
	if (!p)
		return -ENOMEM;
	memcpy(p, name, nl + 1);
	if (value)
		memcpy(p + nl + 1, value, vl + 1);
	op->owned[op->n_owned++] = p;
	kv->name = p;
	kv->value = value ? p + nl + 1 : NULL;
	return 0;
}

int s3_op_query(struct s3_op *op, const char *name, const char *value)
{
	if (op->n_query >= S3_OP_MAX_QUERY)
		return -E2BIG;
	int rc = own_pair(op, name, value, &op->query[op->n_query]);
	if (!rc)
		op->n_query++;
	return rc;
}

int s3_op_header(struct s3_op *op, const char *name, const char *value)
{
	if (op->n_headers >= S3_OP_MAX_HEADERS || !value)
		return !value ? -EINVAL : -E2BIG;
	int rc = own_pair(op, name, value, &op->headers[op->n_headers]);
	if (!rc)
		op->n_headers++;
	return rc;
}

/* ---- encoding and targets ----------------------------------------------- */

static bool is_unreserved(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '_' || ch == '.' || ch == '~';
}

int s3_uri_encode(const char *s, bool keep_slash, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && !rc; p++) {
		if (is_unreserved(*p) || (keep_slash && *p == '/')) {
			rc = buf_add(out, p, 1);
		} else {
			char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };
			rc = buf_add(out, e, 3);
		}
	}
	return rc;
}

struct enc_kv {
	char *name;
	char *value; /* NULL: no '=' */
};

static int cmp_enc_kv(const void *a, const void *b)
{
	const struct enc_kv *x = a, *y = b;
	int r = strcmp(x->name, y->name);
	if (r)
		return r;
	return strcmp(x->value ? x->value : "", y->value ? y->value : "");
}

static char *encode_dup(const char *s)
{
	struct buf b;
	buf_init(&b, URL_MAX);
	if (s3_uri_encode(s, false, &b))
		return NULL;
	return buf_detach(&b, NULL);
}

int s3_build_query(const struct s3_kv *q, size_t n, struct buf *out)
{
	struct enc_kv e[S3_OP_MAX_QUERY] = { 0 };
	int rc = 0;
	if (n > S3_OP_MAX_QUERY)
		return -E2BIG;
	for (size_t i = 0; i < n && !rc; i++) {
		e[i].name = encode_dup(q[i].name);
		e[i].value = q[i].value ? encode_dup(q[i].value) : NULL;
		if (!e[i].name || (q[i].value && !e[i].value))
			rc = -ENOMEM;
	}
	if (!rc)
		qsort(e, n, sizeof(e[0]), cmp_enc_kv);
	for (size_t i = 0; i < n && !rc; i++) {
		rc = buf_addf(out, "%s%s%s%s", i ? "&" : "", e[i].name, e[i].value ? "=" : "",
			      e[i].value ? e[i].value : "");
	}
	for (size_t i = 0; i < n; i++) {
		free(e[i].name);
		free(e[i].value);
	}
	return rc;
}

int s3_build_target(const struct s3_ctx *c, bool https, const char *key, const char *query,
		    struct buf *url, struct buf *host, struct buf *path, struct buf *v2_resource)
{
	const struct endpoint *ep = &c->ep[https];
	const char *bucket = c->cfg->bucket;
	bool virt = c->cfg->addressing == S3_ADDR_VIRTUAL;
	int rc;
	if (!ep->authority)
		return -EINVAL;
	if (key && strlen(key) > S3_KEY_MAX)
		return -ENAMETOOLONG;
	rc = virt ? buf_addf(host, "%s.%s", bucket, ep->authority) : buf_adds(host, ep->authority);
	if (!rc && !virt)
		rc = buf_addf(path, "/%s", bucket);
	if (!rc)
		rc = buf_adds(path, "/");
	if (!rc && key)
		rc = s3_uri_encode(key, true, path);
	/* V2 signs "/bucket/key" whatever the addressing. */
	if (!rc)
		rc = buf_addf(v2_resource, "/%s/", bucket);
	if (!rc && key)
		rc = s3_uri_encode(key, true, v2_resource);
	if (!rc)
		rc = buf_addf(url, "%s://%s%s%s%s", ep->scheme, buf_str(host), buf_str(path),
			      query && *query ? "?" : "", query ? query : "");
	return rc;
}

/* ---- dates -------------------------------------------------------------- */

/* RFC 1123 "Sun, 06 Nov 1994 08:49:37 GMT" (the only form S3 sends). */
static bool parse_http_date(const char *s, time_t *out)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	char wday[4], mon[4];
	struct tm tm = { 0 };
	if (!s || sscanf(s, "%3s, %d %3s %d %d:%d:%d", wday, &tm.tm_mday, mon, &tm.tm_year,
			 &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 7)
		return false;
	const char *m = strstr(months, mon);
	if (!m || strlen(mon) != 3 || (m - months) % 3 || tm.tm_year < 1970)
		return false;
	tm.tm_mon = (int)((m - months) / 3);
	tm.tm_year -= 1900;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return false;
	*out = t;
	return true;
}

static time_t now_server(struct s3_ctx *c)
{
	return time(NULL) + __atomic_load_n(&c->clock_offset, __ATOMIC_RELAXED);
}

static void resync_clock(struct s3_ctx *c, const struct http_response *r, unsigned long id)
{
	time_t server;
	if (!parse_http_date(http_response_header(r, "Date"), &server))
		return;
	long off = (long)(server - time(NULL));
	__atomic_store_n(&c->clock_offset, off, __ATOMIC_RELAXED);
	log_msg(LOG_LVL_WARN, LOG_CAT_S3, "req=%lu: clock differs from the server's by %ld s", id,
		off);
}

/* ---- backoff ------------------------------------------------------------ */

static uint64_t prng_next(void)
{
	static __thread uint64_t s;
	if (!s) {
		if (crypto_random(&s, sizeof(s)) || !s)
			s = ((uint64_t)time(NULL) << 20) ^ (uint64_t)(uintptr_t)&s ^ 1u;
	}
	/* xorshift64* */
	s ^= s >> 12;
	s ^= s << 25;
	s ^= s >> 27;
	return s * 2685821657736338717ull;
}

/* Full jitter: uniform in [0, min(cap, base * 2^attempt)]. */
static void backoff(unsigned attempt)
{
	uint64_t ceil_ms = BACKOFF_BASE_MS;
	for (unsigned i = 0; i < attempt && ceil_ms < BACKOFF_CAP_MS; i++)
		ceil_ms *= 2;
	if (ceil_ms > BACKOFF_CAP_MS)
		ceil_ms = BACKOFF_CAP_MS;
	uint64_t ms = prng_next() % (ceil_ms + 1);
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000),
			       .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* ---- s3_perform --------------------------------------------------------- */

/* Per-call state that survives the retries. */
struct send {
	unsigned long id;
	char key_log[160]; /* the key made printable, for log lines */
	struct guard_decision d;
	bool decided;
	char md5_b64[CRYPTO_B64_LEN(CRYPTO_MD5_LEN)];
	char payload_hex[2 * CRYPTO_SHA256_LEN + 1];
	bool have_payload_hash;
	struct buf query;
};

static void printable_key(const char *key, char *out, size_t cap)
{
	size_t o = 0;
	if (!key)
		key = "";
	for (const unsigned char *p = (const unsigned char *)key; *p && o + 4 < cap; p++)
		out[o++] = (*p < 0x20 || *p == 0x7f || *p == '\'') ? '?' : (char)*p;
	if (key[0] && strlen(key) > o)
		memcpy(out + o, "...", 3), o += 3;
	out[o] = '\0';
}

static bool ends_with_ci(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

/* SSE headers of @ch into @h (borrowed pointers). @prefix for copy sources. */
static size_t sse_headers(const struct sse_choice *ch, bool write, bool copy_src,
			  struct sign_header *h)
{
	size_t n = 0;
	if (!ch)
		return 0;
	if (ch->mode == STORE_SSE_C && ch->key_b64 && ch->key_md5_b64) {
		h[n++] = (struct sign_header){
			copy_src ? "x-amz-copy-source-server-side-encryption-customer-algorithm"
				 : "x-amz-server-side-encryption-customer-algorithm",
			"AES256"
		};
		h[n++] = (struct sign_header){
			copy_src ? "x-amz-copy-source-server-side-encryption-customer-key"
				 : "x-amz-server-side-encryption-customer-key",
			ch->key_b64
		};
		h[n++] = (struct sign_header){
			copy_src ? "x-amz-copy-source-server-side-encryption-customer-key-MD5"
				 : "x-amz-server-side-encryption-customer-key-MD5",
			ch->key_md5_b64
		};
	} else if (write && !copy_src && ch->mode == STORE_SSE_KMS) {
		h[n++] = (struct sign_header){ "x-amz-server-side-encryption", "aws:kms" };
		if (ch->kms_key_id && *ch->kms_key_id)
			h[n++] =
				(struct sign_header){ "x-amz-server-side-encryption-aws-kms-key-id",
						      ch->kms_key_id };
	} else if (write && !copy_src && ch->mode == STORE_SSE_S3) {
		h[n++] = (struct sign_header){ "x-amz-server-side-encryption", "AES256" };
	}
	return n;
}

/* The headers of one attempt, everything but Authorization. */
struct hdrs {
	struct sign_header h[MAX_SEND_HEADERS];
	size_t n;
	char date[32];
};

static void hdr_add(struct hdrs *hs, const char *name, const char *value)
{
	if (hs->n < ARRAY_SIZE(hs->h))
		hs->h[hs->n++] = (struct sign_header){ name, value };
}

static void collect_headers(struct s3_ctx *c, const struct s3_op *op, const struct send *s,
			    const char *host, time_t t, struct hdrs *hs)
{
	const struct cred *cr = c->cfg->cred;
	hs->n = 0;
	hdr_add(hs, "Host", host);
	if (s->d.sig == GUARD_V4) {
		sigv4_format_date(t, hs->date);
		hdr_add(hs, "x-amz-date", hs->date);
		hdr_add(hs, "x-amz-content-sha256",
			s->have_payload_hash ? s->payload_hex : "UNSIGNED-PAYLOAD");
	} else {
		sigv2_format_date(t, hs->date);
		hdr_add(hs, "Date", hs->date);
	}
	if (cr && cr->session_token)
		hdr_add(hs, "x-amz-security-token", cr->session_token->data);
	if (s->md5_b64[0])
		hdr_add(hs, "Content-MD5", s->md5_b64);
	for (size_t i = 0; i < op->n_headers; i++)
		hdr_add(hs, op->headers[i].name, op->headers[i].value);
	if (hs->n + 6 <= ARRAY_SIZE(hs->h)) {
		hs->n += sse_headers(op->sse, op->sse_write, false, hs->h + hs->n);
		hs->n += sse_headers(op->copy_sse, false, true, hs->h + hs->n);
	}
}

static bool carries_key(const struct s3_op *op)
{
	struct sign_header h[6];
	size_t n = sse_headers(op->sse, op->sse_write, false, h);
	n += sse_headers(op->copy_sse, false, true, h + n);
	for (size_t i = 0; i < op->n_headers; i++)
		if (ends_with_ci(op->headers[i].name, "-customer-key"))
			return true;
	for (size_t i = 0; i < n; i++)
		if (ends_with_ci(h[i].name, "-customer-key"))
			return true;
	return false;
}

static int guard_refused(struct s3_ctx *c, const struct s3_op *op, struct send *s,
			 const struct guard_req *gr)
{
	unsigned tr = 0, sigs = 0;
	const char *fix;
	guard_allowed(gr, c->ep[1].authority != NULL, &tr, &sigs);
	if (!tr || !sigs)
		fix = "the service allows this combination on no transport; change the encryption";
	else if ((tr & GUARD_HTTPS) && !c->ep[1].authority)
		fix = "configure an HTTPS endpoint";
	else
		fix = "use an HTTPS endpoint and V4 signatures, or the upgrade guard policy";
	log_msg(LOG_LVL_ERR, LOG_CAT_GUARD,
		"req=%lu op=%s key='%s': refused by the protocol guard (%s, source %s, target %s, "
		"wanted %s/%s): %s; fix: %s",
		s->id, s3_op_name(op->kind), s->key_log, guard_op_name(gr->op),
		guard_enc_name(gr->src), guard_enc_name(gr->dst),
		c->want_transport == GUARD_HTTPS ? "https" : "http",
		c->want_sig == GUARD_V4 ? "v4" : "v2", s->d.rule ? s->d.rule : "no rule", fix);
	return -EACCES;
}

/* The guard, right before signing: transport and signature for @op. */
static int decide(struct s3_ctx *c, const struct s3_op *op, struct send *s)
{
	if (s->decided)
		return 0;
	struct guard_req gr = {
		.op = guard_op_of(op->kind),
		.src = op->src_enc,
		.dst = op->dst_enc,
		.carries_key = carries_key(op),
	};
	int rc = guard_decide(&gr, c->cfg->guard_policy, c->want_transport, c->want_sig,
			      c->ep[1].authority != NULL, &s->d);
	if (rc == -EACCES)
		return guard_refused(c, op, s, &gr);
	if (rc)
		return rc;
	if (s->d.rule)
		log_msg(LOG_LVL_DEBUG, LOG_CAT_GUARD,
			"req=%lu op=%s key='%s': upgraded to %s/%s: %s", s->id,
			s3_op_name(op->kind), s->key_log,
			s->d.transport == GUARD_HTTPS ? "https" : "http",
			s->d.sig == GUARD_V4 ? "v4" : "v2", s->d.rule);
	/* The residual case of an HTTP-only mount: said once, not per object. */
	if (s->d.note && !__atomic_exchange_n(&c->probe_noted, true, __ATOMIC_RELAXED))
		log_msg(LOG_LVL_DEBUG, LOG_CAT_GUARD,
			"req=%lu op=%s key='%s': %s; add https_url= to probe over HTTPS (said "
			"once)",
			s->id, s3_op_name(op->kind), s->key_log, s->d.note);
	/* Over HTTPS TLS protects the body: V4 signs UNSIGNED-PAYLOAD. Over
	 * HTTP a memory body is hashed, once for all retries. */
	if (s->d.sig == GUARD_V4 && s->d.transport == GUARD_HTTP && !op->read_fn) {
		uint8_t d[CRYPTO_SHA256_LEN];
		crypto_sha256(op->body ? op->body : "", op->body ? op->body_len : 0, d);
		crypto_hex(d, sizeof(d), s->payload_hex);
		s->have_payload_hash = true;
	}
	s->decided = true;
	return 0;
}

static int sign(struct s3_ctx *c, const struct s3_op *op, const struct send *s,
		const struct hdrs *hs, const char *path, const char *v2res, time_t t,
		struct buf *authz)
{
	const struct cred *cr = c->cfg->cred;
	if (!cr || !cr->access_key || !cr->secret_key)
		return 0; /* anonymous */
	struct sign_request sr = {
		.method = op->method,
		.path = path,
		.query = buf_str(&s->query),
		.headers = hs->h,
		.n_headers = hs->n,
		.payload_hash = s->have_payload_hash ? s->payload_hex : "UNSIGNED-PAYLOAD",
		.v2_resource = v2res,
	};
	struct sign_creds sc = { .access_key = cr->access_key, .secret_key = cr->secret_key };
	if (s->d.sig == GUARD_V4)
		return sigv4_sign(&sr, t, c->region, "s3", &sc, authz);
	return sigv2_sign(&sr, &sc, authz);
}

static void fill_request(const struct s3_op *op, const char *url, const struct http_header *hh,
			 size_t n, struct http_request *req)
{
	*req = (struct http_request){
		.method = op->method,
		.url = url,
		.headers = hh,
		.n_headers = n,
		.body = op->read_fn ? NULL : op->body,
		.body_len = op->read_fn ? op->read_len : op->body_len,
		.read_fn = op->read_fn,
		.read_ctx = op->read_ctx,
		.sink = op->sink,
		.body_max = op->body_max,
		.sink_mem = op->sink_mem,
		.sink_cap = op->sink_cap,
		.sink_iov = op->sink_iov,
		.sink_n_iov = op->sink_n_iov,
		.sink_head = op->sink_head,
		.sink_piece = op->sink_piece,
		.piece_ctx = op->piece_ctx,
		.sink_fn = op->sink_fn,
		.sink_ctx = op->sink_ctx,
	};
}

/*
 * One attempt: guard, date, sign, send. Returns a local failure (guard
 * refusal, encoding, signing: never retried); *xfer gets http_exec()'s result.
 */
static int attempt(struct s3_ctx *c, struct s3_op *op, struct send *s, int *xfer)
{
	struct buf url, host, path, v2res, authz;
	struct hdrs hs;
	struct http_header hh[MAX_SEND_HEADERS + 1];
	struct http_request req;
	int rc = decide(c, op, s);
	if (rc)
		return rc;
	buf_init(&url, URL_MAX);
	buf_init(&host, URL_MAX);
	buf_init(&path, URL_MAX);
	buf_init(&v2res, URL_MAX);
	buf_init(&authz, 4096);
	rc = s3_build_target(c, s->d.transport == GUARD_HTTPS, op->key, buf_str(&s->query), &url,
			     &host, &path, &v2res);
	if (rc)
		goto out;
	time_t t = now_server(c);
	collect_headers(c, op, s, buf_str(&host), t, &hs);
	rc = sign(c, op, s, &hs, buf_str(&path), buf_str(&v2res), t, &authz);
	if (rc)
		goto out;
	for (size_t i = 0; i < hs.n; i++)
		hh[i] = (struct http_header){ hs.h[i].name, hs.h[i].value };
	size_t n = hs.n;
	if (authz.len)
		hh[n++] = (struct http_header){ "Authorization", buf_str(&authz) };
	fill_request(op, buf_str(&url), hh, n, &req);
	op->sent_https = s->d.transport == GUARD_HTTPS;
	*xfer = http_exec(c->pool, &req, &op->resp);
out:
	buf_release(&url);
	buf_release(&host);
	buf_release(&path);
	buf_release(&v2res);
	buf_release_wipe(&authz);
	return rc;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

/* Turn the outcome of one attempt into @st. */
static void evaluate(const struct s3_op *op, int xfer, struct s3_status *st)
{
	const struct http_response *r = &op->resp;
	s3_status_init(st);
	copy_str(st->request_id, sizeof(st->request_id),
		 http_response_header(r, "x-amz-request-id"));
	if (!parse_http_date(http_response_header(r, "Date"), &st->date))
		st->date = 0;
	if (xfer) {
		st->err = xfer;
		st->retryable = http_is_transient(xfer);
		copy_str(st->message, sizeof(st->message), r->error);
		return;
	}
	long status = r->status;
	if (op->accept_status && status == op->accept_status) {
		st->http_status = status;
		return;
	}
	bool ok = status >= 200 && status <= 299;
	const char *body = NULL;
	size_t len = 0;
	if (!ok || op->error_in_200) {
		body = r->body.data;
		len = r->body.len;
	}
	(void)s3_status_set(st, status, body, len);
	/* Never retry a 4xx other than throttling, timeouts and clock skew. */
	if (st->retryable && status >= 400 && status < 500 && status != 429 &&
	    st->s3_code != S3_ERR_REQUEST_TIMEOUT && st->s3_code != S3_ERR_REQUEST_TIME_TOO_SKEWED)
		st->retryable = false;
}

/* Can the request go out again (body source rewound, sink restarted)? */
static bool can_resend(struct s3_op *op)
{
	if (op->read_fn && (!op->rewind_fn || op->rewind_fn(op->read_ctx)))
		return false;
	if (op->sink == HTTP_SINK_FN && (!op->sink_reset || op->sink_reset(op->sink_ctx)))
		return false;
	return true;
}

static void log_failure(const struct s3_op *op, const struct send *s, const struct s3_status *st,
			unsigned attempts)
{
	enum log_level lvl = st->err == -ENOENT || op->quiet ? LOG_LVL_DEBUG : LOG_LVL_ERR;
	if (!attempts) {
		log_msg(lvl, LOG_CAT_S3, "req=%lu op=%s key='%s': cannot send: %s", s->id,
			s3_op_name(op->kind), s->key_log, strerror(-st->err));
		return;
	}
	if (!st->http_status) {
		log_msg(lvl, LOG_CAT_S3, "req=%lu op=%s key='%s': %s%s%s after %u attempt%s", s->id,
			s3_op_name(op->kind), s->key_log, strerror(-st->err),
			st->message[0] ? ": " : "", st->message, attempts,
			attempts == 1 ? "" : "s");
		return;
	}
	log_msg(lvl, LOG_CAT_S3,
		"req=%lu op=%s key='%s': %s: status %ld, code '%s'%s%s%s, request id '%s' after %u "
		"attempt%s",
		s->id, s3_op_name(op->kind), s->key_log, s3_err_describe(st), st->http_status,
		st->code, st->message[0] ? " ('" : "", st->message, st->message[0] ? "')" : "",
		st->request_id, attempts, attempts == 1 ? "" : "s");
}

static int prepare(const struct s3_op *op, struct send *s)
{
	if (op->key && !*op->key)
		return -EINVAL;
	if (op->key && strlen(op->key) > S3_KEY_MAX)
		return -ENAMETOOLONG;
	if (!op->method || (op->read_fn && op->body))
		return -EINVAL;
	if (op->content_md5) {
		uint8_t d[CRYPTO_MD5_LEN];
		if (op->read_fn)
			return -EINVAL;
		crypto_md5(op->body ? op->body : "", op->body ? op->body_len : 0, d);
		crypto_base64(d, sizeof(d), s->md5_b64);
	}
	return s3_build_query(op->query, op->n_query, &s->query);
}

/*
 * Did the server refuse a request about an object because it came over
 * plain HTTP? Ceph RGW answers 400 InvalidRequest (no message) to an
 * encrypted write or read over HTTP, the bucket's default encryption
 * included; AWS answers 400 InvalidRequest with a message naming the
 * secure connection. That is a permission
 * matter, EACCES, not a malformed request (EINVAL).
 */
static bool refused_over_http(const struct s3_op *op, const struct s3_status *st)
{
	if (!op->key || op->sent_https || st->http_status != 400 ||
	    st->s3_code != S3_ERR_INVALID_REQUEST)
		return false;
	/* Ceph says nothing more; AWS: "... must be made over a secure
	 * connection". Other InvalidRequests (a copy onto itself) say why. */
	return !st->message[0] || strcasestr(st->message, "secure connection");
}

int s3_perform(struct s3_ctx *c, struct s3_op *op, struct s3_status *st_out)
{
	struct s3_status local;
	struct s3_status *st = st_out ? st_out : &local;
	struct send s = { .id = __atomic_add_fetch(&c->next_req, 1, __ATOMIC_RELAXED) };
	unsigned n = 0;
	printable_key(op->key, s.key_log, sizeof(s.key_log));
	buf_init(&s.query, URL_MAX);
	s3_status_init(st);
	int rc = prepare(op, &s);
	while (!rc) {
		int xfer = 0;
		rc = attempt(c, op, &s, &xfer);
		if (rc)
			break;
		__atomic_add_fetch(&c->stats.requests, 1, __ATOMIC_RELAXED);
		if (n)
			__atomic_add_fetch(&c->stats.retries, 1, __ATOMIC_RELAXED);
		n++;
		evaluate(op, xfer, st);
		if (!st->err)
			break;
		if (st->s3_code == S3_ERR_REQUEST_TIME_TOO_SKEWED)
			resync_clock(c, &op->resp, s.id);
		if (!st->retryable || n > (unsigned)c->retries || !can_resend(op))
			break;
		log_msg(LOG_LVL_DEBUG, LOG_CAT_S3,
			"req=%lu op=%s key='%s': retry %u: %s status %ld", s.id,
			s3_op_name(op->kind), s.key_log, n, strerror(-st->err), st->http_status);
		backoff(n - 1);
	}
	if (rc) {
		/* Refused or unsendable: no reply. Guard refusals are logged already. */
		s3_status_init(st);
		st->err = rc;
		copy_str(st->message, sizeof(st->message),
			 rc == -EACCES ? "refused by the protocol guard" : strerror(-rc));
		if (rc != -EACCES)
			log_failure(op, &s, st, 0);
	} else if (st->err && refused_over_http(op, st)) {
		log_msg(LOG_LVL_ERR, LOG_CAT_GUARD,
			"req=%lu op=%s key='%s': the server refused it over plain HTTP (status "
			"%ld, "
			"code '%s', request id '%s'): the object is, or the bucket's default "
			"encryption makes it, SSE-C or SSE-KMS, which the service's tables 1 and 2 "
			"allow only over HTTPS; fix: add https_url=, or use an https:// url",
			s.id, s3_op_name(op->kind), s.key_log, st->http_status, st->code,
			st->request_id);
		st->err = -EACCES;
	} else if (st->err) {
		log_failure(op, &s, st, n);
	}
	/* an answer the caller expected (op->quiet) is not a failure */
	if (st->err && st->err != -ENOENT && !op->quiet)
		__atomic_add_fetch(&c->stats.errors, 1, __ATOMIC_RELAXED);
	buf_release(&s.query);
	return st->err;
}

void s3_get_stats(struct s3_ctx *c, struct s3_stats *out)
{
	out->requests = __atomic_load_n(&c->stats.requests, __ATOMIC_RELAXED);
	out->retries = __atomic_load_n(&c->stats.retries, __ATOMIC_RELAXED);
	out->errors = __atomic_load_n(&c->stats.errors, __ATOMIC_RELAXED);
}

/* ---- reply parsing helpers ---------------------------------------------- */

static int copy_etag(const struct http_response *r, char etag[STORE_ETAG_MAX], bool required)
{
	const char *e = http_response_header(r, "ETag");
	if (!e || !*e) {
		if (etag)
			etag[0] = '\0';
		return required ? -EIO : 0;
	}
	if (strlen(e) >= STORE_ETAG_MAX)
		return -EIO;
	if (etag)
		copy_str(etag, STORE_ETAG_MAX, e);
	return 0;
}

/*
 * End-to-end checksums. Ceph RGW 20 verifies and stores an
 * x-amz-checksum-crc32c only when x-amz-sdk-checksum-algorithm names it
 * too (the value alone is ignored: neither checked nor kept); then a wrong
 * one is 400 BadDigest, as AWS does. Content-MD5 stays on every body:
 * servers without checksum support still verify that.
 */
static void crc_b64(uint32_t crc, char out[9])
{
	uint8_t be[4] = { (uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8),
			  (uint8_t)crc };
	crypto_base64(be, sizeof(be), out);
}

/* Send the CRC-32C of @len bytes at @data for the server to verify and store. */
static int add_crc32c(struct s3_op *op, const void *data, size_t len, uint32_t *out)
{
	char b64[9];
	*out = crc32c(0, data, len);
	crc_b64(*out, b64);
	int rc = s3_op_header(op, "x-amz-sdk-checksum-algorithm", "CRC32C");
	if (!rc)
		rc = s3_op_header(op, "x-amz-checksum-crc32c", b64);
	return rc;
}

/*
 * The whole-object CRC-32C in @r, if it carries one. A composite checksum
 * (AWS's default for multipart: a CRC of the parts' CRCs, "...-N") is no
 * CRC of the bytes and is ignored, as is anything malformed.
 */
static bool parse_crc32c(const struct http_response *r, uint32_t *out)
{
	const char *v = http_response_header(r, "x-amz-checksum-crc32c");
	const char *type = http_response_header(r, "x-amz-checksum-type");
	uint8_t be[4];
	size_t n = 0;
	if (!v || (type && strcasecmp(type, "FULL_OBJECT") != 0) || strlen(v) != 8)
		return false;
	if (crypto_unbase64(v, be, sizeof(be), &n) != 0 || n != 4)
		return false;
	*out = (uint32_t)be[0] << 24 | (uint32_t)be[1] << 16 | (uint32_t)be[2] << 8 | be[3];
	return true;
}

static bool parse_u64_str(const char *s, uint64_t *out)
{
	char *end;
	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

static void fill_enc(const struct http_response *r, struct store_enc *enc)
{
	const char *alg = http_response_header(r, "x-amz-server-side-encryption");
	const char *calg =
		http_response_header(r, "x-amz-server-side-encryption-customer-algorithm");
	const char *md5 = http_response_header(r, "x-amz-server-side-encryption-customer-key-MD5");
	const char *kid = http_response_header(r, "x-amz-server-side-encryption-aws-kms-key-id");
	memset(enc, 0, sizeof(*enc));
	if (calg) {
		enc->mode = STORE_SSE_C;
		copy_str(enc->key_md5, sizeof(enc->key_md5), md5);
	} else if (alg && strcasecmp(alg, "aws:kms") == 0) {
		enc->mode = STORE_SSE_KMS;
		copy_str(enc->kms_key_id, sizeof(enc->kms_key_id), kid);
	} else if (alg && strcasecmp(alg, "AES256") == 0) {
		enc->mode = STORE_SSE_S3;
	} else {
		enc->mode = STORE_SSE_NONE;
	}
}

static int fill_meta(const struct http_response *r, struct store_meta *m)
{
	static const char prefix[] = "x-amz-meta-";
	size_t pos = 0;
	const char *name, *value;
	int rc = 0;
	while (!rc && http_response_header_next(r, &pos, &name, &value)) {
		if (strcasecmp(name, "Content-Type") == 0 && !m->content_type) {
			m->content_type = strdup(value);
			rc = m->content_type ? 0 : -ENOMEM;
			continue;
		}
		if (strncasecmp(name, prefix, sizeof(prefix) - 1) != 0 || !name[sizeof(prefix) - 1])
			continue;
		char lower[256];
		const char *n = name + sizeof(prefix) - 1;
		size_t i;
		for (i = 0; n[i] && i + 1 < sizeof(lower); i++)
			lower[i] = (n[i] >= 'A' && n[i] <= 'Z') ? (char)(n[i] - 'A' + 'a') : n[i];
		if (n[i])
			return -EIO; /* a metadata name longer than any we write */
		lower[i] = '\0';
		rc = store_meta_set(m, lower, value);
	}
	return rc;
}

/* HEAD/GET reply headers into @out (zeroed first). @ranged: size from Content-Range. */
static int fill_info(const struct http_response *r, bool ranged, struct store_info *out)
{
	memset(out, 0, sizeof(*out));
	const char *len = http_response_header(r, "Content-Length");
	if (ranged) {
		const char *cr = http_response_header(r, "Content-Range");
		len = cr ? strchr(cr, '/') : NULL;
		len = len ? len + 1 : NULL;
	}
	if (len && !parse_u64_str(len, &out->size))
		return -EIO;
	time_t lm;
	if (parse_http_date(http_response_header(r, "Last-Modified"), &lm))
		out->last_modified = lm;
	int rc = copy_etag(r, out->etag, false);
	if (!rc)
		rc = fill_meta(r, &out->meta);
	fill_enc(r, &out->enc);
	if (!ranged)
		out->has_crc32c = parse_crc32c(r, &out->crc32c);
	if (rc)
		store_info_release(out);
	return rc;
}

static int add_meta(struct s3_op *op, const struct store_meta *meta)
{
	int rc = 0;
	if (!meta)
		return 0;
	for (size_t i = 0; i < meta->n && !rc; i++) {
		char name[256];
		int k = snprintf(name, sizeof(name), "x-amz-meta-%s", meta->kv[i].name);
		if (k < 0 || (size_t)k >= sizeof(name))
			return -EINVAL;
		rc = s3_op_header(op, name, meta->kv[i].value);
	}
	if (!rc && meta->content_type)
		rc = s3_op_header(op, "Content-Type", meta->content_type);
	return rc;
}

/* The request id the server gave @r, or "-". Borrowed from @r. */
static const char *resp_request_id(const struct http_response *r)
{
	const char *id = http_response_header(r, "x-amz-request-id");
	return id ? id : "-";
}

/* Does the reported KMS key id @got name the wanted @want (an id or ARN)? */
static bool kms_id_matches(const char *want, const char *got)
{
	size_t wl = strlen(want), gl = strlen(got);
	if (strcmp(want, got) == 0)
		return true;
	/* AWS reports the key's ARN: ...:key/ID */
	return gl > wl && strcmp(got + gl - wl, want) == 0 &&
	       (got[gl - wl - 1] == '/' || got[gl - wl - 1] == ':');
}

/*
 * Is the encryption @got that the server reports for a write what @want
 * asked for? A plain write (want NULL or none) accepts anything: a bucket
 * default may encrypt it, which is never less than asked.
 */
bool s3_enc_satisfies(const struct sse_choice *want, const struct store_enc *got)
{
	if (!want || want->mode == STORE_SSE_NONE)
		return true;
	switch (want->mode) {
	case STORE_SSE_C:
		return got->mode == STORE_SSE_C && want->key_md5_b64 &&
		       strcmp(got->key_md5, want->key_md5_b64) == 0;
	case STORE_SSE_KMS:
		if (got->mode != STORE_SSE_KMS)
			return false;
		return !want->kms_key_id || !got->kms_key_id[0] ||
		       kms_id_matches(want->kms_key_id, got->kms_key_id);
	case STORE_SSE_S3:
		return got->mode == STORE_SSE_S3 || got->mode == STORE_SSE_KMS;
	default:
		return false;
	}
}

/*
 * After a write or copy of @op: fail with -EIO (logged with the key and
 * the request id @req_id) unless the encryption @got the server reports is
 * what @want asked for.
 */
static int check_enc(const struct s3_op *op, const char *req_id, const struct store_enc *got,
		     const struct sse_choice *want)
{
	char k[160];

	if (s3_enc_satisfies(want, got))
		return 0;
	printable_key(op->key, k, sizeof(k));
	log_msg(LOG_LVL_ERR, LOG_CAT_S3,
		"op=%s key='%s' request-id=%s: the server reports encryption %s%s%s, not the "
		"%s%s%s "
		"asked for; the operation failed",
		s3_op_name(op->kind), k, req_id, sse_mode_name(got->mode),
		got->kms_key_id[0] ? " key " : "", got->kms_key_id, sse_mode_name(want->mode),
		want->kms_key_id ? " key " : "", want->kms_key_id ? want->kms_key_id : "");
	return -EIO;
}

/* check_enc() on what reply @r reports. */
static int check_stored_enc(const struct s3_op *op, const struct http_response *r,
			    const struct sse_choice *want)
{
	struct store_enc got;

	fill_enc(r, &got);
	return check_enc(op, resp_request_id(r), &got, want);
}

/* Does @r report any server-side encryption header at all? */
static bool reports_enc(const struct http_response *r)
{
	return http_response_header(r, "x-amz-server-side-encryption") ||
	       http_response_header(r, "x-amz-server-side-encryption-customer-algorithm");
}

/*
 * A part's reply (UploadPart, UploadPartCopy): SSE-C parts must echo the
 * key; other parts are checked when the server reports anything.
 */
static int check_part_enc(const struct s3_op *op, const struct sse_choice *sse)
{
	if (reports_enc(&op->resp) || (sse && sse->mode == STORE_SSE_C))
		return check_stored_enc(op, &op->resp, sse);
	return 0;
}

/*
 * Encryption of a source for the guard: known > an SSE-C key presented >
 * unknown. Any other choice says only which key (none) to present, not
 * what the object is, so it does not count.
 */
static enum guard_enc enc_for(const struct store_enc *known, const struct sse_choice *ch)
{
	if (known)
		return guard_enc_of(known->mode);
	if (ch && ch->mode == STORE_SSE_C)
		return GUARD_ENC_C;
	return GUARD_ENC_UNKNOWN;
}

/*
 * What the guard is told about the object a write creates: its own
 * encryption, or for a write without one, the bucket's default, which the
 * server applies (a PUT of SSE-KMS needs HTTPS and V4 whether the header
 * or the bucket asks for it).
 */
static enum guard_enc target_enc(const struct s3_ctx *c, const struct sse_choice *sse)
{
	if (sse && sse->mode != STORE_SSE_NONE)
		return guard_enc_of(sse->mode);
	if (c->bucket_enc.mode == STORE_SSE_KMS || c->bucket_enc.mode == STORE_SSE_S3)
		return guard_enc_of(c->bucket_enc.mode);
	return GUARD_ENC_NONE;
}

/* The SSE-C key to send when reading an object, or NULL. */
static const struct sse_choice *read_key(const struct sse_choice *ch, const struct store_enc *known)
{
	if (!ch || ch->mode != STORE_SSE_C)
		return NULL;
	if (known && known->mode != STORE_SSE_C && known->mode != STORE_SSE_UNKNOWN)
		return NULL;
	return ch;
}

static int add_copy_source(struct s3_ctx *c, struct s3_op *op, const char *src)
{
	struct buf v;
	if (!src || !*src)
		return -EINVAL;
	if (strlen(src) > S3_KEY_MAX)
		return -ENAMETOOLONG;
	buf_init(&v, URL_MAX);
	int rc = buf_addf(&v, "/%s/", c->cfg->bucket);
	if (!rc)
		rc = s3_uri_encode(src, true, &v);
	if (!rc)
		rc = s3_op_header(op, "x-amz-copy-source", buf_str(&v));
	buf_release(&v);
	return rc;
}

static int add_u64_query(struct s3_op *op, const char *name, uint64_t v)
{
	char num[24];
	snprintf(num, sizeof(num), "%" PRIu64, v);
	return s3_op_query(op, name, num);
}

static int add_mpu_query(struct s3_op *op, const char *upload_id, int number)
{
	if (!upload_id || !*upload_id)
		return -EINVAL;
	int rc = s3_op_query(op, "uploadId", upload_id);
	if (!rc && number) {
		if (number < 1 || number > 10000)
			return -EINVAL;
		rc = add_u64_query(op, "partNumber", (uint64_t)number);
	}
	return rc;
}

/*
 * Ask the guard, before anything is sent, about every kind of request a
 * mount with encryption @mode issues: writes of new objects (with the key
 * under SSE-C), reads, and copies onto itself. The first refusal is
 * described in @err with the rule and the fix.
 */
bool s3_self_copy_allowed(const struct s3_ctx *c, enum store_sse mode)
{
	enum guard_enc e = guard_enc_of(mode);
	struct guard_req gr = {
		.op = GUARD_OP_COPY_OBJECT,
		.src = e,
		.dst = e,
		.carries_key = mode == STORE_SSE_C || mode == STORE_SSE_UNKNOWN,
	};
	struct guard_decision d;

	return guard_decide(&gr, c->cfg->guard_policy, c->want_transport, c->want_sig,
			    c->ep[1].authority != NULL, &d) == 0;
}

int s3_ctx_check_guard(const struct s3_ctx *c, enum store_sse mode, struct buf *err)
{
	static const enum guard_op ops[] = {
		GUARD_OP_PUT_OBJECT,   GUARD_OP_INITIATE_MPU,	  GUARD_OP_UPLOAD_PART,
		GUARD_OP_COMPLETE_MPU, GUARD_OP_HEAD_OBJECT,	  GUARD_OP_GET_OBJECT,
		GUARD_OP_COPY_OBJECT,  GUARD_OP_UPLOAD_PART_COPY,
	};
	enum guard_enc e = guard_enc_of(mode);

	if (mode == STORE_SSE_NONE || mode == STORE_SSE_UNKNOWN)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
		struct guard_req gr = { .op = ops[i], .src = e, .dst = e };
		struct guard_decision d;
		bool reads = ops[i] == GUARD_OP_HEAD_OBJECT || ops[i] == GUARD_OP_GET_OBJECT;

		if (reads)
			gr.dst = GUARD_ENC_NONE;
		else if (ops[i] != GUARD_OP_COPY_OBJECT && ops[i] != GUARD_OP_UPLOAD_PART_COPY)
			gr.src = GUARD_ENC_NONE;
		gr.carries_key = mode == STORE_SSE_C;
		int rc = guard_decide(&gr, c->cfg->guard_policy, c->want_transport, c->want_sig,
				      c->ep[1].authority != NULL, &d);
		if (rc != -EACCES)
			continue;
		const char *fix;
		if (c->cfg->guard_policy == GUARD_POLICY_STRICT)
			fix = "use an https:// url and sigv=4, or guard=upgrade";
		else
			fix = "add https_url=https://HOST[:PORT], or use an https:// url";
		rc = buf_addf(err,
			      "the protocol guard would refuse %s of %s objects over %s with %s "
			      "signatures (%s); fix: %s",
			      guard_op_name(ops[i]), guard_enc_name(e),
			      c->want_transport == GUARD_HTTPS ? "HTTPS" : "plain HTTP",
			      c->want_sig == GUARD_V4 ? "V4" : "V2", d.rule ? d.rule : "?", fix);
		return rc ? rc : -EACCES;
	}
	return 0;
}

/* ---- builders ----------------------------------------------------------- */

static int head_object(struct s3_ctx *c, const char *key, const struct sse_choice *sse,
		       const struct store_enc *known, struct store_info *out, struct s3_status *st,
		       bool quiet)
{
	struct s3_op op;
	s3_op_init(&op, S3_OP_HEAD_OBJECT, "HEAD", key);
	op.quiet = quiet;
	op.sse = read_key(sse, known);
	op.src_enc = enc_for(known, sse);
	/* stored checksums come back only when asked for */
	int rc = s3_op_header(&op, "x-amz-checksum-mode", "ENABLED");
	if (!rc)
		rc = s3_perform(c, &op, st);
	if (!rc)
		rc = fill_info(&op.resp, false, out);
	s3_op_release(&op);
	return rc;
}

int s3_head_object(struct s3_ctx *c, const char *key, const struct sse_choice *sse,
		   const struct store_enc *known, struct store_info *out, struct s3_status *st)
{
	return head_object(c, key, sse, known, out, st, false);
}

int s3_head_object_probe(struct s3_ctx *c, const char *key, const struct sse_choice *sse,
			 const struct store_enc *known, struct store_info *out,
			 struct s3_status *st)
{
	return head_object(c, key, sse, known, out, st, true);
}

/* Is @a the same ETag as @b? Quotes and a weak prefix do not count. */
static bool etag_same(const char *a, const char *b)
{
	size_t la, lb;

	if (strncmp(a, "W/", 2) == 0)
		a += 2;
	if (strncmp(b, "W/", 2) == 0)
		b += 2;
	la = strlen(a);
	lb = strlen(b);
	if (la >= 2 && a[0] == '"' && a[la - 1] == '"') {
		a++;
		la -= 2;
	}
	if (lb >= 2 && b[0] == '"' && b[lb - 1] == '"') {
		b++;
		lb -= 2;
	}
	return la == lb && strncmp(a, b, la) == 0;
}

/*
 * A condition the server did not apply (or a reply from another version):
 * @got, the ETag the object has, is not @want. Logged here, as a 412 is in
 * s3_perform(), since the caller only sees -ESTALE.
 */
static int stale(const struct s3_op *op, const char *key, const char *got, const char *want)
{
	log_msg(LOG_LVL_ERR, LOG_CAT_S3,
		"op=%s key='%s': object changed on the server (ETag %s, not %s), request id '%s'",
		s3_op_name(op->kind), key, got, want, resp_request_id(&op->resp));
	return -ESTALE;
}

/* Check a 200/206/416 reply (@status, head in @r) to a range request for [off, ...). */
static int check_range_reply(const struct http_response *r, long status, uint64_t off)
{
	if (status == 416)
		return 0;
	if (status == 200)
		return off == 0 ? 0 : -EIO; /* the server ignored Range */
	if (status != 206)
		return -EIO;
	const char *cr = http_response_header(r, "Content-Range");
	char num[24];
	size_t i = 0;
	if (!cr || strncasecmp(cr, "bytes ", 6) != 0)
		return -EIO;
	for (cr += 6; *cr >= '0' && *cr <= '9' && i + 1 < sizeof(num); cr++)
		num[i++] = *cr;
	num[i] = '\0';
	uint64_t first;
	if (*cr != '-' || !parse_u64_str(num, &first) || first != off)
		return -EIO;
	return 0;
}

/* A GET whose pieces are announced as they fill: what its reply must be. */
struct get_announce {
	uint64_t off;
	const char *if_match;
	http_piece_fn piece;
	void *ctx;
	bool told; /* a piece was announced (by this attempt or an earlier one) */
};

static int get_head_ok(void *ctx, long status, const struct http_response *r)
{
	const struct get_announce *g = ctx;
	const char *e = http_response_header(r, "ETag");
	if ((status == 200 || status == 206) && check_range_reply(r, status, g->off) == 0 && e &&
	    etag_same(e, g->if_match))
		return 1;
	/* a retry with other bytes must not overwrite pieces the caller has taken */
	return g->told ? -ESTALE : 0;
}

static void get_piece(void *ctx, size_t i)
{
	struct get_announce *g = ctx;
	g->told = true;
	g->piece(g->ctx, i);
}

int s3_get_object(struct s3_ctx *c, const char *key, uint64_t off, const struct http_iov *iov,
		  size_t n, http_piece_fn piece, void *piece_ctx, size_t *got,
		  const struct sse_choice *sse, const struct store_enc *known, const char *if_match,
		  struct store_info *info, struct s3_status *st)
{
	struct get_announce ann = { off, if_match, piece, piece_ctx, false };
	struct s3_op op;
	char range[64];
	uint64_t last;
	size_t len = 0;
	*got = 0;
	if (info)
		memset(info, 0, sizeof(*info));
	for (size_t i = 0; i < n; i++)
		if (__builtin_add_overflow(len, iov[i].len, &len))
			return -EINVAL;
	if (!len || __builtin_add_overflow(off, (uint64_t)len - 1, &last))
		return len ? -EINVAL : 0;
	s3_op_init(&op, S3_OP_GET_OBJECT, "GET", key);
	snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, off, last);
	int rc = s3_op_header(&op, "Range", range);
	if (!rc && if_match && *if_match)
		rc = s3_op_header(&op, "If-Match", if_match);
	op.sse = read_key(sse, known);
	op.src_enc = enc_for(known, sse);
	op.sink = HTTP_SINK_MEM;
	op.sink_iov = iov;
	op.sink_n_iov = n;
	op.sink_cap = len;
	if (piece && if_match && *if_match) {
		op.sink_head = get_head_ok;
		op.sink_piece = get_piece;
		op.piece_ctx = &ann;
	}
	op.accept_status = 416; /* the range starts at or past the end */
	if (!rc)
		rc = s3_perform(c, &op, st);
	if (!rc)
		rc = check_range_reply(&op.resp, op.resp.status, off);
	if (!rc && op.resp.status != 416 && if_match && *if_match) {
		/* a server that ignores If-Match still names what it sent */
		const char *e = http_response_header(&op.resp, "ETag");
		if (e && *e && !etag_same(e, if_match))
			rc = stale(&op, key, e, if_match);
	}
	if (!rc && op.resp.status != 416) {
		*got = (size_t)op.resp.body_got;
		if (info)
			rc = fill_info(&op.resp, op.resp.status == 206, info);
	}
	s3_op_release(&op);
	return rc;
}

/* Content-MD5 on a body, unless the server is known to verify its CRC-32C. */
static bool md5_needed(struct s3_ctx *c)
{
	return !__atomic_load_n(&c->crc_verified, __ATOMIC_RELAXED);
}

int s3_probe_checksum(struct s3_ctx *c, const char *key, bool *verified)
{
	static const char body[] = "obsmount checksum probe\n";
	struct s3_status st;
	struct s3_op op;
	uint32_t crc;
	char b64[9];
	int rc;

	*verified = false;
	s3_op_init(&op, S3_OP_PUT_OBJECT, "PUT", key);
	op.body = body;
	op.body_len = sizeof(body) - 1;
	op.dst_enc = target_enc(c, NULL);
	op.quiet = true; /* the refusal is the answer hoped for */
	/* the right CRC-32C with one bit flipped: a verifying server refuses it */
	crc = crc32c(0, body, sizeof(body) - 1) ^ 1u;
	crc_b64(crc, b64);
	rc = s3_op_header(&op, "x-amz-sdk-checksum-algorithm", "CRC32C");
	if (!rc)
		rc = s3_op_header(&op, "x-amz-checksum-crc32c", b64);
	if (!rc)
		rc = s3_perform(c, &op, &st);
	s3_op_release(&op);
	if (rc == 0) {
		/* stored although wrong: the server does not verify; take it back */
		struct s3_status dst;
		if (s3_delete_object(c, key, &dst) != 0)
			log_msg(LOG_LVL_WARN, LOG_CAT_S3, "cannot delete the checksum probe '%s'",
				key);
		return 0;
	}
	if (st.http_status == 400 && strcmp(st.code, "BadDigest") == 0) {
		*verified = true;
		__atomic_store_n(&c->crc_verified, true, __ATOMIC_RELAXED);
		return 0;
	}
	return rc; /* cannot tell (denied, unreachable): Content-MD5 stays */
}

int s3_put_object(struct s3_ctx *c, const char *key, const void *data, size_t len,
		  const struct store_meta *meta, const struct sse_choice *sse,
		  char etag[STORE_ETAG_MAX], struct s3_status *st)
{
	struct s3_op op;
	s3_op_init(&op, S3_OP_PUT_OBJECT, "PUT", key);
	op.body = data;
	op.body_len = len;
	op.content_md5 = md5_needed(c);
	op.sse = sse;
	op.sse_write = true;
	op.dst_enc = target_enc(c, sse);
	uint32_t crc;
	int rc = add_meta(&op, meta);
	if (!rc)
		rc = add_crc32c(&op, data, len, &crc);
	if (!rc)
		rc = s3_perform(c, &op, st);
	if (!rc)
		rc = check_stored_enc(&op, &op.resp, sse);
	if (!rc)
		rc = copy_etag(&op.resp, etag, false);
	s3_op_release(&op);
	return rc;
}

int s3_delete_object(struct s3_ctx *c, const char *key, struct s3_status *st)
{
	struct s3_op op;
	s3_op_init(&op, S3_OP_DELETE_OBJECT, "DELETE", key);
	/*
	 * The object may be encrypted: no table has a row for DELETE, but
	 * under the upgrade policy it goes to the HTTPS endpoint (and V4)
	 * when the mount has one, like every request about such an object.
	 */
	op.src_enc = GUARD_ENC_UNKNOWN;
	int rc = s3_perform(c, &op, st);
	s3_op_release(&op);
	return rc;
}

int s3_delete_objects(struct s3_ctx *c, const char *const *keys, size_t n,
		      struct s3_xml_delete_result *res, struct s3_status *st)
{
	struct s3_xml_delete_result local;
	struct s3_op op;
	struct buf body;
	if (!res)
		res = &local;
	memset(res, 0, sizeof(*res));
	buf_init(&body, 8u * 1024u * 1024u);
	int rc = s3_xml_build_delete(keys, n, true, &body);
	if (rc)
		return rc;
	s3_op_init(&op, S3_OP_DELETE_OBJECTS, "POST", NULL);
	op.body = body.data;
	op.body_len = body.len;
	op.content_md5 = true;
	rc = s3_op_query(&op, "delete", NULL);
	if (!rc)
		rc = s3_op_header(&op, "Content-Type", "application/xml");
	if (!rc)
		rc = s3_perform(c, &op, st);
	if (!rc)
		rc = s3_xml_parse_delete_result(op.resp.body.data, op.resp.body.len, res);
	if (!rc && res->n_errors) {
		char k[160];
		printable_key(res->first_error_key, k, sizeof(k));
		log_msg(LOG_LVL_ERR, LOG_CAT_S3,
			"op=DeleteObjects: %zu of %zu keys not deleted, first '%s': code '%s'",
			res->n_errors, n, k, res->first_error_code);
		rc = -EIO;
	}
	s3_op_release(&op);
	buf_release(&body);
	return rc;
}

int s3_list_objects_v2(struct s3_ctx *c, const char *prefix, const char *delimiter,
		       const char *token, int max_keys, struct store_page *out,
		       struct s3_status *st)
{
	struct s3_op op;
	s3_op_init(&op, S3_OP_LIST_OBJECTS_V2, "GET", NULL);
	int rc = s3_op_query(&op, "list-type", "2");
	if (!rc)
		rc = s3_op_query(&op, "encoding-type", "url");
	if (!rc && prefix && *prefix)
		rc = s3_op_query(&op, "prefix", prefix);
	if (!rc && delimiter && *delimiter)
		rc = s3_op_query(&op, "delimiter", delimiter);
	if (!rc && token && *token)
		rc = s3_op_query(&op, "continuation-token", token);
	if (!rc && max_keys > 0)
		rc = add_u64_query(&op, "max-keys", (uint64_t)max_keys);
	if (!rc)
		rc = s3_perform(c, &op, st);
	if (!rc)
		rc = s3_xml_parse_list_v2(op.resp.body.data, op.resp.body.len, out);
	s3_op_release(&op);
	return rc;
}

int s3_create_mpu(struct s3_ctx *c, const char *key, const struct store_meta *meta,
		  const struct sse_choice *sse, char **upload_id, struct s3_status *st)
{
	struct s3_op op;
	*upload_id = NULL;
	s3_op_init(&op, S3_OP_CREATE_MPU, "POST", key);
	op.sse = sse;
	op.sse_write = true;
	op.dst_enc = target_enc(c, sse);
	int rc = s3_op_query(&op, "uploads", NULL);
	if (!rc)
		rc = add_meta(&op, meta);
	/*
	 * A whole-object CRC-32C rather than AWS's default composite one, so
	 * that a reader can check the bytes (RGW 20 stores FULL_OBJECT either way).
	 */
	if (!rc)
		rc = s3_op_header(&op, "x-amz-checksum-algorithm", "CRC32C");
	if (!rc)
		rc = s3_op_header(&op, "x-amz-checksum-type", "FULL_OBJECT");
	if (!rc)
		rc = s3_perform(c, &op, st);
	if (!rc && reports_enc(&op.resp))
		rc = check_stored_enc(&op, &op.resp, sse);
	if (!rc)
		rc = s3_xml_parse_initiate_mpu(op.resp.body.data, op.resp.body.len, upload_id);
	s3_op_release(&op);
	return rc;
}

int s3_upload_part(struct s3_ctx *c, const char *key, const char *upload_id, int number,
		   const void *data, size_t len, const struct sse_choice *sse,
		   struct store_part *out, struct s3_status *st)
{
	struct s3_op op;
	s3_op_init(&op, S3_OP_UPLOAD_PART, "PUT", key);
	op.body = data;
	op.body_len = len;
	op.content_md5 = md5_needed(c);
	op.sse = sse; /* only SSE-C headers go on a part */
	op.dst_enc = target_enc(c, sse);
	uint32_t crc;
	int rc = add_mpu_query(&op, upload_id, number);
	if (!rc)
		rc = add_crc32c(&op, data, len, &crc);
	if (!rc)
		rc = s3_perform(c, &op, st);
	if (!rc)
		rc = check_part_enc(&op, sse);
	if (!rc) {
		out->number = number;
		out->len = len;
		out->has_crc32c = true;
		out->crc32c = crc;
		rc = copy_etag(&op.resp, out->etag, true);
	}
	s3_op_release(&op);
	return rc;
}

/*
 * The whole object's CRC-32C, combined from its parts', for the server to
 * check at Complete (RGW refuses a wrong one with BadDigest). Nothing when
 * a part's CRC is unknown.
 */
static int add_whole_crc(struct s3_op *op, const struct store_part *parts, size_t n)
{
	uint32_t crc = 0;
	char b64[9];
	for (size_t i = 0; i < n; i++) {
		if (!parts[i].has_crc32c)
			return 0;
		crc = i ? crc32c_combine(crc, parts[i].crc32c, parts[i].len) : parts[i].crc32c;
	}
	crc_b64(crc, b64);
	return s3_op_header(op, "x-amz-checksum-crc32c", b64);
}

int s3_complete_mpu(struct s3_ctx *c, const char *key, const char *upload_id,
		    const struct store_part *parts, size_t n, const struct sse_choice *sse,
		    char etag[STORE_ETAG_MAX], struct s3_status *st)
{
	struct s3_op op;
	struct buf body;
	char local[STORE_ETAG_MAX];
	buf_init(&body, 4u * 1024u * 1024u);
	int rc = s3_xml_build_complete_mpu(parts, n, &body);
	if (rc)
		return rc;
	s3_op_init(&op, S3_OP_COMPLETE_MPU, "POST", key);
	op.body = body.data;
	op.body_len = body.len;
	op.error_in_200 = true;
	/* SSE-C headers on Complete as well: Ceph 20 requires them. */
	op.sse = sse;
	op.dst_enc = target_enc(c, sse);
	rc = add_mpu_query(&op, upload_id, 0);
	if (!rc)
		rc = s3_op_header(&op, "Content-Type", "application/xml");
	if (!rc)
		rc = add_whole_crc(&op, parts, n);
	if (!rc)
		rc = s3_perform(c, &op, st);
	if (!rc)
		rc = s3_xml_parse_complete_mpu(op.resp.body.data, op.resp.body.len,
					       etag ? etag : local, NULL);
	if (!rc && reports_enc(&op.resp)) {
		rc = check_stored_enc(&op, &op.resp, sse);
	} else if (!rc && sse && sse->mode != STORE_SSE_NONE) {
		/* No encryption headers on this reply: ask the object itself. */
		struct store_info info;
		struct store_enc want = { .mode = sse->mode };
		memset(&info, 0, sizeof(info));
		rc = s3_head_object(c, key, sse, &want, &info, NULL);
		if (!rc)
			rc = check_enc(&op, resp_request_id(&op.resp), &info.enc, sse);
		store_info_release(&info);
	}
	s3_op_release(&op);
	buf_release(&body);
	return rc;
}

int s3_abort_mpu(struct s3_ctx *c, const char *key, const char *upload_id, struct s3_status *st)
{
	struct s3_op op;
	s3_op_init(&op, S3_OP_ABORT_MPU, "DELETE", key);
	int rc = add_mpu_query(&op, upload_id, 0);
	if (!rc)
		rc = s3_perform(c, &op, st);
	s3_op_release(&op);
	return rc;
}

int s3_list_mpu(struct s3_ctx *c, const char *prefix, const char *key_marker,
		const char *upload_id_marker, struct s3_xml_uploads *out, struct s3_status *st)
{
	struct s3_op op;
	s3_op_init(&op, S3_OP_LIST_MPU, "GET", NULL);
	int rc = s3_op_query(&op, "uploads", NULL);
	if (!rc && prefix && *prefix)
		rc = s3_op_query(&op, "prefix", prefix);
	if (!rc && key_marker && *key_marker)
		rc = s3_op_query(&op, "key-marker", key_marker);
	if (!rc && upload_id_marker && *upload_id_marker)
		rc = s3_op_query(&op, "upload-id-marker", upload_id_marker);
	if (!rc)
		rc = s3_perform(c, &op, st);
	if (!rc)
		rc = s3_xml_parse_list_uploads(op.resp.body.data, op.resp.body.len, out);
	s3_op_release(&op);
	return rc;
}

/* The parts CopyObject and UploadPartCopy share. */
static int setup_copy(struct s3_ctx *c, struct s3_op *op, const char *src,
		      const struct sse_choice *sse, const struct sse_choice *src_sse,
		      const struct store_enc *src_known, const char *src_if_match)
{
	op->sse = sse;
	op->copy_sse = read_key(src_sse, src_known);
	op->src_enc = enc_for(src_known, src_sse);
	op->dst_enc = target_enc(c, sse);
	op->error_in_200 = true;
	int rc = add_copy_source(c, op, src);
	if (!rc && src_if_match && *src_if_match)
		rc = s3_op_header(op, "x-amz-copy-source-if-match", src_if_match);
	return rc;
}

int s3_copy_object(struct s3_ctx *c, const char *src, const char *dst,
		   const struct store_meta *meta, const struct sse_choice *sse,
		   const struct sse_choice *src_sse, const struct store_enc *src_known,
		   const char *src_if_match, char etag[STORE_ETAG_MAX], struct s3_status *st)
{
	struct s3_op op;
	struct s3_xml_copy_result res;
	s3_op_init(&op, S3_OP_COPY_OBJECT, "PUT", dst);
	op.sse_write = true;
	int rc = setup_copy(c, &op, src, sse, src_sse, src_known, src_if_match);
	if (!rc)
		rc = s3_op_header(&op, "x-amz-metadata-directive", meta ? "REPLACE" : "COPY");
	if (!rc)
		rc = add_meta(&op, meta);
	if (!rc)
		rc = s3_perform(c, &op, st);
	if (!rc)
		rc = s3_xml_parse_copy_result(op.resp.body.data, op.resp.body.len, &res, NULL);
	if (!rc)
		rc = check_stored_enc(&op, &op.resp, sse);
	if (!rc && etag)
		copy_str(etag, STORE_ETAG_MAX, res.etag);
	s3_op_release(&op);
	return rc;
}

/*
 * After a part copy pinned to @want: is @src still that version? Ceph RGW
 * (20) copies a part whatever x-amz-copy-source-if-match says. A source
 * replaced after the copy read it fails too, which costs only a retry of
 * the store; one replaced and put back with the same bytes is the only
 * case that passes unnoticed.
 */
static int check_source(struct s3_ctx *c, const struct s3_op *op, const char *src,
			const struct sse_choice *src_sse, const struct store_enc *src_known,
			const char *want, struct s3_status *st)
{
	struct store_info info;
	int rc;

	memset(&info, 0, sizeof(info));
	rc = head_object(c, src, src_sse, src_known, &info, st, false);
	if (!rc && !etag_same(info.etag, want))
		rc = stale(op, src, info.etag, want);
	else if (rc == -ENOENT)
		rc = -ESTALE; /* deleted meanwhile: the part may be of anything */
	store_info_release(&info);
	return rc;
}

int s3_upload_part_copy(struct s3_ctx *c, const char *key, const char *upload_id, int number,
			const char *src, uint64_t off, uint64_t len, const struct sse_choice *sse,
			const struct sse_choice *src_sse, const struct store_enc *src_known,
			const char *src_if_match, struct store_part *out, struct s3_status *st)
{
	struct s3_op op;
	struct s3_xml_copy_result res;
	char range[64];
	uint64_t last;
	if (!len || __builtin_add_overflow(off, len - 1, &last))
		return -EINVAL;
	s3_op_init(&op, S3_OP_UPLOAD_PART_COPY, "PUT", key);
	int rc = setup_copy(c, &op, src, sse, src_sse, src_known, src_if_match);
	snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, off, last);
	if (!rc)
		rc = s3_op_header(&op, "x-amz-copy-source-range", range);
	if (!rc)
		rc = add_mpu_query(&op, upload_id, number);
	if (!rc)
		rc = s3_perform(c, &op, st);
	if (!rc)
		rc = s3_xml_parse_copy_result(op.resp.body.data, op.resp.body.len, &res, NULL);
	if (!rc)
		rc = check_part_enc(&op, sse);
	if (!rc && src_if_match && *src_if_match)
		rc = check_source(c, &op, src, src_sse, src_known, src_if_match, st);
	if (!rc) {
		out->number = number;
		out->len = len;
		/* RGW reports the copied range's CRC-32C as a header */
		out->has_crc32c = parse_crc32c(&op.resp, &out->crc32c);
		copy_str(out->etag, sizeof(out->etag), res.etag);
	}
	s3_op_release(&op);
	return rc;
}

int s3_head_bucket(struct s3_ctx *c, struct s3_status *st)
{
	struct s3_op op;
	s3_op_init(&op, S3_OP_HEAD_BUCKET, "HEAD", NULL);
	int rc = s3_perform(c, &op, st);
	s3_op_release(&op);
	return rc;
}

void s3_ctx_set_bucket_enc(struct s3_ctx *c, const struct store_enc *enc)
{
	c->bucket_enc = *enc;
}

const struct store_enc *s3_ctx_bucket_enc(const struct s3_ctx *c)
{
	return &c->bucket_enc;
}

int s3_get_bucket_encryption(struct s3_ctx *c, struct store_enc *out, struct s3_status *st)
{
	struct s3_status local;
	struct s3_op op;

	memset(out, 0, sizeof(*out));
	out->mode = STORE_SSE_NONE;
	if (!st)
		st = &local;
	s3_op_init(&op, S3_OP_GET_BUCKET_ENCRYPTION, "GET", NULL);
	/* "not configured" is an answer, not a failure */
	op.quiet = true;
	int rc = s3_op_query(&op, "encryption", NULL);
	if (!rc)
		rc = s3_perform(c, &op, st);
	if (rc == -ENOENT && st->s3_code != S3_ERR_NO_SUCH_BUCKET) {
		out->mode = STORE_SSE_NONE;
		rc = 0;
	} else if (!rc) {
		rc = s3_xml_parse_bucket_encryption(op.resp.body.data, op.resp.body.len, out);
	}
	s3_op_release(&op);
	return rc;
}
