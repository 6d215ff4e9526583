/* window.c - relative date windows (see window.h). */
#include "window.h"

#include <stdio.h>
#include <string.h>

#include "tz.h"

static const struct {
	const char *name;
	WindowType type;
	int max_n; /* 0: the type takes no n */
} types[] = {
	{ "last_n_days", WINDOW_LAST_N_DAYS, WINDOW_MAX_DAYS },
	{ "previous_week", WINDOW_PREVIOUS_WEEK, 0 },
	{ "last_n_full_weeks", WINDOW_LAST_N_FULL_WEEKS, WINDOW_MAX_WEEKS },
	{ "previous_month", WINDOW_PREVIOUS_MONTH, 0 },
	{ "month_to_date", WINDOW_MONTH_TO_DATE, 0 },
};
#define NTYPES (sizeof(types) / sizeof(types[0]))
#define TYPE_LIST "last_n_days, previous_week, last_n_full_weeks, previous_month, month_to_date"

const char *window_type_name(WindowType t)
{
	for (size_t i = 0; i < NTYPES; i++)
		if (types[i].type == t)
			return types[i].name;
	return "?";
}

static bool fail(WindowErr *e, int status, const char *code, const char *field, const char *msg)
{
	e->status = status;
	snprintf(e->code, sizeof(e->code), "%s", code);
	snprintf(e->field, sizeof(e->field), "%s", field);
	snprintf(e->message, sizeof(e->message), "%s", msg);
	return false;
}

/* An integer member of o within [lo, hi]; *out unchanged when absent (or null). */
static bool int_member(const json_t *o, const char *key, const char *field, int lo, int hi,
		       int *out, WindowErr *e)
{
	const json_t *v = json_object_get(o, key);
	char msg[120];

	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_integer(v)) {
		snprintf(msg, sizeof(msg), "%s must be an integer", field);
		return fail(e, 400, "invalid_type", field, msg);
	}
	if (json_integer_value(v) < lo || json_integer_value(v) > hi) {
		snprintf(msg, sizeof(msg), "%s must be between %d and %d", field, lo, hi);
		return fail(e, 422, "invalid_window", field, msg);
	}
	*out = (int)json_integer_value(v);
	return true;
}

bool window_parse(const json_t *v, int default_lag, WindowSpec *w, WindowErr *e)
{
	const char *name;
	const char *key;
	json_t *val;
	size_t i;
	char msg[200];

	if (json_is_string(v))
		name = json_string_value(v);
	else if (json_is_object(v))
		name = json_string_value(json_object_get(v, "type"));
	else
		return fail(
			e, 400, "invalid_type", "window",
			"window must be an object {\"type\": ..., \"n\": ..., \"lag_days\": ...} "
			"or the name of a window type");
	if (json_is_object(v)) {
		json_object_foreach ((json_t *)v, key, val) {
			(void)val;
			if (strcmp(key, "type") != 0 && strcmp(key, "n") != 0 &&
			    strcmp(key, "lag_days") != 0) {
				snprintf(msg, sizeof(msg),
					 "unknown field \"window.%.60s\" (type, n, lag_days)", key);
				return fail(e, 400, "unknown_field", "window", msg);
			}
		}
		if (name == NULL)
			return fail(e, json_object_get(v, "type") != NULL ? 400 : 422,
				    json_object_get(v, "type") != NULL ? "invalid_type"
								       : "invalid_window",
				    "window.type", "window.type must be one of " TYPE_LIST);
	}
	for (i = 0; i < NTYPES && strcmp(types[i].name, name) != 0; i++)
		;
	if (i == NTYPES) {
		snprintf(msg, sizeof(msg), "unknown window type \"%.40s\" (one of " TYPE_LIST ")",
			 name);
		return fail(e, 422, "invalid_window", "window.type", msg);
	}
	w->type = types[i].type;
	w->n = 0;
	w->lag_days = default_lag;
	if (types[i].max_n > 0) {
		if (!json_is_object(v) || json_object_get(v, "n") == NULL ||
		    json_is_null(json_object_get(v, "n"))) {
			snprintf(msg, sizeof(msg), "window type %s needs n (1 to %d)", name,
				 types[i].max_n);
			return fail(e, 422, "invalid_window", "window.n", msg);
		}
		if (!int_member(v, "n", "window.n", 1, types[i].max_n, &w->n, e))
			return false;
	} else if (json_is_object(v) && json_object_get(v, "n") != NULL &&
		   !json_is_null(json_object_get(v, "n"))) {
		snprintf(msg, sizeof(msg), "window type %s takes no n", name);
		return fail(e, 422, "invalid_window", "window.n", msg);
	}
	if (json_is_object(v) &&
	    !int_member(v, "lag_days", "window.lag_days", 0, WINDOW_MAX_LAG, &w->lag_days, e))
		return false;
	return true;
}

json_t *window_json(const WindowSpec *w)
{
	json_t *o =
		json_pack("{s:s, s:i}", "type", window_type_name(w->type), "lag_days", w->lag_days);

	if (o != NULL && w->n > 0 && json_object_set_new(o, "n", json_integer(w->n)) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Howard Hinnant's days_from_civil / civil_from_days: exact for every Gregorian date. */
long window_days_from_civil(int y, int m, int d)
{
	long yy = y - (m <= 2);
	long era = (yy >= 0 ? yy : yy - 399) / 400;
	long yoe = yy - era * 400;
	long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

void window_civil_from_days(long z, int *y, int *m, int *d)
{
	long era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static void day_text(long z, char out[WINDOW_DATE_LEN])
{
	int y, m, d;

	window_civil_from_days(z, &y, &m, &d);
	/* the modulos bound the widths for the compiler: years 0..9999, months, days */
	snprintf(out, WINDOW_DATE_LEN, "%04u-%02u-%02u", (unsigned)y % 10000u, (unsigned)m % 100u,
		 (unsigned)d % 100u);
}

/* the first day of the month of day z */
static long month_start(long z)
{
	int y, m, d;

	window_civil_from_days(z, &y, &m, &d);
	return window_days_from_civil(y, m, 1);
}

bool window_resolve(const WindowSpec *w, time_t now, const char *zone, char first[WINDOW_DATE_LEN],
		    char last[WINDOW_DATE_LEN])
{
	TzLocal l;
	long ref, monday, from, to;

	if (!tz_local(zone, now, &l))
		return false;
	/* data is complete for the days before ref */
	ref = window_days_from_civil(l.year, l.month, l.day) - w->lag_days;
	/* 1970-01-01 was a Thursday: (z + 3) mod 7 counts days since a Monday */
	monday = ref - (((ref + 3) % 7) + 7) % 7;
	switch (w->type) {
	case WINDOW_LAST_N_DAYS:
		from = ref - w->n;
		to = ref - 1;
		break;
	case WINDOW_PREVIOUS_WEEK:
		from = monday - 7;
		to = monday - 1;
		break;
	case WINDOW_LAST_N_FULL_WEEKS:
		from = monday - 7L * w->n;
		to = monday - 1;
		break;
	case WINDOW_PREVIOUS_MONTH:
		to = month_start(ref) - 1;
		from = month_start(to);
		break;
	case WINDOW_MONTH_TO_DATE:
	default:
		to = ref - 1;
		from = month_start(to);
		break;
	}
	day_text(from, first);
	day_text(to, last);
	return true;
}
