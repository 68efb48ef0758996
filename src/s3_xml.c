/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Hardened parsing of S3 XML replies (libxml2 lives here and nowhere else)
 * and building of the two XML request bodies we send. A reply is untrusted:
 * no DTD, no entities, no network, a size cap, a known root in a known
 * namespace, and any surprise is -EIO with no partial result.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "crypto.h"
#include "s3_xml.h"

/* The S3 namespace; Ceph RGW, MinIO and AWS use it, AWS errors use none. */
static const char s3_ns[] = "http://s3.amazonaws.com/doc/2006-03-01/";

/*
 * OBS answers in its own namespace, whose host part depends on the
 * deployment (obs.myhwclouds.com, obs.otc.t-systems.com, ...), always
 * http://obs.<host>/doc/2015-06-30/.
 */
static const char obs_ns_head[] = "http://obs.";
static const char obs_ns_tail[] = "/doc/2015-06-30/";

/*
 * No entity substitution (NOENT unset), no DTD loading or default
 * attributes, no network; errors are ours to report, not libxml2's.
 */
#define PARSE_OPTS                                                                       \
	(XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA | \
	 XML_PARSE_IGNORE_ENC)

/* Longest text we accept in a leaf whose value we keep whole (keys, tokens, ids). */
#define LEAF_MAX ((size_t)64 * 1024)

/* Most '<' (tags, comments, CDATA) a reply may contain; see too_many_tags(). */
#define MAX_TAGS 400000

struct doc {
	xmlDoc *doc;
	xmlNode *root;
	const xmlChar *ns; /* the root's namespace href, or NULL */
};

static bool ns_allowed(const xmlChar *href)
{
	const char *h = (const char *)href;
	if (!h)
		return true;
	if (strcmp(h, s3_ns) == 0)
		return true;

	size_t n = strlen(h), hl = strlen(obs_ns_head), tl = strlen(obs_ns_tail);
	if (n <= hl + tl || strncmp(h, obs_ns_head, hl) != 0 ||
	    strcmp(h + n - tl, obs_ns_tail) != 0)
		return false;
	for (size_t i = hl; i < n - tl; i++) {
		char c = h[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-'))
			return false;
	}
	return true;
}

static void close_doc(struct doc *d)
{
	if (d->doc)
		xmlFreeDoc(d->doc);
	d->doc = NULL;
	d->root = NULL;
	d->ns = NULL;
}

static bool has_markup(const char *p, size_t len, const char *what)
{
	return memmem(p, len, what, strlen(what)) != NULL;
}

/*
 * A DOM node costs libxml2 well over 100 bytes, so 16 MiB of "<a/>" would
 * grow to half a gigabyte. A full page of 1000 keys has some 30000 tags;
 * refuse documents with far more before building any tree.
 */
static bool too_many_tags(const char *p, size_t len)
{
	size_t n = 0;
	const char *end = p + len;
	while ((p = memchr(p, '<', (size_t)(end - p))) != NULL) {
		if (++n > MAX_TAGS)
			return true;
		p++;
	}
	return false;
}

/*
 * Parse in chunks: libxml2 (without XML_PARSE_HUGE, which would lift all
 * its other limits too) refuses a single in-memory input above about
 * 10 MB, below our own cap. The encoding is forced to UTF-8, as S3 sends.
 * Returns the document or NULL if it is not well-formed.
 */
static xmlDoc *parse_push(const char *body, size_t len)
{
	enum { CHUNK = 64 * 1024 };
	xmlDoc *doc = NULL;
	xmlParserCtxt *ctxt = xmlCreatePushParserCtxt(NULL, NULL, NULL, 0, NULL);
	if (!ctxt)
		return NULL;
	if (xmlCtxtResetPush(ctxt, NULL, 0, NULL, "UTF-8") != 0)
		goto out;
	(void)xmlCtxtUseOptions(ctxt, PARSE_OPTS);

	int ret = 0;
	for (size_t off = 0; off < len && ret == 0; off += CHUNK) {
		size_t n = len - off < CHUNK ? len - off : CHUNK;
		ret = xmlParseChunk(ctxt, body + off, (int)n, 0);
	}
	if (ret == 0)
		ret = xmlParseChunk(ctxt, NULL, 0, 1);
	if (ret == 0 && ctxt->wellFormed) {
		doc = ctxt->myDoc;
		ctxt->myDoc = NULL;
	}
out:
	if (ctxt->myDoc)
		xmlFreeDoc(ctxt->myDoc);
	ctxt->myDoc = NULL;
	xmlFreeParserCtxt(ctxt);
	return doc;
}

/*
 * Parse @body into @d. Returns 0, -ENOENT for an empty (or all blank)
 * body, -E2BIG over the cap, -EIO for anything malformed or hostile.
 */
static int open_doc(const char *body, size_t len, struct doc *d)
{
	memset(d, 0, sizeof(*d));
	if (len > S3_XML_MAX_BODY)
		return -E2BIG;
	if (!body)
		return -ENOENT;
	/*
	 * AWS may send blanks before the document to keep a long
	 * CopyObject/CompleteMultipartUpload alive; they are harmless.
	 */
	if (len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0) {
		body += 3;
		len -= 3;
	}
	while (len > 0 && (*body == ' ' || *body == '\t' || *body == '\r' || *body == '\n')) {
		body++;
		len--;
	}
	if (len == 0)
		return -ENOENT;
	/* Anything but UTF-8 XML (UTF-16, HTML error pages, junk) stops here. */
	if (*body != '<')
		return -EIO;
	/*
	 * S3 replies never carry a DTD. Refusing one before libxml2 sees it
	 * rules out entity bombs and external entities at the source; the
	 * subset check after parsing is the second line.
	 */
	if (has_markup(body, len, "<!DOCTYPE") || has_markup(body, len, "<!ENTITY"))
		return -EIO;
	if (too_many_tags(body, len))
		return -E2BIG;

	d->doc = parse_push(body, len);
	if (!d->doc)
		return -EIO;
	if (d->doc->intSubset || d->doc->extSubset)
		goto bad;
	d->root = xmlDocGetRootElement(d->doc);
	if (!d->root)
		goto bad;
	d->ns = d->root->ns ? d->root->ns->href : NULL;
	if (!ns_allowed(d->ns))
		goto bad;
	return 0;
bad:
	close_doc(d);
	return -EIO;
}

/* Is @n an element named @name in the document's namespace? */
static bool is_el(const xmlNode *n, const struct doc *d, const char *name)
{
	if (n->type != XML_ELEMENT_NODE || !xmlStrEqual(n->name, (const xmlChar *)name))
		return false;
	const xmlChar *ns = n->ns ? n->ns->href : NULL;
	if (!ns || !d->ns)
		return ns == d->ns;
	return xmlStrEqual(ns, d->ns);
}

static bool root_is(const struct doc *d, const char *name)
{
	return is_el(d->root, d, name);
}

/*
 * The text of a leaf element as a new string. A leaf holds only text
 * (comments are skipped); a child element or entity reference is -EIO,
 * as is text longer than @max. Returns 0, -EIO or -ENOMEM.
 */
static int leaf_dup(const xmlNode *n, size_t max, char **out)
{
	size_t total = 0;
	*out = NULL;
	for (const xmlNode *c = n->children; c; c = c->next) {
		if (c->type == XML_COMMENT_NODE)
			continue;
		if (c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE)
			return -EIO;
		size_t l = c->content ? strlen((const char *)c->content) : 0;
		if (l > max || total + l > max)
			return -EIO;
		total += l;
	}
	char *s = malloc(total + 1);
	if (!s)
		return -ENOMEM;
	size_t off = 0;
	for (const xmlNode *c = n->children; c; c = c->next) {
		if (c->type == XML_COMMENT_NODE || !c->content)
			continue;
		size_t l = strlen((const char *)c->content);
		memcpy(s + off, c->content, l);
		off += l;
	}
	s[off] = '\0';
	*out = s;
	return 0;
}

/*
 * Copy @src into @dst of @cap bytes, cutting at a UTF-8 character
 * boundary if it does not fit. For diagnostic text only.
 */
static void copy_trunc(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);
	if (n >= cap) {
		n = cap - 1;
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* A leaf's text into a fixed array; truncated to fit if @trunc, else -EIO. */
static int leaf_copy(const xmlNode *n, char *dst, size_t cap, bool trunc)
{
	char *s;
	int ret = leaf_dup(n, trunc ? S3_XML_MAX_BODY : cap - 1, &s);
	if (ret)
		return ret;
	copy_trunc(dst, cap, s);
	free(s);
	return 0;
}

/* Record that field @bit was seen; a second occurrence is -EIO. */
static int once(unsigned *seen, unsigned bit)
{
	if (*seen & bit)
		return -EIO;
	*seen |= bit;
	return 0;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	/* strtoull would accept blanks, a sign and "-1" as a huge number. */
	if (s[0] < '0' || s[0] > '9')
		return -EIO;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end != '\0' || v > max)
		return -EIO;
	*out = v;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	if (strcmp(s, "true") == 0 || strcmp(s, "TRUE") == 0 || strcmp(s, "True") == 0)
		*out = true;
	else if (strcmp(s, "false") == 0 || strcmp(s, "FALSE") == 0 || strcmp(s, "False") == 0)
		*out = false;
	else
		return -EIO;
	return 0;
}

/* Read exactly @n decimal digits at *p. */
static bool digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool expect(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

static int days_in(int year, int mon)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	return mon == 2 && leap ? 29 : d[mon - 1];
}

/*
 * ISO 8601 in UTC as S3 writes it: 2009-10-12T17:50:30.000Z. The fraction
 * is optional and dropped; the zone must be Z or +00:00.
 */
static int parse_time(const char *s, time_t *out)
{
	const char *p = s;
	int y, mo, d, h, mi, se;
	if (!digits(&p, 4, &y) || !expect(&p, '-') || !digits(&p, 2, &mo) || !expect(&p, '-') ||
	    !digits(&p, 2, &d) || !expect(&p, 'T') || !digits(&p, 2, &h) || !expect(&p, ':') ||
	    !digits(&p, 2, &mi) || !expect(&p, ':') || !digits(&p, 2, &se))
		return -EIO;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EIO;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
		return -EIO;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in(y, mo) || h > 23 || mi > 59 ||
	    se > 60)
		return -EIO;
	if (se == 60) /* a leap second: no time_t for it */
		se = 59;
	struct tm tm = {
		.tm_year = y - 1900,
		.tm_mon = mo - 1,
		.tm_mday = d,
		.tm_hour = h,
		.tm_min = mi,
		.tm_sec = se,
	};
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -EIO;
	*out = t;
	return 0;
}

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

/*
 * Undo encoding-type=url in place. S3 writes a space as '+' (and a real
 * '+' as %2B); a NUL byte or a broken escape is -EIO.
 */
static int url_decode(char *s)
{
	char *w = s;
	for (const char *r = s; *r; r++) {
		if (*r == '+') {
			*w++ = ' ';
		} else if (*r == '%') {
			int hi = hexval(r[1]), lo = hi < 0 ? -1 : hexval(r[2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -EIO;
			*w++ = (char)(hi << 4 | lo);
			r += 2;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
	return 0;
}

/* A key or prefix from a listing: decoded if @url, 1..S3_XML_KEY_MAX bytes. */
static int leaf_key(const xmlNode *n, bool url, bool allow_empty, char **out)
{
	int ret = leaf_dup(n, LEAF_MAX, out);
	if (ret)
		return ret;
	if (url)
		ret = url_decode(*out);
	size_t l = strlen(*out);
	if (!ret && ((l == 0 && !allow_empty) || l > S3_XML_KEY_MAX))
		ret = -EIO;
	if (ret) {
		free(*out);
		*out = NULL;
	}
	return ret;
}

static int leaf_u64(const xmlNode *n, uint64_t max, uint64_t *out)
{
	char *s;
	int ret = leaf_dup(n, 32, &s);
	if (ret)
		return ret;
	ret = parse_u64(s, max, out);
	free(s);
	return ret;
}

static int leaf_bool(const xmlNode *n, bool *out)
{
	char *s;
	int ret = leaf_dup(n, 16, &s);
	if (ret)
		return ret;
	ret = parse_bool(s, out);
	free(s);
	return ret;
}

static int leaf_time(const xmlNode *n, time_t *out)
{
	char *s;
	int ret = leaf_dup(n, 64, &s);
	if (ret)
		return ret;
	ret = parse_time(s, out);
	free(s);
	return ret;
}

/* An ETag must fit whole: a cut ETag would never compare equal. */
static int leaf_etag(const xmlNode *n, char etag[STORE_ETAG_MAX])
{
	int ret = leaf_copy(n, etag, STORE_ETAG_MAX, false);
	if (!ret && etag[0] == '\0')
		ret = -EIO;
	return ret;
}

/* ---- Error ------------------------------------------------------------ */

enum { F_CODE = 1, F_MSG = 2, F_REQID = 4, F_RES = 8, F_HOST = 16 };

static int fill_error(const struct doc *d, struct s3_error_info *out)
{
	unsigned seen = 0;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	for (const xmlNode *c = d->root->children; c && !ret; c = c->next) {
		if (is_el(c, d, "Code")) {
			ret = once(&seen, F_CODE);
			if (!ret)
				ret = leaf_copy(c, out->code, sizeof(out->code), true);
		} else if (is_el(c, d, "Message")) {
			ret = once(&seen, F_MSG);
			if (!ret)
				ret = leaf_copy(c, out->message, sizeof(out->message), true);
		} else if (is_el(c, d, "RequestId")) {
			ret = once(&seen, F_REQID);
			if (!ret)
				ret = leaf_copy(c, out->request_id, sizeof(out->request_id), true);
		} else if (is_el(c, d, "Resource")) {
			ret = once(&seen, F_RES);
			if (!ret)
				ret = leaf_copy(c, out->resource, sizeof(out->resource), true);
		} else if (is_el(c, d, "HostId")) {
			ret = once(&seen, F_HOST);
			if (!ret)
				ret = leaf_copy(c, out->host_id, sizeof(out->host_id), true);
		}
	}
	if (!ret && out->code[0] == '\0')
		ret = -EIO;
	if (ret)
		memset(out, 0, sizeof(*out));
	return ret;
}

int s3_xml_parse_error(const char *body, size_t len, struct s3_error_info *out)
{
	struct doc d;
	memset(out, 0, sizeof(*out));
	int ret = open_doc(body, len, &d);
	if (ret)
		return ret;
	ret = root_is(&d, "Error") ? fill_error(&d, out) : -ENOENT;
	close_doc(&d);
	return ret;
}

/*
 * Open a document that must have root @name (or @alt, if not NULL), or be
 * an <Error> (a 200 reply carrying a failure): then @err is filled and the
 * result is -EIO.
 */
static int open_result(const char *body, size_t len, const char *name, const char *alt,
		       struct doc *d, struct s3_error_info *err)
{
	int ret = open_doc(body, len, d);
	if (ret == -ENOENT)
		return -EIO;
	if (ret)
		return ret;
	if (root_is(d, name) || (alt && root_is(d, alt)))
		return 0;
	if (root_is(d, "Error") && err) {
		struct s3_error_info tmp;
		if (fill_error(d, &tmp) == 0)
			*err = tmp;
	}
	close_doc(d);
	return -EIO;
}

/* ---- ListObjectsV2 ---------------------------------------------------- */

enum { C_KEY = 1, C_SIZE = 2, C_MTIME = 4, C_ETAG = 8 };

static int parse_contents(const struct doc *d, const xmlNode *n, bool url, struct store_entry *e)
{
	unsigned seen = 0;
	int ret = 0;

	for (const xmlNode *c = n->children; c && !ret; c = c->next) {
		if (is_el(c, d, "Key")) {
			ret = once(&seen, C_KEY);
			if (!ret)
				ret = leaf_key(c, url, false, &e->key);
		} else if (is_el(c, d, "Size")) {
			ret = once(&seen, C_SIZE);
			if (!ret)
				ret = leaf_u64(c, INT64_MAX, &e->size);
		} else if (is_el(c, d, "LastModified")) {
			ret = once(&seen, C_MTIME);
			if (!ret)
				ret = leaf_time(c, &e->last_modified);
		} else if (is_el(c, d, "ETag")) {
			ret = once(&seen, C_ETAG);
			if (!ret)
				ret = leaf_etag(c, e->etag);
		}
	}
	if (!ret && (seen & (C_KEY | C_SIZE | C_MTIME)) != (C_KEY | C_SIZE | C_MTIME))
		ret = -EIO;
	return ret;
}

static int parse_common_prefix(const struct doc *d, const xmlNode *n, bool url, char **out)
{
	int ret = 0;
	for (const xmlNode *c = n->children; c && !ret; c = c->next) {
		if (!is_el(c, d, "Prefix"))
			continue;
		if (*out)
			return -EIO;
		ret = leaf_key(c, url, false, out);
	}
	if (!ret && !*out)
		ret = -EIO;
	return ret;
}

enum { L_ENC = 1, L_TRUNC = 2, L_TOKEN = 4 };

/* The page-level fields of a listing, shared by both listing parsers. */
struct list_head {
	unsigned seen;
	bool url;
	bool truncated;
	size_t n_a; /* Contents / Upload */
	size_t n_b; /* CommonPrefixes */
};

static int parse_encoding(const xmlNode *c, struct list_head *h)
{
	char *s;
	int ret = once(&h->seen, L_ENC);
	if (ret)
		return ret;
	ret = leaf_dup(c, 16, &s);
	if (ret)
		return ret;
	/* We only ever ask for "url"; anything else we could not decode. */
	if (strcmp(s, "url") == 0)
		h->url = true;
	else
		ret = -EIO;
	free(s);
	return ret;
}

static int scan_list_v2(const struct doc *d, struct list_head *h, char **token)
{
	int ret = 0;
	for (const xmlNode *c = d->root->children; c && !ret; c = c->next) {
		if (is_el(c, d, "Contents")) {
			h->n_a++;
		} else if (is_el(c, d, "CommonPrefixes")) {
			h->n_b++;
		} else if (is_el(c, d, "EncodingType")) {
			ret = parse_encoding(c, h);
		} else if (is_el(c, d, "IsTruncated")) {
			ret = once(&h->seen, L_TRUNC);
			if (!ret)
				ret = leaf_bool(c, &h->truncated);
		} else if (is_el(c, d, "NextContinuationToken")) {
			/* Opaque and never url-encoded; sent back verbatim. */
			ret = once(&h->seen, L_TOKEN);
			if (!ret)
				ret = leaf_dup(c, LEAF_MAX, token);
		}
	}
	if (!ret && !(h->seen & L_TRUNC))
		ret = -EIO;
	if (!ret && h->truncated && (!*token || !**token))
		ret = -EIO;
	return ret;
}

static int fill_list_v2(const struct doc *d, const struct list_head *h, struct store_page *out)
{
	size_t io = 0, ip = 0;
	int ret = 0;

	if (h->n_a) {
		out->objects = calloc(h->n_a, sizeof(*out->objects));
		if (!out->objects)
			return -ENOMEM;
		out->n_objects = h->n_a;
	}
	if (h->n_b) {
		out->prefixes = calloc(h->n_b, sizeof(*out->prefixes));
		if (!out->prefixes)
			return -ENOMEM;
		out->n_prefixes = h->n_b;
	}
	for (const xmlNode *c = d->root->children; c && !ret; c = c->next) {
		if (is_el(c, d, "Contents"))
			ret = parse_contents(d, c, h->url, &out->objects[io++]);
		else if (is_el(c, d, "CommonPrefixes"))
			ret = parse_common_prefix(d, c, h->url, &out->prefixes[ip++]);
	}
	return ret;
}

int s3_xml_parse_list_v2(const char *body, size_t len, struct store_page *out)
{
	struct doc d;
	struct list_head h = { 0 };
	char *token = NULL;

	memset(out, 0, sizeof(*out));
	int ret = open_result(body, len, "ListBucketResult", NULL, &d, NULL);
	if (ret)
		return ret;
	ret = scan_list_v2(&d, &h, &token);
	if (!ret)
		ret = fill_list_v2(&d, &h, out);
	if (!ret && h.truncated) {
		out->next_token = token;
		token = NULL;
	}
	free(token);
	if (ret)
		store_page_release(out);
	close_doc(&d);
	return ret;
}

/* ---- multipart -------------------------------------------------------- */

int s3_xml_parse_initiate_mpu(const char *body, size_t len, char **upload_id)
{
	struct doc d;
	char *id = NULL;

	*upload_id = NULL;
	int ret = open_result(body, len, "InitiateMultipartUploadResult", NULL, &d, NULL);
	if (ret)
		return ret;
	for (const xmlNode *c = d.root->children; c && !ret; c = c->next) {
		if (!is_el(c, &d, "UploadId"))
			continue;
		if (id)
			ret = -EIO;
		else
			ret = leaf_dup(c, LEAF_MAX, &id);
	}
	if (!ret && (!id || !*id))
		ret = -EIO;
	if (ret)
		free(id);
	else
		*upload_id = id;
	close_doc(&d);
	return ret;
}

int s3_xml_parse_copy_result(const char *body, size_t len, struct s3_xml_copy_result *out,
			     struct s3_error_info *err)
{
	struct doc d;
	unsigned seen = 0;

	memset(out, 0, sizeof(*out));
	int ret = open_result(body, len, "CopyObjectResult", "CopyPartResult", &d, err);
	if (ret)
		return ret;
	for (const xmlNode *c = d.root->children; c && !ret; c = c->next) {
		if (is_el(c, &d, "ETag")) {
			ret = once(&seen, C_ETAG);
			if (!ret)
				ret = leaf_etag(c, out->etag);
		} else if (is_el(c, &d, "LastModified")) {
			ret = once(&seen, C_MTIME);
			if (!ret)
				ret = leaf_time(c, &out->last_modified);
		}
	}
	if (!ret && !(seen & C_ETAG))
		ret = -EIO;
	if (ret)
		memset(out, 0, sizeof(*out));
	close_doc(&d);
	return ret;
}

int s3_xml_parse_complete_mpu(const char *body, size_t len, char etag[STORE_ETAG_MAX],
			      struct s3_error_info *err)
{
	struct doc d;
	unsigned seen = 0;

	etag[0] = '\0';
	int ret = open_result(body, len, "CompleteMultipartUploadResult", NULL, &d, err);
	if (ret)
		return ret;
	for (const xmlNode *c = d.root->children; c && !ret; c = c->next) {
		if (!is_el(c, &d, "ETag"))
			continue;
		ret = once(&seen, C_ETAG);
		if (!ret)
			ret = leaf_etag(c, etag);
	}
	if (!ret && !(seen & C_ETAG))
		ret = -EIO;
	if (ret)
		etag[0] = '\0';
	close_doc(&d);
	return ret;
}

/* ---- DeleteObjects ---------------------------------------------------- */

static int parse_delete_error(const struct doc *d, const xmlNode *n,
			      struct s3_xml_delete_result *out)
{
	unsigned seen = 0;
	int ret = 0;
	bool first = out->n_errors == 0;
	char key[S3_XML_KEY_MAX + 1] = "";
	char code[S3_CODE_LEN] = "";
	char msg[S3_MESSAGE_LEN] = "";

	for (const xmlNode *c = n->children; c && !ret; c = c->next) {
		if (is_el(c, d, "Key")) {
			ret = once(&seen, F_RES);
			if (!ret)
				ret = leaf_copy(c, key, sizeof(key), false);
		} else if (is_el(c, d, "Code")) {
			ret = once(&seen, F_CODE);
			if (!ret)
				ret = leaf_copy(c, code, sizeof(code), true);
		} else if (is_el(c, d, "Message")) {
			ret = once(&seen, F_MSG);
			if (!ret)
				ret = leaf_copy(c, msg, sizeof(msg), true);
		}
	}
	if (!ret && code[0] == '\0')
		ret = -EIO;
	if (ret)
		return ret;
	if (first) {
		copy_trunc(out->first_error_key, sizeof(out->first_error_key), key);
		copy_trunc(out->first_error_code, sizeof(out->first_error_code), code);
		copy_trunc(out->first_error_message, sizeof(out->first_error_message), msg);
	}
	out->n_errors++;
	return 0;
}

int s3_xml_parse_delete_result(const char *body, size_t len, struct s3_xml_delete_result *out)
{
	struct doc d;

	memset(out, 0, sizeof(*out));
	int ret = open_result(body, len, "DeleteResult", NULL, &d, NULL);
	if (ret)
		return ret;
	for (const xmlNode *c = d.root->children; c && !ret; c = c->next) {
		if (is_el(c, &d, "Deleted"))
			out->n_deleted++;
		else if (is_el(c, &d, "Error"))
			ret = parse_delete_error(&d, c, out);
	}
	if (ret)
		memset(out, 0, sizeof(*out));
	close_doc(&d);
	return ret;
}

/* ---- ListMultipartUploads --------------------------------------------- */

enum { U_KEY = 1, U_ID = 2, U_INIT = 4 };

static int parse_upload(const struct doc *d, const xmlNode *n, bool url, struct s3_xml_upload *u)
{
	unsigned seen = 0;
	int ret = 0;

	for (const xmlNode *c = n->children; c && !ret; c = c->next) {
		if (is_el(c, d, "Key")) {
			ret = once(&seen, U_KEY);
			if (!ret)
				ret = leaf_key(c, url, false, &u->key);
		} else if (is_el(c, d, "UploadId")) {
			ret = once(&seen, U_ID);
			if (!ret)
				ret = leaf_dup(c, LEAF_MAX, &u->upload_id);
			if (!ret && !*u->upload_id)
				ret = -EIO;
		} else if (is_el(c, d, "Initiated")) {
			ret = once(&seen, U_INIT);
			if (!ret)
				ret = leaf_time(c, &u->initiated);
		}
	}
	if (!ret && seen != (U_KEY | U_ID | U_INIT))
		ret = -EIO;
	return ret;
}

enum { M_KEY = 8, M_ID = 16 };

static int scan_uploads(const struct doc *d, struct list_head *h, struct s3_xml_uploads *out)
{
	int ret = 0;
	for (const xmlNode *c = d->root->children; c && !ret; c = c->next) {
		if (is_el(c, d, "Upload")) {
			h->n_a++;
		} else if (is_el(c, d, "EncodingType")) {
			ret = parse_encoding(c, h);
		} else if (is_el(c, d, "IsTruncated")) {
			ret = once(&h->seen, L_TRUNC);
			if (!ret)
				ret = leaf_bool(c, &h->truncated);
		} else if (is_el(c, d, "NextKeyMarker")) {
			ret = once(&h->seen, M_KEY);
			if (!ret)
				ret = leaf_dup(c, LEAF_MAX, &out->next_key_marker);
		} else if (is_el(c, d, "NextUploadIdMarker")) {
			ret = once(&h->seen, M_ID);
			if (!ret)
				ret = leaf_dup(c, LEAF_MAX, &out->next_upload_id_marker);
		}
	}
	if (!ret && !(h->seen & L_TRUNC))
		ret = -EIO;
	if (!ret && h->truncated && (!out->next_key_marker || !*out->next_key_marker))
		ret = -EIO;
	/* EncodingType may follow NextKeyMarker, so decode only now. */
	if (!ret && h->url && out->next_key_marker)
		ret = url_decode(out->next_key_marker);
	return ret;
}

int s3_xml_parse_list_uploads(const char *body, size_t len, struct s3_xml_uploads *out)
{
	struct doc d;
	struct list_head h = { 0 };
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	int ret = open_result(body, len, "ListMultipartUploadsResult", NULL, &d, NULL);
	if (ret)
		return ret;
	ret = scan_uploads(&d, &h, out);
	if (!ret && h.n_a) {
		out->uploads = calloc(h.n_a, sizeof(*out->uploads));
		if (!out->uploads)
			ret = -ENOMEM;
		else
			out->n = h.n_a;
	}
	for (const xmlNode *c = d.root->children; c && !ret; c = c->next)
		if (is_el(c, &d, "Upload"))
			ret = parse_upload(&d, c, h.url, &out->uploads[i++]);
	out->truncated = h.truncated;
	if (!ret && !h.truncated) {
		/* Markers of a last page mean nothing; do not hand them out. */
		free(out->next_key_marker);
		free(out->next_upload_id_marker);
		out->next_key_marker = NULL;
		out->next_upload_id_marker = NULL;
	}
	if (ret)
		s3_xml_uploads_release(out);
	close_doc(&d);
	return ret;
}

void s3_xml_uploads_release(struct s3_xml_uploads *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->n; i++) {
		free(u->uploads[i].key);
		free(u->uploads[i].upload_id);
	}
	free(u->uploads);
	free(u->next_key_marker);
	free(u->next_upload_id_marker);
	memset(u, 0, sizeof(*u));
}

/* ---- builders --------------------------------------------------------- */

/*
 * Length of the valid UTF-8 sequence at @s that XML 1.0 allows as a
 * character, or 0. Rejects overlong forms, surrogates, values above
 * U+10FFFF, U+FFFE/U+FFFF and the C0 controls other than TAB, LF, CR.
 */
static size_t xml_char_len(const unsigned char *s)
{
	unsigned c = s[0];
	if (c < 0x80)
		return c >= 0x20 || c == 0x09 || c == 0x0a || c == 0x0d ? 1 : 0;

	size_t n;
	unsigned cp, min;
	if ((c & 0xe0) == 0xc0) {
		n = 2;
		cp = c & 0x1f;
		min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3;
		cp = c & 0x0f;
		min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4;
		cp = c & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe ||
	    cp == 0xffff)
		return 0;
	return n;
}

static bool is_xml_text(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		size_t n = xml_char_len(p);
		if (!n)
			return false;
		p += n;
	}
	return true;
}

int s3_xml_escape(const char *s, struct buf *out)
{
	if (!is_xml_text(s))
		return -EINVAL;

	int ret = 0;
	const char *run = s;
	for (const char *p = s; *p && !ret; p++) {
		const char *rep;
		switch (*p) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&apos;";
			break;
		/* Written raw, these would be normalised away by the parser. */
		case '\t':
			rep = "&#x9;";
			break;
		case '\n':
			rep = "&#xA;";
			break;
		case '\r':
			rep = "&#xD;";
			break;
		default:
			continue;
		}
		ret = buf_add(out, run, (size_t)(p - run));
		if (!ret)
			ret = buf_adds(out, rep);
		run = p + 1;
	}
	if (!ret)
		ret = buf_adds(out, run);
	return ret;
}

int s3_xml_build_complete_mpu(const struct store_part *parts, size_t n, struct buf *out)
{
	if (n == 0 || n > 10000)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (parts[i].number < 1 || parts[i].number > 10000 || !parts[i].etag[0] ||
		    !memchr(parts[i].etag, '\0', sizeof(parts[i].etag)) ||
		    !is_xml_text(parts[i].etag))
			return -EINVAL;
		if (i > 0 && parts[i].number <= parts[i - 1].number)
			return -EINVAL;
	}

	bool crcs = true;
	for (size_t i = 0; i < n; i++)
		crcs = crcs && parts[i].has_crc32c;

	int ret = buf_adds(out, "<CompleteMultipartUpload>");
	for (size_t i = 0; i < n && !ret; i++) {
		ret = buf_addf(out, "<Part><PartNumber>%d</PartNumber><ETag>", parts[i].number);
		if (!ret)
			ret = s3_xml_escape(parts[i].etag, out);
		if (!ret)
			ret = buf_adds(out, "</ETag>");
		if (!ret && crcs) {
			uint8_t be[4] = { (uint8_t)(parts[i].crc32c >> 24),
					  (uint8_t)(parts[i].crc32c >> 16),
					  (uint8_t)(parts[i].crc32c >> 8),
					  (uint8_t)parts[i].crc32c };
			char b64[9];
			crypto_base64(be, sizeof(be), b64);
			ret = buf_addf(out, "<ChecksumCRC32C>%s</ChecksumCRC32C>", b64);
		}
		if (!ret)
			ret = buf_adds(out, "</Part>");
	}
	if (!ret)
		ret = buf_adds(out, "</CompleteMultipartUpload>");
	return ret;
}

int s3_xml_build_delete(const char *const *keys, size_t n, bool quiet, struct buf *out)
{
	if (n == 0 || n > 1000)
		return -EINVAL;
	/* Check every key first so a bad one leaves @out untouched. */
	for (size_t i = 0; i < n; i++)
		if (!keys[i] || !keys[i][0] || strlen(keys[i]) > S3_XML_KEY_MAX ||
		    !is_xml_text(keys[i]))
			return -EINVAL;

	int ret = buf_adds(out, "<Delete>");
	if (!ret && quiet)
		ret = buf_adds(out, "<Quiet>true</Quiet>");
	for (size_t i = 0; i < n && !ret; i++) {
		ret = buf_adds(out, "<Object><Key>");
		if (!ret)
			ret = s3_xml_escape(keys[i], out);
		if (!ret)
			ret = buf_adds(out, "</Key></Object>");
	}
	if (!ret)
		ret = buf_adds(out, "</Delete>");
	return ret;
}

/* ---- GetBucketEncryption ---------------------------------------------- */

/* One <ApplyServerSideEncryptionByDefault> into @out. */
static int parse_sse_default(const struct doc *d, const xmlNode *n, struct store_enc *out)
{
	char alg[32] = "";
	unsigned seen = 0;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	for (const xmlNode *c = n->children; c && !ret; c = c->next) {
		if (is_el(c, d, "SSEAlgorithm")) {
			ret = once(&seen, 1);
			if (!ret)
				ret = leaf_copy(c, alg, sizeof(alg), false);
		} else if (is_el(c, d, "KMSMasterKeyID")) {
			ret = once(&seen, 2);
			if (!ret)
				ret = leaf_copy(c, out->kms_key_id, sizeof(out->kms_key_id), false);
		}
	}
	if (ret)
		return ret;
	if (strcmp(alg, "aws:kms") == 0 || strcmp(alg, "aws:kms:dsse") == 0)
		out->mode = STORE_SSE_KMS;
	else if (strcmp(alg, "AES256") == 0 && !out->kms_key_id[0])
		out->mode = STORE_SSE_S3;
	else
		return -EIO;
	return 0;
}

int s3_xml_parse_bucket_encryption(const char *body, size_t len, struct store_enc *out)
{
	struct doc d;
	bool have = false;

	memset(out, 0, sizeof(*out));
	out->mode = STORE_SSE_NONE;
	int ret = open_result(body, len, "ServerSideEncryptionConfiguration", NULL, &d, NULL);
	if (ret)
		return ret;
	for (const xmlNode *r = d.root->children; r && !ret; r = r->next) {
		if (!is_el(r, &d, "Rule"))
			continue;
		for (const xmlNode *c = r->children; c && !ret; c = c->next) {
			struct store_enc e;
			if (!is_el(c, &d, "ApplyServerSideEncryptionByDefault"))
				continue;
			ret = parse_sse_default(&d, c, &e);
			if (ret)
				break;
			if (have && (e.mode != out->mode || strcmp(e.kms_key_id, out->kms_key_id)))
				ret = -EIO;
			*out = e;
			have = true;
		}
	}
	if (!ret && !have)
		ret = -EIO;
	if (ret) {
		memset(out, 0, sizeof(*out));
		out->mode = STORE_SSE_NONE;
	}
	close_doc(&d);
	return ret;
}
