/* SPDX-License-Identifier: GPL-2.0-or-later */
/* opt: every option parsed, bad values all reported, fstab noise dropped. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "unit.h"
#include "opt.h"

struct parsed {
	struct fuse_args args;
	struct mount_cfg cfg;
	struct buf problems;
	char **orig; /* the argv handed to the parser, freed by done() */
	int orig_n;
	int parse_rc;
	int validate_rc;
};

/* Parse a NULL-terminated argv (argv[0] excluded) and validate it. */
static void run(struct parsed *p, const char *const *argv)
{
	int argc = 1;

	memset(p, 0, sizeof(*p));
	while (argv[argc - 1])
		argc++;
	char **v = calloc((size_t)argc + 1, sizeof(*v));
	assert_non_null(v);
	v[0] = strdup("obsmount");
	for (int i = 1; i < argc; i++)
		v[i] = strdup(argv[i - 1]);
	/* fuse_opt_parse() replaces args by an allocated copy (strings strdup'ed). */
	struct fuse_args a = FUSE_ARGS_INIT(argc, v);
	p->args = a;
	p->orig = v;
	p->orig_n = argc;
	buf_init(&p->problems, 64 * 1024);
	p->parse_rc = opt_parse(&p->args, &p->cfg);
	if (p->parse_rc == 0)
		p->validate_rc = opt_validate(&p->cfg, &p->problems);
}

static void done(struct parsed *p)
{
	if (p->args.allocated)
		fuse_opt_free_args(&p->args);
	for (int i = 0; i < p->orig_n; i++)
		free(p->orig[i]);
	free(p->orig);
	opt_release(&p->cfg);
	buf_release(&p->problems);
}

static bool args_have(const struct parsed *p, const char *s)
{
	for (int i = 0; i < p->args.argc; i++) {
		if (strstr(p->args.argv[i], s))
			return true;
	}
	return false;
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_defaults(void **state)
{
	(void)state;
	struct parsed p;
	const char *argv[] = { "bkt", "/mnt/x", NULL };
	run(&p, argv);
	assert_int_equal(p.parse_rc, 0);
	assert_int_equal(p.validate_rc, 0);
	assert_string_equal(p.cfg.bucket, "bkt");
	assert_string_equal(p.cfg.prefix, "");
	assert_string_equal(p.cfg.mountpoint, "/mnt/x");
	assert_string_equal(p.cfg.url, OPT_DEFAULT_URL);
	assert_string_equal(p.cfg.region, OPT_DEFAULT_REGION);
	assert_null(p.cfg.https_url);
	assert_int_equal(p.cfg.sigv, 4);
	assert_int_equal(p.cfg.addressing, OPT_ADDR_PATH);
	assert_false(p.cfg.has_uid);
	assert_false(p.cfg.has_gid);
	assert_false(p.cfg.has_umask);
	assert_int_equal(p.cfg.stat_ttl, OPT_DEFAULT_STAT_TTL);
	assert_int_equal(p.cfg.dir_ttl, OPT_DEFAULT_DIR_TTL);
	assert_int_equal(p.cfg.part_size, OPT_DEFAULT_PART_SIZE * 1024 * 1024);
	assert_int_equal(p.cfg.parallel, OPT_DEFAULT_PARALLEL);
	assert_int_equal(p.cfg.retries, OPT_DEFAULT_RETRIES);
	assert_int_equal(p.cfg.timeout, OPT_DEFAULT_TIMEOUT);
	assert_int_equal(p.cfg.log_level, LOG_LVL_WARN);
	assert_int_equal(p.cfg.dbg, 0);
	assert_null(p.cfg.sse);
	assert_false(p.cfg.guard_strict);
	assert_int_equal(p.cfg.ro, 0);
	assert_int_equal(p.cfg.allow_other, 0);
	/* The mountpoint stays for libfuse. */
	assert_true(args_have(&p, "/mnt/x"));
	assert_false(args_have(&p, "bkt"));
	done(&p);
}

static void test_every_option(void **state)
{
	(void)state;
	struct parsed p;
	const char *argv[] = { "my-bucket:/some//dir/",
			       "/mnt/y",
			       "-f",
			       "-o",
			       "url=http://127.0.0.1:18080/,https_url=https://127.0.0.1:18443",
			       "-o",
			       "region=eu-west-1,sigv=2,addressing=virtual",
			       "-o",
			       "passwd_file=/etc/pw,profile=work,cafile=/dev/null",
			       "-o",
			       "uid=1000,gid=2000,umask=027,ro,allow_other",
			       "-o",
			       "stat_ttl=0,dir_ttl=7,part_size=5,parallel=3,cache_dir=/tmp",
			       "-o",
			       "retries=0,timeout=9,log_level=debug,dbg=http:guard",
			       "-o",
			       "sse=kms:key-1,guard=strict",
			       NULL };
	run(&p, argv);
	assert_int_equal(p.parse_rc, 0);
	/* "some//dir" has an empty component: the only problem. */
	assert_int_equal(p.validate_rc, -EINVAL);
	assert_int_equal(count_lines(buf_str(&p.problems)), 1);
	assert_non_null(strstr(buf_str(&p.problems), "prefix"));
	assert_string_equal(p.cfg.bucket, "my-bucket");
	assert_string_equal(p.cfg.url, "http://127.0.0.1:18080");
	assert_string_equal(p.cfg.https_url, "https://127.0.0.1:18443");
	assert_string_equal(p.cfg.region, "eu-west-1");
	assert_int_equal(p.cfg.sigv, 2);
	assert_int_equal(p.cfg.addressing, OPT_ADDR_VIRTUAL);
	assert_string_equal(p.cfg.passwd_file, "/etc/pw");
	assert_string_equal(p.cfg.profile, "work");
	assert_string_equal(p.cfg.cafile, "/dev/null");
	assert_true(p.cfg.has_uid);
	assert_int_equal(p.cfg.uid, 1000);
	assert_true(p.cfg.has_gid);
	assert_int_equal(p.cfg.gid, 2000);
	assert_true(p.cfg.has_umask);
	assert_int_equal(p.cfg.umask, 027);
	assert_int_equal(p.cfg.ro, 1);
	assert_int_equal(p.cfg.allow_other, 1);
	assert_int_equal(p.cfg.stat_ttl, 0);
	assert_int_equal(p.cfg.dir_ttl, 7);
	assert_int_equal(p.cfg.part_size, 5 * 1024 * 1024);
	assert_int_equal(p.cfg.parallel, 3);
	assert_string_equal(p.cfg.cache_dir, "/tmp");
	assert_int_equal(p.cfg.retries, 0);
	assert_int_equal(p.cfg.timeout, 9);
	assert_int_equal(p.cfg.log_level, LOG_LVL_DEBUG);
	assert_int_equal(p.cfg.dbg, LOG_CAT_HTTP | LOG_CAT_GUARD);
	assert_string_equal(p.cfg.sse, "kms:key-1");
	assert_true(p.cfg.guard_strict);
	/* ro and allow_other are also libfuse's; -f is libfuse's alone. */
	assert_true(args_have(&p, "ro"));
	assert_true(args_have(&p, "allow_other"));
	assert_true(args_have(&p, "-f"));
	assert_false(args_have(&p, "url="));
	assert_false(args_have(&p, "umask"));
	assert_false(args_have(&p, "dbg"));
	done(&p);
}

/* allow_other implies default_permissions unless the admin opts out. */
static void test_default_permissions(void **state)
{
	static const struct {
		const char *opts;
		bool added, unchecked;
	} cases[] = {
		{ "allow_other", true, false },
		{ "allow_other,no_default_permissions", false, true },
		{ "allow_other,default_permissions", false, false },
		{ "ro", false, false },
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct parsed p;
		const char *argv[] = { "bkt", "/mnt/x", "-o", cases[i].opts, NULL };
		run(&p, argv);
		assert_int_equal(p.validate_rc, 0);
		bool given = args_have(&p, "default_permissions");
		assert_int_equal(opt_add_fuse_args(&p.cfg, &p.args), 0);
		/* given and kept for libfuse, or added, or neither */
		assert_int_equal(args_have(&p, "default_permissions"), cases[i].added || given);
		assert_int_equal(given, strstr(cases[i].opts, ",default_permissions") != NULL);
		assert_false(args_have(&p, "no_default_permissions"));
		assert_int_equal(opt_is_unchecked_shared(&p.cfg), cases[i].unchecked);
		done(&p);
	}
	struct parsed p;
	const char *argv[] = { "bkt", "/mnt/x", "-o",
			       "allow_other,default_permissions,no_default_permissions", NULL };
	run(&p, argv);
	assert_int_equal(p.validate_rc, -EINVAL);
	assert_non_null(strstr(buf_str(&p.problems), "contradict"));
	done(&p);
}

/* https_url= beside an https:// url= is refused with its reason. */
static void test_https_url_needs_plain_url(void **state)
{
	struct parsed p;
	const char *bad[] = { "bkt", "/mnt/x", "-o", "url=https://h:1,https_url=https://h:2", NULL };
	const char *good[] = { "bkt", "/mnt/x", "-o", "url=http://h:1,https_url=https://h:2", NULL };

	(void)state;
	run(&p, bad);
	assert_int_equal(p.validate_rc, -EINVAL);
	assert_non_null(strstr(buf_str(&p.problems), "leave https_url= out"));
	done(&p);
	run(&p, good);
	assert_int_equal(p.validate_rc, 0);
	done(&p);
}

static void test_prefix_forms(void **state)
{
	(void)state;
	static const char *const in[] = { "bkt:/a/b", "bkt:a/b/", "bkt:/", "bkt:", "bkt:/x" };
	static const char *const want[] = { "a/b/", "a/b/", "", "", "x/" };
	for (size_t i = 0; i < ARRAY_SIZE(in); i++) {
		struct parsed p;
		const char *argv[] = { in[i], "/mnt", NULL };
		run(&p, argv);
		assert_int_equal(p.validate_rc, 0);
		assert_string_equal(p.cfg.bucket, "bkt");
		assert_string_equal(p.cfg.prefix, want[i]);
		done(&p);
	}
	static const char *const bad[] = { "bkt:/a/../c", "bkt:/./a", "bkt:/a//c" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct parsed p;
		const char *argv[] = { bad[i], "/mnt", NULL };
		run(&p, argv);
		assert_int_equal(p.validate_rc, -EINVAL);
		done(&p);
	}
}

static void test_all_problems_reported(void **state)
{
	(void)state;
	struct parsed p;
	const char *argv[] = { "bad/bucket",
			       "/mnt",
			       "extra",
			       "-o",
			       "url=ftp://x,https_url=http://h,sigv=3,addressing=sideways",
			       "-o",
			       "uid=-1,gid=abc,umask=0999,stat_ttl=1e3,dir_ttl=",
			       "-o",
			       "part_size=0,parallel=65,retries=21,timeout=0",
			       "-o",
			       "log_level=loud,dbg=http:nosuch,cache_dir=/nonexistent/dir",
			       "-o",
			       "cafile=/nonexistent/ca.pem,guard=loose,sse=c",
			       NULL };
	run(&p, argv);
	assert_int_equal(p.parse_rc, 0);
	assert_int_equal(p.validate_rc, -EINVAL);
	const char *out = buf_str(&p.problems);
	static const char *const names[] = {
		"bucket",   "too many", "url",	   "https_url", "sigv",	   "addressing",
		"uid",	    "gid",	"umask",   "stat_ttl",	"dir_ttl", "part_size",
		"parallel", "retries",	"timeout", "log_level", "dbg",	   "cache_dir",
		"cafile",   "guard",	"sse",
	};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (!strstr(out, names[i]))
			fail_msg("no problem reported for '%s' in:\n%s", names[i], out);
	}
	assert_int_equal(count_lines(out), (int)ARRAY_SIZE(names));
	/* One problem per line, lowercase first word, no trailing full stop. */
	for (const char *l = out; *l;) {
		const char *nl = strchr(l, '\n');
		assert_non_null(nl);
		assert_true(l[0] >= 'a' && l[0] <= 'z');
		assert_true(nl[-1] != '.');
		l = nl + 1;
	}
	done(&p);
}

static void test_missing_positionals(void **state)
{
	(void)state;
	struct parsed p;
	const char *argv[] = { "-o", "ro", NULL };
	run(&p, argv);
	assert_int_equal(p.validate_rc, -EINVAL);
	assert_non_null(strstr(buf_str(&p.problems), "missing BUCKET"));
	assert_non_null(strstr(buf_str(&p.problems), "missing MOUNTPOINT"));
	done(&p);
}

static void test_virtual_needs_dns_name(void **state)
{
	(void)state;
	struct parsed p;
	const char *argv[] = { "Legacy_Bucket", "/mnt", "-o", "addressing=virtual", NULL };
	run(&p, argv);
	assert_int_equal(p.validate_rc, -EINVAL);
	assert_non_null(strstr(buf_str(&p.problems), "DNS"));
	done(&p);

	const char *argv2[] = { "Legacy_Bucket", "/mnt", "-o", "addressing=path", NULL };
	run(&p, argv2);
	assert_int_equal(p.validate_rc, 0);
	done(&p);

	assert_true(opt_is_dns_bucket("abc.def-1"));
	assert_false(opt_is_dns_bucket("ab"));
	assert_false(opt_is_dns_bucket("a..b"));
	assert_false(opt_is_dns_bucket("-ab"));
	assert_false(opt_is_dns_bucket("abC"));
}

static void test_encryption_rules(void **state)
{
	(void)state;
	struct parsed p;
	/* SSE-C over a plain HTTP endpoint only: refused, key path not echoed. */
	const char *argv[] = { "bkt", "/mnt", "-o", "url=http://h:1,sse=c:/secret/keys", NULL };
	run(&p, argv);
	assert_int_equal(p.validate_rc, -EINVAL);
	assert_non_null(strstr(buf_str(&p.problems), "HTTPS"));
	assert_null(strstr(buf_str(&p.problems), "/secret/keys"));
	done(&p);
	/* With an HTTPS endpoint beside it: fine. */
	const char *argv2[] = { "bkt",  "/mnt",
				"-o", "url=http://h:1,https_url=https://h:2",
				"-o", "sse=c:/k,guard=upgrade",
				NULL };
	run(&p, argv2);
	assert_int_equal(p.validate_rc, 0);
	assert_false(p.cfg.guard_strict);
	done(&p);
	/* A pasted key is not echoed back. */
	const char *argv3[] = { "bkt", "/mnt", "-o", "sse=AAAAsecretBBBB", NULL };
	run(&p, argv3);
	assert_int_equal(p.validate_rc, -EINVAL);
	assert_null(strstr(buf_str(&p.problems), "AAAAsecretBBBB"));
	done(&p);
	static const char *const ok[] = { "sse=none", "sse=s3", "sse=kms", "sse=kms:k" };
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		const char *a[] = { "bkt", "/mnt", "-o", ok[i], NULL };
		run(&p, a);
		assert_int_equal(p.validate_rc, 0);
		done(&p);
	}
}

static void test_fstab_noise(void **state)
{
	(void)state;
	struct parsed p;
	const char *argv[] = { "bkt",  "/mnt",
			       "-o", "auto,noauto,user,nouser,users,nofail,_netdev,defaults",
			       "-o", "x-systemd.automount,x-systemd.requires=network-online.target",
			       "-o", "comment=x-gvfs-hide,default_permissions",
			       NULL };
	run(&p, argv);
	assert_int_equal(p.parse_rc, 0);
	assert_int_equal(p.validate_rc, 0);
	static const char *const gone[] = { "auto",	"user",	     "nofail", "_netdev",
					    "defaults", "x-systemd", "comment" };
	for (size_t i = 0; i < ARRAY_SIZE(gone); i++) {
		if (args_have(&p, gone[i]))
			fail_msg("'%s' was passed on to libfuse", gone[i]);
	}
	/* Unknown options are libfuse's to judge. */
	assert_true(args_have(&p, "default_permissions"));
	done(&p);
}

/* Is @opt one of the comma-separated -o options left for libfuse? */
static bool args_have_opt(const struct parsed *p, const char *opt)
{
	size_t n = strlen(opt);

	for (int i = 1; i < p->args.argc; i++) {
		const char *s = p->args.argv[i];
		if (strncmp(s, "-o", 2) == 0)
			s += 2;
		while (*s) {
			size_t k = strcspn(s, ",");
			if (k == n && strncmp(s, opt, n) == 0)
				return true;
			s += k + (s[k] == ',');
		}
	}
	return false;
}

/* Each word alone, as mount(8) and systemd pass them: accepted, dropped. */
static void test_fstab_each_word(void **state)
{
	static const char *const words[] = {
		"auto",
		"noauto",
		"user",
		"nouser",
		"users",
		"nofail",
		"_netdev",
		"defaults",
		"x-systemd.automount",
		"x-systemd.requires=network-online.target",
		"x-systemd.mount-timeout=30",
		"x-systemd.idle-timeout=1min",
		"comment=systemd.automount",
	};
	struct parsed p;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
		const char *argv[] = { "bkt", "/mnt", "-o", words[i], NULL };
		run(&p, argv);
		if (p.parse_rc != 0 || p.validate_rc != 0)
			fail_msg("'%s' refused: %s", words[i], buf_str(&p.problems));
		if (args_have_opt(&p, words[i]))
			fail_msg("'%s' was passed on to libfuse", words[i]);
		assert_int_equal(p.cfg.ro, 0);
		done(&p);
	}
	/* rw (mount(8) adds it) is the kernel's: kept for libfuse, which takes it. */
	const char *argv[] = { "bkt", "/mnt", "-o", "rw,_netdev", NULL };
	run(&p, argv);
	assert_int_equal(p.validate_rc, 0);
	assert_true(args_have_opt(&p, "rw"));
	assert_false(args_have_opt(&p, "_netdev"));
	assert_int_equal(p.cfg.ro, 0);
	done(&p);
}

static void test_log_file(void **state)
{
	struct parsed p;

	(void)state;
	const char *argv[] = { "bkt", "/mnt", "-o", "log_file=/var/log/obsmount.log", NULL };
	run(&p, argv);
	assert_int_equal(p.validate_rc, 0);
	assert_string_equal(p.cfg.log_file, "/var/log/obsmount.log");
	assert_false(args_have(&p, "log_file"));
	done(&p);
	/* The daemon runs in '/': a relative path would move. */
	const char *argv2[] = { "bkt", "/mnt", "-o", "log_file=obsmount.log", NULL };
	run(&p, argv2);
	assert_int_equal(p.validate_rc, -EINVAL);
	assert_non_null(strstr(buf_str(&p.problems), "invalid log_file 'obsmount.log'"));
	done(&p);
	const char *argv3[] = { "bkt", "/mnt", NULL };
	run(&p, argv3);
	assert_null(p.cfg.log_file);
	done(&p);
}

static void test_numbers_edges(void **state)
{
	(void)state;
	struct parsed p;
	const char *argv[] = { "bkt", "/mnt", "-o",
			       "part_size=5120,parallel=1,stat_ttl=604800,umask=0777,uid=0", NULL };
	run(&p, argv);
	assert_int_equal(p.validate_rc, 0);
	assert_int_equal(p.cfg.part_size, (size_t)5120 * 1024 * 1024);
	assert_int_equal(p.cfg.parallel, 1);
	assert_int_equal(p.cfg.stat_ttl, 604800);
	assert_int_equal(p.cfg.umask, 0777);
	assert_true(p.cfg.has_uid);
	assert_int_equal(p.cfg.uid, 0);
	done(&p);

	const char *argv2[] = { "bkt", "/mnt", "-o", "part_size=5121,stat_ttl=604801", NULL };
	run(&p, argv2);
	assert_int_equal(p.validate_rc, -EINVAL);
	assert_int_equal(count_lines(buf_str(&p.problems)), 2);
	done(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_option),
		cmocka_unit_test(test_prefix_forms),
		cmocka_unit_test(test_https_url_needs_plain_url),
		cmocka_unit_test(test_all_problems_reported),
		cmocka_unit_test(test_missing_positionals),
		cmocka_unit_test(test_virtual_needs_dns_name),
		cmocka_unit_test(test_encryption_rules),
		cmocka_unit_test(test_default_permissions),
		cmocka_unit_test(test_fstab_noise),
		cmocka_unit_test(test_fstab_each_word),
		cmocka_unit_test(test_log_file),
		cmocka_unit_test(test_numbers_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
