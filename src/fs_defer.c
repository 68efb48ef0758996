// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Deferred metadata changes of stored files: see fs_defer.h.
 *
 * A table of pending changes keyed by path (hash chains) and kept in the
 * order they were made (a FIFO, which is also the order they fall due: a
 * later change of the same path merges into the entry and keeps its due
 * time, so nothing waits longer than the delay). One thread applies what
 * is due. An entry being applied stays in the table, marked, so that a
 * rename, an open or an fsync of its path waits for that copy instead of
 * racing it.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs_defer.h"
#include "fs_ops_i.h"
#include "log.h"
#include "util/hash.h"

#define N_BUCKETS 1024
/* Bounded memory: past this many pending changes, new ones apply at once. */
#define MAX_PENDING 8192
/*
 * A change of a file that is open here (rsync's fchmod on a descriptor
 * opened for it) waits for its close, so that the copy does not change
 * the ETag under an open descriptor; but not longer than this.
 */
#define MAX_POSTPONE_MS 10000

struct ent {
	char *path;		/* owned */
	char *key;		/* owned */
	struct store_info info; /* owned: the headers to apply, ETag to pin */
	uint64_t due_ms;
	uint64_t first_due_ms; /* postponed while open, up to MAX_POSTPONE_MS past this */
	bool applying;
	struct ent *hnext;	 /* hash chain */
	struct ent *prev, *next; /* FIFO */
};

struct fs_defer {
	struct fs_ctx *c; /* borrowed */
	unsigned delay_ms;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* work, stop, or an apply finished */
	struct ent *buckets[N_BUCKETS];
	struct ent fifo; /* sentinel */
	size_t n;
	bool running, stop;
	pthread_t thread;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct ent **slot_locked(struct fs_defer *d, const char *path)
{
	struct ent **p = &d->buckets[fnv1a(path, strlen(path)) % N_BUCKETS];

	while (*p && strcmp((*p)->path, path) != 0)
		p = &(*p)->hnext;
	return p;
}

static void ent_free(struct ent *e)
{
	if (!e)
		return;
	free(e->path);
	free(e->key);
	store_info_release(&e->info);
	free(e);
}

/* Put @e (not in the FIFO) at the FIFO's tail. Locked. */
static void fifo_append(struct fs_defer *d, struct ent *e)
{
	e->prev = d->fifo.prev;
	e->next = &d->fifo;
	d->fifo.prev->next = e;
	d->fifo.prev = e;
}

static void fifo_unlink(struct ent *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
}

/* Unlink @e from the table and the FIFO; the caller frees it. Locked. */
static void remove_locked(struct fs_defer *d, struct ent *e)
{
	struct ent **p = slot_locked(d, e->path);

	if (*p == e)
		*p = e->hnext;
	fifo_unlink(e);
	d->n--;
}

static int info_copy(struct store_info *dst, const struct store_info *src)
{
	*dst = *src;
	memset(&dst->meta, 0, sizeof(dst->meta));
	return store_meta_copy(&dst->meta, &src->meta);
}

/*
 * Apply @e: copy the object onto itself with the new headers, pinned to
 * the ETag the change was made against. An object replaced or removed
 * meanwhile keeps what its writer gave it. No lock held.
 */
static int apply(struct fs_defer *d, struct ent *e)
{
	struct store *st = d->c->st;
	const char *pin = e->info.etag[0] ? e->info.etag : NULL;
	int r;

	log_msg(LOG_LVL_DEBUG, LOG_CAT_FUSE, "applying the deferred metadata change of '%s'",
		e->path);
	r = st->ops->copy(st, e->key, e->key, &e->info.meta, &e->info.enc, pin);

	if (r)
		cache_invalidate(d->c->cache, e->path); /* show what the server has */
	if (r == -ESTALE || r == -ENOENT) {
		log_msg(LOG_LVL_INFO, LOG_CAT_FUSE,
			"metadata change of '%s' not applied: the object was %s meanwhile", e->path,
			r == -ENOENT ? "removed" : "replaced");
		r = 0;
	} else if (r) {
		log_msg(LOG_LVL_ERR, LOG_CAT_FUSE, "cannot apply the metadata change of '%s': %s",
			e->path, strerror(-r));
	}
	return r;
}

/* Apply @e (marked applying, in the table), then drop it. Called locked, returns locked. */
static int apply_locked(struct fs_defer *d, struct ent *e)
{
	int r;

	e->applying = true;
	pthread_mutex_unlock(&d->lock);
	r = apply(d, e);
	pthread_mutex_lock(&d->lock);
	remove_locked(d, e);
	ent_free(e);
	pthread_cond_broadcast(&d->cond);
	return r;
}

static void *run(void *arg)
{
	struct fs_defer *d = arg;

	pthread_mutex_lock(&d->lock);
	while (!d->stop) {
		struct ent *e = d->fifo.next;

		while (e != &d->fifo && e->applying)
			e = e->next;
		if (e == &d->fifo) {
			pthread_cond_wait(&d->cond, &d->lock);
			continue;
		}
		uint64_t now = now_ms();
		if (e->due_ms > now) {
			uint64_t wait = e->due_ms - now;
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += (time_t)(wait / 1000);
			ts.tv_nsec += (long)(wait % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&d->cond, &d->lock, &ts);
			continue;
		}
		if (d->c->fh && now < e->first_due_ms + MAX_POSTPONE_MS) {
			struct fh *open = fh_find(d->c->fh, e->key);
			if (open) {
				(void)fh_release(open); /* a reference only: nothing to store */
				e->due_ms = now + d->delay_ms;
				fifo_unlink(e);
				fifo_append(d, e); /* due last now */
				continue;
			}
		}
		(void)apply_locked(d, e);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

int fs_defer_new(struct fs_ctx *c, unsigned delay_s, struct fs_defer **out)
{
	struct fs_defer *d = calloc(1, sizeof(*d));

	*out = NULL;
	if (!d)
		return -ENOMEM;
	d->c = c;
	d->delay_ms = delay_s * 1000;
	d->fifo.next = d->fifo.prev = &d->fifo;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	*out = d;
	return 0;
}

int fs_defer_start(struct fs_defer *d)
{
	int r;

	if (!d || d->delay_ms == 0 || d->running)
		return 0;
	d->stop = false;
	r = pthread_create(&d->thread, NULL, run, d);
	if (r)
		return -r;
	pthread_mutex_lock(&d->lock);
	d->running = true;
	pthread_mutex_unlock(&d->lock);
	return 0;
}

int fs_defer_stop(struct fs_defer *d)
{
	int r;

	if (!d)
		return 0;
	r = fs_defer_flush(d, "/", true);
	if (r > 0)
		r = 0;
	pthread_mutex_lock(&d->lock);
	bool was = d->running;
	d->stop = true;
	d->running = false;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	if (was)
		pthread_join(d->thread, NULL);
	return r;
}

void fs_defer_free(struct fs_defer *d)
{
	if (!d)
		return;
	(void)fs_defer_stop(d);
	while (d->fifo.next != &d->fifo) {
		struct ent *e = d->fifo.next;
		remove_locked(d, e);
		ent_free(e);
	}
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

int fs_defer_put(struct fs_defer *d, const char *path, const char *key,
		 const struct store_info *info)
{
	struct ent *e, **p;
	bool waited = false;
	int r;

	if (!d)
		return 0;
	pthread_mutex_lock(&d->lock);
	for (;;) {
		if (!d->running || d->stop) {
			pthread_mutex_unlock(&d->lock);
			return 0;
		}
		p = slot_locked(d, path);
		if (!*p || !(*p)->applying)
			break;
		/* Our own copy of this object runs: it changes the ETag. */
		pthread_cond_wait(&d->cond, &d->lock);
		waited = true;
	}
	e = *p;
	if (e) {
		/* A later change of the same object: the new headers, the old pin. */
		struct store_info ni;
		r = info_copy(&ni, info);
		if (r == 0) {
			snprintf(ni.etag, sizeof(ni.etag), "%s", e->info.etag);
			store_info_release(&e->info);
			e->info = ni;
		}
		pthread_mutex_unlock(&d->lock);
		return r ? r : 1;
	}
	if (d->n >= MAX_PENDING) {
		pthread_mutex_unlock(&d->lock);
		return 0;
	}
	e = calloc(1, sizeof(*e));
	if (!e || !(e->path = strdup(path)) || !(e->key = strdup(key)) ||
	    info_copy(&e->info, info) != 0) {
		pthread_mutex_unlock(&d->lock);
		ent_free(e);
		return -ENOMEM;
	}
	if (waited)
		e->info.etag[0] = '\0'; /* the ETag our copy made is not known */
	e->due_ms = now_ms() + d->delay_ms;
	e->first_due_ms = e->due_ms;
	e->hnext = NULL;
	*p = e;
	fifo_append(d, e);
	d->n++;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	return 1;
}

/* The entry of @path once no copy of it runs, or NULL. Locked. */
static struct ent *settled_locked(struct fs_defer *d, const char *path)
{
	struct ent *e;

	while ((e = *slot_locked(d, path)) && e->applying)
		pthread_cond_wait(&d->cond, &d->lock);
	return e;
}

int fs_defer_get(struct fs_defer *d, const char *path, struct store_info *out)
{
	struct ent *e;
	int r = 0;

	if (!d)
		return 0;
	pthread_mutex_lock(&d->lock);
	if (d->n) {
		e = settled_locked(d, path);
		if (e)
			r = info_copy(out, &e->info) == 0 ? 1 : -ENOMEM;
	}
	pthread_mutex_unlock(&d->lock);
	return r;
}

void fs_defer_drop(struct fs_defer *d, const char *path)
{
	struct ent *e;

	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	if (d->n && (e = settled_locked(d, path))) {
		remove_locked(d, e);
		ent_free(e);
	}
	pthread_mutex_unlock(&d->lock);
}

/* Is @p @path itself or below it ("/" is everything)? */
static bool matches(const char *p, const char *path, size_t len)
{
	if (len == 1 && path[0] == '/')
		return true;
	return strncmp(p, path, len) == 0 && (p[len] == '\0' || p[len] == '/');
}

int fs_defer_flush(struct fs_defer *d, const char *path, bool tree)
{
	size_t len = strlen(path);
	int n = 0, first = 0;

	if (!d)
		return 0;
	pthread_mutex_lock(&d->lock);
	for (;;) {
		struct ent *e, *busy = NULL, *todo = NULL;

		if (!tree) {
			todo = settled_locked(d, path); /* one path: its hash slot */
		} else {
			for (e = d->fifo.next; e != &d->fifo && !todo; e = e->next) {
				if (!matches(e->path, path, len))
					continue;
				if (e->applying)
					busy = e;
				else
					todo = e;
			}
		}
		if (todo) {
			log_msg(LOG_LVL_DEBUG, LOG_CAT_FUSE,
				"the deferred metadata change of '%s' goes out now", todo->path);
			int r = apply_locked(d, todo);
			n++;
			if (r && !first)
				first = r;
		} else if (busy) {
			pthread_cond_wait(&d->cond, &d->lock); /* the thread's copy */
		} else {
			break;
		}
	}
	pthread_mutex_unlock(&d->lock);
	return first ? first : n;
}
