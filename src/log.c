/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Log sink and redaction. One mutex serialises the lines written to
 * stderr or the log file (and the reopening of that file); syslog is
 * thread-safe on its own.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static bool use_stderr = true;
static enum log_level max_level = LOG_LVL_WARN;
static unsigned dbg_cats;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_file;	    /* log_lock; NULL: stderr or syslog */
static char *log_file_path; /* owned; set once, before threads */

static const struct {
	const char *name;
	unsigned bit;
} cat_names[] = {
	{ "main", LOG_CAT_MAIN }, { "http", LOG_CAT_HTTP },   { "sign", LOG_CAT_SIGN },
	{ "s3", LOG_CAT_S3 },     { "guard", LOG_CAT_GUARD }, { "cache", LOG_CAT_CACHE },
	{ "fh", LOG_CAT_FH },     { "fuse", LOG_CAT_FUSE },   { "all", LOG_CAT_ALL },
};

static const char *const level_names[] = { "err", "warn", "info", "debug" };

void log_init(bool to_stderr, enum log_level level, unsigned debug_cats)
{
	use_stderr = to_stderr;
	max_level = level;
	dbg_cats = debug_cats;
	if (!to_stderr)
		openlog("obsmount", LOG_PID, LOG_DAEMON);
}

void log_use_syslog(void)
{
	pthread_mutex_lock(&log_lock);
	if (!log_file && use_stderr) {
		use_stderr = false;
		openlog("obsmount", LOG_PID, LOG_DAEMON);
	}
	pthread_mutex_unlock(&log_lock);
}

static int open_log(const char *path, FILE **out)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	FILE *f;

	if (fd < 0)
		return -errno;
	f = fdopen(fd, "a");
	if (!f) {
		int err = -errno;
		close(fd);
		return err;
	}
	*out = f;
	return 0;
}

int log_open_file(const char *path)
{
	FILE *f;
	char *p = strdup(path);
	int err;

	if (!p)
		return -ENOMEM;
	err = open_log(p, &f);
	if (err) {
		free(p);
		return err;
	}
	if (log_file)
		fclose(log_file);
	free(log_file_path);
	log_file = f;
	log_file_path = p;
	use_stderr = true; /* the file takes stderr's format and lock */
	return 0;
}

int log_reopen(void)
{
	FILE *f, *old;
	int err;

	if (!log_file_path)
		return 0;
	err = open_log(log_file_path, &f);
	if (err)
		return err;
	pthread_mutex_lock(&log_lock);
	old = log_file;
	log_file = f;
	pthread_mutex_unlock(&log_lock);
	if (old)
		fclose(old);
	return 0;
}

int log_parse_level(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "error") == 0) {
		*out = LOG_LVL_ERR;
		return 0;
	}
	if (strcasecmp(s, "warning") == 0) {
		*out = LOG_LVL_WARN;
		return 0;
	}
	return -EINVAL;
}

int log_parse_cats(const char *s, unsigned *out)
{
	unsigned cats = 0;
	const char *p = s;

	while (*p) {
		size_t n = strcspn(p, ",");
		bool found = false;
		for (size_t i = 0; i < ARRAY_SIZE(cat_names); i++) {
			if (strlen(cat_names[i].name) == n && strncmp(p, cat_names[i].name, n) == 0) {
				cats |= cat_names[i].bit;
				found = true;
			}
		}
		if (!found && n)
			return -EINVAL;
		p += n;
		if (*p == ',')
			p++;
	}
	*out = cats;
	return 0;
}

bool log_enabled(enum log_level level, enum log_cat cat)
{
	if (level == LOG_LVL_DEBUG)
		return max_level >= LOG_LVL_DEBUG || (dbg_cats & (unsigned)cat);
	return level <= max_level;
}

/* One line to the sink, @name its level's name. */
static void PRINTF_LIKE(3, 0) emit(int prio, const char *name, const char *fmt, va_list ap)
{
	char line[2048];
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	struct timespec ts;
	struct tm tm;
	FILE *out;

	if (n < 0)
		return;
	if (!use_stderr) {
		syslog(prio, "%s: %s", name, line);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	pthread_mutex_lock(&log_lock);
	out = log_file ? log_file : stderr;
	fprintf(out, "%02d:%02d:%02d.%03ld obsmount %s: %s%s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
		ts.tv_nsec / 1000000, name, line, (size_t)n >= sizeof(line) ? "..." : "");
	if (log_file)
		fflush(log_file); /* whole lines, for tail -f and before a crash */
	pthread_mutex_unlock(&log_lock);
}

void log_msg(enum log_level level, enum log_cat cat, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	va_list ap;

	if (!log_enabled(level, cat))
		return;
	va_start(ap, fmt);
	emit(prio[level], level_names[level], fmt, ap);
	va_end(ap);
}

void log_notice(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(LOG_NOTICE, "notice", fmt, ap);
	va_end(ap);
}

static bool ends_with_ci(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n >= k && strncasecmp(s + n - k, suffix, k) == 0;
}

bool log_is_secret_header(const char *name, size_t n)
{
	static const char *const exact[] = { "authorization", "x-amz-security-token",
					     "x-obs-security-token", "proxy-authorization" };
	for (size_t i = 0; i < ARRAY_SIZE(exact); i++)
		if (strlen(exact[i]) == n && strncasecmp(name, exact[i], n) == 0)
			return true;
	/* x-amz-server-side-encryption-customer-key, the copy-source variant and
	 * OBS's x-obs-...-customer-key; the -MD5 headers are not secret. */
	return ends_with_ci(name, n, "-customer-key");
}

void log_redact_headers(char *text, size_t len)
{
	size_t i = 0;
	while (i < len) {
		size_t eol = i;
		while (eol < len && text[eol] != '\n')
			eol++;
		size_t colon = i;
		while (colon < eol && text[colon] != ':')
			colon++;
		if (colon < eol && log_is_secret_header(text + i, colon - i)) {
			size_t v = colon + 1;
			while (v < eol && text[v] == ' ')
				v++;
			for (size_t k = v; k < eol && text[k] != '\r'; k++)
				text[k] = '*';
		}
		i = eol + 1;
	}
}
