/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fh and upload against the in-memory store: staging in memory and on disk,
 * part boundaries, streaming, failure in part N of M, sticky errors,
 * read-ahead, truncation, sparse files and concurrent writers.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "fh.h"
#include "fh_i.h"
#include "mem_store.h"
#include "util/crc32c.h"

#define KIB 1024
#define PS (64 * KIB) /* part size used by most tests */

struct env {
	struct store *st;
	struct fh_cfg cfg;
	struct fh_ctx *ctx;
	char dir[64];
	/* what on_stored saw */
	pthread_mutex_t lock;
	unsigned stored_ok, stored_fail;
	uint64_t last_size;
	char last_etag[STORE_ETAG_MAX];
};

static void on_stored(void *arg, const char *key, const struct store_info *info)
{
	struct env *e = arg;

	(void)key;
	pthread_mutex_lock(&e->lock);
	if (info) {
		e->stored_ok++;
		e->last_size = info->size;
		snprintf(e->last_etag, sizeof(e->last_etag), "%s", info->etag);
	} else {
		e->stored_fail++;
	}
	pthread_mutex_unlock(&e->lock);
}

/* A new environment; @disk: stage under a temp dir, else in memory. */
static struct env *env_new(bool disk, size_t part_size, unsigned parallel)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	pthread_mutex_init(&e->lock, NULL);
	e->st = mem_store_new();
	assert_non_null(e->st);
	e->cfg.part_size = part_size;
	e->cfg.parallel = parallel;
	e->cfg.mem_limit = 64 * 1024 * 1024;
	e->cfg.readahead_max = 256 * KIB;
	e->cfg.on_stored = on_stored;
	e->cfg.on_stored_arg = e;
	if (disk) {
		const char *t = getenv("TMPDIR");
		snprintf(e->dir, sizeof(e->dir), "%s/fhtest-XXXXXX", t && *t ? t : "/tmp");
		assert_non_null(mkdtemp(e->dir));
		e->cfg.cache_dir = e->dir;
	}
	assert_int_equal(fh_ctx_new(&e->cfg, e->st, &e->ctx), 0);
	return e;
}

static void env_free(struct env *e)
{
	fh_ctx_free(e->ctx);
	mem_store_free(e->st);
	if (e->dir[0])
		assert_int_equal(rmdir(e->dir), 0); /* staging left nothing behind */
	pthread_mutex_destroy(&e->lock);
	free(e);
}

/* Deterministic pseudo-random bytes (xorshift64). */
static void fill(unsigned char *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)(x >> 24);
	}
}

static uint64_t next_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static unsigned char *rnd(size_t n, uint64_t seed)
{
	unsigned char *p = malloc(n ? n : 1);

	assert_non_null(p);
	fill(p, n, seed);
	return p;
}

/* The stored object equals @want. */
static void assert_object(struct env *e, const char *key, const void *want, size_t len)
{
	void *data = NULL;
	size_t got = 0;

	assert_int_equal(mem_store_fetch(e->st, key, &data, &got), 0);
	assert_int_equal(got, len);
	assert_memory_equal(data, want, len);
	free(data);
}

/* Reading the whole handle yields @want (in chunks of @chunk). */
static void assert_reads(struct fh *h, const unsigned char *want, size_t len, size_t chunk)
{
	unsigned char *buf = malloc(chunk);
	size_t pos = 0, got;

	assert_non_null(buf);
	while (pos < len) {
		assert_int_equal(fh_read(h, (char *)buf, chunk, (off_t)pos, &got), 0);
		size_t expect = len - pos < chunk ? len - pos : chunk;
		assert_int_equal(got, expect);
		assert_memory_equal(buf, want + pos, got);
		pos += got;
	}
	assert_int_equal(fh_read(h, (char *)buf, chunk, (off_t)len, &got), 0);
	assert_int_equal(got, 0);
	free(buf);
}

static struct fh *open_new(struct env *e, const char *key)
{
	struct fh *h = NULL;

	assert_int_equal(fh_open(e->ctx, key, NULL, NULL, O_RDWR | O_CREAT, &h), 0);
	assert_non_null(h);
	return h;
}

/* Open an existing object as the filesystem would: HEAD, then open. */
static struct fh *open_existing(struct env *e, const char *key, int flags)
{
	struct store_info info;
	struct fh *h = NULL;

	assert_int_equal(e->st->ops->head(e->st, key, &info), 0);
	assert_int_equal(fh_open(e->ctx, key, &info, NULL, flags, &h), 0);
	store_info_release(&info);
	return h;
}

static bool disk_mode(void **state)
{
	return *state != NULL;
}

/* ---- tests ----------------------------------------------------------------- */

static void test_ivl(void **state)
{
	struct fh_ivl iv = { 0 };
	uint64_t a, b, end;

	(void)state;
	assert_int_equal(fh_ivl_add(&iv, 10, 20), 0);
	assert_int_equal(fh_ivl_add(&iv, 30, 40), 0);
	assert_int_equal(fh_ivl_add(&iv, 20, 25), 0); /* touches: merges */
	assert_int_equal(iv.n, 2);
	assert_true(fh_ivl_covers(&iv, 10, 25));
	assert_false(fh_ivl_covers(&iv, 10, 26));
	assert_true(fh_ivl_overlaps(&iv, 24, 31));
	assert_false(fh_ivl_overlaps(&iv, 25, 30));
	assert_true(fh_ivl_next_gap(&iv, 0, 100, &a, &b));
	assert_int_equal(a, 0);
	assert_int_equal(b, 10);
	assert_true(fh_ivl_next_gap(&iv, 12, 100, &a, &b));
	assert_int_equal(a, 25);
	assert_int_equal(b, 30);
	assert_false(fh_ivl_next_gap(&iv, 31, 39, &a, &b));
	assert_true(fh_ivl_run(&iv, 12, &end));
	assert_int_equal(end, 25);
	assert_false(fh_ivl_run(&iv, 26, &end));
	assert_int_equal(end, 30);
	assert_false(fh_ivl_run(&iv, 45, &end));
	assert_true(end == UINT64_MAX);
	assert_int_equal(fh_ivl_add(&iv, 5, 50), 0); /* swallows both */
	assert_int_equal(iv.n, 1);
	assert_int_equal(fh_ivl_remove(&iv, 20, 30), 0); /* split */
	assert_int_equal(iv.n, 2);
	assert_true(fh_ivl_covers(&iv, 5, 20));
	assert_true(fh_ivl_covers(&iv, 30, 50));
	assert_false(fh_ivl_overlaps(&iv, 20, 30));
	assert_int_equal(fh_ivl_remove(&iv, 0, 6), 0);
	assert_int_equal(fh_ivl_remove(&iv, 40, UINT64_MAX), 0);
	assert_int_equal(iv.n, 2);
	assert_true(fh_ivl_covers(&iv, 6, 20));
	assert_true(fh_ivl_covers(&iv, 30, 40));
	assert_false(fh_ivl_overlaps(&iv, 40, 50));
	assert_int_equal(fh_ivl_remove(&iv, 0, 100), 0);
	assert_int_equal(iv.n, 0);
	fh_ivl_release(&iv);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_mem_store_list(void **state)
{
	struct store *st = mem_store_new();
	struct store_page p;
	const char *keys[] = { "a/1", "a/2", "a/b/3", "a/c/4", "b", "a/d/5", "a/e" };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		assert_int_equal(mem_store_seed(st, keys[i], "x", 1), 0);
	/* a/1 a/2 a/b/ a/c/ a/d/ a/e, two per page */
	const char *expect[] = { "a/1", "a/2", "a/b/", "a/c/", "a/d/", "a/e" };
	char *tok = NULL, *names[16];
	size_t seen = 0;
	do {
		assert_int_equal(st->ops->list(st, "a/", "/", tok, 2, &p), 0);
		free(tok);
		tok = p.next_token ? strdup(p.next_token) : NULL;
		assert_true(p.n_objects + p.n_prefixes <= 2);
		assert_true(seen + p.n_objects + p.n_prefixes <= ARRAY_SIZE(names));
		for (size_t i = 0; i < p.n_objects; i++)
			names[seen++] = strdup(p.objects[i].key);
		for (size_t i = 0; i < p.n_prefixes; i++)
			names[seen++] = strdup(p.prefixes[i]);
		store_page_release(&p);
	} while (tok);
	assert_int_equal(seen, ARRAY_SIZE(expect));
	qsort(names, seen, sizeof(names[0]), cmp_str);
	for (size_t i = 0; i < seen; i++) {
		assert_string_equal(names[i], expect[i]);
		free(names[i]);
	}
	/* no delimiter: everything under the prefix */
	assert_int_equal(st->ops->list(st, "a/", NULL, NULL, 1000, &p), 0);
	assert_int_equal(p.n_objects, 6);
	assert_null(p.next_token);
	store_page_release(&p);
	/* copy and delete, and an injected fault on the 2nd head */
	assert_int_equal(st->ops->copy(st, "b", "c", NULL, NULL, NULL), 0);
	assert_int_equal(st->ops->del(st, "b"), 0);
	assert_int_equal(st->ops->del(st, "b"), 0);
	struct store_info info;
	mem_store_fail(st, MEM_OP_HEAD, 2, 1, -EIO);
	assert_int_equal(st->ops->head(st, "b", &info), -ENOENT);
	assert_int_equal(st->ops->head(st, "c", &info), -EIO);
	assert_int_equal(st->ops->head(st, "c", &info), 0);
	assert_int_equal(info.size, 1);
	store_info_release(&info);
	assert_int_equal(mem_store_calls(st, MEM_OP_HEAD), 3);
	mem_store_free(st);
}

static void test_write_read_back(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	size_t len = 200 * KIB + 17;
	unsigned char *data = rnd(len, 1);
	struct fh *h = open_new(e, "dir/file");

	assert_int_equal(fh_write(h, (char *)data, 1000, 0), 0);
	assert_int_equal(fh_write(h, (char *)data + 1000, len - 1000, 1000), 0);
	uint64_t size;
	bool dirty;
	fh_stat(h, &size, &dirty);
	assert_int_equal(size, len);
	assert_true(dirty);
	assert_reads(h, data, len, 4096);
	assert_reads(h, data, len, 100 * KIB);
	assert_int_equal(fh_flush(h), 0);
	fh_stat(h, &size, &dirty);
	assert_false(dirty);
	assert_object(e, "dir/file", data, len);
	/* on_stored saw the new size and the ETag the store computed */
	struct store_info info;
	assert_int_equal(e->st->ops->head(e->st, "dir/file", &info), 0);
	assert_int_equal(e->stored_ok, 1);
	assert_int_equal(e->last_size, len);
	assert_string_equal(e->last_etag, info.etag);
	store_info_release(&info);
	/* a clean flush stores nothing */
	mem_store_reset_counters(e->st);
	assert_int_equal(fh_flush(h), 0);
	assert_int_equal(mem_store_calls(e->st, MEM_OP_PUT), 0);
	assert_int_equal(mem_store_calls(e->st, MEM_OP_MPU_BEGIN), 0);
	assert_int_equal(fh_release(h), 0);
	assert_int_equal(mem_store_n_uploads(e->st), 0);
	free(data);
	env_free(e);
}

static void test_empty_and_one_byte(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	struct fh *h = open_new(e, "empty");
	size_t got = 99;
	char c;

	assert_int_equal(fh_read(h, &c, 1, 0, &got), 0);
	assert_int_equal(got, 0);
	assert_int_equal(fh_release(h), 0);
	assert_object(e, "empty", "", 0);

	h = open_new(e, "one");
	assert_int_equal(fh_write(h, "Z", 1, 0), 0);
	assert_int_equal(fh_read(h, &c, 1, 0, &got), 0);
	assert_int_equal(got, 1);
	assert_int_equal(c, 'Z');
	assert_int_equal(fh_release(h), 0);
	assert_object(e, "one", "Z", 1);
	assert_int_equal(mem_store_calls(e->st, MEM_OP_PUT), 2);
	assert_int_equal(mem_store_calls(e->st, MEM_OP_MPU_BEGIN), 0);
	env_free(e);
}

/* Write @len bytes in 10000-byte writes, flush, check parts and content. */
static void one_size(struct env *e, size_t len, unsigned long puts, unsigned long parts)
{
	unsigned char *data = rnd(len, len);
	struct fh *h = open_new(e, "sized");

	mem_store_reset_counters(e->st);
	for (size_t pos = 0; pos < len; pos += 10000) {
		size_t n = len - pos < 10000 ? len - pos : 10000;
		assert_int_equal(fh_write(h, (char *)data + pos, n, (off_t)pos), 0);
	}
	assert_int_equal(fh_release(h), 0);
	assert_object(e, "sized", data, len);
	assert_int_equal(mem_store_calls(e->st, MEM_OP_PUT), puts);
	assert_int_equal(mem_store_calls(e->st, MEM_OP_MPU_PART), parts);
	assert_int_equal(mem_store_calls(e->st, MEM_OP_MPU_COMPLETE), parts ? 1 : 0);
	assert_int_equal(mem_store_n_uploads(e->st), 0);
	free(data);
}

static void test_part_boundaries(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 3);

	one_size(e, PS - 1, 1, 0);
	one_size(e, PS, 0, 1);
	one_size(e, PS + 1, 0, 2);
	one_size(e, 2 * PS, 0, 2);
	one_size(e, 5 * PS + 123, 0, 6);
	env_free(e);
}

static void test_overwrite_middle_existing(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	size_t len = 5 * PS + 1000;
	unsigned char *orig = rnd(len, 7);
	struct fh *h;

	assert_int_equal(mem_store_seed(e->st, "obj", orig, len), 0);
	mem_store_reset_counters(e->st);
	h = open_existing(e, "obj", O_RDWR);
	assert_int_equal(fh_write(h, "HELLO", 5, 2 * PS + 10), 0);
	memcpy(orig + 2 * PS + 10, "HELLO", 5);
	/* lazily read: the staging holds only the written bytes */
	char buf[32];
	size_t got;
	assert_int_equal(fh_read(h, buf, 25, 2 * PS, &got), 0);
	assert_int_equal(got, 25);
	assert_memory_equal(buf, orig + 2 * PS, 25);
	assert_int_equal(fh_flush(h), 0);
	assert_object(e, "obj", orig, len);
	/* untouched whole parts were copied server-side, not re-uploaded */
	assert_int_equal(mem_store_calls(e->st, MEM_OP_MPU_PART_COPY), 5);
	assert_int_equal(mem_store_calls(e->st, MEM_OP_MPU_PART), 1);
	assert_int_equal(fh_release(h), 0);
	assert_int_equal(mem_store_n_uploads(e->st), 0);

	/* a small object is fetched and PUT whole */
	unsigned char small[3000];
	fill(small, sizeof(small), 3);
	assert_int_equal(mem_store_seed(e->st, "small", small, sizeof(small)), 0);
	h = open_existing(e, "small", O_WRONLY);
	assert_int_equal(fh_write(h, "abc", 3, 1500), 0);
	memcpy(small + 1500, "abc", 3);
	assert_int_equal(fh_release(h), 0);
	assert_object(e, "small", small, sizeof(small));
	free(orig);
	env_free(e);
}

static void test_append(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	size_t len = 3 * PS, add = 2 * PS + 55;
	unsigned char *all = rnd(len + add, 11);
	struct fh *h;

	assert_int_equal(mem_store_seed(e->st, "log", all, len), 0);
	h = open_existing(e, "log", O_WRONLY | O_APPEND);
	/* O_APPEND: the offset is ignored */
	for (size_t pos = 0; pos < add; pos += 4096) {
		size_t n = add - pos < 4096 ? add - pos : 4096;
		assert_int_equal(fh_write(h, (char *)all + len + pos, n, 0), 0);
	}
	assert_int_equal(fh_release(h), 0);
	assert_object(e, "log", all, len + add);
	/* big append: the old parts were copied, not downloaded */
	assert_int_equal(mem_store_calls(e->st, MEM_OP_GET_RANGE), 0);
	assert_true(mem_store_calls(e->st, MEM_OP_MPU_PART_COPY) >= 3);
	free(all);
	env_free(e);
}

static void test_sparse(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	size_t len = 3 * PS + 10;
	unsigned char *want = calloc(1, len);
	struct fh *h = open_new(e, "sparse");

	assert_non_null(want);
	assert_int_equal(fh_write(h, "a", 1, 0), 0);
	assert_int_equal(fh_write(h, "b", 1, (off_t)len - 1), 0);
	want[0] = 'a';
	want[len - 1] = 'b';
	assert_reads(h, want, len, 7000);
	/* nothing was streamed: the holes are not data yet */
	assert_int_equal(mem_store_calls(e->st, MEM_OP_MPU_BEGIN), 0);
	assert_int_equal(fh_release(h), 0);
	assert_object(e, "sparse", want, len);
	free(want);
	env_free(e);
}

static void test_truncate(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	size_t len = 200 * KIB;
	unsigned char *orig = rnd(len, 5);
	unsigned char *want = calloc(1, 130 * KIB);
	struct fh *h;

	assert_non_null(want);
	assert_int_equal(mem_store_seed(e->st, "t", orig, len), 0);
	h = open_existing(e, "t", O_RDWR);
	assert_int_equal(fh_truncate(h, 50 * KIB), 0);
	assert_int_equal(fh_truncate(h, 100 * KIB), 0);
	memcpy(want, orig, 50 * KIB); /* then zeros up to 100 KiB */
	assert_int_equal(fh_write(h, "end", 3, 120 * KIB), 0);
	memcpy(want + 120 * KIB, "end", 3);
	assert_reads(h, want, 120 * KIB + 3, 8 * KIB);
	assert_int_equal(fh_flush(h), 0);
	assert_object(e, "t", want, 120 * KIB + 3);
	/* truncate down within staged data, then up again: zeros, not old bytes */
	assert_int_equal(fh_truncate(h, 10), 0);
	assert_int_equal(fh_truncate(h, 100), 0);
	memset(want + 10, 0, 90);
	assert_reads(h, want, 100, 33);
	assert_int_equal(fh_release(h), 0);
	assert_object(e, "t", want, 100);

	/* O_TRUNC on open */
	h = open_existing(e, "t", O_RDWR | O_TRUNC);
	uint64_t size;
	bool dirty;
	fh_stat(h, &size, &dirty);
	assert_int_equal(size, 0);
	assert_true(dirty);
	assert_int_equal(fh_release(h), 0);
	assert_object(e, "t", "", 0);
	free(orig);
	free(want);
	env_free(e);
}

static void test_streaming(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	size_t parts = 20, len = parts * PS + 300;
	unsigned char *data = rnd(len, 9);
	struct fh *h = open_new(e, "stream");

	mem_store_set_delay(e->st, MEM_OP_MPU_PART, 2000);
	for (size_t pos = 0; pos < len; pos += 16 * KIB) {
		size_t n = len - pos < 16 * KIB ? len - pos : 16 * KIB;
		assert_int_equal(fh_write(h, (char *)data + pos, n, (off_t)pos), 0);
	}
	/* back-pressure: at most `parallel` parts were still pending */
	assert_int_equal(mem_store_calls(e->st, MEM_OP_MPU_BEGIN), 1);
	assert_true(mem_store_calls(e->st, MEM_OP_MPU_PART) >= parts - 2);
	assert_true(mem_store_peak(e->st, MEM_OP_MPU_PART) <= 2);
	assert_int_equal(fh_flush(h), 0);
	assert_object(e, "stream", data, len);
	/* every part went up exactly once, the tail as part 21 */
	assert_int_equal(mem_store_calls(e->st, MEM_OP_MPU_PART), parts + 1);
	assert_int_equal(mem_store_calls(e->st, MEM_OP_PUT), 0);
	assert_int_equal(fh_release(h), 0);
	assert_int_equal(mem_store_n_uploads(e->st), 0);
	free(data);
	env_free(e);
}

static void test_stream_seek_back(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	size_t len = 6 * PS;
	unsigned char *data = rnd(len, 13);
	struct fh *h = open_new(e, "sb");

	for (size_t pos = 0; pos < len; pos += 8 * KIB)
		assert_int_equal(fh_write(h, (char *)data + pos, 8 * KIB, (off_t)pos), 0);
	assert_true(mem_store_calls(e->st, MEM_OP_MPU_PART) >= 4);
	/* modify the first, already uploaded part */
	assert_int_equal(fh_write(h, "patch", 5, 100), 0);
	memcpy(data + 100, "patch", 5);
	assert_int_equal(fh_flush(h), 0);
	assert_object(e, "sb", data, len);
	assert_int_equal(mem_store_calls(e->st, MEM_OP_MPU_ABORT), 1);
	assert_int_equal(mem_store_calls(e->st, MEM_OP_MPU_COMPLETE), 1);
	assert_int_equal(mem_store_n_uploads(e->st), 0);
	assert_int_equal(fh_release(h), 0);
	free(data);
	env_free(e);
}

/* Write back to front so that nothing streams. */
static void write_backwards(struct fh *h, const unsigned char *data, size_t len)
{
	size_t step = 10000;
	size_t pos = (len - 1) / step * step;

	for (;;) {
		size_t n = len - pos < step ? len - pos : step;
		assert_int_equal(fh_write(h, (const char *)data + pos, n, (off_t)pos), 0);
		if (pos == 0)
			break;
		pos -= step;
	}
}

static void test_fail_part_n_of_m(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	size_t len = 6 * PS + 5;
	unsigned char *data = rnd(len, 17);
	struct fh *h = open_new(e, "f");
	size_t got;
	char c;

	write_backwards(h, data, len);
	assert_int_equal(mem_store_calls(e->st, MEM_OP_MPU_BEGIN), 0);
	/* part 4 of 7 fails, and so do the retries the upload layer would make */
	mem_store_fail(e->st, MEM_OP_MPU_PART, 4, 0, -EIO);
	assert_int_equal(fh_flush(h), -EIO);
	assert_int_equal(mem_store_n_objects(e->st), 0);
	assert_int_equal(mem_store_n_uploads(e->st), 0); /* aborted */
	assert_int_equal(mem_store_calls(e->st, MEM_OP_MPU_ABORT), 1);
	assert_int_equal(e->stored_fail, 1);
	/* staged data kept and readable */
	assert_reads(h, data, len, 50000);
	uint64_t size;
	bool dirty;
	fh_stat(h, &size, &dirty);
	assert_true(dirty);
	/* sticky: the next write and flush report it */
	assert_int_equal(fh_write(h, "x", 1, 0), -EIO);
	assert_int_equal(fh_read(h, &c, 1, 0, &got), 0);
	assert_int_equal(fh_flush(h), -EIO);
	assert_int_equal(mem_store_n_uploads(e->st), 0);
	mem_store_clear_faults(e->st);
	assert_int_equal(fh_flush(h), 0);
	assert_object(e, "f", data, len);
	assert_int_equal(fh_write(h, "x", 1, 0), 0);
	data[0] = 'x';
	assert_int_equal(fh_release(h), 0);
	assert_object(e, "f", data, len);
	free(data);
	env_free(e);
}

static void test_fail_complete_and_put(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	size_t len = 3 * PS;
	unsigned char *data = rnd(len, 19);
	struct fh *h = open_new(e, "c");

	write_backwards(h, data, len);
	mem_store_fail(e->st, MEM_OP_MPU_COMPLETE, 1, 1, -EAGAIN);
	assert_int_equal(fh_flush(h), -EAGAIN);
	assert_int_equal(mem_store_n_objects(e->st), 0);
	assert_int_equal(mem_store_n_uploads(e->st), 0);
	assert_int_equal(fh_flush(h), 0); /* the fault was one-shot */
	assert_object(e, "c", data, len);
	assert_int_equal(fh_release(h), 0);

	h = open_new(e, "small");
	assert_int_equal(fh_write(h, "tiny", 4, 0), 0);
	mem_store_fail(e->st, MEM_OP_PUT, 1, 1, -ENOSPC);
	assert_int_equal(fh_flush(h), -ENOSPC);
	assert_int_equal(fh_write(h, "more", 4, 4), -ENOSPC);
	assert_int_equal(fh_release(h), 0); /* release retries the flush */
	assert_object(e, "small", "tiny", 4);
	free(data);
	env_free(e);
}

/* The reply to CompleteMultipartUpload is lost; the retry finds no upload. */
static void test_complete_reply_lost(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	size_t len = 3 * PS;
	unsigned char *data = rnd(len, 29);
	struct fh *h = open_new(e, "lost");

	write_backwards(h, data, len);
	mem_store_fail_late(e->st, MEM_OP_MPU_COMPLETE, 1, 1, -ENOENT);
	assert_int_equal(fh_flush(h), 0); /* stored: the object says so */
	assert_object(e, "lost", data, len);
	assert_int_equal(fh_release(h), 0);

	/* an upload aborted by someone else is no success */
	h = open_new(e, "gone");
	write_backwards(h, data, len);
	mem_store_fail(e->st, MEM_OP_MPU_COMPLETE, 1, 1, -ENOENT);
	assert_int_equal(fh_flush(h), -EIO);
	assert_int_equal(mem_store_n_objects(e->st), 1);
	mem_store_clear_faults(e->st);
	assert_int_equal(fh_release(h), 0);
	assert_object(e, "gone", data, len);
	free(data);
	env_free(e);
}

/* A DELETE that fails leaves an open file's data to be stored. */
static void test_unlink_fails_keeps_data(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	struct fh *h = open_new(e, "u");

	assert_int_equal(fh_write(h, "old", 3, 0), 0);
	assert_int_equal(fh_flush(h), 0);
	assert_int_equal(fh_write(h, "new", 3, 0), 0);
	mem_store_fail(e->st, MEM_OP_DEL, 1, 1, -EIO);
	assert_int_equal(fh_unlink_key(e->ctx, "u"), -EIO);
	assert_int_equal(fh_release(h), 0);
	assert_object(e, "u", "new", 3);

	/* a DELETE that succeeds: the open file is never stored again */
	h = open_new(e, "u");
	assert_int_equal(fh_write(h, "again", 5, 0), 0);
	assert_int_equal(fh_unlink_key(e->ctx, "u"), 0);
	assert_int_equal(fh_release(h), 0);
	assert_int_equal(mem_store_n_objects(e->st), 0);
	env_free(e);
}

/* An abort that fails is tried again (here: at shutdown), so no upload is left. */
static void test_failed_abort_retried(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	size_t len = 8 * PS + 1;
	unsigned char *data = rnd(len, 29);
	struct fh *h = open_new(e, "fa");

	mem_store_fail(e->st, MEM_OP_MPU_PART, 3, 0, -ECONNRESET);
	mem_store_fail(e->st, MEM_OP_MPU_ABORT, 1, 0, -EIO);
	for (size_t pos = 0; pos < len; pos += 32 * KIB) {
		size_t n = len - pos < 32 * KIB ? len - pos : 32 * KIB;
		assert_int_equal(fh_write(h, (char *)data + pos, n, (off_t)pos), 0);
	}
	assert_int_equal(fh_flush(h), -ECONNRESET);
	/* the abort failed: the upload is still there, remembered */
	assert_true(mem_store_n_uploads(e->st) >= 1);
	mem_store_clear_faults(e->st);
	assert_int_equal(fh_flush(h), 0);
	assert_int_equal(fh_release(h), 0);
	assert_object(e, "fa", data, len);
	/* the next drop, or at the latest the shutdown, aborts it */
	fh_ctx_free(e->ctx);
	e->ctx = NULL;
	assert_int_equal(mem_store_n_uploads(e->st), 0);
	free(data);
	env_free(e);
}

static void test_stream_part_fails(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	size_t len = 8 * PS + 1;
	unsigned char *data = rnd(len, 23);
	struct fh *h = open_new(e, "sf");

	/* a streamed part fails once: the flush starts over and succeeds */
	mem_store_fail(e->st, MEM_OP_MPU_PART, 2, 1, -EIO);
	for (size_t pos = 0; pos < len; pos += 32 * KIB) {
		size_t n = len - pos < 32 * KIB ? len - pos : 32 * KIB;
		assert_int_equal(fh_write(h, (char *)data + pos, n, (off_t)pos), 0);
	}
	assert_int_equal(fh_flush(h), 0);
	assert_object(e, "sf", data, len);
	assert_int_equal(mem_store_n_uploads(e->st), 0);
	assert_true(mem_store_calls(e->st, MEM_OP_MPU_ABORT) >= 1);

	/* persistent failure while streaming: the flush reports it */
	assert_int_equal(fh_truncate(h, 0), 0);
	mem_store_fail(e->st, MEM_OP_MPU_PART, 3, 0, -ECONNRESET);
	for (size_t pos = 0; pos < len; pos += 32 * KIB) {
		size_t n = len - pos < 32 * KIB ? len - pos : 32 * KIB;
		assert_int_equal(fh_write(h, (char *)data + pos, n, (off_t)pos), 0);
	}
	assert_int_equal(fh_flush(h), -ECONNRESET);
	assert_int_equal(mem_store_n_uploads(e->st), 0);
	assert_object(e, "sf", data, len); /* the old version is intact */
	mem_store_clear_faults(e->st);
	assert_int_equal(fh_release(h), 0);
	assert_object(e, "sf", data, len);
	free(data);
	env_free(e);
}

static void test_readahead(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 3);
	size_t len = 1024 * KIB + 777;
	unsigned char *data = rnd(len, 29);
	unsigned char *buf = malloc(len);
	uint64_t x = 42;
	struct fh *h;
	size_t got;

	assert_non_null(buf);
	assert_int_equal(mem_store_seed(e->st, "ra", data, len), 0);
	h = open_existing(e, "ra", O_RDONLY);
	/* sequential: far fewer GETs than reads, never more than `parallel` at once */
	mem_store_set_delay(e->st, MEM_OP_GET_RANGE, 500);
	assert_reads(h, data, len, 4096);
	unsigned long gets = mem_store_calls(e->st, MEM_OP_GET_RANGE);
	assert_true(gets > 0);
	assert_true(gets < len / 4096 / 4);
	/* the wide window asks for several blocks per GET: 1 MiB is 32 blocks of 32 KiB */
	assert_true(gets <= len / (32 * KIB) / 2);
	assert_true(mem_store_peak(e->st, MEM_OP_GET_RANGE) <= 3 + 1);
	/* random reads of random sizes */
	for (int i = 0; i < 300; i++) {
		size_t off = next_rand(&x) % (len + 100);
		size_t n = next_rand(&x) % (40 * KIB) + 1;
		assert_int_equal(fh_read(h, (char *)buf, n, (off_t)off, &got), 0);
		size_t want = off >= len ? 0 : (len - off < n ? len - off : n);
		assert_int_equal(got, want);
		if (want)
			assert_memory_equal(buf, data + off, want);
	}
	/* a failing GET is an error, and the next read recovers */
	assert_int_equal(fh_release(h), 0);
	h = open_existing(e, "ra", O_RDONLY);
	mem_store_fail(e->st, MEM_OP_GET_RANGE, 1, 0, -EIO);
	assert_int_equal(fh_read(h, (char *)buf, 100, 500 * KIB, &got), -EIO);
	mem_store_clear_faults(e->st);
	assert_int_equal(fh_read(h, (char *)buf, 100, 500 * KIB, &got), 0);
	assert_int_equal(got, 100);
	assert_memory_equal(buf, data + 500 * KIB, 100);
	assert_int_equal(fh_release(h), 0);

	/*
	 * The object is shorter than HEAD said: reads end early, no garbage.
	 * (With its ETag known, the read is of a version that is gone:
	 * test_pinned_read.)
	 */
	struct store_info info;
	assert_int_equal(e->st->ops->head(e->st, "ra", &info), 0);
	assert_int_equal(mem_store_seed(e->st, "ra", data, 100 * KIB), 0);
	info.etag[0] = '\0';
	assert_int_equal(fh_open(e->ctx, "ra", &info, NULL, O_RDONLY, &h), 0);
	store_info_release(&info);
	assert_int_equal(fh_read(h, (char *)buf, 64 * KIB, 64 * KIB, &got), 0);
	assert_int_equal(got, 36 * KIB);
	assert_memory_equal(buf, data + 64 * KIB, got);
	assert_int_equal(fh_read(h, (char *)buf, 10, 200 * KIB, &got), 0);
	assert_int_equal(got, 0);
	assert_int_equal(fh_release(h), 0);
	free(buf);
	free(data);
	env_free(e);
}

static void test_no_readahead(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	size_t len = 100 * KIB;
	unsigned char *data = rnd(len, 31);
	struct fh *h;

	e->cfg.readahead_max = 0; /* read by the file opened next */
	assert_int_equal(mem_store_seed(e->st, "nr", data, len), 0);
	h = open_existing(e, "nr", O_RDONLY);
	assert_reads(h, data, len, 10000);
	assert_int_equal(mem_store_calls(e->st, MEM_OP_GET_RANGE), (len + 9999) / 10000);
	assert_int_equal(fh_release(h), 0);
	free(data);
	env_free(e);
}

struct writer {
	struct fh *h;
	unsigned char *data;
	size_t off, len;
	uint64_t seed;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	size_t piece = 4 * KIB, n = w->len / piece;
	uint64_t x = w->seed;
	char buf[4 * KIB];
	size_t got;

	/* each piece exactly once, in a scrambled order, with reads in between */
	size_t step = 7;
	while (n % step == 0)
		step++;
	for (size_t i = 0; i < n; i++) {
		size_t p = (i * step) % n;
		size_t off = w->off + p * piece;
		if (fh_write(w->h, (char *)w->data + off, piece, (off_t)off) != 0)
			return (void *)1;
		size_t roff = w->off + (next_rand(&x) % n) * piece;
		if (fh_read(w->h, buf, piece, (off_t)roff, &got) != 0)
			return (void *)1;
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 4);
	enum { NT = 8 };
	size_t per = 96 * KIB, len = NT * per;
	unsigned char *data = rnd(len, 37);
	struct fh *h = open_new(e, "mt");
	pthread_t t[NT];
	struct writer w[NT];

	for (int i = 0; i < NT; i++) {
		w[i] = (struct writer){ h, data, i * per, per, (uint64_t)i + 1 };
		assert_int_equal(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
	}
	for (int i = 0; i < NT; i++) {
		void *ret;
		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
	assert_int_equal(fh_flush(h), 0);
	assert_object(e, "mt", data, len);
	assert_reads(h, data, len, 60000);
	assert_int_equal(fh_release(h), 0);
	assert_int_equal(mem_store_n_uploads(e->st), 0);
	free(data);
	env_free(e);
}

static void test_spill_over_mem_limit(void **state)
{
	struct env *e = env_new(false, PS, 2);
	size_t len = 1024 * KIB;
	unsigned char *data = rnd(len, 41);
	struct fh *h;

	(void)state;
	fh_ctx_free(e->ctx);
	e->cfg.mem_limit = 256 * KIB;
	assert_int_equal(fh_ctx_new(&e->cfg, e->st, &e->ctx), 0);
	h = open_new(e, "big");
	write_backwards(h, data, len);
	assert_true(h->f->stg.fd >= 0); /* moved to a temp file */
	assert_int_equal(e->ctx->mem.used, 0);
	assert_reads(h, data, len, 70000);
	assert_int_equal(fh_release(h), 0);
	assert_object(e, "big", data, len);
	free(data);
	env_free(e);
}

/* Part buffers count against the memory budget: staging moves to disk first. */
static void test_parts_share_mem_limit(void **state)
{
	struct env *e = env_new(false, PS, 2);
	size_t len = 5 * PS / 2;
	unsigned char *data = rnd(len, 43);
	struct fh *h;

	(void)state;
	fh_ctx_free(e->ctx);
	e->cfg.mem_limit = 3 * PS; /* the staged file alone fits */
	assert_int_equal(fh_ctx_new(&e->cfg, e->st, &e->ctx), 0);
	mem_store_set_delay(e->st, MEM_OP_MPU_PART, 300 * 1000);
	h = open_new(e, "seq");
	for (size_t off = 0; off < len; off += 16 * KIB)
		assert_int_equal(fh_write(h, (const char *)data + off, 16 * KIB, (off_t)off), 0);
	/* Two parts in flight and the staged bytes would exceed the budget. */
	assert_true(h->f->stg.fd >= 0);
	assert_int_equal(fh_release(h), 0);
	assert_object(e, "seq", data, len);
	/* Every buffer is back and accounted for. */
	assert_int_equal(e->ctx->mem.used, 0);
	free(data);
	env_free(e);
}

/*
 * A streamed file keeps only its unsent tail in memory: each part's bytes
 * move to the staging file as the part is sent, and stay readable and
 * rewritable there.
 */
static void test_stream_moves_sent_parts_to_disk(void **state)
{
	size_t part = 4 * STAGE_CHUNK, len = 10 * part + 1000;
	struct env *e = env_new(false, part, 2);
	unsigned char *data = rnd(len, 45), *patch = rnd(3 * STAGE_CHUNK, 46);
	struct fh *h;

	(void)state;
	h = open_new(e, "tail");
	for (size_t off = 0; off < len; off += 16 * KIB) {
		size_t n = len - off < 16 * KIB ? len - off : 16 * KIB;
		assert_int_equal(fh_write(h, (const char *)data + off, n, (off_t)off), 0);
	}
	assert_int_equal(fh_flush(h), 0);
	assert_object(e, "tail", data, len);
	/* every part was sent: nothing but the last, partial chunk is left in memory */
	assert_true(h->f->stg.fd >= 0);
	assert_false(h->f->stg.disk_only);
	assert_int_equal(h->f->stg.mem_bytes, STAGE_CHUNK);
	assert_reads(h, data, len, 50000);
	/* a rewrite across two sent parts, then stored again */
	memcpy(data + part - STAGE_CHUNK, patch, 3 * STAGE_CHUNK);
	assert_int_equal(
		fh_write(h, (const char *)patch, 3 * STAGE_CHUNK, (off_t)(part - STAGE_CHUNK)), 0);
	assert_reads(h, data, len, 70000);
	assert_int_equal(fh_release(h), 0);
	assert_object(e, "tail", data, len);
	free(patch);
	free(data);
	env_free(e);
}

/* Thousands of files open at once: each is found by its key, also after a rename. */
static void test_many_open_files(void **state)
{
	enum { N = 5000 };
	struct env *e = env_new(false, PS, 2);
	struct fh **h = calloc(N, sizeof(*h));
	char key[64];

	(void)state;
	assert_non_null(h);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "d/f%d", i);
		h[i] = open_new(e, key);
		assert_int_equal(fh_write(h[i], key, strlen(key), 0), 0);
	}
	/* a second open shares the file */
	struct fh *again = NULL;
	assert_int_equal(fh_open(e->ctx, "d/f4321", NULL, NULL, O_RDWR, &again), 0);
	assert_ptr_equal(again->f, h[4321]->f);
	assert_int_equal(fh_release(again), 0);
	for (int i = 0; i < N; i += 7) {
		char to[64];
		snprintf(key, sizeof(key), "d/f%d", i);
		snprintf(to, sizeof(to), "e/g%d", i);
		assert_int_equal(fh_rename_key(e->ctx, key, to), 0);
	}
	for (int i = 0; i < N; i++) {
		char to[64];
		snprintf(key, sizeof(key), "d/f%d", i);
		snprintf(to, sizeof(to), "e/g%d", i);
		struct fh *found = fh_find(e->ctx, i % 7 ? key : to);
		assert_non_null(found);
		assert_ptr_equal(found->f, h[i]->f);
		assert_int_equal(fh_release(found), 0);
		assert_null(fh_find(e->ctx, i % 7 ? to : key));
	}
	for (int i = 0; i < N; i++)
		assert_int_equal(fh_release(h[i]), 0);
	assert_null(fh_find(e->ctx, "d/f1"));
	assert_null(e->ctx->files);
	free(h);
	env_free(e);
}

static void test_shared_and_rename(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	struct fh *a = open_new(e, "k1"), *b = NULL, *c;
	char buf[8];
	size_t got;

	assert_int_equal(fh_write(a, "shared", 6, 0), 0);
	assert_int_equal(fh_open(e->ctx, "k1", NULL, NULL, O_RDONLY, &b), 0);
	assert_int_equal(fh_read(b, buf, 6, 0, &got), 0);
	assert_int_equal(got, 6);
	assert_memory_equal(buf, "shared", 6);
	c = fh_find(e->ctx, "k1");
	assert_non_null(c);
	assert_null(fh_find(e->ctx, "nope"));
	assert_int_equal(fh_release(c), 0);

	struct store_meta m = { 0 };
	assert_int_equal(store_meta_set(&m, "mode", "0644"), 0);
	assert_int_equal(fh_set_meta(a, &m), 0);
	store_meta_release(&m);

	assert_int_equal(fh_rename_key(e->ctx, "k1", "k2"), 0);
	assert_int_equal(fh_rename_key(e->ctx, "k1", "k3"), -ENOENT);
	assert_int_equal(fh_release(b), 0); /* read-only, not last: no upload */
	assert_int_equal(mem_store_n_objects(e->st), 0);
	assert_int_equal(fh_release(a), 0);
	assert_object(e, "k2", "shared", 6);
	struct store_info info;
	assert_int_equal(e->st->ops->head(e->st, "k2", &info), 0);
	assert_string_equal(store_meta_get(&info.meta, "mode"), "0644");
	assert_int_equal(fh_open(e->ctx, "k2", &info, NULL, O_RDONLY, &a), 0);
	store_info_release(&info);
	assert_int_equal(fh_get_meta(a, &m), 0);
	assert_string_equal(store_meta_get(&m, "mode"), "0644");
	store_meta_release(&m);
	fh_mark_dirty(a);
	mem_store_reset_counters(e->st);
	assert_int_equal(fh_release(a), 0);
	assert_int_equal(mem_store_calls(e->st, MEM_OP_PUT), 1); /* metadata-only change */
	assert_object(e, "k2", "shared", 6);
	env_free(e);
}

static void test_store_meta(void **state)
{
	struct store_meta a = { 0 }, b;

	(void)state;
	assert_int_equal(store_meta_set(&a, "x", "1"), 0);
	assert_int_equal(store_meta_set(&a, "x", "2"), 0);
	assert_int_equal(a.n, 1);
	assert_string_equal(store_meta_get(&a, "x"), "2");
	assert_null(store_meta_get(&a, "y"));
	for (int i = 1; i < STORE_META_MAX; i++) {
		char name[16];
		snprintf(name, sizeof(name), "k%d", i);
		assert_int_equal(store_meta_set(&a, name, "v"), 0);
	}
	assert_int_equal(store_meta_set(&a, "one-too-many", "v"), -E2BIG);
	a.content_type = strdup("text/plain");
	assert_int_equal(store_meta_copy(&b, &a), 0);
	assert_int_equal(b.n, STORE_META_MAX);
	assert_string_equal(b.content_type, "text/plain");
	assert_string_equal(store_meta_get(&b, "k5"), "v");
	store_meta_release(&a);
	store_meta_release(&b);
	assert_int_equal(b.n, 0);
}

static void test_meta_change_while_streaming(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	size_t len = 4 * PS + 9;
	unsigned char *data = rnd(len, 43);
	struct fh *h = open_new(e, "m");
	struct store_meta m = { 0 };

	for (size_t pos = 0; pos < len; pos += 16 * KIB) {
		size_t n = len - pos < 16 * KIB ? len - pos : 16 * KIB;
		assert_int_equal(fh_write(h, (char *)data + pos, n, (off_t)pos), 0);
		if (pos == 2 * PS) {
			/* chmod while the upload streams: the new mode must win */
			assert_int_equal(store_meta_set(&m, "mode", "0600"), 0);
			assert_int_equal(fh_set_meta(h, &m), 0);
			store_meta_release(&m);
			fh_mark_dirty(h);
		}
	}
	assert_int_equal(mem_store_calls(e->st, MEM_OP_MPU_BEGIN), 1);
	assert_int_equal(fh_release(h), 0);
	assert_object(e, "m", data, len);
	struct store_info info;
	assert_int_equal(e->st->ops->head(e->st, "m", &info), 0);
	assert_non_null(store_meta_get(&info.meta, "mode"));
	assert_string_equal(store_meta_get(&info.meta, "mode"), "0600");
	assert_string_equal(e->last_etag, info.etag);
	store_info_release(&info);
	/* the streamed parts were kept; one self-copy replaced the metadata */
	assert_int_equal(mem_store_calls(e->st, MEM_OP_MPU_BEGIN), 1);
	assert_int_equal(mem_store_calls(e->st, MEM_OP_MPU_PART), 5);
	assert_int_equal(mem_store_calls(e->st, MEM_OP_MPU_ABORT), 0);
	assert_int_equal(mem_store_calls(e->st, MEM_OP_COPY), 1);

	/* the self-copy fails: the flush reports it, a retry stores it all */
	h = open_new(e, "m2");
	for (size_t pos = 0; pos < len; pos += 16 * KIB) {
		size_t n = len - pos < 16 * KIB ? len - pos : 16 * KIB;
		assert_int_equal(fh_write(h, (char *)data + pos, n, (off_t)pos), 0);
		if (pos == PS) {
			assert_int_equal(store_meta_set(&m, "mode", "0640"), 0);
			assert_int_equal(fh_set_meta(h, &m), 0);
			store_meta_release(&m);
		}
	}
	mem_store_fail(e->st, MEM_OP_COPY, 1, 1, -EIO);
	assert_int_equal(fh_flush(h), -EIO);
	assert_int_equal(fh_flush(h), 0);
	assert_int_equal(fh_release(h), 0);
	assert_object(e, "m2", data, len);
	assert_int_equal(e->st->ops->head(e->st, "m2", &info), 0);
	assert_string_equal(store_meta_get(&info.meta, "mode"), "0640");
	store_info_release(&info);
	assert_int_equal(mem_store_n_uploads(e->st), 0);
	free(data);
	env_free(e);
}

static const char *const write_times[] = { "mtime", "ctime", NULL };

/* Write [from, len) of @data in 16 KiB pieces, moving the times after each as fs_ops does. */
static void write_touching(struct fh *h, const unsigned char *data, size_t from, size_t len)
{
	struct store_meta m = { 0 };
	char t[32];

	for (size_t pos = from; pos < len; pos += 16 * KIB) {
		size_t n = len - pos < 16 * KIB ? len - pos : 16 * KIB;
		assert_int_equal(fh_write(h, (const char *)data + pos, n, (off_t)pos), 0);
		snprintf(t, sizeof(t), "%zu", 1000 + pos);
		assert_int_equal(fh_get_meta(h, &m), 0);
		assert_int_equal(store_meta_set(&m, "mtime", t), 0);
		assert_int_equal(store_meta_set(&m, "ctime", t), 0);
		assert_int_equal(fh_set_meta_times(h, &m), 0);
		store_meta_release(&m);
	}
}

/*
 * A plain sequential write ends with its streamed upload: the times that
 * writes moved meanwhile come from Last-Modified, no copy follows.
 */
static void test_stream_times_no_copy(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	size_t len = 4 * PS + 9;
	unsigned char *data = rnd(len, 47);
	struct store_meta m = { 0 };
	struct store_info info;
	struct fh *h;

	e->cfg.write_times = write_times;
	assert_int_equal(store_meta_set(&m, "mode", "0644"), 0);
	assert_int_equal(store_meta_set(&m, "mtime", "5"), 0);
	assert_int_equal(fh_open(e->ctx, "t", NULL, &m, O_RDWR | O_CREAT, &h), 0);
	store_meta_release(&m);
	write_touching(h, data, 0, len);
	assert_int_equal(fh_release(h), 0);
	assert_object(e, "t", data, len);
	assert_int_equal(mem_store_calls(e->st, MEM_OP_MPU_BEGIN), 1);
	assert_int_equal(mem_store_calls(e->st, MEM_OP_MPU_PART), 5);
	assert_int_equal(mem_store_calls(e->st, MEM_OP_PUT), 0);
	assert_int_equal(mem_store_calls(e->st, MEM_OP_COPY), 0);
	assert_int_equal(e->st->ops->head(e->st, "t", &info), 0);
	assert_string_equal(store_meta_get(&info.meta, "mode"), "0644");
	assert_null(store_meta_get(&info.meta, "mtime")); /* Last-Modified says it */
	assert_null(store_meta_get(&info.meta, "ctime"));
	store_info_release(&info);

	/* a chmod while it streams still ends in one metadata copy */
	mem_store_reset_counters(e->st);
	h = open_new(e, "t2");
	write_touching(h, data, 0, 2 * PS);
	assert_int_equal(store_meta_set(&m, "mode", "0600"), 0);
	assert_int_equal(fh_set_meta(h, &m), 0);
	store_meta_release(&m);
	write_touching(h, data, 2 * PS, len);
	assert_int_equal(fh_release(h), 0);
	assert_int_equal(mem_store_calls(e->st, MEM_OP_COPY), 1);
	assert_int_equal(e->st->ops->head(e->st, "t2", &info), 0);
	assert_string_equal(store_meta_get(&info.meta, "mode"), "0600");
	/* the times of the last write, at 4 PS */
	assert_string_equal(store_meta_get(&info.meta, "mtime"), "263144");
	store_info_release(&info);
	free(data);
	env_free(e);
}

/* An upload that lasts seconds: one HEAD learns when Last-Modified is stamped. */
static void test_stream_times_slow_upload(void **state)
{
	struct env *e = env_new(false, PS, 1);
	size_t len = 3 * PS + 1;
	unsigned char *data = rnd(len, 48);
	struct fh *h;

	(void)state;
	e->cfg.write_times = write_times;
	mem_store_set_delay(e->st, MEM_OP_MPU_PART, 800 * 1000);
	for (int round = 0; round < 2; round++) {
		h = open_new(e, round ? "s2" : "s1");
		write_touching(h, data, 0, len);
		assert_int_equal(fh_release(h), 0);
		assert_object(e, round ? "s2" : "s1", data, len);
	}
	/* the mem store stamps at Complete: no copy, and one HEAD for the mount */
	assert_int_equal(mem_store_calls(e->st, MEM_OP_COPY), 0);
	assert_int_equal(mem_store_calls(e->st, MEM_OP_HEAD), 1);
	free(data);
	env_free(e);
}

/*
 * The metadata copy after a streamed upload presents the encryption that
 * upload wrote (the mount's current SSE-C key), not the one of the
 * version it replaced: none for a plain object, or an older key.
 */
static void test_remeta_presents_written_key(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	size_t len = 3 * PS + 5;
	unsigned char *data = rnd(len, 49);
	struct store_enc old = { .mode = STORE_SSE_C, .key_md5 = "old-key-md5" };
	struct store_enc want = { .mode = STORE_SSE_C, .key_md5 = "new-key-md5" };
	struct store_meta m = { 0 };
	const char *keys[] = { "plain", "oldkey" };

	mem_store_set_sse_c(e->st, want.key_md5);
	assert_int_equal(mem_store_seed_enc(e->st, "plain", "p", 1, NULL), 0);
	assert_int_equal(mem_store_seed_enc(e->st, "oldkey", "o", 1, &old), 0);
	for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
		struct fh *h = open_existing(e, keys[k], O_RDWR | O_TRUNC);
		struct store_info info;
		size_t got = 0;
		char c;

		for (size_t pos = 0; pos < len; pos += 16 * KIB) {
			size_t n = len - pos < 16 * KIB ? len - pos : 16 * KIB;
			assert_int_equal(fh_write(h, (char *)data + pos, n, (off_t)pos), 0);
			if (pos == PS) {
				assert_int_equal(store_meta_set(&m, "mode", "0600"), 0);
				assert_int_equal(fh_set_meta(h, &m), 0);
				store_meta_release(&m);
			}
		}
		assert_int_equal(fh_flush(h), 0);
		/* the file reads back through the store with the key it now has */
		assert_int_equal(fh_read(h, &c, 1, (off_t)len - 1, &got), 0);
		assert_int_equal(got, 1);
		assert_int_equal((unsigned char)c, data[len - 1]);
		assert_int_equal(fh_release(h), 0);
		assert_object(e, keys[k], data, len);
		assert_int_equal(e->st->ops->head(e->st, keys[k], &info), 0);
		assert_int_equal(info.enc.mode, STORE_SSE_C);
		assert_string_equal(info.enc.key_md5, want.key_md5);
		assert_string_equal(store_meta_get(&info.meta, "mode"), "0600");
		store_info_release(&info);
	}
	assert_int_equal(mem_store_calls(e->st, MEM_OP_COPY), 2);
	/* the store really checks keys */
	size_t got;
	char buf[4];
	assert_int_equal(e->st->ops->get_range(e->st, "plain", 0, 1, buf, &got, &old, NULL),
			 -EACCES);
	free(data);
	env_free(e);
}

/*
 * A staging write that fails part way (memory over budget, no staging
 * file possible): none of its bytes are read later, neither past the end
 * nor over older data.
 */
static void test_failed_write_not_readable(void **state)
{
	struct env *e = env_new(false, 16 * PS, 1);
	const char *tmp = getenv("TMPDIR");
	char *saved = tmp ? strdup(tmp) : NULL;
	size_t big = 4 * PS;
	unsigned char *a = malloc(big), *b = malloc(big), *got = malloc(big);
	struct fh *h;
	size_t n = 0;
	void *data = NULL;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(got);
	memset(a, 'A', big);
	memset(b, 'B', big);
	fh_ctx_free(e->ctx);
	e->cfg.mem_limit = 2 * PS; /* two chunks */
	assert_int_equal(fh_ctx_new(&e->cfg, e->st, &e->ctx), 0);
	setenv("TMPDIR", "/nonexistent-obsmount-test", 1);
	h = open_new(e, "w");
	assert_int_equal(fh_write(h, (char *)a, PS, 0), 0);
	/* over older data: the first chunk fits, the next one needs a spill that fails */
	assert_int_not_equal(fh_write(h, (char *)b, big, 0), 0);
	/* no byte of the failed write is readable: the old bytes stay */
	assert_int_equal(fh_read(h, (char *)got, PS, 0, &n), 0);
	assert_int_equal(n, PS);
	assert_memory_equal(got, a, PS);
	/* the file is never stored: every later write, flush and close fails */
	assert_int_not_equal(fh_write(h, (char *)a, 10, 0), 0);
	assert_int_not_equal(fh_flush(h), 0);
	if (saved)
		setenv("TMPDIR", saved, 1);
	else
		unsetenv("TMPDIR");
	assert_int_not_equal(fh_release(h), 0);
	assert_int_equal(mem_store_fetch(e->st, "w", &data, &n), -ENOENT);
	assert_int_equal(mem_store_n_uploads(e->st), 0);
	free(saved);
	free(a);
	free(b);
	free(got);
	env_free(e);
}

/* A write that fails over an existing object: close fails, the object stays. */
static void test_failed_write_keeps_previous(void **state)
{
	struct env *e = env_new(false, 16 * PS, 1);
	const char *tmp = getenv("TMPDIR");
	char *saved = tmp ? strdup(tmp) : NULL;
	size_t big = 4 * PS;
	unsigned char *old = rnd(big, 7), *b = rnd(big, 8);
	struct fh *h;

	(void)state;
	assert_int_equal(e->st->ops->put(e->st, "prev", old, big, NULL, NULL, NULL), 0);
	fh_ctx_free(e->ctx);
	e->cfg.mem_limit = 2 * PS;
	assert_int_equal(fh_ctx_new(&e->cfg, e->st, &e->ctx), 0);
	setenv("TMPDIR", "/nonexistent-obsmount-test", 1);
	h = open_existing(e, "prev", O_RDWR | O_TRUNC);
	assert_int_equal(fh_truncate(h, 0), 0);
	assert_int_not_equal(fh_write(h, (char *)b, big, 0), 0);
	if (saved)
		setenv("TMPDIR", saved, 1);
	else
		unsetenv("TMPDIR");
	assert_int_not_equal(fh_release(h), 0);
	assert_object(e, "prev", old, big);
	assert_int_equal(mem_store_n_uploads(e->st), 0);
	free(saved);
	free(old);
	free(b);
	env_free(e);
}

static void test_append_two_handles(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	struct fh *a = open_new(e, "ap"), *b = NULL;

	assert_int_equal(fh_open(e->ctx, "ap", NULL, NULL, O_WRONLY | O_APPEND, &b), 0);
	assert_int_equal(fh_write(a, "0123456789", 10, 0), 0);
	assert_int_equal(fh_write(b, "AB", 2, 0), 0); /* appends */
	assert_int_equal(fh_write(a, "xy", 2, 0), 0); /* positional */
	assert_int_equal(fh_write(b, "CD", 2, 3), 0); /* appends */
	assert_int_equal(fh_release(b), 0);
	assert_int_equal(fh_release(a), 0);
	assert_object(e, "ap", "xy23456789ABCD", 14);
	env_free(e);
}

static void test_rename_over_open_file(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	struct fh *a = open_new(e, "src"), *b = open_new(e, "dst");

	assert_int_equal(fh_write(a, "one", 3, 0), 0);
	assert_int_equal(fh_write(b, "two", 3, 0), 0);
	assert_int_equal(fh_rename_key(e->ctx, "src", "dst"), 0);
	struct fh *c = fh_find(e->ctx, "dst");
	assert_non_null(c);
	assert_true(c->f == a->f); /* the name now means the renamed file */
	assert_int_equal(fh_release(c), 0);
	assert_int_equal(fh_release(a), 0);
	assert_int_equal(fh_release(b), 0); /* detached: never stored */
	assert_object(e, "dst", "one", 3);
	assert_int_equal(mem_store_calls(e->st, MEM_OP_PUT), 1);
	env_free(e);
}

struct flusher {
	struct fh *h;
	int stop; /* __atomic */
	int bad;
};

static void *flusher_main(void *arg)
{
	struct flusher *fl = arg;

	while (!__atomic_load_n(&fl->stop, __ATOMIC_ACQUIRE)) {
		if (fh_flush(fl->h) != 0)
			fl->bad++;
		usleep(200);
	}
	return NULL;
}

static void test_flush_while_writing(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	size_t len = 12 * PS + 77;
	unsigned char *data = rnd(len, 47);
	struct fh *h = open_new(e, "fw");
	struct flusher fl = { h, 0, 0 };
	pthread_t t;

	mem_store_set_delay(e->st, MEM_OP_MPU_PART, 300);
	assert_int_equal(pthread_create(&t, NULL, flusher_main, &fl), 0);
	for (size_t pos = 0; pos < len; pos += 5000) {
		size_t n = len - pos < 5000 ? len - pos : 5000;
		assert_int_equal(fh_write(h, (char *)data + pos, n, (off_t)pos), 0);
		if (pos % (3 * PS) < 5000)
			assert_int_equal(fh_write(h, (char *)data, 10, 0), 0); /* seek back */
	}
	__atomic_store_n(&fl.stop, 1, __ATOMIC_RELEASE);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(fl.bad, 0);
	assert_int_equal(fh_flush(h), 0);
	assert_object(e, "fw", data, len);
	bool dirty;
	fh_stat(h, NULL, &dirty);
	assert_false(dirty);
	assert_int_equal(mem_store_n_uploads(e->st), 0); /* none lingers after a flush */
	assert_int_equal(fh_release(h), 0);
	assert_int_equal(mem_store_n_uploads(e->st), 0);
	free(data);
	env_free(e);
}

struct reader {
	struct fh *h;
	const unsigned char *data;
	size_t len;
	uint64_t seed;
	int bad;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	uint64_t x = r->seed;
	char *buf = malloc(64 * KIB);
	size_t got;

	for (int i = 0; buf && i < 200; i++) {
		size_t off = next_rand(&x) % r->len, n = next_rand(&x) % (64 * KIB) + 1;
		/* half the readers go sequentially */
		if (r->seed % 2)
			off = (size_t)i * 16 * KIB % r->len;
		size_t want = r->len - off < n ? r->len - off : n;
		if (fh_read(r->h, buf, n, (off_t)off, &got) != 0 || got != want ||
		    memcmp(buf, r->data + off, got) != 0)
			r->bad++;
	}
	free(buf);
	return NULL;
}

static void test_concurrent_readers(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 3);
	enum { NR = 6 };
	size_t len = 3 * 1024 * KIB + 5;
	unsigned char *data = rnd(len, 53);
	pthread_t t[NR];
	struct reader r[NR];
	struct fh *h;

	assert_int_equal(mem_store_seed(e->st, "cr", data, len), 0);
	h = open_existing(e, "cr", O_RDWR);
	/* a little local data too, so reads mix staging and the store */
	assert_int_equal(fh_write(h, (char *)data + 100000, 5000, 100000), 0);
	mem_store_set_delay(e->st, MEM_OP_GET_RANGE, 200);
	for (int i = 0; i < NR; i++) {
		r[i] = (struct reader){ h, data, len, (uint64_t)i + 1, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, reader_main, &r[i]), 0);
	}
	for (int i = 0; i < NR; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(r[i].bad, 0);
	}
	assert_int_equal(fh_release(h), 0);
	assert_object(e, "cr", data, len);
	free(data);
	env_free(e);
}

static void test_fail_fetch_and_begin(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	size_t len = 3 * PS + 11;
	unsigned char *data = rnd(len, 59);
	struct fh *h;

	/* the missing bytes cannot be fetched at flush: error, nothing stored */
	assert_int_equal(mem_store_seed(e->st, "g", data, len), 0);
	h = open_existing(e, "g", O_RDWR);
	assert_int_equal(fh_write(h, "zz", 2, PS + 3), 0);
	memcpy(data + PS + 3, "zz", 2);
	mem_store_reset_counters(e->st);
	mem_store_fail(e->st, MEM_OP_GET_RANGE, 1, 0, -EIO);
	assert_int_equal(fh_flush(h), -EIO);
	assert_int_equal(mem_store_n_uploads(e->st), 0);
	assert_int_equal(mem_store_calls(e->st, MEM_OP_MPU_COMPLETE), 0);
	mem_store_clear_faults(e->st);
	assert_int_equal(fh_release(h), 0);
	assert_object(e, "g", data, len);

	/* a streamed upload that cannot begin: the flush does it all */
	h = open_new(e, "b");
	mem_store_reset_counters(e->st);
	mem_store_fail(e->st, MEM_OP_MPU_BEGIN, 1, 1, -EIO);
	for (size_t pos = 0; pos < len; pos += 8 * KIB) {
		size_t n = len - pos < 8 * KIB ? len - pos : 8 * KIB;
		assert_int_equal(fh_write(h, (char *)data + pos, n, (off_t)pos), 0);
	}
	assert_int_equal(mem_store_calls(e->st, MEM_OP_MPU_PART), 0);
	assert_int_equal(fh_release(h), 0);
	assert_object(e, "b", data, len);
	assert_int_equal(mem_store_n_uploads(e->st), 0);
	free(data);
	env_free(e);
}

/* Shutdown with files still open: everything dirty is stored, errors kept. */
static void test_flush_all(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	unsigned char *a = rnd(3 * PS + 17, 41), *b = rnd(100, 42);
	struct fh *ha = open_new(e, "a"), *hb = open_new(e, "b"), *hc = open_new(e, "c");
	unsigned n = 99;

	assert_int_equal(fh_write(ha, (const char *)a, 3 * PS + 17, 0), 0);
	assert_int_equal(fh_write(hb, (const char *)b, 100, 0), 0);
	assert_int_equal(fh_flush(hc), 0); /* stored empty: clean */
	assert_int_equal(fh_flush_all(e->ctx, &n), 0);
	assert_int_equal(n, 2);
	assert_object(e, "a", a, 3 * PS + 17);
	assert_object(e, "b", b, 100);
	assert_int_equal(fh_flush_all(e->ctx, &n), 0);
	assert_int_equal(n, 0);

	/* A failed PUT is returned and logged; the data stays for a retry. */
	assert_int_equal(fh_write(hb, "x", 1, 100), 0);
	mem_store_fail(e->st, MEM_OP_PUT, 1, 1, -EIO);
	assert_int_equal(fh_flush_all(e->ctx, &n), -EIO);
	assert_int_equal(n, 1);
	assert_object(e, "b", b, 100);
	mem_store_clear_faults(e->st);
	assert_int_equal(fh_flush_all(e->ctx, NULL), 0);
	b = realloc(b, 101);
	assert_non_null(b);
	b[100] = 'x';
	assert_object(e, "b", b, 101);

	assert_int_equal(fh_release(ha), 0);
	assert_int_equal(fh_release(hb), 0);
	assert_int_equal(fh_release(hc), 0);
	/* Nothing open: nothing to do. */
	assert_int_equal(fh_flush_all(e->ctx, &n), 0);
	assert_int_equal(n, 0);
	free(a);
	free(b);
	env_free(e);
}

/*
 * Another client replaces an open file's object: a read of a range not
 * fetched yet fails with -ESTALE and never returns the new bytes, with
 * read-ahead (@ra) or without.
 */
static void pinned_read(void **state, size_t ra)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	size_t len = 1024 * KIB;
	unsigned char *a = malloc(len), *b = malloc(len);
	char buf[4096];
	struct fh *h;
	size_t got = 0;

	assert_non_null(a);
	assert_non_null(b);
	memset(a, 'A', len);
	memset(b, 'B', len);
	e->cfg.readahead_max = ra;
	assert_int_equal(mem_store_seed(e->st, "pin", a, len), 0);
	h = open_existing(e, "pin", O_RDONLY);
	assert_int_equal(fh_read(h, buf, sizeof(buf), 0, &got), 0);
	assert_int_equal(got, sizeof(buf));
	assert_memory_equal(buf, a, got);
	assert_int_equal(mem_store_seed(e->st, "pin", b, len), 0);
	for (int i = 0; i < 2; i++) {
		memset(buf, 0, sizeof(buf));
		got = 0;
		assert_int_equal(fh_read(h, buf, sizeof(buf), 900 * KIB, &got), -ESTALE);
		assert_int_equal(got, 0);
		assert_null(memchr(buf, 'B', sizeof(buf)));
	}
	assert_int_equal(fh_release(h), 0);
	/* an object replaced before the open is simply read */
	h = open_existing(e, "pin", O_RDONLY);
	assert_int_equal(fh_read(h, buf, sizeof(buf), 900 * KIB, &got), 0);
	assert_int_equal(got, sizeof(buf));
	assert_memory_equal(buf, b, got);
	assert_int_equal(fh_release(h), 0);
	free(a);
	free(b);
	env_free(e);
}

static void test_pinned_read(void **state)
{
	pinned_read(state, 256 * KIB);
}

static void test_pinned_read_no_readahead(void **state)
{
	pinned_read(state, 0);
}

/*
 * An append copies the untouched parts of the stored object server-side:
 * after another client replaced it, the store fails instead of joining
 * the new object's bytes to ours, and the other client's object stays.
 */
static void test_pinned_part_copy(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	size_t len = 3 * PS, add = PS + 10;
	unsigned char *a = malloc(len), *b = malloc(len), *more = rnd(add, 53);
	struct fh *h;

	assert_non_null(a);
	assert_non_null(b);
	memset(a, 'A', len);
	memset(b, 'B', len);
	assert_int_equal(mem_store_seed(e->st, "app", a, len), 0);
	h = open_existing(e, "app", O_WRONLY | O_APPEND);
	assert_int_equal(mem_store_seed(e->st, "app", b, len), 0);
	assert_int_equal(fh_write(h, (char *)more, add, 0), 0);
	int err = fh_flush(h);
	assert_true(err == -ESTALE || err == -EIO);
	assert_true(mem_store_calls(e->st, MEM_OP_MPU_PART_COPY) >= 1);
	assert_int_equal(fh_release(h), err);
	assert_object(e, "app", b, len);
	assert_int_equal(mem_store_n_uploads(e->st), 0);
	free(a);
	free(b);
	free(more);
	env_free(e);
}

/*
 * Our own stores move the pin: after an append stored by part copies, the
 * ranges never fetched read from the new object, and a second append
 * copies from it again.
 */
static void test_pin_follows_own_store(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 2);
	size_t len = 3 * PS, add = PS + 10;
	unsigned char *all = rnd(len + 2 * add, 59);
	unsigned char buf[4096];
	struct fh *h;
	size_t got = 0;

	assert_int_equal(mem_store_seed(e->st, "own", all, len), 0);
	h = open_existing(e, "own", O_RDWR | O_APPEND);
	assert_int_equal(fh_write(h, (char *)all + len, add, 0), 0);
	assert_int_equal(fh_flush(h), 0);
	assert_int_equal(fh_read(h, (char *)buf, sizeof(buf), PS, &got), 0);
	assert_int_equal(got, sizeof(buf));
	assert_memory_equal(buf, all + PS, got);
	assert_int_equal(fh_write(h, (char *)all + len + add, add, 0), 0);
	assert_int_equal(fh_flush(h), 0);
	assert_int_equal(fh_read(h, (char *)buf, sizeof(buf), 2 * PS, &got), 0);
	assert_memory_equal(buf, all + 2 * PS, got);
	assert_int_equal(fh_release(h), 0);
	assert_object(e, "own", all, len + 2 * add);
	free(all);
	env_free(e);
}

static int disk = 1;

#define BOTH(t) cmocka_unit_test_prestate(t, NULL), cmocka_unit_test_prestate(t, &disk)

/* Read @h from 0 in @chunk steps; the result of the read that reaches the end. */
static int read_to_end(struct fh *h, size_t len, size_t chunk, size_t *good_reads)
{
	char *buf = malloc(chunk);
	size_t pos = 0, got = 0;
	int err = 0;

	assert_non_null(buf);
	*good_reads = 0;
	while (pos < len) {
		err = fh_read(h, buf, chunk, (off_t)pos, &got);
		if (err)
			break;
		assert_true(got > 0);
		pos += got;
		if (pos < len)
			(*good_reads)++;
	}
	free(buf);
	return err;
}

/*
 * End-to-end check: a body that is not what was stored (its checksum
 * says so) fails the sequential read that reaches its end with EIO; an
 * intact one reads, and so does an object without a checksum.
 */
static void verify_read(void **state, size_t readahead)
{
	struct env *e = env_new(disk_mode(state), PS, 3);
	size_t len = 700 * KIB + 333, n;
	unsigned char *data = rnd(len, 77);
	struct fh *h;

	e->cfg.readahead_max = readahead;
	assert_int_equal(mem_store_seed_crc(e->st, "ok", data, len), 0);
	assert_int_equal(mem_store_seed_crc(e->st, "bad", data, len), 0);
	assert_int_equal(mem_store_seed(e->st, "plain", data, len), 0);
	assert_int_equal(mem_store_corrupt(e->st, "bad", 300 * KIB + 5), 0);
	assert_int_equal(mem_store_corrupt(e->st, "plain", 300 * KIB + 5), 0);

	h = open_existing(e, "ok", O_RDONLY);
	assert_reads(h, data, len, 16 * KIB);
	assert_int_equal(fh_release(h), 0);

	h = open_existing(e, "bad", O_RDONLY);
	assert_int_equal(read_to_end(h, len, 16 * KIB, &n), -EIO);
	assert_int_equal(n, len / (16 * KIB)); /* only the last read fails */
	/* and again, while the file stays open */
	assert_int_equal(read_to_end(h, len, 16 * KIB, &n), -EIO);
	assert_int_equal(fh_release(h), 0);

	/* no checksum (another tool's object): read as before */
	h = open_existing(e, "plain", O_RDONLY);
	assert_int_equal(read_to_end(h, len, 16 * KIB, &n), 0);
	assert_int_equal(fh_release(h), 0);

	/* written meanwhile: the bytes read are not the stored ones, no check */
	h = open_existing(e, "bad", O_RDWR);
	assert_int_equal(fh_write(h, "x", 1, 10), 0);
	assert_int_equal(read_to_end(h, len, 16 * KIB, &n), 0);
	assert_int_equal(fh_release(h), 0);
	free(data);
	env_free(e);
}

static void test_verify_read(void **state)
{
	verify_read(state, 256 * KIB);
}

static void test_verify_read_no_readahead(void **state)
{
	verify_read(state, 0);
}

/*
 * An intact object read the way a kernel's read-ahead may ask for it: runs
 * of sequential reads, jumps back over blocks since evicted, and forward
 * again. No read fails the check, and every byte is right.
 */
/* A sequential reader in a thread, publishing how far it got. */
struct seq_reader {
	struct fh *h;
	const unsigned char *want;
	size_t len;
	size_t pos; /* atomic */
	int err;
};

static void *seq_reader_main(void *arg)
{
	struct seq_reader *r = arg;
	char buf[16 * 1024];
	size_t got;

	while (r->pos < r->len) {
		int err = fh_read(r->h, buf, sizeof(buf), (off_t)r->pos, &got);
		if (!err && (got == 0 || memcmp(buf, r->want + r->pos, got) != 0))
			err = -EIO;
		if (err) {
			r->err = err;
			break;
		}
		__atomic_store_n(&r->pos, r->pos + got, __ATOMIC_RELEASE);
	}
	return NULL;
}

/*
 * A GET of several blocks hands each block to the reader as soon as it
 * has arrived: with the GET held after its first block, a sequential
 * reader still gets through that block. The whole object then reads
 * right, and its checksum holds.
 */
static void test_grouped_get_hands_over_blocks(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 3);
	size_t len = 2048 * KIB;
	unsigned char *data = rnd(len, 79);
	struct seq_reader r = { .want = data, .len = len };
	uint64_t off = 0, first = 0;
	pthread_t t;

	e->cfg.readahead_max = 256 * KIB;
	assert_int_equal(mem_store_seed_crc(e->st, "grp", data, len), 0);
	r.h = open_existing(e, "grp", O_RDONLY);
	mem_store_hold_pieces(e->st, true);
	assert_int_equal(pthread_create(&t, NULL, seq_reader_main, &r), 0);
	bool held = mem_store_wait_held(e->st, 10000, &off, &first);
	bool passed = false;
	for (int i = 0; held && i < 1000 && !passed; i++) {
		passed = __atomic_load_n(&r.pos, __ATOMIC_ACQUIRE) >= off + first;
		if (!passed)
			usleep(10000);
	}
	mem_store_hold_pieces(e->st, false);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(held);
	assert_true(passed);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.pos, len);
	assert_int_equal(fh_release(r.h), 0);
	free(data);
	env_free(e);
}

/*
 * Replies cut short after their first block: the block that arrived is
 * read as it is, the others are fetched again, never read from the cut
 * reply; every byte is right and the checksum holds. (A read may fail
 * when the fetch it retries fails too: it is read again.)
 */
static void test_grouped_get_cut_short(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 3);
	size_t len = 2048 * KIB;
	unsigned char *data = rnd(len, 80);
	char buf[16 * KIB];
	size_t got;
	unsigned failed = 0;
	bool armed = false;
	struct fh *h;

	e->cfg.readahead_max = 256 * KIB;
	assert_int_equal(mem_store_seed_crc(e->st, "cut", data, len), 0);
	h = open_existing(e, "cut", O_RDONLY);
	for (size_t pos = 0; pos < len; pos += got) {
		/* every 256 KiB, the second GET from now loses the end of its reply */
		if (pos % (256 * KIB) == 0 && !armed) {
			mem_store_fail_late(e->st, MEM_OP_GET_RANGE, 2, 1, -EIO);
			armed = true;
		} else if (pos % (256 * KIB) != 0) {
			armed = false;
		}
		int err = fh_read(h, buf, sizeof(buf), (off_t)pos, &got);
		/* at most once per fault: the fetch again succeeds */
		if (err == -EIO && ++failed <= len / (256 * KIB)) {
			got = 0;
			continue;
		}
		assert_int_equal(err, 0);
		assert_int_equal(got, sizeof(buf));
		assert_memory_equal(buf, data + pos, got);
	}
	assert_int_equal(fh_read(h, buf, sizeof(buf), (off_t)len, &got), 0);
	assert_int_equal(got, 0);
	assert_int_equal(fh_release(h), 0);
	free(data);
	env_free(e);
}

static void test_verify_read_out_of_order(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 3);
	size_t len = 2048 * KIB, chunk = 16 * KIB;
	unsigned char *data = rnd(len, 78);
	char *buf = malloc(chunk);
	uint64_t x = 7;
	size_t got;

	assert_non_null(buf);
	e->cfg.readahead_max = 256 * KIB;
	assert_int_equal(mem_store_seed_crc(e->st, "ooo", data, len), 0);
	for (int round = 0; round < 40; round++) {
		struct fh *h = open_existing(e, "ooo", O_RDONLY);
		size_t pos = 0;
		while (pos < len) {
			/* a run forward, then a jump of up to 24 blocks either way */
			for (int k = 0; k < 8 && pos < len; k++, pos += chunk) {
				assert_int_equal(fh_read(h, buf, chunk, (off_t)pos, &got), 0);
				assert_int_equal(got, chunk);
				assert_memory_equal(buf, data + pos, chunk);
			}
			long jump = (long)(next_rand(&x) % 49) - 24;
			long to = (long)pos + jump * 32 * (long)KIB;
			if (to >= 0 && (size_t)to < len && next_rand(&x) % 2)
				pos = (size_t)to;
		}
		assert_int_equal(fh_release(h), 0);
	}
	free(buf);
	free(data);
	env_free(e);
}

/* What obsmount writes carries its CRC-32C, single PUT and multipart alike. */
static void test_written_checksum(void **state)
{
	struct env *e = env_new(disk_mode(state), PS, 3);
	size_t sizes[] = { 1000, 5 * PS + 17 };
	struct store_info info;

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		unsigned char *data = rnd(sizes[i], 90 + i);
		struct fh *h = open_new(e, "w");
		assert_int_equal(fh_write(h, (const char *)data, sizes[i], 0), 0);
		assert_int_equal(fh_release(h), 0);
		assert_int_equal(e->st->ops->head(e->st, "w", &info), 0);
		assert_true(info.has_crc32c);
		assert_int_equal(info.crc32c, crc32c(0, data, sizes[i]));
		store_info_release(&info);
		/* and a corrupted copy of it is caught */
		assert_int_equal(mem_store_corrupt(e->st, "w", sizes[i] - 1), 0);
		size_t n;
		h = open_existing(e, "w", O_RDONLY);
		assert_int_equal(read_to_end(h, sizes[i], 4096, &n), -EIO);
		assert_int_equal(fh_release(h), 0);
		free(data);
	}
	env_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ivl),
		cmocka_unit_test(test_store_meta),
		cmocka_unit_test(test_mem_store_list),
		BOTH(test_write_read_back),
		BOTH(test_empty_and_one_byte),
		BOTH(test_part_boundaries),
		BOTH(test_overwrite_middle_existing),
		BOTH(test_append),
		BOTH(test_sparse),
		BOTH(test_truncate),
		BOTH(test_streaming),
		BOTH(test_stream_seek_back),
		BOTH(test_fail_part_n_of_m),
		BOTH(test_fail_complete_and_put),
		BOTH(test_stream_part_fails),
		BOTH(test_failed_abort_retried),
		BOTH(test_readahead),
		BOTH(test_no_readahead),
		BOTH(test_verify_read),
		BOTH(test_verify_read_no_readahead),
		BOTH(test_verify_read_out_of_order),
		BOTH(test_grouped_get_hands_over_blocks),
		BOTH(test_grouped_get_cut_short),
		BOTH(test_written_checksum),
		BOTH(test_threads),
		cmocka_unit_test(test_spill_over_mem_limit),
		cmocka_unit_test(test_parts_share_mem_limit),
		cmocka_unit_test(test_stream_moves_sent_parts_to_disk),
		cmocka_unit_test(test_many_open_files),
		BOTH(test_shared_and_rename),
		BOTH(test_complete_reply_lost),
		BOTH(test_unlink_fails_keeps_data),
		BOTH(test_meta_change_while_streaming),
		BOTH(test_stream_times_no_copy),
		cmocka_unit_test(test_stream_times_slow_upload),
		BOTH(test_remeta_presents_written_key),
		cmocka_unit_test(test_failed_write_not_readable),
		cmocka_unit_test(test_failed_write_keeps_previous),
		BOTH(test_append_two_handles),
		BOTH(test_rename_over_open_file),
		BOTH(test_flush_while_writing),
		BOTH(test_concurrent_readers),
		BOTH(test_fail_fetch_and_begin),
		BOTH(test_flush_all),
		BOTH(test_pinned_read),
		BOTH(test_pinned_read_no_readahead),
		BOTH(test_pinned_part_copy),
		BOTH(test_pin_follows_own_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
