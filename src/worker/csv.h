/* csv.h - streaming RFC 4180 reader (comma, double quote; quoted fields may hold commas,
 * doubled quotes and line breaks; CRLF or LF records) plus the helpers the archiver needs to
 * type columns and turn a record into JSON. Pure: reads a FILE*, no logging. */
#ifndef AMCB_CSV_H
#define AMCB_CSV_H

#include <stdio.h>

#include "common.h"

enum CsvStatus { CSV_RECORD, CSV_EOF, CSV_ERROR };

typedef struct CsvReader {
	FILE *f;    /* borrowed */
	char *data; /* the fields of the current record, each NUL-terminated */
	size_t len, cap;
	size_t *off;  /* start of field i in data */
	size_t *flen; /* length of field i (fields may contain NUL bytes) */
	size_t nfields, fcap;
	long record;  /* records read so far (1 = the header) */
	long line;    /* physical line (1-based) where the next record starts */
	bool started; /* BOM check done */
	/* set once the input holds something this reader accepts but PostgreSQL's COPY (FORMAT
	 * csv) reads otherwise or refuses: an empty line, a bare CR or a mix of CRLF and LF
	 * record ends, a quote inside an unquoted field (the archiver then sends parsed fields) */
	bool irregular;
	char eol; /* the record end seen first: 'n' LF, 'r' CRLF, 0 none yet */
	char err[160];
} CsvReader;

void csv_init(CsvReader *r, FILE *f);
void csv_cleanup(CsvReader *r);
/* Reads the next record. Lines that are completely empty are skipped. */
enum CsvStatus csv_read(CsvReader *r);

static inline const char *csv_field(const CsvReader *r, size_t i)
{
	return r->data + r->off[i];
}
static inline size_t csv_field_len(const CsvReader *r, size_t i)
{
	return r->flen[i];
}

/* Skipping the header record of a second (third ...) result file while it streams in: a
 * quoted header field may hold a line break, so quotes are tracked across chunks. */
typedef struct CsvHeaderSkip {
	bool done; /* the header's line break has been seen */
	bool in_quote;
} CsvHeaderSkip;

/* Number of leading bytes of data[0..n) that still belong to the header (n if all do). */
size_t csv_header_skip(CsvHeaderSkip *s, const char *data, size_t n);

/* True if s[0..n) is exactly a JSON number (-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?). */
bool csv_is_json_number(const char *s, size_t n);

/* Appends s[0..n) as a JSON string (quoted, escaped; invalid UTF-8 and NUL become U+FFFD).
 * Returns false if out of memory. */
MUST_CHECK bool csv_json_string(char **buf, size_t *len, size_t *cap, const char *s, size_t n);
/* Appends raw bytes to the same kind of buffer. */
MUST_CHECK bool csv_buf_add(char **buf, size_t *len, size_t *cap, const char *s, size_t n);

#endif
