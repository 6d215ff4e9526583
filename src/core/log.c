/* log.c - levelled logging to stderr: "2026-11-28T14:00:00.123Z prog[pid] LEVEL message".
 * One line is formatted in a local buffer and written with one write(2) so lines from the
 * pgpool threads never interleave; it does not rotate or filter by module. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static char log_prog[64] = "amcbatch";
/* Read by every thread, written by log_init before threads start; int access is atomic enough. */
static volatile int log_level = LOG_LVL_INFO;

static const char *const level_name[] = { "ERROR", "WARN", "INFO", "DEBUG" };

void log_init(const char *progname, enum LogLevel level)
{
	if (progname) {
		const char *slash = strrchr(progname, '/');
		snprintf(log_prog, sizeof(log_prog), "%s", slash ? slash + 1 : progname);
	}
	log_level = level;
}

enum LogLevel log_level_parse(const char *s)
{
	if (!s)
		return LOG_LVL_INFO;
	if (strcasecmp(s, "error") == 0)
		return LOG_LVL_ERROR;
	if (strcasecmp(s, "warn") == 0 || strcasecmp(s, "warning") == 0)
		return LOG_LVL_WARN;
	if (strcasecmp(s, "debug") == 0)
		return LOG_LVL_DEBUG;
	return LOG_LVL_INFO;
}

void log_msg(enum LogLevel level, const char *fmt, ...)
{
	char line[4096];
	struct timespec ts;
	struct tm tm;
	size_t len;
	int n;
	va_list ap;

	if ((int)level > log_level || (int)level < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	len = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line + len, sizeof(line) - len, ".%03ldZ %s[%ld] %s ",
		     ts.tv_nsec / 1000000L, log_prog, (long)getpid(), level_name[level]);
	if (n > 0)
		len += (size_t)n;
	if (len >= sizeof(line))
		len = sizeof(line) - 1;

	va_start(ap, fmt);
	n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	va_end(ap);
	if (n > 0)
		len += (size_t)n;
	/* a truncated message still ends in a newline */
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	/* strip a trailing newline the caller may have added, then add ours */
	while (len > 0 && line[len - 1] == '\n')
		len--;
	line[len++] = '\n';

	/* one write per line: atomic for pipes up to PIPE_BUF, and never interleaved mid-line
	 * by another thread's stdio buffer */
	const char *p = line;
	while (len > 0) {
		ssize_t w = write(STDERR_FILENO, p, len);
		if (w <= 0)
			return;	/* nowhere left to report a logging failure */
		p += w;
		len -= (size_t)w;
	}
}

bool log_due(LogEvery *e, int secs, long *n)
{
	struct timespec now;

	e->n++;
	if (clock_gettime(CLOCK_MONOTONIC, &now) != 0)
		now.tv_sec = e->last + secs;	/* no clock: write the line */
	if (e->last != 0 && now.tv_sec - e->last < secs)
		return false;
	e->last = now.tv_sec > 0 ? now.tv_sec : 1;
	*n = e->n;
	e->n = 0;
	return true;
}
