/* janitor.c - the enqueue janitor: once per enqueue_janitor_ms across the cluster (SET NX PX
 * lock, as the worker's reclaim sweep), read the open batches PostgreSQL holds with no
 * enqueued_at and hand each to Redis through enqueue.c, one at a time: batches never handed
 * to Redis, and running ones Redis lost (the worker's archive sweep clears their enqueued_at;
 * their workers then take every final state over from PostgreSQL). It never deletes or
 * changes a batch otherwise; Redis trouble ends the sweep until the next interval. */
#include "janitor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "enqueue.h"
#include "keys.h"
#include "log.h"
#include "mstime.h"
#include "pgq.h"
#include "stats.h"

/* Batches per sweep, oldest first (the next sweep takes the next ones). */
#define SWEEP_MAX 20
/* A younger batch may still be on its way from its own request (ENQUEUE_BUDGET_MS). */
#define MIN_AGE_MS (ENQUEUE_BUDGET_MS + 2000)

struct Janitor {
	Api *api;
	struct event *timer;
	char id[96];   /* lock value: host-pid, for whoever reads the key */
	bool sweeping; /* the lock, the query or an enqueue is outstanding */
	PGresult *due; /* this sweep's batches (owned while sweeping) */
	int next;      /* the row being enqueued */
	int enqueued;
	/* The last batch (id) a sweep was done with: the next sweep starts after it, so a batch
	 * the script refuses (a bug, logged) or whose payload cannot be built cannot hold the
	 * head of every sweep and keep the batches behind it out of Redis. Empty: from the
	 * oldest, as after a short page (the end of the list). */
	char after_id[40];
};

/* $1 minimum age in ms, $2 the cursor (after_id, '' for none), $3 SWEEP_MAX: open batches
 * Redis does not hold (the partial index idx_batch_executions_not_enqueued holds them). A
 * cursor batch deleted since makes the comparison NULL: an empty page, and the cursor resets. */
static const char sql_due[] =
	ENQUEUE_SQL_PAYLOAD("b.enqueued_at IS NULL AND b.status IN ('pending', 'running')"
			    " AND b.created_at < now() - $1::integer * interval '1 millisecond'"
			    " AND ($2 = '' OR (b.created_at, b.id) > (SELECT c.created_at, c.id"
			    "       FROM batch_executions c WHERE c.id = nullif($2, '')::uuid))"
			    " ORDER BY b.created_at, b.id LIMIT $3::integer");

static void arm(Janitor *j)
{
	int ms = j->api->cfg.enqueue_janitor_ms;
	struct timeval tv = mstime_tv(ms);

	evtimer_add(j->timer, &tv);
}

static void sweep_end(Janitor *j)
{
	int n = j->due != NULL ? PQntuples(j->due) : 0;

	if (j->due == NULL || n < SWEEP_MAX)
		j->after_id[0] = '\0'; /* the end of the list, or no page: the oldest next */
	else if (j->next > 0)          /* after the last row done (all, or up to a Redis failure) */
		snprintf(j->after_id, sizeof(j->after_id), "%s",
			 PQgetvalue(j->due, j->next - 1, 0));
	if (j->enqueued > 0)
		log_info("enqueue janitor: %d stored batch(es) handed to Redis", j->enqueued);
	PQclear(j->due);
	j->due = NULL;
	j->sweeping = false;
}

static void next_batch(Janitor *j);

static void on_enqueued(EnqueueOutcome outcome, void *priv)
{
	Janitor *j = priv;

	if (outcome == ENQUEUE_UNREACHABLE) {
		sweep_end(j); /* Redis is in trouble: the next interval tries again */
		return;
	}
	if (outcome == ENQUEUE_DONE) {
		j->enqueued++;
		stats_enqueued_late();
	}
	j->next++;
	next_batch(j);
}

static void next_batch(Janitor *j)
{
	for (; j->due != NULL && j->next < PQntuples(j->due); j->next++) {
		log_warn("enqueue janitor: batch %s has no enqueued_at: enqueueing it",
			 PQgetvalue(j->due, j->next, 1));
		if (enqueue_start(j->api, j->due, j->next, ENQUEUE_BUDGET_MS, on_enqueued, j))
			return;
		if (j->api->redis == NULL)
			break; /* shutting down */
	}
	sweep_end(j);
}

static void due_done(Pgq *q, void *priv)
{
	Janitor *j = priv;

	if (!q->ok) {
		log_warn("enqueue janitor: cannot read stored batches: %s", q->err);
		sweep_end(j);
	} else {
		j->due = q->res[0];
		q->res[0] = NULL; /* the sweep owns the rows now */
		j->next = 0;
		j->enqueued = 0;
		next_batch(j);
	}
	pgq_free(q);
}

static void on_lock(RConn *c, redisReply *reply, void *priv)
{
	Janitor *j = priv;
	char age[16], limit[16];
	Pgq *q;

	if (reply == NULL || reply->type != REDIS_REPLY_STATUS) {
		j->sweeping = false; /* nil: another API process sweeps this interval */
		return;
	}
	snprintf(age, sizeof(age), "%d", MIN_AGE_MS);
	snprintf(limit, sizeof(limit), "%d", SWEEP_MAX);
	if ((q = pgq_new()) == NULL ||
	    !pgq_add(q, sql_due, 3, (const char *[]){ age, j->after_id, limit }) ||
	    !pgq_run(j->api->pg, q, due_done, j)) {
		pgq_free(q);
		j->sweeping = false;
	}
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	Janitor *j = arg;
	Api *api = j->api;
	char lock[KEYS_MAX], ms[16];
	const char *argv[6];

	arm(j);
	if (j->sweeping || !api_redis_ready(api) ||
	    keys_janitor_enqueue_lock(lock, sizeof(lock), api->cfg.redis_prefix) == NULL)
		return;
	snprintf(ms, sizeof(ms), "%d", api->cfg.enqueue_janitor_ms);
	argv[0] = "SET";
	argv[1] = lock;
	argv[2] = j->id;
	argv[3] = "NX";
	argv[4] = "PX";
	argv[5] = ms;
	j->sweeping = rconn_command(api->redis, on_lock, j, 6, argv, NULL);
}

Janitor *janitor_new(Api *api)
{
	Janitor *j = calloc(1, sizeof(*j));
	char host[64] = "api";

	if (j == NULL)
		return NULL;
	j->api = api;
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "api");
	host[sizeof(host) - 1] = '\0';
	snprintf(j->id, sizeof(j->id), "%s-%ld", host, (long)getpid());
	if ((j->timer = evtimer_new(api->base, on_timer, j)) == NULL) {
		free(j);
		return NULL;
	}
	arm(j);
	return j;
}

void janitor_free(Janitor *j)
{
	if (j == NULL)
		return;
	event_free(j->timer);
	PQclear(j->due);
	free(j);
}
