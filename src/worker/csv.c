/* csv.c - RFC 4180 reader over a FILE* (one record in memory at a time) and JSON string
 * encoding for archived values. Strict about structure: an unterminated quote or text after
 * a closing quote is an error (it usually means a truncated or damaged download). */
#include "csv.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "strbuf.h"
#include "utf8.h"

/* A reader's FILE is used by one thread only (the archiver's pool thread): skip the stdio
 * lock that getc takes per byte in a threaded process (~15% of the archiver's CPU). */
#define getc(f) getc_unlocked(f)

void csv_init(CsvReader *r, FILE *f)
{
	memset(r, 0, sizeof(*r));
	r->f = f;
}

void csv_cleanup(CsvReader *r)
{
	free(r->data);
	free(r->off);
	free(r->flen);
	memset(r, 0, sizeof(*r));
}

static bool put(CsvReader *r, char c)
{
	if (r->len + 1 >= r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 1024;
		char *p = amcb_realloc(r->data, cap);
		if (p == NULL)
			return false;
		r->data = p;
		r->cap = cap;
	}
	r->data[r->len++] = c;
	return true;
}

static bool field_begin(CsvReader *r)
{
	if (r->nfields == r->fcap) {
		size_t cap = r->fcap ? r->fcap * 2 : 16;
		size_t *o = amcb_realloc(r->off, cap * sizeof(*o));
		if (o == NULL)
			return false;
		r->off = o;
		size_t *l = amcb_realloc(r->flen, cap * sizeof(*l));
		if (l == NULL)
			return false;
		r->flen = l;
		r->fcap = cap;
	}
	r->off[r->nfields] = r->len;
	return true;
}

static bool field_end(CsvReader *r)
{
	r->flen[r->nfields] = r->len - r->off[r->nfields];
	r->nfields++;
	return put(r, '\0');
}

static enum CsvStatus oom(CsvReader *r)
{
	snprintf(r->err, sizeof(r->err), "out of memory");
	return CSV_ERROR;
}

enum CsvStatus csv_read(CsvReader *r)
{
	int c;

	r->len = 0;
	r->nfields = 0;
	if (!r->started) {
		r->started = true;
		/* a UTF-8 byte order mark is not part of the first column's name */
		c = getc(r->f);
		if (c == 0xEF) {
			int c2 = getc(r->f), c3 = getc(r->f);
			if (c2 != 0xBB || c3 != 0xBF) {
				snprintf(r->err, sizeof(r->err), "line 1: invalid byte order mark");
				return CSV_ERROR;
			}
		} else if (c != EOF) {
			ungetc(c, r->f);
		}
	}
	/* skip completely empty lines (LF or CRLF) between records */
	if (r->line == 0)
		r->line = 1;
	for (;;) {
		c = getc(r->f);
		if (c == '\r' || c == '\n') {
			r->line++;
			r->irregular = true; /* COPY reads an empty line as a record */
		}
		if (c == '\r') {
			int n = getc(r->f);
			if (n != '\n' && n != EOF)
				ungetc(n, r->f);
			continue;
		}
		if (c != '\n')
			break;
	}
	if (c == EOF) {
		if (ferror(r->f)) {
			snprintf(r->err, sizeof(r->err), "read error");
			return CSV_ERROR;
		}
		return CSV_EOF;
	}
	long start_line = r->line;
	if (!field_begin(r))
		return oom(r);
	bool quoted = false, after_quote = false, at_start = true;
	for (;; c = getc(r->f)) {
		if (quoted) {
			if (c == EOF) {
				snprintf(r->err, sizeof(r->err),
					 "record starting at line %ld: unterminated quoted field",
					 start_line);
				return CSV_ERROR;
			}
			if (c == '"') {
				int n = getc(r->f);
				if (n == '"') {
					if (!put(r, '"'))
						return oom(r);
					continue;
				}
				if (n != EOF)
					ungetc(n, r->f);
				quoted = false;
				after_quote = true;
				continue;
			}
			if (c == '\n')
				r->line++;
			if (!put(r, (char)c))
				return oom(r);
			continue;
		}
		if (c == ',') {
			if (!field_end(r) || !field_begin(r))
				return oom(r);
			after_quote = false;
			at_start = true;
			continue;
		}
		if (c == '\n' || c == '\r' || c == EOF) {
			char eol = c == '\n' ? 'n' : 0;
			if (c == '\r') {
				int n = getc(r->f);
				if (n != '\n' && n != EOF)
					ungetc(n, r->f);
				eol = n == '\n' ? 'r' : 0;
				if (n != '\n')
					r->irregular = true; /* a bare CR */
			}
			if (eol && r->eol && eol != r->eol)
				r->irregular = true;
			if (eol && !r->eol)
				r->eol = eol;
			if (!field_end(r))
				return oom(r);
			r->record++;
			if (c != EOF)
				r->line++;
			return CSV_RECORD;
		}
		if (after_quote) {
			snprintf(r->err, sizeof(r->err),
				 "record starting at line %ld: text after a closing quote",
				 start_line);
			return CSV_ERROR;
		}
		if (c == '"' && at_start) {
			quoted = true;
			at_start = false;
			continue;
		}
		if (c == '"')
			r->irregular = true; /* COPY starts a quoted part there */
		at_start = false;
		if (!put(r, (char)c))
			return oom(r);
	}
}

size_t csv_header_skip(CsvHeaderSkip *s, const char *data, size_t n)
{
	for (size_t i = 0; i < n && !s->done; i++) {
		if (data[i] == '"')
			s->in_quote = !s->in_quote; /* "" inside quotes toggles twice: no change */
		else if (data[i] == '\n' && !s->in_quote) {
			s->done = true;
			return i + 1;
		}
	}
	return s->done ? 0 : n;
}

/* Index after the run of ASCII digits starting at i. */
static size_t digits(const char *s, size_t n, size_t i)
{
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	return i;
}

bool csv_is_json_number(const char *s, size_t n)
{
	size_t i = 0, d;

	if (i < n && s[i] == '-')
		i++;
	if (i >= n || s[i] < '0' || s[i] > '9')
		return false;
	/* no leading zeros: "0" alone, or 1-9 then digits */
	i = s[i] == '0' ? i + 1 : digits(s, n, i);
	if (i < n && s[i] == '.') {
		d = i + 1;
		if ((i = digits(s, n, d)) == d)
			return false;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		d = i + 1;
		if (d < n && (s[d] == '+' || s[d] == '-'))
			d++;
		if ((i = digits(s, n, d)) == d)
			return false;
	}
	return i == n;
}

bool csv_buf_add(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	/* strbuf's growth on the caller's (buf, len, cap) triple, until the archiver keeps a
	 * StrBuf itself; a failed append leaves the triple as it was */
	StrBuf b = { .data = *buf, .len = *len, .cap = *cap };

	strbuf_add(&b, s, n);
	*buf = b.data;
	*len = b.len;
	*cap = b.cap;
	return !b.oom;
}

bool csv_json_string(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	if (!csv_buf_add(buf, len, cap, "\"", 1))
		return false;
	size_t run = 0; /* bytes copied verbatim, flushed in one go */
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		const char *esc = NULL;
		char u[7];
		size_t k = c ? utf8_seq_len(s + i, n - i) : 0;
		if (c == '"')
			esc = "\\\"";
		else if (c == '\\')
			esc = "\\\\";
		else if (c == '\n')
			esc = "\\n";
		else if (c == '\r')
			esc = "\\r";
		else if (c == '\t')
			esc = "\\t";
		else if (c == 0 || k == 0)
			esc = "\\ufffd"; /* jsonb refuses \u0000 and invalid UTF-8 */
		else if (c < 0x20) {
			u[0] = '\\';
			u[1] = 'u';
			u[2] = '0';
			u[3] = '0';
			u[4] = hex[c >> 4];
			u[5] = hex[c & 15];
			u[6] = '\0';
			esc = u;
		}
		if (esc == NULL) {
			i += k;
			run += k;
			continue;
		}
		if (!csv_buf_add(buf, len, cap, (const char *)p + i - run, run) ||
		    !csv_buf_add(buf, len, cap, esc, strlen(esc)))
			return false;
		run = 0;
		i++;
	}
	return csv_buf_add(buf, len, cap, (const char *)p + n - run, run) &&
	       csv_buf_add(buf, len, cap, "\"", 1);
}
