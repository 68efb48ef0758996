/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Uploads of open files: flush (one PUT below part_size, else multipart with
 * `parallel` parts in flight, UploadPartCopy for untouched parts of the
 * stored object), parts streamed while a sequential writer is still
 * writing, abort on failure, and the worker pool the parts and read-ahead
 * fetches run on. Staging and the read path are in fh.c.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "crypto.h"
#include "fh_i.h"
#include "log.h"

#define MPU_MAX_PARTS 10000
/* Largest object one CopyObject can copy (S3 and OBS). */
#define COPY_MAX ((uint64_t)5 << 30)

/* ---- worker pool ---------------------------------------------------------- */

struct mpu_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct fh_job *head, *tail;
	bool stop;
	unsigned n;
	pthread_t *threads;
};

static void *worker(void *arg)
{
	struct mpu_pool *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->head && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		if (!p->head)
			break;
		struct fh_job *j = p->head;
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		pthread_mutex_unlock(&p->lock);
		j->run(j);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct mpu_pool *mpu_pool_new(unsigned n)
{
	struct mpu_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->threads = calloc(n, sizeof(*p->threads));
	if (!p->threads) {
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	for (p->n = 0; p->n < n; p->n++) {
		if (pthread_create(&p->threads[p->n], NULL, worker, p) != 0)
			break;
	}
	if (p->n == 0) {
		mpu_pool_free(p);
		return NULL;
	}
	return p;
}

void mpu_pool_free(struct mpu_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->n; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p->threads);
	free(p);
}

void mpu_pool_submit(struct mpu_pool *p, struct fh_job *j)
{
	j->next = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

/* ---- upload buffers ------------------------------------------------------ */

/*
 * Part and PUT buffers (up to part_size each) are mapped from the kernel,
 * reserved in the memory budget of fh.c, and unmapped once no upload needs
 * them: from malloc they would come, once glibc has raised its mmap
 * threshold after the first free, out of per-thread arenas that keep the
 * pages after free and grow the daemon's resident size beyond the budget.
 * Up to `parallel` idle buffers of part_size are kept (and stay in the
 * budget) while uploads run, so that a long upload does not fault in and
 * zero every part's pages anew.
 */
static void *buf_get(struct fh_file *f, size_t len)
{
	struct fh_ctx *ctx = f->ctx;
	void *p = NULL;

	pthread_mutex_lock(&ctx->lock);
	if (len == ctx->part_size && ctx->n_spare)
		p = ctx->spare[--ctx->n_spare];
	if (p)
		ctx->bufs_busy++;
	pthread_mutex_unlock(&ctx->lock);
	if (p)
		return p;
	fh_mem_reserve_locked(f, len);
	p = mmap(NULL, len ? len : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		fh_mem_release(ctx, len);
		return NULL;
	}
	pthread_mutex_lock(&ctx->lock);
	ctx->bufs_busy++;
	pthread_mutex_unlock(&ctx->lock);
	return p;
}

/* Done with @p (from buf_get(), or NULL): keep it for reuse or unmap it. */
static void buf_put(struct fh_ctx *ctx, void *p, size_t len)
{
	bool kept = false;

	if (!p)
		return;
	pthread_mutex_lock(&ctx->lock);
	ctx->bufs_busy--;
	if (len == ctx->part_size && ctx->n_spare < ctx->parallel) {
		if (!ctx->spare)
			ctx->spare = calloc(ctx->parallel, sizeof(*ctx->spare));
		if (ctx->spare) {
			ctx->spare[ctx->n_spare++] = p;
			kept = true;
		}
	}
	pthread_mutex_unlock(&ctx->lock);
	if (kept)
		return;
	munmap(p, len ? len : 1);
	fh_mem_release(ctx, len);
}

/* No upload holds a buffer: give the idle ones back to the kernel. */
static void bufs_trim(struct fh_ctx *ctx)
{
	void *spare[64];
	size_t n = 0;

	pthread_mutex_lock(&ctx->lock);
	if (ctx->bufs_busy == 0) {
		while (ctx->n_spare && n < ARRAY_SIZE(spare))
			spare[n++] = ctx->spare[--ctx->n_spare];
	}
	pthread_mutex_unlock(&ctx->lock);
	for (size_t i = 0; i < n; i++) {
		munmap(spare[i], ctx->part_size);
		fh_mem_release(ctx, ctx->part_size);
	}
}

void mpu_bufs_free(struct fh_ctx *ctx)
{
	while (ctx->n_spare) {
		munmap(ctx->spare[--ctx->n_spare], ctx->part_size);
		ctx->mem_used -= ctx->part_size;
	}
	free(ctx->spare);
	ctx->spare = NULL;
}

/* ---- one multipart upload ----------------------------------------------- */

/* Everything but @key and @id is guarded by f->lock. */
struct mpu {
	char *key; /* the key the upload targets; immutable */
	char *id;  /* upload id; immutable once begun */
	size_t psize;
	uint64_t meta_gen;	  /* f->meta_gen the upload began with */
	uint64_t times_gen;	  /* f->times_gen the upload began with */
	bool times_left_out;	  /* begun without cfg->write_times (fh.h) */
	time_t t_begin;		  /* when it was initiated */
	int next_number;	  /* next part to submit */
	uint64_t next_off;	  /* where that part starts */
	struct store_part *parts; /* [i] is part i + 1 */
	size_t cap_parts;
	unsigned inflight;
	int err;		/* first failure of a part */
	bool dead;		/* content under it changed: abort, do not complete */
	struct store_enc floor; /* the replaced object's encryption (store.h) */
};

struct part_job {
	struct fh_job job;
	struct fh_file *f;
	struct mpu *m;
	int number;
	void *data; /* owned (buf_get()); NULL for a server-side copy */
	size_t len;
	uint64_t copy_off;
	struct store_enc enc;
	char etag[STORE_ETAG_MAX]; /* of the stored version a copy reads */
};

static void part_run(struct fh_job *j)
{
	struct part_job *pj = (struct part_job *)j;
	struct fh_file *f = pj->f;
	struct mpu *m = pj->m;
	struct store *st = f->ctx->st;
	struct store_part part = { 0 };
	int err;

	if (pj->data)
		err = st->ops->mpu_part(st, m->key, m->id, pj->number, pj->data, pj->len, &m->floor,
					&part);
	else
		err = st->ops->mpu_part_copy(st, m->key, m->id, pj->number, m->key, pj->copy_off,
					     pj->len, &pj->enc, pj->etag, &part);
	buf_put(f->ctx, pj->data, pj->len);
	pthread_mutex_lock(&f->lock);
	if (err) {
		if (!m->err)
			m->err = err;
	} else {
		part.number = pj->number;
		m->parts[pj->number - 1] = part;
	}
	m->inflight--;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	free(pj);
}

/*
 * Queue the next part: @data (owned, from buf_get(), @len bytes) or, with
 * @data NULL, a copy of [next_off, next_off + len) of the stored object.
 * f->lock held.
 */
static int submit_locked(struct fh_file *f, struct mpu *m, void *data, size_t len)
{
	struct part_job *pj = calloc(1, sizeof(*pj));
	size_t need = (size_t)m->next_number;

	if (!pj)
		goto nomem;
	if (need > m->cap_parts) {
		size_t cap = m->cap_parts ? m->cap_parts * 2 : 16;
		while (cap < need)
			cap *= 2;
		struct store_part *np = realloc(m->parts, cap * sizeof(*np));
		if (!np)
			goto nomem;
		memset(&np[m->cap_parts], 0, (cap - m->cap_parts) * sizeof(*np));
		m->parts = np;
		m->cap_parts = cap;
	}
	pj->job.run = part_run;
	pj->f = f;
	pj->m = m;
	pj->number = m->next_number++;
	pj->data = data;
	pj->len = len;
	pj->copy_off = m->next_off;
	pj->enc = f->enc;
	/* a part copied from another version than the file's would mix them */
	snprintf(pj->etag, sizeof(pj->etag), "%s", f->etag);
	m->next_off += len;
	m->inflight++;
	mpu_pool_submit(f->ctx->pool, &pj->job);
	return 0;
nomem:
	free(pj);
	buf_put(f->ctx, data, len);
	return -ENOMEM;
}

static void mpu_free(struct mpu *m)
{
	if (!m)
		return;
	free(m->key);
	free(m->id);
	free(m->parts);
	free(m);
}

/* Remove the write times (cfg->write_times) from @m. */
static void strip_times(const struct fh_ctx *ctx, struct store_meta *m)
{
	const char *const *names = ctx->cfg->write_times;

	for (size_t i = 0; names && i < m->n;) {
		bool drop = false;
		for (const char *const *n = names; *n && !drop; n++)
			drop = strcmp(m->kv[i].name, *n) == 0;
		if (!drop) {
			i++;
			continue;
		}
		free(m->kv[i].name);
		free(m->kv[i].value);
		memmove(&m->kv[i], &m->kv[i + 1], (m->n - i - 1) * sizeof(m->kv[0]));
		m->n--;
	}
}

/*
 * Can a streamed upload leave the write times to Last-Modified? Not
 * where the server is known to stamp it at Initiate.
 */
static bool can_leave_times(const struct fh_ctx *ctx)
{
	return ctx->cfg->write_times &&
	       __atomic_load_n(&ctx->lm_at_complete, __ATOMIC_RELAXED) >= 0;
}

/*
 * Begin an upload of @key with metadata @meta (gen @meta_gen), without
 * the write times if @leave_times; the request runs with f->lock held,
 * which only holds up this file. f->lock held. 0 or -errno.
 */
static int begin_locked(struct fh_file *f, const char *key, const struct store_meta *meta,
			uint64_t meta_gen, size_t psize, bool leave_times, struct mpu **out)
{
	struct store *st = f->ctx->st;
	struct mpu *m = calloc(1, sizeof(*m));
	struct store_meta bm;
	int err;

	if (!m)
		return -ENOMEM;
	m->key = strdup(key);
	if (!m->key) {
		mpu_free(m);
		return -ENOMEM;
	}
	err = store_meta_copy(&bm, meta);
	if (err) {
		mpu_free(m);
		return err;
	}
	if (leave_times)
		strip_times(f->ctx, &bm);
	m->psize = psize;
	m->meta_gen = meta_gen;
	m->times_gen = f->times_gen;
	m->times_left_out = leave_times;
	m->t_begin = time(NULL);
	m->next_number = 1;
	m->floor = f->enc;
	err = st->ops->mpu_begin(st, key, &bm, &m->floor, &m->id);
	store_meta_release(&bm);
	if (err) {
		mpu_free(m);
		return err;
	}
	*out = m;
	return 0;
}

/* Was @m begun with other metadata than the snapshot (mg0, tg0)? */
static bool meta_stale(const struct mpu *m, uint64_t mg0, uint64_t tg0)
{
	return m->meta_gen != mg0 || (!m->times_left_out && m->times_gen != tg0);
}

void mpu_drop_locked(struct fh_file *f)
{
	struct mpu *m = f->mpu;
	struct store *st = f->ctx->st;

	if (!m)
		return;
	m->dead = true; /* no new parts while we wait */
	while (m->inflight > 0)
		pthread_cond_wait(&f->cond, &f->lock);
	f->mpu = NULL;
	pthread_cond_broadcast(&f->cond);
	if (m->id) {
		pthread_mutex_unlock(&f->lock);
		int err = st->ops->mpu_abort(st, m->key, m->id);
		pthread_mutex_lock(&f->lock);
		if (err && err != -ENOENT)
			log_msg(LOG_LVL_WARN, LOG_CAT_FH, "cannot abort upload of '%s': %s", m->key,
				strerror(-err));
	}
	mpu_free(m);
}

void mpu_changed_locked(struct fh_file *f, uint64_t off)
{
	/* during a flush the flush owns the upload; a change just keeps f dirty */
	if (f->mpu && !f->flushing && off < f->mpu->next_off)
		f->mpu->dead = true;
}

/* Can part [off, off + len) be copied server-side from the stored object? */
static bool can_copy(struct fh_file *f, uint64_t off, uint64_t len)
{
	return f->has_base && f->ctx->st->ops->mpu_part_copy && off + len <= f->base_size &&
	       !fh_ivl_overlaps(&f->written, off, off + len);
}

void mpu_stream_locked(struct fh_file *f)
{
	size_t psize = f->ctx->part_size;

	for (;;) {
		struct mpu *m = f->mpu;
		if (f->flushing || f->held || f->err || !f->dirty || (m && (m->dead || m->err)))
			return;
		uint64_t off = m ? m->next_off : 0;
		if (f->size < off + psize)
			return;
		/*
		 * Written data, or an untouched part of the stored object when new
		 * data follows it (an append); never holes.
		 */
		bool copy = can_copy(f, off, psize) &&
			    fh_ivl_overlaps(&f->written, off + psize, f->size);
		if (!copy && !fh_ivl_covers(&f->present, off, off + psize))
			return;
		if (m && m->next_number > MPU_MAX_PARTS)
			return;
		if (m && m->inflight >= f->ctx->parallel) {
			/* back-pressure: the writer waits for a part to finish */
			pthread_cond_wait(&f->cond, &f->lock);
			continue;
		}
		if (!m) {
			int err = begin_locked(f, f->key, &f->meta, f->meta_gen, psize,
					       can_leave_times(f->ctx), &m);
			if (err) {
				/* a dead placeholder: no more streaming until the flush */
				m = calloc(1, sizeof(*m));
				if (!m)
					return;
				m->dead = true;
				m->err = err;
			}
			f->mpu = m;
			if (err)
				return;
			fh_stg_to_disk_locked(f);
		}
		void *data = NULL;
		if (!copy) {
			data = buf_get(f, psize);
			if (!data)
				return;
			if (fh_stg_pread(f, data, psize, off)) {
				buf_put(f->ctx, data, psize);
				return;
			}
		}
		if (submit_locked(f, m, data, psize))
			return;
	}
}

/* ---- flush ------------------------------------------------------------- */

/* The S3 ETag of a multipart object: MD5 of the part MD5s, "-N". */
static void mpu_etag(const struct store_part *parts, size_t n, char *out)
{
	struct crypto_digest *d = crypto_md5_new();
	uint8_t md[CRYPTO_MD5_LEN];
	char hex[2 * CRYPTO_MD5_LEN + 1];

	out[0] = '\0';
	if (!d)
		return;
	for (size_t i = 0; i < n; i++) {
		const char *e = parts[i].etag;
		char tmp[2 * CRYPTO_MD5_LEN + 1];
		size_t len = strlen(e);
		if (len == 2 * CRYPTO_MD5_LEN + 2 && e[0] == '"' && e[len - 1] == '"') {
			memcpy(tmp, e + 1, 2 * CRYPTO_MD5_LEN);
			tmp[2 * CRYPTO_MD5_LEN] = '\0';
			e = tmp;
		}
		if (crypto_unhex(e, md, sizeof(md)) < 0) {
			crypto_digest_free(d);
			return; /* not an MD5 ETag (SSE-KMS, SSE-C): leave it unknown */
		}
		crypto_digest_update(d, md, sizeof(md));
	}
	crypto_digest_final(d, md);
	crypto_digest_free(d);
	crypto_hex(md, sizeof(md), hex);
	snprintf(out, STORE_ETAG_MAX, "\"%s-%zu\"", hex, n);
}

/* ETags equal, with or without their quotes. */
static bool etag_eq(const char *a, const char *b)
{
	size_t la, lb;

	if (*a == '"')
		a++;
	if (*b == '"')
		b++;
	la = strlen(a);
	lb = strlen(b);
	if (la && a[la - 1] == '"')
		la--;
	if (lb && b[lb - 1] == '"')
		lb--;
	return la && la == lb && memcmp(a, b, la) == 0;
}

/*
 * CompleteMultipartUpload answered NoSuchUpload: when the reply to an
 * earlier try was lost, the retry finds the upload already completed. The
 * object at @key is ours if its ETag is the one these @n parts make (and
 * its size @size). 0 when it is; -EIO when it is not (the upload was aborted
 * by someone else) or nothing tells (parts without MD5 ETags).
 */
static int completed_anyway(struct store *st, const char *key, const struct store_part *parts,
			    size_t n, uint64_t size)
{
	char want[STORE_ETAG_MAX];
	struct store_info info;
	int err;

	mpu_etag(parts, n, want);
	memset(&info, 0, sizeof(info));
	err = st->ops->head(st, key, &info);
	if (err == 0) {
		if (want[0] && info.size == size && etag_eq(info.etag, want))
			log_msg(LOG_LVL_INFO, LOG_CAT_FH,
				"upload of '%s' was completed by an earlier try", key);
		else
			err = -EIO;
		store_info_release(&info);
	}
	if (err) {
		log_msg(LOG_LVL_ERR, LOG_CAT_FH,
			"multipart upload of '%s' vanished before it was completed", key);
		err = -EIO;
	}
	return err;
}

static int put_locked(struct fh_file *f, const char *key, const struct store_meta *meta,
		      uint64_t size, char *etag)
{
	struct store *st = f->ctx->st;
	char *data;
	int err;

	err = fh_fetch_locked(f, key, 0, size);
	if (err)
		return err;
	data = buf_get(f, (size_t)size);
	if (!data)
		return -ENOMEM;
	err = fh_stg_pread(f, data, (size_t)size, 0);
	if (!err) {
		struct store_enc floor = f->enc;
		pthread_mutex_unlock(&f->lock);
		/* the server's ETag: under SSE-C and SSE-KMS it is not the MD5 */
		err = st->ops->put(st, key, data, (size_t)size, meta, &floor, etag);
		pthread_mutex_lock(&f->lock);
	}
	buf_put(f->ctx, data, (size_t)size);
	return err;
}

/* Queue every part of [m->next_off, size) and wait for all. f->lock held. */
static int send_parts_locked(struct fh_file *f, struct mpu *m, const char *key, uint64_t size)
{
	int err = 0;

	while (m->next_off < size) {
		uint64_t off = m->next_off;
		size_t len = size - off < m->psize ? (size_t)(size - off) : m->psize;
		void *data = NULL;
		while (m->inflight >= f->ctx->parallel && !m->err)
			pthread_cond_wait(&f->cond, &f->lock);
		if (m->err)
			break;
		if (!can_copy(f, off, len)) {
			err = fh_fetch_locked(f, key, off, off + len);
			if (err)
				break;
			data = buf_get(f, len);
			if (!data) {
				err = -ENOMEM;
				break;
			}
			err = fh_stg_pread(f, data, len, off);
			if (err) {
				buf_put(f->ctx, data, len);
				break;
			}
		}
		err = submit_locked(f, m, data, len);
		if (err)
			break;
	}
	while (m->inflight > 0)
		pthread_cond_wait(&f->cond, &f->lock);
	return err ? err : m->err;
}

/*
 * The object was stored with older metadata (a chmod while a streamed
 * upload ran): replace it with a self-copy, which RGW and S3 do without
 * moving the bytes of a plain object, then read back the ETag. The copy
 * source is the object just written, so it presents @written, the
 * encryption of that write (not the one of the version it replaced). No
 * lock held.
 */
static int remeta(struct store *st, const char *key, const struct store_meta *meta,
		  const struct store_enc *written, char *etag)
{
	struct store_enc enc = *written;
	struct store_info info;
	int err;

	err = st->ops->copy(st, key, key, meta, &enc, NULL);
	etag[0] = '\0';
	if (!err && st->ops->head && st->ops->head(st, key, &info) == 0) {
		snprintf(etag, STORE_ETAG_MAX, "%s", info.etag);
		store_info_release(&info);
	}
	return err;
}

/*
 * @m, begun without the write times, was completed at @t0: does the
 * object's Last-Modified give its times to the second? Yes when Initiate
 * and Complete lie within a second, or the server stamps Last-Modified
 * at Complete, which one HEAD per mount finds out. No lock held.
 */
static bool lm_gives_times(struct fh_ctx *ctx, const struct mpu *m, time_t t0)
{
	struct store *st = ctx->st;
	int known = __atomic_load_n(&ctx->lm_at_complete, __ATOMIC_RELAXED);
	struct store_info info;
	bool at_complete;

	if (known > 0 || t0 <= m->t_begin + 1)
		return true;
	if (known < 0)
		return false;
	memset(&info, 0, sizeof(info));
	if (st->ops->head(st, m->key, &info) != 0)
		return false; /* cannot tell: the metadata copy makes sure */
	/* a second of slack for the server's clock and rounding */
	at_complete = info.last_modified + 1 >= t0;
	store_info_release(&info);
	__atomic_store_n(&ctx->lm_at_complete, at_complete ? 1 : -1, __ATOMIC_RELAXED);
	log_msg(LOG_LVL_DEBUG, LOG_CAT_FH, "server stamps Last-Modified at %s",
		at_complete ? "Complete" : "Initiate");
	return at_complete;
}

/* What the flush snapshot was: metadata, its generations, size, part size. */
struct snap {
	const struct store_meta *meta;
	uint64_t mg0, tg0, size;
	size_t psize;
};

/*
 * Store [0, size) as a multipart upload, continuing a streamed one if any.
 * A streamed upload begun with other metadata than the snapshot's ends with
 * a metadata copy; one that only left the write times out keeps the times
 * of its Last-Modified (*times_from_lm). f->lock held.
 */
static int multipart_locked(struct fh_file *f, const char *key, const struct snap *sn, char *etag,
			    bool *times_from_lm, bool *completed_out)
{
	struct store *st = f->ctx->st;
	struct mpu *m = f->mpu;
	struct store_enc written;
	char got[STORE_ETAG_MAX] = "";
	bool stale;
	int err;

	if (!m) {
		err = begin_locked(f, key, sn->meta, sn->mg0, sn->psize, false, &m);
		if (err)
			return err;
		f->mpu = m;
	}
	err = send_parts_locked(f, m, key, sn->size);
	if (err) {
		mpu_drop_locked(f); /* abort: no half object becomes visible */
		return err;
	}
	size_t n = (size_t)(m->next_number - 1);
	stale = meta_stale(m, sn->mg0, sn->tg0);
	store_write_enc(st, &m->floor, &written);
	pthread_mutex_unlock(&f->lock);
	time_t t0 = time(NULL);
	err = st->ops->mpu_complete(st, m->key, m->id, m->parts, n, &m->floor, got);
	if (err == -ENOENT)
		err = completed_anyway(st, m->key, m->parts, n, sn->size);
	bool completed = !err;
	*completed_out = completed;
	if (completed) {
		/* the server's ETag if it said one, else what S3 makes of the parts */
		if (got[0])
			snprintf(etag, STORE_ETAG_MAX, "%s", got);
		else
			mpu_etag(m->parts, n, etag);
		if (!stale && m->times_left_out && !lm_gives_times(f->ctx, m, t0))
			stale = true;
		/* past CopyObject's limit the times stay those of Last-Modified */
		if (stale && sn->size <= COPY_MAX)
			err = remeta(st, key, sn->meta, &written, etag);
		else
			*times_from_lm = m->times_left_out;
	}
	pthread_mutex_lock(&f->lock);
	if (!completed) {
		mpu_drop_locked(f); /* abort: no half object becomes visible */
		return err;
	}
	/* complete (a failed metadata copy is reported, the data is stored) */
	f->mpu = NULL;
	mpu_free(m);
	return err;
}

/* Part size for @size bytes: the configured one, grown to fit 10000 parts. */
static size_t part_size_for(struct fh_file *f, uint64_t size)
{
	uint64_t ps = f->ctx->part_size;

	if (size / ps >= MPU_MAX_PARTS) {
		const uint64_t mib = 1024 * 1024;
		ps = (size + MPU_MAX_PARTS - 1) / MPU_MAX_PARTS;
		ps = (ps + mib - 1) / mib * mib;
	}
	return (size_t)ps;
}

static void notify(struct fh_file *f, const char *key, const struct store_meta *meta, uint64_t size,
		   const char *etag, bool ok)
{
	const struct fh_cfg *cfg = f->ctx->cfg;
	struct store_info info;

	if (!cfg->on_stored)
		return;
	/* with SSE-C and SSE-KMS the ETag is not the MD5 of the data */
	if (f->enc.mode == STORE_SSE_C || f->enc.mode == STORE_SSE_KMS)
		etag = "";
	if (!ok) {
		cfg->on_stored(cfg->on_stored_arg, key, NULL);
		return;
	}
	memset(&info, 0, sizeof(info));
	info.size = size;
	info.last_modified = time(NULL);
	snprintf(info.etag, sizeof(info.etag), "%s", etag);
	info.meta = *meta; /* shallow: borrowed for the call */
	info.enc = f->enc;
	cfg->on_stored(cfg->on_stored_arg, key, &info);
}

/* The upload after the snapshot (gen0, size) succeeded. f->lock held. */
static void stored_locked(struct fh_file *f, uint64_t gen0, uint64_t size, const char *etag)
{
	if (f->gen == gen0) {
		f->base_size = size;
		f->dirty = false;
		fh_ivl_clear(&f->written);
	} else if (f->base_size > size) {
		/* changed meanwhile: stays dirty; only unchanged old bytes remain valid */
		f->base_size = size;
	}
	f->has_base = true;
	snprintf(f->etag, sizeof(f->etag), "%s", etag);
	/* the store checked that the object is now so encrypted */
	struct store_enc was = f->enc;
	store_write_enc(f->ctx->st, &was, &f->enc);
	f->err = 0;
	f->ra_gen++;
}

int mpu_flush_locked(struct fh_file *f)
{
	struct store_meta meta;
	char etag[STORE_ETAG_MAX] = "";
	bool in_table;
	char *key;
	int err;

	while (f->flushing || f->held)
		pthread_cond_wait(&f->cond, &f->lock);
	if (f->write_err) {
		mpu_drop_locked(f); /* abort: a partial file never replaces the object */
		notify(f, f->key, NULL, 0, NULL, false);
		return f->write_err;
	}
	if (!f->dirty) {
		mpu_drop_locked(f); /* nothing to store: no upload may linger */
		return f->err;
	}
	pthread_mutex_lock(&f->ctx->lock);
	in_table = f->in_table;
	pthread_mutex_unlock(&f->ctx->lock);
	if (!in_table) {
		/* replaced by a rename: storing it would clobber the new object */
		mpu_drop_locked(f);
		f->dirty = false;
		return 0;
	}
	key = strdup(f->key);
	if (!key)
		return -ENOMEM;
	err = store_meta_copy(&meta, &f->meta);
	if (err) {
		free(key);
		return err;
	}
	f->flushing = true;
	uint64_t gen0 = f->gen, size = f->size;
	struct snap sn = { .meta = &meta, .mg0 = f->meta_gen, .tg0 = f->times_gen, .size = size };
	size_t psize = part_size_for(f, size);
	struct mpu *m = f->mpu;
	bool times_from_lm = false, completed = false;
	sn.psize = psize;
	/* a streamed upload is kept only if it still fits what is to be stored */
	if (m && (m->dead || m->err || m->psize != psize || strcmp(m->key, key) != 0 ||
		  m->next_off > size || size < psize ||
		  (meta_stale(m, sn.mg0, sn.tg0) && size > COPY_MAX)))
		mpu_drop_locked(f);
	bool streamed = f->mpu != NULL;
	if (!f->mpu && size < psize)
		err = put_locked(f, key, &meta, size, etag);
	else
		err = multipart_locked(f, key, &sn, etag, &times_from_lm, &completed);
	/*
	 * A part streamed before the flush may fail while the flush waits for
	 * it: the data is all staged, so start over once, as a flush that
	 * found the failure already does. Not when the upload completed and
	 * only its metadata copy failed: the data is stored, the error is
	 * reported and the next flush tries again.
	 */
	if (err && streamed && !completed && !f->mpu && size >= psize)
		err = multipart_locked(f, key, &sn, etag, &times_from_lm, &completed);
	/* what the cache learns is what the object says: Last-Modified, now */
	if (!err && times_from_lm)
		strip_times(f->ctx, &meta);
	if (err) {
		f->err = err;
		log_msg(LOG_LVL_DEBUG, LOG_CAT_FH, "upload of '%s' failed: %s", key,
			strerror(-err));
	} else {
		stored_locked(f, gen0, size, etag);
	}
	notify(f, key, &meta, size, etag, !err);
	bufs_trim(f->ctx);
	f->flushing = false;
	pthread_cond_broadcast(&f->cond);
	store_meta_release(&meta);
	free(key);
	return err;
}
