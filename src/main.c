/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Startup in a fixed order: library initialisation, options, credentials
 * and encryption keys, the S3 context and store, a check of the bucket,
 * and only then the mount, daemonizing and the FUSE loop. Everything that
 * can be wrong is reported in one line before we daemonize.
 * Exit codes: 0 success, 1 bad usage, options, credentials or keys,
 * 2 failure at mount time (bucket unreachable, mount refused).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <curl/curl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <libxml/parser.h>
#include <libxml/xmlversion.h>
#include <openssl/crypto.h>

#include "check.h"
#include "cred.h"
#include "crypto.h"
#include "fs_ops.h"
#include "http.h"
#include "log.h"
#include "opt.h"
#include "s3.h"
#include "sig.h"
#include "sse.h"
#include "store_s3.h"

enum { EXIT_USAGE = 1, EXIT_MOUNT = 2 };

static void print_version(void)
{
	const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
	printf("obsmount %s\n", PACKAGE_VERSION);
	printf("libfuse %s, libcurl %s (%s), %s, libxml2 %s\n", fuse_pkgversion(), cv->version,
	       cv->ssl_version ? cv->ssl_version : "no TLS", OpenSSL_version(OPENSSL_VERSION),
	       LIBXML_DOTTED_VERSION);
}

static void PRINTF_LIKE(1, 2) fail(const char *fmt, ...)
{
	va_list ap;

	fputs("obsmount: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * libfuse's own messages go through our sink. libfuse writes some of them
 * in pieces (its "unknown option(s)" line takes three calls): pieces are
 * joined until the newline. Until we daemonize, its errors are refusals
 * at start-up and go to stderr as one line, like ours.
 */
static bool fuse_errors_to_stderr = true;

static void PRINTF_LIKE(2, 0) fuse_log_hook(enum fuse_log_level level, const char *fmt, va_list ap)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static char line[1024];
	static size_t len;
	enum log_level l = level <= FUSE_LOG_ERR       ? LOG_LVL_ERR
			   : level == FUSE_LOG_WARNING ? LOG_LVL_WARN
			   : level <= FUSE_LOG_INFO    ? LOG_LVL_INFO
						       : LOG_LVL_DEBUG;
	const char *msg;

	pthread_mutex_lock(&lock);
	if (len < sizeof(line) - 1) {
		int n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
		if (n > 0)
			len = len + (size_t)n < sizeof(line) ? len + (size_t)n : sizeof(line) - 1;
	}
	if (len == 0 || (line[len - 1] != '\n' && len < sizeof(line) - 1)) {
		pthread_mutex_unlock(&lock);
		return;
	}
	while (len && line[len - 1] == '\n')
		line[--len] = '\0';
	msg = strncmp(line, "fuse: ", 6) == 0 ? line + 6 : line;
	if (fuse_errors_to_stderr && l == LOG_LVL_ERR)
		fail("%s", msg);
	else
		log_msg(l, LOG_CAT_FUSE, "%s", msg);
	len = 0;
	pthread_mutex_unlock(&lock);
}

struct mount {
	struct mount_cfg cfg;
	struct fuse_cmdline_opts fo;
	struct cred *cred;
	struct sse_cfg *sse;
	struct s3_ctx *s3;
	struct store *store;
	struct fs_ctx *fs;
	struct fuse *fuse;
};

/*
 * Name the mount after its source as given (BUCKET[:/PREFIX], the first
 * argument that is no option), not "obsmount": findmnt and /proc/mounts
 * then show what fstab says, and mount -a sees the entry as mounted. The
 * options go first, so that a fsname= or subtype= of the user's wins.
 * 0 or -ENOMEM.
 */
static int add_fsname(struct fuse_args *args, int argc, char **argv)
{
	const char *src = NULL;
	struct buf b;
	int r;

	for (int i = 1; i < argc && !src; i++) {
		if (strcmp(argv[i], "-o") == 0)
			i++;
		else if (argv[i][0] != '-')
			src = argv[i];
	}
	if (!src)
		return 0;
	buf_init(&b, 4096 + 16);
	r = buf_adds(&b, "-ofsname=");
	/* libfuse's option syntax: a backslash escapes ',' and itself. */
	for (const char *p = src; r == 0 && *p; p++) {
		if (*p == ',' || *p == '\\')
			r = buf_add(&b, "\\", 1);
		if (r == 0)
			r = buf_add(&b, p, 1);
	}
	if (r == 0 && fuse_opt_insert_arg(args, 1, buf_str(&b)) != 0)
		r = -ENOMEM;
	/* libfuse names the type fuse.obsmount only when no fsname is given. */
	if (r == 0 && fuse_opt_insert_arg(args, 1, "-osubtype=obsmount") != 0)
		r = -ENOMEM;
	buf_release(&b);
	return r;
}

/*
 * The mount point exists, is a directory, is not already a mount point and
 * is empty (unless nonempty). 0 or an exit code, with the reason on stderr.
 */
static int check_mountpoint(const char *mp, bool nonempty)
{
	struct stat st, up;
	char parent[4096 + 4];
	struct dirent *e;
	DIR *d;
	int n;

	if (stat(mp, &st) != 0) {
		if (errno == ENOTCONN)
			fail("mount point '%s' is a stale mount; unmount it first (fusermount3 -u)",
			     mp);
		else
			fail("cannot use mount point '%s': %s", mp, strerror(errno));
		return EXIT_USAGE;
	}
	if (!S_ISDIR(st.st_mode)) {
		fail("mount point '%s' is not a directory", mp);
		return EXIT_USAGE;
	}
	if (nonempty)
		return 0;
	n = snprintf(parent, sizeof(parent), "%s/..", mp);
	if (n > 0 && (size_t)n < sizeof(parent) && stat(parent, &up) == 0 &&
	    (up.st_dev != st.st_dev || up.st_ino == st.st_ino)) {
		fail("mount point '%s' is already a mount point (use -o nonempty to mount over it)",
		     mp);
		return EXIT_USAGE;
	}
	d = opendir(mp);
	if (!d) {
		fail("cannot read mount point '%s': %s", mp, strerror(errno));
		return EXIT_USAGE;
	}
	while ((e = readdir(d)) && (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0))
		;
	closedir(d);
	if (e) {
		fail("mount point '%s' is not empty (use -o nonempty to mount over it)", mp);
		return EXIT_USAGE;
	}
	return 0;
}

/* Options and libfuse's command line. 0 or an exit code. */
/*
 * The options left for libfuse, tried on a throw-away instance: an unknown
 * one is refused now, before credentials and keys are looked for, and not
 * after them as fuse_new() in run() would. 0 or -1 (libfuse said why).
 */
static int check_fuse_options(const struct fuse_args *args)
{
	static const struct fuse_operations none;
	struct fuse_args copy = FUSE_ARGS_INIT(0, NULL);
	struct fuse *f;

	for (int i = 0; i < args->argc; i++) {
		if (fuse_opt_add_arg(&copy, args->argv[i]) != 0) {
			fuse_opt_free_args(&copy);
			fail("out of memory");
			return -1;
		}
	}
	f = fuse_new(&copy, &none, sizeof(none), NULL);
	fuse_opt_free_args(&copy);
	if (!f)
		return -1;
	fuse_destroy(f);
	return 0;
}

static int parse(struct fuse_args *args, struct mount *m)
{
	/* main()'s argv: opt_parse() replaces args->argv and drops BUCKET. */
	int argc0 = args->argc;
	char **argv0 = args->argv;
	struct buf problems;
	int r;

	if (opt_parse(args, &m->cfg) != 0)
		return EXIT_USAGE;
	buf_init(&problems, 64 * 1024);
	r = opt_validate(&m->cfg, &problems);
	if (r) {
		for (const char *l = buf_str(&problems); *l;) {
			const char *nl = strchr(l, '\n');
			int len = nl ? (int)(nl - l) : (int)strlen(l);
			fail("%.*s", len, l);
			l += len + (nl ? 1 : 0);
		}
		if (r == -ENOMEM)
			fail("out of memory");
		fprintf(stderr, "Try 'obsmount --help' for more information.\n");
		buf_release(&problems);
		return EXIT_USAGE;
	}
	buf_release(&problems);
	if (add_fsname(args, argc0, argv0) != 0 || opt_add_fuse_args(&m->cfg, args) != 0) {
		fail("out of memory");
		return EXIT_USAGE;
	}
	if (fuse_parse_cmdline(args, &m->fo) != 0)
		return EXIT_USAGE;
	if (!m->fo.mountpoint) {
		fail("missing MOUNTPOINT argument");
		return EXIT_USAGE;
	}
	if (check_fuse_options(args) != 0)
		return EXIT_USAGE;
	return check_mountpoint(m->fo.mountpoint, m->cfg.nonempty);
}

/* Credentials and encryption keys. 0 or an exit code. */
static int load_secrets(struct mount *m)
{
	struct cred_source src = { .passwd_file = m->cfg.passwd_file, .profile = m->cfg.profile };
	char err[512] = "";
	struct buf e;
	int r;

	r = cred_load(&src, m->cfg.bucket, &m->cred, err, sizeof(err));
	if (r) {
		if (err[0])
			fail("%s", err);
		else
			fail("cannot load credentials: %s", strerror(-r));
		return EXIT_USAGE;
	}
	if (!m->cfg.sse)
		return 0;
	buf_init(&e, 4096);
	r = sse_cfg_parse(m->cfg.sse, &m->sse, &e);
	if (r) {
		if (e.len)
			fail("%s", buf_str(&e));
		else
			fail("cannot use sse=: %s", strerror(-r));
	}
	buf_release(&e);
	return r ? EXIT_USAGE : 0;
}

/* The S3 context, the store and the filesystem state. 0 or an exit code. */
static int build(struct mount *m, struct s3_cfg *sc)
{
	int r;

	opt_s3_cfg(&m->cfg, m->cred, m->sse, sc);
	r = s3_ctx_new(sc, &m->s3);
	if (r) {
		fail("cannot use endpoint '%s': %s", m->cfg.url, strerror(-r));
		return EXIT_USAGE;
	}
	if (m->sse) {
		struct buf e;

		buf_init(&e, 4096);
		r = s3_ctx_check_guard(m->s3, sse_cfg_mode(m->sse), &e);
		if (r)
			fail("sse=%s: %s", sse_cfg_mode(m->sse) == STORE_SSE_C ? "c" : "kms",
			     e.len ? buf_str(&e) : strerror(-r));
		buf_release(&e);
		if (r)
			return EXIT_USAGE;
	}
	r = store_s3_new(m->s3, &m->store);
	if (r == 0)
		r = fs_ctx_new(&m->cfg, m->store, getuid(), getgid(), &m->fs);
	if (r) {
		fail("cannot set up: %s", strerror(-r));
		return EXIT_MOUNT;
	}
	return 0;
}

static int check_bucket(struct mount *m)
{
	int r = fs_check_bucket(m->fs);

	if (r == 0)
		return 0;
	if (r == -ENOENT)
		fail("bucket '%s' does not exist at '%s'", m->cfg.bucket, m->cfg.url);
	else if (r == -EACCES || r == -EPERM)
		fail("access to bucket '%s' at '%s' denied: %s", m->cfg.bucket, m->cfg.url,
		     strerror(-r));
	else
		fail("cannot reach bucket '%s' at '%s': %s", m->cfg.bucket, m->cfg.url,
		     strerror(-r));
	return EXIT_MOUNT;
}

/* SIGHUP: logrotate moved the log file away. */
static void reopen_log(void *arg)
{
	struct mount *m = arg;
	int r = log_reopen();

	if (r)
		log_msg(LOG_LVL_ERR, LOG_CAT_MAIN, "cannot reopen log_file '%s': %s",
			m->cfg.log_file, strerror(-r));
	else if (m->cfg.log_file)
		log_msg(LOG_LVL_INFO, LOG_CAT_MAIN, "reopened log_file '%s'", m->cfg.log_file);
}

/* SIGUSR1: the counters of the caches, the filesystem and the S3 layer. */
static void log_stats(void *arg)
{
	struct mount *m = arg;
	struct fs_stats f;
	struct s3_stats s;

	fs_get_stats(m->fs, &f);
	s3_get_stats(m->s3, &s);
	log_notice("stats: stat cache: hits=%lu misses=%lu negative_hits=%lu entries=%zu "
		   "evictions=%lu dropped=%lu",
		   f.cache.hits, f.cache.misses, f.cache.negative_hits, f.cache.n_stat,
		   f.cache.evictions, f.cache.dropped);
	log_notice("stats: dir cache: hits=%lu misses=%lu dirs=%zu entries=%zu bytes=%zu",
		   f.cache.dir_hits, f.cache.dir_misses, f.cache.n_dirs, f.cache.n_dirents,
		   f.cache.dir_bytes);
	log_notice("stats: transfers: bytes_read=%" PRIu64 " bytes_written=%" PRIu64
		   " requests=%lu retries=%lu failed=%lu",
		   f.bytes_read, f.bytes_written, s.requests, s.retries, s.errors);
}

/*
 * In the process that serves the mount, after daemonizing: memory locks
 * are not inherited across fork(), so the keys are locked again, and the
 * non-dumpable flag is set again and read back.
 */
static void protect_secrets(void)
{
	int d = crypto_forbid_core_dumps();
	int l = secret_lock_all();

	if (d)
		log_msg(LOG_LVL_WARN, LOG_CAT_MAIN,
			"cannot make the process non-dumpable: %s; a core dump may hold keys",
			strerror(-d));
	if (l)
		log_msg(LOG_LVL_WARN, LOG_CAT_MAIN,
			"cannot lock keys in memory: %s; they may reach swap (raise the "
			"RLIMIT_MEMLOCK, ulimit -l)",
			strerror(-l));
	if (!d && !l)
		log_msg(LOG_LVL_INFO, LOG_CAT_MAIN,
			"process not dumpable; keys locked in memory and excluded from core "
			"dumps");
}

/*
 * The bucket's default encryption, so that the guard knows what a write
 * without encryption of its own creates (an SSE-KMS default takes HTTPS
 * and V4). Unreadable: the mount goes on treating such writes as plain.
 */
static void read_bucket_enc(struct mount *m)
{
	struct store_enc be;
	struct s3_status st;
	int r = s3_get_bucket_encryption(m->s3, &be, &st);

	if (r) {
		log_msg(LOG_LVL_WARN, LOG_CAT_MAIN,
			"cannot read the default encryption of bucket '%s': %s%s%s%s; new objects "
			"are treated as sse= says",
			m->cfg.bucket, st.http_status ? s3_err_describe(&st) : strerror(-r),
			st.code[0] ? " (" : "", st.code, st.code[0] ? ")" : "");
		return;
	}
	s3_ctx_set_bucket_enc(m->s3, &be);
	log_msg(LOG_LVL_INFO, LOG_CAT_MAIN, "bucket '%s' default encryption: %s%s%s%s",
		m->cfg.bucket, sse_mode_name(be.mode), be.kms_key_id[0] ? " key '" : "",
		be.kms_key_id, be.kms_key_id[0] ? "'" : "");
}

/*
 * Does the server verify the CRC-32C of every body? Then Content-MD5, which
 * costs more CPU than all the rest of a write, is left out. A writable
 * mount asks once, with a PUT the server refuses when it verifies.
 */
static void probe_checksum(struct mount *m)
{
	char key[1100];
	bool verified = false;
	int r;

	if (m->cfg.ro)
		return;
	const char *prefix = m->cfg.prefix ? m->cfg.prefix : "";

	snprintf(key, sizeof(key), "%s.obsmount-checksum-probe", prefix);
	r = s3_probe_checksum(m->s3, key, &verified);
	if (r)
		log_msg(LOG_LVL_INFO, LOG_CAT_MAIN,
			"cannot tell whether the server verifies CRC-32C (%s): Content-MD5 stays",
			strerror(-r));
	else
		log_msg(LOG_LVL_INFO, LOG_CAT_MAIN, "the server %s CRC-32C checksums%s",
			verified ? "verifies" : "does not verify",
			verified ? ": bodies go without Content-MD5" : ": Content-MD5 stays");
}

/*
 * Every open file that outgrows its share of the memory budget is staged
 * in a temporary file of its own: with the usual soft limit of 1,024
 * descriptors, the thousandth such file would fail with EMFILE. Raise the
 * soft limit to the hard one, as far as it goes.
 */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		log_msg(LOG_LVL_DEBUG, LOG_CAT_MAIN, "cannot raise the limit of open files: %s",
			strerror(errno));
}

/* Undo the octal escapes of a path in /proc/self/mountinfo, in place. */
static void mountinfo_unescape(char *s)
{
	char *d = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*d++ = *s;
		}
	}
	*d = '\0';
}

/*
 * The kernel caps a FUSE mount's read-ahead at its default of 128 KiB,
 * whatever max_readahead says, so that a sequential reader's data arrives
 * in 128 KiB requests, each a round trip through the daemon. Raise this
 * mount's own read_ahead_kb (its backing device in sysfs) to the 1 MiB we
 * negotiate. Only root may; anything else leaves the kernel's value.
 * @real is the mount point's real path, resolved before it was mounted
 * (resolving it now would ask this very daemon, which does not serve yet).
 */
static void raise_readahead(const char *real)
{
	char *line = NULL;
	unsigned maj = 0, min = 0;
	bool found = false;
	size_t cap = 0;
	FILE *f;

	if (!real)
		return;
	f = fopen("/proc/self/mountinfo", "re");
	while (f && getline(&line, &cap, f) > 0) {
		char mp[4096];
		unsigned a, b;
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT ...: the last match is on top */
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &a, &b, mp) != 3)
			continue;
		mountinfo_unescape(mp);
		if (strcmp(mp, real) == 0) {
			maj = a;
			min = b;
			found = true;
		}
	}
	if (f)
		fclose(f);
	free(line);
	if (!found)
		return;
	char path[64];
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", maj, min);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : write(fd, "1024\n", 5);
	int err = errno;
	if (fd >= 0)
		close(fd);
	if (n != 5) {
		log_msg(LOG_LVL_DEBUG, LOG_CAT_MAIN, "read-ahead stays at the kernel's: %s",
			strerror(n < 0 ? err : EIO));
		return;
	}
	log_msg(LOG_LVL_DEBUG, LOG_CAT_MAIN, "read-ahead of %u:%u raised to 1024 KiB", maj, min);
}

static int run(struct fuse_args *args, struct mount *m)
{
	struct sig_actions sa = { .on_hup = reopen_log, .on_usr1 = log_stats, .arg = m };
	struct fuse_session *se;
	int r;

	m->fuse = fuse_new(args, fs_operations(), sizeof(*fs_operations()), m->fs);
	if (!m->fuse)
		return EXIT_USAGE; /* libfuse said why (an unknown option, usually) */
	r = check_bucket(m);
	if (r)
		return r;
	if (opt_is_unchecked_shared(&m->cfg))
		log_msg(LOG_LVL_WARN, LOG_CAT_MAIN,
			"allow_other without permission checks (no_default_permissions): every "
			"local user can read, change and delete every file of '%s'",
			m->fo.mountpoint);
	read_bucket_enc(m);
	probe_checksum(m);
	char *real = realpath(m->fo.mountpoint, NULL);
	if (fuse_mount(m->fuse, m->fo.mountpoint) != 0) {
		free(real);
		return EXIT_MOUNT;
	}
	raise_readahead(real);
	free(real);
	raise_nofile();
	se = fuse_get_session(m->fuse);
	if (fuse_daemonize(m->fo.foreground) != 0) {
		fuse_unmount(m->fuse);
		return EXIT_MOUNT;
	}
	/* stderr is /dev/null from here on in the background: syslog instead. */
	fuse_errors_to_stderr = false;
	if (!m->fo.foreground && !m->cfg.log_file)
		log_use_syslog();
	if (fuse_set_signal_handlers(se) != 0) {
		fuse_unmount(m->fuse);
		return EXIT_MOUNT;
	}
	protect_secrets();
	/* After libfuse's handlers: ours replace its SIGHUP, which would unmount. */
	r = sig_start(&sa);
	if (r)
		log_msg(LOG_LVL_WARN, LOG_CAT_MAIN, "cannot handle SIGHUP and SIGUSR1: %s",
			strerror(-r));
	log_msg(LOG_LVL_INFO, LOG_CAT_MAIN, "mounted bucket '%s' on '%s'", m->cfg.bucket,
		m->fo.mountpoint);
	if (m->fo.singlethread)
		r = fuse_loop(m->fuse);
	else
		r = fuse_loop_mt(m->fuse, m->fo.clone_fd);
	sig_stop();
	fuse_remove_signal_handlers(se);
	fuse_unmount(m->fuse);
	/* A positive result is the signal that ended the loop: a clean stop. */
	return r < 0 ? EXIT_MOUNT : 0;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct mount m;
	struct s3_cfg sc;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
			print_version();
			return 0;
		}
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			opt_print_help(stdout);
			return 0;
		}
	}
	/*
	 * Before any key or credential is read: no core file, no ptrace by
	 * the user's other processes. fork() (daemonizing) keeps the flag;
	 * run() checks it again in the process that stays.
	 */
	int nodump = crypto_forbid_core_dumps();
	if (nodump)
		fprintf(stderr,
			"obsmount: warning: cannot make the process non-dumpable: %s; a core "
			"dump may hold keys\n",
			strerror(-nodump));
	long abort_hours;
	if (uploads_take_flags(&argc, argv, &abort_hours)) {
		if (http_global_init() != 0) {
			fail("cannot initialise libcurl");
			return 1;
		}
		xmlInitParser();
		rc = uploads_main(argc, argv, abort_hours, stdout);
		xmlCleanupParser();
		http_global_cleanup();
		return rc;
	}
	if (check_take_flag(&argc, argv)) {
		if (http_global_init() != 0) {
			fail("cannot initialise libcurl");
			return 1;
		}
		xmlInitParser();
		rc = check_main(argc, argv, stdout);
		xmlCleanupParser();
		http_global_cleanup();
		return rc;
	}
	memset(&m, 0, sizeof(m));
	fuse_set_log_func(fuse_log_hook);
	rc = parse(&args, &m);
	if (rc)
		goto out;
	/* stderr until we daemonize, so that every refusal reaches the user. */
	log_init(true, m.fo.debug ? LOG_LVL_DEBUG : m.cfg.log_level,
		 m.fo.debug ? LOG_CAT_ALL : m.cfg.dbg);
	if (m.cfg.log_file) {
		int r = log_open_file(m.cfg.log_file);
		if (r) {
			fail("cannot open log_file '%s': %s", m.cfg.log_file, strerror(-r));
			rc = EXIT_USAGE;
			goto out;
		}
	}
	/* Library state before any thread exists. */
	if (http_global_init() != 0) {
		fail("cannot initialise libcurl");
		rc = EXIT_MOUNT;
		goto out;
	}
	xmlInitParser();
	rc = load_secrets(&m);
	if (rc == 0)
		rc = build(&m, &sc);
	if (rc == 0)
		rc = run(&args, &m);
	if (m.fuse)
		fuse_destroy(m.fuse); /* runs destroy(): stores files left open */
	if (rc == 0 && fs_shutdown_error(m.fs) != 0)
		rc = EXIT_MOUNT;
	fs_ctx_free(m.fs);
	store_s3_free(m.store);
	s3_ctx_free(m.s3);
	sse_cfg_free(m.sse);
	cred_free(m.cred);
	xmlCleanupParser();
	http_global_cleanup();
out:
	free(m.fo.mountpoint);
	opt_release(&m.cfg);
	fuse_opt_free_args(&args);
	return rc;
}
