/* routes_admin.c - administrator endpoints: create users (with their first API token, shown
 * once), AMC accounts (the LWA refresh token is stored, never echoed), instances, and
 * instance grants. The router has already checked the admin role. */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "auth.h"
#include "fieldlen.h"
#include "log.h"
#include "pgq.h"
#include "region.h"
#include "secret.h"
#include "tz.h"

#define TEXT_MAX FIELDLEN_TEXT
#define SECRET_MAX 4096

static const char sql_user[] =
	"WITH u AS (INSERT INTO users (email, role) VALUES ($1, $2) RETURNING id, email, role),"
	" t AS (INSERT INTO api_tokens (user_id, token_hash, name)"
	"       SELECT id, $3, 'created by admin' FROM u)"
	" SELECT id, email, role FROM u";
static const char sql_account[] =
	"INSERT INTO amc_accounts (account_name, advertiser_id, marketplace_id, region,"
	"  lwa_client_id, lwa_refresh_token_enc, lwa_client_secret_enc)"
	" VALUES ($1, $2, coalesce($3, 'ATVPDKIKX0DER'), coalesce($4, 'NA'), coalesce($5, ''),"
	"  $6::bytea, $7::bytea)"
	" RETURNING id, account_name, advertiser_id, marketplace_id, region, lwa_client_id,"
	"  (lwa_refresh_token_enc IS NOT NULL) AS has_refresh_token, "
	PGQ_ISO("created_at") " AS created_at";
static const char sql_instance[] =
	"WITH i AS (INSERT INTO instances (instance_id, instance_name, region, brands, account_id,"
	"  is_sandbox, timezone)"
	" VALUES ($1, $2, $3, ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), $5::uuid,"
	"  $6::boolean, coalesce($7, 'UTC')) RETURNING *)"
	" SELECT i.id, i.instance_id, i.instance_name, i.region, array_to_json(i.brands) AS brands,"
	"  i.account_id, a.account_name, i.is_sandbox, i.timezone, "
	PGQ_ISO("i.created_at") " AS created_at"
	" FROM i JOIN amc_accounts a ON a.id = i.account_id";
static const char sql_exists[] =
	"SELECT EXISTS (SELECT 1 FROM users WHERE id = $1::uuid),"
	"       EXISTS (SELECT 1 FROM instances WHERE id = $2::uuid)";
static const char sql_grant[] =
	"INSERT INTO instance_access (user_id, instance_id) SELECT $1::uuid, $2::uuid"
	" WHERE EXISTS (SELECT 1 FROM users WHERE id = $1::uuid)"
	"   AND EXISTS (SELECT 1 FROM instances WHERE id = $2::uuid)"
	" ON CONFLICT DO NOTHING";
static const char sql_revoke[] =
	"DELETE FROM instance_access WHERE user_id = $1::uuid AND instance_id = $2::uuid";

/* One object result row -> {"success": true, <key>: row} with status 201. */
typedef struct Created {
	const char *key;
	const char *types;
	char token[AUTH_TOKEN_LEN + 1];	/* users only: the secret, shown once */
} Created;

static void created_done(Pgq *q, void *priv)
{
	Req *r = priv;
	Created *c = r->ctx;
	json_t *row, *body;

	if (!q->ok) {
		pgq_fail(r, q);
	} else if (PQntuples(q->res[0]) != 1 ||
		   (row = pgq_row_json(q->res[0], 0, c->types)) == NULL) {
		req_fail(r, 500, "internal", NULL, "insert returned no row");
	} else {
		body = json_pack("{s:o}", c->key, row);
		if (c->token[0] != '\0')
			json_object_set_new(body, "token", json_string(c->token));
		log_info("admin %s created %s %s", r->user_id, c->key,
			 json_string_value(json_object_get(row, "id")));
		req_success(r, 201, body);
	}
	pgq_free(q);
}

/* Sets up the Created state and runs one statement; false after replying. */
static void insert(Req *r, const char *key, const char *types, const char *token,
		   const char *sql, int n, const char *const *params)
{
	Created *c = calloc(1, sizeof(*c));
	Pgq *q;

	if (c == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		return;
	}
	c->key = key;
	c->types = types;
	if (token != NULL)
		snprintf(c->token, sizeof(c->token), "%s", token);
	r->ctx = c;
	r->ctx_free = free;
	q = pgq_new();
	if (q == NULL || !pgq_add(q, sql, n, params) || !pgq_run(r->api->pg, q, created_done, r)) {
		pgq_free(q);
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
	}
}

void routes_admin_users(Req *r)
{
	const char *email, *role;
	char token[AUTH_TOKEN_LEN + 1], hash[AUTH_HASH_LEN + 1];

	if (!req_parse_body(r) || !req_need_string(r, "email", 320, &email) ||
	    !req_opt_string(r, "role", 16, &role))
		return;
	if (strchr(email, '@') == NULL) {
		req_fail(r, 400, "invalid_value", "email", "email must be an e-mail address");
		return;
	}
	if (role == NULL)
		role = "member";
	if (strcmp(role, "admin") != 0 && strcmp(role, "member") != 0) {
		req_fail(r, 400, "invalid_value", "role", "role must be admin or member");
		return;
	}
	if (!auth_new_token(token) || !auth_hash(token, hash)) {
		req_fail(r, 500, "internal", NULL, "could not create a token");
		return;
	}
	insert(r, "user", "sss", token, sql_user, 3, (const char *[]){ email, role, hash });
}

/* A secret as the text form of bytea ("\\x<hex>"), encrypted with the configured key; NULL
 * (*out untouched) for an absent or empty value. Malloc'ed, owned by the caller. */
static bool encrypt_param(const uint8_t key[SECRET_KEY_LEN], const char *plain, char **out)
{
	uint8_t *blob;
	size_t n;

	*out = NULL;
	if (plain == NULL || plain[0] == '\0')
		return true;
	if (!secret_encrypt(key, plain, strlen(plain), &blob, &n))
		return false;
	*out = malloc(2 * n + 3);
	if (*out != NULL) {
		memcpy(*out, "\\x", 2);
		secret_hex(blob, n, *out + 2);
	}
	free(blob);
	return *out != NULL;
}

void routes_admin_accounts(Req *r)
{
	const char *name, *adv, *mkt, *region, *client, *refresh, *csecret;
	uint8_t key[SECRET_KEY_LEN];
	char kerr[128], *refresh_enc = NULL, *secret_enc = NULL;

	if (!req_parse_body(r) || !req_need_string(r, "account_name", TEXT_MAX, &name) ||
	    !req_need_string(r, "advertiser_id", FIELDLEN_ADVERTISER_ID, &adv) ||
	    !req_opt_string(r, "marketplace_id", FIELDLEN_MARKETPLACE_ID, &mkt) ||
	    !req_opt_string(r, "region", 16, &region) ||
	    !req_opt_string(r, "lwa_client_id", FIELDLEN_CLIENT_ID, &client) ||
	    !req_opt_string(r, "lwa_refresh_token", SECRET_MAX, &refresh) ||
	    !req_opt_string(r, "lwa_client_secret", SECRET_MAX, &csecret))
		return;
	/* the region picks the worker's AMC and token hosts (src/core/region.h): a value no
	 * host is configured for would only fail later, on every execution of the account */
	AmcRegion reg;
	if (region && !region_parse(region, &reg)) {
		req_fail(r, 422, "invalid_region", "region",
			 "region must be NA, EU or FE (the account's AMC region)");
		return;
	}
	/* credentials are encrypted before they leave this process (design.md: secrets at rest) */
	if ((refresh && *refresh) || (csecret && *csecret)) {
		if (!secret_key_load(r->api->cfg.secret_key, key, kerr, sizeof(kerr))) {
			log_error("cannot store LWA credentials: %s", kerr);
			req_fail(r, 500, "internal", NULL, "the server has no secret key to encrypt credentials");
			return;
		}
		bool ok = encrypt_param(key, refresh, &refresh_enc) &&
			  encrypt_param(key, csecret, &secret_enc);
		secret_wipe(key, sizeof(key));
		if (!ok) {
			free(refresh_enc);
			free(secret_enc);
			req_fail(r, 500, "internal", NULL, "could not encrypt the credentials");
			return;
		}
	}
	insert(r, "account", "ssssssbs", NULL, sql_account, 7,
	       (const char *[]){ name, adv, mkt, region, client, refresh_enc, secret_enc });
	free(refresh_enc);	/* pgq_add copied the parameters */
	free(secret_enc);
}

void routes_admin_instances(Req *r)
{
	const char *iid, *name, *region, *account, *tz;
	json_t *brands, *sandbox, *b;
	char *brands_text;
	size_t i;

	if (!req_parse_body(r) || !req_need_string(r, "instance_id", FIELDLEN_INSTANCE_ID, &iid) ||
	    !req_need_string(r, "instance_name", TEXT_MAX, &name) ||
	    !req_need_string(r, "region", FIELDLEN_REGION, &region) ||
	    !req_need_string(r, "account_id", 64, &account) ||
	    !req_opt_string(r, "timezone", FIELDLEN_TIMEZONE, &tz))
		return;
	if (!ids_is_uuid(account)) {
		req_fail(r, 400, "invalid_value", "account_id", "account_id must be a UUID");
		return;
	}
	/* windows are resolved in it and AMC gets it as timeWindowTimeZone */
	if (tz != NULL && !tz_valid(tz)) {
		req_fail(r, 422, "invalid_timezone", "timezone",
			 "timezone must be an IANA zone id such as Europe/Berlin or America/New_York");
		return;
	}
	brands = json_object_get(r->body, "brands");
	if (brands != NULL && !json_is_null(brands)) {
		if (!json_is_array(brands)) {
			req_fail(r, 400, "invalid_type", "brands", "brands must be an array of strings");
			return;
		}
		json_array_foreach(brands, i, b) {
			if (!json_is_string(b)) {
				req_fail(r, 400, "invalid_type", "brands",
					 "brands must be an array of strings");
				return;
			}
		}
	}
	sandbox = json_object_get(r->body, "is_sandbox");
	if (sandbox != NULL && !json_is_null(sandbox) && !json_is_boolean(sandbox)) {
		req_fail(r, 400, "invalid_type", "is_sandbox", "is_sandbox must be a boolean");
		return;
	}
	brands_text = json_is_array(brands) ? json_dumps(brands, JSON_COMPACT) : strdup("[]");
	if (brands_text == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		return;
	}
	insert(r, "instance", "ssssjssbss", NULL, sql_instance, 7,
	       (const char *[]){ iid, name, region, brands_text, account,
				 json_is_true(sandbox) ? "true" : "false", tz });
	free(brands_text);
}

/* ---- grants ---- */

static void access_done(Pgq *q, void *priv)
{
	Req *r = priv;
	const char *user_id = r->ctx;
	bool grant = r->method == EVHTTP_REQ_POST;

	if (!q->ok) {
		pgq_fail(r, q);
	} else if (PQgetvalue(q->res[0], 0, 0)[0] != 't') {
		req_fail(r, 404, "user_not_found", "user_id", "user %s not found", user_id);
	} else if (PQgetvalue(q->res[0], 0, 1)[0] != 't') {
		req_fail(r, 404, "instance_not_found", NULL, "instance %s not found", r->segs[2]);
	} else {
		log_info("admin %s %s user %s access to instance %s", r->user_id,
			 grant ? "granted" : "revoked", user_id, r->segs[2]);
		req_success(r, 200, json_pack("{s:{s:s, s:s, s:b, s:b}}",
					      "access", "user_id", user_id,
					      "instance_id", r->segs[2], "granted", grant,
					      "changed", atoi(PQcmdTuples(q->res[1])) > 0));
	}
	pgq_free(q);
}

void routes_admin_access(Req *r)
{
	const char *user_id = req_query(r, "user_id");
	char *copy;
	Pgq *q;

	if (!ids_is_uuid(r->segs[2])) {
		req_fail(r, 404, "instance_not_found", NULL, "instance not found");
		return;
	}
	/* the user id comes from the body ({"user_id": ...}) or from ?user_id= */
	if (evbuffer_get_length(evhttp_request_get_input_buffer(r->req)) > 0) {
		const char *from_body;

		if (!req_parse_body(r) || !req_opt_string(r, "user_id", 64, &from_body))
			return;
		if (from_body != NULL)
			user_id = from_body;
	}
	if (user_id == NULL) {
		req_fail(r, 400, "missing_field", "user_id", "user_id is required");
		return;
	}
	if (!ids_is_uuid(user_id)) {
		req_fail(r, 400, "invalid_value", "user_id", "user_id must be a UUID");
		return;
	}
	if ((copy = strdup(user_id)) == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		return;
	}
	r->ctx = copy;
	r->ctx_free = free;
	q = pgq_new();
	if (q == NULL || !pgq_add(q, sql_exists, 2, (const char *[]){ copy, r->segs[2] }) ||
	    !pgq_add(q, r->method == EVHTTP_REQ_POST ? sql_grant : sql_revoke, 2,
		     (const char *[]){ copy, r->segs[2] }) ||
	    !pgq_run(r->api->pg, q, access_done, r)) {
		pgq_free(q);
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
	}
}
