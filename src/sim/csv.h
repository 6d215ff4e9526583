/* csv.h - turns a PostgreSQL result into the AMC result file: a header row, then one line
 * per row, fields quoted as RFC 4180 says (only when needed), lines ended by "\n". */
#ifndef AMCSIM_CSV_H
#define AMCSIM_CSV_H

#include <libpq-fe.h>

#include "common.h"

/* On success *out is a malloc'd buffer (caller frees) of *len bytes, NUL-terminated. */
MUST_CHECK bool csv_from_result(const PGresult *r, char **out, size_t *len);
/* appends one field to buf as RFC 4180 requires; exposed for tests */
MUST_CHECK bool csv_field(char **buf, size_t *len, size_t *cap, const char *s, size_t n);

#endif
