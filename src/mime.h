/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Content types from file names, through a mime.types file (the format of
 * /etc/mime.types: a type, then its extensions), looked up the way s3fs-fuse
 * does so that both store the same Content-Type. Loaded once at mount, then
 * read-only: lookups need no lock. No network, no FUSE.
 */
#ifndef obsmount_MIME_H
#define obsmount_MIME_H

#include "util/compiler.h"

/* What s3fs stores for a name without a known extension. */
#define MIME_DEFAULT "application/octet-stream"
/* What s3fs stores for a key ending in '/'. */
#define MIME_DIRECTORY "application/x-directory"
/* The file s3fs reads by default. */
#define MIME_TYPES_FILE "/etc/mime.types"

struct mime_table;

/*
 * Read the mime.types file @path (borrowed). Lines starting with '#' and
 * blank lines are skipped; a later line wins for an extension listed twice,
 * as in s3fs. *out is owned by the caller (mime_free()). 0, -errno from
 * opening or reading the file, -ENOMEM, or -E2BIG (the file is over 4 MiB
 * or a line over 4 KiB).
 */
int mime_load(const char *path, struct mime_table **out) MUST_CHECK;

/* Free @t. NULL-safe. */
void mime_free(struct mime_table *t);

/*
 * The content type for object key or file name @name (borrowed), from its
 * last extension, else its second-to-last one ("a.txt.bak"), else
 * MIME_DEFAULT; MIME_DIRECTORY if @name ends in '/'. Extensions compare
 * without case (s3fs compares them exactly; mime.types lists them in lower
 * case, so only names like "A.JPG" differ). @t NULL: an empty table. The
 * result is borrowed from @t or static, valid while @t lives.
 */
const char *mime_lookup(const struct mime_table *t, const char *name);

#endif
