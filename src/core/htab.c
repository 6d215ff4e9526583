/* htab.c - chained hash table (FNV-1a) that doubles its bucket array at load factor 1.
 * It stores pointers only; it never owns values. */
#include "htab.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct Entry {
	struct Entry *next;
	void *value;
	char key[]; /* copied, NUL-terminated */
} Entry;

struct HTab {
	Entry **buckets;
	size_t nbuckets; /* power of two */
	size_t count;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

HTab *htab_new(void)
{
	HTab *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->nbuckets = 64;
	h->buckets = calloc(h->nbuckets, sizeof(*h->buckets));
	if (h->buckets == NULL) {
		free(h);
		return NULL;
	}
	return h;
}

void htab_free(HTab *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->nbuckets; i++) {
		Entry *e = h->buckets[i];
		while (e != NULL) {
			Entry *next = e->next;
			free(e);
			e = next;
		}
	}
	free(h->buckets);
	free(h);
}

static Entry **slot(const HTab *h, const char *key)
{
	Entry **pp = &h->buckets[hash_str(key) & (h->nbuckets - 1)];

	while (*pp != NULL && strcmp((*pp)->key, key) != 0)
		pp = &(*pp)->next;
	return pp;
}

void *htab_get(const HTab *h, const char *key)
{
	Entry *e = *slot(h, key);

	return e != NULL ? e->value : NULL;
}

/* Growing is best effort: when the bigger array cannot be allocated we keep chaining. */
static void grow(HTab *h)
{
	size_t n = h->nbuckets * 2;
	Entry **nb = calloc(n, sizeof(*nb));

	if (nb == NULL)
		return;
	for (size_t i = 0; i < h->nbuckets; i++) {
		Entry *e = h->buckets[i];
		while (e != NULL) {
			Entry *next = e->next;
			size_t j = hash_str(e->key) & (n - 1);
			e->next = nb[j];
			nb[j] = e;
			e = next;
		}
	}
	free(h->buckets);
	h->buckets = nb;
	h->nbuckets = n;
}

bool htab_put(HTab *h, const char *key, void *value)
{
	Entry **pp = slot(h, key);
	size_t klen;

	if (*pp != NULL) {
		(*pp)->value = value;
		return true;
	}
	klen = strlen(key);
	Entry *e = malloc(sizeof(*e) + klen + 1);
	if (e == NULL)
		return false;
	memcpy(e->key, key, klen + 1);
	e->value = value;
	e->next = NULL;
	*pp = e;
	if (++h->count > h->nbuckets)
		grow(h);
	return true;
}

void *htab_del(HTab *h, const char *key)
{
	Entry **pp = slot(h, key);
	Entry *e = *pp;
	void *v;

	if (e == NULL)
		return NULL;
	*pp = e->next;
	v = e->value;
	free(e);
	h->count--;
	return v;
}

size_t htab_count(const HTab *h)
{
	return h->count;
}

void htab_foreach (HTab *h, bool (*fn)(const char *key, void *value, void *priv), void *priv)
{
	for (size_t i = 0; i < h->nbuckets; i++) {
		Entry **pp = &h->buckets[i];
		while (*pp != NULL) {
			Entry *e = *pp;
			if (fn(e->key, e->value, priv)) {
				*pp = e->next;
				free(e);
				h->count--;
			} else {
				pp = &e->next;
			}
		}
	}
}
