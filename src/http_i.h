/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Internals of the http module, for http.c, http_direct.c and the unit
 * test only: the curl header list of a request and its wipe, the direct
 * GET path, and what both paths share. Includes curl/curl.h, which
 * nothing outside the http module may.
 */
#ifndef obsmount_HTTP_I_H
#define obsmount_HTTP_I_H

#include <curl/curl.h>

#include "http.h"
#include "util/compiler.h"

/*
 * Append the headers of @req (borrowed) to *out as curl's "Name: value"
 * lines, plus the suppressions of curl's own Expect, Content-Type and
 * Accept headers. *out is the caller's; free it with http_slist_free_wipe()
 * whatever the result. Returns 0, -EINVAL for a header name or value with
 * a line break (or a ':' in a name), -ENOMEM or -E2BIG. No lock.
 */
int http_build_headers(const struct http_pool *p, const struct http_request *req,
		       struct curl_slist **out) MUST_CHECK;

/* Overwrite every string of @list (borrowed) with zeros; NULL-safe. */
void http_slist_wipe(struct curl_slist *list);

/* http_slist_wipe(), then curl_slist_free_all(). Takes ownership; NULL-safe. */
void http_slist_free_wipe(struct curl_slist *list);

/* How every connection is opened and watched: the pool's, defaults applied. */
struct http_conn_opts {
	long connect_timeout_s;
	long low_speed_time_s; /* slower than low_speed_bps this long: a stall */
	long low_speed_bps;
	char *ca_file;		    /* owned by the pool, or NULL */
	struct curl_slist *resolve; /* owned by the pool, or NULL */
};

/*
 * Set on @h what every connection of both paths has: no signals, TCP
 * options, the connect timeout, TLS verification (CA file included),
 * HTTP(S) only, the resolve hook.
 */
CURLcode http_conn_setopts(CURL *h, const struct http_conn_opts *o);

/*
 * Where byte @at of a 2xx body goes in @req's HTTP_SINK_MEM buffer (one
 * piece or several): the address, and in *room how many bytes fit there
 * before the piece ends (0 and NULL: past the end of the buffer).
 */
void *http_sink_at(const struct http_request *req, uint64_t at, size_t *room);

/* Copy @n bytes of a 2xx body, from body byte @at on, into @req's buffer. 0, or -EIO past its end. */
int http_sink_put(const struct http_request *req, uint64_t at, const void *data, size_t n);

/*
 * A 2xx reply's body begins (@status, its head in @resp): may @req's
 * pieces be announced as they fill (1, else 0)? -errno: end the transfer.
 * See http_head_fn.
 */
int http_sink_start(const struct http_request *req, long status, const struct http_response *resp);

/* Body bytes [@from, @to) have reached @req's buffer: announce the pieces they filled. */
void http_sink_filled(const struct http_request *req, uint64_t from, uint64_t to);

/*
 * Split the header line @line (@n bytes) at its first colon, trim both
 * sides and append them to resp->headers ("name\0value\0"). With @name
 * not NULL, the four outputs point into @line. 0, -EIO without a colon,
 * -E2BIG over the headers' cap.
 */
int http_header_add(struct http_response *resp, const char *line, size_t n, const char **name,
		    size_t *nlen, const char **value, size_t *vlen);

/* Strip blanks (and line ends) around the @n bytes at *s. */
void http_trim(const char **s, size_t *n);

/* Decimal digits [s, end) as a u64: false on none, on anything else, on overflow. */
bool http_parse_u64(const char *s, const char *end, uint64_t *out);

/* Log @text (request or reply headers, @len bytes) line by line at DEBUG, redacted. */
void http_log_text(const char *mark, const char *text, size_t len);

/* curl's result as -errno (0 for CURLE_OK). */
int http_map_curl(CURLcode c);

/*
 * Did @r (borrowed) carry exactly the body its headers announce
 * (Content-Length, and Content-Range for a 206)? 0 or -EIO.
 */
int http_check_length(const struct http_request *req, const struct http_response *r);

/*
 * The direct GET path (http_direct.c): GETs into the caller's buffer on
 * connections that libcurl only opens. Its own pool of up to @max_idle
 * kept-alive connections, opened with @o (borrowed: it must outlive the
 * result, as the pool's does). NULL on -ENOMEM, or when a proxy is set in the environment
 * (libcurl speaks to proxies, this path does not).
 */
struct http_direct;
struct http_direct *http_direct_new(const struct http_conn_opts *o, unsigned max_idle);
void http_direct_free(struct http_direct *d);

/* Does @d (NULL-safe) carry @req: a GET with no body into HTTP_SINK_MEM? */
bool http_direct_takes(const struct http_direct *d, const struct http_request *req);

/* http_direct_exec()'s "send this one through libcurl instead". */
#define HTTP_DIRECT_FALLBACK 1

/*
 * One attempt of @req, as http_exec() describes, with @resp already reset.
 * Returns HTTP_DIRECT_FALLBACK for a reply it does not frame itself
 * (chunked, or with no length); @resp is then to be reset and the request
 * sent again through libcurl. Thread-safe.
 */
int http_direct_exec(struct http_direct *d, const struct http_request *req,
		     struct http_response *resp) MUST_CHECK;

#endif
