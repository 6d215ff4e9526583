/* params.c - parameter merge, {{placeholder}} substitution with strict SQL literal quoting,
 * and the AMC time window. Pure string work: no I/O, no logging (callers report errors). */
#include "params.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

/* Hands the string over (caller frees), or reports the allocation that failed. */
static char *take(StrBuf *b, char *err, size_t errlen)
{
	char *s = strbuf_take(b, NULL);

	if (s == NULL)
		snprintf(err, errlen, "%s", PARAMS_ERR_NOMEM);
	return s;
}

json_t *params_merge(const json_t *base, const json_t *override)
{
	const char *k;
	json_t *v;

	if ((base != NULL && !json_is_object(base)) ||
	    (override != NULL && !json_is_object(override)))
		return NULL;
	json_t *out = json_object();
	if (out == NULL)
		return NULL;
	/* json_object_foreach wants a non-const object; the loops only read. */
	if (base != NULL) {
		json_object_foreach ((json_t *)base, k, v) {
			if (json_object_set(out, k, v) != 0)
				goto fail;
		}
	}
	if (override != NULL) {
		json_object_foreach ((json_t *) override, k, v) {
			if (json_object_set(out, k, v) != 0)
				goto fail;
		}
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}

static bool is_name_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_name_char(char c)
{
	return is_name_start(c) || (c >= '0' && c <= '9');
}

/* At s (pointing at "{{"), reads one placeholder. On success copies the name into name and
 * returns the length of the whole "{{ name }}" token; 0 if malformed. */
static size_t scan_placeholder(const char *s, char name[PARAMS_NAME_MAX + 1])
{
	const char *p = s + 2;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!is_name_start(*p))
		return 0;
	const char *n0 = p;
	while (is_name_char(*p))
		p++;
	size_t nlen = (size_t)(p - n0);
	if (nlen > PARAMS_NAME_MAX)
		return 0;
	while (*p == ' ' || *p == '\t')
		p++;
	if (p[0] != '}' || p[1] != '}')
		return 0;
	memcpy(name, n0, nlen);
	name[nlen] = '\0';
	return (size_t)(p + 2 - s);
}

/* Message for a malformed "{{" at offset off: quotes a few characters so the user finds it. */
static void malformed(const char *sql, const char *at, char *err, size_t errlen)
{
	snprintf(err, errlen, "malformed placeholder at offset %zu: \"%.20s\"", (size_t)(at - sql),
		 at);
}

json_t *params_placeholders(const char *sql, char *err, size_t errlen)
{
	char name[PARAMS_NAME_MAX + 1];
	json_t *names = json_array();
	if (names == NULL) {
		snprintf(err, errlen, "%s", PARAMS_ERR_NOMEM);
		return NULL;
	}
	for (const char *p = sql; (p = strstr(p, "{{")) != NULL;) {
		size_t n = scan_placeholder(p, name);
		if (n == 0) {
			malformed(sql, p, err, errlen);
			json_decref(names);
			return NULL;
		}
		bool seen = false;
		size_t i;
		json_t *v;
		json_array_foreach (names, i, v) {
			if (strcmp(json_string_value(v), name) == 0)
				seen = true;
		}
		if (!seen && json_array_append_new(names, json_string(name)) != 0) {
			snprintf(err, errlen, "%s", PARAMS_ERR_NOMEM);
			json_decref(names);
			return NULL;
		}
		p += n;
	}
	return names;
}

/* Real numbers: shortest of %.15g/%.17g that reads back exactly (0.1 stays "0.1"). */
static void real_text(double d, char out[40])
{
	snprintf(out, 40, "%.15g", d);
	if (strtod(out, NULL) != d)
		snprintf(out, 40, "%.17g", d);
}

static bool add_scalar(StrBuf *b, const json_t *v, char *err, size_t errlen)
{
	char num[40];

	switch (json_typeof(v)) {
	case JSON_STRING: {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);
		if (memchr(s, '\0', n) != NULL) {
			snprintf(err, errlen, "string value contains a NUL byte");
			return false;
		}
		strbuf_add(b, "'", 1);
		for (const char *q; (q = memchr(s, '\'', n)) != NULL;) {
			strbuf_add(b, s, (size_t)(q - s) + 1);
			strbuf_add(b, "'", 1);
			n -= (size_t)(q - s) + 1;
			s = q + 1;
		}
		strbuf_add(b, s, n);
		strbuf_add(b, "'", 1);
		return true;
	}
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		strbuf_adds(b, num);
		return true;
	case JSON_REAL:
		real_text(json_real_value(v), num);
		strbuf_adds(b, num);
		return true;
	case JSON_TRUE:
		strbuf_adds(b, "TRUE");
		return true;
	case JSON_FALSE:
		strbuf_adds(b, "FALSE");
		return true;
	case JSON_NULL:
		strbuf_adds(b, "NULL");
		return true;
	case JSON_ARRAY:
		snprintf(err, errlen, "nested arrays are not allowed");
		return false;
	case JSON_OBJECT:
	default:
		snprintf(err, errlen, "objects cannot be substituted into SQL");
		return false;
	}
}

static bool add_literal(StrBuf *b, const json_t *v, char *err, size_t errlen)
{
	if (!json_is_array(v))
		return add_scalar(b, v, err, errlen);
	if (json_array_size(v) == 0) {
		snprintf(err, errlen, "empty array cannot be substituted into SQL");
		return false;
	}
	strbuf_add(b, "(", 1);
	for (size_t i = 0; i < json_array_size(v); i++) {
		if (i > 0)
			strbuf_add(b, ", ", 2);
		if (!add_scalar(b, json_array_get(v, i), err, errlen))
			return false;
	}
	strbuf_add(b, ")", 1);
	return true;
}

char *params_literal(const json_t *value, char *err, size_t errlen)
{
	StrBuf b = STRBUF_INIT;
	if (!add_literal(&b, value, err, errlen)) {
		strbuf_cleanup(&b);
		return NULL;
	}
	return take(&b, err, errlen);
}

char *params_substitute(const char *sql, const json_t *params, char *err, size_t errlen)
{
	char name[PARAMS_NAME_MAX + 1];
	char why[160];
	StrBuf b = STRBUF_INIT;
	const char *p = sql;

	if (params != NULL && !json_is_object(params)) {
		snprintf(err, errlen, "parameters must be a JSON object");
		return NULL;
	}
	for (const char *ph; (ph = strstr(p, "{{")) != NULL;) {
		size_t n = scan_placeholder(ph, name);
		if (n == 0) {
			malformed(sql, ph, err, errlen);
			goto fail;
		}
		const json_t *v = params != NULL ? json_object_get(params, name) : NULL;
		if (v == NULL) {
			snprintf(err, errlen, "no value for parameter '%s'", name);
			goto fail;
		}
		strbuf_add(&b, p, (size_t)(ph - p));
		if (!add_literal(&b, v, why, sizeof(why))) {
			snprintf(err, errlen, "parameter '%s': %s", name, why);
			goto fail;
		}
		p = ph + n;
	}
	strbuf_adds(&b, p);
	return take(&b, err, errlen);
fail:
	strbuf_cleanup(&b);
	return NULL;
}

/* ---- dates ---- */

static bool digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm): exact, no time zone. */
static long days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	long yoe = y - era * 400;
	long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(long z, int *y, int *m, int *d)
{
	z += 719468;
	long era = (z >= 0 ? z : z - 146096) / 146097;
	long doe = z - era * 146097;
	long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	long mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

/* Fixed-width timestamp; fields are range-checked by the callers, the wide buffer only
 * keeps the compiler's truncation analysis quiet. */
static void format_ts(char out[PARAMS_TS_LEN], int y, int mo, int d, int h, int mi, int s)
{
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d", y, mo, d, h, mi, s);
	memcpy(out, tmp, PARAMS_TS_LEN - 1);
	out[PARAMS_TS_LEN - 1] = '\0';
}

static void format_day(long days, char out[PARAMS_TS_LEN])
{
	int y, m, d;
	civil_from_days(days, &y, &m, &d);
	format_ts(out, y % 10000, m, d, 0, 0, 0);
}

bool params_parse_ts(const char *s, char out[PARAMS_TS_LEN], bool *date_only)
{
	int y, mo, d, h = 0, mi = 0, se = 0;

	if (s == NULL || strlen(s) < 10 || !digits(s, 4, &y) || s[4] != '-' ||
	    !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d))
		return false;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo))
		return false;
	const char *p = s + 10;
	*date_only = *p == '\0';
	if (!*date_only) {
		if ((*p != 'T' && *p != ' ') || !digits(p + 1, 2, &h) || p[3] != ':' ||
		    !digits(p + 4, 2, &mi) || p[6] != ':' || !digits(p + 7, 2, &se))
			return false;
		if (h > 23 || mi > 59 || se > 59)
			return false;
		p += 9;
		if (*p == '.') { /* fraction: dropped */
			p++;
			if (!isdigit((unsigned char)*p))
				return false;
			while (isdigit((unsigned char)*p))
				p++;
		}
		/* zone: dropped, the window is wall time in timeWindowTimeZone */
		int zh, zm;
		if (*p == 'Z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			if (!digits(p + 1, 2, &zh))
				return false;
			p += 3;
			if (*p == ':')
				p++;
			if (!digits(p, 2, &zm))
				return false;
			p += 2;
		}
		if (*p != '\0')
			return false;
	}
	format_ts(out, y, mo, d, h, mi, se);
	return true;
}

/* One of startDate/endDate: absent is fine (*present = false), anything else must parse. */
static bool window_field(const json_t *params, const char *key, char out[PARAMS_TS_LEN],
			 bool *date_only, bool *present, char *err, size_t errlen)
{
	const json_t *v = params != NULL ? json_object_get(params, key) : NULL;
	*present = v != NULL && !json_is_null(v);
	if (!*present)
		return true;
	if (!json_is_string(v) || !params_parse_ts(json_string_value(v), out, date_only)) {
		snprintf(err, errlen, "%s must be a date YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS", key);
		return false;
	}
	return true;
}

static long ts_day(const char ts[PARAMS_TS_LEN])
{
	int y = atoi(ts), m = atoi(ts + 5), d = atoi(ts + 8);
	return days_from_civil(y, m, d);
}

bool params_window(const json_t *params, time_t now, ParamsWindow *w, char *err, size_t errlen)
{
	bool has_start, has_end, start_date_only, end_date_only;

	if (params != NULL && !json_is_object(params)) {
		snprintf(err, errlen, "parameters must be a JSON object");
		return false;
	}
	if (!window_field(params, "startDate", w->start, &start_date_only, &has_start, err,
			  errlen) ||
	    !window_field(params, "endDate", w->end, &end_date_only, &has_end, err, errlen))
		return false;

	long today = (long)(now >= 0 ? now / 86400 : (now - 86399) / 86400);
	if (has_end) {
		if (end_date_only) /* half-open: the whole end day is included */
			format_day(ts_day(w->end) + 1, w->end);
	} else {
		format_day(today - 2, w->end);
	}
	if (!has_start) {
		/* a week before the end day's midnight */
		format_day(ts_day(w->end) - 7, w->start);
	}
	/* Fixed-width timestamps compare correctly as strings. */
	if (strcmp(w->start, w->end) >= 0) {
		snprintf(err, errlen, "startDate must be before endDate (window %s .. %s)",
			 w->start, w->end);
		return false;
	}
	return true;
}

static const char *const type_names[] = { "date", "number", "text", "list" };

static bool type_known(const char *t)
{
	for (size_t i = 0; i < ARRAY_LEN(type_names); i++)
		if (strcmp(t, type_names[i]) == 0)
			return true;
	return false;
}

static bool has_name(const json_t *names, const char *name)
{
	const json_t *v;
	size_t i;

	json_array_foreach ((json_t *)names, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
			return true;
	return false;
}

bool params_types_valid(const json_t *types, const json_t *placeholders,
			char bad[PARAMS_NAME_MAX + 1], char *err, size_t errlen)
{
	const char *name;
	json_t *t;

	bad[0] = '\0';
	if (types == NULL || json_is_null(types))
		return true;
	if (!json_is_object(types)) {
		snprintf(err, errlen, "parameter_types must be an object of name: type");
		return false;
	}
	json_object_foreach ((json_t *)types, name, t) {
		snprintf(bad, PARAMS_NAME_MAX + 1, "%s", name);
		if (!has_name(placeholders, name)) {
			snprintf(err, errlen,
				 "parameter_types names %.64s, which is not a {{placeholder}} "
				 "of sql_query",
				 name);
			return false;
		}
		if (!json_is_string(t) || !type_known(json_string_value(t))) {
			snprintf(err, errlen, "the type of %.64s must be " PARAMS_TYPES, name);
			return false;
		}
	}
	bad[0] = '\0';
	return true;
}

/* Whether v has type t (one of type_names). */
static bool has_type(const char *t, const json_t *v)
{
	char ts[PARAMS_TS_LEN];
	bool date_only;
	const json_t *e;
	size_t i;

	if (strcmp(t, "date") == 0)
		return json_is_string(v) && params_parse_ts(json_string_value(v), ts, &date_only);
	if (strcmp(t, "number") == 0)
		return json_is_number(v);
	if (strcmp(t, "text") == 0)
		return json_is_string(v);
	/* list: what params_literal writes as ('a', 2, ...) */
	if (!json_is_array(v) || json_array_size(v) == 0)
		return false;
	json_array_foreach ((json_t *)v, i, e)
		if (!json_is_string(e) && !json_is_number(e))
			return false;
	return true;
}

bool params_check_types(const json_t *types, const json_t *values, char bad[PARAMS_NAME_MAX + 1],
			char *err, size_t errlen)
{
	static const char *const want[] = {
		"a date (YYYY-MM-DD)",
		"a number",
		"a string",
		"a non-empty list of strings or numbers",
	};
	const char *name;
	json_t *t;

	bad[0] = '\0';
	if (!json_is_object(types))
		return true;
	json_object_foreach ((json_t *)types, name, t) {
		const json_t *v = json_object_get(values, name);
		const char *tn = json_string_value(t);

		if (v == NULL || tn == NULL || has_type(tn, v))
			continue;
		snprintf(bad, PARAMS_NAME_MAX + 1, "%s", name);
		for (size_t i = 0; i < ARRAY_LEN(type_names); i++)
			if (strcmp(tn, type_names[i]) == 0)
				snprintf(err, errlen, "parameter %.64s must be %s", name, want[i]);
		return false;
	}
	return true;
}
