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
	cache_dir_put(c, "/", cache_token(c), &e, 1);
	assert_int_equal(cache_get(c, "/f", &got, NULL), CACHE_MISS);
	assert_int_equal(cache_get(c, "/g", &got, NULL), CACHE_MISS);
	struct cache_dirent *ents;
	size_t n;
	assert_false(cache_dir_get(c, "/", &ents, &n));
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
	cache_dir_put(c, "/dir", t, &e, 1);
	struct cache_dirent *ents;
	size_t n;
	assert_false(cache_dir_get(c, "/dir", &ents, &n));
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
	struct cache_dirent *ents;
	size_t n;

	cache_dir_put(c, "/", cache_token(c), e, 2);
	cache_dir_put(c, "/d", cache_token(c), e, 2);
	cache_dir_put(c, "/d/sub", cache_token(c), e, 1);
	cache_put(c, "/d/f", cache_token(c), &a, NULL);
	cache_put(c, "/d/sub/f", cache_token(c), &a, NULL);
	cache_put(c, "/dd", cache_token(c), &a, NULL);

	assert_true(cache_dir_get(c, "/d", &ents, &n));
	assert_int_equal(n, 2);
	assert_string_equal(ents[1].name, "sub");
	cache_dirents_free(ents, n);

	/* Changing /d/f keeps the listing of /d but forgets f's attributes there. */
	e[0].has_stat = true;
	cache_dir_put(c, "/d", cache_token(c), e, 2);
	cache_invalidate(c, "/d/f");
	assert_true(cache_dir_get(c, "/d", &ents, &n));
	assert_int_equal(n, 2);
	assert_string_equal(ents[0].name, "f");
	assert_false(ents[0].has_stat);
	cache_dirents_free(ents, n);
	assert_int_equal(cache_get(c, "/d/f", &got, NULL), CACHE_MISS);
	assert_true(cache_dir_get(c, "/", &ents, &n));
	cache_dirents_free(ents, n);
	assert_true(cache_dir_get(c, "/d/sub", &ents, &n));
	cache_dirents_free(ents, n);
	/* A listing of /d fetched before that change is refused. */
	uint64_t t = cache_token(c);
	cache_invalidate(c, "/d/f");
	cache_dir_put(c, "/d", t, e, 1);
	assert_true(cache_dir_get(c, "/d", &ents, &n));
	assert_int_equal(n, 2);
	cache_dirents_free(ents, n);

	cache_dir_put(c, "/", cache_token(c), e, 2);
	cache_invalidate_tree(c, "/d");
	assert_false(cache_dir_get(c, "/d/sub", &ents, &n));
	assert_false(cache_dir_get(c, "/d", &ents, &n));
	assert_true(cache_dir_get(c, "/", &ents, &n));
	cache_dirents_free(ents, n);
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
	struct cache_dirent *ents;
	size_t n;
	mode_t type = 0;

	e[0].st.st_mode = S_IFREG | 0644;
	e[1].st.st_mode = S_IFDIR | 0755;
	assert_int_equal(cache_dir_find(c, "/d", "m", &type), CACHE_MISS);
	cache_dir_note(c, "/d/x", S_IFREG); /* no listing: nothing to keep */
	assert_int_equal(cache_dir_find(c, "/d", "x", &type), CACHE_MISS);

	/* Entries come back sorted; lookups by name. */
	cache_dir_put(c, "/d", cache_token(c), e, 2);
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
	assert_true(cache_dir_get(c, "/d", &ents, &n));
	assert_int_equal(n, 2);
	assert_string_equal(ents[0].name, "b");
	assert_string_equal(ents[1].name, "c");
	assert_false(ents[0].has_stat);
	cache_dirents_free(ents, n);

	/* An empty listing (a new directory) answers every name. */
	cache_dir_put(c, "/new", cache_token(c), NULL, 0);
	assert_int_equal(cache_dir_find(c, "/new", "anything", NULL), CACHE_NEGATIVE);
	cache_dir_note(c, "/new/f", S_IFREG);
	assert_int_equal(cache_dir_find(c, "/new", "f", NULL), CACHE_HIT);
	/* Top level: the parent is "/". */
	cache_dir_put(c, "/", cache_token(c), NULL, 0);
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
	struct cache_dirent *ents;
	size_t n;
	cache_dir_put(c, "/d1", cache_token(c), e, 3);
	cache_dir_put(c, "/d2", cache_token(c), e, 2);
	/* 3 + 2 + 2 > 5 entries: /d1 goes. */
	cache_dir_put(c, "/d3", cache_token(c), e, 2);
	assert_false(cache_dir_get(c, "/d1", &ents, &n));
	assert_true(cache_dir_get(c, "/d2", &ents, &n));
	cache_dirents_free(ents, n);
	assert_true(cache_dir_get(c, "/d3", &ents, &n));
	cache_dirents_free(ents, n);
	cache_get_stats(c, &s);
	assert_int_equal(s.n_dirs, 2);
	assert_int_equal(s.n_dirents, 4);
	/* A listing larger than the whole budget is not cached at all. */
	struct cache_dirent big[6] = { { .name = (char *)"1" }, { .name = (char *)"2" },
				       { .name = (char *)"3" }, { .name = (char *)"4" },
				       { .name = (char *)"5" }, { .name = (char *)"6" } };
	cache_dir_put(c, "/big", cache_token(c), big, 6);
	assert_false(cache_dir_get(c, "/big", &ents, &n));
	/* Listings expire. */
	fake_now += 500;
	assert_false(cache_dir_get(c, "/d2", &ents, &n));
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
	struct cache_dirent *ents;
	size_t n;

	e[0].st.st_mode = e[1].st.st_mode = S_IFREG | 0644;
	e[0].st.st_size = 7;
	e[0].listed = e[1].listed = true;
	cache_dir_put(c, "/d", cache_token(c), e, 2);
	assert_true(cache_dir_get(c, "/d", &ents, &n));
	assert_true(ents[0].listed && ents[1].listed);
	assert_int_equal(ents[0].st.st_size, 7);
	cache_dirents_free(ents, n);
	/* A change through the mount: the listed attributes are stale. */
	cache_invalidate(c, "/d/a");
	cache_dir_note(c, "/d/b", S_IFLNK);
	assert_true(cache_dir_get(c, "/d", &ents, &n));
	assert_false(ents[0].listed);
	assert_false(ents[1].listed);
	assert_false(ents[0].has_stat);
	cache_dirents_free(ents, n);
	cache_free(c);
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
			cache_dir_put(t->c, "/d1", cache_token(t->c), &e, 1);
			break;
		}
		default: {
			struct cache_dirent *ents;
			size_t n;
			if (cache_dir_get(t->c, "/d1", &ents, &n))
				cache_dirents_free(ents, n);
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
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
