/* alloc_libevent.c - libevent through the allocation hook (alloc_libevent.h): nothing but the
 * event_set_mem_functions call, so that only the programs that link libevent pull it in. */
#include "alloc_libevent.h"

#include <stdlib.h>

#include <event2/event.h>

#include "alloc.h"

/* libevent is built with memory replacement unless EVENT__DISABLE_MM_REPLACEMENT (Debian's
 * 2.1.12 is); without it libevent keeps calling libc and test_alloc_fail's count of its
 * allocations says so. */
#ifdef EVENT__DISABLE_MM_REPLACEMENT
void alloc_libevent_install(void)
{
}
#else
void alloc_libevent_install(void)
{
	/* free() matches the hook's memory (alloc.h), which is also why a string libevent hands
	 * to us (evhttp_uridecode in api/req.c) may still be released with free() */
	event_set_mem_functions(amcb_malloc, amcb_realloc, free);
}
#endif
