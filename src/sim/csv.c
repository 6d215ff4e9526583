/* csv.c - CSV encoding of query results. NULL becomes an empty field; a field is quoted
 * when it holds a comma, a quote, CR or LF (or is empty-but-not-NULL, to keep them apart). */
#include "csv.h"

#include <stdlib.h>
#include <string.h>

static bool reserve(char **buf, size_t *len, size_t *cap, size_t more)
{
	if (*len + more + 1 <= *cap)
		return true;
	size_t ncap = *cap ? *cap : 4096;
	while (ncap < *len + more + 1)
		ncap *= 2;
	char *nb = realloc(*buf, ncap);
	if (!nb)
		return false;
	*buf = nb;
	*cap = ncap;
	return true;
}

static bool put(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (!reserve(buf, len, cap, n))
		return false;
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = '\0';
	return true;
}

bool csv_field(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	bool quote = n == 0;

	for (size_t i = 0; i < n && !quote; i++)
		quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
	if (!quote)
		return put(buf, len, cap, s, n);
	/* worst case every byte is a quote: 2n plus the two outer quotes */
	if (!reserve(buf, len, cap, 2 * n + 2))
		return false;
	char *p = *buf + *len;
	*p++ = '"';
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"')
			*p++ = '"';
		*p++ = s[i];
	}
	*p++ = '"';
	*len = (size_t)(p - *buf);
	(*buf)[*len] = '\0';
	return true;
}

bool csv_from_result(const PGresult *r, char **out, size_t *len)
{
	int nf = PQnfields(r), nt = PQntuples(r);
	char *buf = NULL;
	size_t blen = 0, cap = 0;

	for (int f = 0; f < nf; f++) {
		const char *name = PQfname(r, f);
		if ((f && !put(&buf, &blen, &cap, ",", 1)) ||
		    !csv_field(&buf, &blen, &cap, name, strlen(name)))
			goto fail;
	}
	if (!put(&buf, &blen, &cap, "\n", 1))
		goto fail;
	for (int t = 0; t < nt; t++) {
		for (int f = 0; f < nf; f++) {
			if (f && !put(&buf, &blen, &cap, ",", 1))
				goto fail;
			if (PQgetisnull(r, t, f))
				continue;
			if (!csv_field(&buf, &blen, &cap, PQgetvalue(r, t, f),
				       (size_t)PQgetlength(r, t, f)))
				goto fail;
		}
		if (!put(&buf, &blen, &cap, "\n", 1))
			goto fail;
	}
	*out = buf;
	*len = blen;
	return true;
fail:
	free(buf);
	return false;
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
