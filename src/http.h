/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * HTTP transport: a pool of reusable libcurl easy handles sharing DNS, TLS
 * sessions and connections, and http_exec(), which performs exactly one
 * attempt of one request. A GET into the caller's buffer takes connections
 * of its own, which libcurl opens (http_direct.c). No retries (each retry
 * must be re-signed, so they live in s3_perform()), no signing, no S3
 * knowledge. The only module that includes curl/curl.h.
 */
#ifndef obsmount_HTTP_H
#define obsmount_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/compiler.h"

/* Caps on what a server may make us hold in memory. */
#define HTTP_HEADERS_MAX (64u * 1024u)	    /* all response headers of one reply */
#define HTTP_BODY_MAX (16u * 1024u * 1024u) /* default cap of a body kept in memory */
#define HTTP_ERR_BODY_MAX (64u * 1024u)	    /* body of a non-2xx reply */

/*
 * Initialise / clean up libcurl's global state. Call from main, before any
 * thread starts / after every thread has stopped. Returns 0 or -EIO.
 */
int http_global_init(void) MUST_CHECK;
void http_global_cleanup(void);

/* Pool settings; copied by http_pool_new(). */
struct http_pool_cfg {
	unsigned max_conns;	/* connections kept alive (sized for `parallel`); 0 => 8 */
	const char *ca_file;	/* PEM CA bundle for TLS verification; NULL => system store */
	long connect_timeout_s; /* 0 => 10 */
	/* A transfer slower than low_speed_bps for low_speed_time_s is a stall
	 * (-ETIMEDOUT). There is no total timeout: big transfers take long. */
	long low_speed_time_s; /* 0 => 30 */
	long low_speed_bps;    /* 0 => 1 */
	bool expect_continue;  /* send "Expect: 100-continue" on uploads (default off) */
	/* Every request through libcurl, GETs into a buffer included (tests). */
	bool curl_only;
	/* Test hook: one curl "HOST:PORT:ADDR" resolve entry, or NULL. */
	const char *resolve;
};

struct http_pool;

/*
 * Create a pool. @cfg is borrowed (strings copied). Returns NULL on -ENOMEM
 * or when libcurl cannot set up the share. Thread-safe once created; the
 * caller frees it with http_pool_free() after every request has finished.
 */
struct http_pool *http_pool_new(const struct http_pool_cfg *cfg);
void http_pool_free(struct http_pool *p);

/* One request header. Both strings borrowed; the value may be "". */
struct http_header {
	const char *name;
	const char *value;
};

/*
 * Upload body source: fill @buf with up to @len bytes, set *got (0 = end).
 * Returns 0 or -errno (the transfer is then aborted with that error).
 */
typedef int (*http_read_fn)(void *ctx, void *buf, size_t len, size_t *got);
/* Download sink: consume @len bytes. Returns 0 or -errno (abort). */
typedef int (*http_write_fn)(void *ctx, const void *data, size_t len);

/* Where a 2xx response body goes. A non-2xx body always goes to resp->body. */
enum http_sink {
	HTTP_SINK_BUF = 0, /* resp->body, capped at body_max */
	HTTP_SINK_MEM,	   /* the caller's buffer sink_mem of sink_cap bytes, or sink_iov */
	HTTP_SINK_FN,	   /* the callback sink_fn */
};

struct http_response;

/* One piece of a caller's buffer in pieces (borrowed). */
struct http_iov {
	void *base;
	size_t len;
};

/*
 * A buffer in pieces, announced as it fills: before the first body byte
 * of a 2xx reply reaches the buffer, the head callback sees the reply
 * (@status, the headers in @resp) and says whether its pieces may be
 * announced (1) or not (0), or ends the transfer with an error (-errno)
 * before the buffer is written; then the piece callback is told of each
 * piece once it is full, in order. A retried request is announced again,
 * from its head on.
 */
typedef int (*http_head_fn)(void *ctx, long status, const struct http_response *resp);
typedef void (*http_piece_fn)(void *ctx, size_t i);

/* A request; every pointer borrowed for the duration of http_exec(). */
struct http_request {
	const char *method;		   /* "GET", "HEAD", "PUT", "POST", "DELETE" */
	const char *url;		   /* absolute, already percent-encoded */
	const struct http_header *headers; /* sent as given (Host included if set) */
	size_t n_headers;

	/* Body: either memory (body, body_len) or read_fn with body_len bytes. */
	const void *body;
	http_read_fn read_fn;
	void *read_ctx;
	uint64_t body_len;

	enum http_sink sink;
	size_t body_max; /* HTTP_SINK_BUF cap; 0 => HTTP_BODY_MAX */
	void *sink_mem;	 /* HTTP_SINK_MEM */
	size_t sink_cap;
	/* HTTP_SINK_MEM in pieces, filled in order (then sink_mem is unused
	 * and sink_cap is their total): sink_n_iov of them, or 0. */
	const struct http_iov *sink_iov;
	size_t sink_n_iov;
	/* announcing them (see http_piece_fn): both set, or neither */
	http_head_fn sink_head;
	http_piece_fn sink_piece;
	void *piece_ctx;
	http_write_fn sink_fn; /* HTTP_SINK_FN */
	void *sink_ctx;
};

/*
 * A response. Initialise with http_response_init() and release with
 * http_response_release(); it may be reused across attempts (http_exec()
 * resets it first).
 */
struct http_response {
	long status; /* HTTP status, 0 if no reply arrived */
	/* Headers of the final reply as "name\0value\0" pairs (owned). */
	struct buf headers;
	struct buf body;   /* 2xx with HTTP_SINK_BUF, or any non-2xx reply (owned) */
	uint64_t body_got; /* body bytes received (all sinks) */
	char error[128];   /* transport failure text for logs, or "" */
};

void http_response_init(struct http_response *r);
void http_response_release(struct http_response *r);

/*
 * Value of response header @name (any case) or NULL. Borrowed from @r
 * until it is reset or released. With several headers of that name, the
 * first one.
 */
const char *http_response_header(const struct http_response *r, const char *name);

/*
 * Iterate over the response headers: start with *pos = 0; each call sets
 * *name and *value (borrowed as above) and returns true, or returns false
 * at the end.
 */
bool http_response_header_next(const struct http_response *r, size_t *pos, const char **name,
			       const char **value);

/*
 * Perform one attempt of @req on a pooled handle (@p, @req borrowed; @resp
 * caller-owned). Returns 0 when a complete reply arrived, whatever its
 * status: look at resp->status. Otherwise -errno:
 *   -ETIMEDOUT   connect timeout or stalled transfer
 *   -ECONNREFUSED, -EHOSTUNREACH  no connection
 *   -ECONNRESET  connection lost while sending or before the reply
 *   -EIO         body shorter or longer than announced (Content-Length /
 *                Content-Range), or a protocol error: never partial data
 *   -EPROTO      TLS failure (certificate verification included)
 *   -E2BIG, -ENOMEM  response over the caps
 *   -EINVAL      bad request arguments
 *   or the errno a read/write callback returned.
 * Takes the pool lock briefly (never across I/O). Thread-safe.
 */
int http_exec(struct http_pool *p, const struct http_request *req,
	      struct http_response *resp) MUST_CHECK;

/* Is -errno @err from http_exec() a transient transport failure worth a retry? */
bool http_is_transient(int err);

#endif
