/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Credentials loading: passwd files (with their permission check), the
 * AWS environment variables and the AWS shared credentials file, tried in
 * a fixed order. Files are read whole into a capped buffer that is wiped
 * afterwards; secrets only ever leave it as struct secret.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cred.h"
#include "util/buf.h"

/* ---- struct cred ---------------------------------------------------------- */

struct cred *cred_new(const char *access_key, const void *secret, size_t secret_len,
		      const void *token, size_t token_len, const char *origin)
{
	struct cred *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->access_key = strdup(access_key);
	c->secret_key = secret_new(secret, secret_len);
	c->origin = strdup(origin ? origin : "");
	if (token)
		c->session_token = secret_new(token, token_len);
	if (!c->access_key || !c->secret_key || !c->origin || (token && !c->session_token)) {
		cred_free(c);
		return NULL;
	}
	return c;
}

struct cred *cred_clone(const struct cred *c)
{
	if (!c)
		return NULL;
	const struct secret *t = c->session_token;
	return cred_new(c->access_key, c->secret_key->data, c->secret_key->len, t ? t->data : NULL,
			t ? t->len : 0, c->origin);
}

void cred_free(struct cred *c)
{
	if (!c)
		return;
	free(c->access_key);
	secret_free(c->secret_key);
	secret_free(c->session_token);
	free(c->origin);
	free(c);
}

/* ---- helpers ------------------------------------------------------------------ */

static void PRINTF_LIKE(3, 4) seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	if (n < 0)
		err[0] = '\0';
}

/* "$HOME/@rel" into a new string; NULL when HOME is unset or on -ENOMEM. */
static char *home_path(const char *rel)
{
	const char *home = getenv("HOME");
	struct buf b;

	if (!home || !*home)
		return NULL;
	buf_init(&b, 4096);
	if (buf_addf(&b, "%s/%s", home, rel))
		return NULL;
	return buf_detach(&b, NULL);
}

/*
 * Read @path whole into @out (wipe it with buf_release_wipe()). With
 * @strict, refuse a file that group or others may access. -ENOENT when
 * the file does not exist.
 */
static int read_file(const char *path, const char *what, bool strict, struct buf *out, char *err,
		     size_t errlen)
{
	struct stat st;
	int rc = 0;

	buf_init(out, CRED_FILE_MAX);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		seterr(err, errlen, "cannot open %s '%s': %s", what, path, strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		seterr(err, errlen, "cannot stat %s '%s': %s", what, path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		seterr(err, errlen, "%s '%s' is not a regular file", what, path);
		goto out;
	}
	if (strict && (st.st_mode & 077)) {
		rc = -EACCES;
		seterr(err, errlen, "%s '%s' is accessible by group or others: run chmod 600 '%s'",
		       what, path, path);
		goto out;
	}
	/*
	 * One allocation of the full cap: growing with realloc() would leave
	 * unwiped copies of the secrets behind in freed memory.
	 */
	rc = buf_reserve(out, out->max);
	if (rc) {
		seterr(err, errlen, "out of memory reading %s '%s'", what, path);
		goto out;
	}
	out->data[0] = '\0';
	for (;;) {
		size_t want = out->max - out->len;
		char probe;
		ssize_t n;
		if (want)
			n = read(fd, out->data + out->len, want);
		else
			n = read(fd, &probe, 1); /* full: one more byte is too many */
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			seterr(err, errlen, "cannot read %s '%s': %s", what, path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (!want) {
			crypto_wipe(&probe, 1);
			rc = -E2BIG;
			seterr(err, errlen, "%s '%s' is larger than %zu bytes", what, path,
			       CRED_FILE_MAX);
			goto out;
		}
		out->len += (size_t)n;
		out->data[out->len] = '\0';
	}
	/* a NUL inside would cut lines short without anyone noticing */
	if (out->data && memchr(out->data, '\0', out->len)) {
		rc = -EINVAL;
		seterr(err, errlen, "%s '%s' contains a NUL byte", what, path);
	}
out:
	close(fd);
	if (rc)
		buf_release_wipe(out);
	return rc;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Trim [*s, *s + *n) in place (pointer and length only). */
static void trim(const char **s, size_t *n)
{
	while (*n && is_blank(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && is_blank((*s)[*n - 1]))
		(*n)--;
}

/* A slice of the file buffer. */
struct span {
	const char *p;
	size_t n;
};

/*
 * Iterate over the lines of @text: on each call sets @line to the next
 * line, trimmed, and @lineno to its number. Returns 1 for a line, 0 at the
 * end, -EINVAL for an over-long line.
 */
static int next_line(const char **cursor, struct span *line, int *lineno)
{
	const char *s = *cursor;
	if (!*s)
		return 0;
	size_t n = strcspn(s, "\n");
	*cursor = s + n + (s[n] == '\n');
	(*lineno)++;
	if (n > CRED_LINE_MAX)
		return -EINVAL;
	line->p = s;
	line->n = n;
	trim(&line->p, &line->n);
	return 1;
}

static bool span_eq(struct span a, const char *s)
{
	return a.n == strlen(s) && memcmp(a.p, s, a.n) == 0;
}

/* ---- passwd files ------------------------------------------------------------- */

struct pw_entry {
	struct span ak, sk;
	int line;
};

/*
 * Split "A:B" or "A:B:C" into @f (trimmed). Returns the number of fields,
 * or 0 when there are more than three.
 */
static int split_colons(struct span line, struct span f[3])
{
	int nf = 0;
	const char *p = line.p, *end = line.p + line.n;

	for (;;) {
		const char *c = memchr(p, ':', (size_t)(end - p));
		if (nf == 3)
			return 0;
		f[nf].p = p;
		f[nf].n = c ? (size_t)(c - p) : (size_t)(end - p);
		trim(&f[nf].p, &f[nf].n);
		nf++;
		if (!c)
			return nf;
		p = c + 1;
	}
}

static int parse_passwd(const char *text, const char *path, const char *bucket,
			struct pw_entry *generic, struct pw_entry *specific, char *err,
			size_t errlen)
{
	const char *cur = text;
	struct span line, f[3];
	int lineno = 0, rc;

	while ((rc = next_line(&cur, &line, &lineno)) > 0) {
		if (!line.n || line.p[0] == '#')
			continue;
		int nf = split_colons(line, f);
		if (nf != 2 && nf != 3) {
			seterr(err, errlen,
			       "line %d of passwd file '%s': expected ACCESS_KEY:SECRET_KEY or "
			       "BUCKET:ACCESS_KEY:SECRET_KEY",
			       lineno, path);
			return -EINVAL;
		}
		struct span *b = nf == 3 ? &f[0] : NULL, ak = f[nf - 2], sk = f[nf - 1];
		if ((b && !b->n) || !ak.n || !sk.n) {
			seterr(err, errlen, "line %d of passwd file '%s': empty %s", lineno, path,
			       (b && !b->n) ? "bucket name"
			       : !ak.n	    ? "access key"
					    : "secret key");
			return -EINVAL;
		}
		struct pw_entry *slot = NULL;
		if (!b)
			slot = generic;
		else if (bucket && span_eq(*b, bucket))
			slot = specific;
		if (!slot)
			continue;
		if (slot->line) {
			seterr(err, errlen,
			       "line %d of passwd file '%s': second %s entry (first on line %d)",
			       lineno, path, b ? "bucket" : "default", slot->line);
			return -EINVAL;
		}
		*slot = (struct pw_entry){ .ak = ak, .sk = sk, .line = lineno };
	}
	if (rc < 0) {
		seterr(err, errlen, "line %d of passwd file '%s' is longer than %d bytes", lineno,
		       path, CRED_LINE_MAX);
		return rc;
	}
	return 0;
}

static int make_cred(struct span ak, struct span sk, const struct span *tok, const char *origin,
		     struct cred **out)
{
	struct buf a;
	buf_init(&a, CRED_LINE_MAX);
	int rc = buf_add(&a, ak.p, ak.n);
	if (rc)
		return rc;
	*out = cred_new(buf_str(&a), sk.p, sk.n, tok ? tok->p : NULL, tok ? tok->n : 0, origin);
	buf_release(&a);
	return *out ? 0 : -ENOMEM;
}

/* "what 'a'" or "what 'a' in 'b'", for cred->origin. NULL on -ENOMEM. */
static char *describe(const char *what, const char *a, const char *b)
{
	struct buf d;
	buf_init(&d, 8192);
	if (buf_addf(&d, "%s '%s'", what, a))
		return NULL;
	if (b && buf_addf(&d, " in '%s'", b))
		return NULL;
	return buf_detach(&d, NULL);
}

int cred_from_passwd_file(const char *path, const char *bucket, struct cred **out, char *err,
			  size_t errlen)
{
	struct buf text;
	struct pw_entry generic = { 0 }, specific = { 0 };
	char *origin = NULL;
	int rc;

	*out = NULL;
	rc = read_file(path, "passwd file", true, &text, err, errlen);
	if (rc)
		return rc;
	rc = parse_passwd(buf_str(&text), path, bucket, &generic, &specific, err, errlen);
	if (rc)
		goto out;
	struct pw_entry *e = specific.line ? &specific : generic.line ? &generic : NULL;
	if (!e) {
		rc = -ENOENT;
		seterr(err, errlen, "passwd file '%s' has no entry for bucket '%s' and no default",
		       path, bucket ? bucket : "");
		goto out;
	}
	origin = describe(e == &specific ? "bucket entry of passwd file" : "passwd file", path,
			  NULL);
	rc = origin ? make_cred(e->ak, e->sk, NULL, origin, out) : -ENOMEM;
	if (rc)
		seterr(err, errlen, "out of memory loading passwd file '%s'", path);
out:
	free(origin);
	buf_release_wipe(&text);
	return rc;
}

/* ---- environment ------------------------------------------------------------------- */

static struct span env_span(const char *name)
{
	const char *v = getenv(name);
	struct span s = { v ? v : "", v ? strlen(v) : 0 };
	trim(&s.p, &s.n);
	return s;
}

int cred_from_env(struct cred **out, char *err, size_t errlen)
{
	struct span ak = env_span("AWS_ACCESS_KEY_ID");
	struct span sk = env_span("AWS_SECRET_ACCESS_KEY");
	struct span tok = env_span("AWS_SESSION_TOKEN");

	*out = NULL;
	if (!ak.n && !sk.n) {
		seterr(err, errlen, "AWS_ACCESS_KEY_ID is not set");
		return -ENOENT;
	}
	if (!ak.n || !sk.n) {
		seterr(err, errlen, "%s is set but %s is not",
		       ak.n ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
		       ak.n ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
		return -EINVAL;
	}
	if (memchr(ak.p, '\n', ak.n) || ak.n > CRED_LINE_MAX) {
		seterr(err, errlen, "AWS_ACCESS_KEY_ID is malformed");
		return -EINVAL;
	}
	int rc = make_cred(ak, sk, tok.n ? &tok : NULL, "environment", out);
	if (rc)
		seterr(err, errlen, "out of memory loading credentials from the environment");
	return rc;
}

/* ---- AWS shared credentials file ---------------------------------------------------- */

struct ini_profile {
	bool found;
	bool has_ak, has_sk, has_tok;
	struct span ak, sk, tok;
};

/* Is @line the header of section @profile ("[p]" or "[profile p]")? */
static bool is_section(struct span line, const char *profile)
{
	struct span name = { line.p + 1, line.n - 2 };
	trim(&name.p, &name.n);
	if (name.n > 8 && memcmp(name.p, "profile", 7) == 0 && is_blank(name.p[7])) {
		name.p += 8;
		name.n -= 8;
		trim(&name.p, &name.n);
	}
	return span_eq(name, profile);
}

static int parse_ini(const char *text, const char *path, const char *profile, struct ini_profile *p,
		     char *err, size_t errlen)
{
	const char *cur = text;
	struct span line;
	int lineno = 0, rc;
	bool in_profile = false;

	while ((rc = next_line(&cur, &line, &lineno)) > 0) {
		if (!line.n || line.p[0] == '#' || line.p[0] == ';')
			continue;
		if (line.p[0] == '[') {
			if (line.p[line.n - 1] != ']' || line.n < 3) {
				seterr(err, errlen, "line %d of '%s': malformed section header",
				       lineno, path);
				return -EINVAL;
			}
			in_profile = is_section(line, profile);
			p->found |= in_profile;
			continue;
		}
		const char *eq = memchr(line.p, '=', line.n);
		if (!eq) {
			seterr(err, errlen, "line %d of '%s': expected 'key = value'", lineno,
			       path);
			return -EINVAL;
		}
		if (!in_profile)
			continue;
		struct span k = { line.p, (size_t)(eq - line.p) };
		struct span v = { eq + 1, line.n - k.n - 1 };
		trim(&k.p, &k.n);
		trim(&v.p, &v.n);
		if (k.n == 17 && strncasecmp(k.p, "aws_access_key_id", k.n) == 0) {
			p->ak = v;
			p->has_ak = v.n > 0;
		} else if (k.n == 21 && strncasecmp(k.p, "aws_secret_access_key", k.n) == 0) {
			p->sk = v;
			p->has_sk = v.n > 0;
		} else if (k.n == 17 && strncasecmp(k.p, "aws_session_token", k.n) == 0) {
			p->tok = v;
			p->has_tok = v.n > 0;
		}
	}
	if (rc < 0) {
		seterr(err, errlen, "line %d of '%s' is longer than %d bytes", lineno, path,
		       CRED_LINE_MAX);
		return rc;
	}
	return 0;
}

int cred_from_shared_file(const char *path, const char *profile, struct cred **out, char *err,
			  size_t errlen)
{
	struct buf text;
	struct ini_profile p = { 0 };
	char *origin = NULL;
	int rc;

	*out = NULL;
	if (!profile || !*profile)
		profile = "default";
	rc = read_file(path, "credentials file", false, &text, err, errlen);
	if (rc)
		return rc;
	rc = parse_ini(buf_str(&text), path, profile, &p, err, errlen);
	if (rc)
		goto out;
	if (!p.found) {
		rc = -ENOENT;
		seterr(err, errlen, "profile '%s' not found in '%s'", profile, path);
		goto out;
	}
	if (!p.has_ak || !p.has_sk) {
		rc = -EINVAL;
		seterr(err, errlen, "profile '%s' in '%s' has no %s", profile, path,
		       p.has_ak ? "aws_secret_access_key" : "aws_access_key_id");
		goto out;
	}
	origin = describe("profile", profile, path);
	rc = origin ? make_cred(p.ak, p.sk, p.has_tok ? &p.tok : NULL, origin, out) : -ENOMEM;
	if (rc)
		seterr(err, errlen, "out of memory loading '%s'", path);
out:
	free(origin);
	buf_release_wipe(&text);
	return rc;
}

/* ---- the search order --------------------------------------------------------------- */

static char *shared_file_path(void)
{
	const char *f = getenv("AWS_SHARED_CREDENTIALS_FILE");
	if (f && *f)
		return strdup(f);
	return home_path(".aws/credentials");
}

int cred_load(const struct cred_source *src, const char *bucket, struct cred **out, char *err,
	      size_t errlen)
{
	static const struct cred_source none = { 0 };
	char *path = NULL;
	int rc;

	*out = NULL;
	if (!src)
		src = &none;
	seterr(err, errlen, "%s", "");

	/* 1, 2: explicit choices are final, whatever happens */
	if (src->passwd_file)
		return cred_from_passwd_file(src->passwd_file, bucket, out, err, errlen);
	if (src->profile) {
		path = shared_file_path();
		if (!path) {
			seterr(err, errlen,
			       "profile '%s': HOME is not set and neither is "
			       "AWS_SHARED_CREDENTIALS_FILE",
			       src->profile);
			return -ENOENT;
		}
		rc = cred_from_shared_file(path, src->profile, out, err, errlen);
		goto out;
	}

	/* 3 */
	rc = cred_from_env(out, err, errlen);
	if (rc != -ENOENT)
		return rc;

	/* 4: a default file that is missing is skipped, a broken one is not */
	path = home_path(CRED_HOME_PASSWD);
	if (path) {
		rc = cred_from_passwd_file(path, bucket, out, err, errlen);
		if (rc != -ENOENT)
			goto out;
		free(path);
		path = NULL;
	}
	const char *sys = src->system_passwd_file ? src->system_passwd_file : CRED_SYSTEM_PASSWD;
	rc = cred_from_passwd_file(sys, bucket, out, err, errlen);
	if (rc != -ENOENT)
		return rc;

	/* 5 */
	path = shared_file_path();
	if (path) {
		const char *prof = getenv("AWS_PROFILE");
		rc = cred_from_shared_file(path, prof, out, err, errlen);
		if (rc != -ENOENT)
			goto out;
	}
	rc = -ENOENT;
	seterr(err, errlen,
	       "no credentials found: use -o passwd_file or -o profile, set AWS_ACCESS_KEY_ID "
	       "and AWS_SECRET_ACCESS_KEY, or create ~/%s (mode 600)",
	       CRED_HOME_PASSWD);
out:
	free(path);
	return rc;
}
