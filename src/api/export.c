/* export.c - GET /workflows/batch/{b}/results.csv: the rows of the results endpoint as RFC
 * 4180 CSV, streamed with chunked encoding. Rows come from PostgreSQL one page per pgpool
 * job (keyset on the row number) and the next page is only fetched once the previous chunk
 * has reached the socket, so memory stays flat whatever the size of the export. */
#include "web.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "log.h"
#include "pgq.h"
#include "stream.h"

#define PAGE_ROWS 2000
#define SLUG_MAX 60

/* $1 batch id, $2 user id, $3 is admin (the owner rule and order of PGQ_BATCH_EXECS_CTE) */
static const char sql_batch[] =
	"SELECT b.batch_id, w.name FROM batch_executions b LEFT JOIN workflows w ON w.id = b.workflow_id"
	" WHERE b.batch_id = $1 AND ($3::boolean OR b.user_id = $2::uuid)";
#define SQL_EXECS(cte) \
	cte \
	"SELECT ex.id, i.instance_name, ex.target_instance_id FROM ex" \
	"  LEFT JOIN instances i ON i.id = ex.target_instance_id" \
	" WHERE ex.status = 'completed' ORDER BY ex.ord, ex.execution_id"
/* [1]: ?include_retries=true, the latest result per instance across the retries (pgq.h) */
static const char *const sql_execs[2] = { SQL_EXECS(PGQ_BATCH_EXECS_CTE),
					  SQL_EXECS(PGQ_BATCH_EXECS_RETRIES_CTE) };
static const char *const sql_columns[2] = { PGQ_SQL_RESULT_COLUMNS,
					    PGQ_SQL_RESULT_COLUMNS_OF(PGQ_BATCH_EXECS_RETRIES_CTE) };
/* $1 execution uuid, $2 last row number sent, $3 column names text[], $4 page size: one
 * output row per (row, column); a row of a column-less result comes once with o NULL. */
static const char sql_page[] =
	"SELECT r.row_number, u.o, r.row_data->>u.c FROM"
	" (SELECT row_number, row_data FROM result_rows WHERE execution_id = $1::uuid"
	"   AND row_number > $2::integer ORDER BY row_number LIMIT $4::integer) r"
	" LEFT JOIN LATERAL unnest($3::text[]) WITH ORDINALITY AS u(c, o) ON true"
	" ORDER BY r.row_number, u.o";

/* One export; owned by itself, freed by finish(). */
typedef struct Export {
	Api *api;
	Stream *s;
	PGresult *execs;	/* the completed executions, in result order (owned) */
	int cur;		/* index into execs */
	char last_row[16];	/* row number after which the next page starts */
	char *cols;		/* column names as a PostgreSQL text[] literal (owned) */
	bool busy;		/* a page job is outstanding */
	bool gone;		/* the client went away */
} Export;

static void next_page(void *arg);

static void finish(Export *x, bool abort)
{
	stream_end(x->s, abort);
	PQclear(x->execs);
	free(x->cols);
	free(x);
}

static void on_gone(void *arg)
{
	Export *x = arg;

	x->gone = true;
	if (!x->busy)
		finish(x, false);
	/* else page_done finishes it */
}

/* Appends v as one RFC 4180 field: quoted when it holds a comma, quote, CR or LF. */
static bool add_field(struct evbuffer *b, const char *v)
{
	if (v == NULL || *v == '\0')
		return true;
	if (strpbrk(v, ",\"\r\n") == NULL)
		return evbuffer_add(b, v, strlen(v)) == 0;
	if (evbuffer_add(b, "\"", 1) != 0)
		return false;
	for (const char *p = v; *p != '\0';) {
		size_t n = strcspn(p, "\"");

		if (evbuffer_add(b, p, n) != 0)
			return false;
		p += n;
		if (*p == '"') {
			if (evbuffer_add(b, "\"\"", 2) != 0)
				return false;
			p++;
		}
	}
	return evbuffer_add(b, "\"", 1) == 0;
}

/* Appends s to the text[] literal in b, double-quoted with \ and " escaped. */
static bool add_array_elem(struct evbuffer *b, const char *s, bool first)
{
	if ((!first && evbuffer_add(b, ",", 1) != 0) || evbuffer_add(b, "\"", 1) != 0)
		return false;
	for (; *s != '\0'; s++)
		if ((*s == '"' || *s == '\\') && evbuffer_add(b, "\\", 1) != 0)
			return false;
		else if (evbuffer_add(b, s, 1) != 0)
			return false;
	return evbuffer_add(b, "\"", 1) == 0;
}

static char *buffer_string(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);

	if (s != NULL) {
		evbuffer_remove(b, s, n);
		s[n] = '\0';
	}
	return s;
}

static void page_done(Pgq *q, void *arg)
{
	Export *x = arg;
	PGresult *res = q->res[0];
	const char *name = pgq_val(x->execs, x->cur, 1), *inst = pgq_val(x->execs, x->cur, 2);
	struct evbuffer *b = NULL;
	int nrows = 0;
	bool ok = q->ok;

	x->busy = false;
	if (x->gone) {
		finish(x, false);
		goto out;
	}
	if (!ok) {
		/* the headers are gone: a cut-off reply is the only way left to say it failed */
		log_warn("CSV export: page query failed: %s", q->err);
		finish(x, true);
		goto out;
	}
	b = evbuffer_new();
	ok = b != NULL;
	for (int i = 0; ok && i < PQntuples(res); i++) {
		const char *rn = PQgetvalue(res, i, 0);

		if (i == 0 || strcmp(rn, PQgetvalue(res, i - 1, 0)) != 0) {
			if (i > 0)
				ok = evbuffer_add(b, "\r\n", 2) == 0;
			ok = ok && add_field(b, name) && evbuffer_add(b, ",", 1) == 0 &&
			     add_field(b, inst);
			snprintf(x->last_row, sizeof(x->last_row), "%s", rn);
			nrows++;
		}
		if (ok && !PQgetisnull(res, i, 1))
			ok = evbuffer_add(b, ",", 1) == 0 && add_field(b, pgq_val(res, i, 2));
	}
	if (ok && nrows > 0)
		ok = evbuffer_add(b, "\r\n", 2) == 0;
	if (!ok) {
		log_error("CSV export: out of memory");
		finish(x, true);
		goto out;
	}
	if (nrows < PAGE_ROWS) {
		x->cur++;
		snprintf(x->last_row, sizeof(x->last_row), "-2147483648");
	}
	if (nrows == 0)
		next_page(x);
	else if (!stream_send(x->s, b, next_page))
		finish(x, false);
out:
	if (b != NULL)
		evbuffer_free(b);	/* libevent's free does not take NULL */
	pgq_free(q);
}

static void next_page(void *arg)
{
	Export *x = arg;
	char psize[16];
	Pgq *q;

	if (x->cur >= PQntuples(x->execs)) {
		finish(x, false);
		return;
	}
	snprintf(psize, sizeof(psize), "%d", PAGE_ROWS);
	q = pgq_new();
	if (q == NULL ||
	    !pgq_add(q, sql_page, 4, (const char *[]){ PQgetvalue(x->execs, x->cur, 0), x->last_row,
						      x->cols, psize }) ||
	    !pgq_run(x->api->pg, q, page_done, x)) {
		pgq_free(q);
		log_warn("CSV export: cannot queue a page query");
		finish(x, true);
		return;
	}
	x->busy = true;
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

/* The header line and the text[] literal of the column names, from result_columns. */
static bool columns(const PGresult *res, struct evbuffer *head, char **lit)
{
	json_t *cols = PQntuples(res) == 1 ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : json_array();
	struct evbuffer *a = evbuffer_new();
	bool ok = cols != NULL && a != NULL && evbuffer_add(a, "{", 1) == 0 &&
		  evbuffer_add_printf(head, "_instance_name,_instance_id") > 0;
	bool first = true;
	size_t i;
	json_t *c;

	json_array_foreach(cols, i, c) {
		const char *name = json_string_value(json_object_get(c, "name"));

		if (!ok || name == NULL)
			continue;
		ok = evbuffer_add(head, ",", 1) == 0 && add_field(head, name) &&
		     add_array_elem(a, name, first);
		first = false;
	}
	ok = ok && evbuffer_add(head, "\r\n", 2) == 0 && evbuffer_add(a, "}", 1) == 0 &&
	     (*lit = buffer_string(a)) != NULL;
	json_decref(cols);
	if (a != NULL)
		evbuffer_free(a);
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
			free(x->cols);
		free(x);
		req_fail(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	x->api = r->api;
	x->execs = q->res[1];	/* the export owns it from here */
	q->res[1] = NULL;
	snprintf(x->last_row, sizeof(x->last_row), "-2147483648");
	file_name(PQgetvalue(q->res[0], 0, 0), pgq_val(q->res[0], 0, 1), fname, sizeof(fname));
	snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", fname);
	evhttp_add_header(h, "Content-Type", "text/csv; charset=utf-8");
	evhttp_add_header(h, "Content-Disposition", disp);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	x->s = stream_start(r, 200, on_gone, x);
	if (x->s == NULL) {
		PQclear(x->execs);
		free(x->cols);
		free(x);
		goto out;
	}
	if (!stream_send(x->s, head, next_page))
		finish(x, false);
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
	    !pgq_add(q, sql_columns[retries], 3, p) || !pgq_run(r->api->pg, q, start_done, r)) {
		pgq_free(q);
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
	}
}
