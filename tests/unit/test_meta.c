/* SPDX-License-Identifier: GPL-2.0-or-later */
/* meta: s3fs-compatible headers to struct stat, defaults, owners, xattrs. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "unit.h"
#include "meta.h"

static const struct meta_cfg plain = { .uid = 1000, .gid = 100 };

static void info_init(struct store_info *i, uint64_t size, time_t lm)
{
	memset(i, 0, sizeof(*i));
	i->size = size;
	i->last_modified = lm;
}

static void test_defaults_without_metadata(void **state)
{
	(void)state;
	struct store_info i;
	struct stat st;

	info_init(&i, 12345, 1600000000);
	meta_to_stat(&plain, "a/b.txt", &i, &st);
	assert_int_equal(st.st_mode, S_IFREG | 0644);
	assert_int_equal(st.st_size, 12345);
	assert_int_equal(st.st_mtime, 1600000000);
	assert_int_equal(st.st_ctime, 1600000000);
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_gid, 100);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(st.st_blocks, (12345 + 511) / 512);

	/* A directory marker. */
	info_init(&i, 0, 1600000001);
	meta_to_stat(&plain, "a/dir/", &i, &st);
	assert_int_equal(st.st_mode, S_IFDIR | 0755);
	assert_int_equal(st.st_nlink, 2);
	assert_int_equal(st.st_mtime, 1600000001);

	/* s3fs's old directory objects: no slash, content type x-directory. */
	info_init(&i, 0, 5);
	i.meta.content_type = strdup("application/x-directory");
	meta_to_stat(&plain, "a/olddir", &i, &st);
	assert_true(S_ISDIR(st.st_mode));
	store_info_release(&i);
}

static void test_s3fs_headers(void **state)
{
	(void)state;
	struct store_info i;
	struct stat st;

	info_init(&i, 3, 1600000000);
	/* What s3fs writes for a 0600 file owned by 42:43. */
	assert_int_equal(store_meta_set(&i.meta, "mode", "33152"), 0);
	assert_int_equal(store_meta_set(&i.meta, "uid", "42"), 0);
	assert_int_equal(store_meta_set(&i.meta, "gid", "43"), 0);
	assert_int_equal(store_meta_set(&i.meta, "mtime", "1500000000"), 0);
	assert_int_equal(store_meta_set(&i.meta, "ctime", "1500000001.25"), 0);
	assert_int_equal(store_meta_set(&i.meta, "atime", "1500000002.123456789"), 0);
	meta_to_stat(&plain, "f", &i, &st);
	assert_int_equal(st.st_mode, S_IFREG | 0600);
	assert_int_equal(st.st_uid, 42);
	assert_int_equal(st.st_gid, 43);
	assert_int_equal(st.st_mtim.tv_sec, 1500000000);
	assert_int_equal(st.st_mtim.tv_nsec, 0);
	assert_int_equal(st.st_ctim.tv_sec, 1500000001);
	assert_int_equal(st.st_ctim.tv_nsec, 250000000);
	assert_int_equal(st.st_atim.tv_sec, 1500000002);
	assert_int_equal(st.st_atim.tv_nsec, 123456789);

	/* uid=/gid=/umask= override, as in s3fs. */
	struct meta_cfg forced = { .uid = 7,
				   .gid = 8,
				   .force_uid = true,
				   .force_gid = true,
				   .umask = 077,
				   .has_umask = true };
	assert_int_equal(store_meta_set(&i.meta, "mode", "33279"), 0); /* 0777 */
	meta_to_stat(&forced, "f", &i, &st);
	assert_int_equal(st.st_mode, S_IFREG | 0700);
	assert_int_equal(st.st_uid, 7);
	assert_int_equal(st.st_gid, 8);

	/* A symlink: mode S_IFLNK, size is the target's length. */
	assert_int_equal(store_meta_set(&i.meta, "mode", "41471"), 0); /* 0120777 */
	meta_to_stat(&plain, "link", &i, &st);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(st.st_size, 3);

	/* Special files as s3fs-fuse stores them: the type is in the mode. */
	static const mode_t types[] = { S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK };
	for (size_t k = 0; k < ARRAY_SIZE(types); k++) {
		char v[16];
		snprintf(v, sizeof(v), "%u", (unsigned)(types[k] | 0640));
		assert_int_equal(store_meta_set(&i.meta, "mode", v), 0);
		assert_int_equal(meta_set_rdev(&i.meta, makedev(1, 2)), 0);
		assert_string_equal(store_meta_get(&i.meta, META_RDEV), "258");
		meta_to_stat(&plain, "node", &i, &st);
		assert_int_equal(st.st_mode, types[k] | 0640);
		/* Only devices have a device number. */
		assert_int_equal(st.st_rdev,
				 types[k] == S_IFCHR || types[k] == S_IFBLK ? makedev(1, 2) : 0);
	}
	/* Without the header (s3fs-fuse): device 0. */
	meta_remove(&i.meta, META_RDEV);
	meta_to_stat(&plain, "node", &i, &st);
	assert_int_equal(st.st_rdev, 0);
	/* A type that does not exist makes a plain file. */
	assert_int_equal(store_meta_set(&i.meta, "mode", "61860"), 0); /* 0170644 */
	meta_to_stat(&plain, "node", &i, &st);
	assert_int_equal(st.st_mode, S_IFREG | 0644);

	/* Garbage is ignored, not trusted. */
	assert_int_equal(store_meta_set(&i.meta, "mode", "12abc"), 0);
	assert_int_equal(store_meta_set(&i.meta, "uid", "-1"), 0);
	assert_int_equal(store_meta_set(&i.meta, "mtime", "soon"), 0);
	meta_to_stat(&plain, "f", &i, &st);
	assert_int_equal(st.st_mode, S_IFREG | 0644);
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_mtime, 1600000000);
	store_info_release(&i);
}

static void test_entry_and_dir_stat(void **state)
{
	(void)state;
	struct store_entry e = { .key = (char *)"x/y", .size = 9, .last_modified = 77 };
	struct meta_cfg um = { .uid = 1, .gid = 2, .umask = 022, .has_umask = true };
	struct stat st;

	meta_entry_to_stat(&plain, &e, &st);
	assert_int_equal(st.st_mode, S_IFREG | 0644);
	assert_int_equal(st.st_size, 9);
	assert_int_equal(st.st_mtime, 77);
	meta_dir_stat(&um, 5, &st);
	assert_int_equal(st.st_mode, S_IFDIR | 0755);
	assert_int_equal(st.st_uid, 1);
	um.umask = 027;
	meta_dir_stat(&um, 5, &st);
	assert_int_equal(st.st_mode, S_IFDIR | 0750);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct store_info i;
	struct stat st;
	struct timespec now = { .tv_sec = 1700000000, .tv_nsec = 5 };

	info_init(&i, 0, 1);
	assert_int_equal(meta_init(&i.meta, S_IFDIR | 0711, 5, 6, &now), 0);
	assert_string_equal(store_meta_get(&i.meta, "mode"), "16841");
	assert_string_equal(store_meta_get(&i.meta, "mtime"), "1700000000.000000005");
	assert_string_equal(i.meta.content_type, META_DIR_CONTENT_TYPE);
	meta_to_stat(&plain, "d/", &i, &st);
	assert_int_equal(st.st_mode, S_IFDIR | 0711);
	assert_int_equal(st.st_uid, 5);
	assert_int_equal(st.st_gid, 6);
	assert_int_equal(st.st_mtim.tv_nsec, 5);

	assert_int_equal(meta_set_owner(&i.meta, (uid_t)-1, 9), 0);
	struct timespec t = { .tv_sec = 42 };
	assert_int_equal(meta_set_time(&i.meta, META_MTIME, &t), 0);
	assert_string_equal(store_meta_get(&i.meta, "mtime"), "42");
	meta_to_stat(&plain, "d/", &i, &st);
	assert_int_equal(st.st_uid, 5);
	assert_int_equal(st.st_gid, 9);
	assert_int_equal(st.st_mtime, 42);
	meta_remove(&i.meta, "uid");
	assert_null(store_meta_get(&i.meta, "uid"));
	assert_non_null(store_meta_get(&i.meta, "gid"));
	store_info_release(&i);
}

static void test_parse_time(void **state)
{
	(void)state;
	struct timespec ts;
	assert_int_equal(meta_parse_time("0", &ts), 0);
	assert_int_equal(ts.tv_sec, 0);
	assert_int_equal(meta_parse_time("12.5", &ts), 0);
	assert_int_equal(ts.tv_nsec, 500000000);
	assert_int_equal(meta_parse_time("12.1234567891", &ts), 0);
	assert_int_equal(ts.tv_nsec, 123456789);
	assert_int_equal(meta_parse_time("-1.5", &ts), 0);
	assert_int_equal(ts.tv_sec, -2);
	assert_int_equal(ts.tv_nsec, 500000000);
	static const char *const bad[] = { "",	 "1.",	".5",  "1e9",
					   " 1", "1.x", "--1", "99999999999999999999999" };
	for (size_t k = 0; k < ARRAY_SIZE(bad); k++)
		assert_int_equal(meta_parse_time(bad[k], &ts), -EINVAL);
	char out[32];
	ts.tv_sec = 3;
	ts.tv_nsec = 40;
	meta_format_time(&ts, out);
	assert_string_equal(out, "3.000000040");
}

static void test_xattrs(void **state)
{
	(void)state;
	struct store_meta m = { 0 };
	char buf[64];
	size_t len = 0;

	assert_int_equal(meta_xattr_get(&m, "user.a", buf, sizeof(buf), &len), -ENODATA);
	assert_int_equal(meta_xattr_list(&m, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(meta_xattr_set(&m, "user.a", "hello", 5, 0), 0);
	assert_int_equal(meta_xattr_set(&m, "user.\"q\\", "\0\1\2", 3, XATTR_CREATE), 0);
	assert_int_equal(meta_xattr_set(&m, "user.a", "x", 1, XATTR_CREATE), -EEXIST);
	assert_int_equal(meta_xattr_set(&m, "user.none", "x", 1, XATTR_REPLACE), -ENODATA);
	assert_int_equal(meta_xattr_set(&m, "user.empty", "", 0, 0), 0);

	/* The header is plain ASCII. */
	const char *h = store_meta_get(&m, META_XATTR);
	assert_non_null(h);
	for (const char *p = h; *p; p++)
		assert_true(*p > ' ' && *p < 127 && *p != '"');

	assert_int_equal(meta_xattr_get(&m, "user.a", buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(meta_xattr_get(&m, "user.a", NULL, 0, &len), 0);
	assert_int_equal(len, 5);
	assert_int_equal(meta_xattr_get(&m, "user.a", buf, 2, &len), -ERANGE);
	assert_int_equal(meta_xattr_get(&m, "user.\"q\\", buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(buf, "\0\1\2", 3);
	assert_int_equal(meta_xattr_get(&m, "user.empty", buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 0);

	assert_int_equal(meta_xattr_list(&m, NULL, 0, &len), 0);
	assert_int_equal(len, strlen("user.a") + 1 + strlen("user.\"q\\") + 1 +
				      strlen("user.empty") + 1);
	assert_int_equal(meta_xattr_list(&m, buf, 3, &len), -ERANGE);
	assert_int_equal(meta_xattr_list(&m, buf, sizeof(buf), &len), 0);
	assert_string_equal(buf, "user.a");

	assert_int_equal(meta_xattr_set(&m, "user.a", "bye", 3, XATTR_REPLACE), 0);
	assert_int_equal(meta_xattr_get(&m, "user.a", buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, "bye", 3);

	assert_int_equal(meta_xattr_remove(&m, "user.a"), 0);
	assert_int_equal(meta_xattr_remove(&m, "user.a"), -ENODATA);
	assert_int_equal(meta_xattr_remove(&m, "user.\"q\\"), 0);
	assert_int_equal(meta_xattr_remove(&m, "user.empty"), 0);
	/* No attributes left: no header either. */
	assert_null(store_meta_get(&m, META_XATTR));

	char big[META_XATTR_VALUE_MAX + 1] = { 0 };
	assert_int_equal(meta_xattr_set(&m, "user.big", big, sizeof(big), 0), -E2BIG);
	store_meta_release(&m);
}

static void test_xattr_s3fs_format(void **state)
{
	(void)state;
	struct store_meta m = { 0 };
	char buf[32];
	size_t len;

	/* {"user.k":"dmFs"} percent-encoded as s3fs writes it. */
	assert_int_equal(store_meta_set(&m, META_XATTR, "%7B%22user.k%22%3A%22dmFs%22%7D"), 0);
	assert_int_equal(meta_xattr_get(&m, "user.k", buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(buf, "val", 3);

	/* Malformed headers are -EIO, not crashes. */
	static const char *const bad[] = { "%7B",
					   "%7B%22a%22%7D",
					   "%7B%22a%22%3A%22%%%22%7D",
					   "%ZZ",
					   "%7B%22a%22%3A%22dmFs%22%7Dx",
					   "[]",
					   "%7B%22a%22%3A%22dmF%22%7D" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(store_meta_set(&m, META_XATTR, bad[i]), 0);
		if (meta_xattr_get(&m, "a", buf, sizeof(buf), &len) != -EIO)
			fail_msg("accepted malformed xattr header '%s'", bad[i]);
	}
	store_meta_release(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_without_metadata),
		cmocka_unit_test(test_s3fs_headers),
		cmocka_unit_test(test_entry_and_dir_stat),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_xattrs),
		cmocka_unit_test(test_xattr_s3fs_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
