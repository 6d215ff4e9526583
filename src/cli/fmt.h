/* fmt.h - turning API JSON values into the text the CLI prints (tables and CSV share it). */
#ifndef AMCB_CLI_FMT_H
#define AMCB_CLI_FMT_H

#include <jansson.h>

#include "common.h"

/* Text of one JSON value: strings as-is, integers in decimal, reals in the shortest form
 * that reads back to the same double, true/false, null and a missing value (NULL) as "",
 * arrays and objects as compact JSON. NULL only on allocation failure; caller frees. */
char *fmt_json_text(const json_t *v);

/* "45s", "2m05s", "1h02m"; "-" when v is not a number or is negative. buf >= 16 bytes. */
void fmt_duration(const json_t *v, char *buf, size_t size);

/* Integer or real JSON value as a long long (rounded down), or dflt if absent. */
long long fmt_json_int(const json_t *v, long long dflt);

/* String member key of obj, or dflt when missing or not a string (borrowed). */
const char *fmt_str(const json_t *obj, const char *key, const char *dflt);

/* An execution's time_window ({start, end, timezone}, end exclusive) as people read it:
 * "2026-11-23 – 2026-11-29 America/New_York" for whole days (the last day included), else
 * "2026-11-23T06:00:00 – 2026-11-23T18:00:00 UTC"; "" when tw is not such an object. */
void fmt_time_window(const json_t *tw, char *buf, size_t size);

/* A batch's relative window ({type, n, lag_days}) as "previous_week, lag 2 days" or
 * "last_n_days 7, lag 0 days"; "" when w is not such an object. */
void fmt_window(const json_t *w, char *buf, size_t size);

#endif
