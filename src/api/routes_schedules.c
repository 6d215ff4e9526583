/* routes_schedules.c - the /schedules endpoints: create, list, show, edit, delete, pause,
 * resume, run now, the runs of one, and a preview of a cron's next runs. Owner-only like
 * batches (admins see all; another user's schedule is a 404). A schedule is checked as
 * batch-execute checks a batch (validate.c: body, workflow, instances and grants,
 * placeholders, the window at now) when it is made or edited, and again at every run
 * (schedule_fire.c), since grants and workflows change. */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "log.h"
#include "mstime.h"
#include "pgq.h"
#include "schedule.h"
#include "submit.h"
#include "tz.h"

#define OWNER "($3::boolean OR s.user_id = $2::uuid)"

/* One schedule as the API shows it ($1 id, $2 user, $3 is admin); schedule_add_computed adds
 * cron_description and next_runs. */
#define SCHEDULE_COLS \
	"s.id, s.name, s.description, s.workflow_id, w.name AS workflow_name, s.user_id," \
	" s.instance_ids::text AS instance_ids, s.parameters::text AS parameters," \
	" s.instance_parameters::text AS instance_parameters, s.time_window::text AS \"window\"," \
	" s.cron, s.timezone, s.overlap, s.enabled, " PGQ_ISO( \
		"s.next_run_at") " AS next_run_at," \
				 " " PGQ_ISO("s.created_at") " AS created_at, " PGQ_ISO( \
					 "s.updated_at") " AS updated_at," \
							 " (SELECT json_build_object('scheduled_for', " PGQ_ISO( \
								 "r.scheduled_for") "," \
										    "    'outcome', r.outcome, 'batch_id', b.batch_id, 'status', b.status)" \
										    "    FROM schedule_runs r LEFT JOIN batch_executions b ON b.id = r.batch_execution_id" \
										    "   WHERE r.schedule_id = s.id ORDER BY r.scheduled_for DESC LIMIT 1) AS last_run," \
										    " coalesce(s.on_failure, '\"continue\"')::text AS on_failure"
#define SCHEDULE_TYPES "ssssssjjjjsssbsssjj"
#define SCHEDULE_FROM " FROM schedules s JOIN workflows w ON w.id = s.workflow_id"

static const char sql_get[] =
	"SELECT " SCHEDULE_COLS SCHEDULE_FROM " WHERE s.id = $1::uuid AND " OWNER;
static const char sql_list[] =
	"SELECT " SCHEDULE_COLS SCHEDULE_FROM " WHERE $1::text IS NULL AND " OWNER
	" ORDER BY s.created_at DESC, s.id LIMIT $4::integer OFFSET $5::integer";
static const char sql_count[] =
	"SELECT count(*) FROM schedules s WHERE $1::text IS NULL AND " OWNER;
/* The latest slot the schedule has run (Unix s, 0 for none): a new next_run_at comes after it
 * as well as after now, so that no edit makes a slot due twice. */
#define LAST_SLOT \
	"coalesce((SELECT extract(epoch FROM max(r.scheduled_for))::bigint FROM schedule_runs r" \
	"          WHERE r.schedule_id = s.id AND r.trigger = 'schedule'), 0)"
/* the stored members a PATCH merges onto, and the row version it must still find */
static const char sql_stored[] =
	"SELECT s.name, s.description, s.workflow_id, s.instance_ids::text, s.parameters::text,"
	"       s.instance_parameters::text, s.time_window::text, s.cron, s.timezone, s.enabled,"
	"       s.overlap, s.updated_at::text, " LAST_SLOT ", s.on_failure::text"
	"  FROM schedules s WHERE s.id = $1::uuid AND " OWNER;
/* $1 id, $2 user, $3 name ... $15 SCHEDULE_PER_USER_MAX (per user), $16 on_failure */
static const char sql_insert[] =
	"INSERT INTO schedules (id, user_id, name, description, workflow_id, instance_ids,"
	"                       parameters, instance_parameters, time_window, cron, timezone,"
	"                       overlap, enabled, next_run_at, on_failure)"
	" SELECT $1::uuid, $2::uuid, $3, $4, $5::uuid, $6::jsonb, $7::jsonb, $8::jsonb, $9::jsonb,"
	"        $10, $11, $12, $13::boolean, $14::timestamptz, $16::jsonb"
	"  WHERE (SELECT count(*) FROM schedules WHERE user_id = $2::uuid) < $15::integer";
/* $1 id, then the members as for the insert ($2 unused), $15 the version read, $16 on_failure */
static const char sql_update[] =
	"UPDATE schedules SET name = $3, description = $4, workflow_id = $5::uuid,"
	"       instance_ids = $6::jsonb, parameters = $7::jsonb, instance_parameters = $8::jsonb,"
	"       time_window = $9::jsonb, cron = $10, timezone = $11, overlap = $12,"
	"       enabled = $13::boolean, next_run_at = $14::timestamptz, on_failure = $16::jsonb,"
	"       updated_at = now()"
	" WHERE id = $1::uuid AND $2::text IS NULL AND updated_at = $15::timestamptz";
static const char sql_delete[] =
	"DELETE FROM schedules s WHERE s.id = $1::uuid AND " OWNER " RETURNING s.id";
static const char sql_pause[] =
	"UPDATE schedules s SET enabled = false, next_run_at = NULL, updated_at = now()"
	" WHERE s.id = $1::uuid AND " OWNER " AND s.enabled";
static const char sql_resume_read[] =
	"SELECT s.cron, s.timezone, s.enabled, s.updated_at::text, " LAST_SLOT " FROM schedules s"
	" WHERE s.id = $1::uuid AND " OWNER;
/* $4 next_run_at, $5 the version read */
static const char sql_resume[] =
	"UPDATE schedules s SET enabled = true, next_run_at = $4::timestamptz, updated_at = now()"
	" WHERE s.id = $1::uuid AND " OWNER " AND NOT s.enabled AND s.updated_at = $5::timestamptz";
static const char sql_runs[] = "SELECT " PGQ_ISO(
	"r.scheduled_for") " AS scheduled_for, r.outcome, r.trigger, r.reason,"
			   "       r.missed, r.refused::text AS refused_instances, b.batch_id, b.status,"
			   "       b.total_instances, b.completed_instances, b.failed_instances,"
			   "       " PGQ_ISO(
				   "r.created_at") " AS created_at"
						   "  FROM schedules s JOIN schedule_runs r ON r.schedule_id = s.id"
						   "  LEFT JOIN batch_executions b ON b.id = r.batch_execution_id"
						   " WHERE s.id = $1::uuid AND " OWNER
						   " ORDER BY r.scheduled_for DESC LIMIT $4::integer OFFSET $5::integer";
static const char sql_runs_count[] =
	"SELECT (SELECT count(*) FROM schedule_runs r WHERE r.schedule_id = s.id)"
	"  FROM schedules s WHERE s.id = $1::uuid AND " OWNER;
#define RUN_TYPES "ssssijssiiis"

/* Route state (r->ctx). */
typedef struct Sched {
	char id[IDS_UUID_LEN + 1]; /* drawn (POST) or from the path */
	ScheduleSpec spec;
	char version[64]; /* updated_at as read by a PATCH or resume */
	time_t last_slot; /* LAST_SLOT as read by a PATCH */
	bool patch;
} Sched;

static void sched_free(void *p)
{
	Sched *s = p;

	schedule_spec_clear(&s->spec);
	free(s);
}

static Sched *sched_new(Req *r)
{
	Sched *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		return NULL;
	}
	r->ctx = s;
	r->ctx_free = sched_free;
	return s;
}

static const char *admin(const Req *r)
{
	return r->is_admin ? "true" : "false";
}

static time_t now_s(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return tv.tv_sec;
}

/* Queues q with done; on failure replies 503 and frees r. */
static void run(Req *r, Pgq *q, void (*done)(Pgq *q, void *priv))
{
	if (q == NULL || !pgq_run(r->api->pg, q, done, r)) {
		pgq_free(q);
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
	}
}

/* One statement over (id, user, is admin), as a job. */
static Pgq *job3(Req *r, const char *sql, const char *id)
{
	Pgq *q = pgq_new();

	if (q != NULL && !pgq_add(q, sql, 3, (const char *[]){ id, r->user_id, admin(r) })) {
		pgq_free(q);
		return NULL;
	}
	return q;
}

static bool path_id(Req *r, char id[IDS_UUID_LEN + 1])
{
	if (!ids_is_uuid(r->segs[1])) {
		req_fail(r, 404, "schedule_not_found", NULL, "schedule not found");
		return false;
	}
	snprintf(id, IDS_UUID_LEN + 1, "%s", r->segs[1]);
	for (char *p = id; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p - 'A' + 'a');
	return true;
}

/* ---- show ---- */

static json_t *shape(const PGresult *res, int row)
{
	json_t *o = pgq_row_json(res, row, SCHEDULE_TYPES);

	if (o != NULL && !schedule_add_computed(o, now_s())) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Replies with the schedule of statement `st` of q (status 200/201), 404 when it has none. */
static void reply_one(Req *r, Pgq *q, int st, int status)
{
	json_t *o;

	if (!q->ok)
		pgq_fail(r, q);
	else if (PQntuples(q->res[st]) != 1)
		req_fail(r, 404, "schedule_not_found", NULL, "schedule %s not found", r->segs[1]);
	else if ((o = shape(q->res[st], 0)) == NULL)
		req_fail(r, 500, "internal", NULL, "out of memory");
	else
		req_success(r, status, json_pack("{s:o}", "schedule", o));
	pgq_free(q);
}

static void got(Pgq *q, void *priv)
{
	reply_one(priv, q, 0, 200);
}

void routes_schedules_get(Req *r)
{
	char id[IDS_UUID_LEN + 1];

	if (path_id(r, id))
		run(r, job3(r, sql_get, id), got);
}

static void listed(Pgq *q, void *priv)
{
	Req *r = priv;
	json_t *rows, *o;
	size_t i;

	if (!q->ok) {
		pgq_fail(r, q);
		pgq_free(q);
		return;
	}
	if ((rows = pgq_rows_json(q->res[0], SCHEDULE_TYPES)) == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		pgq_free(q);
		return;
	}
	json_array_foreach (rows, i, o) {
		/* the list shows the next run only: next_runs is 5 cron_next calls per schedule */
		if (!schedule_add_computed(o, now_s()))
			log_warn("schedule %s: stored cron unreadable",
				 json_string_value(json_object_get(o, "id")));
		json_object_del(o, "next_runs");
	}
	req_success(r, 200,
		    json_pack("{s:o, s:I}", "schedules", rows, "total",
			      (json_int_t)strtoll(PQgetvalue(q->res[1], 0, 0), NULL, 10)));
	pgq_free(q);
}

void routes_schedules_list(Req *r)
{
	long limit, offset;
	char sl[24], so[24];
	Pgq *q;

	if (!req_query_int(r, "limit", 50, 1, 200, &limit) ||
	    !req_query_int(r, "offset", 0, 0, 1000000, &offset))
		return;
	snprintf(sl, sizeof(sl), "%ld", limit);
	snprintf(so, sizeof(so), "%ld", offset);
	if ((q = pgq_new()) == NULL ||
	    !pgq_add(q, sql_list, 5, (const char *[]){ NULL, r->user_id, admin(r), sl, so }) ||
	    !pgq_add(q, sql_count, 3, (const char *[]){ NULL, r->user_id, admin(r) })) {
		pgq_free(q);
		req_fail(r, 500, "internal", NULL, "out of memory");
		return;
	}
	run(r, q, listed);
}

/* ---- create and edit ---- */

/* PostgreSQL array literal of x's instance UUIDs ({a,b}); malloc'd, NULL on OOM. */
static char *uuid_array(const json_t *ids)
{
	char *a = malloc(json_array_size(ids) * (IDS_UUID_LEN + 1) + 3);
	size_t i;
	json_t *id;

	if (a == NULL)
		return NULL;
	strcpy(a, "{");
	json_array_foreach (ids, i, id) {
		if (i > 0)
			strcat(a, ",");
		strcat(a, json_string_value(id));
	}
	strcat(a, "}");
	return a;
}

static void written(Pgq *q, void *priv)
{
	Req *r = priv;
	Sched *s = r->ctx;

	if (q->ok && PQcmdTuples(q->res[0])[0] == '0') {
		if (s->patch)
			req_fail(r, 409, "schedule_changed", NULL,
				 "schedule %s changed or was deleted meanwhile; read it and retry",
				 s->id);
		else
			req_fail(r, 409, "too_many_schedules", NULL,
				 "a user may have at most %d schedules", SCHEDULE_PER_USER_MAX);
		pgq_free(q);
		return;
	}
	reply_one(r, q, 1, s->patch ? 200 : 201);
}

/* Stores the checked schedule: the insert (POST) or the update (PATCH), then the row. */
static void write(Req *r)
{
	Sched *s = r->ctx;
	ScheduleSpec *sp = &s->spec;
	char next[32] = "", max[16], *ids, *params, *over, *win = NULL, *pol;
	json_t *wj = NULL;
	time_t t;
	Pgq *q = NULL;

	if (sp->enabled) {
		t = now_s();
		if (!cron_next(&sp->cron, sp->timezone, t > s->last_slot ? t : s->last_slot, &t)) {
			req_fail(r, 500, "internal", NULL, "cannot compute the next run");
			return;
		}
		schedule_iso_ms((int64_t)t * 1000, next, sizeof(next));
	}
	snprintf(max, sizeof(max), "%d", SCHEDULE_PER_USER_MAX);
	ids = json_dumps(sp->in.instance_ids, JSON_COMPACT);
	params = json_dumps(sp->in.params, JSON_COMPACT);
	over = json_dumps(sp->in.overrides, JSON_COMPACT);
	if (sp->in.has_window && (wj = window_json(&sp->in.window)) != NULL)
		win = json_dumps(wj, JSON_COMPACT);
	pol = schedule_policy_text(&sp->in);
	if (ids != NULL && params != NULL && over != NULL && (!sp->in.has_window || win != NULL) &&
	    (sp->in.on_failure == POLICY_CONTINUE || pol != NULL) && (q = pgq_new()) != NULL) {
		const char *p[16] = {
			s->id,
			s->patch ? NULL : r->user_id,
			sp->in.name,
			sp->in.description,
			sp->workflow_id,
			ids,
			params,
			over,
			win,
			sp->cron_text,
			sp->timezone,
			sp->overlap == OVERLAP_QUEUE ? "queue" : "skip",
			sp->enabled ? "true" : "false",
			sp->enabled ? next : NULL,
			s->patch ? s->version : max,
			pol,
		};

		if (!pgq_add(q, s->patch ? sql_update : sql_insert, 16, p) ||
		    !pgq_add(q, sql_get, 3, (const char *[]){ s->id, r->user_id, admin(r) })) {
			pgq_free(q);
			q = NULL;
		}
	}
	free(ids);
	free(params);
	free(over);
	free(win);
	free(pol);
	json_decref(wj);
	if (q == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		return;
	}
	if (!s->patch)
		log_info("schedule %s created by user %s: \"%s\" in %s", s->id, r->user_id,
			 sp->cron_text, sp->timezone);
	run(r, q, written);
}

/* The workflow and instances are there and the user may use them; the parameters fill every
 * placeholder and the window resolves (at now: each run resolves its own slot). */
static void checked(Pgq *q, void *priv)
{
	Req *r = priv;
	Sched *s = r->ctx;
	const PGresult *inst;
	ValidateInstance *known = NULL;
	const char **zones = NULL;
	json_t *wf_params = NULL, *merged = NULL, *id;
	ValidateErr e;
	size_t i;
	int n;

	if (!q->ok) {
		pgq_fail(r, q);
		goto out;
	}
	if (PQntuples(q->res[0]) != 1) {
		req_fail(r, 404, "workflow_not_found", "workflow_id", "workflow %s not found",
			 s->spec.workflow_id);
		goto out;
	}
	if (!submit_workflow_runnable(r, q->res[0]))
		goto out;
	inst = q->res[1];
	n = PQntuples(inst);
	known = calloc((size_t)n + 1, sizeof(*known));
	zones = calloc(json_array_size(s->spec.in.instance_ids) + 1, sizeof(*zones));
	if (known == NULL || zones == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	for (int k = 0; k < n; k++) {
		known[k].uuid = PQgetvalue(inst, k, 0);
		known[k].granted = PQgetvalue(inst, k, 8)[0] == 't';
	}
	if (!validate_exec_instances(&s->spec.in, known, (size_t)n, r->is_admin, &e)) {
		req_fail_err(r, &e);
		goto out;
	}
	json_array_foreach (s->spec.in.instance_ids, i, id) {
		for (int k = 0; k < n; k++)
			if (strcmp(known[k].uuid, json_string_value(id)) == 0)
				zones[i] = PQgetvalue(inst, k, 4);
	}
	wf_params = json_loads(PQgetvalue(q->res[0], 0, 1), 0, NULL);
	if (!validate_exec_params(&s->spec.in, PQgetvalue(q->res[0], 0, 0), wf_params, zones,
				  now_s(), &merged, NULL, &e)) {
		req_fail_err(r, &e);
		goto out;
	}
	if (!submit_check_types(r, &s->spec.in, q->res[0], merged))
		goto out;
	write(r);
out:
	json_decref(wf_params);
	json_decref(merged);
	free(known);
	free(zones);
	pgq_free(q);
}

/* Checks body as a whole schedule, then against PostgreSQL (checked, then write). */
static void check(Req *r, json_t *body)
{
	Sched *s = r->ctx;
	const ValidateLimits lim = {
		.max_body_bytes = (size_t)r->api->cfg.max_body_bytes,
		.max_instances = r->api->cfg.max_instances,
		.max_params_bytes = r->api->cfg.max_params_bytes,
		.window_lag_days = r->api->cfg.window_lag_days,
	};
	ValidateErr e;
	char *arr;
	Pgq *q;
	bool ok;

	if (!schedule_spec_check(body, &lim, &s->spec, &e)) {
		req_fail_err(r, &e);
		return;
	}
	if ((arr = uuid_array(s->spec.in.instance_ids)) == NULL || (q = pgq_new()) == NULL) {
		free(arr);
		req_fail(r, 500, "internal", NULL, "out of memory");
		return;
	}
	ok = pgq_add(q, submit_sql_workflow, 3,
		     (const char *[]){ s->spec.workflow_id, r->user_id, admin(r) }) &&
	     pgq_add(q, submit_sql_instances, 3, (const char *[]){ arr, r->user_id, admin(r) });
	free(arr);
	if (!ok) {
		pgq_free(q);
		req_fail(r, 500, "internal", NULL, "out of memory");
		return;
	}
	run(r, q, checked);
}

void routes_schedules_create(Req *r)
{
	Sched *s;

	if ((s = sched_new(r)) == NULL || !req_parse_body(r))
		return;
	if (!ids_uuid(s->id)) {
		req_fail(r, 500, "internal", NULL, "no random source");
		return;
	}
	check(r, r->body);
}

static void stored_loaded(Pgq *q, void *priv)
{
	Req *r = priv;
	Sched *s = r->ctx;
	const PGresult *res = q->res[0];
	json_t *body;
	const char *key;
	json_t *v;

	if (!q->ok) {
		pgq_fail(r, q);
		pgq_free(q);
		return;
	}
	if (PQntuples(res) != 1) {
		req_fail(r, 404, "schedule_not_found", NULL, "schedule %s not found", s->id);
		pgq_free(q);
		return;
	}
	snprintf(s->version, sizeof(s->version), "%s", PQgetvalue(res, 0, 11));
	s->last_slot = (time_t)strtoll(PQgetvalue(res, 0, 12), NULL, 10);
	body = schedule_stored_body(
		PQgetvalue(res, 0, 0), pgq_val(res, 0, 1), PQgetvalue(res, 0, 2),
		PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 5),
		pgq_val(res, 0, 6), PQgetvalue(res, 0, 7), PQgetvalue(res, 0, 8),
		PQgetvalue(res, 0, 9)[0] == 't', PQgetvalue(res, 0, 10), pgq_val(res, 0, 13));
	pgq_free(q);
	if (body == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		return;
	}
	/* the edit's members replace the stored ones; null clears an optional one */
	json_object_foreach (r->body, key, v) {
		if (json_object_set(body, key, v) != 0) {
			json_decref(body);
			req_fail(r, 500, "internal", NULL, "out of memory");
			return;
		}
	}
	check(r, body);
	json_decref(body);
}

void routes_schedules_patch(Req *r)
{
	Sched *s;
	ValidateErr e;

	if ((s = sched_new(r)) == NULL || !path_id(r, s->id) || !req_parse_body(r))
		return;
	if (!validate_known_fields(r->body, schedule_fields, &e)) {
		req_fail_err(r, &e);
		return;
	}
	s->patch = true;
	run(r, job3(r, sql_stored, s->id), stored_loaded);
}

/* ---- delete, pause, resume ---- */

static void deleted(Pgq *q, void *priv)
{
	Req *r = priv;

	if (!q->ok)
		pgq_fail(r, q);
	else if (PQntuples(q->res[0]) != 1)
		req_fail(r, 404, "schedule_not_found", NULL, "schedule %s not found", r->segs[1]);
	else {
		log_info("schedule %s deleted by user %s", PQgetvalue(q->res[0], 0, 0), r->user_id);
		req_success(r, 200, json_pack("{s:s}", "deleted", PQgetvalue(q->res[0], 0, 0)));
	}
	pgq_free(q);
}

void routes_schedules_delete(Req *r)
{
	char id[IDS_UUID_LEN + 1];

	if (path_id(r, id))
		run(r, job3(r, sql_delete, id), deleted);
}

/* pause and resume answer with the schedule as it is now, whether they changed it or it
 * already was so (both are idempotent) */
static void toggled(Pgq *q, void *priv)
{
	reply_one(priv, q, q->nstmts - 1, 200);
}

void routes_schedules_pause(Req *r)
{
	char id[IDS_UUID_LEN + 1];
	Pgq *q;

	if (!path_id(r, id))
		return;
	if ((q = job3(r, sql_pause, id)) != NULL &&
	    !pgq_add(q, sql_get, 3, (const char *[]){ id, r->user_id, admin(r) })) {
		pgq_free(q);
		q = NULL;
	}
	run(r, q, toggled);
}

static void resume_read(Pgq *q, void *priv)
{
	Req *r = priv;
	Sched *s = r->ctx;
	const PGresult *res = q->res[0];
	char err[200], next[32];
	Pgq *w;
	Cron c;
	time_t t = now_s(), last;

	if (!q->ok || PQntuples(res) != 1 || PQgetvalue(res, 0, 2)[0] == 't') {
		/* an error, none, or running already: answer as it is */
		reply_one(r, q, 1, 200);
		return;
	}
	/* from now on: the slots while it was paused are not missed, they were not wanted */
	last = (time_t)strtoll(PQgetvalue(res, 0, 4), NULL, 10);
	if (!cron_parse(PQgetvalue(res, 0, 0), &c, err, sizeof(err)) ||
	    !cron_next(&c, PQgetvalue(res, 0, 1), t > last ? t : last, &t)) {
		req_fail(r, 500, "internal", NULL, "stored cron unreadable");
		pgq_free(q);
		return;
	}
	schedule_iso_ms((int64_t)t * 1000, next, sizeof(next));
	if ((w = pgq_new()) != NULL &&
	    (!pgq_add(w, sql_resume, 5,
		      (const char *[]){ s->id, r->user_id, admin(r), next,
					PQgetvalue(res, 0, 3) }) ||
	     !pgq_add(w, sql_get, 3, (const char *[]){ s->id, r->user_id, admin(r) }))) {
		pgq_free(w);
		w = NULL;
	}
	pgq_free(q);
	run(r, w, toggled);
}

void routes_schedules_resume(Req *r)
{
	Sched *s;
	Pgq *q;

	if ((s = sched_new(r)) == NULL || !path_id(r, s->id))
		return;
	if ((q = job3(r, sql_resume_read, s->id)) != NULL &&
	    !pgq_add(q, sql_get, 3, (const char *[]){ s->id, r->user_id, admin(r) })) {
		pgq_free(q);
		q = NULL;
	}
	run(r, q, resume_read);
}

/* ---- run now ---- */

static void ran(const FireResult *res, void *priv)
{
	Req *r = priv;
	json_t *body;

	switch (res->outcome) {
	case FIRE_STARTED:
		body = json_deep_copy(res->created);
		if (body == NULL) {
			req_fail(r, 500, "internal", NULL, "out of memory");
			return;
		}
		json_object_set_new(body, "refused_instances",
				    res->refused != NULL ? json_deep_copy(res->refused)
							 : json_array());
		req_reply(r, 201, body);
		return;
	case FIRE_FAILED:
		req_fail_err(r, &res->err);
		return;
	case FIRE_GONE:
		req_fail(r, 404, "schedule_not_found", NULL, "schedule %s not found", r->segs[1]);
		return;
	case FIRE_TAKEN:
	case FIRE_SKIPPED:
		req_fail(r, 409, "schedule_busy", NULL, "the schedule changed meanwhile; retry");
		return;
	case FIRE_ERROR:
		break;
	}
	req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
}

static void owned_then_run(Pgq *q, void *priv)
{
	Req *r = priv;
	FireSpec spec;

	if (!q->ok) {
		pgq_fail(r, q);
		pgq_free(q);
		return;
	}
	if (PQntuples(q->res[0]) != 1) {
		req_fail(r, 404, "schedule_not_found", NULL, "schedule %s not found", r->segs[1]);
		pgq_free(q);
		return;
	}
	pgq_free(q);
	memset(&spec, 0, sizeof(spec));
	snprintf(spec.schedule_id, sizeof(spec.schedule_id), "%s", ((Sched *)r->ctx)->id);
	spec.slot_ms = mstime_wall();
	spec.manual = true;
	if (!schedule_fire(r->api, &spec, ran, r))
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
}

void routes_schedules_run_now(Req *r)
{
	Sched *s;

	if ((s = sched_new(r)) == NULL || !path_id(r, s->id) || !submit_redis_ready(r))
		return;
	run(r, job3(r, sql_resume_read, s->id), owned_then_run);
}

/* ---- runs ---- */

static void runs_done(Pgq *q, void *priv)
{
	Req *r = priv;
	json_t *rows;

	if (!q->ok)
		pgq_fail(r, q);
	else if (PQntuples(q->res[1]) != 1)
		req_fail(r, 404, "schedule_not_found", NULL, "schedule %s not found", r->segs[1]);
	else if ((rows = pgq_rows_json(q->res[0], RUN_TYPES)) == NULL)
		req_fail(r, 500, "internal", NULL, "out of memory");
	else
		req_success(r, 200,
			    json_pack("{s:o, s:I}", "runs", rows, "total",
				      (json_int_t)strtoll(PQgetvalue(q->res[1], 0, 0), NULL, 10)));
	pgq_free(q);
}

void routes_schedules_runs(Req *r)
{
	char id[IDS_UUID_LEN + 1], sl[24], so[24];
	long limit, offset;
	Pgq *q;

	if (!path_id(r, id) || !req_query_int(r, "limit", 50, 1, 500, &limit) ||
	    !req_query_int(r, "offset", 0, 0, 1000000, &offset))
		return;
	snprintf(sl, sizeof(sl), "%ld", limit);
	snprintf(so, sizeof(so), "%ld", offset);
	if ((q = pgq_new()) == NULL ||
	    !pgq_add(q, sql_runs, 5, (const char *[]){ id, r->user_id, admin(r), sl, so }) ||
	    !pgq_add(q, sql_runs_count, 3, (const char *[]){ id, r->user_id, admin(r) })) {
		pgq_free(q);
		q = NULL;
	}
	run(r, q, runs_done);
}

/* ---- preview ---- */

/* "2026-12-07T05:00:00Z" (seconds, Z) or Unix seconds. */
static bool parse_instant(const char *s, time_t *out)
{
	struct tm tm = { 0 };
	char *end;
	long long v;
	int n = 0;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) == 6 &&
	    s[n] == '\0') {
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		*out = timegm(&tm);
		return tm.tm_mon >= 0 && tm.tm_mon < 12 && tm.tm_mday >= 1 && tm.tm_mday <= 31;
	}
	v = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 0 || v > 32503680000LL)
		return false;
	*out = (time_t)v;
	return true;
}

void routes_schedules_preview(Req *r)
{
	const char *cron = req_query(r, "cron"), *zone = req_query(r, "timezone");
	const char *from = req_query(r, "from");
	char err[200], text[CRON_DESCRIBE_MAX + FIELDLEN_TIMEZONE + 4];
	json_t *runs;
	long count;
	time_t after = now_s();
	Cron c;

	if (!req_query_int(r, "count", SCHEDULE_NEXT_RUNS, 1, 100, &count))
		return;
	if (cron == NULL || *cron == '\0') {
		req_fail(r, 400, "missing_parameter", "cron", "cron is required");
		return;
	}
	if (strlen(cron) > CRON_EXPR_MAX || !cron_parse(cron, &c, err, sizeof(err))) {
		req_fail(r, 422, "invalid_cron", "cron", "%s",
			 strlen(cron) > CRON_EXPR_MAX ? "cron is too long" : err);
		return;
	}
	if (zone == NULL || *zone == '\0')
		zone = "UTC";
	if (!tz_valid(zone)) {
		req_fail(r, 422, "invalid_timezone", "timezone",
			 "timezone must be an IANA time zone such as Europe/Berlin");
		return;
	}
	if (from != NULL && *from != '\0' && !parse_instant(from, &after)) {
		req_fail(
			r, 400, "invalid_parameter", "from",
			"from must be an ISO-8601 UTC time (2026-03-29T00:00:00Z) or Unix seconds");
		return;
	}
	schedule_describe(&c, zone, text, sizeof(text));
	if ((runs = schedule_next_runs(&c, zone, after, (int)count)) == NULL) {
		req_fail(r, 500, "internal", NULL, "cannot compute the next runs");
		return;
	}
	req_success(r, 200,
		    json_pack("{s:s, s:s, s:s, s:o}", "cron", cron, "timezone", zone,
			      "cron_description", text, "next_runs", runs));
}

/* ---- the admin trigger ---- */

static void ticked(json_t *report, void *priv)
{
	Req *r = priv;

	if (report == NULL)
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
	else
		req_success(r, 200, report);
}

void routes_schedules_tick(Req *r)
{
	const char *now;
	time_t t;
	int64_t ms;

	if (!req_parse_body(r) || !req_opt_string(r, "now", 40, &now))
		return;
	ms = mstime_wall();
	if (now != NULL) {
		if (!r->api->cfg.schedule_test_clock) {
			req_fail(r, 403, "test_clock_disabled", "now",
				 "\"now\" is for tests: set schedule_test_clock = true to use it");
			return;
		}
		if (!parse_instant(now, &t)) {
			req_fail(r, 400, "invalid_value", "now",
				 "now must be an ISO-8601 UTC time such as 2026-03-29T01:00:00Z");
			return;
		}
		ms = (int64_t)t * 1000;
	}
	if (!scheduler_tick(r->api, ms, ticked, r))
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
}
