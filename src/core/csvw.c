/* csvw.c - the RFC 4180 writer of csvw.h: quoting and rows into a StrBuf. It reads no CSV
 * (the worker's csv.c parses AMC's files) and does no I/O. */
#include "csvw.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static bool needs_quotes(const char *s, size_t n)
{
	if (n == 0)
		return true; /* "" keeps an empty string apart from a null */
	for (size_t i = 0; i < n; i++)
		if (s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n')
			return true;
	return false;
}

void csvw_field(StrBuf *b, const char *s, size_t n)
{
	const char *q;

	if (s == NULL)
		return;
	if (!needs_quotes(s, n)) {
		strbuf_add(b, s, n);
		return;
	}
	/* worst case every byte is a quote: 2n plus the two outer quotes, reserved at once */
	if (n > (SIZE_MAX - 2) / 2 || !strbuf_reserve(b, 2 * n + 2)) {
		b->oom = true;
		return;
	}
	strbuf_add(b, "\"", 1);
	while ((q = memchr(s, '"', n)) != NULL) {
		size_t k = (size_t)(q - s) + 1;

		strbuf_add(b, s, k);
		strbuf_add(b, "\"", 1); /* the quote doubled */
		s += k;
		n -= k;
	}
	strbuf_add(b, s, n);
	strbuf_add(b, "\"", 1);
}

void csvw_row(StrBuf *b, const char *const *fields, size_t n, const char *eol)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strbuf_add(b, ",", 1);
		csvw_field(b, fields[i], fields[i] != NULL ? strlen(fields[i]) : 0);
	}
	strbuf_adds(b, eol);
}
