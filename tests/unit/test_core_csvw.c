/* test_core_csvw.c - the one RFC 4180 writer (src/core/csvw.c): when a field is quoted and
 * when not, null against the empty string, doubled quotes, line breaks and CRLF inside a
 * field, spaces and UTF-8 kept as they are, long fields, rows with either record end; each
 * written field read back by the worker's parser (src/worker/csv.c). */
#include "csvw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "strbuf.h"

#include "../tap.h"

/* one field: what it holds, and how csvw_field must write it */
typedef struct FieldCase {
	const char *in;
	const char *out;
} FieldCase;

static const FieldCase fields[] = {
	{ "plain", "plain" },
	{ "", "\"\"" }, /* an empty string, not a null */
	{ "a,b", "\"a,b\"" },
	{ "say \"hi\"", "\"say \"\"hi\"\"\"" },
	{ "\"", "\"\"\"\"" },
	{ "\"\"", "\"\"\"\"\"\"" },
	{ "l1\nl2", "\"l1\nl2\"" },
	{ "cr\r", "\"cr\r\"" },
	{ "crlf\r\nnext", "\"crlf\r\nnext\"" },
	{ "  spaced  ", "  spaced  " }, /* RFC 4180: spaces are part of a field */
	{ " , ", "\" , \"" },
	{ "\t", "\t" },
	{ "Zürich, Köln – 東京", "\"Zürich, Köln – 東京\"" }, /* UTF-8 bytes pass untouched */
	{ "東京", "東京" },
	{ "=1+2", "=1+2" }, /* no spreadsheet-formula guard: a leading = + - @ is data */
	{ "-5", "-5" },
	{ "@x", "@x" },
	{ "'", "'" },
};

static void test_csvw_fields(void)
{
	for (size_t i = 0; i < ARRAY_LEN(fields); i++) {
		StrBuf b = STRBUF_INIT;

		csvw_field(&b, fields[i].in, strlen(fields[i].in));
		assertf(!b.oom && b.data != NULL && b.len == strlen(fields[i].out) &&
				memcmp(b.data, fields[i].out, b.len) == 0,
			"field %zu: got [%s] want [%s]", i, b.data != NULL ? b.data : "(null)",
			fields[i].out);
		strbuf_cleanup(&b);
	}
}

static void test_csvw_null(void)
{
	StrBuf b = STRBUF_INIT;

	csvw_field(&b, NULL, 0);
	assertf(!b.oom && b.len == 0, "a null appends nothing");
	strbuf_adds(&b, "x");
	csvw_field(&b, NULL, 0);
	assertf(b.len == 1 && strcmp(b.data, "x") == 0, "and leaves what was there");
	strbuf_cleanup(&b);
}

/* the n bytes are the field: a length shorter than the string cuts it */
static void test_csvw_length(void)
{
	StrBuf b = STRBUF_INIT;

	csvw_field(&b, "ab,cd", 2);
	csvw_field(&b, "\"x\",y", 3);
	assertf(!b.oom && strcmp(b.data, "ab\"\"\"x\"\"\"") == 0, "n bytes only: got [%s]", b.data);
	strbuf_cleanup(&b);
}

static void test_csvw_rows(void)
{
	static const char *const plain[] = { "a", "b c", "", "1.5" };
	static const char *const tricky[] = { "x,y", "say \"hi\"", "line1\nline2", "cr\r", NULL };
	static const char *const nulls[] = { NULL, NULL };
	StrBuf b = STRBUF_INIT;

	csvw_row(&b, plain, ARRAY_LEN(plain), CSVW_CRLF);
	assertf(!b.oom && strcmp(b.data, "a,b c,\"\",1.5\r\n") == 0, "plain row: [%s]", b.data);
	strbuf_clear(&b);
	csvw_row(&b, tricky, ARRAY_LEN(tricky), CSVW_CRLF);
	assertf(!b.oom && strcmp(b.data,
				 "\"x,y\",\"say \"\"hi\"\"\",\"line1\nline2\",\"cr\r\",\r\n") == 0,
		"quoted row: [%s]", b.data);
	strbuf_clear(&b);
	csvw_row(&b, nulls, 2, CSVW_LF);
	csvw_row(&b, plain, 1, CSVW_LF);
	csvw_row(&b, plain, 0, CSVW_LF);
	assertf(!b.oom && strcmp(b.data, ",\na\n\n") == 0, "LF rows, nulls, one and no field: [%s]",
		b.data);
	strbuf_cleanup(&b);
}

/* Fields of 100,000 bytes, one every byte a quote, one with every separator: written in one
 * piece each and read back whole. */
static void test_csvw_long(void)
{
	enum { N = 100000 };
	char *plain = malloc(N + 1), *quotes = malloc(N + 1), *mixed = malloc(N + 1);
	const char *row[3] = { plain, quotes, mixed };
	StrBuf b = STRBUF_INIT;

	assertf(plain != NULL && quotes != NULL && mixed != NULL, "test memory");
	if (plain == NULL || quotes == NULL || mixed == NULL)
		goto out;
	for (size_t i = 0; i < N; i++) {
		plain[i] = (char)('a' + i % 26);
		quotes[i] = '"';
		mixed[i] = ",\"\r\nx"[i % 5];
	}
	plain[N] = quotes[N] = mixed[N] = '\0';
	csvw_row(&b, row, 3, CSVW_CRLF);
	assertf(!b.oom && b.len == N + 1 + (2 * N + 2) + 1 + (N + N / 5 + 2) + 2,
		"lengths: plain as is, quotes doubled, each field's two quotes: %zu", b.len);
	assertf(memcmp(b.data, plain, N) == 0 && b.data[N] == ',' && b.data[N + 1] == '"' &&
			b.data[N + 2 + 2 * N] == '"' && b.data[N + 3 + 2 * N] == ',',
		"the first two fields in place");
out:
	strbuf_cleanup(&b);
	free(plain);
	free(quotes);
	free(mixed);
}

/* Everything csvw writes, the worker's parser reads back as it was (an empty string comes
 * back empty: that reader, like PostgreSQL's FORCE_NULL, makes "" and nothing alike). */
static void test_csvw_round_trip(void)
{
	StrBuf b = STRBUF_INIT;
	FILE *f;
	CsvReader r;
	size_t i;

	for (i = 0; i < ARRAY_LEN(fields); i++) {
		if (i > 0)
			strbuf_add(&b, ",", 1);
		csvw_field(&b, fields[i].in, strlen(fields[i].in));
	}
	strbuf_adds(&b, CSVW_CRLF);
	assertf(!b.oom, "the record is built");
	f = fmemopen(b.data, b.len, "rb");
	assertf(f != NULL, "fmemopen");
	if (f == NULL) {
		strbuf_cleanup(&b);
		return;
	}
	csv_init(&r, f);
	assertf(csv_read(&r) == CSV_RECORD && r.nfields == ARRAY_LEN(fields), "one record of %zu",
		ARRAY_LEN(fields));
	for (i = 0; i < ARRAY_LEN(fields) && i < r.nfields; i++)
		assertf(csv_field_len(&r, i) == strlen(fields[i].in) &&
				memcmp(csv_field(&r, i), fields[i].in, strlen(fields[i].in)) == 0,
			"field %zu read back", i);
	assertf(csv_read(&r) == CSV_EOF, "then the end");
	csv_cleanup(&r);
	fclose(f);
	strbuf_cleanup(&b);
}

int main(void)
{
	RUN_TEST(test_csvw_fields);
	RUN_TEST(test_csvw_null);
	RUN_TEST(test_csvw_length);
	RUN_TEST(test_csvw_rows);
	RUN_TEST(test_csvw_long);
	RUN_TEST(test_csvw_round_trip);
	return tap_done();
}
