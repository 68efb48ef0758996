/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mime.types parsing and extension lookup. The table is a sorted array
 * searched with bsearch; it is built once and never changed, so lookups
 * from many threads need no lock. Deciding when to set a type is the
 * caller's business.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mime.h"

#define FILE_MAX ((size_t)4 << 20)
#define LINE_MAX_LEN 4096

struct mime_ent {
	char *ext;
	const char *type; /* points into types[] */
	size_t order;	  /* position in the file: the later one wins */
};

struct mime_table {
	struct mime_ent *ents;
	size_t n, cap;
	char **types;
	size_t n_types, cap_types;
};

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\v' || ch == '\f';
}

/* The next whitespace-separated word of *p, NUL-terminated in place. */
static char *next_word(char **p)
{
	char *s = *p, *w;

	while (*s && is_space(*s))
		s++;
	if (!*s) {
		*p = s;
		return NULL;
	}
	w = s;
	while (*s && !is_space(*s))
		s++;
	if (*s)
		*s++ = '\0';
	*p = s;
	return w;
}

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	size_t ncap;
	void *na;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 64;
	if (__builtin_mul_overflow(ncap, elem, &(size_t){ 0 }))
		return -ENOMEM;
	na = realloc(*arr, ncap * elem);
	if (!na)
		return -ENOMEM;
	*arr = na;
	*cap = ncap;
	return 0;
}

static int add_line(struct mime_table *t, char *line, size_t *order)
{
	char *p = line, *type, *ext;
	int r;

	if (line[0] == '#')
		return 0;
	type = next_word(&p);
	if (!type)
		return 0;
	r = grow((void **)&t->types, &t->cap_types, t->n_types, sizeof(*t->types));
	if (r)
		return r;
	t->types[t->n_types] = strdup(type);
	if (!t->types[t->n_types])
		return -ENOMEM;
	type = t->types[t->n_types++];
	while ((ext = next_word(&p)) != NULL) {
		r = grow((void **)&t->ents, &t->cap, t->n, sizeof(*t->ents));
		if (r)
			return r;
		t->ents[t->n].ext = strdup(ext);
		if (!t->ents[t->n].ext)
			return -ENOMEM;
		t->ents[t->n].type = type;
		t->ents[t->n].order = (*order)++;
		t->n++;
	}
	return 0;
}

/* By extension, and for one extension the latest line first. */
static int ent_sort_cmp(const void *a, const void *b)
{
	const struct mime_ent *x = a, *y = b;
	int c = strcasecmp(x->ext, y->ext);

	if (c)
		return c;
	return x->order < y->order ? 1 : x->order > y->order ? -1 : 0;
}

/* Keep the first (latest) entry of each extension. */
static void dedup(struct mime_table *t)
{
	size_t i, o = 0;

	for (i = 0; i < t->n; i++) {
		if (o > 0 && strcasecmp(t->ents[o - 1].ext, t->ents[i].ext) == 0) {
			free(t->ents[i].ext);
			continue;
		}
		t->ents[o++] = t->ents[i];
	}
	t->n = o;
}

static int read_all(FILE *f, struct mime_table *t)
{
	char line[LINE_MAX_LEN + 2];
	size_t total = 0, order = 0;
	int r = 0;

	while (r == 0 && fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);
		total += len;
		if (total > FILE_MAX || (len > LINE_MAX_LEN && line[len - 1] != '\n'))
			return -E2BIG;
		r = add_line(t, line, &order);
	}
	if (r == 0 && ferror(f))
		r = -EIO;
	return r;
}

int mime_load(const char *path, struct mime_table **out)
{
	struct mime_table *t;
	FILE *f;
	int r;

	*out = NULL;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	t = calloc(1, sizeof(*t));
	if (!t) {
		fclose(f);
		return -ENOMEM;
	}
	r = read_all(f, t);
	fclose(f);
	if (r) {
		mime_free(t);
		return r;
	}
	if (t->n) {
		qsort(t->ents, t->n, sizeof(*t->ents), ent_sort_cmp);
		dedup(t);
	}
	*out = t;
	return 0;
}

void mime_free(struct mime_table *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->n; i++)
		free(t->ents[i].ext);
	for (i = 0; i < t->n_types; i++)
		free(t->types[i]);
	free(t->ents);
	free(t->types);
	free(t);
}

static int ent_find_cmp(const void *key, const void *elem)
{
	const struct mime_ent *e = elem;

	return strcasecmp(key, e->ext);
}

/* The type of extension [ext, ext+len), or NULL. */
static const char *find(const struct mime_table *t, const char *ext, size_t len)
{
	char buf[256];
	const struct mime_ent *e;

	if (!t || !t->n || len == 0 || len >= sizeof(buf))
		return NULL;
	memcpy(buf, ext, len);
	buf[len] = '\0';
	e = bsearch(buf, t->ents, t->n, sizeof(*t->ents), ent_find_cmp);
	return e ? e->type : NULL;
}

const char *mime_lookup(const struct mime_table *t, const char *name)
{
	size_t len = strlen(name);
	const char *base, *last, *prev, *type;

	if (len > 0 && name[len - 1] == '/')
		return MIME_DIRECTORY;
	base = strrchr(name, '/');
	base = base ? base + 1 : name;
	last = strrchr(base, '.');
	if (!last)
		return MIME_DEFAULT;
	type = find(t, last + 1, strlen(last + 1));
	if (type)
		return type;
	/* s3fs then tries the extension before it: "notes.txt.orig". */
	for (prev = last; prev > base && prev[-1] != '.'; prev--)
		;
	if (prev == base)
		return MIME_DEFAULT;
	type = find(t, prev, (size_t)(last - prev));
	return type ? type : MIME_DEFAULT;
}
