/* data.h - the synthetic AMC data of one instance: schema inst_<id> in the simulator
 * database with base tables seeded deterministically from the instance id, and AMC-named
 * views that show only the rows inside the execution's time window. */
#ifndef AMCSIM_DATA_H
#define AMCSIM_DATA_H

#include <libpq-fe.h>

#include "common.h"
#include "pgpool.h"

#define DATA_INSTANCE_MAX 58 /* "inst_" + id must fit PostgreSQL's 63-byte names */
#define DATA_READER_ROLE "amcsim_reader"

/* The first and last day (YYYY-MM-DD, inclusive) of the data of schemas created from now
 * on; false (nothing changed) unless both are real days in order. Start-up only: call it
 * before the pool threads exist. */
MUST_CHECK bool data_set_days(const char *first, const char *last);
/* instance ids accepted in paths: [A-Za-z0-9_-]{1,58} */
bool data_instance_id_valid(const char *id);
/* "inst_<id>" (not quoted) into out (DATA_INSTANCE_MAX + 6 bytes) */
void data_schema_name(const char *id, char out[DATA_INSTANCE_MAX + 6]);
/* Pool thread. Creates the reader role and the instance schema unless present. Safe to run
 * concurrently from several connections (an advisory lock serialises creators). */
enum PgResult data_ensure_instance(PGconn *conn, const char *id, char *err, size_t errlen);
/* the view names the user's SQL may read (NULL-terminated), for the strict checker */
extern const char *const data_views[];

#endif
