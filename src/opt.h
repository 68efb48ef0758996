/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Mount options: the one fuse_opt table, struct mount_cfg, the checks of
 * every option and cross-option rule (opt_validate) and the --help text.
 * It does not load credentials or touch the network.
 */
#ifndef obsmount_OPT_H
#define obsmount_OPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include <fuse_opt.h>

#include "log.h"
#include "store.h"
#include "util/buf.h"
#include "util/compiler.h"

enum opt_addressing {
	OPT_ADDR_PATH = 0, /* https://host/bucket/key */
	OPT_ADDR_VIRTUAL,  /* https://bucket.host/key */
};

/* Defaults, also quoted by --help and the man page. */
#define OPT_DEFAULT_URL "https://s3.amazonaws.com"
#define OPT_DEFAULT_REGION "us-east-1"
#define OPT_DEFAULT_STAT_TTL 60
#define OPT_DEFAULT_META_DELAY 1
#define OPT_DEFAULT_DIR_TTL 30
#define OPT_DEFAULT_PART_SIZE 16 /* MiB */
#define OPT_DEFAULT_PARALLEL 8
#define OPT_DEFAULT_RETRIES 5
#define OPT_DEFAULT_TIMEOUT 30 /* seconds */

/*
 * The mount configuration. Filled by opt_parse() and opt_validate(), then
 * immutable: every other module gets it as const. The typed fields are
 * valid only after opt_validate() returned 0. Strings are owned by the
 * struct (released by opt_release()).
 */
struct mount_cfg {
	/* Positional arguments. */
	char *bucket;
	char *prefix; /* key prefix: "" or "dir/sub/" (no leading '/') */
	char *mountpoint;

	/* String options (NULL when not given, unless a default applies). */
	char *url;	 /* endpoint, http:// or https:// */
	char *https_url; /* HTTPS endpoint for requests that must use TLS, or NULL */
	char *region;
	char *passwd_file;
	char *profile;
	char *cafile;
	char *cache_dir;
	char *sse;	/* sse= as given ("none", "s3", "kms[:ID]", "c:PATH"), or NULL */
	char *log_file; /* absolute path, or NULL: syslog (stderr with -f) */

	/* Flags, also handed on to libfuse. */
	int ro;
	int allow_other;
	int default_permissions;    /* given: the kernel checks permissions */
	int no_default_permissions; /* allow_other without permission checks, on purpose */
	int nonempty;		    /* mount over a non-empty directory */

	/* Typed values, set by opt_validate(). */
	unsigned sigv; /* 2 or 4 */
	enum opt_addressing addressing;
	uid_t uid;
	gid_t gid;
	mode_t umask;
	bool has_uid, has_gid, has_umask;
	unsigned stat_ttl;   /* seconds; 0 disables the stat and negative caches */
	unsigned dir_ttl;    /* seconds; 0 disables the directory cache */
	unsigned meta_delay; /* seconds a metadata change of a stored file may wait; 0: none */
	size_t part_size;    /* bytes */
	unsigned parallel;
	unsigned retries;
	unsigned timeout; /* seconds */
	enum log_level log_level;
	unsigned dbg;	   /* LOG_CAT_* bits */
	bool guard_strict; /* guard=strict: refuse instead of upgrading to HTTPS/V4 */
	/* What sse= asks for (its keys are loaded by the sse module). */
	enum store_sse sse_mode;
	/* Attributes of listed entries come from the listing, without a HEAD each. */
	bool listing_attrs;

	/* The text of the typed options as given, NULL when not given. */
	struct {
		char *sigv, *addressing, *uid, *gid, *umask, *stat_ttl, *dir_ttl, *part_size,
			*parallel, *retries, *timeout, *log_level, *dbg, *guard, *listing_attrs,
			*meta_delay;
	} raw;

	/* Parser state: extra positional arguments seen (an error). */
	int n_extra;

	/*
	 * Set by the caller between opt_parse() and opt_validate() for a tool
	 * that takes no MOUNTPOINT argument (obsmount-rekey).
	 */
	bool no_mountpoint;
};

/*
 * Parse @args (argv as given to main) into @cfg, which this initialises
 * first (string defaults strdup'ed). Our options are removed from @args;
 * libfuse's (-f, -d, -s, ro, allow_other, unknown -o options) and the
 * mountpoint stay for fuse_parse_cmdline()/fuse_new(). fstab noise (auto,
 * noauto, user, nouser, nofail, _netdev, defaults, x-systemd.*) is dropped.
 * Returns 0, or -EINVAL when libfuse's parser failed (it printed why);
 * bad values are left for opt_validate(). @cfg must be released with
 * opt_release() in either case.
 */
int opt_parse(struct fuse_args *args, struct mount_cfg *cfg) MUST_CHECK;

/*
 * Add to @args (borrowed) the libfuse options that @cfg implies:
 * default_permissions with allow_other (so that the kernel checks every
 * access against the stored mode and owner) unless no_default_permissions
 * or default_permissions itself was given. 0 or -ENOMEM.
 */
int opt_add_fuse_args(const struct mount_cfg *cfg, struct fuse_args *args) MUST_CHECK;

/* allow_other without permission checks: anyone may read and delete anything. */
bool opt_is_unchecked_shared(const struct mount_cfg *cfg);

/*
 * Check every option and every cross-option rule; fill the typed fields.
 * Each problem is appended to @problems (borrowed, caller-initialised) as
 * one line ending in '\n'. Returns 0, or -EINVAL after reporting all
 * problems (or -ENOMEM).
 */
int opt_validate(struct mount_cfg *cfg, struct buf *problems) MUST_CHECK;

/* Free the strings of @cfg and zero it. NULL-safe. */
void opt_release(struct mount_cfg *cfg);

/* Print the usage and every option, grouped by topic, to @out. */
void opt_print_help(FILE *out);

struct s3_cfg;
struct cred;
struct sse_cfg;

/*
 * The S3 layer's configuration for validated options @cfg: bucket,
 * endpoints, region, signature, addressing, CA file, retries, timeout,
 * guard policy, a pool for the mount's parallel transfers, and the
 * credentials @cred and keys @sse (may be NULL). Every pointer in @sc
 * borrows from @cfg, @cred and @sse, which must outlive the S3 context.
 * Callers that are not mounts adjust what they need afterwards.
 */
void opt_s3_cfg(const struct mount_cfg *cfg, const struct cred *cred, const struct sse_cfg *sse,
		struct s3_cfg *sc);

/* Is @bucket a DNS-compatible name (virtual-hosted addressing)? */
bool opt_is_dns_bucket(const char *bucket);

#endif
