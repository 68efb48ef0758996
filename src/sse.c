/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The sse= option, the SSE-C key file (permission check, parsing, the
 * ring of current and older keys) and the per-request encryption choice.
 * Key material lives only in struct secret and wiped buffers; messages name
 * the file and line, never a key. HTTP headers are built by the s3 layer.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sse.h"
#include "util/buf.h"

struct sse_cfg {
	enum store_sse mode;
	char *kms_key_id;     /* owned; NULL for the default KMS key */
	struct sse_key *keys; /* owned array; keys[0] is current */
	size_t n_keys;
};

static void errf(struct buf *err, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* Append a message to @err (optional). A failed append releases @err; the
 * errno the caller returns still says what went wrong. */
static void errf(struct buf *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	if (buf_vaddf(err, fmt, ap) != 0) {
		/* nothing more to do: the buffer is empty now */
	}
	va_end(ap);
}

static void key_release(struct sse_key *k)
{
	secret_free(k->raw);
	secret_free(k->b64);
	k->raw = NULL;
	k->b64 = NULL;
	crypto_wipe(k->md5_b64, sizeof(k->md5_b64));
}

void sse_cfg_free(struct sse_cfg *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_keys; i++)
		key_release(&cfg->keys[i]);
	free(cfg->keys);
	free(cfg->kms_key_id);
	crypto_wipe(cfg, sizeof(*cfg));
	free(cfg);
}

enum store_sse sse_cfg_mode(const struct sse_cfg *cfg)
{
	return cfg->mode;
}

const char *sse_cfg_kms_key_id(const struct sse_cfg *cfg)
{
	return cfg->kms_key_id;
}

size_t sse_cfg_key_count(const struct sse_cfg *cfg)
{
	return cfg->n_keys;
}

const struct sse_key *sse_cfg_key(const struct sse_cfg *cfg, size_t i)
{
	return i < cfg->n_keys ? &cfg->keys[i] : NULL;
}

const struct sse_key *sse_key_by_md5(const struct sse_cfg *cfg, const char *md5_b64)
{
	if (!md5_b64)
		return NULL;
	for (size_t i = 0; i < cfg->n_keys; i++)
		if (strcmp(cfg->keys[i].md5_b64, md5_b64) == 0)
			return &cfg->keys[i];
	return NULL;
}

/* ---- the key file ------------------------------------------------------ */

int sse_check_key_file_stat(const struct stat *st, uid_t uid, const char *path, struct buf *err)
{
	if (!S_ISREG(st->st_mode)) {
		errf(err, "key file '%s' is not a regular file", path);
		return -EINVAL;
	}
	if (st->st_uid != uid) {
		errf(err,
		     "key file '%s' is owned by uid %lu, not by the mounting user (uid %lu): "
		     "chown it to that user, or mount as its owner",
		     path, (unsigned long)st->st_uid, (unsigned long)uid);
		return -EACCES;
	}
	if (st->st_mode & 077) {
		errf(err,
		     "key file '%s' is accessible by group or others (mode %04lo): "
		     "run chmod 600 on it",
		     path, (unsigned long)(st->st_mode & 07777));
		return -EACCES;
	}
	return 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return true;
}

/*
 * Decode one key token (@n bytes, not NUL-terminated): 64 hex digits or
 * the 44-character base64 of 32 bytes. 0 or -EINVAL. Wipes its copies.
 */
static int decode_key(const char *tok, size_t n, uint8_t raw[SSE_KEY_LEN])
{
	char copy[(size_t)SSE_KEY_LEN * 2 + 1];
	uint8_t dec[SSE_KEY_LEN + 3]; /* 44 base64 characters hold at most 33 bytes */
	size_t got = 0;
	int rc = -EINVAL;

	if (n == (size_t)SSE_KEY_LEN * 2 && all_hex(tok, n)) {
		memcpy(copy, tok, n);
		copy[n] = '\0';
		rc = crypto_unhex(copy, raw, SSE_KEY_LEN);
	} else if (n == CRYPTO_B64_LEN(SSE_KEY_LEN) - 1 && !memchr(tok, '\0', n)) {
		memcpy(copy, tok, n);
		copy[n] = '\0';
		rc = crypto_unbase64(copy, dec, sizeof(dec), &got);
		if (rc == 0 && got == SSE_KEY_LEN)
			memcpy(raw, dec, SSE_KEY_LEN);
		else
			rc = -EINVAL;
	}
	crypto_wipe(copy, sizeof(copy));
	crypto_wipe(dec, sizeof(dec));
	return rc;
}

/* Fill @k from 32 raw bytes: the raw secret, its base64 and MD5 base64. */
static int key_make(struct sse_key *k, const uint8_t raw[SSE_KEY_LEN])
{
	char b64[CRYPTO_B64_LEN(SSE_KEY_LEN)];
	uint8_t md5[CRYPTO_MD5_LEN];
	int rc = 0;

	memset(k, 0, sizeof(*k));
	size_t n = crypto_base64(raw, SSE_KEY_LEN, b64);
	crypto_md5(raw, SSE_KEY_LEN, md5);
	crypto_base64(md5, sizeof(md5), k->md5_b64);
	k->raw = secret_new(raw, SSE_KEY_LEN);
	k->b64 = secret_new(b64, n);
	if (!k->raw || !k->b64) {
		key_release(k);
		rc = -ENOMEM;
	}
	crypto_wipe(b64, sizeof(b64));
	return rc;
}

static bool has_md5(const struct sse_key *keys, size_t n, const char *md5_b64)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i].md5_b64, md5_b64) == 0)
			return true;
	return false;
}

/*
 * Parse one non-blank, non-comment line into @tmp[*n]. Duplicates are
 * checked against the ring and the keys parsed so far.
 */
static int add_line(const struct sse_cfg *cfg, struct sse_key *tmp, size_t *n, const char *tok,
		    size_t len, const char *path, size_t lineno, struct buf *err)
{
	uint8_t raw[SSE_KEY_LEN];
	int rc;

	if (cfg->n_keys + *n >= SSE_KEYS_MAX) {
		errf(err, "key file '%s' line %zu: more than %d keys", path, lineno, SSE_KEYS_MAX);
		return -EINVAL;
	}
	rc = decode_key(tok, len, raw);
	if (rc) {
		errf(err,
		     "key file '%s' line %zu: not a 32-byte key "
		     "(expected 44 characters of base64 or 64 hex digits)",
		     path, lineno);
		goto out;
	}
	rc = key_make(&tmp[*n], raw);
	if (rc)
		goto out;
	if (has_md5(cfg->keys, cfg->n_keys, tmp[*n].md5_b64) || has_md5(tmp, *n, tmp[*n].md5_b64)) {
		key_release(&tmp[*n]);
		errf(err, "key file '%s' line %zu: duplicate key", path, lineno);
		rc = -EINVAL;
		goto out;
	}
	(*n)++;
out:
	crypto_wipe(raw, sizeof(raw));
	return rc;
}

int sse_cfg_add_keys(struct sse_cfg *cfg, const char *text, size_t len, const char *path,
		     struct buf *err)
{
	struct sse_key *tmp = calloc(SSE_KEYS_MAX, sizeof(*tmp));
	size_t n = 0, lineno = 0, pos = 0;
	int rc = 0;

	if (!tmp)
		return -ENOMEM;
	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - line) : len - pos;
		size_t a = 0, b = l;

		pos += l + (nl ? 1 : 0);
		lineno++;
		while (a < b && is_blank(line[a]))
			a++;
		while (b > a && is_blank(line[b - 1]))
			b--;
		if (a == b || line[a] == '#')
			continue;
		rc = add_line(cfg, tmp, &n, line + a, b - a, path, lineno, err);
		if (rc)
			goto out;
	}
	if (n == 0 && cfg->n_keys == 0) {
		errf(err, "key file '%s' holds no key", path);
		rc = -EINVAL;
		goto out;
	}
	size_t total = cfg->n_keys + n;
	struct sse_key *keys = calloc(total ? total : 1, sizeof(*keys));
	if (!keys) {
		rc = -ENOMEM;
		goto out;
	}
	/* A fresh array instead of realloc: no stale copy of the ring is left. */
	if (cfg->n_keys)
		memcpy(keys, cfg->keys, cfg->n_keys * sizeof(*keys));
	memcpy(keys + cfg->n_keys, tmp, n * sizeof(*keys));
	crypto_wipe(cfg->keys, cfg->n_keys * sizeof(*keys));
	free(cfg->keys);
	cfg->keys = keys;
	cfg->n_keys = total;
	n = 0; /* moved into the ring */
out:
	for (size_t i = 0; i < n; i++)
		key_release(&tmp[i]);
	crypto_wipe(tmp, SSE_KEYS_MAX * sizeof(*tmp));
	free(tmp);
	return rc;
}

/* Read all of @fd (at most SSE_KEY_FILE_MAX bytes) into @b, reserved up
 * front so no realloc leaves copies of key material behind. */
static int read_key_file(int fd, const char *path, struct buf *b, struct buf *err)
{
	int rc = buf_reserve(b, SSE_KEY_FILE_MAX + 1);
	if (rc)
		return rc;
	for (;;) {
		size_t room = SSE_KEY_FILE_MAX + 1 - b->len;
		ssize_t got = read(fd, b->data + b->len, room);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = -errno;
			errf(err, "cannot read key file '%s': %s", path, strerror(errno));
			return rc;
		}
		if (got == 0)
			break;
		b->len += (size_t)got;
		if (b->len > SSE_KEY_FILE_MAX) {
			errf(err, "key file '%s' is larger than %zu bytes", path, SSE_KEY_FILE_MAX);
			return -EINVAL;
		}
	}
	b->data[b->len] = '\0';
	return 0;
}

int sse_cfg_load_keys(struct sse_cfg *cfg, const char *path, uid_t uid, struct buf *err)
{
	struct buf b;
	struct stat st;
	int rc, fd;

	if (cfg->mode != STORE_SSE_C)
		return -EINVAL;
	buf_init(&b, SSE_KEY_FILE_MAX + 1);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		errf(err, "cannot open key file '%s': %s", path, strerror(errno));
		goto out;
	}
	/* Check the opened file, not the path: nothing can swap it in between. */
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		errf(err, "cannot stat key file '%s': %s", path, strerror(errno));
		goto out;
	}
	rc = sse_check_key_file_stat(&st, uid, path, err);
	if (rc)
		goto out;
	rc = read_key_file(fd, path, &b, err);
	if (rc)
		goto out;
	rc = sse_cfg_add_keys(cfg, b.data, b.len, path, err);
out:
	if (fd >= 0)
		close(fd);
	buf_release_wipe(&b);
	return rc;
}

/* ---- the option ---------------------------------------------------------- */

#define SSE_FORMS "expected none, s3, kms, kms:KEYID or c:KEYFILE"
#define SSE_ECHO_MAX 16 /* an SSE-C key is 44 or 64 characters */

static bool valid_kms_key_id(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > SSE_KMS_KEY_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (id[i] <= ' ' || id[i] > '~')
			return false;
	return true;
}

int sse_cfg_parse(const char *value, struct sse_cfg **out, struct buf *err)
{
	struct sse_cfg *cfg = calloc(1, sizeof(*cfg));
	int rc = 0;

	*out = NULL;
	if (!cfg)
		return -ENOMEM;
	cfg->mode = STORE_SSE_NONE;
	if (!value || strcmp(value, "none") == 0) {
		cfg->mode = STORE_SSE_NONE;
	} else if (strcmp(value, "s3") == 0) {
		cfg->mode = STORE_SSE_S3;
	} else if (strcmp(value, "kms") == 0) {
		cfg->mode = STORE_SSE_KMS;
	} else if (strncmp(value, "kms:", 4) == 0) {
		cfg->mode = STORE_SSE_KMS;
		if (!valid_kms_key_id(value + 4)) {
			errf(err,
			     "invalid sse option: the key id after 'kms:' must be 1 to %d "
			     "printable characters without blanks",
			     SSE_KMS_KEY_ID_MAX);
			rc = -EINVAL;
			goto out;
		}
		cfg->kms_key_id = strdup(value + 4);
		if (!cfg->kms_key_id) {
			rc = -ENOMEM;
			goto out;
		}
	} else if (strncmp(value, "c:", 2) == 0) {
		cfg->mode = STORE_SSE_C;
		if (value[2] == '\0') {
			errf(err, "invalid sse option 'c:': a key file path must follow 'c:'");
			rc = -EINVAL;
			goto out;
		}
		rc = sse_cfg_load_keys(cfg, value + 2, geteuid(), err);
	} else {
		/* A long value may be a key pasted by mistake: do not echo it. */
		if (strlen(value) <= SSE_ECHO_MAX)
			errf(err, "invalid sse option '%s': %s", value, SSE_FORMS);
		else
			errf(err, "invalid sse option (a %zu-character value): %s", strlen(value),
			     SSE_FORMS);
		rc = -EINVAL;
	}
out:
	if (rc) {
		sse_cfg_free(cfg);
		return rc;
	}
	*out = cfg;
	return 0;
}

/* ---- choices --------------------------------------------------------------- */

static void choose_key(struct sse_choice *out, const struct sse_key *k)
{
	out->mode = STORE_SSE_C;
	out->key = k->raw;
	out->key_b64 = k->b64->data;
	out->key_md5_b64 = k->md5_b64;
}

int sse_target_choice(const struct sse_cfg *cfg, struct sse_choice *out)
{
	memset(out, 0, sizeof(*out));
	out->mode = cfg->mode;
	switch (cfg->mode) {
	case STORE_SSE_C:
		if (cfg->n_keys == 0)
			return -ENOKEY;
		choose_key(out, &cfg->keys[0]);
		break;
	case STORE_SSE_KMS:
		out->kms_key_id = cfg->kms_key_id;
		break;
	case STORE_SSE_S3:
		break;
	default:
		out->mode = STORE_SSE_NONE;
		break;
	}
	return 0;
}

int sse_source_choice(const struct sse_cfg *cfg, const struct store_enc *enc,
		      struct sse_choice *out)
{
	enum store_sse mode = enc ? enc->mode : STORE_SSE_UNKNOWN;
	const struct sse_key *k;

	memset(out, 0, sizeof(*out));
	switch (mode) {
	case STORE_SSE_C:
		if (enc->key_md5[0] == '\0')
			k = cfg->n_keys ? &cfg->keys[0] : NULL;
		else
			k = sse_key_by_md5(cfg, enc->key_md5);
		if (!k)
			return -ENOKEY;
		choose_key(out, k);
		break;
	case STORE_SSE_KMS:
	case STORE_SSE_S3:
	case STORE_SSE_NONE:
		out->mode = mode;
		break;
	default:
		/* Unknown: the best guess is what this mount writes. */
		if (cfg->mode == STORE_SSE_C && cfg->n_keys)
			choose_key(out, &cfg->keys[0]);
		else
			out->mode = STORE_SSE_NONE;
		break;
	}
	return 0;
}

bool sse_choice_has_key(const struct sse_choice *c)
{
	return c->mode == STORE_SSE_C && c->key != NULL;
}

enum guard_enc sse_guard_enc(enum store_sse mode)
{
	switch (mode) {
	case STORE_SSE_NONE:
		return GUARD_ENC_NONE;
	case STORE_SSE_C:
		return GUARD_ENC_C;
	case STORE_SSE_KMS:
		return GUARD_ENC_KMS;
	case STORE_SSE_S3:
		return GUARD_ENC_S3;
	default:
		return GUARD_ENC_UNKNOWN;
	}
}

const char *sse_mode_name(enum store_sse mode)
{
	return guard_enc_name(sse_guard_enc(mode));
}
