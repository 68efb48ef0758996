/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * obsmount-rekey: walk a bucket (or a prefix of it) and copy every object
 * onto itself under the mount's current encryption (the first key of the
 * SSE-C key file, or the KMS key), skipping objects already under it.
 * Every request goes through the S3 layer's builders, so the protocol
 * guard sees each of them. It mounts nothing and writes no object data.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fuse_opt.h>
#include <libxml/parser.h>

#include "cred.h"
#include "http.h"
#include "log.h"
#include "opt.h"
#include "s3.h"
#include "sse.h"

enum { EXIT_FAILED = 1, EXIT_SETUP = 2, EXIT_INTERRUPTED = 3 };

/* CopyObject's limit: larger objects need UploadPartCopy. */
#define COPY_MAX ((uint64_t)5 << 30)
#define MAX_PARTS 10000
#define PROGRESS_EVERY 100
#define DEFAULT_STATE_EVERY 100

/* Our own command line, besides BUCKET[:/PREFIX] and -o OPTIONS. */
struct args {
	const char *resume_after; /* borrowed from argv, or NULL */
	const char *state_file;	  /* borrowed from argv, or NULL */
	const char *old_keys;	  /* borrowed from argv, or NULL */
	unsigned long long state_every;
	unsigned long long limit; /* objects to examine; 0: all */
	uint64_t copy_threshold;  /* larger objects are copied in parts */
	bool dry_run;
};

struct counts {
	unsigned long long scanned, rekeyed, skipped, failed;
};

struct rekey {
	struct args a;
	struct mount_cfg cfg;
	struct cred *cred;
	struct sse_cfg *sse;
	struct sse_cfg *old; /* --old-keys: SSE-C keys only to read with, or NULL */
	struct s3_ctx *s3;
	struct s3_cfg sc;	  /* borrowed by s3, which it outlives */
	struct sse_choice target; /* borrows from sse */
	char *resume;		  /* owned: the key to resume after, or NULL */
	char *last_done;	  /* owned: the last key examined, or NULL */
	bool use_replace;	  /* the server refuses a COPY onto itself */
	struct counts n;
	struct timespec last_report;
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void PRINTF_LIKE(1, 2) say(const char *fmt, ...)
{
	va_list ap;

	fputs("obsmount-rekey: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* @key with control bytes escaped, for messages; truncated to @cap. */
static const char *printable(const char *key, char *out, size_t cap)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)key; *p && o + 5 < cap; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '\\')
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", *p);
		else
			out[o++] = (char)*p;
	}
	out[o] = '\0';
	return out;
}

static const char usage_text[] =
	"usage: obsmount-rekey BUCKET[:/PREFIX] -o sse=MODE[,OPTION...] [OPTIONS]\n"
	"\n"
	"Copy every object under PREFIX onto itself under the encryption sse=\n"
	"names (the first key of an SSE-C key file, or a KMS key); objects\n"
	"already so encrypted are skipped.\n"
	"\n"
	"    -o OPTIONS             obsmount's options: url, https_url, region,\n"
	"                           sigv, addressing, cafile, passwd_file, profile,\n"
	"                           sse (required), guard, part_size, retries,\n"
	"                           timeout, log_level, dbg; see obsmount(1)\n"
	"    --resume-after KEY     skip the keys up to and including KEY\n"
	"    --state FILE           record the last key done in FILE, resume\n"
	"                           after it when FILE exists\n"
	"    --old-keys FILE        more SSE-C keys to read objects with (for\n"
	"                           sse= other than c:KEYFILE)\n"
	"    --state-every N        update the state file every N objects (100)\n"
	"    --limit N              stop after examining N objects\n"
	"    --copy-threshold BYTES copy larger objects in parts (default and\n"
	"                           most 5368709120)\n"
	"    -n, --dry-run          report what would be copied, copy nothing\n"
	"    -h, --help             print this help and exit\n"
	"    -V, --version          print the version and exit\n"
	"\n"
	"Exit status: 0 done, 1 some objects failed, 2 bad usage or setup,\n"
	"3 interrupted (the state file says where to resume).\n";

static int parse_count(const char *name, const char *s, unsigned long long min,
		       unsigned long long max, unsigned long long *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (!s || *s < '0' || *s > '9')
		goto bad;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		goto bad;
	*out = v;
	return 0;
bad:
	say("invalid %s '%s': expected a whole number from %llu to %llu", name, s ? s : "", min,
	    max);
	return -EINVAL;
}

/*
 * Take our own options out of @argv into @a; the rest (the bucket and the
 * -o options) go to @rest (argv[0] first), which the caller sizes to argc.
 * Returns 0, 1 when --help or --version was handled, or -EINVAL.
 */
static int parse_args(int argc, char **argv, struct args *a, char **rest, int *n_rest)
{
	unsigned long long thr = COPY_MAX;
	int n = 0;

	a->state_every = DEFAULT_STATE_EVERY;
	rest[n++] = argv[0];
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		int r = 0;

		if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
			fputs(usage_text, stdout);
			return 1;
		} else if (!strcmp(s, "-V") || !strcmp(s, "--version")) {
			printf("obsmount-rekey %s\n", PACKAGE_VERSION);
			return 1;
		} else if (!strcmp(s, "-n") || !strcmp(s, "--dry-run")) {
			a->dry_run = true;
			continue;
		} else if (strcmp(s, "--resume-after") && strcmp(s, "--state") &&
			   strcmp(s, "--old-keys") && strcmp(s, "--state-every") &&
			   strcmp(s, "--limit") && strcmp(s, "--copy-threshold")) {
			rest[n++] = argv[i];
			continue;
		}
		if (!val) {
			say("option '%s' needs a value", s);
			return -EINVAL;
		}
		i++;
		if (!strcmp(s, "--resume-after"))
			a->resume_after = val;
		else if (!strcmp(s, "--state"))
			a->state_file = val;
		else if (!strcmp(s, "--old-keys"))
			a->old_keys = val;
		else if (!strcmp(s, "--state-every"))
			r = parse_count("--state-every", val, 1, 1000000000, &a->state_every);
		else if (!strcmp(s, "--limit"))
			r = parse_count("--limit", val, 1, ULLONG_MAX, &a->limit);
		else
			r = parse_count("--copy-threshold", val, 1, COPY_MAX, &thr);
		if (r)
			return r;
	}
	if (a->resume_after && (!*a->resume_after || strlen(a->resume_after) > S3_KEY_MAX)) {
		say("invalid --resume-after: expected a key of 1 to %d bytes", S3_KEY_MAX);
		return -EINVAL;
	}
	a->copy_threshold = thr;
	*n_rest = n;
	return 0;
}

/*
 * What libfuse's parser left in @args after opt_parse(): mount flags of
 * obsmount that mean nothing here are ignored, anything else is an error.
 */
static int check_leftovers(const struct fuse_args *args, const struct mount_cfg *cfg)
{
	int bad = 0;

	for (int i = 1; i < args->argc; i++) {
		const char *s = args->argv[i];

		if (cfg->mountpoint && !strcmp(s, cfg->mountpoint))
			continue; /* opt_validate() reports it */
		if (strcmp(s, "-o") || i + 1 >= args->argc) {
			say("unknown argument '%s'", s);
			bad = 1;
			continue;
		}
		for (const char *p = args->argv[++i]; *p;) {
			size_t len = strcspn(p, ",");

			if (!(len == 2 && !strncmp(p, "ro", 2)) &&
			    !(len == 11 && !strncmp(p, "allow_other", 11))) {
				say("unknown option '%.*s'", (int)len, p);
				bad = 1;
			}
			p += len + (p[len] == ',');
		}
	}
	return bad ? -EINVAL : 0;
}

/* The -o options, as obsmount checks them, minus the mount point. */
static int parse_options(struct rekey *rk, int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct buf problems;
	int r;

	r = opt_parse(&args, &rk->cfg);
	if (r == 0)
		r = check_leftovers(&args, &rk->cfg);
	fuse_opt_free_args(&args);
	if (r)
		return r;
	rk->cfg.no_mountpoint = true;
	buf_init(&problems, 64 * 1024);
	r = opt_validate(&rk->cfg, &problems);
	for (const char *l = buf_str(&problems); *l;) {
		size_t len = strcspn(l, "\n");
		say("%.*s", (int)len, l);
		l += len + (l[len] == '\n');
	}
	buf_release(&problems);
	if (r == -ENOMEM)
		say("out of memory");
	if (r == 0 && !rk->cfg.sse) {
		say("missing -o sse=: say which encryption the objects are to end up with "
		    "(none, s3, kms, kms:KEYID or c:KEYFILE)");
		r = -EINVAL;
	}
	return r;
}

/* The --old-keys ring: an SSE-C configuration used only for its keys. */
static int load_old_keys(struct rekey *rk)
{
	struct buf v, e;
	int r;

	buf_init(&v, 8192);
	buf_init(&e, 4096);
	r = buf_addf(&v, "c:%s", rk->a.old_keys);
	if (r == 0)
		r = sse_cfg_parse(buf_str(&v), &rk->old, &e);
	if (r)
		say("%s", e.len ? buf_str(&e) : strerror(-r));
	buf_release(&v);
	buf_release(&e);
	return r;
}

/* Credentials, encryption keys, the S3 context, and a look at the bucket. */
static int setup(struct rekey *rk)
{
	struct cred_source src = { .passwd_file = rk->cfg.passwd_file, .profile = rk->cfg.profile };
	struct s3_cfg *sc = &rk->sc;
	struct s3_status st;
	char err[512] = "";
	struct buf e;
	int r;

	r = cred_load(&src, rk->cfg.bucket, &rk->cred, err, sizeof(err));
	if (r) {
		say("%s", err[0] ? err : strerror(-r));
		return r;
	}
	buf_init(&e, 4096);
	r = sse_cfg_parse(rk->cfg.sse, &rk->sse, &e);
	if (r)
		say("%s", e.len ? buf_str(&e) : strerror(-r));
	buf_release(&e);
	if (r == 0)
		r = sse_target_choice(rk->sse, &rk->target);
	if (r == 0 && rk->a.old_keys)
		r = load_old_keys(rk);
	if (r)
		return r;
	opt_s3_cfg(&rk->cfg, rk->cred, rk->sse, sc);
	sc->parallel = 2;
	r = s3_ctx_new(sc, &rk->s3);
	if (r) {
		say("cannot use endpoint '%s': %s", rk->cfg.url, strerror(-r));
		return r;
	}
	r = s3_head_bucket(rk->s3, &st);
	if (r)
		say("cannot reach bucket '%s' at '%s': %s", rk->cfg.bucket, rk->cfg.url,
		    r == -ENOENT ? "no such bucket" : s3_err_describe(&st));
	return r;
}

static void teardown(struct rekey *rk)
{
	s3_ctx_free(rk->s3);
	sse_cfg_free(rk->sse);
	sse_cfg_free(rk->old);
	cred_free(rk->cred);
	free(rk->resume);
	free(rk->last_done);
	opt_release(&rk->cfg);
}

/* ---- state file ---------------------------------------------------------- */

/* The key recorded in @path into *out (caller frees), NULL when absent or empty. */
static int load_state(const char *path, char **out)
{
	char buf[S3_KEY_MAX + 2];
	size_t n;
	FILE *f;

	*out = NULL;
	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		say("cannot read state file '%s': %s", path, strerror(errno));
		return -errno;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	if (ferror(f) || n > S3_KEY_MAX || memchr(buf, '\0', n)) {
		fclose(f);
		say("cannot use state file '%s': not a key", path);
		return -EINVAL;
	}
	fclose(f);
	if (n == 0)
		return 0;
	*out = strndup(buf, n);
	return *out ? 0 : -ENOMEM;
}

/* Replace @path atomically with @key (written as is, no newline). */
static int save_state(const char *path, const char *key)
{
	char tmp[4096];
	size_t len = strlen(key);
	int fd, r = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		r = -errno;
	else if (write(fd, key, len) != (ssize_t)len || fsync(fd) != 0)
		r = errno ? -errno : -EIO;
	if (fd >= 0 && close(fd) != 0 && !r)
		r = -errno;
	if (!r && rename(tmp, path) != 0)
		r = -errno;
	if (r) {
		say("cannot write state file '%s': %s", path, strerror(-r));
		(void)unlink(tmp);
	}
	return r;
}

/* ---- one object ---------------------------------------------------------- */

/* Does the reported KMS key id @got name @want (an id, or an ARN ending in it)? */
static bool kms_id_is(const char *want, const char *got)
{
	size_t wl = strlen(want), gl = strlen(got);

	if (!strcmp(want, got))
		return true;
	return gl > wl && !strcmp(got + gl - wl, want) &&
	       (got[gl - wl - 1] == '/' || got[gl - wl - 1] == ':');
}

/* Is an object encrypted as @enc already under the target encryption @t? */
static bool is_current(const struct sse_choice *t, const struct store_enc *enc)
{
	switch (t->mode) {
	case STORE_SSE_C:
		return enc->mode == STORE_SSE_C && !strcmp(enc->key_md5, t->key_md5_b64);
	case STORE_SSE_KMS:
		/* Without a key id, any SSE-KMS key is the bucket's to choose. */
		return enc->mode == STORE_SSE_KMS &&
		       (!t->kms_key_id || kms_id_is(t->kms_key_id, enc->kms_key_id));
	default:
		return enc->mode == t->mode;
	}
}

static const char *enc_name(const struct store_enc *e, char *out, size_t cap)
{
	switch (e->mode) {
	case STORE_SSE_C:
		snprintf(out, cap, "SSE-C key MD5 %s", e->key_md5[0] ? e->key_md5 : "?");
		break;
	case STORE_SSE_KMS:
		snprintf(out, cap, "SSE-KMS key '%s'", e->kms_key_id);
		break;
	case STORE_SSE_S3:
		snprintf(out, cap, "SSE-S3");
		break;
	default:
		snprintf(out, cap, "none");
		break;
	}
	return out;
}

/* The choice presenting ring key @i (borrows from the ring). */
static int key_choice(const struct sse_cfg *cfg, size_t i, struct sse_choice *ch)
{
	struct store_enc e = { .mode = STORE_SSE_C };

	snprintf(e.key_md5, sizeof(e.key_md5), "%s", sse_cfg_key(cfg, i)->md5_b64);
	return sse_source_choice(cfg, &e, ch);
}

/*
 * The source choice for an object encrypted as @enc: for SSE-C, the key
 * with the reported MD5 from the mount's ring or the --old-keys ring.
 */
static int source_choice(const struct rekey *rk, const struct store_enc *enc,
			 struct sse_choice *src)
{
	if (enc->mode == STORE_SSE_C && rk->old && !sse_key_by_md5(rk->sse, enc->key_md5) &&
	    sse_key_by_md5(rk->old, enc->key_md5))
		return sse_source_choice(rk->old, enc, src);
	return sse_source_choice(rk->sse, enc, src);
}

/*
 * HEAD @key to learn its encryption. The server refuses a HEAD of an
 * SSE-C object without its key (s3_err_is_wrong_sse_key()), so try the current key first
 * (what a finished run left), then the older keys and those of
 * --old-keys, then no key. Fills @info (caller releases) and @src, the
 * key to read it with (borrows from a ring). -ENOKEY when no key opens
 * it, else as HEAD.
 */
static int probe(struct rekey *rk, const char *key, struct store_info *info, struct sse_choice *src,
		 struct s3_status *st)
{
	const struct store_enc unknown = { .mode = STORE_SSE_UNKNOWN };
	const struct sse_cfg *rings[] = { rk->sse, rk->old };
	int r = -ENOKEY;

	for (size_t ri = 0; ri <= ARRAY_SIZE(rings); ri++) {
		bool none = ri == ARRAY_SIZE(rings);
		size_t n = none ? 1 : rings[ri] ? sse_cfg_key_count(rings[ri]) : 0;

		for (size_t i = 0; i < n; i++) {
			struct sse_choice ch = { .mode = STORE_SSE_NONE };

			if (!none && key_choice(rings[ri], i, &ch) != 0)
				continue;
			r = s3_head_object(rk->s3, key, &ch, &unknown, info, st);
			if (r == 0)
				goto found;
			if (!s3_err_is_wrong_sse_key(st))
				return r;
			r = -ENOKEY;
		}
	}
	return r;
found:
	r = source_choice(rk, &info->enc, src);
	if (r)
		store_info_release(info);
	return r;
}

static const struct sse_choice *or_null(const struct sse_choice *ch)
{
	return ch->mode == STORE_SSE_NONE ? NULL : ch;
}

/* CopyObject onto itself; REPLACE with the HEAD's metadata where COPY is refused. */
static int copy_whole(struct rekey *rk, const char *key, const struct store_info *info,
		      const struct sse_choice *src, struct s3_status *st)
{
	const struct sse_choice *to = or_null(&rk->target);
	const struct sse_choice *from = or_null(src);
	int r;

	r = s3_copy_object(rk->s3, key, key, rk->use_replace ? &info->meta : NULL, to, from,
			   &info->enc, NULL, NULL, st);
	/*
	 * S3 allows a copy onto itself that changes the encryption; some
	 * servers (Ceph RGW) refuse it unless the metadata is replaced.
	 */
	if (r && !rk->use_replace && st->http_status == 400 &&
	    st->s3_code == S3_ERR_INVALID_REQUEST) {
		r = s3_copy_object(rk->s3, key, key, &info->meta, to, from, &info->enc, NULL, NULL,
				   st);
		if (r == 0) {
			rk->use_replace = true;
			say("note: the server refuses a copy onto itself with metadata directive "
			    "COPY; copying content type and user metadata with REPLACE");
		}
	}
	return r;
}

/* Multipart copy onto itself, for objects above the copy threshold. */
static int copy_parts(struct rekey *rk, const char *key, const struct store_info *info,
		      const struct sse_choice *src, struct s3_status *st)
{
	const struct sse_choice *to = or_null(&rk->target);
	const struct sse_choice *from = or_null(src);
	uint64_t part = rk->cfg.part_size, n;
	struct store_part *parts;
	char *upload_id = NULL;
	int r;

	if (part < (info->size + MAX_PARTS - 1) / MAX_PARTS)
		part = (info->size + MAX_PARTS - 1) / MAX_PARTS;
	n = (info->size + part - 1) / part;
	parts = calloc(n ? n : 1, sizeof(*parts));
	if (!parts)
		return -ENOMEM;
	r = s3_create_mpu(rk->s3, key, &info->meta, to, &upload_id, st);
	for (uint64_t i = 0; r == 0 && i < n; i++) {
		uint64_t off = i * part;
		uint64_t len = info->size - off < part ? info->size - off : part;

		r = s3_upload_part_copy(rk->s3, key, upload_id, (int)(i + 1), key, off, len, to,
					from, &info->enc, NULL, &parts[i], st);
	}
	if (r == 0)
		r = s3_complete_mpu(rk->s3, key, upload_id, parts, n, to, NULL, st);
	if (r && upload_id) {
		struct s3_status ast;

		if (s3_abort_mpu(rk->s3, key, upload_id, &ast) != 0)
			say("cannot abort the multipart upload of a failed copy: %s",
			    s3_err_describe(&ast));
	}
	free(upload_id);
	free(parts);
	return r;
}

/*
 * Read the object back under the target encryption: the copy must have
 * left the wanted encryption and the same size.
 */
static int verify(struct rekey *rk, const char *key, const struct store_info *before, char *why,
		  size_t cap)
{
	const struct store_enc want = { .mode = rk->target.mode };
	struct store_info after;
	struct s3_status st;
	char e[160];
	int r;

	r = s3_head_object(rk->s3, key, &rk->target, &want, &after, &st);
	if (r) {
		snprintf(why, cap, "cannot read it back: %s", s3_err_describe(&st));
		return r;
	}
	if (!is_current(&rk->target, &after.enc)) {
		snprintf(why, cap, "it reports encryption %s after the copy",
			 enc_name(&after.enc, e, sizeof(e)));
		r = -EIO;
	} else if (after.size != before->size) {
		snprintf(why, cap, "its size changed from %" PRIu64 " to %" PRIu64, before->size,
			 after.size);
		r = -EIO;
	}
	store_info_release(&after);
	return r;
}

/* Why a request failed, for the report: the S3 error and request id. */
static void describe(const struct s3_status *st, int r, char *why, size_t cap)
{
	if (st->http_status >= 200 && st->http_status < 300 && r == -EIO)
		snprintf(why, cap, "the reply does not report the wanted encryption");
	else if (st->http_status)
		snprintf(why, cap, "%s (status %ld, code '%s', request id '%s')",
			 s3_err_describe(st), st->http_status, st->code, st->request_id);
	else
		snprintf(why, cap, "%s", st->message[0] ? st->message : strerror(-r));
}

static void rekey_object(struct rekey *rk, const char *key)
{
	struct store_info info;
	struct sse_choice src;
	struct s3_status st;
	char k[256], why[512], e[160];
	int r;

	rk->n.scanned++;
	r = probe(rk, key, &info, &src, &st);
	if (r == -ENOENT) {
		rk->n.skipped++; /* deleted since the listing */
		return;
	}
	if (r) {
		rk->n.failed++;
		if (r == -ENOKEY)
			say("cannot read '%s': no key of the key file opens it (status %ld): "
			    "SSE-C under another key?",
			    printable(key, k, sizeof(k)), st.http_status);
		else
			say("cannot read '%s': %s", printable(key, k, sizeof(k)),
			    s3_err_describe(&st));
		return;
	}
	if (is_current(&rk->target, &info.enc)) {
		rk->n.skipped++;
		goto out;
	}
	if (rk->a.dry_run) {
		rk->n.rekeyed++;
		say("would rekey '%s' (%s)", printable(key, k, sizeof(k)),
		    enc_name(&info.enc, e, sizeof(e)));
		goto out;
	}
	if (info.size > rk->a.copy_threshold)
		r = copy_parts(rk, key, &info, &src, &st);
	else
		r = copy_whole(rk, key, &info, &src, &st);
	if (r)
		describe(&st, r, why, sizeof(why));
	else
		r = verify(rk, key, &info, why, sizeof(why));
	if (r) {
		rk->n.failed++;
		say("cannot rekey '%s': %s", printable(key, k, sizeof(k)), why);
	} else {
		rk->n.rekeyed++;
	}
out:
	store_info_release(&info);
}

/* ---- the walk ------------------------------------------------------------ */

static void report(struct rekey *rk, const char *what)
{
	say("%s%sscanned %llu, %s %llu, skipped %llu, failed %llu", what ? what : "",
	    what ? ": " : "", rk->n.scanned, rk->a.dry_run ? "to rekey" : "rekeyed", rk->n.rekeyed,
	    rk->n.skipped, rk->n.failed);
	clock_gettime(CLOCK_MONOTONIC, &rk->last_report);
}

static void maybe_report(struct rekey *rk)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (rk->n.scanned % PROGRESS_EVERY == 0 || now.tv_sec > rk->last_report.tv_sec)
		report(rk, NULL);
}

/* Note @key as done; update the state file every state_every objects. */
static int done(struct rekey *rk, const char *key)
{
	char *dup = strdup(key);

	if (!dup)
		return -ENOMEM;
	free(rk->last_done);
	rk->last_done = dup;
	if (rk->a.state_file && rk->n.scanned % rk->a.state_every == 0)
		return save_state(rk->a.state_file, key);
	return 0;
}

/* Is the walk to stop before the next object? */
static bool stopping(const struct rekey *rk)
{
	return stop_signal || (rk->a.limit && rk->n.scanned >= rk->a.limit);
}

/* One listing page. 0, -EINTR when stopping before its end, or -errno. */
static int walk_page(struct rekey *rk, const struct store_page *page)
{
	int r = 0;

	for (size_t i = 0; i < page->n_objects && r == 0; i++) {
		const char *key = page->objects[i].key;

		if (stopping(rk))
			return -EINTR;
		/* Listings come in UTF-8 binary order, which strcmp() follows. */
		if (rk->resume && strcmp(key, rk->resume) <= 0)
			continue;
		rekey_object(rk, key);
		r = done(rk, key);
		maybe_report(rk);
	}
	return r;
}

/*
 * Walk the prefix in listing order. 0 when every key was seen, -EINTR when
 * stopped early (signal or --limit), else -errno (listing failed).
 */
static int walk(struct rekey *rk)
{
	char *token = NULL;
	int r;

	do {
		struct store_page page;
		struct s3_status st;

		memset(&page, 0, sizeof(page));
		r = s3_list_objects_v2(rk->s3, rk->cfg.prefix, NULL, token, 1000, &page, &st);
		free(token);
		token = NULL;
		if (r) {
			say("cannot list '%s': %s", rk->cfg.bucket, s3_err_describe(&st));
			break;
		}
		r = walk_page(rk, &page);
		if (r == 0 && page.next_token) {
			token = page.next_token;
			page.next_token = NULL;
		}
		store_page_release(&page);
		if (r == 0 && token && stopping(rk))
			r = -EINTR;
	} while (r == 0 && token);
	free(token);
	return r;
}

/* Where to start: --resume-after, else the state file. */
static int start_point(struct rekey *rk)
{
	char k[256];
	int r;

	if (rk->a.resume_after) {
		rk->resume = strdup(rk->a.resume_after);
		if (!rk->resume)
			return -ENOMEM;
	} else if (rk->a.state_file) {
		r = load_state(rk->a.state_file, &rk->resume);
		if (r)
			return r;
	}
	if (rk->resume)
		say("resuming after '%s'", printable(rk->resume, k, sizeof(k)));
	return 0;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	/* A second signal kills: the first lets the current object finish. */
	sa.sa_flags = (int)SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* Walk, then the final count line and the state file. Returns the exit code. */
static int run(struct rekey *rk)
{
	bool complete;
	char k[256];
	int r;

	install_signals();
	clock_gettime(CLOCK_MONOTONIC, &rk->last_report);
	r = walk(rk);
	complete = r == 0;
	if (complete && rk->a.state_file && unlink(rk->a.state_file) != 0 && errno != ENOENT)
		say("cannot remove state file '%s': %s", rk->a.state_file, strerror(errno));
	if (!complete && rk->a.state_file && rk->last_done)
		(void)save_state(rk->a.state_file, rk->last_done);
	if (complete) {
		report(rk, "done");
	} else {
		char what[300];

		snprintf(what, sizeof(what), "stopped after '%s'",
			 rk->last_done ? printable(rk->last_done, k, sizeof(k)) : "");
		report(rk, what);
	}
	if (r && r != -EINTR)
		return EXIT_SETUP;
	if (rk->n.failed)
		return EXIT_FAILED;
	return !complete && stop_signal ? EXIT_INTERRUPTED : 0;
}

int main(int argc, char *argv[])
{
	struct rekey rk;
	char **rest;
	int n_rest = 0, rc = EXIT_SETUP, r;

	memset(&rk, 0, sizeof(rk));
	/* before any key is read: no core file holds the old or new keys */
	r = crypto_forbid_core_dumps();
	if (r)
		say("warning: cannot make the process non-dumpable: %s; a core dump may hold keys",
		    strerror(-r));
	rest = calloc((size_t)argc + 1, sizeof(*rest));
	if (!rest)
		return EXIT_SETUP;
	r = parse_args(argc, argv, &rk.a, rest, &n_rest);
	if (r == 1)
		rc = 0;
	if (r)
		goto out_args;
	if (parse_options(&rk, n_rest, rest) != 0) {
		fprintf(stderr, "Try 'obsmount-rekey --help' for more information.\n");
		goto out_args;
	}
	log_init(true, rk.cfg.log_level, rk.cfg.dbg);
	if (http_global_init() != 0) {
		say("cannot initialise libcurl");
		goto out_args;
	}
	xmlInitParser();
	if (setup(&rk) == 0 && start_point(&rk) == 0)
		rc = run(&rk);
	teardown(&rk);
	xmlCleanupParser();
	http_global_cleanup();
	free(rest);
	return rc;
out_args:
	opt_release(&rk.cfg);
	free(rest);
	return rc;
}
