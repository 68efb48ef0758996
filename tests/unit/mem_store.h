/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An in-memory implementation of struct store_ops for unit tests: objects,
 * multipart uploads, copy and paged listing, plus per-op call counters,
 * concurrency peaks, artificial latency and fault injection. Test-only:
 * it is linked into unit tests, never into libcore.
 */
#ifndef obsmount_MEM_STORE_H
#define obsmount_MEM_STORE_H

#include <stddef.h>

#include "store.h"
#include "util/compiler.h"

enum mem_op {
	MEM_OP_HEAD = 0,
	MEM_OP_GET_RANGE,
	MEM_OP_PUT,
	MEM_OP_MPU_BEGIN,
	MEM_OP_MPU_PART,
	MEM_OP_MPU_PART_COPY,
	MEM_OP_MPU_COMPLETE,
	MEM_OP_MPU_ABORT,
	MEM_OP_COPY,
	MEM_OP_DEL,
	MEM_OP_LIST,
	MEM_OP_COUNT,
};

/* A new empty store; the caller owns it (mem_store_free()). NULL on -ENOMEM. */
struct store *mem_store_new(void);
/* Free the store, its objects and its open uploads. NULL-safe. */
void mem_store_free(struct store *s);

/* Create or replace an object directly (not counted, never faulted). */
int mem_store_seed(struct store *s, const char *key, const void *data, size_t len) MUST_CHECK;
/* Likewise, encrypted as @enc (NULL: not at all). */
int mem_store_seed_enc(struct store *s, const char *key, const void *data, size_t len,
		       const struct store_enc *enc) MUST_CHECK;
/* Likewise, unencrypted, with its CRC-32C stored (as obsmount's writes are). */
int mem_store_seed_crc(struct store *s, const char *key, const void *data, size_t len) MUST_CHECK;
/*
 * Damage a stored body behind its checksum's back (as a bad disk or a
 * proxy would): flip the low bit of byte @off; ETag, size and checksum
 * stay. 0, -ENOENT or -EINVAL.
 */
int mem_store_corrupt(struct store *s, const char *key, size_t off) MUST_CHECK;
/*
 * Encrypt every write from now on with SSE-C under the key whose MD5 is
 * @key_md5 (as the mount's current key), or with nothing (NULL). Reads and
 * copy sources of an SSE-C object fail with -EACCES unless they present
 * its key; those of a plain object fail if they present a key.
 */
void mem_store_set_sse_c(struct store *s, const char *key_md5);
/*
 * Copy an object's body into a new allocation (*data, caller frees; never
 * NULL on success, even for an empty object). 0, -ENOENT or -ENOMEM.
 */
int mem_store_fetch(struct store *s, const char *key, void **data, size_t *len) MUST_CHECK;
/* Number of objects, and of multipart uploads begun but neither completed nor aborted. */
size_t mem_store_n_objects(struct store *s);
size_t mem_store_n_uploads(struct store *s);

/* Calls of @op since the last reset (failed calls included). */
unsigned long mem_store_calls(struct store *s, enum mem_op op);
/* Highest number of concurrent calls of @op seen since the last reset. */
unsigned mem_store_peak(struct store *s, enum mem_op op);
/* Zero the counters and peaks (faults stay armed). */
void mem_store_reset_counters(struct store *s);

/*
 * Make calls of @op fail with @err (negative errno): the @nth call from now
 * (1 = the next one) and the following @count - 1 calls; @count 0 means
 * every call from the @nth on. One fault per op; re-arming replaces it.
 */
void mem_store_fail(struct store *s, enum mem_op op, unsigned long nth, unsigned long count,
		    int err);
/*
 * Like mem_store_fail(), but the call is performed and only its reply is
 * lost: it reports @err after doing its work (MEM_OP_MPU_COMPLETE). A
 * MEM_OP_GET_RANGE so failed is a reply cut short: of several pieces, the
 * first is filled and told of, the others filled with garbage; of one,
 * that one is garbage.
 */
void mem_store_fail_late(struct store *s, enum mem_op op, unsigned long nth, unsigned long count,
			 int err);
/* Disarm every fault. */
void mem_store_clear_faults(struct store *s);
/*
 * Armed (@on), the first GET of several pieces, with an ETag to match,
 * stops after it has told of its first piece, until disarmed.
 * mem_store_wait_held() waits up to @ms for it: true once it is held,
 * with where it starts and its first piece's length.
 */
void mem_store_hold_pieces(struct store *s, bool on);
bool mem_store_wait_held(struct store *s, unsigned ms, uint64_t *off, uint64_t *len);
/* Sleep @usec in each call of @op (outside the store's lock). */
void mem_store_set_delay(struct store *s, enum mem_op op, unsigned usec);

#endif
