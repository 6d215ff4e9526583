/* csvw.h - the one RFC 4180 writer: fields and rows appended to a StrBuf. A field is quoted
 * exactly when RFC 4180 needs it (it holds a comma, a double quote, CR or LF), its double
 * quotes doubled; nothing else is touched (no trimming, no spreadsheet-formula guard: a
 * leading = + - @ is data). NULL (SQL NULL, JSON null) is an empty field and an empty string
 * is "", as PostgreSQL's COPY (FORMAT csv) writes them, so the two stay apart. Record ends
 * are the caller's choice: RFC 4180's CRLF (the API, the CLI) or AMC's LF (amcsim). */
#ifndef AMCB_CSVW_H
#define AMCB_CSVW_H

#include <stddef.h>

#include "strbuf.h"

#define CSVW_CRLF "\r\n"
#define CSVW_LF "\n"

/* Appends the n bytes of s (borrowed; may hold NUL bytes) to b as one field; s NULL appends
 * nothing (a null). A failure is b's sticky oom flag. */
void csvw_field(StrBuf *b, const char *s, size_t n);
/* Appends the n NUL-terminated fields (borrowed; an element may be NULL: a null) separated
 * by commas, then eol (CSVW_CRLF or CSVW_LF). A failure is b's sticky oom flag. */
void csvw_row(StrBuf *b, const char *const *fields, size_t n, const char *eol);

#endif
