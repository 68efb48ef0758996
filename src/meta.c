/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Object metadata to struct stat and back, in the x-amz-meta-* format of
 * s3fs-fuse so that both can share a bucket; extended attributes in the
 * single x-amz-meta-xattr header. No I/O: the callers fetch and store.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "crypto.h"
#include "meta.h"
#include "util/buf.h"

#define XATTR_HDR_MAX (64 * 1024)

/* Decimal (unsigned) number filling the whole string, at most @max. */
static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *s - '0', &v))
			return false;
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

int meta_parse_time(const char *s, struct timespec *out)
{
	bool neg = false;
	uint64_t sec = 0;
	long nsec = 0;
	const char *dot;
	char whole[24];
	size_t n;

	if (!s)
		return -EINVAL;
	if (*s == '-') {
		neg = true;
		s++;
	}
	dot = strchr(s, '.');
	n = dot ? (size_t)(dot - s) : strlen(s);
	if (n == 0 || n >= sizeof(whole))
		return -EINVAL;
	memcpy(whole, s, n);
	whole[n] = '\0';
	if (!parse_u64(whole, INT64_MAX, &sec))
		return -EINVAL;
	if (dot) {
		const char *f = dot + 1;
		int digits = 0;
		if (!*f)
			return -EINVAL;
		for (; *f; f++) {
			if (*f < '0' || *f > '9')
				return -EINVAL;
			/* Digits past nanoseconds are truncated. */
			if (digits < 9) {
				nsec = nsec * 10 + (*f - '0');
				digits++;
			}
		}
		for (; digits < 9; digits++)
			nsec *= 10;
	}
	if (neg) {
		out->tv_sec = -(time_t)sec;
		out->tv_nsec = 0;
		if (nsec) {
			out->tv_sec--;
			out->tv_nsec = 1000000000L - nsec;
		}
	} else {
		out->tv_sec = (time_t)sec;
		out->tv_nsec = nsec;
	}
	return 0;
}

void meta_format_time(const struct timespec *ts, char out[32])
{
	/* Whole seconds stay plain decimals, which every s3fs version reads. */
	if (ts->tv_nsec == 0)
		snprintf(out, 32, "%lld", (long long)ts->tv_sec);
	else
		snprintf(out, 32, "%lld.%09ld", (long long)ts->tv_sec, ts->tv_nsec);
}

static bool is_dir_key(const char *key)
{
	size_t n = key ? strlen(key) : 0;
	return n > 0 && key[n - 1] == '/';
}

static void fill_common(const struct meta_cfg *mc, struct stat *st)
{
	if (mc->has_umask)
		st->st_mode &= ~(mc->umask & 07777);
	st->st_nlink = S_ISDIR(st->st_mode) ? 2 : 1;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((st->st_size + 511) / 512);
}

static void get_time(const struct store_meta *m, const char *name, const struct timespec *def,
		     struct timespec *out)
{
	const char *v = store_meta_get(m, name);

	if (!v || meta_parse_time(v, out) != 0)
		*out = *def;
}

void meta_to_stat(const struct meta_cfg *mc, const char *key, const struct store_info *info,
		  struct stat *st)
{
	const struct store_meta *m = &info->meta;
	uint64_t v;
	mode_t mode = 0;
	bool has_mode = parse_u64(store_meta_get(m, META_MODE), 0177777, &v);
	bool dir = is_dir_key(key) ||
		   (m->content_type && strncmp(m->content_type, META_DIR_CONTENT_TYPE,
					       strlen(META_DIR_CONTENT_TYPE)) == 0);
	struct timespec lm = { .tv_sec = info->last_modified }, mt;

	memset(st, 0, sizeof(*st));
	if (has_mode)
		mode = (mode_t)v;
	if ((mode & S_IFMT) && !meta_is_known_type(mode))
		mode &= 07777; /* hostile or broken: a plain file */
	if (is_dir_key(key))
		mode = (mode & 07777) | S_IFDIR;
	else if (!(mode & S_IFMT))
		mode |= dir ? S_IFDIR : S_IFREG;
	if (!has_mode)
		mode |= S_ISDIR(mode) ? 0755 : 0644;
	st->st_mode = mode;

	st->st_uid = mc->uid;
	if (!mc->force_uid && parse_u64(store_meta_get(m, META_UID), UINT32_MAX - 1, &v))
		st->st_uid = (uid_t)v;
	st->st_gid = mc->gid;
	if (!mc->force_gid && parse_u64(store_meta_get(m, META_GID), UINT32_MAX - 1, &v))
		st->st_gid = (gid_t)v;

	if ((S_ISCHR(mode) || S_ISBLK(mode)) &&
	    parse_u64(store_meta_get(m, META_RDEV), UINT64_MAX, &v))
		st->st_rdev = (dev_t)v;
	get_time(m, META_MTIME, &lm, &mt);
	st->st_mtim = mt;
	get_time(m, META_CTIME, &mt, &st->st_ctim);
	get_time(m, META_ATIME, &mt, &st->st_atim);
	st->st_size = info->size > INT64_MAX ? INT64_MAX : (off_t)info->size;
	fill_common(mc, st);
}

void meta_entry_to_stat(const struct meta_cfg *mc, const struct store_entry *e, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = is_dir_key(e->key) ? S_IFDIR | 0755 : S_IFREG | 0644;
	st->st_uid = mc->uid;
	st->st_gid = mc->gid;
	st->st_mtim.tv_sec = e->last_modified;
	st->st_ctim = st->st_mtim;
	st->st_atim = st->st_mtim;
	st->st_size = e->size > INT64_MAX ? INT64_MAX : (off_t)e->size;
	fill_common(mc, st);
}

void meta_dir_stat(const struct meta_cfg *mc, time_t mtime, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFDIR | 0755;
	st->st_uid = mc->uid;
	st->st_gid = mc->gid;
	st->st_mtim.tv_sec = mtime;
	st->st_ctim = st->st_mtim;
	st->st_atim = st->st_mtim;
	fill_common(mc, st);
}

int meta_set_mode(struct store_meta *m, mode_t mode)
{
	char v[16];

	/* Decimal, type bits included: s3fs's format. */
	snprintf(v, sizeof(v), "%u", (unsigned)mode);
	return store_meta_set(m, META_MODE, v);
}

bool meta_is_known_type(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFDIR:
	case S_IFLNK:
	case S_IFIFO:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFSOCK:
		return true;
	default:
		return false;
	}
}

int meta_set_rdev(struct store_meta *m, dev_t rdev)
{
	char v[24];

	snprintf(v, sizeof(v), "%" PRIu64, (uint64_t)rdev);
	return store_meta_set(m, META_RDEV, v);
}

int meta_set_owner(struct store_meta *m, uid_t uid, gid_t gid)
{
	char v[16];
	int r = 0;

	if (uid != (uid_t)-1) {
		snprintf(v, sizeof(v), "%u", (unsigned)uid);
		r = store_meta_set(m, META_UID, v);
	}
	if (r == 0 && gid != (gid_t)-1) {
		snprintf(v, sizeof(v), "%u", (unsigned)gid);
		r = store_meta_set(m, META_GID, v);
	}
	return r;
}

int meta_set_time(struct store_meta *m, const char *name, const struct timespec *ts)
{
	char v[32];

	meta_format_time(ts, v);
	return store_meta_set(m, name, v);
}

int meta_init(struct store_meta *m, mode_t mode, uid_t uid, gid_t gid, const struct timespec *now)
{
	int r = meta_set_mode(m, mode);

	if (r == 0)
		r = meta_set_owner(m, uid, gid);
	if (r == 0)
		r = meta_set_time(m, META_MTIME, now);
	if (r == 0)
		r = meta_set_time(m, META_CTIME, now);
	if (r == 0)
		r = meta_set_time(m, META_ATIME, now);
	if (r == 0 && S_ISDIR(mode) && !m->content_type) {
		m->content_type = strdup(META_DIR_CONTENT_TYPE);
		if (!m->content_type)
			r = -ENOMEM;
	}
	return r;
}

void meta_remove(struct store_meta *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++) {
		if (strcmp(m->kv[i].name, name) != 0)
			continue;
		free(m->kv[i].name);
		free(m->kv[i].value);
		memmove(&m->kv[i], &m->kv[i + 1], (m->n - i - 1) * sizeof(m->kv[0]));
		m->n--;
		return;
	}
}

/* ---- extended attributes -------------------------------------------- */

struct xattr {
	char *name;
	uint8_t *value;
	size_t len;
};

struct xattrs {
	struct xattr *v;
	size_t n;
};

static void xattrs_release(struct xattrs *x)
{
	for (size_t i = 0; i < x->n; i++) {
		free(x->v[i].name);
		free(x->v[i].value);
	}
	free(x->v);
	x->v = NULL;
	x->n = 0;
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

static int percent_decode(const char *s, struct buf *out)
{
	int r = 0;

	for (; *s && r == 0; s++) {
		char c = *s;
		if (c == '%') {
			int hi = hexval(s[1]), lo = hi < 0 ? -1 : hexval(s[2]);
			if (hi < 0 || lo < 0)
				return -EIO;
			c = (char)(hi << 4 | lo);
			s += 2;
		}
		r = buf_add(out, &c, 1);
	}
	return r;
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* A JSON string at *pp (at its opening quote) into @out; simple escapes only. */
static int json_string(const char **pp, struct buf *out)
{
	const char *p = *pp;
	int r = 0;

	if (*p != '"')
		return -EIO;
	for (p++; *p != '"'; p++) {
		char c = *p;
		if (!c)
			return -EIO;
		if (c == '\\') {
			p++;
			switch (*p) {
			case '"':
			case '\\':
			case '/':
				c = *p;
				break;
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			default:
				return -EIO;
			}
		}
		r = buf_add(out, &c, 1);
		if (r)
			return r;
	}
	*pp = p + 1;
	return 0;
}

static int xattrs_add(struct xattrs *x, char *name, uint8_t *value, size_t len)
{
	struct xattr *v = realloc(x->v, (x->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	x->v = v;
	v[x->n].name = name;
	v[x->n].value = value;
	v[x->n].len = len;
	x->n++;
	return 0;
}

static int parse_pair(const char **pp, struct xattrs *x)
{
	struct buf name, b64;
	uint8_t *val = NULL;
	size_t vlen = 0;
	int r;

	buf_init(&name, 1024);
	buf_init(&b64, XATTR_HDR_MAX);
	r = json_string(pp, &name);
	if (r)
		goto out;
	*pp = skip_ws(*pp);
	if (**pp != ':') {
		r = -EIO;
		goto out;
	}
	*pp = skip_ws(*pp + 1);
	r = json_string(pp, &b64);
	if (r)
		goto out;
	val = malloc(b64.len / 4 * 3 + 3);
	if (!val) {
		r = -ENOMEM;
		goto out;
	}
	if (crypto_unbase64(buf_str(&b64), val, b64.len / 4 * 3 + 3, &vlen) != 0) {
		r = -EIO;
		goto out;
	}
	char *n = buf_detach(&name, NULL);
	if (!n) {
		r = -ENOMEM;
		goto out;
	}
	r = xattrs_add(x, n, val, vlen);
	if (r)
		free(n);
	else
		val = NULL;
out:
	free(val);
	buf_release(&name);
	buf_release(&b64);
	return r == -E2BIG ? -EIO : r;
}

static int xattrs_parse(const struct store_meta *m, struct xattrs *x)
{
	const char *hdr = store_meta_get(m, META_XATTR);
	struct buf text;
	const char *p;
	int r;

	x->v = NULL;
	x->n = 0;
	if (!hdr || !*hdr)
		return 0;
	buf_init(&text, XATTR_HDR_MAX);
	r = percent_decode(hdr, &text);
	if (r)
		goto out;
	p = skip_ws(buf_str(&text));
	if (*p++ != '{') {
		r = -EIO;
		goto out;
	}
	p = skip_ws(p);
	while (*p != '}') {
		r = parse_pair(&p, x);
		if (r)
			goto out;
		p = skip_ws(p);
		if (*p == ',')
			p = skip_ws(p + 1);
		else if (*p != '}') {
			r = -EIO;
			goto out;
		}
	}
	if (*skip_ws(p + 1))
		r = -EIO;
out:
	buf_release(&text);
	if (r)
		xattrs_release(x);
	return r == -E2BIG ? -EIO : r;
}

static int json_add_string(struct buf *b, const char *s, size_t n)
{
	int r = buf_adds(b, "\"");

	for (size_t i = 0; i < n && r == 0; i++) {
		if (s[i] == '"' || s[i] == '\\')
			r = buf_add(b, "\\", 1);
		if (r == 0)
			r = buf_add(b, &s[i], 1);
	}
	return r ? r : buf_adds(b, "\"");
}

static int xattrs_store(const struct xattrs *x, struct store_meta *m)
{
	struct buf json, enc;
	int r = 0;

	if (x->n == 0) {
		meta_remove(m, META_XATTR);
		return 0;
	}
	buf_init(&json, XATTR_HDR_MAX);
	buf_init(&enc, 3 * XATTR_HDR_MAX);
	r = buf_adds(&json, "{");
	for (size_t i = 0; i < x->n && r == 0; i++) {
		size_t cap = (x->v[i].len + 2) / 3 * 4 + 1;
		char *b64 = malloc(cap);
		if (!b64) {
			r = -ENOMEM;
			break;
		}
		size_t bl = crypto_base64(x->v[i].value, x->v[i].len, b64);
		if (i)
			r = buf_adds(&json, ",");
		if (r == 0)
			r = json_add_string(&json, x->v[i].name, strlen(x->v[i].name));
		if (r == 0)
			r = buf_adds(&json, ":");
		if (r == 0)
			r = json_add_string(&json, b64, bl);
		free(b64);
	}
	if (r == 0)
		r = buf_adds(&json, "}");
	/* Header values must be plain ASCII: percent-encode all but unreserved. */
	for (size_t i = 0; i < json.len && r == 0; i++) {
		unsigned char c = (unsigned char)json.data[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~')
			r = buf_add(&enc, &c, 1);
		else
			r = buf_addf(&enc, "%%%02X", c);
	}
	if (r == 0)
		r = store_meta_set(m, META_XATTR, buf_str(&enc));
	buf_release(&json);
	buf_release(&enc);
	return r;
}

static struct xattr *xattrs_find(const struct xattrs *x, const char *name)
{
	for (size_t i = 0; i < x->n; i++) {
		if (strcmp(x->v[i].name, name) == 0)
			return &x->v[i];
	}
	return NULL;
}

int meta_xattr_get(const struct store_meta *m, const char *name, void *value, size_t size,
		   size_t *len)
{
	struct xattrs x;
	struct xattr *a;
	int r = xattrs_parse(m, &x);

	if (r)
		return r;
	a = xattrs_find(&x, name);
	if (!a) {
		r = -ENODATA;
	} else {
		*len = a->len;
		if (size && size < a->len)
			r = -ERANGE;
		else if (size && a->len)
			memcpy(value, a->value, a->len);
	}
	xattrs_release(&x);
	return r;
}

int meta_xattr_set(struct store_meta *m, const char *name, const void *value, size_t size,
		   int flags)
{
	struct xattrs x;
	struct xattr *a;
	uint8_t *copy;
	int r;

	if (size > META_XATTR_VALUE_MAX)
		return -E2BIG;
	r = xattrs_parse(m, &x);
	if (r)
		return r;
	a = xattrs_find(&x, name);
	if (a && (flags & XATTR_CREATE)) {
		r = -EEXIST;
		goto out;
	}
	if (!a && (flags & XATTR_REPLACE)) {
		r = -ENODATA;
		goto out;
	}
	copy = malloc(size ? size : 1);
	if (!copy) {
		r = -ENOMEM;
		goto out;
	}
	if (size)
		memcpy(copy, value, size);
	if (a) {
		free(a->value);
		a->value = copy;
		a->len = size;
	} else {
		char *n = strdup(name);
		r = n ? xattrs_add(&x, n, copy, size) : -ENOMEM;
		if (r) {
			free(n);
			free(copy);
			goto out;
		}
	}
	r = xattrs_store(&x, m);
out:
	xattrs_release(&x);
	return r;
}

int meta_xattr_remove(struct store_meta *m, const char *name)
{
	struct xattrs x;
	struct xattr *a;
	int r = xattrs_parse(m, &x);

	if (r)
		return r;
	a = xattrs_find(&x, name);
	if (!a) {
		r = -ENODATA;
	} else {
		free(a->name);
		free(a->value);
		*a = x.v[x.n - 1];
		x.n--;
		r = xattrs_store(&x, m);
	}
	xattrs_release(&x);
	return r;
}

int meta_xattr_list(const struct store_meta *m, char *list, size_t size, size_t *len)
{
	struct xattrs x;
	size_t total = 0;
	int r = xattrs_parse(m, &x);

	if (r)
		return r;
	for (size_t i = 0; i < x.n; i++)
		total += strlen(x.v[i].name) + 1;
	*len = total;
	if (size && size < total) {
		r = -ERANGE;
	} else if (size) {
		size_t off = 0;
		for (size_t i = 0; i < x.n; i++) {
			size_t n = strlen(x.v[i].name) + 1;
			memcpy(list + off, x.v[i].name, n);
			off += n;
		}
	}
	xattrs_release(&x);
	return r;
}
