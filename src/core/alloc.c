/* alloc.c - the allocation hook of alloc.h: one table of functions, libc's by default. It
 * does no accounting of its own; tests bring that (tests/unit/test_alloc_fail.c). */
#include "alloc.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static char *libc_strdup(const char *s)
{
	return strdup(s);
}

static const AllocFuncs libc_funcs = {
	.malloc_fn = malloc,
	.calloc_fn = calloc,
	.realloc_fn = realloc,
	.strdup_fn = libc_strdup,
};

/* Read on every allocation, written only by alloc_set_funcs (see alloc.h on threads). */
static AllocFuncs funcs = {
	.malloc_fn = malloc,
	.calloc_fn = calloc,
	.realloc_fn = realloc,
	.strdup_fn = libc_strdup,
};

/* jansson's allocations pass through the hook's malloc; it frees with free(), which every
 * hook's memory allows (alloc.h). */
static void *json_malloc(size_t size)
{
	return funcs.malloc_fn(size);
}

AllocFuncs alloc_set_funcs(const AllocFuncs *fns)
{
	AllocFuncs old = funcs;

	funcs = fns != NULL ? *fns : libc_funcs;
	if (fns != NULL)
		json_set_alloc_funcs(json_malloc, free);
	else
		json_set_alloc_funcs(malloc, free);
	return old;
}

void *amcb_malloc(size_t size)
{
	return funcs.malloc_fn(size);
}

void *amcb_calloc(size_t n, size_t size)
{
	return funcs.calloc_fn(n, size);
}

void *amcb_realloc(void *p, size_t size)
{
	return funcs.realloc_fn(p, size);
}

char *amcb_strdup(const char *s)
{
	return funcs.strdup_fn(s);
}
