/* coltype.h - what the archiver's first pass learns about a result CSV's columns: the SQL
 * type each can be stored as (bigint, numeric, date, else text) and a safe SQL column name
 * for each. Types are chosen so that a value read back (to_jsonb, COPY TO) is the value the
 * CSV held: "0.10" stays 0.10 (numeric, not double precision), and there is no timestamptz
 * or boolean (their text form would change: 'T', the zone, a JSON true for "true"). Pure. */
#ifndef AMCB_COLTYPE_H
#define AMCB_COLTYPE_H

#include <stddef.h>

#include "common.h"

#define COLTYPE_NAME_MAX 63 /* PostgreSQL's NAMEDATALEN - 1 */

enum ColType { COLTYPE_BIGINT, COLTYPE_NUMERIC, COLTYPE_DATE, COLTYPE_TEXT };

typedef struct ColGuess {
	bool can_bigint, can_numeric, can_date;
	bool seen_value; /* a non-empty value was seen */
} ColGuess;

void coltype_init(ColGuess *g);
/* Narrows g by one non-empty value s[0..n) (NUL-terminated at s[n]). */
void coltype_see(ColGuess *g, const char *s, size_t n);
/* The narrowest type that holds every value seen; text for a column with no value. */
enum ColType coltype_result(const ColGuess *g);
const char *coltype_sql(enum ColType t); /* "bigint", ... */
/* The API's type: "number" for bigint and numeric, else "string" (docs/api.md). */
const char *coltype_api(enum ColType t);

/* True if s[0..n) is valid UTF-8 without NUL bytes (what PostgreSQL accepts as text). */
bool coltype_utf8_ok(const char *s, size_t n);

/* Writes into out (COLTYPE_NAME_MAX + 1 bytes) the SQL name of column i (0-based) called
 * name[0..n): the name itself when it is valid UTF-8, not empty, at most 63 bytes and not
 * "row_number"; else its first bytes (cut at a character) or "column_<i+1>". taken(out, priv)
 * says whether an earlier column has that name: then "_2", "_3" ... replace its end. */
void coltype_sql_name(char *out, const char *name, size_t n, size_t i,
		      bool (*taken)(const char *cand, void *priv), void *priv);

#endif
