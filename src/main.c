/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Startup: library initialisation, option parsing, mount. Everything else
 * lives in libcore.a.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <fuse.h>
#include <libxml/xmlversion.h>
#include <openssl/opensslv.h>

static void print_version(void)
{
	const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
	printf("obsmount %s\n", PACKAGE_VERSION);
	printf("libfuse %d, libcurl %s (%s), %s, libxml2 %s\n", fuse_version(), cv->version,
	       cv->ssl_version ? cv->ssl_version : "no TLS", OPENSSL_VERSION_TEXT,
	       LIBXML_DOTTED_VERSION);
}

static void print_usage(FILE *out)
{
	fprintf(out, "usage: obsmount BUCKET[:/PREFIX] MOUNTPOINT [-o OPTION,...] [-f] [-d] [-s]\n");
}

int main(int argc, char *argv[])
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
			print_version();
			return 0;
		}
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			print_usage(stdout);
			return 0;
		}
	}
	print_usage(stderr);
	return 1;
}
