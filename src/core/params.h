/* params.h - workflow parameters, pure functions: merge base + instance override, find and
 * substitute {{name}} placeholders as escaped SQL literals, and derive the EXPLICIT AMC time
 * window from startDate/endDate. No I/O; used by the API (validation) and the worker. */
#ifndef AMCB_PARAMS_H
#define AMCB_PARAMS_H

#include <time.h>
#include <jansson.h>

#include "common.h"

/* "YYYY-MM-DDTHH:MM:SS" + NUL */
#define PARAMS_TS_LEN 20

/* Longest placeholder name accepted. */
#define PARAMS_NAME_MAX 64

typedef struct ParamsWindow {
	char start[PARAMS_TS_LEN]; /* timeWindowStart, no zone suffix */
	char end[PARAMS_TS_LEN];   /* timeWindowEnd (exclusive), no zone suffix */
} ParamsWindow;

/* The message in err of every function here whose allocation failed: a caller that answers
 * that differently from bad input (a 500, not a 422) compares err with it. */
#define PARAMS_ERR_NOMEM "out of memory"

/* New object: every key of base, then every key of override (override wins). Either may be
 * NULL (treated as {}). NULL if a non-NULL argument is not an object. Caller decrefs. */
json_t *params_merge(const json_t *base, const json_t *override);

/* Names of the {{name}} placeholders in sql, unique, in order of first appearance, as a new
 * JSON array of strings (caller decrefs). Spaces inside the braces are allowed ({{ name }}).
 * NULL with a message in err if sql holds a "{{" that does not open a valid placeholder. */
json_t *params_placeholders(const char *sql, char *err, size_t errlen);

/* Writes the SQL literal for one value into a new string (caller frees): strings quoted with
 * ' doubled, numbers as their JSON text, booleans TRUE/FALSE, null NULL, arrays as
 * ('a', 2, ...). Objects, nested arrays, empty arrays and strings with NUL are errors. */
char *params_literal(const json_t *value, char *err, size_t errlen);

/* Replaces every placeholder of sql by the literal of params[name]. Caller frees the result.
 * NULL with a message in err on a missing value, an unusable value or a malformed "{{". */
char *params_substitute(const char *sql, const json_t *params, char *err, size_t errlen);

/* Parses "YYYY-MM-DD" or "YYYY-MM-DD[T ]HH:MM:SS[.fff][Z|+hh:mm|-hh:mm|+hhmm]" (the zone and
 * fraction are dropped: AMC wants local wall time in timeWindowTimeZone). Writes
 * "YYYY-MM-DDTHH:MM:SS" into out and sets *date_only. */
MUST_CHECK bool params_parse_ts(const char *s, char out[PARAMS_TS_LEN], bool *date_only);

/* The EXPLICIT window for params (an object or NULL):
 *   start = startDate (a date-only value means its midnight);
 *   end   = endDate, where a date-only value means the NEXT midnight (half-open days:
 *           endDate is included in full, amc-api.md section 7); a full date-time is kept.
 * Defaults when absent (both computed in UTC from `now`): end = midnight two days before
 * today (AMC's 48 h availability SLA), start = end - 7 days, i.e. the last 7 full days
 * ending 2 days ago. Only one given: the other comes from the default (start) or is
 * end - 7 days (end). False with a message if a value is not a date string or start >= end. */
MUST_CHECK bool params_window(const json_t *params, time_t now, ParamsWindow *w, char *err,
			      size_t errlen);

/* The parameter types a workflow may declare (workflows.parameter_types): a date ("YYYY-MM-DD"
 * or a date-time params_parse_ts takes), a JSON number, a string, or a non-empty array of
 * strings and numbers (an IN (...) list). */
#define PARAMS_TYPES "date, number, text or list"

/* True if types is an object (or NULL) whose every key is one of placeholders (an array of
 * names, as params_placeholders gives) and every value one of PARAMS_TYPES' names; else false
 * with the offending name (or "" for the object itself) in bad and a message in err. */
MUST_CHECK bool params_types_valid(const json_t *types, const json_t *placeholders,
				   char bad[PARAMS_NAME_MAX + 1], char *err, size_t errlen);

/* True if every value of values (an object) whose name types declares has that type;
 * else false with the name in bad and a message in err. NULL types: nothing to check. */
MUST_CHECK bool params_check_types(const json_t *types, const json_t *values,
				   char bad[PARAMS_NAME_MAX + 1], char *err, size_t errlen);

#endif
