/* shape.c - pure JSON shaping of batch_status (from Redis hashes or PostgreSQL text) and
 * batch_results (instance outcomes and result rows put back into CSV column order). */
#include "shape.h"

#include <errno.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "states.h"

/* ---- values ---- */

static bool parse_ll(const char *v, long long *out)
{
	char *end;

	if (v == NULL || *v == '\0')
		return false;
	errno = 0;
	*out = strtoll(v, &end, 10);
	return errno == 0 && *end == '\0';
}

bool shape_iso_ms(const char *ms, char out[32])
{
	long long n;
	time_t t;
	struct tm tm;

	out[0] = '\0';
	if (!parse_ll(ms, &n))
		return false;
	/* floor division: -1 ms is 1969-12-31T23:59:59Z, not 1970-01-01T00:00:00Z */
	t = (time_t)(n / 1000 - (n % 1000 < 0 ? 1 : 0));
	if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		out[0] = '\0';
		return false;
	}
	return true;
}

json_t *shape_str(const char *v)
{
	json_t *s = v != NULL ? json_string(v) : NULL;

	return s != NULL ? s : json_null();
}

/* Redis hashes write "" for a field that is not set (yet): both read as null. */
static json_t *opt_str(const char *v)
{
	return v != NULL && *v != '\0' ? shape_str(v) : json_null();
}

json_t *shape_int(const char *v)
{
	long long n;

	return parse_ll(v, &n) ? json_integer(n) : json_null();
}

json_t *shape_number(const char *v)
{
	long long n;
	char *end;
	double d;

	if (parse_ll(v, &n))
		return json_integer(n);
	if (v == NULL || *v == '\0')
		return json_null();
	errno = 0;
	d = strtod(v, &end);
	/* a whole numeric beyond 64 bits, or a fraction: a real is the nearest JSON can carry */
	return *end == '\0' && isfinite(d) ? json_real(d) : json_null();
}

static json_t *iso_ms(const char *ms)
{
	char buf[32];

	return shape_iso_ms(ms, buf) ? json_string(buf) : json_null();
}

/* ---- status ---- */

const char *shape_hash_get(const ShapeHash *h, const char *key)
{
	const char *v = NULL;

	for (size_t i = 0; h != NULL && i < h->n; i++)
		if (h->kv[i].key != NULL && strcmp(h->kv[i].key, key) == 0)
			v = h->kv[i].val;
	return v;
}

json_t *shape_time_window(const char *start, const char *end, const char *zone)
{
	if (start == NULL || *start == '\0' || end == NULL || *end == '\0')
		return json_null();
	return json_pack("{s:o, s:o, s:o}", "start", shape_str(start), "end", shape_str(end),
			 "timezone", shape_str(zone != NULL && *zone != '\0' ? zone : "UTC"));
}

/* The stored relative window (JSON text) as an object; null when absent or unreadable. */
static json_t *window_obj(const char *text)
{
	json_t *w = text != NULL && *text != '\0' ? json_loads(text, 0, NULL) : NULL;

	if (w != NULL && !json_is_object(w)) {
		json_decref(w);
		w = NULL;
	}
	return w != NULL ? w : json_null();
}

/* "12 min", "40 s", "2 h 5 min": a duration for the words of waiting_for. */
static void words_duration(long long ms, char *out, size_t len)
{
	long long s = ms > 0 ? ms / 1000 : 0;

	if (s < 60)
		snprintf(out, len, "%lld s", s);
	else if (s < 3600)
		snprintf(out, len, "%lld min", s / 60);
	else
		snprintf(out, len, "%lld h %lld min", s / 3600, s / 60 % 60);
}

/* "17:42:05 UTC" from Unix ms text; false when not a number. */
static bool words_clock(const char *ms, char out[32])
{
	char iso[32];

	if (!shape_iso_ms(ms, iso))
		return false;
	snprintf(out, 32, "%.8s UTC", iso + 11);
	return true;
}

/* How many refs of its batch's queue RPOP takes before this exec's (the queue's right end is
 * claimed first), or -1 when its ref is not among them. */
static long long queue_ahead(const ShapeHash *h, const json_t *queue)
{
	const char *batch = shape_hash_get(h, "batch_id"), *exec = shape_hash_get(h, "exec_id");
	size_t n = json_array_size(queue), blen;

	if (batch == NULL || exec == NULL || n == 0)
		return -1;
	blen = strlen(batch);
	for (size_t i = n; i-- > 0;) {
		const char *ref = json_string_value(json_array_get(queue, i));

		if (ref != NULL && strncmp(ref, batch, blen) == 0 && ref[blen] == ':' &&
		    strcmp(ref + blen + 1, exec) == 0)
			return (long long)(n - 1 - i);
	}
	return -1;
}

/* A queued exec: parked behind a cap (with the resource's running count and the cap, when
 * known), or in its batch's queue (with how many are ahead, when known). */
static json_t *waiting_queued(const ShapeHash *h, const ShapeLive *live)
{
	const char *parked = shape_hash_get(h, "parked");
	json_t *at = iso_ms(shape_hash_get(h, "queued_at"));
	char text[200];

	if (parked != NULL && (strcmp(parked, "instance") == 0 || strcmp(parked, "account") == 0)) {
		bool inst = parked[0] == 'i';
		const char *id = shape_hash_get(h, inst ? "amc_instance_id" : "account_id");
		char field[160];
		long long running,
			cap = live != NULL ? (inst ? live->instance_cap : live->account_cap) : 0;
		const char *v;

		snprintf(field, sizeof(field), "%s:%s", inst ? "instance" : "account",
			 id != NULL ? id : "");
		v = live != NULL ? shape_hash_get(live->running, field) : NULL;
		if (v == NULL || !parse_ll(v, &running) || cap <= 0)
			return json_pack("{s:s,s:s,s:o}", "code",
					 inst ? "instance_cap" : "account_cap", "text",
					 inst ? "waiting for a free slot on its instance"
						" (instance cap reached)"
					      : "waiting for a free slot on its AMC account"
						" (account cap reached)",
					 "at", at);
		snprintf(text, sizeof(text),
			 "waiting for a free slot on its %s (%s cap reached: %lld/%lld)",
			 inst ? "instance" : "AMC account", inst ? "instance" : "account", running,
			 cap);
		return json_pack("{s:s,s:s,s:o,s:I,s:I}", "code",
				 inst ? "instance_cap" : "account_cap", "text", text, "at", at,
				 "running", (json_int_t)running, "cap", (json_int_t)cap);
	}
	long long ahead = live != NULL ? queue_ahead(h, live->queue) : -1;

	if (ahead < 0)
		return json_pack("{s:s,s:s,s:o}", "code", "queued", "text", "queued for a worker",
				 "at", at);
	if (ahead == 0)
		snprintf(text, sizeof(text), "queued for a worker (next of its batch)");
	else
		snprintf(text, sizeof(text), "queued behind %lld job%s of its batch", ahead,
			 ahead == 1 ? "" : "s");
	return json_pack("{s:s,s:s,s:o,s:I}", "code", "queued", "text", text, "at", at, "ahead",
			 (json_int_t)ahead);
}

/* amc_running: for how long AMC has had it (since the create was announced, else the first
 * claim) and when this worker polls next (next_poll_at, written by the worker). */
static json_t *waiting_amc(const ShapeHash *h, const ShapeLive *live, json_t *o)
{
	const char *since = shape_hash_get(h, "create_intent_at");
	long long s, next;
	char text[160], d1[32], d2[32];

	if (since == NULL || !parse_ll(since, &s))
		since = shape_hash_get(h, "started_at");
	if (!parse_ll(shape_hash_get(h, "next_poll_at"), &next))
		next = 0;
	if (next > 0)
		json_object_set_new(o, "next_poll_at", iso_ms(shape_hash_get(h, "next_poll_at")));
	if (live == NULL || live->now_ms <= 0 || since == NULL || !parse_ll(since, &s))
		return o;
	words_duration(live->now_ms - s, d1, sizeof(d1));
	if (next <= 0)
		snprintf(text, sizeof(text), "AMC running for %s", d1);
	else if (next <= live->now_ms)
		snprintf(text, sizeof(text), "AMC running for %s, next poll due now", d1);
	else {
		words_duration(next - live->now_ms + 999, d2, sizeof(d2));
		snprintf(text, sizeof(text), "AMC running for %s, next poll in %s", d1, d2);
	}
	json_object_set_new(o, "text", json_string(text));
	return o;
}

/* archiving: how much of the file COPY has taken (archive_done of archive_total), or since
 * when PostgreSQL cannot be reached (pg_down_since), both written by the worker. */
static json_t *waiting_archive(const ShapeHash *h, json_t *o)
{
	const char *down = shape_hash_get(h, "pg_down_since");
	long long done, total;
	char text[160], clock[32];

	if (parse_ll(shape_hash_get(h, "archive_done"), &done) &&
	    parse_ll(shape_hash_get(h, "archive_total"), &total) && total > 0 && done >= 0) {
		long long pct = done >= total ? 100 : done * 100 / total;

		json_object_set_new(o, "progress", json_integer(pct));
		snprintf(text, sizeof(text), "archiving the rows into PostgreSQL (%lld %%)", pct);
		json_object_set_new(o, "text", json_string(text));
	}
	if (down != NULL && words_clock(down, clock)) {
		json_object_set_new(o, "pg_down_since", iso_ms(down));
		snprintf(text, sizeof(text), "waiting for PostgreSQL (unavailable since %s)",
			 clock);
		json_object_set_new(o, "text", json_string(text));
	}
	return o;
}

/* downloading: since when (spool_trouble_since) and why (spool_trouble) its worker cannot
 * write the result spool (a full disk), written by the worker, which downloads again meanwhile
 * until the execution's timeout. */
static json_t *waiting_download(const ShapeHash *h, json_t *o)
{
	const char *since = shape_hash_get(h, "spool_trouble_since");
	const char *why = shape_hash_get(h, "spool_trouble");
	char text[200], clock[32];

	if (since != NULL && words_clock(since, clock)) {
		json_object_set_new(o, "spool_trouble_since", iso_ms(since));
		snprintf(text, sizeof(text),
			 "waiting for its worker's disk to take the results (%.80s, since %s)",
			 why != NULL && why[0] != '\0' ? why : "cannot write", clock);
		json_object_set_new(o, "text", json_string(text));
	}
	return o;
}

/* What an unfinished execution waits for: a code, the words the page shows, and the moment it
 * refers to (since when, or until when), from its hash and, when given, what the status read
 * fetched with it (live: the clock, its batch's queue, the running slots and caps); extra
 * fields say how far (ahead, running/cap, next_poll_at, progress, pg_down_since,
 * spool_trouble_since). null for a finished one. */
static json_t *waiting_for(const ShapeHash *h, const ShapeLive *live)
{
	static const struct {
		const char *phase, *code, *text;
	} phases[] = {
		{ "submitted", "amc_create", "creating the execution on AMC" },
		{ "polling", "amc_running", "AMC is running the query" },
		{ "downloading", "downloading", "downloading the results from AMC" },
		{ "archiving", "archiving", "archiving the rows into PostgreSQL" },
	};
	const char *state = shape_hash_get(h, "state"), *phase = shape_hash_get(h, "phase");

	if (state == NULL)
		return json_null();
	if (strcmp(state, "queued") == 0 || strcmp(state, "pending") == 0)
		return waiting_queued(h, live);
	if (strcmp(state, "retry_wait") == 0) {
		char at[32], text[160];
		const char *err = shape_hash_get(h, "error");

		if (!shape_iso_ms(shape_hash_get(h, "retry_at"), at))
			snprintf(at, sizeof(at), "soon");
		snprintf(text, sizeof(text), "retrying at %s%s%.80s", at,
			 err != NULL ? " after: " : "", err != NULL ? err : "");
		return json_pack("{s:s,s:s,s:o}", "code", "retry", "text", text, "at",
				 iso_ms(shape_hash_get(h, "retry_at")));
	}
	if (strcmp(state, "running") != 0)
		return json_null();
	for (size_t i = 0; phase != NULL && i < ARRAY_LEN(phases); i++) {
		json_t *o;

		if (strcmp(phase, phases[i].phase) != 0)
			continue;
		o = json_pack("{s:s,s:s,s:o}", "code", phases[i].code, "text", phases[i].text, "at",
			      iso_ms(shape_hash_get(h, "started_at")));
		if (o != NULL && strcmp(phases[i].code, "amc_running") == 0)
			return waiting_amc(h, live, o);
		if (o != NULL && strcmp(phases[i].code, "archiving") == 0)
			return waiting_archive(h, o);
		if (o != NULL && strcmp(phases[i].code, "downloading") == 0)
			return waiting_download(h, o);
		return o;
	}
	return json_pack("{s:s,s:s,s:o}", "code", "starting", "text", "claimed by a worker", "at",
			 iso_ms(shape_hash_get(h, "started_at")));
}

json_t *shape_exec_redis(const ShapeHash *h)
{
	return shape_exec_live(h, NULL);
}

json_t *shape_exec_live(const ShapeHash *h, const ShapeLive *live)
{
	const char *started = shape_hash_get(h, "started_at");
	const char *finished = shape_hash_get(h, "finished_at");
	long long s, f;
	json_t *duration = json_null();

	if (parse_ll(started, &s) && parse_ll(finished, &f))
		duration = json_real((double)(f - s) / 1000.0);
	return json_pack(
		"{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
		opt_str(shape_hash_get(h, "id")), "execution_id",
		opt_str(shape_hash_get(h, "exec_id")), "target_instance_id",
		opt_str(shape_hash_get(h, "instance_uuid")), "instance_name",
		opt_str(shape_hash_get(h, "instance_name")), "status",
		opt_str(shape_hash_get(h, "state")), "phase", opt_str(shape_hash_get(h, "phase")),
		"amc_execution_id", opt_str(shape_hash_get(h, "amc_execution_id")), "row_count",
		shape_int(shape_hash_get(h, "row_count")), "error",
		opt_str(shape_hash_get(h, "error")), "duration_seconds", duration, "started_at",
		iso_ms(started), "completed_at", iso_ms(finished), "time_window",
		shape_time_window(shape_hash_get(h, "window_start"),
				  shape_hash_get(h, "window_end"), shape_hash_get(h, "timezone")),
		"waiting_for", waiting_for(h, live));
}

json_t *shape_policy(const char *on_failure, const char *ratio)
{
	if (on_failure != NULL && strcmp(on_failure, "min_success_ratio") == 0)
		return json_pack("{s:f}", "min_success_ratio",
				 ratio != NULL ? strtod(ratio, NULL) : 0.0);
	if (on_failure != NULL && strcmp(on_failure, "fail_fast") == 0)
		return json_string("fail_fast");
	return json_string("continue");
}

json_t *shape_batch_status(const ShapeBatch *b, json_t *execs)
{
	json_int_t n[EXEC_STATE_COUNT] = { 0 };
	json_t *o, *counts, *e;
	size_t i;

	json_array_foreach (execs, i, e) {
		const char *st = json_string_value(json_object_get(e, "status"));
		enum ExecState k;

		if (exec_state_parse(st, &k))
			n[k]++;
	}
	if ((counts = json_object()) == NULL) {
		json_decref(execs);
		return NULL;
	}
	for (size_t k = 0; k < EXEC_STATE_COUNT; k++)
		if (n[k] > 0 &&
		    json_object_set_new(counts, exec_state_names[k], json_integer(n[k])) != 0) {
			json_decref(counts);
			json_decref(execs);
			return NULL;
		}
	/* key order follows the seed: identity, counters, times, executions, status_counts */
	o = json_pack(
		"{s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o,"
		" s:o, s:o}",
		"batch_id", shape_str(b->batch_id), "workflow_id", shape_str(b->workflow_id),
		"name", shape_str(b->name), "status", shape_str(b->status), "total_instances",
		(json_int_t)json_array_size(execs), "completed_instances", n[EXEC_STATE_COMPLETED],
		"failed_instances", n[EXEC_STATE_FAILED], "running_instances",
		n[EXEC_STATE_RUNNING],
		/* the three that have not started yet */
		"pending_instances",
		n[EXEC_STATE_PENDING] + n[EXEC_STATE_QUEUED] + n[EXEC_STATE_RETRY_WAIT],
		"cancelled_instances", n[EXEC_STATE_CANCELLED], "started_at",
		shape_str(b->started_at), "completed_at", shape_str(b->completed_at), "executions",
		execs, "status_counts", counts, "window", window_obj(b->window), "parent_batch_id",
		opt_str(b->parent_batch_id), "on_failure",
		shape_policy(b->on_failure, b->min_success_ratio), "status_reason",
		opt_str(b->status_reason));
	return o; /* json_pack's "o" steals execs and counts even when it fails */
}

json_t *shape_status_redis(const char *batch_id, const ShapeHash *batch, const ShapeHash *execs,
			   size_t nexecs, const ShapeLive *live)
{
	char started[32], completed[32];
	json_t *arr = json_array();
	ShapeBatch b = {
		.batch_id = batch_id,
		.workflow_id = shape_hash_get(batch, "workflow_id"),
		.name = shape_hash_get(batch, "name"),
		.status = shape_hash_get(batch, "status"),
		.started_at =
			shape_iso_ms(shape_hash_get(batch, "started_at"), started) ? started : NULL,
		.completed_at = shape_iso_ms(shape_hash_get(batch, "completed_at"), completed)
					? completed
					: NULL,
		.window = shape_hash_get(batch, "time_window"),
		.parent_batch_id = shape_hash_get(batch, "parent_batch_id"),
		.on_failure = shape_hash_get(batch, "on_failure"),
		.min_success_ratio = shape_hash_get(batch, "min_success_ratio"),
		.status_reason = shape_hash_get(batch, "status_reason"),
	};

	if (arr == NULL)
		return NULL;
	for (size_t i = 0; i < nexecs; i++) {
		if (execs[i].n == 0)
			continue; /* expired or never written: not an execution to count */
		if (json_array_append_new(arr, shape_exec_live(&execs[i], live)) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return shape_batch_status(&b, arr);
}

/* ---- results ---- */

/* Why a completed instance's numbers deserve a second look: "no_rows" when it returned none
 * (the query matched nothing in the window, or AMC's privacy thresholds removed every row:
 * an empty result is not a silent success). */
static json_t *instance_warnings(const ShapeInstance *in)
{
	json_t *w = json_array();

	if (w != NULL && in->status != NULL && strcmp(in->status, "completed") == 0 &&
	    in->row_count != NULL && strcmp(in->row_count, "0") == 0)
		json_array_append_new(w, json_string("no_rows"));
	return w;
}

json_t *shape_instance_result(const ShapeInstance *in)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "instance_id",
			 shape_str(in->instance_id), "instance_name", shape_str(in->instance_name),
			 "instance_region", shape_str(in->instance_region), "execution_id",
			 shape_str(in->execution_id), "status", shape_str(in->status), "row_count",
			 shape_int(in->row_count), "duration_seconds",
			 shape_number(in->duration_seconds), "completed_at",
			 shape_str(in->completed_at), "error", shape_str(in->error), "time_window",
			 shape_time_window(in->window_start, in->window_end, in->window_timezone),
			 "warnings", instance_warnings(in));
}

/* The instances of instance_results that are not in the rows, with why (the JSON companion of
 * a partial batch's rows). A new array; NULL on OOM. */
static json_t *missing_instances(const json_t *instance_results)
{
	json_t *out = json_array(), *r;
	size_t i;

	json_array_foreach ((json_t *)instance_results, i, r) {
		const char *st = json_string_value(json_object_get(r, "status"));

		if (out == NULL || (st != NULL && strcmp(st, "completed") == 0))
			continue;
		if (json_array_append_new(
			    out, json_pack("{s:O,s:O,s:O,s:O}", "instance_id",
					   json_object_get(r, "instance_id"), "instance_name",
					   json_object_get(r, "instance_name"), "status",
					   json_object_get(r, "status"), "error",
					   json_object_get(r, "error"))) != 0) {
			json_decref(out);
			out = NULL;
		}
	}
	return out;
}

json_t *shape_source_columns(const char *result_columns)
{
	json_t *src = result_columns != NULL ? json_loads(result_columns, 0, NULL) : NULL;
	json_t *cols = json_array(), *c;
	size_t i;

	if (cols == NULL) {
		json_decref(src);
		return NULL;
	}
	json_array_foreach (src, i, c)
		if (json_is_string(json_object_get(c, "name")) && json_array_append(cols, c) != 0) {
			json_decref(cols);
			cols = NULL;
			break;
		}
	json_decref(src);
	return cols;
}

/* Turns reals that are whole and exactly representable back into integers (see parse_row). */
static void restore_integers(json_t *o)
{
	const char *k;
	json_t *v;

	json_object_foreach (o, k, v) {
		double d = json_real_value(v);

		/* replacing the value of the current key keeps the iteration valid; on OOM
		 * the real stays, which is still the right number */
		if (json_is_real(v) && d == floor(d) && fabs(d) <= 9007199254740992.0)
			(void)json_object_set_new(o, k, json_integer((json_int_t)d));
	}
}

/* row_data text -> object. jsonb keeps any numeric, but jansson refuses integers beyond 64
 * bits: such a row is read again with every integer as a real (the big one can only be a
 * real in JSON anyway) and the small whole ones are made integers again. */
static json_t *parse_row(const char *text)
{
	json_error_t err;
	json_t *o;

	if (text == NULL)
		return NULL;
	if ((o = json_loads(text, 0, &err)) != NULL ||
	    json_error_code(&err) != json_error_numeric_overflow)
		return o;
	if ((o = json_loads(text, JSON_DECODE_INT_AS_REAL, NULL)) != NULL)
		restore_integers(o);
	return o;
}

json_t *shape_row(const json_t *source_columns, const ShapeRow *row)
{
	json_t *data = parse_row(row->data), *c;
	json_t *out = json_pack("{s:o, s:o}", "_instance_name", shape_str(row->instance_name),
				"_instance_id", shape_str(row->instance_id));
	size_t i;

	json_array_foreach (source_columns, i, c) {
		const char *name = json_string_value(json_object_get(c, "name"));
		json_t *v = name != NULL ? json_object_get(data, name) : NULL;

		if (out == NULL)
			break;
		if (name != NULL && json_object_set(out, name, v != NULL ? v : json_null()) != 0) {
			json_decref(out);
			out = NULL;
		}
	}
	json_decref(data);
	return out;
}

json_t *shape_aggregated(const char *result_columns, const ShapeRow *rows, size_t nrows,
			 long long total_rows)
{
	json_t *src = shape_source_columns(result_columns);
	json_t *cols = json_pack("[{s:s, s:s}, {s:s, s:s}]", "name", "_instance_name", "type",
				 "string", "name", "_instance_id", "type", "string");
	json_t *arr = json_array();

	if (src == NULL || cols == NULL || arr == NULL || json_array_extend(cols, src) != 0)
		goto oom;
	for (size_t i = 0; i < nrows; i++)
		if (json_array_append_new(arr, shape_row(src, &rows[i])) != 0)
			goto oom;
	json_decref(src);
	return json_pack("{s:o, s:o, s:I}", "columns", cols, "rows", arr, "total_rows",
			 (json_int_t)total_rows);
oom:
	json_decref(src);
	json_decref(cols);
	json_decref(arr);
	return NULL;
}

json_t *shape_batch_results(const ShapeResultsHead *h, json_t *instance_results,
			    json_t *aggregated_data)
{
	json_t *retries = h->retries != NULL ? json_loads(h->retries, 0, NULL) : NULL;

	if (retries != NULL && !json_is_array(retries)) {
		json_decref(retries);
		retries = NULL;
	}
	json_t *missing = instance_results != NULL ? missing_instances(instance_results) : NULL;

	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "batch_id",
			 shape_str(h->batch_id), "status", shape_str(h->status), "total_instances",
			 shape_int(h->total_instances), "completed_instances",
			 shape_int(h->completed_instances), "failed_instances",
			 shape_int(h->failed_instances), "instance_results", instance_results,
			 "missing_instances", missing, "aggregated_data", aggregated_data, "window",
			 window_obj(h->window), "parent_batch_id", opt_str(h->parent_batch_id),
			 "retries", retries != NULL ? retries : json_array());
}
