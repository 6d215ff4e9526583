/* window.h - relative date windows ("the last 7 days", "the previous week", ...), resolved
 * once, when a batch is created, to whole days in an instance's own time zone. The days go
 * to AMC as a window in that zone (timeWindowTimeZone), so only "what day is it there" needs
 * the zone rules (tz.h); the rest is calendar arithmetic.
 *
 * Every window ends before the reference day D = today - lag_days (AMC loads a day's data
 * about two days late): the window never covers a day whose data may be incomplete.
 *   last_n_days         the n days before D
 *   previous_week       the latest full Monday-to-Sunday week before D
 *   last_n_full_weeks   the n latest full Monday-to-Sunday weeks before D
 *   previous_month      the latest full calendar month before D
 *   month_to_date       from the first of the month of D - 1 to D - 1
 * E.g. on Monday 2026-11-30 with lag_days 0, previous_week is 2026-11-23 - 2026-11-29; with
 * lag_days 2 (D = Saturday 28th) it is 2026-11-16 - 2026-11-22. */
#ifndef AMCB_WINDOW_H
#define AMCB_WINDOW_H

#include <stdbool.h>
#include <time.h>
#include <jansson.h>

#include "common.h"

#define WINDOW_MAX_DAYS 400 /* last_n_days: AMC keeps about 13 months of data */
#define WINDOW_MAX_WEEKS 57 /* last_n_full_weeks: the same span */
#define WINDOW_MAX_LAG 30   /* lag_days */
#define WINDOW_DATE_LEN 11  /* "YYYY-MM-DD" + NUL */

typedef enum WindowType {
	WINDOW_LAST_N_DAYS,
	WINDOW_PREVIOUS_WEEK,
	WINDOW_LAST_N_FULL_WEEKS,
	WINDOW_PREVIOUS_MONTH,
	WINDOW_MONTH_TO_DATE,
} WindowType;

typedef struct WindowSpec {
	WindowType type;
	int n; /* days or weeks; 0 for the types without n */
	int lag_days;
} WindowSpec;

/* A rejected window: HTTP status (400 wrong JSON type or unknown key, 422 bad value), the
 * field ("window", "window.type", "window.n", "window.lag_days") and a message. */
typedef struct WindowErr {
	int status;
	char code[32];
	char field[24];
	char message[200];
} WindowErr;

/* The name of a type ("last_n_days", ...). */
const char *window_type_name(WindowType t);

/* Parses a window: an object {"type": name, "n": int (only, and required, for last_n_days
 * and last_n_full_weeks), "lag_days": int (optional: default_lag)}, or just the name of a
 * type without n ("previous_week"). */
MUST_CHECK bool window_parse(const json_t *v, int default_lag, WindowSpec *w, WindowErr *e);

/* The window as a new object {"type", "n" (when it has one), "lag_days"} (caller decrefs;
 * NULL when out of memory): what a batch stores and shows, and window_parse reads back. */
json_t *window_json(const WindowSpec *w);

/* The days of w at instant now in zone: first and last day, both included, "YYYY-MM-DD".
 * False if zone is not a valid zone id (tz_valid). */
MUST_CHECK bool window_resolve(const WindowSpec *w, time_t now, const char *zone,
			       char first[WINDOW_DATE_LEN], char last[WINDOW_DATE_LEN]);

/* Day arithmetic on proleptic Gregorian dates, exposed for the tests: days since
 * 1970-01-01 of a date, and back. */
long window_days_from_civil(int y, int m, int d);
void window_civil_from_days(long z, int *y, int *m, int *d);

#endif
