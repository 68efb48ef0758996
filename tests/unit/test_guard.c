/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * guard: checked exhaustively against a transcription of the four spec
 * tables kept here as markdown text (written apart from guard.c's table),
 * and that transcription row by row against the spec file itself.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "guard.h"

#define ALL_T (GUARD_HTTP | GUARD_HTTPS)
#define ALL_S (GUARD_V2 | GUARD_V4)

/* The tables, laid out as in the spec; parsed by the same code as the file. */
static const char expected_md[] = "## Table 1: SSE-C\n"
				  "| operation | transport | signature |\n"
				  "|---|---|---|\n"
				  "| PutObject               | HTTPS         | V2 or V4 |\n"
				  "| PostObject              | HTTPS         | V2 or V4 |\n"
				  "| InitiateMultipartUpload | HTTPS         | V2 or V4 |\n"
				  "| HeadObject              | HTTPS         | V2 or V4 |\n"
				  "| GetObject               | HTTPS         | V2 or V4 |\n"
				  "| UploadPart              | HTTPS         | V2 or V4 |\n"
				  "| CompleteMultipartUpload | HTTP or HTTPS | V2 or V4 |\n"
				  "## Table 2: SSE-KMS\n"
				  "| operation | transport | signature |\n"
				  "|---|---|---|\n"
				  "| PutObject               | HTTPS         | V4       |\n"
				  "| PostObject              | HTTPS         | V4       |\n"
				  "| InitiateMultipartUpload | HTTPS         | V4       |\n"
				  "| HeadObject              | HTTP or HTTPS | V2 or V4 |\n"
				  "| GetObject               | HTTPS         | V4       |\n"
				  "| UploadPart              | HTTPS         | V4       |\n"
				  "| CompleteMultipartUpload | HTTP or HTTPS | V2 or V4 |\n"
				  "## Table 3: CopyObject\n"
				  "| source | target | transport | signature |\n"
				  "|---|---|---|---|\n"
				  "| none | KMS  | HTTPS         | V4       |\n"
				  "| KMS  | KMS  | HTTPS         | V4       |\n"
				  "| C    | KMS  | HTTPS         | V4       |\n"
				  "| none | C    | HTTPS         | V2 or V4 |\n"
				  "| KMS  | C    | HTTPS         | V2 or V4 |\n"
				  "| C    | C    | HTTPS         | V2 or V4 |\n"
				  "| none | none | HTTP or HTTPS | V2 or V4 |\n"
				  "| KMS  | none | HTTP or HTTPS | V2 or V4 |\n"
				  "| C    | none | HTTP or HTTPS | V2 or V4 |\n"
				  "## Table 4: UploadPartCopy\n"
				  "| source | target part | transport | signature |\n"
				  "|---|---|---|---|\n"
				  "| none | KMS  | HTTP or HTTPS | V2 or V4 |\n"
				  "| KMS  | KMS  | HTTP or HTTPS | V2 or V4 |\n"
				  "| C    | KMS  | HTTP or HTTPS | V2 or V4 |\n"
				  "| none | C    | HTTPS         | V2 or V4 |\n"
				  "| KMS  | C    | HTTPS         | V2 or V4 |\n"
				  "| C    | C    | HTTPS         | V2 or V4 |\n"
				  "| none | none | HTTP or HTTPS | V2 or V4 |\n"
				  "| KMS  | none | HTTP or HTTPS | V2 or V4 |\n"
				  "| C    | none | HTTP or HTTPS | V2 or V4 |\n";

/* The test's own name mapping (not guard_op_name, which is tested against it). */
static const struct {
	const char *name;
	enum guard_op op;
} op_names[] = {
	{ "PutObject", GUARD_OP_PUT_OBJECT },
	{ "PostObject", GUARD_OP_POST_OBJECT },
	{ "InitiateMultipartUpload", GUARD_OP_INITIATE_MPU },
	{ "HeadObject", GUARD_OP_HEAD_OBJECT },
	{ "GetObject", GUARD_OP_GET_OBJECT },
	{ "UploadPart", GUARD_OP_UPLOAD_PART },
	{ "CompleteMultipartUpload", GUARD_OP_COMPLETE_MPU },
	{ "CopyObject", GUARD_OP_COPY_OBJECT },
	{ "UploadPartCopy", GUARD_OP_UPLOAD_PART_COPY },
};

/* One parsed row. Tables 1/2: op + enc. Tables 3/4: src + dst. */
struct trow {
	int table;
	enum guard_op op;
	enum guard_enc src, dst;
	unsigned tr, sig;
};

struct tables {
	struct trow rows[64];
	size_t n;
	size_t per_table[5];
};

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* Split "| a | b | c |" in place into cells; returns the count. */
static size_t split_cells(char *line, char **cells, size_t max)
{
	size_t n = 0;
	char *p = strchr(line, '|');
	if (!p)
		return 0;
	p++;
	for (;;) {
		char *bar = strchr(p, '|');
		if (!bar)
			break;
		*bar = '\0';
		if (n < max)
			cells[n] = trim(p);
		n++;
		p = bar + 1;
	}
	return n;
}

static enum guard_op parse_op(const char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(op_names); i++)
		if (strcmp(op_names[i].name, s) == 0)
			return op_names[i].op;
	fail_msg("unknown operation '%s'", s);
	return GUARD_OP_OTHER;
}

static enum guard_enc parse_enc(const char *s)
{
	if (strcmp(s, "none") == 0)
		return GUARD_ENC_NONE;
	if (strcmp(s, "C") == 0)
		return GUARD_ENC_C;
	if (strcmp(s, "KMS") == 0)
		return GUARD_ENC_KMS;
	fail_msg("unknown mode '%s'", s);
	return GUARD_ENC_UNKNOWN;
}

static unsigned parse_transport(const char *s)
{
	if (strcmp(s, "HTTPS") == 0)
		return GUARD_HTTPS;
	if (strcmp(s, "HTTP or HTTPS") == 0)
		return GUARD_HTTP | GUARD_HTTPS;
	fail_msg("unknown transport '%s'", s);
	return 0;
}

static unsigned parse_sig(const char *s)
{
	if (strcmp(s, "V4") == 0)
		return GUARD_V4;
	if (strcmp(s, "V2 or V4") == 0)
		return GUARD_V2 | GUARD_V4;
	fail_msg("unknown signature '%s'", s);
	return 0;
}

/* Parse every "## Table N" section of @text (modified in place). */
static void parse_tables(char *text, struct tables *t)
{
	int table = 0;
	bool header_seen = false;
	memset(t, 0, sizeof(*t));

	for (char *line = text; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		char *l = trim(line);
		if (strncmp(l, "## ", 3) == 0) {
			int n = 0;
			table = sscanf(l, "## Table %d", &n) == 1 ? n : 0;
			header_seen = false;
		} else if (table >= 1 && table <= 4 && l[0] == '|') {
			char *c[6] = { NULL };
			size_t nc = split_cells(l, c, ARRAY_SIZE(c));
			if (!header_seen) {
				header_seen = true; /* the column names */
			} else if (nc && c[0][0] == '-') {
				/* the |---| separator */
			} else {
				struct trow *r = &t->rows[t->n];
				assert_true(t->n < ARRAY_SIZE(t->rows));
				r->table = table;
				if (table <= 2) {
					assert_int_equal(nc, 3);
					r->op = parse_op(c[0]);
					enum guard_enc e = table == 1 ? GUARD_ENC_C : GUARD_ENC_KMS;
					r->src = e; /* the mode of the table, whichever side */
					r->dst = e;
					r->tr = parse_transport(c[1]);
					r->sig = parse_sig(c[2]);
				} else {
					assert_int_equal(nc, 4);
					r->op = table == 3 ? GUARD_OP_COPY_OBJECT
							   : GUARD_OP_UPLOAD_PART_COPY;
					r->src = parse_enc(c[0]);
					r->dst = parse_enc(c[1]);
					r->tr = parse_transport(c[2]);
					r->sig = parse_sig(c[3]);
				}
				t->n++;
				t->per_table[table]++;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
}

static struct tables expected;

static int setup(void **state)
{
	(void)state;
	char *copy = strdup(expected_md);
	if (!copy)
		return -1;
	parse_tables(copy, &expected);
	free(copy);
	return 0;
}

/* The single row of @t for (table, op[, src, dst]); fails if absent or doubled. */
static const struct trow *find_row(const struct tables *t, int table, enum guard_op op,
				   enum guard_enc src, enum guard_enc dst)
{
	const struct trow *found = NULL;
	for (size_t i = 0; i < t->n; i++) {
		const struct trow *r = &t->rows[i];
		if (r->table != table || r->op != op)
			continue;
		if (table >= 3 && (r->src != src || r->dst != dst))
			continue;
		assert_null(found);
		found = r;
	}
	if (!found)
		fail_msg("no row in table %d for op %d src %d dst %d", table, op, src, dst);
	return found;
}

/*
 * The model, written from the rules as stated in the task, not from
 * guard.c: S3 is none; unknown is both C and KMS, and the rows are
 * intersected, except a keyless read on a mount without an HTTPS endpoint
 * (@have false), which is table 2's; single ops on plain objects and
 * "other" are unrestricted.
 */
static void model(enum guard_op op, enum guard_enc src, enum guard_enc dst, bool key, bool have,
		  unsigned *tr, unsigned *sig)
{
	*tr = ALL_T;
	*sig = ALL_S;
	if (src == GUARD_ENC_S3)
		src = GUARD_ENC_NONE;
	if (dst == GUARD_ENC_S3)
		dst = GUARD_ENC_NONE;

	if (op == GUARD_OP_COPY_OBJECT || op == GUARD_OP_UPLOAD_PART_COPY) {
		int table = op == GUARD_OP_COPY_OBJECT ? 3 : 4;
		static const enum guard_enc concrete[] = { GUARD_ENC_NONE, GUARD_ENC_C,
							   GUARD_ENC_KMS };
		for (size_t i = 0; i < ARRAY_SIZE(concrete); i++) {
			enum guard_enc s = concrete[i];
			if (!(s == src || (src == GUARD_ENC_UNKNOWN && s != GUARD_ENC_NONE)))
				continue;
			for (size_t j = 0; j < ARRAY_SIZE(concrete); j++) {
				enum guard_enc d = concrete[j];
				if (!(d == dst ||
				      (dst == GUARD_ENC_UNKNOWN && d != GUARD_ENC_NONE)))
					continue;
				const struct trow *r = find_row(&expected, table, op, s, d);
				*tr &= r->tr;
				*sig &= r->sig;
			}
		}
	} else if (op != GUARD_OP_OTHER) {
		bool reads = op == GUARD_OP_HEAD_OBJECT || op == GUARD_OP_GET_OBJECT;
		enum guard_enc e = reads ? src : dst;
		/* without HTTPS, the keyless probe is the only way to learn: it
		 * cannot read SSE-C, so unknown is only KMS then */
		bool only_kms = reads && e == GUARD_ENC_UNKNOWN && !key && !have;
		if (e == GUARD_ENC_C || (e == GUARD_ENC_UNKNOWN && !only_kms)) {
			const struct trow *r = find_row(&expected, 1, op, e, e);
			*tr &= r->tr;
			*sig &= r->sig;
		}
		if (e == GUARD_ENC_KMS || e == GUARD_ENC_UNKNOWN) {
			const struct trow *r = find_row(&expected, 2, op, e, e);
			*tr &= r->tr;
			*sig &= r->sig;
		}
	}
	if (key)
		*tr &= GUARD_HTTPS;
}

static void test_transcription_complete(void **state)
{
	(void)state;
	assert_int_equal(expected.per_table[1], 7);
	assert_int_equal(expected.per_table[2], 7);
	assert_int_equal(expected.per_table[3], 9);
	assert_int_equal(expected.per_table[4], 9);
}

/* Does the model see encryption in @r (a key, or a selecting side not none)? */
static bool model_encrypted(const struct guard_req *r)
{
	enum guard_enc s = r->src == GUARD_ENC_S3 ? GUARD_ENC_NONE : r->src;
	enum guard_enc d = r->dst == GUARD_ENC_S3 ? GUARD_ENC_NONE : r->dst;

	if (r->carries_key)
		return true;
	switch (r->op) {
	case GUARD_OP_COPY_OBJECT:
	case GUARD_OP_UPLOAD_PART_COPY:
		return s != GUARD_ENC_NONE || d != GUARD_ENC_NONE;
	case GUARD_OP_HEAD_OBJECT:
	case GUARD_OP_GET_OBJECT:
		return s != GUARD_ENC_NONE;
	case GUARD_OP_OTHER:
		/* no table row (DELETE): what the caller says of the object */
		return s != GUARD_ENC_NONE;
	default:
		return d != GUARD_ENC_NONE;
	}
}

/* Is a selecting side of @r unknown? */
static bool model_unknown(const struct guard_req *r)
{
	switch (r->op) {
	case GUARD_OP_COPY_OBJECT:
	case GUARD_OP_UPLOAD_PART_COPY:
		return r->src == GUARD_ENC_UNKNOWN || r->dst == GUARD_ENC_UNKNOWN;
	case GUARD_OP_HEAD_OBJECT:
	case GUARD_OP_GET_OBJECT:
		return r->src == GUARD_ENC_UNKNOWN;
	case GUARD_OP_OTHER:
		return r->src == GUARD_ENC_UNKNOWN;
	default:
		return r->dst == GUARD_ENC_UNKNOWN;
	}
}

/* A keyless HEAD or GET of an object of unknown encryption? */
static bool model_probe(const struct guard_req *r)
{
	return (r->op == GUARD_OP_HEAD_OBJECT || r->op == GUARD_OP_GET_OBJECT) &&
	       r->src == GUARD_ENC_UNKNOWN && !r->carries_key;
}

/* A DELETE (no table row) of an object that may be encrypted takes HTTPS and V4. */
static void test_delete_unknown(void **state)
{
	struct guard_req r = { .op = GUARD_OP_OTHER, .src = GUARD_ENC_UNKNOWN };
	struct guard_decision d;

	(void)state;
	assert_int_equal(guard_decide(&r, GUARD_POLICY_UPGRADE, GUARD_HTTP, GUARD_V2, true, &d), 0);
	assert_int_equal(d.transport, GUARD_HTTPS);
	assert_int_equal(d.sig, GUARD_V4);
	/* strict: the tables alone, which have no row for it */
	assert_int_equal(guard_decide(&r, GUARD_POLICY_STRICT, GUARD_HTTP, GUARD_V2, true, &d), 0);
	assert_int_equal(d.transport, GUARD_HTTP);
	/* HTTP-only mount: nowhere else to go */
	assert_int_equal(guard_decide(&r, GUARD_POLICY_UPGRADE, GUARD_HTTP, GUARD_V4, false, &d),
			 0);
	assert_int_equal(d.transport, GUARD_HTTP);
	/* a plain object's DELETE stays on url= */
	r.src = GUARD_ENC_NONE;
	assert_int_equal(guard_decide(&r, GUARD_POLICY_UPGRADE, GUARD_HTTP, GUARD_V2, true, &d), 0);
	assert_int_equal(d.transport, GUARD_HTTP);
	assert_int_equal(d.sig, GUARD_V2);
}

static void check_decide(const struct guard_req *r)
{
	static const enum guard_policy pols[] = { GUARD_POLICY_UPGRADE, GUARD_POLICY_STRICT };
	static const unsigned wts[] = { GUARD_HTTP, GUARD_HTTPS };
	static const unsigned wss[] = { GUARD_V2, GUARD_V4 };

	for (size_t p = 0; p < 2; p++)
		for (size_t a = 0; a < 2; a++)
			for (size_t b = 0; b < 2; b++)
				for (int hh = 0; hh < 2; hh++) {
					unsigned wt = wts[a], ws = wss[b];
					bool strict = pols[p] == GUARD_POLICY_STRICT;
					/* an https:// url is an HTTPS endpoint */
					bool have = hh || wt == GUARD_HTTPS;
					unsigned et = 0, es = 0, tr, sig;
					bool ok = true;

					model(r->op, r->src, r->dst, r->carries_key, have, &tr,
					      &sig);
					if (!strict && have && wt == GUARD_HTTP &&
					    (tr & GUARD_HTTPS) && model_encrypted(r))
						et = GUARD_HTTPS; /* preferred */
					else if (tr & wt)
						et = wt;
					else if ((!strict || model_probe(r)) && wt == GUARD_HTTP &&
						 (tr & GUARD_HTTPS) && have)
						et = GUARD_HTTPS; /* a probe: under strict too */
					else
						ok = false;
					if (sig & ws)
						es = ws;
					else if (!strict && ws == GUARD_V2 && (sig & GUARD_V4))
						es = GUARD_V4;
					else
						ok = false;
					/* unknown encryption: V4 too under upgrade */
					if (ok && !strict && have && es == GUARD_V2 &&
					    (sig & GUARD_V4) && model_unknown(r))
						es = GUARD_V4;
					/* SSE-KMS: never V2 under upgrade */
					if (ok && !strict && es == GUARD_V2 && (sig & GUARD_V4) &&
					    (r->src == GUARD_ENC_KMS || r->dst == GUARD_ENC_KMS))
						es = GUARD_V4;

					struct guard_decision d;
					memset(&d, 0xa5, sizeof(d));
					int rc = guard_decide(r, pols[p], wt, ws, hh, &d);
					if (!ok) {
						assert_int_equal(rc, -EACCES);
						assert_non_null(d.rule);
						assert_true(strlen(d.rule) > 0);
						continue;
					}
					assert_int_equal(rc, 0);
					assert_int_equal(d.transport, et);
					assert_int_equal(d.sig, es);
					/* never a downgrade, always allowed */
					assert_true(d.transport >= wt);
					assert_true(d.sig >= ws);
					assert_true(d.transport & tr);
					assert_true(d.sig & sig);
					if (d.transport == GUARD_HTTPS && wt == GUARD_HTTP)
						assert_true(hh);
					/* the residual probe over plain HTTP, and only it */
					if (model_probe(r) && et == GUARD_HTTP)
						assert_non_null(d.note);
					else
						assert_null(d.note);
					if (et == wt && es == ws)
						assert_null(d.rule);
					else
						assert_non_null(d.rule);
					if (r->carries_key)
						assert_int_equal(d.transport, GUARD_HTTPS);
				}
}

static void test_exhaustive(void **state)
{
	(void)state;
	size_t checked = 0;
	for (int op = 0; op < GUARD_OP_COUNT; op++)
		for (int s = 0; s < GUARD_ENC_COUNT; s++)
			for (int d = 0; d < GUARD_ENC_COUNT; d++)
				for (int k = 0; k < 4; k++) {
					struct guard_req r = {
						.op = (enum guard_op)op,
						.src = (enum guard_enc)s,
						.dst = (enum guard_enc)d,
						.carries_key = k & 1,
					};
					bool have = k & 2;
					unsigned et, es, gt = 99, gs = 99;
					model(r.op, r.src, r.dst, r.carries_key, have, &et, &es);
					guard_allowed(&r, have, &gt, &gs);
					if (gt != et || gs != es)
						fail_msg("%s src=%s dst=%s key=%d https=%d: got "
							 "t=%u "
							 "s=%u, want t=%u s=%u",
							 guard_op_name(r.op), guard_enc_name(r.src),
							 guard_enc_name(r.dst), k & 1, have, gt, gs,
							 et, es);
					if (!have)
						check_decide(&r);
					checked++;
				}
	assert_int_equal(checked, GUARD_OP_COUNT * GUARD_ENC_COUNT * GUARD_ENC_COUNT * 4);
}

/* A few cases spelled out, so a shared misreading of the model would show. */
static void test_spot_checks(void **state)
{
	(void)state;
	struct guard_decision d;
	unsigned t, s;

	/* KMS PUT wanted over HTTP with V2: upgraded to HTTPS and V4. */
	struct guard_req kput = { .op = GUARD_OP_PUT_OBJECT, .dst = GUARD_ENC_KMS };
	assert_int_equal(guard_decide(&kput, GUARD_POLICY_UPGRADE, GUARD_HTTP, GUARD_V2, true, &d),
			 0);
	assert_int_equal(d.transport, GUARD_HTTPS);
	assert_int_equal(d.sig, GUARD_V4);
	assert_non_null(d.rule);
	assert_int_equal(guard_decide(&kput, GUARD_POLICY_STRICT, GUARD_HTTPS, GUARD_V2, true, &d),
			 -EACCES);
	assert_int_equal(guard_decide(&kput, GUARD_POLICY_UPGRADE, GUARD_HTTP, GUARD_V4, false, &d),
			 -EACCES);
	assert_non_null(strstr(d.rule, "no HTTPS endpoint"));

	/* HEAD of a KMS object: plain HTTP and V2 are fine. */
	struct guard_req khead = { .op = GUARD_OP_HEAD_OBJECT, .src = GUARD_ENC_KMS };
	guard_allowed(&khead, true, &t, &s);
	assert_int_equal(t, GUARD_HTTP | GUARD_HTTPS);
	assert_int_equal(s, GUARD_V2 | GUARD_V4);
	/* ... but the target encryption does not matter for a HEAD. */
	khead.dst = GUARD_ENC_C;
	khead.src = GUARD_ENC_NONE;
	guard_allowed(&khead, true, &t, &s);
	assert_int_equal(t, GUARD_HTTP | GUARD_HTTPS);

	/* Copy from an SSE-C source to a plain target: the table allows HTTP,
	 * the key rule does not. */
	struct guard_req cc = { .op = GUARD_OP_COPY_OBJECT,
				.src = GUARD_ENC_C,
				.dst = GUARD_ENC_NONE };
	guard_allowed(&cc, true, &t, &s);
	assert_int_equal(t, GUARD_HTTP | GUARD_HTTPS);
	cc.carries_key = true;
	guard_allowed(&cc, true, &t, &s);
	assert_int_equal(t, GUARD_HTTPS);
	assert_int_equal(guard_decide(&cc, GUARD_POLICY_STRICT, GUARD_HTTP, GUARD_V2, true, &d),
			 -EACCES);
	assert_non_null(strstr(d.rule, "key"));

	/* A keyless HEAD of an unknown object: tables 1 and 2 (HTTPS) where the
	 * mount has an HTTPS endpoint; without one, table 2 alone (it is the
	 * only way to learn, and an SSE-C object cannot be read without its
	 * key). With a key it is SSE-C's row: HTTPS only. */
	struct guard_req uh = { .op = GUARD_OP_HEAD_OBJECT, .src = GUARD_ENC_UNKNOWN };
	guard_allowed(&uh, true, &t, &s);
	assert_int_equal(t, GUARD_HTTPS);
	assert_int_equal(s, GUARD_V2 | GUARD_V4);
	guard_allowed(&uh, false, &t, &s);
	assert_int_equal(t, GUARD_HTTP | GUARD_HTTPS);
	assert_int_equal(guard_decide(&uh, GUARD_POLICY_UPGRADE, GUARD_HTTP, GUARD_V4, false, &d),
			 0);
	assert_int_equal(d.transport, GUARD_HTTP);
	assert_null(d.rule);
	assert_non_null(strstr(d.note, "no HTTPS endpoint"));
	/* ... with an HTTPS endpoint it takes it */
	assert_int_equal(guard_decide(&uh, GUARD_POLICY_UPGRADE, GUARD_HTTP, GUARD_V4, true, &d),
			 0);
	assert_int_equal(d.transport, GUARD_HTTPS);
	assert_non_null(strstr(d.rule, "tables 1 and 2"));
	assert_null(d.note);
	/* ... under strict as well */
	assert_int_equal(guard_decide(&uh, GUARD_POLICY_STRICT, GUARD_HTTP, GUARD_V4, true, &d), 0);
	assert_int_equal(d.transport, GUARD_HTTPS);
	uh.carries_key = true;
	guard_allowed(&uh, false, &t, &s);
	assert_int_equal(t, GUARD_HTTPS);
	guard_allowed(&uh, true, &t, &s);
	assert_int_equal(t, GUARD_HTTPS);

	/* Unknown source of a GET: strictest of C and KMS, i.e. HTTPS and V4. */
	struct guard_req ug = { .op = GUARD_OP_GET_OBJECT, .src = GUARD_ENC_UNKNOWN };
	guard_allowed(&ug, true, &t, &s);
	assert_int_equal(t, GUARD_HTTPS);
	assert_int_equal(s, GUARD_V4);

	/* SSE-S3 behaves as none. */
	struct guard_req s3 = { .op = GUARD_OP_GET_OBJECT, .src = GUARD_ENC_S3 };
	guard_allowed(&s3, true, &t, &s);
	assert_int_equal(t, GUARD_HTTP | GUARD_HTTPS);
	assert_int_equal(s, GUARD_V2 | GUARD_V4);

	/* Bad arguments. */
	assert_int_equal(guard_decide(&s3, GUARD_POLICY_UPGRADE, 3, GUARD_V2, true, &d), -EINVAL);
	assert_int_equal(guard_decide(&s3, GUARD_POLICY_UPGRADE, GUARD_HTTP, 0, true, &d), -EINVAL);
	assert_int_equal(guard_decide(NULL, GUARD_POLICY_UPGRADE, GUARD_HTTP, GUARD_V2, true, &d),
			 -EINVAL);
}

/*
 * The first request about an object whose encryption is not known yet (a
 * HEAD without key material, which is how a mount learns it) may meet an
 * SSE-C object, whose HEAD table 1 allows only over HTTPS: with an HTTPS
 * endpoint it takes HTTPS, under either policy, and V4 under upgrade.
 */
static void test_unknown_probe(void **state)
{
	(void)state;
	struct guard_decision d;
	struct guard_req uh = { .op = GUARD_OP_HEAD_OBJECT, .src = GUARD_ENC_UNKNOWN };

	/* the rules: HTTPS only where an HTTPS endpoint exists */
	unsigned t, s;
	guard_allowed(&uh, true, &t, &s);
	assert_int_equal(t, GUARD_HTTPS);
	guard_allowed(&uh, false, &t, &s);
	assert_int_equal(t, GUARD_HTTP | GUARD_HTTPS);

	/* url=http://, https_url=https://: HTTPS and V4 */
	assert_int_equal(guard_decide(&uh, GUARD_POLICY_UPGRADE, GUARD_HTTP, GUARD_V2, true, &d),
			 0);
	assert_int_equal(d.transport, GUARD_HTTPS);
	assert_int_equal(d.sig, GUARD_V4);
	assert_non_null(strstr(d.rule, "unknown encryption"));
	assert_null(d.note);
	assert_int_equal(guard_decide(&uh, GUARD_POLICY_UPGRADE, GUARD_HTTP, GUARD_V4, true, &d),
			 0);
	assert_int_equal(d.transport, GUARD_HTTPS);
	assert_int_equal(d.sig, GUARD_V4);
	/* an https:// url with sigv=2: V4 too */
	assert_int_equal(guard_decide(&uh, GUARD_POLICY_UPGRADE, GUARD_HTTPS, GUARD_V2, false, &d),
			 0);
	assert_int_equal(d.transport, GUARD_HTTPS);
	assert_int_equal(d.sig, GUARD_V4);
	/* strict: HTTPS as well (refusing would leave nothing to learn the
	 * encryption by), the signature as the mount asks */
	assert_int_equal(guard_decide(&uh, GUARD_POLICY_STRICT, GUARD_HTTP, GUARD_V4, true, &d), 0);
	assert_int_equal(d.transport, GUARD_HTTPS);
	assert_int_equal(d.sig, GUARD_V4);
	assert_non_null(d.rule);
	assert_int_equal(guard_decide(&uh, GUARD_POLICY_STRICT, GUARD_HTTP, GUARD_V2, true, &d), 0);
	assert_int_equal(d.transport, GUARD_HTTPS);
	assert_int_equal(d.sig, GUARD_V2);

	/* A GET of it: HTTPS and V4 (tables 1 and 2), strict refuses V2. */
	struct guard_req ug = { .op = GUARD_OP_GET_OBJECT, .src = GUARD_ENC_UNKNOWN };
	assert_int_equal(guard_decide(&ug, GUARD_POLICY_STRICT, GUARD_HTTP, GUARD_V4, true, &d), 0);
	assert_int_equal(d.transport, GUARD_HTTPS);
	assert_int_equal(guard_decide(&ug, GUARD_POLICY_STRICT, GUARD_HTTP, GUARD_V2, true, &d),
			 -EACCES);

	/* Once known plain, the bulk goes over url= as the mount asks. */
	struct guard_req ph = { .op = GUARD_OP_HEAD_OBJECT, .src = GUARD_ENC_NONE };
	struct guard_req pg = { .op = GUARD_OP_GET_OBJECT, .src = GUARD_ENC_NONE };
	for (int p = 0; p < 2; p++) {
		enum guard_policy pol = p ? GUARD_POLICY_STRICT : GUARD_POLICY_UPGRADE;
		assert_int_equal(guard_decide(&ph, pol, GUARD_HTTP, GUARD_V2, true, &d), 0);
		assert_int_equal(d.transport, GUARD_HTTP);
		assert_int_equal(d.sig, GUARD_V2);
		assert_null(d.rule);
		assert_int_equal(guard_decide(&pg, pol, GUARD_HTTP, GUARD_V2, true, &d), 0);
		assert_int_equal(d.transport, GUARD_HTTP);
		assert_null(d.rule);
	}

	/* HTTP-only mount: the probe is the only way to learn; plain HTTP,
	 * with a note for the caller's log. */
	for (int p = 0; p < 2; p++) {
		enum guard_policy pol = p ? GUARD_POLICY_STRICT : GUARD_POLICY_UPGRADE;
		assert_int_equal(guard_decide(&uh, pol, GUARD_HTTP, GUARD_V2, false, &d), 0);
		assert_int_equal(d.transport, GUARD_HTTP);
		assert_int_equal(d.sig, GUARD_V2);
		assert_null(d.rule);
		assert_non_null(d.note);
		assert_non_null(strstr(d.note, "table 1"));
		/* a GET of it still needs HTTPS: refused */
		assert_int_equal(guard_decide(&ug, pol, GUARD_HTTP, GUARD_V4, false, &d), -EACCES);
	}

	/* With the key, the probe is table 1's (and the key rule's) anyway. */
	uh.carries_key = true;
	assert_int_equal(guard_decide(&uh, GUARD_POLICY_STRICT, GUARD_HTTP, GUARD_V4, true, &d),
			 -EACCES);
	assert_int_equal(guard_decide(&uh, GUARD_POLICY_UPGRADE, GUARD_HTTP, GUARD_V4, false, &d),
			 -EACCES);
}

static void test_names(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(op_names); i++)
		assert_string_equal(guard_op_name(op_names[i].op), op_names[i].name);
	assert_string_equal(guard_enc_name(GUARD_ENC_C), "SSE-C");
	assert_string_equal(guard_enc_name(GUARD_ENC_KMS), "SSE-KMS");
	assert_string_equal(guard_op_name(GUARD_OP_COUNT), "?");
	assert_string_equal(guard_enc_name(GUARD_ENC_COUNT), "?");
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	char *s = malloc(cap + 1);
	if (s)
		n = fread(s, 1, cap, f);
	fclose(f);
	if (!s)
		return NULL;
	assert_true(n < cap); /* the spec is a few KiB */
	s[n] = '\0';
	return s;
}

/* The spec file itself, row by row: against guard_allowed and the literal. */
static void test_spec_file(void **state)
{
	(void)state;
	const char *path = TEST_SRCDIR "/data/sse-protocol-rules.md";
	char *text = read_all(path);
	if (!text)
		print_error("cannot read the spec transcription '%s'\n", path);
	assert_non_null(text);
	static struct tables spec;
	parse_tables(text, &spec);
	free(text);

	assert_int_equal(spec.n, expected.n);
	for (int tb = 1; tb <= 4; tb++)
		assert_int_equal(spec.per_table[tb], expected.per_table[tb]);

	for (size_t i = 0; i < spec.n; i++) {
		const struct trow *r = &spec.rows[i];
		struct guard_req q = { .op = r->op };
		if (r->table >= 3) {
			q.src = r->src;
			q.dst = r->dst;
		} else if (r->op == GUARD_OP_HEAD_OBJECT || r->op == GUARD_OP_GET_OBJECT) {
			q.src = r->src;
		} else {
			q.dst = r->dst;
		}
		unsigned t, s;
		guard_allowed(&q, true, &t, &s);
		if (t != r->tr || s != r->sig)
			fail_msg("spec table %d row %zu (%s): guard t=%u s=%u, spec t=%u s=%u",
				 r->table, i, guard_op_name(r->op), t, s, r->tr, r->sig);
		const struct trow *e = find_row(&expected, r->table, r->op, r->src, r->dst);
		assert_int_equal(e->tr, r->tr);
		assert_int_equal(e->sig, r->sig);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transcription_complete),
		cmocka_unit_test(test_exhaustive),
		cmocka_unit_test(test_delete_unknown),
		cmocka_unit_test(test_spot_checks),
		cmocka_unit_test(test_unknown_probe),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_spec_file),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
