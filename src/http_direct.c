/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The direct GET path of the http module. Ranged GETs into the caller's
 * buffer carry most of the bytes a mount moves, and libcurl 7.x spends
 * three system calls on every 16 KiB TLS record of them (two reads, and a
 * poll after each record to see whether more is waiting), plus a copy out
 * of its own buffer.
 *
 * Here libcurl only connects: TCP and TLS, with the same verification as
 * every other request. This file writes the request and reads the reply on
 * that connection itself. TLS reads ahead (many records per read), records
 * are decrypted straight into the caller's buffer, and the socket is polled
 * only when nothing is buffered.
 *
 * A reply this file does not frame itself (chunked, or with no length) goes
 * back to http.c, which sends the request again through libcurl: a GET is
 * safe to repeat. The same length checks apply to both paths.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <openssl/ssl.h>

#include "http.h"
#include "http_i.h"
#include "log.h"

#define REQ_MAX (64u * 1024u)	    /* request line and headers */
#define HEAD_CHUNK (16u * 1024u)    /* first read of a reply */
#define RECV_MAX (1024u * 1024u)    /* one read into the caller's buffer */
#define TLS_READ_BUF (256u * 1024u) /* OpenSSL's read-ahead buffer */

/* One connection, used by one request at a time. */
struct dconn {
	CURL *h;	  /* owned; connected with CURLOPT_CONNECT_ONLY */
	curl_socket_t fd; /* curl's socket, borrowed from h */
	char *origin;	  /* "scheme://authority", owned */
};

struct http_direct {
	pthread_mutex_t lock; /* protects idle/n_idle */
	struct dconn **idle;  /* n_idle of max_idle */
	size_t n_idle;
	unsigned max_idle;
	const struct http_conn_opts *conn; /* the pool's, borrowed */
	int wait_ms;			   /* no byte for this long is a stall */
};

/* A proxy from the environment: libcurl would speak to it, we could not. */
static bool proxy_in_env(void)
{
	static const char *const names[] = { "http_proxy",  "HTTP_PROXY", "https_proxy",
					     "HTTPS_PROXY", "all_proxy",  "ALL_PROXY" };
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		const char *v = getenv(names[i]);
		if (v && *v)
			return true;
	}
	return false;
}

struct http_direct *http_direct_new(const struct http_conn_opts *o, unsigned max_idle)
{
	if (proxy_in_env())
		return NULL;
	struct http_direct *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	pthread_mutex_init(&d->lock, NULL);
	d->max_idle = max_idle ? max_idle : 8;
	d->conn = o;
	d->wait_ms = (int)(o->low_speed_time_s > 3600 ? 3600000 : o->low_speed_time_s * 1000);
	d->idle = calloc(d->max_idle, sizeof(*d->idle));
	if (!d->idle) {
		http_direct_free(d);
		return NULL;
	}
	return d;
}

static void conn_close(struct dconn *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->h);
	free(c->origin);
	free(c);
}

void http_direct_free(struct http_direct *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_idle; i++)
		conn_close(d->idle[i]);
	free(d->idle);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

/* TLS reads ahead: one read from the socket takes many records. */
static CURLcode on_ssl_ctx(CURL *h, void *ssl_ctx, void *userp)
{
	(void)h;
	(void)userp;
	SSL_CTX_set_default_read_buffer_len(ssl_ctx, TLS_READ_BUF);
	SSL_CTX_set_read_ahead(ssl_ctx, 1);
	return CURLE_OK;
}

static CURLcode set_conn_opts(CURL *h, const struct http_direct *d, const char *url)
{
	CURLcode c = curl_easy_setopt(h, CURLOPT_URL, url);
	if (!c)
		c = curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
	if (!c)
		c = http_conn_setopts(h, d->conn);
	/* Read-ahead is a speed-up only: a TLS library without the hook still works. */
	if (!c)
		(void)curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
	return c;
}

static int conn_open(struct http_direct *d, const char *url, size_t olen, struct dconn **out,
		     struct http_response *resp)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct dconn *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->origin = strndup(url, olen);
	c->h = curl_easy_init();
	if (!c->origin || !c->h) {
		conn_close(c);
		return -ENOMEM;
	}
	CURLcode cc = set_conn_opts(c->h, d, url);
	if (!cc)
		cc = curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, errbuf);
	if (!cc)
		cc = curl_easy_perform(c->h);
	if (!cc)
		cc = curl_easy_getinfo(c->h, CURLINFO_ACTIVESOCKET, &c->fd);
	/* the buffer lives on this stack frame only */
	(void)curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, NULL);
	if (!cc && c->fd == CURL_SOCKET_BAD)
		cc = CURLE_COULDNT_CONNECT;
	if (cc) {
		snprintf(resp->error, sizeof(resp->error), "%s",
			 errbuf[0] ? errbuf : curl_easy_strerror(cc));
		conn_close(c);
		return http_map_curl(cc);
	}
	*out = c;
	return 0;
}

/* An idle connection to @origin that the server has not closed, or NULL. */
static struct dconn *conn_reuse(struct http_direct *d, const char *url, size_t olen)
{
	for (;;) {
		struct dconn *c = NULL;
		pthread_mutex_lock(&d->lock);
		for (size_t i = d->n_idle; i-- > 0;) {
			if (strlen(d->idle[i]->origin) == olen &&
			    memcmp(d->idle[i]->origin, url, olen) == 0) {
				c = d->idle[i];
				d->idle[i] = d->idle[--d->n_idle];
				break;
			}
		}
		pthread_mutex_unlock(&d->lock);
		if (!c)
			return NULL;
		/* Idle means silent: anything readable is a close (or junk). */
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		if (poll(&pfd, 1, 0) == 0)
			return c;
		conn_close(c);
	}
}

static void conn_put(struct http_direct *d, struct dconn *c)
{
	pthread_mutex_lock(&d->lock);
	if (d->n_idle < d->max_idle) {
		d->idle[d->n_idle++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&d->lock);
	conn_close(c);
}

/* Wait until @fd is ready for @events. 0, -ETIMEDOUT or -errno. */
static int wait_fd(curl_socket_t fd, short events, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	for (;;) {
		int n = poll(&pfd, 1, ms);
		if (n > 0)
			return 0; /* ready, or an error the next call reports */
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int send_all(const struct http_direct *d, struct dconn *c, const char *p, size_t len)
{
	while (len) {
		size_t n = 0;
		CURLcode cc = curl_easy_send(c->h, p, len, &n);
		if (cc == CURLE_AGAIN) {
			int rc = wait_fd(c->fd, POLLOUT, d->wait_ms);
			if (rc)
				return rc;
			continue;
		}
		if (cc != CURLE_OK)
			return -ECONNRESET;
		p += n;
		len -= n;
	}
	return 0;
}

/* Up to @want bytes into @dst; *got = 0 at the end of the stream. */
static int recv_some(const struct http_direct *d, struct dconn *c, void *dst, size_t want,
		     size_t *got)
{
	for (;;) {
		*got = 0;
		CURLcode cc = curl_easy_recv(c->h, dst, want, got);
		if (cc == CURLE_OK)
			return 0;
		if (cc != CURLE_AGAIN)
			return -ECONNRESET;
		int rc = wait_fd(c->fd, POLLIN, d->wait_ms);
		if (rc)
			return rc;
	}
}

/* "GET /target HTTP/1.1", the caller's headers (Host among them), a blank line. */
static int build_request(const struct http_request *req, const char *target, struct buf *out)
{
	int rc = buf_addf(out, "GET %s HTTP/1.1\r\n", target);
	for (size_t i = 0; i < req->n_headers && !rc; i++) {
		const struct http_header *h = &req->headers[i];
		if (!h->name || !h->value || !*h->name || strpbrk(h->name, ":\r\n \t") ||
		    strpbrk(h->value, "\r\n"))
			rc = -EINVAL;
		else
			rc = buf_addf(out, "%s: %s\r\n", h->name, h->value);
	}
	if (!rc)
		rc = buf_adds(out, "\r\n");
	return rc;
}

/* The reply being read: its head in hb, and what the head says. */
struct reply {
	char *hb; /* owned; hlen bytes read, of which head bytes are the head */
	size_t hlen;
	size_t head;
	long status;
	bool has_len;
	uint64_t len;
	bool close;   /* the server closes after this reply */
	bool framed;  /* a length we can read by: else libcurl reads it */
	bool got_any; /* any byte of a reply arrived */
};

/* Offset just past the blank line ending the head in hb, or 0. */
static size_t head_end(const struct reply *r)
{
	for (size_t i = 0; i < r->hlen; i++) {
		if (r->hb[i] != '\n')
			continue;
		if (i + 1 < r->hlen && r->hb[i + 1] == '\n')
			return i + 2;
		if (i + 2 < r->hlen && r->hb[i + 1] == '\r' && r->hb[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* One header line of the head: into resp->headers, and into r what frames the body. */
static int header_line(struct reply *r, struct http_response *resp, const char *line, size_t n)
{
	const char *name, *value;
	size_t nlen, vlen;
	if (!n || *line == ':')
		return -EIO;
	int rc = http_header_add(resp, line, n, &name, &nlen, &value, &vlen);
	if (rc)
		return rc;
	if (nlen == 14 && strncasecmp(name, "Content-Length", 14) == 0) {
		uint64_t v;
		if (!http_parse_u64(value, value + vlen, &v) || (r->has_len && v != r->len))
			return -EIO;
		r->has_len = true;
		r->len = v;
	} else if (nlen == 17 && strncasecmp(name, "Transfer-Encoding", 17) == 0) {
		r->framed = false;
	} else if (nlen == 10 && strncasecmp(name, "Connection", 10) == 0) {
		if (vlen == 5 && strncasecmp(value, "close", 5) == 0)
			r->close = true;
		else if (vlen == 10 && strncasecmp(value, "keep-alive", 10) == 0)
			r->close = false;
	}
	return 0;
}

/* Parse the head hb[0, r->head): status line and headers. */
static int parse_head(struct reply *r, struct http_response *resp)
{
	const char *p = r->hb;
	const char *end = r->hb + r->head;
	const char *eol = memchr(p, '\n', (size_t)(end - p));
	/* "HTTP/1.1 206 Partial Content" */
	if (!eol || end - p < 12 || strncmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
		return -EIO;
	long code = 0;
	for (int i = 9; i < 12; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -EIO;
		code = code * 10 + (p[i] - '0');
	}
	r->status = code;
	r->close = p[7] == '0'; /* HTTP/1.0 closes unless it says otherwise */
	r->has_len = false;
	r->framed = true;
	buf_reset(&resp->headers);
	for (p = eol + 1; p < end; p = eol + 1) {
		eol = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)(eol - p);
		if (n && p[n - 1] == '\r')
			n--;
		if (!n)
			break; /* the blank line */
		if (*p == ' ' || *p == '\t')
			return -EIO; /* folded lines: obsolete, refused */
		int rc = header_line(r, resp, p, n);
		if (rc)
			return rc;
	}
	return 0;
}

/* Read until a whole final (non-1xx) head is in r->hb, and parse it. */
static int read_head(const struct http_direct *d, struct dconn *c, struct reply *r,
		     struct http_response *resp)
{
	for (;;) {
		r->head = head_end(r);
		if (r->head) {
			http_log_text("<", r->hb, r->head);
			int rc = parse_head(r, resp);
			if (rc)
				return rc;
			if (r->status >= 200)
				return 0;
			/* 1xx: drop that head, read the next */
			memmove(r->hb, r->hb + r->head, r->hlen - r->head);
			r->hlen -= r->head;
			continue;
		}
		if (r->hlen >= HTTP_HEADERS_MAX)
			return -E2BIG;
		size_t want = HEAD_CHUNK;
		if (want > HTTP_HEADERS_MAX - r->hlen)
			want = HTTP_HEADERS_MAX - r->hlen;
		size_t got;
		int rc = recv_some(d, c, r->hb + r->hlen, want, &got);
		if (rc)
			return rc; /* a stall stays -ETIMEDOUT: it is not sent again */
		if (!got)
			return r->got_any ? -EIO : -ECONNRESET;
		r->got_any = true;
		r->hlen += got;
	}
}

/* Body bytes: a 2xx reply's into the caller's buffer, any other's into resp->body. */
static int deliver(const struct http_request *req, struct http_response *resp, bool ok,
		   const void *data, size_t n)
{
	return ok ? http_sink_put(req, resp->body_got, data, n) : buf_add(&resp->body, data, n);
}

static int read_body(const struct http_direct *d, struct dconn *c, const struct http_request *req,
		     struct reply *r, struct http_response *resp)
{
	bool ok = r->status >= 200 && r->status <= 299;
	uint64_t len = r->status == 204 || r->status == 304 ? 0 : r->len;
	resp->body.max = ok ? (req->body_max ? req->body_max : HTTP_BODY_MAX) : HTTP_ERR_BODY_MAX;
	if (ok && len > req->sink_cap)
		return -EIO; /* more than we asked for */
	size_t early = r->hlen - r->head;
	if (early > len) {
		early = (size_t)len;
		r->close = true; /* bytes past the reply: the stream is out of step */
	}
	int rc = ok && len ? http_sink_start(req, r->status, resp) : 0;
	bool announce = rc > 0;
	if (rc < 0)
		return rc;
	rc = deliver(req, resp, ok, r->hb + r->head, early);
	if (rc)
		return rc;
	resp->body_got = early;
	if (announce)
		http_sink_filled(req, 0, early);
	char tmp[HEAD_CHUNK];
	while (resp->body_got < len) {
		uint64_t left = len - resp->body_got;
		size_t want = left < RECV_MAX ? (size_t)left : RECV_MAX;
		size_t room = 0;
		void *dst = ok ? http_sink_at(req, resp->body_got, &room) : NULL;
		if (ok && want > room)
			want = room; /* the end of a piece (room > 0: len <= sink_cap) */
		if (!ok) {
			dst = tmp;
			if (want > sizeof(tmp))
				want = sizeof(tmp);
		}
		size_t got;
		rc = recv_some(d, c, dst, want, &got);
		if (rc)
			return rc;
		if (!got) {
			snprintf(resp->error, sizeof(resp->error),
				 "the reply ended after %" PRIu64 " of %" PRIu64 " body bytes",
				 resp->body_got, len);
			return -EIO;
		}
		if (!ok && (rc = buf_add(&resp->body, tmp, got)) != 0)
			return rc;
		resp->body_got += got;
		if (announce)
			http_sink_filled(req, resp->body_got - got, resp->body_got);
	}
	return 0;
}

static void quick_ack(struct dconn *c)
{
#ifdef TCP_QUICKACK
	int one = 1;
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
#else
	(void)c;
#endif
}

/* One request on connection @c. */
static int exchange(const struct http_direct *d, struct dconn *c, const struct http_request *req,
		    const struct buf *text, struct reply *r, struct http_response *resp)
{
	int rc = send_all(d, c, text->data, text->len);
	if (!rc)
		rc = read_head(d, c, r, resp);
	if (rc)
		return rc;
	/* a server that holds its body back until the head is acknowledged */
	quick_ack(c);
	resp->status = r->status;
	if (!r->framed || (!r->has_len && r->status != 204 && r->status != 304))
		return HTTP_DIRECT_FALLBACK;
	return read_body(d, c, req, r, resp);
}

bool http_direct_takes(const struct http_direct *d, const struct http_request *req)
{
	return d && req->sink == HTTP_SINK_MEM && strcmp(req->method, "GET") == 0 && !req->body &&
	       !req->read_fn && !req->body_len;
}

int http_direct_exec(struct http_direct *d, const struct http_request *req,
		     struct http_response *resp)
{
	const char *sep = strstr(req->url, "://");
	if (!sep)
		return -EINVAL;
	const char *target = strchr(sep + 3, '/');
	size_t olen = target ? (size_t)(target - req->url) : strlen(req->url);
	if (!target)
		target = "/";
	struct buf text;
	buf_init(&text, REQ_MAX);
	int rc = build_request(req, target, &text);
	if (rc) {
		buf_release_wipe(&text);
		return rc;
	}
	http_log_text(">", text.data, text.len);
	struct reply r = { .hb = malloc(HTTP_HEADERS_MAX) };
	if (!r.hb) {
		buf_release_wipe(&text);
		return -ENOMEM;
	}
	struct dconn *c = conn_reuse(d, req->url, olen);
	bool reused = c != NULL;
	for (;;) {
		if (!c && (rc = conn_open(d, req->url, olen, &c, resp)) != 0)
			break;
		rc = exchange(d, c, req, &text, &r, resp);
		/* A kept-alive connection the server closed before we wrote: once more, on a new one. */
		if (rc == -ECONNRESET && reused && !r.got_any) {
			conn_close(c);
			c = NULL;
			reused = false;
			r.hlen = 0;
			continue;
		}
		break;
	}
	if (c) {
		if (rc || r.close)
			conn_close(c);
		else
			conn_put(d, c);
	}
	if (rc == -ECONNRESET && !resp->error[0])
		snprintf(resp->error, sizeof(resp->error), "%s",
			 r.got_any ? "connection lost during the reply"
				   : "connection closed before a reply");
	if (rc == -ETIMEDOUT && !resp->error[0])
		snprintf(resp->error, sizeof(resp->error), "no data for %d s", d->wait_ms / 1000);
	free(r.hb);
	/* the request carries the customer key headers */
	buf_release_wipe(&text);
	if (!rc && http_check_length(req, resp)) {
		rc = -EIO;
		snprintf(resp->error, sizeof(resp->error),
			 "body length %" PRIu64 " does not match the reply's headers",
			 resp->body_got);
	}
	return rc;
}
