/* validate.c - batch-execute request validation without I/O: JSON shape, limits, UUIDs,
 * duplicates, overrides, grants, placeholders and dates. Errors name the field or ids. */
#include "validate.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "params.h"

static const char *const exec_fields[] = {
	"instance_ids", "parameters", "instance_parameters", "name",
	"description",  "window",     "on_failure",          NULL,
};

const char *const policy_name[POLICY_COUNT] = { "continue", "fail_fast", "min_success_ratio" };

bool validate_fail(ValidateErr *e, int status, const char *code, const char *field, const char *fmt,
		   ...)
{
	va_list ap;

	e->status = status;
	snprintf(e->code, sizeof(e->code), "%s", code);
	snprintf(e->field, sizeof(e->field), "%s", field != NULL ? field : "");
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return false;
}

#define fail validate_fail

static void lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Appends s to a ", "-separated list in buf, marking truncation once. */
static void list_add(char *buf, size_t n, const char *s)
{
	size_t len = strlen(buf);

	if (len > VALIDATE_LIST_MAX) {
		if (strcmp(buf + len - 3, "...") != 0 && len + 6 < n)
			strcat(buf, ", ...");
		return;
	}
	snprintf(buf + len, n - len, "%s%s", len > 0 ? ", " : "", s);
}

bool validate_json_object(const char *text, size_t len, size_t max_body_bytes, json_t **out,
			  ValidateErr *e)
{
	json_error_t jerr;
	json_t *v;

	*out = NULL;
	if (len > max_body_bytes)
		return fail(e, 413, "body_too_large", NULL, "request body exceeds %zu bytes",
			    max_body_bytes);
	if (len == 0)
		return fail(e, 400, "invalid_json", NULL, "request body must be a JSON object");
	/* no JSON_DISABLE_EOF_CHECK: trailing garbage after the object is an error */
	v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	/* jansson's lexer reports some failed allocations as bad syntax (a 400 then): only those
	 * it tells apart are the server's fault */
	if (v == NULL && json_error_code(&jerr) == json_error_out_of_memory)
		return fail(e, 500, "internal", NULL, "out of memory");
	if (v == NULL)
		return fail(e, 400, "invalid_json", NULL, "malformed JSON at line %d column %d: %s",
			    jerr.line, jerr.column, jerr.text);
	if (!json_is_object(v)) {
		json_decref(v);
		return fail(e, 400, "invalid_json", NULL, "request body must be a JSON object");
	}
	*out = v;
	return true;
}

bool validate_known_fields(const json_t *obj, const char *const *allowed, ValidateErr *e)
{
	const char *key;
	json_t *v;

	json_object_foreach ((json_t *)obj, key, v) {
		bool ok = false;

		for (size_t i = 0; allowed[i] != NULL && !ok; i++)
			ok = strcmp(allowed[i], key) == 0;
		if (!ok) {
			char shown[65];

			/* the key is caller text: show a bounded, printable prefix */
			snprintf(shown, sizeof(shown), "%s", key);
			for (char *p = shown; *p != '\0'; p++)
				if ((unsigned char)*p < 0x20 || *p == 0x7f)
					*p = '?';
			return fail(e, 400, "unknown_field", NULL, "unknown field \"%s\"", shown);
		}
	}
	return true;
}

bool validate_string(const json_t *obj, const char *name, size_t maxlen, bool need,
		     const char **out, ValidateErr *e)
{
	json_t *v = json_object_get(obj, name);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return !need || fail(e, 400, "missing_field", name, "%s is required", name);
	if (!json_is_string(v))
		return fail(e, 400, "invalid_type", name, "%s must be a string", name);
	if (json_string_length(v) > maxlen || strlen(json_string_value(v)) != json_string_length(v))
		return fail(e, 400, "invalid_value", name,
			    "%s must be at most %zu bytes without NUL", name, maxlen);
	if (need && json_string_length(v) == 0)
		return fail(e, 400, "missing_field", name, "%s must not be empty", name);
	*out = json_string_value(v);
	return true;
}

/* The compact JSON text's length of v into *size; false when out of memory. */
static bool json_size(const json_t *v, size_t *size)
{
	char *text = json_dumps(v, JSON_COMPACT);

	*size = 0;
	if (text == NULL)
		return false;
	*size = strlen(text);
	free(text);
	return true;
}

static bool check_ids(const json_t *ids, const ValidateLimits *lim, ExecRequest *x, ValidateErr *e)
{
	size_t i;
	json_t *v;

	if (ids == NULL || json_is_null(ids))
		return fail(e, 400, "missing_field", "instance_ids", "instance_ids is required");
	if (!json_is_array(ids) || json_array_size(ids) == 0)
		return fail(e, 400, "invalid_type", "instance_ids",
			    "instance_ids must be a non-empty array of instance UUIDs");
	if (json_array_size(ids) > (size_t)lim->max_instances)
		return fail(e, 422, "too_many_instances", "instance_ids",
			    "at most %d instances per batch (got %zu)", lim->max_instances,
			    json_array_size(ids));
	if ((x->instance_ids = json_array()) == NULL)
		return fail(e, 500, "internal", NULL, "out of memory");
	json_array_foreach (ids, i, v) {
		char id[IDS_UUID_LEN + 1];
		size_t k;
		json_t *seen;

		if (!json_is_string(v) || !ids_is_uuid(json_string_value(v)))
			return fail(e, 400, "invalid_value", "instance_ids",
				    "instance_ids[%zu] is not a UUID string", i);
		snprintf(id, sizeof(id), "%s", json_string_value(v));
		lower(id);
		json_array_foreach (x->instance_ids, k, seen)
			if (strcmp(json_string_value(seen), id) == 0)
				return fail(e, 400, "duplicate_instance", "instance_ids",
					    "instance %s is listed twice", id);
		if (json_array_append_new(x->instance_ids, json_string(id)) != 0)
			return fail(e, 500, "internal", NULL, "out of memory");
	}
	return true;
}

static bool check_params(const json_t *params, const ValidateLimits *lim, ExecRequest *x,
			 ValidateErr *e)
{
	size_t size;

	if (params != NULL && !json_is_null(params) && !json_is_object(params))
		return fail(e, 400, "invalid_type", "parameters", "parameters must be an object");
	x->params = json_is_object(params) ? json_deep_copy(params) : json_object();
	if (x->params == NULL)
		return fail(e, 500, "internal", NULL, "out of memory");
	if (!json_size(x->params, &size))
		return fail(e, 500, "internal", NULL, "out of memory");
	if (size > (size_t)lim->max_params_bytes)
		return fail(e, 422, "parameters_too_large", "parameters",
			    "parameters exceed %d bytes (%zu)", lim->max_params_bytes, size);
	return true;
}

static bool check_overrides(const json_t *over, const ValidateLimits *lim, ExecRequest *x,
			    ValidateErr *e)
{
	const char *key;
	json_t *v;
	size_t total = 0;

	if (over != NULL && !json_is_null(over) && !json_is_object(over))
		return fail(e, 400, "invalid_type", "instance_parameters",
			    "instance_parameters must be an object keyed by instance UUID");
	if ((x->overrides = json_object()) == NULL)
		return fail(e, 500, "internal", NULL, "out of memory");
	if (!json_is_object(over))
		return true;
	json_object_foreach ((json_t *)over, key, v) {
		char id[IDS_UUID_LEN + 1];
		bool listed = false;
		size_t k, size;
		json_t *want;

		if (!ids_is_uuid(key))
			return fail(e, 422, "unknown_instance", "instance_parameters",
				    "instance_parameters key %.40s%s is not an instance UUID", key,
				    strlen(key) > 40 ? "..." : "");
		snprintf(id, sizeof(id), "%s", key);
		lower(id);
		json_array_foreach (x->instance_ids, k, want)
			listed |= strcmp(json_string_value(want), id) == 0;
		if (!listed)
			return fail(e, 422, "unknown_instance", "instance_parameters",
				    "instance_parameters key %s is not one of instance_ids", id);
		if (json_object_get(x->overrides, id) != NULL)
			return fail(e, 400, "duplicate_instance", "instance_parameters",
				    "instance_parameters lists %s twice", id);
		if (!json_is_object(v))
			return fail(e, 400, "invalid_type", "instance_parameters",
				    "instance_parameters[%s] must be an object", id);
		if (!json_size(v, &size))
			return fail(e, 500, "internal", NULL, "out of memory");
		if (size > (size_t)lim->max_params_bytes)
			return fail(e, 422, "parameters_too_large", "instance_parameters",
				    "instance_parameters[%s] exceeds %d bytes", id,
				    lim->max_params_bytes);
		total += size;
		if (json_object_set(x->overrides, id, v) != 0)
			return fail(e, 500, "internal", NULL, "out of memory");
	}
	/* each override fits, and so must all of them together (bounded stored row) */
	if (total > (size_t)lim->max_params_bytes * 10)
		return fail(e, 422, "parameters_too_large", "instance_parameters",
			    "instance_parameters exceed %d bytes in total",
			    lim->max_params_bytes * 10);
	return true;
}

/* A relative date window (window.h) replaces startDate and endDate: one request giving both
 * would leave it unclear which days it meant, so that is refused (a workflow's default dates
 * are replaced by the window). */
static bool check_window(const json_t *v, const ValidateLimits *lim, ExecRequest *x, ValidateErr *e)
{
	static const char *const dates[] = { "startDate", "endDate" };
	WindowErr we;
	const char *uuid;
	json_t *o;

	if (v == NULL || json_is_null(v))
		return true;
	if (!window_parse(v, lim->window_lag_days, &x->window, &we))
		return fail(e, we.status, we.code, we.field, "%s", we.message);
	for (size_t k = 0; k < 2; k++) {
		if (json_object_get(x->params, dates[k]) != NULL)
			return fail(e, 422, "window_conflict",
				    k ? "parameters.endDate" : "parameters.startDate",
				    "give either window or %s, not both "
				    "(the window sets startDate and endDate)",
				    dates[k]);
		json_object_foreach (x->overrides, uuid, o) {
			if (json_object_get(o, dates[k]) != NULL)
				return fail(
					e, 422, "window_conflict", "instance_parameters",
					"instance_parameters.%s.%s: give either window or %s, not "
					"both (the window sets startDate and endDate)",
					uuid, dates[k], dates[k]);
		}
	}
	x->has_window = true;
	return true;
}

bool validate_on_failure(const json_t *v, ExecRequest *x, ValidateErr *e)
{
	static const char want[] = "on_failure must be \"continue\", \"fail_fast\" or "
				   "{\"min_success_ratio\": r} with 0 < r <= 1";
	const json_t *r;
	double ratio, off;
	long k;

	x->on_failure = POLICY_CONTINUE;
	x->min_ratio[0] = '\0';
	if (v == NULL || json_is_null(v))
		return true;
	if (json_is_string(v)) {
		if (strcmp(json_string_value(v), "continue") == 0)
			return true;
		if (strcmp(json_string_value(v), "fail_fast") == 0) {
			x->on_failure = POLICY_FAIL_FAST;
			return true;
		}
		return fail(e, 422, "invalid_on_failure", "on_failure", "%s", want);
	}
	if (!json_is_object(v))
		return fail(e, 400, "invalid_type", "on_failure", "%s", want);
	r = json_object_get(v, "min_success_ratio");
	if (r == NULL || json_object_size(v) != 1)
		return fail(e, 422, "invalid_on_failure", "on_failure", "%s", want);
	if (!json_is_number(r))
		return fail(e, 400, "invalid_type", "on_failure",
			    "on_failure.min_success_ratio must be a number");
	ratio = json_number_value(r);
	if (!(ratio > 0 && ratio <= 1))
		return fail(e, 422, "invalid_on_failure", "on_failure",
			    "on_failure.min_success_ratio must be greater than 0 and at most 1");
	/* at most 4 decimals, so Redis (Lua doubles) and PostgreSQL (numeric) derive the same
	 * ceil(ratio * total) for every total (docs/api.md) */
	k = (long)(ratio * 10000 + 0.5); /* 1..10000: ratio is in (0, 1] */
	off = ratio * 10000 - (double)k;
	if (off > 1e-6 || off < -1e-6 || k < 1)
		return fail(e, 422, "invalid_on_failure", "on_failure",
			    "on_failure.min_success_ratio has more than 4 decimals");
	x->on_failure = POLICY_MIN_SUCCESS_RATIO;
	/* canonical text: "0.9", "0.0625", "1" (trailing zeros cut, as PostgreSQL's trim_scale) */
	snprintf(x->min_ratio, sizeof(x->min_ratio), "%d.%04d", k == 10000, (int)(k % 10000));
	for (char *end = x->min_ratio + strlen(x->min_ratio) - 1; *end == '0'; end--)
		*end = '\0';
	if (x->min_ratio[strlen(x->min_ratio) - 1] == '.')
		x->min_ratio[strlen(x->min_ratio) - 1] = '\0';
	return true;
}

bool validate_exec_request(json_t *body, const ValidateLimits *lim, ExecRequest *x, ValidateErr *e)
{
	memset(x, 0, sizeof(*x));
	if (!json_is_object(body))
		return fail(e, 400, "invalid_json", NULL, "request body must be a JSON object");
	if (!validate_known_fields(body, exec_fields, e) ||
	    !validate_string(body, "name", VALIDATE_NAME_MAX, false, &x->name, e) ||
	    !validate_string(body, "description", VALIDATE_DESCRIPTION_MAX, false, &x->description,
			     e) ||
	    !check_ids(json_object_get(body, "instance_ids"), lim, x, e) ||
	    !check_params(json_object_get(body, "parameters"), lim, x, e) ||
	    !check_overrides(json_object_get(body, "instance_parameters"), lim, x, e) ||
	    !check_window(json_object_get(body, "window"), lim, x, e) ||
	    !validate_on_failure(json_object_get(body, "on_failure"), x, e)) {
		validate_exec_clear(x);
		return false;
	}
	x->body = json_incref(body);
	return true;
}

void validate_exec_clear(ExecRequest *x)
{
	json_decref(x->body);
	json_decref(x->instance_ids);
	json_decref(x->params);
	json_decref(x->overrides);
	memset(x, 0, sizeof(*x));
}

bool validate_exec_instances(const ExecRequest *x, const ValidateInstance *known, size_t nknown,
			     bool reveal_unknown, ValidateErr *e)
{
	char unknown[1024] = "", denied[1024] = "";
	size_t i;
	json_t *id;

	json_array_foreach (x->instance_ids, i, id) {
		const ValidateInstance *hit = NULL;

		for (size_t k = 0; k < nknown && hit == NULL; k++)
			if (strcmp(known[k].uuid, json_string_value(id)) == 0)
				hit = &known[k];
		if (hit == NULL && reveal_unknown)
			list_add(unknown, sizeof(unknown), json_string_value(id));
		else if (hit == NULL || !hit->granted)
			list_add(denied, sizeof(denied), json_string_value(id));
	}
	/* unknown ids first: a batch naming a missing instance could never run, grant or not */
	if (unknown[0] != '\0')
		return fail(e, 404, "instance_not_found", "instance_ids", "unknown instances: %s",
			    unknown);
	if (denied[0] != '\0')
		return fail(e, 403, "instance_access_denied", "instance_ids",
			    "no access to instances: %s", denied);
	return true;
}

/* The body member that holds `key` for instance `uuid`: the instance's override when it sets
 * that key, else the shared parameters. Written into buf (the error's `field`), so a client can
 * put the message next to the very input that is wrong. */
static const char *param_field(char *buf, size_t n, const ExecRequest *x, const char *uuid,
			       const char *key)
{
	const json_t *o = json_object_get(x->overrides, uuid);

	if (json_is_object(o) && json_object_get(o, key) != NULL)
		snprintf(buf, n, "instance_parameters.%s.%s", uuid, key);
	else
		snprintf(buf, n, "parameters.%s", key);
	return buf;
}

/* Whether the request itself (shared parameters or this instance's override) sets key. */
static bool caller_set(const ExecRequest *x, const char *uuid, const char *key)
{
	const json_t *o = json_object_get(x->overrides, uuid);

	return json_object_get(x->params, key) != NULL ||
	       (json_is_object(o) && json_object_get(o, key) != NULL);
}

bool validate_exec_types(const ExecRequest *x, const json_t *merged, const json_t *types,
			 ValidateErr *e)
{
	char bad[PARAMS_NAME_MAX + 1], msg[256], field[160];
	const json_t *m;
	size_t i;

	json_array_foreach ((json_t *)merged, i, m) {
		const char *uuid = json_string_value(json_array_get(x->instance_ids, i));
		const json_t *o = json_object_get(x->overrides, uuid != NULL ? uuid : "");

		if (params_check_types(types, m, bad, msg, sizeof(msg)))
			continue;
		if (json_is_object(o) && json_object_get(o, bad) != NULL)
			snprintf(field, sizeof(field), "instance_parameters.%s.%s", uuid, bad);
		else
			snprintf(field, sizeof(field), "parameters.%s", bad);
		return validate_fail(e, 422, "invalid_parameter", field, "%s", msg);
	}
	return true;
}

/* Which window parameter a params_window() message is about: the one it names first. */
static const char *window_key(const char *msg)
{
	const char *s = strstr(msg, "startDate"), *e = strstr(msg, "endDate");

	if (s != NULL && (e == NULL || s < e))
		return "startDate";
	return e != NULL ? "endDate" : NULL;
}

/* The window's days in zone as m's startDate and endDate (both included). */
static bool set_window_days(const ExecRequest *x, const char *uuid, const char *zone, time_t now,
			    json_t *m, ValidateErr *e)
{
	char first[WINDOW_DATE_LEN], last[WINDOW_DATE_LEN];

	if (!window_resolve(&x->window, now, zone, first, last))
		return fail(e, 422, "invalid_timezone", "instance_ids",
			    "instance %s has the time zone \"%.64s\", which is not an IANA zone id "
			    "(such as Europe/Berlin): a relative window cannot be resolved for it",
			    uuid, zone);
	if (json_object_set_new(m, "startDate", json_string(first)) != 0 ||
	    json_object_set_new(m, "endDate", json_string(last)) != 0)
		return fail(e, 500, "internal", NULL, "out of memory");
	return true;
}

bool validate_exec_params(const ExecRequest *x, const char *sql, const json_t *wf_params,
			  const char *const *zones, time_t now, json_t **merged,
			  ParamsWindow *windows, ValidateErr *e)
{
	json_t *names, *out, *id, *n;
	char err[256], field[160];
	const char *key;
	size_t i, k;

	*merged = NULL;
	names = params_placeholders(sql, err, sizeof(err));
	if (names == NULL && strcmp(err, PARAMS_ERR_NOMEM) == 0)
		return fail(e, 500, "internal", NULL, "out of memory");
	if (names == NULL)
		return fail(e, 422, "invalid_placeholder", NULL, "workflow SQL: %s", err);
	if ((out = json_array()) == NULL) {
		json_decref(names);
		return fail(e, 500, "internal", NULL, "out of memory");
	}
	json_array_foreach (x->instance_ids, i, id) {
		const char *uuid = json_string_value(id);
		json_t *base =
			params_merge(json_is_object(wf_params) ? wf_params : NULL, x->params);
		json_t *m = base != NULL ? params_merge(base, json_object_get(x->overrides, uuid))
					 : NULL;
		ParamsWindow w;
		char *text;

		json_decref(base);
		if (m == NULL || json_array_append_new(out, m) != 0) {
			fail(e, 500, "internal", NULL, "out of memory");
			goto bad;
		}
		if (x->has_window &&
		    !set_window_days(x, uuid, zones != NULL && zones[i] != NULL ? zones[i] : "UTC",
				     now, m, e))
			goto bad;
		json_array_foreach (names, k, n) {
			json_t *v = json_object_get(m, json_string_value(n));

			if (v == NULL || json_is_null(v)) {
				fail(e, 422, "missing_parameter",
				     param_field(field, sizeof(field), x, uuid,
						 json_string_value(n)),
				     "placeholder {{%s}} has no value for instance %s",
				     json_string_value(n), uuid);
				goto bad;
			}
		}
		/* the exact substitution the worker will do: a bad value fails now, not later */
		if ((text = params_substitute(sql, m, err, sizeof(err))) == NULL) {
			if (strcmp(err, PARAMS_ERR_NOMEM) == 0)
				fail(e, 500, "internal", NULL, "out of memory");
			else
				fail(e, 422, "invalid_parameter", "parameters", "instance %s: %s",
				     uuid, err);
			goto bad;
		}
		free(text);
		if (!params_window(m, now, &w, err, sizeof(err))) {
			key = window_key(err);
			/* an order error names startDate first; point at the date this request set
			 * (the other may be a workflow default or the default window) */
			if (key != NULL && !caller_set(x, uuid, key)) {
				const char *other =
					strcmp(key, "startDate") == 0 ? "endDate" : "startDate";

				if (caller_set(x, uuid, other))
					key = other;
			}
			fail(e, 422, "invalid_date",
			     key != NULL ? param_field(field, sizeof(field), x, uuid, key)
					 : "parameters",
			     "instance %s: %s", uuid, err);
			goto bad;
		}
		if (windows != NULL)
			windows[i] = w;
	}
	json_decref(names);
	*merged = out;
	return true;
bad:
	json_decref(names);
	json_decref(out);
	return false;
}

bool validate_exec_all(const char *text, size_t len, const ValidateLimits *lim,
		       const ValidateInstance *known, size_t nknown, const char *sql,
		       const json_t *wf_params, time_t now, ValidateErr *e)
{
	json_t *body = NULL, *merged = NULL;
	ExecRequest x;
	bool ok;

	if (!validate_json_object(text, len, lim->max_body_bytes, &body, e))
		return false;
	ok = validate_exec_request(body, lim, &x, e);
	json_decref(body);
	if (!ok)
		return false;
	ok = validate_exec_instances(&x, known, nknown, true, e) &&
	     validate_exec_params(&x, sql, wf_params, NULL, now, &merged, NULL, e);
	json_decref(merged);
	validate_exec_clear(&x);
	return ok;
}
