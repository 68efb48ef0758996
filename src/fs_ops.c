/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The FUSE operations (high-level, path-based API) on files: paths to keys
 * under the mount's prefix, lookup of files and directories, open files,
 * metadata changes by server-side copy, xattrs, symlinks, and the
 * operations table. Directories and rename are in fs_dir.c; data staging
 * and uploads are fh's; HTTP, signing and encryption are below store.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
#include "fs_ops_i.h"
#include "log.h"
#include "meta.h"

#define NEG_TTL_MAX_MS 5000

/* One open() of a file. */
struct fs_file {
	struct fh *fh;
	struct fs_file *prev, *next; /* c->files_lock */
	/* Second of the last mtime update by write(); writes on one handle
	 * may run concurrently, hence atomic access. */
	time_t mtime_set;
};

static struct fs_file *file_of(const struct fuse_file_info *fi)
{
	return fi ? (struct fs_file *)(uintptr_t)fi->fh : NULL;
}

/* The open file of a read/write/flush/release call: fi is never NULL there. */
static struct fs_file *open_file(const struct fuse_file_info *fi)
{
	return (struct fs_file *)(uintptr_t)fi->fh;
}

static uint64_t ttl_ms(unsigned s)
{
	return (uint64_t)s * 1000;
}

int fs_path_to_key(const struct fs_ctx *c, const char *path, int dir, char *out, size_t size)
{
	const char *rel = path[0] == '/' ? path + 1 : path;
	size_t name = 0;
	int n;

	for (const char *p = rel; *p; p++) {
		name = *p == '/' ? 0 : name + 1;
		if (name > FS_NAME_MAX)
			return -ENAMETOOLONG;
	}
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

/* ---- attributes ------------------------------------------------------ */

void fs_attr_from_info(struct fs_ctx *c, const char *key, const struct store_info *info,
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
			  struct fs_obj *o)
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
 * Look @path's name up in the cached listing of its parent directory.
 * With @listed (not NULL): on CACHE_HIT, *listed tells whether @st holds
 * the attributes the listing gave it.
 */
static enum cache_hit in_parent_listing(struct fs_ctx *c, const char *path, mode_t *type,
					bool *listed, struct stat *st)
{
	const char *slash = strrchr(path, '/');
	char parent[FS_KEYBUF + 2];
	enum cache_hit hit;
	size_t pl;

	if (!slash)
		return CACHE_MISS;
	pl = slash == path ? 1 : (size_t)(slash - path);
	if (pl >= sizeof(parent))
		return CACHE_MISS;
	memcpy(parent, path, pl);
	parent[pl] = '\0';
	hit = cache_dir_find(c->cache, parent, slash + 1, type);
	if (hit == CACHE_HIT && listed)
		*listed = cache_dir_listed(c->cache, parent, slash + 1, st);
	return hit;
}

/*
 * Find out what @path is. @want_info: the caller needs the object's
 * headers (open, metadata changes), so a cached stat without them is not
 * enough. Fills @o (release with fs_obj_release()). 0, -ENOENT or -errno.
 */
int fs_lookup(struct fs_ctx *c, const char *path, bool want_info, struct fs_obj *o)
{
	char key[FS_KEYBUF], dkey[FS_KEYBUF];
	struct cache_attr a;
	struct fh *fh;
	bool exists = false, marker = false, listed = false;
	mode_t type = 0;
	uint64_t token;
	int r;

	memset(o, 0, sizeof(*o));
	if (fs_is_root(path)) {
		meta_dir_stat(&c->mc, __atomic_load_n(&c->root_mtime, __ATOMIC_RELAXED), &o->st);
		return 0;
	}
	r = fs_path_to_key(c, path, 0, key, sizeof(key));
	if (r == 0)
		r = fs_path_to_key(c, path, 1, dkey, sizeof(dkey));
	if (r)
		return r;
	fh = c->fh ? fh_find(c->fh, key) : NULL;
	if (!fh && fs_is_hidden_name(path))
		fh = fs_hidden_find(c, path);
	if (fh) {
		r = open_file_stat(c, fh, path, key, o);
		(void)fh_release(fh);
		return r;
	}
	/* A deferred metadata change: what the object will say once applied. */
	r = fs_defer_get(c->defer, path, &o->info);
	if (r < 0)
		return r;
	if (r > 0) {
		fs_attr_from_info(c, key, &o->info, &a);
		o->st = a.st;
		o->has_info = true;
		return 0;
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
		/* listing_attrs: what a listing said answers a plain stat. */
		if (!a.meta_known && !want_info && c->cfg->listing_attrs) {
			o->st = a.st;
			return 0;
		}
		store_info_release(&o->info);
		memset(&o->info, 0, sizeof(o->info));
		break;
	default:
		break;
	}

	token = cache_token(c->cache);
	switch (in_parent_listing(c, path, &type, &listed, &o->st)) {
	case CACHE_NEGATIVE:
		/* A cached listing (or one we built by mkdir) has no such name. */
		cache_put_negative(c->cache, path, token);
		return -ENOENT;
	case CACHE_HIT:
		/* listing_attrs: what the listing said answers a plain stat. */
		if (listed && !want_info && c->cfg->listing_attrs)
			return 0;
		memset(&o->st, 0, sizeof(o->st));
		if (S_ISDIR(type)) {
			exists = marker = true; /* a marker, or an implicit directory */
			goto dir;
		}
		break;
	default:
		break;
	}
	r = c->st->ops->head(c->st, key, &o->info);
	if (r == 0) {
		fs_attr_from_info(c, key, &o->info, &a);
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
dir:
	if (marker) {
		r = c->st->ops->head(c->st, dkey, &o->info);
		if (r == 0) {
			fs_attr_from_info(c, dkey, &o->info, &a);
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

void fs_obj_release(struct fs_obj *o)
{
	store_info_release(&o->info);
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct fs_ctx *c = fs_ctx_get();
	struct fs_file *f = file_of(fi);
	struct fs_obj o;
	int r;

	if (f) {
		char key[FS_KEYBUF];
		r = fs_path_to_key(c, path ? path : "/", 0, key, sizeof(key));
		if (r == 0)
			r = open_file_stat(c, f->fh, path ? path : "/", key, &o);
	} else {
		r = fs_lookup(c, path, false, &o);
	}
	if (r == 0)
		*st = o.st;
	fs_obj_release(&o);
	return r;
}

/* ---- files ----------------------------------------------------------- */

/* Called by fh after an upload of @key (info NULL: it failed). */
static void on_stored(void *arg, const char *key, const struct store_info *info)
{
	struct fs_ctx *c = arg;
	char path[FS_KEYBUF + 2];
	struct cache_attr a;

	if (key_to_path(c, key, path, sizeof(path)) != 0)
		return;
	cache_invalidate(c->cache, path);
	if (!info)
		return;
	fs_attr_from_info(c, key, info, &a);
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
	pthread_mutex_lock(&c->files_lock);
	f->next = c->files;
	if (f->next)
		f->next->prev = f;
	c->files = f;
	pthread_mutex_unlock(&c->files_lock);
	return 0;
}

/* Forget an open handle (unlink from c->files). */
static void file_forget(struct fs_ctx *c, struct fs_file *f)
{
	pthread_mutex_lock(&c->files_lock);
	if (f->prev)
		f->prev->next = f->next;
	else
		c->files = f->next;
	if (f->next)
		f->next->prev = f->prev;
	f->prev = f->next = NULL;
	pthread_mutex_unlock(&c->files_lock);
}

/*
 * Apply the deferred metadata change of @path, if any, and forget what the
 * cache knew of the object (its ETag changed): for open, truncate, fsync.
 */
static int open_defer_flush(struct fs_ctx *c, const char *path)
{
	int r = fs_defer_flush(c->defer, path, false);

	if (r != 0)
		cache_invalidate(c->cache, path);
	return r < 0 ? r : 0;
}

static int touch_mtime(struct fs_file *f);
static int fs_release(const char *path, struct fuse_file_info *fi);

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	struct fs_ctx *c = fs_ctx_get();
	char key[FS_KEYBUF];
	struct cache_attr a;
	struct fh *fh;
	struct fs_obj o;
	int r;

	r = fs_path_to_key(c, path, 0, key, sizeof(key));
	if (r)
		return r;
	/*
	 * An open for writing starts from the object with its metadata
	 * applied; a read-only one (rsync's fchmod) leaves it waiting.
	 */
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		r = open_defer_flush(c, path);
		if (r)
			return r;
	}
	r = fs_lookup(c, path, true, &o);
	if (r == 0 && S_ISDIR(o.st.st_mode))
		r = -EISDIR;
	if (r == 0 && !o.has_info)
		r = -EIO;
	/* A written file is stored again, typed by its name as s3fs does. */
	if (r == 0 && (fi->flags & O_ACCMODE) != O_RDONLY)
		r = fs_set_content_type(c, key, &o.info.meta);
	if (r)
		goto out;
	r = fh_open(c->fh, key, &o.info, NULL, fi->flags, &fh);
	if (r)
		goto out;
	r = new_file(c, fh, fi);
	if (r)
		goto out;
	/* O_TRUNC is a change of the file, empty or not: new mtime and ctime. */
	if ((fi->flags & O_TRUNC) && (fi->flags & O_ACCMODE) != O_RDONLY) {
		fh_mark_dirty(fh);
		r = touch_mtime(open_file(fi));
		if (r) {
			fs_release(path, fi);
			goto out;
		}
	}
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
	fs_obj_release(&o);
	return r;
}

int fs_set_content_type(const struct fs_ctx *c, const char *key, struct store_meta *m)
{
	char *ct = strdup(mime_lookup(c->mime, key));

	if (!ct)
		return -ENOMEM;
	free(m->content_type);
	m->content_type = ct;
	return 0;
}

/*
 * Remember what create, symlink and mknod just stored at @key (@path): its
 * attributes (no ETag: ours is not known), its name of type @type in the
 * parent's listing, and the parent's new times.
 */
static void cache_created(struct fs_ctx *c, const char *path, const char *key,
			  struct store_info *info, time_t now, mode_t type)
{
	struct cache_attr a;

	info->last_modified = now;
	fs_attr_from_info(c, key, info, &a);
	a.etag[0] = '\0';
	cache_put(c->cache, path, cache_token(c->cache), &a, info);
	cache_dir_note(c->cache, path, type);
	fs_touch_parent(c, path);
}

static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct fs_ctx *c = fs_ctx_get();
	struct fuse_context *fc = fuse_get_context();
	char key[FS_KEYBUF];
	struct store_info info;
	struct cache_attr a;
	struct timespec now;
	struct fh *fh;
	int r;

	r = fs_path_to_key(c, path, 0, key, sizeof(key));
	if (r)
		return r;
	fs_defer_drop(c->defer, path); /* a new object takes the name */
	/*
	 * The kernel looked the name up and found nothing, so a create needs
	 * no HEAD; with O_EXCL, make sure unless we know it is absent.
	 */
	if ((fi->flags & O_EXCL) && cache_get(c->cache, path, &a, NULL) != CACHE_NEGATIVE) {
		struct fs_obj o;
		r = fs_lookup(c, path, false, &o);
		fs_obj_release(&o);
		if (r == 0)
			return -EEXIST;
		if (r != -ENOENT)
			return r;
	}
	memset(&info, 0, sizeof(info));
	fs_now(&now);
	r = meta_init(&info.meta, S_IFREG | (mode & 07777), fc->uid, fc->gid, &now);
	if (r == 0)
		r = fs_set_content_type(c, key, &info.meta);
	if (r == 0)
		r = fh_open(c->fh, key, NULL, &info.meta, fi->flags | O_CREAT, &fh);
	if (r == 0)
		r = new_file(c, fh, fi);
	cache_invalidate(c->cache, path);
	if (r == 0) {
		cache_created(c, path, key, &info, now.tv_sec, S_IFREG);
	}
	store_info_release(&info);
	return r;
}

/*
 * The errno of a data operation (read, write, flush, fsync, close) that
 * failed. A server that kept asking to slow down past the retries is
 * EAGAIN inside; on a regular file that tells applications "no data yet,
 * try again" (Python's read() returns None, some programs spin), so it
 * leaves as EIO.
 */
static int io_errno(int r)
{
	return r == -EAGAIN ? -EIO : r;
}

/*
 * The errno of a store that failed (flush, fsync, close): as io_errno(),
 * and a multipart upload that vanished on the server (NoSuchUpload,
 * ENOENT inside) is EIO too: close(2) saying "No such file or directory"
 * would point at the wrong thing.
 */
static int store_errno(int r)
{
	return r == -ENOENT ? -EIO : io_errno(r);
}

static int fs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	size_t got = 0;
	int r;

	r = fh_read(open_file(fi)->fh, buf, size, off, &got);
	if (r == 0)
		__atomic_add_fetch(&fs_ctx_get()->bytes_read, (uint64_t)got, __ATOMIC_RELAXED);
	/* replaced by another client: the next open must not trust a cached ETag */
	if (r == -ESTALE && path)
		cache_invalidate(fs_ctx_get()->cache, path);
	return r ? io_errno(r) : (int)got;
}

/* The metadata a write moves: fh leaves it to Last-Modified in a streamed upload. */
static const char *const write_times[] = { META_MTIME, META_CTIME, NULL };

/* Writes move mtime (and ctime): once a second is enough. */
static int touch_mtime(struct fs_file *f)
{
	struct store_meta m;
	struct timespec now;
	int r;

	fs_now(&now);
	if (__atomic_load_n(&f->mtime_set, __ATOMIC_RELAXED) == now.tv_sec)
		return 0;
	r = fh_get_meta(f->fh, &m);
	if (r)
		return r;
	r = meta_set_time(&m, META_MTIME, &now);
	if (r == 0)
		r = meta_set_time(&m, META_CTIME, &now);
	if (r == 0)
		r = fh_set_meta_times(f->fh, &m);
	store_meta_release(&m);
	if (r == 0)
		__atomic_store_n(&f->mtime_set, now.tv_sec, __ATOMIC_RELAXED);
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
	if (off < 0 || off > FS_FILE_MAX || (off_t)size > FS_FILE_MAX - off)
		return -EFBIG;
	r = fh_write(f->fh, buf, size, off);
	if (r == 0)
		__atomic_add_fetch(&fs_ctx_get()->bytes_written, (uint64_t)size, __ATOMIC_RELAXED);
	if (r == 0)
		r = touch_mtime(f);
	return r ? io_errno(r) : (int)size;
}

static int fs_flush(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	return store_errno(fh_flush(open_file(fi)->fh));
}

static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	int r;

	(void)datasync;
	r = fh_flush(open_file(fi)->fh);
	if (r == 0 && path)
		r = fs_defer_flush(fs_ctx_get()->defer, path, false);
	return store_errno(r < 0 ? r : 0);
}

/* fsync of a directory: the deferred metadata changes below it go out. */
static int fs_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)datasync;
	(void)fi;
	int r = fs_defer_flush(fs_ctx_get()->defer, path ? path : "/", true);

	return io_errno(r < 0 ? r : 0);
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
	struct fs_file *f = open_file(fi);
	int r;

	file_forget(fs_ctx_get(), f);
	r = fh_release(f->fh);
	if (r)
		log_msg(LOG_LVL_ERR, LOG_CAT_FUSE, "cannot store '%s' on close: %s",
			path ? path : "?", strerror(-r));
	free(f);
	return store_errno(r);
}

/* ---- unlinked open files ---------------------------------------------- */

struct fs_hidden {
	char *path;    /* owned: the hidden name libfuse gave it */
	struct fh *fh; /* owned reference */
	struct fs_hidden *next;
};

bool fs_is_hidden_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return strncmp(slash ? slash + 1 : path, ".fuse_hidden", 12) == 0;
}

int fs_hide(struct fs_ctx *c, const char *path, const char *hidden)
{
	struct fs_hidden *h;
	char key[FS_KEYBUF];
	struct fh *fh;
	int r;

	r = fs_path_to_key(c, path, 0, key, sizeof(key));
	if (r)
		return r;
	fh = fh_find(c->fh, key);
	if (!fh)
		return -ENOENT; /* not open here: an ordinary rename */
	h = calloc(1, sizeof(*h));
	if (h)
		h->path = strdup(hidden);
	if (!h || !h->path) {
		free(h);
		(void)fh_release(fh);
		return -ENOMEM;
	}
	r = fh_unlink_key(c->fh, key);
	cache_invalidate(c->cache, path);
	if (r) {
		free(h->path);
		free(h);
		(void)fh_release(fh);
		return r;
	}
	cache_dir_note(c->cache, path, 0);
	cache_put_negative(c->cache, path, cache_token(c->cache));
	h->fh = fh;
	pthread_mutex_lock(&c->files_lock);
	h->next = c->hidden;
	c->hidden = h;
	pthread_mutex_unlock(&c->files_lock);
	return 0;
}

struct fh *fs_hidden_find(struct fs_ctx *c, const char *path)
{
	struct fh *fh = NULL;

	pthread_mutex_lock(&c->files_lock);
	for (struct fs_hidden *h = c->hidden; h; h = h->next) {
		if (strcmp(h->path, path) == 0) {
			fh = fh_ref(h->fh);
			break;
		}
	}
	pthread_mutex_unlock(&c->files_lock);
	return fh;
}

int fs_hidden_drop(struct fs_ctx *c, const char *path)
{
	struct fs_hidden **pp, *h = NULL;

	pthread_mutex_lock(&c->files_lock);
	for (pp = &c->hidden; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->path, path) == 0) {
			h = *pp;
			*pp = h->next;
			break;
		}
	}
	pthread_mutex_unlock(&c->files_lock);
	if (!h)
		return -ENOENT;
	(void)fh_release(h->fh); /* unlinked: never stored again */
	free(h->path);
	free(h);
	return 0;
}

static int fs_unlink(const char *path)
{
	struct fs_ctx *c = fs_ctx_get();
	char key[FS_KEYBUF];
	int r;

	if (fs_is_hidden_name(path) && fs_hidden_drop(c, path) == 0)
		return 0; /* the last close of an unlinked file */
	r = fs_path_to_key(c, path, 0, key, sizeof(key));
	if (r)
		return r;
	/* an open file of it must not bring the object back on close */
	r = fh_unlink_key(c->fh, key);
	if (r == 0)
		fs_defer_drop(c->defer, path);
	cache_invalidate(c->cache, path);
	if (r == 0) {
		cache_dir_note(c->cache, path, 0);
		cache_put_negative(c->cache, path, cache_token(c->cache));
		fs_touch_parent(c, path);
	}
	return r;
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct fs_ctx *c = fs_ctx_get();
	struct fs_file *f = file_of(fi);
	struct fs_file tmp = { 0 };
	char key[FS_KEYBUF];
	struct fs_obj o;
	int r;

	if (size < 0)
		return -EINVAL;
	if (size > FS_FILE_MAX)
		return -EFBIG;
	if (f) {
		r = fh_truncate(f->fh, size);
		return r ? r : touch_mtime(f);
	}
	r = fs_path_to_key(c, path, 0, key, sizeof(key));
	if (r == 0)
		r = open_defer_flush(c, path);
	if (r)
		return r;
	tmp.fh = fh_find(c->fh, key);
	if (!tmp.fh) {
		r = fs_lookup(c, path, true, &o);
		if (r == 0 && S_ISDIR(o.st.st_mode))
			r = -EISDIR;
		if (r == 0 && !o.has_info)
			r = -EIO;
		if (r == 0)
			r = fh_open(c->fh, key, &o.info, NULL, O_WRONLY, &tmp.fh);
		fs_obj_release(&o);
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
	struct fs_obj o;
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
	fs_obj_release(&o);
	return r;
}

/*
 * Give object @key (at @path) the headers of @info: kept for a rename or
 * later changes to carry (fs_defer.h), or copied onto itself now, also
 * when the guard would refuse that copy, so that the caller reports it.
 */
static int store_meta_change(struct fs_ctx *c, const char *path, const char *key,
			     const struct store_info *info)
{
	const struct store_ops *ops = c->st->ops;
	int r = 0;

	if (!ops->self_copy_allowed || ops->self_copy_allowed(c->st, &info->enc))
		r = fs_defer_put(c->defer, path, key, info);
	if (r == 0)
		r = ops->copy(c->st, key, key, &info->meta, &info->enc, NULL);
	return r < 0 ? r : 0;
}

/*
 * Change the metadata of @path: through the open file if there is one,
 * and on the server by copying the object onto itself with the new
 * headers (a directory without a marker gets one).
 */
static int edit_meta(const char *path, struct fuse_file_info *fi, meta_edit_fn fn, void *arg)
{
	struct fs_ctx *c = fs_ctx_get();
	struct fs_file *f = file_of(fi);
	char key[FS_KEYBUF], dkey[FS_KEYBUF];
	struct store_meta openm = { 0 };
	struct cache_attr a;
	struct fh *fh = NULL;
	bool done = false;
	struct fs_obj o;
	int r;

	if (fs_is_root(path))
		return 0; /* the mount point has no object to hold it */
	r = fs_path_to_key(c, path, 0, key, sizeof(key));
	if (r == 0)
		r = fs_path_to_key(c, path, 1, dkey, sizeof(dkey));
	if (r)
		return r;
	fh = f ? f->fh : fh_find(c->fh, key);
	if (!fh && fs_is_hidden_name(path)) {
		fh = fs_hidden_find(c, path);
		done = fh != NULL; /* an unlinked file: no object to change */
	}
	if (fh) {
		bool unlinked = done;
		r = edit_open(c, fh, path, key, fn, arg, &done, &openm);
		done = done || unlinked;
		if (!f)
			(void)fh_release(fh);
		cache_invalidate(c->cache, path);
		if (r == 0 && !done) {
			/*
			 * Stored and unchanged since: update the object as well,
			 * now or (deferred) with a rename or the next change.
			 */
			memset(&o, 0, sizeof(o));
			r = c->st->ops->head(c->st, key, &o.info);
			if (r == 0) {
				store_meta_release(&o.info.meta);
				r = store_meta_copy(&o.info.meta, &openm);
			}
			if (r == 0)
				r = store_meta_change(c, path, key, &o.info);
			fs_obj_release(&o);
		}
		store_meta_release(&openm);
		cache_invalidate(c->cache, path);
		return r;
	}
	/*
	 * The headers we know (from a HEAD, our own upload or our last change,
	 * within stat_ttl) are the base of the new ones, as a stat within
	 * stat_ttl would show them: rsync's utimens and chmod after close cost
	 * one copy each and no HEAD.
	 */
	r = fs_lookup(c, path, true, &o);
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
		r = c->st->ops->put(c->st, dkey, "", 0, &o.info.meta, &o.info.enc, NULL);
	} else if (S_ISDIR(o.st.st_mode)) {
		r = c->st->ops->copy(c->st, dkey, dkey, &o.info.meta, &o.info.enc, NULL);
	} else if (!o.has_info) {
		r = -EIO;
	} else {
		r = store_meta_change(c, path, key, &o.info);
	}
	/* A directory's own listing stays: its entries did not change. */
	if (S_ISDIR(o.st.st_mode))
		cache_invalidate_attr(c->cache, path);
	else
		cache_invalidate(c->cache, path);
	if (r == 0 && o.has_info) {
		/* A copy makes a new ETag, not known here: none is cached. */
		o.info.etag[0] = '\0';
		fs_attr_from_info(c, S_ISDIR(o.st.st_mode) ? dkey : key, &o.info, &a);
		cache_put(c->cache, path, cache_token(c->cache), &a, &o.info);
	}
out:
	store_meta_release(&openm);
	fs_obj_release(&o);
	return r;
}

static int touch_ctime(struct store_meta *m)
{
	struct timespec now;
	fs_now(&now);
	return meta_set_time(m, META_CTIME, &now);
}

/*
 * Is the caller of the current operation in group @gid? Its primary group
 * or one of the supplementary groups of the calling thread.
 */
static bool caller_in_group(gid_t gid)
{
	gid_t groups[256];
	int n;

	if (fuse_get_context()->gid == gid)
		return true;
	n = fuse_getgroups((int)ARRAY_SIZE(groups), groups);
	for (int i = 0; i < n && i < (int)ARRAY_SIZE(groups); i++) {
		if (groups[i] == gid)
			return true;
	}
	return false;
}

/*
 * chmod(2)'s rules, also for a mount without default_permissions: only
 * the owner (or root) changes the mode; a set-group-ID bit for a group
 * the caller is not in is dropped. After a write by another user the
 * kernel clears the set-user/group-ID bits in the writer's name, so a
 * change that only clears them is always allowed.
 */
static int edit_chmod(struct store_meta *m, const struct stat *st, void *arg)
{
	uid_t uid = fuse_get_context()->uid;
	mode_t mode = *(const mode_t *)arg & 07777;
	int r;

	if (uid != 0 && uid != st->st_uid) {
		if (mode != (st->st_mode & 07777 & ~(mode_t)(S_ISUID | S_ISGID)))
			return -EPERM;
	} else if (uid != 0 && (mode & S_ISGID) && !S_ISDIR(st->st_mode) &&
		   !caller_in_group(st->st_gid)) {
		mode &= ~(mode_t)S_ISGID;
	}
	r = meta_set_mode(m, (st->st_mode & S_IFMT) | mode);
	return r ? r : touch_ctime(m);
}

static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return edit_meta(path, fi, edit_chmod, &mode);
}

struct owner {
	uid_t uid;
	gid_t gid;
};

/*
 * chown(2)'s rules, also for a mount without default_permissions: only
 * root gives a file away; its owner may change the group to one of its
 * own groups.
 */
static int edit_chown(struct store_meta *m, const struct stat *st, void *arg)
{
	const struct owner *o = arg;
	uid_t uid = fuse_get_context()->uid;
	int r;

	if (uid != 0 && o->uid != (uid_t)-1 && (uid != st->st_uid || o->uid != st->st_uid))
		return -EPERM;
	if (uid != 0 && o->gid != (gid_t)-1 &&
	    (uid != st->st_uid || (o->gid != st->st_gid && !caller_in_group(o->gid))))
		return -EPERM;
	r = meta_set_owner(m, o->uid, o->gid);
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
	fs_now(&now);
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

/*
 * The times of directory @parent (with @dkey, its marker's key) after a
 * change of its entries. Not through edit_meta(): that would drop the
 * directory's cached listing, which creates in it rely on.
 */
static int touch_dir(struct fs_ctx *c, const char *parent, const char *dkey,
		     const struct timespec *now)
{
	uint64_t token = cache_token(c->cache);
	struct store_info info;
	struct cache_attr a;
	struct stat st;
	enum cache_hit hit;
	int r = 0;

	memset(&info, 0, sizeof(info));
	hit = cache_get(c->cache, parent, &a, &info);
	/* Bulk changes in one directory: one update a second is enough. */
	if (hit == CACHE_HIT && a.meta_known && a.st.st_mtime == now->tv_sec &&
	    a.st.st_ctime == now->tv_sec)
		goto out;
	if (hit != CACHE_HIT || !a.has_info) {
		store_info_release(&info);
		memset(&info, 0, sizeof(info));
		r = c->st->ops->head(c->st, dkey, &info);
		if (r == -ENOENT) {
			/* Implicit: no object to keep them, only the cache. */
			if (hit == CACHE_HIT && a.meta_known && S_ISDIR(a.st.st_mode)) {
				a.st.st_mtim = a.st.st_ctim = *now;
				cache_put(c->cache, parent, token, &a, NULL);
			}
			r = 0;
			goto out;
		}
		if (r)
			goto out;
	}
	meta_to_stat(&c->mc, dkey, &info, &st);
	r = complete_meta(&info.meta, &st);
	if (r == 0)
		r = meta_set_time(&info.meta, META_MTIME, now);
	if (r == 0)
		r = meta_set_time(&info.meta, META_CTIME, now);
	if (r == 0)
		r = c->st->ops->copy(c->st, dkey, dkey, &info.meta, &info.enc, NULL);
	if (r == 0) {
		fs_attr_from_info(c, dkey, &info, &a);
		a.etag[0] = '\0'; /* a copy makes a new ETag */
		cache_put(c->cache, parent, token, &a, &info);
	}
out:
	store_info_release(&info);
	return r;
}

void fs_touch_parent(struct fs_ctx *c, const char *path)
{
	const char *slash = strrchr(path, '/');
	char parent[FS_KEYBUF + 2], dkey[FS_KEYBUF];
	struct timespec now;
	size_t pl;
	int r;

	if (!slash)
		return;
	fs_now(&now);
	if (slash == path) {
		__atomic_store_n(&c->root_mtime, now.tv_sec, __ATOMIC_RELAXED);
		return;
	}
	pl = (size_t)(slash - path);
	if (pl >= sizeof(parent))
		return;
	memcpy(parent, path, pl);
	parent[pl] = '\0';
	r = fs_path_to_key(c, parent, 1, dkey, sizeof(dkey));
	if (r == 0)
		r = touch_dir(c, parent, dkey, &now);
	if (r)
		log_msg(LOG_LVL_DEBUG, LOG_CAT_FUSE, "cannot update the times of '%s': %s", parent,
			strerror(-r));
}

/* ---- extended attributes ---------------------------------------------- */

/*
 * Stored: names in the user and trusted namespaces, and names in none
 * (s3fs accepts "key1"; FUSE passes every name through). Not stored: the
 * security and system namespaces. `ls -l` asks for security.selinux and
 * system.posix_acl_access of every entry and the kernel asks for
 * security.capability on every write: those are answered (ENODATA) without
 * any request.
 */
static bool is_stored_xattr(const char *name)
{
	return strncmp(name, "security.", 9) != 0 && strncmp(name, "system.", 7) != 0;
}

/* The metadata of @path for reading xattrs; *out filled (caller releases). */
static int read_meta(const char *path, struct store_meta *out)
{
	struct fs_obj o;
	int r = fs_lookup(fs_ctx_get(), path, true, &o);

	if (r == 0) {
		*out = o.info.meta;
		memset(&o.info.meta, 0, sizeof(o.info.meta));
	}
	fs_obj_release(&o);
	return r;
}

static int fs_getxattr(const char *path, const char *name, char *value, size_t size)
{
	struct store_meta m = { 0 };
	size_t len = 0;
	int r;

	if (!is_stored_xattr(name))
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

	if (!is_stored_xattr(name))
		return -EOPNOTSUPP;
	return edit_meta(path, NULL, edit_xattr, &x);
}

static int fs_removexattr(const char *path, const char *name)
{
	struct xattr_edit x = { name, NULL, 0, 0 };

	if (!is_stored_xattr(name))
		return -ENODATA;
	return edit_meta(path, NULL, edit_xattr, &x);
}

/* ---- symlinks ---------------------------------------------------------- */

static int fs_symlink(const char *target, const char *path)
{
	struct fs_ctx *c = fs_ctx_get();
	struct fuse_context *fc = fuse_get_context();
	char key[FS_KEYBUF];
	struct store_info info;
	struct timespec now;
	int r;

	r = fs_path_to_key(c, path, 0, key, sizeof(key));
	if (r)
		return r;
	memset(&info, 0, sizeof(info));
	fs_now(&now);
	/* As s3fs: the target is the body, the mode says S_IFLNK. */
	r = meta_init(&info.meta, S_IFLNK | 0777, fc->uid, fc->gid, &now);
	if (r == 0)
		r = c->st->ops->put(c->st, key, target, strlen(target), &info.meta, NULL, NULL);
	cache_invalidate(c->cache, path);
	if (r == 0) {
		/* Known now: a listing must not make it a regular file. */
		info.size = strlen(target);
		cache_created(c, path, key, &info, now.tv_sec, S_IFLNK);
	}
	store_info_release(&info);
	return r;
}

/* Objects have one name each: no hard links (link(2) documents EPERM for that). */
static int fs_link(const char *from, const char *to)
{
	(void)from;
	(void)to;
	return -EPERM;
}

/* ---- special files ----------------------------------------------------- */

/*
 * FIFOs, devices and sockets (bind(2) on the mount makes one), as s3fs
 * stores them: an empty object whose mode carries the type, typed by its
 * name. Devices also keep their number (META_RDEV), which s3fs ignores.
 * The kernel opens them itself: no data ever goes through us.
 */
static int fs_mknod(const char *path, mode_t mode, dev_t rdev)
{
	struct fs_ctx *c = fs_ctx_get();
	struct fuse_context *fc = fuse_get_context();
	mode_t type = mode & S_IFMT;
	char key[FS_KEYBUF];
	struct store_info info;
	struct timespec now;
	int r;

	if (type != S_IFREG && type != S_IFIFO && type != S_IFCHR && type != S_IFBLK &&
	    type != S_IFSOCK)
		return -EINVAL;
	r = fs_path_to_key(c, path, 0, key, sizeof(key));
	if (r)
		return r;
	memset(&info, 0, sizeof(info));
	fs_now(&now);
	r = meta_init(&info.meta, type | (mode & 07777), fc->uid, fc->gid, &now);
	if (r == 0 && (type == S_IFCHR || type == S_IFBLK))
		r = meta_set_rdev(&info.meta, rdev);
	if (r == 0)
		r = fs_set_content_type(c, key, &info.meta);
	if (r == 0)
		r = c->st->ops->put(c->st, key, "", 0, &info.meta, NULL, NULL);
	cache_invalidate(c->cache, path);
	if (r == 0) {
		/* Known now: a listing must not make it a regular file. */
		cache_created(c, path, key, &info, now.tv_sec, type);
	}
	store_info_release(&info);
	return r;
}

static int fs_readlink(const char *path, char *buf, size_t size)
{
	struct fs_ctx *c = fs_ctx_get();
	char key[FS_KEYBUF];
	size_t got = 0, want;
	struct fs_obj o;
	int r;

	if (size == 0)
		return -EINVAL;
	r = fs_path_to_key(c, path, 0, key, sizeof(key));
	if (r)
		return r;
	r = fs_lookup(c, path, true, &o);
	if (r == 0 && !S_ISLNK(o.st.st_mode))
		r = -EINVAL;
	if (r == 0) {
		want = (uint64_t)o.st.st_size < size - 1 ? (size_t)o.st.st_size : size - 1;
		r = c->st->ops->get_range(c->st, key, 0, want, buf, &got, &o.info.enc, NULL);
	}
	if (r == 0)
		buf[got] = '\0';
	fs_obj_release(&o);
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
	sv->f_namemax = FS_NAME_MAX;
	return 0;
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct fs_ctx *c = fuse_get_context()->private_data;
	int r;

	cfg->use_ino = 0;
	cfg->nullpath_ok = 0;
	/*
	 * An unlinked open file is renamed to a hidden name, which fs_hide()
	 * keeps here only (nothing reaches the server): libfuse can then
	 * still answer fstat() on it, which it cannot for a removed node.
	 */
	cfg->hard_remove = 0;
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
	/*
	 * Every listing comes with attributes: ask the kernel for READDIRPLUS
	 * on every readdir, not only the first one of a directory (the
	 * adaptive mode would leave a lookup per name for the later pages).
	 */
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;

	/* Worker threads start here, after libfuse daemonized. */
	r = fh_ctx_new(&c->fhcfg, c->st, &c->fh);
	if (r) {
		log_msg(LOG_LVL_ERR, LOG_CAT_FUSE, "cannot start the file layer: %s", strerror(-r));
		fuse_exit(fuse_get_context()->fuse);
	}
	r = fs_defer_start(c->defer);
	if (r)
		log_msg(LOG_LVL_WARN, LOG_CAT_FUSE,
			"metadata changes are not deferred (cannot start a thread: %s)",
			strerror(-r));
	return c;
}

static void fs_destroy(void *data)
{
	struct fs_ctx *c = data;
	unsigned n = 0;

	/*
	 * When the loop ends with files open (SIGTERM, SIGINT, umount -f)
	 * libfuse never releases their handles: store what they hold now,
	 * or it is lost.
	 */
	if (c->fh)
		c->shutdown_err = fh_flush_all(c->fh, &n);
	/* Metadata changes still waiting: apply them before the process ends. */
	int dr = fs_defer_stop(c->defer);
	if (dr && !c->shutdown_err)
		c->shutdown_err = dr;
	if (n && !c->shutdown_err)
		log_msg(LOG_LVL_INFO, LOG_CAT_FUSE, "stored %u open file%s at shutdown", n,
			n == 1 ? "" : "s");
	/* No request runs any more: release the handles libfuse left open. */
	while (c->files) {
		struct fs_file *f = c->files;

		file_forget(c, f);
		(void)fh_release(f->fh); /* stored above, or the failure logged */
		free(f);
	}
	while (c->hidden)
		(void)fs_hidden_drop(c, c->hidden->path);
	fh_ctx_free(c->fh);
	c->fh = NULL;
}

static const struct fuse_operations ops = {
	.init = fs_init,
	.destroy = fs_destroy,
	.getattr = fs_getattr,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.releasedir = fs_releasedir,
	.mkdir = fs_mkdir,
	.rmdir = fs_rmdir,
	.open = fs_open,
	.create = fs_create,
	.read = fs_read,
	.write = fs_write,
	.flush = fs_flush,
	.fsync = fs_fsync,
	.fsyncdir = fs_fsyncdir,
	.release = fs_release,
	.unlink = fs_unlink,
	.truncate = fs_truncate,
	.rename = fs_rename,
	.chmod = fs_chmod,
	.chown = fs_chown,
	.utimens = fs_utimens,
	.symlink = fs_symlink,
	.mknod = fs_mknod,
	.link = fs_link,
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
	pthread_mutex_init(&c->files_lock, NULL);
	c->cfg = cfg;
	c->st = st;
	c->prefix_len = strlen(cfg->prefix);
	c->mount_time = time(NULL);
	c->root_mtime = c->mount_time;
	c->mc.uid = cfg->has_uid ? cfg->uid : uid;
	c->mc.gid = cfg->has_gid ? cfg->gid : gid;
	c->mc.force_uid = cfg->has_uid;
	c->mc.force_gid = cfg->has_gid;
	c->mc.umask = cfg->umask;
	c->mc.has_umask = cfg->has_umask;
	r = mime_load(MIME_TYPES_FILE, &c->mime);
	if (r)
		log_msg(LOG_LVL_WARN, LOG_CAT_MAIN,
			"cannot read '%s': %s; storing every file as " MIME_DEFAULT,
			MIME_TYPES_FILE, strerror(-r));

	cc.stat_ttl_ms = (unsigned)ttl_ms(cfg->stat_ttl);
	cc.neg_ttl_ms = cc.stat_ttl_ms < NEG_TTL_MAX_MS ? cc.stat_ttl_ms : NEG_TTL_MAX_MS;
	cc.dir_ttl_ms = (unsigned)ttl_ms(cfg->dir_ttl);
	r = cache_new(&cc, &c->cache);
	if (r) {
		mime_free(c->mime);
		free(c);
		return r;
	}

	r = fs_defer_new(c, cfg->meta_delay, &c->defer);
	if (r) {
		cache_free(c->cache);
		mime_free(c->mime);
		free(c);
		return r;
	}
	c->fhcfg.part_size = cfg->part_size;
	c->fhcfg.parallel = cfg->parallel;
	c->fhcfg.cache_dir = cfg->cache_dir;
	c->fhcfg.mem_limit = cfg->parallel * cfg->part_size + ((size_t)32 << 20);
	/*
	 * A sequential reader's window grows to 64 MiB: about 4% faster than
	 * 32 on a cold read over HTTPS (interleaved runs, loopback RGW), for
	 * up to 88 MiB of blocks per file so read (see the man page).
	 */
	c->fhcfg.readahead_max = (size_t)64 << 20;
	c->fhcfg.on_stored = on_stored;
	c->fhcfg.on_stored_arg = c;
	c->fhcfg.write_times = write_times;
	*out = c;
	return 0;
}

void fs_get_stats(struct fs_ctx *c, struct fs_stats *out)
{
	cache_get_stats(c->cache, &out->cache);
	out->bytes_read = __atomic_load_n(&c->bytes_read, __ATOMIC_RELAXED);
	out->bytes_written = __atomic_load_n(&c->bytes_written, __ATOMIC_RELAXED);
}

int fs_shutdown_error(const struct fs_ctx *c)
{
	return c ? c->shutdown_err : 0;
}

void fs_ctx_free(struct fs_ctx *c)
{
	if (!c)
		return;
	fs_defer_free(c->defer);
	fh_ctx_free(c->fh);
	cache_free(c->cache);
	mime_free(c->mime);
	pthread_mutex_destroy(&c->files_lock);
	free(c);
}
