/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Deferred metadata changes of stored files (fs_ops module only).
 *
 * A chmod, chown, utimens or xattr change of a file that is stored and
 * not open is a server-side copy of the object onto itself. Backup tools
 * make several such changes right after close and then rename the file
 * (rsync: close, chmod, utimens, rename): each copy is a round trip, and
 * the rename copies the object once more. So such a change is kept here
 * for at most the mount's meta_delay seconds: a rename carries it in its
 * own copy, later changes merge into it, and otherwise one copy applies
 * them all when the delay is over. close and fsync keep their meaning:
 * file data is never deferred.
 *
 * What forces a change out at once: fsync of the file or of a directory
 * above it, an open of the file, a rename of a directory above it,
 * unmount and SIGTERM. Every copy is conditional on the ETag the change
 * was made against: an object another client replaced meanwhile is left
 * as it is (the change is dropped with a log line), never overwritten.
 *
 * Locking: one mutex inside, never held across a request.
 */
#ifndef obsmount_FS_DEFER_H
#define obsmount_FS_DEFER_H

#include <stdbool.h>

#include "store.h"
#include "util/compiler.h"

struct fs_ctx;
struct fs_defer;

/* New, idle table for @c (borrowed, outlives it); @delay_s 0: never defer. */
int fs_defer_new(struct fs_ctx *c, unsigned delay_s, struct fs_defer **out) MUST_CHECK;
/* Start the thread that applies due changes (after daemonizing). 0 or -errno. */
int fs_defer_start(struct fs_defer *d) MUST_CHECK;
/* Apply everything pending, stop the thread. 0 or the first failure. */
int fs_defer_stop(struct fs_defer *d);
/* Free (stops first). NULL-safe. */
void fs_defer_free(struct fs_defer *d);

/*
 * Keep the change of @path (object @key): @info (borrowed, deep-copied) is
 * the object as the change leaves it: complete new headers, its size,
 * encryption and the ETag the change was made against. Replaces what was
 * pending for @path. 1 when kept, 0 when the caller must apply it now
 * (deferring off, the table full, the thread not running), or -ENOMEM.
 */
int fs_defer_put(struct fs_defer *d, const char *path, const char *key,
		 const struct store_info *info) MUST_CHECK;

/* Is a change of @path pending? Then 1 and a deep copy into the empty @out. */
int fs_defer_get(struct fs_defer *d, const char *path, struct store_info *out) MUST_CHECK;

/* Forget the pending change of @path (unlinked, or replaced by a rename). */
void fs_defer_drop(struct fs_defer *d, const char *path);

/*
 * Apply now the pending changes of @path and, when @tree, of every path
 * below it ("/" is the whole mount). The number applied, or the first
 * failure (negative).
 */
int fs_defer_flush(struct fs_defer *d, const char *path, bool tree);

#endif
