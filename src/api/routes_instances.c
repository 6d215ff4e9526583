/* routes_instances.c - GET /instances: the AMC instances the caller may use (admins: all,
 * members: those granted in instance_access; nobody the disabled ones), for the instance
 * selector. Read only. */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>

#include "pgq.h"

static const char sql_list[] =
	"SELECT i.id, i.instance_id, i.instance_name, i.region,"
	"       array_to_json(i.brands) AS brands, a.account_name, i.is_sandbox"
	"  FROM instances i JOIN amc_accounts a ON a.id = i.account_id"
	" WHERE i.disabled_at IS NULL AND ($2::boolean OR EXISTS (SELECT 1 FROM instance_access g"
	"        WHERE g.instance_id = i.id AND g.user_id = $1::uuid))"
	" ORDER BY i.instance_name, i.id";

/* r->ctx: the cache key (whose list) and the stamp taken before the read */
typedef struct InstancesGet {
	char key[IDS_UUID_LEN + 3];
	RcStamp st;
} InstancesGet;

static void list_done(Pgq *q, void *priv)
{
	Req *r = priv;
	InstancesGet *g = r->ctx;
	json_t *rows;

	if (!q->ok) {
		pgq_fail(r, q);
	} else if ((rows = pgq_rows_json(q->res[0], "ssssjsb")) == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
	} else {
		req_success_cache(r, json_pack("{s:o}", "instances", rows), g->key, "", &g->st);
	}
	pgq_free(q);
}

void routes_instances_list(Req *r)
{
	InstancesGet *g = req_ctx_new(r, sizeof(*g));
	Pgq *q;
	const char *params[] = { r->user_id, r->is_admin ? "true" : "false" };

	if (g == NULL)
		return;
	snprintf(g->key, sizeof(g->key), "i:%s", r->is_admin ? "*" : r->user_id);
	if (req_try_cached(r, g->key))
		return;
	/* instances, accounts and grants belong to no user: only '*' changes them */
	g->st = readcache_stamp(r->api->reads, RC_SHARED, NULL);
	q = pgq_new();
	if (q == NULL || !pgq_add(q, sql_list, 2, params) ||
	    !pgq_run(r->api->pg, q, list_done, r)) {
		pgq_free(q);
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
	}
}
