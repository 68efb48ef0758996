/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Open files: staging of written data (on disk under cache_dir, or memory
 * within a bound), dirty ranges, upload on flush (single PUT or streamed
 * multipart with `parallel` parts in flight), reads with growing read-ahead.
 * Talks to storage only through store.h. Knows nothing of FUSE.
 * Implemented in fh.c, on top of the upload layer (upload.h).
 *
 * Locking: every call takes the per-file lock and may take the table lock
 * under it (order: file lock, table lock, then whatever on_stored takes);
 * no lock is held on return, and the table lock is never held across I/O.
 * All calls may run concurrently, also on the same handle.
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
	size_t part_size;      /* bytes per multipart part (>= 5 MiB on real S3) */
	unsigned parallel;     /* parts/ranges in flight per file */
	const char *cache_dir; /* staging directory; NULL: memory staging */
	/*
	 * Cap on memory staging, bytes, all files together. A file that would
	 * exceed it moves to an unlinked temp file in $TMPDIR (if absolute)
	 * or /var/tmp. Read-ahead (readahead_max plus two blocks per open
	 * file) comes on top; part buffers share this budget (fh.c).
	 */
	size_t mem_limit;
	size_t readahead_max; /* largest read-ahead window, bytes; < 4096: none */
	/*
	 * Called after an object was stored, with its new size, ETag (the
	 * S3 MD5 form, "" where it cannot be known) and metadata, or after a
	 * failed upload with @info NULL (forget cached attributes). Lets the
	 * filesystem refresh its stat cache. May be NULL. @info is borrowed
	 * for the call. Runs with the file's lock held: it may take the
	 * cache lock but must not call into fh.
	 */
	void (*on_stored)(void *arg, const char *key, const struct store_info *info);
	void *on_stored_arg;
	/*
	 * Names of the metadata entries that writes move (mtime, ctime),
	 * NULL-terminated; NULL: none. A streamed upload starts without them:
	 * the object's Last-Modified, stamped by the server when the upload
	 * completes, then gives its times, and the writes that go on while
	 * it streams need no metadata copy afterwards (see fh_set_meta_times()).
	 */
	const char *const *write_times;
};

struct fh_ctx;
struct fh;

/* Create the context. Takes nothing; @st and @cfg must outlive it. 0 or -errno. */
int fh_ctx_new(const struct fh_cfg *cfg, struct store *st, struct fh_ctx **out) MUST_CHECK;
/*
 * Free the context. Handles still open (libfuse does not release them when
 * it exits with files open) are left alone: call fh_flush_all() first so
 * they hold no unstored data. NULL-safe.
 */
void fh_ctx_free(struct fh_ctx *ctx);

/*
 * Store the dirty data of every open file, waiting for each upload; for
 * shutdown. *n_dirty (optional) gets the number of files that were dirty.
 * Returns 0, or the first error (each failure is logged once, at ERR);
 * failed files keep their data and error as after fh_flush(). Takes each
 * file's lock in turn, the table lock only to collect the files.
 */
int fh_flush_all(struct fh_ctx *ctx, unsigned *n_dirty) MUST_CHECK;

/*
 * Open @key. @info: what HEAD said of an existing object, or NULL for a new
 * one (create) — then @meta is the new object's metadata (copied).
 * @flags: O_TRUNC, O_APPEND, O_ACCMODE as given to open(). A new object, or
 * O_TRUNC, starts dirty so that it is stored on flush even when empty.
 * O_APPEND applies to this handle only. Opening a key that is already open
 * shares the same staged state (refcounted; @info is then ignored), so
 * readers see writers' data. *out owned by the caller until fh_release().
 * 0, -EINVAL, -ENOMEM, or the error creating the staging file.
 */
int fh_open(struct fh_ctx *ctx, const char *key, const struct store_info *info,
	    const struct store_meta *meta, int flags, struct fh **out) MUST_CHECK;

/*
 * Read up to @size bytes at @off into @buf; *got < size only at EOF (also
 * when the stored object turned out shorter than HEAD said). Unwritten
 * holes read as zeros. Store errors (-EIO for a truncated body) are
 * returned, never partial data.
 */
int fh_read(struct fh *fh, char *buf, size_t size, off_t off, size_t *got) MUST_CHECK;
/*
 * Write @size bytes at @off (O_APPEND: at the end). 0 when all were
 * written, else -errno; while an upload error is sticky it is returned
 * and nothing is written. A writer appending in order may block while
 * `parallel` parts are in flight (back-pressure).
 */
int fh_write(struct fh *fh, const char *buf, size_t size, off_t off) MUST_CHECK;
int fh_truncate(struct fh *fh, off_t size) MUST_CHECK;
/*
 * Store dirty data (waits for every part). Returns 0, or the error that
 * kept the data from being stored; the error stays on the handle (returned
 * again by the next flush/write) and the staged data is kept for a retry.
 */
int fh_flush(struct fh *fh) MUST_CHECK;
/*
 * Flush if the handle is writable or holds the last reference (the result
 * is returned), then drop the reference. NULL-safe.
 */
int fh_release(struct fh *fh);

/* Current size and whether unstored data exists. */
void fh_stat(struct fh *fh, uint64_t *size, bool *dirty);
/* Replace the metadata the next upload uses (chmod/chown/utimens of an open file). */
int fh_set_meta(struct fh *fh, const struct store_meta *meta) MUST_CHECK;
/*
 * Like fh_set_meta(), for a change that only moves the times a write
 * moves (cfg->write_times): a streamed upload begun without them completes
 * without a metadata copy, its times coming from the object's own
 * Last-Modified. 0 or -ENOMEM.
 */
int fh_set_meta_times(struct fh *fh, const struct store_meta *meta) MUST_CHECK;
/* Copy of the current metadata into the empty @out. */
int fh_get_meta(struct fh *fh, struct store_meta *out) MUST_CHECK;
/* Mark dirty so the next flush stores the object again (metadata-only change). */
void fh_mark_dirty(struct fh *fh);

/*
 * Find the open state of @key, with a new reference (release with
 * fh_release()), or NULL. Used for getattr/truncate/rename by path. The
 * handle is read-only for fh_release(): it flushes only as the last one.
 */
struct fh *fh_find(struct fh_ctx *ctx, const char *key);
/* A new read-only reference to the file of @fh (in the table or not), as
 * fh_find() gives; NULL when out of memory. */
struct fh *fh_ref(struct fh *fh);
/*
 * Re-key an open file after rename (its next upload goes to @newkey). Call
 * it once the stored object is at @newkey: ranges not fetched yet are read
 * from there. A streamed upload to the old key is aborted. A file open
 * under @newkey is detached and never uploaded again. 0, -ENOENT (not
 * open) or -ENOMEM.
 */
int fh_rename_key(struct fh_ctx *ctx, const char *oldkey, const char *newkey) MUST_CHECK;

struct fh_hold;

/*
 * Hold the open files a rename touches, so that no flush of them runs
 * while the objects are copied and deleted: the files of @src (stored
 * first, so that the copy takes their latest data; writes go on into
 * staging) and of @dst (not stored: the rename replaces them). @tree:
 * every key that starts with @src or @dst (directory keys ending in
 * '/'), else those two keys. Files are held in key order, so renames that
 * hold the same files cannot deadlock. A flush, fsync or close of a held
 * file waits until fh_hold_end(). Strings borrowed for the call. *out
 * owned by the caller (fh_hold_end()); NULL when no file is open. 0, or
 * the error storing a file of @src (nothing is held then).
 */
int fh_hold(struct fh_ctx *ctx, const char *src, const char *dst, bool tree,
	    struct fh_hold **out) MUST_CHECK;
/*
 * End a hold. @moved: the objects are now under @dst: the files of @src
 * take their new keys (their next upload goes there, unfetched ranges are
 * read from there) and the files of @dst leave the table, their handles
 * living on detached (never stored again). Not @moved: everything stays
 * as it was. Then the held flushes go on. Cannot fail (the new keys were
 * allocated by fh_hold()). NULL-safe.
 */
void fh_hold_end(struct fh_hold *h, bool moved);

/*
 * Delete the object @key (borrowed). An open file of it, if any, waits for
 * an upload in progress and fetches every range it has not read yet (so
 * its handles can read all of it afterwards; a failed fetch deletes
 * nothing); once the DELETE succeeded it leaves the table: its
 * handles still read and write their data, but it is never stored again
 * (the POSIX unlink of an open file). When the DELETE fails, an open file
 * keeps its place and its dirty data, and its next flush stores it. 0 or
 * the DELETE's -errno. Takes ctx->lock and the file's lock (held across
 * the DELETE).
 */
int fh_unlink_key(struct fh_ctx *ctx, const char *key) MUST_CHECK;

#endif
