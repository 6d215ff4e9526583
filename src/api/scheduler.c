/* scheduler.c - the schedules' trigger, inside every API process: each schedule_tick_ms it
 * reads the due schedules (next_run_at <= now; idx_schedules_due) and fires each one's slot
 * through schedule_fire.c, one schedule at a time. Every API process does this on its own:
 * there is no leader to lose; the processes race for a slot and amcbatch_schedule_claim lets
 * exactly one of them store it (the others' transactions roll back, FIRE_TAKEN).
 *
 * Slots are computed here, from the next_run_at read: the latest slot not after now runs,
 * the earlier ones (missed while nothing ran) are recorded as skipped, and next_run_at moves
 * to the first slot after now. When the previous run is still going: overlap skip records
 * the slot as skipped and moves on; overlap queue leaves the schedule due, so the first tick
 * after that run ends fires the latest slot. */
#include "schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "log.h"
#include "mstime.h"
#include "pgq.h"
#include "stats.h"

/* Schedules fired per tick (the next tick takes the next ones). */
#define TICK_MAX "20"
/* Missed slots counted one by one before the latest is looked up directly. */
#define WALK_MAX 1000
/* How long a schedule whose stored cron or time zone no longer works waits to be tried again. */
#define BROKEN_RETRY_MS 3600000

/* $1 now (Unix ms). A queue schedule whose previous run still goes stays due (fire_next):
 * such schedules come after every other due one, or TICK_MAX of them would fill every tick
 * and no other schedule would fire until their runs ended. */
static const char sql_due[] =
	"SELECT s.id, (extract(epoch FROM s.next_run_at) * 1000)::bigint, s.cron, s.timezone,"
	"       s.overlap, r.busy"
	"  FROM schedules s CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM schedule_runs r"
	"         JOIN batch_executions b ON b.id = r.batch_execution_id"
	"        WHERE r.schedule_id = s.id AND b.status IN ('pending', 'running')) AS busy) r"
	" WHERE s.enabled AND s.next_run_at <= to_timestamp($1::bigint / 1000.0)"
	" ORDER BY s.overlap = 'queue' AND r.busy, s.next_run_at LIMIT " TICK_MAX;

/* $1 id, $2 the next_run_at read (Unix ms), $3 when to try it again (Unix ms). A schedule
 * whose stored cron or zone no longer works (a parser or tzdata change in an upgrade) cannot
 * be planned; left at its slot it would stay first in every tick's read, oldest first, and
 * TICK_MAX of them would keep every other schedule from firing. Only a slot nobody moved
 * since is moved (a PATCH with a cron that works wins). */
static const char sql_defer[] =
	"UPDATE schedules SET next_run_at = to_timestamp($3::bigint / 1000.0)"
	" WHERE id = $1 AND enabled AND (extract(epoch FROM next_run_at) * 1000)::bigint = $2::bigint";

struct Scheduler {
	Api *api;
	struct event *timer;
	bool ticking;
};

typedef struct Tick {
	Api *api;
	int64_t now_ms;
	PGresult *due;  /* owned */
	int next;       /* the row being fired */
	json_t *report; /* owned until done */
	json_t *fired;  /* borrowed from report */
	TickDoneFn done;
	void *priv;
} Tick;

static const char *const outcome_names[] = {
	[FIRE_STARTED] = "started", [FIRE_FAILED] = "failed", [FIRE_SKIPPED] = "skipped",
	[FIRE_TAKEN] = "taken",     [FIRE_GONE] = "gone",     [FIRE_ERROR] = "error",
};

static void tick_end(Tick *t, bool ok)
{
	TickDoneFn done = t->done;
	void *priv = t->priv;
	json_t *report = ok ? t->report : NULL;

	if (!ok)
		json_decref(t->report);
	PQclear(t->due);
	free(t);
	done(report, priv);
}

static void add_report(Tick *t, const char *id, int64_t slot_ms, const char *outcome,
		       const char *batch_id, int missed)
{
	char iso[32];
	json_t *e;

	schedule_iso_ms(slot_ms, iso, sizeof(iso));
	e = json_pack("{s:s, s:s, s:s, s:i}", "schedule_id", id, "scheduled_for", iso, "outcome",
		      outcome, "missed", missed);
	if (e != NULL && batch_id != NULL && batch_id[0] != '\0')
		json_object_set_new(e, "batch_id", json_string(batch_id));
	if (e != NULL)
		json_array_append_new(t->fired, e);
}

/* Remembers missed slot t (the latest SCHEDULE_MISSED_KEEP are recorded one by one). */
static void note_missed(FireSpec *s, time_t t)
{
	if (s->nmissed == SCHEDULE_MISSED_KEEP) {
		memmove(s->missed_ms, s->missed_ms + 1,
			(SCHEDULE_MISSED_KEEP - 1) * sizeof(int64_t));
		s->nmissed--;
	}
	s->missed_ms[s->nmissed++] = (int64_t)t * 1000;
	s->missed_total++;
}

/* The latest slot not after now, from a long way back: the first of the widening windows
 * before now that holds a slot, walked to its end. */
static bool latest_slot(const Cron *c, const char *zone, time_t now, time_t *out)
{
	static const time_t back[] = {
		60, 3600, 86400, 7 * 86400, 32 * 86400, 367 * 86400, CRON_MAX_GAP_DAYS * 86400L
	};
	time_t t, n;

	for (size_t i = 0; i < ARRAY_LEN(back); i++) {
		if (!cron_next(c, zone, now - back[i], &t))
			return false;
		if (t > now)
			continue;
		while (cron_next(c, zone, t, &n) && n <= now)
			t = n;
		*out = t;
		return true;
	}
	return false;
}

/* Works out row k's slot: which one runs, the missed ones, the next. False when the stored
 * cron or zone no longer works (logged). */
static bool plan(const Tick *t, int k, FireSpec *s)
{
	const char *id = PQgetvalue(t->due, k, 0), *zone = PQgetvalue(t->due, k, 3);
	time_t now = (time_t)(t->now_ms / 1000), cur, n;
	char err[200];
	Cron c;
	int walked = 0;

	memset(s, 0, sizeof(*s));
	snprintf(s->schedule_id, sizeof(s->schedule_id), "%s", id);
	s->expected_ms = strtoll(PQgetvalue(t->due, k, 1), NULL, 10);
	if (!cron_parse(PQgetvalue(t->due, k, 2), &c, err, sizeof(err))) {
		log_error("schedule %s: stored cron refused: %s", id, err);
		return false;
	}
	cur = (time_t)(s->expected_ms / 1000);
	for (;;) {
		if (!cron_next(&c, zone, cur, &n)) {
			log_error("schedule %s: time zone %s refused", id, zone);
			return false;
		}
		if (n > now)
			break;
		note_missed(s, cur);
		cur = n;
		if (++walked == WALK_MAX) {
			/* a long outage of a frequent schedule: the count stays a lower bound */
			if (!latest_slot(&c, zone, now, &cur) || !cron_next(&c, zone, cur, &n))
				return false;
			break;
		}
	}
	s->slot_ms = (int64_t)cur * 1000;
	s->next_ms = (int64_t)n * 1000;
	return true;
}

static void fire_next(Tick *t);

static void fired(const FireResult *res, void *priv)
{
	Tick *t = priv;
	const char *id = PQgetvalue(t->due, t->next, 0);
	FireSpec s;

	if (plan(t, t->next, &s))
		add_report(t, id, s.slot_ms, outcome_names[res->outcome], res->batch_id,
			   s.missed_total);
	stats_schedule_fired(res->outcome);
	if (res->outcome == FIRE_SKIPPED)
		log_info("schedule %s: slot skipped, the previous run is still going", id);
	t->next++;
	fire_next(t);
}

static void deferred(Pgq *q, void *priv)
{
	Tick *t = priv;
	const char *id = PQgetvalue(t->due, t->next, 0);

	if (!q->ok)
		log_warn("schedule %s: cannot move its next run: %s", id, q->err);
	else if (strcmp(PQcmdTuples(q->res[0]), "1") == 0)
		log_warn("schedule %s: tried again in %d min", id, BROKEN_RETRY_MS / 60000);
	pgq_free(q);
	t->next++;
	fire_next(t);
}

/* Moves row t->next, which plan() refused, BROKEN_RETRY_MS on; the tick goes on in deferred().
 * False when the statement could not be queued (the tick goes on at once). */
static bool defer_broken(Tick *t, int64_t expected_ms)
{
	char exp[24], later[24];
	const char *id = PQgetvalue(t->due, t->next, 0);
	Pgq *q;

	snprintf(exp, sizeof(exp), "%lld", (long long)expected_ms);
	snprintf(later, sizeof(later), "%lld", (long long)(t->now_ms + BROKEN_RETRY_MS));
	if ((q = pgq_new()) == NULL ||
	    !pgq_add(q, sql_defer, 3, (const char *[]){ id, exp, later }) ||
	    !pgq_run(t->api->pg, q, deferred, t)) {
		pgq_free(q);
		return false;
	}
	return true;
}

static void fire_next(Tick *t)
{
	/* (the servers are NULL while the process shuts down: the tick ends there) */
	for (; t->next < PQntuples(t->due) && t->api->pg != NULL && t->api->redis != NULL;
	     t->next++) {
		const char *id = PQgetvalue(t->due, t->next, 0);
		bool busy = PQgetvalue(t->due, t->next, 5)[0] == 't';
		FireSpec s;

		if (!plan(t, t->next, &s)) {
			add_report(t, id, s.expected_ms, "error", NULL, 0);
			if (defer_broken(t, s.expected_ms))
				return;
			continue;
		}
		if (busy && strcmp(PQgetvalue(t->due, t->next, 4), "queue") == 0) {
			/* left due: the first tick after the running batch ends fires it */
			add_report(t, id, s.slot_ms, "queued", NULL, s.missed_total);
			continue;
		}
		s.skip_overlap = busy;
		if (schedule_fire(t->api, &s, fired, t))
			return;
		add_report(t, id, s.slot_ms, "error", NULL, s.missed_total);
	}
	tick_end(t, true);
}

static void due_loaded(Pgq *q, void *priv)
{
	Tick *t = priv;

	if (!q->ok) {
		log_warn("scheduler: cannot read the due schedules: %s", q->err);
		pgq_free(q);
		tick_end(t, false);
		return;
	}
	t->due = q->res[0];
	q->res[0] = NULL; /* the tick owns the rows now */
	pgq_free(q);
	json_object_set_new(t->report, "due", json_integer(PQntuples(t->due)));
	fire_next(t);
}

bool scheduler_tick(Api *api, int64_t now_ms, TickDoneFn done, void *priv)
{
	char now[24], iso[32];
	Tick *t;
	Pgq *q = NULL;

	if (api->pg == NULL || (t = calloc(1, sizeof(*t))) == NULL)
		return false;
	t->api = api;
	t->now_ms = now_ms;
	t->done = done;
	t->priv = priv;
	schedule_iso_ms(now_ms, iso, sizeof(iso));
	snprintf(now, sizeof(now), "%lld", (long long)now_ms);
	t->report = json_pack("{s:s, s:i, s:[]}", "now", iso, "due", 0, "fired");
	if (t->report == NULL || (t->fired = json_object_get(t->report, "fired")) == NULL ||
	    (q = pgq_new()) == NULL || !pgq_add(q, sql_due, 1, (const char *[]){ now }) ||
	    !pgq_run(api->pg, q, due_loaded, t)) {
		pgq_free(q);
		json_decref(t->report);
		free(t);
		return false;
	}
	return true;
}

/* ---- the timer ---- */

static void arm(Scheduler *s)
{
	int ms = s->api->cfg.schedule_tick_ms;
	struct timeval tv = mstime_tv(ms);

	evtimer_add(s->timer, &tv);
}

static void ticked(json_t *report, void *priv)
{
	Scheduler *s = priv;
	json_t *e;
	size_t i;

	json_array_foreach (json_object_get(report, "fired"), i, e) {
		const char *o = json_string_value(json_object_get(e, "outcome"));

		if (strcmp(o, "taken") != 0 && strcmp(o, "queued") != 0)
			log_info("scheduler: schedule %s slot %s: %s%s%s",
				 json_string_value(json_object_get(e, "schedule_id")),
				 json_string_value(json_object_get(e, "scheduled_for")), o,
				 json_object_get(e, "batch_id") != NULL ? " as " : "",
				 json_object_get(e, "batch_id") != NULL
					 ? json_string_value(json_object_get(e, "batch_id"))
					 : "");
	}
	json_decref(report);
	s->ticking = false;
	if (s->api->pg != NULL) /* not while shutting down */
		arm(s);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	Scheduler *s = arg;

	(void)fd;
	(void)what;
	if (!s->ticking && s->api->pg != NULL) {
		s->ticking = true;
		if (scheduler_tick(s->api, mstime_wall(), ticked, s))
			return;
		s->ticking = false;
	}
	arm(s);
}

Scheduler *scheduler_new(Api *api)
{
	Scheduler *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->api = api;
	if (api->cfg.schedule_tick_ms <= 0)
		return s; /* this process leaves the slots to the others */
	if ((s->timer = evtimer_new(api->base, on_timer, s)) == NULL) {
		free(s);
		return NULL;
	}
	arm(s);
	return s;
}

void scheduler_free(Scheduler *s)
{
	if (s == NULL)
		return;
	if (s->timer != NULL)
		event_free(s->timer);
	free(s);
}
