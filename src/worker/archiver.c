/* archiver.c - CSV → result_rows. Two passes over the spool file: the first checks the shape
 * and types each column ("number" if every non-empty value is a JSON number), the second
 * streams COPY text rows. Runs on a pool thread: blocking libpq is fine here, logging is not
 * needed (errors go back through err). */
#include "archiver.h"

#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "states.h"

#define COPY_CHUNK (256 * 1024)

typedef struct Column {
	char *name;		/* unique (duplicates get _2, _3 ...) */
	bool number;
	bool seen_value;	/* a non-empty value was seen */
} Column;

typedef struct Shape {
	Column *cols;
	size_t ncols;
	long rows;
} Shape;

static void shape_free(Shape *s)
{
	for (size_t i = 0; i < s->ncols; i++)
		free(s->cols[i].name);
	free(s->cols);
	memset(s, 0, sizeof *s);
}

static bool name_taken(const Shape *s, size_t upto, const char *name)
{
	for (size_t i = 0; i < upto; i++)
		if (strcmp(s->cols[i].name, name) == 0)
			return true;
	return false;
}

/* Header record → unique, non-empty column names. */
static bool shape_header(Shape *s, const CsvReader *r, char *err, size_t errlen)
{
	s->ncols = r->nfields;
	s->cols = calloc(s->ncols, sizeof *s->cols);
	if (!s->cols)
		goto oom;
	for (size_t i = 0; i < s->ncols; i++) {
		const char *f = csv_field(r, i);
		size_t n = csv_field_len(r, i);
		char base[256];
		if (n == 0 || memchr(f, '\0', n))
			snprintf(base, sizeof base, "column_%zu", i + 1);
		else
			snprintf(base, sizeof base, "%s", f);
		char name[300];
		snprintf(name, sizeof name, "%s", base);
		for (int k = 2; name_taken(s, i, name); k++)
			snprintf(name, sizeof name, "%s_%d", base, k);
		if (!(s->cols[i].name = strdup(name)))
			goto oom;
		s->cols[i].number = true;
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
	snprintf(err, errlen, "result CSV record %ld has %zu fields, the header has %zu",
		 r->record, r->nfields, s->ncols);
	return false;
}

/* Pass 1: header, field counts, column types. */
static bool scan(FILE *f, Shape *s, char *err, size_t errlen)
{
	CsvReader r;
	bool ok = false;
	csv_init(&r, f);
	enum CsvStatus st = csv_read(&r);
	if (st == CSV_EOF) {	/* empty file: no columns, no rows */
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
			s->cols[i].seen_value = true;
			if (s->cols[i].number && !csv_is_json_number(csv_field(&r, i), n))
				s->cols[i].number = false;
		}
		s->rows++;
	}
	if (st == CSV_ERROR) {
		snprintf(err, errlen, "result CSV: %s", r.err);
		goto out;
	}
	/* a column with no value at all tells nothing: call it a string */
	for (size_t i = 0; i < s->ncols; i++)
		if (!s->cols[i].seen_value)
			s->cols[i].number = false;
	ok = true;
out:
	csv_cleanup(&r);
	return ok;
}

static char *columns_json(const Shape *s)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	bool ok = csv_buf_add(&buf, &len, &cap, "[", 1);
	for (size_t i = 0; ok && i < s->ncols; i++) {
		const char *type = s->cols[i].number ? "number" : "string";
		ok = (i == 0 || csv_buf_add(&buf, &len, &cap, ",", 1)) &&
		     csv_buf_add(&buf, &len, &cap, "{\"name\":", 8) &&
		     csv_json_string(&buf, &len, &cap, s->cols[i].name, strlen(s->cols[i].name)) &&
		     csv_buf_add(&buf, &len, &cap, ",\"type\":\"", 9) &&
		     csv_buf_add(&buf, &len, &cap, type, strlen(type)) &&
		     csv_buf_add(&buf, &len, &cap, "\"}", 2);
	}
	if (!ok || !csv_buf_add(&buf, &len, &cap, "]", 1)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* COPY text format: backslash, tab, newline and CR inside a value are escaped. */
static bool copy_escaped(char **out, size_t *len, size_t *cap, const char *s, size_t n)
{
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		const char *esc = s[i] == '\\' ? "\\\\" : s[i] == '\t' ? "\\t" :
				  s[i] == '\n' ? "\\n" : s[i] == '\r' ? "\\r" : NULL;
		if (!esc) {
			run++;
			continue;
		}
		if (!csv_buf_add(out, len, cap, s + i - run, run) || !csv_buf_add(out, len, cap, esc, 2))
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

/* Pass 2: COPY every data row as (execution uuid, row number, JSON object). */
static bool copy_rows(PGconn *conn, FILE *f, const Shape *s, const char *uuid,
		      bool *data_error, char *err, size_t errlen)
{
	CsvReader r;
	char *json = NULL, *line = NULL;
	size_t jlen, jcap = 0, llen = 0, lcap = 0;
	bool ok = false;
	long rownum = 0;

	PGresult *res = PQexec(conn, "COPY result_rows(execution_id, row_number, row_data) FROM STDIN");
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		snprintf(err, errlen, "COPY: %s", PQerrorMessage(conn));
		PQclear(res);
		return false;
	}
	PQclear(res);
	csv_init(&r, f);
	enum CsvStatus st = csv_read(&r);	/* header, checked in pass 1 */
	const char *abort_msg = NULL;
	while (st == CSV_RECORD && (st = csv_read(&r)) == CSV_RECORD) {
		if (!check_width(s, &r, err, errlen)) {	/* file changed under us */
			*data_error = true;
			abort_msg = "bad row";
			break;
		}
		rownum++;
		jlen = 0;
		bool mem = csv_buf_add(&json, &jlen, &jcap, "{", 1);
		for (size_t i = 0; mem && i < s->ncols; i++) {
			const char *v = csv_field(&r, i);
			size_t n = csv_field_len(&r, i);
			mem = (i == 0 || csv_buf_add(&json, &jlen, &jcap, ",", 1)) &&
			      csv_json_string(&json, &jlen, &jcap, s->cols[i].name, strlen(s->cols[i].name)) &&
			      csv_buf_add(&json, &jlen, &jcap, ":", 1);
			if (!mem)
				break;
			if (n == 0)
				mem = csv_buf_add(&json, &jlen, &jcap, "null", 4);
			else if (s->cols[i].number)
				mem = csv_buf_add(&json, &jlen, &jcap, v, n);
			else
				mem = csv_json_string(&json, &jlen, &jcap, v, n);
		}
		char prefix[80];
		int plen = snprintf(prefix, sizeof prefix, "%s\t%ld\t", uuid, rownum);
		if (!mem || !csv_buf_add(&json, &jlen, &jcap, "}", 1) ||
		    !csv_buf_add(&line, &llen, &lcap, prefix, (size_t)plen) ||
		    !copy_escaped(&line, &llen, &lcap, json, jlen) ||
		    !csv_buf_add(&line, &llen, &lcap, "\n", 1)) {
			snprintf(err, errlen, "out of memory");
			abort_msg = "out of memory";
			break;
		}
		if (llen >= COPY_CHUNK) {
			if (PQputCopyData(conn, line, (int)llen) != 1) {
				snprintf(err, errlen, "COPY data: %s", PQerrorMessage(conn));
				goto out;	/* connection trouble: no COPY end possible */
			}
			llen = 0;
		}
	}
	if (!abort_msg && st == CSV_ERROR) {
		snprintf(err, errlen, "result CSV: %s", r.err);
		*data_error = true;
		abort_msg = "bad csv";
	}
	if (!abort_msg && llen > 0 && PQputCopyData(conn, line, (int)llen) != 1) {
		snprintf(err, errlen, "COPY data: %s", PQerrorMessage(conn));
		goto out;
	}
	if (PQputCopyEnd(conn, abort_msg) != 1) {
		snprintf(err, errlen, "COPY end: %s", PQerrorMessage(conn));
		goto out;
	}
	res = PQgetResult(conn);
	bool copied = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!copied && !abort_msg)
		snprintf(err, errlen, "COPY: %s", PQresultErrorMessage(res));
	PQclear(res);
	while ((res = PQgetResult(conn)) != NULL)
		PQclear(res);
	ok = copied && !abort_msg;
out:
	csv_cleanup(&r);
	free(json);
	free(line);
	return ok;
}

enum PgResult archiver_work(PGconn *conn, void *arg, char *err, size_t errlen)
{
	ArchiveTask *t = arg;
	Shape s = {0};
	char *cols = NULL;
	enum PgResult res = PG_FAIL;

	t->data_error = false;
	FILE *f = fopen(t->path, "rb");
	if (!f) {
		snprintf(err, errlen, "cannot open result file %s", t->path);
		t->data_error = true;
		return PG_FAIL;
	}
	struct stat sb;

	t->bytes = fstat(fileno(f), &sb) == 0 ? (long long)sb.st_size : 0;
	if (!scan(f, &s, err, errlen)) {
		t->data_error = true;
		goto out;
	}
	if (!(cols = columns_json(&s))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rewind(f);
	t->fenced = false;
	if (!exec_ok(conn, "BEGIN", err, errlen))
		goto pgfail;
	/* the row lock is held to COMMIT: a second claim's archive waits, then is refused. A
	 * lock, not an UPDATE: a row this transaction wrote twice would make its final UPDATE
	 * run the foreign key's check on batch_executions (FOR KEY SHARE), and two archives of
	 * one batch holding that then deadlock in the status trigger's FOR UPDATE of the batch */
	const char *fence[1] = {t->exec_id};
	PGresult *r = PQexecParams(conn,
				   "SELECT claim_token, status FROM workflow_executions"
				   " WHERE execution_id = $1 FOR UPDATE",
				   1, NULL, fence, NULL, NULL, 0);
	bool ok = pg_ok(conn, r, err, errlen);
	if (ok && (PQntuples(r) != 1 || strtoll(PQgetvalue(r, 0, 0), NULL, 10) > strtoll(t->claim, NULL, 10) ||
		   exec_state_name_is_final(PQgetvalue(r, 0, 1)))) {
		snprintf(err, errlen, "refused: a newer claim holds the execution, or it is final");
		t->fenced = true;
		ok = false;
	}
	PQclear(r);
	if (!ok)
		goto pgfail;
	const char *del[1] = {t->uuid};
	r = PQexecParams(conn, "DELETE FROM result_rows WHERE execution_id = $1",
			 1, NULL, del, NULL, NULL, 0);
	ok = pg_ok(conn, r, err, errlen);
	PQclear(r);
	if (!ok)
		goto pgfail;
	if (s.ncols > 0 && !copy_rows(conn, f, &s, t->uuid, &t->data_error, err, errlen))
		goto pgfail;
	char rows[32];
	snprintf(rows, sizeof rows, "%ld", s.rows);
	const char *upd[5] = {t->exec_id, rows, cols, t->amc_id, t->claim};
	r = PQexecParams(conn,
			 "UPDATE workflow_executions SET status = 'completed', row_count = $2,"
			 " result_columns = $3::jsonb, amc_execution_id = $4, error_message = NULL,"
			 " claim_token = $5::bigint, completed_at = now(),"
			 " duration_seconds = extract(epoch from now() - coalesce(started_at, now())),"
			 " updated_at = now()"
			 " WHERE execution_id = $1",
			 5, NULL, upd, NULL, NULL, 0);
	ok = pg_ok(conn, r, err, errlen);
	PQclear(r);
	if (!ok || !exec_ok(conn, "COMMIT", err, errlen))
		goto pgfail;
	t->row_count = s.rows;
	res = PG_OK;
	goto out;
pgfail:
	res = t->data_error || t->fenced ? PG_FAIL : pg_fail_kind(conn);
	if (PQstatus(conn) == CONNECTION_OK) {
		PGresult *rb = PQexec(conn, "ROLLBACK");
		PQclear(rb);
	}
out:
	free(cols);
	shape_free(&s);
	fclose(f);
	return res;
}
