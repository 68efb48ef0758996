/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The protocol guard: which transports (HTTP/HTTPS) and signatures (V2/V4)
 * the service allows for an operation, given the encryption of its source
 * and target (shared/spec tables 1-4), plus our own rule that SSE-C key
 * material only travels over HTTPS. Pure: no I/O, no globals, no locks.
 * Implemented in guard.c.
 */
#ifndef obsmount_GUARD_H
#define obsmount_GUARD_H

#include <stdbool.h>

#include "util/compiler.h"

enum guard_op {
	GUARD_OP_PUT_OBJECT,
	GUARD_OP_POST_OBJECT,
	GUARD_OP_INITIATE_MPU,
	GUARD_OP_HEAD_OBJECT,
	GUARD_OP_GET_OBJECT,
	GUARD_OP_UPLOAD_PART,
	GUARD_OP_COMPLETE_MPU,
	GUARD_OP_COPY_OBJECT,
	GUARD_OP_UPLOAD_PART_COPY,
	/* Operations with no row in the tables (DeleteObject, listings, abort,
	 * HeadBucket, ...): they follow the mount's ordinary settings. */
	GUARD_OP_OTHER,
	GUARD_OP_COUNT
};

enum guard_enc {
	GUARD_ENC_NONE,
	GUARD_ENC_C,
	GUARD_ENC_KMS,
	GUARD_ENC_S3,	   /* SSE-S3: no key material, no row in the tables */
	GUARD_ENC_UNKNOWN, /* treated as encrypted: the strictest of C and KMS */
	GUARD_ENC_COUNT
};

/* Bit sets. */
#define GUARD_HTTP 1u
#define GUARD_HTTPS 2u
#define GUARD_V2 1u
#define GUARD_V4 2u

enum guard_policy {
	GUARD_POLICY_UPGRADE, /* send over HTTPS/V4 when the rules require it */
	GUARD_POLICY_STRICT,  /* refuse instead */
};

/* What the guard is asked about one request. */
struct guard_req {
	enum guard_op op;
	/* Encryption of the object read (HEAD/GET) or copied from (copies);
	 * GUARD_ENC_NONE for operations without a source. */
	enum guard_enc src;
	/* Encryption of the object written (PUT, MPU, copy target). */
	enum guard_enc dst;
	/* Does the request carry SSE-C key material in any header? */
	bool carries_key;
};

/*
 * The transports and signatures the rules allow for request @r (borrowed)
 * on a mount that has (@have_https) or has not an HTTPS endpoint: the spec
 * tables (selected as described in guard.c) and, on top, the key rule
 * (carries_key => HTTPS only). Only @have_https false lets a HEAD or GET
 * without key material of an object of unknown encryption be looked up in
 * table 2 alone (the probe by which an HTTP-only mount learns what an object
 * is). *transports gets a set of GUARD_HTTP | GUARD_HTTPS, *sigs a set of
 * GUARD_V2 | GUARD_V4. Either set may be empty (the request is forbidden
 * whatever we do). Pure, no locks.
 */
void guard_allowed(const struct guard_req *r, bool have_https, unsigned *transports,
		   unsigned *sigs);

/* The outcome of guard_decide(). */
struct guard_decision {
	unsigned transport; /* GUARD_HTTP or GUARD_HTTPS: the one to use */
	unsigned sig;	    /* GUARD_V2 or GUARD_V4: the one to use */
	/* Static text naming the rule that forced an upgrade or refused the
	 * request, or NULL when the wanted settings were used unchanged.
	 * Never freed. */
	const char *rule;
	/* Static text when the request goes out as wanted only because the
	 * mount has no HTTPS endpoint (a keyless probe of an object of unknown
	 * encryption over plain HTTP, which table 1 would refuse were it
	 * SSE-C), else NULL. Never freed. */
	const char *note;
};

/*
 * Decide how to send request @r (borrowed). @want_transport (GUARD_HTTP or
 * GUARD_HTTPS) and @want_sig (GUARD_V2 or GUARD_V4) are the mount's
 * settings; @have_https says whether an HTTPS endpoint is available for an
 * upgrade (implied, and ignored, when @want_transport is GUARD_HTTPS).
 * Under GUARD_POLICY_UPGRADE a wanted setting the rules forbid is replaced
 * by HTTPS / V4 when those are allowed; under GUARD_POLICY_STRICT it is
 * refused, except that a keyless HEAD or GET of an object of unknown
 * encryption takes HTTPS under both (it is how the encryption is learnt).
 * Never a downgrade (HTTPS never becomes HTTP, V4 never V2).
 * Returns 0 with *out (caller's) filled, or -EACCES with out->rule set
 * (and out->transport/sig set to the wanted values); -EINVAL for bad
 * arguments. Pure, no locks.
 */
int guard_decide(const struct guard_req *r, enum guard_policy pol, unsigned want_transport,
		 unsigned want_sig, bool have_https, struct guard_decision *out) MUST_CHECK;

/* Static names for logs ("PutObject", "SSE-C", ...); "?" when out of range. */
const char *guard_op_name(enum guard_op op);
const char *guard_enc_name(enum guard_enc enc);

#endif
