/* simtime.c - time parsing and formatting. Zone conversion uses the C library's tz database
 * by switching TZ for the call; it does not implement time zone rules itself. */
#include "mstime.h"
#include "simtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int64_t simtime_now_ms(void)
{
	return mstime_wall();
}

char *simtime_fmt_utc(int64_t ms, char out[SIMTIME_LEN])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, SIMTIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return out;
}

char *simtime_fmt_sql(time_t t, char out[SIMTIME_LEN])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, SIMTIME_LEN, "%Y-%m-%d %H:%M:%S", &tm);
	return out;
}

static bool digits(const char *s, int n)
{
	for (int i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

bool simtime_parse_local(const char *s, struct tm *out)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, se;

	if (s == NULL || strlen(s) != 19 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) ||
	    s[7] != '-' || !digits(s + 8, 2) || s[10] != 'T' || !digits(s + 11, 2) ||
	    s[13] != ':' || !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2))
		return false;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &se) != 6)
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 59)
		return false;
	if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return false;
	memset(out, 0, sizeof(*out));
	out->tm_year = y - 1900;
	out->tm_mon = mo - 1;
	out->tm_mday = d;
	out->tm_hour = h;
	out->tm_min = mi;
	out->tm_sec = se;
	out->tm_isdst = -1;
	return true;
}

bool simtime_zone_valid(const char *zone)
{
	char path[256];
	struct stat st;

	if (zone == NULL || !*zone || strlen(zone) > 64 || strstr(zone, "..") != NULL ||
	    zone[0] == '/')
		return false;
	for (const char *p = zone; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || strchr("_+-/", *p) != NULL))
			return false;
	if (strcmp(zone, "UTC") == 0)
		return true;
	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", zone);
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/*
 * glibc's setenv() on a name that already exists only swaps the pointer in environ (old
 * strings are kept), so a concurrent getenv() on a pgpool thread (libpq reads PG* variables
 * when it reconnects) never sees freed memory. simtime_init() makes sure TZ exists before
 * any thread starts; only the loop thread changes it afterwards.
 */
void simtime_init(void)
{
	if (!getenv("TZ"))
		setenv("TZ", "UTC", 1);
	tzset();
}

static char *tz_push(const char *zone)
{
	const char *old = getenv("TZ");
	char *saved = strdup(old != NULL ? old : "UTC");

	if (saved == NULL)
		return NULL;
	setenv("TZ", zone, 1);
	tzset();
	return saved;
}

static void tz_pop(char *saved)
{
	setenv("TZ", saved, 1);
	tzset();
	free(saved);
}

bool simtime_to_utc(const struct tm *local, const char *zone, time_t *out)
{
	struct tm tm = *local;
	char *saved;

	if (strcmp(zone, "UTC") == 0) {
		*out = timegm(&tm);
		return true;
	}
	if ((saved = tz_push(zone)) == NULL)
		return false;
	tm.tm_isdst = -1;
	*out = mktime(&tm);
	tz_pop(saved);
	return *out != (time_t)-1;
}

bool simtime_from_utc(time_t t, const char *zone, struct tm *out)
{
	char *saved;

	if (strcmp(zone, "UTC") == 0)
		return gmtime_r(&t, out) != NULL;
	if ((saved = tz_push(zone)) == NULL)
		return false;
	bool ok = localtime_r(&t, out) != NULL;
	tz_pop(saved);
	return ok;
}
