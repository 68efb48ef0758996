/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Staging: memory chunks, the temporary file, spills and evictions. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"

#include "stage.h"

#define KIB ((size_t)1024)
#define CH STAGE_CHUNK

struct env {
	struct stage_mem mem;
	struct stage s;
};

static struct env *env_new(size_t limit)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	stage_mem_init(&e->mem, limit);
	assert_int_equal(stage_init(&e->s, &e->mem, NULL), 0);
	return e;
}

static void env_free(struct env *e)
{
	stage_release(&e->s);
	stage_mem_trim(&e->mem);
	assert_int_equal(e->mem.used, 0);
	stage_mem_destroy(&e->mem);
	free(e);
}

static unsigned char *rnd(size_t len, unsigned seed)
{
	unsigned char *p = malloc(len);

	assert_non_null(p);
	srand(seed);
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)rand();
	return p;
}

/* An upload buffer: page aligned, as the upload layer's are. */
static void *part_buf(size_t len)
{
	void *p = NULL;

	assert_int_equal(posix_memalign(&p, 4096, len), 0);
	return p;
}

static void assert_stage(struct stage *s, const unsigned char *want, size_t len)
{
	unsigned char *got = malloc(len);

	assert_non_null(got);
	assert_int_equal(stage_pread(s, got, len, 0), 0);
	assert_memory_equal(got, want, len);
	free(got);
}

/* Read [off, off + len) as an upload would and evict it in one go. */
static bool evict(struct stage *s, uint64_t off, size_t len)
{
	void *buf = part_buf(len);
	struct stage_evict ev;
	bool went;

	assert_int_equal(stage_pread(s, buf, len, off), 0);
	went = stage_evict_begin(s, buf, len, off, &ev);
	if (went) {
		stage_evict_write(&ev, buf);
		stage_evict_end(s, &ev);
	}
	free(buf);
	return went;
}

static void test_memory_and_holes(void **state)
{
	struct env *e = env_new(4 * 1024 * KIB);
	unsigned char *d = rnd(300 * KIB, 1), *want = calloc(1, 600 * KIB);

	(void)state;
	assert_int_equal(stage_pwrite(&e->s, d, 100 * KIB, 7), 0);
	assert_int_equal(stage_pwrite(&e->s, d + 100 * KIB, 200 * KIB, 400 * KIB), 0);
	memcpy(want + 7, d, 100 * KIB);
	memcpy(want + 400 * KIB, d + 100 * KIB, 200 * KIB);
	assert_stage(&e->s, want, 600 * KIB);
	assert_int_equal(e->s.fd, -1); /* all in memory */
	assert_int_equal(stage_zero(&e->s, 10, 20), 0);
	memset(want + 10, 0, 20);
	assert_int_equal(stage_truncate(&e->s, 450 * KIB), 0);
	memset(want + 450 * KIB, 0, 150 * KIB);
	assert_stage(&e->s, want, 600 * KIB);
	free(d);
	free(want);
	env_free(e);
}

/* Sent parts leave memory; reads and rewrites of them still work. */
static void test_evict_sent_parts(void **state)
{
	struct env *e = env_new(64 * 1024 * KIB);
	size_t len = 1024 * KIB, part = 256 * KIB;
	unsigned char *d = rnd(len, 2), *w = rnd(3000, 3);

	(void)state;
	assert_int_equal(stage_pwrite(&e->s, d, len, 0), 0);
	assert_int_equal(e->s.mem_bytes, len);
	stage_keep_on_disk(&e->s);
	assert_true(e->s.evict);
	assert_true(evict(&e->s, 0, part));
	assert_true(evict(&e->s, part, part));
	assert_int_equal(e->s.mem_bytes, len - 2 * part);
	/* freed chunks are kept idle for reuse, outside the budget */
	assert_int_equal(e->mem.used, len - 2 * part);
	assert_int_equal(e->mem.n_spare, 2 * part / CH);
	assert_stage(&e->s, d, len);
	/* a rewrite across evicted and resident bytes */
	assert_int_equal(stage_pwrite(&e->s, w, 3000, 2 * part - 1000), 0);
	memcpy(d + 2 * part - 1000, w, 3000);
	assert_stage(&e->s, d, len);
	/* zeroing evicted bytes */
	assert_int_equal(stage_zero(&e->s, 5000, 70000), 0);
	memset(d + 5000, 0, 70000);
	assert_stage(&e->s, d, len);
	free(d);
	free(w);
	env_free(e);
}

/* A chunk written between the upload's read and the eviction stays in memory. */
static void test_evict_skips_changed(void **state)
{
	struct env *e = env_new(64 * 1024 * KIB);
	size_t len = 512 * KIB;
	unsigned char *d = rnd(len, 4), *buf = part_buf(len);
	struct stage_evict ev;

	(void)state;
	assert_int_equal(stage_pwrite(&e->s, d, len, 0), 0);
	stage_keep_on_disk(&e->s);
	assert_int_equal(stage_pread(&e->s, buf, len, 0), 0);
	/* changed before the eviction began: not evicted */
	d[CH + 5] ^= 0xff;
	assert_int_equal(stage_pwrite(&e->s, d + CH + 5, 1, CH + 5), 0);
	assert_true(stage_evict_begin(&e->s, buf, len, 0, &ev));
	/* changed while it is written: not freed */
	d[3 * CH] ^= 0xff;
	assert_int_equal(stage_pwrite(&e->s, d + 3 * CH, 1, 3 * CH), 0);
	stage_evict_write(&ev, buf);
	stage_evict_end(&e->s, &ev);
	assert_int_equal(e->s.mem_bytes, 2 * CH);
	assert_non_null(e->s.chunks[1]);
	assert_non_null(e->s.chunks[3]);
	assert_stage(&e->s, d, len);
	free(buf);
	free(d);
	env_free(e);
}

/* A truncate or a spill while an eviction writes loses nothing. */
static void test_truncate_and_spill_during_eviction(void **state)
{
	struct env *e = env_new(64 * 1024 * KIB);
	size_t len = 512 * KIB;
	unsigned char *d = rnd(len, 5), *buf = part_buf(len), *want = calloc(1, len);
	struct stage_evict ev;

	(void)state;
	assert_int_equal(stage_pwrite(&e->s, d, len, 0), 0);
	stage_keep_on_disk(&e->s);
	assert_int_equal(stage_pread(&e->s, buf, len, 0), 0);
	assert_true(stage_evict_begin(&e->s, buf, len, 0, &ev));
	assert_int_equal(stage_truncate(&e->s, 100 * KIB), 0);
	memcpy(want, d, 100 * KIB);
	assert_int_equal(stage_spill(&e->s), 0);
	assert_true(e->s.disk_only);
	stage_evict_write(&ev, buf);
	stage_evict_end(&e->s, &ev);
	assert_stage(&e->s, want, len);
	/* growing again reads zeros, then the new bytes */
	assert_int_equal(stage_pwrite(&e->s, d, 1000, 300 * KIB), 0);
	memcpy(want + 300 * KIB, d, 1000);
	assert_stage(&e->s, want, len);
	free(buf);
	free(d);
	free(want);
	env_free(e);
}

/* A small file takes a page or so of memory, not a whole chunk; it grows as written. */
static void test_small_file(void **state)
{
	struct env *e = env_new(4 * CH);
	unsigned char *d = rnd(3 * CH, 8), *want = calloc(1, 2 * CH);
	struct stage more[20];

	(void)state;
	assert_int_equal(stage_pwrite(&e->s, d, 100, 0), 0);
	assert_int_equal(e->s.mem_bytes, 4096);
	memcpy(want, d, 100);
	assert_int_equal(stage_pwrite(&e->s, d + 100, 1000, 5000), 0);
	assert_int_equal(e->s.mem_bytes, 8192);
	memcpy(want + 5000, d + 100, 1000);
	assert_stage(&e->s, want, 2 * CH);
	assert_int_equal(stage_zero(&e->s, 50, 20000), 0);
	memset(want + 50, 0, 20000);
	assert_stage(&e->s, want, 2 * CH);
	assert_int_equal(stage_truncate(&e->s, 60), 0);
	memset(want + 60, 0, 2 * CH - 60);
	assert_stage(&e->s, want, 2 * CH);
	/* twenty more small files fit in a budget of four chunks */
	for (int i = 0; i < 20; i++) {
		assert_int_equal(stage_init(&more[i], &e->mem, NULL), 0);
		assert_int_equal(stage_pwrite(&more[i], d, 3000, 0), 0);
		assert_false(more[i].disk_only);
	}
	/* growing past a chunk, then a spill, keeps every byte */
	assert_int_equal(stage_pwrite(&e->s, d, 3 * CH, 10), 0);
	memcpy(want + 10, d, 2 * CH - 10);
	assert_stage(&e->s, want, 2 * CH);
	assert_int_equal(stage_spill(&e->s), 0);
	assert_int_equal(e->s.mem_bytes, 0);
	assert_stage(&e->s, want, 2 * CH);
	for (int i = 0; i < 20; i++)
		stage_release(&more[i]);
	free(d);
	free(want);
	env_free(e);
}

/* Over budget, staging moves to the file and stays there. */
static void test_spill_over_budget(void **state)
{
	struct env *e = env_new(4 * CH);
	size_t len = 10 * CH;
	unsigned char *d = rnd(len, 6);

	(void)state;
	assert_int_equal(stage_pwrite(&e->s, d, len, 0), 0);
	assert_true(e->s.disk_only);
	assert_int_equal(e->s.mem_bytes, 0);
	assert_stage(&e->s, d, len);
	free(d);
	env_free(e);
}

/* A far sparse write does not grow the chunk table: it goes to the file. */
static void test_far_write(void **state)
{
	struct env *e = env_new(4 * CH);
	uint64_t far = (uint64_t)1 << 40;
	char got[6];

	(void)state;
	assert_int_equal(stage_pwrite(&e->s, "hello", 5, far), 0);
	assert_true(e->s.n_chunks < 1024);
	assert_int_equal(stage_pread(&e->s, got, 6, far - 1), 0);
	assert_memory_equal(got, "\0hello", 6);
	env_free(e);
}

/* Where O_DIRECT is missing (tmpfs), evictions write through the page cache. */
static void test_evict_without_direct(void **state)
{
	const char *tmp = getenv("TMPDIR");
	char *saved = tmp ? strdup(tmp) : NULL;
	struct env *e = env_new(64 * 1024 * KIB);
	size_t len = 256 * KIB;
	unsigned char *d = rnd(len, 7);

	(void)state;
	if (access("/dev/shm", W_OK) != 0) {
		env_free(e);
		free(saved);
		skip();
	}
	setenv("TMPDIR", "/dev/shm", 1);
	assert_int_equal(stage_pwrite(&e->s, d, len, 0), 0);
	stage_keep_on_disk(&e->s);
	assert_true(e->s.fd >= 0);
	assert_true(evict(&e->s, 0, len));
	assert_int_equal(e->s.mem_bytes, 0);
	assert_stage(&e->s, d, len);
	if (saved)
		setenv("TMPDIR", saved, 1);
	else
		unsetenv("TMPDIR");
	free(saved);
	free(d);
	env_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memory_and_holes),
		cmocka_unit_test(test_evict_sent_parts),
		cmocka_unit_test(test_evict_skips_changed),
		cmocka_unit_test(test_truncate_and_spill_during_eviction),
		cmocka_unit_test(test_small_file),
		cmocka_unit_test(test_spill_over_budget),
		cmocka_unit_test(test_far_write),
		cmocka_unit_test(test_evict_without_direct),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
