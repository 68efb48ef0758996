/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Uploads: store (one PUT below part_size, else multipart with `parallel`
 * parts in flight, UploadPartCopy for untouched parts of the stored
 * object), parts streamed while a sequential writer is still writing,
 * abort on failure, the upload buffers, and the worker pool the parts and
 * read-ahead fetches run on. Open files, their staging and the read path
 * are fh.c's, above: this file reaches them only through upload.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "log.h"
#include "upload.h"
#include "util/bigmem.h"

#define MPU_MAX_PARTS 10000
/* Largest object one CopyObject can copy (S3 and OBS). */
#define COPY_MAX ((uint64_t)5 << 30)

/* ---- worker pool ---------------------------------------------------------- */

struct mpu_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct mpu_job *head, *tail;
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
		struct mpu_job *j = p->head;
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

void mpu_pool_submit(struct mpu_pool *p, struct mpu_job *j)
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

/* ---- context and upload buffers ---------------------------------------- */

struct mpu_ctx {
	struct mpu_cfg cfg;
	pthread_mutex_t lock;
	/* lock: idle part_size upload buffers kept for reuse (still reserved) */
	void **spare;
	size_t n_spare;
	size_t bufs_busy; /* lock: upload buffers handed out */
	/*
	 * Atomic: when does the server stamp Last-Modified of a multipart
	 * object? 0 not known yet, 1 at Complete (RGW), -1 at Initiate (AWS).
	 */
	int lm_at_complete;
	/*
	 * lock: uploads whose abort failed, tried again when another upload
	 * is dropped and at shutdown; what is left then is logged (and
	 * listed by --incomplete-uploads).
	 */
	struct failed_abort *aborts;
	size_t n_aborts;
};

struct failed_abort {
	char *key, *id; /* owned */
	struct failed_abort *next;
};

/* Keep at most this many failed aborts to try again (memory bound). */
#define MAX_FAILED_ABORTS 1024

struct mpu;

/* The upload side of one file. @m is guarded by the file lock. */
struct mpu_file {
	struct mpu_ctx *ctx;
	const struct mpu_file_ops *ops;
	void *file;
	pthread_mutex_t *lock;
	pthread_cond_t *cond;
	struct mpu *m; /* streamed or storing multipart upload, or NULL */
};

struct mpu_ctx *mpu_ctx_new(const struct mpu_cfg *cfg)
{
	struct mpu_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->cfg = *cfg;
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

/* Log that upload @a stays incomplete, and free @a. */
static void left_incomplete(struct failed_abort *a, const char *key, const char *id)
{
	log_msg(LOG_LVL_ERR, LOG_CAT_FH,
		"upload of '%s' (id %s) left incomplete: see obsmount --incomplete-uploads", key,
		id);
	if (a) {
		free(a->key);
		free(a->id);
		free(a);
	}
}

/* Keep @a to try again; false when the list is full. */
static bool keep_abort(struct mpu_ctx *c, struct failed_abort *a)
{
	bool kept = false;

	pthread_mutex_lock(&c->lock);
	if (c->n_aborts < MAX_FAILED_ABORTS) {
		a->next = c->aborts;
		c->aborts = a;
		c->n_aborts++;
		kept = true;
	}
	pthread_mutex_unlock(&c->lock);
	return kept;
}

/* Remember the upload @key/@id whose abort failed. */
static void abort_failed(struct mpu_ctx *c, const char *key, const char *id)
{
	struct failed_abort *a = calloc(1, sizeof(*a));

	if (!a || !(a->key = strdup(key)) || !(a->id = strdup(id)) || !keep_abort(c, a))
		left_incomplete(a, key, id);
}

/*
 * Try the failed aborts again, at most @max of them, each once (those that
 * fail again are kept for later). No lock held.
 */
static void retry_aborts(struct mpu_ctx *c, size_t max)
{
	struct store *st = c->cfg.st;
	struct failed_abort *batch = NULL;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < max && c->aborts; i++) {
		struct failed_abort *a = c->aborts;
		c->aborts = a->next;
		c->n_aborts--;
		a->next = batch;
		batch = a;
	}
	pthread_mutex_unlock(&c->lock);
	while (batch) {
		struct failed_abort *a = batch;
		batch = a->next;
		int err = st->ops->mpu_abort(st, a->key, a->id);
		if (err && err != -ENOENT) {
			log_msg(LOG_LVL_WARN, LOG_CAT_FH, "cannot abort upload of '%s' again: %s",
				a->key, strerror(-err));
			if (!keep_abort(c, a))
				left_incomplete(a, a->key, a->id);
			continue;
		}
		log_msg(LOG_LVL_INFO, LOG_CAT_FH, "aborted upload of '%s' on a later try", a->key);
		free(a->key);
		free(a->id);
		free(a);
	}
}

void mpu_ctx_free(struct mpu_ctx *c)
{
	if (!c)
		return;
	/* a last try for the aborts that failed; what is left stays logged */
	retry_aborts(c, c->n_aborts);
	while (c->aborts) {
		struct failed_abort *a = c->aborts;
		c->aborts = a->next;
		left_incomplete(a, a->key, a->id);
	}
	while (c->n_spare) {
		bigmem_free(c->spare[--c->n_spare], c->cfg.part_size);
		c->cfg.release(c->cfg.arg, c->cfg.part_size);
	}
	free(c->spare);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

struct mpu_file *mpu_file_new(struct mpu_ctx *c, const struct mpu_file_ops *ops, void *file,
			      pthread_mutex_t *lock, pthread_cond_t *cond)
{
	struct mpu_file *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->ctx = c;
	u->ops = ops;
	u->file = file;
	u->lock = lock;
	u->cond = cond;
	return u;
}

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
static void *buf_get(struct mpu_file *u, size_t len)
{
	struct mpu_ctx *ctx = u->ctx;
	void *p = NULL;

	pthread_mutex_lock(&ctx->lock);
	if (len == ctx->cfg.part_size && ctx->n_spare)
		p = ctx->spare[--ctx->n_spare];
	if (p)
		ctx->bufs_busy++;
	pthread_mutex_unlock(&ctx->lock);
	if (p)
		return p;
	u->ops->reserve(u->file, len);
	p = bigmem_alloc(len);
	if (!p) {
		ctx->cfg.release(ctx->cfg.arg, len);
		return NULL;
	}
	pthread_mutex_lock(&ctx->lock);
	ctx->bufs_busy++;
	pthread_mutex_unlock(&ctx->lock);
	return p;
}

/* Done with @p (from buf_get(), or NULL): keep it for reuse or unmap it. */
static void buf_put(struct mpu_ctx *ctx, void *p, size_t len)
{
	bool kept = false;

	if (!p)
		return;
	pthread_mutex_lock(&ctx->lock);
	ctx->bufs_busy--;
	if (len == ctx->cfg.part_size && ctx->n_spare < ctx->cfg.parallel) {
		if (!ctx->spare)
			ctx->spare = calloc(ctx->cfg.parallel, sizeof(*ctx->spare));
		if (ctx->spare) {
			ctx->spare[ctx->n_spare++] = p;
			kept = true;
		}
	}
	pthread_mutex_unlock(&ctx->lock);
	if (kept)
		return;
	bigmem_free(p, len);
	ctx->cfg.release(ctx->cfg.arg, len);
}

void mpu_ctx_trim(struct mpu_ctx *ctx)
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
		bigmem_free(spare[i], ctx->cfg.part_size);
		ctx->cfg.release(ctx->cfg.arg, ctx->cfg.part_size);
	}
}

/* ---- one multipart upload ----------------------------------------------- */

/* Everything but @key and @id is guarded by the file lock. */
struct mpu {
	char *key; /* the key the upload targets; immutable */
	char *id;  /* upload id; immutable once begun */
	size_t psize;
	uint64_t meta_gen;	  /* mpu_view.meta_gen the upload began with */
	uint64_t times_gen;	  /* mpu_view.times_gen the upload began with */
	bool times_left_out;	  /* begun without the write times (mpu_view) */
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
	struct mpu_job job;
	struct mpu_file *u;
	struct mpu *m;
	int number;
	void *data; /* owned (buf_get()); NULL for a server-side copy */
	size_t len;
	uint64_t off; /* where the part begins in the file */
	struct store_enc enc;
	char etag[STORE_ETAG_MAX]; /* of the stored version a copy reads */
};

static void part_run(struct mpu_job *j)
{
	struct part_job *pj = (struct part_job *)j;
	struct mpu_file *u = pj->u;
	struct mpu *m = pj->m;
	struct store *st = u->ctx->cfg.st;
	struct store_part part = { 0 };
	int err;

	if (pj->data && u->ops->parted)
		u->ops->parted(u->file, pj->data, pj->len, pj->off);
	if (pj->data)
		err = st->ops->mpu_part(st, m->key, m->id, pj->number, pj->data, pj->len, &m->floor,
					&part);
	else
		err = st->ops->mpu_part_copy(st, m->key, m->id, pj->number, m->key, pj->off,
					     pj->len, &pj->enc, pj->etag, &part);
	buf_put(u->ctx, pj->data, pj->len);
	pthread_mutex_lock(u->lock);
	if (err) {
		if (!m->err)
			m->err = err;
	} else {
		part.number = pj->number;
		m->parts[pj->number - 1] = part;
	}
	m->inflight--;
	pthread_cond_broadcast(u->cond);
	pthread_mutex_unlock(u->lock);
	free(pj);
}

/*
 * Queue the next part: @data (owned, from buf_get(), @len bytes) or, with
 * @data NULL, a copy of [next_off, next_off + len) of the stored object.
 * File lock held.
 */
static int submit_locked(struct mpu_file *u, struct mpu *m, void *data, size_t len)
{
	struct part_job *pj = calloc(1, sizeof(*pj));
	size_t need = (size_t)m->next_number;
	struct mpu_view v;

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
	u->ops->view(u->file, &v);
	pj->job.run = part_run;
	pj->u = u;
	pj->m = m;
	pj->number = m->next_number++;
	pj->data = data;
	pj->len = len;
	pj->off = m->next_off;
	pj->enc = v.enc;
	/* a part copied from another version than the file's would mix them */
	snprintf(pj->etag, sizeof(pj->etag), "%s", v.etag);
	m->next_off += len;
	m->inflight++;
	mpu_pool_submit(u->ctx->cfg.pool, &pj->job);
	return 0;
nomem:
	free(pj);
	buf_put(u->ctx, data, len);
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

/* Remove the write times (mpu_view.write_times) from @m. File lock held. */
static void strip_times(struct mpu_file *u, struct store_meta *m)
{
	const char *const *names;
	struct mpu_view v;

	u->ops->view(u->file, &v);
	names = v.write_times;

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
static bool can_leave_times(const struct mpu_file *u, const struct mpu_view *v)
{
	return v->write_times && __atomic_load_n(&u->ctx->lm_at_complete, __ATOMIC_RELAXED) >= 0;
}

/*
 * Begin an upload of @key with metadata @meta (gen @meta_gen), without
 * the write times if @leave_times; the request runs with the file lock
 * held, which only holds up this file. File lock held. 0 or -errno.
 */
static int begin_locked(struct mpu_file *u, const char *key, const struct store_meta *meta,
			uint64_t meta_gen, size_t psize, bool leave_times, struct mpu **out)
{
	struct store *st = u->ctx->cfg.st;
	struct mpu *m = calloc(1, sizeof(*m));
	struct store_meta bm;
	struct mpu_view v;
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
		strip_times(u, &bm);
	u->ops->view(u->file, &v);
	m->psize = psize;
	m->meta_gen = meta_gen;
	m->times_gen = v.times_gen;
	m->times_left_out = leave_times;
	m->t_begin = time(NULL);
	m->next_number = 1;
	m->floor = v.enc;
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

void mpu_drop_locked(struct mpu_file *u)
{
	struct mpu *m = u->m;
	struct store *st = u->ctx->cfg.st;

	if (!m)
		return;
	m->dead = true; /* no new parts while we wait */
	while (m->inflight > 0)
		pthread_cond_wait(u->cond, u->lock);
	u->m = NULL;
	pthread_cond_broadcast(u->cond);
	if (m->id) {
		pthread_mutex_unlock(u->lock);
		int err = st->ops->mpu_abort(st, m->key, m->id);
		if (err && err != -ENOENT) {
			log_msg(LOG_LVL_WARN, LOG_CAT_FH,
				"cannot abort upload of '%s': %s; will try again", m->key,
				strerror(-err));
			abort_failed(u->ctx, m->key, m->id);
		} else {
			retry_aborts(u->ctx, 4); /* the server answers: older ones too */
		}
		pthread_mutex_lock(u->lock);
	}
	mpu_free(m);
}

void mpu_changed_locked(struct mpu_file *u, uint64_t off)
{
	if (u->m && off < u->m->next_off)
		u->m->dead = true;
}

/* Can part [off, off + len) be copied server-side from the stored object? */
static bool can_copy(struct mpu_file *u, uint64_t off, uint64_t len)
{
	return u->ctx->cfg.st->ops->mpu_part_copy && u->ops->is_stored(u->file, off, off + len);
}

void mpu_stream_locked(struct mpu_file *u)
{
	size_t psize = u->ctx->cfg.part_size;

	for (;;) {
		struct mpu *m = u->m;
		struct mpu_view v;
		u->ops->view(u->file, &v);
		if (!v.can_stream || (m && (m->dead || m->err)))
			return;
		uint64_t off = m ? m->next_off : 0;
		if (v.size < off + psize)
			return;
		/*
		 * Written data, or an untouched part of the stored object when new
		 * data follows it (an append); never holes.
		 */
		bool copy =
			can_copy(u, off, psize) && u->ops->is_written(u->file, off + psize, v.size);
		if (!copy && !u->ops->is_staged(u->file, off, off + psize))
			return;
		if (m && m->next_number > MPU_MAX_PARTS)
			return;
		if (m && m->inflight >= u->ctx->cfg.parallel) {
			/* back-pressure: the writer waits for a part to finish */
			pthread_cond_wait(u->cond, u->lock);
			continue;
		}
		if (!m) {
			int err = begin_locked(u, v.key, v.meta, v.meta_gen, psize,
					       can_leave_times(u, &v), &m);
			if (err) {
				/* a dead placeholder: no more streaming until the flush */
				m = calloc(1, sizeof(*m));
				if (!m)
					return;
				m->dead = true;
				m->err = err;
			}
			u->m = m;
			if (err)
				return;
			u->ops->streaming(u->file);
		}
		void *data = NULL;
		if (!copy) {
			data = buf_get(u, psize);
			if (!data)
				return;
			if (u->ops->read(u->file, data, psize, off)) {
				buf_put(u->ctx, data, psize);
				return;
			}
		}
		if (submit_locked(u, m, data, psize))
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

static int put_locked(struct mpu_file *u, const char *key, const struct store_meta *meta,
		      uint64_t size, char *etag)
{
	struct store *st = u->ctx->cfg.st;
	char *data;
	int err;

	err = u->ops->fetch(u->file, key, 0, size);
	if (err)
		return err;
	data = buf_get(u, (size_t)size);
	if (!data)
		return -ENOMEM;
	err = u->ops->read(u->file, data, (size_t)size, 0);
	if (!err) {
		struct mpu_view v;
		u->ops->view(u->file, &v);
		struct store_enc floor = v.enc;
		pthread_mutex_unlock(u->lock);
		/* the server's ETag: under SSE-C and SSE-KMS it is not the MD5 */
		err = st->ops->put(st, key, data, (size_t)size, meta, &floor, etag);
		pthread_mutex_lock(u->lock);
	}
	buf_put(u->ctx, data, (size_t)size);
	return err;
}

/* Queue every part of [m->next_off, size) and wait for all. File lock held. */
static int send_parts_locked(struct mpu_file *u, struct mpu *m, const char *key, uint64_t size)
{
	int err = 0;

	while (m->next_off < size) {
		uint64_t off = m->next_off;
		size_t len = size - off < m->psize ? (size_t)(size - off) : m->psize;
		void *data = NULL;
		while (m->inflight >= u->ctx->cfg.parallel && !m->err)
			pthread_cond_wait(u->cond, u->lock);
		if (m->err)
			break;
		if (!can_copy(u, off, len)) {
			err = u->ops->fetch(u->file, key, off, off + len);
			if (err)
				break;
			data = buf_get(u, len);
			if (!data) {
				err = -ENOMEM;
				break;
			}
			err = u->ops->read(u->file, data, len, off);
			if (err) {
				buf_put(u->ctx, data, len);
				break;
			}
		}
		err = submit_locked(u, m, data, len);
		if (err)
			break;
	}
	while (m->inflight > 0)
		pthread_cond_wait(u->cond, u->lock);
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
static bool lm_gives_times(struct mpu_ctx *ctx, const struct mpu *m, time_t t0)
{
	struct store *st = ctx->cfg.st;
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

/*
 * Store [0, size) as a multipart upload of @psize parts, continuing a
 * streamed one if any. A streamed upload begun with other metadata than
 * the snapshot's ends with a metadata copy; one that only left the write
 * times out keeps the times of its Last-Modified (*times_from_lm). File
 * lock held.
 */
static int multipart_locked(struct mpu_file *u, const struct mpu_snap *sn, size_t psize, char *etag,
			    bool *times_from_lm, bool *completed_out)
{
	struct store *st = u->ctx->cfg.st;
	const char *key = sn->key;
	struct mpu *m = u->m;
	struct store_enc written;
	char got[STORE_ETAG_MAX] = "";
	bool stale;
	int err;

	if (!m) {
		err = begin_locked(u, key, sn->meta, sn->meta_gen, psize, false, &m);
		if (err)
			return err;
		u->m = m;
	}
	err = send_parts_locked(u, m, key, sn->size);
	if (err) {
		mpu_drop_locked(u); /* abort: no half object becomes visible */
		return err;
	}
	size_t n = (size_t)(m->next_number - 1);
	stale = meta_stale(m, sn->meta_gen, sn->times_gen);
	store_write_enc(st, &m->floor, &written);
	pthread_mutex_unlock(u->lock);
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
		if (!stale && m->times_left_out && !lm_gives_times(u->ctx, m, t0))
			stale = true;
		/* past CopyObject's limit the times stay those of Last-Modified */
		if (stale && sn->size <= COPY_MAX)
			err = remeta(st, key, sn->meta, &written, etag);
		else
			*times_from_lm = m->times_left_out;
	}
	pthread_mutex_lock(u->lock);
	if (!completed) {
		mpu_drop_locked(u); /* abort: no half object becomes visible */
		return err;
	}
	/* complete (a failed metadata copy is reported, the data is stored) */
	u->m = NULL;
	mpu_free(m);
	return err;
}

/* Part size for @size bytes: the configured one, grown to fit 10000 parts. */
static size_t part_size_for(const struct mpu_ctx *ctx, uint64_t size)
{
	uint64_t ps = ctx->cfg.part_size;

	if (size / ps >= MPU_MAX_PARTS) {
		const uint64_t mib = 1024 * 1024;
		ps = (size + MPU_MAX_PARTS - 1) / MPU_MAX_PARTS;
		ps = (ps + mib - 1) / mib * mib;
	}
	return (size_t)ps;
}

int mpu_store_locked(struct mpu_file *u, const struct mpu_snap *sn, char *etag)
{
	uint64_t size = sn->size;
	size_t psize = part_size_for(u->ctx, size);
	struct mpu *m = u->m;
	bool times_from_lm = false, completed = false;
	int err;

	/* a streamed upload is kept only if it still fits what is to be stored */
	if (m && (m->dead || m->err || m->psize != psize || strcmp(m->key, sn->key) != 0 ||
		  m->next_off > size || size < psize ||
		  (meta_stale(m, sn->meta_gen, sn->times_gen) && size > COPY_MAX)))
		mpu_drop_locked(u);
	bool streamed = u->m != NULL;
	if (!u->m && size < psize)
		err = put_locked(u, sn->key, sn->meta, size, etag);
	else
		err = multipart_locked(u, sn, psize, etag, &times_from_lm, &completed);
	/*
	 * A part streamed before the flush may fail while the flush waits for
	 * it: the data is all staged, so start over once, as a flush that
	 * found the failure already does. Not when the upload completed and
	 * only its metadata copy failed: the data is stored, the error is
	 * reported and the next flush tries again.
	 */
	if (err && streamed && !completed && !u->m && size >= psize)
		err = multipart_locked(u, sn, psize, etag, &times_from_lm, &completed);
	/* what the cache learns is what the object says: Last-Modified, now */
	if (!err && times_from_lm)
		strip_times(u, sn->meta);
	return err;
}

void mpu_file_free(struct mpu_file *u)
{
	if (!u)
		return;
	mpu_free(u->m);
	free(u);
}
