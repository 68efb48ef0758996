/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto: digests against known answers, base64/hex round trips, wiping. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "unit.h"
#include "crypto.h"
#include "log.h"
#include "util/buf.h"

static void test_sha256_md5(void **state)
{
	(void)state;
	uint8_t d[32];
	char hex[65];
	crypto_sha256("", 0, d);
	crypto_hex(d, 32, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	crypto_md5("abc", 3, d);
	crypto_hex(d, 16, hex);
	assert_string_equal(hex, "900150983cd24fb0d6963f7d28e17f72");

	struct crypto_digest *s = crypto_md5_new();
	assert_non_null(s);
	crypto_digest_update(s, "a", 1);
	crypto_digest_update(s, "bc", 2);
	assert_int_equal(crypto_digest_final(s, d), 16);
	crypto_digest_free(s);
	crypto_hex(d, 16, hex);
	assert_string_equal(hex, "900150983cd24fb0d6963f7d28e17f72");
}

static void test_hmac(void **state)
{
	(void)state;
	/* RFC 4231 test case 2 */
	uint8_t d[32];
	char hex[65];
	const char *data = "what do ya want for nothing?";
	crypto_hmac_sha256("Jefe", 4, data, strlen(data), d);
	crypto_hex(d, 32, hex);
	assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	/* RFC 2202 test case 2 */
	crypto_hmac_sha1("Jefe", 4, data, strlen(data), d);
	crypto_hex(d, 20, hex);
	assert_string_equal(hex, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
}

static void test_base64(void **state)
{
	(void)state;
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
					   "Zm9vYmFy" };
	for (size_t i = 0; i < ARRAY_SIZE(plain); i++) {
		char out[16];
		uint8_t back[16];
		size_t n = 0;
		crypto_base64((const uint8_t *)plain[i], strlen(plain[i]), out);
		assert_string_equal(out, enc[i]);
		assert_int_equal(crypto_unbase64(enc[i], back, sizeof(back), &n), 0);
		assert_int_equal(n, strlen(plain[i]));
		assert_memory_equal(back, plain[i], n);
	}
	uint8_t o[8];
	size_t n;
	assert_int_equal(crypto_unbase64("Zm9", o, sizeof(o), &n), -EINVAL);
	assert_int_equal(crypto_unbase64("Z=9v", o, sizeof(o), &n), -EINVAL);
	assert_int_equal(crypto_unbase64("Zm9v!A==", o, sizeof(o), &n), -EINVAL);
	assert_int_equal(crypto_unbase64("Zm9vYmFy", o, 5, &n), -E2BIG);
}

static void test_hex(void **state)
{
	(void)state;
	uint8_t out[4];
	assert_int_equal(crypto_unhex("00ff7Fa0", out, 4), 0);
	assert_int_equal(out[1], 0xff);
	assert_int_equal(out[2], 0x7f);
	assert_int_equal(crypto_unhex("00ff7Fa", out, 4), -EINVAL);
	assert_int_equal(crypto_unhex("00ff7Fag", out, 4), -EINVAL);
	assert_true(crypto_equal("abc", "abc", 3));
	assert_false(crypto_equal("abc", "abd", 3));
}

static void test_secret(void **state)
{
	(void)state;
	struct secret *s = secret_new("hunter2", 7);
	assert_non_null(s);
	assert_int_equal(s->len, 7);
	assert_string_equal(s->data, "hunter2");
	secret_free(s);
	secret_free(NULL);
}

static void test_buf_cap(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 8);
	assert_int_equal(buf_adds(&b, "1234"), 0);
	assert_int_equal(buf_addf(&b, "%d", 567), 0);
	assert_string_equal(buf_str(&b), "1234567");
	assert_int_equal(buf_adds(&b, "89"), -E2BIG);
	assert_int_equal(b.len, 0); /* failure releases */
	buf_release(&b);
}

static void test_redact(void **state)
{
	(void)state;
	char text[] = "PUT /k HTTP/1.1\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AK/x, "
		      "Signature=abc\r\nx-amz-server-side-encryption-customer-key: S3CRETKEY=\r\n"
		      "X-Amz-Copy-Source-Server-Side-Encryption-Customer-Key:S3CRETKEY2=\r\n"
		      "x-amz-server-side-encryption-customer-key-MD5: md5value\r\n"
		      "x-amz-security-token: TOKEN\r\n\r\n";
	log_redact_headers(text, strlen(text));
	assert_null(strstr(text, "S3CRETKEY"));
	assert_null(strstr(text, "Signature=abc"));
	assert_null(strstr(text, "TOKEN"));
	assert_non_null(strstr(text, "md5value"));
	assert_non_null(strstr(text, "PUT /k HTTP/1.1"));
	assert_true(log_is_secret_header("x-obs-server-side-encryption-customer-key", 41));
	assert_false(log_is_secret_header("x-amz-server-side-encryption", 28));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_md5), cmocka_unit_test(test_hmac),
		cmocka_unit_test(test_base64),     cmocka_unit_test(test_hex),
		cmocka_unit_test(test_secret),     cmocka_unit_test(test_buf_cap),
		cmocka_unit_test(test_redact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
