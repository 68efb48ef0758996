/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The stat, negative and directory caches: two LRU hash maps under one
 * mutex, with TTLs and striped invalidation counters that keep a reply
 * fetched before a change from being cached after it; and the compact,
 * reference-counted listings the directory cache holds. No storage access.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "util/hash.h"

#define N_STRIPES 256
#define DEFAULT_MAX_STAT 16384
#define DEFAULT_MAX_DIRS 256
/*
 * Listings are bounded by their memory, not by a count of entries: at
 * about 40 bytes plus the name per entry, 64 MiB keeps a listing of a
 * million names, so that listing a big directory again within dir_ttl
 * asks the server nothing.
 */
#define DEFAULT_MAX_DIR_BYTES ((size_t)64 << 20)

struct node {
	struct node *hnext;	  /* hash chain */
	struct node *prev, *next; /* LRU list; the sentinel's next is the newest */
	uint32_t hash;
	uint64_t expires;
	char *path;
};

struct map {
	struct node **buckets;
	size_t nbuckets; /* power of two */
	size_t n;
	size_t max;
	struct node lru; /* sentinel */
};

struct stat_node {
	struct node node; /* first: the maps handle struct node pointers */
	bool negative;
	struct cache_attr a;
	struct store_info *info; /* owned, or NULL */
};

struct dir_node {
	struct node node;
	struct cache_dir *dir; /* a reference */
	size_t n_ents, bytes;  /* as counted in struct cache */
};

struct cache {
	struct cache_cfg cfg;
	pthread_mutex_t lock;
	struct map stat;	     /* of struct stat_node */
	struct map dirs;	     /* of struct dir_node */
	size_t n_dirents, dir_bytes; /* of all listings */
	uint64_t gen;		     /* bumped by every invalidation */
	uint64_t tree_gen;	     /* gen of the last tree invalidation */
	uint64_t stripe[N_STRIPES];  /* gen of the last invalidation per hash stripe */
	struct cache_stats stats;
};

/* ---- listings ---------------------------------------------------------- */

#define DREC_HAS_STAT 1u
#define DREC_LISTED 2u

/*
 * One entry of a listing. The attributes a listing gives (type and mode,
 * owner, size, one time) fit here; anything else (a HEAD's three times, a
 * device number) goes to the full stat table. An entry with neither flag
 * keeps only its mode.
 */
struct drec {
	uint32_t name; /* offset in names */
	uint32_t full; /* 1 + index in full, or 0 */
	uint32_t mode, uid, gid;
	uint32_t flags;
	int64_t size;
	int64_t mtime;
};

struct cache_dir {
	int refs; /* atomic */
	struct drec *v;
	size_t n, cap;
	char *names; /* NUL-terminated names, back to back; removed ones stay */
	size_t names_len, names_cap;
	struct stat *full;
	size_t n_full, cap_full;
};

struct cache_dir *cache_dir_new(void)
{
	struct cache_dir *d = calloc(1, sizeof(*d));

	if (d)
		d->refs = 1;
	return d;
}

struct cache_dir *cache_dir_ref(struct cache_dir *d)
{
	__atomic_add_fetch(&d->refs, 1, __ATOMIC_RELAXED);
	return d;
}

void cache_dir_unref(struct cache_dir *d)
{
	if (!d || __atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	free(d->v);
	free(d->names);
	free(d->full);
	free(d);
}

size_t cache_dir_count(const struct cache_dir *d)
{
	return d->n;
}

static bool is_shared(const struct cache_dir *d)
{
	return __atomic_load_n(&d->refs, __ATOMIC_ACQUIRE) > 1;
}

/* What the listing holds in memory. */
static size_t dir_bytes(const struct cache_dir *d)
{
	return sizeof(*d) + d->cap * sizeof(*d->v) + d->names_cap + d->cap_full * sizeof(*d->full);
}

static const char *rec_name(const struct cache_dir *d, const struct drec *r)
{
	return d->names + r->name;
}

/* The stat of a compact entry: what meta_entry_to_stat() makes of a listing. */
static void rec_stat(const struct drec *r, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = r->mode;
	if (!(r->flags & (DREC_HAS_STAT | DREC_LISTED)))
		return;
	st->st_uid = r->uid;
	st->st_gid = r->gid;
	st->st_size = r->size;
	st->st_mtim.tv_sec = r->mtime;
	st->st_ctim = st->st_mtim;
	st->st_atim = st->st_mtim;
	st->st_nlink = S_ISDIR(r->mode) ? 2 : 1;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)(((uint64_t)r->size + 511) / 512);
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static bool same_stat(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_mode == b->st_mode &&
	       a->st_nlink == b->st_nlink && a->st_uid == b->st_uid && a->st_gid == b->st_gid &&
	       a->st_rdev == b->st_rdev && a->st_size == b->st_size &&
	       a->st_blksize == b->st_blksize && a->st_blocks == b->st_blocks &&
	       same_time(&a->st_atim, &b->st_atim) && same_time(&a->st_mtim, &b->st_mtim) &&
	       same_time(&a->st_ctim, &b->st_ctim);
}

void cache_dir_at(const struct cache_dir *d, size_t i, struct cache_dirent *out)
{
	const struct drec *r = &d->v[i];

	out->name = rec_name(d, r);
	out->has_stat = r->flags & DREC_HAS_STAT;
	out->listed = r->flags & DREC_LISTED;
	if (r->full)
		out->st = d->full[r->full - 1];
	else
		rec_stat(r, &out->st);
}

/* Index of @name in @d, or -1 with *ins its place (if not NULL). */
static long dir_find(const struct cache_dir *d, const char *name, size_t *ins)
{
	size_t lo = 0, hi = d->n;

	/* Listings come sorted: appending is the common case. */
	if (d->n && strcmp(rec_name(d, &d->v[d->n - 1]), name) < 0)
		lo = d->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(rec_name(d, &d->v[mid]), name);
		if (r == 0)
			return (long)mid;
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (ins)
		*ins = lo;
	return -1;
}

/* Room for @more bytes of @size each in *@v (capacity *@cap, @n used). */
static int reserve(void **v, size_t *cap, size_t n, size_t more, size_t size, size_t first)
{
	size_t want, nc = *cap ? *cap : first;
	void *p;

	if (__builtin_add_overflow(n, more, &want))
		return -ENOMEM;
	if (want <= *cap)
		return 0;
	while (nc < want) {
		if (__builtin_mul_overflow(nc, 2, &nc))
			return -ENOMEM;
	}
	if (__builtin_mul_overflow(nc, size, &want))
		return -ENOMEM;
	p = realloc(*v, want);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = nc;
	return 0;
}

/* Set the attributes of @r from @e; room for a full stat is reserved. */
static void rec_set(struct cache_dir *d, struct drec *r, const struct cache_dirent *e)
{
	struct stat compact;

	r->flags = (e->has_stat ? DREC_HAS_STAT : 0) | (e->listed ? DREC_LISTED : 0);
	r->mode = e->st.st_mode;
	r->uid = e->st.st_uid;
	r->gid = e->st.st_gid;
	r->size = e->st.st_size;
	r->mtime = e->st.st_mtim.tv_sec;
	rec_stat(r, &compact);
	if (!r->flags || same_stat(&compact, &e->st)) {
		r->full = 0; /* a full stat it had stays unused until the listing goes */
		return;
	}
	if (!r->full)
		r->full = (uint32_t)++d->n_full;
	d->full[r->full - 1] = e->st;
}

bool cache_dir_has(const struct cache_dir *d, const char *name)
{
	return dir_find(d, name, NULL) >= 0;
}

int cache_dir_add(struct cache_dir *d, const struct cache_dirent *e, bool replace)
{
	size_t len = strlen(e->name) + 1, at = 0;
	long i = dir_find(d, e->name, &at);
	struct drec *r;
	int err;

	if (i >= 0 && !replace)
		return 0;
	/* Everything that can fail first: a failed add changes nothing. */
	err = reserve((void **)&d->full, &d->cap_full, d->n_full, 1, sizeof(*d->full), 4);
	if (err == 0 && d->n_full >= UINT32_MAX)
		err = -ENOMEM;
	if (i >= 0) {
		if (err == 0)
			rec_set(d, &d->v[i], e);
		return err;
	}
	if (err == 0)
		err = reserve((void **)&d->v, &d->cap, d->n, 1, sizeof(*d->v), 16);
	if (err == 0)
		err = reserve((void **)&d->names, &d->names_cap, d->names_len, len, 1, 256);
	if (err == 0 && d->names_len > UINT32_MAX - len)
		err = -ENOMEM;
	if (err)
		return err;
	memmove(&d->v[at + 1], &d->v[at], (d->n - at) * sizeof(*d->v));
	r = &d->v[at];
	memset(r, 0, sizeof(*r));
	r->name = (uint32_t)d->names_len;
	memcpy(d->names + d->names_len, e->name, len);
	d->names_len += len;
	d->n++;
	rec_set(d, r, e);
	return 0;
}

void cache_dir_del(struct cache_dir *d, size_t i)
{
	memmove(&d->v[i], &d->v[i + 1], (d->n - i - 1) * sizeof(*d->v));
	d->n--;
}

/* Give back the room reserved for growth: a listing about to be cached. */
static void dir_trim(struct cache_dir *d)
{
	void *p;

	if (!d->n_full) {
		free(d->full);
		d->full = NULL;
		d->cap_full = 0;
	} else if (d->cap_full > d->n_full &&
		   (p = realloc(d->full, d->n_full * sizeof(*d->full)))) {
		d->full = p;
		d->cap_full = d->n_full;
	}
	if (!d->n)
		return; /* names_len is 0 too, or holds removed names only */
	if (d->cap > d->n && (p = realloc(d->v, d->n * sizeof(*d->v)))) {
		d->v = p;
		d->cap = d->n;
	}
	if (d->names_cap > d->names_len && (p = realloc(d->names, d->names_len))) {
		d->names = p;
		d->names_cap = d->names_len;
	}
}

static void *memdup(const void *p, size_t size)
{
	void *q = size ? malloc(size) : NULL;

	if (q)
		memcpy(q, p, size);
	return q;
}

/* A private copy of @d, one reference; NULL: -ENOMEM. */
static struct cache_dir *dir_clone(const struct cache_dir *d)
{
	struct cache_dir *x = cache_dir_new();

	if (!x)
		return NULL;
	x->v = memdup(d->v, d->n * sizeof(*d->v));
	x->names = memdup(d->names, d->names_len);
	x->full = memdup(d->full, d->n_full * sizeof(*d->full));
	if ((d->n && !x->v) || (d->names_len && !x->names) || (d->n_full && !x->full)) {
		cache_dir_unref(x);
		return NULL;
	}
	x->n = x->cap = d->n;
	x->names_len = x->names_cap = d->names_len;
	x->n_full = x->cap_full = d->n_full;
	return x;
}

/* ---- the caches ------------------------------------------------------- */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t now_ms(const struct cache *c)
{
	return c->cfg.clock_ms ? c->cfg.clock_ms() : mono_ms();
}

/* FNV-1a of a whole path. */
static uint32_t hash_str(const char *s)
{
	return fnv1a(s, strlen(s));
}

static int map_init(struct map *m, size_t max)
{
	size_t nb = 64;

	while (nb < max && nb < ((size_t)1 << 24))
		nb <<= 1;
	m->buckets = calloc(nb, sizeof(*m->buckets));
	if (!m->buckets)
		return -ENOMEM;
	m->nbuckets = nb;
	m->n = 0;
	m->max = max;
	m->lru.next = m->lru.prev = &m->lru;
	return 0;
}

static void lru_unlink(struct node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
}

static void lru_push_front(struct map *m, struct node *n)
{
	n->next = m->lru.next;
	n->prev = &m->lru;
	m->lru.next->prev = n;
	m->lru.next = n;
}

static struct node *map_find(struct map *m, const char *path, uint32_t h)
{
	for (struct node *n = m->buckets[h & (m->nbuckets - 1)]; n; n = n->hnext) {
		if (n->hash == h && strcmp(n->path, path) == 0)
			return n;
	}
	return NULL;
}

/* Unlink @n from @m; the caller frees it. */
static void map_take(struct map *m, struct node *n)
{
	struct node **pp = &m->buckets[n->hash & (m->nbuckets - 1)];

	while (*pp != n)
		pp = &(*pp)->hnext;
	*pp = n->hnext;
	lru_unlink(n);
	m->n--;
}

static void map_insert(struct map *m, struct node *n)
{
	size_t b = n->hash & (m->nbuckets - 1);

	n->hnext = m->buckets[b];
	m->buckets[b] = n;
	lru_push_front(m, n);
	m->n++;
}

static void stat_node_free(struct stat_node *s)
{
	if (!s)
		return;
	if (s->info) {
		store_info_release(s->info);
		free(s->info);
	}
	free(s->node.path);
	free(s);
}

static void dir_node_free(struct cache *c, struct dir_node *d)
{
	if (!d)
		return;
	c->n_dirents -= d->n_ents;
	c->dir_bytes -= d->bytes;
	cache_dir_unref(d->dir);
	free(d->node.path);
	free(d);
}

static void drop_stat_locked(struct cache *c, struct node *n)
{
	map_take(&c->stat, n);
	stat_node_free((struct stat_node *)n);
}

static void drop_dir_locked(struct cache *c, struct node *n)
{
	map_take(&c->dirs, n);
	dir_node_free(c, (struct dir_node *)n);
}

int cache_new(const struct cache_cfg *cfg, struct cache **out)
{
	struct cache *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	if (!c->cfg.max_stat)
		c->cfg.max_stat = DEFAULT_MAX_STAT;
	if (!c->cfg.max_dirs)
		c->cfg.max_dirs = DEFAULT_MAX_DIRS;
	if (!c->cfg.max_dirents)
		c->cfg.max_dirents = SIZE_MAX;
	if (!c->cfg.max_dir_bytes)
		c->cfg.max_dir_bytes = DEFAULT_MAX_DIR_BYTES;
	r = map_init(&c->stat, c->cfg.max_stat);
	if (r == 0)
		r = map_init(&c->dirs, c->cfg.max_dirs);
	if (r == 0)
		r = -pthread_mutex_init(&c->lock, NULL);
	if (r) {
		free(c->stat.buckets);
		free(c->dirs.buckets);
		free(c);
		return r;
	}
	*out = c;
	return 0;
}

void cache_free(struct cache *c)
{
	if (!c)
		return;
	while (c->stat.lru.next != &c->stat.lru)
		drop_stat_locked(c, c->stat.lru.next);
	while (c->dirs.lru.next != &c->dirs.lru)
		drop_dir_locked(c, c->dirs.lru.next);
	free(c->stat.buckets);
	free(c->dirs.buckets);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

uint64_t cache_token(struct cache *c)
{
	uint64_t t;

	pthread_mutex_lock(&c->lock);
	t = c->gen;
	pthread_mutex_unlock(&c->lock);
	return t;
}

static bool is_stale_locked(const struct cache *c, uint32_t h, uint64_t token)
{
	return c->tree_gen > token || c->stripe[h % N_STRIPES] > token;
}

/* The live entry for @path, expired ones dropped on the way. */
static struct stat_node *stat_lookup_locked(struct cache *c, const char *path, uint32_t h)
{
	struct node *n = map_find(&c->stat, path, h);

	if (!n)
		return NULL;
	if (n->expires <= now_ms(c)) {
		drop_stat_locked(c, n);
		return NULL;
	}
	lru_unlink(n);
	lru_push_front(&c->stat, n);
	return (struct stat_node *)n;
}

enum cache_hit cache_get(struct cache *c, const char *path, struct cache_attr *out,
			 struct store_info *info)
{
	uint32_t h = hash_str(path);
	enum cache_hit hit = CACHE_MISS;
	struct stat_node *s;

	pthread_mutex_lock(&c->lock);
	s = stat_lookup_locked(c, path, h);
	if (!s) {
		c->stats.misses++;
	} else if (s->negative) {
		c->stats.negative_hits++;
		hit = CACHE_NEGATIVE;
	} else {
		c->stats.hits++;
		hit = CACHE_HIT;
		*out = s->a;
		out->has_info = false;
		if (info && s->info) {
			*info = *s->info;
			memset(&info->meta, 0, sizeof(info->meta));
			if (store_meta_copy(&info->meta, &s->info->meta) == 0)
				out->has_info = true;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

static struct store_info *info_dup(const struct store_info *src)
{
	struct store_info *i = malloc(sizeof(*i));

	if (!i)
		return NULL;
	*i = *src;
	if (store_meta_copy(&i->meta, &src->meta) != 0) {
		free(i);
		return NULL;
	}
	return i;
}

/* Insert a fresh stat node for @path in place of any old one. Locked. */
static struct stat_node *stat_replace_locked(struct cache *c, const char *path, uint32_t h,
					     unsigned ttl_ms, struct stat_node *old)
{
	struct stat_node *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->node.path = strdup(path);
	if (!s->node.path) {
		free(s);
		return NULL;
	}
	s->node.hash = h;
	s->node.expires = now_ms(c) + ttl_ms;
	if (old) {
		/* Keep the page ETag while the object is unchanged. */
		if (!old->negative)
			memcpy(s->a.page_etag, old->a.page_etag, sizeof(s->a.page_etag));
		drop_stat_locked(c, &old->node);
	}
	while (c->stat.n >= c->stat.max && c->stat.lru.prev != &c->stat.lru) {
		drop_stat_locked(c, c->stat.lru.prev);
		c->stats.evictions++;
	}
	map_insert(&c->stat, &s->node);
	return s;
}

static void put_attr(struct cache *c, const char *path, uint64_t token, const struct cache_attr *a,
		     const struct store_info *info, bool weak)
{
	uint32_t h = hash_str(path);
	struct store_info *copy = NULL;
	struct stat_node *old, *s;
	char page[STORE_ETAG_MAX] = "";

	if (!c->cfg.stat_ttl_ms)
		return;
	/* Allocate outside the lock. */
	if (info && !(copy = info_dup(info)))
		return;
	pthread_mutex_lock(&c->lock);
	if (is_stale_locked(c, h, token)) {
		c->stats.dropped++;
		goto out;
	}
	old = stat_lookup_locked(c, path, h);
	if (weak && old && !old->negative && old->a.meta_known &&
	    (strcmp(old->a.etag, a->etag) == 0 || !a->etag[0] ||
	     (!old->a.etag[0] && old->a.st.st_size == a->st.st_size)))
		goto out;
	if (old && !old->negative && strcmp(old->a.etag, a->etag) == 0)
		memcpy(page, old->a.page_etag, sizeof(page));
	s = stat_replace_locked(c, path, h, c->cfg.stat_ttl_ms, old);
	if (!s)
		goto out;
	s->a = *a;
	memcpy(s->a.page_etag, page, sizeof(page));
	s->a.has_info = copy != NULL;
	s->info = copy;
	copy = NULL;
out:
	pthread_mutex_unlock(&c->lock);
	if (copy) {
		store_info_release(copy);
		free(copy);
	}
}

void cache_put(struct cache *c, const char *path, uint64_t token, const struct cache_attr *a,
	       const struct store_info *info)
{
	put_attr(c, path, token, a, info, false);
}

void cache_put_weak(struct cache *c, const char *path, uint64_t token, const struct cache_attr *a)
{
	put_attr(c, path, token, a, NULL, true);
}

void cache_put_negative(struct cache *c, const char *path, uint64_t token)
{
	uint32_t h = hash_str(path);
	struct stat_node *s;

	if (!c->cfg.neg_ttl_ms)
		return;
	pthread_mutex_lock(&c->lock);
	if (is_stale_locked(c, h, token)) {
		c->stats.dropped++;
	} else {
		s = stat_replace_locked(c, path, h, c->cfg.neg_ttl_ms,
					stat_lookup_locked(c, path, h));
		if (s)
			s->negative = true;
	}
	pthread_mutex_unlock(&c->lock);
}

void cache_set_page_etag(struct cache *c, const char *path, const char *etag)
{
	uint32_t h = hash_str(path);
	struct stat_node *s;

	pthread_mutex_lock(&c->lock);
	s = stat_lookup_locked(c, path, h);
	if (s && !s->negative)
		snprintf(s->a.page_etag, sizeof(s->a.page_etag), "%s", etag ? etag : "");
	pthread_mutex_unlock(&c->lock);
}

/* Length of the parent of @path ("/a/b" -> 2, "/a" -> 1 for "/"); 0 for "/". */
static size_t parent_len(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash || (slash == path && path[1] == '\0'))
		return 0;
	return slash == path ? 1 : (size_t)(slash - path);
}

/* Forget the entries of exactly @path in both maps and mark it changed. */
static void forget_locked(struct cache *c, const char *path)
{
	uint32_t h = hash_str(path);
	struct node *n;

	c->gen++;
	c->stripe[h % N_STRIPES] = c->gen;
	n = map_find(&c->stat, path, h);
	if (n)
		drop_stat_locked(c, n);
	n = map_find(&c->dirs, path, h);
	if (n)
		drop_dir_locked(c, n);
}

static struct node *map_find_n(struct map *m, const char *s, size_t n, uint32_t h)
{
	for (struct node *x = m->buckets[h & (m->nbuckets - 1)]; x; x = x->hnext) {
		if (x->hash == h && strncmp(x->path, s, n) == 0 && x->path[n] == '\0')
			return x;
	}
	return NULL;
}

/*
 * The live listing of the parent of @path (NULL if none) and the name of
 * @path in it. Marks the parent changed: a listing fetched before this
 * point is no longer accepted by cache_dir_put(). Locked.
 */
static struct dir_node *parent_locked(struct cache *c, const char *path, const char **name)
{
	size_t pl = parent_len(path);
	uint32_t h;
	struct node *n;

	if (!pl)
		return NULL;
	*name = path + pl + (pl > 1 ? 1 : 0);
	h = fnv1a(path, pl); /* hash_str() of that prefix */
	c->gen++;
	c->stripe[h % N_STRIPES] = c->gen;
	n = map_find_n(&c->dirs, path, pl, h);
	if (n && n->expires <= now_ms(c)) {
		drop_dir_locked(c, n);
		n = NULL;
	}
	return (struct dir_node *)n;
}

/*
 * The listing of @d, safe to change: copied first while a reader holds it.
 * NULL when out of memory; the listing is dropped then. Locked.
 */
static struct cache_dir *writable_locked(struct cache *c, struct dir_node *d)
{
	struct cache_dir *copy;

	if (!is_shared(d->dir))
		return d->dir;
	copy = dir_clone(d->dir);
	if (!copy) {
		drop_dir_locked(c, &d->node);
		return NULL;
	}
	cache_dir_unref(d->dir);
	d->dir = copy;
	return copy;
}

/* Count @d's listing again after a change; drop it over the budget. Locked. */
static void recount_locked(struct cache *c, struct dir_node *d)
{
	c->n_dirents -= d->n_ents;
	c->dir_bytes -= d->bytes;
	d->n_ents = d->dir->n;
	d->bytes = dir_bytes(d->dir);
	c->n_dirents += d->n_ents;
	c->dir_bytes += d->bytes;
	if (c->n_dirents > c->cfg.max_dirents || c->dir_bytes > c->cfg.max_dir_bytes)
		drop_dir_locked(c, &d->node); /* cannot keep it exact within the budget */
}

/* The attributes of @path in its parent's listing are no longer known. */
static void parent_stale_locked(struct cache *c, const char *path)
{
	const char *name = NULL;
	struct dir_node *d = parent_locked(c, path, &name);
	long i = d ? dir_find(d->dir, name, NULL) : -1;
	struct cache_dir *w;

	if (i < 0 || !(d->dir->v[i].flags & (DREC_HAS_STAT | DREC_LISTED)))
		return;
	w = writable_locked(c, d);
	if (w) {
		w->v[i].flags = 0;
		w->v[i].full = 0;
		recount_locked(c, d); /* a copy is smaller than what it copied */
	}
}

void cache_invalidate(struct cache *c, const char *path)
{
	pthread_mutex_lock(&c->lock);
	forget_locked(c, path);
	parent_stale_locked(c, path);
	pthread_mutex_unlock(&c->lock);
}

void cache_invalidate_attr(struct cache *c, const char *path)
{
	uint32_t h = hash_str(path);
	struct node *n;

	pthread_mutex_lock(&c->lock);
	c->gen++;
	c->stripe[h % N_STRIPES] = c->gen;
	n = map_find(&c->stat, path, h);
	if (n)
		drop_stat_locked(c, n);
	parent_stale_locked(c, path);
	pthread_mutex_unlock(&c->lock);
}

static bool in_tree(const char *path, const char *top, size_t tl)
{
	if (tl == 1 && top[0] == '/')
		return true;
	return strncmp(path, top, tl) == 0 && (path[tl] == '\0' || path[tl] == '/');
}

void cache_invalidate_tree(struct cache *c, const char *path)
{
	size_t tl = strlen(path);

	pthread_mutex_lock(&c->lock);
	c->tree_gen = ++c->gen;
	for (struct node *n = c->stat.lru.next, *next; n != &c->stat.lru; n = next) {
		next = n->next;
		if (in_tree(n->path, path, tl))
			drop_stat_locked(c, n);
	}
	for (struct node *n = c->dirs.lru.next, *next; n != &c->dirs.lru; n = next) {
		next = n->next;
		if (in_tree(n->path, path, tl))
			drop_dir_locked(c, n);
	}
	parent_stale_locked(c, path);
	pthread_mutex_unlock(&c->lock);
}

void cache_dir_note(struct cache *c, const char *path, mode_t type)
{
	struct cache_dirent e = { .st.st_mode = type & S_IFMT };
	const char *name = NULL;
	struct cache_dir *w = NULL;
	struct dir_node *d;
	long i = -1;

	pthread_mutex_lock(&c->lock);
	d = parent_locked(c, path, &name);
	if (d)
		i = dir_find(d->dir, name, NULL);
	if (d && (type || i >= 0))
		w = writable_locked(c, d);
	if (w && type) {
		e.name = name;
		if (cache_dir_add(w, &e, true) != 0)
			drop_dir_locked(c, &d->node); /* cannot keep it exact: forget it */
		else
			recount_locked(c, d);
	} else if (w) {
		cache_dir_del(w, (size_t)i);
		recount_locked(c, d);
	}
	pthread_mutex_unlock(&c->lock);
}

bool cache_dir_listed(struct cache *c, const char *dir, const char *name, struct stat *st)
{
	uint32_t h = hash_str(dir);
	struct cache_dirent e;
	bool found = false;
	struct node *n;
	long i;

	pthread_mutex_lock(&c->lock);
	n = map_find(&c->dirs, dir, h);
	if (n && n->expires > now_ms(c)) {
		const struct cache_dir *d = ((struct dir_node *)n)->dir;
		i = dir_find(d, name, NULL);
		if (i >= 0 && (d->v[i].flags & DREC_LISTED)) {
			cache_dir_at(d, (size_t)i, &e);
			*st = e.st;
			found = true;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}

enum cache_hit cache_dir_find(struct cache *c, const char *dir, const char *name, mode_t *type)
{
	uint32_t h = hash_str(dir);
	enum cache_hit hit = CACHE_MISS;
	struct node *n;
	long i;

	pthread_mutex_lock(&c->lock);
	n = map_find(&c->dirs, dir, h);
	if (n && n->expires <= now_ms(c)) {
		drop_dir_locked(c, n);
		n = NULL;
	}
	if (n) {
		const struct cache_dir *d = ((struct dir_node *)n)->dir;
		i = dir_find(d, name, NULL);
		hit = i < 0 ? CACHE_NEGATIVE : CACHE_HIT;
		if (i >= 0 && type)
			*type = d->v[i].mode & S_IFMT;
	}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

void cache_dir_put(struct cache *c, const char *path, uint64_t token, struct cache_dir *dir)
{
	uint32_t h = hash_str(path);
	struct cache_dir *empty = NULL;
	struct dir_node *d = NULL;
	struct node *old;
	size_t n, bytes;

	if (!c->cfg.dir_ttl_ms)
		return;
	if (!dir && !(dir = empty = cache_dir_new()))
		return;
	if (!is_shared(dir))
		dir_trim(dir); /* only the caller has it */
	n = dir->n;
	bytes = dir_bytes(dir);
	if (n > c->cfg.max_dirents || bytes > c->cfg.max_dir_bytes)
		goto out; /* larger than the whole budget */
	d = calloc(1, sizeof(*d));
	if (!d || !(d->node.path = strdup(path)))
		goto out;
	d->node.hash = h;
	d->n_ents = n;
	d->bytes = bytes;
	pthread_mutex_lock(&c->lock);
	if (is_stale_locked(c, h, token)) {
		c->stats.dropped++;
		pthread_mutex_unlock(&c->lock);
		goto out;
	}
	old = map_find(&c->dirs, path, h);
	if (old)
		drop_dir_locked(c, old);
	while ((c->dirs.n >= c->dirs.max || c->n_dirents + n > c->cfg.max_dirents ||
		c->dir_bytes + bytes > c->cfg.max_dir_bytes) &&
	       c->dirs.lru.prev != &c->dirs.lru) {
		drop_dir_locked(c, c->dirs.lru.prev);
		c->stats.evictions++;
	}
	d->node.expires = now_ms(c) + c->cfg.dir_ttl_ms;
	d->dir = cache_dir_ref(dir);
	map_insert(&c->dirs, &d->node);
	c->n_dirents += n;
	c->dir_bytes += bytes;
	d = NULL;
	pthread_mutex_unlock(&c->lock);
out:
	if (d)
		free(d->node.path);
	free(d);
	cache_dir_unref(empty);
}

struct cache_dir *cache_dir_get(struct cache *c, const char *path)
{
	uint32_t h = hash_str(path);
	struct cache_dir *dir = NULL;
	struct node *node;

	pthread_mutex_lock(&c->lock);
	node = map_find(&c->dirs, path, h);
	if (node && node->expires <= now_ms(c)) {
		drop_dir_locked(c, node);
		node = NULL;
	}
	if (node) {
		lru_unlink(node);
		lru_push_front(&c->dirs, node);
		dir = cache_dir_ref(((struct dir_node *)node)->dir);
		c->stats.dir_hits++;
	} else {
		c->stats.dir_misses++;
	}
	pthread_mutex_unlock(&c->lock);
	return dir;
}

void cache_get_stats(struct cache *c, struct cache_stats *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->stats;
	out->n_stat = c->stat.n;
	out->n_dirs = c->dirs.n;
	out->n_dirents = c->n_dirents;
	out->dir_bytes = c->dir_bytes;
	pthread_mutex_unlock(&c->lock);
}
