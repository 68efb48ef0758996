/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * s3tool: a command-line driver for the S3 request layer, for the pytest
 * suite in tests/s3layer and the benchmark in tests/bench. One operation
 * per run; credentials from the environment. Not installed, not a test.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cred.h"
#include "crypto.h"
#include "http.h"
#include "log.h"
#include "s3.h"

#define MIB (1024u * 1024u)

/* read_file() mapped the input rather than reading it into memory. */
static bool mapped;

struct tool {
	struct s3_cfg cfg;
	struct s3_ctx *ctx;
	struct cred *cred;
	struct sse_choice sse, src_sse;
	bool have_sse, have_src_sse;
	struct secret *sse_key_b64, *src_key_b64;
	char sse_md5[CRYPTO_B64_LEN(CRYPTO_MD5_LEN)], src_md5[CRYPTO_B64_LEN(CRYPTO_MD5_LEN)];
	struct store_enc known;
	bool have_known;
	struct store_meta meta;
	bool have_meta;
	bool hex; /* print keys as hex */
	unsigned threads;
	size_t part_size;
	bool unsigned_payload;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: s3tool [options] OP ARGS...\n"
		"options: --url URL --https-url URL --bucket B --region R --sigv 2|4\n"
		"  --addressing path|virtual --ca FILE --retries N --timeout S --resolve H:P:A\n"
		"  --policy upgrade|strict --sse-c KEYB64 | --sse-kms [ID] | --sse-s3\n"
		"  --src-sse-c KEYB64 --known none|c|kms|s3|unknown --meta NAME=VALUE\n"
		"  --content-type T --hex --threads N --part-size MIB --debug\n"
		"keys: a 'hex:' prefix gives the key as hex bytes\n"
		"ops: head KEY | get KEY [OFF LEN] | put KEY FILE | del KEY | delmany KEY...\n"
		"  list [PREFIX [DELIM [MAXKEYS]]] | mpu-create KEY | mpu-part KEY ID N FILE\n"
		"  mpu-complete KEY ID N:ETAG... | mpu-abort KEY ID | mpu-list [PREFIX]\n"
		"  copy SRC DST | part-copy KEY ID N SRC OFF LEN | head-bucket\n"
		"  bput KEY FILE (parallel multipart) | bget KEY OUT (parallel ranges)\n"
		"  sput KEY FILE (one PUT) | sget KEY OUT (one GET) | nput KEY FILE N\n");
}

/* "hex:6162" -> "ab"; otherwise a copy. Caller frees. */
static char *parse_key(const char *arg)
{
	if (strncmp(arg, "hex:", 4) != 0)
		return strdup(arg);
	size_t n = strlen(arg + 4) / 2;
	char *k = calloc(1, n + 1);
	if (k && crypto_unhex(arg + 4, (uint8_t *)k, n)) {
		free(k);
		return NULL;
	}
	return k;
}

static void print_key(const struct tool *t, const char *tag, const char *key)
{
	if (!t->hex) {
		printf("%s %s\n", tag, key);
		return;
	}
	size_t n = strlen(key);
	char *h = malloc(2 * n + 1);
	if (!h)
		exit(3);
	crypto_hex((const uint8_t *)key, n, h);
	printf("%s %s\n", tag, h);
	free(h);
}

/* Map (or, for "-", read) a whole file. Release with free_file(). */
static int read_file(const char *path, char **data, size_t *len)
{
	struct stat stt;
	if (strcmp(path, "-") == 0) {
		struct buf b;
		char chunk[65536];
		size_t n;
		int rc = 0;
		buf_init(&b, (size_t)8 * 1024 * MIB);
		while (!rc && (n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
			rc = buf_add(&b, chunk, n);
		if (rc)
			return rc;
		*data = buf_detach(&b, len);
		return *data ? 0 : -ENOMEM;
	}
	int fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &stt)) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	*len = (size_t)stt.st_size;
	*data = *len ? mmap(NULL, *len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0) : NULL;
	close(fd);
	if (*len && *data == MAP_FAILED)
		return -errno;
	mapped = true;
	return 0;
}

static void free_file(char *data, size_t len)
{
	if (mapped && data)
		munmap(data, len);
	else
		free(data);
}

static int write_file(const char *path, const void *data, size_t len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "wb") : stdout;
	if (!f)
		return -errno;
	size_t w = fwrite(data, 1, len, f);
	int rc = (w == len && fflush(f) == 0) ? 0 : -EIO;
	if (f != stdout)
		fclose(f);
	return rc;
}

static int set_sse_c(struct sse_choice *ch, struct secret **keep, char *md5, const char *b64)
{
	uint8_t raw[64], d[CRYPTO_MD5_LEN];
	size_t n;
	if (crypto_unbase64(b64, raw, sizeof(raw), &n) || n != 32)
		return -EINVAL;
	crypto_md5(raw, n, d);
	crypto_base64(d, sizeof(d), md5);
	crypto_wipe(raw, sizeof(raw));
	*keep = secret_new(b64, strlen(b64));
	if (!*keep)
		return -ENOMEM;
	*ch = (struct sse_choice){ .mode = STORE_SSE_C,
				   .key_b64 = (*keep)->data,
				   .key_md5_b64 = md5 };
	return 0;
}

static const char *errname(int err)
{
	switch (-err) {
	case ENOENT:
		return "ENOENT";
	case EACCES:
		return "EACCES";
	case EIO:
		return "EIO";
	case ENAMETOOLONG:
		return "ENAMETOOLONG";
	case EINVAL:
		return "EINVAL";
	case EAGAIN:
		return "EAGAIN";
	case ETIMEDOUT:
		return "ETIMEDOUT";
	case ECONNRESET:
		return "ECONNRESET";
	case ECONNREFUSED:
		return "ECONNREFUSED";
	case EPROTO:
		return "EPROTO";
	case EPERM:
		return "EPERM";
	case ENOTEMPTY:
		return "ENOTEMPTY";
	default:
		return "E?";
	}
}

static int fail(int rc, const struct s3_status *st)
{
	fprintf(stderr, "s3tool: failed: err=%d (%s) status=%ld code='%s'\n", rc, errname(rc),
		st ? st->http_status : 0, st ? st->code : "");
	return 1;
}

static const char *sse_name(enum store_sse m)
{
	static const char *const n[] = { "unknown", "none", "c", "kms", "s3" };
	return (unsigned)m < ARRAY_SIZE(n) ? n[m] : "?";
}

static void print_info(const struct store_info *i)
{
	printf("size %" PRIu64 "\n", i->size);
	printf("etag %s\n", i->etag);
	printf("mtime %lld\n", (long long)i->last_modified);
	printf("enc %s\n", sse_name(i->enc.mode));
	if (i->enc.key_md5[0])
		printf("key-md5 %s\n", i->enc.key_md5);
	if (i->enc.kms_key_id[0])
		printf("kms-key-id %s\n", i->enc.kms_key_id);
	if (i->meta.content_type)
		printf("content-type %s\n", i->meta.content_type);
	for (size_t k = 0; k < i->meta.n; k++)
		printf("meta %s=%s\n", i->meta.kv[k].name, i->meta.kv[k].value);
}

/* ---- parallel transfers (benchmark) ------------------------------------ */

struct job {
	struct tool *t;
	const char *key;
	const char *upload_id;
	char *data;
	size_t len;
	size_t n_parts;
	struct store_part *parts;
	size_t next; /* next part; under lock */
	int err;
	pthread_mutex_t lock;
	bool get;
};

static void *worker(void *arg)
{
	struct job *j = arg;
	for (;;) {
		pthread_mutex_lock(&j->lock);
		size_t i = j->next++;
		bool stop = i >= j->n_parts || j->err;
		pthread_mutex_unlock(&j->lock);
		if (stop)
			return NULL;
		size_t off = i * j->t->part_size;
		size_t n = j->len - off < j->t->part_size ? j->len - off : j->t->part_size;
		struct s3_status st;
		int rc;
		const struct sse_choice *sse = j->t->have_sse ? &j->t->sse : NULL;
		if (j->get) {
			size_t got = 0;
			const struct http_iov one = { j->data + off, n };
			rc = s3_get_object(j->t->ctx, j->key, off, &one, 1, NULL, NULL, &got, sse,
					   j->t->have_known ? &j->t->known : NULL, NULL, NULL, &st);
			if (!rc && got != n)
				rc = -EIO;
		} else {
			rc = s3_upload_part(j->t->ctx, j->key, j->upload_id, (int)i + 1,
					    j->data + off, n, sse, &j->parts[i], &st);
		}
		if (rc) {
			pthread_mutex_lock(&j->lock);
			j->err = rc;
			pthread_mutex_unlock(&j->lock);
		}
	}
}

static int run_parallel(struct job *j)
{
	pthread_t th[64];
	unsigned n = j->t->threads ? j->t->threads : 1;
	if (n > ARRAY_SIZE(th))
		n = ARRAY_SIZE(th);
	pthread_mutex_init(&j->lock, NULL);
	for (unsigned i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, worker, j))
			return -EAGAIN;
	for (unsigned i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&j->lock);
	return j->err;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void report(const char *what, size_t bytes, double secs)
{
	fprintf(stderr, "%s %zu bytes in %.3f s: %.1f MiB/s\n", what, bytes, secs,
		(double)bytes / MIB / secs);
}

static int op_bput(struct tool *t, const char *key, const char *file)
{
	struct job j = { .t = t, .key = key };
	struct s3_status st;
	char *id = NULL;
	int rc = read_file(file, &j.data, &j.len);
	if (rc)
		return fail(rc, NULL);
	double t0 = now_s();
	const struct sse_choice *sse = t->have_sse ? &t->sse : NULL;
	j.n_parts = j.len ? (j.len + t->part_size - 1) / t->part_size : 1;
	j.parts = calloc(j.n_parts, sizeof(*j.parts));
	rc = j.parts ? s3_create_mpu(t->ctx, key, NULL, sse, &id, &st) : -ENOMEM;
	j.upload_id = id;
	if (!rc)
		rc = run_parallel(&j);
	if (!rc)
		rc = s3_complete_mpu(t->ctx, key, id, j.parts, j.n_parts, sse, NULL, &st);
	else if (id && s3_abort_mpu(t->ctx, key, id, NULL))
		fprintf(stderr, "s3tool: abort failed too\n");
	if (!rc)
		report("bput", j.len, now_s() - t0);
	free(id);
	free(j.parts);
	free_file(j.data, j.len);
	return rc ? fail(rc, &st) : 0;
}

static int op_bget(struct tool *t, const char *key, const char *out)
{
	struct job j = { .t = t, .key = key, .get = true };
	struct store_info info;
	struct s3_status st;
	const struct sse_choice *sse = t->have_sse ? &t->sse : NULL;
	double t0 = now_s();
	int rc = s3_head_object(t->ctx, key, sse, t->have_known ? &t->known : NULL, &info, &st);
	if (rc)
		return fail(rc, &st);
	j.len = (size_t)info.size;
	store_info_release(&info);
	/* Pre-faulted, like the page-cache buffer a FUSE read fills. */
	size_t map_len = j.len ? j.len : 1;
	j.data = mmap(NULL, map_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (j.data == MAP_FAILED)
		return fail(-ENOMEM, NULL);
	/* First touch of fresh memory is slow in VMs; do not time it. */
	memset(j.data, 0, map_len);
	t0 = now_s();
	j.n_parts = (j.len + t->part_size - 1) / t->part_size;
	rc = run_parallel(&j);
	if (!rc) {
		report("bget", j.len, now_s() - t0);
		rc = write_file(out, j.data, j.len);
	}
	munmap(j.data, map_len);
	return rc ? fail(rc, &st) : 0;
}

static int op_sput(struct tool *t, const char *key, const char *file)
{
	char *data;
	size_t len;
	struct s3_status st;
	int rc = read_file(file, &data, &len);
	if (rc)
		return fail(rc, NULL);
	double t0 = now_s();
	rc = s3_put_object(t->ctx, key, data, len, NULL, t->have_sse ? &t->sse : NULL, NULL, &st);
	if (!rc)
		report("sput", len, now_s() - t0);
	free_file(data, len);
	return rc ? fail(rc, &st) : 0;
}

/* N sequential PUTs of one file to KEY-0 .. KEY-(N-1): request rate. */
static int op_nput(struct tool *t, const char *key, const char *file, const char *count)
{
	char *data;
	size_t len;
	struct s3_status st;
	long n = strtol(count, NULL, 10);
	int rc = read_file(file, &data, &len);
	if (rc)
		return fail(rc, NULL);
	double t0 = now_s();
	for (long i = 0; !rc && i < n; i++) {
		char k[1100];
		snprintf(k, sizeof(k), "%s-%ld", key, i);
		rc = s3_put_object(t->ctx, k, data, len, NULL, t->have_sse ? &t->sse : NULL, NULL,
				   &st);
	}
	double dt = now_s() - t0;
	if (!rc)
		fprintf(stderr, "nput %ld x %zu bytes in %.3f s: %.1f PUT/s, %.2f ms each\n", n,
			len, dt, n / dt, dt * 1000 / n);
	free_file(data, len);
	return rc ? fail(rc, &st) : 0;
}

static int op_sget(struct tool *t, const char *key, const char *out)
{
	t->part_size = SIZE_MAX / 2;
	t->threads = 1;
	return op_bget(t, key, out);
}

/* ---- single operations -------------------------------------------------- */

static int op_head(struct tool *t, char **a)
{
	struct store_info info;
	struct s3_status st;
	int rc = s3_head_object(t->ctx, a[0], t->have_sse ? &t->sse : NULL,
				t->have_known ? &t->known : NULL, &info, &st);
	if (rc)
		return fail(rc, &st);
	print_info(&info);
	store_info_release(&info);
	return 0;
}

static int op_get(struct tool *t, char **a, int n)
{
	struct store_info info;
	struct s3_status st;
	uint64_t off = 0;
	size_t len = 64 * MIB, got = 0;
	if (n >= 3) {
		off = strtoull(a[1], NULL, 10);
		len = (size_t)strtoull(a[2], NULL, 10);
	}
	char *b = malloc(len ? len : 1);
	if (!b)
		return fail(-ENOMEM, NULL);
	const struct http_iov one = { b, len };
	int rc = s3_get_object(t->ctx, a[0], off, &one, 1, NULL, NULL, &got,
			       t->have_sse ? &t->sse : NULL, t->have_known ? &t->known : NULL, NULL,
			       &info, &st);
	if (!rc) {
		rc = write_file("-", b, got);
		store_info_release(&info);
	}
	free(b);
	return rc ? fail(rc, &st) : 0;
}

static int op_put(struct tool *t, char **a)
{
	char *data;
	size_t len;
	char etag[STORE_ETAG_MAX];
	struct s3_status st;
	int rc = read_file(a[1], &data, &len);
	if (rc)
		return fail(rc, NULL);
	rc = s3_put_object(t->ctx, a[0], data, len, t->have_meta ? &t->meta : NULL,
			   t->have_sse ? &t->sse : NULL, etag, &st);
	free_file(data, len);
	if (rc)
		return fail(rc, &st);
	printf("etag %s\n", etag);
	return 0;
}

static int op_list(struct tool *t, char **a, int n)
{
	char *token = NULL;
	int rc = 0, pages = 0;
	struct s3_status st;
	do {
		struct store_page p = { 0 };
		rc = s3_list_objects_v2(t->ctx, n > 0 ? a[0] : NULL, n > 1 ? a[1] : NULL, token,
					n > 2 ? (int)strtol(a[2], NULL, 10) : 1000, &p, &st);
		free(token);
		token = NULL;
		if (rc)
			break;
		pages++;
		for (size_t i = 0; i < p.n_objects; i++) {
			print_key(t, "K", p.objects[i].key);
			printf("S %" PRIu64 "\n", p.objects[i].size);
		}
		for (size_t i = 0; i < p.n_prefixes; i++)
			print_key(t, "P", p.prefixes[i]);
		if (p.next_token)
			token = strdup(p.next_token);
		store_page_release(&p);
	} while (token);
	if (rc)
		return fail(rc, &st);
	printf("pages %d\n", pages);
	return 0;
}

static int op_delmany(struct tool *t, char **a, int n)
{
	struct s3_xml_delete_result res;
	struct s3_status st;
	int rc = s3_delete_objects(t->ctx, (const char *const *)a, (size_t)n, &res, &st);
	return rc ? fail(rc, &st) : 0;
}

static int op_mpu(struct tool *t, const char *op, char **a, int n)
{
	struct s3_status st;
	const struct sse_choice *sse = t->have_sse ? &t->sse : NULL;
	int rc;
	if (!strcmp(op, "mpu-create")) {
		char *id;
		rc = s3_create_mpu(t->ctx, a[0], t->have_meta ? &t->meta : NULL, sse, &id, &st);
		if (!rc)
			printf("upload-id %s\n", id), free(id);
	} else if (!strcmp(op, "mpu-part") && n >= 4) {
		char *data;
		size_t len;
		struct store_part p;
		rc = read_file(a[3], &data, &len);
		if (rc)
			return fail(rc, NULL);
		rc = s3_upload_part(t->ctx, a[0], a[1], (int)strtol(a[2], NULL, 10), data, len, sse,
				    &p, &st);
		free_file(data, len);
		if (!rc)
			printf("etag %s\n", p.etag);
	} else if (!strcmp(op, "mpu-complete") && n >= 3) {
		struct store_part parts[64];
		char etag[STORE_ETAG_MAX];
		size_t np = 0;
		for (int i = 2; i < n && np < ARRAY_SIZE(parts); i++, np++) {
			char *colon = strchr(a[i], ':');
			if (!colon)
				return fail(-EINVAL, NULL);
			parts[np].number = (int)strtol(a[i], NULL, 10);
			snprintf(parts[np].etag, sizeof(parts[np].etag), "%s", colon + 1);
		}
		rc = s3_complete_mpu(t->ctx, a[0], a[1], parts, np, sse, etag, &st);
		if (!rc)
			printf("etag %s\n", etag);
	} else if (!strcmp(op, "mpu-abort") && n >= 2) {
		rc = s3_abort_mpu(t->ctx, a[0], a[1], &st);
	} else {
		struct s3_xml_uploads u = { 0 };
		rc = s3_list_mpu(t->ctx, n > 0 ? a[0] : NULL, NULL, NULL, &u, &st);
		for (size_t i = 0; !rc && i < u.n; i++) {
			print_key(t, "U", u.uploads[i].key);
			printf("I %s\n", u.uploads[i].upload_id);
		}
		s3_xml_uploads_release(&u);
	}
	return rc ? fail(rc, &st) : 0;
}

static int op_copy(struct tool *t, const char *op, char **a, int n)
{
	struct s3_status st;
	const struct sse_choice *sse = t->have_sse ? &t->sse : NULL;
	const struct sse_choice *src = t->have_src_sse ? &t->src_sse : NULL;
	const struct store_enc *known = t->have_known ? &t->known : NULL;
	int rc;
	if (!strcmp(op, "copy")) {
		char etag[STORE_ETAG_MAX];
		rc = s3_copy_object(t->ctx, a[0], a[1], t->have_meta ? &t->meta : NULL, sse, src,
				    known, NULL, etag, &st);
		if (!rc)
			printf("etag %s\n", etag);
	} else if (n >= 6) {
		struct store_part p;
		rc = s3_upload_part_copy(t->ctx, a[0], a[1], (int)strtol(a[2], NULL, 10), a[3],
					 strtoull(a[4], NULL, 10), strtoull(a[5], NULL, 10), sse,
					 src, known, NULL, &p, &st);
		if (!rc)
			printf("etag %s\n", p.etag);
	} else {
		return fail(-EINVAL, NULL);
	}
	return rc ? fail(rc, &st) : 0;
}

static int dispatch(struct tool *t, const char *op, char **a, int n)
{
	struct s3_status st;
	int rc;
	if (!strcmp(op, "head-bucket")) {
		rc = s3_head_bucket(t->ctx, &st);
		return rc ? fail(rc, &st) : 0;
	}
	if (!strcmp(op, "list"))
		return op_list(t, a, n);
	if (!strcmp(op, "mpu-list"))
		return op_mpu(t, op, a, n);
	if (n < 1)
		return usage(), 2;
	if (!strcmp(op, "head"))
		return op_head(t, a);
	if (!strcmp(op, "get"))
		return op_get(t, a, n);
	if (!strcmp(op, "del")) {
		rc = s3_delete_object(t->ctx, a[0], &st);
		return rc ? fail(rc, &st) : 0;
	}
	if (!strcmp(op, "delmany"))
		return op_delmany(t, a, n);
	if (!strncmp(op, "mpu-", 4))
		return op_mpu(t, op, a, n);
	if (!strcmp(op, "copy") || !strcmp(op, "part-copy"))
		return n >= 2 ? op_copy(t, op, a, n) : (usage(), 2);
	if (n < 2)
		return usage(), 2;
	if (!strcmp(op, "put"))
		return op_put(t, a);
	if (!strcmp(op, "bput"))
		return op_bput(t, a[0], a[1]);
	if (!strcmp(op, "bget"))
		return op_bget(t, a[0], a[1]);
	if (!strcmp(op, "sput"))
		return op_sput(t, a[0], a[1]);
	if (!strcmp(op, "sget"))
		return op_sget(t, a[0], a[1]);
	if (!strcmp(op, "nput") && n >= 3)
		return op_nput(t, a[0], a[1], a[2]);
	usage();
	return 2;
}

static int parse_known(struct tool *t, const char *v)
{
	static const char *const names[] = { "unknown", "none", "c", "kms", "s3" };
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (!strcmp(v, names[i])) {
			t->known.mode = (enum store_sse)i;
			t->have_known = true;
			return 0;
		}
	}
	return -EINVAL;
}

static int add_meta(struct tool *t, const char *arg)
{
	char name[128];
	const char *eq = strchr(arg, '=');
	if (!eq || (size_t)(eq - arg) >= sizeof(name))
		return -EINVAL;
	memcpy(name, arg, (size_t)(eq - arg));
	name[eq - arg] = '\0';
	t->have_meta = true;
	return store_meta_set(&t->meta, name, eq + 1);
}

enum {
	O_URL = 256,
	O_HTTPS_URL,
	O_BUCKET,
	O_REGION,
	O_SIGV,
	O_ADDR,
	O_CA,
	O_RETRIES,
	O_TIMEOUT,
	O_RESOLVE,
	O_POLICY,
	O_SSE_C,
	O_SSE_KMS,
	O_SSE_S3,
	O_SRC_SSE_C,
	O_KNOWN,
	O_META,
	O_CTYPE,
	O_HEX,
	O_THREADS,
	O_PART,
	O_DEBUG,
	O_EXPECT,
};

static const struct option long_opts[] = {
	{ "url", required_argument, NULL, O_URL },
	{ "https-url", required_argument, NULL, O_HTTPS_URL },
	{ "bucket", required_argument, NULL, O_BUCKET },
	{ "region", required_argument, NULL, O_REGION },
	{ "sigv", required_argument, NULL, O_SIGV },
	{ "addressing", required_argument, NULL, O_ADDR },
	{ "ca", required_argument, NULL, O_CA },
	{ "retries", required_argument, NULL, O_RETRIES },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "resolve", required_argument, NULL, O_RESOLVE },
	{ "policy", required_argument, NULL, O_POLICY },
	{ "sse-c", required_argument, NULL, O_SSE_C },
	{ "sse-kms", optional_argument, NULL, O_SSE_KMS },
	{ "sse-s3", no_argument, NULL, O_SSE_S3 },
	{ "src-sse-c", required_argument, NULL, O_SRC_SSE_C },
	{ "known", required_argument, NULL, O_KNOWN },
	{ "meta", required_argument, NULL, O_META },
	{ "content-type", required_argument, NULL, O_CTYPE },
	{ "hex", no_argument, NULL, O_HEX },
	{ "threads", required_argument, NULL, O_THREADS },
	{ "part-size", required_argument, NULL, O_PART },
	{ "debug", no_argument, NULL, O_DEBUG },
	{ "expect", no_argument, NULL, O_EXPECT },
	{ NULL, 0, NULL, 0 },
};

static int parse_opt(struct tool *t, int o, const char *v, bool *debug)
{
	struct s3_cfg *c = &t->cfg;
	switch (o) {
	case O_URL:
		c->url = v;
		break;
	case O_HTTPS_URL:
		c->https_url = v;
		break;
	case O_BUCKET:
		c->bucket = v;
		break;
	case O_REGION:
		c->region = v;
		break;
	case O_SIGV:
		c->sigv = (int)strtol(v, NULL, 10);
		break;
	case O_ADDR:
		c->addressing = strcmp(v, "virtual") ? S3_ADDR_PATH : S3_ADDR_VIRTUAL;
		break;
	case O_CA:
		c->ca_file = v;
		break;
	case O_RETRIES:
		c->retries = (int)strtol(v, NULL, 10);
		break;
	case O_TIMEOUT:
		c->timeout_s = (int)strtol(v, NULL, 10);
		break;
	case O_RESOLVE:
		c->resolve = v;
		break;
	case O_POLICY:
		c->guard_policy = strcmp(v, "strict") ? GUARD_POLICY_UPGRADE : GUARD_POLICY_STRICT;
		break;
	case O_SSE_C:
		t->have_sse = true;
		return set_sse_c(&t->sse, &t->sse_key_b64, t->sse_md5, v);
	case O_SSE_KMS:
		t->have_sse = true;
		t->sse = (struct sse_choice){ .mode = STORE_SSE_KMS, .kms_key_id = v };
		break;
	case O_SSE_S3:
		t->have_sse = true;
		t->sse = (struct sse_choice){ .mode = STORE_SSE_S3 };
		break;
	case O_SRC_SSE_C:
		t->have_src_sse = true;
		return set_sse_c(&t->src_sse, &t->src_key_b64, t->src_md5, v);
	case O_KNOWN:
		return parse_known(t, v);
	case O_META:
		return add_meta(t, v);
	case O_CTYPE:
		t->have_meta = true;
		free(t->meta.content_type);
		t->meta.content_type = strdup(v);
		break;
	case O_HEX:
		t->hex = true;
		break;
	case O_THREADS:
		t->threads = (unsigned)strtoul(v, NULL, 10);
		break;
	case O_PART:
		t->part_size = (size_t)strtoull(v, NULL, 10) * MIB;
		break;
	case O_DEBUG:
		*debug = true;
		break;
	case O_EXPECT:
		c->expect_continue = true;
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

static int load_cred(struct tool *t)
{
	const char *ak = getenv("OBSMOUNT_TEST_ACCESS_KEY");
	const char *sk = getenv("OBSMOUNT_TEST_SECRET_KEY");
	const char *tok = getenv("OBSMOUNT_TEST_SESSION_TOKEN");
	if (!ak || !sk)
		return 0; /* anonymous */
	/* Built by hand: the tool needs no credential file logic. */
	t->cred = calloc(1, sizeof(*t->cred));
	if (!t->cred)
		return -ENOMEM;
	t->cred->access_key = strdup(ak);
	t->cred->secret_key = secret_new(sk, strlen(sk));
	if (tok)
		t->cred->session_token = secret_new(tok, strlen(tok));
	t->cfg.cred = t->cred;
	if (!t->cred->access_key || !t->cred->secret_key || (tok && !t->cred->session_token))
		return -ENOMEM;
	return 0;
}

int main(int argc, char **argv)
{
	struct tool t = { .threads = 8, .part_size = 16 * MIB };
	bool debug = false;
	int o, rc = 2;
	s3_cfg_defaults(&t.cfg);
	t.cfg.url = getenv("OBSMOUNT_TEST_HTTP_URL");
	t.cfg.ca_file = getenv("OBSMOUNT_TEST_CA");
	while ((o = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		if (parse_opt(&t, o, optarg, &debug)) {
			usage();
			goto out;
		}
	}
	if (optind >= argc || !t.cfg.bucket || !t.part_size) {
		usage();
		goto out;
	}
	log_init(true, debug ? LOG_LVL_DEBUG : LOG_LVL_WARN, debug ? LOG_CAT_ALL : 0);
	t.cfg.parallel = t.threads;
	if (http_global_init() || load_cred(&t))
		goto out;
	rc = s3_ctx_new(&t.cfg, &t.ctx);
	if (rc) {
		fprintf(stderr, "s3tool: bad configuration: %s\n", strerror(-rc));
		rc = 2;
		goto out;
	}
	int n = argc - optind - 1;
	char **a = calloc((size_t)n + 1, sizeof(*a));
	for (int i = 0; a && i < n; i++)
		if (!(a[i] = parse_key(argv[optind + 1 + i])))
			a[i] = strdup("");
	rc = a ? dispatch(&t, argv[optind], a, n) : 3;
	for (int i = 0; a && i < n; i++)
		free(a[i]);
	free(a);
out:
	s3_ctx_free(t.ctx);
	if (t.cred) {
		free(t.cred->access_key);
		secret_free(t.cred->secret_key);
		secret_free(t.cred->session_token);
		free(t.cred);
	}
	secret_free(t.sse_key_b64);
	secret_free(t.src_key_b64);
	store_meta_release(&t.meta);
	http_global_cleanup();
	return rc;
}
