/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Internals of the http module, for http.c and its unit test only: the
 * curl header list of a request, and its wipe. Includes curl/curl.h,
 * which nothing outside the http module may.
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

#endif
