/* routes_users.c - who is who: GET /me for every signed-in user (with the field limits the
 * page's inputs use), and the administrators' user list and edit (role, disabled). A change
 * takes effect at once in this process (its verdict cache forgets the user's tokens); it never
 * leaves the system without an enabled admin. Users are created in routes_admin.c. */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "fieldlen.h"
#include "log.h"
#include "pgq.h"

/* what every answer shows of a user: tokens that still work, instances granted */
#define USER_COLS \
	"u.id, u.email, u.role, (u.disabled_at IS NOT NULL) AS disabled, " PGQ_ISO("u.disabled_at") " AS disabled_at, " PGQ_ISO( \
		"u.created_at") " AS created_at," \
				" (SELECT count(*) FROM api_tokens t WHERE t.user_id = u.id AND t.revoked_at IS NULL" \
				"   AND (t.expires_at IS NULL OR t.expires_at > now())) AS token_count," \
				" (SELECT count(*) FROM instance_access g WHERE g.user_id = u.id) AS instance_count"
#define USER_TYPES "sssbssii"

static const char sql_list[] = "SELECT " USER_COLS " FROM users u ORDER BY u.email";
/* $1 user: the instances they may use now (an admin all, a member the granted), never the
 * disabled ones */
static const char sql_me[] =
	"SELECT u.id, u.email, u.role, CASE WHEN u.role = 'admin'"
	"  THEN (SELECT count(*) FROM instances i WHERE i.disabled_at IS NULL)"
	"  ELSE (SELECT count(*) FROM instance_access g JOIN instances i ON i.id = g.instance_id"
	"        WHERE g.user_id = u.id AND i.disabled_at IS NULL) END AS instance_count"
	" FROM users u WHERE u.id = $1::uuid";
/* edits of roles and of disabling serialise on this lock, so two admins demoting each
 * other at once cannot both see the other one still there */
static const char sql_lock[] = "SELECT pg_advisory_xact_lock(hashtextextended('users:admins', 0))";
/* $2 role, $3 disabled (NULL: keep). Only when an enabled admin remains: this user after
 * the change, or another one. */
static const char sql_patch[] =
	"UPDATE users u SET role = coalesce($2, u.role),"
	"  disabled_at = CASE WHEN $3::boolean IS NULL THEN u.disabled_at"
	"                WHEN $3::boolean THEN coalesce(u.disabled_at, now()) ELSE NULL END"
	" WHERE u.id = $1::uuid"
	"   AND ((coalesce($2, u.role) = 'admin'"
	"         AND NOT coalesce($3::boolean, u.disabled_at IS NOT NULL))"
	"        OR EXISTS (SELECT 1 FROM users o WHERE o.id <> u.id AND o.role = 'admin'"
	"                   AND o.disabled_at IS NULL))"
	" RETURNING " USER_COLS;
static const char sql_exists[] = "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1::uuid)";

static const PgqShape user_list = { "users", USER_TYPES, 200, NULL };
static const PgqShape me = { "user", "sssi", 200, "user_not_found" };

void routes_me_get(Req *r)
{
	json_t *limits = json_pack("{s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}}", "field_limits",
				   "text", FIELDLEN_TEXT, "email", FIELDLEN_EMAIL, "instance_id",
				   FIELDLEN_INSTANCE_ID, "timezone", FIELDLEN_TIMEZONE, "region",
				   FIELDLEN_REGION, "token_name", FIELDLEN_TOKEN_NAME, "secret",
				   FIELDLEN_SECRET, "brands", FIELDLEN_BRANDS);

	if (limits == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		return;
	}
	pgq_reply(r, &me, limits, sql_me, 1, (const char *[]){ r->user_id });
}

void routes_users_list(Req *r)
{
	pgq_reply(r, &user_list, NULL, sql_list, 0, NULL);
}

static void patch_done(Pgq *q, void *priv)
{
	Req *r = priv;
	json_t *row;

	if (!q->ok) {
		pgq_fail(r, q);
	} else if (PQgetvalue(q->res[2], 0, 0)[0] != 't') {
		req_fail(r, 404, "user_not_found", NULL, "user %s not found", r->segs[2]);
	} else if (PQntuples(q->res[1]) != 1) {
		req_fail(
			r, 409, "last_admin", NULL,
			"refused: no enabled admin would be left; make another user an admin first");
	} else if ((row = pgq_row_json(q->res[1], 0, USER_TYPES)) == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
	} else {
		/* a disabled user's tokens, or a new role, count from the next request on */
		auth_forget_user(r->api->auth, r->segs[2]);
		log_info("admin %s changed user %s: role %s, %s", r->user_id, r->segs[2],
			 json_string_value(json_object_get(row, "role")),
			 json_is_true(json_object_get(row, "disabled")) ? "disabled" : "enabled");
		req_success(r, 200, json_pack("{s:o}", "user", row));
	}
	pgq_free(q);
}

void routes_users_patch(Req *r)
{
	const char *role, *disabled;
	Pgq *q;

	if (!ids_is_uuid(r->segs[2])) {
		req_fail(r, 404, "user_not_found", NULL, "user not found");
		return;
	}
	if (!req_parse_body(r) || !routes_admin_role(r, &role) ||
	    !req_opt_bool(r, "disabled", &disabled))
		return;
	if (role == NULL && disabled == NULL) {
		req_fail(r, 400, "missing_field", NULL, "nothing to change: give role or disabled");
		return;
	}
	q = pgq_new();
	if (q == NULL || !pgq_add(q, sql_lock, 0, NULL) ||
	    !pgq_add(q, sql_patch, 3, (const char *[]){ r->segs[2], role, disabled }) ||
	    !pgq_add(q, sql_exists, 1, (const char *[]){ r->segs[2] }) ||
	    !pgq_run(r->api->pg, q, patch_done, r)) {
		pgq_free(q);
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
	}
}
