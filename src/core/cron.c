/* cron.c - 5-field cron expressions (see cron.h): the parser, the next run walked on the
 * local calendar, and the English reading. Does not store or run schedules. */
#include "cron.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "window.h"

/* One field of the expression: its place, its name in messages, its range, and the names
 * its values may take (index = value - lo). */
typedef struct Field {
	int no;
	const char *name;
	int lo, hi; /* accepted values; day-of-week accepts 7 for Sunday */
	const char *const *names;
	int nnames;
} Field;

static const char *const month_abbr[] = { "JAN", "FEB", "MAR", "APR", "MAY", "JUN",
					  "JUL", "AUG", "SEP", "OCT", "NOV", "DEC" };
static const char *const wday_abbr[] = { "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT" };

static const Field fields[5] = {
	{ 1, "minute", 0, 59, NULL, 0 },          { 2, "hour", 0, 23, NULL, 0 },
	{ 3, "day-of-month", 1, 31, NULL, 0 },    { 4, "month", 1, 12, month_abbr, 12 },
	{ 5, "day-of-week", 0, 7, wday_abbr, 7 },
};

static const struct {
	const char *name;
	const char *expr;
} macros[] = {
	{ "@hourly", "0 * * * *" },   { "@daily", "0 0 * * *" },   { "@midnight", "0 0 * * *" },
	{ "@weekly", "0 0 * * 0" },   { "@monthly", "0 0 1 * *" }, { "@yearly", "0 0 1 1 *" },
	{ "@annually", "0 0 1 1 *" },
};

#define MACRO_LIST "@hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually"

#define ALL_MINUTES ((UINT64_C(1) << 60) - 1)
#define ALL_HOURS ((UINT32_C(1) << 24) - 1)
#define ALL_DAYS (((UINT32_C(1) << 31) - 1) << 1)
#define ALL_MONTHS ((uint16_t)(((1u << 12) - 1) << 1))
#define ALL_WDAYS ((uint8_t)0x7f)

static bool fail(char *err, size_t errlen, const char *fmt, ...) PRINTF_LIKE(3, 4);

static bool fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return false;
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static char upper(char ch)
{
	return ch >= 'a' && ch <= 'z' ? (char)(ch - 'a' + 'A') : ch;
}

static bool is_alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* Case-insensitive equality of the n bytes at s with the NUL-terminated word w. */
static bool word_is(const char *s, size_t n, const char *w)
{
	size_t i;

	for (i = 0; i < n && w[i] != '\0'; i++)
		if (upper(s[i]) != upper(w[i]))
			return false;
	return i == n && w[i] == '\0';
}

/* One value at *p (a number or, where the field has them, a name), advancing *p. */
static bool parse_value(const Field *f, const char **p, const char *end, int *out, char *err,
			size_t errlen)
{
	const char *s = *p;

	if (s < end && *s >= '0' && *s <= '9') {
		const char *digits = s;
		long v = 0;

		while (s < end && *s >= '0' && *s <= '9') {
			if (v < 1000)
				v = v * 10 + (*s - '0');
			s++;
		}
		if (v < f->lo || v > f->hi)
			return fail(err, errlen, "cron field %d (%s): %.*s is not in %d-%d", f->no,
				    f->name, (int)(s - digits > 12 ? 12 : s - digits), digits,
				    f->lo, f->hi);
		*out = (int)v;
		*p = s;
		return true;
	}
	if (s < end && is_alpha(*s)) {
		const char *w = s;

		while (s < end && is_alpha(*s))
			s++;
		for (int i = 0; i < f->nnames; i++) {
			if (word_is(w, (size_t)(s - w), f->names[i])) {
				*out = f->lo == 0 ? i : i + 1;
				*p = s;
				return true;
			}
		}
		if (f->names == NULL)
			return fail(err, errlen, "cron field %d (%s): \"%.*s\" is not a number",
				    f->no, f->name, (int)(s - w > 20 ? 20 : s - w), w);
		return fail(err, errlen, "cron field %d (%s): unknown name \"%.*s\" (%s-%s)", f->no,
			    f->name, (int)(s - w > 20 ? 20 : s - w), w, f->names[0],
			    f->names[f->nnames - 1]);
	}
	if (s >= end)
		return fail(err, errlen, "cron field %d (%s): a value is missing", f->no, f->name);
	return fail(err, errlen, "cron field %d (%s): unexpected '%c'", f->no, f->name, *s);
}

/* One field, the bytes [s, end), into a bitset of its values (bit v = value v). */
static bool parse_field(const Field *f, const char *s, const char *end, uint64_t *bits, char *err,
			size_t errlen)
{
	const char *p = s;
	uint64_t set = 0;

	for (;;) {
		int a, b, step = 1;
		bool range = false;

		if (p < end && *p == '*') {
			a = f->lo;
			/* "*" in day-of-week is 0-6: 7 is only another name for 0 */
			b = f->no == 5 ? 6 : f->hi;
			p++;
			range = true;
		} else {
			if (!parse_value(f, &p, end, &a, err, errlen))
				return false;
			b = a;
			if (p < end && *p == '-') {
				p++;
				if (!parse_value(f, &p, end, &b, err, errlen))
					return false;
				if (b < a)
					return fail(err, errlen,
						    "cron field %d (%s): range %d-%d is reversed",
						    f->no, f->name, a, b);
				range = true;
			}
		}
		if (p < end && *p == '/') {
			long n = 0;

			p++;
			if (p >= end || *p < '0' || *p > '9')
				return fail(err, errlen,
					    "cron field %d (%s): a step needs a number after '/'",
					    f->no, f->name);
			while (p < end && *p >= '0' && *p <= '9') {
				if (n < 1000)
					n = n * 10 + (*p - '0');
				p++;
			}
			if (n == 0)
				return fail(err, errlen, "cron field %d (%s): step 0", f->no,
					    f->name);
			if (n > f->hi - f->lo + 1)
				return fail(err, errlen,
					    "cron field %d (%s): step %ld is larger than %d", f->no,
					    f->name, n, f->hi - f->lo + 1);
			step = (int)n;
			/* "a/n" is "a-end/n" as in cronie, where day-of-week ends at 7: "1/2" is
			 * Monday, Wednesday, Friday and Sunday */
			if (!range)
				b = f->hi;
		}
		for (int v = a; v <= b; v += step)
			set |= UINT64_C(1) << v;
		if (p == end)
			break;
		if (*p != ',')
			return fail(err, errlen, "cron field %d (%s): unexpected '%c' in \"%.*s\"",
				    f->no, f->name, *p, (int)(end - s > 40 ? 40 : end - s), s);
		p++;
	}
	*bits = set;
	return true;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
	static const int n[13] = { 0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && leap(y) ? 29 : n[m];
}

/* 0 = Sunday; 1970-01-01 was a Thursday */
static int weekday(int y, int m, int d)
{
	long z = window_days_from_civil(y, m, d);

	return (int)(((z + 4) % 7 + 7) % 7);
}

static bool day_matches(const Cron *c, int y, int m, int d)
{
	bool dom = (c->days >> d) & 1u;
	bool dow = (c->wdays >> weekday(y, m, d)) & 1u;

	if (!((c->months >> m) & 1u))
		return false;
	return c->dom_restricted && c->dow_restricted ? dom || dow : dom && dow;
}

static int popcount64(uint64_t v)
{
	return __builtin_popcountll(v);
}

/* A list of numbers "1", "1 and 15", "1-7, 15 and 31": runs of 3 or more as a-b. The
 * longest, minutes 0,1,3,4,..., is 40 items, under 200 bytes. */
#define LIST_MAX 256
static void list_numbers(char *out, size_t len, uint64_t bits, int lo, int hi);

/* Whether the days c runs on come at least every CRON_MAX_GAP_DAYS; false with a message
 * if they never come or come too rarely. Only an AND of a partial day-of-month with a
 * partial day-of-week needs the walk over a 400-year Gregorian cycle; otherwise a selected
 * month runs every year, or February 29 alone every 4 (8 across 2100). */
static bool days_often_enough(const Cron *c, char *err, size_t errlen)
{
	bool any = false;
	char days[LIST_MAX];

	if (c->dom_restricted && c->dow_restricted)
		return true;
	for (int m = 1; m <= 12; m++)
		if (((c->months >> m) & 1u) &&
		    (c->days & ((UINT32_C(2) << month_days(2000, m)) - 2)))
			any = true;
	if (!any) {
		list_numbers(days, sizeof(days), c->days, 1, 31);
		return fail(err, errlen,
			    "cron expression never fires: no month it names has day %s", days);
	}
	if (c->wdays == ALL_WDAYS || (c->days & ALL_DAYS) == ALL_DAYS)
		return true;

	/* both partial: the longest gap between matching days over 2000-01-01 .. 2399-12-31,
	 * counted cyclically (the calendar repeats every 146097 days). A month's matches depend
	 * only on its length and the weekday of its 1st, so a table of its first and last match
	 * makes the walk 4,800 months (gaps inside a month are too short to matter). */
	int first_in[7][4], last_in[7][4]; /* [weekday of the 1st][length - 28], 0: none */
	for (int w = 0; w < 7; w++) {
		for (int n = 28; n <= 31; n++) {
			first_in[w][n - 28] = last_in[w][n - 28] = 0;
			for (int d = 1; d <= n; d++) {
				if (!((c->days >> d) & 1u) ||
				    !((c->wdays >> ((w + d - 1) % 7)) & 1u))
					continue;
				if (first_in[w][n - 28] == 0)
					first_in[w][n - 28] = d;
				last_in[w][n - 28] = d;
			}
		}
	}
	long first = -1, last = -1, gap = 0;
	long z = window_days_from_civil(2000, 1, 1);
	for (int y = 2000; y < 2400; y++) {
		for (int m = 1; m <= 12; m++) {
			int n = month_days(y, m), w = (int)((z + 4) % 7);

			if (((c->months >> m) & 1u) && first_in[w][n - 28] > 0) {
				if (first < 0)
					first = z + first_in[w][n - 28] - 1;
				else if (z + first_in[w][n - 28] - 1 - last > gap)
					gap = z + first_in[w][n - 28] - 1 - last;
				last = z + last_in[w][n - 28] - 1;
			}
			z += n;
		}
	}
	if (first >= 0 && first + 146097 - last > gap)
		gap = first + 146097 - last;
	if (first < 0 || gap > CRON_MAX_GAP_DAYS)
		return fail(
			err, errlen,
			"cron expression fires too rarely: day-of-month and day-of-week must both "
			"match (one starts with '*'), which leaves %s between runs (at most 8 years)",
			first < 0     ? "forever"
			: gap >= 3650 ? "decades"
				      : "years");
	return true;
}

bool cron_parse(const char *expr, Cron *c, char *err, size_t errlen)
{
	const char *s, *end, *fs[5], *fe[5];
	uint64_t bits[5];
	size_t n;
	int nf = 0;

	if (expr == NULL)
		return fail(err, errlen, "cron expression is empty");
	n = strlen(expr);
	if (n > CRON_EXPR_MAX)
		return fail(err, errlen, "cron expression is longer than %d bytes", CRON_EXPR_MAX);
	s = expr;
	end = expr + n;
	while (s < end && is_blank(*s))
		s++;
	while (end > s && is_blank(end[-1]))
		end--;
	if (s == end)
		return fail(err, errlen, "cron expression is empty");
	if (*s == '@') {
		for (size_t i = 0; i < ARRAY_LEN(macros); i++)
			if (word_is(s, (size_t)(end - s), macros[i].name))
				return cron_parse(macros[i].expr, c, err, errlen);
		return fail(err, errlen,
			    "cron macro \"%.*s\" is not supported (one of " MACRO_LIST ")",
			    (int)(end - s > 20 ? 20 : end - s), s);
	}
	while (s < end) {
		if (nf == 5) {
			nf++;
			break;
		}
		fs[nf] = s;
		while (s < end && !is_blank(*s))
			s++;
		fe[nf++] = s;
		while (s < end && is_blank(*s))
			s++;
	}
	if (nf != 5) {
		if (nf > 5)
			for (nf = 5; s < end; nf++) {
				while (s < end && !is_blank(*s))
					s++;
				while (s < end && is_blank(*s))
					s++;
			}
		return fail(
			err, errlen,
			"cron expression has %d field%s, want 5 (minute hour day-of-month month "
			"day-of-week)",
			nf, nf == 1 ? "" : "s");
	}
	for (int i = 0; i < 5; i++)
		if (!parse_field(&fields[i], fs[i], fe[i], &bits[i], err, errlen))
			return false;

	Cron t = {
		.minutes = bits[0],
		.hours = (uint32_t)bits[1],
		.days = (uint32_t)bits[2],
		.months = (uint16_t)bits[3],
		/* 7 is Sunday too */
		.wdays = (uint8_t)((bits[4] | (bits[4] >> 7)) & ALL_WDAYS),
		.dom_restricted = *fs[2] != '*',
		.dow_restricted = *fs[4] != '*',
	};
	if (!days_often_enough(&t, err, errlen))
		return false;
	*c = t;
	return true;
}

bool cron_match(const Cron *c, const TzLocal *l)
{
	if (l->minute < 0 || l->minute > 59 || l->hour < 0 || l->hour > 23 || l->day < 1 ||
	    l->day > 31 || l->month < 1 || l->month > 12 || l->wday < 0 || l->wday > 6)
		return false;
	if (!((c->minutes >> l->minute) & 1u) || !((c->hours >> l->hour) & 1u) ||
	    !((c->months >> l->month) & 1u))
		return false;
	bool dom = (c->days >> l->day) & 1u;
	bool dow = (c->wdays >> l->wday) & 1u;
	return c->dom_restricted && c->dow_restricted ? dom || dow : dom && dow;
}

/* The lowest set bit of v at or above from, or -1. */
static int next_bit(uint64_t v, int from)
{
	if (from > 63)
		return -1;
	v &= ~UINT64_C(0) << from;
	return v ? __builtin_ctzll(v) : -1;
}

/* Walks the local calendar from the minute of `after`: months, days and hours that cannot
 * match are skipped whole, and only a matching local time costs a tz_instant. Wall time to
 * instant is monotonic (gap times go to the end of the gap, repeated ones to their first
 * occurrence), so the first candidate whose instant is after `after` is the answer, and
 * candidates that land on an instant already passed (the rest of a gap, the second pass of
 * a repeated hour) are skipped by the same test. */
bool cron_next(const Cron *c, const char *zone, time_t after, time_t *out)
{
	TzLocal l;
	int y, m, d, h, mi;
	long start, z;

	if (!tz_local(zone, after, &l))
		return false;
	y = l.year;
	m = l.month;
	d = l.day;
	h = l.hour;
	mi = l.minute;
	start = window_days_from_civil(y, m, d);
	/* one day more than the longest accepted gap: a run moved out of a gap at midnight
	 * lands on the next day */
	for (z = start; z <= start + CRON_MAX_GAP_DAYS + 1;) {
		if (!((c->months >> m) & 1u)) {
			z += month_days(y, m) - d + 1;
			d = 1;
			h = mi = 0;
			if (++m > 12) {
				m = 1;
				y++;
			}
			continue;
		}
		int hh = day_matches(c, y, m, d) ? next_bit(c->hours, h) : -1;
		while (hh >= 0) {
			int mm = next_bit(c->minutes, hh == h ? mi : 0);
			if (mm < 0) {
				hh = next_bit(c->hours, hh + 1);
				continue;
			}
			TzLocal w = { .year = y, .month = m, .day = d, .hour = hh, .minute = mm };
			time_t t;
			if (!tz_instant(zone, &w, &t))
				return false;
			if (t > after) {
				*out = t;
				return true;
			}
			h = hh;
			mi = mm + 1;
		}
		z++;
		h = mi = 0;
		if (++d > month_days(y, m)) {
			d = 1;
			if (++m > 12) {
				m = 1;
				y++;
			}
		}
	}
	return false;
}

/* --- the English reading --- */

/* An output buffer that never overflows: n counts what fits. */
typedef struct Out {
	char *buf;
	size_t len, n;
} Out;

static void put(Out *o, const char *fmt, ...) PRINTF_LIKE(2, 3);

static void put(Out *o, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (o->len == 0 || o->n + 1 >= o->len)
		return;
	va_start(ap, fmt);
	w = vsnprintf(o->buf + o->n, o->len - o->n, fmt, ap);
	va_end(ap);
	if (w < 0)
		return;
	o->n += (size_t)w < o->len - o->n ? (size_t)w : o->len - o->n - 1;
}

static const char *const month_name[] = { "",        "January",  "February", "March",  "April",
					  "May",     "June",     "July",     "August", "September",
					  "October", "November", "December" };
static const char *const wday_name[] = { "Sunday",   "Monday", "Tuesday", "Wednesday",
					 "Thursday", "Friday", "Saturday" };

/* Joins items as "a", "a and b", "a, b and c" (conj "and"; or "or"). */
static void join(Out *o, const char **items, int n, const char *conj)
{
	for (int i = 0; i < n; i++)
		put(o, "%s%s%s%s",
		    i == 0       ? ""
		    : i == n - 1 ? " "
				 : ", ",
		    i > 0 && i == n - 1 ? conj : "", i > 0 && i == n - 1 ? " " : "", items[i]);
}

static void list_numbers(char *out, size_t len, uint64_t bits, int lo, int hi)
{
	char item[60][8];
	const char *items[60];
	int n = 0;
	Out o = { out, len, 0 };

	out[0] = '\0';
	for (int v = lo; v <= hi && n < 60; v++) {
		if (!((bits >> v) & 1u))
			continue;
		int e = v;
		while (e + 1 <= hi && ((bits >> (e + 1)) & 1u))
			e++;
		if (e - v >= 2) {
			snprintf(item[n], sizeof(item[n]), "%d-%d", v, e);
			v = e;
		} else {
			snprintf(item[n], sizeof(item[n]), "%d", v);
		}
		items[n] = item[n];
		n++;
	}
	join(&o, items, n, "and");
}

/* The weekdays of bits, Monday first: "Monday", "Monday and Thursday"; with plural,
 * "Mondays and Thursdays". */
static void weekdays(Out *o, uint8_t bits, bool plural, const char *conj)
{
	char item[7][16];
	const char *items[7];
	int n = 0;

	for (int i = 1; i <= 7; i++) {
		if ((bits >> (i % 7)) & 1u) {
			snprintf(item[n], sizeof(item[n]), "%s%s", wday_name[i % 7],
				 plural ? "s" : "");
			items[n] = item[n];
			n++;
		}
	}
	join(o, items, n, conj);
}

static void months(Out *o, uint16_t bits)
{
	const char *items[12];
	int n = 0;

	for (int m = 1; m <= 12; m++)
		if ((bits >> m) & 1u)
			items[n++] = month_name[m];
	join(o, items, n, "and");
}

/* "every Monday" / "on Mondays" (on_form), "every weekday (Monday to Friday)" / "on weekdays
 * (Monday to Friday)" */
static void dow_phrase(Out *o, uint8_t bits, bool on_form)
{
	if (bits == 0x3e) {
		put(o, on_form ? "on weekdays (Monday to Friday)"
			       : "every weekday (Monday to Friday)");
		return;
	}
	put(o, on_form ? "on " : "every ");
	weekdays(o, bits, on_form, "and");
}

/* The days c runs on. on_form: the phrase follows a time that repeats within the day
 * ("every 15 minutes on Mondays") rather than a clock time ("every Monday"). Returns false
 * when it is every day (and writes nothing). */
static bool day_phrase(Out *o, const Cron *c, bool on_form)
{
	bool all_dom = (c->days & ALL_DAYS) == ALL_DAYS;
	bool all_dow = c->wdays == ALL_WDAYS;
	bool all_months = (c->months & ALL_MONTHS) == ALL_MONTHS;
	char list[LIST_MAX];

	if (c->dom_restricted && c->dow_restricted) {
		/* Vixie's OR: "on day 1 of every month and on every Monday" */
		list_numbers(list, sizeof(list), c->days, 1, 31);
		put(o, "on day%s %s", popcount64(c->days) == 1 ? "" : "s", list);
		if (all_months)
			put(o, " of every month");
		if (c->wdays == 0x3e) {
			put(o, " and on weekdays (Monday to Friday)");
		} else {
			put(o, " and on every ");
			weekdays(o, c->wdays, false, "and");
		}
		if (!all_months) {
			put(o, " in ");
			months(o, c->months);
		}
		return true;
	}
	if (all_dom && all_dow && all_months)
		return false;
	if (all_dom) {
		if (all_dow) {
			put(o, on_form ? "in " : "every day in ");
		} else {
			dow_phrase(o, c->wdays, on_form);
			if (all_months)
				return true;
			put(o, " in ");
		}
		months(o, c->months);
		return true;
	}
	list_numbers(list, sizeof(list), c->days, 1, 31);
	put(o, "on day%s %s of ", popcount64(c->days) == 1 ? "" : "s", list);
	if (all_months)
		put(o, "every month");
	else
		months(o, c->months);
	if (!all_dow) {
		/* an AND of the two: "a Monday and Friday" would read as both at once */
		put(o, " if it is a ");
		weekdays(o, c->wdays, false, "or");
	}
	return true;
}

/* v is {0, s, 2s, ...} over [0, n) with s dividing n: the step s, else 0 */
static int uniform_step(uint64_t v, int n)
{
	int cnt = popcount64(v);

	if (!(v & 1u) || cnt < 2 || n % cnt != 0)
		return 0;
	int s = n / cnt;
	for (int i = 0; i < n; i++)
		if ((bool)((v >> i) & 1u) != (i % s == 0))
			return 0;
	return s;
}

size_t cron_describe(const Cron *c, char *buf, size_t len)
{
	Out o = { buf, len, 0 };
	bool all_minutes = c->minutes == ALL_MINUTES;
	bool all_hours = c->hours == ALL_HOURS;
	int nmin = popcount64(c->minutes), nhour = popcount64(c->hours);
	int mstep = uniform_step(c->minutes, 60), hstep = uniform_step(c->hours, 24);
	int first_min = next_bit(c->minutes, 0);
	char list[LIST_MAX];
	bool clock = false; /* the time part is a list of clock times */

	if (len == 0)
		return 0;
	buf[0] = '\0';
	if (all_minutes && all_hours) {
		put(&o, "every minute");
	} else if (mstep > 0 && all_hours) {
		put(&o, "every %d minutes", mstep);
	} else if (nmin == 1 && all_hours) {
		put(&o, "every hour at minute %d", first_min);
	} else if (all_hours) {
		list_numbers(list, sizeof(list), c->minutes, 0, 59);
		put(&o, "every hour at minutes %s", list);
	} else if (!all_minutes && nmin * nhour <= 6) {
		const char *items[6];
		char item[6][8];
		int n = 0;

		for (int h = next_bit(c->hours, 0); h >= 0; h = next_bit(c->hours, h + 1))
			for (int m = next_bit(c->minutes, 0); m >= 0;
			     m = next_bit(c->minutes, m + 1)) {
				snprintf(item[n], sizeof(item[n]), "%02d:%02d", h % 100, m % 100);
				items[n] = item[n];
				n++;
			}
		if (n == 1) {
			/* "every Monday at 06:00": the days first */
			if (!day_phrase(&o, c, false))
				put(&o, "every day");
			put(&o, " at %s", items[0]);
			return o.n;
		}
		put(&o, "at ");
		join(&o, items, n, "and");
		clock = true;
	} else if (nmin == 1 && hstep > 0) {
		put(&o, "every %d hours at minute %d", hstep, first_min);
	} else {
		if (all_minutes)
			put(&o, "every minute");
		else if (mstep > 0)
			put(&o, "every %d minutes", mstep);
		else {
			list_numbers(list, sizeof(list), c->minutes, 0, 59);
			put(&o, "at minute%s %s", nmin == 1 ? "" : "s", list);
		}
		list_numbers(list, sizeof(list), c->hours, 0, 23);
		put(&o, " %s hour%s %s", all_minutes || mstep > 0 ? "during" : "past",
		    nhour == 1 ? "" : "s", list);
	}
	put(&o, " ");
	size_t before = o.n;
	if (!day_phrase(&o, c, !clock)) {
		if (clock)
			put(&o, "every day");
		else if (o.n == before && o.n > 0)
			buf[--o.n] = '\0'; /* drop the trailing blank */
	}
	return o.n;
}
