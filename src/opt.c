/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Mount options: the declarative fuse_opt table into struct mount_cfg,
 * the positional BUCKET[:/PREFIX] and MOUNTPOINT, fstab noise, and one
 * validation pass that reports every problem. Credentials, the network and
 * libfuse's own options are somebody else's business.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fuse_opt.h>

#include "opt.h"
#include "s3.h"

#define OPT(t, field, v)                                \
	{                                               \
		t, offsetof(struct mount_cfg, field), v \
	}

/*
 * Every option of ours. tests/check-options-doc.sh reads the OPT(" lines
 * of this table, so keep one option per line.
 */
/* clang-format off */
static const struct fuse_opt opt_table[] = {
	OPT("url=%s", url, 0),
	OPT("https_url=%s", https_url, 0),
	OPT("region=%s", region, 0),
	OPT("sigv=%s", raw.sigv, 0),
	OPT("addressing=%s", raw.addressing, 0),
	OPT("passwd_file=%s", passwd_file, 0),
	OPT("profile=%s", profile, 0),
	OPT("cafile=%s", cafile, 0),
	OPT("uid=%s", raw.uid, 0),
	OPT("gid=%s", raw.gid, 0),
	OPT("umask=%s", raw.umask, 0),
	OPT("ro", ro, 1),
	OPT("nonempty", nonempty, 1),
	OPT("allow_other", allow_other, 1),
	OPT("default_permissions", default_permissions, 1),
	OPT("no_default_permissions", no_default_permissions, 1),
	OPT("stat_ttl=%s", raw.stat_ttl, 0),
	OPT("dir_ttl=%s", raw.dir_ttl, 0),
	OPT("listing_attrs=%s", raw.listing_attrs, 0),
	OPT("meta_delay=%s", raw.meta_delay, 0),
	OPT("part_size=%s", raw.part_size, 0),
	OPT("parallel=%s", raw.parallel, 0),
	OPT("cache_dir=%s", cache_dir, 0),
	OPT("retries=%s", raw.retries, 0),
	OPT("timeout=%s", raw.timeout, 0),
	OPT("log_level=%s", raw.log_level, 0),
	OPT("dbg=%s", raw.dbg, 0),
	OPT("log_file=%s", log_file, 0),
	OPT("sse=%s", sse, 0),
	OPT("guard=%s", raw.guard, 0),
	/* libfuse and the kernel act on these too. */
	FUSE_OPT_KEY("ro", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("allow_other", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("default_permissions", FUSE_OPT_KEY_KEEP),
	/* fstab noise: meaningful to mount(8), not to us. */
	FUSE_OPT_KEY("auto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("noauto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("user", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nouser", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("users", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nofail", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("_netdev", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("defaults", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_END
};
/* clang-format on */

/* The two positional arguments, in order. */
static int set_positional(struct mount_cfg *cfg, const char *arg)
{
	if (!cfg->bucket) {
		const char *colon = strchr(arg, ':');
		size_t blen = colon ? (size_t)(colon - arg) : strlen(arg);
		cfg->bucket = strndup(arg, blen);
		if (!cfg->bucket)
			return -1;
		free(cfg->prefix);
		cfg->prefix = strdup(colon ? colon + 1 : "");
		return cfg->prefix ? 0 : -1;
	}
	if (!cfg->mountpoint) {
		cfg->mountpoint = strdup(arg);
		/* Kept in the arguments: fuse_parse_cmdline() wants it too. */
		return cfg->mountpoint ? 1 : -1;
	}
	cfg->n_extra++;
	return 0;
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct mount_cfg *cfg = data;

	(void)outargs;
	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		return set_positional(cfg, arg);
	case FUSE_OPT_KEY_OPT:
		/* systemd's fstab keys; everything else unknown goes to libfuse. */
		if (strncmp(arg, "x-systemd.", 10) == 0 || strncmp(arg, "comment=", 8) == 0)
			return 0;
		return 1;
	default:
		return 1;
	}
}

int opt_parse(struct fuse_args *args, struct mount_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->url = strdup(OPT_DEFAULT_URL);
	cfg->region = strdup(OPT_DEFAULT_REGION);
	if (!cfg->url || !cfg->region)
		return -ENOMEM;
	if (fuse_opt_parse(args, cfg, opt_table, opt_proc) != 0)
		return -EINVAL;
	return 0;
}

void opt_release(struct mount_cfg *cfg)
{
	if (!cfg)
		return;
	free(cfg->log_file);
	char **strs[] = { &cfg->bucket,	       &cfg->prefix,	  &cfg->mountpoint,
			  &cfg->url,	       &cfg->https_url,	  &cfg->region,
			  &cfg->passwd_file,   &cfg->profile,	  &cfg->cafile,
			  &cfg->cache_dir,     &cfg->raw.sigv,	  &cfg->raw.addressing,
			  &cfg->raw.uid,       &cfg->raw.gid,	  &cfg->raw.umask,
			  &cfg->raw.stat_ttl,  &cfg->raw.dir_ttl, &cfg->raw.part_size,
			  &cfg->raw.parallel,  &cfg->raw.retries, &cfg->raw.timeout,
			  &cfg->raw.log_level, &cfg->raw.dbg,	  &cfg->sse,
			  &cfg->raw.guard };
	for (size_t i = 0; i < ARRAY_SIZE(strs); i++)
		free(*strs[i]);
	free(cfg->raw.listing_attrs);
	free(cfg->raw.meta_delay);
	memset(cfg, 0, sizeof(*cfg));
}

/* A whole string of digits in @base, within [min, max]. 0 or -EINVAL/-ERANGE. */
static int parse_num(const char *s, int base, unsigned long long min, unsigned long long max,
		     unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > (base == 8 ? '7' : '9'))
			return -EINVAL;
	}
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || *end)
		return -ERANGE;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

struct vctx {
	struct buf *problems;
	int n;
	int err; /* -ENOMEM from the buffer */
};

static void PRINTF_LIKE(2, 3) problem(struct vctx *v, const char *fmt, ...)
{
	va_list ap;
	int r;

	v->n++;
	if (v->err)
		return;
	va_start(ap, fmt);
	r = buf_vaddf(v->problems, fmt, ap);
	va_end(ap);
	if (r == 0)
		r = buf_adds(v->problems, "\n");
	if (r)
		v->err = r;
}

/*
 * Numeric option @name from @raw (NULL: @def) into *out, or a problem line
 * naming the accepted range.
 */
static unsigned long long num_opt(struct vctx *v, const char *name, const char *raw, int base,
				  unsigned long long min, unsigned long long max,
				  unsigned long long def)
{
	unsigned long long val = def;

	if (!raw)
		return def;
	if (parse_num(raw, base, min, max, &val) != 0) {
		if (base == 8)
			problem(v, "invalid %s '%s': expected an octal number from %llo to %llo",
				name, raw, min, max);
		else
			problem(v, "invalid %s '%s': expected a whole number from %llu to %llu",
				name, raw, min, max);
		return def;
	}
	return val;
}

bool opt_is_dns_bucket(const char *b)
{
	size_t n = strlen(b);

	if (n < 3 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = b[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && c != '-' && c != '.')
			return false;
		if ((i == 0 || i == n - 1) && !alnum)
			return false;
		if (c == '.' && (b[i + 1] == '.' || b[i + 1] == '-' || b[i - 1] == '-'))
			return false;
	}
	return true;
}

/* Legacy (path-style) bucket names are laxer than DNS names. */
static bool is_bucket_name(const char *b)
{
	size_t n = strlen(b);

	if (n < 3 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = b[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_'))
			return false;
	}
	return true;
}

/*
 * Normalise the prefix in place: "/a/b/" and "a/b" become "a/b/", "/"
 * and "" become "". Empty, "." and ".." components are refused.
 */
static int normalise_prefix(char **prefix)
{
	const char *p = *prefix;
	struct buf b;
	int r = 0;

	buf_init(&b, 1024);
	while (*p == '/')
		p++;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
			buf_release(&b);
			return -EINVAL;
		}
		r = buf_add(&b, p, n);
		if (r == 0)
			r = buf_adds(&b, "/");
		if (r)
			return r;
		p += n;
		if (*p == '/')
			p++;
	}
	char *s = buf_detach(&b, NULL);
	if (!s)
		return -ENOMEM;
	free(*prefix);
	*prefix = s;
	return 0;
}

static bool has_scheme(const char *url, const char *scheme)
{
	size_t n = strlen(scheme);
	return strncmp(url, scheme, n) == 0 && url[n] != '\0' && url[n] != '/';
}

/* Endpoint URLs: scheme, host, optional port; no path, query or user info. */
static void check_url(struct vctx *v, const char *name, char *url, bool https_only)
{
	const char *host;
	size_t n;

	if (has_scheme(url, "https://"))
		host = url + 8;
	else if (!https_only && has_scheme(url, "http://"))
		host = url + 7;
	else {
		problem(v, "invalid %s '%s': expected %s", name, url,
			https_only ? "https://HOST[:PORT]" : "http[s]://HOST[:PORT]");
		return;
	}
	n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		url[--n] = '\0';
	if (strpbrk(host, "/?#@ ") || !*host)
		problem(v, "invalid %s '%s': only scheme, host and port are allowed", name, url);
}

static void check_strings(struct vctx *v, struct mount_cfg *cfg)
{
	struct stat st;

	if (!cfg->bucket || !*cfg->bucket)
		problem(v, "missing BUCKET argument");
	else if (!is_bucket_name(cfg->bucket))
		problem(v,
			"invalid bucket name '%s': 3 to 255 letters, digits, '-', '.' and '_' "
			"(3 to 63 lowercase ones for addressing=virtual)",
			cfg->bucket);
	if (cfg->prefix && normalise_prefix(&cfg->prefix) != 0)
		problem(v, "invalid prefix '%s': empty, '.' or '..' path component", cfg->prefix);
	if (!cfg->mountpoint && !cfg->no_mountpoint)
		problem(v, "missing MOUNTPOINT argument");
	if (cfg->no_mountpoint && (cfg->mountpoint || cfg->n_extra))
		problem(v, "too many arguments: expected BUCKET[:/PREFIX]");
	else if (cfg->n_extra)
		problem(v, "too many arguments: expected BUCKET[:/PREFIX] MOUNTPOINT");
	check_url(v, "url", cfg->url, false);
	if (cfg->https_url)
		check_url(v, "https_url", cfg->https_url, true);
	if (cfg->https_url && cfg->url && has_scheme(cfg->url, "https://"))
		problem(v,
			"https_url= is for a plain http:// url=; url '%s' is HTTPS already: "
			"leave https_url= out",
			cfg->url);
	if (!cfg->region || !*cfg->region || strpbrk(cfg->region, "/ \t\n"))
		problem(v, "invalid region '%s'", cfg->region ? cfg->region : "");
	if (cfg->profile && (!*cfg->profile || strpbrk(cfg->profile, "[]\n")))
		problem(v, "invalid profile '%s'", cfg->profile);
	if (cfg->passwd_file && !*cfg->passwd_file)
		problem(v, "invalid passwd_file: empty path");
	if (cfg->cafile && access(cfg->cafile, R_OK) != 0)
		problem(v, "cannot read cafile '%s': %s", cfg->cafile, strerror(errno));
	if (cfg->cache_dir) {
		if (stat(cfg->cache_dir, &st) != 0)
			problem(v, "cannot use cache_dir '%s': %s", cfg->cache_dir,
				strerror(errno));
		else if (!S_ISDIR(st.st_mode))
			problem(v, "cannot use cache_dir '%s': not a directory", cfg->cache_dir);
		else if (access(cfg->cache_dir, W_OK | X_OK) != 0)
			problem(v, "cannot use cache_dir '%s': %s", cfg->cache_dir,
				strerror(errno));
	}
	/* The daemon runs in '/', and SIGHUP reopens the file by this name. */
	if (cfg->log_file && cfg->log_file[0] != '/')
		problem(v, "invalid log_file '%s': expected an absolute path", cfg->log_file);
}

static void check_enums(struct vctx *v, struct mount_cfg *cfg)
{
	const char *a = cfg->raw.addressing;

	cfg->sigv = 4;
	if (cfg->raw.sigv) {
		if (strcmp(cfg->raw.sigv, "2") == 0)
			cfg->sigv = 2;
		else if (strcmp(cfg->raw.sigv, "4") != 0)
			problem(v, "invalid sigv '%s': expected 2 or 4", cfg->raw.sigv);
	}
	cfg->addressing = OPT_ADDR_PATH;
	if (a && strcmp(a, "virtual") == 0)
		cfg->addressing = OPT_ADDR_VIRTUAL;
	else if (a && strcmp(a, "path") != 0)
		problem(v, "invalid addressing '%s': expected path or virtual", a);
	if (cfg->addressing == OPT_ADDR_VIRTUAL && cfg->bucket && is_bucket_name(cfg->bucket) &&
	    !opt_is_dns_bucket(cfg->bucket))
		problem(v, "bucket '%s' is not a DNS name: addressing=virtual needs one",
			cfg->bucket);

	cfg->log_level = LOG_LVL_WARN;
	if (cfg->raw.log_level && log_parse_level(cfg->raw.log_level, &cfg->log_level) != 0)
		problem(v, "invalid log_level '%s': expected err, warn, info or debug",
			cfg->raw.log_level);
	cfg->dbg = 0;
	if (cfg->raw.dbg) {
		/* ',' separates -o options, so categories are joined with ':'. */
		char *cats = strdup(cfg->raw.dbg);
		if (!cats) {
			v->err = -ENOMEM;
			return;
		}
		for (char *p = cats; *p; p++) {
			if (*p == ':')
				*p = ',';
		}
		if (log_parse_cats(cats, &cfg->dbg) != 0)
			problem(v,
				"invalid dbg '%s': expected categories joined with ':' "
				"(http, sign, s3, guard, cache, fh, fuse, all)",
				cfg->raw.dbg);
		free(cats);
	}
}

/* The syntax of sse= (the sse module loads keys later); its need for TLS. */
static void check_encryption(struct vctx *v, struct mount_cfg *cfg)
{
	const char *s = cfg->sse;
	const char *g = cfg->raw.guard;
	bool https = has_scheme(cfg->url, "https://") || cfg->https_url;

	cfg->guard_strict = false;
	cfg->sse_mode = STORE_SSE_NONE;
	if (g && strcmp(g, "strict") == 0)
		cfg->guard_strict = true;
	else if (g && strcmp(g, "upgrade") != 0)
		problem(v, "invalid guard '%s': expected upgrade or strict", g);
	if (!s)
		return;
	if (strcmp(s, "none") == 0) {
		/* fine */
	} else if (strcmp(s, "s3") == 0) {
		cfg->sse_mode = STORE_SSE_S3;
	} else if (strcmp(s, "kms") == 0 || (strncmp(s, "kms:", 4) == 0 && s[4])) {
		cfg->sse_mode = STORE_SSE_KMS;
	} else if (strncmp(s, "c:", 2) == 0 && s[2]) {
		cfg->sse_mode = STORE_SSE_C;
		/* SSE-C keys travel only over TLS. */
		if (!https)
			problem(v,
				"sse=c needs an HTTPS endpoint: set url=https://... or https_url=");
	} else {
		/* Never echo the value: it may be a pasted key. */
		problem(v, "invalid sse value: expected none, s3, kms, kms:KEYID or c:KEYFILE");
	}
}

static void check_numbers(struct vctx *v, struct mount_cfg *cfg)
{
	/* uid/gid (uid_t)-1 means "no change" to chown(2): not a valid owner. */
	cfg->has_uid = cfg->raw.uid != NULL;
	cfg->uid = (uid_t)num_opt(v, "uid", cfg->raw.uid, 10, 0, UINT32_MAX - 1, 0);
	cfg->has_gid = cfg->raw.gid != NULL;
	cfg->gid = (gid_t)num_opt(v, "gid", cfg->raw.gid, 10, 0, UINT32_MAX - 1, 0);
	cfg->has_umask = cfg->raw.umask != NULL;
	cfg->umask = (mode_t)num_opt(v, "umask", cfg->raw.umask, 8, 0, 0777, 0);
	cfg->stat_ttl = (unsigned)num_opt(v, "stat_ttl", cfg->raw.stat_ttl, 10, 0, 604800,
					  OPT_DEFAULT_STAT_TTL);
	cfg->dir_ttl = (unsigned)num_opt(v, "dir_ttl", cfg->raw.dir_ttl, 10, 0, 604800,
					 OPT_DEFAULT_DIR_TTL);
	cfg->meta_delay = (unsigned)num_opt(v, "meta_delay", cfg->raw.meta_delay, 10, 0, 2,
					    OPT_DEFAULT_META_DELAY);
	/* Shared with other users: show the permissions stored with objects. */
	cfg->listing_attrs = num_opt(v, "listing_attrs", cfg->raw.listing_attrs, 10, 0, 1,
				     cfg->allow_other ? 0 : 1) != 0;
	cfg->part_size = (size_t)num_opt(v, "part_size", cfg->raw.part_size, 10, 1, 5120,
					 OPT_DEFAULT_PART_SIZE) *
			 1024 * 1024;
	cfg->parallel = (unsigned)num_opt(v, "parallel", cfg->raw.parallel, 10, 1, 64,
					  OPT_DEFAULT_PARALLEL);
	cfg->retries =
		(unsigned)num_opt(v, "retries", cfg->raw.retries, 10, 0, 20, OPT_DEFAULT_RETRIES);
	cfg->timeout =
		(unsigned)num_opt(v, "timeout", cfg->raw.timeout, 10, 1, 3600, OPT_DEFAULT_TIMEOUT);
}

int opt_validate(struct mount_cfg *cfg, struct buf *problems)
{
	struct vctx v = { .problems = problems };

	if (cfg->default_permissions && cfg->no_default_permissions)
		problem(&v, "default_permissions and no_default_permissions contradict each other");
	check_strings(&v, cfg);
	check_enums(&v, cfg);
	check_numbers(&v, cfg);
	check_encryption(&v, cfg);
	if (v.err)
		return v.err;
	return v.n ? -EINVAL : 0;
}

int opt_add_fuse_args(const struct mount_cfg *cfg, struct fuse_args *args)
{
	if (!cfg->allow_other || cfg->no_default_permissions || cfg->default_permissions)
		return 0;
	return fuse_opt_add_arg(args, "-odefault_permissions") == 0 ? 0 : -ENOMEM;
}

bool opt_is_unchecked_shared(const struct mount_cfg *cfg)
{
	return cfg->allow_other && cfg->no_default_permissions;
}

/* The --help text. Every option of the table appears here, by topic. */
static const char help_text[] =
	"usage: obsmount BUCKET[:/PREFIX] MOUNTPOINT [-o OPTION,...] [-f] [-d] [-s]\n"
	"\n"
	"Mount the S3/OBS bucket BUCKET (only the keys under PREFIX, if given)\n"
	"on MOUNTPOINT.\n"
	"\n"
	"general:\n"
	"    -h, --help             print this help and exit\n"
	"    -V, --version          print the versions of obsmount and its libraries\n"
	"    --check                check the setup, mounting nothing (no MOUNTPOINT)\n"
	"    --incomplete-uploads [--abort-older-than=HOURS]\n"
	"                           list (and abort) the multipart uploads left\n"
	"                           under BUCKET[:/PREFIX], mounting nothing\n"
	"    -f                     stay in the foreground, log to stderr\n"
	"    -d                     debug: -f plus libfuse's request trace\n"
	"    -s                     single-threaded operation\n"
	"\n"
	"endpoint:\n"
	"    -o url=URL             endpoint, http[s]://HOST[:PORT]\n"
	"                           (default " OPT_DEFAULT_URL ")\n"
	"    -o https_url=URL       HTTPS endpoint for requests that must use TLS\n"
	"                           (default: url= when it is https)\n"
	"    -o region=NAME         region for signature version 4 (default " OPT_DEFAULT_REGION
	")\n"
	"    -o sigv=2|4            signature version (default 4)\n"
	"    -o addressing=path|virtual  bucket in the path or in the host name\n"
	"                           (default path)\n"
	"    -o cafile=FILE         CA certificates (PEM) to verify the server with\n"
	"\n"
	"encryption:\n"
	"    -o sse=MODE            server-side encryption of new objects: none, s3,\n"
	"                           kms, kms:KEYID or c:KEYFILE (default none)\n"
	"    -o guard=upgrade|strict  when the service's rules need HTTPS or V4:\n"
	"                           switch to them (default) or refuse (EACCES)\n"
	"\n"
	"credentials:\n"
	"    -o passwd_file=FILE    file with ACCESS_KEY:SECRET_KEY (mode 0600)\n"
	"    -o profile=NAME        profile of ~/.aws/credentials to use\n"
	"\n"
	"ownership and permissions:\n"
	"    -o uid=N               owner of every file (default: from metadata,\n"
	"                           else the mounting user)\n"
	"    -o gid=N               group of every file (same rule)\n"
	"    -o umask=OOO           permission bits to clear on every file (octal)\n"
	"    -o ro                  mount read-only\n"
	"    -o nonempty            mount over a directory that is not empty\n"
	"    -o allow_other         let other users access the mount; implies\n"
	"                           default_permissions\n"
	"    -o default_permissions  the kernel checks permissions against the\n"
	"                           stored mode, owner and group\n"
	"    -o no_default_permissions  with allow_other: no permission checks at\n"
	"                           all, every user may read and delete every file\n"
	"\n"
	"caching:\n"
	"    -o stat_ttl=SECONDS    keep file attributes this long; 0: no stat\n"
	"                           or negative cache (default 60)\n"
	"    -o dir_ttl=SECONDS     keep directory listings this long; 0: off\n"
	"                           (default 30)\n"
	"    -o listing_attrs=0|1   1: attributes of listed entries come from the\n"
	"                           listing (size, time; default mode and owner)\n"
	"                           until opened; 0: ask for each (default 1,\n"
	"                           0 with allow_other)\n"
	"    -o meta_delay=SECONDS  chmod, chown, utimens and xattr changes of a\n"
	"                           stored file wait this long, to ride on a\n"
	"                           rename or merge (0..2, default 1; 0: at once)\n"
	"    -o cache_dir=DIR       stage written data in files under DIR\n"
	"                           (default: in memory)\n"
	"\n"
	"transfers:\n"
	"    -o part_size=MIB       multipart upload part size, 1..5120 (default 16;\n"
	"                           S3 itself needs at least 5)\n"
	"    -o parallel=N          parts in flight per file, 1..64 (default 8)\n"
	"    -o retries=N           retries of a failed request, 0..20 (default 5)\n"
	"    -o timeout=SECONDS     connect and stall timeout, 1..3600 (default 30)\n"
	"\n"
	"logging:\n"
	"    -o log_level=LEVEL     err, warn, info or debug (default warn)\n"
	"    -o dbg=CAT[:CAT...]    debug categories: http, sign, s3, guard, cache,\n"
	"                           fh, fuse, all\n"
	"    -o log_file=PATH       log to this file instead of syslog (or stderr);\n"
	"                           SIGHUP reopens it, SIGUSR1 logs statistics\n"
	"\n"
	"Options of libfuse (for example auto_unmount) are\n"
	"passed on; see obsmount(1) and mount.fuse3(8). The fstab words auto,\n"
	"noauto, user, nouser, users, nofail, _netdev, defaults, x-systemd.* and\n"
	"comment= are accepted and ignored.\n";

void opt_print_help(FILE *out)
{
	fputs(help_text, out);
}

void opt_s3_cfg(const struct mount_cfg *cfg, const struct cred *cred, const struct sse_cfg *sse,
		struct s3_cfg *sc)
{
	s3_cfg_defaults(sc);
	sc->bucket = cfg->bucket;
	sc->url = cfg->url;
	sc->https_url = cfg->https_url;
	sc->region = cfg->region;
	sc->sigv = (int)cfg->sigv;
	sc->addressing = cfg->addressing == OPT_ADDR_VIRTUAL ? S3_ADDR_VIRTUAL : S3_ADDR_PATH;
	sc->ca_file = cfg->cafile;
	sc->retries = (int)cfg->retries;
	sc->timeout_s = (int)cfg->timeout;
	sc->parallel = cfg->parallel * 2 + 8;
	sc->guard_policy = cfg->guard_strict ? GUARD_POLICY_STRICT : GUARD_POLICY_UPGRADE;
	sc->cred = cred;
	sc->sse = sse;
}
