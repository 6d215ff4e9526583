/* csv.h - RFC 4180 output: CRLF line ends; a field holding a comma, double quote, CR or LF
 * is quoted with its double quotes doubled. Plus counting the records of a CSV stream. */
#ifndef AMCB_CLI_CSV_H
#define AMCB_CLI_CSV_H

#include <stdio.h>

#include "common.h"

/* True if s must be quoted. */
bool csv_needs_quotes(const char *s);
/* Writes one field (NULL = empty). */
void csv_write_field(FILE *f, const char *s);
/* Writes n fields separated by commas and a CRLF. False if writing fails. */
MUST_CHECK bool csv_write_row(FILE *f, const char *const *fields, size_t n);

/* Counts the records of RFC 4180 text fed in pieces of any size: a line end inside a
 * quoted field does not end a record; a last record without a line end still counts. */
typedef struct CsvCounter {
	unsigned long long records; /* records ended by a line end so far */
	bool quoted;                /* inside a quoted field */
	bool partial;               /* bytes seen since the last record ended */
} CsvCounter;

void csv_count_feed(CsvCounter *c, const char *data, size_t len);
/* Records in everything fed so far, header line included. */
unsigned long long csv_count_records(const CsvCounter *c);

#endif
