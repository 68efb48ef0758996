/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The protocol guard: one static table transcribing the four tables of
 * shared/spec/sse-protocol-rules.md, the lookup that maps a request onto it,
 * the separate key rule, and the upgrade/strict decision. Pure: no I/O, no
 * logging, no state; the caller (s3_perform) logs refusals.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>

#include "guard.h"

#define ANY_TRANSPORT (GUARD_HTTP | GUARD_HTTPS)
#define ANY_SIG (GUARD_V2 | GUARD_V4)

/* Which spec table (or our own rule) a restriction comes from. */
enum ruleset {
	RS_NONE,    /* ordinary settings: nothing restricts */
	RS_T1,	    /* table 1, SSE-C */
	RS_T2,	    /* table 2, SSE-KMS */
	RS_T12,	    /* unknown encryption: tables 1 and 2 intersected */
	RS_T2R,	    /* keyless read of unknown encryption, no HTTPS endpoint: table 2 */
	RS_T3,	    /* table 3, CopyObject */
	RS_T3U,	    /* table 3 with an unknown side */
	RS_T4,	    /* table 4, UploadPartCopy */
	RS_T4U,	    /* table 4 with an unknown side */
	RS_KEY,	    /* key material only over HTTPS (ours, not the service's) */
	RS_PREFER,  /* upgrade policy: encrypted objects over HTTPS when we can */
	RS_UNKNOWN, /* upgrade policy: unknown encryption over HTTPS and V4 */
	RS_KMS_V4,  /* upgrade policy: SSE-KMS objects never signed V2 */
	RS_COUNT
};

/*
 * One row of a spec table. How a request finds its row:
 *  - PutObject, PostObject, InitiateMultipartUpload, UploadPart and
 *    CompleteMultipartUpload: the *target* encryption selects the row; those
 *    rows have src = NONE and dst = C or KMS (tables 1 and 2).
 *  - HeadObject and GetObject: the *source* (the object read) selects the
 *    row; those rows have src = C or KMS and dst = NONE (tables 1 and 2).
 *  - CopyObject and UploadPartCopy: source x target (tables 3 and 4), all
 *    nine combinations of none/C/KMS listed.
 * SSE-S3 carries no key material and has no row: it is looked up as none.
 * A single-object operation on a plain object, and GUARD_OP_OTHER, find no
 * row and get the ordinary settings (any transport, any signature).
 * GUARD_ENC_UNKNOWN is looked up as both C and KMS and the rows intersected,
 * but for one case, see lookup().
 */
struct row {
	enum guard_op op;
	enum guard_enc src;
	enum guard_enc dst;
	unsigned char transports;
	unsigned char sigs;
	unsigned char rs;
};

#define N GUARD_ENC_NONE
#define C GUARD_ENC_C
#define K GUARD_ENC_KMS
#define S GUARD_HTTPS
#define B ANY_TRANSPORT
#define V4 GUARD_V4
#define VB ANY_SIG

static const struct row rules[] = {
	/* Table 1: SSE-C */
	{ GUARD_OP_PUT_OBJECT, N, C, S, VB, RS_T1 },
	{ GUARD_OP_POST_OBJECT, N, C, S, VB, RS_T1 },
	{ GUARD_OP_INITIATE_MPU, N, C, S, VB, RS_T1 },
	{ GUARD_OP_HEAD_OBJECT, C, N, S, VB, RS_T1 },
	{ GUARD_OP_GET_OBJECT, C, N, S, VB, RS_T1 },
	{ GUARD_OP_UPLOAD_PART, N, C, S, VB, RS_T1 },
	{ GUARD_OP_COMPLETE_MPU, N, C, B, VB, RS_T1 },
	/* Table 2: SSE-KMS */
	{ GUARD_OP_PUT_OBJECT, N, K, S, V4, RS_T2 },
	{ GUARD_OP_POST_OBJECT, N, K, S, V4, RS_T2 },
	{ GUARD_OP_INITIATE_MPU, N, K, S, V4, RS_T2 },
	{ GUARD_OP_HEAD_OBJECT, K, N, B, VB, RS_T2 },
	{ GUARD_OP_GET_OBJECT, K, N, S, V4, RS_T2 },
	{ GUARD_OP_UPLOAD_PART, N, K, S, V4, RS_T2 },
	{ GUARD_OP_COMPLETE_MPU, N, K, B, VB, RS_T2 },
	/* Table 3: CopyObject (source, target) */
	{ GUARD_OP_COPY_OBJECT, N, K, S, V4, RS_T3 },
	{ GUARD_OP_COPY_OBJECT, K, K, S, V4, RS_T3 },
	{ GUARD_OP_COPY_OBJECT, C, K, S, V4, RS_T3 },
	{ GUARD_OP_COPY_OBJECT, N, C, S, VB, RS_T3 },
	{ GUARD_OP_COPY_OBJECT, K, C, S, VB, RS_T3 },
	{ GUARD_OP_COPY_OBJECT, C, C, S, VB, RS_T3 },
	{ GUARD_OP_COPY_OBJECT, N, N, B, VB, RS_T3 },
	{ GUARD_OP_COPY_OBJECT, K, N, B, VB, RS_T3 },
	{ GUARD_OP_COPY_OBJECT, C, N, B, VB, RS_T3 },
	/* Table 4: UploadPartCopy (source, target part) */
	{ GUARD_OP_UPLOAD_PART_COPY, N, K, B, VB, RS_T4 },
	{ GUARD_OP_UPLOAD_PART_COPY, K, K, B, VB, RS_T4 },
	{ GUARD_OP_UPLOAD_PART_COPY, C, K, B, VB, RS_T4 },
	{ GUARD_OP_UPLOAD_PART_COPY, N, C, S, VB, RS_T4 },
	{ GUARD_OP_UPLOAD_PART_COPY, K, C, S, VB, RS_T4 },
	{ GUARD_OP_UPLOAD_PART_COPY, C, C, S, VB, RS_T4 },
	{ GUARD_OP_UPLOAD_PART_COPY, N, N, B, VB, RS_T4 },
	{ GUARD_OP_UPLOAD_PART_COPY, K, N, B, VB, RS_T4 },
	{ GUARD_OP_UPLOAD_PART_COPY, C, N, B, VB, RS_T4 },
};

#undef N
#undef C
#undef K
#undef S
#undef B
#undef V4
#undef VB

/* Indexed by [ruleset][need], see enum need. */
enum need { NEED_NO_HTTPS, NEED_HTTPS, NEED_V4, NEED_HTTPS_V4, NEED_NOTHING_ALLOWED, NEED_COUNT };

#define RULE_TEXTS(name)                                                                          \
	{                                                                                         \
		name ": HTTPS required but no HTTPS endpoint", name ": HTTPS required",           \
			name ": V4 signature required", name ": HTTPS and V4 signature required", \
			name ": no transport or signature allowed"                                \
	}

static const char *const rule_text[RS_COUNT][NEED_COUNT] = {
	[RS_NONE] = RULE_TEXTS("ordinary settings"),
	[RS_T1] = RULE_TEXTS("spec table 1 (SSE-C)"),
	[RS_T2] = RULE_TEXTS("spec table 2 (SSE-KMS)"),
	[RS_T12] =
		RULE_TEXTS("spec tables 1 and 2 (unknown encryption treated as SSE-C and SSE-KMS)"),
	[RS_T3] = RULE_TEXTS("spec table 3 (CopyObject)"),
	[RS_T3U] = RULE_TEXTS(
		"spec table 3 (CopyObject, unknown encryption treated as SSE-C and SSE-KMS)"),
	[RS_T4] = RULE_TEXTS("spec table 4 (UploadPartCopy)"),
	[RS_T4U] = RULE_TEXTS(
		"spec table 4 (UploadPartCopy, unknown encryption treated as SSE-C and SSE-KMS)"),
	[RS_T2R] = RULE_TEXTS("spec table 2 (keyless read of an object of unknown encryption "
			      "on a mount without an HTTPS endpoint, looked up as SSE-KMS)"),
	[RS_KEY] = RULE_TEXTS("SSE-C key material travels only over HTTPS"),
	[RS_PREFER] = RULE_TEXTS("upgrade policy: requests about encrypted objects use HTTPS "
				 "when an HTTPS endpoint exists"),
	[RS_UNKNOWN] = RULE_TEXTS("upgrade policy: requests about objects of unknown encryption "
				  "use HTTPS and V4 when an HTTPS endpoint exists"),
	[RS_KMS_V4] = RULE_TEXTS("upgrade policy: requests about SSE-KMS objects are signed V4"),
};

static const char residual_probe[] =
	"keyless probe of an object of unknown encryption over plain HTTP: the mount has no "
	"HTTPS endpoint, and spec table 1 allows HeadObject of an SSE-C object only over HTTPS "
	"(the server refuses it; no key material is sent)";

/* The result of the table lookup, before the key rule. */
struct allowed {
	unsigned transports;
	unsigned sigs;
	enum ruleset rs; /* the ruleset of the rows found */
};

static bool is_copy(enum guard_op op)
{
	return op == GUARD_OP_COPY_OBJECT || op == GUARD_OP_UPLOAD_PART_COPY;
}

static bool reads_source(enum guard_op op)
{
	return op == GUARD_OP_HEAD_OBJECT || op == GUARD_OP_GET_OBJECT;
}

/* SSE-S3 has no row and behaves as none; out-of-range values as unknown. */
static enum guard_enc normalize(enum guard_enc e)
{
	if (e == GUARD_ENC_S3)
		return GUARD_ENC_NONE;
	if ((unsigned)e >= GUARD_ENC_COUNT)
		return GUARD_ENC_UNKNOWN;
	return e;
}

/* Intersect the row for exactly (op, src, dst), or nothing if there is none. */
static void lookup_one(enum guard_op op, enum guard_enc src, enum guard_enc dst, struct allowed *a)
{
	for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
		const struct row *w = &rules[i];
		if (w->op != op || w->src != src || w->dst != dst)
			continue;
		a->transports &= w->transports;
		a->sigs &= w->sigs;
		if (a->rs == RS_NONE)
			a->rs = (enum ruleset)w->rs;
		return;
	}
}

/* The candidates for one side: UNKNOWN stands for both C and KMS. */
static size_t expand(enum guard_enc e, enum guard_enc out[2])
{
	if (e == GUARD_ENC_UNKNOWN) {
		out[0] = GUARD_ENC_C;
		out[1] = GUARD_ENC_KMS;
		return 2;
	}
	out[0] = e;
	return 1;
}

/* The sides of @r that select its rows (the other one counts as none). */
static void sides_of(const struct guard_req *r, enum guard_enc *src, enum guard_enc *dst)
{
	*src = *dst = GUARD_ENC_NONE;
	if (is_copy(r->op)) {
		*src = normalize(r->src);
		*dst = normalize(r->dst);
	} else if (reads_source(r->op)) {
		*src = normalize(r->src);
	} else {
		*dst = normalize(r->dst);
	}
}

/* A HEAD or GET without key material of an object of unknown encryption? */
static bool is_probe(const struct guard_req *r)
{
	return (unsigned)r->op < GUARD_OP_OTHER && reads_source(r->op) &&
	       normalize(r->src) == GUARD_ENC_UNKNOWN && !r->carries_key;
}

static void lookup(const struct guard_req *r, bool have_https, struct allowed *a)
{
	enum guard_enc src = GUARD_ENC_NONE, dst = GUARD_ENC_NONE;
	enum guard_enc sv[2], dv[2];

	a->transports = ANY_TRANSPORT;
	a->sigs = ANY_SIG;
	a->rs = RS_NONE;

	if ((unsigned)r->op >= GUARD_OP_OTHER) {
		/* GUARD_OP_OTHER: ordinary settings. Out of range: refuse. */
		if (r->op != GUARD_OP_OTHER)
			a->transports = a->sigs = 0;
		return;
	}
	sides_of(r, &src, &dst);

	size_t ns = expand(src, sv), nd = expand(dst, dv);
	/*
	 * A HEAD or GET without key material of an object of unknown
	 * encryption is how a mount without the SSE-C key learns what the
	 * object is. It may be SSE-C, so it is looked up as both C and KMS
	 * (HTTPS) like any unknown object, but for one residual case: a mount
	 * with no HTTPS endpoint, where it is the only way to learn. There it
	 * is looked up in table 2 alone (plain HTTP): it carries no key, and
	 * an SSE-C object answers 400 and returns nothing.
	 */
	bool keyless_read = is_probe(r) && !have_https;
	if (keyless_read) {
		sv[0] = GUARD_ENC_KMS;
		ns = 1;
	}
	for (size_t i = 0; i < ns; i++)
		for (size_t j = 0; j < nd; j++)
			lookup_one(r->op, sv[i], dv[j], a);

	if (src == GUARD_ENC_UNKNOWN || dst == GUARD_ENC_UNKNOWN) {
		if (r->op == GUARD_OP_COPY_OBJECT)
			a->rs = RS_T3U;
		else if (r->op == GUARD_OP_UPLOAD_PART_COPY)
			a->rs = RS_T4U;
		else
			a->rs = keyless_read ? RS_T2R : RS_T12;
	}
}

/*
 * The key rule, separate from the tables on purpose: some rows (a copy whose
 * source is SSE-C, CompleteMultipartUpload) allow plain HTTP although the
 * request may carry a customer key; we never send a key in clear text.
 */
static void apply_key_rule(const struct guard_req *r, struct allowed *a, enum ruleset *transport_rs)
{
	*transport_rs = a->rs;
	if (!r->carries_key)
		return;
	if (a->transports & GUARD_HTTP)
		*transport_rs = RS_KEY;
	a->transports &= GUARD_HTTPS;
}

void guard_allowed(const struct guard_req *r, bool have_https, unsigned *transports, unsigned *sigs)
{
	struct allowed a;
	enum ruleset trs;

	lookup(r, have_https, &a);
	apply_key_rule(r, &a, &trs);
	*transports = a.transports;
	*sigs = a.sigs;
}

/* Is either side of @r encrypted with SSE-C or SSE-KMS, or unknown? */
static bool involves_encryption(const struct guard_req *r)
{
	enum guard_enc src, dst;

	if (r->carries_key)
		return true;
	/* No row of the tables (DELETE): what the caller says of the object. */
	if ((unsigned)r->op >= GUARD_OP_OTHER)
		return normalize(r->src) != GUARD_ENC_NONE;
	sides_of(r, &src, &dst);
	return src != GUARD_ENC_NONE || dst != GUARD_ENC_NONE;
}

/* Is a side of @r an SSE-KMS object? */
static bool involves_kms(const struct guard_req *r)
{
	return normalize(r->src) == GUARD_ENC_KMS || normalize(r->dst) == GUARD_ENC_KMS;
}

/* Is a side of @r that selects its rows of unknown encryption? */
static bool involves_unknown(const struct guard_req *r)
{
	enum guard_enc src, dst;

	if ((unsigned)r->op >= GUARD_OP_OTHER)
		return normalize(r->src) == GUARD_ENC_UNKNOWN;
	sides_of(r, &src, &dst);
	return src == GUARD_ENC_UNKNOWN || dst == GUARD_ENC_UNKNOWN;
}

static int refuse(struct guard_decision *out, enum ruleset rs, enum need need)
{
	out->rule = rule_text[rs][need];
	return -EACCES;
}

int guard_decide(const struct guard_req *r, enum guard_policy pol, unsigned want_transport,
		 unsigned want_sig, bool have_https, struct guard_decision *out)
{
	struct allowed a;
	enum ruleset trs;
	bool strict, probe;

	if (!r || !out)
		return -EINVAL;
	out->transport = want_transport;
	out->sig = want_sig;
	out->rule = NULL;
	out->note = NULL;
	if ((want_transport != GUARD_HTTP && want_transport != GUARD_HTTPS) ||
	    (want_sig != GUARD_V2 && want_sig != GUARD_V4) ||
	    (pol != GUARD_POLICY_UPGRADE && pol != GUARD_POLICY_STRICT))
		return -EINVAL;
	strict = pol == GUARD_POLICY_STRICT;
	if (want_transport == GUARD_HTTPS)
		have_https = true;
	probe = is_probe(r);

	lookup(r, have_https, &a);
	apply_key_rule(r, &a, &trs);

	/* The only upgrades are HTTP -> HTTPS and V2 -> V4; nothing goes down. */
	bool up_transport = !(a.transports & want_transport);
	bool up_sig = !(a.sigs & want_sig);

	/*
	 * A probe goes to the HTTPS endpoint under strict too: refusing it
	 * would leave the mount no way to learn any object's encryption, and
	 * the mount named that endpoint itself.
	 */
	if (up_transport &&
	    ((strict && !probe) || want_transport == GUARD_HTTPS || !(a.transports & GUARD_HTTPS)))
		return refuse(out, trs, a.transports ? NEED_HTTPS : NEED_NOTHING_ALLOWED);
	if (up_sig && (strict || want_sig == GUARD_V4 || !(a.sigs & GUARD_V4)))
		return refuse(out, a.rs, a.sigs ? NEED_V4 : NEED_NOTHING_ALLOWED);
	if (up_transport && !have_https)
		return refuse(out, trs, NEED_NO_HTTPS);

	if (up_transport) {
		out->transport = GUARD_HTTPS;
		out->rule = rule_text[trs][up_sig && trs == a.rs ? NEED_HTTPS_V4 : NEED_HTTPS];
	}
	if (up_sig) {
		out->sig = GUARD_V4;
		if (!out->rule)
			out->rule = rule_text[a.rs][NEED_V4];
	}
	/*
	 * Beyond the tables: under the upgrade policy a request about an
	 * encrypted (or possibly encrypted) object takes HTTPS whenever there
	 * is an HTTPS endpoint, even where a table allows HTTP. It is never
	 * less safe, and servers such as Ceph refuse some of those requests
	 * over HTTP (SSE-KMS HEAD and CompleteMultipartUpload).
	 */
	if (!strict && have_https && out->transport == GUARD_HTTP && involves_encryption(r)) {
		out->transport = GUARD_HTTPS;
		if (!out->rule)
			out->rule = rule_text[RS_PREFER][NEED_HTTPS];
	}
	/*
	 * And an object of unknown encryption may be SSE-KMS, whose rows
	 * that need HTTPS all need V4: under the upgrade policy it gets both
	 * wherever there is an HTTPS endpoint, so that nothing about an
	 * encrypted object is signed V2 before its encryption is known.
	 */
	if (!strict && have_https && out->sig == GUARD_V2 && (a.sigs & GUARD_V4) &&
	    involves_unknown(r)) {
		out->sig = GUARD_V4;
		out->rule = rule_text[RS_UNKNOWN][NEED_HTTPS_V4];
	}
	/*
	 * Some rows allow V2 for an SSE-KMS object (HEAD, Complete, copies
	 * to a plain target, UploadPartCopy): under the upgrade policy no
	 * request about an SSE-KMS object is signed V2 all the same.
	 */
	if (!strict && out->sig == GUARD_V2 && (a.sigs & GUARD_V4) && involves_kms(r)) {
		out->sig = GUARD_V4;
		if (!out->rule)
			out->rule = rule_text[RS_KMS_V4][NEED_V4];
	}
	if (probe && out->transport == GUARD_HTTP)
		out->note = residual_probe;
	return 0;
}

const char *guard_op_name(enum guard_op op)
{
	static const char *const names[GUARD_OP_COUNT] = {
		[GUARD_OP_PUT_OBJECT] = "PutObject",
		[GUARD_OP_POST_OBJECT] = "PostObject",
		[GUARD_OP_INITIATE_MPU] = "InitiateMultipartUpload",
		[GUARD_OP_HEAD_OBJECT] = "HeadObject",
		[GUARD_OP_GET_OBJECT] = "GetObject",
		[GUARD_OP_UPLOAD_PART] = "UploadPart",
		[GUARD_OP_COMPLETE_MPU] = "CompleteMultipartUpload",
		[GUARD_OP_COPY_OBJECT] = "CopyObject",
		[GUARD_OP_UPLOAD_PART_COPY] = "UploadPartCopy",
		[GUARD_OP_OTHER] = "other",
	};
	if ((unsigned)op >= GUARD_OP_COUNT || !names[op])
		return "?";
	return names[op];
}

const char *guard_enc_name(enum guard_enc enc)
{
	static const char *const names[GUARD_ENC_COUNT] = {
		[GUARD_ENC_NONE] = "none",	 [GUARD_ENC_C] = "SSE-C",
		[GUARD_ENC_KMS] = "SSE-KMS",	 [GUARD_ENC_S3] = "SSE-S3",
		[GUARD_ENC_UNKNOWN] = "unknown",
	};
	if ((unsigned)enc >= GUARD_ENC_COUNT || !names[enc])
		return "?";
	return names[enc];
}
