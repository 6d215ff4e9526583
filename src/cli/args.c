/* args.c - turns submit's command-line words into the batch-execute request's JSON pieces.
 * Kept free of I/O so the rules (what becomes a number, how names resolve) are unit-tested. */
#include "args.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool args_is_json_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (isdigit((unsigned char)*s))
		while (isdigit((unsigned char)*s))
			s++;
	else
		return false;
	if (*s == '.') {
		s++;
		if (!isdigit((unsigned char)*s))
			return false;
		while (isdigit((unsigned char)*s))
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!isdigit((unsigned char)*s))
			return false;
		while (isdigit((unsigned char)*s))
			s++;
	}
	return *s == '\0';
}

json_t *args_param_value(const char *text, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *v;

	if (args_is_json_number(text)) {
		v = json_loads(text, JSON_DECODE_ANY, &jerr);
		/* out of range for jansson (e.g. 30 digits): keep the user's text as a string */
		if (v != NULL)
			return v;
		return json_string(text);
	}
	if (text[0] == '[' || text[0] == '{') {
		v = json_loads(text, 0, &jerr);
		if (v == NULL)
			snprintf(err, errlen, "invalid JSON value '%s': %s", text, jerr.text);
		return v;
	}
	v = json_string(text);
	if (v == NULL)
		snprintf(err, errlen, "value is not valid UTF-8: '%s'", text);
	return v;
}

bool args_set_kv(json_t *obj, const char *kv, char *err, size_t errlen)
{
	const char *eq = strchr(kv, '=');
	char *key;
	json_t *v;
	bool ok;

	if (eq == NULL) {
		snprintf(err, errlen, "expected key=value, got '%s'", kv);
		return false;
	}
	if (eq == kv) {
		snprintf(err, errlen, "empty parameter name in '%s'", kv);
		return false;
	}
	key = strndup(kv, (size_t)(eq - kv));
	if (key == NULL) {
		snprintf(err, errlen, "out of memory");
		return false;
	}
	v = args_param_value(eq + 1, err, errlen);
	ok = v != NULL && json_object_set_new(obj, key, v) == 0;
	if (v != NULL && !ok)
		snprintf(err, errlen, "invalid parameter name '%s'", key);
	free(key);
	return ok;
}

bool args_split_override(const char *arg, char **ref, const char **kv, char *err, size_t errlen)
{
	const char *colon = strchr(arg, ':');

	*ref = NULL;
	if (colon == NULL || colon == arg) {
		snprintf(err, errlen, "expected INSTANCE:key=value, got '%s'", arg);
		return false;
	}
	*ref = strndup(arg, (size_t)(colon - arg));
	if (*ref == NULL) {
		snprintf(err, errlen, "out of memory");
		return false;
	}
	*kv = colon + 1;
	return true;
}

bool args_append_list(json_t *arr, const char *list)
{
	const char *p = list;

	while (*p) {
		size_t n = strcspn(p, ",");

		if (n > 0 && json_array_append_new(arr, json_stringn(p, n)) != 0)
			return false;
		p += n;
		if (*p == ',')
			p++;
	}
	return true;
}

bool args_is_uuid(const char *s)
{
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return s[36] == '\0';
}

/* The one instance whose string member key equals ref (ignoring case if asked); NULL if
 * none, and *many counts the matches so the caller can report ambiguity. */
static const json_t *match(const json_t *instances, const char *key, const char *ref, bool nocase,
			   size_t *many)
{
	const json_t *found = NULL, *inst;
	size_t i;

	*many = 0;
	json_array_foreach ((json_t *)instances, i, inst) {
		const char *v = json_string_value(json_object_get(inst, key));

		if (v != NULL && (nocase ? strcasecmp(v, ref) : strcmp(v, ref)) == 0) {
			found = inst;
			(*many)++;
		}
	}
	return *many == 1 ? found : NULL;
}

const char *args_resolve_by(const json_t *items, const char *key, const char *ref, const char *noun,
			    char *err, size_t errlen)
{
	const char *const keys[] = { "id", key, key };

	for (size_t w = 0; w < ARRAY_LEN(keys); w++) {
		size_t many;
		const json_t *it = match(items, keys[w], ref, w == 2, &many);

		if (many > 1) {
			snprintf(err, errlen, "'%s' matches %zu %ss by %s; use the UUID", ref, many,
				 noun, keys[w]);
			return NULL;
		}
		if (it != NULL && json_is_string(json_object_get(it, "id")))
			return json_string_value(json_object_get(it, "id"));
	}
	if (args_is_uuid(ref))
		return ref; /* the server judges it */
	snprintf(err, errlen, "no %s matches '%s'", noun, ref);
	return NULL;
}

const char *args_resolve_instance(const json_t *instances, const char *ref, char *err,
				  size_t errlen)
{
	static const struct {
		const char *key;
		bool nocase;
	} ways[] = {
		{ "id", false },
		{ "instance_id", false },
		{ "instance_name", false },
		{ "instance_name", true },
	};

	for (size_t w = 0; w < ARRAY_LEN(ways); w++) {
		size_t many;
		const json_t *inst = match(instances, ways[w].key, ref, ways[w].nocase, &many);
		const char *id;

		if (many > 1) {
			snprintf(err, errlen,
				 "'%s' matches %zu instances by %s; use the instance UUID", ref,
				 many, ways[w].key);
			return NULL;
		}
		if (inst == NULL)
			continue;
		id = json_string_value(json_object_get(inst, "id"));
		if (id == NULL) {
			snprintf(err, errlen, "instance '%s' has no id in the server's list", ref);
			return NULL;
		}
		return id;
	}
	if (args_is_uuid(ref))
		return ref;
	{
		const char *near = args_nearest_instance(instances, ref);

		if (near)
			snprintf(err, errlen, "no instance matches '%s'; did you mean '%s'?", ref,
				 near);
		else
			snprintf(err, errlen, "no instance matches '%s' (see 'amcbatch instances')",
				 ref);
	}
	return NULL;
}

/* Edit distance (insert, delete, substitute; case-insensitive for ASCII) between a and b,
 * or SIZE_MAX when either is longer than the names this is meant for. Two rows of the
 * table suffice, on the stack. */
static size_t distance(const char *a, const char *b)
{
	enum { MAXLEN = 128 };
	size_t la = strlen(a), lb = strlen(b), row[2][MAXLEN + 1];

	if (la > MAXLEN || lb > MAXLEN)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t *cur = row[i & 1], *prev = row[(i - 1) & 1];

		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (tolower((unsigned char)a[i - 1]) !=
						    tolower((unsigned char)b[j - 1]));
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;

			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
	}
	return row[la & 1][lb];
}

const char *args_nearest_instance(const json_t *instances, const char *ref)
{
	static const char *const keys[] = { "instance_name", "instance_id" };
	const char *best = NULL;
	size_t bestd = SIZE_MAX, ties = 0, i;
	/* a third of the name, at least 2 and at most 4 edits: "Japan Toy" finds "Japan Toys",
	 * "US" does not find "EU" */
	size_t len = strlen(ref), limit = len / 3 < 2 ? 2 : len / 3 > 4 ? 4 : len / 3;
	const json_t *inst;

	if (len < 3)
		return NULL;
	json_array_foreach ((json_t *)instances, i, inst) {
		for (size_t k = 0; k < ARRAY_LEN(keys); k++) {
			const char *v = json_string_value(json_object_get(inst, keys[k]));
			size_t d = v != NULL ? distance(ref, v) : SIZE_MAX;

			if (d > limit || d > bestd)
				continue;
			if (d == bestd && best != NULL && strcmp(best, v) != 0) {
				ties++;
			} else if (d < bestd) {
				best = v;
				bestd = d;
				ties = 0;
			}
		}
	}
	/* two names equally near: naming one would be a guess */
	return ties == 0 ? best : NULL;
}

bool args_idempotency_key_ok(const char *key)
{
	size_t n = 0;

	for (; key[n]; n++)
		if ((unsigned char)key[n] < 0x21 || (unsigned char)key[n] > 0x7e)
			return false;
	return n > 0 && n <= ARGS_IDEM_KEY_MAX;
}

void args_idempotency_key_format(const unsigned char rnd[16], char out[ARGS_IDEM_KEY_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	char *p = out + 9;

	memcpy(out, "amcbatch-", 9);
	for (int i = 0; i < 16; i++) {
		*p++ = hex[rnd[i] >> 4];
		*p++ = hex[rnd[i] & 15];
	}
	*p = '\0';
}

/* A whole number of at most 6 digits (the server bounds it further). */
static bool small_count(const char *s, long *out)
{
	char *end;

	if (s == NULL || *s < '0' || *s > '9' || strlen(s) > 6)
		return false;
	*out = strtol(s, &end, 10);
	return *end == '\0';
}

json_t *args_window(const char *spec, const char *lag, char *err, size_t errlen)
{
	const char *colon = strchr(spec, ':');
	size_t tlen = colon != NULL ? (size_t)(colon - spec) : strlen(spec);
	long n = 0, days = 0;
	json_t *w;

	if (tlen == 0 || tlen > 40) {
		snprintf(err, errlen,
			 "--window wants a window type such as previous_week or "
			 "last_n_days:7, got '%.60s'",
			 spec);
		return NULL;
	}
	for (size_t i = 0; i < tlen; i++)
		if (!((spec[i] >= 'a' && spec[i] <= 'z') || spec[i] == '_')) {
			snprintf(
				err, errlen,
				"--window: '%.60s' is not a window type (previous_week, "
				"previous_month, month_to_date, last_n_days:N, last_n_full_weeks:N)",
				spec);
			return NULL;
		}
	if (colon != NULL && !small_count(colon + 1, &n)) {
		snprintf(err, errlen, "--window %.40s: N after ':' must be a whole number", spec);
		return NULL;
	}
	if (lag != NULL && !small_count(lag, &days)) {
		snprintf(err, errlen, "--lag-days wants a whole number of days, got '%.40s'", lag);
		return NULL;
	}
	w = json_pack("{s:s%}", "type", spec, tlen);
	if (w == NULL || (colon != NULL && json_object_set_new(w, "n", json_integer(n)) != 0) ||
	    (lag != NULL && json_object_set_new(w, "lag_days", json_integer(days)) != 0)) {
		json_decref(w);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	return w;
}

json_t *args_on_failure(const char *spec, char *err, size_t errlen)
{
	static const char pre[] = "min-success=";
	const char *num = spec + sizeof(pre) - 1;
	char *end;
	double r;

	if (strcmp(spec, "continue") == 0)
		return json_string("continue");
	if (strcmp(spec, "fail-fast") == 0 || strcmp(spec, "fail_fast") == 0)
		return json_string("fail_fast");
	if (strncmp(spec, pre, sizeof(pre) - 1) != 0) {
		snprintf(err, errlen,
			 "--on-failure wants continue, fail-fast or min-success=RATIO "
			 "(e.g. min-success=0.9 or min-success=90%%), got '%.60s'",
			 spec);
		return NULL;
	}
	errno = 0;
	r = strtod(num, &end);
	if (end != num && *end == '%' && end[1] == '\0') {
		r /= 100;
		end++;
	}
	if (end == num || *end != '\0' || errno != 0 || !(r > 0 && r <= 1)) {
		snprintf(err, errlen,
			 "--on-failure min-success= wants a ratio greater than 0 and at "
			 "most 1 (or 1%% to 100%%), got '%.40s'",
			 num);
		return NULL;
	}
	return json_pack("{s:f}", "min_success_ratio", r);
}
