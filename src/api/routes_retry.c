/* routes_retry.c - POST /workflows/batch/{batch_id}/retry-failed: a new batch over the failed
 * (and, when asked, cancelled) instances of a finished batch, running exactly what they ran:
 * the same SQL, each instance's merged parameters and the AMC window resolved for the
 * original (not resolved again: a retry of last week's report queries last week). The new
 * batch names the original (parent_batch_id) and the original lists it (retries). From the
 * loaded rows on it goes through the submit pipeline of every batch (submit.h). */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "log.h"
#include "pgq.h"
#include "policy.h"
#include "states.h"
#include "submit.h"
#include "utf8.h"

/* $1 batch id, $2 user id, $3 is admin */
static const char sql_parent[] =
	"SELECT b.id, b.workflow_id, b.name, b.description, b.status, b.sql_query,"
	"       b.base_parameters::text, b.instance_parameters::text, b.time_window::text,"
	"       b.on_failure, " POLICY_SQL_RATIO(
		"b") ""
		     "  FROM batch_executions b WHERE b.batch_id = $1 AND ($3::boolean OR b.user_id = $2::uuid)";
/* The executions to run again ($4: the statuses), in the original's instance order, in the
 * layout submit_rate_then_store takes (the zone is the one the window was resolved in), then
 * 9 the merged parameters, 10 and 11 the AMC window. The grant is checked again: access may
 * have been revoked, or the instance disabled, since. */
static const char sql_execs[] =
	"SELECT i.id, i.instance_id, i.instance_name, i.region,"
	"       coalesce(e.time_window_timezone, i.timezone), a.id, a.advertiser_id, a.marketplace_id,"
	"       (i.disabled_at IS NULL AND ($3::boolean OR EXISTS (SELECT 1 FROM instance_access g"
	"          WHERE g.instance_id = i.id AND g.user_id = $2::uuid)))," /* sql/014 */
	"       e.parameters::text, coalesce(e.time_window_start, ''), coalesce(e.time_window_end, '')"
	"  FROM batch_executions b JOIN workflow_executions e ON e.batch_execution_id = b.id"
	"  JOIN instances i ON i.id = e.target_instance_id JOIN amc_accounts a ON a.id = i.account_id"
	" WHERE b.batch_id = $1 AND ($3::boolean OR b.user_id = $2::uuid) AND e.is_batch_member"
	"   AND e.status = ANY($4::text[])"
	" ORDER BY (SELECT t.ord FROM jsonb_array_elements_text(b.instance_ids)"
	"           WITH ORDINALITY AS t(v, ord) WHERE t.v = e.target_instance_id::text)";

/* The original's stored body members, for the new batch's record: its base parameters, and
 * its overrides of the instances run again. The executions carry the merged values. */
static bool take_params(Execute *x, const PGresult *parent)
{
	json_t *over = json_loads(PQgetvalue(parent, 0, 7), 0, NULL), *o;
	size_t i;
	json_t *id;

	x->in.params = json_loads(PQgetvalue(parent, 0, 6), 0, NULL);
	x->in.overrides = json_object();
	if (!json_is_object(x->in.params)) {
		json_decref(x->in.params);
		x->in.params = json_object();
	}
	json_array_foreach (x->in.instance_ids, i, id) {
		o = json_object_get(over, json_string_value(id));
		if (json_is_object(o) && x->in.overrides != NULL &&
		    json_object_set(x->in.overrides, json_string_value(id), o) != 0) {
			json_decref(over);
			return false;
		}
	}
	json_decref(over);
	return x->in.params != NULL && x->in.overrides != NULL;
}

static void load_done(Pgq *q, void *priv)
{
	Req *r = priv;
	Execute *x = r->ctx;
	const PGresult *parent = q->res[0];
	PGresult *inst = q->res[1];
	char denied[1024] = "", name[256];
	int n;
	WindowErr we;
	json_t *w;

	if (!submit_load_ok(r, q, 2))
		goto out;
	if (PQntuples(parent) != 1) {
		req_fail(r, 404, "batch_not_found", NULL, "batch %s not found", r->segs[2]);
		goto out;
	}
	if (!batch_state_name_is_final(PQgetvalue(parent, 0, 4))) {
		req_fail(r, 409, "batch_not_finished", NULL,
			 "batch %s is %s: retry its failed instances once it has finished",
			 r->segs[2], PQgetvalue(parent, 0, 4));
		goto out;
	}
	n = PQntuples(inst);
	if (n == 0) {
		req_fail(r, 409, "nothing_to_retry", NULL, "batch %s has no %s instance",
			 r->segs[2],
			 json_is_true(json_object_get(r->body, "include_cancelled"))
				 ? "failed or cancelled"
				 : "failed");
		goto out;
	}
	for (int k = 0; k < n; k++)
		if (PQgetvalue(inst, k, 8)[0] != 't' &&
		    strlen(denied) + IDS_UUID_LEN + 3 < sizeof(denied))
			snprintf(denied + strlen(denied), sizeof(denied) - strlen(denied), "%s%s",
				 denied[0] ? ", " : "", PQgetvalue(inst, k, 0));
	if (denied[0] != '\0') {
		req_fail(r, 403, "instance_access_denied", "instance_ids",
			 "no access to instances: %s", denied);
		goto out;
	}
	if ((x->in.instance_ids = json_array()) == NULL || (x->merged = json_array()) == NULL ||
	    (x->windows = calloc((size_t)n, sizeof(*x->windows))) == NULL)
		goto oom;
	for (int k = 0; k < n; k++) {
		json_t *m = json_loads(PQgetvalue(inst, k, 9), 0, NULL);
		bool date_only;

		if (json_array_append_new(x->in.instance_ids,
					  json_string(PQgetvalue(inst, k, 0))) != 0 ||
		    m == NULL || json_array_append_new(x->merged, m) != 0)
			goto oom;
		/* a batch stored before windows were: the worker computes it, as for the original */
		if (!params_parse_ts(PQgetvalue(inst, k, 10), x->windows[k].start, &date_only) ||
		    !params_parse_ts(PQgetvalue(inst, k, 11), x->windows[k].end, &date_only))
			x->windows[k].start[0] = x->windows[k].end[0] = '\0';
	}
	if (!take_params(x, parent))
		goto oom;
	/* the relative window the original asked for, shown by the retry too (its days are
	 * the original's, copied above) */
	w = json_loads(PQgetvalue(parent, 0, 8), 0, NULL);
	x->in.has_window = w != NULL && window_parse(w, 0, &x->in.window, &we);
	json_decref(w);
	/* the original's failure policy, as it was stored (continue for older batches) */
	for (int k = 0; k < POLICY_COUNT; k++)
		if (strcmp(PQgetvalue(parent, 0, 9), policy_name[k]) == 0)
			x->in.on_failure = (BatchPolicy)k;
	snprintf(x->in.min_ratio, sizeof(x->in.min_ratio), "%s", PQgetvalue(parent, 0, 10));
	if (x->in.on_failure != POLICY_MIN_SUCCESS_RATIO)
		x->in.min_ratio[0] = '\0';
	snprintf(x->workflow_id, sizeof(x->workflow_id), "%s", PQgetvalue(parent, 0, 1));
	snprintf(x->parent_uuid, sizeof(x->parent_uuid), "%s", PQgetvalue(parent, 0, 0));
	if ((x->sql_query = strdup(PQgetvalue(parent, 0, 5))) == NULL)
		goto oom;
	/* "Retry of <name>" (cut so the whole fits the name limit), unless the body names it */
	if (x->in.name == NULL) {
		utf8_copy(name, VALIDATE_NAME_MAX - 9 + 1,
			  PQgetvalue(parent, 0, 2)[0] ? PQgetvalue(parent, 0, 2) : r->segs[2]);
		if ((x->own_name = malloc(strlen(name) + 10)) == NULL)
			goto oom;
		sprintf(x->own_name, "Retry of %s", name);
		x->in.name = x->own_name;
	}
	if (!PQgetisnull(parent, 0, 3)) {
		if ((x->own_description = strdup(PQgetvalue(parent, 0, 3))) == NULL)
			goto oom;
		x->in.description = x->own_description;
	}
	q->res[1] = NULL; /* submit_rate_then_store owns the instance rows now */
	submit_rate_then_store(r, inst);
	goto out;
oom:
	req_fail(r, 500, "internal", NULL, "out of memory");
out:
	pgq_free(q);
}

void routes_retry_failed_post(Req *r)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	const json_t *inc;
	Execute *x;
	Pgq *q;
	const char *p[4];

	if (!ids_is_batch(r->segs[2])) {
		req_fail(r, 404, "batch_not_found", NULL, "batch not found");
		return;
	}
	if ((x = submit_new(r)) == NULL)
		return;
	/* the body is optional: {"include_cancelled": bool, "name": string} (fields.c) */
	if (in != NULL && evbuffer_get_length(in) > 0) {
		if (!req_parse_body(r))
			return;
	} else if ((r->body = json_object()) == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		return;
	}
	inc = json_object_get(r->body, "include_cancelled");
	if (inc != NULL && !json_is_null(inc) && !json_is_boolean(inc)) {
		req_fail(r, 400, "invalid_type", "include_cancelled",
			 "include_cancelled must be a boolean");
		return;
	}
	if (!req_opt_string(r, "name", VALIDATE_NAME_MAX, &x->in.name))
		return;
	/* the key covers this batch and this body, never a batch-execute's */
	if (!submit_idem_prepare(r, x, r->segs[2]) || !submit_redis_ready(r))
		return;
	p[0] = r->segs[2];
	p[1] = r->user_id;
	p[2] = r->is_admin ? "true" : "false";
	p[3] = json_is_true(inc) ? "{failed,cancelled}" : "{failed}";
	if ((q = pgq_new()) == NULL || !pgq_add(q, sql_parent, 3, p) ||
	    !pgq_add(q, sql_execs, 4, p) ||
	    (x->idem_key[0] != '\0' &&
	     !pgq_add(q, submit_sql_idem_get, 2, (const char *[]){ r->user_id, x->idem_key }))) {
		pgq_free(q);
		req_fail(r, 500, "internal", NULL, "out of memory");
		return;
	}
	if (!pgq_run(r->api->pg, q, load_done, r)) {
		pgq_free(q);
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
	}
}
