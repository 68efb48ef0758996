/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * obsmount --check: each check of a mount command line prints one verdict
 * with a concrete fix for a failure. Every S3 request goes through the
 * builders of s3.h (so through the protocol guard); the only network I/O of
 * its own is a plain TCP connect to tell DNS and routing problems apart
 * from S3 ones. It does not mount, and it reuses opt, cred and sse rather
 * than parsing anything itself.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "check.h"
#include "cred.h"
#include "crypto.h"
#include "log.h"
#include "opt.h"
#include "s3.h"
#include "sse.h"

/* Clock skew limits: S3 refuses requests more than 15 minutes off. */
#define SKEW_FAIL_S 300
#define SKEW_WARN_S 60
#define PROBE_BODY "obsmount --check probe object; safe to delete\n"
#define HOST_MAX 256

enum verdict { V_OK, V_WARN, V_FAIL };

struct check {
	FILE *out;
	int failed;
	struct mount_cfg cfg;
	struct cred *cred;    /* owned; NULL when none could be loaded */
	struct sse_cfg *sse;  /* owned; NULL for none */
	enum store_sse mode;  /* sse_cfg_mode(), or what sse= asks for if it failed */
	bool sse_ok;	      /* no sse= or its keys loaded */
	const char *https_ep; /* url if https, else https_url, else NULL (borrowed from cfg) */
	bool url_up;	      /* TCP connect to url worked */
	bool https_up;	      /* TCP connect to the HTTPS endpoint worked */
	bool tls_failed;      /* reported already: do not blame S3 for it */
	time_t date;	      /* a server Date header seen, 0 if none */
	long skew;	      /* server minus local seconds (valid when date != 0) */
	enum s3_addressing addressing; /* the addressing that reaches the bucket */
	struct s3_cfg sc;	       /* of s3 (borrowed strings from cfg) */
	struct s3_ctx *s3;	       /* owned; the mount's endpoints */
	bool bucket_ok;
	bool creds_said; /* the "credentials accepted" verdict was printed */
};

static void PRINTF_LIKE(4, 5)
	say(struct check *k, enum verdict v, const char *fix, const char *fmt, ...)
{
	static const char *const tag[] = { "ok", "warn", "FAIL" };
	va_list ap;

	if (v == V_FAIL)
		k->failed++;
	fprintf(k->out, "%s: ", tag[v]);
	va_start(ap, fmt);
	vfprintf(k->out, fmt, ap);
	va_end(ap);
	if (fix && v != V_OK)
		fprintf(k->out, "; fix: %s", fix);
	fputc('\n', k->out);
	fflush(k->out);
}

bool check_take_flag(int *argc, char **argv)
{
	bool found = false;
	int j = 1;

	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--check") == 0)
			found = true;
		else
			argv[j++] = argv[i];
	}
	if (found) {
		*argc = j;
		argv[j] = NULL;
	}
	return found;
}

bool uploads_take_flags(int *argc, char **argv, long *abort_hours)
{
	static const char opt[] = "--abort-older-than=";
	bool found = false;
	int j = 1;

	*abort_hours = -1;
	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--incomplete-uploads") == 0) {
			found = true;
		} else if (strncmp(argv[i], opt, sizeof(opt) - 1) == 0) {
			const char *v = argv[i] + sizeof(opt) - 1;
			char *end;
			long h;
			errno = 0;
			h = strtol(v, &end, 10);
			*abort_hours = (*v && !*end && !errno && h >= 0) ? h : -2;
		} else {
			argv[j++] = argv[i];
		}
	}
	if (found) {
		*argc = j;
		argv[j] = NULL;
	}
	return found;
}

static bool is_https(const char *url)
{
	return url && strncmp(url, "https://", 8) == 0;
}

/* ---- options, credentials, keys --------------------------------------- */

/*
 * Mount options of libfuse and the kernel that opt_parse() leaves for
 * fuse_new(). Only fuse_new() can judge them, and it runs at mount time:
 * anything else is most likely a misspelt option of ours.
 */
static const char fuse_known[] =
	" allow_other allow_root auto_unmount default_permissions ro rw fsname= subtype="
	" max_read= blkdev blksize= nodev dev nosuid suid noexec exec async sync dirsync"
	" atime noatime relatime context= fscontext= defcontext= rootcontext= max_threads="
	" max_idle_threads= clone_fd kernel_cache auto_cache noauto_cache entry_timeout="
	" negative_timeout= attr_timeout= ac_attr_timeout= noforget remember= modules="
	" hard_remove use_ino readdir_ino direct_io intr intr_signal= nopath debug ";

/* Is option @o (@n bytes, "name" or "name=value") in fuse_known? */
static bool is_fuse_known(const char *o, size_t n)
{
	const char *eq = memchr(o, '=', n);
	char word[64];
	int w = snprintf(word, sizeof(word), " %.*s ", (int)(eq ? (size_t)(eq - o + 1) : n), o);

	return w > 0 && (size_t)w < sizeof(word) && strstr(fuse_known, word);
}

/*
 * Warn about each -o option left over that libfuse is unlikely to know.
 * Only the name is shown: the value of a misspelt option may be a secret.
 */
static void check_leftovers(struct check *k, const struct fuse_args *args)
{
	for (int i = 1; i < args->argc; i++) {
		const char *a = args->argv[i];
		if (strncmp(a, "-o", 2) != 0)
			continue;
		a = a[2] ? a + 2 : (i + 1 < args->argc ? args->argv[++i] : "");
		while (*a) {
			size_t n = strcspn(a, ",");
			size_t name = strcspn(a, ",=");
			if (n && !is_fuse_known(a, n))
				say(k, V_WARN,
				    "correct its spelling (obsmount --help lists the options); "
				    "libfuse refuses options it does not know at mount time",
				    "options: '%.*s' is neither an obsmount option nor a common "
				    "libfuse one",
				    (int)name, a);
			a += n + (a[n] == ',');
		}
	}
}

/* opt_parse() and opt_validate(). Returns false when nothing else can run. */
static bool check_options(struct check *k, int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct buf problems;
	bool usable;
	int r;

	r = opt_parse(&args, &k->cfg);
	if (!r)
		check_leftovers(k, &args);
	fuse_opt_free_args(&args);
	if (r) {
		say(k, V_FAIL,
		    "correct the command line: obsmount --check BUCKET[:/PREFIX] -o OPTION,...",
		    "options: cannot parse the command line");
		return false;
	}
	/* Check mode mounts nothing; opt_validate() insists on a mount point. */
	if (!k->cfg.mountpoint && !(k->cfg.mountpoint = strdup("-")))
		return false;
	buf_init(&problems, 64 * 1024);
	r = opt_validate(&k->cfg, &problems);
	for (const char *l = buf_str(&problems); *l;) {
		const char *nl = strchr(l, '\n');
		int len = nl ? (int)(nl - l) : (int)strlen(l);
		say(k, V_FAIL, "correct that option; obsmount --help lists the accepted values",
		    "options: %.*s", len, l);
		l += len + (nl ? 1 : 0);
	}
	buf_release(&problems);
	if (r == -ENOMEM)
		say(k, V_FAIL, "free some memory", "options: out of memory");
	k->mode = k->cfg.sse_mode;
	k->https_ep = is_https(k->cfg.url) ? k->cfg.url : k->cfg.https_url;
	usable = k->cfg.bucket && *k->cfg.bucket && k->cfg.url;
	if (!r)
		say(k, V_OK, NULL,
		    "options: bucket '%s'%s%s%s, url %s%s%s, signature V%u, %s-style addressing, "
		    "encryption %s",
		    k->cfg.bucket, *k->cfg.prefix ? " (prefix '" : "", k->cfg.prefix,
		    *k->cfg.prefix ? "')" : "", k->cfg.url, k->cfg.https_url ? ", https_url " : "",
		    k->cfg.https_url ? k->cfg.https_url : "", k->cfg.sigv,
		    k->cfg.addressing == OPT_ADDR_VIRTUAL ? "virtual" : "path",
		    sse_mode_name(k->mode));
	return usable;
}

static void check_credentials(struct check *k)
{
	struct cred_source src = { .passwd_file = k->cfg.passwd_file, .profile = k->cfg.profile };
	char err[512] = "";
	const char *fix;
	int r;

	r = cred_load(&src, k->cfg.bucket, &k->cred, err, sizeof(err));
	if (!r) {
		say(k, V_OK, NULL, "credentials: access key '%s' from %s%s", k->cred->access_key,
		    k->cred->origin, k->cred->session_token ? ", with a session token" : "");
		return;
	}
	if (r == -ENOENT)
		fix = "put ACCESS_KEY:SECRET_KEY in ~/" CRED_HOME_PASSWD " (mode 0600) or the "
		      "file named by passwd_file=, or set AWS_ACCESS_KEY_ID and "
		      "AWS_SECRET_ACCESS_KEY";
	else if (r == -EACCES)
		fix = "chmod 600 the credentials file (it must not be readable by group or others)";
	else if (r == -EINVAL)
		fix = "write one ACCESS_KEY:SECRET_KEY (or BUCKET:ACCESS_KEY:SECRET_KEY) per line";
	else
		fix = "make the credentials file readable by the mounting user";
	say(k, V_FAIL, fix, "credentials: %s", err[0] ? err : strerror(-r));
}

static void check_sse_keys(struct check *k)
{
	struct buf e;
	const char *fix;
	int r;

	k->sse_ok = true;
	if (!k->cfg.sse || k->mode == STORE_SSE_NONE)
		return;
	buf_init(&e, 4096);
	r = sse_cfg_parse(k->cfg.sse, &k->sse, &e);
	if (!r) {
		k->mode = sse_cfg_mode(k->sse);
		if (k->mode == STORE_SSE_C)
			say(k, V_OK, NULL,
			    "encryption keys: %zu SSE-C key%s loaded, current key MD5 %s",
			    sse_cfg_key_count(k->sse), sse_cfg_key_count(k->sse) == 1 ? "" : "s",
			    sse_cfg_key(k->sse, 0)->md5_b64);
		else if (k->mode == STORE_SSE_KMS)
			say(k, V_OK, NULL, "encryption keys: SSE-KMS with %s%s%s",
			    sse_cfg_kms_key_id(k->sse) ? "key '" : "the bucket's default key",
			    sse_cfg_kms_key_id(k->sse) ? sse_cfg_kms_key_id(k->sse) : "",
			    sse_cfg_kms_key_id(k->sse) ? "'" : "");
		buf_release(&e);
		return;
	}
	k->sse_ok = false;
	if (r == -EACCES)
		fix = "chown the key file to the mounting user and chmod 600 it";
	else if (r == -ENOENT)
		fix = "create the key file or correct its path in sse=c:KEYFILE";
	else if (r == -EINVAL)
		fix = "write one key per line: base64 of 32 bytes or 64 hex digits";
	else
		fix = "make the key file readable by the mounting user";
	say(k, V_FAIL, fix, "encryption keys: %s", e.len ? buf_str(&e) : strerror(-r));
	buf_release(&e);
}

/* ---- DNS and TCP ---------------------------------------------------------- */

/* Host and port of "scheme://host[:port]" (IPv6 literals in brackets). */
static int split_url(const char *url, char host[HOST_MAX], char port[16])
{
	const char *sep = strstr(url, "://");
	const char *h, *end, *colon = NULL;
	size_t hl;

	if (!sep)
		return -EINVAL;
	h = sep + 3;
	end = h + strcspn(h, "/?#");
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));
		if (!rb)
			return -EINVAL;
		hl = (size_t)(rb - h - 1);
		h++;
		if (rb + 1 < end && rb[1] == ':')
			colon = rb + 1;
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		hl = (size_t)((colon ? colon : end) - h);
	}
	if (!hl || hl >= HOST_MAX)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (colon) {
		size_t pl = (size_t)(end - colon - 1);
		if (!pl || pl >= 16)
			return -EINVAL;
		memcpy(port, colon + 1, pl);
		port[pl] = '\0';
	} else {
		snprintf(port, 16, "%s", is_https(url) ? "443" : "80");
	}
	return 0;
}

/* Connect to @ai within @timeout_ms and hang up. 0 or -errno. */
static int tcp_probe(const struct addrinfo *ai, int timeout_ms)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			ai->ai_protocol);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		int n;

		if (errno != EINPROGRESS) {
			rc = -errno;
			goto out;
		}
		n = poll(&p, 1, timeout_ms);
		if (n <= 0) {
			rc = n ? -errno : -ETIMEDOUT;
			goto out;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
			rc = -errno;
		else
			rc = -soerr;
	}
out:
	close(fd);
	return rc;
}

/* Resolve and connect to the endpoint @url of option @name. */
static bool check_reach(struct check *k, const char *name, const char *url)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res = NULL;
	char host[HOST_MAX], port[16], addr[INET6_ADDRSTRLEN] = "?";
	char fix[512];
	int rc = -EHOSTUNREACH, g;

	if (split_url(url, host, port)) {
		say(k, V_FAIL, "write the endpoint as http[s]://HOST[:PORT]",
		    "reach %s: cannot parse '%s'", name, url);
		return false;
	}
	g = getaddrinfo(host, port, &hints, &res);
	if (g) {
		snprintf(fix, sizeof(fix), "correct the host name in %s= or the DNS configuration",
			 name);
		say(k, V_FAIL, fix, "reach %s: cannot resolve host '%s': %s", name, host,
		    g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
		return false;
	}
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr), NULL, 0,
			    NI_NUMERICHOST);
		rc = tcp_probe(ai, (int)k->cfg.timeout * 1000);
		if (!rc)
			break;
	}
	freeaddrinfo(res);
	if (!rc) {
		say(k, V_OK, NULL, "reach %s: %s port %s (%s) accepts TCP connections", name, host,
		    port, addr);
		return true;
	}
	snprintf(fix, sizeof(fix),
		 "check the host and port in %s= (%s), that the service listens there and that "
		 "no firewall blocks it",
		 name, url);
	say(k, V_FAIL, fix, "reach %s: cannot connect to %s port %s (%s): %s", name, host, port,
	    addr, strerror(-rc));
	return false;
}

/* ---- S3 contexts ---------------------------------------------------------- */

/* A context for @url (and @https_url, may be NULL) with @addr; fills @sc. */
static int open_ctx(struct check *k, const char *url, const char *https_url,
		    enum s3_addressing addr, struct s3_cfg *sc, struct s3_ctx **out)
{
	opt_s3_cfg(&k->cfg, k->cred, k->sse, sc);
	sc->url = url;
	sc->https_url = https_url;
	sc->addressing = addr;
	sc->retries = k->cfg.retries ? 1 : 0; /* a diagnosis, not a mount: fail fast */
	sc->parallel = 1;
	return s3_ctx_new(sc, out);
}

/* HeadBucket through a throwaway context; remembers the server's clock. */
static int head_with(struct check *k, const char *url, enum s3_addressing addr,
		     struct s3_status *st)
{
	struct s3_cfg sc;
	struct s3_ctx *c;
	time_t t0 = time(NULL);
	int r = open_ctx(k, url, NULL, addr, &sc, &c);

	s3_status_init(st);
	if (r)
		return r;
	r = s3_head_bucket(c, st);
	s3_ctx_free(c);
	if (st->date && !k->date) {
		k->date = st->date;
		k->skew = (long)(st->date - (t0 + time(NULL)) / 2);
	}
	return r;
}

static void check_tls(struct check *k)
{
	struct s3_status st;
	char fix[512];
	int r;

	if (!k->https_ep || !k->https_up)
		return;
	r = head_with(k, k->https_ep, S3_ADDR_PATH, &st);
	if (st.http_status) {
		say(k, V_OK, NULL, "tls: %s presents a certificate valid for %s", k->https_ep,
		    k->cfg.cafile ? "the CA file" : "the system CA store");
		return;
	}
	k->tls_failed = true;
	if (r == -EPROTO && !strstr(st.message, "certificate"))
		snprintf(fix, sizeof(fix),
			 "make sure %s is the service's TLS port (a plain HTTP port answers no "
			 "TLS handshake)",
			 k->https_ep);
	else if (r == -EPROTO && k->cfg.cafile)
		snprintf(fix, sizeof(fix),
			 "make sure cafile='%s' holds the CA that signed the server's certificate, "
			 "that the certificate names the host of the URL and has not expired, and "
			 "that the port speaks TLS",
			 k->cfg.cafile);
	else if (r == -EPROTO)
		snprintf(fix, sizeof(fix),
			 "add cafile=PEM with the CA that signed the server's certificate (a "
			 "private CA is not in the system store), and make sure the certificate "
			 "names the host of the URL and the port speaks TLS");
	else
		snprintf(fix, sizeof(fix), "check that %s is the service's HTTPS endpoint",
			 k->https_ep);
	say(k, V_FAIL, fix, "tls: no TLS session with %s: %s%s%s", k->https_ep, strerror(-r),
	    st.message[0] ? ": " : "", st.message);
}

static void check_clock(struct check *k)
{
	long a = k->skew < 0 ? -k->skew : k->skew;
	const char *fix =
		"synchronise the clock (for example enable NTP: timedatectl set-ntp true)";

	if (!k->date)
		return;
	if (a > SKEW_FAIL_S)
		say(k, V_FAIL, fix, "clock: %ld s %s the server's (over %d s)", a,
		    k->skew < 0 ? "ahead of" : "behind", SKEW_FAIL_S);
	else if (a > SKEW_WARN_S)
		say(k, V_WARN, fix, "clock: %ld s %s the server's (over %d s)", a,
		    k->skew < 0 ? "ahead of" : "behind", SKEW_WARN_S);
	else
		say(k, V_OK, NULL, "clock: within %ld s of the server's", a);
}

/* ---- credentials, addressing, bucket ------------------------------------ */

static void creds_accepted(struct check *k)
{
	if (k->creds_said)
		return;
	k->creds_said = true;
	say(k, V_OK, NULL, "credentials accepted: access key '%s'", k->cred->access_key);
}

/* HeadBucket has no body: a ListObjectsV2 of one key tells the error code. */
static void error_code(struct check *k, struct s3_status *st)
{
	struct store_page page;
	struct s3_status lst;
	int r = s3_list_objects_v2(k->s3, k->cfg.prefix, "/", NULL, 1, &page, &lst);

	if (!r)
		store_page_release(&page);
	if (lst.http_status && lst.code[0])
		*st = lst;
}

static const char *addr_name(enum s3_addressing a)
{
	return a == S3_ADDR_VIRTUAL ? "virtual" : "path";
}

/*
 * The configured addressing failed with @st: does the other one reach the
 * bucket? If it does, say which to use and switch to it.
 */
static bool try_other_addressing(struct check *k, const struct s3_status *st)
{
	enum s3_addressing other = k->addressing == S3_ADDR_PATH ? S3_ADDR_VIRTUAL : S3_ADDR_PATH;
	struct s3_status ost;
	char host[HOST_MAX], port[16], fix[128];
	unsigned char a6[16];
	struct s3_ctx *c;

	if (other == S3_ADDR_VIRTUAL) {
		/* bucket.1.2.3.4 names no host: virtual-hosted needs a DNS name. */
		if (!opt_is_dns_bucket(k->cfg.bucket) || split_url(k->cfg.url, host, port) ||
		    inet_pton(AF_INET, host, a6) == 1 || inet_pton(AF_INET6, host, a6) == 1)
			return false;
	}
	if (head_with(k, k->cfg.url, other, &ost) != 0)
		return false;
	snprintf(fix, sizeof(fix), "use addressing=%s", addr_name(other));
	creds_accepted(k);
	say(k, V_FAIL, fix, "addressing: %s-style requests fail (%s), %s-style reach the bucket",
	    addr_name(k->addressing), st->http_status ? s3_err_describe(st) : strerror(-st->err),
	    addr_name(other));
	say(k, V_OK, NULL, "bucket: '%s' exists and is accessible (%s-style)", k->cfg.bucket,
	    addr_name(other));
	if (open_ctx(k, k->cfg.url, k->cfg.https_url, other, &k->sc, &c) == 0) {
		s3_ctx_free(k->s3);
		k->s3 = c;
		k->addressing = other;
	}
	return true;
}

/* The HeadBucket answered 4xx/5xx other than 404. */
static void explain_refusal(struct check *k, struct s3_status *st)
{
	char fix[512];
	const char *who = k->cred->origin;

	error_code(k, st);
	switch (st->s3_code) {
	case S3_ERR_SIGNATURE_DOES_NOT_MATCH:
		snprintf(fix, sizeof(fix), "correct the secret key of access key '%s' in %s",
			 k->cred->access_key, who);
		say(k, V_FAIL, fix,
		    "credentials accepted: no, the server rejects the signature "
		    "(SignatureDoesNotMatch): the secret key is wrong");
		return;
	case S3_ERR_INVALID_ACCESS_KEY_ID:
		snprintf(
			fix, sizeof(fix),
			"correct the access key in %s, or point url= at the service that issued it",
			who);
		say(k, V_FAIL, fix,
		    "credentials accepted: no, the server does not know access key '%s' "
		    "(InvalidAccessKeyId)",
		    k->cred->access_key);
		return;
	case S3_ERR_INVALID_TOKEN:
	case S3_ERR_EXPIRED_TOKEN:
		snprintf(fix, sizeof(fix), "renew the temporary credentials in %s", who);
		say(k, V_FAIL, fix, "credentials accepted: no, the session token is refused (%s)",
		    st->code);
		return;
	case S3_ERR_REQUEST_TIME_TOO_SKEWED:
		say(k, V_FAIL, "synchronise the clock (for example: timedatectl set-ntp true)",
		    "credentials accepted: no, the request time is too far from the server's "
		    "(RequestTimeTooSkewed)");
		return;
	case S3_ERR_ACCESS_DENIED:
		creds_accepted(k);
		snprintf(fix, sizeof(fix),
			 "grant access key '%s' s3:ListBucket on bucket '%s' (and object access "
			 "under its prefix), or use the bucket owner's credentials",
			 k->cred->access_key, k->cfg.bucket);
		say(k, V_FAIL, fix, "bucket: access to '%s' denied (AccessDenied)", k->cfg.bucket);
		return;
	default:
		break;
	}
	if (try_other_addressing(k, st)) {
		k->bucket_ok = true;
		return;
	}
	if (strcmp(st->code, "AuthorizationHeaderMalformed") == 0 ||
	    strcmp(st->code, "PermanentRedirect") == 0 || st->http_status == 301)
		snprintf(fix, sizeof(fix),
			 "set region= to the bucket's region and url= to that region's endpoint");
	else
		snprintf(fix, sizeof(fix), "see the server's message; request id '%s'",
			 st->request_id);
	say(k, V_FAIL, fix, "bucket: HeadBucket answered status %ld%s%s%s: %s", st->http_status,
	    st->code[0] ? " (" : "", st->code, st->code[0] ? ")" : "", s3_err_describe(st));
}

static void check_bucket(struct check *k)
{
	struct s3_status st;
	char fix[512];
	time_t t0 = time(NULL);
	int r = s3_head_bucket(k->s3, &st);

	if (st.date && !k->date) {
		k->date = st.date;
		k->skew = (long)(st.date - (t0 + time(NULL)) / 2);
	}
	check_clock(k);
	if (!r) {
		creds_accepted(k);
		say(k, V_OK, NULL, "addressing: %s-style requests reach the bucket",
		    addr_name(k->addressing));
		say(k, V_OK, NULL, "bucket: '%s' exists and is accessible", k->cfg.bucket);
		k->bucket_ok = true;
		return;
	}
	if (!st.http_status) {
		if (try_other_addressing(k, &st)) {
			k->bucket_ok = true;
			return;
		}
		if (k->tls_failed && is_https(k->cfg.url))
			return; /* reported by the tls check */
		snprintf(fix, sizeof(fix), "check url= ('%s') and the network path to it",
			 k->cfg.url);
		say(k, V_FAIL, fix, "bucket: HeadBucket got no reply: %s%s%s", strerror(-r),
		    st.message[0] ? ": " : "", st.message);
		return;
	}
	if (st.http_status != 404) {
		explain_refusal(k, &st);
		return;
	}
	/* S3 authenticates before it looks the bucket up. */
	creds_accepted(k);
	if (try_other_addressing(k, &st)) {
		k->bucket_ok = true;
		return;
	}
	snprintf(fix, sizeof(fix), "create bucket '%s' at %s, or correct BUCKET", k->cfg.bucket,
		 k->cfg.url);
	say(k, V_FAIL, fix, "bucket: '%s' does not exist at %s (NoSuchBucket)", k->cfg.bucket,
	    k->cfg.url);
}

/* ---- encryption ------------------------------------------------------------ */

/*
 * The bucket's default encryption (GetBucketEncryption): what the server
 * makes of an object written without encryption headers, which the guard
 * has to know, as the mount does.
 */
static void check_bucket_encryption(struct check *k)
{
	struct store_enc be;
	struct s3_status st;
	char fix[256];
	int r = s3_get_bucket_encryption(k->s3, &be, &st);

	if (r) {
		snprintf(fix, sizeof(fix),
			 "grant s3:GetEncryptionConfiguration on bucket '%s'; until then the "
			 "mount treats new objects as sse= says",
			 k->cfg.bucket);
		say(k, V_WARN, fix,
		    "bucket encryption: cannot read the default encryption: %s%s%s%s",
		    st.http_status ? s3_err_describe(&st) : strerror(-r), st.code[0] ? " (" : "",
		    st.code, st.code[0] ? ")" : "");
		return;
	}
	s3_ctx_set_bucket_enc(k->s3, &be);
	if (be.mode == STORE_SSE_NONE) {
		say(k, V_OK, NULL, "bucket encryption: none by default");
		return;
	}
	say(k, V_OK, NULL, "bucket encryption: %s by default%s%s%s", sse_mode_name(be.mode),
	    be.kms_key_id[0] ? " with key '" : "", be.kms_key_id, be.kms_key_id[0] ? "'" : "");
	if (be.mode != STORE_SSE_KMS || k->mode != STORE_SSE_NONE || k->https_ep)
		return;
	snprintf(fix, sizeof(fix),
		 "add https_url=https://HOST[:PORT] (the service's TLS endpoint), or use an "
		 "https:// url=");
	say(k, V_FAIL, fix,
	    "bucket encryption: new objects are SSE-KMS by the bucket's default, which the "
	    "service takes over HTTPS only, and %s is an HTTP-only endpoint",
	    k->cfg.url);
}

/* SSE-C and SSE-KMS writes need TLS (the service's rules, and our key rule). */
static bool check_sse_transport(struct check *k)
{
	char fix[256];

	if (k->mode != STORE_SSE_C && k->mode != STORE_SSE_KMS)
		return true;
	if (k->https_ep) {
		say(k, V_OK, NULL, "encryption transport: %s requests go to %s",
		    sse_mode_name(k->mode), k->https_ep);
		return true;
	}
	snprintf(fix, sizeof(fix),
		 "add https_url=https://HOST[:PORT] (the service's TLS endpoint), or use an "
		 "https:// url=");
	say(k, V_FAIL, fix,
	    "encryption transport: HTTP-only endpoint %s with %s configured: the service takes "
	    "%s writes over HTTPS only",
	    k->cfg.url, sse_mode_name(k->mode), sse_mode_name(k->mode));
	return false;
}

/* A reserved key under the mount's prefix that no file name maps to twice. */
static int probe_key(const struct check *k, char *key, size_t cap)
{
	uint8_t rnd[8];
	char hex[2 * sizeof(rnd) + 1];
	int n;

	if (crypto_random(rnd, sizeof(rnd)))
		return -EIO;
	crypto_hex(rnd, sizeof(rnd), hex);
	n = snprintf(key, cap, "%s.obsmount-check-%s", k->cfg.prefix, hex);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static const char *probe_fix(const struct check *k, int r, const struct s3_status *st)
{
	if (r == -EACCES && !st->http_status)
		return "the protocol guard refused it: use an https:// url= or add https_url=, "
		       "or guard=upgrade with sigv=4";
	if (st->s3_code == S3_ERR_KMS || (k->mode == STORE_SSE_KMS && st->http_status == 400))
		return "make sure the KMS key of sse=kms:KEYID exists and the server's KMS is set "
		       "up (or use sse=kms for the default key)";
	if (st->s3_code == S3_ERR_ACCESS_DENIED)
		return "grant s3:PutObject, s3:GetObject and s3:DeleteObject under the prefix";
	if (st->http_status == 400)
		return "send encrypted requests over HTTPS (https_url=), and check that the "
		       "server supports this encryption mode";
	return "see the server's message in the log above";
}

/* Does the reported KMS key id @got name key @want (the id itself, or an ARN ending in it)? */
static bool kms_id_names(const char *got, const char *want)
{
	size_t gl = strlen(got), wl = strlen(want);

	if (gl < wl || strcmp(got + gl - wl, want) != 0)
		return false;
	return gl == wl || got[gl - wl - 1] == '/' || got[gl - wl - 1] == ':';
}

/* What HEAD reports about the probe, against what was asked. */
static void judge_probe(struct check *k, const struct sse_choice *ch, const struct store_enc *e)
{
	const char *want = ch->kms_key_id;

	if (e->mode != k->mode) {
		say(k, V_FAIL, "use a server and bucket that support this encryption mode",
		    "encryption probe: the server stored the probe object with %s, not %s",
		    sse_mode_name(e->mode), sse_mode_name(k->mode));
		return;
	}
	if (k->mode == STORE_SSE_C) {
		if (strcmp(e->key_md5, ch->key_md5_b64) != 0)
			say(k, V_FAIL, "use a server that implements SSE-C",
			    "encryption probe: the server echoes key MD5 '%s', not the key's '%s'",
			    e->key_md5, ch->key_md5_b64);
		else
			say(k, V_OK, NULL,
			    "encryption probe: SSE-C write, read back and delete work; key MD5 %s "
			    "echoed",
			    e->key_md5);
		return;
	}
	if (k->mode == STORE_SSE_KMS) {
		if (want && !e->kms_key_id[0])
			say(k, V_WARN, "none needed if the server never reports key ids",
			    "encryption probe: SSE-KMS works but the server reports no key id");
		else if (want && !kms_id_names(e->kms_key_id, want))
			say(k, V_FAIL, "check the key id of sse=kms:KEYID",
			    "encryption probe: the server used KMS key '%s', not '%s'",
			    e->kms_key_id, want);
		else
			say(k, V_OK, NULL,
			    "encryption probe: SSE-KMS write, read back and delete work; key '%s'",
			    e->kms_key_id[0] ? e->kms_key_id : "(default)");
		return;
	}
	say(k, V_OK, NULL, "encryption probe: %s write, read back and delete work",
	    sse_mode_name(k->mode));
}

static void check_sse_probe(struct check *k)
{
	struct sse_choice ch;
	struct store_enc known;
	struct store_info info;
	struct s3_status st;
	char key[S3_KEY_MAX + 1];
	int r;

	if (k->mode == STORE_SSE_NONE || !k->sse)
		return;
	if (k->cfg.ro) {
		say(k, V_WARN, "run the check without ro to probe encryption",
		    "encryption probe: skipped on a read-only mount (it writes an object)");
		return;
	}
	if (sse_target_choice(k->sse, &ch) || probe_key(k, key, sizeof(key))) {
		say(k, V_FAIL, "check the key file", "encryption probe: no key to write with");
		return;
	}
	r = s3_put_object(k->s3, key, PROBE_BODY, strlen(PROBE_BODY), NULL, &ch, NULL, &st);
	if (r && st.http_status / 100 != 2) {
		say(k, V_FAIL, probe_fix(k, r, &st),
		    "encryption probe: cannot write '%s' with %s: %s%s%s%s%s%s", key,
		    sse_mode_name(k->mode), st.http_status ? s3_err_describe(&st) : strerror(-r),
		    st.code[0] ? " (" : "", st.code, st.code[0] ? ")" : "",
		    st.message[0] ? ": " : "", st.message);
		return;
	}
	/* Written, perhaps with the wrong encryption: look, then clean up. */
	memset(&known, 0, sizeof(known));
	known.mode = k->mode;
	if (ch.key_md5_b64)
		snprintf(known.key_md5, sizeof(known.key_md5), "%s", ch.key_md5_b64);
	memset(&info, 0, sizeof(info));
	r = s3_head_object(k->s3, key, &ch, &known, &info, &st);
	if (r)
		say(k, V_FAIL, probe_fix(k, r, &st),
		    "encryption probe: cannot read back '%s' with %s: %s", key,
		    sse_mode_name(k->mode), st.http_status ? s3_err_describe(&st) : strerror(-r));
	else
		judge_probe(k, &ch, &info.enc);
	store_info_release(&info);
	r = s3_delete_object(k->s3, key, &st);
	if (r)
		say(k, V_WARN, "delete the probe object by hand",
		    "encryption probe: cannot delete '%s': %s", key, strerror(-r));
}

/* ---- driver ----------------------------------------------------------------- */

/* ---- incomplete multipart uploads ---------------------------------------- */

#define UPLOAD_STALE_S (24 * 3600)

/*
 * Every multipart upload in progress under the prefix, all pages. @list:
 * print each (utility mode); @abort_hours >= 0: abort those at least that
 * old. Ends with one verdict: in --check, a warning when some are older
 * than a day (they cost storage until aborted).
 */
static void scan_uploads(struct check *k, long abort_hours, bool list)
{
	char *km = NULL, *um = NULL;
	size_t total = 0, stale = 0, aborted = 0, failed = 0;
	time_t now = time(NULL);
	struct s3_status st;
	int r;

	do {
		struct s3_xml_uploads u;
		memset(&u, 0, sizeof(u));
		r = s3_list_mpu(k->s3, k->cfg.prefix, km, um, &u, &st);
		free(km);
		free(um);
		km = um = NULL;
		if (r)
			break;
		for (size_t i = 0; i < u.n; i++) {
			const struct s3_xml_upload *x = &u.uploads[i];
			long age = x->initiated && now > x->initiated ? (long)(now - x->initiated) : 0;
			char when[32] = "?";
			struct tm tm;
			total++;
			if (age >= UPLOAD_STALE_S)
				stale++;
			if (x->initiated && gmtime_r(&x->initiated, &tm))
				strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
			if (list)
				fprintf(k->out, "%s %s %s %.1fh\n", x->key, x->upload_id, when,
					(double)age / 3600);
			if (abort_hours < 0 || age < abort_hours * 3600)
				continue;
			if (s3_abort_mpu(k->s3, x->key, x->upload_id, &st) == 0 ||
			    st.http_status == 404) {
				aborted++;
				if (list)
					fprintf(k->out, "  aborted\n");
			} else {
				failed++;
				say(k, V_FAIL, "run it again; check the credentials' rights",
				    "uploads: cannot abort upload %s of '%s': %s", x->upload_id,
				    x->key, st.message[0] ? st.message : "request failed");
			}
		}
		if (u.truncated) {
			km = u.next_key_marker;
			um = u.next_upload_id_marker;
			u.next_key_marker = u.next_upload_id_marker = NULL;
		}
		s3_xml_uploads_release(&u);
	} while (km);
	free(um);
	if (r) {
		say(k, list ? V_FAIL : V_WARN, "check the credentials' rights (s3:ListBucketMultipartUploads)",
		    "uploads: cannot list incomplete multipart uploads: %s",
		    st.message[0] ? st.message : strerror(-r));
		return;
	}
	if (abort_hours >= 0)
		say(k, failed ? V_FAIL : V_OK, NULL,
		    "uploads: %zu incomplete, %zu aborted (at least %ld h old)", total, aborted,
		    abort_hours);
	else if (stale)
		say(k, V_WARN, "obsmount --incomplete-uploads BUCKET -o ... --abort-older-than=24",
		    "uploads: %zu of %zu incomplete multipart uploads are older than a day "
		    "and cost storage until aborted",
		    stale, total);
	else
		say(k, V_OK, NULL, "uploads: %zu incomplete multipart upload%s, none older than a day",
		    total, total == 1 ? "" : "s");
}

static void run_checks(struct check *k, int argc, char **argv)
{
	if (!check_options(k, argc, argv))
		return;
	if (k->cfg.raw.log_level || k->cfg.dbg)
		log_init(true, k->cfg.log_level, k->cfg.dbg);
	check_credentials(k);
	check_sse_keys(k);
	k->url_up = check_reach(k, "url", k->cfg.url);
	if (k->cfg.https_url)
		k->https_up = check_reach(k, "https_url", k->cfg.https_url);
	else
		k->https_up = k->url_up && is_https(k->cfg.url);
	bool transport_ok = check_sse_transport(k);
	k->addressing = k->cfg.addressing == OPT_ADDR_VIRTUAL ? S3_ADDR_VIRTUAL : S3_ADDR_PATH;
	if (open_ctx(k, k->cfg.url, k->cfg.https_url, k->addressing, &k->sc, &k->s3)) {
		say(k, V_FAIL, "correct url=, https_url= and BUCKET",
		    "options: the S3 layer refuses this endpoint and bucket");
		return;
	}
	check_tls(k);
	if (!k->url_up)
		return;
	if (!k->cred) {
		/* The server's clock at least; its verdicts need credentials. */
		struct s3_status st;
		if (!k->date)
			(void)head_with(k, k->cfg.url, k->addressing, &st);
		check_clock(k);
		return;
	}
	check_bucket(k);
	if (k->bucket_ok) {
		check_bucket_encryption(k);
		scan_uploads(k, -1, false);
	}
	if (k->bucket_ok && transport_ok && k->sse_ok && k->https_up)
		check_sse_probe(k);
}

int uploads_main(int argc, char **argv, long abort_hours, FILE *out)
{
	struct check k;

	memset(&k, 0, sizeof(k));
	k.out = out;
	log_init(true, LOG_LVL_ERR, 0);
	if (abort_hours < -1) {
		say(&k, V_FAIL, "give a whole number of hours: --abort-older-than=24",
		    "options: --abort-older-than takes a number of hours");
	} else if (check_options(&k, argc, argv)) {
		if (k.cfg.raw.log_level || k.cfg.dbg)
			log_init(true, k.cfg.log_level, k.cfg.dbg);
		check_credentials(&k);
		k.addressing = k.cfg.addressing == OPT_ADDR_VIRTUAL ? S3_ADDR_VIRTUAL : S3_ADDR_PATH;
		if (!k.cred)
			say(&k, V_FAIL, "give passwd_file= or the environment's keys",
			    "uploads: listing them needs credentials");
		else if (open_ctx(&k, k.cfg.url, k.cfg.https_url, k.addressing, &k.sc, &k.s3))
			say(&k, V_FAIL, "correct url=, https_url= and BUCKET",
			    "options: the S3 layer refuses this endpoint and bucket");
		else
			scan_uploads(&k, abort_hours, true);
	}
	s3_ctx_free(k.s3);
	sse_cfg_free(k.sse);
	cred_free(k.cred);
	opt_release(&k.cfg);
	return k.failed ? 1 : 0;
}

int check_main(int argc, char **argv, FILE *out)
{
	struct check k;

	memset(&k, 0, sizeof(k));
	k.out = out;
	/* Requests that fail on purpose log at ERR; the verdicts say it all. */
	log_init(true, LOG_LVL_ERR, 0);
	run_checks(&k, argc, argv);
	s3_ctx_free(k.s3);
	sse_cfg_free(k.sse);
	cred_free(k.cred);
	opt_release(&k.cfg);
	return k.failed ? 1 : 0;
}
