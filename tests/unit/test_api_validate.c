/* test_api_validate.c - src/api/validate.c without a server: body framing, field checks,
 * instance grants (exact denied list), placeholders, dates, merge order and the field list
 * of the other routes (src/api/fields.c), and a schedule's body (src/api/schedule_spec.c). */
#include <stdlib.h>
#include <string.h>

#include "fields.h"
#include "schedule_spec.h"
#include "validate.h"
#include "../tap.h"

#define I1 "20000000-0000-4000-8000-000000000001"
#define I2 "20000000-0000-4000-8000-000000000002"
#define IA "20000000-0000-4000-8000-00000000000a"

static const ValidateLimits lim = { 4096, 3, 200, 2 };
static const ValidateInstance known[] = { { I1, true }, { I2, true }, { IA, false } };
static const char sql[] = "SELECT 1 FROM t WHERE c = {{country}}";

/* Runs the whole chain on text; returns the status (0 = accepted) and fills e. */
static int run(const char *text, ValidateErr *e)
{
	json_t *wf = json_pack("{s:s}", "startDate", "2025-01-01");
	bool ok;

	memset(e, 0, sizeof(*e));
	ok = validate_exec_all(text, strlen(text), &lim, known, 3, sql, wf, 1750000000, e);
	json_decref(wf);
	return ok ? 0 : e->status;
}

#define EXPECT(text, st, cd, fld) \
	do { \
		ValidateErr e_; \
		int got_ = run(text, &e_); \
		assertf(got_ == (st) && (got_ == 0 || (strcmp(e_.code, cd) == 0 && \
						       strcmp(e_.field, fld) == 0)), \
			"%s: got %d %s [%s] %s", text, got_, e_.code, e_.field, e_.message); \
	} while (0)

static void test_framing(void)
{
	char big[5000];

	EXPECT("", 400, "invalid_json", "");
	EXPECT("[]", 400, "invalid_json", "");
	EXPECT("{} {}", 400, "invalid_json", "");
	EXPECT("{\"a\":1,\"a\":1}", 400, "invalid_json", "");
	memset(big, ' ', sizeof(big) - 1);
	big[0] = '{';
	big[sizeof(big) - 2] = '}';
	big[sizeof(big) - 1] = '\0';
	EXPECT(big, 413, "body_too_large", "");
}

static void test_fields(void)
{
	EXPECT("{\"instance_ids\":[\"" I1 "\"],\"parameters\":{\"country\":\"US\"}}", 0, "", "");
	EXPECT("{\"instance_ids\":[\"" I1 "\"],\"extra\":1}", 400, "unknown_field", "");
	EXPECT("{}", 400, "missing_field", "instance_ids");
	EXPECT("{\"instance_ids\":[]}", 400, "invalid_type", "instance_ids");
	EXPECT("{\"instance_ids\":[\"" I1 "\",\"" I2 "\",\"" IA "\",\"" I1 "\"]}", 422,
	       "too_many_instances", "instance_ids");
	EXPECT("{\"instance_ids\":[\"" I1 "\",\"" I1 "\"]}", 400, "duplicate_instance",
	       "instance_ids");
	EXPECT("{\"instance_ids\":[\"x\"]}", 400, "invalid_value", "instance_ids");
	EXPECT("{\"instance_ids\":[\"" I1 "\"],\"name\":7}", 400, "invalid_type", "name");
	EXPECT("{\"instance_ids\":[\"" I1 "\"],\"parameters\":{\"p\":\""
	       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	       "xxxxxxxxxxxxxxxxx\"}}",
	       422, "parameters_too_large", "parameters");
	EXPECT("{\"instance_ids\":[\"" I1 "\"],\"instance_parameters\":{\"" I2 "\":{}}}", 422,
	       "unknown_instance", "instance_parameters");
	EXPECT("{\"instance_ids\":[\"" IA "\"],\"instance_parameters\":{\"" IA "\":{},"
	       "\"20000000-0000-4000-8000-00000000000A\":{}}}",
	       400, "duplicate_instance", "instance_parameters");
}

/* A member naming an instance that does not exist learns no more than for one it may not
 * use: one 403 listing both kinds of id, never a 404. */
static void test_instances_hidden_from_members(void)
{
	const char text[] = "{\"instance_ids\":[\"" I1
			    "\",\"90000000-0000-4000-8000-000000000009\",\"" IA "\"]}";
	json_t *body = NULL;
	ExecRequest x;
	ValidateErr e;

	memset(&e, 0, sizeof(e));
	if (!validate_json_object(text, strlen(text), lim.max_body_bytes, &body, &e) ||
	    !validate_exec_request(body, &lim, &x, &e)) {
		assertf(false, "request rejected: %s", e.message);
		json_decref(body);
		return;
	}
	json_decref(body);
	assertf(!validate_exec_instances(&x, known, 3, false, &e) && e.status == 403 &&
			strcmp(e.code, "instance_access_denied") == 0 &&
			strstr(e.message, "90000000-0000-4000-8000-000000000009") != NULL &&
			strstr(e.message, IA) != NULL && strstr(e.message, I1) == NULL,
		"member: 403 lists the unknown and the ungranted id: %d %s %s", e.status, e.code,
		e.message);
	assertf(!validate_exec_instances(&x, known, 3, true, &e) && e.status == 404,
		"admin: unknown instance is 404 (%d)", e.status);
	validate_exec_clear(&x);
}

static void test_instances(void)
{
	ValidateErr e;

	EXPECT("{\"instance_ids\":[\"90000000-0000-4000-8000-000000000009\"]}", 404,
	       "instance_not_found", "instance_ids");
	assertf(run("{\"instance_ids\":[\"" I1 "\",\"" IA
		    "\"],\"parameters\":{\"country\":\"US\"}}",
		    &e) == 403 &&
			strstr(e.message, IA) != NULL && strstr(e.message, I1) == NULL,
		"403 names exactly the denied id: %s", e.message);
}

static void test_params_and_dates(void)
{
	EXPECT("{\"instance_ids\":[\"" I1 "\"]}", 422, "missing_parameter", "parameters.country");
	EXPECT("{\"instance_ids\":[\"" I1 "\"],\"parameters\":{\"country\":{}}}", 422,
	       "invalid_parameter", "parameters");
	EXPECT("{\"instance_ids\":[\"" I1 "\",\"" I2 "\"],\"parameters\":{\"country\":\"US\"},"
	       "\"instance_parameters\":{\"" I2 "\":{\"country\":null}}}",
	       422, "missing_parameter", "instance_parameters." I2 ".country");
	EXPECT("{\"instance_ids\":[\"" I1 "\"],\"parameters\":{\"country\":\"x\","
	       "\"endDate\":\"2024-12-31\"}}",
	       422, "invalid_date", "parameters.endDate");
	EXPECT("{\"instance_ids\":[\"" I1 "\"],\"parameters\":{\"country\":\"x\","
	       "\"startDate\":\"2025-01-01\",\"endDate\":\"2025-01-01\"}}",
	       0, "", "");
	EXPECT("{\"instance_ids\":[\"" I1 "\"],\"parameters\":{\"country\":\"x\","
	       "\"startDate\":\"2025-02-30\"}}",
	       422, "invalid_date", "parameters.startDate");
}

static void test_merge_order(void)
{
	json_t *body = json_loads("{\"instance_ids\":[\"" I1 "\",\"" I2 "\"],\"parameters\":"
				  "{\"country\":\"US\"},\"instance_parameters\":{\"" I2 "\":"
				  "{\"country\":\"DE\"}}}",
				  0, NULL);
	json_t *wf = json_pack("{s:s, s:i}", "country", "FR", "k", 1), *merged = NULL;
	ExecRequest x;
	ValidateErr e;
	ParamsWindow win[2];

	assertf(validate_exec_request(body, &lim, &x, &e), "request: %s", e.message);
	assertf(validate_exec_params(&x, sql, wf, NULL, 1750000000, &merged, win, &e), "params: %s",
		e.message);
	/* 1750000000 is 2025-06-15: the default window is the 7 days ending 2 days before */
	assertf(strcmp(win[1].start, "2025-06-06T00:00:00") == 0 &&
			strcmp(win[1].end, "2025-06-13T00:00:00") == 0,
		"window resolved at submission: %s .. %s", win[1].start, win[1].end);
	assertf(json_array_size(merged) == 2 &&
			strcmp(json_string_value(
				       json_object_get(json_array_get(merged, 0), "country")),
			       "US") == 0 &&
			strcmp(json_string_value(
				       json_object_get(json_array_get(merged, 1), "country")),
			       "DE") == 0 &&
			json_integer_value(json_object_get(json_array_get(merged, 1), "k")) == 1,
		"workflow defaults < parameters < instance override");
	json_decref(merged);
	json_decref(wf);
	json_decref(body);
	validate_exec_clear(&x);
}

/* a relative window: parsed with the request, refused next to explicit dates, resolved in
 * each instance's own zone into startDate/endDate (what {{startDate}} and AMC's window get) */
static void test_relative_window(void)
{
	static const char wsql[] = "SELECT 1 FROM t WHERE d >= {{startDate}} AND c = {{country}}";
	/* 2026-11-30T03:00:00Z: Monday 04:00 in Berlin, still Sunday 22:00 in New York */
	const time_t now = 1796007600;
	const char *zones[] = { "Europe/Berlin", "America/New_York" };
	json_t *body = json_loads("{\"instance_ids\":[\"" I1 "\",\"" I2 "\"],\"parameters\":"
				  "{\"country\":\"US\"},\"window\":{\"type\":\"previous_week\","
				  "\"lag_days\":0}}",
				  0, NULL);
	json_t *wf = json_pack("{s:s, s:s}", "startDate", "2020-01-01", "endDate", "2020-01-31");
	json_t *merged = NULL;
	ExecRequest x;
	ValidateErr e;
	ParamsWindow win[2];

	EXPECT("{\"instance_ids\":[\"" I1 "\"],\"parameters\":{\"country\":\"x\"},"
	       "\"window\":\"previous_week\"}",
	       0, "", "");
	EXPECT("{\"instance_ids\":[\"" I1 "\"],\"parameters\":{\"country\":\"x\"},"
	       "\"window\":{\"type\":\"last_n_days\",\"n\":7}}",
	       0, "", "");
	EXPECT("{\"instance_ids\":[\"" I1 "\"],\"parameters\":{\"country\":\"x\","
	       "\"startDate\":\"2025-01-01\"},\"window\":\"previous_week\"}",
	       422, "window_conflict", "parameters.startDate");
	EXPECT("{\"instance_ids\":[\"" I1 "\"],\"parameters\":{\"country\":\"x\"},"
	       "\"instance_parameters\":{\"" I1 "\":{\"endDate\":\"2025-01-01\"}},"
	       "\"window\":\"previous_week\"}",
	       422, "window_conflict", "instance_parameters");
	EXPECT("{\"instance_ids\":[\"" I1 "\"],\"parameters\":{\"country\":\"x\"},"
	       "\"window\":{\"type\":\"last_week\"}}",
	       422, "invalid_window", "window.type");
	EXPECT("{\"instance_ids\":[\"" I1 "\"],\"parameters\":{\"country\":\"x\"},"
	       "\"window\":{\"type\":\"last_n_days\"}}",
	       422, "invalid_window", "window.n");
	EXPECT("{\"instance_ids\":[\"" I1 "\"],\"window\":7}", 400, "invalid_type", "window");
	EXPECT("{\"instance_ids\":[\"" I1 "\"],\"window\":{\"type\":\"previous_week\","
	       "\"from\":1}}",
	       400, "unknown_field", "window");

	assertf(validate_exec_request(body, &lim, &x, &e), "request: %s", e.message);
	assertf(x.has_window && x.window.type == WINDOW_PREVIOUS_WEEK && x.window.lag_days == 0,
		"the window is parsed");
	assertf(validate_exec_params(&x, wsql, wf, zones, now, &merged, win, &e), "params: %s",
		e.message);
	assertf(strcmp(win[0].start, "2026-11-23T00:00:00") == 0 &&
			strcmp(win[0].end, "2026-11-30T00:00:00") == 0,
		"Berlin (Monday already): the week just ended, %s .. %s", win[0].start, win[0].end);
	assertf(strcmp(win[1].start, "2026-11-16T00:00:00") == 0 &&
			strcmp(win[1].end, "2026-11-23T00:00:00") == 0,
		"New York (still Sunday): the week before, %s .. %s", win[1].start, win[1].end);
	assertf(json_array_size(merged) == 2 &&
			strcmp(json_string_value(
				       json_object_get(json_array_get(merged, 1), "startDate")),
			       "2026-11-16") == 0 &&
			strcmp(json_string_value(
				       json_object_get(json_array_get(merged, 1), "endDate")),
			       "2026-11-22") == 0,
		"the days replace the workflow's default dates in the parameters");
	json_decref(merged);
	merged = NULL;
	zones[1] = "Mars/Olympus_Mons";
	assertf(!validate_exec_params(&x, wsql, wf, zones, now, &merged, win, &e) &&
			e.status == 422 && strcmp(e.code, "invalid_timezone") == 0 &&
			strstr(e.message, I2) != NULL && merged == NULL,
		"an instance whose zone is not an IANA id is named: %d %s %s", e.status, e.code,
		e.message);
	json_decref(wf);
	json_decref(body);
	validate_exec_clear(&x);
}

static void test_route_fields(void)
{
	const char *const *f = fields_allowed(EVHTTP_REQ_POST, "workflows");
	json_t *ok = json_pack("{s:s, s:s}", "name", "n", "sql_query", "q");
	json_t *bad = json_pack("{s:s, s:s}", "name", "n", "owner", "x");
	ValidateErr e;

	assertf(f != NULL && validate_known_fields(ok, f, &e), "workflow fields accepted");
	assertf(!validate_known_fields(bad, f, &e) && strcmp(e.code, "unknown_field") == 0 &&
			strstr(e.message, "owner") != NULL,
		"unknown field named: %s", e.message);
	assertf(fields_allowed(EVHTTP_REQ_GET, "workflows") == NULL, "GET has no body list");
	json_decref(ok);
	json_decref(bad);
}

/* validate_string also backs req_opt_string/req_need_string (src/api/req.c). */
static void test_string_member(void)
{
	json_t *o = json_pack("{s:s, s:s, s:n, s:i}", "a", "abc", "empty", "", "nul", "num", 1);
	const char *v;
	ValidateErr e;

	assertf(validate_string(o, "a", 3, true, &v, &e) && strcmp(v, "abc") == 0, "need: ok");
	assertf(validate_string(o, "gone", 3, false, &v, &e) && v == NULL, "optional: absent");
	assertf(validate_string(o, "nul", 3, false, &v, &e) && v == NULL, "optional: null");
	assertf(validate_string(o, "empty", 3, false, &v, &e) && strcmp(v, "") == 0,
		"optional: empty kept");
	assertf(!validate_string(o, "gone", 3, true, &v, &e) &&
			strcmp(e.code, "missing_field") == 0 && strcmp(e.field, "gone") == 0 &&
			strcmp(e.message, "gone is required") == 0,
		"need: absent: %s", e.message);
	assertf(!validate_string(o, "empty", 3, true, &v, &e) &&
			strcmp(e.message, "empty must not be empty") == 0,
		"need: empty: %s", e.message);
	assertf(!validate_string(o, "num", 3, false, &v, &e) && e.status == 400 &&
			strcmp(e.code, "invalid_type") == 0,
		"not a string: %s", e.code);
	assertf(!validate_string(o, "a", 2, false, &v, &e) &&
			strcmp(e.code, "invalid_value") == 0 &&
			strcmp(e.message, "a must be at most 2 bytes without NUL") == 0,
		"too long: %s", e.message);
	json_decref(o);
}

#define WF "30000000-0000-4000-8000-000000000001"

/* Checks a schedule body text; returns the status (0 = accepted), fills e and s. */
static int sched(const char *text, ScheduleSpec *s, ValidateErr *e)
{
	json_t *b = json_loads(text, 0, NULL);
	bool ok;

	memset(e, 0, sizeof(*e));
	if (b == NULL)
		return -1;
	ok = schedule_spec_check(b, &lim, s, e);
	json_decref(b);
	return ok ? 0 : e->status;
}

#define SCHED_EXPECT(text, st, cd, fld) \
	do { \
		ScheduleSpec s_; \
		ValidateErr e_; \
		int got_ = sched(text, &s_, &e_); \
		assertf(got_ == (st) && (got_ == 0 || (strcmp(e_.code, cd) == 0 && \
						       strcmp(e_.field, fld) == 0)), \
			"%s: got %d %s [%s] %s", text, got_, e_.code, e_.field, e_.message); \
		if (got_ == 0) \
			schedule_spec_clear(&s_); \
	} while (0)

static void test_schedule_body(void)
{
	ScheduleSpec s;
	ValidateErr e;
	json_t *stored, *again;
	char *pol;

	assertf(sched("{\"name\": \"w\", \"workflow_id\": \"" WF "\", \"cron\": \"0 6 * * MON\","
		      " \"instance_ids\": [\"" I1 "\"]}",
		      &s, &e) == 0,
		"minimal schedule: %s", e.message);
	assertf(strcmp(s.timezone, "UTC") == 0 && s.enabled && s.overlap == OVERLAP_SKIP &&
			s.in.on_failure == POLICY_CONTINUE &&
			strcmp(s.cron_text, "0 6 * * MON") == 0,
		"defaults: UTC, enabled, skip, continue");
	assertf(schedule_policy_text(&s.in) == NULL, "continue is stored as NULL");
	schedule_spec_clear(&s);
	SCHED_EXPECT("{\"workflow_id\": \"" WF "\", \"cron\": \"@daily\", \"instance_ids\": [\"" I1
		     "\"]}",
		     400, "missing_field", "name");
	SCHED_EXPECT("{\"name\": \"w\", \"cron\": \"@daily\", \"instance_ids\": [\"" I1 "\"]}", 400,
		     "missing_field", "workflow_id");
	SCHED_EXPECT(
		"{\"name\": \"w\", \"workflow_id\": \"x\", \"cron\": \"@daily\", \"instance_ids\": [\"" I1
		"\"]}",
		422, "invalid_value", "workflow_id");
	SCHED_EXPECT("{\"name\": \"w\", \"workflow_id\": \"" WF "\", \"instance_ids\": [\"" I1
		     "\"]}",
		     400, "missing_field", "cron");
	SCHED_EXPECT("{\"name\": \"w\", \"workflow_id\": \"" WF
		     "\", \"cron\": \"0 25 * * *\", \"instance_ids\": [\"" I1 "\"]}",
		     422, "invalid_cron", "cron");
	SCHED_EXPECT("{\"name\": \"w\", \"workflow_id\": \"" WF
		     "\", \"cron\": \"@daily\", \"timezone\": \"CEST\","
		     " \"instance_ids\": [\"" I1 "\"]}",
		     422, "invalid_timezone", "timezone");
	SCHED_EXPECT("{\"name\": \"w\", \"workflow_id\": \"" WF
		     "\", \"cron\": \"@daily\", \"enabled\": 1,"
		     " \"instance_ids\": [\"" I1 "\"]}",
		     400, "invalid_type", "enabled");
	SCHED_EXPECT("{\"name\": \"w\", \"workflow_id\": \"" WF
		     "\", \"cron\": \"@daily\", \"overlap\": \"wait\","
		     " \"instance_ids\": [\"" I1 "\"]}",
		     422, "invalid_value", "overlap");
	SCHED_EXPECT("{\"name\": \"w\", \"workflow_id\": \"" WF
		     "\", \"cron\": \"@daily\", \"when\": 1,"
		     " \"instance_ids\": [\"" I1 "\"]}",
		     400, "unknown_field", "");
	/* the batch members go through batch-execute's checks, with its codes and fields */
	SCHED_EXPECT("{\"name\": \"w\", \"workflow_id\": \"" WF
		     "\", \"cron\": \"@daily\", \"instance_ids\": []}",
		     400, "invalid_type", "instance_ids");
	SCHED_EXPECT("{\"name\": \"w\", \"workflow_id\": \"" WF
		     "\", \"cron\": \"@daily\", \"instance_ids\": [\"" I1 "\"],"
		     " \"window\": {\"type\": \"fortnight\"}}",
		     422, "invalid_window", "window.type");
	SCHED_EXPECT("{\"name\": \"w\", \"workflow_id\": \"" WF
		     "\", \"cron\": \"@daily\", \"instance_ids\": [\"" I1 "\"],"
		     " \"on_failure\": \"sometimes\"}",
		     422, "invalid_on_failure", "on_failure");

	/* what the table stores reads back as the same schedule */
	assertf(sched("{\"name\": \"w\", \"workflow_id\": \"" WF "\", \"cron\": \"0 6 * * MON\","
		      " \"timezone\": \"Europe/Berlin\", \"overlap\": \"queue\", \"instance_ids\": [\"" I1
		      "\"],"
		      " \"on_failure\": {\"min_success_ratio\": 0.9}, \"window\": \"previous_week\"}",
		      &s, &e) == 0,
		"full schedule: %s", e.message);
	pol = schedule_policy_text(&s.in);
	assertf(pol != NULL && strcmp(pol, "{\"min_success_ratio\": 0.9}") == 0,
		"ratio stored as given: %s", pol);
	stored = schedule_stored_body("w", NULL, WF, "[\"" I1 "\"]", "{}", "{}",
				      "{\"type\": \"previous_week\", \"lag_days\": 2}",
				      "0 6 * * MON", "Europe/Berlin", false, "queue", pol);
	free(pol);
	schedule_spec_clear(&s);
	assertf(stored != NULL && schedule_spec_check(stored, &lim, &s, &e) && !s.enabled &&
			s.overlap == OVERLAP_QUEUE && s.in.has_window &&
			s.in.on_failure == POLICY_MIN_SUCCESS_RATIO &&
			strcmp(s.in.min_ratio, "0.9") == 0,
		"stored body checks again: %s", e.message);
	schedule_spec_clear(&s);
	again = schedule_stored_body("w", "d", WF, "[]", "{}", "{}", NULL, "@daily", "UTC", true,
				     "skip", NULL);
	assertf(again != NULL && json_object_get(again, "window") == NULL &&
			json_object_get(again, "on_failure") == NULL &&
			strcmp(json_string_value(json_object_get(again, "description")), "d") == 0,
		"NULL columns are left out");
	json_decref(stored);
	json_decref(again);
}

int main(void)
{
	RUN_TEST(test_framing);
	RUN_TEST(test_fields);
	RUN_TEST(test_instances);
	RUN_TEST(test_instances_hidden_from_members);
	RUN_TEST(test_params_and_dates);
	RUN_TEST(test_merge_order);
	RUN_TEST(test_relative_window);
	RUN_TEST(test_route_fields);
	RUN_TEST(test_string_member);
	RUN_TEST(test_schedule_body);
	return tap_done();
}
