/* log.h - levelled logging to stderr with program name and timestamp, as text or as one JSON
 * object per line (log_format). Secrets are never passed here: callers redact tokens
 * themselves. */
#ifndef AMCB_LOG_H
#define AMCB_LOG_H

#include <time.h>

#include "common.h"
#include "ids.h"

enum LogLevel { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };
/* text: "2026-11-28T14:00:00.123Z prog[pid] LEVEL message";
 * json: {"ts":..., "level":..., "program":..., "pid":..., "msg":..., then "worker",
 * "batch_id" and "exec_id" when known, then the line's own fields} */
enum LogFormat { LOG_FMT_TEXT = 0, LOG_FMT_JSON };

/* One structured field of a line (log_fields): a string (str != NULL) or a number. */
typedef struct LogField {
	const char *key; /* borrowed; a JSON-safe name */
	const char *str; /* borrowed; NULL: num is the value */
	long long num;
} LogField;

void log_init(const char *progname, enum LogLevel level);
/* Changes the level at run time (config_reload); any thread may be logging meanwhile. */
void log_set_level(enum LogLevel level);
/* parses "error"/"warn"/"info"/"debug"; returns LOG_LVL_INFO for anything else */
enum LogLevel log_level_parse(const char *s);
void log_msg(enum LogLevel level, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* A line with structured fields: in json each is a member of the object, in text each is
 * appended as " key=value". */
void log_fields(enum LogLevel level, const LogField *fields, size_t nfields, const char *fmt, ...)
	PRINTF_LIKE(4, 5);
/* The line log_fields would write (its newline included) formatted into out (size bytes)
 * instead, for a caller that writes many lines at once with log_write; returns its length, 0
 * when level is filtered out. A line longer than size is cut (text) or replaced (json). */
size_t log_format(char *out, size_t size, enum LogLevel level, const LogField *fields,
		  size_t nfields, const char *fmt, ...) PRINTF_LIKE(6, 7);
/* Writes whole lines made by log_format, with as few write(2) calls as the stream takes. */
void log_write(const char *lines, size_t len);
/* "text" or "json"; false for anything else */
MUST_CHECK bool log_format_parse(const char *s, enum LogFormat *out);
/* Call before any thread starts (like log_init). */
void log_set_format(enum LogFormat fmt);
/* The "worker" field of every json line of this process (copied; NULL or "" = none). */
void log_set_worker(const char *worker_id);
/* Finds the first "batch_" and "exec_" id (prefix + 8 lower-case hex, standing alone) in a
 * message: batch and exec (IDS_*_LEN + 1 bytes each) get them or "". For the json fields:
 * log calls pass no ids, the message text already names them. */
void log_scan_ids(const char *msg, char batch[IDS_BATCH_LEN + 1], char exec[IDS_EXEC_LEN + 1]);

/* For a line an overload would repeat (refused requests or connections): log_due counts one
 * occurrence and says whether to write the line now -- the first time, then at most once
 * per `secs` seconds. *n gets the occurrences since the last line written, this one
 * included. Zero-initialise a LogEvery. */
typedef struct LogEvery {
	time_t last; /* monotonic seconds of the last line, 0 = none yet */
	long n;
} LogEvery;
MUST_CHECK bool log_due(LogEvery *e, int secs, long *n);

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
/* per-execution variants prefix the batch and execution ids */
#define elog_error(b, e, fmt, ...) log_msg(LOG_LVL_ERROR, "[%s/%s] " fmt, (b), (e), ##__VA_ARGS__)
#define elog_warn(b, e, fmt, ...) log_msg(LOG_LVL_WARN, "[%s/%s] " fmt, (b), (e), ##__VA_ARGS__)
#define elog_info(b, e, fmt, ...) log_msg(LOG_LVL_INFO, "[%s/%s] " fmt, (b), (e), ##__VA_ARGS__)
#define elog_debug(b, e, fmt, ...) log_msg(LOG_LVL_DEBUG, "[%s/%s] " fmt, (b), (e), ##__VA_ARGS__)

#endif
