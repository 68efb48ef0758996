/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The filesystem: struct fuse_operations over a store, with the stat and
 * listing caches and the open-file layer. Paths map to keys under the
 * mount's prefix here and nowhere else. Startup (options, credentials,
 * the store itself) is main.c's.
 */
#ifndef obsmount_FS_OPS_H
#define obsmount_FS_OPS_H

#include <stdint.h>
#include <sys/types.h>

#include <fuse.h>

#include "cache.h"
#include "opt.h"
#include "store.h"
#include "util/compiler.h"

struct fs_ctx;

/*
 * New filesystem state for mount @cfg over store @st (both borrowed; they
 * must outlive it). @uid/@gid: the mounting user, owner of objects without
 * owner metadata unless uid=/gid= say otherwise. Starts no thread: the
 * open-file layer (and its workers) is created in the init() operation,
 * after libfuse has daemonized. 0 and *out (caller owns), or -errno.
 */
int fs_ctx_new(const struct mount_cfg *cfg, struct store *st, uid_t uid, gid_t gid,
	       struct fs_ctx **out) MUST_CHECK;
/* Free it; the filesystem must be unmounted (destroy() ran). NULL-safe. */
void fs_ctx_free(struct fs_ctx *c);

/*
 * After destroy(): 0, or the error that kept the data of a file left open
 * at shutdown from being stored (logged already). NULL-safe.
 */
int fs_shutdown_error(const struct fs_ctx *c) MUST_CHECK;

struct fs_stats {
	struct cache_stats cache;
	uint64_t bytes_read, bytes_written; /* by read() and write() */
};

/* The counters since fs_ctx_new(); takes the cache lock. Thread-safe. */
void fs_get_stats(struct fs_ctx *c, struct fs_stats *out);

/* The operations; their private_data (fuse_new's user_data) is the fs_ctx. */
const struct fuse_operations *fs_operations(void);

/*
 * Check at mount time that the bucket (and prefix) can be listed: one
 * list request. 0, or -errno (-ENOENT: no such bucket; -EACCES: denied).
 */
int fs_check_bucket(struct fs_ctx *c) MUST_CHECK;

/*
 * The storage key of filesystem @path ("/a/b") into @out (@size bytes):
 * prefix + "a/b", plus a trailing '/' when @dir. 0 or -ENAMETOOLONG: a
 * name longer than FS_NAME_MAX bytes, or a key longer than S3's 1,024
 * bytes, fails here, before any request.
 */
#define FS_NAME_MAX 255 /* longest name, as statfs() reports */

int fs_path_to_key(const struct fs_ctx *c, const char *path, int dir, char *out,
		   size_t size) MUST_CHECK;

#endif
