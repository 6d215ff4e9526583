/* cron.h - 5-field cron expressions ("0 6 * * MON") evaluated in an IANA time zone: parse,
 * the next run after an instant, and an English reading. Pure calendar arithmetic plus tz.h
 * for the zone rules; nothing here stores schedules, keeps time or runs anything.
 *
 * Semantics the caller must know:
 *  - Day-of-month and day-of-week combine as in Vixie cron: when both fields are restricted
 *    (neither starts with '*'), a day matches if EITHER matches ("0 0 1 * MON" runs on the
 *    1st and on every Monday); otherwise both must match. A field counts as unrestricted when
 *    it starts with '*', so "*\/2" in day-of-week is an AND with day-of-month, and "1-31" is a
 *    restriction (both exactly as Vixie cron).
 *  - DST: a local time the clocks skip runs once, at the first instant after the gap (02:30 on
 *    a day that jumps 02:00 -> 03:00 runs at 03:00); a local time that happens twice runs
 *    once, at its first occurrence (so "* * * * *" is silent during the repeated hour); local
 *    times that land on the same instant run once.
 *  - Rare expressions are refused by cron_parse, not by cron_next: every accepted expression
 *    runs at least once in any CRON_MAX_GAP_DAYS (8 years: only "February 29" alone goes
 *    that long, 2096 -> 2104), and cron_next searches that far, so cron_next fails only on
 *    a bad zone. Refused: expressions that never run ("0 0 30 2 *", "0 0 31 4,6,9,11 *") and
 *    day-of-month AND day-of-week pairs with longer gaps ("0 0 29 2 *\/7": a February 29
 *    that is a Sunday, 28 years apart; "0 0 31 12 *\/7"). "0 0 29 2 MON" is NOT such a case:
 *    both fields are restricted, so it runs on February 29 and on every Monday in February.
 *
 * Thread-safe: no globals, no allocation (a Cron is a plain value, copy it freely); tz.h
 * opens an ICU calendar per call. Measured (-O2, one of 2 shared cores): cron_next about
 * 6 us for common expressions ("0 6 * * MON", "*\/15 * * * *", "0 6 29 2 *" in Berlin: one
 * tz_local and usually one tz_instant); the worst case, every minute asked from inside a
 * repeated fall-back hour, skips up to 60 candidates through tz_instant, about 35 us.
 * cron_parse about 0.1 us (up to 12 us when it walks a 400-year cycle to bound the gap of a
 * day-of-month AND day-of-week); cron_describe about 0.4 us. */
#ifndef AMCB_CRON_H
#define AMCB_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common.h"
#include "tz.h"

#define CRON_EXPR_MAX 120      /* longest accepted expression, bytes */
#define CRON_MAX_GAP_DAYS 2922 /* 8 years: the longest gap between runs cron_parse accepts */
#define CRON_DESCRIBE_MAX \
	640 /* a buffer this big holds any cron_describe text (the
					 * longest, of lists like "0-59/3,1-59/3", is about 500) */

typedef struct Cron {
	uint64_t minutes;    /* bit m set: minute m, 0..59 */
	uint32_t hours;      /* bit h: hour h, 0..23 */
	uint32_t days;       /* bit d: day of month d, 1..31 (bit 0 unused) */
	uint16_t months;     /* bit m: month m, 1..12 (bit 0 unused) */
	uint8_t wdays;       /* bit w: day of week w, 0 = Sunday .. 6 = Saturday (7 folds to 0) */
	bool dom_restricted; /* the day-of-month field did not start with '*' */
	bool dow_restricted; /* the day-of-week field did not start with '*' */
} Cron;

/* Parses a 5-field expression (minute hour day-of-month month day-of-week), fields separated
 * by blanks: numbers, `*`, ranges a-b, steps *\/n, a-b/n and a/n (a to the field's end, 7 in
 * day-of-week as in cronie: "1/2" there is Mon, Wed, Fri and Sun), lists a,b-c; month names
 * JAN-DEC and day names SUN-SAT (case-insensitive), 0 and 7 both Sunday; macros @hourly
 * @daily @midnight @weekly @monthly @yearly @annually (case-insensitive).
 * False with a one-line message in err (e.g. "cron field 2 (hour): 25 is not in 0-23") on
 * anything else: another field count, @reboot, empty, junk, a reversed range, step 0, more
 * than CRON_EXPR_MAX bytes, or an expression that never runs or runs less often than every
 * CRON_MAX_GAP_DAYS (see above). *c is written only on success. */
MUST_CHECK bool cron_parse(const char *expr, Cron *c, char *err, size_t errlen);

/* The first run strictly after `after`, evaluated in IANA zone `zone` (tz.h), in *out. The
 * DST and day-of-month/day-of-week rules are above. False only if the zone is not valid
 * (or ICU fails): for a parsed Cron a run always exists within CRON_MAX_GAP_DAYS. */
MUST_CHECK bool cron_next(const Cron *c, const char *zone, time_t after, time_t *out);

/* Whether local wall time l matches c (minute, hour, day, month, weekday l->wday; seconds
 * ignored). A run moved out of a DST gap does not match its own local time. */
bool cron_match(const Cron *c, const TzLocal *l);

/* A human reading in English for the web page and the CLI: "every Monday at 06:00", "every
 * day at 06:00", "every weekday (Monday to Friday) at 09:30", "every 15 minutes", "every
 * hour at minute 5", "on day 1 of every month at 06:00", "at 06:00 and 18:00 every day";
 * anything more complex falls back to a plain, still true reading ("at minutes 0 and 20 past
 * hours 6-9 and 12 on Mondays and Wednesdays"). Times are the zone's local times; the zone
 * is appended by the caller, not here. Writes at most len bytes into buf, NUL-terminated
 * (cut if too small; CRON_DESCRIBE_MAX always fits) and returns strlen(buf); 0 if len is 0. */
size_t cron_describe(const Cron *c, char *buf, size_t len);

#endif
