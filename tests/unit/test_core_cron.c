/* test_core_cron.c - cron expressions (cron.c): every syntax and every refusal of the parser,
 * next runs in UTC, Europe/Berlin and America/New_York across DST gaps and overlaps, month
 * ends and leap days, the day-of-month/day-of-week OR, the English readings, and long runs
 * of next() checked against the local calendar and a minute-by-minute oracle. */
#include "cron.h"
#include "tz.h"
#include "window.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "../tap.h"

/* seconds since the epoch of a UTC date and time */
static time_t utc(int y, int mo, int d, int h, int mi, int s)
{
	return (time_t)window_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

static const char *utc_text(time_t t, char buf[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%d %H:%M:%SZ", &tm);
	return buf;
}

static bool parses(const char *expr, Cron *c)
{
	char err[200] = "";

	if (!cron_parse(expr, c, err, sizeof(err))) {
		printf("# \"%s\" refused: %s\n", expr, err);
		return false;
	}
	return true;
}

/* bit set of the values listed, ended by -1 */
static uint64_t bits(int v, ...)
{
	uint64_t b = 0;
	va_list ap;

	va_start(ap, v);
	for (; v >= 0; v = va_arg(ap, int))
		b |= UINT64_C(1) << v;
	va_end(ap);
	return b;
}

#define ALL_MIN ((UINT64_C(1) << 60) - 1)
#define ALL_HOUR ((UINT32_C(1) << 24) - 1)
#define ALL_DOM (((UINT32_C(1) << 31) - 1) << 1)
#define ALL_MON ((uint16_t)0x1ffe)

static void test_cron_parse_syntax(void)
{
	Cron c;

	assertf(parses("* * * * *", &c) && c.minutes == ALL_MIN && c.hours == ALL_HOUR &&
			c.days == ALL_DOM && c.months == ALL_MON && c.wdays == 0x7f &&
			!c.dom_restricted && !c.dow_restricted,
		"all stars");
	assertf(parses("0 6 * * MON", &c) && c.minutes == 1 && c.hours == bits(6, -1) &&
			c.wdays == bits(1, -1) && c.dow_restricted && !c.dom_restricted,
		"0 6 * * MON");
	assertf(parses("*/15 * * * *", &c) && c.minutes == bits(0, 15, 30, 45, -1), "*/15");
	assertf(parses("5/20 * * * *", &c) && c.minutes == bits(5, 25, 45, -1), "a/n is a-59/n");
	assertf(parses("10-20/5 * * * *", &c) && c.minutes == bits(10, 15, 20, -1), "a-b/n");
	assertf(parses("0 1,3-5,10 * * *", &c) && c.hours == bits(1, 3, 4, 5, 10, -1),
		"a list of a value, a range and a value");
	assertf(parses("0 0 1-10/3,31 * *", &c) && c.days == bits(1, 4, 7, 10, 31, -1) &&
			c.dom_restricted,
		"day-of-month list with a stepped range");
	assertf(parses("0 0 * JAN,mar-May *", &c) && c.months == bits(1, 3, 4, 5, -1),
		"month names, any case, in ranges");
	assertf(parses("0 0 * 12 *", &c) && c.months == bits(12, -1), "month 12");
	assertf(parses("0 0 * * 7", &c) && c.wdays == bits(0, -1) && c.dow_restricted,
		"7 is Sunday");
	assertf(parses("0 0 * * 0", &c) && c.wdays == bits(0, -1), "0 is Sunday");
	assertf(parses("0 0 * * 5-7", &c) && c.wdays == bits(0, 5, 6, -1), "5-7: Fri, Sat, Sun");
	assertf(parses("0 0 * * sun-SAT", &c) && c.wdays == 0x7f && c.dow_restricted,
		"SUN-SAT is every day but still a restriction (Vixie)");
	assertf(parses("0 0 * * mon,Wed,FRI", &c) && c.wdays == bits(1, 3, 5, -1), "day names");
	assertf(parses("0 0 * * */2", &c) && c.wdays == bits(0, 2, 4, 6, -1) && !c.dow_restricted,
		"*/2 in day-of-week starts with '*': not a restriction (Vixie)");
	assertf(parses("0 0 * * 1/2", &c) && c.wdays == bits(0, 1, 3, 5, -1) && c.dow_restricted,
		"1/2 in day-of-week is 1-7/2, 7 being Sunday (cronie)");
	assertf(parses("0 0 * * 2/2", &c) && c.wdays == bits(2, 4, 6, -1), "2/2 is 2-7/2");
	assertf(parses("0 0 1-31 * *", &c) && c.days == ALL_DOM && c.dom_restricted,
		"1-31 is a restriction");
	assertf(parses("  0\t6  *  * MON  ", &c) && c.hours == bits(6, -1), "blanks and tabs");
	assertf(parses("59 23 31 12 6", &c) && c.minutes == bits(59, -1) &&
			c.hours == bits(23, -1) && c.days == bits(31, -1) &&
			c.months == bits(12, -1) && c.wdays == bits(6, -1),
		"the top of every range");
	assertf(parses("*/60 */24 */31 */12 *", &c) && c.minutes == 1 && c.hours == 1 &&
			c.days == bits(1, -1) && c.months == bits(1, -1),
		"a step as large as the field");
	assertf(parses("0 0 * * */8", &c) && c.wdays == 1, "*/8 in day-of-week: Sunday");
}

static bool same(const Cron *a, const Cron *b)
{
	return a->minutes == b->minutes && a->hours == b->hours && a->days == b->days &&
	       a->months == b->months && a->wdays == b->wdays &&
	       a->dom_restricted == b->dom_restricted && a->dow_restricted == b->dow_restricted;
}

static void test_cron_parse_macros(void)
{
	static const struct {
		const char *macro, *expr;
	} m[] = {
		{ "@hourly", "0 * * * *" },     { "@daily", "0 0 * * *" },
		{ "@midnight", "0 0 * * *" },   { "@weekly", "0 0 * * 0" },
		{ "@monthly", "0 0 1 * *" },    { "@yearly", "0 0 1 1 *" },
		{ "@annually", "0 0 1 1 *" },   { "@DAILY", "0 0 * * *" },
		{ " @weekly ", "0 0 * * SUN" },
	};
	Cron a, b;

	for (size_t i = 0; i < ARRAY_LEN(m); i++)
		assertf(parses(m[i].macro, &a) && parses(m[i].expr, &b) && same(&a, &b), "%s is %s",
			m[i].macro, m[i].expr);
}

/* refused with a message containing want; *c untouched */
static bool refused(const char *expr, const char *want)
{
	Cron c;
	char err[200] = "";

	memset(&c, 0xa5, sizeof(c));
	Cron before = c;
	if (cron_parse(expr, &c, err, sizeof(err))) {
		printf("# \"%s\" accepted\n", expr);
		return false;
	}
	if (strstr(err, want) == NULL || strchr(err, '\n') != NULL) {
		printf("# \"%s\": \"%s\", want \"%s\"\n", expr, err, want);
		return false;
	}
	return memcmp(&c, &before, sizeof(c)) == 0;
}

static void test_cron_parse_refusals(void)
{
	static const struct {
		const char *expr, *want;
	} bad[] = {
		{ "", "cron expression is empty" },
		{ " \t ", "cron expression is empty" },
		{ "0 6 * *", "cron expression has 4 fields, want 5 (minute hour day-of-month month "
			     "day-of-week)" },
		{ "0", "has 1 field, want 5" },
		{ "0 0 6 * * *", "has 6 fields, want 5" },
		{ "0 0 6 * * * 2026", "has 7 fields" },
		{ "@reboot", "cron macro \"@reboot\" is not supported (one of @hourly" },
		{ "@every 5m", "cron macro \"@every 5m\" is not supported" },
		{ "@", "is not supported" },
		{ "0 25 * * *", "cron field 2 (hour): 25 is not in 0-23" },
		{ "60 * * * *", "cron field 1 (minute): 60 is not in 0-59" },
		{ "0 0 0 * *", "cron field 3 (day-of-month): 0 is not in 1-31" },
		{ "0 0 32 * *", "cron field 3 (day-of-month): 32 is not in 1-31" },
		{ "0 0 * 0 *", "cron field 4 (month): 0 is not in 1-12" },
		{ "0 0 * 13 *", "cron field 4 (month): 13 is not in 1-12" },
		{ "0 0 * * 8", "cron field 5 (day-of-week): 8 is not in 0-7" },
		{ "99999999999999999999 * * * *",
		  "cron field 1 (minute): 999999999999 is not in 0-59" },
		{ "x * * * *", "cron field 1 (minute): \"x\" is not a number" },
		{ "0 0 MON * *", "cron field 3 (day-of-month): \"MON\" is not a number" },
		{ "0 0 * FOO *", "cron field 4 (month): unknown name \"FOO\" (JAN-DEC)" },
		{ "0 0 * * MON-FOO", "cron field 5 (day-of-week): unknown name \"FOO\" (SUN-SAT)" },
		{ "0 0 * * MONDAY", "unknown name \"MONDAY\"" },
		{ "0 0 * JANUARY *", "unknown name \"JANUARY\"" },
		{ "0 0 * * 1x", "cron field 5 (day-of-week): unexpected 'x' in \"1x\"" },
		{ "? * * * *", "cron field 1 (minute): unexpected '?'" },
		{ "-1 * * * *", "cron field 1 (minute): unexpected '-'" },
		{ "1.5 * * * *", "cron field 1 (minute): unexpected '.' in \"1.5\"" },
		{ "*-5 * * * *", "cron field 1 (minute): unexpected '-' in \"*-5\"" },
		{ "1,,2 * * * *", "cron field 1 (minute): unexpected ','" },
		{ "1, * * * *", "cron field 1 (minute): a value is missing" },
		{ "1- * * * *", "cron field 1 (minute): a value is missing" },
		{ "5-1 * * * *", "cron field 1 (minute): range 5-1 is reversed" },
		{ "0 0 * * SAT-SUN", "cron field 5 (day-of-week): range 6-0 is reversed" },
		{ "0 0 * DEC-JAN *", "cron field 4 (month): range 12-1 is reversed" },
		{ "*/0 * * * *", "cron field 1 (minute): step 0" },
		{ "0 1-5/0 * * *", "cron field 2 (hour): step 0" },
		{ "*/ * * * *", "cron field 1 (minute): a step needs a number after '/'" },
		{ "*/61 * * * *", "cron field 1 (minute): step 61 is larger than 60" },
		{ "*/5/5 * * * *", "unexpected '/'" },
		{ "0 0 30 2 *", "cron expression never fires: no month it names has day 30" },
		{ "0 0 30,31 2 *", "never fires: no month it names has day 30 and 31" },
		{ "0 0 31 4,6,9,11 *",
		  "cron expression never fires: no month it names has day 31" },
		{ "0 0 31 APR,JUN,SEP,NOV */2", "never fires" },
		{ "0 0 29 2 */7", "cron expression fires too rarely" },
		{ "0 0 31 12 */7", "fires too rarely" },
	};

	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		assertf(refused(bad[i].expr, bad[i].want), "\"%s\" refused: %s", bad[i].expr,
			bad[i].want);

	char longer[CRON_EXPR_MAX + 2];
	memset(longer, ' ', sizeof(longer));
	memcpy(longer, "0 0 * * *", 9);
	longer[CRON_EXPR_MAX + 1] = '\0';
	assertf(refused(longer, "cron expression is longer than 120 bytes"),
		"121 bytes refused, even of blanks");
	longer[CRON_EXPR_MAX] = '\0';
	Cron c;
	assertf(parses(longer, &c), "120 bytes accepted");

	char tiny[8];
	assertf(!cron_parse("0 25 * * *", &c, tiny, sizeof(tiny)) && strlen(tiny) == 7,
		"the message is cut to the buffer");
	assertf(!cron_parse("0 25 * * *", &c, NULL, 0), "no buffer for the message");
	assertf(!cron_parse(NULL, &c, tiny, sizeof(tiny)), "NULL refused");

	/* rare, but accepted: every leap year, and both fields restricted (OR) */
	assertf(parses("0 6 29 2 *", &c), "February 29 alone is accepted");
	assertf(parses("0 0 29 2 MON", &c), "0 0 29 2 MON: February 29 or any Monday in February");
	assertf(parses("0 0 31 12 */6", &c), "December 31 on a Saturday or Sunday: within 8 years");
	assertf(parses("0 0 1-7 * */7", &c), "the first Sunday of the month, as an AND");
}

/* n next runs of expr in zone after `after` match want[] */
static bool runs(const char *expr, const char *zone, time_t after, int n, const time_t *want)
{
	Cron c;
	time_t t = after, got;
	char a[32], b[32];

	if (!parses(expr, &c))
		return false;
	for (int i = 0; i < n; i++) {
		if (!cron_next(&c, zone, t, &got)) {
			printf("# \"%s\" in %s: no run %d after %s\n", expr, zone, i,
			       utc_text(t, a));
			return false;
		}
		if (got != want[i]) {
			printf("# \"%s\" in %s: run %d is %s, want %s\n", expr, zone, i,
			       utc_text(got, a), utc_text(want[i], b));
			return false;
		}
		t = got;
	}
	return true;
}

#define RUNS(expr, zone, after, ...) \
	runs(expr, zone, after, (int)(sizeof((time_t[]){ __VA_ARGS__ }) / sizeof(time_t)), \
	     (time_t[]){ __VA_ARGS__ })

static void test_cron_next_utc(void)
{
	assertf(RUNS("0 6 * * MON", "UTC", utc(2026, 1, 5, 6, 0, 0), utc(2026, 1, 12, 6, 0, 0),
		     utc(2026, 1, 19, 6, 0, 0)),
		"from Monday 06:00 exactly: the next Monday (strictly after)");
	assertf(RUNS("0 6 * * MON", "UTC", utc(2026, 1, 5, 5, 59, 59), utc(2026, 1, 5, 6, 0, 0)),
		"a second before: that Monday");
	assertf(RUNS("0 6 * * MON", "UTC", utc(2026, 1, 5, 6, 0, 30), utc(2026, 1, 12, 6, 0, 0)),
		"30 s into the run's minute: the next week");
	assertf(RUNS("*/15 * * * *", "UTC", utc(2026, 12, 31, 23, 40, 0),
		     utc(2026, 12, 31, 23, 45, 0), utc(2027, 1, 1, 0, 0, 0),
		     utc(2027, 1, 1, 0, 15, 0)),
		"every 15 minutes, across the new year");
	assertf(RUNS("0 6 31 * *", "UTC", utc(2026, 3, 31, 7, 0, 0), utc(2026, 5, 31, 6, 0, 0),
		     utc(2026, 7, 31, 6, 0, 0), utc(2026, 8, 31, 6, 0, 0),
		     utc(2026, 10, 31, 6, 0, 0), utc(2026, 12, 31, 6, 0, 0),
		     utc(2027, 1, 31, 6, 0, 0), utc(2027, 3, 31, 6, 0, 0)),
		"day 31 skips the 30-day months and February");
	assertf(RUNS("0 6 29 2 *", "UTC", utc(2026, 1, 1, 0, 0, 0), utc(2028, 2, 29, 6, 0, 0),
		     utc(2032, 2, 29, 6, 0, 0)),
		"February 29: the leap years");
	assertf(RUNS("0 6 29 2 *", "UTC", utc(2097, 1, 1, 0, 0, 0), utc(2104, 2, 29, 6, 0, 0)),
		"February 29 across 2100 (not a leap year): 7 years on");
	assertf(RUNS("0 0 1 * MON", "UTC", utc(2026, 1, 1, 0, 0, 0), utc(2026, 1, 5, 0, 0, 0),
		     utc(2026, 1, 12, 0, 0, 0), utc(2026, 1, 19, 0, 0, 0),
		     utc(2026, 1, 26, 0, 0, 0), utc(2026, 2, 1, 0, 0, 0), utc(2026, 2, 2, 0, 0, 0)),
		"0 0 1 * MON: the 1st (a Sunday in February) or any Monday");
	assertf(RUNS("0 0 29 2 MON", "UTC", utc(2026, 1, 1, 0, 0, 0), utc(2026, 2, 2, 0, 0, 0),
		     utc(2026, 2, 9, 0, 0, 0)),
		"0 0 29 2 MON: the Mondays of February too");
	assertf(RUNS("0 0 1-7 * */7", "UTC", utc(2026, 1, 1, 0, 0, 0), utc(2026, 1, 4, 0, 0, 0),
		     utc(2026, 2, 1, 0, 0, 0), utc(2026, 3, 1, 0, 0, 0), utc(2026, 4, 5, 0, 0, 0)),
		"0 0 1-7 * */7: the first Sunday (AND, '*' starts the day-of-week)");
	assertf(RUNS("@weekly", "UTC", utc(2026, 1, 1, 0, 0, 0), utc(2026, 1, 4, 0, 0, 0),
		     utc(2026, 1, 11, 0, 0, 0)),
		"@weekly: Sundays at midnight");
	assertf(RUNS("@yearly", "UTC", utc(2026, 1, 1, 0, 0, 0), utc(2027, 1, 1, 0, 0, 0),
		     utc(2028, 1, 1, 0, 0, 0)),
		"@yearly from its own run");
	assertf(RUNS("@monthly", "UTC", utc(2026, 1, 31, 23, 59, 59), utc(2026, 2, 1, 0, 0, 0)),
		"@monthly a second before");
	assertf(RUNS("30 9 * * 1-5", "UTC", utc(2026, 1, 2, 10, 0, 0), utc(2026, 1, 5, 9, 30, 0)),
		"weekdays: Friday after the run goes to Monday");
	assertf(RUNS("0 12 * 2 *", "UTC", utc(2026, 3, 1, 0, 0, 0), utc(2027, 2, 1, 12, 0, 0)),
		"a month not yet due: skipped to next year");
	assertf(RUNS("* * * * *", "UTC", utc(1999, 12, 31, 23, 59, 59), utc(2000, 1, 1, 0, 0, 0)),
		"every minute");

	Cron c;
	time_t t;
	assertf(parses("0 6 * * *", &c) && !cron_next(&c, "Mars/Olympus", 0, &t),
		"an unknown zone fails");
	assertf(!cron_next(&c, "CEST", 0, &t), "an abbreviation fails");
}

static void test_cron_next_berlin(void)
{
	/* CET -> CEST at 2026-03-29 01:00 UTC (02:00 -> 03:00 local) */
	assertf(RUNS("30 2 * * *", "Europe/Berlin", utc(2026, 3, 27, 12, 0, 0),
		     utc(2026, 3, 28, 1, 30, 0), /* 02:30 CET */
		     utc(2026, 3, 29, 1, 0, 0),  /* skipped: 03:00 CEST */
		     utc(2026, 3, 30, 0, 30, 0), /* 02:30 CEST */
		     utc(2026, 3, 31, 0, 30, 0)),
		"30 2 * * *: 03:00 on the spring-forward day, 02:30 the next");
	assertf(RUNS("0,30 * * * *", "Europe/Berlin", utc(2026, 3, 29, 0, 0, 0),
		     utc(2026, 3, 29, 0, 30, 0), /* 01:30 CET */
		     utc(2026, 3, 29, 1, 0, 0),  /* 02:00, 02:30 and 03:00: once */
		     utc(2026, 3, 29, 1, 30, 0), /* 03:30 CEST */
		     utc(2026, 3, 29, 2, 0, 0)),
		"0,30 * * * * across the gap: no duplicate");
	assertf(RUNS("15 2 * * *", "Europe/Berlin", utc(2026, 3, 29, 1, 0, 0),
		     utc(2026, 3, 30, 0, 15, 0)),
		"from the gap's own run: the next day");
	/* CEST -> CET at 2026-10-25 01:00 UTC (03:00 -> 02:00 local) */
	assertf(RUNS("30 2 * * *", "Europe/Berlin", utc(2026, 10, 24, 12, 0, 0),
		     utc(2026, 10, 25, 0, 30, 0),  /* 02:30 CEST, the first */
		     utc(2026, 10, 26, 1, 30, 0)), /* 02:30 CET */
		"30 2 * * * on the fall-back day: once, the first 02:30");
	assertf(RUNS("0 * * * *", "Europe/Berlin", utc(2026, 10, 24, 22, 0, 0),
		     utc(2026, 10, 24, 23, 0, 0), /* 01:00 CEST */
		     utc(2026, 10, 25, 0, 0, 0),  /* 02:00 CEST */
		     utc(2026, 10, 25, 2, 0, 0),  /* 03:00 CET: 02:00 CET is not run again */
		     utc(2026, 10, 25, 3, 0, 0)),
		"0 * * * * on the fall-back day: each hour once, the repeated one once");
	assertf(RUNS("30 2 * * *", "Europe/Berlin", utc(2026, 10, 25, 1, 10, 0),
		     utc(2026, 10, 26, 1, 30, 0)),
		"asked during the second 02:xx: 02:30 is not run again");
	assertf(RUNS("0 6 * * MON", "Europe/Berlin", utc(2026, 1, 5, 5, 0, 0),
		     utc(2026, 1, 12, 5, 0, 0)),
		"Monday 06:00 CET exactly: the next Monday");
	assertf(RUNS("0 6 * * MON", "Europe/Berlin", utc(2026, 3, 23, 5, 0, 0),
		     utc(2026, 3, 30, 4, 0, 0)),
		"06:00 CEST the Monday after spring forward");
	assertf(RUNS("0 0 * * *", "Europe/Berlin", utc(2026, 3, 29, 22, 30, 0),
		     utc(2026, 3, 30, 22, 0, 0)),
		"midnight, asked at 00:30 local (23:30 had it still been CET)");
}

static void test_cron_next_new_york(void)
{
	/* EST -> EDT at 2026-03-08 07:00 UTC (02:00 -> 03:00 local) */
	assertf(RUNS("30 2 * * *", "America/New_York", utc(2026, 3, 7, 12, 0, 0),
		     utc(2026, 3, 8, 7, 0, 0),   /* skipped: 03:00 EDT */
		     utc(2026, 3, 9, 6, 30, 0)), /* 02:30 EDT */
		"30 2 * * *: 03:00 on the spring-forward day");
	assertf(RUNS("0,30 * * * *", "America/New_York", utc(2026, 3, 8, 6, 0, 0),
		     utc(2026, 3, 8, 6, 30, 0), utc(2026, 3, 8, 7, 0, 0),
		     utc(2026, 3, 8, 7, 30, 0)),
		"0,30 * * * * across the gap");
	/* EDT -> EST at 2026-11-01 06:00 UTC (02:00 -> 01:00 local) */
	assertf(RUNS("30 1 * * *", "America/New_York", utc(2026, 10, 31, 12, 0, 0),
		     utc(2026, 11, 1, 5, 30, 0),  /* 01:30 EDT */
		     utc(2026, 11, 2, 6, 30, 0)), /* 01:30 EST */
		"30 1 * * * on the fall-back day: once");
	assertf(RUNS("30 2 * * *", "America/New_York", utc(2026, 10, 31, 12, 0, 0),
		     utc(2026, 11, 1, 7, 30, 0)),
		"02:30 happens once (EST)");
	assertf(RUNS("0 * * * *", "America/New_York", utc(2026, 11, 1, 4, 0, 0),
		     utc(2026, 11, 1, 5, 0, 0), /* 01:00 EDT */
		     utc(2026, 11, 1, 7, 0, 0), /* 02:00 EST */
		     utc(2026, 11, 1, 8, 0, 0)),
		"0 * * * *: the repeated 01:00 once");
	assertf(RUNS("* * * * *", "America/New_York", utc(2026, 11, 1, 6, 10, 0),
		     utc(2026, 11, 1, 7, 0, 0)),
		"every minute, asked in the second 01:xx: silent until 02:00 EST");
	assertf(RUNS("0 6 * * MON", "America/New_York", utc(2026, 11, 2, 4, 30, 0),
		     utc(2026, 11, 2, 11, 0, 0)),
		"Monday 06:00 EST after fall back");
	assertf(RUNS("0 0 * * SUN", "America/New_York", utc(2026, 11, 1, 4, 30, 0),
		     utc(2026, 11, 8, 5, 0, 0)),
		"Sunday midnight, asked at 00:30 EDT on a Sunday");
}

/* a local time in minutes since 1970-01-01 00:00 local */
static long wall_minutes(const TzLocal *l)
{
	return window_days_from_civil(l->year, l->month, l->day) * 1440 + l->hour * 60 + l->minute;
}

/* Whether t is the run of a local time c matches: its own local time matches, or t ends a
 * DST gap that skipped a matching local time (1-hour gaps in these zones). */
static bool run_ok(const Cron *c, const char *zone, time_t t)
{
	TzLocal l, before;

	if (!tz_local(zone, t, &l) || l.second != 0)
		return false;
	if (cron_match(c, &l))
		return true;
	/* a jump back (fall back) is no gap */
	if (!tz_local(zone, t - 60, &before) || wall_minutes(&l) - wall_minutes(&before) <= 1)
		return false;
	/* a gap just before t: the local hour before it was skipped */
	for (int m = 0; m < 60; m++) {
		TzLocal s = l;
		s.hour = (l.hour + 23) % 24;
		s.minute = m;
		if (cron_match(c, &s))
			return true;
	}
	return false;
}

/* Every accepted expression runs within CRON_MAX_GAP_DAYS from any instant: the rarest ones
 * asked from each January 1st of a whole Gregorian cycle. */
static void test_cron_next_rare_always_found(void)
{
	static const char *const exprs[] = { "0 6 29 2 *", "0 0 31 12 */6", "0 0 13 2 */5" };

	for (size_t e = 0; e < ARRAY_LEN(exprs); e++) {
		Cron c;
		time_t t;
		int missing = 0, y;

		if (!parses(exprs[e], &c)) {
			assertf(false, "%s parses", exprs[e]);
			continue;
		}
		for (y = 2000; y < 2400; y++)
			if (!cron_next(&c, "UTC", utc(y, 1, 1, 0, 0, 0), &t) ||
			    t > utc(y, 1, 1, 0, 0, 0) + (time_t)CRON_MAX_GAP_DAYS * 86400)
				missing++;
		assertf(missing == 0,
			"\"%s\": a run within %d days from each year 2000-2399 (%d not)", exprs[e],
			CRON_MAX_GAP_DAYS, missing);
	}
}

static const char *const zones[] = { "UTC", "Europe/Berlin", "America/New_York" };

static void test_cron_next_long_runs(void)
{
	static const char *const exprs[] = { "0 6 * * MON",  "*/15 * * * *",
					     "0,30 * * * *", "30 2 * * *",
					     "0 * * * *",    "0 0 1 * MON",
					     "5 4 * * 1-5",  "0 6 31 * *",
					     "@monthly",     "0 9-17/4 * JAN,MAR-OCT SAT,SUN",
					     "0 0 1-7 * */7" };

	for (size_t z = 0; z < ARRAY_LEN(zones); z++) {
		for (size_t e = 0; e < ARRAY_LEN(exprs); e++) {
			Cron c;
			time_t t = utc(2025, 12, 31, 23, 59, 0), prev = 0, got;
			int bad = 0, i;
			char a[32];

			if (!parses(exprs[e], &c)) {
				assertf(false, "%s parses", exprs[e]);
				continue;
			}
			for (i = 0; i < 1000; i++) {
				if (!cron_next(&c, zones[z], t, &got))
					break;
				if (got <= t || (i > 0 && got <= prev) ||
				    !run_ok(&c, zones[z], got)) {
					if (bad++ < 3)
						printf("# \"%s\" in %s: run %d %s after %s\n",
						       exprs[e], zones[z], i, utc_text(got, a),
						       got <= t ? "not increasing"
								: "does not match");
				}
				prev = t = got;
			}
			assertf(i == 1000 && bad == 0,
				"\"%s\" in %s: 1000 runs strictly increasing, each matching (%d, %d bad)",
				exprs[e], zones[z], i, bad);
		}
	}
}

/* The runs of c in (from, to] found minute by minute from tz_local alone: a minute runs if
 * its local time matches and is its first occurrence (1-hour shifts: the same local time an
 * hour earlier means a second occurrence), or if it ends a gap whose skipped hour had a
 * match. Compared with the walk of cron_next over the same span. */
static bool agrees_with_oracle(const char *expr, const char *zone, time_t from, time_t to)
{
	Cron c;
	time_t t = from, got;
	char a[32];

	if (!parses(expr, &c))
		return false;
	for (time_t m = from - from % 60 + 60; m <= to; m += 60) {
		TzLocal l, hour_ago;
		bool fires;

		if (!tz_local(zone, m, &l) || !tz_local(zone, m - 3600, &hour_ago))
			return false;
		bool repeated = hour_ago.year == l.year && hour_ago.month == l.month &&
				hour_ago.day == l.day && hour_ago.hour == l.hour &&
				hour_ago.minute == l.minute;
		fires = (cron_match(&c, &l) && !repeated) ||
			(!cron_match(&c, &l) && run_ok(&c, zone, m));
		if (!fires)
			continue;
		if (!cron_next(&c, zone, t, &got) || got != m) {
			printf("# \"%s\" in %s: the oracle runs at %s, cron_next after %ld gives %s\n",
			       expr, zone, utc_text(m, a), (long)t,
			       got != m ? "another time" : "none");
			return false;
		}
		t = got;
	}
	return !cron_next(&c, zone, t, &got) || got > to;
}

static void test_cron_next_oracle_at_transitions(void)
{
	static const char *const exprs[] = { "30 2 * * *", "0,30 * * * *", "*/20 1-3 * * *",
					     "59 1 * * *", "0 2 * * SUN" };
	static const struct {
		const char *zone;
		int y, m, d;
	} days[] = {
		{ "Europe/Berlin", 2026, 3, 29 },
		{ "Europe/Berlin", 2026, 10, 25 },
		{ "America/New_York", 2026, 3, 8 },
		{ "America/New_York", 2026, 11, 1 },
	};

	for (size_t i = 0; i < ARRAY_LEN(days); i++) {
		time_t from = utc(days[i].y, days[i].m, days[i].d, 0, 0, 0) - 86400;
		for (size_t e = 0; e < ARRAY_LEN(exprs); e++)
			assertf(agrees_with_oracle(exprs[e], days[i].zone, from, from + 3 * 86400),
				"\"%s\" in %s around %d-%02d-%02d agrees with the minute-by-minute oracle",
				exprs[e], days[i].zone, days[i].y, days[i].m, days[i].d);
	}
}

static bool described(const char *expr, const char *want)
{
	Cron c;
	char buf[CRON_DESCRIBE_MAX];
	size_t n;

	if (!parses(expr, &c))
		return false;
	n = cron_describe(&c, buf, sizeof(buf));
	if (strcmp(buf, want) != 0 || n != strlen(buf)) {
		printf("# \"%s\": \"%s\" (%zu), want \"%s\"\n", expr, buf, n, want);
		return false;
	}
	return true;
}

static void test_cron_describe(void)
{
	static const struct {
		const char *expr, *want;
	} d[] = {
		{ "0 6 * * MON", "every Monday at 06:00" },
		{ "0 6 * * *", "every day at 06:00" },
		{ "30 9 * * 1-5", "every weekday (Monday to Friday) at 09:30" },
		{ "30 9 * * MON-FRI", "every weekday (Monday to Friday) at 09:30" },
		{ "*/15 * * * *", "every 15 minutes" },
		{ "0,30 * * * *", "every 30 minutes" },
		{ "5 * * * *", "every hour at minute 5" },
		{ "@hourly", "every hour at minute 0" },
		{ "5,35 * * * *", "every hour at minutes 5 and 35" },
		{ "0 6 1 * *", "on day 1 of every month at 06:00" },
		{ "0 6 1,15 * *", "on days 1 and 15 of every month at 06:00" },
		{ "0 6,18 * * *", "at 06:00 and 18:00 every day" },
		{ "0 6,12 * * MON,WED", "at 06:00 and 12:00 every Monday and Wednesday" },
		{ "* * * * *", "every minute" },
		{ "@daily", "every day at 00:00" },
		{ "@weekly", "every Sunday at 00:00" },
		{ "@monthly", "on day 1 of every month at 00:00" },
		{ "@yearly", "on day 1 of January at 00:00" },
		{ "0 8 * * SAT,SUN", "every Saturday and Sunday at 08:00" },
		{ "0 8 * * 0,1,3", "every Monday, Wednesday and Sunday at 08:00" },
		{ "0 0 1 * MON", "on day 1 of every month and on every Monday at 00:00" },
		{ "0 9 * 1,7 *", "every day in January and July at 09:00" },
		{ "0 9 * 1 MON", "every Monday in January at 09:00" },
		{ "0 */2 * * *", "every 2 hours at minute 0" },
		{ "0 */6 * * *", "at 00:00, 06:00, 12:00 and 18:00 every day" },
		{ "0,30 6-9,12 * * MON,WED",
		  "every 30 minutes during hours 6-9 and 12 on Mondays and Wednesdays" },
		{ "0,20 6-9,12 * * MON,WED",
		  "at minutes 0 and 20 past hours 6-9 and 12 on Mondays and Wednesdays" },
		{ "0 6,12 1 * MON,WED",
		  "at 06:00 and 12:00 on day 1 of every month and on every Monday and Wednesday" },
		{ "0 6,12 * * MON-FRI", "at 06:00 and 12:00 every weekday (Monday to Friday)" },
		{ "*/15 9-17 * * 1-5",
		  "every 15 minutes during hours 9-17 on weekdays (Monday to Friday)" },
		{ "* 3 * * *", "every minute during hour 3" },
		{ "*/10 * * * SUN", "every 10 minutes on Sundays" },
		{ "*/10 * 1 * *", "every 10 minutes on day 1 of every month" },
		{ "0 0 1-7 * */7", "on days 1-7 of every month if it is a Sunday at 00:00" },
		{ "0 0 13 * */5", "on day 13 of every month if it is a Friday or Sunday at 00:00" },
	};

	for (size_t i = 0; i < ARRAY_LEN(d); i++)
		assertf(described(d[i].expr, d[i].want), "\"%s\" reads \"%s\"", d[i].expr,
			d[i].want);

	Cron c;
	char small[10];
	assertf(parses("0 6 * * MON", &c) && cron_describe(&c, small, sizeof(small)) == 9 &&
			strcmp(small, "every Mon") == 0,
		"cut to the buffer, NUL-terminated");
	assertf(cron_describe(&c, small, 0) == 0, "a zero-length buffer is left alone");
	char one[1] = { 'x' };
	assertf(cron_describe(&c, one, 1) == 0 && one[0] == '\0', "a 1-byte buffer gets the NUL");

	/* the longest readings still fit CRON_DESCRIBE_MAX: stepped ranges make long lists in
	 * few bytes, and runs of two are not shortened to a-b */
	static const char *const longest[] = {
		"1/2 1/2 1/2 1/2 1/2",
		"0-59/3,1-59/3 0-23/3,1-23/3 1-31/3,2-31/3 1-12/3,2-12/3 0-6/3,1-6/3",
		"0-59/3,1-59/3 0-23/3,1-23/3 1-31/3,2-31/3 1-12/3,2-12/3 */3",
		"0-59/3,1-59/3 0-23/3,1-23/3 */3 1-12/3,2-12/3 0-6/3,1-6/3",
		"0-59/3,1-59/3 0-23/3,1-23/3 1-31/3,2-31/3 1-4,6-12 0-4,6",
		"0-59/3,1-59/3 0-23/3,1-23/3 1-31/3,2-31/3 1-4,6-12 0-6",
	};
	for (size_t i = 0; i < ARRAY_LEN(longest); i++) {
		char big[CRON_DESCRIBE_MAX + 1];
		memset(big, 0, sizeof(big));
		assertf(parses(longest[i], &c), "\"%s\" parses", longest[i]);
		size_t n = cron_describe(&c, big, sizeof(big));
		assertf(n < CRON_DESCRIBE_MAX - 1, "\"%s\": the reading fits (%zu bytes): %s",
			longest[i], n, big);
	}
}

int main(void)
{
	RUN_TEST(test_cron_parse_syntax);
	RUN_TEST(test_cron_parse_macros);
	RUN_TEST(test_cron_parse_refusals);
	RUN_TEST(test_cron_next_utc);
	RUN_TEST(test_cron_next_berlin);
	RUN_TEST(test_cron_next_new_york);
	RUN_TEST(test_cron_next_rare_always_found);
	RUN_TEST(test_cron_next_long_runs);
	RUN_TEST(test_cron_next_oracle_at_transitions);
	RUN_TEST(test_cron_describe);
	return tap_done();
}
