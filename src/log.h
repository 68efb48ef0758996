/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging: levels, categories, the sink (stderr or syslog) and the one
 * redaction point. Callers never mask secrets themselves: anything that may
 * hold request headers goes through log_redact_headers() here.
 */
#ifndef obsmount_LOG_H
#define obsmount_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "util/compiler.h"

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

enum log_cat {
	LOG_CAT_MAIN = 1 << 0,
	LOG_CAT_HTTP = 1 << 1,
	LOG_CAT_SIGN = 1 << 2,
	LOG_CAT_S3 = 1 << 3,
	LOG_CAT_GUARD = 1 << 4,
	LOG_CAT_CACHE = 1 << 5,
	LOG_CAT_FH = 1 << 6,
	LOG_CAT_FUSE = 1 << 7,
	LOG_CAT_ALL = 0xff,
};

/*
 * Configure the sink. @to_stderr: stderr instead of syslog. @level: the
 * highest level printed. @debug_cats: categories printed at DEBUG (others
 * stop at INFO). Call before threads start; thread-safe afterwards.
 */
void log_init(bool to_stderr, enum log_level level, unsigned debug_cats);

/*
 * Switch the sink from stderr to syslog (after daemonizing, when stderr is
 * gone); nothing when a log file is open. Takes the log lock.
 */
void log_use_syslog(void);

/*
 * Write to the file @path (borrowed; appended to, created mode 0640)
 * instead of stderr or syslog, in stderr's line format. Call after
 * log_init() and before threads start. 0, or -errno (the sink is unchanged).
 */
int log_open_file(const char *path) MUST_CHECK;

/*
 * Reopen the log file by its path (after logrotate moved it away): a new
 * file is created if needed. Thread-safe (takes the log lock); a no-op
 * without log_open_file(). 0, or -errno: the old file stays in use.
 */
int log_reopen(void) MUST_CHECK;

/* Parse "err|warn|info|debug" (case-insensitive). Returns 0 or -EINVAL. */
int log_parse_level(const char *s, enum log_level *out) MUST_CHECK;
/* Parse a comma list of categories ("http,guard", "all"). Returns 0 or -EINVAL. */
int log_parse_cats(const char *s, unsigned *out) MUST_CHECK;

/* Would a message at @level in @cat be printed? */
bool log_enabled(enum log_level level, enum log_cat cat);

/* Print one line (a trailing newline is added). Thread-safe. */
void log_msg(enum log_level level, enum log_cat cat, const char *fmt, ...) PRINTF_LIKE(3, 4);

/*
 * Print one line whatever the level, marked "notice" (syslog LOG_NOTICE):
 * for what the user asked for explicitly, such as statistics on SIGUSR1.
 * Thread-safe.
 */
void log_notice(const char *fmt, ...) PRINTF_LIKE(1, 2);

/*
 * Is @name (a header name, any case, without the colon) one whose value
 * must never be printed: Authorization, security tokens and every
 * *-customer-key header (copy-source and OBS variants included)?
 */
bool log_is_secret_header(const char *name, size_t name_len);

/*
 * Redact a block of "Name: value" lines (CRLF or LF separated), as curl's
 * debug callback delivers them, in place: the value of every secret header
 * is replaced by '*' characters. The length does not change.
 */
void log_redact_headers(char *text, size_t len);

#endif
