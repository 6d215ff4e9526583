/* log.c - levelled logging to stderr: "2026-11-28T14:00:00.123Z prog[pid] LEVEL message", or
 * one JSON object per line for journald and log shippers (log_format = json). One line is
 * formatted in a local buffer and written with one write(2) so lines from the pgpool threads
 * never interleave; it does not rotate or filter by module. */
#include "log.h"

#include <ctype.h>
#include <limits.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "utf8.h"

static char log_prog[64] = "amcbatch";
/* Read by every thread; written by log_init before threads start and by log_set_level on a
 * config reload (loop thread). A thread may see the old level for a line or two: harmless. */
static volatile int log_level = LOG_LVL_INFO;

static volatile int log_fmt = LOG_FMT_TEXT;
static char log_worker[128]; /* written before threads start, like log_prog */

static const char *const level_name[] = { "ERROR", "WARN", "INFO", "DEBUG" };
static const char *const level_json[] = { "error", "warn", "info", "debug" };

void log_init(const char *progname, enum LogLevel level)
{
	if (progname != NULL) {
		const char *slash = strrchr(progname, '/');
		snprintf(log_prog, sizeof(log_prog), "%s", slash != NULL ? slash + 1 : progname);
	}
	log_level = level;
}

void log_set_level(enum LogLevel level)
{
	log_level = level;
}

enum LogLevel log_level_parse(const char *s)
{
	if (s == NULL)
		return LOG_LVL_INFO;
	if (strcasecmp(s, "error") == 0)
		return LOG_LVL_ERROR;
	if (strcasecmp(s, "warn") == 0 || strcasecmp(s, "warning") == 0)
		return LOG_LVL_WARN;
	if (strcasecmp(s, "debug") == 0)
		return LOG_LVL_DEBUG;
	return LOG_LVL_INFO;
}

bool log_format_parse(const char *s, enum LogFormat *out)
{
	if (s != NULL && strcasecmp(s, "text") == 0) {
		*out = LOG_FMT_TEXT;
		return true;
	}
	if (s != NULL && strcasecmp(s, "json") == 0) {
		*out = LOG_FMT_JSON;
		return true;
	}
	return false;
}

void log_set_format(enum LogFormat fmt)
{
	log_fmt = fmt;
}

void log_set_worker(const char *worker_id)
{
	snprintf(log_worker, sizeof(log_worker), "%s", worker_id != NULL ? worker_id : "");
}

/* prefix + n lower-case hex digits at p, not inside a longer word */
static bool id_at(const char *msg, const char *p, const char *prefix, size_t n)
{
	size_t plen = strlen(prefix);

	if (p > msg && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
		return false;
	if (strncmp(p, prefix, plen) != 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = p[plen + i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return !isalnum((unsigned char)p[plen + n]) && p[plen + n] != '_';
}

void log_scan_ids(const char *msg, char batch[IDS_BATCH_LEN + 1], char exec[IDS_EXEC_LEN + 1])
{
	batch[0] = exec[0] = '\0';
	for (const char *p = msg; *p != '\0' && (batch[0] == '\0' || exec[0] == '\0'); p++) {
		if (batch[0] == '\0' && *p == 'b' && id_at(msg, p, "batch_", 8))
			snprintf(batch, IDS_BATCH_LEN + 1, "%.*s", IDS_BATCH_LEN, p);
		else if (exec[0] == '\0' && *p == 'e' && id_at(msg, p, "exec_", 8))
			snprintf(exec, IDS_EXEC_LEN + 1, "%.*s", IDS_EXEC_LEN, p);
	}
}

/* Appends to line[*len] (size cap), never past it; a cut string is noticed by the caller. */
static void put(char *line, size_t cap, size_t *len, const char *s, size_t n)
{
	if (*len >= cap)
		return;
	if (n > cap - *len)
		n = cap - *len;
	memcpy(line + *len, s, n);
	*len += n;
}

static void put_s(char *line, size_t cap, size_t *len, const char *s)
{
	put(line, cap, len, s, strlen(s));
}

/* s as a JSON string, quotes included; s is valid UTF-8 (scrubbed by the caller) */
static void put_json(char *line, size_t cap, size_t *len, const char *s)
{
	put(line, cap, len, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(line, cap, len, esc, 2);
		} else if (c == '\n') {
			put(line, cap, len, "\\n", 2);
		} else if (c == '\t') {
			put(line, cap, len, "\\t", 2);
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(line, cap, len, esc, 6);
		} else {
			put(line, cap, len, s, 1);
		}
	}
	put(line, cap, len, "\"", 1);
}

static void put_field(char *line, size_t cap, size_t *len, const char *key, const char *str)
{
	put(line, cap, len, ",", 1);
	put_json(line, cap, len, key);
	put(line, cap, len, ":", 1);
	put_json(line, cap, len, str);
}

static void write_line(const char *p, size_t len)
{
	/* one write per line: atomic for pipes up to PIPE_BUF, and never interleaved mid-line
	 * by another thread's stdio buffer */
	while (len > 0) {
		ssize_t w = write(STDERR_FILENO, p, len);

		if (w <= 0)
			return; /* nowhere left to report a logging failure */
		p += w;
		len -= (size_t)w;
	}
}

/* Formats one line, its newline included, into line (size bytes, at least 2); returns its
 * length. A line that does not fit is cut (text) or replaced by an error line (json). */
static size_t vformat(char *line, size_t size, enum LogLevel level, const LogField *fields,
		      size_t nfields, const char *fmt, va_list ap)
{
	char msg[4096], stamp[40];
	struct timespec ts;
	struct tm tm;
	size_t len = 0, mlen, cap = size - 1; /* room for the newline */
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	mlen = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + mlen, sizeof(stamp) - mlen, ".%03ldZ", ts.tv_nsec / 1000000L);

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	mlen = n < 0 ? 0 : (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1;
	msg[mlen] = '\0';
	/* strip a trailing newline the caller may have added */
	while (mlen > 0 && msg[mlen - 1] == '\n')
		msg[--mlen] = '\0';

	if (log_fmt == LOG_FMT_JSON) {
		char batch[IDS_BATCH_LEN + 1], exec[IDS_EXEC_LEN + 1], num[32];

		/* a message cut inside a character, or foreign bytes, would not be JSON */
		mlen = utf8_prefix(msg, mlen, mlen);
		msg[mlen] = '\0';
		utf8_scrub(msg);
		put_s(line, cap, &len, "{\"ts\":\"");
		put_s(line, cap, &len, stamp);
		put_s(line, cap, &len, "\",\"level\":\"");
		put_s(line, cap, &len, level_json[level]);
		put_s(line, cap, &len, "\",\"program\":");
		put_json(line, cap, &len, log_prog);
		snprintf(num, sizeof(num), ",\"pid\":%ld", (long)getpid());
		put_s(line, cap, &len, num);
		put_s(line, cap, &len, ",\"msg\":");
		put_json(line, cap, &len, msg);
		if (log_worker[0] != '\0')
			put_field(line, cap, &len, "worker", log_worker);
		log_scan_ids(msg, batch, exec);
		if (batch[0] != '\0')
			put_field(line, cap, &len, "batch_id", batch);
		if (exec[0] != '\0')
			put_field(line, cap, &len, "exec_id", exec);
		for (size_t i = 0; i < nfields; i++) {
			if (fields[i].str != NULL) {
				char v[512];

				utf8_copy(v, sizeof(v), fields[i].str);
				put_field(line, cap, &len, fields[i].key, v);
			} else {
				put(line, cap, &len, ",", 1);
				put_json(line, cap, &len, fields[i].key);
				snprintf(num, sizeof(num), ":%lld", fields[i].num);
				put_s(line, cap, &len, num);
			}
		}
		if (len >= cap) {
			/* cannot happen for a 4 KiB message and a few fields (escaping grows a
			 * byte to 6 at most); never write a broken object */
			len = 0;
			put_s(line, cap, &len, "{\"ts\":\"");
			put_s(line, cap, &len, stamp);
			put_s(line, cap, &len, "\",\"level\":\"error\",\"program\":");
			put_json(line, cap, &len, log_prog);
			put_s(line, cap, &len, ",\"msg\":\"log line too long\"");
		}
		put(line, cap, &len, "}", 1);
	} else {
		char pfx[160];

		snprintf(pfx, sizeof(pfx), "%s %s[%ld] %s ", stamp, log_prog, (long)getpid(),
			 level_name[level]);
		put_s(line, cap, &len, pfx);
		put(line, cap, &len, msg, mlen);
		for (size_t i = 0; i < nfields; i++) {
			char kv[600];

			if (fields[i].str != NULL)
				snprintf(kv, sizeof(kv), " %s=%s", fields[i].key, fields[i].str);
			else
				snprintf(kv, sizeof(kv), " %s=%lld", fields[i].key, fields[i].num);
			put_s(line, cap, &len, kv);
		}
	}
	line[len++] = '\n';
	return len;
}

static void vlog(enum LogLevel level, const LogField *fields, size_t nfields, const char *fmt,
		 va_list ap)
{
	char line[32768];

	write_line(line, vformat(line, sizeof(line), level, fields, nfields, fmt, ap));
}

void log_msg(enum LogLevel level, const char *fmt, ...)
{
	va_list ap;

	if ((int)level > log_level || (int)level < 0)
		return;
	va_start(ap, fmt);
	vlog(level, NULL, 0, fmt, ap);
	va_end(ap);
}

void log_fields(enum LogLevel level, const LogField *fields, size_t nfields, const char *fmt, ...)
{
	va_list ap;

	if ((int)level > log_level || (int)level < 0)
		return;
	va_start(ap, fmt);
	vlog(level, fields, nfields, fmt, ap);
	va_end(ap);
}

size_t log_format(char *out, size_t size, enum LogLevel level, const LogField *fields,
		  size_t nfields, const char *fmt, ...)
{
	va_list ap;
	size_t len;

	if ((int)level > log_level || (int)level < 0 || size < 2)
		return 0;
	va_start(ap, fmt);
	len = vformat(out, size, level, fields, nfields, fmt, ap);
	va_end(ap);
	return len;
}

void log_write(const char *lines, size_t len)
{
	/* in pieces of whole lines of at most PIPE_BUF bytes (a longer line alone): each write
	 * stays atomic on a pipe, as a single line's write is */
	while (len > 0) {
		size_t n = len;

		if (len > PIPE_BUF) {
			const char *nl = memrchr(lines, '\n', PIPE_BUF);

			if (nl == NULL)
				nl = memchr(lines + PIPE_BUF, '\n', len - PIPE_BUF);
			n = nl != NULL ? (size_t)(nl - lines) + 1 : len;
		}
		write_line(lines, n);
		lines += n;
		len -= n;
	}
}

bool log_due(LogEvery *e, int secs, long *n)
{
	struct timespec now;

	e->n++;
	if (clock_gettime(CLOCK_MONOTONIC, &now) != 0)
		now.tv_sec = e->last + secs; /* no clock: write the line */
	if (e->last != 0 && now.tv_sec - e->last < secs)
		return false;
	e->last = now.tv_sec > 0 ? now.tv_sec : 1;
	*n = e->n;
	e->n = 0;
	return true;
}
