/* export.c - GET /workflows/batch/{b}/results.csv: the rows of the results endpoint as RFC
 * 4180 CSV, streamed with chunked encoding. PostgreSQL writes the CSV itself: each page is
 * one COPY (SELECT ... one row-number range of one execution's typed table, sql/016) TO
 * STDOUT (FORMAT csv) on a pgpool thread, which only turns COPY's LF record ends into CRLF. Pages are known ahead
 * (row numbers run 1..row_count), so PAGES_AHEAD of them are fetched at once, on as many
 * pool threads, while the one before goes out; they are sent in order, and none is fetched
 * beyond that until the socket took the last: memory stays flat whatever the export's size. */
#include "web.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "csvw.h"
#include "log.h"
#include "pgq.h"
#include "stream.h"
#include "strbuf.h"

#define PAGE_ROWS 10000
#define PAGES_AHEAD 2 /* page jobs at once: two of the API's pg_threads (default 4) */
#define SLUG_MAX 60

/* $1 batch id, $2 user id, $3 is admin (the owner rule and order of PGQ_BATCH_EXECS_CTE) */
static const char sql_batch[] =
	"SELECT b.batch_id, w.name FROM batch_executions b LEFT JOIN workflows w ON w.id = b.workflow_id"
	" WHERE b.batch_id = $1 AND ($3::boolean OR b.user_id = $2::uuid)";
#define SQL_EXECS(cte) \
	cte "SELECT ex.id, i.instance_name, ex.target_instance_id," \
	    "       CASE WHEN ex.result_table IS NULL THEN 0 ELSE coalesce(ex.row_count, 0) END," \
	    "       ex.result_table, ex.result_columns::text FROM ex" \
	    "  LEFT JOIN instances i ON i.id = ex.target_instance_id" \
	    " WHERE ex.status = 'completed' ORDER BY ex.ord, ex.execution_id"
/* The instances the export leaves out (not completed): a CSV has no room to say so, so the
 * reply's Amcbatch-Missing-Instances header counts them (the results endpoint's
 * missing_instances names them). */
#define SQL_MISSING(cte) cte "SELECT count(*) FROM ex WHERE ex.status <> 'completed'"
static const char *const sql_missing[2] = { SQL_MISSING(PGQ_BATCH_EXECS_CTE),
					    SQL_MISSING(PGQ_BATCH_EXECS_RETRIES_CTE) };
/* [1]: ?include_retries=true, the latest result per instance across the retries (pgq.h) */
static const char *const sql_execs[2] = { SQL_EXECS(PGQ_BATCH_EXECS_CTE),
					  SQL_EXECS(PGQ_BATCH_EXECS_RETRIES_CTE) };

/* One page: what the pool thread needs (borrowed strings of the Export, which outlives the
 * job) and what it gives back. Owned by the pool while its job runs, then by the export's
 * queue. */
typedef struct Page {
	struct Export *x;
	struct Page *next;       /* the queue, in result order */
	const char *name, *inst; /* the first two fields of every row, borrowed from x->execs */
	const char *table;       /* the execution's typed table, borrowed likewise */
	const char *columns;     /* its result_columns (the table's column of each name) */
	long after;              /* the page is rows after .. after + PAGE_ROWS */
	StrBuf out;              /* the CSV records, built on the pool thread (owned) */
	bool done;               /* its job has ended */
} Page;

/* One export; owned by itself, freed by finish(). */
typedef struct Export {
	Api *api;
	Stream *s;
	PGresult *execs;   /* the completed executions, in result order, with row counts (owned) */
	int cur;           /* index into execs of the next page to queue */
	long after;        /* and where in that execution it starts */
	json_t *cols;      /* the source column names, a JSON array of strings (owned) */
	Page *head, *tail; /* pages queued, fetched or being fetched, in order */
	int busy;          /* page jobs outstanding */
	bool sending;      /* a chunk is on its way to the socket */
	bool gone;         /* the client went away */
	bool failed;       /* a page failed: cut the reply off once no job is left */
} Export;

static void pump(Export *x);

static void page_free(Page *pg)
{
	strbuf_cleanup(&pg->out);
	free(pg);
}

static void finish(Export *x, bool abort)
{
	stream_end(x->s, abort);
	PQclear(x->execs);
	json_decref(x->cols);
	while (x->head != NULL) {
		Page *pg = x->head;

		x->head = pg->next;
		page_free(pg);
	}
	free(x);
}

static void on_gone(void *arg)
{
	Export *x = arg;

	x->gone = true;
	pump(x); /* finishes it once no page job is left */
}

/* Appends the escaped SQL literal of v (NULL: NULL) to b; conn's escaping rules. */
static bool add_literal(PGconn *conn, struct evbuffer *b, const char *v)
{
	char *lit;
	bool ok;

	if (v == NULL)
		return evbuffer_add(b, "NULL", 4) == 0;
	if ((lit = PQescapeLiteral(conn, v, strlen(v))) == NULL)
		return false;
	ok = evbuffer_add(b, lit, strlen(lit)) == 0;
	PQfreemem(lit);
	return ok;
}

/* The table column of the source column called name in one execution's result_columns,
 * NULL when it has none (executions of a batch may differ; that field is then empty). */
static const char *table_column(const json_t *own, const char *name)
{
	size_t i;
	json_t *c;

	json_array_foreach (own, i, c) {
		const char *n = json_string_value(json_object_get(c, "name"));

		if (n != NULL && name != NULL && strcmp(n, name) == 0)
			return json_string_value(json_object_get(c, "column"));
	}
	return NULL;
}

/* Appends the escaped identifier of v to b. */
static bool add_ident(PGconn *conn, struct evbuffer *b, const char *v)
{
	char *id = PQescapeIdentifier(conn, v, strlen(v));
	bool ok = id != NULL && evbuffer_add(b, id, strlen(id)) == 0;

	PQfreemem(id);
	return ok;
}

/* A result_table as the archiver writes it (sql/016's check): a plain qualified name. */
static bool table_name_ok(const char *t)
{
	static const char prefix[] = "amcbatch_results.exec_";
	size_t n = sizeof(prefix) - 1;

	if (strncmp(t, prefix, n) != 0 || strlen(t) != n + 8)
		return false;
	for (size_t i = n; t[i] != '\0'; i++)
		if (!isxdigit((unsigned char)t[i]) || isupper((unsigned char)t[i]))
			return false;
	return true;
}

/* The page's COPY statement, a NUL-terminated string (caller frees); NULL on OOM or when the
 * execution's table or columns are not as the archiver writes them. */
static char *page_sql(PGconn *conn, const Page *pg, const json_t *cols)
{
	struct evbuffer *b = evbuffer_new();
	json_t *own = json_loads(pg->columns, 0, NULL);
	char *sql = NULL;
	size_t i, n;
	json_t *c;
	bool ok = b != NULL && json_is_array(own) && table_name_ok(pg->table) &&
		  evbuffer_add_printf(b, "COPY (SELECT ") > 0 && add_literal(conn, b, pg->name) &&
		  evbuffer_add(b, "::text, ", 8) == 0 && add_literal(conn, b, pg->inst) &&
		  evbuffer_add(b, "::text", 6) == 0;

	json_array_foreach (cols, i, c) {
		const char *col = ok ? table_column(own, json_string_value(c)) : NULL;

		ok = ok && (col != NULL ? evbuffer_add(b, ", t.", 4) == 0 && add_ident(conn, b, col)
					: evbuffer_add(b, ", NULL", 6) == 0);
	}
	ok = ok && evbuffer_add_printf(b,
				       " FROM %s t WHERE t.row_number > %ld AND t.row_number <= %ld"
				       " ORDER BY t.row_number) TO STDOUT WITH (FORMAT csv)",
				       pg->table, pg->after, pg->after + PAGE_ROWS) > 0;
	json_decref(own);
	if (ok && (n = evbuffer_get_length(b), sql = malloc(n + 1)) != NULL) {
		evbuffer_remove(b, sql, n);
		sql[n] = '\0';
	}
	if (b != NULL)
		evbuffer_free(b);
	return sql;
}

/* PgWorkFn: one page, on a pool thread. Safe to repeat: it starts the page over. */
static enum PgResult page_work(PGconn *conn, void *arg, char *err, size_t errlen)
{
	Page *pg = arg;
	char *sql = page_sql(conn, pg, pg->x->cols), *row;
	PGresult *r;
	int n;
	bool ok = true;

	strbuf_clear(&pg->out);
	if (sql == NULL) {
		snprintf(err, errlen, "out of memory, or a result table not as archived");
		return PG_FAIL;
	}
	r = PQexec(conn, sql);
	free(sql);
	if (PQresultStatus(r) != PGRES_COPY_OUT) {
		pg_ok(conn, r, err, errlen);
		PQclear(r);
		return pg_fail_kind(conn);
	}
	PQclear(r);
	/* one flat buffer, handed to libevent whole (an evbuffer_add per record cost more than
	 * the COPY itself), reserved big enough for most pages at once */
	if (!strbuf_reserve(&pg->out, 256 * 1024))
		ok = false;
	/* one data row per call, ending in LF; after a failed append the rest of the COPY is
	 * read (and dropped) */
	while ((n = PQgetCopyData(conn, &row, 0)) > 0) {
		strbuf_add(&pg->out, row, (size_t)n - 1);
		strbuf_add(&pg->out, "\r\n", 2);
		PQfreemem(row);
	}
	if (pg->out.oom) {
		snprintf(err, errlen, "out of memory");
		ok = false;
	}
	if (n == -2) {
		snprintf(err, errlen, "COPY: %s", PQerrorMessage(conn));
		return pg_fail_kind(conn);
	}
	r = PQgetResult(conn);
	if (!pg_ok(conn, r, err, errlen)) {
		PQclear(r);
		return pg_fail_kind(conn);
	}
	PQclear(r);
	while ((r = PQgetResult(conn)) != NULL)
		PQclear(r);
	return ok ? PG_OK : PG_FAIL;
}

static void free_buf(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)data);
}

static void page_done(enum PgResult res, const char *err, void *arg)
{
	Page *pg = arg;
	Export *x = pg->x;

	x->busy--;
	pg->done = true;
	if (res != PG_OK && !x->gone && !x->failed) {
		/* the headers are gone: a cut-off reply is the only way left to say it failed */
		log_warn("CSV export: page query failed: %s", err);
		x->failed = true;
	}
	pump(x);
}

/* Queues the page at (x->cur, x->after) and moves them on; false (x->failed set) when it
 * could not. */
static bool fetch(Export *x)
{
	Page *pg = calloc(1, sizeof(*pg));

	if (pg == NULL) {
		log_warn("CSV export: out of memory");
		x->failed = true;
		return false;
	}
	pg->x = x;
	pg->name = pgq_val(x->execs, x->cur, 1);
	pg->inst = pgq_val(x->execs, x->cur, 2);
	pg->table = PQgetvalue(x->execs, x->cur, 4);
	pg->columns = PQgetvalue(x->execs, x->cur, 5);
	pg->after = x->after;
	if (!pgpool_submit(x->api->pg, page_work, page_done, pg, API_PG_RETRY_MS)) {
		page_free(pg);
		log_warn("CSV export: cannot queue a page query");
		x->failed = true;
		return false;
	}
	x->busy++;
	if (x->tail != NULL)
		x->tail->next = pg;
	else
		x->head = pg;
	x->tail = pg;
	x->after += PAGE_ROWS;
	return true;
}

static void drained(void *arg)
{
	Export *x = arg;

	x->sending = false;
	pump(x);
}

/* The pages still to queue: moves (cur, after) past executions with no rows left. */
static bool more_pages(Export *x)
{
	while (x->cur < PQntuples(x->execs) &&
	       x->after >= strtol(PQgetvalue(x->execs, x->cur, 3), NULL, 10)) {
		x->cur++;
		x->after = 0;
	}
	return x->cur < PQntuples(x->execs);
}

/* Moves the export on: ends it once gone or failed and no job is left; sends the first
 * page once it is fetched and the socket took the one before; keeps PAGES_AHEAD pages
 * queued; ends the reply after the last. */
static void pump(Export *x)
{
	int queued = 0;

	if (x->gone || x->failed) {
		if (x->busy == 0)
			finish(x, x->failed && !x->gone);
		return;
	}
	while (!x->sending && x->head != NULL && x->head->done) {
		Page *pg = x->head;
		struct evbuffer *b;
		bool ok = true;

		if ((x->head = pg->next) == NULL)
			x->tail = NULL;
		if (pg->out.len > 0) {
			/* the buffer goes to libevent by reference, freed once written; a page with
			 * rows is never empty, so drained() comes later, from the loop */
			b = evbuffer_new();
			ok = b != NULL && evbuffer_add_reference(b, pg->out.data, pg->out.len,
								 free_buf, NULL) == 0;
			if (ok) {
				strbuf_init(&pg->out); /* libevent's now */
				x->sending = true;
				if (!stream_send(x->s, b, drained))
					x->gone = true;
			} else {
				log_error("CSV export: out of memory");
				x->failed = true;
			}
			if (b != NULL)
				evbuffer_free(b);
		}
		page_free(pg);
		if (x->gone || x->failed) {
			pump(x);
			return;
		}
	}
	for (Page *pg = x->head; pg != NULL; pg = pg->next)
		queued++;
	while (queued < PAGES_AHEAD && more_pages(x)) {
		if (!fetch(x)) {
			pump(x);
			return;
		}
		queued++;
	}
	if (x->head == NULL && !x->sending && !more_pages(x))
		finish(x, false);
}

/* "batch_x-<slug of the workflow name>.csv": lower-case letters and digits, runs of
 * anything else as one '-'. */
static void file_name(const char *batch_id, const char *wf, char *out, size_t n)
{
	char slug[SLUG_MAX + 1];
	size_t k = 0;

	for (const char *p = wf != NULL ? wf : ""; *p != '\0' && k < SLUG_MAX; p++) {
		unsigned char c = (unsigned char)*p;

		if (isalnum(c) && c < 128)
			slug[k++] = (char)tolower(c);
		else if (k > 0 && slug[k - 1] != '-')
			slug[k++] = '-';
	}
	while (k > 0 && slug[k - 1] == '-')
		k--;
	slug[k] = '\0';
	snprintf(out, n, "%s%s%s.csv", batch_id, k > 0 ? "-" : "", slug);
}

/* The header line (written by csvw.c, as COPY writes the rows) and the source column names
 * (a JSON array of strings, caller's), from result_columns. */
static bool columns(const PGresult *res, struct evbuffer *head, json_t **names)
{
	json_t *cols =
		PQntuples(res) == 1 ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : json_array();
	StrBuf line = STRBUF_INIT;
	bool ok = cols != NULL && (*names = json_array()) != NULL;
	size_t i;
	json_t *c;

	strbuf_adds(&line, "_instance_name,_instance_id");
	json_array_foreach (cols, i, c) {
		const char *name = json_string_value(json_object_get(c, "name"));

		if (!ok || name == NULL)
			continue;
		strbuf_add(&line, ",", 1);
		csvw_field(&line, name, strlen(name));
		ok = json_array_append_new(*names, json_string(name)) == 0;
	}
	strbuf_adds(&line, CSVW_CRLF);
	ok = ok && !line.oom && evbuffer_add(head, line.data, line.len) == 0;
	strbuf_cleanup(&line);
	json_decref(cols);
	return ok;
}

static void start_done(Pgq *q, void *arg)
{
	Req *r = arg;
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	struct evbuffer *head = NULL;
	char fname[128], disp[200];
	Export *x;

	if (!q->ok) {
		pgq_fail(r, q);
		goto out;
	}
	if (PQntuples(q->res[0]) != 1) {
		req_fail(r, 404, "batch_not_found", NULL, "batch %s not found", r->segs[2]);
		goto out;
	}
	x = calloc(1, sizeof(*x));
	head = evbuffer_new();
	if (x == NULL || head == NULL || !columns(q->res[2], head, &x->cols)) {
		if (x != NULL)
			json_decref(x->cols);
		free(x);
		req_fail(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	x->api = r->api;
	x->execs = q->res[1]; /* the export owns it from here */
	q->res[1] = NULL;
	file_name(PQgetvalue(q->res[0], 0, 0), pgq_val(q->res[0], 0, 1), fname, sizeof(fname));
	snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", fname);
	evhttp_add_header(h, "Content-Type", "text/csv; charset=utf-8");
	evhttp_add_header(h, "Content-Disposition", disp);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Amcbatch-Missing-Instances", PQgetvalue(q->res[3], 0, 0));
	x->s = stream_start(r, 200, on_gone, x);
	if (x->s == NULL) {
		PQclear(x->execs);
		json_decref(x->cols);
		free(x);
		goto out;
	}
	x->sending = true; /* the header line: never empty, so drained() comes later */
	if (!stream_send(x->s, head, drained))
		x->gone = true;
	pump(x);
out:
	if (head != NULL)
		evbuffer_free(head);
	pgq_free(q);
}

void export_get(Req *r)
{
	const char *p[] = { r->segs[2], r->user_id, r->is_admin ? "true" : "false" };
	bool retries;
	Pgq *q;

	if (!ids_is_batch(r->segs[2])) {
		req_fail(r, 404, "batch_not_found", NULL, "batch not found");
		return;
	}
	if (!req_query_bool(r, "include_retries", false, &retries))
		return;
	q = pgq_new();
	if (q == NULL || !pgq_add(q, sql_batch, 3, p) || !pgq_add(q, sql_execs[retries], 3, p) ||
	    !pgq_add(q, pgq_sql_result_columns[retries], 3, p) ||
	    !pgq_add(q, sql_missing[retries], 3, p) || !pgq_run(r->api->pg, q, start_done, r)) {
		pgq_free(q);
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
	}
}
