/* test_api_readcache.c - src/api/readcache.c's flights without a server: concurrent misses
 * of one key join the first one's build, are woken once each and in order when it lands, a
 * landed key starts a new flight, other keys fly alone, and a cache that is off (NULL)
 * coalesces nothing. The LISTEN thread points at a closed port: it never comes up, which
 * the flights do not depend on (serving and storing are test_readcache.py's). */
#include <string.h>

#include <event2/event.h>

#include "readcache.h"
/* cases in this process, not one each (tap.h): its cases share the event loop main() starts */
#define TAP_IN_PROCESS
#include "../tap.h"

static char woke[16][16];
static int nwoke;

static void on_wake(void *arg, const char *key)
{
	if (nwoke < 16)
		snprintf(woke[nwoke++], sizeof(woke[0]), "%s:%s", (const char *)arg, key);
}

static struct event_base *base;

static void test_join_and_land(void)
{
	ReadCache *c = readcache_new(base, "postgresql://nobody@127.0.0.1:1/none", 1000, 1 << 20);
	RcWaiter w1 = { .fn = on_wake, .arg = "w1" }, w2 = { .fn = on_wake, .arg = "w2" };
	RcWaiter w3 = { .fn = on_wake, .arg = "w3" }, w4 = { .fn = on_wake, .arg = "w4" };
	RcFlight *lead = NULL, *f = NULL, *other = NULL;

	assertf(c != NULL, "cache made");
	nwoke = 0;
	assertf(!readcache_join(c, "s:a", &w1, &lead) && lead != NULL, "first miss leads");
	assertf(readcache_join(c, "s:a", &w2, &f) && f == NULL, "second miss waits");
	assertf(readcache_join(c, "s:a", &w3, &f) && f == NULL, "third miss waits");
	assertf(!readcache_join(c, "s:b", &w4, &other) && other != NULL, "another key leads alone");
	assertf(nwoke == 0, "nobody woken before the build lands");
	readcache_land(c, lead);
	assertf(nwoke == 2 && strcmp(woke[0], "w2:s:a") == 0 && strcmp(woke[1], "w3:s:a") == 0,
		"waiters woken once each, in arrival order (%d)", nwoke);
	assertf(!readcache_join(c, "s:a", &w2, &lead) && lead != NULL, "a landed key flies again");
	readcache_land(c, lead);
	readcache_land(c, other);
	assertf(nwoke == 2, "flights without waiters wake nobody");
	readcache_land(c, NULL);
	readcache_free(c);
}

static void test_off(void)
{
	RcWaiter w = { .fn = on_wake, .arg = "w" };
	RcFlight *f = (RcFlight *)&w;

	assertf(!readcache_join(NULL, "s:a", &w, &f) && f == NULL, "an off cache leads nothing");
	readcache_land(NULL, NULL);
}

/* a flight still in the air when the cache goes: freed, its waiter never called */
static void test_free_in_flight(void)
{
	ReadCache *c = readcache_new(base, "postgresql://nobody@127.0.0.1:1/none", 1000, 1 << 20);
	RcWaiter w = { .fn = on_wake, .arg = "w" };
	RcFlight *f = NULL, *g = NULL;

	nwoke = 0;
	assertf(c != NULL && !readcache_join(c, "s:z", &w, &f) && readcache_join(c, "s:z", &w, &g),
		"a flight with a waiter");
	readcache_free(c);
	assertf(nwoke == 0, "not woken by the cache's end");
}

int main(void)
{
	base = event_base_new();
	if (base == NULL)
		TAP_SKIP_ALL("no event base");
	RUN_TEST(test_join_and_land);
	RUN_TEST(test_off);
	RUN_TEST(test_free_in_flight);
	event_base_free(base);
	return tap_done();
}
