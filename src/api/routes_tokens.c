/* routes_tokens.c - administrator token management: list a user's API tokens (never the
 * secret or its hash), create one (the secret is shown once; optional expires_at) and revoke
 * one (the verdict cache of this process forgets it at once). */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "auth.h"
#include "log.h"
#include "params.h"
#include "pgq.h"

#define TOKEN_NAME_MAX 200
#define TOKEN_COLS \
	"id, user_id, name, " PGQ_ISO("created_at") " AS created_at, " PGQ_ISO("expires_at") " AS expires_at, " PGQ_ISO( \
		"revoked_at") " AS revoked_at, " PGQ_ISO("last_used_at") " AS last_used_at"

static const char sql_user_exists[] = "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1::uuid)";
static const char sql_list[] =
	"SELECT " TOKEN_COLS " FROM api_tokens WHERE user_id = $1::uuid ORDER BY created_at, id";
/* $3 is NULL or a timestamp that must lie in the future (checked by the first statement) */
static const char sql_check[] = "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1::uuid),"
				"       ($2::timestamptz IS NULL OR $2::timestamptz > now())";
static const char sql_create[] = "INSERT INTO api_tokens (user_id, token_hash, name, expires_at)"
				 " SELECT $1::uuid, $2, coalesce($3, ''), $4::timestamptz"
				 "  WHERE EXISTS (SELECT 1 FROM users WHERE id = $1::uuid)"
				 "    AND ($4::timestamptz IS NULL OR $4::timestamptz > now())"
				 " RETURNING " TOKEN_COLS;
static const char sql_revoke[] =
	"UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1::uuid"
	" RETURNING token_hash, " TOKEN_COLS;

#define TOKEN_TYPES "sssssss"

static void list_done(Pgq *q, void *priv)
{
	Req *r = priv;
	json_t *rows;

	if (!q->ok)
		pgq_fail(r, q);
	else if (PQgetvalue(q->res[0], 0, 0)[0] != 't')
		req_fail(r, 404, "user_not_found", NULL, "user %s not found", r->segs[2]);
	else if ((rows = pgq_rows_json(q->res[1], TOKEN_TYPES)) == NULL)
		req_fail(r, 500, "internal", NULL, "out of memory");
	else
		req_success(r, 200, json_pack("{s:o}", "tokens", rows));
	pgq_free(q);
}

void routes_tokens_list(Req *r)
{
	Pgq *q;

	if (!ids_is_uuid(r->segs[2])) {
		req_fail(r, 404, "user_not_found", NULL, "user not found");
		return;
	}
	q = pgq_new();
	if (q == NULL || !pgq_add(q, sql_user_exists, 1, (const char *[]){ r->segs[2] }) ||
	    !pgq_add(q, sql_list, 1, (const char *[]){ r->segs[2] }) ||
	    !pgq_run(r->api->pg, q, list_done, r)) {
		pgq_free(q);
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
	}
}

static void create_done(Pgq *q, void *priv)
{
	Req *r = priv;
	const char *token = r->ctx;
	json_t *row;

	if (!q->ok && strncmp(q->sqlstate, "22", 2) == 0) {
		req_fail(r, 400, "invalid_value", "expires_at", "expires_at: %s", q->err);
	} else if (!q->ok) {
		pgq_fail(r, q);
	} else if (PQgetvalue(q->res[0], 0, 0)[0] != 't') {
		req_fail(r, 404, "user_not_found", NULL, "user %s not found", r->segs[2]);
	} else if (PQgetvalue(q->res[0], 0, 1)[0] != 't') {
		req_fail(r, 422, "invalid_value", "expires_at",
			 "expires_at must lie in the future");
	} else if (PQntuples(q->res[1]) != 1 ||
		   (row = pgq_row_json(q->res[1], 0, TOKEN_TYPES)) == NULL) {
		req_fail(r, 500, "internal", NULL, "token insert returned no row");
	} else {
		log_info("admin %s created token %s for user %s", r->user_id,
			 json_string_value(json_object_get(row, "id")), r->segs[2]);
		req_success(r, 201, json_pack("{s:s, s:o}", "token", token, "api_token", row));
	}
	pgq_free(q);
}

void routes_tokens_create(Req *r)
{
	const char *name = NULL, *expires = NULL;
	char *token, hash[AUTH_HASH_LEN + 1], ts[PARAMS_TS_LEN];
	bool date_only;
	Pgq *q;

	if (!ids_is_uuid(r->segs[2])) {
		req_fail(r, 404, "user_not_found", NULL, "user not found");
		return;
	}
	/* the body is optional: {} or none gives a token without name or expiry */
	if (evbuffer_get_length(evhttp_request_get_input_buffer(r->req)) > 0 &&
	    (!req_parse_body(r) || !req_opt_string(r, "name", TOKEN_NAME_MAX, &name) ||
	     !req_opt_string(r, "expires_at", 64, &expires)))
		return;
	/* our syntax only: PostgreSQL alone would also take 'infinity', 'tomorrow', ... */
	if (expires != NULL && !params_parse_ts(expires, ts, &date_only)) {
		req_fail(r, 400, "invalid_value", "expires_at",
			 "expires_at must be an ISO-8601 date or date-time");
		return;
	}
	if ((token = calloc(1, AUTH_TOKEN_LEN + 1)) == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		return;
	}
	r->ctx = token;
	r->ctx_free = free;
	if (!auth_new_token(token) || !auth_hash(token, hash)) {
		req_fail(r, 500, "internal", NULL, "could not create a token");
		return;
	}
	q = pgq_new();
	if (q == NULL || !pgq_add(q, sql_check, 2, (const char *[]){ r->segs[2], expires }) ||
	    !pgq_add(q, sql_create, 4, (const char *[]){ r->segs[2], hash, name, expires }) ||
	    !pgq_run(r->api->pg, q, create_done, r)) {
		pgq_free(q);
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
	}
}

static void revoke_done(Pgq *q, void *priv)
{
	Req *r = priv;
	json_t *row;

	if (!q->ok) {
		pgq_fail(r, q);
	} else if (PQntuples(q->res[0]) != 1) {
		req_fail(r, 404, "token_not_found", NULL, "token %s not found", r->segs[2]);
	} else {
		auth_forget(r->api->auth, PQgetvalue(q->res[0], 0, 0));
		row = pgq_row_json(q->res[0], 0, "s" TOKEN_TYPES);
		if (row == NULL) {
			req_fail(r, 500, "internal", NULL, "out of memory");
		} else {
			json_object_del(row, "token_hash");
			log_info("admin %s revoked token %s", r->user_id, r->segs[2]);
			req_success(r, 200, json_pack("{s:o}", "api_token", row));
		}
	}
	pgq_free(q);
}

void routes_tokens_revoke(Req *r)
{
	Pgq *q;

	if (!ids_is_uuid(r->segs[2])) {
		req_fail(r, 404, "token_not_found", NULL, "token not found");
		return;
	}
	q = pgq_new();
	if (q == NULL || !pgq_add(q, sql_revoke, 1, (const char *[]){ r->segs[2] }) ||
	    !pgq_run(r->api->pg, q, revoke_done, r)) {
		pgq_free(q);
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
	}
}
