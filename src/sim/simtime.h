/* simtime.h - wall-clock helpers for the simulator: AMC date-time parsing
 * (yyyy-MM-ddTHH:mm:ss), IANA zone conversion, and UTC "Z" formatting. */
#ifndef AMCSIM_SIMTIME_H
#define AMCSIM_SIMTIME_H

#include <stdint.h>
#include <time.h>

#include "common.h"

#define SIMTIME_LEN 21 /* "2025-06-12T14:03:11Z" + NUL */

int64_t simtime_now_ms(void);
/* "2025-06-12T14:03:11Z"; out holds SIMTIME_LEN bytes */
char *simtime_fmt_utc(int64_t ms, char out[SIMTIME_LEN]);
/* "2025-06-12 14:03:11" (for PostgreSQL timestamp values) */
char *simtime_fmt_sql(time_t t, char out[SIMTIME_LEN]);
/* strict yyyy-MM-ddTHH:mm:ss (no zone, no fraction) with a valid calendar date */
MUST_CHECK bool simtime_parse_local(const char *s, struct tm *out);
/* true if zone names a file under /usr/share/zoneinfo (no "..", only [A-Za-z0-9_+/-]) */
bool simtime_zone_valid(const char *zone);
/* local wall time in zone -> UTC seconds. Loop thread only: it swaps TZ (see simtime.c). */
MUST_CHECK bool simtime_to_utc(const struct tm *local, const char *zone, time_t *out);
/* UTC seconds -> wall time in zone. Loop thread only. */
MUST_CHECK bool simtime_from_utc(time_t t, const char *zone, struct tm *out);
/* must run once in main() before any thread starts: makes TZ exist in environ */
void simtime_init(void);

#endif
