/* pgprep.h - statements prepared once per connection of a pgpool thread, for the API's pgq
 * and the worker's pgexec: the parse and the plan are paid on a connection's first use of a
 * statement, not at every execution. A statement is named by the address of its text, so
 * only static SQL text may be prepared. For pool threads only (each owns one connection). */
#ifndef AMCB_PGPREP_H
#define AMCB_PGPREP_H

#include <stdbool.h>

#include <libpq-fe.h>

#define PGPREP_NAME_LEN 32

/* Where sql stands on conn, this thread's connection (a new connection, even to the same
 * address, starts with none): 1 prepared under name, 0 not yet (prepare it under name, then
 * call pgprep_prepared), -1 the table is full (run it unnamed). */
int pgprep_find(const PGconn *conn, const char *sql, char name[PGPREP_NAME_LEN]);

/* sql was prepared on this thread's connection under the name pgprep_find gave. */
void pgprep_prepared(const char *sql);

/* Runs sql with n text parameters by name, preparing it first on conn if need be (unnamed
 * when the table is full). The result is PQexecParams's, a failed prepare's included; the
 * caller PQclears it. */
PGresult *pgprep_exec(PGconn *conn, const char *sql, int n, const char *const *params);

/* True if sqlstate (a failed statement's PG_DIAG_SQLSTATE; NULL for none) says a migration
 * changed what a prepared statement returns ("cached plan must not change result type"):
 * call pgprep_reset and run the work again. */
bool pgprep_plan_changed(const char *sqlstate);

/* Deallocates every statement prepared on conn and forgets them. */
void pgprep_reset(PGconn *conn);

#endif
