/* ledger.c - GET /sim/executions?after=<seq>&limit=<n>&sql=true&csv=true. Pages through
 * every stored execution of every instance, oldest first (docs/amcsim.md). It does not pass
 * the fault gate and is not counted in /sim/stats: it is the checker's view, not a client's. */
#include "ledger.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/keyvalq_struct.h>

#include "httpd.h"
#include "marker.h"

#define LEDGER_LIMIT_DEFAULT 1000
#define LEDGER_LIMIT_MAX 10000

static void error(struct evhttp_request *req, int status, const char *details)
{
	char code[8];

	snprintf(code, sizeof(code), "%d", status);
	httpd_reply_json(req, status, json_pack("{s:s, s:s}", "code", code, "details", details));
}

static bool flag(struct evkeyvalq *q, const char *name)
{
	const char *v = evhttp_find_header(q, name);

	return v != NULL && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

/* a decimal number in [min, max]; dflt when absent; false when malformed */
static bool number(struct evkeyvalq *q, const char *name, unsigned long long dflt,
		   unsigned long long min, unsigned long long max, unsigned long long *out)
{
	const char *v = evhttp_find_header(q, name);
	char *end;

	*out = dflt;
	if (v == NULL)
		return true;
	if (!*v || *v == '-')
		return false;
	*out = strtoull(v, &end, 10);
	return !*end && *out >= min && *out <= max;
}

static json_t *ms_or_null(int64_t ms)
{
	return ms ? json_integer(ms) : json_null();
}

static json_t *entry(const Exec *e, bool sql, bool csv)
{
	char buf[SIMTIME_LEN];
	Marker m;
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "seq", json_integer((json_int_t)e->seq));
	json_object_set_new(o, "instanceId", json_string(e->instance_id));
	json_object_set_new(o, "workflowExecutionId", json_string(e->id));
	json_object_set_new(o, "account", json_string(executions_account(e)));
	json_object_set_new(o, "status", json_string(exec_status_name[e->status]));
	if (e->status == EXEC_FAILED)
		json_object_set_new(o, "statusReason",
				    json_string(e->reason != NULL ? e->reason : "Failed"));
	json_object_set_new(o, "createTime", json_string(simtime_fmt_utc(e->create_ms, buf)));
	json_object_set_new(o, "createMs", json_integer(e->create_ms));
	json_object_set_new(o, "endMs", ms_or_null(e->end_ms));
	if (marker_parse(e->sql, &m))
		json_object_set_new(
			o, "marker",
			json_pack("{s:s, s:s}", "batchId", m.batch_id, "execId", m.exec_id));
	else
		json_object_set_new(o, "marker", json_null());
	json_object_set_new(o, "rows",
			    e->status == EXEC_SUCCEEDED ? json_integer(e->rows) : json_null());
	json_object_set_new(o, "cancelRequests", json_integer(e->cancel_requests));
	json_object_set_new(o, "firstCancelMs", ms_or_null(e->cancel_ms));
	if (sql)
		json_object_set_new(o, "sqlQuery", json_string(e->sql));
	if (csv && e->status == EXEC_SUCCEEDED)
		json_object_set_new(o, "csv",
				    json_stringn(e->csv != NULL ? e->csv : "",
						 e->csv != NULL ? e->csv_len : 0));
	return o;
}

void ledger_handle(Sim *sim, struct evhttp_request *req)
{
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	unsigned long long after, limit;
	struct evkeyvalq q;
	Exec **page = NULL;
	json_t *arr = NULL, *o;
	bool more = false;
	size_t n;

	TAILQ_INIT(&q);
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		error(req, 405, "use GET");
		goto out;
	}
	if (query != NULL && evhttp_parse_query_str(query, &q) != 0) {
		error(req, 400, "malformed query string");
		goto out;
	}
	if (!number(&q, "after", 0, 0, UINT64_MAX, &after) ||
	    !number(&q, "limit", LEDGER_LIMIT_DEFAULT, 1, LEDGER_LIMIT_MAX, &limit)) {
		error(req, 400, "after must be a sequence number, limit 1 to 10000");
		goto out;
	}
	if ((page = malloc(limit * sizeof(*page))) == NULL || (arr = json_array()) == NULL) {
		error(req, 500, "out of memory");
		goto out;
	}
	n = executions_page(sim->execs, after, page, limit, &more);
	for (size_t i = 0; i < n; i++) {
		if (json_array_append_new(arr, entry(page[i], flag(&q, "sql"), flag(&q, "csv"))) !=
		    0) {
			error(req, 500, "out of memory");
			goto out;
		}
	}
	o = json_pack("{s:o, s:o, s:I}", "executions", arr, "next",
		      more ? json_integer((json_int_t)page[n - 1]->seq) : json_null(), "lastSeq",
		      (json_int_t)executions_last_seq(sim->execs));
	arr = NULL; /* json_pack's "o" took it, even on failure */
	if (o == NULL)
		error(req, 500, "out of memory");
	else
		httpd_reply_json(req, 200, o);
out:
	json_decref(arr);
	free(page);
	evhttp_clear_headers(&q);
}
