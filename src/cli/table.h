/* table.h - column-aligned plain-text tables for terminal output: cells are copied,
 * control characters blanked, wide cells cut with an ellipsis; widths count UTF-8 code points. */
#ifndef AMCB_CLI_TABLE_H
#define AMCB_CLI_TABLE_H

#include <stdio.h>

#include "common.h"

#define TABLE_CELL_MAX 40 /* display width a cell is cut to by default */

typedef struct Table {
	size_t ncols;
	size_t nrows, cap;
	char **cells;         /* owned; (nrows + 1) * ncols strings, row 0 is the header */
	size_t *width;        /* owned; widest cell per column, header included */
	bool *right;          /* owned; right-align this column (numbers) */
	unsigned char *flags; /* owned; TABLE_* per column */
	size_t *fit;          /* owned; width table_fit() allows a column, 0: its own */
	size_t maxw;          /* cut cells wider than this (>= 2) */
} Table;

enum {
	TABLE_FIXED = 1,      /* never cut by table_fit (ids, timestamps) */
	TABLE_OPTIONAL = 2,   /* table_fit leaves it out when the table is too wide */
	TABLE_HIDE_EMPTY = 4, /* table_fit leaves it out when no row has a value in it */
	TABLE_HIDDEN = 8,     /* left out by table_fit */
};

/* head: ncols header strings (copied). */
MUST_CHECK bool table_init(Table *t, size_t ncols, const char *const *head);
void table_cleanup(Table *t);
/* cells: ncols strings (copied; NULL prints as empty). */
MUST_CHECK bool table_add_row(Table *t, const char *const *cells);
void table_align_right(Table *t, size_t col);
/* Adds TABLE_FIXED, TABLE_OPTIONAL or TABLE_HIDE_EMPTY to a column. */
void table_flag(Table *t, size_t col, unsigned char flag);
/* Makes the table fit cols display columns for a terminal: leaves out HIDE_EMPTY columns
 * without values, then OPTIONAL columns from the right while the table is too wide, then
 * narrows the widest columns not FIXED (never below their header or 8) one step at a
 * time. May still be wider if nothing more can give. */
void table_fit(Table *t, size_t cols);
/* Two spaces between columns, no trailing blanks. False if writing fails. */
MUST_CHECK bool table_print(const Table *t, FILE *f);

/* Display width of s in UTF-8 code points. */
size_t table_text_width(const char *s);
/* Copy of s with control characters turned into spaces and, if wider than maxw, cut to
 * maxw - 1 code points plus "…". NULL only on allocation failure; caller frees. */
char *table_cell(const char *s, size_t maxw);

#endif
