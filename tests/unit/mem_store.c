/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * In-memory store for unit tests: a sorted object array and a list of open
 * multipart uploads under one mutex, with counters and fault injection.
 * It imposes no part-size minimum. Encryption is modelled as a server
 * does it: each object keeps the encryption it was written with, and a
 * read or copy source must present its SSE-C key (and none for an object
 * without one), else it fails. Conditions on an ETag (If-Match, the copy
 * source's) fail with -ESTALE as a 412 would; a PUT under SSE-C or
 * SSE-KMS gets an ETag that is not the MD5 of its data, as on AWS.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "mem_store.h"
#include "util/crc32c.h"

struct mobj {
	char *key;
	unsigned char *data;
	size_t len;
	char etag[STORE_ETAG_MAX];
	time_t mtime;
	struct store_meta meta;
	struct store_enc enc;
	bool has_crc; /* a whole-object CRC-32C is stored, as S3 checksums are */
	uint32_t crc;
};

struct mpart {
	unsigned char *data;
	size_t len;
	char etag[STORE_ETAG_MAX];
	bool set;
};

struct mupload {
	struct mupload *next;
	char *id;
	char *key;
	struct store_meta meta;
	struct store_enc enc;
	struct mpart *parts; /* index number - 1 */
	size_t n_parts;
};

struct fault {
	unsigned long from; /* first failing call number (1-based, absolute) */
	unsigned long to;   /* last failing call number; ULONG_MAX: forever */
	int err;
	bool armed;
};

struct mem {
	pthread_mutex_t lock;
	struct mobj *objs; /* sorted by key */
	size_t n_objs, cap_objs;
	struct mupload *uploads;
	unsigned long next_id;
	struct store_enc wenc; /* what writes get (the mount's encryption) */
	unsigned long calls[MEM_OP_COUNT];
	unsigned active[MEM_OP_COUNT];
	unsigned peak[MEM_OP_COUNT];
	unsigned delay[MEM_OP_COUNT];
	struct fault fault[MEM_OP_COUNT];
	struct fault late[MEM_OP_COUNT]; /* performed, then reported as failed */
	/* mem_store_hold_pieces(): armed, the GET held, where it starts */
	pthread_cond_t cond;
	bool hold, held;
	uint64_t held_off, held_len;
};

static struct mem *M(struct store *s)
{
	return s->priv;
}

/* Count the call, apply latency and faults. Returns 0 or the injected error. */
static int enter(struct store *s, enum mem_op op)
{
	struct mem *m = M(s);
	int err = 0;
	unsigned delay;

	pthread_mutex_lock(&m->lock);
	unsigned long n = ++m->calls[op];
	if (++m->active[op] > m->peak[op])
		m->peak[op] = m->active[op];
	delay = m->delay[op];
	if (m->fault[op].armed && n >= m->fault[op].from && n <= m->fault[op].to)
		err = m->fault[op].err;
	pthread_mutex_unlock(&m->lock);
	if (delay)
		usleep(delay);
	return err;
}

/* The error of a lost reply for the call of @op in progress, or 0. */
static int late_fault(struct store *s, enum mem_op op)
{
	struct mem *m = M(s);
	int err = 0;

	pthread_mutex_lock(&m->lock);
	unsigned long n = m->calls[op];
	if (m->late[op].armed && n >= m->late[op].from && n <= m->late[op].to)
		err = m->late[op].err;
	pthread_mutex_unlock(&m->lock);
	return err;
}

static void leave(struct store *s, enum mem_op op)
{
	struct mem *m = M(s);

	pthread_mutex_lock(&m->lock);
	m->active[op]--;
	pthread_mutex_unlock(&m->lock);
}

static void md5_etag(const void *data, size_t len, char *out)
{
	uint8_t d[CRYPTO_MD5_LEN];
	char hex[2 * CRYPTO_MD5_LEN + 1];

	crypto_md5(data, len, d);
	crypto_hex(d, sizeof(d), hex);
	snprintf(out, STORE_ETAG_MAX, "\"%s\"", hex);
}

/* Does an object of ETag @etag meet the condition @if_match (NULL, "": none)? */
static int etag_fits(const char *etag, const char *if_match)
{
	return !if_match || !*if_match || strcmp(etag, if_match) == 0 ? 0 : -ESTALE;
}

/* Index of @key, or where it would be inserted (*found false). Lock held. */
static size_t find(struct mem *m, const char *key, bool *found)
{
	size_t lo = 0, hi = m->n_objs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(m->objs[mid].key, key);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static void obj_release(struct mobj *o)
{
	free(o->key);
	free(o->data);
	store_meta_release(&o->meta);
}

/* The encryption a write with @floor gets (store.h write_enc). Lock held. */
static struct store_enc wenc_for(struct mem *m, const struct store_enc *floor)
{
	if (m->wenc.mode == STORE_SSE_C || m->wenc.mode == STORE_SSE_KMS ||
	    m->wenc.mode == STORE_SSE_S3)
		return m->wenc;
	if (floor && (floor->mode == STORE_SSE_KMS || floor->mode == STORE_SSE_S3))
		return *floor;
	return (struct store_enc){ .mode = STORE_SSE_NONE };
}

/*
 * Does presenting @p open an object encrypted as @obj? An SSE-C object
 * wants its own key; an object without SSE-C wants none (as AWS answers
 * 400 to a key for a plain object). Unknown or NULL: the client presents
 * the mount's current key where it has one, which fits a plain object
 * too. 0 or -EACCES. Lock held.
 */
static int key_fits(struct mem *m, const struct store_enc *obj, const struct store_enc *p)
{
	bool obj_c = obj->mode == STORE_SSE_C;

	if (!p || p->mode == STORE_SSE_UNKNOWN) {
		if (!obj_c)
			return 0;
		p = &m->wenc;
	}
	if ((p->mode == STORE_SSE_C) != obj_c)
		return -EACCES;
	return !obj_c || strcmp(p->key_md5, obj->key_md5) == 0 ? 0 : -EACCES;
}

/*
 * Store an object; takes ownership of @data (also on failure). Lock held.
 * @etag: the ETag to record, or NULL to compute the MD5 one. @enc: how it
 * is encrypted (NULL: not at all). @crc: store the body's CRC-32C (as a
 * server does for a write that sent one), else none (other tools' objects).
 */
static int install(struct mem *m, const char *key, unsigned char *data, size_t len,
		   const struct store_meta *meta, const char *etag, const struct store_enc *enc,
		   bool crc)
{
	struct mobj o = { 0 };
	bool found;
	size_t i;

	o.has_crc = crc;
	o.crc = crc ? crc32c(0, data, len) : 0;
	o.enc = enc ? *enc : (struct store_enc){ .mode = STORE_SSE_NONE };
	o.key = strdup(key);
	o.data = data;
	o.len = len;
	o.mtime = time(NULL);
	if (!o.key || store_meta_copy(&o.meta, meta) < 0)
		goto nomem;
	if (etag) {
		snprintf(o.etag, sizeof(o.etag), "%s", etag);
	} else {
		md5_etag(data, len, o.etag);
		/* encrypted: an opaque ETag (still one per content) */
		if (o.enc.mode == STORE_SSE_C || o.enc.mode == STORE_SSE_KMS)
			o.etag[1] = o.etag[1] == 'e' ? 'f' : 'e';
	}
	i = find(m, key, &found);
	if (found) {
		obj_release(&m->objs[i]);
		m->objs[i] = o;
		return 0;
	}
	if (m->n_objs == m->cap_objs) {
		size_t cap = m->cap_objs ? 2 * m->cap_objs : 16;
		struct mobj *n = realloc(m->objs, cap * sizeof(*n));
		if (!n)
			goto nomem;
		m->objs = n;
		m->cap_objs = cap;
	}
	memmove(&m->objs[i + 1], &m->objs[i], (m->n_objs - i) * sizeof(*m->objs));
	m->objs[i] = o;
	m->n_objs++;
	return 0;
nomem:
	obj_release(&o);
	return -ENOMEM;
}

static unsigned char *dup_bytes(const void *p, size_t len)
{
	unsigned char *d = malloc(len ? len : 1);

	if (d && len)
		memcpy(d, p, len);
	return d;
}

static int m_head(struct store *s, const char *key, struct store_info *out)
{
	struct mem *m = M(s);
	int err = enter(s, MEM_OP_HEAD);
	bool found;

	if (err)
		goto out;
	pthread_mutex_lock(&m->lock);
	size_t i = find(m, key, &found);
	if (!found) {
		err = -ENOENT;
	} else {
		memset(out, 0, sizeof(*out));
		out->size = m->objs[i].len;
		out->last_modified = m->objs[i].mtime;
		memcpy(out->etag, m->objs[i].etag, sizeof(out->etag));
		out->enc = m->objs[i].enc;
		out->has_crc32c = m->objs[i].has_crc;
		out->crc32c = m->objs[i].crc;
		err = store_meta_copy(&out->meta, &m->objs[i].meta);
	}
	pthread_mutex_unlock(&m->lock);
out:
	leave(s, MEM_OP_HEAD);
	return err;
}

/* mem_store_hold_pieces(): wait here while armed (the first GET only). */
static void hold_here(struct mem *m, uint64_t off, uint64_t len)
{
	pthread_mutex_lock(&m->lock);
	if (m->hold && !m->held) {
		m->held = true;
		m->held_off = off;
		m->held_len = len;
		pthread_cond_broadcast(&m->cond);
		while (m->hold)
			pthread_cond_wait(&m->cond, &m->lock);
	}
	pthread_mutex_unlock(&m->lock);
}

/* One GET of [off, off + total of @iov) into its pieces. */
static int m_get_range_v(struct store *s, const char *key, uint64_t off,
			 const struct store_iov *iov, size_t n_iov, store_piece_fn piece,
			 void *piece_ctx, size_t *got, const struct store_enc *enc,
			 const char *if_match)
{
	struct mem *m = M(s);
	int err = enter(s, MEM_OP_GET_RANGE);
	size_t full = 0; /* pieces filled, told after the lock is dropped */
	bool found;

	if (err)
		goto out;
	pthread_mutex_lock(&m->lock);
	size_t i = find(m, key, &found);
	if (!found) {
		err = -ENOENT;
	} else if ((err = key_fits(m, &m->objs[i].enc, enc)) != 0) {
		/* a wrong SSE-C key is a 400 (RGW) or 403 (AWS) */
	} else if ((err = etag_fits(m->objs[i].etag, if_match)) != 0) {
		/* 412 PreconditionFailed */
	} else if (off >= m->objs[i].len) {
		/* S3 answers 416 InvalidRange; the S3 layer maps that to EOF */
		*got = 0;
	} else {
		*got = 0;
		for (size_t k = 0; k < n_iov && off < m->objs[i].len; k++) {
			size_t n = m->objs[i].len - off;
			if (n > iov[k].len)
				n = iov[k].len;
			memcpy(iov[k].base, m->objs[i].data + off, n);
			*got += n;
			off += n;
			full += n == iov[k].len;
		}
	}
	pthread_mutex_unlock(&m->lock);
	int late = err ? 0 : late_fault(s, MEM_OP_GET_RANGE);
	if (late) {
		/* the reply was cut after its first piece (of several): the rest is garbage */
		full = n_iov > 1 && full ? 1 : 0;
		for (size_t k = full; k < n_iov; k++)
			memset(iov[k].base, 0xee, iov[k].len);
	}
	for (size_t k = 0; !err && piece && if_match && *if_match && k < full; k++) {
		piece(piece_ctx, k);
		if (k == 0 && full > 1)
			hold_here(m, off - *got, iov[0].len);
	}
	if (late)
		err = late;
out:
	leave(s, MEM_OP_GET_RANGE);
	return err;
}

static int m_get_range(struct store *s, const char *key, uint64_t off, size_t len, void *buf,
		       size_t *got, const struct store_enc *enc, const char *if_match)
{
	const struct store_iov one = { buf, len };
	return m_get_range_v(s, key, off, &one, 1, NULL, NULL, got, enc, if_match);
}

static int m_put(struct store *s, const char *key, const void *data, size_t len,
		 const struct store_meta *meta, const struct store_enc *floor,
		 char etag[STORE_ETAG_MAX])
{
	struct mem *m = M(s);
	int err = enter(s, MEM_OP_PUT);

	if (err)
		goto out;
	unsigned char *d = dup_bytes(data, len);
	if (!d) {
		err = -ENOMEM;
		goto out;
	}
	pthread_mutex_lock(&m->lock);
	struct store_enc enc = wenc_for(m, floor);
	err = install(m, key, d, len, meta, NULL, &enc, true);
	if (!err && etag) {
		bool found;
		snprintf(etag, STORE_ETAG_MAX, "%s", m->objs[find(m, key, &found)].etag);
	}
	pthread_mutex_unlock(&m->lock);
out:
	leave(s, MEM_OP_PUT);
	return err;
}

static int m_mpu_begin(struct store *s, const char *key, const struct store_meta *meta,
		       const struct store_enc *floor, char **upload_id)
{
	struct mem *m = M(s);
	int err = enter(s, MEM_OP_MPU_BEGIN);
	struct mupload *u = NULL;
	char id[32];

	if (err)
		goto out;
	err = -ENOMEM;
	u = calloc(1, sizeof(*u));
	if (!u)
		goto out;
	u->key = strdup(key);
	if (!u->key || store_meta_copy(&u->meta, meta) < 0)
		goto out;
	pthread_mutex_lock(&m->lock);
	snprintf(id, sizeof(id), "upload-%lu", ++m->next_id);
	u->enc = wenc_for(m, floor);
	pthread_mutex_unlock(&m->lock);
	u->id = strdup(id);
	*upload_id = strdup(id);
	if (!u->id || !*upload_id) {
		free(*upload_id);
		*upload_id = NULL;
		goto out;
	}
	pthread_mutex_lock(&m->lock);
	u->next = m->uploads;
	m->uploads = u;
	pthread_mutex_unlock(&m->lock);
	u = NULL;
	err = 0;
out:
	if (u) {
		free(u->key);
		free(u->id);
		store_meta_release(&u->meta);
		free(u);
	}
	leave(s, MEM_OP_MPU_BEGIN);
	return err;
}

/* The upload @id for @key, or NULL. Lock held. */
static struct mupload *upload_find(struct mem *m, const char *key, const char *id,
				   struct mupload ***link)
{
	struct mupload **pp;

	for (pp = &m->uploads; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->id, id) == 0 && strcmp((*pp)->key, key) == 0) {
			if (link)
				*link = pp;
			return *pp;
		}
	}
	return NULL;
}

static void upload_free(struct mupload *u)
{
	for (size_t i = 0; i < u->n_parts; i++)
		free(u->parts[i].data);
	free(u->parts);
	free(u->key);
	free(u->id);
	store_meta_release(&u->meta);
	free(u);
}

/* Record part @number of upload @id; takes ownership of @d. Lock held. */
static int part_store(struct mem *m, const char *key, const char *id, int number, unsigned char *d,
		      size_t len, struct store_part *out)
{
	struct mupload *u = upload_find(m, key, id, NULL);

	if (!u) {
		free(d);
		return -ENOENT;
	}
	if (number < 1 || number > 10000) {
		free(d);
		return -EINVAL;
	}
	if ((size_t)number > u->n_parts) {
		struct mpart *p = realloc(u->parts, (size_t)number * sizeof(*p));
		if (!p) {
			free(d);
			return -ENOMEM;
		}
		memset(&p[u->n_parts], 0, ((size_t)number - u->n_parts) * sizeof(*p));
		u->parts = p;
		u->n_parts = (size_t)number;
	}
	struct mpart *p = &u->parts[number - 1];
	free(p->data);
	p->data = d;
	p->len = len;
	p->set = true;
	md5_etag(d, len, p->etag);
	out->number = number;
	memcpy(out->etag, p->etag, sizeof(out->etag));
	out->len = len;
	out->has_crc32c = true;
	out->crc32c = crc32c(0, d, len);
	return 0;
}

static int m_mpu_part(struct store *s, const char *key, const char *upload_id, int number,
		      const void *data, size_t len, const struct store_enc *floor,
		      struct store_part *out)
{
	(void)floor;
	struct mem *m = M(s);
	int err = enter(s, MEM_OP_MPU_PART);

	if (err)
		goto out;
	unsigned char *d = dup_bytes(data, len);
	if (!d) {
		err = -ENOMEM;
		goto out;
	}
	pthread_mutex_lock(&m->lock);
	err = part_store(m, key, upload_id, number, d, len, out);
	pthread_mutex_unlock(&m->lock);
out:
	leave(s, MEM_OP_MPU_PART);
	return err;
}

static int m_mpu_part_copy(struct store *s, const char *key, const char *upload_id, int number,
			   const char *src, uint64_t off, uint64_t len,
			   const struct store_enc *src_enc, const char *src_if_match,
			   struct store_part *out)
{
	struct mem *m = M(s);
	int err = enter(s, MEM_OP_MPU_PART_COPY);
	bool found;

	if (err)
		goto out;
	pthread_mutex_lock(&m->lock);
	size_t i = find(m, src, &found);
	if (!found) {
		err = -ENOENT;
	} else if ((err = key_fits(m, &m->objs[i].enc, src_enc)) != 0) {
		/* the copy source's key is wrong */
	} else if ((err = etag_fits(m->objs[i].etag, src_if_match)) != 0) {
		/* 412 PreconditionFailed */
	} else if (off > m->objs[i].len || len > m->objs[i].len - off) {
		err = -EINVAL; /* InvalidRange */
	} else {
		unsigned char *d = dup_bytes(m->objs[i].data + off, (size_t)len);
		err = d ? part_store(m, key, upload_id, number, d, (size_t)len, out) : -ENOMEM;
	}
	pthread_mutex_unlock(&m->lock);
out:
	leave(s, MEM_OP_MPU_PART_COPY);
	return err;
}

/* Check the part list and join the parts into one body. Lock held. */
static int assemble(struct mupload *u, const struct store_part *parts, size_t n,
		    unsigned char **body, size_t *len, char *etag)
{
	struct crypto_digest *d = NULL;
	size_t total = 0, pos = 0;
	uint8_t md[CRYPTO_MD5_LEN];
	char hex[2 * CRYPTO_MD5_LEN + 1];

	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int nr = parts[i].number;
		if (nr < 1 || (size_t)nr > u->n_parts || !u->parts[nr - 1].set)
			return -EINVAL; /* InvalidPart */
		if (i > 0 && nr <= parts[i - 1].number)
			return -EINVAL; /* InvalidPartOrder */
		if (strcmp(parts[i].etag, u->parts[nr - 1].etag) != 0)
			return -EINVAL;
		total += u->parts[nr - 1].len;
	}
	*body = malloc(total ? total : 1);
	d = crypto_md5_new();
	if (!*body || !d) {
		free(*body);
		crypto_digest_free(d);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct mpart *p = &u->parts[parts[i].number - 1];
		memcpy(*body + pos, p->data, p->len);
		pos += p->len;
		crypto_md5(p->data, p->len, md);
		crypto_digest_update(d, md, sizeof(md));
	}
	crypto_digest_final(d, md);
	crypto_digest_free(d);
	crypto_hex(md, sizeof(md), hex);
	snprintf(etag, STORE_ETAG_MAX, "\"%s-%zu\"", hex, n);
	*len = total;
	return 0;
}

static int m_mpu_complete(struct store *s, const char *key, const char *upload_id,
			  const struct store_part *parts, size_t n, const struct store_enc *floor,
			  char out_etag[STORE_ETAG_MAX])
{
	(void)floor;
	struct mem *m = M(s);
	int err = enter(s, MEM_OP_MPU_COMPLETE);
	struct mupload *u, **link = NULL;
	unsigned char *body = NULL;
	char etag[STORE_ETAG_MAX];
	size_t len = 0;

	if (err)
		goto out;
	pthread_mutex_lock(&m->lock);
	u = upload_find(m, key, upload_id, &link);
	if (!u) {
		err = -ENOENT;
		goto unlock;
	}
	err = assemble(u, parts, n, &body, &len, etag);
	if (err)
		goto unlock;
	err = install(m, key, body, len, &u->meta, etag, &u->enc, true);
	if (err)
		goto unlock;
	if (out_etag)
		snprintf(out_etag, STORE_ETAG_MAX, "%s", etag);
	*link = u->next;
	upload_free(u);
unlock:
	pthread_mutex_unlock(&m->lock);
	if (!err)
		err = late_fault(s, MEM_OP_MPU_COMPLETE);
out:
	leave(s, MEM_OP_MPU_COMPLETE);
	return err;
}

static int m_mpu_abort(struct store *s, const char *key, const char *upload_id)
{
	struct mem *m = M(s);
	int err = enter(s, MEM_OP_MPU_ABORT);
	struct mupload *u, **link = NULL;

	if (err)
		goto out;
	pthread_mutex_lock(&m->lock);
	u = upload_find(m, key, upload_id, &link);
	if (u) {
		*link = u->next;
		upload_free(u);
	} else {
		err = -ENOENT; /* NoSuchUpload */
	}
	pthread_mutex_unlock(&m->lock);
out:
	leave(s, MEM_OP_MPU_ABORT);
	return err;
}

static int m_copy(struct store *s, const char *src, const char *dst, const struct store_meta *meta,
		  const struct store_enc *src_enc, const char *src_if_match)
{
	struct mem *m = M(s);
	int err = enter(s, MEM_OP_COPY);
	bool found;

	if (err)
		goto out;
	pthread_mutex_lock(&m->lock);
	size_t i = find(m, src, &found);
	if (!found) {
		err = -ENOENT;
		goto unlock;
	}
	struct mobj *o = &m->objs[i];
	err = key_fits(m, &o->enc, src_enc);
	if (!err)
		err = etag_fits(o->etag, src_if_match);
	if (err)
		goto unlock;
	struct store_enc enc = wenc_for(m, src_enc);
	unsigned char *d = dup_bytes(o->data, o->len);
	struct store_meta keep;
	char etag[STORE_ETAG_MAX];
	memcpy(etag, o->etag, sizeof(etag));
	if (!d || store_meta_copy(&keep, meta ? meta : &o->meta) < 0) {
		free(d);
		err = -ENOMEM;
		goto unlock;
	}
	/* a copy keeps the checksum only with the metadata (RGW drops it on REPLACE) */
	bool crc = o->has_crc && !meta;
	/* install() may move the array, so @o is not used past this point */
	err = install(m, dst, d, o->len, &keep, etag, &enc, crc);
	store_meta_release(&keep);
unlock:
	pthread_mutex_unlock(&m->lock);
out:
	leave(s, MEM_OP_COPY);
	return err;
}

static int m_del(struct store *s, const char *key)
{
	struct mem *m = M(s);
	int err = enter(s, MEM_OP_DEL);
	bool found;

	if (err)
		goto out;
	pthread_mutex_lock(&m->lock);
	size_t i = find(m, key, &found);
	if (found) {
		obj_release(&m->objs[i]);
		memmove(&m->objs[i], &m->objs[i + 1], (m->n_objs - i - 1) * sizeof(*m->objs));
		m->n_objs--;
	}
	pthread_mutex_unlock(&m->lock);
out:
	leave(s, MEM_OP_DEL);
	return err;
}

static int page_add_prefix(struct store_page *p, const char *key, size_t n)
{
	char **np = realloc(p->prefixes, (p->n_prefixes + 1) * sizeof(*np));

	if (!np)
		return -ENOMEM;
	p->prefixes = np;
	np[p->n_prefixes] = strndup(key, n);
	if (!np[p->n_prefixes])
		return -ENOMEM;
	p->n_prefixes++;
	return 0;
}

static int page_add_object(struct store_page *p, const struct mobj *o)
{
	struct store_entry *ne = realloc(p->objects, (p->n_objects + 1) * sizeof(*ne));

	if (!ne)
		return -ENOMEM;
	p->objects = ne;
	struct store_entry *e = &ne[p->n_objects];
	memset(e, 0, sizeof(*e));
	e->key = strdup(o->key);
	if (!e->key)
		return -ENOMEM;
	e->size = o->len;
	e->last_modified = o->mtime;
	memcpy(e->etag, o->etag, sizeof(e->etag));
	p->n_objects++;
	return 0;
}

/*
 * The continuation token is the last key or common prefix returned; the
 * next page starts after it (and after everything under a returned prefix).
 */
static int list_locked(struct mem *m, const char *prefix, const char *delim, const char *token,
		       int max_keys, struct store_page *out)
{
	size_t plen = prefix ? strlen(prefix) : 0;
	size_t tlen = token ? strlen(token) : 0;
	bool tok_is_prefix = token && delim && tlen > 0 && token[tlen - 1] == delim[0];
	const char *last = NULL;
	size_t last_len = 0;
	int count = 0, err = 0;

	if (max_keys <= 0 || max_keys > 1000)
		max_keys = 1000;
	for (size_t i = 0; i < m->n_objs; i++) {
		const char *k = m->objs[i].key;
		if (plen && strncmp(k, prefix, plen) != 0)
			continue;
		if (token && strcmp(k, token) <= 0)
			continue;
		if (tok_is_prefix && strncmp(k, token, tlen) == 0)
			continue;
		const char *d = delim && *delim ? strstr(k + plen, delim) : NULL;
		size_t cplen = d ? (size_t)(d - k) + strlen(delim) : 0;
		if (d && last && last_len == cplen && strncmp(last, k, cplen) == 0)
			continue; /* same common prefix as the previous entry */
		if (count == max_keys) {
			out->next_token = strndup(last, last_len);
			return out->next_token ? 0 : -ENOMEM;
		}
		if (d)
			err = page_add_prefix(out, k, cplen);
		else
			err = page_add_object(out, &m->objs[i]);
		if (err)
			return err;
		last = k;
		last_len = d ? cplen : strlen(k);
		count++;
	}
	return 0;
}

static int m_list(struct store *s, const char *prefix, const char *delimiter, const char *token,
		  int max_keys, struct store_page *out)
{
	struct mem *m = M(s);
	int err = enter(s, MEM_OP_LIST);

	memset(out, 0, sizeof(*out));
	if (err)
		goto out;
	pthread_mutex_lock(&m->lock);
	err = list_locked(m, prefix, delimiter, token, max_keys, out);
	pthread_mutex_unlock(&m->lock);
	if (err)
		store_page_release(out);
out:
	leave(s, MEM_OP_LIST);
	return err;
}

static void m_write_enc(struct store *s, const struct store_enc *floor, struct store_enc *out)
{
	struct mem *m = M(s);

	pthread_mutex_lock(&m->lock);
	*out = wenc_for(m, floor);
	pthread_mutex_unlock(&m->lock);
}

static const struct store_ops mem_ops = {
	.head = m_head,
	.get_range = m_get_range,
	.get_range_v = m_get_range_v,
	.put = m_put,
	.mpu_begin = m_mpu_begin,
	.mpu_part = m_mpu_part,
	.mpu_part_copy = m_mpu_part_copy,
	.mpu_complete = m_mpu_complete,
	.mpu_abort = m_mpu_abort,
	.copy = m_copy,
	.del = m_del,
	.list = m_list,
	.write_enc = m_write_enc,
};

struct store *mem_store_new(void)
{
	struct store *s = calloc(1, sizeof(*s));
	struct mem *m = calloc(1, sizeof(*m));

	if (!s || !m) {
		free(s);
		free(m);
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	s->ops = &mem_ops;
	s->priv = m;
	return s;
}

void mem_store_free(struct store *s)
{
	if (!s)
		return;
	struct mem *m = M(s);
	for (size_t i = 0; i < m->n_objs; i++)
		obj_release(&m->objs[i]);
	free(m->objs);
	while (m->uploads) {
		struct mupload *u = m->uploads;
		m->uploads = u->next;
		upload_free(u);
	}
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m);
	free(s);
}

static int seed(struct store *s, const char *key, const void *data, size_t len,
		const struct store_enc *enc, bool crc)
{
	struct mem *m = M(s);
	unsigned char *d = dup_bytes(data, len);
	int err;

	if (!d)
		return -ENOMEM;
	pthread_mutex_lock(&m->lock);
	err = install(m, key, d, len, NULL, NULL, enc, crc);
	pthread_mutex_unlock(&m->lock);
	return err;
}

int mem_store_seed_enc(struct store *s, const char *key, const void *data, size_t len,
		       const struct store_enc *enc)
{
	return seed(s, key, data, len, enc, false);
}

int mem_store_seed_crc(struct store *s, const char *key, const void *data, size_t len)
{
	return seed(s, key, data, len, NULL, true);
}

int mem_store_corrupt(struct store *s, const char *key, size_t off)
{
	struct mem *m = M(s);
	bool found;
	int err = 0;

	pthread_mutex_lock(&m->lock);
	size_t i = find(m, key, &found);
	if (!found) {
		err = -ENOENT;
	} else if (off >= m->objs[i].len) {
		err = -EINVAL;
	} else {
		m->objs[i].data[off] ^= 0x01;
	}
	pthread_mutex_unlock(&m->lock);
	return err;
}

int mem_store_seed(struct store *s, const char *key, const void *data, size_t len)
{
	return mem_store_seed_enc(s, key, data, len, NULL);
}

void mem_store_set_sse_c(struct store *s, const char *key_md5)
{
	struct mem *m = M(s);

	pthread_mutex_lock(&m->lock);
	m->wenc = (struct store_enc){ .mode = key_md5 ? STORE_SSE_C : STORE_SSE_NONE };
	if (key_md5)
		snprintf(m->wenc.key_md5, sizeof(m->wenc.key_md5), "%s", key_md5);
	pthread_mutex_unlock(&m->lock);
}

int mem_store_fetch(struct store *s, const char *key, void **data, size_t *len)
{
	struct mem *m = M(s);
	bool found;
	int err = 0;

	pthread_mutex_lock(&m->lock);
	size_t i = find(m, key, &found);
	if (!found) {
		err = -ENOENT;
	} else {
		*data = dup_bytes(m->objs[i].data, m->objs[i].len);
		*len = m->objs[i].len;
		if (!*data)
			err = -ENOMEM;
	}
	pthread_mutex_unlock(&m->lock);
	return err;
}

size_t mem_store_n_objects(struct store *s)
{
	struct mem *m = M(s);

	pthread_mutex_lock(&m->lock);
	size_t n = m->n_objs;
	pthread_mutex_unlock(&m->lock);
	return n;
}

size_t mem_store_n_uploads(struct store *s)
{
	struct mem *m = M(s);
	size_t n = 0;

	pthread_mutex_lock(&m->lock);
	for (struct mupload *u = m->uploads; u; u = u->next)
		n++;
	pthread_mutex_unlock(&m->lock);
	return n;
}

unsigned long mem_store_calls(struct store *s, enum mem_op op)
{
	struct mem *m = M(s);

	pthread_mutex_lock(&m->lock);
	unsigned long n = m->calls[op];
	pthread_mutex_unlock(&m->lock);
	return n;
}

unsigned mem_store_peak(struct store *s, enum mem_op op)
{
	struct mem *m = M(s);

	pthread_mutex_lock(&m->lock);
	unsigned n = m->peak[op];
	pthread_mutex_unlock(&m->lock);
	return n;
}

void mem_store_reset_counters(struct store *s)
{
	struct mem *m = M(s);

	pthread_mutex_lock(&m->lock);
	for (int i = 0; i < MEM_OP_COUNT; i++) {
		/* keep armed faults pointing at the same future calls */
		struct fault *f = &m->fault[i];
		if (f->armed && f->to != (unsigned long)-1 && f->to <= m->calls[i]) {
			f->armed = false; /* its window has passed */
		} else if (f->armed) {
			f->from = f->from > m->calls[i] ? f->from - m->calls[i] : 1;
			if (f->to != (unsigned long)-1)
				f->to -= m->calls[i];
		}
		m->calls[i] = 0;
		m->peak[i] = m->active[i];
	}
	pthread_mutex_unlock(&m->lock);
}

/* Arm @f for calls @nth.. @nth + @count - 1 after the @calls made so far. m->lock held. */
static void arm(struct fault *f, unsigned long calls, unsigned long nth, unsigned long count,
		int err)
{
	f->from = calls + (nth ? nth : 1);
	f->to = count ? f->from + count - 1 : (unsigned long)-1;
	f->err = err;
	f->armed = true;
}

void mem_store_fail(struct store *s, enum mem_op op, unsigned long nth, unsigned long count,
		    int err)
{
	struct mem *m = M(s);

	pthread_mutex_lock(&m->lock);
	arm(&m->fault[op], m->calls[op], nth, count, err);
	pthread_mutex_unlock(&m->lock);
}

void mem_store_fail_late(struct store *s, enum mem_op op, unsigned long nth, unsigned long count,
			 int err)
{
	struct mem *m = M(s);

	pthread_mutex_lock(&m->lock);
	arm(&m->late[op], m->calls[op], nth, count, err);
	pthread_mutex_unlock(&m->lock);
}

void mem_store_clear_faults(struct store *s)
{
	struct mem *m = M(s);

	pthread_mutex_lock(&m->lock);
	memset(m->fault, 0, sizeof(m->fault));
	memset(m->late, 0, sizeof(m->late));
	pthread_mutex_unlock(&m->lock);
}

void mem_store_hold_pieces(struct store *s, bool on)
{
	struct mem *m = M(s);

	pthread_mutex_lock(&m->lock);
	m->hold = on;
	if (on)
		m->held = false;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

bool mem_store_wait_held(struct store *s, unsigned ms, uint64_t *off, uint64_t *len)
{
	struct mem *m = M(s);
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&m->lock);
	while (!m->held && pthread_cond_timedwait(&m->cond, &m->lock, &t) == 0)
		;
	bool held = m->held;
	*off = m->held_off;
	*len = m->held_len;
	pthread_mutex_unlock(&m->lock);
	return held;
}

void mem_store_set_delay(struct store *s, enum mem_op op, unsigned usec)
{
	struct mem *m = M(s);

	pthread_mutex_lock(&m->lock);
	m->delay[op] = usec;
	pthread_mutex_unlock(&m->lock);
}
