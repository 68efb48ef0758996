/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cache: TTLs, negative entries, invalidation races, LRU bounds, listings. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "cache.h"

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
	return fake_now;
}

static struct cache *new_cache(size_t max_stat, size_t max_dirs, size_t max_dirents)
{
	struct cache_cfg cfg = { .stat_ttl_ms = 1000,
				 .neg_ttl_ms = 200,
				 .dir_ttl_ms = 500,
				 .max_stat = max_stat,
				 .max_dirs = max_dirs,
				 .max_dirents = max_dirents,
				 .clock_ms = fake_clock };
	struct cache *c = NULL;
	fake_now = 1000000;
	assert_int_equal(cache_new(&cfg, &c), 0);
	return c;
}

/* Cache a listing of @n entries (copied) as @path's. */
static void put_list(struct cache *c, const char *path, uint64_t token,
		     const struct cache_dirent *e, size_t n)
{
	struct cache_dir *d = cache_dir_new();

	assert_non_null(d);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(cache_dir_add(d, &e[i], true), 0);
	cache_dir_put(c, path, token, d);
	cache_dir_unref(d);
}

/* Is a listing of @path cached? With @n: its entry count. */
static bool has_list(struct cache *c, const char *path, size_t *n)
{
	struct cache_dir *d = cache_dir_get(c, path);

	if (d && n)
		*n = cache_dir_count(d);
	cache_dir_unref(d);
	return d != NULL;
}

/* Entry @i of @path's cached listing (which must be there). */
static struct cache_dirent ent(struct cache *c, const char *path, size_t i, char *name, size_t size)
{
	struct cache_dir *d = cache_dir_get(c, path);
	struct cache_dirent e;

	assert_non_null(d);
	assert_true(i < cache_dir_count(d));
	cache_dir_at(d, i, &e);
	snprintf(name, size, "%s", e.name);
	e.name = name;
	cache_dir_unref(d);
	return e;
}

static struct cache_attr attr(off_t size, const char *etag, bool meta_known)
{
	struct cache_attr a;
	memset(&a, 0, sizeof(a));
	a.st.st_mode = S_IFREG | 0644;
	a.st.st_size = size;
	snprintf(a.etag, sizeof(a.etag), "%s", etag);
	a.meta_known = meta_known;
	return a;
}

static void test_hit_and_ttl(void **state)
{
	(void)state;
	struct cache *c = new_cache(0, 0, 0);
	struct cache_attr a = attr(42, "\"e1\"", true), got;

	assert_int_equal(cache_get(c, "/f", &got, NULL), CACHE_MISS);
	cache_put(c, "/f", cache_token(c), &a, NULL);
	assert_int_equal(cache_get(c, "/f", &got, NULL), CACHE_HIT);
	assert_int_equal(got.st.st_size, 42);
	assert_string_equal(got.etag, "\"e1\"");
	assert_true(got.meta_known);
	assert_false(got.has_info);
	fake_now += 999;
	assert_int_equal(cache_get(c, "/f", &got, NULL), CACHE_HIT);
	fake_now += 1;
	assert_int_equal(cache_get(c, "/f", &got, NULL), CACHE_MISS);

	cache_put_negative(c, "/g", cache_token(c));
	assert_int_equal(cache_get(c, "/g", &got, NULL), CACHE_NEGATIVE);
	fake_now += 200;
	assert_int_equal(cache_get(c, "/g", &got, NULL), CACHE_MISS);

	struct cache_stats s;
	cache_get_stats(c, &s);
	assert_int_equal(s.hits, 2);
	assert_int_equal(s.negative_hits, 1);
	assert_int_equal(s.misses, 3);
	cache_free(c);
}

static void test_disabled(void **state)
{
	(void)state;
	struct cache_cfg cfg = { 0 };
	struct cache *c = NULL;
	struct cache_attr a = attr(1, "\"x\"", true), got;
	assert_int_equal(cache_new(&cfg, &c), 0);
	cache_put(c, "/f", cache_token(c), &a, NULL);
	cache_put_negative(c, "/g", cache_token(c));
	struct cache_dirent e = { .name = (char *)"f" };
	put_list(c, "/", cache_token(c), &e, 1);
	assert_int_equal(cache_get(c, "/f", &got, NULL), CACHE_MISS);
	assert_int_equal(cache_get(c, "/g", &got, NULL), CACHE_MISS);
	assert_false(has_list(c, "/", NULL));
	cache_free(c);
}

static void test_info_copy(void **state)
{
	(void)state;
	struct cache *c = new_cache(0, 0, 0);
	struct cache_attr a = attr(3, "\"e\"", true), got;
	struct store_info info = { .size = 3 };
	struct store_info out;

	assert_int_equal(store_meta_set(&info.meta, "mode", "33188"), 0);
	snprintf(info.etag, sizeof(info.etag), "\"e\"");
	cache_put(c, "/f", cache_token(c), &a, &info);
	store_info_release(&info);
	memset(&out, 0, sizeof(out));
	assert_int_equal(cache_get(c, "/f", &got, &out), CACHE_HIT);
	assert_true(got.has_info);
	assert_string_equal(store_meta_get(&out.meta, "mode"), "33188");
	assert_string_equal(out.etag, "\"e\"");
	store_info_release(&out);
	cache_free(c);
}

static void test_stale_reply_dropped(void **state)
{
	(void)state;
	struct cache *c = new_cache(0, 0, 0);
	struct cache_attr old = attr(1, "\"old\"", true), got;

	/* A HEAD starts, we change the file meanwhile, the HEAD answers late. */
	uint64_t t = cache_token(c);
	cache_invalidate(c, "/dir/f");
	cache_put(c, "/dir/f", t, &old, NULL);
	assert_int_equal(cache_get(c, "/dir/f", &got, NULL), CACHE_MISS);
	cache_put_negative(c, "/dir/f", t);
	assert_int_equal(cache_get(c, "/dir/f", &got, NULL), CACHE_MISS);
	/* The parent's listing was taken before the change as well. */
	struct cache_dirent e = { .name = (char *)"f" };
	put_list(c, "/dir", t, &e, 1);
	assert_false(has_list(c, "/dir", NULL));
	/* Other paths are unaffected... */
	cache_put(c, "/other", t, &old, NULL);
	assert_int_equal(cache_get(c, "/other", &got, NULL), CACHE_HIT);
	/* ...and a token taken after the change works. */
	cache_put(c, "/dir/f", cache_token(c), &old, NULL);
	assert_int_equal(cache_get(c, "/dir/f", &got, NULL), CACHE_HIT);

	/* A tree invalidation makes every older reply stale. */
	t = cache_token(c);
	cache_invalidate_tree(c, "/x");
	cache_put(c, "/unrelated", t, &old, NULL);
	assert_int_equal(cache_get(c, "/unrelated", &got, NULL), CACHE_MISS);
	struct cache_stats s;
	cache_get_stats(c, &s);
	assert_int_equal(s.dropped, 4);
	cache_free(c);
}

static void test_invalidate_parent_listing(void **state)
{
	(void)state;
	struct cache *c = new_cache(0, 0, 0);
	struct cache_attr a = attr(1, "\"e\"", true), got;
	struct cache_dirent e[2] = { { .name = (char *)"f" }, { .name = (char *)"sub" } };
	char nm[16];
	size_t n;

	put_list(c, "/", cache_token(c), e, 2);
	put_list(c, "/d", cache_token(c), e, 2);
	put_list(c, "/d/sub", cache_token(c), e, 1);
	cache_put(c, "/d/f", cache_token(c), &a, NULL);
	cache_put(c, "/d/sub/f", cache_token(c), &a, NULL);
	cache_put(c, "/dd", cache_token(c), &a, NULL);

	assert_true(has_list(c, "/d", &n));
	assert_int_equal(n, 2);
	assert_string_equal(ent(c, "/d", 1, nm, sizeof(nm)).name, "sub");

	/* Changing /d/f keeps the listing of /d but forgets f's attributes there. */
	e[0].has_stat = true;
	put_list(c, "/d", cache_token(c), e, 2);
	cache_invalidate(c, "/d/f");
	assert_true(has_list(c, "/d", &n));
	assert_int_equal(n, 2);
	assert_string_equal(ent(c, "/d", 0, nm, sizeof(nm)).name, "f");
	assert_false(ent(c, "/d", 0, nm, sizeof(nm)).has_stat);
	assert_int_equal(cache_get(c, "/d/f", &got, NULL), CACHE_MISS);
	assert_true(has_list(c, "/", &n));
	assert_true(has_list(c, "/d/sub", &n));
	/* A listing of /d fetched before that change is refused. */
	uint64_t t = cache_token(c);
	cache_invalidate(c, "/d/f");
	put_list(c, "/d", t, e, 1);
	assert_true(has_list(c, "/d", &n));
	assert_int_equal(n, 2);

	put_list(c, "/", cache_token(c), e, 2);
	cache_invalidate_tree(c, "/d");
	assert_false(has_list(c, "/d/sub", NULL));
	assert_false(has_list(c, "/d", NULL));
	assert_true(has_list(c, "/", &n));
	assert_int_equal(cache_get(c, "/d/sub/f", &got, NULL), CACHE_MISS);
	/* "/dd" is not under "/d". */
	assert_int_equal(cache_get(c, "/dd", &got, NULL), CACHE_HIT);
	cache_free(c);
}

static void test_listing_notes(void **state)
{
	(void)state;
	struct cache *c = new_cache(0, 0, 4);
	struct cache_dirent e[2] = { { .name = (char *)"m" }, { .name = (char *)"b" } };
	char nm[16];
	size_t n;
	mode_t type = 0;

	e[0].st.st_mode = S_IFREG | 0644;
	e[1].st.st_mode = S_IFDIR | 0755;
	assert_int_equal(cache_dir_find(c, "/d", "m", &type), CACHE_MISS);
	cache_dir_note(c, "/d/x", S_IFREG); /* no listing: nothing to keep */
	assert_int_equal(cache_dir_find(c, "/d", "x", &type), CACHE_MISS);

	/* Entries come back sorted; lookups by name. */
	put_list(c, "/d", cache_token(c), e, 2);
	assert_int_equal(cache_dir_find(c, "/d", "m", &type), CACHE_HIT);
	assert_int_equal(type, S_IFREG);
	assert_int_equal(cache_dir_find(c, "/d", "b", &type), CACHE_HIT);
	assert_int_equal(type, S_IFDIR);
	assert_int_equal(cache_dir_find(c, "/d", "zz", &type), CACHE_NEGATIVE);
	assert_int_equal(cache_dir_find(c, "/d", "a", NULL), CACHE_NEGATIVE);

	/* Our creations and removals keep it exact. */
	cache_dir_note(c, "/d/c", S_IFLNK | 0777);
	assert_int_equal(cache_dir_find(c, "/d", "c", &type), CACHE_HIT);
	assert_int_equal(type, S_IFLNK);
	cache_dir_note(c, "/d/m", 0);
	assert_int_equal(cache_dir_find(c, "/d", "m", &type), CACHE_NEGATIVE);
	cache_dir_note(c, "/d/b", S_IFREG); /* replaced by a file */
	assert_int_equal(cache_dir_find(c, "/d", "b", &type), CACHE_HIT);
	assert_int_equal(type, S_IFREG);
	assert_true(has_list(c, "/d", &n));
	assert_int_equal(n, 2);
	assert_string_equal(ent(c, "/d", 0, nm, sizeof(nm)).name, "b");
	assert_string_equal(ent(c, "/d", 1, nm, sizeof(nm)).name, "c");
	assert_false(ent(c, "/d", 0, nm, sizeof(nm)).has_stat);

	/* An empty listing (a new directory) answers every name. */
	cache_dir_put(c, "/new", cache_token(c), NULL);
	assert_int_equal(cache_dir_find(c, "/new", "anything", NULL), CACHE_NEGATIVE);
	cache_dir_note(c, "/new/f", S_IFREG);
	assert_int_equal(cache_dir_find(c, "/new", "f", NULL), CACHE_HIT);
	/* Top level: the parent is "/". */
	cache_dir_put(c, "/", cache_token(c), NULL);
	cache_dir_note(c, "/top", S_IFDIR);
	assert_int_equal(cache_dir_find(c, "/", "top", &type), CACHE_HIT);
	assert_int_equal(type, S_IFDIR);

	/* Over the entry budget the listing is dropped, never left inexact. */
	cache_dir_note(c, "/new/g", S_IFREG);
	struct cache_stats st;
	cache_get_stats(c, &st);
	assert_true(st.n_dirents <= 4);
	assert_int_equal(cache_dir_find(c, "/new", "f", NULL), CACHE_MISS);
	assert_int_equal(cache_dir_find(c, "/new", "g", NULL) == CACHE_NEGATIVE, 0);

	/* Listings expire, and so do their answers. */
	fake_now += 500;
	assert_int_equal(cache_dir_find(c, "/d", "zz", NULL), CACHE_MISS);
	cache_free(c);
}

static void test_lru_bounds(void **state)
{
	(void)state;
	struct cache *c = new_cache(4, 2, 5);
	struct cache_attr a = attr(1, "\"e\"", true), got;
	char p[16];

	for (int i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "/f%d", i);
		cache_put(c, p, cache_token(c), &a, NULL);
	}
	/* Touch /f0 so /f1 is the least recently used. */
	assert_int_equal(cache_get(c, "/f0", &got, NULL), CACHE_HIT);
	cache_put(c, "/f4", cache_token(c), &a, NULL);
	assert_int_equal(cache_get(c, "/f1", &got, NULL), CACHE_MISS);
	assert_int_equal(cache_get(c, "/f0", &got, NULL), CACHE_HIT);
	assert_int_equal(cache_get(c, "/f4", &got, NULL), CACHE_HIT);
	struct cache_stats s;
	cache_get_stats(c, &s);
	assert_int_equal(s.n_stat, 4);
	assert_int_equal(s.evictions, 1);

	struct cache_dirent e[3] = { { .name = (char *)"a" },
				     { .name = (char *)"b" },
				     { .name = (char *)"c" } };
	size_t n;
	put_list(c, "/d1", cache_token(c), e, 3);
	put_list(c, "/d2", cache_token(c), e, 2);
	/* 3 + 2 + 2 > 5 entries: /d1 goes. */
	put_list(c, "/d3", cache_token(c), e, 2);
	assert_false(has_list(c, "/d1", NULL));
	assert_true(has_list(c, "/d2", &n));
	assert_true(has_list(c, "/d3", &n));
	cache_get_stats(c, &s);
	assert_int_equal(s.n_dirs, 2);
	assert_int_equal(s.n_dirents, 4);
	/* A listing larger than the whole budget is not cached at all. */
	struct cache_dirent big[6] = { { .name = (char *)"1" }, { .name = (char *)"2" },
				       { .name = (char *)"3" }, { .name = (char *)"4" },
				       { .name = (char *)"5" }, { .name = (char *)"6" } };
	put_list(c, "/big", cache_token(c), big, 6);
	assert_false(has_list(c, "/big", NULL));
	/* Listings expire. */
	fake_now += 500;
	assert_false(has_list(c, "/d2", NULL));
	cache_free(c);
}

static void test_weak_and_page_etag(void **state)
{
	(void)state;
	struct cache *c = new_cache(0, 0, 0);
	struct cache_attr head = attr(10, "\"e1\"", true), list = attr(10, "\"e1\"", false), got;

	/* A listing does not replace what HEAD said about the same version... */
	cache_put(c, "/f", cache_token(c), &head, NULL);
	list.st.st_mode = S_IFREG | 0600;
	cache_put_weak(c, "/f", cache_token(c), &list);
	assert_int_equal(cache_get(c, "/f", &got, NULL), CACHE_HIT);
	assert_true(got.meta_known);
	/* ...but a new version does, and a negative entry too. */
	list = attr(11, "\"e2\"", false);
	cache_put_weak(c, "/f", cache_token(c), &list);
	assert_int_equal(cache_get(c, "/f", &got, NULL), CACHE_HIT);
	assert_false(got.meta_known);
	assert_int_equal(got.st.st_size, 11);
	cache_put_negative(c, "/n", cache_token(c));
	cache_put_weak(c, "/n", cache_token(c), &list);
	assert_int_equal(cache_get(c, "/n", &got, NULL), CACHE_HIT);

	/* The page ETag survives refreshes of the same version only. */
	cache_put(c, "/f", cache_token(c), &head, NULL);
	cache_set_page_etag(c, "/f", "\"e1\"");
	assert_int_equal(cache_get(c, "/f", &got, NULL), CACHE_HIT);
	assert_string_equal(got.page_etag, "\"e1\"");
	cache_put(c, "/f", cache_token(c), &head, NULL);
	assert_int_equal(cache_get(c, "/f", &got, NULL), CACHE_HIT);
	assert_string_equal(got.page_etag, "\"e1\"");
	struct cache_attr changed = attr(12, "\"e3\"", true);
	cache_put(c, "/f", cache_token(c), &changed, NULL);
	assert_int_equal(cache_get(c, "/f", &got, NULL), CACHE_HIT);
	assert_string_equal(got.page_etag, "");
	cache_free(c);
}

static void test_weak_after_own_change(void **state)
{
	(void)state;
	struct cache *c = new_cache(0, 0, 0);
	struct cache_attr own = attr(10, "", true), list = attr(10, "\"e1\"", false), got;

	/* Our own upload or copy, ETag unknown: a listing of the same size keeps it. */
	own.st.st_mode = S_IFLNK | 0777;
	cache_put(c, "/f", cache_token(c), &own, NULL);
	cache_put_weak(c, "/f", cache_token(c), &list);
	assert_int_equal(cache_get(c, "/f", &got, NULL), CACHE_HIT);
	assert_true(got.meta_known);
	assert_int_equal(got.st.st_mode, S_IFLNK | 0777);
	/* Another size is another version. */
	list = attr(11, "\"e2\"", false);
	cache_put_weak(c, "/f", cache_token(c), &list);
	assert_int_equal(cache_get(c, "/f", &got, NULL), CACHE_HIT);
	assert_false(got.meta_known);
	assert_int_equal(got.st.st_size, 11);
	cache_free(c);
}

static void test_listed_entries(void **state)
{
	(void)state;
	struct cache *c = new_cache(0, 0, 0);
	struct cache_dirent e[2] = { { .name = (char *)"a" }, { .name = (char *)"b" } };
	char nm[16];
	size_t n;

	e[0].st.st_mode = e[1].st.st_mode = S_IFREG | 0644;
	e[0].st.st_size = 7;
	e[0].listed = e[1].listed = true;
	put_list(c, "/d", cache_token(c), e, 2);
	assert_true(has_list(c, "/d", &n));
	assert_true(ent(c, "/d", 0, nm, sizeof(nm)).listed &&
		    ent(c, "/d", 1, nm, sizeof(nm)).listed);
	assert_int_equal(ent(c, "/d", 0, nm, sizeof(nm)).st.st_size, 7);
	/* Lookups by name get the listed attributes. */
	struct stat st;
	assert_true(cache_dir_listed(c, "/d", "a", &st));
	assert_int_equal(st.st_size, 7);
	assert_false(cache_dir_listed(c, "/d", "zz", &st));
	assert_false(cache_dir_listed(c, "/other", "a", &st));
	/* A change through the mount: the listed attributes are stale. */
	cache_invalidate(c, "/d/a");
	cache_dir_note(c, "/d/b", S_IFLNK);
	assert_true(has_list(c, "/d", &n));
	assert_false(ent(c, "/d", 0, nm, sizeof(nm)).listed);
	assert_false(ent(c, "/d", 1, nm, sizeof(nm)).listed);
	assert_false(ent(c, "/d", 0, nm, sizeof(nm)).has_stat);
	assert_false(cache_dir_listed(c, "/d", "a", &st));
	assert_false(cache_dir_listed(c, "/d", "b", &st));
	/* Not past dir_ttl. */
	put_list(c, "/d", cache_token(c), e, 2);
	assert_true(cache_dir_listed(c, "/d", "b", &st));
	fake_now += 500;
	assert_false(cache_dir_listed(c, "/d", "b", &st));
	cache_free(c);
}

/* A listing of a big directory is cached whole, within the memory budget. */
static void test_big_listing(void **state)
{
	(void)state;
	struct cache *c = new_cache(0, 0, 0);
	struct cache_dir *d = cache_dir_new(), *got;
	struct cache_dirent e;
	struct cache_stats s;
	char name[16];
	size_t n = 0;

	assert_non_null(d);
	for (int i = 0; i < 100000; i++) {
		memset(&e, 0, sizeof(e));
		snprintf(name, sizeof(name), "f%06d", i);
		e.name = name;
		e.st.st_mode = S_IFREG | 0644;
		e.st.st_size = i;
		e.st.st_nlink = 1;
		e.st.st_blksize = 4096;
		e.st.st_blocks = (i + 511) / 512;
		e.listed = true;
		assert_int_equal(cache_dir_add(d, &e, false), 0);
	}
	cache_dir_put(c, "/big", cache_token(c), d);
	cache_dir_unref(d);
	assert_true(has_list(c, "/big", &n));
	assert_int_equal(n, 100000);
	assert_string_equal(ent(c, "/big", 99999, name, sizeof(name)).name, "f099999");
	assert_int_equal(cache_dir_find(c, "/big", "f054321", NULL), CACHE_HIT);
	cache_get_stats(c, &s);
	assert_int_equal(s.n_dirents, 100000);
	/* Compact: well under 100 bytes an entry with its name. */
	assert_true(s.dir_bytes < 100000 * 64);
	/* The reader gets the cached listing itself, not a copy. */
	got = cache_dir_get(c, "/big");
	d = cache_dir_get(c, "/big");
	assert_ptr_equal(got, d);
	cache_dir_unref(got);
	cache_dir_unref(d);
	cache_free(c);
}

/* Listings are bounded by their memory; the oldest go first. */
static void test_dir_bytes_bound(void **state)
{
	(void)state;
	struct cache_cfg cfg = { .stat_ttl_ms = 1000,
				 .dir_ttl_ms = 500,
				 .max_dir_bytes = 64 * 1024,
				 .clock_ms = fake_clock };
	struct cache *c = NULL;
	struct cache_dir *d;
	struct cache_dirent e = { 0 };
	struct cache_stats s;
	char name[32];

	assert_int_equal(cache_new(&cfg, &c), 0);
	for (int k = 0; k < 8; k++) {
		d = cache_dir_new();
		assert_non_null(d);
		for (int i = 0; i < 300; i++) {
			snprintf(name, sizeof(name), "name-%d", i);
			e.name = name;
			assert_int_equal(cache_dir_add(d, &e, false), 0);
		}
		snprintf(name, sizeof(name), "/d%d", k);
		cache_dir_put(c, name, cache_token(c), d);
		cache_dir_unref(d);
		cache_get_stats(c, &s);
		assert_true(s.dir_bytes <= 64 * 1024);
	}
	assert_true(has_list(c, "/d7", NULL));
	assert_false(has_list(c, "/d0", NULL));
	/* Larger than the whole budget: not cached. */
	d = cache_dir_new();
	assert_non_null(d);
	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "name-%d", i);
		e.name = name;
		assert_int_equal(cache_dir_add(d, &e, false), 0);
	}
	cache_dir_put(c, "/huge", cache_token(c), d);
	cache_dir_unref(d);
	assert_false(has_list(c, "/huge", NULL));
	cache_free(c);
}

/* A reader's listing never changes under it; the cache changes a copy. */
static void test_dir_copy_on_write(void **state)
{
	(void)state;
	struct cache *c = new_cache(0, 0, 0);
	struct cache_dirent e[2] = { { .name = "a" }, { .name = "c" } }, x;
	struct cache_dir *held;
	char nm[16];
	size_t n = 0;

	e[0].st.st_mode = e[1].st.st_mode = S_IFREG;
	put_list(c, "/d", cache_token(c), e, 2);
	held = cache_dir_get(c, "/d");
	assert_non_null(held);
	cache_dir_note(c, "/d/b", S_IFREG);
	cache_dir_note(c, "/d/a", 0);
	assert_int_equal(cache_dir_count(held), 2);
	cache_dir_at(held, 0, &x);
	assert_string_equal(x.name, "a");
	cache_dir_at(held, 1, &x);
	assert_string_equal(x.name, "c");
	assert_true(has_list(c, "/d", &n));
	assert_int_equal(n, 2);
	assert_string_equal(ent(c, "/d", 0, nm, sizeof(nm)).name, "b");
	assert_string_equal(ent(c, "/d", 1, nm, sizeof(nm)).name, "c");
	cache_dir_unref(held);
	cache_free(c);
}

/* Attributes come back exactly as given, compact or not. */
static void test_dir_attrs_exact(void **state)
{
	(void)state;
	struct cache_dir *d = cache_dir_new();
	struct cache_dirent e[3], x;

	assert_non_null(d);
	memset(e, 0, sizeof(e));
	/* As a listing gives them. */
	e[0].name = "listed";
	e[0].listed = true;
	e[0].st.st_mode = S_IFREG | 0640;
	e[0].st.st_uid = 1000;
	e[0].st.st_gid = 100;
	e[0].st.st_size = 12345;
	e[0].st.st_mtim.tv_sec = 1700000000;
	e[0].st.st_ctim = e[0].st.st_atim = e[0].st.st_mtim;
	e[0].st.st_nlink = 1;
	e[0].st.st_blksize = 4096;
	e[0].st.st_blocks = 25;
	/* From a HEAD: three times with nanoseconds, a device. */
	e[1] = e[0];
	e[1].name = "head";
	e[1].listed = false;
	e[1].has_stat = true;
	e[1].st.st_mode = S_IFCHR | 0600;
	e[1].st.st_rdev = 0x0501;
	e[1].st.st_mtim.tv_nsec = 7;
	e[1].st.st_atim.tv_sec = 1600000000;
	/* A name we created: only its type is known. */
	e[2].name = "new";
	e[2].st.st_mode = S_IFDIR;
	for (int i = 0; i < 3; i++)
		assert_int_equal(cache_dir_add(d, &e[i], false), 0);
	assert_int_equal(cache_dir_count(d), 3);
	cache_dir_at(d, 0, &x); /* "head" */
	assert_string_equal(x.name, "head");
	assert_true(x.has_stat);
	assert_memory_equal(&x.st, &e[1].st, sizeof(x.st));
	cache_dir_at(d, 1, &x);
	assert_string_equal(x.name, "listed");
	assert_true(x.listed);
	assert_memory_equal(&x.st, &e[0].st, sizeof(x.st));
	cache_dir_at(d, 2, &x);
	assert_false(x.listed || x.has_stat);
	assert_int_equal(x.st.st_mode, S_IFDIR);
	/* Replacing keeps the order; keeping leaves the first. */
	e[0].st.st_size = 1;
	assert_int_equal(cache_dir_add(d, &e[0], false), 0);
	cache_dir_at(d, 1, &x);
	assert_int_equal(x.st.st_size, 12345);
	assert_int_equal(cache_dir_add(d, &e[0], true), 0);
	cache_dir_at(d, 1, &x);
	assert_int_equal(x.st.st_size, 1);
	assert_true(cache_dir_has(d, "new"));
	cache_dir_del(d, 2);
	assert_false(cache_dir_has(d, "new"));
	assert_int_equal(cache_dir_count(d), 2);
	cache_dir_unref(d);
}

struct thr {
	struct cache *c;
	int id;
};

static void *hammer(void *arg)
{
	struct thr *t = arg;
	char p[32];
	struct cache_attr a = attr(t->id, "\"e\"", true), got;

	for (int i = 0; i < 2000; i++) {
		snprintf(p, sizeof(p), "/d%d/f%d", i % 7, i % 50);
		switch ((i + t->id) % 5) {
		case 0:
			cache_put(t->c, p, cache_token(t->c), &a, NULL);
			break;
		case 1:
			(void)cache_get(t->c, p, &got, NULL);
			break;
		case 2:
			cache_invalidate(t->c, p);
			break;
		case 3: {
			struct cache_dirent e = { .name = (char *)"x" };
			put_list(t->c, "/d1", cache_token(t->c), &e, 1);
			break;
		}
		default: {
			size_t n;
			(void)has_list(t->c, "/d1", &n);
			cache_put_negative(t->c, p, cache_token(t->c));
		}
		}
	}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	struct cache *c = new_cache(64, 4, 16);
	pthread_t th[4];
	struct thr t[4];
	for (int i = 0; i < 4; i++) {
		t[i].c = c;
		t[i].id = i;
		assert_int_equal(pthread_create(&th[i], NULL, hammer, &t[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	struct cache_stats s;
	cache_get_stats(c, &s);
	assert_true(s.n_stat <= 64);
	assert_true(s.n_dirs <= 4);
	cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hit_and_ttl),
		cmocka_unit_test(test_disabled),
		cmocka_unit_test(test_info_copy),
		cmocka_unit_test(test_stale_reply_dropped),
		cmocka_unit_test(test_invalidate_parent_listing),
		cmocka_unit_test(test_listing_notes),
		cmocka_unit_test(test_lru_bounds),
		cmocka_unit_test(test_weak_and_page_etag),
		cmocka_unit_test(test_weak_after_own_change),
		cmocka_unit_test(test_listed_entries),
		cmocka_unit_test(test_big_listing),
		cmocka_unit_test(test_dir_bytes_bound),
		cmocka_unit_test(test_dir_copy_on_write),
		cmocka_unit_test(test_dir_attrs_exact),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
