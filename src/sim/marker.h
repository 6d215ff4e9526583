/* marker.h - reads the attribution line amcbatch puts in front of the SQL it sends,
 * "-- amcbatch <batch_id> <exec_id>\n", so that a checker can tell which batch execution
 * asked for each stored AMC execution. Pure: no server state. */
#ifndef AMCSIM_MARKER_H
#define AMCSIM_MARKER_H

#include "common.h"

#define MARKER_ID_MAX 64

typedef struct Marker {
	char batch_id[MARKER_ID_MAX + 1];
	char exec_id[MARKER_ID_MAX + 1];
} Marker;

/* true when sql starts with a well-formed marker line (ids of [A-Za-z0-9_-], 1 to
 * MARKER_ID_MAX characters, one space between them, then the end of the line); else false
 * and m is emptied */
bool marker_parse(const char *sql, Marker *m);

#endif
