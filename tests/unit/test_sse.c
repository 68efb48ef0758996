/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sse: the sse= option, key file permissions and parsing (base64, hex,
 * wrong lengths, garbage, comments), rotation order, lookup by MD5, the
 * target/source choices. Run under valgrind for the wipe-on-free paths.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"
#include "crypto.h"
#include "sse.h"
#include "util/buf.h"

/* Known answers computed outside this code base. */
#define K1_B64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define K1_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define K1_MD5 "tP/LI3N87DFaSk0aoqYgzg=="
#define K2_B64 "//79/Pv6+fj39vX08/Lx8O/u7ezr6uno5+bl5OPi4eA="
#define K2_HEX "fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0efeeedecebeae9e8e7e6e5e4e3e2e1e0"
#define K2_MD5 "8mGEVWVJPxi8ww4KrJtseA=="

/* A key file in the current (build) directory, removed by the caller. */
struct keyfile {
	char path[64];
	char opt[80];
};

static void write_keyfile(struct keyfile *kf, const char *text, mode_t mode)
{
	int n = snprintf(kf->path, sizeof(kf->path), "test_sse.keys.XXXXXX");
	assert_true(n > 0 && (size_t)n < sizeof(kf->path));
	int fd = mkstemp(kf->path);
	assert_true(fd >= 0);
	size_t len = strlen(text);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
	n = snprintf(kf->opt, sizeof(kf->opt), "c:%s", kf->path);
	assert_true(n > 0 && (size_t)n < sizeof(kf->opt));
}

/* Parse @text as a 0600 key file; returns the errno and the message. */
static int parse_text(const char *text, struct sse_cfg **cfg, struct buf *err)
{
	struct keyfile kf;
	write_keyfile(&kf, text, 0600);
	buf_reset(err);
	int rc = sse_cfg_parse(kf.opt, cfg, err);
	unlink(kf.path);
	return rc;
}

static void md5_b64_of(const uint8_t *raw, size_t len, char out[CRYPTO_B64_LEN(CRYPTO_MD5_LEN)])
{
	uint8_t d[CRYPTO_MD5_LEN];
	crypto_md5(raw, len, d);
	crypto_base64(d, sizeof(d), out);
}

static void test_option(void **state)
{
	(void)state;
	struct sse_cfg *cfg = (void *)1;
	struct buf err;
	buf_init(&err, 4096);

	assert_int_equal(sse_cfg_parse(NULL, &cfg, &err), 0);
	assert_int_equal(sse_cfg_mode(cfg), STORE_SSE_NONE);
	sse_cfg_free(cfg);
	assert_int_equal(sse_cfg_parse("none", &cfg, &err), 0);
	assert_int_equal(sse_cfg_mode(cfg), STORE_SSE_NONE);
	assert_int_equal(sse_cfg_key_count(cfg), 0);
	sse_cfg_free(cfg);
	assert_int_equal(sse_cfg_parse("s3", &cfg, &err), 0);
	assert_int_equal(sse_cfg_mode(cfg), STORE_SSE_S3);
	sse_cfg_free(cfg);
	assert_int_equal(sse_cfg_parse("kms", &cfg, &err), 0);
	assert_int_equal(sse_cfg_mode(cfg), STORE_SSE_KMS);
	assert_null(sse_cfg_kms_key_id(cfg));
	sse_cfg_free(cfg);
	assert_int_equal(sse_cfg_parse("kms:arn:aws:kms:r:1:key/abc-123", &cfg, &err), 0);
	assert_int_equal(sse_cfg_mode(cfg), STORE_SSE_KMS);
	assert_string_equal(sse_cfg_kms_key_id(cfg), "arn:aws:kms:r:1:key/abc-123");
	sse_cfg_free(cfg);
	assert_string_equal(buf_str(&err), "");

	static const char *const bad[] = { "",	   "kms:", "kms:a b", "c:",	"C:x",
					   "KMS",  "s3:x", "nonee",   "aes256", "kms :x",
					   " kms", "c",	   "sse-c",   "kms:\tx" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		buf_reset(&err);
		cfg = (void *)1;
		assert_int_equal(sse_cfg_parse(bad[i], &cfg, &err), -EINVAL);
		assert_null(cfg);
		assert_true(strlen(buf_str(&err)) > 0);
		assert_non_null(strstr(buf_str(&err), "sse option"));
	}
	buf_reset(&err);
	assert_int_equal(sse_cfg_parse("aes256", &cfg, &err), -EINVAL);
	assert_non_null(strstr(buf_str(&err), "'aes256'"));
	assert_non_null(strstr(buf_str(&err), "c:KEYFILE"));

	/* A key pasted as the value is not echoed. */
	buf_reset(&err);
	assert_int_equal(sse_cfg_parse(K1_B64, &cfg, &err), -EINVAL);
	assert_null(strstr(buf_str(&err), "AAECAwQF"));
	assert_non_null(strstr(buf_str(&err), "c:KEYFILE"));

	buf_reset(&err);
	assert_int_equal(sse_cfg_parse("c:test_sse.no-such-file", &cfg, &err), -ENOENT);
	assert_null(cfg);
	assert_non_null(strstr(buf_str(&err), "test_sse.no-such-file"));

	/* No error buffer: still the right errno. */
	assert_int_equal(sse_cfg_parse("bogus", &cfg, NULL), -EINVAL);
	buf_release(&err);
}

static void test_permissions(void **state)
{
	(void)state;
	struct keyfile kf;
	struct sse_cfg *cfg = NULL;
	struct buf err;
	buf_init(&err, 4096);

	write_keyfile(&kf, K1_B64 "\n", 0644);
	assert_int_equal(sse_cfg_parse(kf.opt, &cfg, &err), -EACCES);
	assert_null(cfg);
	assert_non_null(strstr(buf_str(&err), "chmod 600"));
	assert_non_null(strstr(buf_str(&err), kf.path));
	assert_null(strstr(buf_str(&err), K1_B64));

	static const mode_t refused[] = { 0640, 0604, 0610, 0601, 0660, 0700 | 0004 };
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		assert_int_equal(chmod(kf.path, refused[i]), 0);
		buf_reset(&err);
		assert_int_equal(sse_cfg_parse(kf.opt, &cfg, &err), -EACCES);
	}

	static const mode_t accepted[] = { 0600, 0400, 0700 };
	for (size_t i = 0; i < ARRAY_SIZE(accepted); i++) {
		assert_int_equal(chmod(kf.path, accepted[i]), 0);
		buf_reset(&err);
		assert_int_equal(sse_cfg_parse(kf.opt, &cfg, &err), 0);
		assert_int_equal(sse_cfg_mode(cfg), STORE_SSE_C);
		assert_int_equal(sse_cfg_key_count(cfg), 1);
		if (i + 1 < ARRAY_SIZE(accepted))
			sse_cfg_free(cfg);
	}

	/* Another owner, on the real file: loading as a different uid refuses. */
	buf_reset(&err);
	assert_int_equal(sse_cfg_load_keys(cfg, kf.path, geteuid() + 1, &err), -EACCES);
	assert_non_null(strstr(buf_str(&err), "chown"));
	assert_int_equal(sse_cfg_key_count(cfg), 1);
	sse_cfg_free(cfg);
	unlink(kf.path);

	/* The stat check on its own. */
	struct stat st;
	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFREG | 0600;
	st.st_uid = 1000;
	assert_int_equal(sse_check_key_file_stat(&st, 1000, "k", NULL), 0);
	buf_reset(&err);
	assert_int_equal(sse_check_key_file_stat(&st, 1001, "k", &err), -EACCES);
	assert_non_null(strstr(buf_str(&err), "uid 1000"));
	assert_non_null(strstr(buf_str(&err), "uid 1001"));
	st.st_mode = S_IFREG | 0620;
	buf_reset(&err);
	assert_int_equal(sse_check_key_file_stat(&st, 1000, "k", &err), -EACCES);
	assert_non_null(strstr(buf_str(&err), "0620"));
	st.st_mode = S_IFDIR | 0700;
	assert_int_equal(sse_check_key_file_stat(&st, 1000, "k", NULL), -EINVAL);
	st.st_mode = S_IFIFO | 0600;
	assert_int_equal(sse_check_key_file_stat(&st, 1000, "k", NULL), -EINVAL);
	buf_release(&err);
}

static void test_formats_and_rotation(void **state)
{
	(void)state;
	struct sse_cfg *cfg = NULL;
	struct buf err;
	buf_init(&err, 4096);

	/* base64 current key, hex older key, comments, blanks, CRLF, indentation. */
	assert_int_equal(parse_text("# keys for the bucket\n"
				    "\n"
				    "   " K1_B64 "  \r\n"
				    "\t# previous key\n"
				    "  \t\n" K2_HEX "\n",
				    &cfg, &err),
			 0);
	assert_int_equal(sse_cfg_key_count(cfg), 2);
	const struct sse_key *k0 = sse_cfg_key(cfg, 0), *k1 = sse_cfg_key(cfg, 1);
	assert_non_null(k0);
	assert_non_null(k1);
	assert_null(sse_cfg_key(cfg, 2));
	assert_string_equal(k0->md5_b64, K1_MD5);
	assert_string_equal(k1->md5_b64, K2_MD5);
	assert_string_equal(k0->b64->data, K1_B64);
	assert_string_equal(k1->b64->data, K2_B64);
	assert_int_equal(k0->raw->len, 32);
	for (int i = 0; i < 32; i++) {
		assert_int_equal((uint8_t)k0->raw->data[i], i);
		assert_int_equal((uint8_t)k1->raw->data[i], 0xff - i);
	}
	/* MD5 recomputed independently from the raw bytes. */
	char md5[CRYPTO_B64_LEN(CRYPTO_MD5_LEN)];
	md5_b64_of((const uint8_t *)k1->raw->data, k1->raw->len, md5);
	assert_string_equal(md5, K2_MD5);

	assert_ptr_equal(sse_key_by_md5(cfg, K1_MD5), k0);
	assert_ptr_equal(sse_key_by_md5(cfg, K2_MD5), k1);
	assert_null(sse_key_by_md5(cfg, "AAAAAAAAAAAAAAAAAAAAAA=="));
	assert_null(sse_key_by_md5(cfg, ""));
	assert_null(sse_key_by_md5(cfg, NULL));
	sse_cfg_free(cfg);

	/* The order in the file is the order of the ring: swap them. */
	assert_int_equal(parse_text(K2_B64 "\n" K1_HEX, &cfg, &err), 0);
	assert_string_equal(sse_cfg_key(cfg, 0)->md5_b64, K2_MD5);
	assert_string_equal(sse_cfg_key(cfg, 1)->md5_b64, K1_MD5);
	sse_cfg_free(cfg);

	/* Upper-case hex is the same key. */
	assert_int_equal(parse_text("000102030405060708090A0B0C0D0E0F"
				    "101112131415161718191A1B1C1D1E1F\n",
				    &cfg, &err),
			 0);
	assert_string_equal(sse_cfg_key(cfg, 0)->md5_b64, K1_MD5);
	sse_cfg_free(cfg);

	/* Many keys, generated, each found by an independently computed MD5. */
	struct buf text;
	buf_init(&text, 1 << 16);
	uint8_t raws[SSE_KEYS_MAX][32];
	for (int k = 0; k < SSE_KEYS_MAX; k++) {
		char b64[CRYPTO_B64_LEN(32)];
		for (int i = 0; i < 32; i++)
			raws[k][i] = (uint8_t)(k * 37 + i * 11 + 5);
		crypto_base64(raws[k], 32, b64);
		assert_int_equal(buf_addf(&text, "%s\n", b64), 0);
	}
	assert_int_equal(parse_text(buf_str(&text), &cfg, &err), 0);
	assert_int_equal(sse_cfg_key_count(cfg), SSE_KEYS_MAX);
	for (int k = 0; k < SSE_KEYS_MAX; k++) {
		md5_b64_of(raws[k], 32, md5);
		assert_ptr_equal(sse_key_by_md5(cfg, md5), sse_cfg_key(cfg, (size_t)k));
		assert_memory_equal(sse_cfg_key(cfg, (size_t)k)->raw->data, raws[k], 32);
	}
	sse_cfg_free(cfg);

	/* One more is too many. */
	assert_int_equal(buf_adds(&text, K1_B64 "\n"), 0);
	assert_int_equal(parse_text(buf_str(&text), &cfg, &err), -EINVAL);
	assert_non_null(strstr(buf_str(&err), "line 65"));
	buf_release(&text);
	buf_release(&err);
}

static void test_bad_lines(void **state)
{
	(void)state;
	struct sse_cfg *cfg = (void *)1;
	struct buf err;
	buf_init(&err, 4096);

	static const char *const bad[] = {
		/* base64 of 31 and 33 bytes */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==",
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g",
		/* base64 without padding, with a bad character */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd*h8=",
		/* 62 and 66 hex digits, a non-hex digit */
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g",
		/* garbage, two keys on a line, a trailing comment */
		"hello world",
		K1_B64 " " K2_B64,
		K1_B64 " # current",
		"0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct buf text;
		buf_init(&text, 4096);
		/* A good key first, then the bad line as line 3. */
		assert_int_equal(buf_addf(&text, "%s\n# c\n%s\n", K2_B64, bad[i]), 0);
		cfg = (void *)1;
		assert_int_equal(parse_text(buf_str(&text), &cfg, &err), -EINVAL);
		assert_null(cfg);
		assert_non_null(strstr(buf_str(&err), "line 3"));
		/* Never any key material in the message. */
		assert_null(strstr(buf_str(&err), K2_B64));
		assert_null(strstr(buf_str(&err), bad[i]));
		assert_null(strstr(buf_str(&err), "AAECAwQF"));
		assert_null(strstr(buf_str(&err), "00010203"));
		buf_release(&text);
	}

	/* Duplicates, in either spelling. */
	assert_int_equal(parse_text(K1_B64 "\n" K1_HEX "\n", &cfg, &err), -EINVAL);
	assert_non_null(strstr(buf_str(&err), "line 2"));
	assert_non_null(strstr(buf_str(&err), "duplicate"));

	/* No key at all. */
	assert_int_equal(parse_text("", &cfg, &err), -EINVAL);
	assert_non_null(strstr(buf_str(&err), "no key"));
	assert_int_equal(parse_text("# nothing\n\n   \n", &cfg, &err), -EINVAL);

	/* An embedded NUL is garbage, not the end of the file. */
	struct sse_cfg *none = NULL;
	assert_int_equal(sse_cfg_parse("none", &none, NULL), 0);
	static const char nul[] = K1_B64 "\n\0" K2_B64 "\n";
	buf_reset(&err);
	assert_int_equal(sse_cfg_add_keys(none, nul, sizeof(nul) - 1, "mem", &err), -EINVAL);
	assert_non_null(strstr(buf_str(&err), "line 2"));
	assert_int_equal(sse_cfg_key_count(none), 0); /* unchanged on failure */
	/* Appending to a ring keeps the ring's order and refuses duplicates. */
	assert_int_equal(sse_cfg_add_keys(none, K1_B64, strlen(K1_B64), "mem", NULL), 0);
	assert_int_equal(sse_cfg_add_keys(none, K2_HEX, strlen(K2_HEX), "mem", NULL), 0);
	assert_int_equal(sse_cfg_key_count(none), 2);
	assert_string_equal(sse_cfg_key(none, 1)->md5_b64, K2_MD5);
	assert_int_equal(sse_cfg_add_keys(none, K2_B64, strlen(K2_B64), "mem", NULL), -EINVAL);
	assert_int_equal(sse_cfg_key_count(none), 2);
	sse_cfg_free(none);

	/* Too large a file. */
	char *big = malloc(SSE_KEY_FILE_MAX + 2);
	assert_non_null(big);
	memset(big, '#', SSE_KEY_FILE_MAX + 1);
	big[SSE_KEY_FILE_MAX + 1] = '\0';
	assert_int_equal(parse_text(big, &cfg, &err), -EINVAL);
	assert_non_null(strstr(buf_str(&err), "larger"));
	free(big);
	buf_release(&err);
}

static void test_choices(void **state)
{
	(void)state;
	struct sse_cfg *cfg = NULL;
	struct sse_choice c;
	struct store_enc enc;
	struct buf err;
	buf_init(&err, 4096);

	assert_int_equal(parse_text(K1_B64 "\n" K2_B64 "\n", &cfg, &err), 0);
	assert_int_equal(sse_target_choice(cfg, &c), 0);
	assert_int_equal(c.mode, STORE_SSE_C);
	assert_string_equal(c.key_b64, K1_B64);
	assert_string_equal(c.key_md5_b64, K1_MD5);
	assert_ptr_equal(c.key, sse_cfg_key(cfg, 0)->raw);
	assert_null(c.kms_key_id);
	assert_true(sse_choice_has_key(&c));

	/* An object written with the older key is read with the older key. */
	memset(&enc, 0, sizeof(enc));
	enc.mode = STORE_SSE_C;
	snprintf(enc.key_md5, sizeof(enc.key_md5), "%s", K2_MD5);
	assert_int_equal(sse_source_choice(cfg, &enc, &c), 0);
	assert_string_equal(c.key_b64, K2_B64);
	assert_string_equal(c.key_md5_b64, K2_MD5);
	/* A key not in the ring. */
	snprintf(enc.key_md5, sizeof(enc.key_md5), "%s", "AAAAAAAAAAAAAAAAAAAAAA==");
	assert_int_equal(sse_source_choice(cfg, &enc, &c), -ENOKEY);
	/* No MD5 reported: the current key. */
	enc.key_md5[0] = '\0';
	assert_int_equal(sse_source_choice(cfg, &enc, &c), 0);
	assert_string_equal(c.key_md5_b64, K1_MD5);
	/* Unknown encryption under an SSE-C mount: the current key. */
	assert_int_equal(sse_source_choice(cfg, NULL, &c), 0);
	assert_int_equal(c.mode, STORE_SSE_C);
	assert_string_equal(c.key_md5_b64, K1_MD5);
	/* Reading a KMS or plain object needs no key. */
	enc.mode = STORE_SSE_KMS;
	assert_int_equal(sse_source_choice(cfg, &enc, &c), 0);
	assert_int_equal(c.mode, STORE_SSE_KMS);
	assert_null(c.key);
	assert_false(sse_choice_has_key(&c));
	enc.mode = STORE_SSE_NONE;
	assert_int_equal(sse_source_choice(cfg, &enc, &c), 0);
	assert_int_equal(c.mode, STORE_SSE_NONE);
	assert_null(c.key_b64);
	sse_cfg_free(cfg);

	assert_int_equal(sse_cfg_parse("kms:key-1", &cfg, &err), 0);
	assert_int_equal(sse_target_choice(cfg, &c), 0);
	assert_int_equal(c.mode, STORE_SSE_KMS);
	assert_string_equal(c.kms_key_id, "key-1");
	assert_null(c.key);
	/* An SSE-C object cannot be read by a mount without keys. */
	enc.mode = STORE_SSE_C;
	snprintf(enc.key_md5, sizeof(enc.key_md5), "%s", K1_MD5);
	assert_int_equal(sse_source_choice(cfg, &enc, &c), -ENOKEY);
	enc.key_md5[0] = '\0';
	assert_int_equal(sse_source_choice(cfg, &enc, &c), -ENOKEY);
	enc.mode = STORE_SSE_UNKNOWN;
	assert_int_equal(sse_source_choice(cfg, &enc, &c), 0);
	assert_int_equal(c.mode, STORE_SSE_NONE);
	sse_cfg_free(cfg);

	assert_int_equal(sse_cfg_parse("s3", &cfg, &err), 0);
	assert_int_equal(sse_target_choice(cfg, &c), 0);
	assert_int_equal(c.mode, STORE_SSE_S3);
	assert_null(c.key);
	sse_cfg_free(cfg);
	assert_int_equal(sse_cfg_parse("none", &cfg, &err), 0);
	assert_int_equal(sse_target_choice(cfg, &c), 0);
	assert_int_equal(c.mode, STORE_SSE_NONE);
	sse_cfg_free(cfg);
	sse_cfg_free(NULL);
	buf_release(&err);
}

static void test_guard_enc(void **state)
{
	(void)state;
	assert_int_equal(sse_guard_enc(STORE_SSE_NONE), GUARD_ENC_NONE);
	assert_int_equal(sse_guard_enc(STORE_SSE_C), GUARD_ENC_C);
	assert_int_equal(sse_guard_enc(STORE_SSE_KMS), GUARD_ENC_KMS);
	assert_int_equal(sse_guard_enc(STORE_SSE_S3), GUARD_ENC_S3);
	assert_int_equal(sse_guard_enc(STORE_SSE_UNKNOWN), GUARD_ENC_UNKNOWN);
	assert_int_equal(sse_guard_enc((enum store_sse)99), GUARD_ENC_UNKNOWN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_option),
		cmocka_unit_test(test_permissions),
		cmocka_unit_test(test_formats_and_rotation),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_choices),
		cmocka_unit_test(test_guard_enc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
