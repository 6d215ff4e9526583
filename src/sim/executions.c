/* executions.c - execution records and their lifecycle. Every transition is one function
 * that checks the current state first. SQL runs through pgpool (sqlrun.c); this file only
 * decides when. Records are never freed before shutdown: pool jobs may point at them. */
#include "executions.h"

#include <stdlib.h>
#include <string.h>

#include "htab.h"
#include "log.h"
#include "mstime.h"
#include "sqlrun.h"

const char *const exec_status_name[] = {
	[EXEC_PENDING] = "PENDING", [EXEC_RUNNING] = "RUNNING",     [EXEC_SUCCEEDED] = "SUCCEEDED",
	[EXEC_FAILED] = "FAILED",   [EXEC_CANCELLED] = "CANCELLED",
};

struct Inst {
	char id[DATA_INSTANCE_MAX + 1];
	Exec **execs; /* creation order (seq ascending); owns the records */
	size_t n, cap;
	int running;
	Exec *qhead, *qtail; /* PENDING executions past their dwell, waiting for a slot */
	bool blocked;        /* in its head's account's blocked list */
	Inst *bnext;
};

/* An account (AdvertiserId) counts RUNNING executions over all its instances. Instances
 * whose queue head waits only for an account slot wait in `blocked`, in order, so a freed
 * slot goes to them without scanning every instance. */
struct Acct {
	char id[EXEC_ACCOUNT_MAX + 1];
	int running;
	Inst *bhead, *btail;
	size_t nblocked;
};

struct ExecStore {
	struct event_base *base;
	PgPool *pool;
	ProfileStore *profiles; /* borrowed */
	ExecSettings set;
	HTab *by_id; /* id -> Exec (borrowed from Inst) */
	HTab *insts; /* instance id -> Inst (owned) */
	HTab *accts; /* account id -> Acct (owned) */
	Exec **all;  /* every execution in creation order (borrowed from Inst) */
	size_t nall, capall;
	uint64_t next_seq;
	bool stopping; /* shutting down: pool failures are not the query's fault */
};

ExecStore *executions_new(struct event_base *base, PgPool *pool, ProfileStore *profiles,
			  const ExecSettings *set)
{
	ExecStore *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return NULL;
	st->base = base;
	st->pool = pool;
	st->profiles = profiles;
	st->set = *set;
	st->next_seq = 1;
	st->by_id = htab_new();
	st->insts = htab_new();
	st->accts = htab_new();
	if (st->by_id == NULL || st->insts == NULL || st->accts == NULL) {
		executions_free(st);
		return NULL;
	}
	return st;
}

static void exec_free(Exec *e)
{
	if (e->timer != NULL)
		event_free(e->timer);
	free(e->sql);
	free(e->reason);
	free(e->inject_fail);
	free(e->csv);
	free(e);
}

static bool free_inst(const char *key, void *value, void *priv)
{
	Inst *in = value;

	for (size_t i = 0; i < in->n; i++)
		exec_free(in->execs[i]);
	free(in->execs);
	free(in);
	return true;
}

static bool free_acct(const char *key, void *value, void *priv)
{
	free(value);
	return true;
}

void executions_shutdown(ExecStore *st)
{
	st->stopping = true;
}

void executions_free(ExecStore *st)
{
	if (st == NULL)
		return;
	if (st->insts != NULL) {
		htab_foreach (st->insts, free_inst, NULL)
			;
		htab_free(st->insts);
	}
	htab_free(st->by_id);
	free(st->all);
	if (st->accts != NULL) {
		htab_foreach (st->accts, free_acct, NULL)
			;
		htab_free(st->accts);
	}
	free(st);
}

bool executions_is_terminal(const Exec *e)
{
	return e->status == EXEC_SUCCEEDED || e->status == EXEC_FAILED ||
	       e->status == EXEC_CANCELLED;
}

static Inst *inst_get(ExecStore *st, const char *id, bool create)
{
	Inst *in = htab_get(st->insts, id);

	if (in != NULL || !create)
		return in;
	if ((in = calloc(1, sizeof(*in))) == NULL)
		return NULL;
	snprintf(in->id, sizeof(in->id), "%s", id);
	if (!htab_put(st->insts, in->id, in)) {
		free(in);
		return NULL;
	}
	return in;
}

static Acct *acct_get(ExecStore *st, const char *id)
{
	Acct *a = htab_get(st->accts, id);

	if (a != NULL)
		return a;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	snprintf(a->id, sizeof(a->id), "%s", id);
	if (!htab_put(st->accts, a->id, a)) {
		free(a);
		return NULL;
	}
	return a;
}

static void pump(ExecStore *st, Inst *in);

/* a slot of account a freed up: the instances waiting for one get a chance, each once (one that
 * is still blocked goes back to the end of the list) */
static void acct_release(ExecStore *st, Acct *a)
{
	for (size_t n = a->nblocked; n > 0 && a->bhead != NULL; n--) {
		Inst *in = a->bhead;
		a->bhead = in->bnext;
		if (a->bhead == NULL)
			a->btail = NULL;
		in->bnext = NULL;
		in->blocked = false;
		a->nblocked--;
		pump(st, in);
	}
}

static void finish(ExecStore *st, Exec *e, enum ExecStatus to, const char *reason)
{
	bool was_running = e->status == EXEC_RUNNING;
	int64_t now = simtime_now_ms();

	e->status = to;
	e->updated_ms = e->end_ms = now;
	if (reason != NULL && (e->reason = strdup(reason)) == NULL)
		log_error("out of memory keeping the failure reason of %s", e->id);
	if (was_running) {
		e->inst->running--;
		e->acct->running--;
		pump(st, e->inst);
		acct_release(st, e->acct);
	}
	log_info("execution %s on %s: %s%s%s", e->id, e->instance_id, exec_status_name[to],
		 reason != NULL ? ": " : "", reason != NULL ? reason : "");
}

static void on_sql_done(enum PgResult res, const char *err, void *arg)
{
	SqlJob *job = arg;
	Exec *e = job->owner;
	ExecStore *st = e->store;

	e->in_sql = false;
	if (e->status != EXEC_RUNNING || st->stopping) {
		/* cancelled while the query ran (its result is thrown away, as AMC does),
		 * or the pool dropped the job at shutdown */
		sqlrun_job_free(job);
		return;
	}
	if (res != PG_OK) {
		log_error("execution %s: simulator database trouble: %s", e->id, err);
		finish(st, e, EXEC_FAILED, "Internal error: the query could not be run");
	} else if (job->failed) {
		finish(st, e, EXEC_FAILED, job->reason != NULL ? job->reason : "Query failed");
	} else {
		e->csv = job->csv;
		e->csv_len = job->csv_len;
		e->rows = job->rows;
		job->csv = NULL;
		finish(st, e, EXEC_SUCCEEDED, NULL);
	}
	sqlrun_job_free(job);
}

static void run_sql(ExecStore *st, Exec *e)
{
	if (e->inject_fail != NULL) {
		finish(st, e, EXEC_FAILED, e->inject_fail);
		return;
	}

	char ws[SIMTIME_LEN], we[SIMTIME_LEN];
	int timeout = st->set.statement_timeout_ms;
	SqlJob *job;

	/* the execution's own timeout bounds the statement too */
	if (timeout <= 0 || (int64_t)timeout > (int64_t)e->timeout_s * 1000)
		timeout = e->timeout_s * 1000;
	job = sqlrun_job_new(e->instance_id, e->sql, simtime_fmt_sql(e->tw_start, ws),
			     simtime_fmt_sql(e->tw_end, we), timeout, e);
	if (job == NULL) {
		finish(st, e, EXEC_FAILED, "Internal error: out of memory");
		return;
	}
	e->in_sql = true;
	if (!pgpool_submit(st->pool, sqlrun_work, on_sql_done, job, 30000)) {
		e->in_sql = false;
		sqlrun_job_free(job);
		finish(st, e, EXEC_FAILED, "Internal error: the query could not be queued");
	}
}

static void start_running(ExecStore *st, Exec *e)
{
	struct timeval tv = mstime_tv(e->latency_ms);

	e->status = EXEC_RUNNING;
	e->start_ms = e->updated_ms = simtime_now_ms();
	e->inst->running++;
	e->acct->running++;
	evtimer_add(e->timer, &tv);
	log_debug("execution %s on %s: RUNNING", e->id, e->instance_id);
}

static void pump(ExecStore *st, Inst *in)
{
	Profile p;

	if (in->qhead == NULL || in->blocked)
		return;
	profiles_effective(st->profiles, in->id, &p);
	while (in->qhead != NULL && in->running < p.max_running) {
		Exec *e = in->qhead;
		Acct *a = e->acct;
		if (a->running >= p.account_max_running) {
			in->blocked = true;
			if (a->btail)
				a->btail->bnext = in;
			else
				a->bhead = in;
			a->btail = in;
			a->nblocked++;
			return;
		}
		in->qhead = e->qnext;
		if (in->qhead == NULL)
			in->qtail = NULL;
		e->qnext = NULL;
		e->queued = false;
		start_running(st, e);
	}
}

static bool pump_one(const char *key, void *value, void *priv)
{
	pump(priv, value);
	return false;
}

static bool release_one(const char *key, void *value, void *priv)
{
	acct_release(priv, value);
	return false;
}

void executions_pump_all(ExecStore *st)
{
	htab_foreach (st->accts, release_one, st)
		;
	htab_foreach (st->insts, pump_one, st)
		;
}

size_t executions_count_since(ExecStore *st, const char *instance, int64_t since_ms)
{
	Inst *in = inst_get(st, instance, false);
	size_t n = 0;

	/* creation order: count back from the newest */
	for (size_t i = in != NULL ? in->n : 0; i > 0 && in->execs[i - 1]->create_ms >= since_ms;
	     i--)
		n++;
	return n;
}

/* timer: PENDING dwell over -> queue for a slot; RUNNING latency over -> run the SQL */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	Exec *e = arg;
	ExecStore *st = e->store;

	if (e->status == EXEC_PENDING) {
		e->queued = true;
		if (e->inst->qtail)
			e->inst->qtail->qnext = e;
		else
			e->inst->qhead = e;
		e->inst->qtail = e;
		pump(st, e->inst);
	} else if (e->status == EXEC_RUNNING) {
		run_sql(st, e);
	}
}

/* the store-wide creation order behind executions_page */
static bool all_append(ExecStore *st, Exec *e)
{
	if (st->nall == st->capall) {
		size_t ncap = st->capall ? st->capall * 2 : 256;
		Exec **n = realloc(st->all, ncap * sizeof(*n));
		if (n == NULL)
			return false;
		st->all = n;
		st->capall = ncap;
	}
	st->all[st->nall++] = e;
	return true;
}

static bool inst_append(Inst *in, Exec *e)
{
	if (in->n == in->cap) {
		size_t ncap = in->cap ? in->cap * 2 : 16;
		Exec **n = realloc(in->execs, ncap * sizeof(*n));
		if (n == NULL)
			return false;
		in->execs = n;
		in->cap = ncap;
	}
	in->execs[in->n++] = e;
	return true;
}

Exec *executions_create(ExecStore *st, const char *instance, const ExecRequest *req)
{
	Inst *in = inst_get(st, instance, true);
	Acct *a = acct_get(st, req->account ? req->account : "");
	Exec *e = calloc(1, sizeof(*e));
	char uuid[IDS_UUID_LEN + 1];

	if (in == NULL || a == NULL || e == NULL || !ids_uuid(e->id) ||
	    (e->sql = strdup(req->sql)) == NULL)
		goto fail;
	if (req->inject_fail && (e->inject_fail = strdup(req->inject_fail)) == NULL)
		goto fail;
	if (req->workflow_id) {
		snprintf(e->workflow_id, sizeof(e->workflow_id), "%s", req->workflow_id);
	} else {
		if (!ids_uuid(uuid))
			goto fail;
		snprintf(e->workflow_id, sizeof(e->workflow_id), "transient_%s", uuid);
	}
	if ((e->timer = evtimer_new(st->base, on_timer, e)) == NULL)
		goto fail;
	e->store = st;
	e->inst = in;
	e->acct = a;
	e->instance_id = in->id;
	e->pending_ms = req->pending_ms;
	e->latency_ms = req->latency_ms;
	e->nparts = req->nparts > 0 ? req->nparts : 1;
	e->url_403_first = req->url_403_first;
	e->seq = st->next_seq++;
	e->status = EXEC_PENDING;
	e->create_ms = e->updated_ms = simtime_now_ms();
	snprintf(e->tw_type, sizeof(e->tw_type), "%s", req->tw_type);
	snprintf(e->tw_start_orig, sizeof(e->tw_start_orig), "%s", req->tw_start_orig);
	snprintf(e->tw_end_orig, sizeof(e->tw_end_orig), "%s", req->tw_end_orig);
	snprintf(e->tz, sizeof(e->tz), "%s", req->tz);
	e->tw_start = req->tw_start;
	e->tw_end = req->tw_end;
	e->timeout_s = req->timeout_s;
	if (!inst_append(in, e))
		goto fail;
	if (!htab_put(st->by_id, e->id, e)) {
		in->n--;
		goto fail;
	}
	if (!all_append(st, e)) {
		htab_del(st->by_id, e->id);
		in->n--;
		goto fail;
	}
	struct timeval tv = mstime_tv(e->pending_ms);
	evtimer_add(e->timer, &tv);
	log_info("execution %s on %s: PENDING (window %s .. %s %s)", e->id, in->id,
		 e->tw_start_orig, e->tw_end_orig, e->tz);
	return e;
fail:
	if (e != NULL)
		exec_free(e);
	return NULL;
}

Exec *executions_find(ExecStore *st, const char *instance, const char *id)
{
	Exec *e = htab_get(st->by_id, id);

	return e != NULL && strcmp(e->instance_id, instance) == 0 ? e : NULL;
}

bool executions_cancel(ExecStore *st, Exec *e)
{
	if (executions_is_terminal(e))
		return false;
	evtimer_del(e->timer);
	if (e->queued) {
		Exec **pp = &e->inst->qhead;
		e->inst->qtail = NULL;
		while (*pp != NULL && *pp != e)
			pp = &(*pp)->qnext;
		if (*pp != NULL)
			*pp = e->qnext;
		/* recompute the tail after unlinking */
		for (Exec *q = e->inst->qhead; q; q = q->qnext)
			e->inst->qtail = q;
		e->qnext = NULL;
		e->queued = false;
	}
	finish(st, e, EXEC_CANCELLED, NULL);
	return true;
}

void executions_note_cancel(Exec *e)
{
	if (e->cancel_requests++ == 0)
		e->cancel_ms = simtime_now_ms();
}

size_t executions_page(ExecStore *st, uint64_t after_seq, Exec **out, size_t limit, bool *more)
{
	size_t lo = 0, hi = st->nall, k = 0;

	/* seq grows with the index (a failed create may leave a gap): binary search */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (st->all[mid]->seq <= after_seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < st->nall && k < limit; lo++)
		out[k++] = st->all[lo];
	*more = lo < st->nall;
	return k;
}

const char *executions_account(const Exec *e)
{
	return e->acct->id;
}

uint64_t executions_last_seq(const ExecStore *st)
{
	return st->nall ? st->all[st->nall - 1]->seq : 0;
}

static bool matches(const Exec *e, const ExecFilter *f)
{
	if (f->workflow_id != NULL && strcmp(e->workflow_id, f->workflow_id) != 0)
		return false;
	if (f->min_create_ms >= 0 && e->create_ms < f->min_create_ms)
		return false;
	if (f->max_create_ms >= 0 && e->create_ms > f->max_create_ms)
		return false;
	return f->include_cancelled || e->status != EXEC_CANCELLED;
}

size_t executions_list(ExecStore *st, const char *instance, const ExecFilter *f, Exec **out,
		       bool *more)
{
	Inst *in = inst_get(st, instance, false);
	size_t k = 0;

	*more = false;
	if (in == NULL)
		return 0;
	for (size_t i = 0; i < in->n; i++) {
		Exec *e = in->execs[f->ascending ? i : in->n - 1 - i];
		if (f->after_seq &&
		    (f->ascending ? e->seq <= f->after_seq : e->seq >= f->after_seq))
			continue;
		if (!matches(e, f))
			continue;
		if (k == f->limit) {
			*more = true;
			break;
		}
		out[k++] = e;
	}
	return k;
}

static void set_time(json_t *o, const char *key, int64_t ms)
{
	char buf[SIMTIME_LEN];

	if (ms)
		json_object_set_new(o, key, json_string(simtime_fmt_utc(ms, buf)));
}

json_t *executions_json(const Exec *e, bool include_sql)
{
	json_t *o = json_object();
	char buf[SIMTIME_LEN];

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "workflowExecutionId", json_string(e->id));
	json_object_set_new(o, "instanceId", json_string(e->instance_id));
	json_object_set_new(o, "workflowId", json_string(e->workflow_id));
	json_object_set_new(o, "status", json_string(exec_status_name[e->status]));
	if (e->status == EXEC_FAILED)
		json_object_set_new(o, "statusReason",
				    json_string(e->reason != NULL ? e->reason : "Failed"));
	json_object_set_new(o, "executionCategory", json_string("AD_HOC"));
	set_time(o, "createTime", e->create_ms);
	set_time(o, "lastUpdatedTime", e->updated_ms);
	set_time(o, "startTime", e->start_ms);
	set_time(o, "endTime", e->end_ms);
	set_time(o, "expireTime", e->create_ms + 24 * 3600 * 1000LL);
	json_object_set_new(o, "workflowExecutionTimeoutSeconds", json_integer(e->timeout_s));
	json_object_set_new(o, "timeWindowType", json_string(e->tw_type));
	json_object_set_new(o, "timeWindowStart",
			    json_string(simtime_fmt_utc((int64_t)e->tw_start * 1000, buf)));
	json_object_set_new(o, "timeWindowEnd",
			    json_string(simtime_fmt_utc((int64_t)e->tw_end * 1000, buf)));
	json_object_set_new(o, "timeWindowTimeZone", json_string(e->tz));
	json_object_set_new(o, "timeWindowStartOriginal", json_string(e->tw_start_orig));
	json_object_set_new(o, "timeWindowEndOriginal", json_string(e->tw_end_orig));
	json_object_set_new(o, "timeWindowTimeZoneOriginal", json_string(e->tz));
	json_object_set_new(o, "parameterValues", json_object());
	json_object_set_new(o, "dataGaps", json_array());
	json_object_set_new(o, "ignoreDataGaps", json_false());
	json_object_set_new(o, "disableAggregationControls", json_false());
	if (e->status == EXEC_SUCCEEDED)
		json_object_set_new(o, "resultRowCount", json_integer(e->rows));
	if (include_sql)
		json_object_set_new(o, "sqlQuery", json_string(e->sql));
	return o;
}
