/* fmt.c - JSON value to display text and duration formatting, shared by table and CSV
 * output. Pure functions: no I/O. */
#include "fmt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *real_text(double d)
{
	char buf[40];

	if (!isfinite(d))
		return strdup("");
	/* %.15g is exact for most decimal data; fall back to 17 digits only when it is not */
	snprintf(buf, sizeof(buf), "%.15g", d);
	if (strtod(buf, NULL) != d)
		snprintf(buf, sizeof(buf), "%.17g", d);
	return strdup(buf);
}

char *fmt_json_text(const json_t *v)
{
	char buf[32];

	if (v == NULL)
		return strdup("");
	switch (json_typeof(v)) {
	case JSON_STRING:
		return strndup(json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return strdup(buf);
	case JSON_REAL:
		return real_text(json_real_value(v));
	case JSON_TRUE:
		return strdup("true");
	case JSON_FALSE:
		return strdup("false");
	case JSON_NULL:
		return strdup("");
	default:
		return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	}
}

void fmt_duration(const json_t *v, char *buf, size_t size)
{
	double d;
	long long s;

	if (!json_is_number(v) || (d = json_number_value(v)) < 0 || !isfinite(d)) {
		snprintf(buf, size, "-");
		return;
	}
	if (d < 10 && d != floor(d)) {
		snprintf(buf, size, "%.1fs", d);
		return;
	}
	s = (long long)(d + 0.5);
	if (s < 60)
		snprintf(buf, size, "%llds", s);
	else if (s < 3600)
		snprintf(buf, size, "%lldm%02llds", s / 60, s % 60);
	else
		snprintf(buf, size, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
}

long long fmt_json_int(const json_t *v, long long dflt)
{
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v) && isfinite(json_real_value(v)))
		return (long long)floor(json_real_value(v));
	return dflt;
}

const char *fmt_str(const json_t *obj, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s != NULL ? s : dflt;
}

/* "YYYY-MM-DDT00:00:00" minus one day, as "YYYY-MM-DD"; false for anything else. */
static bool day_before_midnight(const char *ts, char out[16])
{
	struct tm tm = { 0 };
	int y, m, d;
	char rest[16];
	time_t t;

	if (strlen(ts) != 19 || sscanf(ts, "%4d-%2d-%2d%15s", &y, &m, &d, rest) != 4 ||
	    strcmp(rest, "T00:00:00") != 0)
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d - 1; /* timegm normalises day 0 to the last of the month before */
	t = timegm(&tm);
	return t != (time_t)-1 && gmtime_r(&t, &tm) != NULL &&
	       strftime(out, 16, "%Y-%m-%d", &tm) == 10;
}

void fmt_time_window(const json_t *tw, char *buf, size_t size)
{
	const char *start = fmt_str(tw, "start", NULL), *end = fmt_str(tw, "end", NULL);
	const char *zone = fmt_str(tw, "timezone", "UTC");
	char last[16];

	buf[0] = '\0';
	if (!json_is_object(tw) || start == NULL || end == NULL)
		return;
	if (strlen(start) == 19 && strcmp(start + 10, "T00:00:00") == 0 &&
	    day_before_midnight(end, last))
		snprintf(buf, size, "%.10s \u2013 %s %s", start, last, zone);
	else
		snprintf(buf, size, "%s \u2013 %s %s", start, end, zone);
}

void fmt_window(const json_t *w, char *buf, size_t size)
{
	const char *type = fmt_str(w, "type", NULL);
	const json_t *n = json_object_get(w, "n");

	buf[0] = '\0';
	if (!json_is_object(w) || type == NULL)
		return;
	if (json_is_integer(n))
		snprintf(buf, size, "%s %lld, lag %lld days", type,
			 (long long)json_integer_value(n),
			 fmt_json_int(json_object_get(w, "lag_days"), 0));
	else
		snprintf(buf, size, "%s, lag %lld days", type,
			 fmt_json_int(json_object_get(w, "lag_days"), 0));
}
