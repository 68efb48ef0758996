/* SPDX-License-Identifier: GPL-2.0-or-later */
/* mime: mime.types parsing and the s3fs-compatible extension lookup. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "mime.h"

#define FIXTURE TEST_SRCDIR "/unit/data/mime.types"

static void test_lookup(void **state)
{
	struct mime_table *t = NULL;

	(void)state;
	assert_int_equal(mime_load(FIXTURE, &t), 0);
	assert_string_equal(mime_lookup(t, "a.txt"), "text/plain");
	assert_string_equal(mime_lookup(t, "dir.d/index.html"), "text/html");
	assert_string_equal(mime_lookup(t, "photo.jpg"), "image/jpeg");
	assert_string_equal(mime_lookup(t, "PHOTO.JPG"), "image/jpeg");
	assert_string_equal(mime_lookup(t, "a.unknownext"), MIME_DEFAULT);
	assert_string_equal(mime_lookup(t, "noext"), MIME_DEFAULT);
	assert_string_equal(mime_lookup(t, "dir.txt/noext"), MIME_DEFAULT);
	assert_string_equal(mime_lookup(t, "trailing."), MIME_DEFAULT);
	/* The extension before an unknown last one, as s3fs does. */
	assert_string_equal(mime_lookup(t, "notes.txt.orig"), "text/plain");
	assert_string_equal(mime_lookup(t, "a.b.c"), MIME_DEFAULT);
	assert_string_equal(mime_lookup(t, "x.tar.gz"), "application/gzip");
	assert_string_equal(mime_lookup(t, ".txt"), "text/plain");
	assert_string_equal(mime_lookup(t, "sub/"), MIME_DIRECTORY);
	/* The later line wins. */
	assert_string_equal(mime_lookup(t, "a.conf"), "text/x-new");
	mime_free(t);
}

static void test_empty_and_missing(void **state)
{
	struct mime_table *t = (struct mime_table *)1;

	(void)state;
	assert_int_equal(mime_load(TEST_SRCDIR "/unit/data/no-such-file", &t), -ENOENT);
	assert_null(t);
	assert_string_equal(mime_lookup(NULL, "a.txt"), MIME_DEFAULT);
	assert_string_equal(mime_lookup(NULL, "d/"), MIME_DIRECTORY);
	mime_free(NULL);
}

static void test_long_line(void **state)
{
	char path[] = "mime-test-XXXXXX";
	struct mime_table *t = NULL;
	FILE *f;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs("text/plain ", f);
	for (int i = 0; i < 5000; i++)
		fputc('x', f);
	fputs("\n", f);
	fclose(f);
	assert_int_equal(mime_load(path, &t), -E2BIG);
	assert_null(t);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_empty_and_missing),
		cmocka_unit_test(test_long_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
