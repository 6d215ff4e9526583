/* routes_compare.c - GET /workflows/batch/{b}/compare?metric=&by=&against=&include_retries=:
 * the portfolio comparison. One numeric result column summed per instance, side by side with
 * its share of the total, its rank and whether it is an outlier (compare.c); optionally broken
 * down by a dimension column (by=), and set against another batch of the same user (against=,
 * e.g. the previous run of a schedule: this week against last week). Instances that are not in
 * the numbers are listed with why (missing_instances) or flagged (no_rows). */
#include "routes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "pgq.h"

#define NAME_MAX_LEN 128 /* a result column's name (AMC's are far shorter) */
#define GROUPS_MAX 50    /* largest groups shown with by=; the rest are counted */

static const char sql_batch[] = "SELECT b.batch_id FROM batch_executions b WHERE b.batch_id = $1"
				"   AND ($3::boolean OR b.user_id = $2::uuid)";
/* $4 metric, $5 by (NULL: none). One row per execution (and group): the instance, its status
 * and error, the group, the sum of the metric's numeric values and the rows counted, summed
 * from the execution's typed table by amcbatch_result_sums() (sql/018) on its own columns
 * (one not in an execution's table: that instance has no value, as through result_rows) */
#define SQL_VALUES(cte) \
	cte "SELECT ex.target_instance_id, i.instance_name, ex.status, ex.error_message," \
	    "       s.grp, s.total, coalesce(s.n, 0)" \
	    "  FROM ex LEFT JOIN instances i ON i.id = ex.target_instance_id" \
	    "  LEFT JOIN LATERAL amcbatch_result_sums(" \
	    "       CASE WHEN ex.status = 'completed' THEN to_regclass(ex.result_table) END," \
	    "       ex.result_columns, $4::text, $5::text) s ON true" \
	    " ORDER BY ex.ord, ex.execution_id, s.grp"
static const char *const sql_values[2] = { SQL_VALUES(PGQ_BATCH_EXECS_CTE),
					   SQL_VALUES(PGQ_BATCH_EXECS_RETRIES_CTE) };

/* r->ctx: the request's parameters, read again when the rows come back */
typedef struct Compare {
	bool retries, against;
} Compare;

/* Whether name is a column of result_columns (a JSON array text), and of type number. */
static bool column(const char *cols_text, const char *name, bool *numeric)
{
	json_t *cols = cols_text != NULL ? json_loads(cols_text, 0, NULL) : NULL, *c;
	size_t i;
	bool found = false;

	json_array_foreach (cols, i, c) {
		const char *n = json_string_value(json_object_get(c, "name"));

		const char *t = json_string_value(json_object_get(c, "type"));

		if (n != NULL && strcmp(n, name) == 0) {
			found = true;
			*numeric = t != NULL && strcmp(t, "number") == 0;
		}
	}
	json_decref(cols);
	return found;
}

static json_t *num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

/* The ranked items as JSON objects, in the rows' order. ids/names point into the result. */
static json_t *ranked(const CompareItem *it, const char *const *ids, const char *const *names,
		      size_t n)
{
	static const char *const outlier[] = { NULL, "low", "high" };
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++) {
		json_t *o = json_pack(
			"{s:s?,s:s?,s:o,s:o,s:o,s:s?}", "instance_id", ids[i], "instance_name",
			names[i], "value", it[i].has_value ? num(it[i].value) : json_null(),
			"share", it[i].has_value ? num(it[i].share) : json_null(), "rank",
			it[i].has_value ? json_integer((json_int_t)it[i].rank) : json_null(),
			"outlier", outlier[it[i].outlier]);

		if (json_array_append_new(a, o) != 0) {
			json_decref(a);
			a = NULL;
		}
	}
	return a;
}

static json_t *stats_json(const CompareStats *st)
{
	return json_pack("{s:o,s:I,s:o,s:o,s:o,s:o,s:o}", "total", num(st->total), "counted",
			 (json_int_t)st->counted, "q1", num(st->q1), "median", num(st->median),
			 "q3", num(st->q3), "low_fence", num(st->low_fence), "high_fence",
			 num(st->high_fence));
}

/* Per instance (rows of one instance are adjacent: ORDER BY ex.ord), the metric summed over
 * every group: the instances array with rank, share and outlier; missing and no_rows lists
 * filled as it goes. NULL on OOM. */
static json_t *instances(const PGresult *res, json_t *missing, CompareStats *st)
{
	int n = PQntuples(res);
	CompareItem *it = calloc((size_t)n + 1, sizeof(*it));
	const char **ids = calloc((size_t)n + 1, sizeof(*ids)),
		   **names = calloc((size_t)n + 1, sizeof(*names));
	size_t k = 0;
	json_t *out = NULL;

	if (it == NULL || ids == NULL || names == NULL)
		goto done;
	for (int row = 0; row < n; row++) {
		const char *id = pgq_val(res, row, 0);

		if (k == 0 || ids[k - 1] == NULL || id == NULL || strcmp(ids[k - 1], id) != 0) {
			ids[k] = id;
			names[k] = pgq_val(res, row, 1);
			if (strcmp(PQgetvalue(res, row, 2), "completed") != 0 &&
			    json_array_append_new(missing,
						  json_pack("{s:s?,s:s?,s:s,s:s?}", "instance_id",
							    id, "instance_name", names[k], "status",
							    PQgetvalue(res, row, 2), "error",
							    pgq_val(res, row, 3))) != 0)
				goto done;
			k++;
		}
		if (!PQgetisnull(res, row, 5)) {
			it[k - 1].has_value = true;
			it[k - 1].value += strtod(PQgetvalue(res, row, 5), NULL);
		}
	}
	if (compare_rank(it, k, st))
		out = ranked(it, ids, names, k);
done:
	free(it);
	free(ids);
	free(names);
	return out;
}

/* The groups of by=: per group value, its instances ranked among themselves; the largest
 * GROUPS_MAX groups by total. NULL on OOM. */
static json_t *groups(const PGresult *res, bool *truncated)
{
	int n = PQntuples(res);
	json_t *byname = json_object(), *out = json_array(), *g;
	const char *key;
	void *tmp;

	*truncated = false;
	if (byname == NULL || out == NULL)
		goto fail;
	for (int row = 0; row < n; row++) {
		const char *grp = pgq_val(res, row, 4);
		json_t *l;

		if (grp == NULL || PQgetisnull(res, row, 5))
			continue; /* an instance without rows has no group */
		if ((l = json_object_get(byname, grp)) == NULL &&
		    (json_object_set_new(byname, grp, json_array()) != 0 ||
		     (l = json_object_get(byname, grp)) == NULL))
			goto fail;
		if (json_array_append_new(l, json_integer(row)) != 0)
			goto fail;
	}
	json_object_foreach_safe (byname, tmp, key, g) {
		size_t m = json_array_size(g), i;
		CompareItem *it = calloc(m + 1, sizeof(*it));
		const char **ids = calloc(m + 1, sizeof(*ids)),
			   **names = calloc(m + 1, sizeof(*names));
		CompareStats st;
		json_t *row, *ranks = NULL;
		bool ok = it != NULL && ids != NULL && names != NULL;

		json_array_foreach (g, i, row) {
			int r = (int)json_integer_value(row);

			if (!ok)
				break;
			ids[i] = pgq_val(res, r, 0);
			names[i] = pgq_val(res, r, 1);
			it[i].has_value = true;
			it[i].value = strtod(PQgetvalue(res, r, 5), NULL);
		}
		ok = ok && compare_rank(it, m, &st) &&
		     (ranks = ranked(it, ids, names, m)) != NULL &&
		     json_array_append_new(out, json_pack("{s:s,s:o,s:o}", "key", key, "total",
							  num(st.total), "instances", ranks)) == 0;
		free(it);
		free(ids);
		free(names);
		if (!ok)
			goto fail;
	}
	json_decref(byname);
	/* largest total first; the tail beyond GROUPS_MAX is dropped */
	{
		size_t m = json_array_size(out);

		for (size_t i = 1; i < m; i++)
			for (size_t j = i; j > 0; j--) {
				double a = json_number_value(
					json_object_get(json_array_get(out, j - 1), "total"));
				double b = json_number_value(
					json_object_get(json_array_get(out, j), "total"));
				json_t *x;

				if (a >= b)
					break;
				x = json_incref(json_array_get(out, j - 1));
				json_array_set(out, j - 1, json_array_get(out, j));
				json_array_set_new(out, j, x);
			}
		while (json_array_size(out) > GROUPS_MAX) {
			*truncated = true;
			json_array_remove(out, GROUPS_MAX);
		}
	}
	return out;
fail:
	json_decref(byname);
	json_decref(out);
	return NULL;
}

/* Adds previous, change and change_ratio to each instance from the against batch's values. */
static void against(json_t *items, const PGresult *prev)
{
	json_t *o;
	size_t i;

	json_array_foreach (items, i, o) {
		const char *id = json_string_value(json_object_get(o, "instance_id"));
		double p = 0, v = json_number_value(json_object_get(o, "value"));
		bool has = false;

		for (int row = 0; id != NULL && row < PQntuples(prev); row++)
			if (!PQgetisnull(prev, row, 5) &&
			    strcmp(PQgetvalue(prev, row, 0), id) == 0) {
				p += strtod(PQgetvalue(prev, row, 5), NULL);
				has = true;
			}
		json_object_set_new(o, "previous", has ? num(p) : json_null());
		json_object_set_new(o, "change",
				    has && !json_is_null(json_object_get(o, "value"))
					    ? num(v - p)
					    : json_null());
		json_object_set_new(o, "change_ratio",
				    has && p != 0 && !json_is_null(json_object_get(o, "value"))
					    ? num((v - p) / fabs(p))
					    : json_null());
	}
}

static void compare_done(Pgq *q, void *priv)
{
	Req *r = priv;
	const Compare *c = r->ctx;
	const char *metric = req_query(r, "metric"), *by = req_query(r, "by");
	const char *cols = NULL;
	json_t *missing = NULL, *items = NULL, *grp = NULL, *body;
	CompareStats st;
	bool numeric = false, truncated = false;

	if (!q->ok) {
		pgq_fail(r, q);
		goto out;
	}
	if (PQntuples(q->res[0]) != 1) {
		req_fail(r, 404, "batch_not_found", NULL, "batch %s not found", r->segs[2]);
		goto out;
	}
	if (c->against && PQntuples(q->res[3]) != 1) {
		req_fail(r, 404, "batch_not_found", "against", "batch %s not found",
			 req_query(r, "against"));
		goto out;
	}
	cols = PQntuples(q->res[1]) == 1 ? pgq_val(q->res[1], 0, 0) : NULL;
	if (cols == NULL) {
		req_fail(r, 409, "no_results", NULL,
			 "the batch has no archived results to compare yet");
		goto out;
	}
	if (!column(cols, metric, &numeric) || !numeric) {
		req_fail(r, 422, "invalid_value", "metric",
			 "metric must name a numeric result column of the batch");
		goto out;
	}
	if (by != NULL && !column(cols, by, &numeric)) {
		req_fail(r, 422, "invalid_value", "by",
			 "by must name a result column of the batch");
		goto out;
	}
	if ((missing = json_array()) == NULL ||
	    (items = instances(q->res[2], missing, &st)) == NULL ||
	    (by != NULL && (grp = groups(q->res[2], &truncated)) == NULL)) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	if (c->against)
		against(items, q->res[4]);
	body = json_pack("{s:s,s:s,s:s?,s:s?,s:o,s:O,s:O,s:o*}", "batch_id", r->segs[2], "metric",
			 metric, "by", by, "against", c->against ? req_query(r, "against") : NULL,
			 "stats", stats_json(&st), "instances", items, "missing_instances", missing,
			 "groups", grp);
	if (body != NULL && by != NULL)
		json_object_set_new(body, "groups_truncated", json_boolean(truncated));
	grp = NULL; /* json_pack took it (o*) */
	if (body == NULL)
		req_fail(r, 500, "internal", NULL, "out of memory");
	else
		req_success(r, 200, json_pack("{s:o}", "compare", body));
out:
	json_decref(missing);
	json_decref(items);
	json_decref(grp);
	pgq_free(q);
}

void routes_compare_get(Req *r)
{
	const char *metric = req_query(r, "metric"), *by = req_query(r, "by"),
		   *ag = req_query(r, "against");
	Compare *c;
	Pgq *q;

	if (!ids_is_batch(r->segs[2])) {
		req_fail(r, 404, "batch_not_found", NULL, "batch not found");
		return;
	}
	if (metric == NULL || metric[0] == '\0') {
		req_fail(r, 400, "missing_field", "metric",
			 "metric is required (a numeric result column)");
		return;
	}
	if (strlen(metric) > NAME_MAX_LEN ||
	    (by != NULL && (by[0] == '\0' || strlen(by) > NAME_MAX_LEN))) {
		req_fail(r, 422, "invalid_value", strlen(metric) > NAME_MAX_LEN ? "metric" : "by",
			 "a column name has 1 to %d bytes", NAME_MAX_LEN);
		return;
	}
	if (ag != NULL && !ids_is_batch(ag)) {
		req_fail(r, 404, "batch_not_found", "against", "batch not found");
		return;
	}
	if ((c = req_ctx_new(r, sizeof(*c))) == NULL)
		return;
	c->against = ag != NULL;
	if (!req_query_bool(r, "include_retries", false, &c->retries))
		return;
	{
		const char *admin = r->is_admin ? "true" : "false";
		const char *p[] = { r->segs[2], r->user_id, admin, metric, by };
		const char *pa[] = { ag, r->user_id, admin, metric, by };

		q = pgq_new();
		if (q == NULL || !pgq_add(q, sql_batch, 3, p) ||
		    !pgq_add(q, pgq_sql_result_columns[c->retries], 3, p) ||
		    !pgq_add(q, sql_values[c->retries], 5, p) ||
		    (c->against && (!pgq_add(q, sql_batch, 3, pa) ||
				    !pgq_add(q, sql_values[c->retries], 5, pa))) ||
		    !pgq_run(r->api->pg, q, compare_done, r)) {
			pgq_free(q);
			req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
		}
	}
}
