/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The staged bytes of one open file: 64 KiB memory chunks out of a budget
 * shared by the mount, and behind them a sparse, unlinked temporary file.
 * A chunk in memory is the truth for its bytes; every other byte is the
 * temporary file's (zeros where it has none, or where there is none yet).
 *
 * A file streamed in parts keeps only its unsent tail in memory: once a
 * part's bytes have been copied into an upload buffer, that buffer is
 * written to the temporary file (O_DIRECT where the file system allows,
 * so neither a copy into the page cache nor a read back costs CPU) and
 * the chunks are freed, unless a write changed them meanwhile.
 *
 * Locking: every function but stage_evict_write() needs the owner's lock
 * (the file lock of fh.c); stage_evict_write() runs without it, between
 * stage_evict_begin() and stage_evict_end(). The budget has its own lock,
 * taken under the owner's and never held across anything but arithmetic.
 */
#ifndef obsmount_STAGE_H
#define obsmount_STAGE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/compiler.h"

/* Staging granule. */
#define STAGE_CHUNK ((size_t)64 * 1024)

/*
 * The memory budget of a mount: staging chunks and upload buffers
 * together. Up to 32 MiB of freed chunks are kept for reuse, outside the
 * budget (a streamed file frees and takes one every 64 KiB; fresh memory
 * would fault in and be zeroed each time), until a trim.
 */
struct stage_mem {
	pthread_mutex_t lock;
	size_t used;
	size_t limit;
	void **spare; /* idle chunks, owned */
	size_t n_spare, cap_spare;
};

void stage_mem_init(struct stage_mem *m, size_t limit);
/* Free the idle chunks. */
void stage_mem_destroy(struct stage_mem *m);
/* Free the idle chunks now (nothing is being written). */
void stage_mem_trim(struct stage_mem *m);
/* Take @bytes: always (@force), else only within the limit. True if taken. */
bool stage_mem_take(struct stage_mem *m, size_t bytes, bool force);
void stage_mem_give(struct stage_mem *m, size_t bytes);
/* Would @bytes more exceed the limit? */
bool stage_mem_over(struct stage_mem *m, size_t bytes);

struct stage {
	struct stage_mem *mem;	/* borrowed; outlives the stage */
	int fd;			/* the temporary file, -1 until needed */
	int dfd;		/* the same file opened O_DIRECT, or -1 */
	unsigned char **chunks; /* NULL: the byte is the file's (or zero) */
	unsigned char *fl;	/* per chunk: STAGE_F_* */
	size_t n_chunks;
	size_t mem_bytes; /* of chunks, accounted in mem->used */
	/*
	 * Bytes of chunk 0 while a small file keeps it smaller than a chunk
	 * (a 4 KiB file takes 4 KiB, not 64), else 0. Past them it reads as
	 * zeros.
	 */
	size_t cap0;
	uint64_t disk_hi;  /* the temporary file holds nothing from here on */
	uint64_t hi;	   /* end of the highest write (how far the table may grow) */
	bool disk_only;	   /* new bytes go to the file, not to memory chunks */
	bool evict;	   /* sent parts move to the file (stage_keep_on_disk()) */
	unsigned evicting; /* evictions between begin and end */
};

/*
 * An empty stage. With @cache_dir, bytes are staged in a file there from
 * the start and never in memory. 0 or -errno.
 */
int stage_init(struct stage *s, struct stage_mem *mem, const char *cache_dir) MUST_CHECK;
/* Free memory and close the file. No eviction may be in progress. */
void stage_release(struct stage *s);

/* Read [off, off + len) (zeros where nothing was staged). 0 or -errno. */
int stage_pread(struct stage *s, void *buf, size_t len, uint64_t off) MUST_CHECK;
/* Write [off, off + len). 0 or -errno (then some of it may be written). */
int stage_pwrite(struct stage *s, const void *buf, size_t len, uint64_t off) MUST_CHECK;
/* Make [off, off + len) read as zeros, allocating nothing. 0 or -errno. */
int stage_zero(struct stage *s, uint64_t off, size_t len);
/* Everything from @size on reads as zeros. 0 or -errno. */
int stage_truncate(struct stage *s, uint64_t size) MUST_CHECK;
/*
 * Over budget: move the memory chunks to the temporary file (in $TMPDIR,
 * else /var/tmp) and stage there from now on. 0 or -errno (then the
 * chunks stay in memory).
 */
int stage_spill(struct stage *s);
/*
 * The file is streamed in parts: open the temporary file so that sent
 * parts can move there (stage_evict_*). Logged on failure, which leaves
 * them in memory until a spill.
 */
void stage_keep_on_disk(struct stage *s);

/* One eviction: the chunks of a sent part that are to move to disk. */
struct stage_evict {
	size_t (*runs)[2]; /* [first, end) chunk indexes; owned */
	size_t n_runs;
	uint64_t off; /* of the upload buffer */
	int fd, dfd;
	int err;
};

/*
 * @data holds [off, off + len) as it was read for an upload. Mark the
 * memory chunks that lie wholly inside it and still hold exactly those
 * bytes. True if there is anything to write (then stage_evict_write()
 * and stage_evict_end() must follow).
 */
bool stage_evict_begin(struct stage *s, const void *data, size_t len, uint64_t off,
		       struct stage_evict *ev);
/* Write the marked chunks from @data to the file. Without the lock. */
void stage_evict_write(struct stage_evict *ev, const void *data);
/* Free the chunks that no write touched meanwhile; release @ev. */
void stage_evict_end(struct stage *s, struct stage_evict *ev);

#endif
