/* log.h - levelled logging to stderr with program name and timestamp.
 * Secrets are never passed here: callers redact tokens themselves. */
#ifndef AMCB_LOG_H
#define AMCB_LOG_H

#include <time.h>

#include "common.h"

enum LogLevel { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_init(const char *progname, enum LogLevel level);
/* parses "error"/"warn"/"info"/"debug"; returns LOG_LVL_INFO for anything else */
enum LogLevel log_level_parse(const char *s);
void log_msg(enum LogLevel level, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* For a line an overload would repeat (refused requests or connections): log_due counts one
 * occurrence and says whether to write the line now -- the first time, then at most once
 * per `secs` seconds. *n gets the occurrences since the last line written, this one
 * included. Zero-initialise a LogEvery. */
typedef struct LogEvery {
	time_t last;		/* monotonic seconds of the last line, 0 = none yet */
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
