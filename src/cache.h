/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Metadata caches of a mount, keyed by filesystem path: attributes (with
 * the object's ETag, encryption and optionally its headers), absent names
 * (negative entries) and directory listings. Bounded (LRU), TTL-limited,
 * and invalidated by our own changes. Knows nothing of storage or FUSE.
 *
 * Locking: one mutex inside struct cache, taken by every call and never
 * held across anything but memory work. Lock order: fh->lock, then the
 * cache lock. Results are copies, never pointers into the cache.
 */
#ifndef obsmount_CACHE_H
#define obsmount_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "store.h"
#include "util/compiler.h"

struct cache_cfg {
	unsigned stat_ttl_ms; /* attributes; 0: not cached */
	unsigned neg_ttl_ms;  /* absent names; 0: not cached */
	unsigned dir_ttl_ms;  /* listings; 0: not cached */
	size_t max_stat;      /* attribute + negative entries (0: a default) */
	size_t max_dirs;      /* listings (0: a default) */
	size_t max_dirents;   /* entries of all listings together (0: no limit but bytes) */
	size_t max_dir_bytes; /* memory of all listings together (0: a default, 64 MiB) */
	/* Monotonic clock in milliseconds; NULL: CLOCK_MONOTONIC. For tests. */
	uint64_t (*clock_ms)(void);
};

struct cache;

/* New cache with @cfg (copied). 0 and *out (caller owns), or -ENOMEM/-errno. */
int cache_new(const struct cache_cfg *cfg, struct cache **out) MUST_CHECK;
/* Free it and everything in it. NULL-safe. */
void cache_free(struct cache *c);

/*
 * Take a token before asking storage about a path; hand it to the
 * cache_put*() call with the answer. An answer is dropped if the path (or
 * its tree) was invalidated after the token was taken, so a slow reply can
 * never overwrite the effect of a change we made meanwhile.
 */
uint64_t cache_token(struct cache *c);

/* What is known of a path. */
struct cache_attr {
	struct stat st;
	char etag[STORE_ETAG_MAX]; /* "" when unknown (not stored yet) */
	struct store_enc enc;
	/* st holds the POSIX metadata of a HEAD (or our own write), not
	 * listing defaults (size and LastModified only). */
	bool meta_known;
	/* A store_info with headers was cached (cache_get copies it out). */
	bool has_info;
	/* ETag the kernel's page cache was filled from; "" if none. */
	char page_etag[STORE_ETAG_MAX];
};

enum cache_hit {
	CACHE_MISS = 0,
	CACHE_HIT,	/* *out filled */
	CACHE_NEGATIVE, /* known absent */
};

/*
 * Look @path up. On CACHE_HIT fills @out and, when @info is not NULL and
 * the entry has headers (out->has_info), a deep copy into the empty @info
 * (caller releases; left empty otherwise or on -ENOMEM, then has_info is
 * false).
 */
enum cache_hit cache_get(struct cache *c, const char *path, struct cache_attr *out,
			 struct store_info *info);

/*
 * Remember @a for @path (unless invalidated since @token). @info (may be
 * NULL) is deep-copied for later cache_get() calls. page_etag in @a is
 * ignored: the entry keeps the page ETag it had when the object's ETag
 * did not change. Best effort: out of memory just caches nothing.
 */
void cache_put(struct cache *c, const char *path, uint64_t token, const struct cache_attr *a,
	       const struct store_info *info);

/*
 * Fill (or refresh) attributes only if there is no entry with known
 * metadata for the same object: the same ETag, or, where the cached ETag
 * is unknown (our own write, a copy), the same size. Used for
 * listing-derived attributes, which must not replace what a HEAD or our
 * own change said.
 */
void cache_put_weak(struct cache *c, const char *path, uint64_t token, const struct cache_attr *a);

/* Remember that @path does not exist (unless invalidated since @token). */
void cache_put_negative(struct cache *c, const char *path, uint64_t token);

/* Record the ETag whose data the kernel page cache holds for @path. */
void cache_set_page_etag(struct cache *c, const char *path, const char *etag);

/*
 * Forget @path: its attributes (or negative entry) and its own listing;
 * in its parent's listing the entry stays but its attributes are marked
 * unknown. A listing of the parent fetched before the call is no longer
 * accepted. Call after every change we make.
 */
void cache_invalidate(struct cache *c, const char *path);

/*
 * Forget @path's attributes (or negative entry) but keep its own listing:
 * a metadata change of a directory leaves its entries as they are.
 */
void cache_invalidate_attr(struct cache *c, const char *path);

/* Forget @path and everything below it (directory rename, rmdir). */
void cache_invalidate_tree(struct cache *c, const char *path);

/*
 * Keep the cached listing of @path's parent (if any) exact after we
 * created (@type: S_IFREG, S_IFDIR, S_IFLNK) or removed (@type 0) @path:
 * the name is added (attributes unknown) or dropped.
 */
void cache_dir_note(struct cache *c, const char *path, mode_t type);

/*
 * Is @name in the cached listing of directory @dir? CACHE_HIT (with its
 * type in *type if not NULL), CACHE_NEGATIVE (a listing is cached and the
 * name is not in it) or CACHE_MISS (no listing).
 */
enum cache_hit cache_dir_find(struct cache *c, const char *dir, const char *name, mode_t *type);

/*
 * The attributes the cached listing of @dir gives @name, if it holds
 * them as listed (not changed by us since): true and *st, else false.
 */
bool cache_dir_listed(struct cache *c, const char *dir, const char *name, struct stat *st);

/*
 * One entry of a listing, as handed to cache_dir_add() (copied) and back
 * by cache_dir_at() (name borrowed from the listing).
 */
struct cache_dirent {
	const char *name;
	struct stat st; /* valid when has_stat or listed; else only the type */
	bool has_stat;	/* attributes known with full metadata */
	bool listed;	/* st holds what the listing said (size, time, default mode) */
};

/*
 * A directory listing: entries sorted by name, stored compactly (about 40
 * bytes plus the name per entry; a full struct stat only where the
 * attributes are not what a listing gives). Reference counted: once it is
 * shared (cache_dir_put(), cache_dir_ref()) it never changes, so readers
 * need no lock; the cache copies it before changing a shared one.
 */
struct cache_dir;

/* A new empty listing with one reference (the caller's); NULL: -ENOMEM. */
struct cache_dir *cache_dir_new(void);

/*
 * Add @e (its name and attributes are copied) at its place by name. An
 * entry of that name is replaced when @replace, else kept (and @e
 * dropped). Only for a listing not shared yet. 0 or -ENOMEM.
 */
int cache_dir_add(struct cache_dir *d, const struct cache_dirent *e, bool replace) MUST_CHECK;

/* Remove entry @i (< cache_dir_count()). Only for a listing not shared yet. */
void cache_dir_del(struct cache_dir *d, size_t i);

size_t cache_dir_count(const struct cache_dir *d);

/* Is there an entry named @name in @d? */
bool cache_dir_has(const struct cache_dir *d, const char *name);

/*
 * Entry @i (< cache_dir_count()) into @out; out->name is borrowed from @d
 * and valid while the caller holds its reference.
 */
void cache_dir_at(const struct cache_dir *d, size_t i, struct cache_dirent *out);

/* Another reference to @d (returned). Any thread. */
struct cache_dir *cache_dir_ref(struct cache_dir *d);

/* Drop a reference; the last one frees it. NULL-safe. Any thread. */
void cache_dir_unref(struct cache_dir *d);

/*
 * Remember @d (borrowed: the cache takes its own reference; NULL: an empty
 * listing) as the listing of directory @path, unless invalidated since
 * @token or larger than the whole budget (max_dir_bytes).
 */
void cache_dir_put(struct cache *c, const char *path, uint64_t token, struct cache_dir *d);

/*
 * The cached listing of @path: a new reference (caller unrefs), or NULL
 * when none is cached. No copy is made, whatever its size.
 */
struct cache_dir *cache_dir_get(struct cache *c, const char *path);

struct cache_stats {
	unsigned long hits, misses, negative_hits, dir_hits, dir_misses, evictions, dropped;
	size_t n_stat, n_dirs, n_dirents, dir_bytes;
};

/* Counters since creation. */
void cache_get_stats(struct cache *c, struct cache_stats *out);

#endif
