/* test_core_window.c - time zones (tz.c: ICU) and relative date windows (window.c): the
 * day of an instant in a zone around DST transitions (Europe/Berlin, America/New_York),
 * the instant of a wall-clock time in a gap or an overlap, month ends and leap years, and
 * the parser's refusals. */
#include "tz.h"
#include "window.h"

#include <string.h>
#include <time.h>

#include "../tap.h"

/* seconds since the epoch of a UTC date and time */
static time_t utc(int y, int mo, int d, int h, int mi, int s)
{
	return (time_t)window_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

static void test_tz_valid(void)
{
	static const char *const good[] = { "UTC",
					    "Europe/Berlin",
					    "America/New_York",
					    "Asia/Tokyo",
					    "America/Argentina/Buenos_Aires",
					    "Etc/GMT+3",
					    "US/Eastern" };
	static const char *const bad[] = {
		"",
		"Mars/Olympus",
		"GMT+3",
		"+02:00",
		"CEST",
		"../../etc/passwd",
		"Europe/Berlin ",
		"Europe/Berlin\n",
		"utc/../x",
		"Europe/Berlin\xc3\xa9",
		"A_very_long_zone_name_that_is_longer_than_sixty_four_bytes_in_all/xyz"
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assertf(tz_valid(good[i]), "%s is a zone", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assertf(!tz_valid(bad[i]), "\"%s\" is refused", bad[i]);
	assertf(!tz_valid(NULL), "NULL is refused");
}

static bool local_is(const char *zone, time_t t, int y, int mo, int d, int h, int mi, int wday)
{
	TzLocal l;

	if (!tz_local(zone, t, &l))
		return false;
	return l.year == y && l.month == mo && l.day == d && l.hour == h && l.minute == mi &&
	       l.wday == wday;
}

static void test_tz_local_around_dst(void)
{
	/* Europe/Berlin: CET -> CEST at 2026-03-29 01:00 UTC, back at 2026-10-25 01:00 UTC */
	assertf(local_is("Europe/Berlin", utc(2026, 3, 29, 0, 59, 0), 2026, 3, 29, 1, 59, 0),
		"Berlin 01:59 CET just before spring forward");
	assertf(local_is("Europe/Berlin", utc(2026, 3, 29, 1, 0, 0), 2026, 3, 29, 3, 0, 0),
		"Berlin 03:00 CEST just after");
	assertf(local_is("Europe/Berlin", utc(2026, 10, 25, 0, 30, 0), 2026, 10, 25, 2, 30, 0),
		"Berlin 02:30 CEST, first time");
	assertf(local_is("Europe/Berlin", utc(2026, 10, 25, 1, 30, 0), 2026, 10, 25, 2, 30, 0),
		"Berlin 02:30 CET, second time");
	/* America/New_York: EST -> EDT at 2026-03-08 07:00 UTC, back at 2026-11-01 06:00 UTC */
	assertf(local_is("America/New_York", utc(2026, 3, 8, 6, 59, 0), 2026, 3, 8, 1, 59, 0),
		"New York 01:59 EST");
	assertf(local_is("America/New_York", utc(2026, 3, 8, 7, 0, 0), 2026, 3, 8, 3, 0, 0),
		"New York 03:00 EDT");
	assertf(local_is("America/New_York", utc(2026, 11, 2, 4, 30, 0), 2026, 11, 1, 23, 30, 0),
		"New York: 04:30 UTC on Nov 2 is still Sunday Nov 1 (EST, -5)");
	assertf(local_is("UTC", utc(2028, 2, 29, 23, 59, 0), 2028, 2, 29, 23, 59, 2),
		"UTC: a leap day, a Tuesday");
	TzLocal l;
	assertf(!tz_local("Nowhere/Else", 0, &l), "an unknown zone fails");
}

static bool instant_is(const char *zone, int y, int mo, int d, int h, int mi, time_t want)
{
	TzLocal l = { .year = y, .month = mo, .day = d, .hour = h, .minute = mi };
	time_t t;

	return tz_instant(zone, &l, &t) && t == want;
}

static void test_tz_instant_gaps_and_overlaps(void)
{
	assertf(instant_is("Europe/Berlin", 2026, 1, 5, 6, 0, utc(2026, 1, 5, 5, 0, 0)),
		"06:00 CET is 05:00 UTC");
	assertf(instant_is("Europe/Berlin", 2026, 7, 6, 6, 0, utc(2026, 7, 6, 4, 0, 0)),
		"06:00 CEST is 04:00 UTC");
	assertf(instant_is("Europe/Berlin", 2026, 3, 29, 2, 30, utc(2026, 3, 29, 1, 0, 0)),
		"02:30 in the spring gap is the end of the gap, 03:00 CEST");
	assertf(instant_is("Europe/Berlin", 2026, 10, 25, 2, 30, utc(2026, 10, 25, 0, 30, 0)),
		"02:30 of the fall-back overlap is its first occurrence (CEST)");
	assertf(instant_is("America/New_York", 2026, 3, 8, 2, 15, utc(2026, 3, 8, 7, 0, 0)),
		"New York 02:15 in the gap is 03:00 EDT");
	assertf(instant_is("America/New_York", 2026, 11, 1, 1, 30, utc(2026, 11, 1, 5, 30, 0)),
		"New York 01:30 of the overlap is its first occurrence (EDT)");
	assertf(instant_is("America/New_York", 2026, 11, 2, 0, 0, utc(2026, 11, 2, 5, 0, 0)),
		"New York midnight after fall back is 05:00 UTC");
	TzLocal l = { .year = 2026, .month = 1, .day = 1 };
	time_t t;
	assertf(!tz_instant("CEST", &l, &t), "an abbreviation is not a zone");
}

static void test_civil_days_round_trip(void)
{
	int bad = 0;

	for (long z = window_days_from_civil(1899, 12, 25); z < window_days_from_civil(2101, 1, 8);
	     z++) {
		int y, m, d;
		time_t t = (time_t)z * 86400;
		struct tm tm;

		window_civil_from_days(z, &y, &m, &d);
		gmtime_r(&t, &tm);
		if (window_days_from_civil(y, m, d) != z || tm.tm_year + 1900 != y ||
		    tm.tm_mon + 1 != m || tm.tm_mday != d)
			bad++;
	}
	assertf(bad == 0,
		"every day 1899-12-25..2101-01-07 round-trips and agrees with gmtime_r (%d off)",
		bad);
	assertf(window_days_from_civil(1970, 1, 1) == 0, "day 0 is 1970-01-01");
}

/* resolve type/n/lag at now in zone and compare with the expected first and last day */
static bool resolves(WindowType type, int n, int lag, time_t now, const char *zone,
		     const char *first, const char *last)
{
	WindowSpec w = { .type = type, .n = n, .lag_days = lag };
	char f[WINDOW_DATE_LEN], l[WINDOW_DATE_LEN];

	if (!window_resolve(&w, now, zone, f, l)) {
		printf("# %s in %s: not resolved\n", window_type_name(type), zone);
		return false;
	}
	if (strcmp(f, first) != 0 || strcmp(l, last) != 0) {
		printf("# %s n=%d lag=%d in %s: %s - %s, want %s - %s\n", window_type_name(type), n,
		       lag, zone, f, l, first, last);
		return false;
	}
	return true;
}

static void test_window_types(void)
{
	time_t mon = utc(2026, 11, 30, 12, 0, 0); /* Monday noon UTC */

	assertf(resolves(WINDOW_PREVIOUS_WEEK, 0, 0, mon, "UTC", "2026-11-23", "2026-11-29"),
		"previous_week on a Monday, no lag: the week just ended");
	assertf(resolves(WINDOW_PREVIOUS_WEEK, 0, 2, mon, "UTC", "2026-11-16", "2026-11-22"),
		"with lag 2 the last full week with complete data");
	assertf(resolves(WINDOW_PREVIOUS_WEEK, 0, 2, utc(2026, 12, 2, 12, 0, 0), "UTC",
			 "2026-11-23", "2026-11-29"),
		"previous_week on Wednesday, lag 2");
	assertf(resolves(WINDOW_LAST_N_DAYS, 7, 2, utc(2026, 12, 4, 9, 0, 0), "UTC", "2026-11-25",
			 "2026-12-01"),
		"last 7 days ending 2 days ago (the default window's days)");
	assertf(resolves(WINDOW_LAST_N_DAYS, 1, 0, utc(2026, 1, 1, 0, 0, 0), "UTC", "2025-12-31",
			 "2025-12-31"),
		"last_n_days 1 on New Year's Day: New Year's Eve");
	assertf(resolves(WINDOW_LAST_N_FULL_WEEKS, 2, 0, utc(2026, 12, 2, 12, 0, 0), "UTC",
			 "2026-11-16", "2026-11-29"),
		"the last 2 full weeks");
	assertf(resolves(WINDOW_LAST_N_FULL_WEEKS, 1, 0, utc(2026, 11, 29, 12, 0, 0), "UTC",
			 "2026-11-16", "2026-11-22"),
		"on a Sunday the current week is not full yet");
}

static void test_window_month_ends(void)
{
	assertf(resolves(WINDOW_PREVIOUS_MONTH, 0, 0, utc(2026, 3, 1, 8, 0, 0), "UTC", "2026-02-01",
			 "2026-02-28"),
		"previous_month on March 1st: February, 28 days");
	assertf(resolves(WINDOW_PREVIOUS_MONTH, 0, 0, utc(2028, 3, 1, 8, 0, 0), "UTC", "2028-02-01",
			 "2028-02-29"),
		"a leap February");
	assertf(resolves(WINDOW_PREVIOUS_MONTH, 0, 2, utc(2026, 1, 2, 8, 0, 0), "UTC", "2025-11-01",
			 "2025-11-30"),
		"Jan 2nd with lag 2: December is not complete, November");
	assertf(resolves(WINDOW_PREVIOUS_MONTH, 0, 2, utc(2026, 1, 3, 8, 0, 0), "UTC", "2025-12-01",
			 "2025-12-31"),
		"Jan 3rd with lag 2: December, across the year");
	assertf(resolves(WINDOW_MONTH_TO_DATE, 0, 2, utc(2026, 3, 15, 8, 0, 0), "UTC", "2026-03-01",
			 "2026-03-12"),
		"month_to_date, lag 2");
	assertf(resolves(WINDOW_MONTH_TO_DATE, 0, 0, utc(2026, 3, 1, 8, 0, 0), "UTC", "2026-02-01",
			 "2026-02-28"),
		"month_to_date on the 1st: the month just ended, never empty");
	assertf(resolves(WINDOW_MONTH_TO_DATE, 0, 0, utc(2026, 5, 31, 8, 0, 0), "UTC", "2026-05-01",
			 "2026-05-30"),
		"month_to_date on the 31st");
}

static void test_window_in_each_zone(void)
{
	/* 03:00 UTC on Monday Nov 30: Monday 04:00 in Berlin, still Sunday 22:00 in New York */
	time_t t = utc(2026, 11, 30, 3, 0, 0);

	assertf(resolves(WINDOW_PREVIOUS_WEEK, 0, 0, t, "Europe/Berlin", "2026-11-23",
			 "2026-11-29"),
		"Berlin: Monday, the week just ended");
	assertf(resolves(WINDOW_PREVIOUS_WEEK, 0, 0, t, "America/New_York", "2026-11-16",
			 "2026-11-22"),
		"New York: still Sunday, that week is not over");
	assertf(resolves(WINDOW_PREVIOUS_WEEK, 0, 0, t, "Asia/Tokyo", "2026-11-23", "2026-11-29"),
		"Tokyo: Monday noon");
	/* the day right after a DST change is found with the new offset */
	assertf(resolves(WINDOW_PREVIOUS_WEEK, 0, 0, utc(2026, 3, 29, 22, 30, 0), "Europe/Berlin",
			 "2026-03-23", "2026-03-29"),
		"Berlin 00:30 CEST on Monday Mar 30 (23:30 had it still been CET, Sunday)");
	assertf(resolves(WINDOW_PREVIOUS_WEEK, 0, 0, utc(2026, 11, 2, 4, 30, 0), "America/New_York",
			 "2026-10-19", "2026-10-25"),
		"New York 23:30 EST on Sunday Nov 1 (00:30 Monday had it still been EDT)");
	assertf(resolves(WINDOW_LAST_N_DAYS, 3, 0, utc(2026, 3, 9, 4, 30, 0), "America/New_York",
			 "2026-03-06", "2026-03-08"),
		"the days across New York's spring forward");
	WindowSpec w = { .type = WINDOW_PREVIOUS_WEEK };
	char f[WINDOW_DATE_LEN], l[WINDOW_DATE_LEN];
	assertf(!window_resolve(&w, t, "Moon/Base", f, l), "an unknown zone fails");
}

/* window_parse of JSON text: true if accepted; *e holds the refusal */
static bool parse(const char *text, WindowSpec *w, WindowErr *e)
{
	json_error_t je;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
	bool ok;

	if (v == NULL) {
		printf("# bad test JSON %s\n", text);
		return false;
	}
	ok = window_parse(v, 2, w, e);
	json_decref(v);
	return ok;
}

static void test_window_parse(void)
{
	static const struct {
		const char *text;
		int status;
		const char *field;
	} bad[] = {
		{ "7", 400, "window" },
		{ "[]", 400, "window" },
		{ "\"last_n_days\"", 422, "window.n" },
		{ "\"yesterday\"", 422, "window.type" },
		{ "{}", 422, "window.type" },
		{ "{\"type\": 3}", 400, "window.type" },
		{ "{\"type\": \"last_n_days\"}", 422, "window.n" },
		{ "{\"type\": \"last_n_days\", \"n\": 0}", 422, "window.n" },
		{ "{\"type\": \"last_n_days\", \"n\": 401}", 422, "window.n" },
		{ "{\"type\": \"last_n_days\", \"n\": 7.5}", 400, "window.n" },
		{ "{\"type\": \"last_n_days\", \"n\": \"7\"}", 400, "window.n" },
		{ "{\"type\": \"last_n_full_weeks\", \"n\": 58}", 422, "window.n" },
		{ "{\"type\": \"previous_week\", \"n\": 2}", 422, "window.n" },
		{ "{\"type\": \"previous_week\", \"lag_days\": -1}", 422, "window.lag_days" },
		{ "{\"type\": \"previous_week\", \"lag_days\": 31}", 422, "window.lag_days" },
		{ "{\"type\": \"previous_week\", \"lag_days\": true}", 400, "window.lag_days" },
		{ "{\"type\": \"previous_week\", \"start\": \"2026-01-01\"}", 400, "window" },
	};
	WindowSpec w;
	WindowErr e;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		bool ok = parse(bad[i].text, &w, &e);
		assertf(!ok && e.status == bad[i].status && strcmp(e.field, bad[i].field) == 0 &&
				e.message[0] != '\0',
			"%s: refused %d on %s (got %s, %d, %s: %s)", bad[i].text, bad[i].status,
			bad[i].field, ok ? "accepted" : "refused", e.status, e.field, e.message);
	}
	assertf(parse("\"previous_week\"", &w, &e) && w.type == WINDOW_PREVIOUS_WEEK && w.n == 0 &&
			w.lag_days == 2,
		"a type name alone, the default lag");
	assertf(parse("{\"type\": \"last_n_days\", \"n\": 28, \"lag_days\": 0}", &w, &e) &&
			w.type == WINDOW_LAST_N_DAYS && w.n == 28 && w.lag_days == 0,
		"n and lag_days");
	assertf(parse("{\"type\": \"month_to_date\", \"n\": null, \"lag_days\": null}", &w, &e) &&
			w.type == WINDOW_MONTH_TO_DATE && w.lag_days == 2,
		"null members are absent");

	/* window_json reads back as the same window */
	WindowSpec in = { .type = WINDOW_LAST_N_FULL_WEEKS, .n = 4, .lag_days = 1 }, out;
	json_t *j = window_json(&in);
	assertf(j != NULL && window_parse(j, 9, &out, &e) && out.type == in.type && out.n == 4 &&
			out.lag_days == 1,
		"window_json round-trips");
	json_decref(j);
}

int main(void)
{
	RUN_TEST(test_tz_valid);
	RUN_TEST(test_tz_local_around_dst);
	RUN_TEST(test_tz_instant_gaps_and_overlaps);
	RUN_TEST(test_civil_days_round_trip);
	RUN_TEST(test_window_types);
	RUN_TEST(test_window_month_ends);
	RUN_TEST(test_window_in_each_zone);
	RUN_TEST(test_window_parse);
	return tap_done();
}
