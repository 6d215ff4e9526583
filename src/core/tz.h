/* tz.h - IANA time zones: the local calendar date and time of an instant in a zone, and the
 * instant of a local time. Through ICU's calendar (ucal, Debian's libicu): it carries the
 * zone rules and their DST transitions, so nothing here parses zoneinfo or switches the
 * process-wide TZ (which other threads read). Thread-safe: every call opens its own
 * calendar. Used to resolve relative date windows in each instance's zone. */
#ifndef AMCB_TZ_H
#define AMCB_TZ_H

#include <stdbool.h>
#include <time.h>

#include "common.h"
#include "fieldlen.h"

typedef struct TzLocal {
	int year;
	int month; /* 1..12 */
	int day;   /* 1..31 */
	int hour;  /* 0..23 */
	int minute;
	int second;
	int wday; /* 0 = Sunday .. 6 = Saturday */
} TzLocal;

/* Whether zone is an IANA zone id ICU knows ("UTC", "Europe/Berlin", "America/New_York";
 * also the old aliases such as "US/Eastern"), at most FIELDLEN_TIMEZONE bytes. Custom
 * offsets ("GMT+3", "+02:00") and abbreviations ("CET" is an id, "CEST" is not) are refused:
 * AMC wants a zone id in timeWindowTimeZone. */
bool tz_valid(const char *zone);

/* The wall-clock date and time of instant t in zone. False if zone is not valid. */
MUST_CHECK bool tz_local(const char *zone, time_t t, TzLocal *out);

/* The instant of wall-clock time l (year, month, day, hour, minute, second; wday ignored) in
 * zone. A time the clocks skip (the spring-forward gap) is the first instant after the gap
 * (02:30 on a day that jumps 02:00 -> 03:00 is 03:00), as cron runs such jobs; a time that
 * happens twice (fall back) is its first occurrence. False if zone is not valid. */
MUST_CHECK bool tz_instant(const char *zone, const TzLocal *l, time_t *out);

#endif
