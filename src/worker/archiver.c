/* archiver.c - result CSV → a typed table of its own (amcbatch_results.<execution id>,
 * docs/schema.md). Two passes over the spool file: the first checks the shape, types each
 * column (coltype.c) and finds out whether PostgreSQL's CSV parser reads the file as csv.c
 * does; the second streams the file's bytes as they are to COPY ... (FORMAT csv), or, when
 * it would not (an empty line, invalid UTF-8 ...), the parsed fields in COPY's text format.
 * The table is created, filled and indexed in the transaction that marks the execution
 * completed, under the claim's fence: a rolled-back archive leaves no table, and a second
 * archive of the execution is refused before it creates one. Runs on a pool thread:
 * blocking libpq is fine here, logging is not needed (errors go back through err). */
#include "archiver.h"

#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "coltype.h"
#include "csv.h"
#include "states.h"

#define COPY_CHUNK (256 * 1024)
#define ADDS(b, l, c, lit) csv_buf_add(b, l, c, lit, sizeof(lit) - 1)
#define RESULTS_SCHEMA "amcbatch_results"

typedef struct Column {
	char *name; /* unique (duplicates get _2, _3 ...): the JSON key, the API's name */
	char sql[COLTYPE_NAME_MAX + 1]; /* the table's column name (unique, <= 63 bytes) */
	ColGuess guess;
	enum ColType type;
} Column;

typedef struct Shape {
	Column *cols;
	size_t ncols;
	long rows;
	bool raw_ok; /* COPY (FORMAT csv) reads the file's bytes as csv.c does */
} Shape;

static void shape_free(Shape *s)
{
	for (size_t i = 0; i < s->ncols; i++)
		free(s->cols[i].name);
	free(s->cols);
	memset(s, 0, sizeof(*s));
}

static bool name_taken(const Shape *s, size_t upto, const char *name)
{
	for (size_t i = 0; i < upto; i++)
		if (strcmp(s->cols[i].name, name) == 0)
			return true;
	return false;
}

typedef struct SqlTaken {
	const Shape *s;
	size_t upto;
} SqlTaken;

static bool sql_taken(const char *cand, void *priv)
{
	const SqlTaken *t = priv;

	for (size_t i = 0; i < t->upto; i++)
		if (strcmp(t->s->cols[i].sql, cand) == 0)
			return true;
	return false;
}

/* Header record → unique, non-empty column names, and the table's column names. */
static bool shape_header(Shape *s, const CsvReader *r, char *err, size_t errlen)
{
	s->ncols = r->nfields;
	s->cols = calloc(s->ncols, sizeof(*s->cols));
	if (s->cols == NULL)
		goto oom;
	for (size_t i = 0; i < s->ncols; i++) {
		const char *f = csv_field(r, i);
		size_t n = csv_field_len(r, i);
		char base[256];
		if (!coltype_utf8_ok(f, n))
			s->raw_ok = false; /* COPY checks the header line's encoding too */
		if (n == 0 || memchr(f, '\0', n) != NULL)
			snprintf(base, sizeof(base), "column_%zu", i + 1);
		else
			snprintf(base, sizeof(base), "%s", f);
		char name[300];
		snprintf(name, sizeof(name), "%s", base);
		for (int k = 2; name_taken(s, i, name); k++)
			snprintf(name, sizeof(name), "%s_%d", base, k);
		if ((s->cols[i].name = strdup(name)) == NULL)
			goto oom;
		SqlTaken t = { s, i };
		coltype_sql_name(s->cols[i].sql, name, strlen(name), i, sql_taken, &t);
		coltype_init(&s->cols[i].guess);
	}
	return true;
oom:
	snprintf(err, errlen, "out of memory");
	return false;
}

static bool check_width(const Shape *s, const CsvReader *r, char *err, size_t errlen)
{
	if (r->nfields == s->ncols)
		return true;
	snprintf(err, errlen, "result CSV record %ld has %zu fields, the header has %zu", r->record,
		 r->nfields, s->ncols);
	return false;
}

#define MARK_EVERY 1024 /* records between two progress marks (an ftell each) */

/* How far a pass is: base + the file position (the bytes stdio has handed the reader). */
static void mark(atomic_llong *done, long long base, FILE *f)
{
	long pos = ftell(f);

	if (pos >= 0)
		atomic_store(done, base + pos);
}

/* Pass 1: header, field counts, column types, whether the bytes can go to COPY as they are.
 * *done follows the bytes read (the first half of the archive's progress). */
static bool scan(FILE *f, Shape *s, atomic_llong *done, char *err, size_t errlen)
{
	CsvReader r;
	bool ok = false;
	csv_init(&r, f);
	s->raw_ok = true;
	enum CsvStatus st = csv_read(&r);
	if (st == CSV_EOF) { /* empty file: no columns, no rows */
		ok = true;
		goto out;
	}
	if (st == CSV_ERROR || !shape_header(s, &r, err, errlen)) {
		if (st == CSV_ERROR)
			snprintf(err, errlen, "result CSV: %s", r.err);
		goto out;
	}
	while ((st = csv_read(&r)) == CSV_RECORD) {
		if (!check_width(s, &r, err, errlen))
			goto out;
		for (size_t i = 0; i < s->ncols; i++) {
			size_t n = csv_field_len(&r, i);
			if (n == 0)
				continue;
			const char *v = csv_field(&r, i);
			ColGuess *g = &s->cols[i].guess;
			coltype_see(g, v, n);
			/* a number is ASCII; anything else must be text PostgreSQL accepts */
			if (s->raw_ok && !g->can_numeric && !coltype_utf8_ok(v, n))
				s->raw_ok = false;
		}
		/* a lone \. line ends COPY's data */
		if (s->ncols == 1 && csv_field_len(&r, 0) == 2 &&
		    memcmp(csv_field(&r, 0), "\\.", 2) == 0)
			s->raw_ok = false;
		if (++s->rows % MARK_EVERY == 0)
			mark(done, 0, f);
	}
	if (st == CSV_ERROR) {
		snprintf(err, errlen, "result CSV: %s", r.err);
		goto out;
	}
	for (size_t i = 0; i < s->ncols; i++)
		s->cols[i].type = coltype_result(&s->cols[i].guess);
	if (r.irregular)
		s->raw_ok = false;
	ok = true;
out:
	csv_cleanup(&r);
	return ok;
}

/* [{"name","type","column","sql_type"}]: the API's name and type, the table's column; and
 * "empty":true on a column without a value (typed text for want of one), so that it does not
 * widen the batch's type of the column (pgq.h, PGQ_SQL_RESULT_COLUMNS_OF). */
static char *columns_json(const Shape *s)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	bool ok = ADDS(&buf, &len, &cap, "[");
	for (size_t i = 0; ok && i < s->ncols; i++) {
		const char *type = coltype_api(s->cols[i].type),
			   *sql = coltype_sql(s->cols[i].type);
		ok = (i == 0 || ADDS(&buf, &len, &cap, ",")) &&
		     ADDS(&buf, &len, &cap, "{\"name\":") &&
		     csv_json_string(&buf, &len, &cap, s->cols[i].name, strlen(s->cols[i].name)) &&
		     ADDS(&buf, &len, &cap, ",\"type\":\"") &&
		     csv_buf_add(&buf, &len, &cap, type, strlen(type)) &&
		     ADDS(&buf, &len, &cap, "\",\"column\":") &&
		     csv_json_string(&buf, &len, &cap, s->cols[i].sql, strlen(s->cols[i].sql)) &&
		     ADDS(&buf, &len, &cap, ",\"sql_type\":\"") &&
		     csv_buf_add(&buf, &len, &cap, sql, strlen(sql)) &&
		     ADDS(&buf, &len, &cap, "\"") &&
		     (s->cols[i].guess.seen_value || ADDS(&buf, &len, &cap, ",\"empty\":true")) &&
		     ADDS(&buf, &len, &cap, "}");
	}
	if (!ok || !ADDS(&buf, &len, &cap, "]")) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* COPY text format: backslash, tab, newline and CR inside a value are escaped; bytes that
 * are not UTF-8 (and NUL) become U+FFFD, as the JSON of the rows before sql/016 had them. */
static bool copy_escaped(char **out, size_t *len, size_t *cap, const char *s, size_t n)
{
	size_t run = 0;
	bool utf8 = coltype_utf8_ok(s, n);
	for (size_t i = 0; i < n; i++) {
		const char *esc = s[i] == '\\'   ? "\\\\"
				  : s[i] == '\t' ? "\\t"
				  : s[i] == '\n' ? "\\n"
				  : s[i] == '\r' ? "\\r"
						 : NULL;
		size_t elen = 2;
		if (esc == NULL && !utf8 && !coltype_utf8_ok(s + i, 1)) {
			/* the longest valid sequence here, or one bad byte replaced */
			size_t k = 2;
			while (k <= 4 && i + k <= n && !coltype_utf8_ok(s + i, k))
				k++;
			if (k <= 4 && i + k <= n) {
				run += k;
				i += k - 1;
				continue;
			}
			esc = "\xef\xbf\xbd";
			elen = 3;
		}
		if (esc == NULL) {
			run++;
			continue;
		}
		if (!csv_buf_add(out, len, cap, s + i - run, run) ||
		    !csv_buf_add(out, len, cap, esc, elen))
			return false;
		run = 0;
	}
	return csv_buf_add(out, len, cap, s + n - run, run);
}

static bool exec_ok(PGconn *conn, const char *sql, char *err, size_t errlen)
{
	PGresult *r = PQexec(conn, sql);
	bool ok = pg_ok(conn, r, err, errlen);
	PQclear(r);
	return ok;
}

/* Appends PQescapeIdentifier(name) to buf. */
static bool add_ident(PGconn *conn, char **buf, size_t *len, size_t *cap, const char *name)
{
	char *id = PQescapeIdentifier(conn, name, strlen(name));
	bool ok = id != NULL && csv_buf_add(buf, len, cap, id, strlen(id));
	PQfreemem(id);
	return ok;
}

/* "(c1, c2, ...)" */
static bool add_column_list(PGconn *conn, const Shape *s, char **buf, size_t *len, size_t *cap)
{
	bool ok = ADDS(buf, len, cap, "(");
	for (size_t i = 0; ok && i < s->ncols; i++)
		ok = (i == 0 || ADDS(buf, len, cap, ", ")) &&
		     add_ident(conn, buf, len, cap, s->cols[i].sql);
	return ok && ADDS(buf, len, cap, ")");
}

/* The table, its owner's row-level policy (the policies of sql/013, for roles that read the
 * table directly), and the COPY statement that fills it. row_number is an identity: a new
 * sequence numbers the one COPY's rows 1..n without gaps; it is dropped once they are in. */
static bool build_sql(PGconn *conn, const Shape *s, const char *table, const char *user, bool raw,
		      char **ddl, char **copy)
{
	size_t dl = 0, dc = 0, cl = 0, cc = 0;
	char *u = PQescapeLiteral(conn, user, strlen(user));
	bool ok = u != NULL && ADDS(ddl, &dl, &dc, "CREATE TABLE ") &&
		  csv_buf_add(ddl, &dl, &dc, table, strlen(table)) &&
		  ADDS(ddl, &dl, &dc, " (row_number integer GENERATED ALWAYS AS IDENTITY");
	for (size_t i = 0; ok && i < s->ncols; i++) {
		const char *type = coltype_sql(s->cols[i].type);
		ok = ADDS(ddl, &dl, &dc, ", ") && add_ident(conn, ddl, &dl, &dc, s->cols[i].sql) &&
		     ADDS(ddl, &dl, &dc, " ") && csv_buf_add(ddl, &dl, &dc, type, strlen(type));
	}
	ok = ok && ADDS(ddl, &dl, &dc, "); ALTER TABLE ") &&
	     csv_buf_add(ddl, &dl, &dc, table, strlen(table)) &&
	     ADDS(ddl, &dl, &dc, " ENABLE ROW LEVEL SECURITY; CREATE POLICY owner ON ") &&
	     csv_buf_add(ddl, &dl, &dc, table, strlen(table)) &&
	     ADDS(ddl, &dl, &dc, " FOR SELECT USING (amcbatch_current_user_id() = ") &&
	     csv_buf_add(ddl, &dl, &dc, u, strlen(u)) && ADDS(ddl, &dl, &dc, "::uuid)");
	ok = ok && ADDS(copy, &cl, &cc, "COPY ") &&
	     csv_buf_add(copy, &cl, &cc, table, strlen(table)) && ADDS(copy, &cl, &cc, " ") &&
	     add_column_list(conn, s, copy, &cl, &cc);
	if (raw) /* FORCE_NULL: a quoted "" is null too, as csv.c's empty field */
		ok = ok &&
		     ADDS(copy, &cl, &cc, " FROM STDIN (FORMAT csv, HEADER true, FORCE_NULL ") &&
		     add_column_list(conn, s, copy, &cl, &cc) && ADDS(copy, &cl, &cc, ")");
	else
		ok = ok && ADDS(copy, &cl, &cc, " FROM STDIN");
	PQfreemem(u);
	return ok;
}

/* The file's bytes as they are (pass 1 found COPY reads them as csv.c does). */
static bool put_raw(PGconn *conn, FILE *f, atomic_llong *done, const char **abort_msg,
		    bool *data_error, char *err, size_t errlen)
{
	char *buf = malloc(COPY_CHUNK);
	size_t n;
	bool ok = true;

	if (buf == NULL) {
		snprintf(err, errlen, "out of memory");
		*abort_msg = "out of memory";
		return true;
	}
	while ((n = fread(buf, 1, COPY_CHUNK, f)) > 0) {
		if (PQputCopyData(conn, buf, (int)n) != 1) {
			snprintf(err, errlen, "COPY data: %s", PQerrorMessage(conn));
			ok = false; /* connection trouble: no COPY end possible */
			break;
		}
		atomic_fetch_add(done, (long long)n);
	}
	if (ok && ferror(f)) {
		snprintf(err, errlen, "read error on the result file");
		*data_error = true;
		*abort_msg = "read error";
	}
	free(buf);
	return ok;
}

/* The parsed fields, in COPY's text format (empty = \N, as csv.c's empty field). */
static bool put_parsed(PGconn *conn, FILE *f, const Shape *s, atomic_llong *done, long long total,
		       const char **abort_msg, bool *data_error, char *err, size_t errlen)
{
	CsvReader r;
	char *line = NULL;
	size_t llen = 0, lcap = 0;
	bool ok = true;

	csv_init(&r, f);
	enum CsvStatus st = csv_read(&r); /* header, checked in pass 1 */
	while (st == CSV_RECORD && (st = csv_read(&r)) == CSV_RECORD) {
		if (!check_width(s, &r, err, errlen)) { /* file changed under us */
			*data_error = true;
			*abort_msg = "bad row";
			break;
		}
		bool mem = true;
		for (size_t i = 0; mem && i < s->ncols; i++) {
			size_t n = csv_field_len(&r, i);
			mem = (i == 0 || ADDS(&line, &llen, &lcap, "\t")) &&
			      (n == 0 ? ADDS(&line, &llen, &lcap, "\\N")
				      : copy_escaped(&line, &llen, &lcap, csv_field(&r, i), n));
		}
		if (!mem || !ADDS(&line, &llen, &lcap, "\n")) {
			snprintf(err, errlen, "out of memory");
			*abort_msg = "out of memory";
			break;
		}
		if (r.record % MARK_EVERY == 0)
			mark(done, total / 2, f);
		if (llen >= COPY_CHUNK) {
			if (PQputCopyData(conn, line, (int)llen) != 1) {
				snprintf(err, errlen, "COPY data: %s", PQerrorMessage(conn));
				ok = false;
				goto out;
			}
			llen = 0;
		}
	}
	if (*abort_msg == NULL && st == CSV_ERROR) {
		snprintf(err, errlen, "result CSV: %s", r.err);
		*data_error = true;
		*abort_msg = "bad csv";
	}
	if (*abort_msg == NULL && llen > 0 && PQputCopyData(conn, line, (int)llen) != 1) {
		snprintf(err, errlen, "COPY data: %s", PQerrorMessage(conn));
		ok = false;
	}
out:
	csv_cleanup(&r);
	free(line);
	return ok;
}

/* Pass 2: the table and its rows. *mismatch: COPY read another number of rows than pass 1
 * (the raw bytes were read otherwise than csv.c reads them): the caller retries parsed. */
static bool fill_table(PGconn *conn, FILE *f, const Shape *s, const char *table, const char *user,
		       bool raw, ArchiveTask *t, bool *mismatch, char *err, size_t errlen)
{
	char *ddl = NULL, *copy = NULL, *post = NULL;
	size_t pl = 0, pc = 0;
	const char *abort_msg = NULL;
	bool ok = false;

	if (!build_sql(conn, s, table, user, raw, &ddl, &copy) ||
	    !ADDS(&post, &pl, &pc, "ALTER TABLE ") ||
	    !csv_buf_add(&post, &pl, &pc, table, strlen(table)) ||
	    !ADDS(&post, &pl, &pc, " ALTER row_number DROP IDENTITY; CREATE INDEX ON ") ||
	    !csv_buf_add(&post, &pl, &pc, table, strlen(table)) ||
	    !ADDS(&post, &pl, &pc, " USING brin (row_number) WITH (pages_per_range = 8)")) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (!exec_ok(conn, ddl, err, errlen))
		goto out;
	PGresult *res = PQexec(conn, copy);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		snprintf(err, errlen, "COPY: %s", PQerrorMessage(conn));
		PQclear(res);
		goto out;
	}
	PQclear(res);
	atomic_store(&t->progress_done, t->bytes); /* pass 1 is over: the second half */
	if (!(raw ? put_raw(conn, f, &t->progress_done, &abort_msg, &t->data_error, err, errlen)
		  : put_parsed(conn, f, s, &t->progress_done, 2 * t->bytes, &abort_msg,
			       &t->data_error, err, errlen)))
		goto out;
	if (PQputCopyEnd(conn, abort_msg) != 1) {
		snprintf(err, errlen, "COPY end: %s", PQerrorMessage(conn));
		goto out;
	}
	res = PQgetResult(conn);
	bool copied = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!copied && abort_msg == NULL) {
		snprintf(err, errlen, "COPY: %s", PQresultErrorMessage(res));
		*mismatch = raw; /* COPY refused what csv.c read: retry parsed */
	}
	if (copied && strtol(PQcmdTuples(res), NULL, 10) != s->rows) {
		snprintf(err, errlen, "COPY read %s rows, the CSV has %ld", PQcmdTuples(res),
			 s->rows);
		*mismatch = raw;
		copied = false;
	}
	PQclear(res);
	while ((res = PQgetResult(conn)) != NULL)
		PQclear(res);
	ok = copied && abort_msg == NULL && exec_ok(conn, post, err, errlen);
out:
	free(ddl);
	free(copy);
	free(post);
	return ok;
}

/* One archive transaction: the fence, the table, the execution row completed. */
static enum PgResult archive_tx(PGconn *conn, ArchiveTask *t, FILE *f, const Shape *s,
				const char *cols, bool raw, bool *mismatch, char *err,
				size_t errlen)
{
	char table[64];

	t->fenced = false;
	/* exec ids are exec_ + 8 hex (a CHECK constraint): a plain identifier */
	snprintf(table, sizeof(table), RESULTS_SCHEMA ".%s", t->exec_id);
	if (!exec_ok(conn, "BEGIN", err, errlen))
		goto pgfail;
	/* the row lock is held to COMMIT: a second claim's archive waits, then is refused. A
	 * lock, not an UPDATE: a row this transaction wrote twice would make its final UPDATE
	 * run the foreign key's check on batch_executions (FOR KEY SHARE), and two archives of
	 * one batch holding that then deadlock in the status trigger's FOR UPDATE of the batch */
	const char *fence[1] = { t->exec_id };
	PGresult *r = PQexecParams(conn,
				   "SELECT claim_token, status, user_id FROM workflow_executions"
				   " WHERE execution_id = $1 FOR UPDATE",
				   1, NULL, fence, NULL, NULL, 0);
	bool ok = pg_ok(conn, r, err, errlen);
	if (ok && (PQntuples(r) != 1 ||
		   strtoll(PQgetvalue(r, 0, 0), NULL, 10) > strtoll(t->claim, NULL, 10) ||
		   exec_state_name_is_final(PQgetvalue(r, 0, 1)))) {
		snprintf(err, errlen, "refused: a newer claim holds the execution, or it is final");
		t->fenced = true;
		ok = false;
	}
	char user[64] = "";
	if (ok)
		snprintf(user, sizeof(user), "%s", PQgetvalue(r, 0, 2));
	PQclear(r);
	if (!ok)
		goto pgfail;
	/* no columns (an empty file): no table */
	if (s->ncols > 0 && !fill_table(conn, f, s, table, user, raw, t, mismatch, err, errlen))
		goto pgfail;
	char rows[32];
	snprintf(rows, sizeof(rows), "%ld", s->rows);
	const char *upd[6] = { t->exec_id, rows,     cols,
			       t->amc_id,  t->claim, s->ncols > 0 ? table : NULL };
	r = PQexecParams(
		conn,
		"UPDATE workflow_executions SET status = 'completed', row_count = $2,"
		" result_columns = $3::jsonb, amc_execution_id = $4, error_message = NULL,"
		" claim_token = $5::bigint, result_table = $6, completed_at = now(),"
		" duration_seconds = extract(epoch from now() - coalesce(started_at, now())),"
		" updated_at = now()"
		" WHERE execution_id = $1",
		6, NULL, upd, NULL, NULL, 0);
	ok = pg_ok(conn, r, err, errlen);
	PQclear(r);
	if (!ok || !exec_ok(conn, "COMMIT", err, errlen))
		goto pgfail;
	return PG_OK;
pgfail:;
	enum PgResult res = t->data_error || t->fenced ? PG_FAIL : pg_fail_kind(conn);
	if (PQstatus(conn) == CONNECTION_OK) {
		PGresult *rb = PQexec(conn, "ROLLBACK");
		PQclear(rb);
	}
	return res;
}

enum PgResult archiver_work(PGconn *conn, void *arg, char *err, size_t errlen)
{
	ArchiveTask *t = arg;
	Shape s = { 0 };
	char *cols = NULL;
	enum PgResult res = PG_FAIL;

	t->data_error = false;
	FILE *f = fopen(t->path, "rb");
	if (f == NULL) {
		snprintf(err, errlen, "cannot open result file %s", t->path);
		t->data_error = true;
		return PG_FAIL;
	}
	struct stat sb;

	t->bytes = fstat(fileno(f), &sb) == 0 ? (long long)sb.st_size : 0;
	/* the file is read twice, the check pass and COPY: each is half of the way */
	atomic_store(&t->progress_done, 0);
	atomic_store(&t->progress_total, 2 * t->bytes);
	if (!scan(f, &s, &t->progress_done, err, errlen)) {
		t->data_error = true;
		goto out;
	}
	if ((cols = columns_json(&s)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	bool mismatch = false;
	rewind(f);
	res = archive_tx(conn, t, f, &s, cols, s.raw_ok, &mismatch, err, errlen);
	if (res != PG_OK && mismatch && PQstatus(conn) == CONNECTION_OK) {
		/* PostgreSQL read the bytes otherwise than csv.c: the parsed fields then */
		rewind(f);
		mismatch = false;
		res = archive_tx(conn, t, f, &s, cols, false, &mismatch, err, errlen);
	}
	if (res == PG_OK)
		t->row_count = s.rows;
out:
	free(cols);
	shape_free(&s);
	fclose(f);
	return res;
}
