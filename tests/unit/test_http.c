/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * http: http_exec() against a scripted loopback server in a thread:
 * complete and truncated bodies, Content-Range checks, caps on headers
 * and caller buffers, error bodies kept apart from the caller's sink, the
 * request as sent (no Expect, no form Content-Type) and connection reuse.
 * The tests run twice: with the direct GET path, and through libcurl only.
 * The direct path's own cases: replies it hands back to libcurl, a
 * kept-alive connection the server dropped, 1xx heads.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "unit.h"
#include "http.h"
#include "http_i.h"
#include "log.h"

#define MAX_REPLIES 4

/* The server answers requests with replies[0], [1], ... in order. */
struct server {
	int lfd;
	int port;
	pthread_t th;
	const char *replies[MAX_REPLIES];
	size_t reply_len[MAX_REPLIES]; /* 0: strlen */
	bool close_after;	       /* close the connection after each reply */
	bool hold_open;		       /* after the last reply, wait for the client to close */
	int accepts;
	int served;
	char last_request[65536];
	size_t last_body;
};

static bool read_request(struct server *s, int fd)
{
	size_t n = 0;
	char *end = NULL;
	while (!end) {
		if (n + 1 >= sizeof(s->last_request))
			return false;
		ssize_t r = read(fd, s->last_request + n, sizeof(s->last_request) - 1 - n);
		if (r <= 0)
			return false;
		n += (size_t)r;
		s->last_request[n] = '\0';
		end = strstr(s->last_request, "\r\n\r\n");
	}
	size_t have = n - (size_t)(end + 4 - s->last_request);
	const char *cl = strcasestr(s->last_request, "\r\nContent-Length:");
	size_t want = cl ? strtoul(cl + 17, NULL, 10) : 0;
	char sink[65536];
	while (have < want) {
		ssize_t r = read(fd, sink, sizeof(sink));
		if (r <= 0)
			return false;
		have += (size_t)r;
	}
	s->last_body = have;
	return true;
}

static void *serve(void *arg)
{
	struct server *s = arg;
	while (s->served < MAX_REPLIES && s->replies[s->served]) {
		int fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			return NULL;
		s->accepts++;
		while (s->served < MAX_REPLIES && s->replies[s->served] && read_request(s, fd)) {
			const char *r = s->replies[s->served];
			size_t len = s->reply_len[s->served] ? s->reply_len[s->served] : strlen(r);
			s->served++;
			/* "CLOSE": drop the connection without a reply */
			if (strcmp(r, "CLOSE") == 0 || write(fd, r, len) != (ssize_t)len ||
			    s->close_after)
				break;
		}
		char c;
		while (s->hold_open && read(fd, &c, 1) > 0)
			;
		close(fd);
	}
	return NULL;
}

static void server_start(struct server *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->lfd, 4), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&s->th, NULL, serve, s), 0);
}

static void server_stop(struct server *s)
{
	shutdown(s->lfd, SHUT_RDWR);
	close(s->lfd);
	pthread_join(s->th, NULL);
}

static bool curl_only; /* the run without the direct GET path */

static struct http_pool *pool_stall(long stall_s)
{
	struct http_pool_cfg cfg = { .max_conns = 2,
				     .low_speed_time_s = stall_s,
				     .curl_only = curl_only };
	struct http_pool *p = http_pool_new(&cfg);
	assert_non_null(p);
	return p;
}

static struct http_pool *pool(void)
{
	return pool_stall(5);
}

static int get(struct server *s, struct http_pool *p, struct http_request *req,
	       struct http_response *resp)
{
	static char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/b/k", s->port);
	req->url = url;
	if (!req->method)
		req->method = "GET";
	return http_exec(p, req, resp);
}

static void test_complete_body_and_reuse(void **state)
{
	(void)state;
	struct server
		s = { .replies = {
			      "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-Amz-Request-Id: R1\r\n"
			      "ETag: \"e\"\r\n\r\n0123456789",
			      "HTTP/1.1 204 No Content\r\n\r\n",
		      } };
	struct http_pool *p = pool();
	struct http_response r;
	struct http_request req = { 0 };
	server_start(&s);
	http_response_init(&r);
	assert_int_equal(get(&s, p, &req, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(buf_str(&r.body), "0123456789");
	assert_string_equal(http_response_header(&r, "x-amz-request-id"), "R1");
	assert_string_equal(http_response_header(&r, "ETAG"), "\"e\"");
	assert_null(http_response_header(&r, "x-missing"));
	size_t pos = 0, n = 0;
	const char *name, *value;
	while (http_response_header_next(&r, &pos, &name, &value))
		n++;
	assert_int_equal(n, 3);

	req = (struct http_request){ .method = "DELETE" };
	assert_int_equal(get(&s, p, &req, &r), 0);
	assert_int_equal(r.status, 204);
	assert_non_null(strstr(s.last_request, "DELETE /b/k HTTP/1.1"));
	http_response_release(&r);
	http_pool_free(p);
	server_stop(&s);
	assert_int_equal(s.accepts, 1); /* keep-alive: one connection */
}

static void test_truncated_body(void **state)
{
	(void)state;
	struct server s = { .replies = { "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234" },
			    .close_after = true };
	struct http_pool *p = pool();
	struct http_response r;
	char mem[10];
	struct http_request req = { .sink = HTTP_SINK_MEM, .sink_mem = mem, .sink_cap = 10 };
	server_start(&s);
	http_response_init(&r);
	assert_int_equal(get(&s, p, &req, &r), -EIO);
	assert_true(http_is_transient(-EIO));
	http_response_release(&r);
	http_pool_free(p);
	server_stop(&s);
}

static void test_content_range_mismatch(void **state)
{
	(void)state;
	struct server s = { .replies = {
				    "HTTP/1.1 206 Partial Content\r\nContent-Length: 4\r\n"
				    "Content-Range: bytes 0-9/100\r\n\r\nabcd",
				    "HTTP/1.1 206 Partial Content\r\nContent-Length: 4\r\n"
				    "Content-Range: bytes 6-9/100\r\n\r\nabcd",
				    "HTTP/1.1 206 Partial Content\r\nContent-Length: 4\r\n\r\nabcd",
			    } };
	struct http_pool *p = pool();
	struct http_response r;
	char mem[10];
	struct http_request req = { .sink = HTTP_SINK_MEM, .sink_mem = mem, .sink_cap = 10 };
	server_start(&s);
	http_response_init(&r);
	assert_int_equal(get(&s, p, &req, &r), -EIO);
	assert_int_equal(get(&s, p, &req, &r), 0);
	assert_int_equal(r.body_got, 4);
	assert_memory_equal(mem, "abcd", 4);
	assert_int_equal(get(&s, p, &req, &r), -EIO); /* 206 without Content-Range */
	http_response_release(&r);
	http_pool_free(p);
	server_stop(&s);
}

static void test_caller_buffer_overflow(void **state)
{
	(void)state;
	struct server s = { .replies = {
				    "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789" } };
	struct http_pool *p = pool();
	struct http_response r;
	char mem[6] = "xxxxxx";
	struct http_request req = { .sink = HTTP_SINK_MEM, .sink_mem = mem, .sink_cap = 5 };
	server_start(&s);
	http_response_init(&r);
	assert_int_equal(get(&s, p, &req, &r), -EIO);
	assert_int_equal(mem[5], 'x');
	http_response_release(&r);
	http_pool_free(p);
	server_stop(&s);
}

/*
 * A reply that never starts, or stops midway, on an open connection is a
 * stall: -ETIMEDOUT (not a lost connection, which would be sent again).
 */
static void stalled(const char *reply)
{
	struct server s = { .replies = { reply }, .hold_open = true };
	struct http_pool *p = pool_stall(1);
	struct http_response r;
	char mem[10];
	struct http_request req = { .sink = HTTP_SINK_MEM, .sink_mem = mem, .sink_cap = 10 };
	server_start(&s);
	http_response_init(&r);
	assert_int_equal(get(&s, p, &req, &r), -ETIMEDOUT);
	assert_true(r.error[0] != '\0');
	http_response_release(&r);
	http_pool_free(p);
	server_stop(&s);
	assert_int_equal(s.accepts, 1);
}

static void test_stalled_reply(void **state)
{
	(void)state;
	stalled(""); /* nothing at all */
	stalled("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234");
}

/* A buffer in pieces is filled in order; a body longer than all of them is an error. */
static void test_sink_in_pieces(void **state)
{
	(void)state;
	struct server s = { .replies = {
				    "HTTP/1.1 206 Partial Content\r\nContent-Length: 10\r\n"
				    "Content-Range: bytes 0-9/20\r\n\r\n0123456789",
				    "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nabcdefghijk",
			    } };
	struct http_pool *p = pool();
	struct http_response r;
	char a[3], b[4], c[4] = "zzzz";
	const struct http_iov iov[] = { { a, 3 }, { b, 4 }, { c, 3 } };
	struct http_request req = {
		.sink = HTTP_SINK_MEM, .sink_iov = iov, .sink_n_iov = 3, .sink_cap = 10
	};
	server_start(&s);
	http_response_init(&r);
	assert_int_equal(get(&s, p, &req, &r), 0);
	assert_int_equal(r.body_got, 10);
	assert_memory_equal(a, "012", 3);
	assert_memory_equal(b, "3456", 4);
	assert_memory_equal(c, "789z", 4);
	assert_int_equal(get(&s, p, &req, &r), -EIO);
	assert_int_equal(c[3], 'z');
	/* pieces that do not add up to sink_cap are refused before sending */
	req.sink_cap = 11;
	assert_int_equal(get(&s, p, &req, &r), -EINVAL);
	http_response_release(&r);
	http_pool_free(p);
	server_stop(&s);
}

/* What a buffer in pieces was told, and what each piece held when told. */
struct told {
	bool accept, refuse;
	int heads;
	long status;
	char etag[16];
	size_t order[8];
	char seen[8][8];
	size_t n;
	const struct http_iov *iov;
};

static int told_head(void *ctx, long status, const struct http_response *r)
{
	struct told *t = ctx;
	const char *e = http_response_header(r, "ETag");
	t->heads++;
	t->status = status;
	snprintf(t->etag, sizeof(t->etag), "%s", e ? e : "");
	return t->refuse ? -EXDEV : t->accept;
}

static void told_piece(void *ctx, size_t i)
{
	struct told *t = ctx;
	if (t->n < 8) {
		t->order[t->n] = i;
		memcpy(t->seen[t->n], t->iov[i].base, t->iov[i].len);
		t->n++;
	}
}

/*
 * Pieces are told of once each, in order, already full, after the head
 * was seen and accepted; a head refused, or an error reply, tells none.
 */
static void test_sink_pieces_announced(void **state)
{
	(void)state;
	const char *ok = "HTTP/1.1 206 Partial Content\r\nContent-Length: 10\r\nETag: \"e1\"\r\n"
			 "Content-Range: bytes 0-9/20\r\n\r\n0123456789";
	struct server s = { .replies = {
				    ok,
				    ok,
				    "HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nnokey",
				    ok,
			    } };
	struct http_pool *p = pool();
	struct http_response r;
	char a[3], b[4], c[3];
	const struct http_iov iov[] = { { a, 3 }, { b, 4 }, { c, 3 } };
	struct told t = { .accept = true, .iov = iov };
	struct http_request req = { .sink = HTTP_SINK_MEM,
				    .sink_iov = iov,
				    .sink_n_iov = 3,
				    .sink_cap = 10,
				    .sink_head = told_head,
				    .sink_piece = told_piece,
				    .piece_ctx = &t };
	server_start(&s);
	http_response_init(&r);
	assert_int_equal(get(&s, p, &req, &r), 0);
	assert_int_equal(t.heads, 1);
	assert_int_equal(t.status, 206);
	assert_string_equal(t.etag, "\"e1\"");
	assert_int_equal(t.n, 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(t.order[i], i);
	assert_memory_equal(t.seen[0], "012", 3);
	assert_memory_equal(t.seen[1], "3456", 4);
	assert_memory_equal(t.seen[2], "789", 3);
	/* refused at the head: filled, but nothing told */
	t = (struct told){ .accept = false, .iov = iov };
	assert_int_equal(get(&s, p, &req, &r), 0);
	assert_int_equal(t.heads, 1);
	assert_int_equal(t.n, 0);
	assert_memory_equal(c, "789", 3);
	/* an error reply: neither */
	t = (struct told){ .accept = true, .iov = iov };
	assert_int_equal(get(&s, p, &req, &r), 0);
	assert_int_equal(r.status, 404);
	assert_int_equal(t.heads, 0);
	assert_int_equal(t.n, 0);
	/* the head ends the transfer: nothing reaches the buffer */
	memset(a, 'z', sizeof(a));
	t = (struct told){ .refuse = true, .iov = iov };
	assert_int_equal(get(&s, p, &req, &r), -EXDEV);
	assert_int_equal(t.heads, 1);
	assert_int_equal(t.n, 0);
	assert_memory_equal(a, "zzz", 3);
	http_response_release(&r);
	http_pool_free(p);
	server_stop(&s);
}

static void test_error_body_not_in_sink(void **state)
{
	(void)state;
	struct server s = { .replies = { "HTTP/1.1 404 Not Found\r\nContent-Length: 22\r\n\r\n"
					 "<Error>NoSuchKey</Error>" } };
	/* 24 bytes of body but Content-Length 22: curl reads 22. */
	struct http_pool *p = pool();
	struct http_response r;
	char mem[64] = "";
	struct http_request req = { .sink = HTTP_SINK_MEM, .sink_mem = mem, .sink_cap = 64 };
	server_start(&s);
	http_response_init(&r);
	assert_int_equal(get(&s, p, &req, &r), 0);
	assert_int_equal(r.status, 404);
	assert_string_equal(buf_str(&r.body), "<Error>NoSuchKey</Erro");
	assert_string_equal(mem, "");
	http_response_release(&r);
	http_pool_free(p);
	server_stop(&s);
}

static void test_header_cap(void **state)
{
	(void)state;
	size_t big = HTTP_HEADERS_MAX + 1000;
	char *reply = malloc(big + 200);
	assert_non_null(reply);
	int k = snprintf(reply, 200, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Big: ");
	memset(reply + k, 'a', big);
	memcpy(reply + k + big, "\r\n\r\n", 5);
	struct server s = { .replies = { reply }, .close_after = true };
	struct http_pool *p = pool();
	struct http_response r;
	struct http_request req = { 0 };
	server_start(&s);
	http_response_init(&r);
	int rc = get(&s, p, &req, &r);
	/* curl itself may refuse a header this long before we see it. */
	assert_true(rc == -E2BIG || rc == -EIO);
	http_response_release(&r);
	http_pool_free(p);
	server_stop(&s);
	free(reply);
}

static void test_upload_as_sent(void **state)
{
	(void)state;
	struct server s = { .replies = { "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
					 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" } };
	struct http_pool *p = pool();
	struct http_response r;
	static char body[3 * 1024 * 1024];
	struct http_header h[] = { { "Host", "example.test" }, { "x-amz-meta-empty", "" } };
	struct http_request req = { .method = "PUT",
				    .headers = h,
				    .n_headers = 2,
				    .body = body,
				    .body_len = sizeof(body) };
	server_start(&s);
	http_response_init(&r);
	assert_int_equal(get(&s, p, &req, &r), 0);
	assert_int_equal(s.last_body, sizeof(body));
	assert_null(strcasestr(s.last_request, "\r\nExpect:"));
	assert_null(strcasestr(s.last_request, "\r\nContent-Type:"));
	assert_non_null(strstr(s.last_request, "\r\nHost: example.test\r\n"));
	assert_non_null(strstr(s.last_request, "\r\nx-amz-meta-empty:"));

	struct http_request post = { .method = "POST", .body = "abc", .body_len = 3 };
	assert_int_equal(get(&s, p, &post, &r), 0);
	assert_int_equal(s.last_body, 3);
	assert_non_null(strstr(s.last_request, "POST /b/k HTTP/1.1"));
	assert_null(strcasestr(s.last_request, "\r\nContent-Type:"));
	assert_string_equal(buf_str(&r.body), "ok");

	struct http_header bad[] = { { "X-Evil", "a\r\nInjected: 1" } };
	struct http_request inj = { .headers = bad, .n_headers = 1 };
	assert_int_equal(get(&s, p, &inj, &r), -EINVAL);
	http_response_release(&r);
	http_pool_free(p);
	server_stop(&s);
}

static void test_refused(void **state)
{
	(void)state;
	struct http_pool *p = pool();
	struct http_response r;
	struct http_request req = { .method = "GET", .url = "http://127.0.0.1:9/x" };
	http_response_init(&r);
	assert_int_equal(http_exec(p, &req, &r), -ECONNREFUSED);
	assert_int_equal(r.status, 0);
	assert_true(r.error[0] != '\0');
	http_response_release(&r);
	http_pool_free(p);
}

/* The curl header list of a request with a customer key: every string wiped. */
static void test_header_list_wiped(void **state)
{
	(void)state;
	static const char key[] = "S2V5S2V5S2V5S2V5S2V5S2V5S2V5S2V5S2V5S2V5S2U=";
	const struct http_header hh[] = {
		{ "x-amz-server-side-encryption-customer-algorithm", "AES256" },
		{ "x-amz-server-side-encryption-customer-key", key },
		{ "x-amz-copy-source-server-side-encryption-customer-key", key },
	};
	struct http_request req = {
		.method = "PUT", .url = "http://127.0.0.1:1/b/k", .headers = hh, .n_headers = 3
	};
	struct http_pool *p = pool();
	struct curl_slist *l = NULL;
	size_t lens[16], n = 0, with_key = 0;

	assert_int_equal(http_build_headers(p, &req, &l), 0);
	for (struct curl_slist *e = l; e; e = e->next) {
		assert_true(n < 16);
		lens[n++] = strlen(e->data);
		if (strstr(e->data, key))
			with_key++;
	}
	assert_int_equal(with_key, 2);
	http_slist_wipe(l);
	n = 0;
	for (struct curl_slist *e = l; e; e = e->next, n++)
		for (size_t i = 0; i < lens[n]; i++)
			assert_int_equal(e->data[i], 0);
	http_slist_free_wipe(l);
	http_slist_free_wipe(NULL);
	http_pool_free(p);
}

/* A GET into a buffer, two replies: kept alive, one connection. */
static void test_direct_reuse(void **state)
{
	(void)state;
	struct server s = { .replies = {
				    "HTTP/1.1 206 Partial Content\r\nContent-Length: 3\r\n"
				    "Content-Range: bytes 0-2/6\r\n\r\nabc",
				    "HTTP/1.1 206 Partial Content\r\nContent-Length: 3\r\n"
				    "Content-Range: bytes 3-5/6\r\n\r\ndef",
			    } };
	struct http_pool *p = pool();
	struct http_response r;
	char mem[3];
	struct http_header h[] = { { "Host", "example.test" }, { "Range", "bytes=0-2" } };
	struct http_request req = {
		.headers = h, .n_headers = 2, .sink = HTTP_SINK_MEM, .sink_mem = mem, .sink_cap = 3
	};
	server_start(&s);
	http_response_init(&r);
	assert_int_equal(get(&s, p, &req, &r), 0);
	assert_memory_equal(mem, "abc", 3);
	assert_non_null(strstr(s.last_request, "GET /b/k HTTP/1.1\r\nHost: example.test\r\n"
					       "Range: bytes=0-2\r\n\r\n"));
	assert_int_equal(get(&s, p, &req, &r), 0);
	assert_memory_equal(mem, "def", 3);
	assert_string_equal(http_response_header(&r, "content-range"), "bytes 3-5/6");
	http_response_release(&r);
	http_pool_free(p);
	server_stop(&s);
	assert_int_equal(s.accepts, 1);
}

/* The server drops a kept-alive connection as the request arrives: sent again on a new one. */
static void test_direct_dropped_connection(void **state)
{
	(void)state;
	struct server s = { .replies = { "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", "CLOSE",
					 "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nxyz" } };
	struct http_pool *p = pool();
	struct http_response r;
	char mem[3];
	struct http_request req = { .sink = HTTP_SINK_MEM, .sink_mem = mem, .sink_cap = 3 };
	server_start(&s);
	http_response_init(&r);
	assert_int_equal(get(&s, p, &req, &r), 0);
	assert_memory_equal(mem, "abc", 3);
	assert_int_equal(get(&s, p, &req, &r), 0);
	assert_memory_equal(mem, "xyz", 3);
	http_response_release(&r);
	http_pool_free(p);
	server_stop(&s);
	assert_int_equal(s.accepts, 2);
	assert_int_equal(s.served, 3);
}

/* A chunked reply goes back to libcurl, which asks again and decodes it. */
static void test_direct_chunked_to_curl(void **state)
{
	(void)state;
	static const char chunked[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				      "5\r\nhello\r\n0\r\n\r\n";
	struct server s = { .replies = { chunked, chunked } };
	struct http_pool *p = pool();
	struct http_response r;
	char mem[8] = "";
	struct http_request req = { .sink = HTTP_SINK_MEM, .sink_mem = mem, .sink_cap = 8 };
	server_start(&s);
	http_response_init(&r);
	assert_int_equal(get(&s, p, &req, &r), 0);
	assert_int_equal(r.body_got, 5);
	assert_memory_equal(mem, "hello", 5);
	http_response_release(&r);
	http_pool_free(p);
	server_stop(&s);
	assert_int_equal(s.served, 2);
}

/* A 1xx head before the reply is skipped; a bad status line is an error. */
static void test_direct_interim_and_garbage(void **state)
{
	(void)state;
	struct server s = { .replies = { "HTTP/1.1 100 Continue\r\n\r\n"
					 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
					 "SMTP ready\r\n\r\n" } };
	struct http_pool *p = pool();
	struct http_response r;
	char mem[2];
	struct http_request req = { .sink = HTTP_SINK_MEM, .sink_mem = mem, .sink_cap = 2 };
	server_start(&s);
	http_response_init(&r);
	assert_int_equal(get(&s, p, &req, &r), 0);
	assert_int_equal(r.status, 200);
	assert_memory_equal(mem, "ok", 2);
	assert_int_equal(get(&s, p, &req, &r), -EIO);
	http_response_release(&r);
	http_pool_free(p);
	server_stop(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_complete_body_and_reuse),
		cmocka_unit_test(test_truncated_body),
		cmocka_unit_test(test_content_range_mismatch),
		cmocka_unit_test(test_caller_buffer_overflow),
		cmocka_unit_test(test_sink_in_pieces),
		cmocka_unit_test(test_sink_pieces_announced),
		cmocka_unit_test(test_stalled_reply),
		cmocka_unit_test(test_error_body_not_in_sink),
		cmocka_unit_test(test_header_cap),
		cmocka_unit_test(test_upload_as_sent),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_header_list_wiped),
	};
	const struct CMUnitTest direct[] = {
		cmocka_unit_test(test_direct_reuse),
		cmocka_unit_test(test_direct_dropped_connection),
		cmocka_unit_test(test_direct_chunked_to_curl),
		cmocka_unit_test(test_direct_interim_and_garbage),
	};
	log_init(true, LOG_LVL_ERR, 0);
	if (http_global_init())
		return 1;
	int rc = cmocka_run_group_tests_name("direct GET path", tests, NULL, NULL);
	rc |= cmocka_run_group_tests_name("direct GET path, own cases", direct, NULL, NULL);
	curl_only = true;
	rc |= cmocka_run_group_tests_name("libcurl only", tests, NULL, NULL);
	http_global_cleanup();
	return rc;
}
