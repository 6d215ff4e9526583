/* coltype.c - column typing and SQL column names for the typed result tables. */
#include "coltype.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "utf8.h"

void coltype_init(ColGuess *g)
{
	g->can_bigint = g->can_numeric = g->can_date = true;
	g->seen_value = false;
}

/* numeric takes exponents up to about ±16383 digits of scale; AMC never writes such, and a
 * value numeric refuses must not fail the archive: past 3 exponent digits it is text */
static bool small_exponent(const char *s, size_t n)
{
	const char *e = memchr(s, 'e', n);

	if (e == NULL)
		e = memchr(s, 'E', n);
	if (e == NULL)
		return true;
	size_t d = (size_t)(s + n - e) - 1; /* after the 'e' */
	if (d > 0 && (e[1] == '+' || e[1] == '-'))
		d--;
	return d <= 3;
}

static bool fits_bigint(const char *s, size_t n)
{
	if (memchr(s, '.', n) != NULL || memchr(s, 'e', n) != NULL || memchr(s, 'E', n) != NULL)
		return false;
	if (n < 18)
		return true;
	errno = 0;
	(void)strtoll(s, NULL, 10); /* s is NUL-terminated at n (CsvReader fields are) */
	return errno == 0;
}

static bool is_date(const char *s, size_t n)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (n != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (size_t i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	int m = (s[5] - '0') * 10 + (s[6] - '0');
	int d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	if (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return false;
	return true;
}

void coltype_see(ColGuess *g, const char *s, size_t n)
{
	g->seen_value = true;
	if (g->can_numeric && !(csv_is_json_number(s, n) && small_exponent(s, n)))
		g->can_numeric = g->can_bigint = false;
	if (g->can_bigint && !fits_bigint(s, n))
		g->can_bigint = false;
	if (g->can_date && !is_date(s, n))
		g->can_date = false;
}

enum ColType coltype_result(const ColGuess *g)
{
	if (!g->seen_value)
		return COLTYPE_TEXT;
	if (g->can_bigint)
		return COLTYPE_BIGINT;
	if (g->can_numeric)
		return COLTYPE_NUMERIC;
	return g->can_date ? COLTYPE_DATE : COLTYPE_TEXT;
}

const char *coltype_sql(enum ColType t)
{
	switch (t) {
	case COLTYPE_BIGINT:
		return "bigint";
	case COLTYPE_NUMERIC:
		return "numeric";
	case COLTYPE_DATE:
		return "date";
	default:
		return "text";
	}
}

const char *coltype_api(enum ColType t)
{
	return t == COLTYPE_BIGINT || t == COLTYPE_NUMERIC ? "number" : "string";
}

bool coltype_utf8_ok(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		if (p[i] != 0 && p[i] < 0x80) { /* the common case: ASCII */
			i++;
			continue;
		}
		size_t k = p[i] != 0 ? utf8_seq_len(s + i, n - i) : 0; /* NUL: refused */
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

void coltype_sql_name(char *out, const char *name, size_t n, size_t i,
		      bool (*taken)(const char *cand, void *priv), void *priv)
{
	char base[COLTYPE_NAME_MAX + 1];

	if (n == 0 || !coltype_utf8_ok(name, n) || (n == 10 && memcmp(name, "row_number", 10) == 0))
		snprintf(base, sizeof(base), "column_%zu", i + 1);
	else {
		size_t k = utf8_prefix(name, n, COLTYPE_NAME_MAX);
		memcpy(base, name, k);
		base[k] = '\0';
	}
	snprintf(out, COLTYPE_NAME_MAX + 1, "%s", base);
	for (int k = 2; taken(out, priv); k++) {
		char suffix[16];
		int sl = snprintf(suffix, sizeof(suffix), "_%d", k);
		size_t keep = utf8_prefix(base, strlen(base), COLTYPE_NAME_MAX - (size_t)sl);
		memcpy(out, base, keep);
		memcpy(out + keep, suffix, (size_t)sl + 1);
	}
}
