/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Uploads, the layer below the open files of fh.c: a flush (one PUT below
 * the part size, else multipart with `parallel` parts in flight and
 * UploadPartCopy for untouched parts of the stored object), parts streamed
 * while a sequential writer is still writing, abort on failure, the upload
 * buffers, and the worker pool that parts and read-ahead fetches run on.
 * It knows nothing of open files: what it needs of one (its bytes, its
 * metadata, its lock) comes in through struct mpu_file_ops and the lock
 * given to mpu_file_new().
 *
 * Locking. An upload is guarded by the lock of its file ("the file lock"):
 * functions ending in _locked require it held; they may wait on the
 * file's condition variable and drop the lock around requests that wait
 * for the network (parts in flight, PUT, complete, abort), but hold it
 * across a few short ones (initiate). Parts run on the pool without it and
 * take it only to publish their result. The context lock guards the idle
 * upload buffers only: it is taken under the file lock or none, and never
 * held across a callback or any I/O.
 */
#ifndef obsmount_UPLOAD_H
#define obsmount_UPLOAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "util/compiler.h"

/* ---- worker pool -------------------------------------------------------- */

/* A unit of work; the submitter allocates it and @run frees it. */
struct mpu_job {
	struct mpu_job *next;
	void (*run)(struct mpu_job *j);
};

struct mpu_pool;

/* Start @n threads. NULL on failure; else owned by the caller (mpu_pool_free()). */
struct mpu_pool *mpu_pool_new(unsigned n);
/* Run every queued job, then stop and join the threads. NULL-safe. */
void mpu_pool_free(struct mpu_pool *p);
/* Queue @j (ownership passes to the pool). Never blocks on I/O; takes the pool's lock. */
void mpu_pool_submit(struct mpu_pool *p, struct mpu_job *j);

/* ---- context ------------------------------------------------------------ */

/* Settings of a context; the pointers are borrowed and must outlive it. */
struct mpu_cfg {
	struct store *st;
	struct mpu_pool *pool; /* parts run on it */
	size_t part_size;      /* bytes per part, at least 1 */
	unsigned parallel;     /* parts in flight per upload, at least 1 */
	/*
	 * Give back @bytes of the memory budget that mpu_file_ops.reserve
	 * took, once that buffer is unmapped. Any lock may be held.
	 */
	void (*release)(void *arg, size_t bytes);
	void *arg;
};

struct mpu_ctx;

/* A context for the uploads of one mount (@cfg is copied). NULL when out of memory. */
struct mpu_ctx *mpu_ctx_new(const struct mpu_cfg *cfg);
/* Unmap the idle upload buffers (cfg->release each) and free. No upload may run. NULL-safe. */
void mpu_ctx_free(struct mpu_ctx *c);
/* Once no upload holds a buffer, unmap the idle ones. Takes the context lock. */
void mpu_ctx_trim(struct mpu_ctx *c);

/* ---- the upload of one file --------------------------------------------- */

/* The state of the file an upload reads; filled under the file lock, borrowed until it drops. */
struct mpu_view {
	const char *key;	       /* where a streamed upload goes */
	const struct store_meta *meta; /* the metadata a streamed upload begins with */
	uint64_t meta_gen;	       /* bumped by every change of meta but the write times */
	uint64_t times_gen;	       /* bumped by every change of the write times only */
	/*
	 * Names of the entries of @meta that writes move, NULL-terminated, or
	 * NULL (fh_cfg.write_times): a streamed upload begins without them.
	 */
	const char *const *write_times;
	/* the stored version: its encryption (the floor of what is written), ETag ("" unknown) */
	struct store_enc enc;
	const char *etag;
	uint64_t size;	 /* the file's size */
	bool can_stream; /* dirty, and no flush, hold or sticky error keeps parts back */
};

/*
 * What an upload needs of its file. @file is the argument given to
 * mpu_file_new(); every callback runs with the file lock held.
 */
struct mpu_file_ops {
	void (*view)(void *file, struct mpu_view *out);
	/* Are all of [a, b) staged (written or fetched)? */
	bool (*is_staged)(void *file, uint64_t a, uint64_t b);
	/* Was any of [a, b) written since the stored version? */
	bool (*is_written)(void *file, uint64_t a, uint64_t b);
	/* Are [a, b) unchanged bytes of the stored object (a part may copy them)? */
	bool (*is_stored)(void *file, uint64_t a, uint64_t b);
	/*
	 * Stage what is missing of [a, b) below the stored size, read from
	 * the object @key (borrowed). May drop the file lock. 0 or -errno.
	 */
	int (*fetch)(void *file, const char *key, uint64_t a, uint64_t b);
	/* Copy staged bytes [off, off + len) into @buf (holes read as zeros). 0 or -errno. */
	int (*read)(void *file, void *buf, size_t len, uint64_t off);
	/*
	 * Reserve @bytes of the memory budget for an upload buffer of this
	 * file (never refused; cfg->release gives it back).
	 */
	void (*reserve)(void *file, size_t bytes);
	/* A streamed upload began: the staged copy serves only reads and rewrites now. */
	void (*streaming)(void *file);
	/*
	 * The upload buffer @data holds the bytes [off, off + len) that @read
	 * gave, and its part is about to be sent: the file may move its own
	 * copy of them out of memory. Called by the part's job WITHOUT the
	 * file lock; may be NULL.
	 */
	void (*parted)(void *file, const void *data, size_t len, uint64_t off);
};

struct mpu_file;

/*
 * The upload side of a file: @ops and @file are borrowed, @lock and
 * @cond are the file's lock and condition variable (parts broadcast on
 * @cond when they end); all must outlive it. NULL when out of memory.
 */
struct mpu_file *mpu_file_new(struct mpu_ctx *c, const struct mpu_file_ops *ops, void *file,
			      pthread_mutex_t *lock, pthread_cond_t *cond);
/* Free; call mpu_drop_locked() first if an upload may be in progress. NULL-safe. */
void mpu_file_free(struct mpu_file *u);

/*
 * After a write that ended at the end of the file: begin a multipart
 * upload and submit the parts that are complete, while the view allows.
 * A writer may wait here while `parallel` parts are in flight
 * (back-pressure). Failures are kept for the next mpu_store_locked().
 * File lock held.
 */
void mpu_stream_locked(struct mpu_file *u);
/*
 * Bytes from @off on changed: a streamed upload that covered them is
 * dropped at the next store. Not while mpu_store_locked() runs (the store
 * owns its upload then). File lock held.
 */
void mpu_changed_locked(struct mpu_file *u, uint64_t off);
/* Wait for the parts in flight, abort and free the upload, if any. File lock held; drops it. */
void mpu_drop_locked(struct mpu_file *u);

/* What to store: a snapshot of the file, taken under the file lock. All borrowed. */
struct mpu_snap {
	const char *key;
	/* on success, loses the write times when the object's times are its Last-Modified */
	struct store_meta *meta;
	uint64_t meta_gen, times_gen; /* of @meta (mpu_view) */
	uint64_t size;
};

/*
 * Store bytes [0, sn->size) of the file under sn->key: one PUT below the
 * part size, else a multipart upload, continuing a streamed one that still
 * fits the snapshot (one whose metadata is older ends with a metadata
 * copy). @etag (STORE_ETAG_MAX bytes) gets the stored object's ETag, ""
 * where it cannot be known. 0 or -errno; no upload is left either way (a
 * failed one is aborted, so no half object becomes visible; a failed
 * metadata copy is reported though the data is stored). File lock held;
 * drops it around the requests.
 */
int mpu_store_locked(struct mpu_file *u, const struct mpu_snap *sn, char *etag) MUST_CHECK;

#endif
