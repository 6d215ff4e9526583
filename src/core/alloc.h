/* alloc.h - the allocation hook: malloc, calloc, realloc and strdup wrappers that call
 * replaceable functions, so a test can fail the Nth allocation (hiredis's hiredisAllocFuncs,
 * beanstalkd's falloc). What goes through it: code that calls amcb_*; jansson, once a hook is
 * installed (alloc_set_funcs); libevent in the programs that call alloc_libevent_install
 * (alloc_libevent.h: the API, the worker, amcsim). What does not: hiredis 0.14.1 (Debian
 * 12's libhiredis0.14), which has no allocator hook: its hi_malloc and friends call libc and
 * abort() when it fails (CVE-2020-7105's fix), and run-time injection (hiredisAllocFuncs,
 * hiredisSetAllocators) came with hiredis 1.0.0; libcurl (curl_global_init_mem is not
 * wired); libpq (it has none); and code that calls libc directly.
 *
 * Memory from a wrapper is released with plain free(), as memory from libc is: a hook may
 * refuse, count or log an allocation, but what it returns must come from malloc's heap. */
#ifndef AMCB_ALLOC_H
#define AMCB_ALLOC_H

#include <stddef.h>

typedef struct AllocFuncs {
	void *(*malloc_fn)(size_t size);
	void *(*calloc_fn)(size_t n, size_t size);
	void *(*realloc_fn)(void *p, size_t size);
	char *(*strdup_fn)(const char *s);
} AllocFuncs;

/* Puts fns (copied; NULL: libc's own) in force for every amcb_* call, for jansson's
 * allocations (json_set_alloc_funcs) and for libevent's once alloc_libevent_install ran, and
 * returns the functions in force before. Not thread-safe: a test installs a hook while no
 * other thread allocates; daemons never call it. */
AllocFuncs alloc_set_funcs(const AllocFuncs *fns);

/* The same contracts as malloc, calloc, realloc and strdup (NULL when out of memory; realloc
 * leaves p allocated when it fails); the caller frees the result with free(). */
void *amcb_malloc(size_t size);
void *amcb_calloc(size_t n, size_t size);
void *amcb_realloc(void *p, size_t size);
char *amcb_strdup(const char *s);

#endif
