/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Internals of fh.c: the per-key open-file state, the staging store and
 * the interval sets. Nothing but fh.c (and its white-box unit test)
 * includes this header; the upload layer below sees a file only through
 * upload.h.
 *
 * Locking. Lock order: f->lock (struct fh_file), then ctx->lock, then the
 * lock of the upload context or of the pool; a store callback (on_stored)
 * may take the cache lock under f->lock. ctx->lock guards the file table
 * and the reference counts and is never held across any I/O; the memory
 * budget (ctx->mem) has a lock of its own, innermost of all (stage.h). f->lock guards everything else in struct fh_file and the file's
 * upload (f->up, upload.h); it may be held across local disk I/O
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
#include "stage.h"
#include "store.h"
#include "upload.h"
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

/* ---- open files ------------------------------------------------------- */

struct fh_ctx {
	const struct fh_cfg *cfg;
	struct store *st;
	struct mpu_pool *pool; /* read-ahead fetches and upload parts */
	struct mpu_ctx *up;    /* the uploads of every file */
	size_t part_size;      /* cfg->part_size, at least 1 */
	unsigned parallel;     /* cfg->parallel, at least 1 */
	pthread_mutex_t lock;
	struct fh_file *files; /* ctx->lock: every file reachable by key */
	/* ctx->lock: the same files by key, chained on hnext */
	struct fh_file **buckets;
	size_t n_buckets, n_files;
	/* memory staging and upload buffers (idle ones too), all files */
	struct stage_mem mem;
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
	/* a GET may still write data: every LOADING slot, and READY ones whose GET goes on */
	bool busy;
	char *data; /* cap bytes, allocated on first use */
	size_t cap;
};

/*
 * The shared state of one open key. The bytes of the file at offset x are:
 * the staging copy if x is in @present, else zero if x >= base_size, else
 * byte x of the stored object (fetched lazily). Invariants: base_size <=
 * size; staging holds zeros outside @present.
 */
struct fh_file {
	struct fh_ctx *ctx;
	struct fh_file *next, *prev; /* ctx->lock: ctx->files */
	struct fh_file *hnext;	     /* ctx->lock: the bucket chain */
	unsigned refs;		     /* ctx->lock */
	bool in_table;		     /* ctx->lock */

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
	bool held;	       /* by a rename (fh_hold()): no flush or streaming until it ends */
	struct stage stg;      /* f->lock */
	struct fh_ivl present; /* staged bytes (written or fetched) */
	struct fh_ivl written; /* bytes changed since the last stored version */
	struct mpu_file *up;   /* the file's upload (upload.h) */

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

#endif
