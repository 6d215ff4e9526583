/* args.h - pure parsing of submit's arguments: --param values, k=v pairs, --override
 * INSTANCE:k=v, comma lists, and resolving an instance given by UUID, AMC instance id or name
 * against the GET /instances list. No I/O. */
#ifndef AMCB_CLI_ARGS_H
#define AMCB_CLI_ARGS_H

#include <jansson.h>

#include "common.h"

/* True if s is exactly a JSON number (RFC 8259 grammar, no blanks). */
bool args_is_json_number(const char *s);

/* Value of a --param: a JSON number stays a number, text starting with '[' or '{' must be
 * JSON (array or object), anything else is a string. NULL with err on bad JSON. Caller decrefs. */
json_t *args_param_value(const char *text, char *err, size_t errlen);

/* Parses "key=value" and sets obj[key]; false with err if there is no '=' or no key. */
MUST_CHECK bool args_set_kv(json_t *obj, const char *kv, char *err, size_t errlen);

/* Splits "INSTANCE:key=value": *ref gets a malloc'ed copy of INSTANCE (caller frees), *kv
 * points into arg. False with err if there is no ':' or INSTANCE is empty. */
MUST_CHECK bool args_split_override(const char *arg, char **ref, const char **kv, char *err,
				    size_t errlen);

/* Appends the non-empty comma-separated items of list to arr as strings. */
MUST_CHECK bool args_append_list(json_t *arr, const char *list);

/* True if s looks like a UUID (8-4-4-4-12 hex digits). */
bool args_is_uuid(const char *s);

/* The instance UUID ("id") that ref names in instances (an array of instance objects):
 * matched on id, then instance_id, then instance_name (exactly, then ignoring case). A UUID
 * not in the list is returned as is, for the server to judge. NULL with err when nothing or
 * more than one instance matches. Borrowed from instances or ref. */
const char *args_resolve_instance(const json_t *instances, const char *ref, char *err,
				  size_t errlen);

/* The "id" of the one item of items (an array of objects, e.g. users or accounts) that ref
 * names: by id, then by the string member key exactly, then ignoring case. A UUID not in
 * the list is returned as is, for the server to judge. NULL with err ("no <noun> matches")
 * when nothing or more than one item matches. Borrowed from items or ref. */
const char *args_resolve_by(const json_t *items, const char *key, const char *ref, const char *noun,
			    char *err, size_t errlen);

/* The instance name (or AMC id) nearest to ref by edit distance, when one is near enough to
 * be a likely typo and no other is as near; NULL otherwise. Points into instances. */
const char *args_nearest_instance(const json_t *instances, const char *ref);

/* The request's "window" from --window TYPE[:N] and --lag-days DAYS (lag may be NULL):
 * {"type": TYPE, "n": N (when given), "lag_days": DAYS (when given)}. The server judges the
 * type and the ranges; here N and DAYS must be whole numbers and TYPE a plain word. NULL with
 * err otherwise. Caller decrefs. */
json_t *args_window(const char *spec, const char *lag, char *err, size_t errlen);

/* The request's "on_failure" from --on-failure: "continue", "fail-fast" (or fail_fast) ->
 * "fail_fast", "min-success=R" with 0 < R <= 1 (or a percentage, "min-success=90%") ->
 * {"min_success_ratio": R}. The server judges the rest (at most 4 decimals). NULL with err
 * otherwise. Caller decrefs. */
json_t *args_on_failure(const char *spec, char *err, size_t errlen);

/* Longest Idempotency-Key accepted from --idempotency-key: the API's limit (IDEM_KEY_MAX in
 * src/api/routes_execute.c), so a longer key is refused before anything is sent. */
#define ARGS_IDEM_KEY_MAX 200
/* Bytes of a generated key, NUL included: "amcbatch-" and 32 hex digits. */
#define ARGS_IDEM_KEY_SIZE 42

/* True if key can be an Idempotency-Key header value: 1..ARGS_IDEM_KEY_MAX printable ASCII
 * characters without blanks (nothing that could end or fold the header). */
bool args_idempotency_key_ok(const char *key);
/* Formats 16 random bytes as "amcbatch-<32 lower-case hex digits>" into out. */
void args_idempotency_key_format(const unsigned char rnd[16], char out[ARGS_IDEM_KEY_SIZE]);

#endif
