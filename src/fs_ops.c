/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The FUSE operations (high-level, path-based API): paths to keys under
 * the mount's prefix, directories from markers and common prefixes, the
 * caches kept in step with our own changes, server-side copies for
 * rename and metadata changes. Data staging and uploads are fh's; HTTP,
 * signing and encryption are below store.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <fuse.h>

#include "cache.h"
#include "fh.h"
#include "fs_ops.h"
#include "log.h"
#include "meta.h"

#define FS_KEY_MAX 1024 /* longest key S3 accepts */
#define KEYBUF (FS_KEY_MAX + 2)
#define LIST_PAGE 1000
/* CopyObject copies at most 5 GiB; larger objects go by UploadPartCopy. */
#define COPY_MAX ((uint64_t)5 << 30)
#define COPY_PART_MIN ((uint64_t)512 << 20)
#define MPU_MAX_PARTS 10000
#define NEG_TTL_MAX_MS 5000

struct fs_ctx {
	const struct mount_cfg *cfg;
	struct store *st;
	struct cache *cache;
	struct fh_ctx *fh; /* created by init() */
	struct fh_cfg fhcfg;
	struct meta_cfg mc;
	time_t mount_time;
	size_t prefix_len;
};

/* One open() of a file. */
struct fs_file {
	struct fh *fh;
	time_t mtime_set; /* second of the last mtime update by write() */
};

/* What a path is, as far as lookup() found out. */
struct obj {
	struct stat st;
	struct store_info info; /* HEAD of the file or directory marker, if has_info */
	bool has_info;
	bool marker; /* a directory with its own "dir/" object */
};

static struct fs_ctx *ctx(void)
{
	return fuse_get_context()->private_data;
}

static struct fs_file *file_of(const struct fuse_file_info *fi)
{
	return fi ? (struct fs_file *)(uintptr_t)fi->fh : NULL;
}

/* The open file of a read/write/flush/release call: fi is never NULL there. */
static struct fs_file *open_file(const struct fuse_file_info *fi)
{
	return (struct fs_file *)(uintptr_t)fi->fh;
}

static bool is_root(const char *path)
{
	return path[0] == '/' && path[1] == '\0';
}

static uint64_t ttl_ms(unsigned s)
{
	return (uint64_t)s * 1000;
}

int fs_path_to_key(const struct fs_ctx *c, const char *path, int dir, char *out, size_t size)
{
	const char *rel = path[0] == '/' ? path + 1 : path;
	int n;

	if (!*rel)
		n = snprintf(out, size, "%s", c->cfg->prefix);
	else
		n = snprintf(out, size, "%s%s%s", c->cfg->prefix, rel, dir ? "/" : "");
	if (n < 0 || (size_t)n >= size || n > FS_KEY_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* "/" + key without the prefix and without a trailing '/'. */
static int key_to_path(const struct fs_ctx *c, const char *key, char *out, size_t size)
{
	size_t n;
	int w;

	if (strncmp(key, c->cfg->prefix, c->prefix_len) != 0)
		return -EINVAL;
	w = snprintf(out, size, "/%s", key + c->prefix_len);
	if (w < 0 || (size_t)w >= size)
		return -ENAMETOOLONG;
	n = (size_t)w;
	if (n > 1 && out[n - 1] == '/')
		out[n - 1] = '\0';
	return 0;
}

static void now_ts(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

/* ---- running requests in parallel ------------------------------------ */

struct par {
	pthread_mutex_t lock;
	size_t next, n;
	int err;
	int (*fn)(void *arg, size_t i);
	void *arg;
};

static void *par_worker(void *p_)
{
	struct par *p = p_;

	for (;;) {
		size_t i;
		int r;
		pthread_mutex_lock(&p->lock);
		if (p->next >= p->n || p->err) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		i = p->next++;
		pthread_mutex_unlock(&p->lock);
		r = p->fn(p->arg, i);
		if (r) {
			pthread_mutex_lock(&p->lock);
			if (!p->err)
				p->err = r;
			pthread_mutex_unlock(&p->lock);
		}
	}
}

/*
 * Call @fn(@arg, i) for i in [0, n) on up to @threads threads (the caller's
 * included). Stops handing out work after the first error, which it returns.
 */
static int run_parallel(unsigned threads, size_t n, int (*fn)(void *arg, size_t i), void *arg)
{
	struct par p = { .n = n, .fn = fn, .arg = arg };
	pthread_t th[64];
	size_t started = 0;

	if (threads > ARRAY_SIZE(th) + 1)
		threads = ARRAY_SIZE(th) + 1;
	pthread_mutex_init(&p.lock, NULL);
	for (size_t i = 1; i < threads && i < n; i++) {
		if (pthread_create(&th[started], NULL, par_worker, &p) != 0)
			break;
		started++;
	}
	par_worker(&p);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&p.lock);
	return p.err;
}

/* ---- attributes ------------------------------------------------------ */

static void attr_from_info(struct fs_ctx *c, const char *key, const struct store_info *info,
			   struct cache_attr *a)
{
	memset(a, 0, sizeof(*a));
	meta_to_stat(&c->mc, key, info, &a->st);
	snprintf(a->etag, sizeof(a->etag), "%s", info->etag);
	a->enc = info->enc;
	a->meta_known = true;
}

/* The stat of an open file from its staged state. */
static int open_file_stat(struct fs_ctx *c, struct fh *fh, const char *path, const char *key,
			  struct obj *o)
{
	struct cache_attr a;
	uint64_t size;
	int r;

	fh_stat(fh, &size, NULL);
	memset(&o->info, 0, sizeof(o->info));
	r = fh_get_meta(fh, &o->info.meta);
	if (r)
		return r;
	o->info.size = size;
	o->info.last_modified = time(NULL);
	if (cache_get(c->cache, path, &a, NULL) == CACHE_HIT) {
		o->info.last_modified = a.st.st_mtime;
		snprintf(o->info.etag, sizeof(o->info.etag), "%s", a.etag);
		o->info.enc = a.enc;
	}
	meta_to_stat(&c->mc, key, &o->info, &o->st);
	o->has_info = true;
	return 0;
}

/* Is there anything under directory key @dkey? Is "dkey" itself an object? */
static int probe_dir(struct fs_ctx *c, const char *dkey, bool *exists, bool *marker)
{
	struct store_page page;
	int r;

	memset(&page, 0, sizeof(page));
	r = c->st->ops->list(c->st, dkey, "/", NULL, 2, &page);
	if (r)
		return r;
	*exists = page.n_objects > 0 || page.n_prefixes > 0;
	*marker = page.n_objects > 0 && strcmp(page.objects[0].key, dkey) == 0;
	store_page_release(&page);
	return 0;
}

/*
 * Find out what @path is. @want_info: the caller needs the object's
 * headers (open, metadata changes), so a cached stat without them is not
 * enough. Fills @o (release with obj_release()). 0, -ENOENT or -errno.
 */
static int lookup(struct fs_ctx *c, const char *path, bool want_info, struct obj *o)
{
	char key[KEYBUF], dkey[KEYBUF];
	struct cache_attr a;
	struct fh *fh;
	bool exists = false, marker = false;
	uint64_t token;
	int r;

	memset(o, 0, sizeof(*o));
	if (is_root(path)) {
		meta_dir_stat(&c->mc, c->mount_time, &o->st);
		return 0;
	}
	r = fs_path_to_key(c, path, 0, key, sizeof(key));
	if (r == 0)
		r = fs_path_to_key(c, path, 1, dkey, sizeof(dkey));
	if (r)
		return r;
	fh = c->fh ? fh_find(c->fh, key) : NULL;
	if (fh) {
		r = open_file_stat(c, fh, path, key, o);
		(void)fh_release(fh);
		return r;
	}
	switch (cache_get(c->cache, path, &a, want_info ? &o->info : NULL)) {
	case CACHE_NEGATIVE:
		return -ENOENT;
	case CACHE_HIT:
		/* Directories carry headers exactly when they have a marker. */
		if (a.meta_known && (!want_info || a.has_info || S_ISDIR(a.st.st_mode))) {
			o->st = a.st;
			o->has_info = a.has_info;
			o->marker = S_ISDIR(a.st.st_mode) && a.has_info;
			return 0;
		}
		store_info_release(&o->info);
		memset(&o->info, 0, sizeof(o->info));
		break;
	default:
		break;
	}

	token = cache_token(c->cache);
	r = c->st->ops->head(c->st, key, &o->info);
	if (r == 0) {
		attr_from_info(c, key, &o->info, &a);
		o->st = a.st;
		o->has_info = true;
		cache_put(c->cache, path, token, &a, &o->info);
		return 0;
	}
	if (r != -ENOENT)
		return r;
	r = probe_dir(c, dkey, &exists, &marker);
	if (r)
		return r;
	if (!exists) {
		cache_put_negative(c->cache, path, token);
		return -ENOENT;
	}
	if (marker) {
		r = c->st->ops->head(c->st, dkey, &o->info);
		if (r == 0) {
			attr_from_info(c, dkey, &o->info, &a);
			o->st = a.st;
			o->has_info = true;
			o->marker = true;
			cache_put(c->cache, path, token, &a, &o->info);
			return 0;
		}
		if (r != -ENOENT)
			return r;
	}
	/* Only keys below it: an implicit directory. */
	memset(&a, 0, sizeof(a));
	meta_dir_stat(&c->mc, c->mount_time, &a.st);
	a.meta_known = true;
	o->st = a.st;
	cache_put(c->cache, path, token, &a, NULL);
	return 0;
}

static void obj_release(struct obj *o)
{
	store_info_release(&o->info);
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct fs_ctx *c = ctx();
	struct fs_file *f = file_of(fi);
	struct obj o;
	int r;

	if (f) {
		char key[KEYBUF];
		r = fs_path_to_key(c, path ? path : "/", 0, key, sizeof(key));
		if (r == 0)
			r = open_file_stat(c, f->fh, path ? path : "/", key, &o);
	} else {
		r = lookup(c, path, false, &o);
	}
	if (r == 0)
		*st = o.st;
	obj_release(&o);
	return r;
}

/* ---- directories ----------------------------------------------------- */

struct dent {
	char *name;
	char *key; /* the object ("name" or "name/") to HEAD, owned */
	struct stat st;
	char etag[STORE_ETAG_MAX];
	bool is_prefix;
	bool has_stat;
	bool gone; /* deleted since the listing */
};

struct dlist {
	struct dent *v;
	size_t n, cap;
};

static void dlist_release(struct dlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].key);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static struct dent *dlist_add(struct dlist *l, const char *name, size_t nlen, const char *key)
{
	struct dent *d;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct dent *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		l->v = v;
		l->cap = cap;
	}
	d = &l->v[l->n];
	memset(d, 0, sizeof(*d));
	d->name = strndup(name, nlen);
	d->key = strdup(key);
	if (!d->name || !d->key) {
		free(d->name);
		free(d->key);
		return NULL;
	}
	l->n++;
	return d;
}

static int dent_cmp(const void *a_, const void *b_)
{
	const struct dent *a = a_, *b = b_;
	int r = strcmp(a->name, b->name);

	/* Same name: the object first; the common prefix is dropped. */
	return r ? r : (int)a->is_prefix - (int)b->is_prefix;
}

/* Add one listing page's entries below @dkey (of length @dl) to @l. */
static int add_page(struct fs_ctx *c, const struct store_page *p, const char *dkey, size_t dl,
		    struct dlist *l)
{
	for (size_t i = 0; i < p->n_objects; i++) {
		const struct store_entry *e = &p->objects[i];
		const char *name = e->key + dl;
		struct dent *d;
		if (strncmp(e->key, dkey, dl) != 0 || !*name || strchr(name, '/'))
			continue; /* the marker itself, or a key we cannot name */
		d = dlist_add(l, name, strlen(name), e->key);
		if (!d)
			return -ENOMEM;
		meta_entry_to_stat(&c->mc, e, &d->st);
		snprintf(d->etag, sizeof(d->etag), "%s", e->etag);
	}
	for (size_t i = 0; i < p->n_prefixes; i++) {
		const char *pre = p->prefixes[i];
		size_t n = strlen(pre);
		struct dent *d;
		if (strncmp(pre, dkey, dl) != 0 || n <= dl + 1)
			continue; /* "dir//": an empty name */
		d = dlist_add(l, pre + dl, n - dl - 1, pre);
		if (!d)
			return -ENOMEM;
		d->is_prefix = true;
		meta_dir_stat(&c->mc, c->mount_time, &d->st);
	}
	return 0;
}

struct head_job {
	struct fs_ctx *c;
	struct dlist *l;
	const char *dir; /* directory path */
	uint64_t token;
};

static int child_path(const char *dir, const char *name, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s", is_root(dir) ? "" : dir, name);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Attributes of entry @i: HEAD of the object or directory marker. */
static int head_one(void *arg, size_t i)
{
	struct head_job *j = arg;
	struct fs_ctx *c = j->c;
	struct dent *d = &j->l->v[i];
	char path[KEYBUF + 2];
	struct store_info info;
	struct cache_attr a;
	int r;

	if (d->has_stat || child_path(j->dir, d->name, path, sizeof(path)) != 0)
		return 0;
	memset(&info, 0, sizeof(info));
	r = c->st->ops->head(c->st, d->key, &info);
	if (r == 0) {
		attr_from_info(c, d->key, &info, &a);
		cache_put(c->cache, path, j->token, &a, &info);
		d->st = a.st;
		d->has_stat = true;
	} else if (r == -ENOENT && d->is_prefix) {
		/* No marker: an implicit directory, as listed. */
		memset(&a, 0, sizeof(a));
		a.st = d->st;
		a.meta_known = true;
		cache_put(c->cache, path, j->token, &a, NULL);
		d->has_stat = true;
	} else if (r == -ENOENT) {
		d->gone = true;
	}
	store_info_release(&info);
	/* Errors are not fatal here: getattr() asks again. */
	return 0;
}

/* Use cached attributes where they match the listing. */
static void dlist_from_cache(struct fs_ctx *c, const char *dir, struct dlist *l)
{
	char path[KEYBUF + 2];
	struct cache_attr a;

	for (size_t i = 0; i < l->n; i++) {
		struct dent *d = &l->v[i];
		if (child_path(dir, d->name, path, sizeof(path)) != 0)
			continue;
		if (cache_get(c->cache, path, &a, NULL) != CACHE_HIT || !a.meta_known)
			continue;
		if (d->is_prefix ? S_ISDIR(a.st.st_mode) : strcmp(a.etag, d->etag) == 0) {
			d->st = a.st;
			d->has_stat = true;
		}
	}
}

/* List directory @path into @l (sorted, unique names, attributes filled). */
static int list_dir(struct fs_ctx *c, const char *path, struct dlist *l)
{
	char dkey[KEYBUF];
	struct store_page page;
	char *token = NULL;
	uint64_t ctoken = cache_token(c->cache);
	size_t dl, out = 0;
	int r;

	r = fs_path_to_key(c, path, 1, dkey, sizeof(dkey));
	if (r)
		return r;
	dl = strlen(dkey);
	do {
		memset(&page, 0, sizeof(page));
		r = c->st->ops->list(c->st, dkey, "/", token, LIST_PAGE, &page);
		free(token);
		token = NULL;
		if (r)
			return r;
		r = add_page(c, &page, dkey, dl, l);
		if (r == 0 && page.next_token) {
			token = page.next_token;
			page.next_token = NULL;
		}
		store_page_release(&page);
	} while (r == 0 && token);
	free(token);
	if (r)
		return r;
	if (l->n)
		qsort(l->v, l->n, sizeof(l->v[0]), dent_cmp);
	for (size_t i = 0; i < l->n; i++) {
		if (out && strcmp(l->v[out - 1].name, l->v[i].name) == 0) {
			free(l->v[i].name);
			free(l->v[i].key);
			continue;
		}
		l->v[out++] = l->v[i];
	}
	l->n = out;

	/*
	 * Attributes: the listing gives size and LastModified, not mode, owner
	 * or mtime. Ask for them in parallel now rather than one by one when
	 * the kernel looks each name up, unless nothing would be cached.
	 */
	dlist_from_cache(c, path, l);
	if (c->cfg->stat_ttl) {
		struct head_job j = { .c = c, .l = l, .dir = path, .token = ctoken };
		r = run_parallel(c->cfg->parallel, l->n, head_one, &j);
	}
	return r;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct fs_ctx *c = ctx();
	struct cache_dirent *ents = NULL;
	size_t n = 0;
	struct dlist l = { 0 };
	struct obj o;
	uint64_t token;
	int r;

	(void)off;
	(void)fi;
	if (!cache_dir_get(c->cache, path, &ents, &n)) {
		r = lookup(c, path, false, &o);
		obj_release(&o);
		if (r)
			return r;
		if (!S_ISDIR(o.st.st_mode))
			return -ENOTDIR;
		token = cache_token(c->cache);
		r = list_dir(c, path, &l);
		if (r) {
			dlist_release(&l);
			return r;
		}
		ents = calloc(l.n ? l.n : 1, sizeof(*ents));
		if (!ents) {
			dlist_release(&l);
			return -ENOMEM;
		}
		for (size_t i = 0; i < l.n; i++) {
			if (l.v[i].gone)
				continue;
			ents[n].name = l.v[i].name;
			l.v[i].name = NULL;
			ents[n].st = l.v[i].st;
			ents[n].has_stat = l.v[i].has_stat;
			n++;
		}
		dlist_release(&l);
		cache_dir_put(c->cache, path, token, ents, n);
	}
	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	for (size_t i = 0; i < n; i++) {
		enum fuse_fill_dir_flags ff = 0;
		if (ents[i].has_stat && (flags & FUSE_READDIR_PLUS))
			ff = FUSE_FILL_DIR_PLUS;
		if (filler(buf, ents[i].name, &ents[i].st, 0, ff))
			break;
	}
	cache_dirents_free(ents, n);
	return 0;
}

static int fs_mkdir(const char *path, mode_t mode)
{
	struct fs_ctx *c = ctx();
	struct fuse_context *fc = fuse_get_context();
	char dkey[KEYBUF];
	struct store_info info;
	struct cache_attr a;
	struct timespec now;
	int r;

	r = fs_path_to_key(c, path, 1, dkey, sizeof(dkey));
	if (r)
		return r;
	memset(&info, 0, sizeof(info));
	now_ts(&now);
	r = meta_init(&info.meta, S_IFDIR | (mode & 07777), fc->uid, fc->gid, &now);
	if (r == 0)
		r = c->st->ops->put(c->st, dkey, "", 0, &info.meta);
	cache_invalidate(c->cache, path);
	if (r == 0) {
		info.last_modified = now.tv_sec;
		attr_from_info(c, dkey, &info, &a);
		a.etag[0] = '\0';
		cache_put(c->cache, path, cache_token(c->cache), &a, &info);
	}
	store_info_release(&info);
	return r;
}

static int fs_rmdir(const char *path)
{
	struct fs_ctx *c = ctx();
	char dkey[KEYBUF];
	struct store_page page;
	struct obj o;
	int r;

	if (is_root(path))
		return -EBUSY;
	r = lookup(c, path, false, &o);
	obj_release(&o);
	if (r)
		return r;
	if (!S_ISDIR(o.st.st_mode))
		return -ENOTDIR;
	r = fs_path_to_key(c, path, 1, dkey, sizeof(dkey));
	if (r)
		return r;
	memset(&page, 0, sizeof(page));
	r = c->st->ops->list(c->st, dkey, NULL, NULL, 2, &page);
	if (r)
		return r;
	for (size_t i = 0; i < page.n_objects; i++) {
		if (strcmp(page.objects[i].key, dkey) != 0)
			r = -ENOTEMPTY;
	}
	store_page_release(&page);
	if (r)
		return r;
	r = c->st->ops->del(c->st, dkey);
	cache_invalidate_tree(c->cache, path);
	if (r == 0)
		cache_put_negative(c->cache, path, cache_token(c->cache));
	return r;
}

/* ---- files ----------------------------------------------------------- */

/* Called by fh after an upload of @key (info NULL: it failed). */
static void on_stored(void *arg, const char *key, const struct store_info *info)
{
	struct fs_ctx *c = arg;
	char path[KEYBUF + 2];
	struct cache_attr a;

	if (key_to_path(c, key, path, sizeof(path)) != 0)
		return;
	cache_invalidate(c->cache, path);
	if (!info)
		return;
	attr_from_info(c, key, info, &a);
	cache_put(c->cache, path, cache_token(c->cache), &a, info);
	/* The kernel's pages hold what we just stored. */
	cache_set_page_etag(c->cache, path, info->etag);
}

static int new_file(struct fs_ctx *c, struct fh *fh, struct fuse_file_info *fi)
{
	struct fs_file *f = calloc(1, sizeof(*f));

	if (!f) {
		(void)fh_release(fh);
		return -ENOMEM;
	}
	f->fh = fh;
	fi->fh = (uint64_t)(uintptr_t)f;
	(void)c;
	return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	struct fs_ctx *c = ctx();
	char key[KEYBUF];
	struct cache_attr a;
	struct fh *fh;
	struct obj o;
	int r;

	r = fs_path_to_key(c, path, 0, key, sizeof(key));
	if (r)
		return r;
	r = lookup(c, path, true, &o);
	if (r == 0 && S_ISDIR(o.st.st_mode))
		r = -EISDIR;
	if (r == 0 && !o.has_info)
		r = -EIO;
	if (r)
		goto out;
	r = fh_open(c->fh, key, &o.info, NULL, fi->flags, &fh);
	if (r)
		goto out;
	r = new_file(c, fh, fi);
	if (r)
		goto out;
	/*
	 * Keep the kernel's pages when they were read from (or written as)
	 * the version we open now; anything else must be read again.
	 */
	if (!(fi->flags & O_TRUNC) && o.info.etag[0] &&
	    cache_get(c->cache, path, &a, NULL) == CACHE_HIT &&
	    strcmp(a.page_etag, o.info.etag) == 0)
		fi->keep_cache = 1;
	else if (o.info.etag[0])
		cache_set_page_etag(c->cache, path, o.info.etag);
out:
	obj_release(&o);
	return r;
}

static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct fs_ctx *c = ctx();
	struct fuse_context *fc = fuse_get_context();
	char key[KEYBUF];
	struct store_info info;
	struct cache_attr a;
	struct timespec now;
	struct fh *fh;
	int r;

	r = fs_path_to_key(c, path, 0, key, sizeof(key));
	if (r)
		return r;
	/*
	 * The kernel looked the name up and found nothing, so a create needs
	 * no HEAD; with O_EXCL, make sure unless we know it is absent.
	 */
	if ((fi->flags & O_EXCL) && cache_get(c->cache, path, &a, NULL) != CACHE_NEGATIVE) {
		struct obj o;
		r = lookup(c, path, false, &o);
		obj_release(&o);
		if (r == 0)
			return -EEXIST;
		if (r != -ENOENT)
			return r;
	}
	memset(&info, 0, sizeof(info));
	now_ts(&now);
	r = meta_init(&info.meta, S_IFREG | (mode & 07777), fc->uid, fc->gid, &now);
	if (r == 0)
		r = fh_open(c->fh, key, NULL, &info.meta, fi->flags | O_CREAT, &fh);
	if (r == 0)
		r = new_file(c, fh, fi);
	cache_invalidate(c->cache, path);
	if (r == 0) {
		info.last_modified = now.tv_sec;
		attr_from_info(c, key, &info, &a);
		a.etag[0] = '\0';
		cache_put(c->cache, path, cache_token(c->cache), &a, &info);
	}
	store_info_release(&info);
	return r;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	size_t got = 0;
	int r;

	(void)path;
	r = fh_read(open_file(fi)->fh, buf, size, off, &got);
	return r ? r : (int)got;
}

/* Writes move mtime (and ctime): once a second is enough. */
static int touch_mtime(struct fs_file *f)
{
	struct store_meta m;
	struct timespec now;
	int r;

	now_ts(&now);
	if (f->mtime_set == now.tv_sec)
		return 0;
	r = fh_get_meta(f->fh, &m);
	if (r)
		return r;
	r = meta_set_time(&m, META_MTIME, &now);
	if (r == 0)
		r = meta_set_time(&m, META_CTIME, &now);
	if (r == 0)
		r = fh_set_meta(f->fh, &m);
	store_meta_release(&m);
	if (r == 0)
		f->mtime_set = now.tv_sec;
	return r;
}

static int fs_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs_file *f = open_file(fi);
	int r;

	(void)path;
	if (size > INT_MAX)
		size = INT_MAX;
	r = fh_write(f->fh, buf, size, off);
	if (r == 0)
		r = touch_mtime(f);
	return r ? r : (int)size;
}

static int fs_flush(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	return fh_flush(open_file(fi)->fh);
}

static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path;
	(void)datasync;
	return fh_flush(open_file(fi)->fh);
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
	struct fs_file *f = open_file(fi);
	int r;

	r = fh_release(f->fh);
	if (r)
		log_msg(LOG_LVL_ERR, LOG_CAT_FUSE, "cannot store '%s' on close: %s",
			path ? path : "?", strerror(-r));
	free(f);
	return r;
}

static int fs_unlink(const char *path)
{
	struct fs_ctx *c = ctx();
	char key[KEYBUF];
	int r;

	r = fs_path_to_key(c, path, 0, key, sizeof(key));
	if (r)
		return r;
	r = c->st->ops->del(c->st, key);
	cache_invalidate(c->cache, path);
	if (r == 0)
		cache_put_negative(c->cache, path, cache_token(c->cache));
	return r;
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct fs_ctx *c = ctx();
	struct fs_file *f = file_of(fi);
	struct fs_file tmp = { 0 };
	char key[KEYBUF];
	struct obj o;
	int r;

	if (size < 0)
		return -EINVAL;
	if (f) {
		r = fh_truncate(f->fh, size);
		return r ? r : touch_mtime(f);
	}
	r = fs_path_to_key(c, path, 0, key, sizeof(key));
	if (r)
		return r;
	tmp.fh = fh_find(c->fh, key);
	if (!tmp.fh) {
		r = lookup(c, path, true, &o);
		if (r == 0 && S_ISDIR(o.st.st_mode))
			r = -EISDIR;
		if (r == 0 && !o.has_info)
			r = -EIO;
		if (r == 0)
			r = fh_open(c->fh, key, &o.info, NULL, O_WRONLY, &tmp.fh);
		obj_release(&o);
		if (r)
			return r;
	}
	r = fh_truncate(tmp.fh, size);
	if (r == 0)
		r = touch_mtime(&tmp);
	if (r == 0)
		r = fh_flush(tmp.fh);
	int r2 = fh_release(tmp.fh);
	return r ? r : r2;
}

/* ---- metadata changes ------------------------------------------------- */

/* Change @m in place; @st is the current stat. */
typedef int (*meta_edit_fn)(struct store_meta *m, const struct stat *st, void *arg);

/* Fill in what an object without metadata implicitly has, so edits keep it. */
static int complete_meta(struct store_meta *m, const struct stat *st)
{
	int r = 0;

	if (!store_meta_get(m, META_MODE))
		r = meta_set_mode(m, st->st_mode);
	if (r == 0 && !store_meta_get(m, META_UID))
		r = meta_set_owner(m, st->st_uid, (gid_t)-1);
	if (r == 0 && !store_meta_get(m, META_GID))
		r = meta_set_owner(m, (uid_t)-1, st->st_gid);
	if (r == 0 && !store_meta_get(m, META_MTIME))
		r = meta_set_time(m, META_MTIME, &st->st_mtim);
	return r;
}

/* Apply @fn to the metadata of an open file; *done when nothing else is needed. */
static int edit_open(struct fs_ctx *c, struct fh *fh, const char *path, const char *key,
		     meta_edit_fn fn, void *arg, bool *done, struct store_meta *out)
{
	struct obj o;
	bool dirty = false;
	int r = open_file_stat(c, fh, path, key, &o);

	if (r == 0)
		r = complete_meta(&o.info.meta, &o.st);
	if (r == 0)
		r = fn(&o.info.meta, &o.st, arg);
	if (r == 0)
		r = fh_set_meta(fh, &o.info.meta);
	if (r == 0) {
		fh_stat(fh, NULL, &dirty);
		/* Not stored yet: the coming upload carries the change. */
		*done = dirty;
		r = store_meta_copy(out, &o.info.meta);
	}
	obj_release(&o);
	return r;
}

/*
 * Change the metadata of @path: through the open file if there is one,
 * and on the server by copying the object onto itself with the new
 * headers (a directory without a marker gets one).
 */
static int edit_meta(const char *path, struct fuse_file_info *fi, meta_edit_fn fn, void *arg)
{
	struct fs_ctx *c = ctx();
	struct fs_file *f = file_of(fi);
	char key[KEYBUF], dkey[KEYBUF];
	struct store_meta openm = { 0 };
	struct cache_attr a;
	struct fh *fh = NULL;
	bool done = false;
	struct obj o;
	int r;

	if (is_root(path))
		return 0; /* the mount point has no object to hold it */
	r = fs_path_to_key(c, path, 0, key, sizeof(key));
	if (r == 0)
		r = fs_path_to_key(c, path, 1, dkey, sizeof(dkey));
	if (r)
		return r;
	fh = f ? f->fh : fh_find(c->fh, key);
	if (fh) {
		r = edit_open(c, fh, path, key, fn, arg, &done, &openm);
		if (!f)
			(void)fh_release(fh);
		cache_invalidate(c->cache, path);
		if (r == 0 && !done) {
			/* Stored and unchanged since: update the object as well. */
			memset(&o, 0, sizeof(o));
			r = c->st->ops->head(c->st, key, &o.info);
			if (r == 0)
				r = c->st->ops->copy(c->st, key, key, &openm, &o.info.enc);
			obj_release(&o);
		}
		store_meta_release(&openm);
		cache_invalidate(c->cache, path);
		return r;
	}
	cache_invalidate(c->cache, path);
	r = lookup(c, path, true, &o);
	if (r)
		goto out;
	r = complete_meta(&o.info.meta, &o.st);
	if (r == 0)
		r = fn(&o.info.meta, &o.st, arg);
	if (r)
		goto out;
	if (S_ISDIR(o.st.st_mode) && !o.marker) {
		if (!o.info.meta.content_type)
			o.info.meta.content_type = strdup(META_DIR_CONTENT_TYPE);
		r = c->st->ops->put(c->st, dkey, "", 0, &o.info.meta);
	} else if (S_ISDIR(o.st.st_mode)) {
		r = c->st->ops->copy(c->st, dkey, dkey, &o.info.meta, &o.info.enc);
	} else if (!o.has_info) {
		r = -EIO;
	} else {
		r = c->st->ops->copy(c->st, key, key, &o.info.meta, &o.info.enc);
	}
	cache_invalidate(c->cache, path);
	if (r == 0 && o.has_info) {
		attr_from_info(c, S_ISDIR(o.st.st_mode) ? dkey : key, &o.info, &a);
		a.etag[0] = '\0'; /* a copy makes a new ETag */
		cache_put(c->cache, path, cache_token(c->cache), &a, NULL);
	}
out:
	store_meta_release(&openm);
	obj_release(&o);
	return r;
}

static int edit_chmod(struct store_meta *m, const struct stat *st, void *arg)
{
	mode_t mode = *(const mode_t *)arg;
	return meta_set_mode(m, (st->st_mode & S_IFMT) | (mode & 07777));
}

static int touch_ctime(struct store_meta *m)
{
	struct timespec now;
	now_ts(&now);
	return meta_set_time(m, META_CTIME, &now);
}

static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return edit_meta(path, fi, edit_chmod, &mode);
}

struct owner {
	uid_t uid;
	gid_t gid;
};

static int edit_chown(struct store_meta *m, const struct stat *st, void *arg)
{
	const struct owner *o = arg;
	int r = meta_set_owner(m, o->uid, o->gid);

	(void)st;
	return r ? r : touch_ctime(m);
}

static int fs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	struct owner o = { uid, gid };
	return edit_meta(path, fi, edit_chown, &o);
}

static int edit_utimens(struct store_meta *m, const struct stat *st, void *arg)
{
	const struct timespec *tv = arg;
	struct timespec now, t;
	int r = 0;

	(void)st;
	now_ts(&now);
	for (int i = 0; i < 2 && r == 0; i++) {
		if (tv[i].tv_nsec == UTIME_OMIT)
			continue;
		t = tv[i].tv_nsec == UTIME_NOW ? now : tv[i];
		r = meta_set_time(m, i == 0 ? META_ATIME : META_MTIME, &t);
	}
	return r ? r : touch_ctime(m);
}

static int fs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	struct timespec t[2];

	if (tv) {
		t[0] = tv[0];
		t[1] = tv[1];
	} else {
		t[0].tv_nsec = t[1].tv_nsec = UTIME_NOW;
	}
	if (t[0].tv_nsec == UTIME_OMIT && t[1].tv_nsec == UTIME_OMIT)
		return 0;
	return edit_meta(path, fi, edit_utimens, t);
}

/* ---- extended attributes ---------------------------------------------- */

/*
 * Only the user namespace is stored. The kernel asks for
 * security.capability on every write: answer without any request.
 */
static bool is_user_xattr(const char *name)
{
	return strncmp(name, "user.", 5) == 0;
}

/* The metadata of @path for reading xattrs; *out filled (caller releases). */
static int read_meta(const char *path, struct store_meta *out)
{
	struct obj o;
	int r = lookup(ctx(), path, true, &o);

	if (r == 0) {
		*out = o.info.meta;
		memset(&o.info.meta, 0, sizeof(o.info.meta));
	}
	obj_release(&o);
	return r;
}

static int fs_getxattr(const char *path, const char *name, char *value, size_t size)
{
	struct store_meta m = { 0 };
	size_t len = 0;
	int r;

	if (!is_user_xattr(name))
		return -ENODATA;
	r = read_meta(path, &m);
	if (r == 0)
		r = meta_xattr_get(&m, name, value, size, &len);
	store_meta_release(&m);
	if (r == 0 && len > INT_MAX)
		r = -E2BIG;
	return r ? r : (int)len;
}

static int fs_listxattr(const char *path, char *list, size_t size)
{
	struct store_meta m = { 0 };
	size_t len = 0;
	int r = read_meta(path, &m);

	if (r == 0)
		r = meta_xattr_list(&m, list, size, &len);
	store_meta_release(&m);
	if (r == 0 && len > INT_MAX)
		r = -E2BIG;
	return r ? r : (int)len;
}

struct xattr_edit {
	const char *name;
	const char *value; /* NULL: remove */
	size_t size;
	int flags;
};

static int edit_xattr(struct store_meta *m, const struct stat *st, void *arg)
{
	const struct xattr_edit *x = arg;
	int r;

	(void)st;
	if (x->value)
		r = meta_xattr_set(m, x->name, x->value, x->size, x->flags);
	else
		r = meta_xattr_remove(m, x->name);
	return r ? r : touch_ctime(m);
}

static int fs_setxattr(const char *path, const char *name, const char *value, size_t size,
		       int flags)
{
	struct xattr_edit x = { name, value ? value : "", size, flags };

	if (!is_user_xattr(name))
		return -EOPNOTSUPP;
	return edit_meta(path, NULL, edit_xattr, &x);
}

static int fs_removexattr(const char *path, const char *name)
{
	struct xattr_edit x = { name, NULL, 0, 0 };

	if (!is_user_xattr(name))
		return -ENODATA;
	return edit_meta(path, NULL, edit_xattr, &x);
}

/* ---- symlinks ---------------------------------------------------------- */

static int fs_symlink(const char *target, const char *path)
{
	struct fs_ctx *c = ctx();
	struct fuse_context *fc = fuse_get_context();
	char key[KEYBUF];
	struct store_meta m = { 0 };
	struct timespec now;
	int r;

	r = fs_path_to_key(c, path, 0, key, sizeof(key));
	if (r)
		return r;
	now_ts(&now);
	/* As s3fs: the target is the body, the mode says S_IFLNK. */
	r = meta_init(&m, S_IFLNK | 0777, fc->uid, fc->gid, &now);
	if (r == 0)
		r = c->st->ops->put(c->st, key, target, strlen(target), &m);
	store_meta_release(&m);
	cache_invalidate(c->cache, path);
	return r;
}

static int fs_readlink(const char *path, char *buf, size_t size)
{
	struct fs_ctx *c = ctx();
	char key[KEYBUF];
	size_t got = 0, want;
	struct obj o;
	int r;

	if (size == 0)
		return -EINVAL;
	r = fs_path_to_key(c, path, 0, key, sizeof(key));
	if (r)
		return r;
	r = lookup(c, path, true, &o);
	if (r == 0 && !S_ISLNK(o.st.st_mode))
		r = -EINVAL;
	if (r == 0) {
		want = (uint64_t)o.st.st_size < size - 1 ? (size_t)o.st.st_size : size - 1;
		r = c->st->ops->get_range(c->st, key, 0, want, buf, &got, &o.info.enc);
	}
	if (r == 0)
		buf[got] = '\0';
	obj_release(&o);
	return r;
}

/* ---- rename ------------------------------------------------------------ */

struct part_copy {
	struct fs_ctx *c;
	const char *src, *dst, *upload_id;
	const struct store_enc *enc;
	uint64_t size, part;
	struct store_part *parts;
};

static int copy_part(void *arg, size_t i)
{
	struct part_copy *p = arg;
	uint64_t off = (uint64_t)i * p->part;
	uint64_t len = p->size - off < p->part ? p->size - off : p->part;

	return p->c->st->ops->mpu_part_copy(p->c->st, p->dst, p->upload_id, (int)i + 1, p->src, off,
					    len, p->enc, &p->parts[i]);
}

/* Copy a large object by parallel UploadPartCopy, keeping its metadata. */
static int copy_multipart(struct fs_ctx *c, const char *src, const char *dst,
			  const struct store_info *info)
{
	struct part_copy p = {
		.c = c, .src = src, .dst = dst, .enc = &info->enc, .size = info->size
	};
	char *upload_id = NULL;
	size_t n;
	int r;

	p.part = c->cfg->part_size > COPY_PART_MIN ? c->cfg->part_size : COPY_PART_MIN;
	if (p.part < (info->size + MPU_MAX_PARTS - 1) / MPU_MAX_PARTS)
		p.part = (info->size + MPU_MAX_PARTS - 1) / MPU_MAX_PARTS;
	n = (size_t)((info->size + p.part - 1) / p.part);
	p.parts = calloc(n, sizeof(*p.parts));
	if (!p.parts)
		return -ENOMEM;
	r = c->st->ops->mpu_begin(c->st, dst, &info->meta, &upload_id);
	if (r)
		goto out;
	p.upload_id = upload_id;
	r = run_parallel(c->cfg->parallel, n, copy_part, &p);
	if (r == 0)
		r = c->st->ops->mpu_complete(c->st, dst, upload_id, p.parts, n);
	if (r)
		(void)c->st->ops->mpu_abort(c->st, dst, upload_id);
out:
	free(upload_id);
	free(p.parts);
	return r;
}

/* Server-side copy of one object, any size, metadata kept. */
static int copy_object(struct fs_ctx *c, const char *src, const char *dst,
		       const struct store_info *info)
{
	if (info->size > COPY_MAX)
		return copy_multipart(c, src, dst, info);
	return c->st->ops->copy(c->st, src, dst, NULL, &info->enc);
}

/* Flush an open file of @key so that the copy takes its latest data. */
static int flush_open(struct fs_ctx *c, const char *key)
{
	struct fh *fh = fh_find(c->fh, key);
	int r = 0, r2;

	if (!fh)
		return 0;
	r = fh_flush(fh);
	r2 = fh_release(fh);
	return r ? r : r2;
}

static int rename_file(struct fs_ctx *c, const char *from, const char *to)
{
	char fk[KEYBUF], tk[KEYBUF];
	struct store_info info;
	int r;

	r = fs_path_to_key(c, from, 0, fk, sizeof(fk));
	if (r == 0)
		r = fs_path_to_key(c, to, 0, tk, sizeof(tk));
	if (r == 0)
		r = flush_open(c, fk);
	if (r)
		return r;
	memset(&info, 0, sizeof(info));
	r = c->st->ops->head(c->st, fk, &info);
	if (r == 0)
		r = copy_object(c, fk, tk, &info);
	if (r == 0)
		r = c->st->ops->del(c->st, fk);
	if (r == 0) {
		int r2 = fh_rename_key(c->fh, fk, tk);
		if (r2 && r2 != -ENOENT)
			r = r2;
	}
	store_info_release(&info);
	return r;
}

struct tree_copy {
	struct fs_ctx *c;
	char **keys;
	size_t n;
	const char *fk, *tk; /* directory keys, with '/' */
	size_t fl;
};

static int dst_key(const struct tree_copy *t, const char *k, char *out, size_t size)
{
	int n = snprintf(out, size, "%s%s", t->tk, k + t->fl);
	return n < 0 || (size_t)n >= size || n > FS_KEY_MAX ? -ENAMETOOLONG : 0;
}

static int tree_copy_one(void *arg, size_t i)
{
	struct tree_copy *t = arg;
	char dk[KEYBUF];
	struct store_info info;
	int r = dst_key(t, t->keys[i], dk, sizeof(dk));

	if (r == 0)
		r = flush_open(t->c, t->keys[i]);
	if (r)
		return r;
	memset(&info, 0, sizeof(info));
	r = t->c->st->ops->head(t->c->st, t->keys[i], &info);
	if (r == 0)
		r = copy_object(t->c, t->keys[i], dk, &info);
	store_info_release(&info);
	return r == -ENOENT ? 0 : r; /* deleted meanwhile */
}

static int tree_del_one(void *arg, size_t i)
{
	struct tree_copy *t = arg;
	char dk[KEYBUF];

	/* Deepest first (the listing is reversed): a marker goes after its contents. */
	int r = t->c->st->ops->del(t->c->st, t->keys[i]);
	if (r == 0 && dst_key(t, t->keys[i], dk, sizeof(dk)) == 0) {
		int r2 = fh_rename_key(t->c->fh, t->keys[i], dk);
		if (r2 != -ENOENT)
			r = r2;
	}
	return r;
}

static int key_cmp_desc(const void *a, const void *b)
{
	return strcmp(*(char *const *)b, *(char *const *)a);
}

/* Every key under @dkey (no delimiter), all pages. */
static int list_tree(struct fs_ctx *c, const char *dkey, char ***keys, size_t *n)
{
	struct store_page page;
	char *token = NULL;
	size_t cap = 0;
	int r;

	*keys = NULL;
	*n = 0;
	do {
		memset(&page, 0, sizeof(page));
		r = c->st->ops->list(c->st, dkey, NULL, token, LIST_PAGE, &page);
		free(token);
		token = NULL;
		for (size_t i = 0; r == 0 && i < page.n_objects; i++) {
			if (*n == cap) {
				size_t nc = cap ? cap * 2 : 64;
				char **v = realloc(*keys, nc * sizeof(*v));
				if (!v) {
					r = -ENOMEM;
					break;
				}
				*keys = v;
				cap = nc;
			}
			(*keys)[(*n)++] = page.objects[i].key;
			page.objects[i].key = NULL;
		}
		if (r == 0) {
			token = page.next_token;
			page.next_token = NULL;
		}
		store_page_release(&page);
	} while (r == 0 && token);
	free(token);
	return r;
}

static int rename_dir(struct fs_ctx *c, const char *from, const char *to)
{
	char fk[KEYBUF], tk[KEYBUF];
	struct tree_copy t = { .c = c, .fk = fk, .tk = tk };
	int r;

	r = fs_path_to_key(c, from, 1, fk, sizeof(fk));
	if (r == 0)
		r = fs_path_to_key(c, to, 1, tk, sizeof(tk));
	if (r)
		return r;
	if (strncmp(tk, fk, strlen(fk)) == 0)
		return -EINVAL; /* into itself */
	t.fl = strlen(fk);
	r = list_tree(c, fk, &t.keys, &t.n);
	if (r == 0 && t.n)
		qsort(t.keys, t.n, sizeof(*t.keys), key_cmp_desc);
	if (r == 0)
		r = run_parallel(c->cfg->parallel, t.n, tree_copy_one, &t);
	/* Sources go only once every copy is done: a failure loses nothing. */
	if (r == 0)
		r = run_parallel(c->cfg->parallel, t.n, tree_del_one, &t);
	for (size_t i = 0; i < t.n; i++)
		free(t.keys[i]);
	free(t.keys);
	return r;
}

static int fs_rename(const char *from, const char *to, unsigned int flags)
{
	struct fs_ctx *c = ctx();
	struct obj src, dst;
	int r, rd;

	if (flags & RENAME_EXCHANGE)
		return -EINVAL;
	if (flags & ~(unsigned)RENAME_NOREPLACE)
		return -EINVAL;
	if (is_root(from) || is_root(to))
		return -EBUSY;
	r = lookup(c, from, false, &src);
	obj_release(&src);
	if (r)
		return r;
	rd = lookup(c, to, false, &dst);
	obj_release(&dst);
	if (rd && rd != -ENOENT)
		return rd;
	if (rd == 0 && (flags & RENAME_NOREPLACE))
		return -EEXIST;
	if (S_ISDIR(src.st.st_mode)) {
		if (rd == 0 && !S_ISDIR(dst.st.st_mode))
			return -ENOTDIR;
		if (rd == 0) {
			/* Replacing a directory: only an empty one. */
			r = fs_rmdir(to);
			if (r)
				return r;
		}
		r = rename_dir(c, from, to);
		cache_invalidate_tree(c->cache, from);
		cache_invalidate_tree(c->cache, to);
	} else {
		if (rd == 0 && S_ISDIR(dst.st.st_mode))
			return -EISDIR;
		r = rename_file(c, from, to);
		cache_invalidate(c->cache, from);
		cache_invalidate(c->cache, to);
	}
	if (r == 0)
		cache_put_negative(c->cache, from, cache_token(c->cache));
	return r;
}

/* ---- the rest ---------------------------------------------------------- */

static int fs_statfs(const char *path, struct statvfs *sv)
{
	(void)path;
	memset(sv, 0, sizeof(*sv));
	/* Buckets have no size: report plenty of room (1 PiB) and inodes. */
	sv->f_bsize = 4096;
	sv->f_frsize = 4096;
	sv->f_blocks = (fsblkcnt_t)1 << 38;
	sv->f_bfree = sv->f_blocks;
	sv->f_bavail = sv->f_blocks;
	sv->f_files = (fsfilcnt_t)1 << 32;
	sv->f_ffree = sv->f_files;
	sv->f_favail = sv->f_files;
	sv->f_namemax = 255;
	return 0;
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct fs_ctx *c = fuse_get_context()->private_data;
	int r;

	cfg->use_ino = 0;
	cfg->nullpath_ok = 0;
	/* An unlinked open file must not become a hidden object on the server. */
	cfg->hard_remove = 1;
	cfg->kernel_cache = 0;
	cfg->auto_cache = 0;
	cfg->attr_timeout = c->cfg->stat_ttl;
	cfg->entry_timeout = c->cfg->stat_ttl;
	cfg->negative_timeout = c->cfg->stat_ttl ? 1 : 0;
	conn->max_write = 1024 * 1024;
	conn->max_readahead = 1024 * 1024;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;

	/* Worker threads start here, after libfuse daemonized. */
	r = fh_ctx_new(&c->fhcfg, c->st, &c->fh);
	if (r) {
		log_msg(LOG_LVL_ERR, LOG_CAT_FUSE, "cannot start the file layer: %s", strerror(-r));
		fuse_exit(fuse_get_context()->fuse);
	}
	return c;
}

static void fs_destroy(void *data)
{
	struct fs_ctx *c = data;

	fh_ctx_free(c->fh);
	c->fh = NULL;
}

static const struct fuse_operations ops = {
	.init = fs_init,
	.destroy = fs_destroy,
	.getattr = fs_getattr,
	.readdir = fs_readdir,
	.mkdir = fs_mkdir,
	.rmdir = fs_rmdir,
	.open = fs_open,
	.create = fs_create,
	.read = fs_read,
	.write = fs_write,
	.flush = fs_flush,
	.fsync = fs_fsync,
	.release = fs_release,
	.unlink = fs_unlink,
	.truncate = fs_truncate,
	.rename = fs_rename,
	.chmod = fs_chmod,
	.chown = fs_chown,
	.utimens = fs_utimens,
	.symlink = fs_symlink,
	.readlink = fs_readlink,
	.statfs = fs_statfs,
	.getxattr = fs_getxattr,
	.setxattr = fs_setxattr,
	.listxattr = fs_listxattr,
	.removexattr = fs_removexattr,
};

const struct fuse_operations *fs_operations(void)
{
	return &ops;
}

int fs_check_bucket(struct fs_ctx *c)
{
	struct store_page page;
	int r;

	memset(&page, 0, sizeof(page));
	r = c->st->ops->list(c->st, c->cfg->prefix, "/", NULL, 1, &page);
	store_page_release(&page);
	return r;
}

int fs_ctx_new(const struct mount_cfg *cfg, struct store *st, uid_t uid, gid_t gid,
	       struct fs_ctx **out)
{
	struct fs_ctx *c = calloc(1, sizeof(*c));
	struct cache_cfg cc = { 0 };
	int r;

	if (!c)
		return -ENOMEM;
	c->cfg = cfg;
	c->st = st;
	c->prefix_len = strlen(cfg->prefix);
	c->mount_time = time(NULL);
	c->mc.uid = cfg->has_uid ? cfg->uid : uid;
	c->mc.gid = cfg->has_gid ? cfg->gid : gid;
	c->mc.force_uid = cfg->has_uid;
	c->mc.force_gid = cfg->has_gid;
	c->mc.umask = cfg->umask;
	c->mc.has_umask = cfg->has_umask;

	cc.stat_ttl_ms = (unsigned)ttl_ms(cfg->stat_ttl);
	cc.neg_ttl_ms = cc.stat_ttl_ms < NEG_TTL_MAX_MS ? cc.stat_ttl_ms : NEG_TTL_MAX_MS;
	cc.dir_ttl_ms = (unsigned)ttl_ms(cfg->dir_ttl);
	r = cache_new(&cc, &c->cache);
	if (r) {
		free(c);
		return r;
	}

	c->fhcfg.part_size = cfg->part_size;
	c->fhcfg.parallel = cfg->parallel;
	c->fhcfg.cache_dir = cfg->cache_dir;
	c->fhcfg.mem_limit = cfg->parallel * cfg->part_size + ((size_t)32 << 20);
	c->fhcfg.readahead_max = (size_t)16 << 20;
	c->fhcfg.on_stored = on_stored;
	c->fhcfg.on_stored_arg = c;
	*out = c;
	return 0;
}

void fs_ctx_free(struct fs_ctx *c)
{
	if (!c)
		return;
	fh_ctx_free(c->fh);
	cache_free(c->cache);
	free(c);
}
