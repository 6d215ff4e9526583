/* test_coltype.c - the archiver's column typing and SQL column names (src/worker/coltype.c):
 * narrowest type that holds every value (mixed columns fall back to text), bigint range,
 * calendar dates, exponents numeric refuses; hostile names (empty, > 63 bytes cut at a
 * character, duplicates after the cut, "row_number", invalid UTF-8); and csv.c's flag for
 * input COPY (FORMAT csv) would read otherwise. */
#include <stdlib.h>
#include <string.h>

#include "coltype.h"
#include "csv.h"
#include "../tap.h"

static enum ColType type_of(const char *const *vals)
{
	ColGuess g;

	coltype_init(&g);
	for (; *vals; vals++)
		if (**vals)
			coltype_see(&g, *vals, strlen(*vals));
	return coltype_result(&g);
}

static void test_coltype_types(void)
{
	assertf(type_of((const char *[]){ "1", "-42", "", "9223372036854775807", NULL }) ==
			COLTYPE_BIGINT,
		"integers with an empty value: bigint");
	assertf(type_of((const char *[]){ "1", "9223372036854775808", NULL }) == COLTYPE_NUMERIC,
		"past bigint: numeric");
	assertf(type_of((const char *[]){ "1", "0.10", "1e5", NULL }) == COLTYPE_NUMERIC,
		"decimals: numeric");
	assertf(type_of((const char *[]){ "1", "1e99999", NULL }) == COLTYPE_TEXT,
		"a huge exponent: text");
	assertf(type_of((const char *[]){ "12", "abc", NULL }) == COLTYPE_TEXT, "mixed: text");
	assertf(type_of((const char *[]){ "007", NULL }) == COLTYPE_TEXT,
		"leading zeros stay text");
	assertf(type_of((const char *[]){ "2024-02-29", "2025-12-31", NULL }) == COLTYPE_DATE,
		"dates: date");
	assertf(type_of((const char *[]){ "2025-02-29", NULL }) == COLTYPE_TEXT,
		"not a leap year: text");
	assertf(type_of((const char *[]){ "2025-01-01", "x", NULL }) == COLTYPE_TEXT,
		"date and text: text");
	assertf(type_of((const char *[]){ "0000-01-01", NULL }) == COLTYPE_TEXT, "year 0: text");
	assertf(type_of((const char *[]){ "", NULL }) == COLTYPE_TEXT, "no value: text");
	assertf(strcmp(coltype_api(COLTYPE_NUMERIC), "number") == 0 &&
			strcmp(coltype_api(COLTYPE_DATE), "string") == 0,
		"API types");
}

typedef struct Names {
	char names[8][COLTYPE_NAME_MAX + 1];
	size_t n;
} Names;

static bool taken(const char *cand, void *priv)
{
	const Names *ns = priv;

	for (size_t i = 0; i < ns->n; i++)
		if (strcmp(ns->names[i], cand) == 0)
			return true;
	return false;
}

static const char *name(Names *ns, const char *in, size_t len)
{
	coltype_sql_name(ns->names[ns->n], in, len, ns->n, taken, ns);
	return ns->names[ns->n++];
}

static void test_coltype_names(void)
{
	Names ns = { 0 };
	char longname[100];

	memset(longname, 'x', 70);
	memcpy(longname + 62, "\xc3\xa9", 2); /* an é on bytes 63 and 64 */
	longname[70] = '\0';
	assertf(strcmp(name(&ns, "a \"b\"", 5), "a \"b\"") == 0,
		"quotes kept (the identifier is escaped)");
	assertf(strcmp(name(&ns, "", 0), "column_2") == 0, "empty: column_2");
	assertf(strcmp(name(&ns, "row_number", 10), "column_3") == 0, "row_number is ours");
	const char *l1 = name(&ns, longname, 70);
	assertf(strlen(l1) == 62 && strspn(l1, "x") == 62,
		"long: cut before the character across 63 (%zu)", strlen(l1));
	const char *l2 = name(&ns, longname, 70);
	assertf(strlen(l2) <= 63 && strcmp(l2 + strlen(l2) - 2, "_2") == 0 && strcmp(l1, l2) != 0,
		"the same long name again: a unique cut (%s)", l2);
	assertf(strcmp(name(&ns, "bad\xff", 4), "column_6") == 0, "invalid UTF-8: column_6");
	assertf(coltype_utf8_ok("ünï ✓", strlen("ünï ✓")) && !coltype_utf8_ok("a\0b", 3) &&
			!coltype_utf8_ok("\xed\xa0\x80", 3),
		"UTF-8 check: NUL and surrogates refused");
}

static bool irregular(const char *text)
{
	FILE *f = fmemopen((void *)text, strlen(text), "rb");
	CsvReader r;

	csv_init(&r, f);
	while (csv_read(&r) == CSV_RECORD)
		;
	bool irr = r.irregular;
	csv_cleanup(&r);
	fclose(f);
	return irr;
}

static void test_csv_irregular(void)
{
	assertf(!irregular("a,b\r\n1,\"x,\r\ny\"\r\n2,3\r\n"),
		"CRLF with quoted line breaks: regular");
	assertf(!irregular("a,b\n1,2\n3,4"), "LF, no final newline: regular");
	assertf(irregular("a,b\n\n1,2\n"), "an empty line");
	assertf(irregular("a,b\r\n1,2\n"), "CRLF then LF");
	assertf(irregular("a,b\r1,2\r"), "bare CR");
	assertf(irregular("a,b\n1,x\"y\n"), "a quote inside an unquoted field");
}

int main(void)
{
	RUN_TEST(test_coltype_types);
	RUN_TEST(test_coltype_names);
	RUN_TEST(test_csv_irregular);
	return tap_done();
}
