/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The stat, negative and directory caches: two LRU hash maps under one
 * mutex, with TTLs and striped invalidation counters that keep a reply
 * fetched before a change from being cached after it. No storage access.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "util/hash.h"

#define N_STRIPES 256
#define DEFAULT_MAX_STAT 16384
#define DEFAULT_MAX_DIRS 256
#define DEFAULT_MAX_DIRENTS 65536

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
	struct cache_dirent *ents;
	size_t n_ents;
};

struct cache {
	struct cache_cfg cfg;
	pthread_mutex_t lock;
	struct map stat; /* of struct stat_node */
	struct map dirs; /* of struct dir_node */
	size_t n_dirents;
	uint64_t gen;		    /* bumped by every invalidation */
	uint64_t tree_gen;	    /* gen of the last tree invalidation */
	uint64_t stripe[N_STRIPES]; /* gen of the last invalidation per hash stripe */
	struct cache_stats stats;
};

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

void cache_dirents_free(struct cache_dirent *ents, size_t n)
{
	for (size_t i = 0; ents && i < n; i++)
		free(ents[i].name);
	free(ents);
}

static void dir_node_free(struct cache *c, struct dir_node *d)
{
	if (!d)
		return;
	c->n_dirents -= d->n_ents;
	cache_dirents_free(d->ents, d->n_ents);
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
		c->cfg.max_dirents = DEFAULT_MAX_DIRENTS;
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

/* Index of @name in the sorted listing @d, or -1 with *ins its place. */
static long dirent_find(const struct dir_node *d, const char *name, size_t *ins)
{
	size_t lo = 0, hi = d->n_ents;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(d->ents[mid].name, name);
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

/* The attributes of @path in its parent's listing are no longer known. */
static void parent_stale_locked(struct cache *c, const char *path)
{
	const char *name = NULL;
	struct dir_node *d = parent_locked(c, path, &name);
	long i = d ? dirent_find(d, name, NULL) : -1;

	if (i >= 0)
		d->ents[i].has_stat = d->ents[i].listed = false;
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

/* Add @name (type @type) to listing @d at @at, or drop @d over budget. Locked. */
static void dirent_insert_locked(struct cache *c, struct dir_node *d, size_t at, const char *name,
				 mode_t type)
{
	struct cache_dirent *v = NULL;
	char *n = NULL;

	if (c->n_dirents < c->cfg.max_dirents) {
		v = realloc(d->ents, (d->n_ents + 1) * sizeof(*v));
		n = strdup(name);
	}
	if (v)
		d->ents = v;
	if (!v || !n) {
		/* Cannot keep the listing exact: forget it. */
		free(n);
		drop_dir_locked(c, &d->node);
		return;
	}
	memmove(&v[at + 1], &v[at], (d->n_ents - at) * sizeof(*v));
	memset(&v[at], 0, sizeof(*v));
	v[at].name = n;
	v[at].st.st_mode = type;
	d->n_ents++;
	c->n_dirents++;
}

void cache_dir_note(struct cache *c, const char *path, mode_t type)
{
	const char *name = NULL;
	struct dir_node *d;
	size_t at = 0;
	long i;

	pthread_mutex_lock(&c->lock);
	d = parent_locked(c, path, &name);
	i = d ? dirent_find(d, name, &at) : -1;
	if (d && type && i < 0) {
		dirent_insert_locked(c, d, at, name, type & S_IFMT);
	} else if (d && type) {
		d->ents[i].st.st_mode = type & S_IFMT;
		d->ents[i].has_stat = d->ents[i].listed = false;
	} else if (d && i >= 0) {
		free(d->ents[i].name);
		memmove(&d->ents[i], &d->ents[i + 1],
			(d->n_ents - (size_t)i - 1) * sizeof(d->ents[0]));
		d->n_ents--;
		c->n_dirents--;
	}
	pthread_mutex_unlock(&c->lock);
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
		i = dirent_find((struct dir_node *)n, name, NULL);
		hit = i < 0 ? CACHE_NEGATIVE : CACHE_HIT;
		if (i >= 0 && type)
			*type = ((struct dir_node *)n)->ents[i].st.st_mode & S_IFMT;
	}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

static int dirent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cache_dirent *)a)->name,
		      ((const struct cache_dirent *)b)->name);
}

static struct cache_dirent *dirents_dup(const struct cache_dirent *src, size_t n)
{
	struct cache_dirent *d = calloc(n ? n : 1, sizeof(*d));

	if (!d)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		d[i] = src[i];
		d[i].name = strdup(src[i].name);
		if (!d[i].name) {
			cache_dirents_free(d, i);
			return NULL;
		}
	}
	return d;
}

void cache_dir_put(struct cache *c, const char *path, uint64_t token,
		   const struct cache_dirent *ents, size_t n)
{
	uint32_t h = hash_str(path);
	struct dir_node *d;
	struct node *old;

	if (!c->cfg.dir_ttl_ms || n > c->cfg.max_dirents)
		return;
	d = calloc(1, sizeof(*d));
	if (!d)
		return;
	d->node.path = strdup(path);
	d->ents = dirents_dup(ents, n);
	if (!d->node.path || !d->ents) {
		free(d->node.path);
		cache_dirents_free(d->ents, 0);
		free(d);
		return;
	}
	d->n_ents = n;
	d->node.hash = h;
	/* Sorted, for lookups by name. */
	if (n > 1)
		qsort(d->ents, n, sizeof(*d->ents), dirent_cmp);
	pthread_mutex_lock(&c->lock);
	if (is_stale_locked(c, h, token)) {
		c->stats.dropped++;
		pthread_mutex_unlock(&c->lock);
		cache_dirents_free(d->ents, n);
		free(d->node.path);
		free(d);
		return;
	}
	old = map_find(&c->dirs, path, h);
	if (old)
		drop_dir_locked(c, old);
	while ((c->dirs.n >= c->dirs.max || c->n_dirents + n > c->cfg.max_dirents) &&
	       c->dirs.lru.prev != &c->dirs.lru) {
		drop_dir_locked(c, c->dirs.lru.prev);
		c->stats.evictions++;
	}
	d->node.expires = now_ms(c) + c->cfg.dir_ttl_ms;
	map_insert(&c->dirs, &d->node);
	c->n_dirents += n;
	pthread_mutex_unlock(&c->lock);
}

bool cache_dir_get(struct cache *c, const char *path, struct cache_dirent **ents, size_t *n)
{
	uint32_t h = hash_str(path);
	struct node *node;
	bool hit = false;

	pthread_mutex_lock(&c->lock);
	node = map_find(&c->dirs, path, h);
	if (node && node->expires <= now_ms(c)) {
		drop_dir_locked(c, node);
		node = NULL;
	}
	if (node) {
		struct dir_node *d = (struct dir_node *)node;
		lru_unlink(node);
		lru_push_front(&c->dirs, node);
		/* Copying under the lock: memory work only, bounded by max_dirents. */
		*ents = dirents_dup(d->ents, d->n_ents);
		*n = d->n_ents;
		hit = *ents != NULL;
	}
	if (hit)
		c->stats.dir_hits++;
	else
		c->stats.dir_misses++;
	pthread_mutex_unlock(&c->lock);
	return hit;
}

void cache_get_stats(struct cache *c, struct cache_stats *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->stats;
	out->n_stat = c->stat.n;
	out->n_dirs = c->dirs.n;
	out->n_dirents = c->n_dirents;
	pthread_mutex_unlock(&c->lock);
}
