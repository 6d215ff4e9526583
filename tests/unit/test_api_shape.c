/* test_api_shape.c - src/api/shape.c without a server: the seed's batch_status and
 * batch_results shapes (field names and order, compared as compact JSON text), ISO times,
 * counters, empty fields, result rows in column order, value types, unicode, big numbers. */
#include <string.h>

#include "shape.h"
#include "../tap.h"

#define I1 "20000000-0000-4000-8000-000000000001"
#define I2 "20000000-0000-4000-8000-000000000002"
#define I3 "20000000-0000-4000-8000-000000000003"
#define WF "660e8400-e29b-41d4-a716-446655440000"

/* 2024-01-15T10:30:00Z and 45 s later */
#define T0 "1705314600000"
#define T45 "1705314645000"

#define HASH(arr) ((ShapeHash){ (arr), ARRAY_LEN(arr) })

static json_int_t get_int(const json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/* k's integer, or -1 when o has none */
static json_int_t get_int_or(const json_t *o, const char *k)
{
	return json_is_integer(json_object_get(o, k)) ? get_int(o, k) : -1;
}

/* Compares o's compact text (jansson keeps insertion order) with want; consumes o. */
#define EXPECT_JSON(o, want) \
	do { \
		json_t *o_ = (o); \
		char *got_ = o_ != NULL ? json_dumps(o_, JSON_COMPACT) : NULL; \
		assertf(got_ != NULL && strcmp(got_, want) == 0, "got  %s\n# want %s", \
			got_ != NULL ? got_ : "(NULL)", want); \
		free(got_); \
		json_decref(o_); \
	} while (0)

static void test_iso_times(void)
{
	char out[32];

	assertf(shape_iso_ms(T0, out) && strcmp(out, "2024-01-15T10:30:00Z") == 0, "%s", out);
	/* milliseconds are cut, never rounded up into the next second */
	assertf(shape_iso_ms("1705314600999", out) && strcmp(out, "2024-01-15T10:30:00Z") == 0,
		"%s", out);
	assertf(shape_iso_ms("0", out) && strcmp(out, "1970-01-01T00:00:00Z") == 0, "%s", out);
	assertf(shape_iso_ms("-1", out) && strcmp(out, "1969-12-31T23:59:59Z") == 0, "%s", out);
	assertf(shape_iso_ms("4102444800000", out) && strcmp(out, "2100-01-01T00:00:00Z") == 0,
		"%s", out);
	assertf(!shape_iso_ms(NULL, out) && out[0] == '\0', "NULL");
	assertf(!shape_iso_ms("", out) && out[0] == '\0', "empty");
	assertf(!shape_iso_ms("abc", out) && out[0] == '\0', "abc");
	assertf(!shape_iso_ms("17053146000x", out) && out[0] == '\0', "trailing garbage");
	assertf(!shape_iso_ms("99999999999999999999999", out) && out[0] == '\0', "overflow");
}

/* The seed's example: 3 instances, one completed (1000 rows, 45 s), two running. */
static void test_status_seed(void)
{
	const ShapeKv batch[] = {
		{ "batch_id", "batch_a1b2c3d4" },
		{ "workflow_id", WF },
		{ "name", "Q1 Analysis Batch" },
		{ "status", "running" },
		{ "user_id", "u" },
		{ "started_at", T0 },
		{ "completed_at", "" },
		{ "time_window", "{\"type\":\"last_n_days\",\"lag_days\":2,\"n\":7}" },
	};
	const ShapeKv e1[] = {
		{ "id", "770e8400-e29b-41d4-a716-446655440000" },
		{ "exec_id", "exec_12345678" },
		{ "instance_uuid", I1 },
		{ "instance_name", "US-East Production" },
		{ "state", "completed" },
		{ "phase", "" },
		{ "amc_execution_id", "amc-1" },
		{ "row_count", "1000" },
		{ "error", "" },
		{ "started_at", T0 },
		{ "finished_at", T45 },
		{ "window_start", "2024-01-06T00:00:00" },
		{ "window_end", "2024-01-13T00:00:00" },
		{ "timezone", "America/New_York" },
	};
	const ShapeKv e2[] = {
		{ "exec_id", "exec_22222222" }, { "instance_uuid", I2 }, { "state", "running" },
		{ "phase", "polling" },         { "started_at", T0 },
	};
	const ShapeKv e3[] = {
		{ "exec_id", "exec_33333333" },
		{ "instance_uuid", I3 },
		{ "state", "running" },
	};
	const ShapeHash b = HASH(batch);
	const ShapeHash ex[] = { HASH(e1), HASH(e2), HASH(e3) };

	EXPECT_JSON(
		shape_status_redis("batch_a1b2c3d4", &b, ex, 3, NULL),
		"{\"batch_id\":\"batch_a1b2c3d4\",\"workflow_id\":\"" WF "\","
		"\"name\":\"Q1 Analysis Batch\",\"status\":\"running\",\"total_instances\":3,"
		"\"completed_instances\":1,\"failed_instances\":0,\"running_instances\":2,"
		"\"pending_instances\":0,\"cancelled_instances\":0,"
		"\"started_at\":\"2024-01-15T10:30:00Z\",\"completed_at\":null,\"executions\":["
		"{\"id\":\"770e8400-e29b-41d4-a716-446655440000\",\"execution_id\":\"exec_12345678\","
		"\"target_instance_id\":\"" I1 "\",\"instance_name\":\"US-East Production\","
		"\"status\":\"completed\",\"phase\":null,\"amc_execution_id\":\"amc-1\","
		"\"row_count\":1000,\"error\":null,\"duration_seconds\":45.0,"
		"\"started_at\":\"2024-01-15T10:30:00Z\",\"completed_at\":\"2024-01-15T10:30:45Z\","
		"\"time_window\":{\"start\":\"2024-01-06T00:00:00\",\"end\":\"2024-01-13T00:00:00\","
		"\"timezone\":\"America/New_York\"},\"waiting_for\":null},"
		"{\"id\":null,\"execution_id\":\"exec_22222222\",\"target_instance_id\":\"" I2 "\","
		"\"instance_name\":null,\"status\":\"running\",\"phase\":\"polling\","
		"\"amc_execution_id\":null,\"row_count\":null,\"error\":null,"
		"\"duration_seconds\":null,\"started_at\":\"2024-01-15T10:30:00Z\","
		"\"completed_at\":null,\"time_window\":null,\"waiting_for\":{\"code\":\"amc_running\","
		"\"text\":\"AMC is running the query\",\"at\":\"2024-01-15T10:30:00Z\"}},"
		"{\"id\":null,\"execution_id\":\"exec_33333333\",\"target_instance_id\":\"" I3 "\","
		"\"instance_name\":null,\"status\":\"running\",\"phase\":null,"
		"\"amc_execution_id\":null,\"row_count\":null,\"error\":null,"
		"\"duration_seconds\":null,\"started_at\":null,\"completed_at\":null,"
		"\"time_window\":null,\"waiting_for\":{\"code\":\"starting\","
		"\"text\":\"claimed by a worker\",\"at\":null}}],"
		"\"status_counts\":{\"running\":2,\"completed\":1}," /* state order */
		"\"window\":{\"type\":\"last_n_days\",\"lag_days\":2,\"n\":7},\"parent_batch_id\":null,"
		"\"on_failure\":\"continue\",\"status_reason\":null}");
}

/* An execution's AMC window: whole or null, a missing zone is UTC. */
static void test_time_window(void)
{
	EXPECT_JSON(
		shape_time_window("2026-11-23T00:00:00", "2026-11-30T00:00:00", "Europe/Berlin"),
		"{\"start\":\"2026-11-23T00:00:00\",\"end\":\"2026-11-30T00:00:00\","
		"\"timezone\":\"Europe/Berlin\"}");
	EXPECT_JSON(shape_time_window("2026-11-23T00:00:00", "2026-11-30T00:00:00", ""),
		    "{\"start\":\"2026-11-23T00:00:00\",\"end\":\"2026-11-30T00:00:00\","
		    "\"timezone\":\"UTC\"}");
	assertf(json_is_null(shape_time_window("2026-11-23T00:00:00", "", "UTC")), "no end: null");
	assertf(json_is_null(shape_time_window(NULL, "2026-11-30T00:00:00", NULL)),
		"no start: null");
}

/* A batch hash with nothing but its owner, no exec hashes, and missing exec hashes. */
static void test_status_empty(void)
{
	const ShapeKv batch[] = { { "user_id", "u" } };
	const ShapeHash b = HASH(batch);
	const ShapeHash missing[] = { { NULL, 0 }, { NULL, 0 } };
	const char *want =
		"{\"batch_id\":\"batch_00000000\",\"workflow_id\":null,\"name\":null,"
		"\"status\":null,\"total_instances\":0,\"completed_instances\":0,"
		"\"failed_instances\":0,\"running_instances\":0,\"pending_instances\":0,"
		"\"cancelled_instances\":0,\"started_at\":null,\"completed_at\":null,"
		"\"executions\":[],\"status_counts\":{},\"window\":null,\"parent_batch_id\":null,"
		"\"on_failure\":\"continue\",\"status_reason\":null}";

	EXPECT_JSON(shape_status_redis("batch_00000000", &b, NULL, 0, NULL), want);
	/* expired exec hashes are not executions: they do not count towards the total */
	EXPECT_JSON(shape_status_redis("batch_00000000", &b, missing, 2, NULL), want);
	/* no batch hash at all still shapes (the route falls back to PostgreSQL before this) */
	EXPECT_JSON(shape_status_redis("batch_00000000", &(ShapeHash){ NULL, 0 }, NULL, 0, NULL),
		    want);
}

/* Odd values in an exec hash: empty, garbage, invalid UTF-8, a repeated field. */
static void test_status_odd_fields(void)
{
	const ShapeKv e[] = {
		{ "exec_id", "exec_44444444" },
		{ "state", "failed" },
		{ "row_count", "12abc" },
		{ "error", "bad \xff byte" },
		{ "started_at", "x" },
		{ "finished_at", T45 },
		{ "phase", "a" },
		{ "phase", "b" },
		{ "instance_name", "" },
	};
	const ShapeHash h = HASH(e);

	EXPECT_JSON(
		shape_exec_redis(&h),
		"{\"id\":null,\"execution_id\":\"exec_44444444\",\"target_instance_id\":null,"
		"\"instance_name\":null,\"status\":\"failed\",\"phase\":\"b\","
		"\"amc_execution_id\":null,\"row_count\":null,\"error\":null,"
		"\"duration_seconds\":null,\"started_at\":null,"
		"\"completed_at\":\"2024-01-15T10:30:45Z\",\"time_window\":null,\"waiting_for\":null}");
	assertf(shape_hash_get(&h, "phase") != NULL &&
			strcmp(shape_hash_get(&h, "phase"), "b") == 0,
		"last repeated field wins");
	assertf(shape_hash_get(&h, "nope") == NULL, "missing field");
	assertf(shape_hash_get(NULL, "phase") == NULL, "NULL hash");
}

/* waiting_for: the words for each unfinished state, null once finished. */
static void test_waiting_for(void)
{
	static const struct {
		ShapeKv kv[4];
		const char *code; /* NULL: null */
	} cases[] = {
		{ { { "state", "queued" }, { "parked", "" }, { "queued_at", "1000" } }, "queued" },
		{ { { "state", "queued" }, { "parked", "instance" } }, "instance_cap" },
		{ { { "state", "queued" }, { "parked", "account" } }, "account_cap" },
		{ { { "state", "retry_wait" }, { "retry_at", T45 }, { "error", "AMC 429" } },
		  "retry" },
		{ { { "state", "running" }, { "phase", "polling" }, { "started_at", "1000" } },
		  "amc_running" },
		{ { { "state", "running" }, { "phase", "archiving" } }, "archiving" },
		{ { { "state", "running" }, { "phase", "" } }, "starting" },
		{ { { "state", "completed" } }, NULL },
		{ { { "state", "failed" }, { "error", "x" } }, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = 0;

		while (n < 4 && cases[i].kv[n].key != NULL)
			n++;
		const ShapeHash h = { cases[i].kv, n };
		json_t *o = shape_exec_redis(&h), *w = json_object_get(o, "waiting_for");

		if (cases[i].code == NULL)
			assertf(json_is_null(w), "case %zu: null", i);
		else
			assertf(json_is_object(w) &&
					strcmp(json_string_value(json_object_get(w, "code")),
					       cases[i].code) == 0 &&
					json_string_value(json_object_get(w, "text"))[0] != '\0',
				"case %zu: %s", i, cases[i].code);
		if (i == 3)
			assertf(strstr(json_string_value(json_object_get(w, "text")),
				       "2024-01-15T10:30:45Z after: AMC 429") != NULL,
				"retry names its time and error: %s",
				json_string_value(json_object_get(w, "text")));
		json_decref(o);
	}
}

/* The text and fields of one exec's waiting_for, with live details. */
static json_t *live_wait(const ShapeKv *kv, size_t n, const ShapeLive *live)
{
	const ShapeHash h = { kv, n };
	json_t *o = shape_exec_live(&h, live), *w = json_incref(json_object_get(o, "waiting_for"));

	json_decref(o);
	return w;
}

static const char *text_of(const json_t *w)
{
	const char *t = json_string_value(json_object_get(w, "text"));

	return t != NULL ? t : "(none)";
}

/* waiting_for's details: how many are ahead in the batch queue, the slots and cap of a parked
 * exec, AMC's time and the next poll, the archive's progress, PostgreSQL down; each left out
 * when what it needs is missing. */
static void test_waiting_details(void)
{
	json_t *queue = json_pack("[s,s,s,s]", "batch_0000000a:exec_00000004",
				  "batch_0000000a:exec_00000003", "batch_0000000a:exec_00000002",
				  "batch_0000000a:exec_00000001");
	const ShapeKv run[] = { { "instance:amc1", "10" }, { "account:acc1", "7" } };
	const ShapeHash running = HASH(run);
	ShapeLive live = { .now_ms = 1705314600000LL + 12 * 60000,
			   .queue = queue,
			   .running = &running,
			   .instance_cap = 10,
			   .account_cap = 200 };
	const ShapeKv q3[] = { { "batch_id", "batch_0000000a" },
			       { "exec_id", "exec_00000003" },
			       { "state", "queued" },
			       { "parked", "" } };
	const ShapeKv q1[] = { { "batch_id", "batch_0000000a" },
			       { "exec_id", "exec_00000001" },
			       { "state", "queued" } };
	const ShapeKv q9[] = { { "batch_id", "batch_0000000a" },
			       { "exec_id", "exec_00000009" },
			       { "state", "queued" } };
	const ShapeKv pi[] = { { "state", "queued" },
			       { "parked", "instance" },
			       { "amc_instance_id", "amc1" },
			       { "account_id", "acc1" } };
	const ShapeKv pa[] = { { "state", "queued" },
			       { "parked", "account" },
			       { "amc_instance_id", "amc2" },
			       { "account_id", "acc1" } };
	const ShapeKv pu[] = { { "state", "queued" },
			       { "parked", "instance" },
			       { "amc_instance_id", "amc9" } };
	const ShapeKv amc[] = { { "state", "running" },
				{ "phase", "polling" },
				{ "started_at", "1705314000000" },
				{ "create_intent_at", T0 },
				{ "next_poll_at", "1705315340500" } };
	const ShapeKv amc0[] = { { "state", "running" },
				 { "phase", "polling" },
				 { "started_at", T0 } };
	const ShapeKv ar[] = { { "state", "running" },
			       { "phase", "archiving" },
			       { "archive_done", "400" },
			       { "archive_total", "1000" } };
	const ShapeKv pg[] = { { "state", "running" },
			       { "phase", "archiving" },
			       { "archive_done", "400" },
			       { "archive_total", "1000" },
			       { "pg_down_since", "1705315325000" } };
	json_t *w;

	w = live_wait(q3, ARRAY_LEN(q3), &live);
	assertf(get_int_or(w, "ahead") == 2 &&
			strcmp(text_of(w), "queued behind 2 jobs of its batch") == 0,
		"ahead 2: %s", text_of(w));
	json_decref(w);
	w = live_wait(q1, ARRAY_LEN(q1), &live);
	assertf(get_int_or(w, "ahead") == 0 && strstr(text_of(w), "next of its batch") != NULL,
		"first in line: %s", text_of(w));
	json_decref(w);
	w = live_wait(q9, ARRAY_LEN(q9), &live);
	assertf(json_object_get(w, "ahead") == NULL &&
			strcmp(text_of(w), "queued for a worker") == 0,
		"not in the queue read: no ahead: %s", text_of(w));
	json_decref(w);
	w = live_wait(pi, ARRAY_LEN(pi), &live);
	assertf(get_int_or(w, "running") == 10 && get_int_or(w, "cap") == 10 &&
			strstr(text_of(w), "instance cap reached: 10/10") != NULL,
		"instance cap: %s", text_of(w));
	json_decref(w);
	w = live_wait(pa, ARRAY_LEN(pa), &live);
	assertf(get_int_or(w, "running") == 7 && get_int_or(w, "cap") == 200 &&
			strstr(text_of(w), "account cap reached: 7/200") != NULL,
		"account cap: %s", text_of(w));
	json_decref(w);
	w = live_wait(pu, ARRAY_LEN(pu), &live);
	assertf(json_object_get(w, "running") == NULL &&
			strcmp(json_string_value(json_object_get(w, "code")), "instance_cap") == 0,
		"no slot count read: no numbers: %s", text_of(w));
	json_decref(w);
	w = live_wait(amc, ARRAY_LEN(amc), &live);
	assertf(strcmp(text_of(w), "AMC running for 12 min, next poll in 21 s") == 0 &&
			strcmp(json_string_value(json_object_get(w, "next_poll_at")),
			       "2024-01-15T10:42:20Z") == 0,
		"AMC running: %s", text_of(w));
	json_decref(w);
	w = live_wait(amc0, ARRAY_LEN(amc0), &live);
	assertf(strcmp(text_of(w), "AMC running for 12 min") == 0 &&
			json_object_get(w, "next_poll_at") == NULL,
		"no poll scheduled yet: %s", text_of(w));
	json_decref(w);
	w = live_wait(amc, ARRAY_LEN(amc), NULL);
	assertf(strcmp(text_of(w), "AMC is running the query") == 0 &&
			json_object_get(w, "next_poll_at") != NULL,
		"no clock: the old words: %s", text_of(w));
	json_decref(w);
	w = live_wait(ar, ARRAY_LEN(ar), NULL);
	assertf(get_int_or(w, "progress") == 40 &&
			strcmp(text_of(w), "archiving the rows into PostgreSQL (40 %)") == 0,
		"archive progress: %s", text_of(w));
	json_decref(w);
	w = live_wait(pg, ARRAY_LEN(pg), NULL);
	assertf(strcmp(json_string_value(json_object_get(w, "code")), "archiving") == 0 &&
			strcmp(text_of(w),
			       "waiting for PostgreSQL (unavailable since 10:42:05 UTC)") == 0 &&
			strcmp(json_string_value(json_object_get(w, "pg_down_since")),
			       "2024-01-15T10:42:05Z") == 0,
		"PostgreSQL down: %s", text_of(w));
	json_decref(w);
	json_decref(queue);
}

/* Sub-second durations stay exact to the millisecond. */
static void test_status_duration(void)
{
	const ShapeKv e[] = { { "started_at", "1000" }, { "finished_at", "2500" } };
	const ShapeHash h = HASH(e);
	json_t *o = shape_exec_redis(&h);
	json_t *d = json_object_get(o, "duration_seconds");

	assertf(json_is_real(d) && json_real_value(d) == 1.5, "1.5 s");
	json_decref(o);
}

/* Every state once, twice, ...: the counters add up to total, pending sums the three waiting
 * states, and status_counts lists exactly the non-zero ones, in state order. */
static void test_status_counts(void)
{
	static const char *const st[] = {
		"pending", "queued", "running", "retry_wait", "completed", "failed", "cancelled",
	};
	ShapeKv kv[28][1];
	ShapeHash h[28];
	size_t n = 0;

	/* state k appears k times (pending 0 times, queued once, ..., cancelled 6 times) */
	for (size_t k = 0; k < ARRAY_LEN(st); k++)
		for (size_t j = 0; j < k; j++) {
			kv[n][0] = (ShapeKv){ "state", st[k] };
			h[n] = (ShapeHash){ kv[n], 1 };
			n++;
		}
	{
		const ShapeKv batch[] = { { "status", "running" } };
		const ShapeHash b = HASH(batch);
		json_t *o = shape_status_redis("batch_0000000a", &b, h, n, NULL);
		json_int_t sum = get_int(o, "completed_instances") +
				 get_int(o, "failed_instances") + get_int(o, "running_instances") +
				 get_int(o, "pending_instances") +
				 get_int(o, "cancelled_instances");

		assertf(get_int(o, "total_instances") == 21, "total %lld",
			(long long)get_int(o, "total_instances"));
		assertf(sum == 21, "counters add up to %lld", (long long)sum);
		assertf(get_int(o, "pending_instances") == 0 + 1 + 3,
			"pending = pending+queued+retry_wait");
		assertf(get_int(o, "running_instances") == 2 &&
				get_int(o, "completed_instances") == 4 &&
				get_int(o, "failed_instances") == 5 &&
				get_int(o, "cancelled_instances") == 6,
			"per-state counters");
		EXPECT_JSON(json_incref(json_object_get(o, "status_counts")),
			    "{\"queued\":1,\"running\":2,\"retry_wait\":3,\"completed\":4,"
			    "\"failed\":5,\"cancelled\":6}");
		json_decref(o);
	}
	/* a finished batch: only completed and failed show up */
	{
		const ShapeKv a[] = { { "state", "completed" } }, f[] = { { "state", "failed" } };
		const ShapeHash ex[] = { HASH(a), HASH(f), HASH(a) };
		json_t *o =
			shape_status_redis("batch_0000000b", &(ShapeHash){ NULL, 0 }, ex, 3, NULL);

		EXPECT_JSON(json_incref(json_object_get(o, "status_counts")),
			    "{\"completed\":2,\"failed\":1}");
		assertf(get_int(o, "total_instances") == 3 &&
				get_int(o, "completed_instances") == 2 &&
				get_int(o, "failed_instances") == 1 &&
				get_int(o, "pending_instances") == 0,
			"finished counters");
		json_decref(o);
	}
}

/* The PostgreSQL path hands over ready executions and ISO times; they pass through as-is. */
static void test_status_from_rows(void)
{
	ShapeBatch b = { "batch_a1b2c3d4",
			 WF,
			 "n",
			 "partial",
			 "2024-01-15T10:30:00Z",
			 "2024-01-15T10:31:00Z",
			 "{\"type\": \"previous_week\", \"lag_days\": 2}",
			 "batch_00000001",
			 NULL,
			 NULL,
			 NULL };
	json_t *execs = json_pack("[{s:s, s:i}, {s:s, s:n}]", "status", "completed", "row_count", 3,
				  "status", "failed", "row_count");

	EXPECT_JSON(
		shape_batch_status(&b, execs),
		"{\"batch_id\":\"batch_a1b2c3d4\",\"workflow_id\":\"" WF "\",\"name\":\"n\","
		"\"status\":\"partial\",\"total_instances\":2,\"completed_instances\":1,"
		"\"failed_instances\":1,\"running_instances\":0,\"pending_instances\":0,"
		"\"cancelled_instances\":0,\"started_at\":\"2024-01-15T10:30:00Z\","
		"\"completed_at\":\"2024-01-15T10:31:00Z\",\"executions\":["
		"{\"status\":\"completed\",\"row_count\":3},{\"status\":\"failed\",\"row_count\":null}],"
		"\"status_counts\":{\"completed\":1,\"failed\":1},"
		"\"window\":{\"type\":\"previous_week\",\"lag_days\":2},\"parent_batch_id\":\"batch_00000001\","
		"\"on_failure\":\"continue\",\"status_reason\":null}");
	/* the policy and the reason it gave */
	b.on_failure = "min_success_ratio";
	b.min_success_ratio = "0.9";
	b.status_reason = "1 of 2 executions succeeded; min_success_ratio 0.9 needs 2";
	{
		json_t *o = shape_batch_status(&b, json_array());
		/* the same double a client parses from "0.9" (jansson prints it with 17 digits) */
		char *t = json_dumps(json_object_get(o, "on_failure"),
				     JSON_COMPACT | JSON_REAL_PRECISION(15));

		assertf(t != NULL && strcmp(t, "{\"min_success_ratio\":0.9}") == 0,
			"on_failure object: %s", t);
		assertf(!strcmp(json_string_value(json_object_get(o, "status_reason")),
				b.status_reason),
			"status_reason");
		free(t);
		json_decref(o);
	}
	b.on_failure = "fail_fast";
	b.status_reason = NULL;
	{
		json_t *o = shape_batch_status(&b, json_array());

		assertf(!strcmp(json_string_value(json_object_get(o, "on_failure")), "fail_fast") &&
				json_is_null(json_object_get(o, "status_reason")),
			"fail_fast, no reason");
		json_decref(o);
	}
	/* an empty name stays "" (PostgreSQL text), unlike Redis' unset "" */
	b.name = "";
	b.completed_at = NULL;
	{
		json_t *o = shape_batch_status(&b, json_array());

		assertf(json_is_string(json_object_get(o, "name")) &&
				strcmp(json_string_value(json_object_get(o, "name")), "") == 0,
			"name \"\"");
		assertf(json_is_null(json_object_get(o, "completed_at")), "completed_at null");
		json_decref(o);
	}
}

static void test_values(void)
{
	EXPECT_JSON(json_pack("[o,o,o,o,o]", shape_int("42"), shape_int("-7"), shape_int(NULL),
			      shape_int(""), shape_int("9223372036854775808")),
		    "[42,-7,null,null,null]");
	EXPECT_JSON(json_pack("[o,o,o,o,o,o,o]", shape_number("45"), shape_number("45.5"),
			      shape_number("-0.25"), shape_number(NULL), shape_number("x"),
			      shape_number("9223372036854775807"),
			      shape_number("123456789012345678901234567890")),
		    "[45,45.5,-0.25,null,null,9223372036854775807,1.2345678901234568e29]");
	EXPECT_JSON(json_pack("[o,o,o]", shape_str("a\"b"), shape_str(""), shape_str(NULL)),
		    "[\"a\\\"b\",\"\",null]");
}

#define COLS \
	"[{\"name\":\"z_metric\",\"type\":\"number\"}," \
	"{\"name\":\"a_dim\",\"type\":\"string\"}," \
	"{\"name\":\"m_rate\",\"type\":\"number\"},{\"name\":\"code\",\"type\":\"string\"}]"
#define OUT_COLS \
	"[{\"name\":\"_instance_name\",\"type\":\"string\"}," \
	"{\"name\":\"_instance_id\",\"type\":\"string\"},{\"name\":\"z_metric\",\"type\":\"number\"}," \
	"{\"name\":\"a_dim\",\"type\":\"string\"},{\"name\":\"m_rate\",\"type\":\"number\"}," \
	"{\"name\":\"code\",\"type\":\"string\"}]"

/* row_data comes back in jsonb's key order (shorter keys first, then bytewise); the rows
 * must follow result_columns. Numbers stay numbers, numeric-looking strings stay strings. */
static void test_rows_column_order(void)
{
	const ShapeRow rows[] = {
		{ "US-East Production", I1,
		  "{\"code\": \"007\", \"a_dim\": \"value1\", \"m_rate\": 0.5, \"z_metric\": 100}" },
		{ "EU", I2,
		  "{\"code\": null, \"a_dim\": \"\", \"z_metric\": -3}" }, /* m_rate absent */
		{ NULL, NULL, "{\"extra\": 1, \"z_metric\": 0}" },
	};

	EXPECT_JSON(shape_aggregated(COLS, rows, 3, 3000),
		    "{\"columns\":" OUT_COLS ",\"rows\":["
		    "{\"_instance_name\":\"US-East Production\",\"_instance_id\":\"" I1 "\","
		    "\"z_metric\":100,\"a_dim\":\"value1\",\"m_rate\":0.5,\"code\":\"007\"},"
		    "{\"_instance_name\":\"EU\",\"_instance_id\":\"" I2 "\","
		    "\"z_metric\":-3,\"a_dim\":\"\",\"m_rate\":null,\"code\":null},"
		    "{\"_instance_name\":null,\"_instance_id\":null,"
		    "\"z_metric\":0,\"a_dim\":null,\"m_rate\":null,\"code\":null}],"
		    "\"total_rows\":3000}");
}

/* Quotes, backslashes, control characters and non-ASCII survive parsing and re-encoding. */
static void test_rows_unicode(void)
{
	const char *val = "Z\xc3\xbcrich \"HQ\" \\ \xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x98\x80\ttab";
	const ShapeRow row = {
		"Caf\xc3\xa9 \"Nord\"", I1,
		"{\"city\": \"Z\xc3\xbcrich \\\"HQ\\\" \\\\ \\u6771\xe4\xba\xac \\ud83d\\ude00\\ttab\"}"
	};
	json_t *cols = shape_source_columns("[{\"name\":\"city\",\"type\":\"string\"}]");
	json_t *o = shape_row(cols, &row), *back;
	char *text = json_dumps(o, JSON_COMPACT);

	assertf(strcmp(json_string_value(json_object_get(o, "city")), val) == 0, "value decoded");
	assertf(strcmp(json_string_value(json_object_get(o, "_instance_name")),
		       "Caf\xc3\xa9 \"Nord\"") == 0,
		"instance name kept");
	/* the reply text is valid JSON that decodes to the same strings */
	back = text != NULL ? json_loads(text, 0, NULL) : NULL;
	assertf(back != NULL && json_equal(back, o), "round trip: %s",
		text != NULL ? text : "(NULL)");
	assertf(text != NULL && strstr(text, "\\\"HQ\\\"") != NULL && strstr(text, "\\t") != NULL,
		"quotes and tab escaped: %s", text != NULL ? text : "(NULL)");
	free(text);
	json_decref(back);
	json_decref(o);
	json_decref(cols);
}

/* int64 limits stay exact integers; an integer beyond 64 bits (PostgreSQL numeric sums) is a
 * real instead of blanking the whole row, and its small neighbours stay integers. */
static void test_rows_large_numbers(void)
{
	json_t *cols =
		shape_source_columns("[{\"name\":\"big\"},{\"name\":\"huge\"},"
				     "{\"name\":\"small\"},{\"name\":\"frac\"},{\"name\":\"s\"}]");
	const ShapeRow r1 = { "a", I1,
			      "{\"s\": \"x\", \"big\": 9223372036854775807, "
			      "\"huge\": -9223372036854775808, \"frac\": 1.25, \"small\": 7}" };
	const ShapeRow r2 = { "a", I1,
			      "{\"s\": \"123456789012345678901234567890\", "
			      "\"big\": 123456789012345678901234567890, \"frac\": 2.5, "
			      "\"small\": 7, \"huge\": 1e400}" };

	EXPECT_JSON(shape_row(cols, &r1),
		    "{\"_instance_name\":\"a\",\"_instance_id\":\"" I1
		    "\",\"big\":9223372036854775807,"
		    "\"huge\":-9223372036854775808,\"small\":7,\"frac\":1.25,\"s\":\"x\"}");
	/* 1e400 is beyond a double: jansson refuses that row text outright, so it reads as
	 * missing values (nulls), never as made-up ones */
	EXPECT_JSON(shape_row(cols, &r2),
		    "{\"_instance_name\":\"a\",\"_instance_id\":\"" I1 "\",\"big\":null,"
		    "\"huge\":null,\"small\":null,\"frac\":null,\"s\":null}");
	{
		const ShapeRow r3 = { "a", I1,
				      "{\"s\": \"123456789012345678901234567890\", "
				      "\"big\": 123456789012345678901234567890, "
				      "\"frac\": 2.5, \"small\": 7}" };

		EXPECT_JSON(shape_row(cols, &r3),
			    "{\"_instance_name\":\"a\",\"_instance_id\":\"" I1 "\","
			    "\"big\":1.2345678901234568e29,\"huge\":null,\"small\":7,\"frac\":2.5,"
			    "\"s\":\"123456789012345678901234567890\"}");
	}
	json_decref(cols);
}

/* No completed execution (no result_columns), or broken texts: the two instance columns,
 * rows with nulls, never a failure. */
static void test_rows_missing(void)
{
	const ShapeRow bad[] = { { "a", I1, "not json" }, { "b", I2, NULL } };
	json_t *src;

	EXPECT_JSON(
		shape_aggregated(NULL, NULL, 0, 0),
		"{\"columns\":[{\"name\":\"_instance_name\",\"type\":\"string\"},"
		"{\"name\":\"_instance_id\",\"type\":\"string\"}],\"rows\":[],\"total_rows\":0}");
	EXPECT_JSON(shape_aggregated("{oops", bad, 2, 2),
		    "{\"columns\":[{\"name\":\"_instance_name\",\"type\":\"string\"},"
		    "{\"name\":\"_instance_id\",\"type\":\"string\"}],\"rows\":["
		    "{\"_instance_name\":\"a\",\"_instance_id\":\"" I1 "\"},"
		    "{\"_instance_name\":\"b\",\"_instance_id\":\"" I2 "\"}],\"total_rows\":2}");
	EXPECT_JSON(
		shape_aggregated("[{\"name\":\"v\",\"type\":\"number\"}]", bad, 1, 1),
		"{\"columns\":[{\"name\":\"_instance_name\",\"type\":\"string\"},"
		"{\"name\":\"_instance_id\",\"type\":\"string\"},{\"name\":\"v\",\"type\":\"number\"}],"
		"\"rows\":[{\"_instance_name\":\"a\",\"_instance_id\":\"" I1 "\",\"v\":null}],"
		"\"total_rows\":1}");
	/* entries without a string name are dropped from the columns */
	src = shape_source_columns("[{\"name\":\"a\"},{\"name\":3},{\"type\":\"x\"},\"b\","
				   "{\"name\":\"c\"}]");
	EXPECT_JSON(src, "[{\"name\":\"a\"},{\"name\":\"c\"}]");
	EXPECT_JSON(shape_source_columns("{\"name\":\"a\"}"), "[]");
}

static void test_instance_results(void)
{
	const ShapeInstance done = { I1,
				     "US-East Production",
				     "us-east-1",
				     "exec_12345678",
				     "completed",
				     "1000",
				     "45",
				     "2024-01-15T10:31:00Z",
				     NULL,
				     "2024-01-01T00:00:00",
				     "2024-01-08T00:00:00",
				     "Europe/Berlin" };
	const ShapeInstance failed = { I2,
				       NULL,
				       "",
				       "exec_22222222",
				       "failed",
				       NULL,
				       "1.5",
				       NULL,
				       "syntax error at or near \"SELEC\"",
				       NULL,
				       NULL,
				       NULL };

	EXPECT_JSON(shape_instance_result(&done),
		    "{\"instance_id\":\"" I1 "\",\"instance_name\":\"US-East Production\","
		    "\"instance_region\":\"us-east-1\",\"execution_id\":\"exec_12345678\","
		    "\"status\":\"completed\",\"row_count\":1000,\"duration_seconds\":45,"
		    "\"completed_at\":\"2024-01-15T10:31:00Z\",\"error\":null,\"time_window\":"
		    "{\"start\":\"2024-01-01T00:00:00\",\"end\":\"2024-01-08T00:00:00\","
		    "\"timezone\":\"Europe/Berlin\"},\"warnings\":[]}");
	EXPECT_JSON(shape_instance_result(&failed),
		    "{\"instance_id\":\"" I2 "\",\"instance_name\":null,\"instance_region\":\"\","
		    "\"execution_id\":\"exec_22222222\",\"status\":\"failed\",\"row_count\":null,"
		    "\"duration_seconds\":1.5,\"completed_at\":null,"
		    "\"error\":\"syntax error at or near \\\"SELEC\\\"\",\"time_window\":null,"
		    "\"warnings\":[]}");
	/* an empty result is flagged, not a silent success */
	const ShapeInstance empty = { I1,          "n",  "r",  "exec_12345678",
				      "completed", "0",  "1",  NULL,
				      NULL,        NULL, NULL, NULL };
	json_t *e = shape_instance_result(&empty);

	assertf(json_array_size(json_object_get(e, "warnings")) == 1 &&
			strcmp(json_string_value(json_array_get(json_object_get(e, "warnings"), 0)),
			       "no_rows") == 0,
		"0 rows: warnings [no_rows]");
	json_decref(e);
}

static void test_batch_results(void)
{
	const ShapeResultsHead h = { "batch_a1b2c3d4",
				     "completed",
				     "3",
				     "3",
				     "0",
				     "{\"type\":\"month_to_date\",\"lag_days\":1}",
				     NULL,
				     "[\"batch_00000002\", \"batch_00000003\"]" };
	const ShapeInstance in = { I1,          "n",  "r",  "exec_12345678",
				   "completed", "2",  "1",  NULL,
				   NULL,        NULL, NULL, NULL };
	const ShapeRow rows[] = { { "n", I1, "{\"metric\": 100, \"dimension\": \"value1\"}" } };
	json_t *inst = json_array();

	json_array_append_new(inst, shape_instance_result(&in));
	EXPECT_JSON(
		shape_batch_results(
			&h, inst,
			shape_aggregated("[{\"name\":\"metric\",\"type\":\"number\"},"
					 "{\"name\":\"dimension\",\"type\":\"string\"}]",
					 rows, 1, 3000)),
		"{\"batch_id\":\"batch_a1b2c3d4\",\"status\":\"completed\",\"total_instances\":3,"
		"\"completed_instances\":3,\"failed_instances\":0,\"instance_results\":["
		"{\"instance_id\":\"" I1 "\",\"instance_name\":\"n\",\"instance_region\":\"r\","
		"\"execution_id\":\"exec_12345678\",\"status\":\"completed\",\"row_count\":2,"
		"\"duration_seconds\":1,\"completed_at\":null,\"error\":null,\"time_window\":null,"
		"\"warnings\":[]}],\"missing_instances\":[],"
		"\"aggregated_data\":{\"columns\":[{\"name\":\"_instance_name\",\"type\":\"string\"},"
		"{\"name\":\"_instance_id\",\"type\":\"string\"},{\"name\":\"metric\",\"type\":\"number\"},"
		"{\"name\":\"dimension\",\"type\":\"string\"}],\"rows\":[{\"_instance_name\":\"n\","
		"\"_instance_id\":\"" I1 "\",\"metric\":100,\"dimension\":\"value1\"}],"
		"\"total_rows\":3000},\"window\":{\"type\":\"month_to_date\",\"lag_days\":1},"
		"\"parent_batch_id\":null,\"retries\":[\"batch_00000002\",\"batch_00000003\"]}");
	/* a part that failed (OOM) fails the whole, and the other part is released (the
	 * sanitizer build checks there is no leak) */
	assertf(shape_batch_results(&h, NULL, json_object()) == NULL, "NULL part fails");
}

int main(void)
{
	RUN_TEST(test_iso_times);
	RUN_TEST(test_status_seed);
	RUN_TEST(test_time_window);
	RUN_TEST(test_status_empty);
	RUN_TEST(test_status_odd_fields);
	RUN_TEST(test_status_duration);
	RUN_TEST(test_waiting_for);
	RUN_TEST(test_waiting_details);
	RUN_TEST(test_status_counts);
	RUN_TEST(test_status_from_rows);
	RUN_TEST(test_values);
	RUN_TEST(test_rows_column_order);
	RUN_TEST(test_rows_unicode);
	RUN_TEST(test_rows_large_numbers);
	RUN_TEST(test_rows_missing);
	RUN_TEST(test_instance_results);
	RUN_TEST(test_batch_results);
	return tap_done();
}
