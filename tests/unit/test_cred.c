/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cred: each source (passwd file, environment, shared credentials file),
 * the order cred_load() tries them in, bucket lines, permission refusal,
 * malformed content and error messages that never show secrets.
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
#include "cred.h"

#define MAX_FILES 16

struct fixture {
	char dir[64]; /* relative to the build directory the test runs in */
	char abs[4096];
	char files[MAX_FILES][4200];
	int nfiles;
	char syspw[4200];
	struct cred_source src;
	char err[512];
	struct cred *c;
};

static struct fixture *fx;

static void clear_env(void)
{
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
}

static int setup(void **state)
{
	fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "cred-test-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	assert_non_null(realpath(fx->dir, fx->abs));
	char aws[4200];
	snprintf(aws, sizeof(aws), "%s/.aws", fx->abs);
	assert_int_equal(mkdir(aws, 0700), 0);
	setenv("HOME", fx->abs, 1);
	clear_env();
	snprintf(fx->syspw, sizeof(fx->syspw), "%s/etc-passwd-obsmount", fx->abs);
	fx->src.system_passwd_file = fx->syspw;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char aws[4200];
	for (int i = 0; i < fx->nfiles; i++)
		unlink(fx->files[i]);
	snprintf(aws, sizeof(aws), "%s/.aws", fx->abs);
	rmdir(aws);
	assert_int_equal(rmdir(fx->abs), 0);
	cred_free(fx->c);
	clear_env();
	free(fx);
	return 0;
}

/* Create @rel under the test HOME with @mode; returns its absolute path. */
static const char *put(const char *rel, const char *content, mode_t mode)
{
	char path[sizeof(fx->files[0])];
	char *p = NULL;
	snprintf(path, sizeof(path), "%s/%s", fx->abs, rel);
	for (int i = 0; i < fx->nfiles && !p; i++)
		if (strcmp(fx->files[i], path) == 0)
			p = fx->files[i];
	if (!p) {
		assert_true(fx->nfiles < MAX_FILES);
		p = fx->files[fx->nfiles++];
		memcpy(p, path, sizeof(path));
	}
	unlink(p);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	size_t n = strlen(content);
	assert_int_equal(write(fd, content, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return p;
}

static void drop(void)
{
	cred_free(fx->c);
	fx->c = NULL;
}

static void assert_cred(const char *ak, const char *sk, const char *tok)
{
	assert_non_null(fx->c);
	assert_string_equal(fx->c->access_key, ak);
	assert_int_equal(fx->c->secret_key->len, strlen(sk));
	assert_string_equal(fx->c->secret_key->data, sk);
	if (tok) {
		assert_non_null(fx->c->session_token);
		assert_string_equal(fx->c->session_token->data, tok);
	} else {
		assert_null(fx->c->session_token);
	}
	drop();
}

static int pw(const char *path, const char *bucket)
{
	fx->err[0] = '\0';
	return cred_from_passwd_file(path, bucket, &fx->c, fx->err, sizeof(fx->err));
}

static int load(const char *bucket)
{
	fx->err[0] = '\0';
	return cred_load(&fx->src, bucket, &fx->c, fx->err, sizeof(fx->err));
}

/* ---- passwd files ---------------------------------------------------------------- */

static void test_passwd_generic(void **state)
{
	(void)state;
	const char *p = put("pw", "AKGEN:SKGEN\n", 0600);
	assert_int_equal(pw(p, "b"), 0);
	assert_non_null(strstr(fx->c->origin, p));
	assert_cred("AKGEN", "SKGEN", NULL);
	assert_int_equal(pw(p, NULL), 0);
	assert_cred("AKGEN", "SKGEN", NULL);
	/* no trailing newline, read-only file */
	p = put("pw2", "AK2:SK/2+x=", 0400);
	assert_int_equal(pw(p, NULL), 0);
	assert_cred("AK2", "SK/2+x=", NULL);
}

static void test_passwd_bucket(void **state)
{
	(void)state;
	const char *p = put("pw", "other:AKO:SKO\nAKG:SKG\nmybucket:AKB:SKB\n", 0600);
	assert_int_equal(pw(p, "mybucket"), 0);
	assert_cred("AKB", "SKB", NULL);
	assert_int_equal(pw(p, "other"), 0);
	assert_cred("AKO", "SKO", NULL);
	assert_int_equal(pw(p, "nobucket"), 0);
	assert_cred("AKG", "SKG", NULL);
	assert_int_equal(pw(p, NULL), 0);
	assert_cred("AKG", "SKG", NULL);
	/* the bucket line wins wherever it is */
	p = put("pw2", "mybucket:AKB:SKB\nAKG:SKG\n", 0600);
	assert_int_equal(pw(p, "mybucket"), 0);
	assert_cred("AKB", "SKB", NULL);
	/* bucket names match exactly */
	assert_int_equal(pw(p, "mybucket2"), 0);
	assert_cred("AKG", "SKG", NULL);
	/* only lines for other buckets */
	p = put("pw3", "other:AKO:SKO\n", 0600);
	assert_int_equal(pw(p, "mybucket"), -ENOENT);
	assert_null(fx->c);
	assert_non_null(strstr(fx->err, "mybucket"));
}

static void test_passwd_format(void **state)
{
	(void)state;
	const char *p = put("pw", "# comment\n\n   \r\n\t# indented comment\n  AK : SK \r\n", 0600);
	assert_int_equal(pw(p, NULL), 0);
	assert_cred("AK", "SK", NULL);
	p = put("pw", "", 0600);
	assert_int_equal(pw(p, NULL), -ENOENT);
	p = put("pw", "# only a comment\n", 0600);
	assert_int_equal(pw(p, NULL), -ENOENT);
}

static void test_passwd_malformed(void **state)
{
	(void)state;
	static const struct {
		const char *content;
		const char *line;
	} bad[] = {
		{ "AK1:SeCrEt1\nSeCrEtNoColon\n", "line 2 " },
		{ "a:b:SeCrEt:d\n", "line 1 " },
		{ "# c\nAK:\n", "line 2 " },
		{ ":SeCrEt\n", "line 1 " },
		{ ":AK:SeCrEt\n", "line 1 " },
		{ "b:AK:\n", "line 1 " },
		{ "AK1:SeCrEt1\n\nAK2:SeCrEt2\n", "line 3 " },
		{ "b:AK1:SeCrEt1\nb:AK2:SeCrEt2\n", "line 2 " },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		const char *p = put("pw", bad[i].content, 0600);
		assert_int_equal(pw(p, "b"), -EINVAL);
		assert_null(fx->c);
		if (!strstr(fx->err, bad[i].line))
			print_error("case %zu: '%s'\n", i, fx->err);
		assert_non_null(strstr(fx->err, bad[i].line));
		assert_non_null(strstr(fx->err, p));
		/* never the content */
		assert_null(strstr(fx->err, "SeCrEt"));
	}
	/* an over-long line */
	char *big = malloc(CRED_LINE_MAX + 16);
	assert_non_null(big);
	memset(big, 'x', CRED_LINE_MAX + 10);
	big[0] = 'A';
	big[1] = ':';
	big[CRED_LINE_MAX + 10] = '\0';
	const char *p = put("pw", big, 0600);
	assert_int_equal(pw(p, NULL), -EINVAL);
	assert_non_null(strstr(fx->err, "line 1 "));
	free(big);
	/* a file over the size cap */
	big = malloc(CRED_FILE_MAX + 2);
	assert_non_null(big);
	for (size_t i = 0; i <= CRED_FILE_MAX; i++)
		big[i] = (i % 64 == 63) ? '\n' : '#';
	big[CRED_FILE_MAX + 1] = '\0';
	p = put("pw", big, 0600);
	assert_int_equal(pw(p, NULL), -E2BIG);
	free(big);
	/* exactly at the cap is fine */
	big = malloc(CRED_FILE_MAX + 1);
	assert_non_null(big);
	for (size_t i = 0; i < CRED_FILE_MAX; i++)
		big[i] = (i % 64 == 63) ? '\n' : '#';
	memcpy(big + CRED_FILE_MAX - 6, "\nA:S\n", 5);
	big[CRED_FILE_MAX - 1] = '\n';
	big[CRED_FILE_MAX] = '\0';
	p = put("pw", big, 0600);
	assert_int_equal(pw(p, NULL), 0);
	assert_cred("A", "S", NULL);
	free(big);
}

static void test_passwd_permissions(void **state)
{
	(void)state;
	static const mode_t modes[] = { 0644, 0640, 0604, 0660, 0601, 0610, 0666 };
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		const char *p = put("pw", "AK:SeCrEt\n", modes[i]);
		assert_int_equal(pw(p, NULL), -EACCES);
		assert_null(fx->c);
		assert_non_null(strstr(fx->err, p));
		assert_non_null(strstr(fx->err, "chmod 600"));
		assert_null(strstr(fx->err, "SeCrEt"));
	}
	/* missing, and not a regular file */
	char missing[4200];
	snprintf(missing, sizeof(missing), "%s/nope", fx->abs);
	assert_int_equal(pw(missing, NULL), -ENOENT);
	assert_non_null(strstr(fx->err, missing));
	assert_int_equal(pw(fx->abs, NULL), -EINVAL);
	assert_non_null(strstr(fx->err, "not a regular file"));
}

/* ---- environment ---------------------------------------------------------------- */

static void test_env(void **state)
{
	(void)state;
	fx->err[0] = '\0';
	assert_int_equal(cred_from_env(&fx->c, fx->err, sizeof(fx->err)), -ENOENT);
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	assert_int_equal(cred_from_env(&fx->c, fx->err, sizeof(fx->err)), -EINVAL);
	assert_non_null(strstr(fx->err, "AWS_SECRET_ACCESS_KEY"));
	assert_null(fx->c);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	assert_int_equal(cred_from_env(&fx->c, NULL, 0), 0);
	assert_string_equal(fx->c->origin, "environment");
	assert_cred("AKENV", "SKENV", NULL);
	setenv("AWS_SESSION_TOKEN", "TOKENV", 1);
	assert_int_equal(cred_from_env(&fx->c, NULL, 0), 0);
	assert_cred("AKENV", "SKENV", "TOKENV");
	setenv("AWS_SESSION_TOKEN", "", 1);
	assert_int_equal(cred_from_env(&fx->c, NULL, 0), 0);
	assert_cred("AKENV", "SKENV", NULL);
	unsetenv("AWS_ACCESS_KEY_ID");
	assert_int_equal(cred_from_env(&fx->c, fx->err, sizeof(fx->err)), -EINVAL);
	assert_non_null(strstr(fx->err, "AWS_ACCESS_KEY_ID"));
	assert_null(strstr(fx->err, "SKENV"));
}

/* ---- shared credentials file ------------------------------------------------------ */

static const char shared[] = "# AWS credentials\n"
			     "[default]\n"
			     "aws_access_key_id = AKDEF\n"
			     "aws_secret_access_key=SKDEF\n"
			     "\n"
			     "; another comment\n"
			     "[prod]\n"
			     "  AWS_ACCESS_KEY_ID =  AKPROD  \n"
			     "aws_secret_access_key = SK/PROD=\n"
			     "aws_session_token = TOKPROD\n"
			     "region = eu-west-1\n"
			     "[ profile dev ]\n"
			     "aws_access_key_id = AKDEV\n"
			     "aws_secret_access_key = SKDEV\n"
			     "[nosecret]\n"
			     "aws_access_key_id = AKNS\n"
			     "[noid]\n"
			     "aws_secret_access_key = SeCrEtNOID\n";

static int sh(const char *path, const char *profile)
{
	fx->err[0] = '\0';
	return cred_from_shared_file(path, profile, &fx->c, fx->err, sizeof(fx->err));
}

static void test_shared_file(void **state)
{
	(void)state;
	const char *p = put(".aws/credentials", shared, 0644);
	assert_int_equal(sh(p, NULL), 0);
	assert_non_null(strstr(fx->c->origin, "'default'"));
	assert_cred("AKDEF", "SKDEF", NULL);
	assert_int_equal(sh(p, "default"), 0);
	assert_cred("AKDEF", "SKDEF", NULL);
	assert_int_equal(sh(p, "prod"), 0);
	assert_cred("AKPROD", "SK/PROD=", "TOKPROD");
	assert_int_equal(sh(p, "dev"), 0);
	assert_cred("AKDEV", "SKDEV", NULL);
	assert_int_equal(sh(p, "missing"), -ENOENT);
	assert_non_null(strstr(fx->err, "'missing'"));
	assert_int_equal(sh(p, "nosecret"), -EINVAL);
	assert_non_null(strstr(fx->err, "aws_secret_access_key"));
	assert_int_equal(sh(p, "noid"), -EINVAL);
	assert_non_null(strstr(fx->err, "aws_access_key_id"));
	assert_null(strstr(fx->err, "SeCrEt"));
	/* profile names match whole */
	assert_int_equal(sh(p, "pro"), -ENOENT);

	p = put(".aws/bad", "[default]\naws_access_key_id AKX\n", 0600);
	assert_int_equal(sh(p, NULL), -EINVAL);
	assert_non_null(strstr(fx->err, "line 2 "));
	p = put(".aws/bad", "[default\naws_access_key_id = AKX\n", 0600);
	assert_int_equal(sh(p, NULL), -EINVAL);
	assert_non_null(strstr(fx->err, "line 1 "));
	char missing[4200];
	snprintf(missing, sizeof(missing), "%s/.aws/none", fx->abs);
	assert_int_equal(sh(missing, NULL), -ENOENT);
}

/* ---- the order cred_load() follows ------------------------------------------------ */

static void test_load_order(void **state)
{
	(void)state;
	/* nothing at all */
	assert_int_equal(load("b"), -ENOENT);
	assert_null(fx->c);
	assert_non_null(strstr(fx->err, "no credentials found"));

	/* 5: shared file, default profile, then AWS_PROFILE */
	put(".aws/credentials", shared, 0600);
	assert_int_equal(load("b"), 0);
	assert_cred("AKDEF", "SKDEF", NULL);
	setenv("AWS_PROFILE", "dev", 1);
	assert_int_equal(load("b"), 0);
	assert_cred("AKDEV", "SKDEV", NULL);
	unsetenv("AWS_PROFILE");

	/* 4b: the system passwd file beats the shared file */
	put("etc-passwd-obsmount", "AKSYS:SKSYS\n", 0600);
	assert_int_equal(load("b"), 0);
	assert_cred("AKSYS", "SKSYS", NULL);

	/* 4a: ~/.passwd-obsmount beats the system file */
	const char *home = put(CRED_HOME_PASSWD, "b:AKHOMEB:SKHOMEB\nAKHOME:SKHOME\n", 0600);
	assert_int_equal(load("b"), 0);
	assert_cred("AKHOMEB", "SKHOMEB", NULL);
	assert_int_equal(load("x"), 0);
	assert_cred("AKHOME", "SKHOME", NULL);

	/* 3: the environment beats the passwd files */
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	assert_int_equal(load("b"), 0);
	assert_cred("AKENV", "SKENV", NULL);

	/* 2: an explicit profile beats the environment */
	fx->src.profile = "prod";
	assert_int_equal(load("b"), 0);
	assert_cred("AKPROD", "SK/PROD=", "TOKPROD");

	/* 1: an explicit passwd file beats everything */
	const char *explicit = put("explicit", "AKEXP:SKEXP\n", 0600);
	fx->src.passwd_file = explicit;
	assert_int_equal(load("b"), 0);
	assert_cred("AKEXP", "SKEXP", NULL);

	/* explicit sources that fail do not fall through */
	char missing[4200];
	snprintf(missing, sizeof(missing), "%s/missing", fx->abs);
	fx->src.passwd_file = missing;
	assert_int_equal(load("b"), -ENOENT);
	assert_null(fx->c);
	assert_non_null(strstr(fx->err, missing));
	fx->src.passwd_file = NULL;
	fx->src.profile = "missing";
	assert_int_equal(load("b"), -ENOENT);
	assert_non_null(strstr(fx->err, "'missing'"));
	fx->src.profile = NULL;

	/* a broken implicit source stops the search too */
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	assert_int_equal(chmod(home, 0644), 0);
	assert_int_equal(load("b"), -EACCES);
	assert_non_null(strstr(fx->err, "chmod 600"));
	assert_int_equal(chmod(home, 0600), 0);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	assert_int_equal(load("b"), -EINVAL);
	unsetenv("AWS_SECRET_ACCESS_KEY");

	/* a passwd file without an entry for the bucket is skipped */
	put(CRED_HOME_PASSWD, "other:AKO:SKO\n", 0600);
	put("etc-passwd-obsmount", "other:AKO:SKO\n", 0600);
	assert_int_equal(load("b"), 0);
	assert_cred("AKDEF", "SKDEF", NULL);

	/* AWS_SHARED_CREDENTIALS_FILE moves the shared file */
	const char *alt = put("alt-credentials",
			      "[default]\naws_access_key_id=AKALT\n"
			      "aws_secret_access_key=SKALT\n",
			      0600);
	setenv("AWS_SHARED_CREDENTIALS_FILE", alt, 1);
	assert_int_equal(load("b"), 0);
	assert_cred("AKALT", "SKALT", NULL);

	/* without HOME the home-based sources are skipped */
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	unsetenv("HOME");
	assert_int_equal(load("b"), -ENOENT);
	setenv("HOME", fx->abs, 1);
	/* no source struct at all: defaults only (if this machine has no system file) */
	if (access(CRED_SYSTEM_PASSWD, F_OK) != 0) {
		assert_int_equal(cred_load(NULL, NULL, &fx->c, NULL, 0), 0);
		assert_cred("AKDEF", "SKDEF", NULL);
	}
}

static void test_new_clone_free(void **state)
{
	(void)state;
	struct cred *a = cred_new("AK", "S\0K", 3, "TOK", 3, NULL);
	assert_non_null(a);
	assert_int_equal(a->secret_key->len, 3);
	assert_memory_equal(a->secret_key->data, "S\0K", 3);
	assert_string_equal(a->origin, "");
	struct cred *b = cred_clone(a);
	assert_non_null(b);
	assert_ptr_not_equal(a->access_key, b->access_key);
	assert_ptr_not_equal(a->secret_key, b->secret_key);
	assert_string_equal(b->access_key, "AK");
	assert_int_equal(b->secret_key->len, 3);
	assert_memory_equal(b->secret_key->data, "S\0K", 3);
	assert_string_equal(b->session_token->data, "TOK");
	cred_free(a);
	cred_free(b);
	a = cred_new("AK", "SK", 2, NULL, 0, "here");
	assert_non_null(a);
	assert_null(a->session_token);
	b = cred_clone(a);
	assert_null(b->session_token);
	assert_string_equal(b->origin, "here");
	cred_free(a);
	cred_free(b);
	assert_null(cred_clone(NULL));
	cred_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_passwd_generic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_passwd_bucket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_passwd_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_passwd_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_passwd_permissions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_env, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_order, setup, teardown),
		cmocka_unit_test(test_new_clone_free),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
