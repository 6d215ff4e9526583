/* csv.h - RFC 4180 output: CRLF line ends; a field holding a comma, double quote, CR or LF
 * is quoted with its double quotes doubled. */
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

#endif
