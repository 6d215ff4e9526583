/* schedule_spec.c - the body of POST and PATCH /schedules checked without I/O (the schedule's
 * own members here, the batch members by validate.c exactly as batch-execute checks them),
 * and the members computed on the way out: the next run times and a human reading
 * (schedule_spec.h). */
#include "schedule_spec.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tz.h"

const char *const schedule_fields[] = {
	"name",   "description", "workflow_id", "instance_ids", "parameters", "instance_parameters",
	"window", "cron",        "timezone",    "enabled",      "overlap",    "on_failure",
	NULL,
};

/* the members validate_exec_request checks */
static const char *const batch_members[] = {
	"name",   "description", "instance_ids", "parameters", "instance_parameters",
	"window", "on_failure",
};

#define fail validate_fail

void schedule_spec_clear(ScheduleSpec *s)
{
	validate_exec_clear(&s->in);
	memset(s, 0, sizeof(*s));
}

static bool check_own(const json_t *body, ScheduleSpec *s, ValidateErr *e)
{
	const char *wf, *cron, *zone;
	const json_t *v;
	char err[200];

	if (!validate_string(body, "name", VALIDATE_NAME_MAX, true, &wf, e) ||
	    !validate_string(body, "workflow_id", IDS_UUID_LEN, true, &wf, e))
		return false;
	if (!ids_is_uuid(wf))
		return fail(e, 422, "invalid_value", "workflow_id", "workflow_id must be a UUID");
	snprintf(s->workflow_id, sizeof(s->workflow_id), "%s", wf);
	for (char *p = s->workflow_id; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	if (!validate_string(body, "cron", CRON_EXPR_MAX, true, &cron, e))
		return false;
	if (!cron_parse(cron, &s->cron, err, sizeof(err)))
		return fail(e, 422, "invalid_cron", "cron", "%s", err);
	snprintf(s->cron_text, sizeof(s->cron_text), "%s", cron);
	if (!validate_string(body, "timezone", FIELDLEN_TIMEZONE, false, &zone, e))
		return false;
	if (zone == NULL || *zone == '\0')
		zone = "UTC";
	if (!tz_valid(zone))
		return fail(e, 422, "invalid_timezone", "timezone",
			    "timezone must be an IANA time zone such as Europe/Berlin");
	snprintf(s->timezone, sizeof(s->timezone), "%s", zone);
	v = json_object_get(body, "enabled");
	if (v != NULL && !json_is_null(v) && !json_is_boolean(v))
		return fail(e, 400, "invalid_type", "enabled", "enabled must be a boolean");
	s->enabled = v == NULL || json_is_null(v) || json_is_true(v);
	v = json_object_get(body, "overlap");
	if (v != NULL && !json_is_null(v) && !json_is_string(v))
		return fail(e, 400, "invalid_type", "overlap", "overlap must be a string");
	if (v == NULL || json_is_null(v) || strcmp(json_string_value(v), "skip") == 0)
		s->overlap = OVERLAP_SKIP;
	else if (strcmp(json_string_value(v), "queue") == 0)
		s->overlap = OVERLAP_QUEUE;
	else
		return fail(e, 422, "invalid_value", "overlap", "overlap must be skip or queue");
	return true;
}

bool schedule_spec_check(json_t *body, const ValidateLimits *lim, ScheduleSpec *s, ValidateErr *e)
{
	json_t *batch;
	bool ok;

	memset(s, 0, sizeof(*s));
	if (!json_is_object(body))
		return fail(e, 400, "invalid_json", "", "request body must be a JSON object");
	if (!validate_known_fields(body, schedule_fields, e) || !check_own(body, s, e)) {
		schedule_spec_clear(s);
		return false;
	}
	/* the batch members go through batch-execute's own checks, so a schedule accepts what a
	 * batch accepts and says so with the same codes and fields */
	if ((batch = json_object()) == NULL)
		return fail(e, 500, "internal", "", "out of memory");
	for (size_t i = 0; i < ARRAY_LEN(batch_members); i++) {
		json_t *v = json_object_get(body, batch_members[i]);

		if (v != NULL && json_object_set(batch, batch_members[i], v) != 0) {
			json_decref(batch);
			return fail(e, 500, "internal", "", "out of memory");
		}
	}
	ok = validate_exec_request(batch, lim, &s->in, e);
	json_decref(batch); /* s->in holds its own reference */
	if (!ok)
		schedule_spec_clear(s);
	return ok;
}

/* Sets key to the JSON parsed from text (kept out when text is NULL or unreadable). */
static bool set_json(json_t *obj, const char *key, const char *text)
{
	json_t *v;

	if (text == NULL || *text == '\0')
		return true;
	v = json_loads(text, JSON_DECODE_ANY, NULL);
	return v == NULL || json_object_set_new(obj, key, v) == 0;
}

json_t *schedule_stored_body(const char *name, const char *description, const char *workflow_id,
			     const char *instance_ids, const char *parameters,
			     const char *instance_parameters, const char *window, const char *cron,
			     const char *timezone, bool enabled, const char *overlap,
			     const char *on_failure)
{
	json_t *b = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s}", "name", name, "workflow_id",
			      workflow_id, "cron", cron, "timezone", timezone, "enabled", enabled,
			      "overlap", overlap);

	if (b == NULL)
		return NULL;
	if ((description != NULL &&
	     json_object_set_new(b, "description", json_string(description)) != 0) ||
	    !set_json(b, "instance_ids", instance_ids) || !set_json(b, "parameters", parameters) ||
	    !set_json(b, "instance_parameters", instance_parameters) ||
	    !set_json(b, "window", window) || !set_json(b, "on_failure", on_failure)) {
		json_decref(b);
		return NULL;
	}
	return b;
}

void schedule_iso_ms(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

json_t *schedule_next_runs(const Cron *c, const char *zone, time_t after, int n)
{
	json_t *a = json_array();
	char iso[32];
	time_t t = after;

	for (int i = 0; a != NULL && i < n; i++) {
		if (!cron_next(c, zone, t, &t)) {
			json_decref(a);
			return NULL;
		}
		schedule_iso_ms((int64_t)t * 1000, iso, sizeof(iso));
		iso[19] = 'Z'; /* whole minutes: no milliseconds */
		iso[20] = '\0';
		if (json_array_append_new(a, json_string(iso)) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

void schedule_describe(const Cron *c, const char *zone, char *buf, size_t len)
{
	size_t n = cron_describe(c, buf, len);

	snprintf(buf + n, len - n, ", %s", zone);
}

bool schedule_add_computed(json_t *obj, time_t now)
{
	const char *cron = json_string_value(json_object_get(obj, "cron"));
	const char *zone = json_string_value(json_object_get(obj, "timezone"));
	char err[200], text[CRON_DESCRIBE_MAX + FIELDLEN_TIMEZONE + 4];
	json_t *runs;
	Cron c;

	if (cron == NULL || zone == NULL || !cron_parse(cron, &c, err, sizeof(err)))
		return false;
	schedule_describe(&c, zone, text, sizeof(text));
	if (json_object_set_new(obj, "cron_description", json_string(text)) != 0)
		return false;
	if (!json_is_true(json_object_get(obj, "enabled")))
		runs = json_array();
	else
		runs = schedule_next_runs(&c, zone, now, SCHEDULE_NEXT_RUNS);
	return runs != NULL && json_object_set_new(obj, "next_runs", runs) == 0;
}

char *schedule_policy_text(const ExecRequest *in)
{
	char *t;

	switch (in->on_failure) {
	case POLICY_FAIL_FAST:
		return strdup("\"fail_fast\"");
	case POLICY_MIN_SUCCESS_RATIO:
		/* the ratio's own text: "0.9" stays 0.9, not a double's 17 digits */
		if ((t = malloc(strlen(in->min_ratio) + 32)) != NULL)
			sprintf(t, "{\"min_success_ratio\": %s}", in->min_ratio);
		return t;
	default:
		return NULL;
	}
}
