/* csv.h - counting the records of a CSV stream (RFC 4180 quoting understood). Writing CSV
 * is core's csvw.h. */
#ifndef AMCB_CLI_CSV_H
#define AMCB_CLI_CSV_H

#include "common.h"

/* Counts the records of RFC 4180 text fed in pieces of any size: a line end inside a
 * quoted field does not end a record; a last record without a line end still counts. */
typedef struct CsvCounter {
	unsigned long long records; /* records ended by a line end so far */
	bool quoted;                /* inside a quoted field */
	bool partial;               /* bytes seen since the last record ended */
} CsvCounter;

void csv_count_feed(CsvCounter *c, const char *data, size_t len);
/* Records in everything fed so far, header line included. */
unsigned long long csv_count_records(const CsvCounter *c);

#endif
