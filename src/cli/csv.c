/* csv.c - RFC 4180 field quoting and row writing for `amcbatch results --format csv`, and
 * record counting for `amcbatch export`, which reports the rows it wrote. */
#include "csv.h"

#include <string.h>

bool csv_needs_quotes(const char *s)
{
	return s && strpbrk(s, ",\"\r\n") != NULL;
}

void csv_write_field(FILE *f, const char *s)
{
	if (!s)
		return;
	if (!csv_needs_quotes(s)) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

bool csv_write_row(FILE *f, const char *const *fields, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			fputc(',', f);
		csv_write_field(f, fields[i]);
	}
	fputs("\r\n", f);
	return !ferror(f);
}

void csv_count_feed(CsvCounter *c, const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		/* "" inside quotes toggles twice: out and back in, as it should */
		if (data[i] == '"') {
			c->quoted = !c->quoted;
			c->partial = true;
		} else if (data[i] == '\n' && !c->quoted) {
			c->records++;
			c->partial = false;
		} else {
			c->partial = true;
		}
	}
}

unsigned long long csv_count_records(const CsvCounter *c)
{
	return c->records + (c->partial ? 1 : 0);
}
