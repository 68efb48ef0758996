/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store_s3's HEAD: the SSE-C ring tried in turn, then no key, against a
 * scripted server per flavour (Ceph RGW, AWS S3, MinIO). The request
 * layer is replaced with --wrap; no network.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"
#include "s3.h"
#include "sse.h"
#include "store_s3.h"
#include "util/buf.h"

#define K1_B64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define K1_MD5 "tP/LI3N87DFaSk0aoqYgzg=="
#define K2_B64 "//79/Pv6+fj39vX08/Lx8O/u7ezr6uno5+bl5OPi4eA="
#define K2_MD5 "8mGEVWVJPxi8ww4KrJtseA=="
#define FOREIGN_MD5 "AAAAAAAAAAAAAAAAAAAAAA=="

enum flavour { CEPH, AWS, MINIO };
enum obj { OBJ_PLAIN, OBJ_KMS, OBJ_C_K1, OBJ_C_K2, OBJ_C_FOREIGN };

/* The scripted server and what it saw. */
static struct {
	enum flavour fl;
	enum obj obj;
	char tried[8][32]; /* key MD5 presented per try, "" for none */
	size_t n;
} srv;

static struct s3_cfg test_cfg;

const struct s3_cfg *__wrap_s3_ctx_cfg(const struct s3_ctx *c);
int __wrap_s3_head_object(struct s3_ctx *c, const char *key, const struct sse_choice *sse,
			  const struct store_enc *known, struct store_info *out,
			  struct s3_status *st);
int __wrap_s3_head_object_probe(struct s3_ctx *c, const char *key, const struct sse_choice *sse,
				const struct store_enc *known, struct store_info *out,
				struct s3_status *st);

const struct s3_cfg *__wrap_s3_ctx_cfg(const struct s3_ctx *c)
{
	(void)c;
	return &test_cfg;
}

static const char *obj_md5(void)
{
	switch (srv.obj) {
	case OBJ_C_K1:
		return K1_MD5;
	case OBJ_C_K2:
		return K2_MD5;
	case OBJ_C_FOREIGN:
		return FOREIGN_MD5;
	default:
		return NULL;
	}
}

/* The status each flavour answers to a HEAD presenting @md5 (NULL: no key). */
static long answer(const char *md5)
{
	const char *want = obj_md5();
	if (want) {
		if (!md5)
			return 400; /* all: an SSE-C object needs its key */
		if (strcmp(md5, want) == 0)
			return 200;
		return srv.fl == CEPH ? 400 : 403; /* wrong key */
	}
	if (md5 && srv.fl != CEPH)
		return 400; /* AWS, MinIO: SSE-C headers for a plain or KMS object */
	return 200;
}

static int head(const struct sse_choice *sse, struct store_info *out, struct s3_status *st)
{
	const char *md5 = sse && sse->mode == STORE_SSE_C ? sse->key_md5_b64 : NULL;
	assert_true(srv.n < 8);
	snprintf(srv.tried[srv.n++], sizeof(srv.tried[0]), "%s", md5 ? md5 : "");
	long status = answer(md5);
	s3_status_init(st);
	if (s3_status_set(st, status, NULL, 0))
		return st->err;
	memset(out, 0, sizeof(*out));
	if (obj_md5()) {
		out->enc.mode = STORE_SSE_C;
		snprintf(out->enc.key_md5, sizeof(out->enc.key_md5), "%s", obj_md5());
	} else {
		out->enc.mode = srv.obj == OBJ_KMS ? STORE_SSE_KMS : STORE_SSE_NONE;
	}
	return 0;
}

int __wrap_s3_head_object(struct s3_ctx *c, const char *key, const struct sse_choice *sse,
			  const struct store_enc *known, struct store_info *out,
			  struct s3_status *st)
{
	(void)c, (void)key, (void)known;
	return head(sse, out, st);
}

int __wrap_s3_head_object_probe(struct s3_ctx *c, const char *key, const struct sse_choice *sse,
				const struct store_enc *known, struct store_info *out,
				struct s3_status *st)
{
	(void)c, (void)key, (void)known;
	return head(sse, out, st);
}

static struct sse_cfg *ring(void)
{
	char path[] = "test_store_s3.keys.XXXXXX";
	char opt[64];
	static const char text[] = K1_B64 "\n" K2_B64 "\n";
	struct sse_cfg *cfg = NULL;
	struct buf err;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
	assert_int_equal(fchmod(fd, 0600), 0);
	assert_int_equal(close(fd), 0);
	assert_true(snprintf(opt, sizeof(opt), "c:%s", path) < (int)sizeof(opt));
	buf_init(&err, 1024);
	assert_int_equal(sse_cfg_parse(opt, &cfg, &err), 0);
	buf_release(&err);
	unlink(path);
	return cfg;
}

struct head_case {
	enum flavour fl;
	enum obj obj;
	int rc;
	const char *tries[3]; /* MD5 per try in order, "" for none; NULL ends */
};

static const struct head_case ssec_cases[] = {
	/* the current key */
	{ CEPH, OBJ_C_K1, 0, { K1_MD5 } },
	{ AWS, OBJ_C_K1, 0, { K1_MD5 } },
	{ MINIO, OBJ_C_K1, 0, { K1_MD5 } },
	/* an older key of the ring: Ceph 400, AWS and MinIO 403 to the first */
	{ CEPH, OBJ_C_K2, 0, { K1_MD5, K2_MD5 } },
	{ AWS, OBJ_C_K2, 0, { K1_MD5, K2_MD5 } },
	{ MINIO, OBJ_C_K2, 0, { K1_MD5, K2_MD5 } },
	/* plain and SSE-KMS objects: Ceph ignores the key, AWS and MinIO say 400 */
	{ CEPH, OBJ_PLAIN, 0, { K1_MD5 } },
	{ AWS, OBJ_PLAIN, 0, { K1_MD5, K2_MD5, "" } },
	{ MINIO, OBJ_PLAIN, 0, { K1_MD5, K2_MD5, "" } },
	{ AWS, OBJ_KMS, 0, { K1_MD5, K2_MD5, "" } },
	{ MINIO, OBJ_KMS, 0, { K1_MD5, K2_MD5, "" } },
	/* a key not in the ring: every try refused, EACCES */
	{ CEPH, OBJ_C_FOREIGN, -EACCES, { K1_MD5, K2_MD5, "" } },
	{ AWS, OBJ_C_FOREIGN, -EACCES, { K1_MD5, K2_MD5, "" } },
	{ MINIO, OBJ_C_FOREIGN, -EACCES, { K1_MD5, K2_MD5, "" } },
};

static void run_case(struct store *s, const struct head_case *c, size_t i)
{
	struct store_info info;
	size_t want_n = 0;

	print_message("case %zu: flavour %d object %d\n", i, c->fl, c->obj);
	memset(&srv, 0, sizeof(srv));
	srv.fl = c->fl;
	srv.obj = c->obj;
	int rc = s->ops->head(s, "a/b", &info);
	assert_int_equal(rc, c->rc);
	if (!rc) {
		if (obj_md5())
			assert_string_equal(info.enc.key_md5, obj_md5());
		else
			assert_int_equal(info.enc.mode,
					 c->obj == OBJ_KMS ? STORE_SSE_KMS : STORE_SSE_NONE);
		store_info_release(&info);
	}
	while (want_n < 3 && c->tries[want_n])
		want_n++;
	assert_int_equal(srv.n, want_n);
	for (size_t k = 0; k < want_n; k++)
		assert_string_equal(srv.tried[k], c->tries[k]);
}

static void test_head_ssec_ring(void **state)
{
	(void)state;
	struct sse_cfg *cfg = ring();
	struct store *s = NULL;

	s3_cfg_defaults(&test_cfg);
	test_cfg.sse = cfg;
	assert_int_equal(store_s3_new((struct s3_ctx *)&test_cfg, &s), 0);
	for (size_t i = 0; i < sizeof(ssec_cases) / sizeof(ssec_cases[0]); i++)
		run_case(s, &ssec_cases[i], i);
	store_s3_free(s);
	sse_cfg_free(cfg);
}

static const struct head_case keyless_cases[] = {
	{ CEPH, OBJ_PLAIN, 0, { "" } },
	{ AWS, OBJ_KMS, 0, { "" } },
	/* an SSE-C object in a mount without keys: EACCES, whatever the flavour */
	{ CEPH, OBJ_C_K1, -EACCES, { "" } },
	{ AWS, OBJ_C_K1, -EACCES, { "" } },
	{ MINIO, OBJ_C_K1, -EACCES, { "" } },
};

static void test_head_keyless_mount(void **state)
{
	(void)state;
	struct store *s = NULL;

	s3_cfg_defaults(&test_cfg);
	test_cfg.sse = NULL;
	assert_int_equal(store_s3_new((struct s3_ctx *)&test_cfg, &s), 0);
	for (size_t i = 0; i < sizeof(keyless_cases) / sizeof(keyless_cases[0]); i++)
		run_case(s, &keyless_cases[i], i);
	store_s3_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_head_ssec_ring),
		cmocka_unit_test(test_head_keyless_mount),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
