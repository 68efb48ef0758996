/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * s3_req: key and query encoding, URL building for path and virtual
 * addressing, configuration checks, and the refusals s3_perform() makes
 * before touching the network (long keys, the protocol guard).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "http.h"
#include "log.h"
#include "s3.h"

static char *encode(const char *s, bool keep_slash)
{
	struct buf b;
	buf_init(&b, 1 << 16);
	assert_int_equal(s3_uri_encode(s, keep_slash, &b), 0);
	char *out = buf_detach(&b, NULL);
	assert_non_null(out);
	return out;
}

static void test_encode_key(void **state)
{
	(void)state;
	static const struct {
		const char *in, *slash, *noslash;
	} cases[] = {
		{ "plain/key.txt", "plain/key.txt", "plain%2Fkey.txt" },
		{ "a b", "a%20b", "a%20b" },
		{ "a+b=c&d", "a%2Bb%3Dc%26d", "a%2Bb%3Dc%26d" },
		{ "100%?#", "100%25%3F%23", "100%25%3F%23" },
		{ "-_.~", "-_.~", "-_.~" },
		{ "\xc3\xa9t\xc3\xa9", "%C3%A9t%C3%A9", "%C3%A9t%C3%A9" },
		{ "\x01\x7f\xff", "%01%7F%FF", "%01%7F%FF" },
		{ "//x//", "//x//", "%2F%2Fx%2F%2F" },
		{ "*'()!$,;:@[]", "%2A%27%28%29%21%24%2C%3B%3A%40%5B%5D",
		  "%2A%27%28%29%21%24%2C%3B%3A%40%5B%5D" },
		{ "", "", "" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *a = encode(cases[i].in, true);
		char *b = encode(cases[i].in, false);
		assert_string_equal(a, cases[i].slash);
		assert_string_equal(b, cases[i].noslash);
		free(a);
		free(b);
	}
}

static void test_encode_every_byte(void **state)
{
	(void)state;
	char in[2] = { 0, 0 };
	for (int ch = 1; ch < 256; ch++) {
		in[0] = (char)ch;
		char *e = encode(in, false);
		bool unreserved = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
				  (ch >= '0' && ch <= '9') || strchr("-_.~", ch);
		if (unreserved) {
			assert_int_equal(strlen(e), 1);
		} else {
			char want[4];
			snprintf(want, sizeof(want), "%%%02X", ch);
			assert_string_equal(e, want);
		}
		free(e);
	}
}

static void test_query(void **state)
{
	(void)state;
	struct s3_kv q[] = {
		{ "prefix", "a b/c+d" },	   { "list-type", "2" },       { "delete", NULL },
		{ "continuation-token", "x=y&z" }, { "encoding-type", "url" },
	};
	struct buf b;
	buf_init(&b, 4096);
	assert_int_equal(s3_build_query(q, ARRAY_SIZE(q), &b), 0);
	assert_string_equal(buf_str(&b), "continuation-token=x%3Dy%26z&delete&encoding-type=url&"
					 "list-type=2&prefix=a%20b%2Fc%2Bd");
	buf_release(&b);

	/* Same name: ordered by value. Empty value keeps its '='. */
	struct s3_kv q2[] = { { "b", "2" }, { "b", "1" }, { "a", "" } };
	buf_init(&b, 4096);
	assert_int_equal(s3_build_query(q2, ARRAY_SIZE(q2), &b), 0);
	assert_string_equal(buf_str(&b), "a=&b=1&b=2");
	buf_release(&b);

	buf_init(&b, 4096);
	assert_int_equal(s3_build_query(NULL, 0, &b), 0);
	assert_string_equal(buf_str(&b), "");
	buf_release(&b);
}

struct target {
	struct buf url, host, path, v2;
};

static int build(struct s3_ctx *c, bool https, const char *key, const char *query, struct target *t)
{
	buf_init(&t->url, 1 << 16);
	buf_init(&t->host, 1 << 16);
	buf_init(&t->path, 1 << 16);
	buf_init(&t->v2, 1 << 16);
	return s3_build_target(c, https, key, query, &t->url, &t->host, &t->path, &t->v2);
}

static void release(struct target *t)
{
	buf_release(&t->url);
	buf_release(&t->host);
	buf_release(&t->path);
	buf_release(&t->v2);
}

static struct s3_ctx *new_ctx(struct s3_cfg *cfg, const char *url, const char *https_url,
			      enum s3_addressing addr)
{
	struct s3_ctx *c = NULL;
	s3_cfg_defaults(cfg);
	cfg->bucket = "my-bucket";
	cfg->url = url;
	cfg->https_url = https_url;
	cfg->addressing = addr;
	assert_int_equal(s3_ctx_new(cfg, &c), 0);
	assert_non_null(c);
	return c;
}

static void test_path_style(void **state)
{
	(void)state;
	struct s3_cfg cfg;
	struct target t;
	struct s3_ctx *c =
		new_ctx(&cfg, "http://127.0.0.1:18080", "https://s3.example.com/", S3_ADDR_PATH);

	assert_int_equal(build(c, false, "dir/a b+c", "x=1", &t), 0);
	assert_string_equal(buf_str(&t.url), "http://127.0.0.1:18080/my-bucket/dir/a%20b%2Bc?x=1");
	assert_string_equal(buf_str(&t.host), "127.0.0.1:18080");
	assert_string_equal(buf_str(&t.path), "/my-bucket/dir/a%20b%2Bc");
	assert_string_equal(buf_str(&t.v2), "/my-bucket/dir/a%20b%2Bc");
	release(&t);

	assert_int_equal(build(c, true, NULL, "", &t), 0);
	assert_string_equal(buf_str(&t.url), "https://s3.example.com/my-bucket/");
	assert_string_equal(buf_str(&t.host), "s3.example.com");
	assert_string_equal(buf_str(&t.v2), "/my-bucket/");
	release(&t);
	s3_ctx_free(c);
}

static void test_virtual_style(void **state)
{
	(void)state;
	struct s3_cfg cfg;
	struct target t;
	struct s3_ctx *c = new_ctx(&cfg, "https://obs.example.com:8443", NULL, S3_ADDR_VIRTUAL);

	assert_int_equal(build(c, true, "k?#%", NULL, &t), 0);
	assert_string_equal(buf_str(&t.url), "https://my-bucket.obs.example.com:8443/k%3F%23%25");
	assert_string_equal(buf_str(&t.host), "my-bucket.obs.example.com:8443");
	assert_string_equal(buf_str(&t.path), "/k%3F%23%25");
	/* V2 signs the bucket in the resource whatever the addressing. */
	assert_string_equal(buf_str(&t.v2), "/my-bucket/k%3F%23%25");
	release(&t);

	assert_int_equal(build(c, true, NULL, "list-type=2", &t), 0);
	assert_string_equal(buf_str(&t.url), "https://my-bucket.obs.example.com:8443/?list-type=2");
	assert_string_equal(buf_str(&t.v2), "/my-bucket/");
	release(&t);

	/* An https url has no separate plain endpoint. */
	assert_int_equal(build(c, false, "k", NULL, &t), -EINVAL);
	release(&t);
	s3_ctx_free(c);
}

static void test_long_keys(void **state)
{
	(void)state;
	struct s3_cfg cfg;
	struct target t;
	struct s3_ctx *c = new_ctx(&cfg, "http://h", NULL, S3_ADDR_PATH);
	char key[S3_KEY_MAX + 4];

	memset(key, 'k', sizeof(key));
	key[S3_KEY_MAX] = '\0';
	assert_int_equal(build(c, false, key, NULL, &t), 0);
	assert_int_equal(t.path.len, strlen("/my-bucket/") + S3_KEY_MAX);
	release(&t);

	key[S3_KEY_MAX] = 'k';
	key[S3_KEY_MAX + 1] = '\0';
	assert_int_equal(build(c, false, key, NULL, &t), -ENAMETOOLONG);
	release(&t);

	/* s3_perform refuses it before any network I/O (the host does not exist). */
	struct s3_status st;
	struct store_info info;
	assert_int_equal(s3_head_object(c, key, NULL, NULL, &info, &st), -ENAMETOOLONG);
	assert_int_equal(st.err, -ENAMETOOLONG);
	assert_int_equal(st.http_status, 0);
	/* A 1024-byte key of multi-byte characters is measured in bytes. */
	for (size_t i = 0; i + 2 <= 1026; i += 2)
		memcpy(key + i, "\xc3\xa9", 2);
	key[1026] = '\0';
	assert_int_equal(s3_delete_object(c, key, &st), -ENAMETOOLONG);
	assert_int_equal(s3_delete_object(c, "", &st), -EINVAL);
	s3_ctx_free(c);
}

static void test_bad_config(void **state)
{
	(void)state;
	static const char *const bad_urls[] = {
		"127.0.0.1:80", "ftp://h", "http://", "http://h/path", "http://u@h", "http://h?x",
	};
	struct s3_cfg cfg;
	struct s3_ctx *c = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(bad_urls); i++) {
		s3_cfg_defaults(&cfg);
		cfg.bucket = "bucket";
		cfg.url = bad_urls[i];
		assert_int_equal(s3_ctx_new(&cfg, &c), -EINVAL);
		assert_null(c);
	}
	s3_cfg_defaults(&cfg);
	cfg.url = "http://h";
	cfg.bucket = "Upper_Case";
	assert_int_equal(s3_ctx_new(&cfg, &c), 0); /* legacy names work path-style */
	s3_ctx_free(c);
	cfg.addressing = S3_ADDR_VIRTUAL;
	assert_int_equal(s3_ctx_new(&cfg, &c), -EINVAL); /* not in a host name */
	cfg.addressing = S3_ADDR_PATH;
	cfg.bucket = "b/x";
	assert_int_equal(s3_ctx_new(&cfg, &c), -EINVAL);
	cfg.bucket = "bucket";
	cfg.sigv = 3;
	assert_int_equal(s3_ctx_new(&cfg, &c), -EINVAL);
	cfg.sigv = 2;
	cfg.https_url = "http://not-https";
	assert_int_equal(s3_ctx_new(&cfg, &c), -EINVAL);
}

static void test_guard_refusal_offline(void **state)
{
	(void)state;
	struct s3_cfg cfg;
	struct s3_ctx *c = NULL;
	/* Port 9 on loopback: nothing is sent if the guard refuses. */
	s3_cfg_defaults(&cfg);
	cfg.bucket = "my-bucket";
	cfg.url = "http://127.0.0.1:9";
	cfg.retries = 0;
	assert_int_equal(s3_ctx_new(&cfg, &c), 0);
	struct secret *k = secret_new("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 44);
	assert_non_null(k);
	struct sse_choice ssec = { .mode = STORE_SSE_C, .key_b64 = k->data, .key_md5_b64 = "x" };
	struct sse_choice kms = { .mode = STORE_SSE_KMS };
	struct s3_status st;

	/* SSE-C key material never crosses plain HTTP, and there is no HTTPS. */
	assert_int_equal(s3_put_object(c, "k", "x", 1, NULL, &ssec, NULL, &st), -EACCES);
	assert_int_equal(st.err, -EACCES);
	assert_int_equal(st.http_status, 0);
	/* SSE-KMS PutObject needs HTTPS and V4 (spec table 2). */
	assert_int_equal(s3_put_object(c, "k", "x", 1, NULL, &kms, NULL, &st), -EACCES);
	/* A copy with an SSE-C source key: HTTP allowed by table 3, not by our key rule. */
	assert_int_equal(s3_copy_object(c, "a", "b", NULL, NULL, &ssec, NULL, NULL, NULL, &st),
			 -EACCES);
	/* Not refused: a plain object over HTTP reaches the (closed) port. */
	assert_int_not_equal(s3_delete_object(c, "k", &st), -EACCES);
	assert_int_equal(st.http_status, 0);
	secret_free(k);
	s3_ctx_free(c);
}

static void test_op_names(void **state)
{
	(void)state;
	assert_string_equal(s3_op_name(S3_OP_PUT_OBJECT), "PutObject");
	assert_string_equal(s3_op_name(S3_OP_UPLOAD_PART_COPY), "UploadPartCopy");
	assert_string_equal(s3_op_name(S3_OP_COUNT), "?");
	for (int k = 0; k < S3_OP_COUNT; k++)
		assert_string_not_equal(s3_op_name((enum s3_op_kind)k), "?");
}

/* What a write's reply must report for each wanted encryption. */
static void test_enc_satisfies(void **state)
{
	(void)state;
	struct sse_choice c = { .mode = STORE_SSE_C, .key_md5_b64 = "md5A==" };
	struct sse_choice k = { .mode = STORE_SSE_KMS, .kms_key_id = "key-1" };
	struct sse_choice kd = { .mode = STORE_SSE_KMS };
	struct sse_choice s3 = { .mode = STORE_SSE_S3 };
	struct sse_choice none = { .mode = STORE_SSE_NONE };
	struct store_enc got_c = { .mode = STORE_SSE_C, .key_md5 = "md5A==" };
	struct store_enc got_c2 = { .mode = STORE_SSE_C, .key_md5 = "md5B==" };
	struct store_enc got_k = { .mode = STORE_SSE_KMS, .kms_key_id = "key-1" };
	struct store_enc got_k2 = { .mode = STORE_SSE_KMS, .kms_key_id = "key-2" };
	struct store_enc got_arn = { .mode = STORE_SSE_KMS,
				     .kms_key_id = "arn:aws:kms:eu-west-1:1:key/key-1" };
	struct store_enc got_arn_bad = { .mode = STORE_SSE_KMS, .kms_key_id = "arn:x:key/xkey-1" };
	struct store_enc got_s3 = { .mode = STORE_SSE_S3 };
	struct store_enc got_none = { .mode = STORE_SSE_NONE };

	assert_true(s3_enc_satisfies(&c, &got_c));
	assert_false(s3_enc_satisfies(&c, &got_c2));
	assert_false(s3_enc_satisfies(&c, &got_none));
	assert_false(s3_enc_satisfies(&c, &got_k));
	assert_true(s3_enc_satisfies(&k, &got_k));
	assert_true(s3_enc_satisfies(&k, &got_arn));
	assert_false(s3_enc_satisfies(&k, &got_arn_bad));
	assert_false(s3_enc_satisfies(&k, &got_k2));
	assert_false(s3_enc_satisfies(&k, &got_none));
	assert_false(s3_enc_satisfies(&k, &got_c));
	assert_true(s3_enc_satisfies(&kd, &got_k2));
	assert_true(s3_enc_satisfies(&s3, &got_s3));
	assert_false(s3_enc_satisfies(&s3, &got_none));
	assert_true(s3_enc_satisfies(&none, &got_none));
	assert_true(s3_enc_satisfies(NULL, &got_k));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_key),    cmocka_unit_test(test_encode_every_byte),
		cmocka_unit_test(test_query),	      cmocka_unit_test(test_path_style),
		cmocka_unit_test(test_virtual_style), cmocka_unit_test(test_long_keys),
		cmocka_unit_test(test_bad_config),    cmocka_unit_test(test_guard_refusal_offline),
		cmocka_unit_test(test_op_names),      cmocka_unit_test(test_enc_satisfies),
	};
	log_init(true, LOG_LVL_ERR, 0);
	if (http_global_init())
		return 1;
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	http_global_cleanup();
	return rc;
}
