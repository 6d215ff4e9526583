/* readcache.h - the API process's cache of read replies (issue 12): the serialized body of a
 * finished batch's status, of batch lists, GET /instances and GET /workflows, reused until
 * what it was read from changes.
 *
 * Validity. PostgreSQL announces every change these replies depend on (sql/012: NOTIFY
 * amcbatch_read 'b:<batch_id>', 'u:<user_id>', '*'), read by a LISTEN connection (pglisten.c);
 * each one bumps a generation: per batch and per user (hashed into RC_BUCKETS buckets, so a
 * collision only costs a miss), one for "anything", one for "everything". A reader takes a
 * stamp of the generations its reply depends on BEFORE it reads, and the reply is stored with
 * that stamp: a change committed after the read's snapshot bumps a generation after the stamp
 * was taken, so the entry is already stale when stored. A write through this process bumps
 * "everything" when it is answered (its own notification may arrive a little later than the
 * client's next request). While the LISTEN connection is down nothing is served or stored;
 * when it comes back "everything" is bumped (notifications may have been missed). And every
 * entry lives at most ttl_ms (api_read_cache_ms), a backstop, not the rule.
 *
 * A running batch's status is kept too, but Redis, not PostgreSQL, changes it: its entry
 * carries a tag, the batch hash's `ver` when the read began (every Lua script's event bumps it,
 * lua/lib/events.lua). A tagged entry is returned only to a caller that asks for the tag
 * (readcache_get with tag non-NULL), which must check it against Redis before sending it,
 * and lives at most RC_TAGGED_TTL_MS: what moves without an event (the queue position of a
 * queued execution, the next poll, the archive's progress) lags by at most that.
 *
 * Bound: at most RC_SLOTS entries (direct-mapped by key: a new key evicts the one in its slot)
 * holding at most max_bytes of bodies together; a body that does not fit is not stored.
 * Bodies are reference-counted so a reply being written keeps its bytes after an eviction.
 *
 * Concurrent misses of one key share one build (a "flight"): the first miss builds the reply,
 * the others wait for it to land and then look the key up again, as if they had arrived just
 * after it was stored. Without it, 64 connections missing a 100-instance status together (an
 * expiry, a change) rebuilt it 64 times, 2.4 ms of CPU each, and the last waited 150 ms.
 * A waiter that finds no valid entry when the build lands (the reply was not cacheable, or a
 * change overtook it, or it is not the caller's to see) builds its own reply.
 * Loop thread only. */
#ifndef AMCB_READCACHE_H
#define AMCB_READCACHE_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "common.h"
#include "ids.h"

#define RC_SLOTS 4096
#define RC_BUCKETS 1024
#define RC_TAG_LEN 24
#define RC_TAGGED_TTL_MS 1000

typedef struct ReadCache ReadCache;

/* A reply body: len bytes at data, shared by the cache and the replies writing it. */
typedef struct RcBody {
	int refs;
	size_t len;
	char data[];
} RcBody;

/* What a reply depends on besides "everything". */
enum RcScope {
	RC_BATCH,  /* one batch (its status): 'b:<batch_id>' */
	RC_USER,   /* one user's rows (a member's lists): 'u:<user_id>' */
	RC_ANY,    /* every user's rows (an admin's lists): any notification */
	RC_SHARED, /* rows of no user (instances, accounts, grants): '*' only */
};

/* Generations at the start of a read. ok false: do not store (cache off or not listening). */
typedef struct RcStamp {
	bool ok;
	enum RcScope scope;
	unsigned bucket;
	uint64_t all, gen;
	char tag[RC_TAG_LEN]; /* "" or what the caller must confirm before serving (above) */
} RcStamp;

/* One request waiting for a build in flight: fn(arg, key) runs once, when the build lands.
 * Owned by the waiter (embedded in its request); linked by the cache meanwhile. */
typedef struct RcWaiter {
	struct RcWaiter *next;
	void (*fn)(void *arg, const char *key);
	void *arg;
} RcWaiter;

typedef struct RcFlight RcFlight;

/* NULL (after logging) when it cannot start; a NULL cache is a valid "off" cache for every
 * function below. ttl_ms > 0. */
ReadCache *readcache_new(struct event_base *base, const char *conninfo, int ttl_ms,
			 size_t max_bytes);
void readcache_free(ReadCache *c); /* accepts NULL */

RcStamp readcache_stamp(ReadCache *c, enum RcScope scope, const char *id);
/* The valid entry of key with a new reference (release it with rcbody_unref), and its owner
 * (a user id, "" when the key itself names whose it is) in owner; NULL on a miss. With tag
 * NULL a tagged entry is a miss; else the entry's tag ("" for none) is copied to tag. */
RcBody *readcache_get(ReadCache *c, const char *key, char owner[IDS_UUID_LEN + 1],
		      char tag[RC_TAG_LEN]);
/* Stores body under key when st allows it and it fits; takes its own reference. */
void readcache_put(ReadCache *c, const char *key, const char *owner, const RcStamp *st,
		   RcBody *body);
/* After a miss of key: when a build of key is in flight, w (fn and arg set by the caller)
 * joins it and true is returned; otherwise the caller builds the reply, false is returned and
 * *flight is the new flight it leads (NULL when the cache is off or out of memory: it builds
 * alone), which it must land once its reply is out, whatever the reply. */
MUST_CHECK bool readcache_join(ReadCache *c, const char *key, RcWaiter *w, RcFlight **flight);
/* Ends flight f (accepts NULL): its waiters' fn run now, in arrival order. A key missed
 * from here on starts a new flight. */
void readcache_land(ReadCache *c, RcFlight *f);
/* Something changed through this process: every entry is stale. */
void readcache_wrote(ReadCache *c);
/* Applies one notification payload ('b:<id>', 'u:<id>', '*'; anything else counts as '*'):
 * pglisten's callback, public for tests and for the admin's own changes. */
void readcache_notify(ReadCache *c, const char *payload);

/* A new body of len bytes copied from data plus a final newline (as every JSON reply ends),
 * one reference; NULL on OOM. */
RcBody *rcbody_new(const char *data, size_t len);
void rcbody_unref(RcBody *b); /* accepts NULL */

#endif
