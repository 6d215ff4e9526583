/* validate.h - the checks of POST /workflows/{id}/batch-execute as pure functions (no I/O,
 * no globals): body text -> request, request + instance set -> 403/404, request + workflow
 * -> merged parameters per instance. The handler and the libFuzzer target both call them. */
#ifndef AMCB_VALIDATE_H
#define AMCB_VALIDATE_H

#include <time.h>
#include <jansson.h>

#include "common.h"
#include "params.h"
#include "window.h"

#define VALIDATE_NAME_MAX 200
#define VALIDATE_DESCRIPTION_MAX 2000
#define VALIDATE_LIST_MAX 700 /* id lists in messages are cut beyond this */

/* A rejected request: HTTP status, error code, offending field ("" = none), message. */
typedef struct ValidateErr {
	int status;
	char code[40];
	char field[160]; /* e.g. "parameters.startDate", "instance_parameters.<uuid>.endDate" */
	char message[1024];
} ValidateErr;

typedef struct ValidateLimits {
	size_t max_body_bytes;
	int max_instances;
	int max_params_bytes;
	int window_lag_days; /* a relative window's lag_days when it gives none */
} ValidateLimits;

/* The batch failure policy, `on_failure` (docs/api.md): what a permanent failure of one
 * execution means for the rest. Spelled as PostgreSQL and Redis spell it by policy_name[]. */
typedef enum BatchPolicy {
	POLICY_CONTINUE,          /* the others run on (the default) */
	POLICY_FAIL_FAST,         /* the first one cancels the rest; the batch is failed */
	POLICY_MIN_SUCCESS_RATIO, /* failed when fewer than ceil(ratio * total) completed */
} BatchPolicy;

#define POLICY_COUNT 3
extern const char
	*const policy_name[POLICY_COUNT]; /* "continue", "fail_fast", "min_success_ratio" */

#define POLICY_RATIO_LEN 8 /* "0.0001" .. "1": at most 4 decimals */

/* The accepted body of a batch-execute request. Every member is owned by the struct and
 * released by validate_exec_clear; name/description point into body. */
typedef struct ExecRequest {
	json_t *body;         /* the parsed object */
	json_t *instance_ids; /* lower-case UUID strings, request order, no duplicates */
	json_t *params;       /* base parameters (object, maybe empty) */
	json_t *overrides;    /* instance_parameters keyed by lower-case UUID (object) */
	const char *name;     /* NULL when absent */
	const char *description;
	bool has_window; /* a relative date window instead of startDate/endDate */
	WindowSpec window;
	BatchPolicy on_failure;           /* POLICY_CONTINUE when the body gives none */
	char min_ratio[POLICY_RATIO_LEN]; /* the ratio as decimal text ("0.9"), "" unless
						 * POLICY_MIN_SUCCESS_RATIO */
} ExecRequest;

/* The instances the database knows among the requested ones. */
typedef struct ValidateInstance {
	const char *uuid; /* lower-case */
	bool granted;     /* the user may run on it */
} ValidateInstance;

/* Fills e (field NULL: none) and returns false, for `return validate_fail(...)`. */
bool validate_fail(ValidateErr *e, int status, const char *code, const char *field, const char *fmt,
		   ...) PRINTF_LIKE(5, 6);

/* Parses text (len bytes, need not be NUL-terminated) as a JSON object of at most
 * max_body_bytes. On success *out is the object (caller decrefs). */
MUST_CHECK bool validate_json_object(const char *text, size_t len, size_t max_body_bytes,
				     json_t **out, ValidateErr *e);

/* Rejects keys of obj that are not in allowed (NULL-terminated): 400 unknown_field. */
MUST_CHECK bool validate_known_fields(const json_t *obj, const char *const *allowed,
				      ValidateErr *e);

/* String member name of obj: at most maxlen bytes, no NUL. Absent or null is fine (*out
 * NULL) unless need, which also refuses "" (400 missing_field). *out is borrowed from obj. */
MUST_CHECK bool validate_string(const json_t *obj, const char *name, size_t maxlen, bool need,
				const char **out, ValidateErr *e);

/* Parses an `on_failure` member (NULL or JSON null: continue) into x->on_failure and
 * x->min_ratio: "continue", "fail_fast" or {"min_success_ratio": r}, 0 < r <= 1 with at most
 * 4 decimals. Wrong JSON types are 400 invalid_type, bad values 422 invalid_on_failure, both
 * with field on_failure. */
MUST_CHECK bool validate_on_failure(const json_t *v, ExecRequest *x, ValidateErr *e);

/* Checks the body object of a batch-execute request (takes a reference to it on success)
 * and fills x. On failure x is left cleared. */
MUST_CHECK bool validate_exec_request(json_t *body, const ValidateLimits *lim, ExecRequest *x,
				      ValidateErr *e);
void validate_exec_clear(ExecRequest *x);

/* Every requested instance must be among known and granted. An admin (reveal_unknown) gets
 * 404 instance_not_found listing the unknown ones first; anyone else gets one 403
 * instance_access_denied listing every id they may not use, unknown or not granted alike, so
 * a member cannot probe which instance ids exist. */
MUST_CHECK bool validate_exec_instances(const ExecRequest *x, const ValidateInstance *known,
					size_t nknown, bool reveal_unknown, ValidateErr *e);

/* For each instance (request order): workflow defaults, then base parameters, then the
 * instance's override, then, when the request gives a relative window, its days resolved at
 * `now` in the instance's time zone (zones[i]; NULL: every instance in UTC) as startDate and
 * endDate; every {{placeholder}} of sql must have a usable value, and the date window
 * (startDate <= endDate, valid dates) must be derivable at `now`. On success *merged is a new
 * array of objects, one per instance (caller decrefs), and windows (when not NULL: room for
 * one per instance, caller-owned) holds each instance's resolved AMC window, the one stored
 * with the execution so that every run of it queries the same days. */
MUST_CHECK bool validate_exec_params(const ExecRequest *x, const char *sql, const json_t *wf_params,
				     const char *const *zones, time_t now, json_t **merged,
				     ParamsWindow *windows, ValidateErr *e);

/* Every instance's merged parameters (validate_exec_params' *merged, request order) against
 * the workflow's declared types (workflows.parameter_types; NULL: none): 422
 * invalid_parameter naming the value, in the field the caller set it in (the instance's
 * override, the shared parameters) or "parameters.<name>" for a workflow default. */
MUST_CHECK bool validate_exec_types(const ExecRequest *x, const json_t *merged, const json_t *types,
				    ValidateErr *e);

/* The whole chain on one body text, for the fuzzer and unit tests: true if accepted. Unknown
 * instances are reported as an admin sees them (404). */
bool validate_exec_all(const char *text, size_t len, const ValidateLimits *lim,
		       const ValidateInstance *known, size_t nknown, const char *sql,
		       const json_t *wf_params, time_t now, ValidateErr *e);

#endif
