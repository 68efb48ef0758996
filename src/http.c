/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The libcurl transport: a pool of easy handles over one CURLSH (DNS cache,
 * TLS sessions and the connection cache, all shared under pthread mutexes),
 * one attempt per http_exec(), response headers and bodies under hard caps,
 * and length checks so a truncated body is an error, never data.
 * Retries, signing and S3 semantics live in the s3 layer.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "http.h"
#include "http_i.h"
#include "log.h"

/* Transfer buffer sizes: large reads/writes cut syscalls and CPU per GiB. */
#define DL_BUFFER_SIZE (64L * 1024L)
#define UL_BUFFER_SIZE (1024L * 1024L)
#define REQ_HEADER_MAX (64u * 1024u)

#define HTTP_SOCKS_MAX 128

struct http_pool {
	pthread_mutex_t lock; /* protects idle/n_idle */
	CURL **idle;	      /* handles ready for reuse, n_idle of max_conns */
	size_t n_idle;
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	unsigned max_conns;
	struct http_conn_opts conn; /* its strings owned */
	bool expect_continue;
	struct http_direct *direct; /* the direct GET path (owned), or NULL */
	/* The sockets of the shared connections, for ack_now(). */
	pthread_mutex_t socks_lock;
	curl_socket_t socks[HTTP_SOCKS_MAX]; /* socks_lock; n_socks of them */
	size_t n_socks;
};

/* State of one attempt, shared by the curl callbacks. */
struct xfer {
	const struct http_request *req;
	struct http_response *resp;
	uint64_t sent; /* body bytes handed to curl */
	int err;       /* first error raised inside a callback */
	long status;   /* status line of the reply being received */
	bool announce; /* its pieces are announced as they fill (http_sink_start) */
	struct http_pool *pool;
};

int http_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_ALL) == CURLE_OK ? 0 : -EIO;
}

void http_global_cleanup(void)
{
	curl_global_cleanup();
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *userp)
{
	struct http_pool *p = userp;
	(void)h;
	(void)access;
	if ((unsigned)data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&p->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *userp)
{
	struct http_pool *p = userp;
	(void)h;
	if ((unsigned)data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&p->share_locks[data]);
}

static int share_setup(struct http_pool *p)
{
	p->share = curl_share_init();
	if (!p->share)
		return -ENOMEM;
	if (curl_share_setopt(p->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
	    curl_share_setopt(p->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
	    curl_share_setopt(p->share, CURLSHOPT_USERDATA, p) != CURLSHE_OK ||
	    curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
	    curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) !=
		    CURLSHE_OK ||
	    curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK)
		return -EIO;
	return 0;
}

struct http_pool *http_pool_new(const struct http_pool_cfg *cfg)
{
	struct http_pool *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->socks_lock, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(p->share_locks); i++)
		pthread_mutex_init(&p->share_locks[i], NULL);
	p->max_conns = cfg->max_conns ? cfg->max_conns : 8;
	p->conn.connect_timeout_s = cfg->connect_timeout_s > 0 ? cfg->connect_timeout_s : 10;
	p->conn.low_speed_time_s = cfg->low_speed_time_s > 0 ? cfg->low_speed_time_s : 30;
	p->conn.low_speed_bps = cfg->low_speed_bps > 0 ? cfg->low_speed_bps : 1;
	p->expect_continue = cfg->expect_continue;
	p->idle = calloc(p->max_conns, sizeof(*p->idle));
	if (!p->idle)
		goto fail;
	if (cfg->ca_file && !(p->conn.ca_file = strdup(cfg->ca_file)))
		goto fail;
	if (cfg->resolve && !(p->conn.resolve = curl_slist_append(NULL, cfg->resolve)))
		goto fail;
	if (share_setup(p) < 0)
		goto fail;
	/* without it (a proxy is set, or no memory) every request takes libcurl */
	if (!cfg->curl_only)
		p->direct = http_direct_new(&p->conn, p->max_conns);
	return p;
fail:
	http_pool_free(p);
	return NULL;
}

void http_pool_free(struct http_pool *p)
{
	if (!p)
		return;
	http_direct_free(p->direct);
	for (size_t i = 0; i < p->n_idle; i++)
		curl_easy_cleanup(p->idle[i]);
	free(p->idle);
	if (p->share)
		curl_share_cleanup(p->share);
	curl_slist_free_all(p->conn.resolve);
	free(p->conn.ca_file);
	for (size_t i = 0; i < ARRAY_SIZE(p->share_locks); i++)
		pthread_mutex_destroy(&p->share_locks[i]);
	pthread_mutex_destroy(&p->socks_lock);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* A handle for one request: an idle one (reset) or a new one. */
static CURL *handle_get(struct http_pool *p)
{
	CURL *h = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->n_idle)
		h = p->idle[--p->n_idle];
	pthread_mutex_unlock(&p->lock);
	if (h) {
		curl_easy_reset(h);
		return h;
	}
	return curl_easy_init();
}

static void handle_put(struct http_pool *p, CURL *h)
{
	pthread_mutex_lock(&p->lock);
	if (p->n_idle < p->max_conns) {
		p->idle[p->n_idle++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	if (h)
		curl_easy_cleanup(h);
}

void http_response_init(struct http_response *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->headers, HTTP_HEADERS_MAX);
	buf_init(&r->body, HTTP_BODY_MAX);
}

void http_response_release(struct http_response *r)
{
	if (!r)
		return;
	buf_release(&r->headers);
	buf_release(&r->body);
	r->status = 0;
	r->body_got = 0;
	r->error[0] = '\0';
}

const char *http_response_header(const struct http_response *r, const char *name)
{
	const char *p = r->headers.data;
	const char *end = p ? p + r->headers.len : NULL;
	while (p && p < end) {
		const char *value = p + strlen(p) + 1;
		if (value >= end)
			break;
		if (strcasecmp(p, name) == 0)
			return value;
		p = value + strlen(value) + 1;
	}
	return NULL;
}

bool http_response_header_next(const struct http_response *r, size_t *pos, const char **name,
			       const char **value)
{
	const char *base = r->headers.data;
	size_t len = r->headers.len;
	if (!base || *pos >= len)
		return false;
	const char *n = base + *pos;
	const char *v = n + strlen(n) + 1;
	if (v >= base + len)
		return false;
	*name = n;
	*value = v;
	*pos = (size_t)(v + strlen(v) + 1 - base);
	return true;
}

void http_trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t' || (*s)[*n - 1] == '\r' ||
		      (*s)[*n - 1] == '\n'))
		(*n)--;
}

/* "HTTP/1.1 200 OK": a new reply starts (after a 100 Continue, say). */
static void status_line(struct xfer *x, const char *line, size_t n)
{
	size_t i = 0;
	long code = 0;
	while (i < n && line[i] != ' ')
		i++;
	while (i < n && line[i] == ' ')
		i++;
	for (size_t k = 0; k < 3 && i < n && line[i] >= '0' && line[i] <= '9'; k++, i++)
		code = code * 10 + (line[i] - '0');
	x->status = code;
	buf_reset(&x->resp->headers);
	/* Only a 2xx body goes to the caller's sink; an error body is small. */
	buf_reset(&x->resp->body);
	x->resp->body_got = 0;
	if (code >= 200 && code <= 299)
		x->resp->body.max = x->req->body_max ? x->req->body_max : HTTP_BODY_MAX;
	else
		x->resp->body.max = HTTP_ERR_BODY_MAX;
}

/*
 * The end of a reply's headers: acknowledge them at once. A server that
 * writes its headers and its body separately with Nagle's algorithm on
 * (Ceph RGW's beast frontend does) holds the body back until that ACK,
 * which Linux delays by up to 40 ms: every reply with a body (listings,
 * copies, errors) waited that long on a fast network.
 */
static void ack_now(struct http_pool *p)
{
#ifdef TCP_QUICKACK
	int one = 1;

	/*
	 * libcurl does not say which shared connection a transfer uses: set
	 * it on every one (a no-op on those with no ACK pending).
	 */
	pthread_mutex_lock(&p->socks_lock);
	for (size_t i = 0; i < p->n_socks; i++)
		(void)setsockopt(p->socks[i], IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
	pthread_mutex_unlock(&p->socks_lock);
#else
	(void)p;
#endif
}

static int on_sockopt(void *clientp, curl_socket_t fd, curlsocktype purpose)
{
	struct http_pool *p = clientp;

	(void)purpose;
	pthread_mutex_lock(&p->socks_lock);
	if (p->n_socks < HTTP_SOCKS_MAX)
		p->socks[p->n_socks++] = fd;
	pthread_mutex_unlock(&p->socks_lock);
	return CURL_SOCKOPT_OK;
}

static int on_closesocket(void *clientp, curl_socket_t fd)
{
	struct http_pool *p = clientp;

	pthread_mutex_lock(&p->socks_lock);
	for (size_t i = 0; i < p->n_socks; i++) {
		if (p->socks[i] == fd) {
			p->socks[i] = p->socks[--p->n_socks];
			break;
		}
	}
	pthread_mutex_unlock(&p->socks_lock);
	return close(fd);
}

int http_header_add(struct http_response *resp, const char *line, size_t n, const char **name,
		    size_t *nlen, const char **value, size_t *vlen)
{
	const char *colon = memchr(line, ':', n);
	if (!colon)
		return -EIO;
	const char *nm = line, *val = colon + 1;
	size_t nl = (size_t)(colon - line), vl = n - nl - 1;
	http_trim(&nm, &nl);
	http_trim(&val, &vl);
	int rc = buf_add(&resp->headers, nm, nl);
	if (!rc)
		rc = buf_add(&resp->headers, "", 1);
	if (!rc)
		rc = buf_add(&resp->headers, val, vl);
	if (!rc)
		rc = buf_add(&resp->headers, "", 1);
	if (name) {
		*name = nm;
		*nlen = nl;
		*value = val;
		*vlen = vl;
	}
	return rc;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *userp)
{
	struct xfer *x = userp;
	size_t n = size * nitems;
	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		status_line(x, line, n);
		return n;
	}
	const char *colon = memchr(line, ':', n);
	if (!colon) {
		/* the blank line ending the block, or junk */
		if (n && (line[0] == '\r' || line[0] == '\n'))
			ack_now(x->pool);
		return n;
	}
	int rc = http_header_add(x->resp, line, n, NULL, NULL, NULL, NULL);
	if (rc) {
		x->err = rc;
		return 0; /* abort: over the header cap */
	}
	return n;
}

void *http_sink_at(const struct http_request *req, uint64_t at, size_t *room)
{
	*room = 0;
	if (!req->sink_n_iov) {
		if (at >= req->sink_cap)
			return NULL;
		*room = req->sink_cap - (size_t)at;
		return (char *)req->sink_mem + at;
	}
	for (size_t i = 0; i < req->sink_n_iov; i++) {
		const struct http_iov *v = &req->sink_iov[i];
		if (at < v->len) {
			*room = v->len - (size_t)at;
			return (char *)v->base + at;
		}
		at -= v->len;
	}
	return NULL;
}

int http_sink_put(const struct http_request *req, uint64_t at, const void *data, size_t n)
{
	while (n) {
		size_t room;
		char *dst = http_sink_at(req, at, &room);
		if (!room)
			return -EIO; /* more than we asked for */
		size_t k = n < room ? n : room;
		memcpy(dst, data, k);
		data = (const char *)data + k;
		n -= k;
		at += k;
	}
	return 0;
}

int http_sink_start(const struct http_request *req, long status, const struct http_response *resp)
{
	if (req->sink != HTTP_SINK_MEM || !req->sink_n_iov || !req->sink_head || !req->sink_piece)
		return 0;
	return req->sink_head(req->piece_ctx, status, resp);
}

void http_sink_filled(const struct http_request *req, uint64_t from, uint64_t to)
{
	uint64_t end = 0;

	for (size_t i = 0; i < req->sink_n_iov && end <= to; i++) {
		end += req->sink_iov[i].len;
		if (end > from && end <= to)
			req->sink_piece(req->piece_ctx, i);
	}
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userp)
{
	struct xfer *x = userp;
	size_t n = size * nmemb;
	const struct http_request *req = x->req;
	int rc;
	if (x->status < 200 || x->status > 299)
		rc = buf_add(&x->resp->body, data, n);
	else if (req->sink == HTTP_SINK_MEM) {
		uint64_t at = x->resp->body_got;
		rc = 0;
		if (at == 0) {
			rc = http_sink_start(req, x->status, x->resp);
			x->announce = rc > 0;
		}
		if (rc >= 0)
			rc = http_sink_put(req, at, data, n);
		if (!rc && x->announce)
			http_sink_filled(req, at, at + n);
	} else if (req->sink == HTTP_SINK_FN)
		rc = req->sink_fn(req->sink_ctx, data, n);
	else
		rc = buf_add(&x->resp->body, data, n);
	if (rc) {
		x->err = rc;
		return 0;
	}
	x->resp->body_got += n;
	return n;
}

static size_t on_read(char *dst, size_t size, size_t nitems, void *userp)
{
	struct xfer *x = userp;
	const struct http_request *req = x->req;
	size_t want = size * nitems;
	uint64_t left = req->body_len - x->sent;
	if (want > left)
		want = (size_t)left;
	if (!want)
		return 0;
	if (req->read_fn) {
		size_t got = 0;
		int rc = req->read_fn(req->read_ctx, dst, want, &got);
		if (rc || got > want) {
			x->err = rc ? rc : -EIO;
			return CURL_READFUNC_ABORT;
		}
		if (!got) {
			x->err = -EIO; /* the source ended before body_len */
			return CURL_READFUNC_ABORT;
		}
		want = got;
	} else {
		memcpy(dst, (const char *)req->body + x->sent, want);
	}
	x->sent += want;
	return want;
}

/* curl rewinds a memory body when it re-sends on a fresh connection. */
static int on_seek(void *userp, curl_off_t offset, int origin)
{
	struct xfer *x = userp;
	if (x->req->read_fn || origin != SEEK_SET || offset < 0 ||
	    (uint64_t)offset > x->req->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	x->sent = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

void http_log_text(const char *mark, const char *text, size_t len)
{
	if (!log_enabled(LOG_LVL_DEBUG, LOG_CAT_HTTP))
		return;
	char *copy = malloc(len + 1);
	if (!copy)
		return;
	memcpy(copy, text, len);
	copy[len] = '\0';
	log_redact_headers(copy, len);
	char *line = copy;
	while (*line) {
		char *eol = strchr(line, '\n');
		size_t n = eol ? (size_t)(eol - line) : strlen(line);
		if (n && line[n - 1] == '\r')
			n--;
		if (n)
			log_msg(LOG_LVL_DEBUG, LOG_CAT_HTTP, "%s %.*s", mark, (int)n, line);
		if (!eol)
			break;
		line = eol + 1;
	}
	free(copy);
}

static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *userp)
{
	static const char *const mark[] = {
		[CURLINFO_TEXT] = "*", [CURLINFO_HEADER_IN] = "<", [CURLINFO_HEADER_OUT] = ">"
	};
	(void)h;
	(void)userp;
	/* Bodies and TLS records are never printed. */
	if (type != CURLINFO_TEXT && type != CURLINFO_HEADER_IN && type != CURLINFO_HEADER_OUT)
		return 0;
	http_log_text(mark[type], data, size);
	return 0;
}

static bool has_header(const struct http_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return true;
	return false;
}

static int slist_add(struct curl_slist **list, const char *name, const char *value)
{
	struct buf line;
	int rc;
	buf_init(&line, REQ_HEADER_MAX);
	/* "Name;" is curl's way to send a header with an empty value. */
	if (value && *value)
		rc = buf_addf(&line, "%s: %s", name, value);
	else if (value)
		rc = buf_addf(&line, "%s;", name);
	else
		rc = buf_addf(&line, "%s:", name); /* suppress curl's own header */
	if (rc)
		return rc;
	struct curl_slist *n = curl_slist_append(*list, buf_str(&line));
	/* the line may carry a customer key: wiped like every copy of ours */
	buf_release_wipe(&line);
	if (!n)
		return -ENOMEM;
	*list = n;
	return 0;
}

void http_slist_wipe(struct curl_slist *list)
{
	for (struct curl_slist *l = list; l; l = l->next) {
		if (!l->data)
			continue;
		/* volatile stores so the compiler cannot drop the wipe */
		volatile char *p = l->data;
		for (size_t i = 0; p[i]; i++)
			p[i] = 0;
	}
}

void http_slist_free_wipe(struct curl_slist *list)
{
	http_slist_wipe(list);
	curl_slist_free_all(list);
}

int http_build_headers(const struct http_pool *p, const struct http_request *req,
		       struct curl_slist **out)
{
	int rc = 0;
	for (size_t i = 0; i < req->n_headers && !rc; i++) {
		const struct http_header *h = &req->headers[i];
		if (!h->name || !h->value || strpbrk(h->name, ":\r\n") || strpbrk(h->value, "\r\n"))
			rc = -EINVAL;
		else
			rc = slist_add(out, h->name, h->value);
	}
	if (!rc && !p->expect_continue && !has_header(req, "Expect"))
		rc = slist_add(out, "Expect", NULL);
	/* curl adds a form Content-Type to POSTs; V2 would sign ours. */
	if (!rc && !has_header(req, "Content-Type"))
		rc = slist_add(out, "Content-Type", NULL);
	if (!rc)
		rc = slist_add(out, "Accept", NULL);
	return rc;
}

static bool is_method(const struct http_request *req, const char *m)
{
	return strcmp(req->method, m) == 0;
}

static CURLcode set_method(CURL *h, const struct http_request *req)
{
	CURLcode c = CURLE_OK;
	bool has_body = req->body || req->read_fn;
	if (is_method(req, "HEAD"))
		return curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	if (is_method(req, "GET") && !has_body)
		return curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	if (is_method(req, "POST")) {
		c = curl_easy_setopt(h, CURLOPT_POST, 1L);
		if (!c)
			c = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
					     (curl_off_t)(has_body ? req->body_len : 0));
		return c;
	}
	if (has_body || is_method(req, "PUT")) {
		c = curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		if (!c)
			c = curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
					     (curl_off_t)(has_body ? req->body_len : 0));
	}
	if (!c && !is_method(req, "PUT") && !is_method(req, "GET"))
		c = curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
	return c;
}

struct long_opt {
	CURLoption opt;
	long val;
};

static CURLcode set_longs(CURL *h, const struct long_opt *o, size_t n)
{
	CURLcode c = CURLE_OK;
	for (size_t i = 0; i < n && !c; i++)
		c = curl_easy_setopt(h, o[i].opt, o[i].val);
	return c;
}

CURLcode http_conn_setopts(CURL *h, const struct http_conn_opts *o)
{
	const struct long_opt longs[] = {
		{ CURLOPT_NOSIGNAL, 1L }, /* threads: no SIGALRM for timeouts */
		{ CURLOPT_TCP_NODELAY, 1L },
		{ CURLOPT_TCP_KEEPALIVE, 1L },
		{ CURLOPT_CONNECTTIMEOUT, o->connect_timeout_s },
		{ CURLOPT_SSL_VERIFYPEER, 1L },
		{ CURLOPT_SSL_VERIFYHOST, 2L },
#if LIBCURL_VERSION_NUM < 0x075500
		{ CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS) },
#endif
	};
	CURLcode c = set_longs(h, longs, ARRAY_SIZE(longs));
#if LIBCURL_VERSION_NUM >= 0x075500
	if (!c)
		c = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	if (!c && o->ca_file)
		c = curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file);
	if (!c && o->resolve)
		c = curl_easy_setopt(h, CURLOPT_RESOLVE, o->resolve);
	/*
	 * TLS 1.3's suites, all of them, AES-128-GCM first: with AES-NI it
	 * costs each side about two thirds of AES-256-GCM's CPU per byte
	 * (4.3 against 2.9 GB/s here), on a bulk transfer a fifth of
	 * obsmount's CPU. The server chooses; TLS 1.2 keeps libcurl's list.
	 */
	if (!c)
		c = curl_easy_setopt(h, CURLOPT_TLS13_CIPHERS,
				     "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
				     "TLS_CHACHA20_POLY1305_SHA256");
	return c;
}

static CURLcode set_transport(CURL *h, const struct http_pool *p)
{
	const struct long_opt longs[] = {
		{ CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1 },
		{ CURLOPT_MAXCONNECTS, (long)p->max_conns },
		/* Stalls, not a total timeout: a big transfer may take long. */
		{ CURLOPT_LOW_SPEED_TIME, p->conn.low_speed_time_s },
		{ CURLOPT_LOW_SPEED_LIMIT, p->conn.low_speed_bps },
		{ CURLOPT_BUFFERSIZE, DL_BUFFER_SIZE },
#if LIBCURL_VERSION_NUM >= 0x073e00
		{ CURLOPT_UPLOAD_BUFFERSIZE, UL_BUFFER_SIZE },
#endif
	};
	CURLcode c = http_conn_setopts(h, &p->conn);
	if (!c)
		c = curl_easy_setopt(h, CURLOPT_SHARE, p->share);
	if (!c)
		c = curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
	if (!c)
		c = curl_easy_setopt(h, CURLOPT_SOCKOPTDATA, (void *)p);
	if (!c)
		c = curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, on_closesocket);
	if (!c)
		c = curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, (void *)p);
	if (!c)
		c = set_longs(h, longs, ARRAY_SIZE(longs));
	return c;
}

static CURLcode set_callbacks(CURL *h, struct xfer *x, char *errbuf)
{
	CURLcode c = curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	if (!c)
		c = curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	if (!c)
		c = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	if (!c)
		c = curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	if (!c)
		c = curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
	if (!c)
		c = curl_easy_setopt(h, CURLOPT_READDATA, x);
	if (!c)
		c = curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
	if (!c)
		c = curl_easy_setopt(h, CURLOPT_SEEKDATA, x);
	if (!c)
		c = curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	if (!c && log_enabled(LOG_LVL_DEBUG, LOG_CAT_HTTP)) {
		c = curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug);
		if (!c)
			c = curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
	}
	return c;
}

/* curl's codes that mean something other than -EIO (short bodies, bad
 * chunking and odd replies all do). */
static const struct {
	CURLcode code;
	int err;
} curl_errs[] = {
	{ CURLE_OK, 0 },
	{ CURLE_OPERATION_TIMEDOUT, -ETIMEDOUT },
	{ CURLE_COULDNT_CONNECT, -ECONNREFUSED },
	{ CURLE_COULDNT_RESOLVE_HOST, -EHOSTUNREACH },
	{ CURLE_SEND_ERROR, -ECONNRESET },
	{ CURLE_RECV_ERROR, -ECONNRESET },
	{ CURLE_GOT_NOTHING, -ECONNRESET },
	{ CURLE_SEND_FAIL_REWIND, -ECONNRESET },
	{ CURLE_OUT_OF_MEMORY, -ENOMEM },
	{ CURLE_PEER_FAILED_VERIFICATION, -EPROTO },
	{ CURLE_SSL_CONNECT_ERROR, -EPROTO },
	{ CURLE_SSL_CERTPROBLEM, -EPROTO },
	{ CURLE_SSL_CIPHER, -EPROTO },
	{ CURLE_SSL_CACERT_BADFILE, -EPROTO },
	{ CURLE_SSL_ENGINE_NOTFOUND, -EPROTO },
	{ CURLE_SSL_ENGINE_SETFAILED, -EPROTO },
	{ CURLE_USE_SSL_FAILED, -EPROTO },
	{ CURLE_UNSUPPORTED_PROTOCOL, -EINVAL },
	{ CURLE_URL_MALFORMAT, -EINVAL },
};

int http_map_curl(CURLcode c)
{
	for (size_t i = 0; i < ARRAY_SIZE(curl_errs); i++)
		if (curl_errs[i].code == c)
			return curl_errs[i].err;
	return -EIO;
}

bool http_parse_u64(const char *s, const char *end, uint64_t *out)
{
	uint64_t v = 0;
	if (s >= end)
		return false;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9' || __builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v))
			return false;
	}
	*out = v;
	return true;
}

/* Did we get exactly the body the reply announced? */
int http_check_length(const struct http_request *req, const struct http_response *r)
{
	if (is_method(req, "HEAD") || r->status == 204 || r->status == 304)
		return 0;
	const char *cl = http_response_header(r, "Content-Length");
	uint64_t want;
	if (cl) {
		if (!http_parse_u64(cl, cl + strlen(cl), &want) || want != r->body_got)
			return -EIO;
	}
	if (r->status == 206) {
		/* "bytes FIRST-LAST/TOTAL" */
		const char *cr = http_response_header(r, "Content-Range");
		uint64_t first, last;
		if (!cr || strncasecmp(cr, "bytes ", 6) != 0)
			return -EIO;
		const char *dash = strchr(cr, '-');
		const char *slash = dash ? strchr(dash, '/') : NULL;
		if (!slash || !http_parse_u64(cr + 6, dash, &first) ||
		    !http_parse_u64(dash + 1, slash, &last) || last < first ||
		    last - first + 1 != r->body_got)
			return -EIO;
	}
	return 0;
}

static int setup(CURL *h, const struct http_pool *p, const struct http_request *req, struct xfer *x,
		 char *errbuf, struct curl_slist **hdrs)
{
	int rc = http_build_headers(p, req, hdrs);
	if (rc)
		return rc;
	CURLcode c = set_transport(h, p);
	if (!c)
		c = set_callbacks(h, x, errbuf);
	if (!c)
		c = curl_easy_setopt(h, CURLOPT_URL, req->url);
	if (!c)
		c = set_method(h, req);
	if (!c)
		c = curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
	return c ? http_map_curl(c) : 0;
}

static bool valid_request(const struct http_request *req)
{
	if (!req->method || !req->url)
		return false;
	if (req->body && req->read_fn)
		return false;
	if (req->sink == HTTP_SINK_MEM && !req->sink_n_iov && !req->sink_mem && req->sink_cap)
		return false;
	if (req->sink == HTTP_SINK_MEM && req->sink_n_iov) {
		size_t total = 0;
		for (size_t i = 0; i < req->sink_n_iov; i++)
			if (!req->sink_iov[i].base ||
			    __builtin_add_overflow(total, req->sink_iov[i].len, &total))
				return false;
		if (total != req->sink_cap)
			return false;
	}
	if (req->sink == HTTP_SINK_FN && !req->sink_fn)
		return false;
	return true;
}

int http_exec(struct http_pool *p, const struct http_request *req, struct http_response *resp)
{
	struct xfer x = { .req = req, .resp = resp };
	struct curl_slist *hdrs = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	int rc;

	http_response_release(resp);
	resp->body.max = req->body_max ? req->body_max : HTTP_BODY_MAX;
	if (!valid_request(req))
		return -EINVAL;
	if (http_direct_takes(p->direct, req)) {
		rc = http_direct_exec(p->direct, req, resp);
		if (rc != HTTP_DIRECT_FALLBACK)
			return rc;
		http_response_release(resp);
		resp->body.max = req->body_max ? req->body_max : HTTP_BODY_MAX;
	}
	CURL *h = handle_get(p);
	if (!h)
		return -ENOMEM;
	x.pool = p;
	rc = setup(h, p, req, &x, errbuf, &hdrs);
	if (rc)
		goto out;
	CURLcode c = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	resp->status = status;
	if (x.err)
		rc = x.err;
	else
		rc = http_map_curl(c);
	if (c != CURLE_OK)
		snprintf(resp->error, sizeof(resp->error), "%s",
			 errbuf[0] ? errbuf : curl_easy_strerror(c));
	if (!rc && http_check_length(req, resp)) {
		rc = -EIO;
		snprintf(resp->error, sizeof(resp->error),
			 "body length %" PRIu64 " does not match the reply's headers",
			 resp->body_got);
	}
out:
	/* Its strings carry the customer key headers; curl's own copy of the
	 * request (its send buffer) is freed by curl without a wipe. */
	http_slist_free_wipe(hdrs);
	/* Not reused after a failure: start the next request from a clean handle. */
	if (rc)
		curl_easy_cleanup(h);
	else
		handle_put(p, h);
	return rc;
}

bool http_is_transient(int err)
{
	switch (err) {
	case -ETIMEDOUT:
	case -ECONNREFUSED:
	case -ECONNRESET:
	case -EHOSTUNREACH:
	case -EIO:
	case -EAGAIN:
		return true;
	default:
		return false;
	}
}
