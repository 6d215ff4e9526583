/* test_core_pgprep.c - against a real PostgreSQL (DATABASE_URL, else skipped): a statement
 * is prepared on its first run and run by name after; a reconnected connection starts with
 * none; a changed result type is recognised and a reset prepares again; past the table's
 * size a statement runs unnamed. Each case runs on a connection of its own. */
#include "pgprep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"

static const char *dburl;

static PGconn *connect_db(void)
{
	PGconn *c = PQconnectdb(dburl);

	assertf(PQstatus(c) == CONNECTION_OK, "connected: %s", PQerrorMessage(c));
	return c;
}

/* How many statements this session has prepared (pg_prepared_statements). */
static int prepared_count(PGconn *c)
{
	PGresult *r = PQexec(c, "SELECT count(*) FROM pg_prepared_statements");
	int n = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : -1;

	PQclear(r);
	return n;
}

static bool exec_ok(PGconn *c, const char *sql, const char *param, const char *want)
{
	PGresult *r = pgprep_exec(c, sql, param != NULL ? 1 : 0, (const char *const[]){ param });
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
		  strcmp(PQgetvalue(r, 0, 0), want) == 0;

	if (!ok)
		fprintf(stderr, "# %s: %s\n", sql, PQresultErrorMessage(r));
	PQclear(r);
	return ok;
}

static const char sql_echo[] = "SELECT $1::text";

static void test_prepared_once(void)
{
	PGconn *c = connect_db();
	char name[PGPREP_NAME_LEN];

	assertf(pgprep_find(c, sql_echo, name) == 0, "not prepared on a new connection");
	assertf(exec_ok(c, sql_echo, "a", "a"), "first run answers");
	assertf(prepared_count(c) == 1, "the first run prepared it");
	assertf(pgprep_find(c, sql_echo, name) == 1, "known as prepared");
	assertf(exec_ok(c, sql_echo, "b", "b") && exec_ok(c, sql_echo, "c", "c"), "runs by name");
	assertf(prepared_count(c) == 1, "prepared once for three runs");
	/* pgpool re-makes a broken connection with PQreset: the same PGconn, another backend,
	 * which knows none of it */
	PQreset(c);
	assertf(PQstatus(c) == CONNECTION_OK, "reconnected");
	assertf(pgprep_find(c, sql_echo, name) == 0, "a reconnected connection starts with none");
	assertf(exec_ok(c, sql_echo, "d", "d") && prepared_count(c) == 1, "prepared there again");
	PQfinish(c);
}

static const char sql_read_t[] = "SELECT a FROM pgprep_t";

static void test_plan_changed(void)
{
	PGconn *c = connect_db();
	PGresult *r;

	PQclear(PQexec(c,
		       "CREATE TEMP TABLE pgprep_t (a text); INSERT INTO pgprep_t VALUES ('7')"));
	assertf(exec_ok(c, sql_read_t, NULL, "7"), "reads the table");
	/* what a migration does under a running program: the statement's result type changes */
	PQclear(PQexec(c, "ALTER TABLE pgprep_t ALTER a TYPE integer USING a::integer"));
	r = pgprep_exec(c, sql_read_t, 0, NULL);
	assertf(PQresultStatus(r) == PGRES_FATAL_ERROR &&
			pgprep_plan_changed(PQresultErrorField(r, PG_DIAG_SQLSTATE)),
		"a changed result type is recognised: %s", PQresultErrorMessage(r));
	PQclear(r);
	pgprep_reset(c);
	assertf(prepared_count(c) == 0, "reset deallocates every statement");
	assertf(exec_ok(c, sql_read_t, NULL, "7"), "runs again after the reset");
	/* another error is not taken for it */
	r = PQexec(c, "SELECT 1/0");
	assertf(!pgprep_plan_changed(PQresultErrorField(r, PG_DIAG_SQLSTATE)),
		"division by zero is not a changed plan");
	PQclear(r);
	assertf(!pgprep_plan_changed(NULL), "no SQLSTATE is not a changed plan");
	PQfinish(c);
}

/* 40 distinct static texts: the table holds 32, the rest run unnamed */
#define MANY 40
static char many_sql[MANY][48];

static void test_table_full(void)
{
	PGconn *c = connect_db();
	char want[16];
	bool all = true;

	for (int i = 0; i < MANY; i++) {
		snprintf(many_sql[i], sizeof(many_sql[i]), "SELECT %d + $1::integer", i);
		snprintf(want, sizeof(want), "%d", i + 1);
		all = all && exec_ok(c, many_sql[i], "1", want);
	}
	assertf(all, "every statement answers, the table full or not");
	assertf(prepared_count(c) == 32, "32 prepared, the rest unnamed (%d)", prepared_count(c));
	all = true;
	for (int i = 0; i < MANY; i++) {
		snprintf(want, sizeof(want), "%d", i + 2);
		all = all && exec_ok(c, many_sql[i], "2", want);
	}
	assertf(all && prepared_count(c) == 32, "a second round neither fails nor prepares more");
	PQfinish(c);
}

int main(void)
{
	dburl = getenv("DATABASE_URL");
	if (dburl == NULL || dburl[0] == '\0')
		TAP_SKIP_ALL("DATABASE_URL not set");
	RUN_TEST(test_prepared_once);
	RUN_TEST(test_plan_changed);
	RUN_TEST(test_table_full);
	return tap_done();
}
