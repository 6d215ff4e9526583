/* test_csv.c - the worker's RFC 4180 reader (src/worker/csv.c) on tricky input: quoted
 * commas, doubled quotes, line breaks inside quotes, CRLF, BOM, blank lines, missing final
 * newline, truncation; plus JSON number detection and JSON string escaping. */
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "../tap.h"

/* Reads all records of text into "f1|f2\n" lines ("<ERR>" on error) for easy comparison. */
static char *dump(const char *text, size_t len)
{
	FILE *f = fmemopen((void *)text, len, "rb");
	CsvReader r;
	char *out = NULL;
	size_t olen = 0, ocap = 0;
	csv_init(&r, f);
	enum CsvStatus st;
	bool ok = true;
	while ((st = csv_read(&r)) == CSV_RECORD) {
		for (size_t i = 0; i < r.nfields; i++) {
			ok = ok && (i == 0 || csv_buf_add(&out, &olen, &ocap, "|", 1)) &&
			     csv_buf_add(&out, &olen, &ocap, csv_field(&r, i),
					 csv_field_len(&r, i));
		}
		ok = ok && csv_buf_add(&out, &olen, &ocap, "\n", 1);
	}
	if (st == CSV_ERROR)
		ok = ok && csv_buf_add(&out, &olen, &ocap, "<ERR>", 5);
	if (out == NULL)
		ok = ok && csv_buf_add(&out, &olen, &ocap, "", 0);
	csv_cleanup(&r);
	fclose(f);
	if (!ok) {
		printf("# out of memory\n");
		exit(1);
	}
	return out;
}

static void expect(const char *text, const char *want)
{
	char *got = dump(text, strlen(text));
	assertf(strcmp(got, want) == 0, "csv(%s)\n#   got  [%s]\n#   want [%s]", text, got, want);
	free(got);
}

static void test_csv_simple(void)
{
	expect("a,b,c\n1,2,3\n", "a|b|c\n1|2|3\n");
	expect("a,b\r\n1,2\r\n", "a|b\n1|2\n");
	expect("a,b\n1,2", "a|b\n1|2\n");         /* no final newline */
	expect("a,b\n,\n", "a|b\n|\n");           /* empty fields */
	expect("a\n\n\n1\n\r\n2\n", "a\n1\n2\n"); /* blank lines skipped */
	expect("", "");
	expect("\xef\xbb\xbf"
	       "col\nv\n",
	       "col\nv\n"); /* BOM dropped */
}

static void test_csv_quotes(void)
{
	expect("\"a,b\",c\n", "a,b|c\n");
	expect("\"say \"\"hi\"\"\",x\n", "say \"hi\"|x\n");
	expect("\"\"\"\",\"\"\n", "\"|\n"); /* a lone quote; an empty quoted field */
	expect("\"line1\nline2\",z\n", "line1\nline2|z\n");
	expect("\"crlf\r\ninside\",z\r\n", "crlf\r\ninside|z\n");
	expect("\"ends with comma,\"\n", "ends with comma,\n");
	expect("a\"b,c\n", "a\"b|c\n"); /* a quote inside an unquoted field is data */
	expect("\"'; DROP TABLE x; --\",\"\\\\\"\n", "'; DROP TABLE x; --|\\\\\n");
	expect("\"caf\xc3\xa9\",\xe6\x97\xa5\n", "caf\xc3\xa9|\xe6\x97\xa5\n");
}

static void test_csv_errors(void)
{
	expect("a,b\n\"unterminated,1\n", "a|b\n<ERR>");
	expect("\"x\"y,1\n", "<ERR>"); /* text after a closing quote */
	expect("\xef\xbb"
	       "a\n",
	       "<ERR>"); /* half a BOM */
}

static void test_csv_fields_with_nul(void)
{
	static const char text[] = "a,b\nx\0y,2\n";
	FILE *f = fmemopen((void *)text, sizeof(text) - 1, "rb");
	CsvReader r;
	csv_init(&r, f);
	assertf(csv_read(&r) == CSV_RECORD && r.nfields == 2, "header");
	assertf(csv_read(&r) == CSV_RECORD && r.nfields == 2 && csv_field_len(&r, 0) == 3 &&
			memcmp(csv_field(&r, 0), "x\0y", 3) == 0,
		"NUL kept with its length");
	assertf(csv_read(&r) == CSV_EOF, "eof");
	assertf(r.record == 2, "record count %ld", r.record);
	csv_cleanup(&r);
	fclose(f);
}

static void test_csv_long_record(void)
{
	/* fields and records larger than the initial buffers */
	size_t n = 200000;
	char *text = malloc(n + 256);
	if (text == NULL)
		exit(1);
	strcpy(text, "h1,h2\n\"");
	size_t len = strlen(text);
	for (size_t i = 0; i < n; i++)
		text[len++] = (i % 1000 == 999) ? '\n' : (i % 7 == 0 ? ',' : 'x');
	memcpy(text + len, "\",", 2);
	len += 2;
	for (int i = 0; i < 100; i++)
		text[len++] = 'y';
	text[len++] = '\n';
	FILE *f = fmemopen(text, len, "rb");
	CsvReader r;
	csv_init(&r, f);
	assertf(csv_read(&r) == CSV_RECORD, "header");
	assertf(csv_read(&r) == CSV_RECORD && r.nfields == 2 && csv_field_len(&r, 0) == n &&
			csv_field_len(&r, 1) == 100,
		"long quoted field with commas and newlines");
	assertf(csv_read(&r) == CSV_EOF, "eof after long record");
	csv_cleanup(&r);
	fclose(f);
	free(text);
}

static void test_csv_json_number(void)
{
	static const char *const yes[] = {
		"0",    "-0",   "12",   "-12",     "1.5",
		"0.25", "1e10", "1E+3", "-2.5e-7", "123456789012345678901234567890"
	};
	static const char *const no[] = { "",         "-",  "01",  "1.",    ".5",
					  "+1",       "1e", "1e+", "0x10",  "NaN",
					  "Infinity", " 1", "1 ",  "1,000", "١" };
	for (size_t i = 0; i < ARRAY_LEN(yes); i++)
		assertf(csv_is_json_number(yes[i], strlen(yes[i])), "%s is a JSON number", yes[i]);
	for (size_t i = 0; i < ARRAY_LEN(no); i++)
		assertf(!csv_is_json_number(no[i], strlen(no[i])), "'%s' is not a JSON number",
			no[i]);
}

static void expect_json(const char *in, size_t n, const char *want)
{
	char *out = NULL;
	size_t len = 0, cap = 0;
	bool ok = csv_json_string(&out, &len, &cap, in, n);
	assertf(ok && strcmp(out, want) == 0, "json(%s) = %s, want %s", in, ok ? out : "oom", want);
	free(out);
}

static void test_csv_json_string(void)
{
	expect_json("plain", 5, "\"plain\"");
	expect_json("q\"b\\", 4, "\"q\\\"b\\\\\"");
	expect_json("a\nb\tc\rd", 7, "\"a\\nb\\tc\\rd\"");
	expect_json("\x01\x1f", 2, "\"\\u0001\\u001f\"");
	expect_json("x\0y", 3, "\"x\\ufffdy\""); /* jsonb refuses \u0000 */
	expect_json("caf\xc3\xa9 \xf0\x9f\x98\x80", 10, "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
	expect_json("bad\xff\xc3(", 6, "\"bad\\ufffd\\ufffd(\"");    /* invalid UTF-8 */
	expect_json("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""); /* UTF-16 surrogate */
	expect_json("", 0, "\"\"");
}

/* Feeds text in chunks of k bytes; returns what is left after the header. */
static void expect_skip(const char *text, const char *rest)
{
	size_t n = strlen(text);
	for (size_t k = 1; k <= n + 1; k++) {
		CsvHeaderSkip s = { 0 };
		char out[256] = "";
		size_t olen = 0;
		for (size_t off = 0; off < n; off += k) {
			size_t len = n - off < k ? n - off : k;
			size_t skip = s.done ? 0 : csv_header_skip(&s, text + off, len);
			memcpy(out + olen, text + off + skip, len - skip);
			olen += len - skip;
		}
		out[olen] = '\0';
		assertf(strcmp(out, rest) == 0, "skip(%s) in chunks of %zu = [%s], want [%s]", text,
			k, out, rest);
	}
}

static void test_csv_header_skip(void)
{
	expect_skip("a,b\n1,2\n", "1,2\n");
	expect_skip("a,b\r\n1,2\r\n", "1,2\r\n");
	expect_skip("\"multi\nline\",\"q\"\"x\"\n1,\"2\n3\"\n", "1,\"2\n3\"\n");
	expect_skip("header only", "");
	expect_skip("h\n", "");
}

int main(void)
{
	RUN_TEST(test_csv_simple);
	RUN_TEST(test_csv_quotes);
	RUN_TEST(test_csv_errors);
	RUN_TEST(test_csv_fields_with_nul);
	RUN_TEST(test_csv_long_record);
	RUN_TEST(test_csv_json_number);
	RUN_TEST(test_csv_json_string);
	RUN_TEST(test_csv_header_skip);
	return tap_done();
}
