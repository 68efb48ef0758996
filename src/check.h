/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Check mode (obsmount --check): probe the options, credentials, keys,
 * endpoint and bucket of a mount command line without mounting, and print
 * one verdict per check with a fix for each failure. It mounts nothing; the
 * only write is one probe object (deleted again) when encryption is set.
 */
#ifndef obsmount_CHECK_H
#define obsmount_CHECK_H

#include <stdbool.h>
#include <stdio.h>

/*
 * Is "--check" among the *@argc entries of @argv (the caller's, argv[0]
 * included)? If so, remove every occurrence (shifting the rest down and
 * decrementing *@argc; argv[*argc] stays NULL) and return true.
 */
bool check_take_flag(int *argc, char **argv);

/*
 * Run every check for the mount command line @argc/@argv (borrowed, without
 * "--check"; MOUNTPOINT may be left out) and print one line per check to
 * @out: "ok: CHECK: ...", "warn: CHECK: ...; fix: ..." or
 * "FAIL: CHECK: ...; fix: ...". Checks that depend on a failed one are not
 * run. The request log goes to stderr. Secrets are never printed.
 * libcurl and libxml2 must be initialised (single-threaded use).
 * Returns the exit status: 0 when no check failed (warnings allowed), else 1.
 */
int check_main(int argc, char **argv, FILE *out);

/*
 * Utility mode (obsmount --incomplete-uploads BUCKET[:/PREFIX] -o ...
 * [--abort-older-than=HOURS]). uploads_take_flags() is check_take_flag()
 * for "--incomplete-uploads" and "--abort-older-than=HOURS" (*@abort_hours
 * gets HOURS, or -1 without it; -2 when HOURS is not a number). On true,
 * uploads_main() lists every multipart upload in progress under the
 * prefix, one line each on @out ("KEY UPLOAD-ID INITIATED AGE"), aborts
 * those at least @abort_hours old when @abort_hours >= 0, and returns 0,
 * or 1 when the listing or an abort failed.
 */
bool uploads_take_flags(int *argc, char **argv, long *abort_hours);
int uploads_main(int argc, char **argv, long abort_hours, FILE *out);

#endif
