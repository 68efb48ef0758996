/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <stdint.h>
#include <sys/mman.h>

#include "util/bigmem.h"

#define HUGE ((size_t)2 * 1024 * 1024)

static size_t span(size_t len)
{
	return len ? len : 1;
}

void *bigmem_alloc(size_t len)
{
	size_t n = span(len);

	if (n < HUGE) {
		void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		return p == MAP_FAILED ? NULL : p;
	}
	/* map a huge page more, then cut the ends off so that it starts aligned */
	char *raw =
		mmap(NULL, n + HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	size_t head = (HUGE - (uintptr_t)raw % HUGE) % HUGE;
	if (head)
		munmap(raw, head);
	munmap(raw + head + n, HUGE - head);
#ifdef MADV_HUGEPAGE
	/* only advice: without transparent huge pages it is refused, harmlessly */
	(void)madvise(raw + head, n, MADV_HUGEPAGE);
#endif
	return raw + head;
}

void bigmem_free(void *p, size_t len)
{
	if (p)
		munmap(p, span(len));
}
