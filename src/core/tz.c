/* tz.c - IANA time zones through ICU's ucal (see tz.h). */
#include "tz.h"

#include <string.h>

#include <unicode/ucal.h>
#include <unicode/ustring.h>

/* The zone id as UTF-16 for ICU; false when it is empty, too long or not the plain ASCII an
 * IANA id is made of (letters, digits, '/', '_', '-', '+'). */
static bool zone_u16(const char *zone, UChar out[FIELDLEN_TIMEZONE + 1])
{
	size_t n = zone != NULL ? strlen(zone) : 0;

	if (n == 0 || n > FIELDLEN_TIMEZONE)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = zone[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '/' || c == '_' || c == '-' || c == '+'))
			return false;
		out[i] = (UChar)c;
	}
	out[n] = 0;
	return true;
}

/* Whether id is a system zone id: unknown ids fail, custom ones ("GMT+3") are canonicalized
 * but are not system ids. */
static bool system_id(const UChar *id)
{
	UChar canon[128];
	UBool system = false;
	UErrorCode st = U_ZERO_ERROR;

	ucal_getCanonicalTimeZoneID(id, -1, canon, (int32_t)(sizeof(canon) / sizeof(canon[0])),
				    &system, &st);
	return U_SUCCESS(st) && system;
}

bool tz_valid(const char *zone)
{
	UChar id[FIELDLEN_TIMEZONE + 1];

	return zone_u16(zone, id) && system_id(id);
}

/* A Gregorian calendar in zone (caller closes), or NULL when zone is not valid. An unknown
 * id would silently give "Etc/Unknown" (GMT): checked first. */
static UCalendar *cal_open(const char *zone)
{
	UChar id[FIELDLEN_TIMEZONE + 1];
	UErrorCode st = U_ZERO_ERROR;
	UCalendar *c;

	if (!zone_u16(zone, id) || !system_id(id))
		return NULL;
	c = ucal_open(id, -1, "en_US_POSIX", UCAL_GREGORIAN, &st);
	if (U_FAILURE(st)) {
		if (c != NULL)
			ucal_close(c);
		return NULL;
	}
	ucal_setAttribute(c, UCAL_LENIENT, 1);
	ucal_setAttribute(c, UCAL_SKIPPED_WALL_TIME, UCAL_WALLTIME_NEXT_VALID);
	ucal_setAttribute(c, UCAL_REPEATED_WALL_TIME, UCAL_WALLTIME_FIRST);
	return c;
}

bool tz_local(const char *zone, time_t t, TzLocal *out)
{
	UErrorCode st = U_ZERO_ERROR;
	UCalendar *c = cal_open(zone);

	if (c == NULL)
		return false;
	ucal_setMillis(c, (UDate)t * 1000.0, &st);
	out->year = ucal_get(c, UCAL_EXTENDED_YEAR, &st);
	out->month = ucal_get(c, UCAL_MONTH, &st) + 1;
	out->day = ucal_get(c, UCAL_DATE, &st);
	out->hour = ucal_get(c, UCAL_HOUR_OF_DAY, &st);
	out->minute = ucal_get(c, UCAL_MINUTE, &st);
	out->second = ucal_get(c, UCAL_SECOND, &st);
	out->wday = ucal_get(c, UCAL_DAY_OF_WEEK, &st) - UCAL_SUNDAY;
	ucal_close(c);
	return U_SUCCESS(st);
}

bool tz_instant(const char *zone, const TzLocal *l, time_t *out)
{
	UErrorCode st = U_ZERO_ERROR;
	UCalendar *c = cal_open(zone);
	UDate ms;

	if (c == NULL)
		return false;
	ucal_clear(c);
	ucal_setDateTime(c, l->year, l->month - 1, l->day, l->hour, l->minute, l->second, &st);
	ms = ucal_getMillis(c, &st);
	ucal_close(c);
	if (U_FAILURE(st))
		return false;
	/* whole seconds, rounded down (ICU counts ms as a double) */
	long long m = (long long)ms;
	*out = (time_t)(m >= 0 ? m / 1000 : -((-m + 999) / 1000));
	return true;
}
