/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto: digests against known answers, base64/hex round trips, wiping. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "unit.h"
#include "crypto.h"
#include "log.h"
#include "util/buf.h"
#include "util/crc32c.h"

static void test_sha256_md5(void **state)
{
	(void)state;
	uint8_t d[32];
	char hex[65];
	crypto_sha256("", 0, d);
	crypto_hex(d, 32, hex);
	assert_string_equal(hex,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
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
	assert_string_equal(hex,
			    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	/* RFC 2202 test case 2 */
	crypto_hmac_sha1("Jefe", 4, data, strlen(data), d);
	crypto_hex(d, 20, hex);
	assert_string_equal(hex, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
}

static void test_base64(void **state)
{
	(void)state;
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const enc[] = { "",	       "Zg==",	   "Zm8=",    "Zm9v",
					   "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
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

/* Does the kernel's VmFlags line for the mapping holding @addr have @flag? */
static bool vm_flag(const void *addr, const char *flag)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false, found = false;
	uintptr_t a = (uintptr_t)addr;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = a >= lo && a < hi;
			continue;
		}
		if (in && strncmp(line, "VmFlags:", 8) == 0) {
			char want[8];
			snprintf(want, sizeof(want), " %s", flag);
			for (char *p = strstr(line, want); p; p = strstr(p + 1, want))
				if (p[strlen(want)] == ' ' || p[strlen(want)] == '\n')
					found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

/*
 * Can this process lock a page (root, or a RLIMIT_MEMLOCK of some pages)?
 * Not under AddressSanitizer, whose mlock() does nothing and returns 0.
 */
static bool can_lock(void)
{
	struct rlimit rl;
#if defined(__SANITIZE_ADDRESS__)
	return false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	return false;
#endif
#endif
	return geteuid() == 0 ||
	       (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur >= 16 * 4096UL);
}

static void test_secret_pages(void **state)
{
	(void)state;
	struct secret *s = secret_new("hunter2", 7);
	struct secret *t = secret_new("sesame", 6);

	assert_non_null(s);
	assert_non_null(t);
	/* out of core dumps, whatever the limits */
	assert_true(vm_flag(s->data, "dd"));
	assert_true(vm_flag(t->data, "dd"));
	if (!can_lock()) {
		print_message("cannot lock pages here (RLIMIT_MEMLOCK or AddressSanitizer): lock "
			      "not checked\n");
	} else {
		assert_true(secret_is_locked(s));
		assert_true(vm_flag(s->data, "lo"));
		/* a forked child does not inherit the lock: secret_lock_all() */
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			int code = 0;
			if (vm_flag(s->data, "lo"))
				code = 1; /* the test's premise is wrong: say so */
			else if (secret_lock_all() != 0)
				code = 2;
			else if (!vm_flag(s->data, "lo") || !vm_flag(t->data, "lo") ||
				 !vm_flag(s->data, "dd"))
				code = 3;
			else if (strcmp(s->data, "hunter2") != 0)
				code = 4;
			_exit(code);
		}
		int st = 0;
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	secret_free(s);
	/* t still usable after another secret went away */
	assert_string_equal(t->data, "sesame");
	secret_free(t);
	assert_int_equal(secret_lock_all(), 0); /* nothing left to lock */
}

/* crypto_forbid_core_dumps(), read back by prctl, in a child (keeps us debuggable). */
static void test_forbid_core_dumps(void **state)
{
	(void)state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (prctl(PR_GET_DUMPABLE, 0L, 0L, 0L, 0L) != 1)
			_exit(1); /* the premise: dumpable before */
		if (crypto_forbid_core_dumps() != 0)
			_exit(2);
		if (prctl(PR_GET_DUMPABLE, 0L, 0L, 0L, 0L) != 0)
			_exit(3);
		/* and a child of ours (daemonizing) keeps it */
		pid_t g = fork();
		if (g == 0)
			_exit(prctl(PR_GET_DUMPABLE, 0L, 0L, 0L, 0L) == 0 ? 0 : 4);
		int gs = 0;
		if (g < 0 || waitpid(g, &gs, 0) != g || !WIFEXITED(gs))
			_exit(5);
		_exit(WEXITSTATUS(gs));
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
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

/* Known answers: the check value and RFC 3720 B.4's iSCSI vectors. */
static void test_crc32c_vectors(void **state)
{
	(void)state;
	unsigned char b[32];
	assert_int_equal(crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(crc32c_sw(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(crc32c(0, NULL, 0), 0);
	memset(b, 0, sizeof(b));
	assert_int_equal(crc32c(0, b, 32), 0x8A9136AAu);
	memset(b, 0xff, sizeof(b));
	assert_int_equal(crc32c(0, b, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		b[i] = (unsigned char)i;
	assert_int_equal(crc32c(0, b, 32), 0x46DD794Eu);
	assert_int_equal(crc32c_sw(0, b, 32), 0x46DD794Eu);
}

/* Both paths agree at every length and alignment, in one call or many. */
static void test_crc32c_paths(void **state)
{
	(void)state;
	enum { N = 3 * 4096 * 2 + 4099 }; /* whole rounds of the three lanes, and a tail */
	unsigned char *b = malloc(N + 8);
	uint32_t x = 12345;
	assert_non_null(b);
	for (size_t i = 0; i < N + 8; i++) {
		x = x * 1103515245u + 12345u;
		b[i] = (unsigned char)(x >> 16);
	}
	for (size_t off = 0; off < 8; off++) {
		for (size_t len = 0; len < 70; len++)
			assert_int_equal(crc32c(0, b + off, len), crc32c_sw(0, b + off, len));
		uint32_t whole = crc32c(0, b + off, N);
		assert_int_equal(whole, crc32c_sw(0, b + off, N));
		uint32_t run = 0;
		for (size_t a = 0; a < N; a += 1 + a % 97) {
			size_t n = 1 + a % 97 < N - a ? 1 + a % 97 : N - a;
			run = crc32c(run, b + off + a, n);
		}
		assert_int_equal(run, whole);
	}
	free(b);
}

/* crc(A || B) from crc(A), crc(B) and |B|, as for multipart objects. */
static void test_crc32c_combine(void **state)
{
	(void)state;
	const char *s = "The quick brown fox jumps over the lazy dog";
	size_t n = strlen(s);
	uint32_t whole = crc32c(0, s, n);
	for (size_t cut = 0; cut <= n; cut++) {
		uint32_t a = crc32c(0, s, cut), b = crc32c(0, s + cut, n - cut);
		assert_int_equal(crc32c_combine(a, b, n - cut), whole);
	}
	/* a long B: 3 MiB of zeros after "123456789" */
	size_t big = 3u << 20;
	char *z = calloc(1, big + 9);
	assert_non_null(z);
	memcpy(z, "123456789", 9);
	assert_int_equal(crc32c_combine(0xE3069283u, crc32c(0, z + 9, big), big),
			 crc32c(0, z, big + 9));
	free(z);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_md5),
		cmocka_unit_test(test_hmac),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_secret),
		cmocka_unit_test(test_buf_cap),
		cmocka_unit_test(test_redact),
		cmocka_unit_test(test_secret_pages),
		cmocka_unit_test(test_forbid_core_dumps),
		cmocka_unit_test(test_crc32c_vectors),
		cmocka_unit_test(test_crc32c_paths),
		cmocka_unit_test(test_crc32c_combine),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
