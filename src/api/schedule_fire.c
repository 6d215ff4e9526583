/* schedule_fire.c - one slot of a schedule made into one batch: read the schedule, its
 * workflow and its instances with the owner's grants as they are now (a grant revoked since
 * the schedule was made refuses that instance in this run, and the rest run), check what is
 * left exactly as batch-execute does, resolve the relative window at the slot, then one
 * transaction: amcbatch_schedule_claim (the slot is this process's, or the transaction fails
 * and stores nothing), the missed slots, the batch (submit_add_store), the run record, the
 * 201 body and the enqueue arguments. Then Redis, through enqueue.c as for every batch. */
#include "schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enqueue.h"
#include "log.h"
#include "pgq.h"
#include "submit.h"
#include "tz.h"
#include "utf8.h"

/* $1 schedule id */
static const char sql_schedule[] =
	"SELECT s.user_id, u.role = 'admin', s.name, s.description, s.workflow_id,"
	"       s.instance_ids::text, s.parameters::text, s.instance_parameters::text,"
	"       s.time_window::text, s.cron, s.timezone, s.enabled, s.overlap,"
	"       coalesce((extract(epoch FROM s.next_run_at) * 1000)::bigint, 0), s.on_failure::text"
	"  FROM schedules s JOIN users u ON u.id = s.user_id WHERE s.id = $1::uuid";
/* the workflow as the owner may run it now (their own, shared with them to run, or any for an
 * admin owner, as on batch-execute), unless archived */
static const char sql_workflow[] =
	"SELECT w.sql_query, w.parameters::text, w.parameter_types::text"
	"  FROM schedules s JOIN users u ON u.id = s.user_id JOIN workflows w ON w.id = s.workflow_id"
	" WHERE s.id = $1::uuid AND w.archived_at IS NULL"
	"   AND (u.role = 'admin' OR w.user_id = s.user_id OR EXISTS (SELECT 1 FROM workflow_shares ws"
	"        WHERE ws.workflow_id = w.id AND ws.user_id = s.user_id AND ws.permission = 'run'))";
/* the schedule's instances that still exist, in its order, in the layout submit_add_store
 * takes; the grant is the owner's, now, and a disabled instance (sql/014) is no one's; 9 says
 * whether it is disabled, for the refusal's words */
static const char sql_instances[] =
	"SELECT i.id, i.instance_id, i.instance_name, i.region, i.timezone, a.id,"
	"       a.advertiser_id, a.marketplace_id,"
	"       (i.disabled_at IS NULL AND (u.role = 'admin' OR EXISTS (SELECT 1 FROM instance_access g"
	"          WHERE g.instance_id = i.id AND g.user_id = s.user_id))),"
	"       i.disabled_at IS NOT NULL"
	"  FROM schedules s JOIN users u ON u.id = s.user_id"
	"  CROSS JOIN LATERAL jsonb_array_elements_text(s.instance_ids) WITH ORDINALITY AS x(v, ord)"
	"  JOIN instances i ON i.id = x.v::uuid JOIN amc_accounts a ON a.id = i.account_id"
	" WHERE s.id = $1::uuid ORDER BY x.ord";

static const char sql_claim[] =
	"SELECT amcbatch_schedule_claim($1::uuid, $2::timestamptz, $3::timestamptz,"
	"                               $4::timestamptz, $5::uuid)";
static const char sql_missed[] =
	"INSERT INTO schedule_runs (schedule_id, scheduled_for, outcome, reason)"
	" SELECT $1::uuid, t, 'skipped', 'missed' FROM unnest($2::timestamptz[]) AS t"
	" ON CONFLICT DO NOTHING";
/* Skipped slots tell the owner's webhooks subscribed to schedule.run_skipped (sql/009), once
 * per firing: $2 the (latest) slot skipped, $3 reason missed|overlap, $4 how many, $5 the
 * words. In the firing transaction: the event exists exactly when the skip was recorded. */
static const char sql_emit_skipped[] =
	"SELECT amcbatch_webhook_emit(s.user_id, 'schedule.run_skipped', jsonb_build_object("
	"  'schedule_id', s.id, 'schedule_name', s.name, 'scheduled_for', $2::text,"
	"  'reason', $3::text, 'skipped', $4::integer, 'message', $5::text))"
	"  FROM schedules s WHERE s.id = $1::uuid";
/* (a re-run after a lost COMMIT answer finds its own row) */
static const char sql_run[] =
	"INSERT INTO schedule_runs (schedule_id, scheduled_for, outcome, trigger, reason,"
	"                           batch_execution_id, refused, missed)"
	" VALUES ($1::uuid, $2::timestamptz, $3, $4, $5, $6::uuid, $7::jsonb, $8::integer)"
	" ON CONFLICT DO NOTHING";

typedef struct Fire {
	Api *api;
	FireSpec spec;
	FireDoneFn done;
	void *priv;
	Execute *x;      /* the batch being made (submit_free) */
	json_t *refused; /* [{instance_id, code, message}] (owned) */
	json_t *created; /* the 201 body once stored (owned) */
	FireResult res;
	int st_body; /* statement index of the 201 body; the payload follows */
} Fire;

static void fire_end(Fire *f, FireOutcome outcome)
{
	f->res.outcome = outcome;
	f->res.created = f->created;
	f->res.refused = f->refused;
	f->done(&f->res, f->priv);
	if (f->x != NULL)
		submit_free(f->x);
	json_decref(f->refused);
	json_decref(f->created);
	free(f);
}

static void set_err(Fire *f, int status, const char *code, const char *msg)
{
	f->res.err.status = status;
	snprintf(f->res.err.code, sizeof(f->res.err.code), "%s", code);
	f->res.err.field[0] = '\0';
	snprintf(f->res.err.message, sizeof(f->res.err.message), "%s", msg);
}

/* PostgreSQL array literal of the missed slots: {"...","..."} (malloc'd, caller frees). */
static char *missed_array(const FireSpec *s)
{
	char *a = malloc((size_t)s->nmissed * 35 + 3), iso[32];

	if (a == NULL)
		return NULL;
	strcpy(a, "{");
	for (int i = 0; i < s->nmissed; i++) {
		schedule_iso_ms(s->missed_ms[i], iso, sizeof(iso));
		sprintf(a + strlen(a), "%s\"%s\"", i > 0 ? "," : "", iso);
	}
	strcat(a, "}");
	return a;
}

static bool add_emit(Pgq *q, const FireSpec *s, int64_t slot_ms, const char *reason, int n)
{
	char slot[32], count[16], words[160];

	schedule_iso_ms(slot_ms, slot, sizeof(slot));
	snprintf(count, sizeof(count), "%d", n);
	if (strcmp(reason, "overlap") == 0)
		snprintf(words, sizeof(words), "the previous run was still going");
	else
		snprintf(words, sizeof(words),
			 "%d slot%s passed while no API process ran the schedule; "
			 "the latest one runs instead",
			 n, n == 1 ? "" : "s");
	return pgq_add(q, sql_emit_skipped, 5,
		       (const char *[]){ s->schedule_id, slot, reason, count, words });
}

/* Adds the claim and the missed slots: the head of every firing transaction. batch: the
 * UUID of the batch it stores, NULL for a run without one. */
static bool add_claim(Pgq *q, const Fire *f, const char *batch)
{
	char slot[32], expected[32], next[32], *missed;
	const FireSpec *s = &f->spec;
	bool ok;

	schedule_iso_ms(s->slot_ms, slot, sizeof(slot));
	schedule_iso_ms(s->expected_ms, expected, sizeof(expected));
	schedule_iso_ms(s->next_ms, next, sizeof(next));
	if (!pgq_add(q, sql_claim, 5,
		     (const char *[]){ s->schedule_id, slot, s->manual ? NULL : expected,
				       s->manual ? NULL : next, batch }))
		return false;
	if (s->nmissed == 0)
		return true;
	if ((missed = missed_array(s)) == NULL)
		return false;
	ok = pgq_add(q, sql_missed, 2, (const char *[]){ s->schedule_id, missed }) &&
	     add_emit(q, s, s->missed_ms[s->nmissed - 1], "missed", s->missed_total);
	free(missed);
	return ok;
}

static bool add_run(Pgq *q, const Fire *f, const char *outcome, const char *reason,
		    const char *batch)
{
	char slot[32], missed[16], *refused = NULL;
	bool ok;

	schedule_iso_ms(f->spec.slot_ms, slot, sizeof(slot));
	snprintf(missed, sizeof(missed), "%d", f->spec.missed_total);
	if (f->refused != NULL && json_array_size(f->refused) > 0 &&
	    (refused = json_dumps(f->refused, JSON_COMPACT)) == NULL)
		return false;
	ok = pgq_add(q, sql_run, 8,
		     (const char *[]){ f->spec.schedule_id, slot, outcome,
				       f->spec.manual ? "manual" : "schedule", reason, batch,
				       refused, missed });
	free(refused);
	return ok;
}

static FireOutcome failed_outcome(const Pgq *q)
{
	if (strcmp(q->sqlstate, "ABS01") == 0 || strcmp(q->sqlstate, "23505") == 0)
		return FIRE_TAKEN; /* another process has the slot, or the schedule changed */
	return FIRE_ERROR;
}

static void recorded(Pgq *q, void *priv)
{
	Fire *f = priv;
	FireOutcome o = f->spec.skip_overlap ? FIRE_SKIPPED : FIRE_FAILED;

	if (!q->ok) {
		log_warn("schedule %s: the run of its slot was not recorded: %s",
			 f->spec.schedule_id, q->err);
		o = failed_outcome(q);
	}
	pgq_free(q);
	fire_end(f, o);
}

/* Records the slot without a batch: skipped (overlap) or failed (f->res.err says why). A
 * manual run records nothing: its caller gets the error. */
static void record(Fire *f)
{
	Pgq *q;
	const char *outcome = f->spec.skip_overlap ? "skipped" : "failed";
	const char *reason = f->spec.skip_overlap ? "overlap" : f->res.err.message;

	if (f->spec.manual) {
		fire_end(f, FIRE_FAILED);
		return;
	}
	if ((q = pgq_new()) == NULL || !add_claim(q, f, NULL) ||
	    !add_run(q, f, outcome, reason, NULL) || !pgq_run(f->api->pg, q, recorded, f)) {
		pgq_free(q);
		fire_end(f, FIRE_ERROR);
	}
}

static void enqueued(EnqueueOutcome outcome, void *priv)
{
	Fire *f = priv;

	if (outcome != ENQUEUE_DONE) /* stored means accepted: the janitor enqueues it */
		log_warn("schedule %s: batch %s stored, not enqueued: left to the enqueue janitor",
			 f->spec.schedule_id, f->res.batch_id);
	fire_end(f, FIRE_STARTED);
}

static void stored(Pgq *q, void *priv)
{
	Fire *f = priv;

	if (!q->ok) {
		FireOutcome o = failed_outcome(q);

		if (o == FIRE_ERROR)
			log_error("schedule %s: storing the batch of its slot failed: %s",
				  f->spec.schedule_id, q->err);
		pgq_free(q);
		fire_end(f, o);
		return;
	}
	if (PQntuples(q->res[f->st_body]) != 1 || PQntuples(q->res[f->st_body + 1]) != 1 ||
	    (f->created = json_loads(PQgetvalue(q->res[f->st_body], 0, 0), 0, NULL)) == NULL) {
		log_error("schedule %s: batch %s stored, its body unreadable", f->spec.schedule_id,
			  f->x->batch_uuid);
		pgq_free(q);
		fire_end(f, FIRE_ERROR);
		return;
	}
	snprintf(f->res.batch_id, sizeof(f->res.batch_id), "%s",
		 PQgetvalue(q->res[f->st_body + 1], 0, 1));
	log_info("schedule %s: batch %s started for its slot (%zu instances, %zu refused)",
		 f->spec.schedule_id, f->res.batch_id, f->x->total,
		 f->refused != NULL ? json_array_size(f->refused) : 0);
	/* committed: the batch runs, whatever Redis does now (enqueue copies the row) */
	if (!enqueue_start(f->api, q->res[f->st_body + 1], 0, ENQUEUE_BUDGET_MS, enqueued, f))
		enqueued(ENQUEUE_UNREACHABLE, f);
	pgq_free(q);
}

/* owner: the schedule's user, who owns the batch */
static void store(Fire *f, const char *owner, const PGresult *inst)
{
	Execute *x = f->x;
	Pgq *q = pgq_new();

	if (q == NULL || !ids_uuid(x->batch_uuid) || !add_claim(q, f, x->batch_uuid) ||
	    submit_add_store(q, x, owner, inst) < 0)
		goto fail;
	if (!add_run(q, f, "started", NULL, x->batch_uuid))
		goto fail;
	f->st_body = q->nstmts;
	if (!pgq_add(q, submit_sql_created_body, 1, (const char *[]){ x->batch_uuid }) ||
	    !pgq_add(q, submit_sql_payload, 1, (const char *[]){ x->batch_uuid }) ||
	    !pgq_run(f->api->pg, q, stored, f))
		goto fail;
	return;
fail:
	pgq_free(q);
	fire_end(f, FIRE_ERROR);
}

/* "<name> · 2026-12-07 06:00" in the schedule's zone: each run's batch tells its slot. */
static char *batch_name(const char *name, const char *zone, int64_t slot_ms)
{
	char cut[VALIDATE_NAME_MAX - 20 + 1], *out; /* room for the slot */
	TzLocal l;

	if (!tz_local(zone, (time_t)(slot_ms / 1000), &l))
		return strdup(name);
	utf8_copy(cut, sizeof(cut), name);
	if ((out = malloc(VALIDATE_NAME_MAX + 1)) != NULL)
		snprintf(out, VALIDATE_NAME_MAX + 1, "%s \xc2\xb7 %04d-%02d-%02d %02d:%02d", cut,
			 l.year, l.month, l.day, l.hour, l.minute);
	return out;
}

static bool refuse(Fire *f, const char *uuid, const char *code, const char *msg)
{
	return json_array_append_new(f->refused, json_pack("{s:s, s:s, s:s}", "instance_id", uuid,
							   "code", code, "message", msg)) == 0;
}

static void loaded(Pgq *q, void *priv)
{
	Fire *f = priv;
	const PGresult *s, *wf, *inst;
	const ValidateLimits lim = {
		.max_body_bytes = (size_t)f->api->cfg.max_body_bytes,
		.max_instances = f->api->cfg.max_instances,
		.max_params_bytes = f->api->cfg.max_params_bytes,
		.window_lag_days = f->api->cfg.window_lag_days,
	};
	json_t *ids = NULL, *granted = NULL, *over = NULL, *body = NULL, *id, *wf_params = NULL;
	const char **zones = NULL;
	ScheduleSpec spec;
	Execute *x;
	char msg[300];
	size_t i;
	bool ok;

	memset(&spec, 0, sizeof(spec));
	if (!q->ok) {
		log_warn("schedule %s: cannot load it to fire a slot: %s", f->spec.schedule_id,
			 q->err);
		pgq_free(q);
		fire_end(f, FIRE_ERROR);
		return;
	}
	s = q->res[0];
	wf = q->res[1];
	inst = q->res[2];
	if (PQntuples(s) != 1) {
		pgq_free(q);
		fire_end(f, FIRE_GONE);
		return;
	}
	if (!f->spec.manual && (PQgetvalue(s, 0, 11)[0] != 't' ||
				strtoll(PQgetvalue(s, 0, 13), NULL, 10) != f->spec.expected_ms)) {
		pgq_free(q);
		fire_end(f, FIRE_TAKEN); /* paused, edited, or fired by another process */
		return;
	}
	if (PQntuples(wf) != 1) {
		set_err(f, 404, "workflow_not_found",
			"the workflow no longer exists or no longer belongs to the owner");
		goto refused;
	}
	ids = json_loads(PQgetvalue(s, 0, 5), 0, NULL);
	over = json_loads(PQgetvalue(s, 0, 7), 0, NULL);
	granted = json_array();
	if ((f->refused = json_array()) == NULL || granted == NULL || !json_is_array(ids))
		goto oom;
	/* the owner's grants as they are now: a revoked one refuses that instance, clearly */
	json_array_foreach (ids, i, id) {
		int row = -1;

		for (int k = 0; k < PQntuples(inst); k++)
			if (strcmp(PQgetvalue(inst, k, 0), json_string_value(id)) == 0)
				row = k;
		if (row < 0)
			ok = refuse(f, json_string_value(id), "instance_not_found",
				    "the instance no longer exists");
		else if (PQgetvalue(inst, row, 8)[0] != 't')
			ok = refuse(f, json_string_value(id), "instance_access_denied",
				    PQgetvalue(inst, row, 9)[0] == 't'
					    ? "the instance is disabled"
					    : "the owner no longer has access to this instance");
		else
			ok = json_array_append(granted, id) == 0;
		if (!ok)
			goto oom;
	}
	if (json_array_size(granted) == 0) {
		snprintf(msg, sizeof(msg), "no instance left to run: all %zu refused (see refused)",
			 json_array_size(ids));
		set_err(f, 403, "instance_access_denied", msg);
		goto refused;
	}
	/* the overrides of refused instances go with them */
	if (json_is_object(over)) {
		const char *key;
		json_t *v, *kept = json_object();

		json_object_foreach (over, key, v) {
			bool keep = false;

			json_array_foreach (granted, i, id)
				keep |= strcmp(json_string_value(id), key) == 0;
			if (keep && (kept == NULL || json_object_set(kept, key, v) != 0))
				goto oom;
		}
		json_decref(over);
		over = kept;
	}
	body = schedule_stored_body(PQgetvalue(s, 0, 2), pgq_val(s, 0, 3), PQgetvalue(s, 0, 4),
				    NULL, PQgetvalue(s, 0, 6), NULL, pgq_val(s, 0, 8),
				    PQgetvalue(s, 0, 9), PQgetvalue(s, 0, 10), true,
				    PQgetvalue(s, 0, 12), pgq_val(s, 0, 14));
	if (body == NULL || json_object_set(body, "instance_ids", granted) != 0 ||
	    (over != NULL && json_object_set(body, "instance_parameters", over) != 0))
		goto oom;
	if (!schedule_spec_check(body, &lim, &spec, &f->res.err))
		goto refused;
	/* one zone per instance, run order (every granted id has a row) */
	if ((zones = calloc(json_array_size(granted), sizeof(*zones))) == NULL)
		goto oom;
	json_array_foreach (granted, i, id) {
		for (int k = 0; k < PQntuples(inst); k++)
			if (strcmp(PQgetvalue(inst, k, 0), json_string_value(id)) == 0)
				zones[i] = PQgetvalue(inst, k, 4);
	}
	if ((x = calloc(1, sizeof(*x))) == NULL)
		goto oom;
	f->x = x;
	x->in = spec.in; /* the Execute owns the request now */
	memset(&spec.in, 0, sizeof(spec.in));
	snprintf(x->workflow_id, sizeof(x->workflow_id), "%s", spec.workflow_id);
	snprintf(x->schedule_uuid, sizeof(x->schedule_uuid), "%s", f->spec.schedule_id);
	schedule_iso_ms(f->spec.slot_ms, x->scheduled_for, sizeof(x->scheduled_for));
	wf_params = json_loads(PQgetvalue(wf, 0, 1), 0, NULL);
	x->windows = calloc(json_array_size(granted), sizeof(*x->windows));
	if (x->windows == NULL || (x->sql_query = strdup(PQgetvalue(wf, 0, 0))) == NULL)
		goto oom;
	/* the relative window of each run is resolved at its slot, not when it happens to fire:
	 * a Monday 06:00 run that fires late still reports the week before that Monday */
	if (!validate_exec_params(&x->in, x->sql_query, wf_params, zones,
				  (time_t)(f->spec.slot_ms / 1000), &x->merged, x->windows,
				  &f->res.err))
		goto refused;
	/* the types may have changed since the schedule was checked */
	if (!submit_types_valid(&x->in, PQgetvalue(wf, 0, 2), x->merged, &f->res.err))
		goto refused;
	if ((x->own_name = batch_name(PQgetvalue(s, 0, 2), PQgetvalue(s, 0, 10),
				      f->spec.slot_ms)) == NULL)
		goto oom;
	x->in.name = x->own_name;
	store(f, PQgetvalue(s, 0, 0), inst);
	goto out;
oom:
	set_err(f, 500, "internal", "out of memory");
	log_error("schedule %s: out of memory firing a slot", f->spec.schedule_id);
	fire_end(f, FIRE_ERROR);
	f = NULL;
	goto out;
refused:
	log_warn("schedule %s: its run is refused: %s", f->spec.schedule_id, f->res.err.message);
	record(f);
out:
	schedule_spec_clear(&spec);
	json_decref(ids);
	json_decref(granted);
	json_decref(over);
	json_decref(body);
	json_decref(wf_params);
	free(zones);
	pgq_free(q);
}

bool schedule_fire(Api *api, const FireSpec *spec, FireDoneFn done, void *priv)
{
	Fire *f;
	Pgq *q;

	if (api->pg == NULL || (f = calloc(1, sizeof(*f))) == NULL)
		return false;
	f->api = api;
	f->spec = *spec;
	f->done = done;
	f->priv = priv;
	if (spec->skip_overlap) {
		/* nothing to load: the slot is only recorded (async: done is never called from
		 * inside schedule_fire) */
		if ((q = pgq_new()) == NULL || !add_claim(q, f, NULL) ||
		    !add_run(q, f, "skipped", "overlap", NULL) ||
		    !add_emit(q, spec, spec->slot_ms, "overlap", 1) ||
		    !pgq_run(api->pg, q, recorded, f)) {
			pgq_free(q);
			free(f);
			return false;
		}
		return true;
	}
	if ((q = pgq_new()) == NULL ||
	    !pgq_add(q, sql_schedule, 1, (const char *[]){ spec->schedule_id }) ||
	    !pgq_add(q, sql_workflow, 1, (const char *[]){ spec->schedule_id }) ||
	    !pgq_add(q, sql_instances, 1, (const char *[]){ spec->schedule_id }) ||
	    !pgq_run(api->pg, q, loaded, f)) {
		pgq_free(q);
		free(f);
		return false;
	}
	return true;
}
