/* marker.c - the "-- amcbatch <batch_id> <exec_id>" line at the start of a submitted SQL.
 * Strict on purpose: anything else (no marker, a marker further down, a malformed one)
 * counts as unmarked, and the checker then attributes the execution some other way. */
#include "marker.h"

#include <string.h>

#define MARKER_PREFIX "-- amcbatch "

/* copies one id token from *p into out; false if it is empty, too long or badly made */
static bool id_token(const char **p, char out[MARKER_ID_MAX + 1])
{
	size_t n = 0;
	const char *s = *p;

	while ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
	       (s[n] >= '0' && s[n] <= '9') || s[n] == '_' || s[n] == '-') {
		if (++n > MARKER_ID_MAX)
			return false;
	}
	if (n == 0)
		return false;
	memcpy(out, s, n);
	out[n] = '\0';
	*p = s + n;
	return true;
}

bool marker_parse(const char *sql, Marker *m)
{
	const char *p = sql;

	memset(m, 0, sizeof(*m));
	if (sql == NULL || strncmp(p, MARKER_PREFIX, strlen(MARKER_PREFIX)) != 0)
		return false;
	p += strlen(MARKER_PREFIX);
	if (!id_token(&p, m->batch_id) || *p++ != ' ' || !id_token(&p, m->exec_id))
		goto bad;
	while (*p == ' ' || *p == '\t' || *p == '\r')
		p++;
	/* the marker is a line of its own: the SQL follows on the next one */
	if (*p == '\n')
		return true;
bad:
	memset(m, 0, sizeof(*m));
	return false;
}
