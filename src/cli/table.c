/* table.c - aligned text tables (instances, workflows, batches, result rows). Sanitizing
 * here keeps server data from moving the cursor or breaking rows on the user's terminal. */
#include "table.h"

#include <stdlib.h>
#include <string.h>

static const char ELLIPSIS[] = "\xe2\x80\xa6"; /* U+2026 */

size_t table_text_width(const char *s)
{
	size_t w = 0;

	/* count every byte that does not continue a UTF-8 sequence */
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			w++;
	return w;
}

char *table_cell(const char *s, size_t maxw)
{
	size_t len, w = 0, i, cut = 0;
	char *out;

	if (s == NULL)
		s = "";
	if (maxw < 2)
		maxw = 2;
	len = strlen(s);
	out = malloc(len + sizeof(ELLIPSIS));
	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c & 0xC0) != 0x80) {
			/* a new code point starts: remember where maxw - 1 of them ended */
			if (w == maxw - 1)
				cut = i;
			w++;
		}
		out[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	out[len] = '\0';
	if (w > maxw)
		memcpy(out + cut, ELLIPSIS, sizeof(ELLIPSIS));
	return out;
}

bool table_init(Table *t, size_t ncols, const char *const *head)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->maxw = TABLE_CELL_MAX;
	t->width = calloc(ncols ? ncols : 1, sizeof(*t->width));
	t->right = calloc(ncols ? ncols : 1, sizeof(*t->right));
	t->flags = calloc(ncols ? ncols : 1, sizeof(*t->flags));
	t->fit = calloc(ncols ? ncols : 1, sizeof(*t->fit));
	if (t->width == NULL || t->right == NULL || t->flags == NULL || t->fit == NULL) {
		table_cleanup(t);
		return false;
	}
	/* the header is stored as row "-1" through the same path as data rows */
	t->nrows = (size_t)-1;
	if (!table_add_row(t, head)) {
		/* add_row freed the cells it made; only the array itself is left */
		free(t->cells);
		t->cells = NULL;
		table_cleanup(t);
		return false;
	}
	return true;
}

void table_cleanup(Table *t)
{
	size_t n = t->cells != NULL ? (t->nrows + 1) * t->ncols : 0;

	for (size_t i = 0; i < n; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->width);
	free(t->right);
	free(t->flags);
	free(t->fit);
	memset(t, 0, sizeof(*t));
}

bool table_add_row(Table *t, const char *const *cells)
{
	size_t have = t->nrows + 1; /* stored rows, header included */
	size_t base = have * t->ncols;

	if (have + 1 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **p = realloc(t->cells, cap * (t->ncols ? t->ncols : 1) * sizeof(*p));

		if (p == NULL)
			return false;
		t->cells = p;
		t->cap = cap;
	}
	for (size_t c = 0; c < t->ncols; c++) {
		char *cell = table_cell(cells[c], t->maxw);
		size_t w;

		if (cell == NULL) {
			while (c-- > 0)
				free(t->cells[base + c]);
			return false;
		}
		t->cells[base + c] = cell;
		w = table_text_width(cell);
		if (w > t->width[c])
			t->width[c] = w;
	}
	t->nrows++;
	return true;
}

void table_align_right(Table *t, size_t col)
{
	if (col < t->ncols)
		t->right[col] = true;
}

void table_flag(Table *t, size_t col, unsigned char flag)
{
	if (col < t->ncols)
		t->flags[col] |= flag;
}

/* Width a column is printed at. */
static size_t shown_width(const Table *t, size_t c)
{
	return t->fit[c] && t->fit[c] < t->width[c] ? t->fit[c] : t->width[c];
}

/* The narrowest table_fit may make column c. */
static size_t min_width(const Table *t, size_t c)
{
	size_t head = table_text_width(t->cells[c]), m = head > 8 ? head : 8;

	return (t->flags[c] & TABLE_FIXED) || m > t->width[c] ? t->width[c] : m;
}

/* Total width of the visible columns, each at its shown (narrowest: min) width. */
static size_t total_width(const Table *t, bool narrowest)
{
	size_t sum = 0, n = 0;

	for (size_t c = 0; c < t->ncols; c++) {
		if (t->flags[c] & TABLE_HIDDEN)
			continue;
		sum += narrowest ? min_width(t, c) : shown_width(t, c);
		n++;
	}
	return sum + (n > 1 ? 2 * (n - 1) : 0);
}

void table_fit(Table *t, size_t cols)
{
	for (size_t c = 0; c < t->ncols; c++) {
		bool empty = true;

		for (size_t r = 1; r <= t->nrows && empty; r++)
			empty = t->cells[r * t->ncols + c][0] == '\0';
		if ((t->flags[c] & TABLE_HIDE_EMPTY) && empty && t->nrows > 0)
			t->flags[c] |= TABLE_HIDDEN;
	}
	/* whole cells in fewer columns read better than every column cut */
	for (size_t c = t->ncols; c-- > 0 && total_width(t, false) > cols;)
		if (t->flags[c] & TABLE_OPTIONAL)
			t->flags[c] |= TABLE_HIDDEN;
	while (total_width(t, false) > cols) {
		size_t best = t->ncols, bw = 0;

		/* the widest column that can still give; the rightmost of equals */
		for (size_t c = 0; c < t->ncols; c++) {
			size_t w = shown_width(t, c);

			if (!(t->flags[c] & TABLE_HIDDEN) && w > min_width(t, c) && w >= bw) {
				best = c;
				bw = w;
			}
		}
		if (best == t->ncols)
			break;
		t->fit[best] = bw - 1;
	}
}

bool table_print(const Table *t, FILE *f)
{
	for (size_t r = 0; r <= t->nrows; r++) {
		size_t end = t->ncols; /* print up to the last non-empty cell: no trailing blanks */
		bool first = true;

		while (end > 1 && ((t->flags[end - 1] & TABLE_HIDDEN) ||
				   t->cells[r * t->ncols + end - 1][0] == '\0'))
			end--;
		for (size_t c = 0; c < end; c++) {
			const char *cell = t->cells[r * t->ncols + c];
			size_t w = shown_width(t, c), cw = table_text_width(cell);
			char *cut = NULL;
			size_t pad;

			if (t->flags[c] & TABLE_HIDDEN)
				continue;
			if (cw > w) {
				cut = table_cell(cell, w);
				if (cut == NULL)
					return false;
				cell = cut;
				cw = table_text_width(cell);
			}
			pad = w - cw;
			if (!first)
				fputs("  ", f);
			first = false;
			if (t->right[c])
				fprintf(f, "%*s%s", (int)pad, "", cell);
			else if (c + 1 == end)
				fputs(cell, f); /* no trailing blanks */
			else
				fprintf(f, "%s%*s", cell, (int)pad, "");
			free(cut);
		}
		fputc('\n', f);
	}
	return !ferror(f);
}
