/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Credentials: where the access key, secret key and session token come
 * from (passwd file, environment, AWS shared credentials file), the
 * permission check on secret files, and the order the sources are tried
 * in. It does not refresh credentials or talk to any metadata service.
 */
#ifndef obsmount_CRED_H
#define obsmount_CRED_H

#include <stddef.h>

#include "crypto.h"
#include "util/compiler.h"

/* Largest credentials file read, and longest line accepted in one. */
#define CRED_FILE_MAX ((size_t)64 * 1024)
#define CRED_LINE_MAX 4096

/* Default passwd files, tried in this order when none is configured. */
#define CRED_HOME_PASSWD ".passwd-obsmount"
#define CRED_SYSTEM_PASSWD "/etc/passwd-obsmount"

/* A loaded set of credentials. Everything owned; free with cred_free(). */
struct cred {
	char *access_key;
	struct secret *secret_key;
	struct secret *session_token; /* NULL when there is none */
	char *origin;		      /* where they came from, for logs ("passwd file '...'") */
};

/* What the options say about credentials. All strings borrowed. */
struct cred_source {
	const char *passwd_file; /* passwd_file= option, or NULL */
	const char *profile;	 /* profile= option, or NULL */
	/* NULL means CRED_SYSTEM_PASSWD; tests point it elsewhere */
	const char *system_passwd_file;
};

/*
 * New credentials from copies of the arguments; @token may be NULL.
 * @origin may be NULL. Returns NULL on -ENOMEM. Caller owns the result.
 */
struct cred *cred_new(const char *access_key, const void *secret, size_t secret_len,
		      const void *token, size_t token_len, const char *origin);

/* Deep copy (for handing a snapshot to a request). NULL on -ENOMEM or NULL @c. */
struct cred *cred_clone(const struct cred *c);

/* Wipe the secrets and free everything. NULL-safe. */
void cred_free(struct cred *c);

/*
 * Load credentials for @bucket (NULL: no bucket-specific lines apply),
 * trying in order:
 *   1. @src->passwd_file, if set;
 *   2. @src->profile in the shared credentials file, if set;
 *   3. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN;
 *   4. $HOME/.passwd-obsmount, then the system passwd file;
 *   5. the shared credentials file (AWS_SHARED_CREDENTIALS_FILE or
 *      $HOME/.aws/credentials), profile $AWS_PROFILE or "default".
 * An explicitly configured source (1, 2) that fails is an error; an
 * implicit one that does not exist is skipped, but one that exists and is
 * broken (bad permissions, malformed) is an error.
 * On success *@out is owned by the caller. On failure returns -errno
 * (-ENOENT when nothing was found, -EACCES for a passwd file open to group
 * or others, -EINVAL for malformed content) and writes one line for the
 * user to @err (NUL-terminated, truncated to @errlen; may be NULL), which
 * names files and line numbers but never secret content.
 */
int cred_load(const struct cred_source *src, const char *bucket, struct cred **out, char *err,
	      size_t errlen) MUST_CHECK;

/*
 * One passwd file: lines "ACCESS:SECRET" (any bucket) or
 * "BUCKET:ACCESS:SECRET"; a line for @bucket wins over a generic one;
 * '#' comments and blank lines are skipped. The file must not be
 * accessible by group or others (-EACCES). -ENOENT if the file is missing
 * or has no line that applies. Other returns and @err as cred_load().
 */
int cred_from_passwd_file(const char *path, const char *bucket, struct cred **out, char *err,
			  size_t errlen) MUST_CHECK;

/*
 * The environment variables. -ENOENT when neither key variable is set,
 * -EINVAL when only one of them is. Other returns as cred_load().
 */
int cred_from_env(struct cred **out, char *err, size_t errlen) MUST_CHECK;

/*
 * Profile @profile ("default" if NULL) of an AWS shared credentials file
 * (INI: "[name]" or "[profile name]" sections, keys aws_access_key_id,
 * aws_secret_access_key, aws_session_token). -ENOENT if the file or the
 * profile is missing, -EINVAL if the profile lacks a key or the file is
 * malformed. Other returns as cred_load().
 */
int cred_from_shared_file(const char *path, const char *profile, struct cred **out, char *err,
			  size_t errlen) MUST_CHECK;

#endif
