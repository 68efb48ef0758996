/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Staging of one open file: memory chunks in front of a sparse temporary
 * file (see stage.h for the model and the locking).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "stage.h"

#define CHUNK STAGE_CHUNK
/* How far past the highest write the chunk table may grow for one write. */
#define GROW_SLACK ((uint64_t)8 * 1024 * 1024)
/* O_DIRECT needs buffers, offsets and lengths aligned to the block size. */
#define DIRECT_ALIGN 4096

enum {
	F_EVICTING = 1, /* being written to the file by an eviction */
	F_CLEAN = 2,	/* unchanged since the eviction compared it */
};

/* ---- the budget ---------------------------------------------------------- */

/* Keep at most this many bytes of idle chunks (the slack of the budget). */
#define SPARE_MAX ((size_t)32 * 1024 * 1024)

void stage_mem_init(struct stage_mem *m, size_t limit)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	m->limit = limit;
	m->cap_spare = SPARE_MAX / CHUNK;
	if (m->cap_spare)
		m->spare = calloc(m->cap_spare, sizeof(*m->spare));
	if (!m->spare)
		m->cap_spare = 0;
}

void stage_mem_trim(struct stage_mem *m)
{
	pthread_mutex_lock(&m->lock);
	while (m->n_spare)
		free(m->spare[--m->n_spare]);
	pthread_mutex_unlock(&m->lock);
}

void stage_mem_destroy(struct stage_mem *m)
{
	stage_mem_trim(m);
	free(m->spare);
	pthread_mutex_destroy(&m->lock);
}

bool stage_mem_take(struct stage_mem *m, size_t bytes, bool force)
{
	bool ok;

	pthread_mutex_lock(&m->lock);
	ok = force || m->used + bytes <= m->limit;
	if (ok)
		m->used += bytes;
	pthread_mutex_unlock(&m->lock);
	return ok;
}

void stage_mem_give(struct stage_mem *m, size_t bytes)
{
	pthread_mutex_lock(&m->lock);
	m->used -= bytes;
	pthread_mutex_unlock(&m->lock);
}

bool stage_mem_over(struct stage_mem *m, size_t bytes)
{
	bool over;

	pthread_mutex_lock(&m->lock);
	over = m->used + bytes > m->limit;
	pthread_mutex_unlock(&m->lock);
	return over;
}

/*
 * A chunk out of the budget: an idle one, else a new one (neither is
 * zeroed). NULL and *err -ENOSPC over budget, or -ENOMEM.
 */
static void *chunk_take(struct stage_mem *m, int *err)
{
	void *p = NULL;
	bool ok;

	pthread_mutex_lock(&m->lock);
	ok = m->used + CHUNK <= m->limit;
	if (ok) {
		m->used += CHUNK;
		if (m->n_spare)
			p = m->spare[--m->n_spare];
	}
	pthread_mutex_unlock(&m->lock);
	*err = -ENOSPC;
	if (p || !ok)
		return p;
	p = malloc(CHUNK);
	if (!p) {
		stage_mem_give(m, CHUNK);
		*err = -ENOMEM;
	}
	return p;
}

/* Give a chunk back: kept idle or freed. */
static void chunk_give(struct stage_mem *m, void *p)
{
	pthread_mutex_lock(&m->lock);
	m->used -= CHUNK;
	if (m->n_spare < m->cap_spare) {
		m->spare[m->n_spare++] = p;
		p = NULL;
	}
	pthread_mutex_unlock(&m->lock);
	free(p);
}

/* ---- the temporary file -------------------------------------------------- */

/*
 * An anonymous file in @dir, mode 0600: O_TMPFILE where the filesystem
 * supports it, else mkstemp() and an immediate unlink(), so nothing is left
 * behind even after a crash.
 */
static int tmp_open(const char *dir, int *fd)
{
	char path[4096];

	*fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (*fd >= 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -errno;
	int n = snprintf(path, sizeof(path), "%s/.obsmount-stage-XXXXXX", dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	*fd = mkostemp(path, O_CLOEXEC);
	if (*fd < 0)
		return -errno;
	if (unlink(path) < 0) {
		int err = -errno;
		close(*fd);
		*fd = -1;
		return err;
	}
	return 0;
}

/*
 * Open the temporary file in @dir, or in $TMPDIR (else /var/tmp, which
 * survives reboots less often than it is tmpfs); with @direct, also a
 * second, O_DIRECT description of it where the file system has one
 * (tmpfs has not).
 */
static int file_open(struct stage *s, const char *dir, bool direct)
{
	char self[64];
	int err;

	if (s->fd >= 0)
		return 0;
	if (!dir) {
		dir = getenv("TMPDIR");
		if (!dir || dir[0] != '/')
			dir = "/var/tmp";
	}
	err = tmp_open(dir, &s->fd);
	if (err) {
		log_msg(LOG_LVL_ERR, LOG_CAT_FH, "cannot create staging file in '%s': %s", dir,
			strerror(-err));
		return err;
	}
	if (direct) {
		snprintf(self, sizeof(self), "/proc/self/fd/%d", s->fd);
		s->dfd = open(self, O_RDWR | O_DIRECT | O_CLOEXEC);
	}
	return 0;
}

static int pwrite_all(int fd, const char *p, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Read [off, off + len) of the file; zeros past its end. */
static int pread_all(int fd, char *p, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {
			memset(p, 0, len);
			return 0;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static void raise_disk_hi(struct stage *s, uint64_t end)
{
	if (end > s->disk_hi)
		s->disk_hi = end;
}

/* ---- chunks -------------------------------------------------------------- */

static bool in_mem(const struct stage *s, size_t idx)
{
	return idx < s->n_chunks && s->chunks[idx];
}

/* Bytes of memory chunk @idx. */
static size_t cap_of(const struct stage *s, size_t idx)
{
	return idx == 0 && s->cap0 ? s->cap0 : CHUNK;
}

static void chunk_free(struct stage *s, size_t idx)
{
	if (idx == 0 && s->cap0) {
		free(s->chunks[0]);
		stage_mem_give(s->mem, s->cap0);
		s->mem_bytes -= s->cap0;
		s->cap0 = 0;
	} else {
		chunk_give(s->mem, s->chunks[idx]);
		s->mem_bytes -= CHUNK;
	}
	s->chunks[idx] = NULL;
	s->fl[idx] = 0;
}

static size_t page_up(size_t n)
{
	return (n + 4095) / 4096 * 4096;
}

/*
 * Let a small chunk 0 hold its first @need bytes, zeros past the old end:
 * it grows (by doubling, at least) up to a whole chunk. 0, -ENOSPC (over
 * budget, unless @force) or -ENOMEM.
 */
static int grow0(struct stage *s, size_t need, bool force)
{
	size_t cap = s->cap0, ncap;
	unsigned char *p;

	if (!cap || need <= cap)
		return 0;
	ncap = page_up(need) > cap * 2 ? page_up(need) : cap * 2;
	if (ncap > CHUNK)
		ncap = CHUNK;
	if (!stage_mem_take(s->mem, ncap - cap, force))
		return -ENOSPC;
	p = realloc(s->chunks[0], ncap);
	if (!p) {
		stage_mem_give(s->mem, ncap - cap);
		return -ENOMEM;
	}
	memset(p + cap, 0, ncap - cap);
	s->chunks[0] = p;
	s->mem_bytes += ncap - cap;
	s->cap0 = ncap == CHUNK ? 0 : ncap;
	return 0;
}

/*
 * Give chunk @idx memory (zeros unless @whole: the caller fills all of
 * it); chunk 0 of a write ending at @need < CHUNK gets only that much,
 * rounded to a page. 0, -ENOSPC (over budget, or too far past the highest
 * write for the table to grow) or -ENOMEM.
 */
static int chunk_new(struct stage *s, size_t idx, bool whole, size_t need)
{
	size_t far = s->mem->limit / CHUNK * 8 + 64;

	if (idx >= far && (uint64_t)idx * CHUNK > s->hi + GROW_SLACK)
		return -ENOSPC; /* a far sparse write would need a huge table */
	if (idx >= s->n_chunks) {
		size_t n = s->n_chunks ? s->n_chunks : 16;
		while (n <= idx)
			n *= 2;
		unsigned char **c = realloc(s->chunks, n * sizeof(*c));
		if (!c)
			return -ENOMEM;
		s->chunks = c;
		unsigned char *fl = realloc(s->fl, n);
		if (!fl)
			return -ENOMEM;
		s->fl = fl;
		memset(&c[s->n_chunks], 0, (n - s->n_chunks) * sizeof(*c));
		memset(&fl[s->n_chunks], 0, n - s->n_chunks);
		s->n_chunks = n;
	}
	int err = 0;
	if (idx == 0 && !whole && page_up(need) < CHUNK) {
		size_t cap = page_up(need);
		if (!stage_mem_take(s->mem, cap, false))
			return -ENOSPC;
		s->chunks[0] = calloc(1, cap);
		if (!s->chunks[0]) {
			stage_mem_give(s->mem, cap);
			return -ENOMEM;
		}
		s->fl[0] = 0;
		s->cap0 = cap;
		s->mem_bytes += cap;
		return 0;
	}
	s->chunks[idx] = chunk_take(s->mem, &err);
	if (!s->chunks[idx])
		return err;
	if (!whole)
		memset(s->chunks[idx], 0, CHUNK);
	s->fl[idx] = 0;
	s->mem_bytes += CHUNK;
	return 0;
}

/* End of the run of chunks from @off (< @end) that are not in memory. */
static uint64_t file_run_end(const struct stage *s, uint64_t off, uint64_t end)
{
	size_t idx = (size_t)(off / CHUNK) + 1;

	while ((uint64_t)idx * CHUNK < end && !in_mem(s, idx))
		idx++;
	return (uint64_t)idx * CHUNK < end ? (uint64_t)idx * CHUNK : end;
}

/* ---- the stage ----------------------------------------------------------- */

int stage_init(struct stage *s, struct stage_mem *mem, const char *cache_dir)
{
	memset(s, 0, sizeof(*s));
	s->mem = mem;
	s->fd = -1;
	s->dfd = -1;
	if (!cache_dir)
		return 0;
	/* staged there from the start, never in memory: nothing is evicted */
	int err = file_open(s, cache_dir, false);
	if (!err)
		s->disk_only = true;
	return err;
}

void stage_release(struct stage *s)
{
	if (s->fd >= 0)
		close(s->fd);
	if (s->dfd >= 0)
		close(s->dfd);
	s->fd = s->dfd = -1;
	/* freed outright: a closed file's memory goes back to the system */
	for (size_t i = 0; i < s->n_chunks; i++)
		free(s->chunks[i]);
	if (s->mem_bytes)
		stage_mem_give(s->mem, s->mem_bytes);
	free(s->chunks);
	free(s->fl);
	s->chunks = NULL;
	s->fl = NULL;
	s->n_chunks = 0;
	s->mem_bytes = 0;
}

int stage_pread(struct stage *s, void *buf, size_t len, uint64_t off)
{
	char *p = buf;
	uint64_t end = off + len;

	while (off < end) {
		size_t idx = (size_t)(off / CHUNK), in = (size_t)(off % CHUNK);
		if (in_mem(s, idx)) {
			size_t n = CHUNK - in < end - off ? CHUNK - in : (size_t)(end - off);
			size_t cap = cap_of(s, idx), have = in >= cap ? 0 : cap - in;
			have = have < n ? have : n;
			memcpy(p, s->chunks[idx] + in, have);
			memset(p + have, 0, n - have);
			p += n;
			off += n;
			continue;
		}
		uint64_t lim = file_run_end(s, off, end);
		size_t n = (size_t)(lim - off), disk = 0;
		if (s->fd >= 0 && off < s->disk_hi)
			disk = s->disk_hi - off < n ? (size_t)(s->disk_hi - off) : n;
		if (disk) {
			int err = pread_all(s->fd, p, disk, off);
			if (err)
				return err;
		}
		memset(p + disk, 0, n - disk);
		p += n;
		off = lim;
	}
	return 0;
}

int stage_pwrite(struct stage *s, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;
	uint64_t end = off + len;
	int err = 0;

	while (off < end) {
		size_t idx = (size_t)(off / CHUNK), in = (size_t)(off % CHUNK);
		size_t n = CHUNK - in < end - off ? CHUNK - in : (size_t)(end - off);
		if (!in_mem(s, idx) && !s->disk_only &&
		    (s->fd < 0 || (uint64_t)idx * CHUNK >= s->disk_hi)) {
			/* nothing of this chunk is on disk: it goes to memory */
			err = chunk_new(s, idx, in == 0 && n == CHUNK, in + n);
			if (err == -ENOSPC)
				err = stage_spill(s); /* and write it through below */
			if (err)
				break;
		}
		if (idx == 0 && in_mem(s, 0) && (err = grow0(s, in + n, false)) != 0) {
			if (err == -ENOSPC)
				err = stage_spill(s); /* chunk 0 goes too: written through below */
			if (err)
				break;
		}
		if (in_mem(s, idx)) {
			memcpy(s->chunks[idx] + in, p, n);
			s->fl[idx] &= (unsigned char)~F_CLEAN;
			p += n;
			off += n;
			continue;
		}
		/* the file holds these chunks: write through */
		uint64_t lim = file_run_end(s, off, end);
		if (s->fd < 0 && (err = file_open(s, NULL, true)) != 0)
			break;
		err = pwrite_all(s->fd, p, (size_t)(lim - off), off);
		raise_disk_hi(s, lim);
		if (err)
			break;
		p += lim - off;
		off = lim;
	}
	if (off > s->hi)
		s->hi = off;
	return err;
}

int stage_zero(struct stage *s, uint64_t off, size_t len)
{
	uint64_t end = off + len;

	while (off < end) {
		size_t idx = (size_t)(off / CHUNK), in = (size_t)(off % CHUNK);
		if (in_mem(s, idx)) {
			size_t n = CHUNK - in < end - off ? CHUNK - in : (size_t)(end - off);
			size_t cap = cap_of(s, idx);
			if (in < cap)
				memset(s->chunks[idx] + in, 0, n < cap - in ? n : cap - in);
			s->fl[idx] &= (unsigned char)~F_CLEAN;
			off += n;
			continue;
		}
		uint64_t lim = file_run_end(s, off, end);
		if (s->fd >= 0 && off < s->disk_hi) {
			uint64_t b = lim < s->disk_hi ? lim : s->disk_hi;
			if (fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
				      (off_t)(b - off)) < 0)
				return -errno;
		}
		off = lim;
	}
	return 0;
}

int stage_truncate(struct stage *s, uint64_t size)
{
	size_t first = (size_t)((size + CHUNK - 1) / CHUNK);

	if (s->fd >= 0 && ftruncate(s->fd, (off_t)size) < 0)
		return -errno;
	if (s->disk_hi > size)
		s->disk_hi = size;
	for (size_t i = first; i < s->n_chunks; i++) {
		if (!s->chunks[i])
			continue;
		if (s->fl[i] & F_EVICTING) {
			/* an eviction writes from it: it stays, as zeros, until released */
			memset(s->chunks[i], 0, cap_of(s, i));
			s->fl[i] &= (unsigned char)~F_CLEAN;
		} else {
			chunk_free(s, i);
		}
	}
	size_t idx = (size_t)(size / CHUNK), in = (size_t)(size % CHUNK);
	if (in && in_mem(s, idx) && in < cap_of(s, idx)) {
		memset(s->chunks[idx] + in, 0, cap_of(s, idx) - in);
		s->fl[idx] &= (unsigned char)~F_CLEAN;
	}
	if (s->hi > size)
		s->hi = size;
	return 0;
}

int stage_spill(struct stage *s)
{
	size_t moved = 0;
	int err = file_open(s, NULL, true);

	if (err)
		return err;
	/* a small chunk 0 is written whole, zeros and all: it is freed at once */
	if (in_mem(s, 0) && (err = grow0(s, CHUNK, true)) != 0)
		return err;
	/* chunks an eviction writes from stay until it ends: it frees them */
	for (size_t i = 0; i < s->n_chunks; i++) {
		if (!s->chunks[i] || (s->fl[i] & F_EVICTING))
			continue;
		err = pwrite_all(s->fd, (const char *)s->chunks[i], CHUNK, (uint64_t)i * CHUNK);
		raise_disk_hi(s, (uint64_t)(i + 1) * CHUNK);
		if (err)
			return err;
	}
	for (size_t i = 0; i < s->n_chunks; i++) {
		if (s->chunks[i] && !(s->fl[i] & F_EVICTING)) {
			chunk_free(s, i);
			moved++;
		}
	}
	s->disk_only = true;
	/*
	 * The freed chunks sit in the arenas of the threads that wrote them;
	 * give their pages back now, or they stay resident beside the part
	 * buffers that take their place in the budget.
	 */
	if (moved) {
		stage_mem_trim(s->mem);
		malloc_trim(0);
	}
	return 0;
}

void stage_keep_on_disk(struct stage *s)
{
	if (s->disk_only || s->evict)
		return;
	/* a failure was logged: the chunks stay in memory until a spill */
	if (file_open(s, NULL, true) == 0)
		s->evict = true;
}

/* ---- eviction ------------------------------------------------------------ */

bool stage_evict_begin(struct stage *s, const void *data, size_t len, uint64_t off,
		       struct stage_evict *ev)
{
	size_t first = (size_t)((off + CHUNK - 1) / CHUNK);
	size_t end = (size_t)((off + len) / CHUNK);
	const char *d = data;

	memset(ev, 0, sizeof(*ev));
	if (!s->evict || s->fd < 0)
		return false;
	if (end > s->n_chunks)
		end = s->n_chunks;
	if (first >= end)
		return false;
	ev->runs = malloc((end - first) * sizeof(*ev->runs));
	if (!ev->runs)
		return false;
	for (size_t i = first; i < end; i++) {
		if (!s->chunks[i] || (s->fl[i] & F_EVICTING) || (i == 0 && s->cap0) ||
		    memcmp(s->chunks[i], d + ((uint64_t)i * CHUNK - off), CHUNK) != 0)
			continue;
		s->fl[i] |= F_EVICTING | F_CLEAN;
		if (ev->n_runs && ev->runs[ev->n_runs - 1][1] == i)
			ev->runs[ev->n_runs - 1][1] = i + 1;
		else {
			ev->runs[ev->n_runs][0] = i;
			ev->runs[ev->n_runs][1] = i + 1;
			ev->n_runs++;
		}
	}
	if (!ev->n_runs) {
		free(ev->runs);
		ev->runs = NULL;
		return false;
	}
	ev->off = off;
	ev->fd = s->fd;
	ev->dfd = s->dfd;
	s->evicting++;
	return true;
}

void stage_evict_write(struct stage_evict *ev, const void *data)
{
	const char *d = data;

	for (size_t r = 0; r < ev->n_runs && !ev->err; r++) {
		uint64_t pos = (uint64_t)ev->runs[r][0] * CHUNK;
		size_t n = (ev->runs[r][1] - ev->runs[r][0]) * CHUNK;
		const char *p = d + (pos - ev->off);
		int err = -EINVAL;
		if (ev->dfd >= 0 && (uintptr_t)p % DIRECT_ALIGN == 0 && pos % DIRECT_ALIGN == 0)
			err = pwrite_all(ev->dfd, p, n, pos);
		if (err == -EINVAL)
			err = pwrite_all(ev->fd, p, n, pos);
		ev->err = err;
	}
}

void stage_evict_end(struct stage *s, struct stage_evict *ev)
{
	for (size_t r = 0; r < ev->n_runs; r++) {
		for (size_t i = ev->runs[r][0]; i < ev->runs[r][1]; i++) {
			s->fl[i] &= (unsigned char)~F_EVICTING;
			if (!ev->err && (s->fl[i] & F_CLEAN))
				chunk_free(s, i);
			else
				s->fl[i] &= (unsigned char)~F_CLEAN;
		}
		/* even a failed write may have left bytes there (under memory chunks) */
		raise_disk_hi(s, (uint64_t)ev->runs[r][1] * CHUNK);
	}
	if (ev->err)
		log_msg(LOG_LVL_WARN, LOG_CAT_FH,
			"cannot move sent bytes to the staging file: %s (they stay in memory)",
			strerror(-ev->err));
	s->evicting--;
	free(ev->runs);
	ev->runs = NULL;
}
