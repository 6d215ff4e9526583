/* reftab.c - an open-addressing hash table from ref strings to borrowed pointers (FNV-1a,
 * linear probing, tombstones, doubled at 70 % load). It owns copies of the keys only. */
#include "reftab.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TOMBSTONE ((char *)1)

typedef struct Slot {
	char *key;		/* NULL empty, TOMBSTONE deleted, else owned */
	void *val;
} Slot;

struct RefTab {
	Slot *slots;
	size_t cap;		/* power of two */
	size_t used;		/* live keys */
	size_t filled;		/* live keys + tombstones */
};

static uint64_t hash(const char *s)
{
	uint64_t h = UINT64_C(14695981039346656037);
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
	return h;
}

RefTab *reftab_new(void)
{
	RefTab *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->cap = 64;
	if (!(t->slots = calloc(t->cap, sizeof *t->slots))) {
		free(t);
		return NULL;
	}
	return t;
}

void reftab_free(RefTab *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i].key && t->slots[i].key != TOMBSTONE)
			free(t->slots[i].key);
	free(t->slots);
	free(t);
}

/* index of key's slot, or of the first free slot on its probe path (-1: table full, never) */
static long find(const RefTab *t, const char *key, bool for_insert)
{
	size_t mask = t->cap - 1, i = (size_t)hash(key) & mask;
	long first_free = -1;
	for (size_t n = 0; n < t->cap; n++, i = (i + 1) & mask) {
		char *k = t->slots[i].key;
		if (!k)
			return for_insert && first_free >= 0 ? first_free : (long)i;
		if (k == TOMBSTONE) {
			if (first_free < 0)
				first_free = (long)i;
		} else if (strcmp(k, key) == 0) {
			return (long)i;
		}
	}
	return first_free;
}

static bool grow(RefTab *t)
{
	size_t cap = t->used * 2 >= t->cap ? t->cap * 2 : t->cap;	/* else only tombstones */
	Slot *old = t->slots, *fresh = calloc(cap, sizeof *fresh);
	size_t oldcap = t->cap;
	if (!fresh)
		return false;
	t->slots = fresh;
	t->cap = cap;
	t->filled = t->used;
	for (size_t i = 0; i < oldcap; i++) {
		if (!old[i].key || old[i].key == TOMBSTONE)
			continue;
		long j = find(t, old[i].key, true);
		t->slots[j] = old[i];
	}
	free(old);
	return true;
}

bool reftab_add(RefTab *t, const char *ref, void *val)
{
	if ((t->filled + 1) * 10 > t->cap * 7 && !grow(t))
		return false;
	long i = find(t, ref, true);
	if (i < 0 || (t->slots[i].key && t->slots[i].key != TOMBSTONE))
		return false;	/* present */
	char *k = strdup(ref);
	if (!k)
		return false;
	if (!t->slots[i].key)
		t->filled++;
	t->slots[i].key = k;
	t->slots[i].val = val;
	t->used++;
	return true;
}

bool reftab_get(const RefTab *t, const char *ref, void **val)
{
	long i = find(t, ref, false);
	if (i < 0 || !t->slots[i].key || t->slots[i].key == TOMBSTONE)
		return false;
	if (val)
		*val = t->slots[i].val;
	return true;
}

void reftab_del(RefTab *t, const char *ref)
{
	long i = find(t, ref, false);
	if (i < 0 || !t->slots[i].key || t->slots[i].key == TOMBSTONE)
		return;
	free(t->slots[i].key);
	t->slots[i].key = TOMBSTONE;
	t->slots[i].val = NULL;
	t->used--;
}

size_t reftab_count(const RefTab *t)
{
	return t->used;
}
