/* csv.h - turns a PostgreSQL result into the AMC result file: a header row, then one line
 * per row, fields quoted as RFC 4180 says (only when needed, by core's csvw.h), lines ended
 * by "\n". */
#ifndef AMCSIM_CSV_H
#define AMCSIM_CSV_H

#include <libpq-fe.h>

#include "common.h"

/* On success *out is a malloc'd buffer (caller frees) of *len bytes, NUL-terminated. */
MUST_CHECK bool csv_from_result(const PGresult *r, char **out, size_t *len);

/* The part-th (0-based) of nparts result files: every part repeats the header [0, *hdr_len),
 * then carries its share of the records [*body_off, *body_off + *body_len). Records are
 * cut at their ends only, never at a newline inside a quoted field. */
void csv_part(const char *csv, size_t len, int nparts, int part, size_t *hdr_len, size_t *body_off,
	      size_t *body_len);
/* A length shorter than len that cuts the file inside a row (inside the header when there
 * are no rows), never right after a record end; r in [0, 1) picks the place. */
size_t csv_cut(const char *csv, size_t len, double r);

#endif
