/* alloc_libevent.h - puts libevent's allocations under the hook of alloc.h. In a file of its
 * own because alloc.c is also linked by the CLI, which does not link libevent. */
#ifndef AMCB_ALLOC_LIBEVENT_H
#define AMCB_ALLOC_LIBEVENT_H

/* Routes every libevent allocation (event bases, events, evbuffers, evhttp) through
 * amcb_malloc and amcb_realloc, freed with free(). Call it first in main(), before any other
 * libevent call (evthread_use_pthreads included): libevent's rule for
 * event_set_mem_functions, as memory allocated before must not reach the new functions. Once
 * only; it cannot fail. */
void alloc_libevent_install(void);

#endif
