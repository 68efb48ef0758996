/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The directory side of the filesystem: listings (attributes from the
 * listing itself, or with listing_attrs=0 from HEADs in parallel), mkdir,
 * rmdir and rename, which S3 can only do by copying every object and
 * deleting the originals. Files, metadata changes and the operations
 * table are in fs_ops.c.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fuse.h>

#include "cache.h"
#include "fh.h"
#include "fs_ops_i.h"
#include "log.h"
#include "meta.h"

#define LIST_PAGE 1000
/* CopyObject copies at most 5 GiB; larger objects go by UploadPartCopy. */
#define COPY_MAX ((uint64_t)5 << 30)
#define COPY_PART_MIN ((uint64_t)512 << 20)
#define MPU_MAX_PARTS 10000

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
int fs_run_parallel(unsigned threads, size_t n, int (*fn)(void *arg, size_t i), void *arg)
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

/* ---- directories ----------------------------------------------------- */

/*
 * A listing being read: pages go straight into the compact listing @d, so
 * that nothing per entry outlives its page but @d itself.
 */
struct list_job {
	struct fs_ctx *c;
	const char *dir; /* directory path */
	const char *dkey;
	size_t dl;
	uint64_t token;
	struct cache_dir *d;
};

static int child_path(const char *dir, const char *name, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s", fs_is_root(dir) ? "" : dir, name);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/*
 * Do cached attributes @a describe the listed entry (@is_prefix, @etag,
 * listed attributes @st)? The same ETag; or, where the cached ETag is
 * unknown (our own upload under SSE-C or KMS, a metadata change by copy, a
 * symlink), the same size: within stat_ttl a change by someone else is not
 * seen by getattr() either.
 */
static bool cache_matches(const struct cache_attr *a, bool is_prefix, const char *etag,
			  const struct stat *st)
{
	if (is_prefix)
		return S_ISDIR(a->st.st_mode);
	/* A directory stored as an object "dir" (old s3fs): its HEAD's ETag. */
	if (S_ISDIR(a->st.st_mode))
		return a->etag[0] && strcmp(a->etag, etag) == 0;
	if (a->etag[0])
		return strcmp(a->etag, etag) == 0;
	return a->st.st_size == st->st_size;
}

/*
 * Attributes of one listed entry @e: cached ones where they match the
 * listing; else, with listing_attrs, the listing's own, which getattr()
 * then answers from until the kernel's attribute timeout or an open()
 * asks the server. They stay in the listing (fs_lookup() reads them
 * there) and go to the stat cache only where it holds something else of
 * the name (an absent name, an older version, older listed attributes):
 * a big listing must not push every other entry out of the stat cache.
 * cache_put_weak() never replaces what a HEAD or our own change said.
 * Then into the listing; a common prefix replaces an object of the same
 * name, which is how s3fs before 1.7x stored directories (the names
 * below it must stay reachable).
 */
static int add_entry(struct list_job *j, struct cache_dirent *e, bool is_prefix, const char *etag)
{
	char path[FS_KEYBUF + 2];
	struct cache_attr a;
	enum cache_hit hit;

	if (!is_prefix && cache_dir_has(j->d, e->name))
		return 0; /* the prefix came first */
	if (child_path(j->dir, e->name, path, sizeof(path)) != 0)
		return 0; /* a name we cannot give a path */
	hit = cache_get(j->c->cache, path, &a, NULL);
	if (hit == CACHE_HIT && a.meta_known && cache_matches(&a, is_prefix, etag, &e->st)) {
		e->st = a.st;
		e->has_stat = true;
	} else if (j->c->cfg->listing_attrs) {
		e->listed = true;
		if (hit == CACHE_MISS && j->c->cfg->dir_ttl)
			return cache_dir_add(j->d, e, is_prefix);
		memset(&a, 0, sizeof(a));
		a.st = e->st;
		snprintf(a.etag, sizeof(a.etag), "%s", etag);
		cache_put_weak(j->c->cache, path, j->token, &a);
	}
	return cache_dir_add(j->d, e, is_prefix);
}

/* Add one listing page's entries below the directory to the listing. */
static int add_page(struct list_job *j, const struct store_page *p)
{
	char name[FS_KEYBUF];
	int r = 0;

	for (size_t i = 0; r == 0 && i < p->n_objects; i++) {
		const struct store_entry *o = &p->objects[i];
		struct cache_dirent e = { .name = o->key + j->dl };
		if (strncmp(o->key, j->dkey, j->dl) != 0 || !*e.name || strchr(e.name, '/'))
			continue; /* the marker itself, or a key we cannot name */
		meta_entry_to_stat(&j->c->mc, o, &e.st);
		r = add_entry(j, &e, false, o->etag);
	}
	for (size_t i = 0; r == 0 && i < p->n_prefixes; i++) {
		const char *pre = p->prefixes[i];
		size_t n = strlen(pre);
		struct cache_dirent e = { .name = name };
		if (strncmp(pre, j->dkey, j->dl) != 0 || n <= j->dl + 1 || n - j->dl > sizeof(name))
			continue; /* "dir//": an empty name */
		memcpy(name, pre + j->dl, n - j->dl - 1);
		name[n - j->dl - 1] = '\0';
		meta_dir_stat(&j->c->mc, j->c->mount_time, &e.st);
		r = add_entry(j, &e, true, "");
	}
	return r;
}

/* What a HEAD said of entry i of the listing (listing_attrs=0). */
struct head_res {
	struct stat st;
	bool has_stat;
	bool gone; /* deleted since the listing */
};

struct head_job {
	struct list_job *j;
	struct head_res *res;
};

/* Attributes of entry @i: HEAD of the object or directory marker. */
static int head_one(void *arg, size_t i)
{
	struct head_job *hj = arg;
	struct list_job *j = hj->j;
	struct fs_ctx *c = j->c;
	char path[FS_KEYBUF + 2], key[FS_KEYBUF + 2];
	struct cache_dirent e;
	struct store_info info;
	struct cache_attr a;
	bool is_prefix;
	int r, n;

	cache_dir_at(j->d, i, &e);
	/* Only common prefixes are listed as directories. */
	is_prefix = S_ISDIR(e.st.st_mode);
	n = snprintf(key, sizeof(key), "%s%s%s", j->dkey, e.name, is_prefix ? "/" : "");
	if (e.has_stat || n < 0 || (size_t)n >= sizeof(key) ||
	    child_path(j->dir, e.name, path, sizeof(path)) != 0)
		return 0;
	memset(&info, 0, sizeof(info));
	r = c->st->ops->head(c->st, key, &info);
	if (r == 0) {
		fs_attr_from_info(c, key, &info, &a);
		cache_put(c->cache, path, j->token, &a, &info);
		hj->res[i].st = a.st;
		hj->res[i].has_stat = true;
	} else if (r == -ENOENT && is_prefix) {
		/* No marker: an implicit directory, as listed. */
		memset(&a, 0, sizeof(a));
		a.st = e.st;
		a.meta_known = true;
		cache_put(c->cache, path, j->token, &a, NULL);
		hj->res[i].st = e.st;
		hj->res[i].has_stat = true;
	} else if (r == -ENOENT) {
		hj->res[i].gone = true;
	}
	store_info_release(&info);
	/* Errors are not fatal here: getattr() asks again. */
	return 0;
}

/*
 * listing_attrs=0: ask for the rest of the attributes in parallel now
 * rather than one by one when the kernel looks each name up.
 */
static int head_all(struct list_job *j)
{
	size_t n = cache_dir_count(j->d);
	struct head_job hj = { .j = j, .res = calloc(n ? n : 1, sizeof(*hj.res)) };
	int r;

	if (!hj.res)
		return -ENOMEM;
	r = fs_run_parallel(j->c->cfg->parallel, n, head_one, &hj);
	/* From the end: removing an entry moves only the ones after it. */
	for (size_t i = n; r == 0 && i-- > 0;) {
		struct cache_dirent e;
		if (hj.res[i].gone) {
			cache_dir_del(j->d, i);
		} else if (hj.res[i].has_stat) {
			cache_dir_at(j->d, i, &e);
			e.st = hj.res[i].st;
			e.has_stat = true;
			e.listed = false;
			r = cache_dir_add(j->d, &e, true);
		}
	}
	free(hj.res);
	return r;
}

/* List directory @path into the new listing @d (attributes filled). */
static int list_dir(struct fs_ctx *c, const char *path, uint64_t token, struct cache_dir *d)
{
	char dkey[FS_KEYBUF];
	struct list_job j = { .c = c, .dir = path, .dkey = dkey, .token = token, .d = d };
	struct store_page page;
	char *next = NULL;
	int r;

	r = fs_path_to_key(c, path, 1, dkey, sizeof(dkey));
	if (r)
		return r;
	j.dl = strlen(dkey);
	do {
		memset(&page, 0, sizeof(page));
		r = c->st->ops->list(c->st, dkey, "/", next, LIST_PAGE, &page);
		free(next);
		next = NULL;
		if (r)
			return r;
		r = add_page(&j, &page);
		if (r == 0 && page.next_token) {
			next = page.next_token;
			page.next_token = NULL;
		}
		store_page_release(&page);
	} while (r == 0 && next);
	free(next);
	/* HEADs only where something would be cached. */
	if (r == 0 && !c->cfg->listing_attrs && c->cfg->stat_ttl)
		r = head_all(&j);
	return r;
}

/*
 * Is the file of entry @e open here? Its size may be changing, so the
 * kernel must not take (possibly older) attributes from the listing.
 */
static bool is_open(struct fs_ctx *c, const char *dir, const struct cache_dirent *e)
{
	char path[FS_KEYBUF + 2], key[FS_KEYBUF];
	struct fh *fh;

	if (!S_ISREG(e->st.st_mode) || !c->fh)
		return false;
	if (child_path(dir, e->name, path, sizeof(path)) != 0 ||
	    fs_path_to_key(c, path, 0, key, sizeof(key)) != 0)
		return true;
	fh = fh_find(c->fh, key);
	if (!fh)
		return false;
	(void)fh_release(fh);
	return true;
}

/* Attributes of a listed entry we changed (or created) since the listing. */
static void stat_from_cache(struct fs_ctx *c, const char *dir, struct cache_dirent *e)
{
	char path[FS_KEYBUF + 2];
	struct cache_attr a;

	if (child_path(dir, e->name, path, sizeof(path)) != 0 ||
	    cache_get(c->cache, path, &a, NULL) != CACHE_HIT || !a.meta_known)
		return;
	/* A listed object may turn out to be a symlink once its headers are read. */
	if ((a.st.st_mode & S_IFMT) == (e->st.st_mode & S_IFMT) ||
	    (e->listed && !S_ISDIR(a.st.st_mode) && !S_ISDIR(e->st.st_mode))) {
		e->st = a.st;
		e->has_stat = true;
	}
}

/*
 * An open directory: the listing as it was at opendir() or the last
 * rewind, handed out by offset. Offsets are positions, so that libfuse
 * passes each READDIRPLUS entry's attributes on to the kernel (a listing
 * given at offset 0 comes back from libfuse 3.14 without them). The
 * listing is shared with the cache, never copied: it does not change.
 */
struct fs_dirh {
	struct cache_dir *dir; /* a reference, or NULL before the first readdir */
};

static struct fs_dirh *dirh_of(const struct fuse_file_info *fi)
{
	return (struct fs_dirh *)(uintptr_t)fi->fh;
}

int fs_opendir(const char *path, struct fuse_file_info *fi)
{
	struct fs_dirh *h = calloc(1, sizeof(*h));

	(void)path;
	if (!h)
		return -ENOMEM;
	fi->fh = (uint64_t)(uintptr_t)h;
	return 0;
}

int fs_releasedir(const char *path, struct fuse_file_info *fi)
{
	struct fs_dirh *h = dirh_of(fi);

	(void)path;
	if (h)
		cache_dir_unref(h->dir);
	free(h);
	return 0;
}

/* 0 if @path is a directory, -ENOTDIR if it is something else, or -errno. */
static int lookup_dir(struct fs_ctx *c, const char *path)
{
	struct fs_obj o;
	int r = fs_lookup(c, path, false, &o);

	fs_obj_release(&o);
	if (r)
		return r;
	return S_ISDIR(o.st.st_mode) ? 0 : -ENOTDIR;
}

/* The listing of directory @path (a new reference): cached, or listed now. */
static int load_dir(struct fs_ctx *c, const char *path, struct cache_dir **out)
{
	struct cache_dir *d;
	uint64_t token;
	int r;

	*out = cache_dir_get(c->cache, path);
	if (*out)
		return 0;
	r = lookup_dir(c, path);
	if (r)
		return r;
	token = cache_token(c->cache);
	d = cache_dir_new();
	if (!d)
		return -ENOMEM;
	r = list_dir(c, path, token, d);
	if (r) {
		cache_dir_unref(d);
		return r;
	}
	cache_dir_put(c->cache, path, token, d);
	*out = d;
	return 0;
}

int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
	       struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct fs_ctx *c = fs_ctx_get();
	struct fs_dirh *h = dirh_of(fi);
	size_t n;
	int r;

	if (off < 0)
		return -EINVAL;
	if (!h->dir || off == 0) {
		cache_dir_unref(h->dir);
		h->dir = NULL;
		r = load_dir(c, path, &h->dir);
		if (r)
			return r;
	}
	n = cache_dir_count(h->dir);
	/* Position k: ".", "..", then entry k - 2; an entry's offset is k + 1. */
	for (size_t k = (size_t)off; k < n + 2; k++) {
		enum fuse_fill_dir_flags ff = 0;
		struct cache_dirent e;
		if (k < 2) {
			if (filler(buf, k ? ".." : ".", NULL, (off_t)k + 1, 0))
				break;
			continue;
		}
		cache_dir_at(h->dir, k - 2, &e);
		if (!e.has_stat)
			stat_from_cache(c, path, &e);
		/*
		 * Entries with attributes go to the kernel with them (READDIRPLUS),
		 * so that `ls -l` needs no lookup per name.
		 */
		if ((e.has_stat || e.listed) && (flags & FUSE_READDIR_PLUS) &&
		    !is_open(c, path, &e))
			ff = FUSE_FILL_DIR_PLUS;
		if (filler(buf, e.name, &e.st, (off_t)k + 1, ff))
			break;
	}
	return 0;
}

int fs_mkdir(const char *path, mode_t mode)
{
	struct fs_ctx *c = fs_ctx_get();
	struct fuse_context *fc = fuse_get_context();
	char dkey[FS_KEYBUF];
	struct store_info info;
	struct cache_attr a;
	struct timespec now;
	int r;

	r = fs_path_to_key(c, path, 1, dkey, sizeof(dkey));
	if (r)
		return r;
	memset(&info, 0, sizeof(info));
	fs_now(&now);
	r = meta_init(&info.meta, S_IFDIR | (mode & 07777), fc->uid, fc->gid, &now);
	if (r == 0)
		r = c->st->ops->put(c->st, dkey, "", 0, &info.meta, &info.enc, NULL);
	cache_invalidate(c->cache, path);
	if (r == 0) {
		uint64_t token = cache_token(c->cache);
		info.last_modified = now.tv_sec;
		fs_attr_from_info(c, dkey, &info, &a);
		a.etag[0] = '\0';
		cache_put(c->cache, path, token, &a, &info);
		/*
		 * A new directory is empty (the kernel looked the name up and
		 * found nothing): creates in it need not ask the server whether
		 * their names exist, for dir_ttl.
		 */
		cache_dir_put(c->cache, path, token, NULL);
		cache_dir_note(c->cache, path, S_IFDIR);
		fs_touch_parent(c, path);
	}
	store_info_release(&info);
	return r;
}

/*
 * s3fs before 1.7x stored a directory as an object "dir" (no slash) typed
 * as a directory: rmdir removes it too, as s3fs does. A file of that name
 * cannot be there (the lookup said directory); checked all the same.
 */
static int del_old_dir_object(struct fs_ctx *c, const char *key)
{
	struct store_info info;
	struct stat st;
	int r;

	memset(&info, 0, sizeof(info));
	r = c->st->ops->head(c->st, key, &info);
	if (r == 0) {
		meta_to_stat(&c->mc, key, &info, &st);
		if (S_ISDIR(st.st_mode))
			r = c->st->ops->del(c->st, key);
	}
	store_info_release(&info);
	return r == -ENOENT ? 0 : r;
}

int fs_rmdir(const char *path)
{
	struct fs_ctx *c = fs_ctx_get();
	char dkey[FS_KEYBUF], key[FS_KEYBUF];
	struct store_page page;
	int r;

	if (fs_is_root(path))
		return -EBUSY;
	r = lookup_dir(c, path);
	if (r == 0)
		r = fs_path_to_key(c, path, 1, dkey, sizeof(dkey));
	if (r == 0)
		r = fs_path_to_key(c, path, 0, key, sizeof(key));
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
	if (r == 0)
		r = del_old_dir_object(c, key);
	cache_invalidate_tree(c->cache, path);
	if (r == 0) {
		cache_dir_note(c->cache, path, 0);
		cache_put_negative(c->cache, path, cache_token(c->cache));
		fs_touch_parent(c, path);
	}
	return r;
}

/* ---- rename ------------------------------------------------------------ */

struct part_copy {
	struct fs_ctx *c;
	const char *src, *dst, *upload_id;
	const char *etag; /* of the source's HEAD: every part comes from that version */
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
					    len, p->enc, p->etag, &p->parts[i]);
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

	p.etag = info->etag;
	p.part = c->cfg->part_size > COPY_PART_MIN ? c->cfg->part_size : COPY_PART_MIN;
	if (p.part < (info->size + MPU_MAX_PARTS - 1) / MPU_MAX_PARTS)
		p.part = (info->size + MPU_MAX_PARTS - 1) / MPU_MAX_PARTS;
	n = (size_t)((info->size + p.part - 1) / p.part);
	p.parts = calloc(n, sizeof(*p.parts));
	if (!p.parts)
		return -ENOMEM;
	r = c->st->ops->mpu_begin(c->st, dst, &info->meta, &info->enc, &upload_id);
	if (r)
		goto out;
	p.upload_id = upload_id;
	r = fs_run_parallel(c->cfg->parallel, n, copy_part, &p);
	if (r == 0)
		r = c->st->ops->mpu_complete(c->st, dst, upload_id, p.parts, n, &info->enc, NULL);
	if (r)
		(void)c->st->ops->mpu_abort(c->st, dst, upload_id);
out:
	free(upload_id);
	free(p.parts);
	return r;
}

/*
 * Server-side copy of one object, any size, for a rename: the metadata is
 * kept, except that, as s3fs does, the Content-Type follows the new name
 * and, for the renamed entry itself (@renamed; not the entries below a
 * renamed directory), ctime is now. @info (the source's HEAD) is updated
 * to match. The copy is of the version that HEAD saw: a source replaced
 * meanwhile fails it with -ESTALE, rather than a copy mixing two versions.
 */
static int copy_object(struct fs_ctx *c, const char *src, const char *dst, struct store_info *info,
		       bool renamed)
{
	struct timespec now;
	int r;

	fs_now(&now);
	r = fs_set_content_type(c, dst, &info->meta);
	if (r == 0 && renamed)
		r = meta_set_time(&info->meta, META_CTIME, &now);
	if (r)
		return r;
	if (info->size > COPY_MAX)
		return copy_multipart(c, src, dst, info);
	return c->st->ops->copy(c->st, src, dst, &info->meta, &info->enc, info->etag);
}

static int rename_file(struct fs_ctx *c, const char *from, const char *to)
{
	char fk[FS_KEYBUF], tk[FS_KEYBUF];
	struct fh_hold *hold = NULL;
	struct store_info info;
	int pending, r;

	r = fs_path_to_key(c, from, 0, fk, sizeof(fk));
	if (r == 0)
		r = fs_path_to_key(c, to, 0, tk, sizeof(tk));
	/*
	 * No flush of either file runs until the open files have their new
	 * keys: a writer's fsync must not store into the key the rename
	 * deletes, nor a closing target overwrite the renamed object.
	 */
	if (r == 0)
		r = fh_hold(c->fh, fk, tk, false, &hold);
	if (r)
		return r;
	memset(&info, 0, sizeof(info));
	/*
	 * A deferred metadata change of the source (rsync: chmod and utimens
	 * after close) rides on the rename's copy, which needs no HEAD then.
	 * The copy is pinned to the ETag the change was made against; until
	 * the rename succeeds the change stays pending for the source.
	 */
	pending = fs_defer_get(c->defer, from, &info);
	r = pending < 0 ? pending : 0;
	if (pending > 0) {
		r = copy_object(c, fk, tk, &info, true);
		if (r == -ESTALE) {
			/* replaced by another client meanwhile: that version moves */
			log_msg(LOG_LVL_INFO, LOG_CAT_FUSE,
				"metadata change of '%s' not applied: the object was replaced "
				"meanwhile",
				from);
			store_info_release(&info);
			memset(&info, 0, sizeof(info));
			pending = 0;
			r = 0;
		}
	}
	if (r == 0 && pending == 0) {
		r = c->st->ops->head(c->st, fk, &info);
		if (r == 0)
			r = copy_object(c, fk, tk, &info, true);
	}
	if (r == 0)
		r = c->st->ops->del(c->st, fk);
	if (r == 0) {
		fs_defer_drop(c->defer, from); /* carried by the copy, or stale */
		fs_defer_drop(c->defer, to);   /* the target was replaced */
	}
	fh_hold_end(hold, r == 0);
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
	char dk[FS_KEYBUF];
	struct store_info info;
	int r = dst_key(t, t->keys[i], dk, sizeof(dk));

	if (r)
		return r;
	memset(&info, 0, sizeof(info));
	r = t->c->st->ops->head(t->c->st, t->keys[i], &info);
	if (r == 0)
		r = copy_object(t->c, t->keys[i], dk, &info, strcmp(t->keys[i], t->fk) == 0);
	store_info_release(&info);
	return r == -ENOENT ? 0 : r; /* deleted meanwhile */
}

static int tree_del_one(void *arg, size_t i)
{
	struct tree_copy *t = arg;

	/* Deepest first (the listing is reversed): a marker goes after its contents. */
	return t->c->st->ops->del(t->c->st, t->keys[i]);
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
	char fk[FS_KEYBUF], tk[FS_KEYBUF];
	struct tree_copy t = { .c = c, .fk = fk, .tk = tk };
	struct fh_hold *hold = NULL;
	bool copied;
	int r;

	r = fs_path_to_key(c, from, 1, fk, sizeof(fk));
	if (r == 0)
		r = fs_path_to_key(c, to, 1, tk, sizeof(tk));
	if (r)
		return r;
	if (strncmp(tk, fk, strlen(fk)) == 0)
		return -EINVAL; /* into itself */
	t.fl = strlen(fk);
	/* Deferred metadata changes below it go out first: the copies carry them. */
	r = fs_defer_flush(c->defer, from, true);
	if (r < 0)
		return r;
	/*
	 * Open files under either directory: stored first (so that files not
	 * stored yet are listed and move too), then held until they have
	 * their new keys (see rename_file()).
	 */
	r = fh_hold(c->fh, fk, tk, true, &hold);
	if (r)
		return r;
	r = list_tree(c, fk, &t.keys, &t.n);
	if (r == 0 && t.n)
		qsort(t.keys, t.n, sizeof(*t.keys), key_cmp_desc);
	if (r == 0)
		r = fs_run_parallel(c->cfg->parallel, t.n, tree_copy_one, &t);
	/* Sources go only once every copy is done: a failure loses nothing. */
	copied = r == 0;
	if (r == 0)
		r = fs_run_parallel(c->cfg->parallel, t.n, tree_del_one, &t);
	/* once copied, the open files belong under the new name */
	fh_hold_end(hold, copied);
	for (size_t i = 0; i < t.n; i++)
		free(t.keys[i]);
	free(t.keys);
	return r;
}

int fs_rename(const char *from, const char *to, unsigned int flags)
{
	struct fs_ctx *c = fs_ctx_get();
	struct fs_obj src, dst;
	int r, rd;

	if (flags & RENAME_EXCHANGE)
		return -EINVAL;
	if (flags & ~(unsigned)RENAME_NOREPLACE)
		return -EINVAL;
	if (fs_is_root(from) || fs_is_root(to))
		return -EBUSY;
	if (fs_is_hidden_name(to) && !fs_is_hidden_name(from)) {
		r = fs_hide(c, from, to);
		if (r != -ENOENT)
			return r;
	}
	r = fs_lookup(c, from, false, &src);
	fs_obj_release(&src);
	if (r)
		return r;
	rd = fs_lookup(c, to, false, &dst);
	fs_obj_release(&dst);
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
	if (r == 0) {
		cache_dir_note(c->cache, from, 0);
		cache_dir_note(c->cache, to, src.st.st_mode & S_IFMT);
		cache_put_negative(c->cache, from, cache_token(c->cache));
		fs_touch_parent(c, from);
		fs_touch_parent(c, to);
	}
	return r;
}
