/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Internals shared by fh.c and upload.c only: the per-key open-file state,
 * the staging store, the interval sets, the worker pool and the upload
 * hooks. Nothing outside the fh module includes this header.
 *
 * Locking. Lock order: f->lock (struct fh_file), then ctx->lock, then the
 * pool's lock; a store callback (on_stored) may take the cache lock under
 * f->lock. ctx->lock guards the file table, the reference counts and the
 * memory-staging budget and is never held across any I/O. f->lock guards
 * everything else in struct fh_file; it may be held across local disk I/O
 * (staging) and across a few short store calls for that file (mpu_begin),
 * but waiting for parts, read fetches, PUT and complete drop it. Jobs run
 * on the pool without any lock and take f->lock only to publish results.
 */
#ifndef obsmount_FH_I_H
#define obsmount_FH_I_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fh.h"
#include "store.h"
#include "util/compiler.h"

/* ---- interval sets (fh.c) ---------------------------------------------- */

struct fh_ivl_r {
	uint64_t a, b; /* [a, b), a < b */
};

/* Sorted, disjoint, non-adjacent ranges. Zero-initialised is empty. */
struct fh_ivl {
	struct fh_ivl_r *r;
	size_t n, cap;
};

/* Add [a, b) (merging). 0 or -ENOMEM (the set is unchanged). */
int fh_ivl_add(struct fh_ivl *iv, uint64_t a, uint64_t b) MUST_CHECK;
/* Remove [a, b) (splitting). 0 or -ENOMEM (the set is unchanged). */
int fh_ivl_remove(struct fh_ivl *iv, uint64_t a, uint64_t b) MUST_CHECK;
/* Is all of [a, b) in the set? True for an empty range. */
bool fh_ivl_covers(const struct fh_ivl *iv, uint64_t a, uint64_t b);
/* Does any of [a, b) lie in the set? */
bool fh_ivl_overlaps(const struct fh_ivl *iv, uint64_t a, uint64_t b);
/* First maximal gap [*ga, *gb) of the set inside [a, b); false if none. */
bool fh_ivl_next_gap(const struct fh_ivl *iv, uint64_t a, uint64_t b, uint64_t *ga, uint64_t *gb);
/*
 * Is @pos in the set? Either way *end is where that answer changes: the end
 * of the range holding @pos, or the start of the next range (UINT64_MAX).
 */
bool fh_ivl_run(const struct fh_ivl *iv, uint64_t pos, uint64_t *end);
void fh_ivl_clear(struct fh_ivl *iv);
void fh_ivl_release(struct fh_ivl *iv);

/* ---- worker pool (upload.c) ------------------------------------------- */

/* A unit of work; the submitter allocates it and @run frees it. */
struct fh_job {
	struct fh_job *next;
	void (*run)(struct fh_job *j);
};

struct mpu_pool;

/* Start @n threads. NULL on failure. */
struct mpu_pool *mpu_pool_new(unsigned n);
/* Run every queued job, then stop and join the threads. NULL-safe. */
void mpu_pool_free(struct mpu_pool *p);
/* Queue @j (ownership passes to the pool). Never blocks on I/O. */
void mpu_pool_submit(struct mpu_pool *p, struct fh_job *j);

/* ---- open files ------------------------------------------------------- */

struct fh_ctx {
	const struct fh_cfg *cfg;
	struct store *st;
	struct mpu_pool *pool;
	size_t part_size;  /* cfg->part_size, at least 1 */
	unsigned parallel; /* cfg->parallel, at least 1 */
	pthread_mutex_t lock;
	struct fh_file *files; /* ctx->lock: every file reachable by key */
	size_t mem_used;       /* ctx->lock: memory staging and upload buffers, all files */
	/* ctx->lock: idle part_size upload buffers kept for reuse (in mem_used) */
	void **spare;
	size_t n_spare;
	size_t bufs_busy; /* ctx->lock: upload buffers handed out */
	/*
	 * Atomic: when does the server stamp Last-Modified of a multipart
	 * object? 0 not known yet, 1 at Complete (RGW), -1 at Initiate (AWS).
	 */
	int lm_at_complete;
};

/* Staging: a sparse temporary file, or memory chunks (fd < 0). */
struct fh_stg {
	int fd;
	unsigned char **chunks; /* NULL entries are holes (zeros) */
	size_t n_chunks;
	size_t mem; /* bytes of chunks accounted in ctx->mem_used */
};

enum fh_slot_state { FH_SLOT_EMPTY = 0, FH_SLOT_LOADING, FH_SLOT_READY, FH_SLOT_ERROR };

/* One read-ahead block: [off, off + got) of the stored object. */
struct fh_slot {
	enum fh_slot_state state;
	uint64_t off;
	size_t len; /* requested */
	size_t got; /* received; < len only at the end of the object */
	int err;
	uint64_t gen;  /* f->ra_gen when the fetch began */
	uint64_t used; /* LRU clock */
	uint32_t crc;  /* CRC-32C of the got bytes, when READY and the file is checked */
	char *data;    /* cap bytes, allocated on first use */
	size_t cap;
};

struct mpu;

/*
 * The shared state of one open key. The bytes of the file at offset x are:
 * the staging copy if x is in @present, else zero if x >= base_size, else
 * byte x of the stored object (fetched lazily). Invariants: base_size <=
 * size; staging holds zeros outside @present.
 */
struct fh_file {
	struct fh_ctx *ctx;
	struct fh_file *next; /* ctx->lock */
	unsigned refs;	      /* ctx->lock */
	bool in_table;	      /* ctx->lock */

	pthread_mutex_t lock;
	pthread_cond_t cond; /* any change of flushing, parts, slots */
	char *key;	     /* written under f->lock and ctx->lock */
	struct store_meta meta;
	struct store_enc enc;
	/*
	 * The ETag of the stored version the file reads from and copies parts
	 * of: every such request is conditional on it, so that an object
	 * another client replaced is never read or stored as a mix of two
	 * versions (-ESTALE). Our own stores move it on; "" is unknown (no
	 * condition).
	 */
	char etag[STORE_ETAG_MAX];
	bool has_base; /* an object exists in the store to read from */
	bool detached; /* replaced by a rename: never uploaded again */
	uint64_t base_size;
	uint64_t size;
	bool dirty;
	uint64_t gen;	    /* bumped by every change of content, size or meta */
	uint64_t meta_gen;  /* bumped by every change of meta but the write times */
	uint64_t times_gen; /* bumped by fh_set_meta_times() */
	int err;	    /* sticky upload error, 0 once a flush succeeds */
	int write_err;	    /* a write could not be staged: never stored, for good */
	bool flushing;
	bool held; /* by a rename (fh_hold()): no flush or streaming until it ends */
	struct fh_stg stg;
	struct fh_ivl present; /* staged bytes (written or fetched) */
	struct fh_ivl written; /* bytes changed since the last stored version */
	struct mpu *mpu;       /* streamed or flushing multipart upload, or NULL */

	/* read-ahead */
	struct fh_slot *slots;
	size_t n_slots;
	size_t blk;
	size_t window;
	uint64_t ra_next; /* where a sequential reader reads next */
	uint64_t ra_gen;  /* bump to invalidate every slot */
	uint64_t clock;
	unsigned reads_inflight;

	/*
	 * End-to-end check: the bytes fetched from the stored object,
	 * contiguous from offset 0, are run through a CRC-32C (block by block
	 * as they arrive); once that reaches the end it must equal the
	 * checksum the server stored (HEAD at open). A mismatch makes the
	 * read that reaches the end -EIO. Anything that makes the fetched
	 * bytes not the whole stored version (a write, truncate, our own
	 * store, a block never fetched in order) just stops the check.
	 */
	bool crc_want;	     /* checking: the object has a checksum, not done or off */
	uint32_t crc_stored; /* what the server stored */
	uint64_t crc_gen;    /* ra_gen the check began at */
	uint64_t crc_pos;    /* bytes [0, crc_pos) are in crc */
	uint32_t crc;	     /* CRC-32C of those */
	bool crc_bad;	     /* the bytes did not match: reading the end is -EIO */
};

/* An open handle: the shared file plus what open() said. */
struct fh {
	struct fh_file *f;
	int flags;
};

/* Read/write staged bytes (holes read as zeros). f->lock held. 0 or -errno. */
int fh_stg_pread(struct fh_file *f, void *buf, size_t len, uint64_t off) MUST_CHECK;
int fh_stg_pwrite(struct fh_file *f, const void *buf, size_t len, uint64_t off) MUST_CHECK;

/*
 * Upload buffers (parts, single PUTs) come out of the same budget
 * (cfg->mem_limit) as memory staging, so that staging moves to disk before
 * the two together exceed it. Reserve @bytes for a buffer of @f's upload:
 * over budget, @f's own memory staging moves to disk first. Never refused:
 * an upload holds at most `parallel` buffers. f->lock held.
 */
void fh_mem_reserve_locked(struct fh_file *f, size_t bytes);
/* Give a reservation back. Takes ctx->lock; any other lock may be held. */
void fh_mem_release(struct fh_ctx *ctx, size_t bytes);
/*
 * Move @f's memory staging to disk (a file streamed in parts keeps its
 * staged copy only for reads and rewrites; memory is for the parts in
 * flight and for small files). Failures are logged and leave it in
 * memory. f->lock held.
 */
void fh_stg_to_disk_locked(struct fh_file *f);

/*
 * Fetch every byte of [a, b) that is below base_size and not present from
 * the stored object @key into staging. Drops f->lock around each request;
 * bytes written meanwhile win over fetched ones. f->lock held. 0 or -errno
 * (-EIO if the object turned out shorter than base_size).
 */
int fh_fetch_locked(struct fh_file *f, const char *key, uint64_t a, uint64_t b) MUST_CHECK;

/* ---- uploads (upload.c) ----------------------------------------------- */

/* Store the file if dirty (see fh_flush()). f->lock held; may drop it. */
int mpu_flush_locked(struct fh_file *f) MUST_CHECK;
/* After a write that ended at the end of the file: upload completed parts. */
void mpu_stream_locked(struct fh_file *f);
/* Bytes from @off on changed: a streamed upload that covered them is dropped. */
void mpu_changed_locked(struct fh_file *f, uint64_t off);
/* Wait for the parts in flight, abort and free the upload. f->lock held. */
void mpu_drop_locked(struct fh_file *f);
/* Unmap the idle upload buffers (no lock held; no upload may run). */
void mpu_bufs_free(struct fh_ctx *ctx);

#endif
