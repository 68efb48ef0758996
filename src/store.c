/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers for the value types of store.h: user metadata sets, object info
 * and listing pages. No storage operations live here; those belong to the
 * bindings (store_s3.c, the in-memory test store).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

void store_meta_release(struct store_meta *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->kv[i].name);
		free(m->kv[i].value);
	}
	free(m->content_type);
	memset(m, 0, sizeof(*m));
}

const char *store_meta_get(const struct store_meta *m, const char *name)
{
	if (!m || !name)
		return NULL;
	for (size_t i = 0; i < m->n; i++) {
		if (strcmp(m->kv[i].name, name) == 0)
			return m->kv[i].value;
	}
	return NULL;
}

int store_meta_set(struct store_meta *m, const char *name, const char *value)
{
	char *v = strdup(value);

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < m->n; i++) {
		if (strcmp(m->kv[i].name, name) == 0) {
			free(m->kv[i].value);
			m->kv[i].value = v;
			return 0;
		}
	}
	if (m->n >= STORE_META_MAX) {
		free(v);
		return -E2BIG;
	}
	char *n = strdup(name);
	if (!n) {
		free(v);
		return -ENOMEM;
	}
	m->kv[m->n].name = n;
	m->kv[m->n].value = v;
	m->n++;
	return 0;
}

int store_meta_copy(struct store_meta *dst, const struct store_meta *src)
{
	memset(dst, 0, sizeof(*dst));
	if (!src)
		return 0;
	if (src->content_type) {
		dst->content_type = strdup(src->content_type);
		if (!dst->content_type)
			goto nomem;
	}
	for (size_t i = 0; i < src->n && i < STORE_META_MAX; i++) {
		dst->kv[i].name = strdup(src->kv[i].name);
		dst->kv[i].value = strdup(src->kv[i].value);
		dst->n = i + 1;
		if (!dst->kv[i].name || !dst->kv[i].value)
			goto nomem;
	}
	return 0;
nomem:
	store_meta_release(dst);
	return -ENOMEM;
}

void store_info_release(struct store_info *i)
{
	if (!i)
		return;
	store_meta_release(&i->meta);
}

void store_page_release(struct store_page *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_objects; i++)
		free(p->objects[i].key);
	free(p->objects);
	for (size_t i = 0; i < p->n_prefixes; i++)
		free(p->prefixes[i]);
	free(p->prefixes);
	free(p->next_token);
	memset(p, 0, sizeof(*p));
}
