/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Open files: staging of written data (on disk under cache_dir, or memory
 * within a bound), dirty ranges, upload on flush (single PUT or streamed
 * multipart with `parallel` parts in flight), reads with growing read-ahead.
 * Talks to storage only through store.h. Knows nothing of FUSE.
 * Implemented in fh.c and upload.c.
 */
#ifndef obsmount_FH_H
#define obsmount_FH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store.h"
#include "util/compiler.h"

/* Settings, fixed at mount time. Strings borrowed for the context's life. */
struct fh_cfg {
	size_t part_size; /* bytes per multipart part (>= 5 MiB on real S3) */
	unsigned parallel; /* parts/ranges in flight per file */
	const char *cache_dir; /* staging directory; NULL: memory staging */
	size_t mem_limit; /* cap on memory staging, bytes, all files together */
	size_t readahead_max; /* largest read-ahead window, bytes */
	/*
	 * Called after an object was stored (or failed to be): lets the
	 * filesystem refresh its stat cache. May be NULL. @info is borrowed.
	 */
	void (*on_stored)(void *arg, const char *key, const struct store_info *info);
	void *on_stored_arg;
};

struct fh_ctx;
struct fh;

/* Create the context. Takes nothing; @st and @cfg must outlive it. 0 or -errno. */
int fh_ctx_new(const struct fh_cfg *cfg, struct store *st, struct fh_ctx **out) MUST_CHECK;
/* Free the context; all handles must be released. NULL-safe. */
void fh_ctx_free(struct fh_ctx *ctx);

/*
 * Open @key. @info: what HEAD said of an existing object, or NULL for a new
 * one (create) — then @meta is the new object's metadata (copied).
 * @flags: O_TRUNC, O_APPEND, O_ACCMODE as given to open(). A new object, or
 * O_TRUNC, starts dirty so that it is stored on flush even when empty.
 * Opening a key that is already open shares the same staged state
 * (refcounted), so readers see writers' data. *out owned by the caller
 * until fh_release().
 */
int fh_open(struct fh_ctx *ctx, const char *key, const struct store_info *info,
	    const struct store_meta *meta, int flags, struct fh **out) MUST_CHECK;

/* Read up to @size bytes at @off into @buf; *got < size only at EOF. */
int fh_read(struct fh *fh, char *buf, size_t size, off_t off, size_t *got) MUST_CHECK;
/* Write @size bytes at @off (O_APPEND: at the end). Returns a sticky upload error. */
int fh_write(struct fh *fh, const char *buf, size_t size, off_t off) MUST_CHECK;
int fh_truncate(struct fh *fh, off_t size) MUST_CHECK;
/*
 * Store dirty data (waits for every part). Returns 0, or the error that
 * kept the data from being stored; the error stays on the handle (returned
 * again by the next flush/write) and the staged data is kept for a retry.
 */
int fh_flush(struct fh *fh) MUST_CHECK;
/* Flush (ignoring nothing: the result is returned) and drop the reference. */
int fh_release(struct fh *fh);

/* Current size and whether unstored data exists. */
void fh_stat(struct fh *fh, uint64_t *size, bool *dirty);
/* Replace the metadata the next upload uses (chmod/chown/utimens of an open file). */
int fh_set_meta(struct fh *fh, const struct store_meta *meta) MUST_CHECK;
/* Copy of the current metadata into the empty @out. */
int fh_get_meta(struct fh *fh, struct store_meta *out) MUST_CHECK;
/* Mark dirty so the next flush stores the object again (metadata-only change). */
void fh_mark_dirty(struct fh *fh);

/*
 * Find the open state of @key, with a new reference (release with
 * fh_release()), or NULL. Used for getattr/truncate/rename by path.
 */
struct fh *fh_find(struct fh_ctx *ctx, const char *key);
/* Re-key an open file after rename (its next upload goes to @newkey). */
int fh_rename_key(struct fh_ctx *ctx, const char *oldkey, const char *newkey) MUST_CHECK;

#endif
