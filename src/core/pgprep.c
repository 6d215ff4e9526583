/* pgprep.c - the table of statements prepared on this pool thread's connection. */
#include "pgprep.h"

#include <stdio.h>
#include <string.h>

/* PostgreSQL answers 0A000 (feature_not_supported) when a prepared statement's result type
 * changed under it, i.e. a migration altered a table or function it reads. */
#define SQLSTATE_PLAN_CHANGED "0A000"

#define PREPARED_MAX 32
static _Thread_local struct {
	const PGconn *conn;
	int backend; /* PQbackendPID: a reconnected PGconn may keep its address */
	int n;
	const char *sql[PREPARED_MAX];
} prepared;

int pgprep_find(const PGconn *conn, const char *sql, char name[PGPREP_NAME_LEN])
{
	int k;

	if (prepared.conn != conn || prepared.backend != PQbackendPID(conn)) {
		prepared.conn = conn;
		prepared.backend = PQbackendPID(conn);
		prepared.n = 0;
	}
	snprintf(name, PGPREP_NAME_LEN, "amcb_%p", (const void *)sql);
	for (k = 0; k < prepared.n && prepared.sql[k] != sql; k++)
		;
	return k < prepared.n ? 1 : k < PREPARED_MAX ? 0 : -1;
}

void pgprep_prepared(const char *sql)
{
	if (prepared.n < PREPARED_MAX)
		prepared.sql[prepared.n++] = sql;
}

PGresult *pgprep_exec(PGconn *conn, const char *sql, int n, const char *const *params)
{
	char name[PGPREP_NAME_LEN];
	int st = pgprep_find(conn, sql, name);

	if (st < 0)
		return PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	if (st == 0) {
		PGresult *r = PQprepare(conn, name, sql, n, NULL);

		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			return r; /* the caller reports it as the statement's failure */
		PQclear(r);
		pgprep_prepared(sql);
	}
	return PQexecPrepared(conn, name, n, params, NULL, NULL, 0);
}

bool pgprep_plan_changed(const char *sqlstate)
{
	return sqlstate != NULL && strcmp(sqlstate, SQLSTATE_PLAN_CHANGED) == 0;
}

void pgprep_reset(PGconn *conn)
{
	PQclear(PQexec(conn, "DEALLOCATE ALL"));
	prepared.n = 0;
}
