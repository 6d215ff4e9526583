/* routes_grants.c - who may use which instance, in bulk: POST /admin/grants grants a user a
 * list of instances or all instances of an account, DELETE revokes the same way, each in one
 * transaction that changes all or nothing and answers what changed; GET /admin/grants lists
 * the grants of a user or of an instance. Single grants stay in routes_admin.c. */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pgq.h"

#define GRANTS_MAX 1000 /* instance ids per request: one bounded array parameter */

/* $1 user, $2 account or NULL, $3 instance ids ({uuid,...}) or NULL: what is unknown */
static const char sql_check[] =
	"SELECT EXISTS (SELECT 1 FROM users WHERE id = $1::uuid),"
	"       ($2::uuid IS NULL OR EXISTS (SELECT 1 FROM amc_accounts WHERE id = $2::uuid)),"
	"       (SELECT coalesce(string_agg(x::text, ', ' ORDER BY x::text), '')"
	"          FROM unnest(coalesce($3::uuid[], '{}')) x"
	"         WHERE NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = x))";
/* The instances aimed at, and the guard that makes a request with an unknown id change
 * nothing (the answer is then the 404 of sql_check). */
#define TARGET_CTE \
	"WITH target AS (SELECT i.id FROM instances i" \
	"   WHERE i.id = ANY(coalesce($3::uuid[], '{}')) OR i.account_id = $2::uuid)," \
	" ok AS (SELECT 1 WHERE EXISTS (SELECT 1 FROM users WHERE id = $1::uuid)" \
	"   AND NOT EXISTS (SELECT 1 FROM unnest(coalesce($3::uuid[], '{}')) x" \
	"                   WHERE NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = x)))"
/* every instance aimed at, with whether this request changed its grant */
#define TARGET_CHANGED \
	" SELECT t.id, EXISTS (SELECT 1 FROM ch WHERE ch.instance_id = t.id) FROM target t" \
	" ORDER BY t.id"
static const char sql_grant[] =
	TARGET_CTE ","
		   " ch AS (INSERT INTO instance_access (user_id, instance_id)"
		   "        SELECT $1::uuid, t.id FROM target t CROSS JOIN ok"
		   "        ON CONFLICT DO NOTHING RETURNING instance_id)" TARGET_CHANGED;
static const char sql_revoke[] =
	TARGET_CTE ","
		   " ch AS (DELETE FROM instance_access g USING ok"
		   "        WHERE g.user_id = $1::uuid AND g.instance_id IN (SELECT id FROM target)"
		   "        RETURNING g.instance_id)" TARGET_CHANGED;

/* $1 user or NULL, $2 instance or NULL */
static const char sql_list_check[] =
	"SELECT ($1::uuid IS NULL OR EXISTS (SELECT 1 FROM users WHERE id = $1::uuid)),"
	"       ($2::uuid IS NULL OR EXISTS (SELECT 1 FROM instances WHERE id = $2::uuid))";
static const char sql_list[] =
	"SELECT g.user_id, u.email, g.instance_id, i.instance_id AS amc_instance_id,"
	"       i.instance_name, i.account_id, a.account_name,"
	"       (i.disabled_at IS NOT NULL) AS instance_disabled, " PGQ_ISO(
		"g.granted_at") " AS granted_at"
				"  FROM instance_access g JOIN users u ON u.id = g.user_id"
				"  JOIN instances i ON i.id = g.instance_id JOIN amc_accounts a ON a.id = i.account_id"
				" WHERE ($1::uuid IS NULL OR g.user_id = $1::uuid)"
				"   AND ($2::uuid IS NULL OR g.instance_id = $2::uuid)"
				" ORDER BY u.email, i.instance_name, i.id";

static void change_done(Pgq *q, void *priv)
{
	Req *r = priv;
	bool grant = r->method == EVHTTP_REQ_POST;
	const char *user_id = json_string_value(json_object_get(r->body, "user_id"));
	const PGresult *chk = q->res[0];
	json_t *all, *changed;

	if (!q->ok) {
		pgq_fail(r, q);
	} else if (PQgetvalue(chk, 0, 0)[0] != 't') {
		req_fail(r, 404, "user_not_found", "user_id", "user %s not found", user_id);
	} else if (PQgetvalue(chk, 0, 1)[0] != 't') {
		req_fail(r, 404, "account_not_found", "account_id", "account %s not found",
			 json_string_value(json_object_get(r->body, "account_id")));
	} else if (PQgetvalue(chk, 0, 2)[0] != '\0') {
		req_fail(r, 404, "instance_not_found", "instance_ids", "unknown instances: %.700s",
			 PQgetvalue(chk, 0, 2));
	} else if ((all = json_array()) == NULL || (changed = json_array()) == NULL) {
		json_decref(all);
		req_fail(r, 500, "internal", NULL, "out of memory");
	} else {
		const PGresult *res = q->res[1];

		for (int i = 0; i < PQntuples(res); i++) {
			json_array_append_new(all, json_string(PQgetvalue(res, i, 0)));
			if (PQgetvalue(res, i, 1)[0] == 't')
				json_array_append_new(changed, json_string(PQgetvalue(res, i, 0)));
		}
		log_info("admin %s %s user %s %zu instances (%zu changed)", r->user_id,
			 grant ? "granted" : "revoked from", user_id, json_array_size(all),
			 json_array_size(changed));
		req_success(r, 200,
			    json_pack("{s:{s:s, s:b, s:o, s:o}}", "grants", "user_id", user_id,
				      "granted", grant, "instance_ids", all, "changed", changed));
	}
	pgq_free(q);
}

/* instance_ids as a {uuid,...} array literal of checked ids (malloc'ed, caller frees); NULL
 * after replying. */
static char *id_list(Req *r, const json_t *ids)
{
	size_t i, n = json_array_size(ids);
	json_t *v;
	char *lit, *p;

	if (!json_is_array(ids)) {
		req_fail(r, 400, "invalid_type", "instance_ids",
			 "instance_ids must be an array of UUIDs");
		return NULL;
	}
	if (n == 0 || n > GRANTS_MAX) {
		req_fail(r, 400, "invalid_value", "instance_ids",
			 "instance_ids must hold 1..%d instance ids", GRANTS_MAX);
		return NULL;
	}
	json_array_foreach (ids, i, v) {
		if (!json_is_string(v)) {
			req_fail(r, 400, "invalid_type", "instance_ids",
				 "instance_ids must be an array of UUIDs");
			return NULL;
		}
		if (!ids_is_uuid(json_string_value(v))) {
			req_fail(r, 400, "invalid_value", "instance_ids",
				 "instance_ids[%zu] is not a UUID", i);
			return NULL;
		}
	}
	if ((lit = malloc(n * (IDS_UUID_LEN + 1) + 2)) == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		return NULL;
	}
	p = lit;
	*p++ = '{';
	json_array_foreach (ids, i, v)
		p += sprintf(p, "%s%s", i > 0 ? "," : "", json_string_value(v));
	strcpy(p, "}");
	return lit;
}

void routes_grants_change(Req *r)
{
	const char *user_id, *account_id;
	json_t *ids;
	char *lit = NULL;
	Pgq *q;

	if (!req_parse_body(r) || !req_need_string(r, "user_id", 64, &user_id) ||
	    !req_opt_string(r, "account_id", 64, &account_id))
		return;
	ids = json_object_get(r->body, "instance_ids");
	if (json_is_null(ids))
		ids = NULL;
	if (!ids_is_uuid(user_id)) {
		req_fail(r, 400, "invalid_value", "user_id", "user_id must be a UUID");
		return;
	}
	if ((ids == NULL) == (account_id == NULL)) {
		req_fail(r, 400, ids == NULL ? "missing_field" : "invalid_value", "instance_ids",
			 "give either instance_ids or account_id (all of the account's instances)");
		return;
	}
	if (account_id != NULL && !ids_is_uuid(account_id)) {
		req_fail(r, 400, "invalid_value", "account_id", "account_id must be a UUID");
		return;
	}
	if (ids != NULL && (lit = id_list(r, ids)) == NULL)
		return;
	q = pgq_new();
	if (q == NULL || !pgq_add(q, sql_check, 3, (const char *[]){ user_id, account_id, lit }) ||
	    !pgq_add(q, r->method == EVHTTP_REQ_POST ? sql_grant : sql_revoke, 3,
		     (const char *[]){ user_id, account_id, lit }) ||
	    !pgq_run(r->api->pg, q, change_done, r)) {
		pgq_free(q);
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
	}
	free(lit); /* pgq_add copied it */
}

static void list_done(Pgq *q, void *priv)
{
	Req *r = priv;
	json_t *rows;

	if (!q->ok)
		pgq_fail(r, q);
	else if (PQgetvalue(q->res[0], 0, 0)[0] != 't')
		req_fail(r, 404, "user_not_found", "user_id", "user %s not found",
			 req_query(r, "user_id"));
	else if (PQgetvalue(q->res[0], 0, 1)[0] != 't')
		req_fail(r, 404, "instance_not_found", "instance_id", "instance %s not found",
			 req_query(r, "instance_id"));
	else if ((rows = pgq_rows_json(q->res[1], "sssssssbs")) == NULL)
		req_fail(r, 500, "internal", NULL, "out of memory");
	else
		req_success(r, 200, json_pack("{s:o}", "grants", rows));
	pgq_free(q);
}

void routes_grants_list(Req *r)
{
	const char *user_id = req_query(r, "user_id"), *instance_id = req_query(r, "instance_id");
	Pgq *q;

	if (user_id == NULL && instance_id == NULL) {
		req_fail(r, 400, "invalid_parameter", "user_id", "give ?user_id= or ?instance_id=");
		return;
	}
	if (user_id != NULL && !ids_is_uuid(user_id)) {
		req_fail(r, 400, "invalid_parameter", "user_id", "user_id must be a UUID");
		return;
	}
	if (instance_id != NULL && !ids_is_uuid(instance_id)) {
		req_fail(r, 400, "invalid_parameter", "instance_id", "instance_id must be a UUID");
		return;
	}
	q = pgq_new();
	if (q == NULL || !pgq_add(q, sql_list_check, 2, (const char *[]){ user_id, instance_id }) ||
	    !pgq_add(q, sql_list, 2, (const char *[]){ user_id, instance_id }) ||
	    !pgq_run(r->api->pg, q, list_done, r)) {
		pgq_free(q);
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
	}
}
