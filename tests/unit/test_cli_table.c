/* test_cli_table.c - the CLI's table printing: widths in UTF-8 code points, cutting wide
 * cells with an ellipsis, blanking control characters, alignment, no trailing blanks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"
#include "../tap.h"

/* printf of a possibly NULL string */
#define STR(s) ((s) ? (s) : "(null)")

/* Prints t into a string; caller frees. */
static char *render(const Table *t)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return NULL;
	if (!table_print(t, f))
		assertf(0, "table_print failed");
	fclose(f);
	return buf;
}

static void test_cli_table_text_width(void)
{
	assertf(table_text_width("") == 0, "empty");
	assertf(table_text_width("abc") == 3, "ascii");
	assertf(table_text_width("caf\xc3\xa9") == 4, "é counts once, got %zu",
		table_text_width("caf\xc3\xa9"));
	assertf(table_text_width("\xe2\x80\xa6x") == 2, "ellipsis counts once");
}

static void test_cli_table_cell_cut(void)
{
	char *s = table_cell("abcdefghij", 5);

	assertf(s != NULL && strcmp(s, "abcd\xe2\x80\xa6") == 0, "cut to 4 + ellipsis, got '%s'",
		STR(s));
	assertf(s != NULL && table_text_width(s) == 5, "cut cell is exactly maxw wide");
	free(s);
	s = table_cell("abcde", 5);
	assertf(s != NULL && strcmp(s, "abcde") == 0, "exactly maxw stays, got '%s'", STR(s));
	free(s);
	/* multi-byte characters are never split */
	s = table_cell("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 4);
	assertf(s != NULL && strcmp(s, "\xc3\xa9\xc3\xa9\xc3\xa9\xe2\x80\xa6") == 0,
		"utf-8 cut on boundary, got '%s'", STR(s));
	free(s);
	s = table_cell("a\nb\tc\x1b[31m", 40);
	assertf(s != NULL && strcmp(s, "a b c [31m") == 0, "control chars blanked, got '%s'",
		STR(s));
	free(s);
	s = table_cell(NULL, 40);
	assertf(s != NULL && strcmp(s, "") == 0, "NULL is empty");
	free(s);
}

static void test_cli_table_alignment(void)
{
	static const char *const head[] = { "NAME", "ROWS", "NOTE" };
	static const char *const r1[] = { "us-east", "5", "ok" };
	static const char *const r2[] = { "eu", "1200", NULL };
	Table t;
	char *out;

	if (!table_init(&t, 3, head)) {
		assertf(0, "table_init");
		return;
	}
	table_align_right(&t, 1);
	assertf(table_add_row(&t, r1) && table_add_row(&t, r2), "add rows");
	out = render(&t);
	assertf(out != NULL && strcmp(out, "NAME     ROWS  NOTE\n"
					   "us-east     5  ok\n"
					   "eu       1200\n") == 0,
		"layout, got:\n%s", out);
	free(out);
	table_cleanup(&t);
}

static void test_cli_table_wide_cells(void)
{
	static const char *const head[] = { "V", "X" };
	char wide[100];
	const char *row[] = { wide, "y" };
	Table t;
	char *out, *nl;

	memset(wide, 'w', 99);
	wide[99] = '\0';
	if (!table_init(&t, 2, head)) {
		assertf(0, "table_init");
		return;
	}
	assertf(table_add_row(&t, row), "add");
	assertf(t.width[0] == TABLE_CELL_MAX, "column cut to %d, is %zu", TABLE_CELL_MAX,
		t.width[0]);
	out = render(&t);
	nl = out != NULL ? strchr(out, '\n') : NULL;
	/* header line: "V" padded to 40 + 2 spaces + "X" */
	assertf(nl != NULL && nl - out == TABLE_CELL_MAX + 3, "header width %td",
		nl != NULL ? nl - out : -1);
	assertf(out != NULL && strstr(out, "\xe2\x80\xa6  y\n") != NULL,
		"ellipsis then next column, got:\n%s", out);
	free(out);
	table_cleanup(&t);
}

static void test_cli_table_many_rows(void)
{
	static const char *const head[] = { "N" };
	char num[16];
	const char *row[] = { num };
	Table t;
	char *out;
	size_t lines = 0;

	if (!table_init(&t, 1, head)) {
		assertf(0, "table_init");
		return;
	}
	for (int i = 0; i < 1000; i++) {
		snprintf(num, sizeof(num), "%d", i);
		assertf(table_add_row(&t, row), "add %d", i);
	}
	assertf(t.nrows == 1000, "1000 rows, got %zu", t.nrows);
	out = render(&t);
	for (char *p = out; p != NULL && *p; p++)
		lines += *p == '\n';
	assertf(lines == 1001, "1001 lines, got %zu", lines);
	assertf(out != NULL && strstr(out, "\n999\n") != NULL, "last row printed");
	free(out);
	table_cleanup(&t);
}

/* Table of 3 columns: NAME (cuttable), ID (fixed, optional), NOTE (hide-empty). */
static void fit_table(Table *t, const char *note)
{
	static const char *const head[] = { "NAME", "ID", "NOTE" };
	const char *r1[] = { "Australia Outdoor", "20000000-0000-4000-8000-00000000000a", note };
	const char *r2[] = { "UK", "20000000-0000-4000-8000-000000000005", "" };

	assertf(table_init(t, 3, head), "init");
	table_flag(t, 1, TABLE_FIXED | TABLE_OPTIONAL);
	table_flag(t, 2, TABLE_HIDE_EMPTY);
	assertf(table_add_row(t, r1) && table_add_row(t, r2), "rows");
}

static size_t widest_line(const char *s)
{
	size_t w = 0, cur = 0;
	char line[512];

	for (; s != NULL && *s; s++) {
		if (*s == '\n') {
			line[cur] = '\0';
			if (table_text_width(line) > w)
				w = table_text_width(line);
			cur = 0;
		} else if (cur < sizeof(line) - 1) {
			line[cur++] = *s;
		}
	}
	return w;
}

static void test_cli_table_fit(void)
{
	Table t;
	char *out;

	/* wide enough: nothing changes but the empty NOTE column leaving */
	fit_table(&t, "");
	table_fit(&t, 120);
	out = render(&t);
	assertf(out != NULL &&
			strcmp(out,
			       "NAME               ID\n"
			       "Australia Outdoor  20000000-0000-4000-8000-00000000000a\n"
			       "UK                 20000000-0000-4000-8000-000000000005\n") == 0,
		"wide terminal, got\n%s", STR(out));
	free(out);
	table_cleanup(&t);

	/* too narrow for the UUID: the optional column goes, the name stays whole */
	fit_table(&t, "");
	table_fit(&t, 40);
	out = render(&t);
	assertf(out != NULL && strcmp(out, "NAME\nAustralia Outdoor\nUK\n") == 0,
		"optional dropped, got\n%s", STR(out));
	free(out);
	table_cleanup(&t);

	/* a note too long for 50 columns is cut with an ellipsis, never below 8 */
	fit_table(&t, "a note that is much too long for the terminal");
	table_fit(&t, 50);
	out = render(&t);
	assertf(out != NULL && widest_line(out) <= 50, "fits 50, widest %zu:\n%s", widest_line(out),
		STR(out));
	assertf(out != NULL && strstr(out, "Australia Outdoor  a note") != NULL &&
			strstr(out, "\xe2\x80\xa6\n") != NULL,
		"note cut, name whole:\n%s", STR(out));
	free(out);
	table_cleanup(&t);

	/* impossible: every column at its minimum, the table stays wider than asked */
	fit_table(&t, "x");
	table_fit(&t, 5);
	out = render(&t);
	assertf(out != NULL && strstr(out, "Austral\xe2\x80\xa6  x\n") != NULL,
		"name at its minimum 8:\n%s", STR(out));
	free(out);
	table_cleanup(&t);
}

int main(void)
{
	RUN_TEST(test_cli_table_text_width);
	RUN_TEST(test_cli_table_cell_cut);
	RUN_TEST(test_cli_table_alignment);
	RUN_TEST(test_cli_table_wide_cells);
	RUN_TEST(test_cli_table_many_rows);
	RUN_TEST(test_cli_table_fit);
	return tap_done();
}
