/* api.h - the process-wide state of amcbatch-api shared by every route: the config, the
 * event base, the Redis connection, the PostgreSQL pool, the token cache and the batches on
 * their way to Redis. */
#ifndef AMCB_API_H
#define AMCB_API_H

#include <event2/event.h>
#include <event2/http.h>

struct evdns_base;

#include "config.h"
#include "netaddr.h"
#include "log.h"
#include "pgpool.h"
#include "rconn.h"

typedef struct AuthCache AuthCache;
typedef struct ConnSet ConnSet;
typedef struct Enqueue Enqueue;
typedef struct Janitor Janitor;
typedef struct ReadCache ReadCache;
typedef struct Scheduler Scheduler;

typedef struct Api {
	Config cfg;
	struct event_base *base;
	struct evhttp *http;
	RConn *redis;
	PgPool *pg;
	AuthCache *auth;
	ReadCache *reads; /* replies kept until what they show changes (readcache.h); NULL: off */
	ConnSet *conns;   /* every client connection (conn.c) */
	int inflight;     /* requests read and not yet answered (req_new .. req_release) */
	LogEvery inflight_log; /* 503s for api_max_inflight, logged at most every 10 s */
	Enqueue *enqueues;     /* batches on their way to Redis (enqueue.c), owned by themselves */
	Janitor *janitor;      /* the enqueue janitor (janitor.c) */
	Scheduler *scheduler;  /* the schedules' trigger (scheduler.c) */
	struct evdns_base
		*dns; /* resolver of webhook hosts (routes_webhooks.c), made on first use */
	enum NetPolicy webhook_policy; /* config webhook_allow_private_networks */
} Api;

/* The servers are NULL while the process shuts down: late callbacks then fail cleanly. */
static inline bool api_redis_ready(const Api *a)
{
	return a->redis != NULL && rconn_is_ready(a->redis);
}

/* How long a PostgreSQL job of a request may keep retrying on connection trouble before
 * the request fails with 503. */
#define API_PG_RETRY_MS 3000

#endif
