/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared inside the fs_ops module only (fs_ops.c: files, metadata, the
 * operations table; fs_dir.c: listings, mkdir, rmdir, rename): the
 * filesystem state, path lookup and the parallel request runner.
 */
#ifndef obsmount_FS_OPS_I_H
#define obsmount_FS_OPS_I_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include <fuse.h>

#include "cache.h"
#include "fh.h"
#include "fs_defer.h"
#include "fs_ops.h"
#include "meta.h"
#include "mime.h"
#include "opt.h"
#include "store.h"
#include "util/compiler.h"

#define FS_KEY_MAX 1024 /* longest key S3 accepts */
#define FS_KEYBUF (FS_KEY_MAX + 2)
/* The largest object S3 stores (5 TiB): larger files fail with EFBIG. */
#define FS_FILE_MAX ((off_t)5 << 40)

/* The state of a mount; immutable but for the caches and the fh layer. */
struct fs_ctx {
	const struct mount_cfg *cfg;
	struct store *st;
	struct cache *cache;	/* own lock */
	struct fh_ctx *fh;	/* created by init(); own locks */
	struct fs_defer *defer; /* deferred metadata changes; own lock */
	struct fh_cfg fhcfg;
	struct meta_cfg mc;
	struct mime_table *mime; /* read-only after fs_ctx_new(); NULL: none loaded */
	time_t mount_time;
	time_t root_mtime; /* atomic: the mount root's mtime and ctime (no object holds them) */
	size_t prefix_len;
	int shutdown_err;		    /* set by destroy(): open files not stored */
	uint64_t bytes_read, bytes_written; /* atomic: read() and write() totals */
	/*
	 * Every open handle, for destroy(): libfuse does not release the
	 * handles still open when its loop ends. Taken alone, never with
	 * another lock held.
	 */
	pthread_mutex_t files_lock;
	struct fs_file *files;	  /* files_lock */
	struct fs_hidden *hidden; /* files_lock: unlinked open files */
};

/* What a path is, as far as fs_lookup() found out. */
struct fs_obj {
	struct stat st;
	struct store_info info; /* HEAD of the file or directory marker, if has_info */
	bool has_info;
	bool marker; /* a directory with its own "dir/" object */
};

/*
 * Unlinked open files. libfuse (hard_remove off) renames a file that is
 * unlinked while open to a hidden name in the same directory, asks for
 * its attributes by that name while it stays open, and unlinks that name
 * at the last close. fs_hide() is that rename: it deletes the object as
 * unlink does (the open file keeps all its data, never stored again) and
 * remembers the open file under @hidden; fs_hidden_find() gives it back
 * (a new reference, release with fh_release()) and fs_hidden_drop()
 * forgets it. Nothing of it reaches the server. 0 or -errno; -ENOENT
 * from fs_hide() when the file is not open here (then it is an ordinary
 * rename), from fs_hidden_drop() when @path is no such name.
 */
bool fs_is_hidden_name(const char *path);
int fs_hide(struct fs_ctx *c, const char *path, const char *hidden) MUST_CHECK;
struct fh *fs_hidden_find(struct fs_ctx *c, const char *path);
int fs_hidden_drop(struct fs_ctx *c, const char *path);

/*
 * Set the Content-Type of @m (borrowed) to what s3fs would store for @key
 * (from mime.types), as for every PUT, multipart upload and rename.
 * 0 or -ENOMEM.
 */
int fs_set_content_type(const struct fs_ctx *c, const char *key, struct store_meta *m) MUST_CHECK;

/*
 * An entry of @path's parent directory was added, removed or renamed: set
 * the parent's mtime and ctime to now (POSIX), at most once a second per
 * directory. A directory with a marker object keeps them there (one copy
 * request); the mount root keeps them in memory; an implicit directory
 * has nowhere to keep them. Failures are only logged at debug level: the
 * entry change itself succeeded.
 */
void fs_touch_parent(struct fs_ctx *c, const char *path);

/* The mount's state, inside a FUSE operation. */
static inline struct fs_ctx *fs_ctx_get(void)
{
	return fuse_get_context()->private_data;
}

static inline bool fs_is_root(const char *path)
{
	return path[0] == '/' && path[1] == '\0';
}

static inline void fs_now(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

/*
 * Find out what @path is: an open file, a cached entry, an object, a
 * directory marker or an implicit directory. @want_info: the caller needs
 * the object's headers, so a cached stat without them is not enough.
 * Fills @o (release with fs_obj_release() in every case). 0, -ENOENT or
 * -errno. No lock held on return.
 */
int fs_lookup(struct fs_ctx *c, const char *path, bool want_info, struct fs_obj *o) MUST_CHECK;
void fs_obj_release(struct fs_obj *o);

/* Cache attributes of object @key from its HEAD @info (borrowed). */
void fs_attr_from_info(struct fs_ctx *c, const char *key, const struct store_info *info,
		       struct cache_attr *a);

/*
 * Call @fn(@arg, i) for i in [0, n) on up to @threads threads (the
 * caller's included). Stops handing out work after the first error, which
 * it returns.
 */
int fs_run_parallel(unsigned threads, size_t n, int (*fn)(void *arg, size_t i),
		    void *arg) MUST_CHECK;

/* fs_dir.c: the directory operations. */
int fs_opendir(const char *path, struct fuse_file_info *fi);
int fs_releasedir(const char *path, struct fuse_file_info *fi);
int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
	       struct fuse_file_info *fi, enum fuse_readdir_flags flags);
int fs_mkdir(const char *path, mode_t mode);
int fs_rmdir(const char *path);
int fs_rename(const char *from, const char *to, unsigned int flags);

#endif
