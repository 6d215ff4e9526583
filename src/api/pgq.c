/* pgq.c - runs a Pgq job on a pgpool thread (BEGIN/COMMIT around several statements) and
 * converts its results to JSON on the loop thread. It never touches the event loop. */
#include "pgq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pgprep.h"

const char *const pgq_sql_result_columns[2] = {
	PGQ_SQL_RESULT_COLUMNS,
	PGQ_SQL_RESULT_COLUMNS_OF(PGQ_BATCH_EXECS_RETRIES_CTE),
};

Pgq *pgq_new(void)
{
	return calloc(1, sizeof(Pgq));
}

static void clear_results(Pgq *q)
{
	for (int i = 0; i < PGQ_MAX_STMTS; i++) {
		PQclear(q->res[i]);
		q->res[i] = NULL;
	}
}

void pgq_free(Pgq *q)
{
	if (q == NULL)
		return;
	clear_results(q);
	for (int i = 0; i < q->nstmts; i++)
		for (int j = 0; j < q->stmt[i].nparams; j++)
			free(q->stmt[i].params[j]);
	free(q);
}

bool pgq_add_prepared(Pgq *q, const char *sql, int nparams, const char *const *params)
{
	if (!pgq_add(q, sql, nparams, params))
		return false;
	q->stmt[q->nstmts - 1].prepared = true;
	return true;
}

bool pgq_add(Pgq *q, const char *sql, int nparams, const char *const *params)
{
	int i = q->nstmts;

	if (i == PGQ_MAX_STMTS || nparams > PGQ_MAX_PARAMS)
		return false;
	q->stmt[i].sql = sql;
	q->stmt[i].prepared = false;
	q->stmt[i].nparams = 0;
	for (int j = 0; j < nparams; j++) {
		char *copy = NULL;

		if (params[j] != NULL && (copy = strdup(params[j])) == NULL)
			return false; /* the copies made so far are freed with q */
		q->stmt[i].params[j] = copy;
		q->stmt[i].nparams = j + 1;
	}
	q->nstmts++;
	return true;
}

/* Records the failure of r (or of the connection) into q; returns the pgpool verdict. */
static enum PgResult fail(PGconn *conn, PGresult *r, Pgq *q, char *err, size_t errlen)
{
	const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = r != NULL ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	enum PgResult kind = pg_fail_kind(conn);

	snprintf(q->err, sizeof(q->err), "%s", msg != NULL ? msg : PQerrorMessage(conn));
	snprintf(q->sqlstate, sizeof(q->sqlstate), "%s", state != NULL ? state : "");
	/* class 08 (connection exception) and 57P0x (shutdown) are worth a retry too */
	if (kind == PG_RETRY || strncmp(q->sqlstate, "08", 2) == 0 ||
	    strncmp(q->sqlstate, "57P0", 4) == 0) {
		q->connection_trouble = true;
		kind = PG_RETRY;
	}
	snprintf(err, errlen, "%s", q->err);
	PQclear(r);
	return kind;
}

/* "cached plan must not change result type": a migration changed what a prepared statement
 * returns. Every statement is prepared again, and the job runs again. */
static enum PgResult replan(PGconn *conn, Pgq *q)
{
	pgprep_reset(conn);
	q->connection_trouble = true;
	return PG_RETRY;
}

/* Pipelined jobs (pgq.h) ---- one result of the pipeline that is not a command's success:
 * the first failure is the job's (stmt: the statement it belongs to, -1 for BEGIN); the
 * commands skipped after it (PIPELINE_ABORTED) add nothing. r may be NULL (the connection
 * broke). */
typedef struct Pipeline {
	enum PgResult kind;
	bool failed;
	int failed_stmt;
} Pipeline;

static void pipeline_failure(PGconn *conn, PGresult *r, Pgq *q, int stmt, char *err, size_t errlen,
			     Pipeline *p)
{
	if (p->failed) {
		PQclear(r);
		return;
	}
	p->failed = true;
	p->failed_stmt = stmt;
	(void)pg_ok(conn, r, err, errlen); /* false: it records the SQLSTATE for fail() */
	p->kind = fail(conn, r, q, err, errlen);
}

/* Reads the result of one command of the pipeline and the NULL that ends it; a result that is
 * not ok goes to pipeline_failure (NULL returned, *broke set when there was none at all). */
static PGresult *pipeline_result(PGconn *conn, Pgq *q, int stmt, char *err, size_t errlen,
				 Pipeline *p, bool *broke)
{
	PGresult *r = PQgetResult(conn), *extra;

	while (r != NULL && (extra = PQgetResult(conn)) != NULL)
		PQclear(extra); /* never more than one result per command here */
	*broke = r == NULL;
	if (r != NULL &&
	    (PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK))
		return r;
	pipeline_failure(conn, r, q, stmt, err, errlen, p);
	return NULL;
}

static bool send_plain(PGconn *conn, const char *sql)
{
	return PQsendQueryParams(conn, sql, 0, NULL, NULL, NULL, NULL, 0) == 1;
}

/* BEGIN and every statement are sent at once, then one Sync, and the results read after;
 * then COMMIT, alone as before: two round trips instead of nstmts + 2, the same transaction.
 * (COMMIT keeps its own round trip so that its answer, lost or not, is about the commit
 * alone: test_submit_edges cuts exactly that answer.) A failed statement's error is the
 * job's and the commands after it are skipped; the transaction it leaves open in error is
 * rolled back by pgpool after the job, as when run one by one. */
static enum PgResult work_pipelined(PGconn *conn, Pgq *q, char *err, size_t errlen)
{
	char name[PGQ_MAX_STMTS][PGPREP_NAME_LEN];
	int how[PGQ_MAX_STMTS]; /* pgprep_find's answer; -1 for an unnamed statement */
	Pipeline p = { .kind = PG_OK, .failed = false, .failed_stmt = -1 };
	bool sent = PQenterPipelineMode(conn) == 1 && send_plain(conn, "BEGIN"), broke = false;
	PGresult *r;

	for (int i = 0; sent && i < q->nstmts; i++) {
		const char *const *params = (const char *const *)q->stmt[i].params;
		int n = q->stmt[i].nparams;

		how[i] = q->stmt[i].prepared ? pgprep_find(conn, q->stmt[i].sql, name[i]) : -1;
		if (how[i] == 0)
			sent = PQsendPrepare(conn, name[i], q->stmt[i].sql, n, NULL) == 1;
		if (how[i] < 0)
			sent = sent && PQsendQueryParams(conn, q->stmt[i].sql, n, NULL, params,
							 NULL, NULL, 0) == 1;
		else
			sent = sent &&
			       PQsendQueryPrepared(conn, name[i], n, params, NULL, NULL, 0) == 1;
	}
	sent = sent && PQpipelineSync(conn) == 1;
	if (sent)
		PQclear(pipeline_result(conn, q, -1, err, errlen, &p, &broke));
	for (int i = 0; sent && !broke && i < q->nstmts; i++) {
		if (how[i] == 0) {
			r = pipeline_result(conn, q, i, err, errlen, &p, &broke);
			if (r != NULL)
				pgprep_prepared(q->stmt[i].sql);
			PQclear(r);
			if (broke)
				break;
		}
		q->res[i] = pipeline_result(conn, q, i, err, errlen, &p, &broke);
	}
	/* the Sync's own result ends the pipeline */
	r = sent && !broke ? PQgetResult(conn) : NULL;
	if (r == NULL || PQresultStatus(r) != PGRES_PIPELINE_SYNC ||
	    PQexitPipelineMode(conn) != 1) {
		/* the connection broke (or libpq lost its place): start on a fresh one */
		PQclear(r);
		if (!p.failed)
			snprintf(err, errlen, "%s", PQerrorMessage(conn));
		PQreset(conn);
		q->connection_trouble = true;
		return PG_RETRY;
	}
	PQclear(r);
	if (p.failed && p.failed_stmt >= 0 && q->stmt[p.failed_stmt].prepared &&
	    pgprep_plan_changed(q->sqlstate)) {
		PQclear(PQexec(conn, "ROLLBACK"));
		return replan(conn, q);
	}
	if (p.failed)
		return p.kind; /* pgpool rolls the transaction back */
	r = PQexec(conn, "COMMIT");
	if (!pg_ok(conn, r, err, errlen))
		return fail(conn, r, q, err, errlen);
	PQclear(r);
	return PG_OK;
}

static enum PgResult work(PGconn *conn, void *arg, char *err, size_t errlen)
{
	Pgq *q = arg;
	bool tx = q->nstmts > 1;
	PGresult *r;

	clear_results(q); /* a retried job starts over */
	q->connection_trouble = false;
	q->sqlstate[0] = q->err[0] = '\0';
	if (tx && q->pipeline)
		return work_pipelined(conn, q, err, errlen);
	if (tx) {
		r = PQexec(conn, "BEGIN");
		if (!pg_ok(conn, r, err, errlen))
			return fail(conn, r, q, err, errlen);
		PQclear(r);
	}
	for (int i = 0; i < q->nstmts; i++) {
		r = q->stmt[i].prepared
			    ? pgprep_exec(conn, q->stmt[i].sql, q->stmt[i].nparams,
					  (const char *const *)q->stmt[i].params)
			    : PQexecParams(conn, q->stmt[i].sql, q->stmt[i].nparams, NULL,
					   (const char *const *)q->stmt[i].params, NULL, NULL, 0);
		if (!pg_ok(conn, r, err, errlen)) {
			enum PgResult kind = fail(conn, r, q, err, errlen);

			if (tx && kind != PG_RETRY)
				PQclear(PQexec(conn, "ROLLBACK"));
			if (q->stmt[i].prepared && pgprep_plan_changed(q->sqlstate))
				return replan(conn, q);
			return kind;
		}
		q->res[i] = r;
	}
	if (tx) {
		r = PQexec(conn, "COMMIT");
		if (!pg_ok(conn, r, err, errlen))
			return fail(conn, r, q, err, errlen);
		PQclear(r);
	}
	return PG_OK;
}

static void done(enum PgResult res, const char *err, void *arg)
{
	Pgq *q = arg;

	q->ok = res == PG_OK;
	if (!q->ok) {
		if (q->err[0] == '\0')
			snprintf(q->err, sizeof(q->err), "%s", err != NULL ? err : "failed");
		/* gave up after retries, or the pool stopped: no SQLSTATE means no answer */
		if (res == PG_RETRY || q->sqlstate[0] == '\0')
			q->connection_trouble = true;
	}
	q->done(q, q->priv);
}

bool pgq_run(PgPool *pool, Pgq *q, void (*donefn)(Pgq *q, void *priv), void *priv)
{
	if (pool == NULL)
		return false; /* shutting down */
	q->done = donefn;
	q->priv = priv;
	return pgpool_submit(pool, work, done, q, API_PG_RETRY_MS);
}

void pgq_fail(Req *r, const Pgq *q)
{
	if (q == NULL || q->connection_trouble) {
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
		return;
	}
	if (strcmp(q->sqlstate, "23505") == 0)
		req_fail(r, 409, "conflict", NULL, "already exists: %s", q->err);
	else if (strcmp(q->sqlstate, "23503") == 0)
		req_fail(r, 422, "invalid_reference", NULL, "unknown reference: %s", q->err);
	else if (strncmp(q->sqlstate, "23", 2) == 0)
		req_fail(r, 422, "invalid_value", NULL, "rejected: %s", q->err);
	else if (strncmp(q->sqlstate, "22", 2) == 0)
		req_fail(r, 400, "invalid_value", NULL, "invalid value: %s", q->err);
	else {
		log_error("postgres error %s: %s", q->sqlstate, q->err);
		req_fail(r, 500, "internal", NULL, "database error");
	}
}

const char *pgq_val(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return PQgetvalue(res, row, col);
}

static json_t *typed(const char *v, char type)
{
	if (v == NULL)
		return json_null();
	switch (type) {
	case 'i':
		return json_integer(strtoll(v, NULL, 10));
	case 'n': {
		char *end;
		long long n = strtoll(v, &end, 10);

		if (*end == '\0')
			return json_integer(n);
		return json_real(strtod(v, NULL));
	}
	case 'b':
		return json_boolean(v[0] == 't');
	case 'j':
		return json_loads(v, JSON_DECODE_ANY, NULL);
	default:
		return json_string(v);
	}
}

json_t *pgq_row_json(const PGresult *res, int row, const char *types)
{
	json_t *o = json_object();
	int n = PQnfields(res);

	if (o == NULL)
		return NULL;
	for (int c = 0; c < n; c++) {
		char type = c < (int)strlen(types) ? types[c] : 's';
		json_t *v = typed(pgq_val(res, row, c), type);

		if (v == NULL || json_object_set_new(o, PQfname(res, c), v) != 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

json_t *pgq_rows_json(const PGresult *res, const char *types)
{
	json_t *a = json_array();
	int n = PQntuples(res);

	for (int i = 0; a != NULL && i < n; i++) {
		json_t *o = pgq_row_json(res, i, types);

		if (o == NULL || json_array_append_new(a, o) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* ---- one statement, one answer ---- */

typedef struct Reply {
	Req *r;
	const PgqShape *shape;
	json_t *extra; /* owned */
} Reply;

static void reply_done(Pgq *q, void *priv)
{
	Reply *x = priv;
	Req *r = x->r;
	const PgqShape *s = x->shape;
	bool one = s->status == 201 || s->missing != NULL;
	json_t *v = NULL;

	if (!q->ok) {
		pgq_fail(r, q);
	} else if (one && PQntuples(q->res[0]) == 0 && s->missing == NULL) {
		req_fail(r, 500, "internal", NULL, "insert returned no row");
	} else if (one && PQntuples(q->res[0]) == 0) {
		req_fail(r, 404, s->missing, NULL, "%s %s not found", s->key,
			 r->nsegs > 2 ? r->segs[2] : "");
	} else if ((v = one ? pgq_row_json(q->res[0], 0, s->types)
			    : pgq_rows_json(q->res[0], s->types)) == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
	} else {
		json_t *body = x->extra != NULL ? x->extra : json_object();
		const char *id = json_string_value(json_object_get(v, "id"));

		x->extra = NULL;
		if (r->method != EVHTTP_REQ_GET)
			log_info("admin %s %s %s %s", r->user_id,
				 r->method == EVHTTP_REQ_POST ? "created" : "changed", s->key,
				 id != NULL ? id : "-");
		if (body == NULL || json_object_set_new(body, s->key, v) != 0) {
			json_decref(body);
			req_fail(r, 500, "internal", NULL, "out of memory");
		} else {
			req_success(r, s->status, body);
		}
	}
	json_decref(x->extra);
	free(x);
	pgq_free(q);
}

void pgq_reply(Req *r, const PgqShape *shape, json_t *extra, const char *sql, int n,
	       const char *const *params)
{
	Reply *x = calloc(1, sizeof(*x));
	Pgq *q = pgq_new();

	if (x == NULL || q == NULL || !pgq_add(q, sql, n, params)) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		goto fail;
	}
	x->r = r;
	x->shape = shape;
	x->extra = extra;
	extra = NULL;
	if (!pgq_run(r->api->pg, q, reply_done, x)) {
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
		goto fail;
	}
	return;
fail:
	json_decref(extra);
	if (x != NULL)
		json_decref(x->extra);
	free(x);
	pgq_free(q);
}
