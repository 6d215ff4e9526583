/* csv.c - the AMC result file of a query result, written by core's csvw.c (NULL an empty
 * field, an empty string ""), and the cutting of that file into parts and truncated bodies. */
#include "csv.h"

#include <stdlib.h>
#include <string.h>

#include "csvw.h"
#include "strbuf.h"

bool csv_from_result(const PGresult *r, char **out, size_t *len)
{
	int nf = PQnfields(r), nt = PQntuples(r);
	StrBuf b = STRBUF_INIT;

	/* the first allocation as large as the old code's, so small results need only one */
	if (!strbuf_reserve(&b, 4095))
		return false;
	for (int f = 0; f < nf; f++) {
		const char *name = PQfname(r, f);
		if (f)
			strbuf_add(&b, ",", 1);
		csvw_field(&b, name, strlen(name));
	}
	strbuf_adds(&b, CSVW_LF);
	for (int t = 0; t < nt; t++) {
		for (int f = 0; f < nf; f++) {
			if (f)
				strbuf_add(&b, ",", 1);
			if (!PQgetisnull(r, t, f))
				csvw_field(&b, PQgetvalue(r, t, f), (size_t)PQgetlength(r, t, f));
		}
		strbuf_adds(&b, CSVW_LF);
	}
	return (*out = strbuf_take(&b, len)) != NULL;
}

/* offset just past the record starting at i (or len) */
static size_t record_end(const char *csv, size_t len, size_t i)
{
	bool quoted = false;

	for (; i < len; i++) {
		if (csv[i] == '"')
			quoted = !quoted;
		else if (csv[i] == '\n' && !quoted)
			return i + 1;
	}
	return len;
}

void csv_part(const char *csv, size_t len, int nparts, int part, size_t *hdr_len, size_t *body_off,
	      size_t *body_len)
{
	size_t h = record_end(csv, len, 0), n = 0, i, first, last, k, start = h, end = len;

	for (i = h; i < len; i = record_end(csv, len, i))
		n++;
	if (nparts < 1)
		nparts = 1;
	first = n * (size_t)part / (size_t)nparts;
	last = n * (size_t)(part + 1) / (size_t)nparts;
	for (i = h, k = 0; i < len; i = record_end(csv, len, i), k++) {
		if (k == first)
			start = i;
		if (k == last) {
			end = i;
			break;
		}
	}
	if (first >= n)
		start = end = len;
	*hdr_len = h;
	*body_off = start;
	*body_len = end - start;
}

size_t csv_cut(const char *csv, size_t len, double r)
{
	size_t h = record_end(csv, len, 0), lo, hi, c;

	if (len < 2)
		return 0;
	lo = h < len ? h + 1 : 1;
	hi = len - 1;
	if (lo > hi)
		lo = 1;
	c = lo + (size_t)(r * (double)(hi - lo + 1));
	if (c > hi)
		c = hi;
	while (c > 1 && csv[c - 1] == '\n')
		c--;
	return c;
}
