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
