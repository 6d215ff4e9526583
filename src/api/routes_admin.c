/* routes_admin.c - administrator endpoints for master data: users (created with their first
 * API token, shown once), AMC accounts (LWA credentials are write-only: stored encrypted,
 * never echoed, only has_refresh_token/has_client_secret), instances (created, listed,
 * edited, disabled) and single instance grants. Users' edits are in routes_users.c, bulk
 * grants in routes_grants.c. The router has already checked the admin role. */
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

/* what every answer shows of an account: never a credential, only whether one is stored */
#define ACCOUNT_COLS \
	"id, account_name, advertiser_id, marketplace_id, region, lwa_client_id," \
	" (lwa_refresh_token_enc IS NOT NULL) AS has_refresh_token," \
	" (lwa_client_secret_enc IS NOT NULL) AS has_client_secret, " PGQ_ISO( \
		"created_at") " AS created_at," \
			      " (SELECT count(*) FROM instances i WHERE i.account_id = amc_accounts.id) AS instance_count"
#define ACCOUNT_TYPES "ssssssbbsi"
/* what every answer shows of an instance; `from` holds instance rows (a table or a CTE) */
#define INSTANCE_SELECT(from) \
	"SELECT i.id, i.instance_id, i.instance_name, i.region, array_to_json(i.brands) AS brands," \
	"  i.account_id, a.account_name, i.is_sandbox, i.timezone," \
	"  (i.disabled_at IS NOT NULL) AS disabled, " PGQ_ISO("i.disabled_at") " AS disabled_at, " PGQ_ISO( \
		"i.created_at") " AS created_at," \
				"  (SELECT count(*) FROM instance_access g WHERE g.instance_id = i.id) AS user_count" \
				" FROM " from " i JOIN amc_accounts a ON a.id = i.account_id"
#define INSTANCE_TYPES "ssssjssbsbssi"
/* $n::boolean (NULL: keep) as the new disabled_at: the first disabling time is kept */
#define DISABLED_AT(n) \
	"CASE WHEN " n "::boolean IS NULL THEN disabled_at" \
	" WHEN " n "::boolean THEN coalesce(disabled_at, now()) ELSE NULL END"

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
	" RETURNING " ACCOUNT_COLS;
static const char sql_accounts[] =
	"SELECT " ACCOUNT_COLS " FROM amc_accounts ORDER BY account_name, id";
/* NULL keeps a value; credentials are replaced, never read back */
static const char sql_account_patch[] =
	"UPDATE amc_accounts SET account_name = coalesce($2, account_name),"
	"  advertiser_id = coalesce($3, advertiser_id), marketplace_id = coalesce($4, marketplace_id),"
	"  region = coalesce($5, region), lwa_client_id = coalesce($6, lwa_client_id),"
	"  lwa_refresh_token_enc = coalesce($7::bytea, lwa_refresh_token_enc),"
	"  lwa_client_secret_enc = coalesce($8::bytea, lwa_client_secret_enc)"
	" WHERE id = $1::uuid RETURNING " ACCOUNT_COLS;
static const char sql_instance[] =
	"WITH ins AS (INSERT INTO instances (instance_id, instance_name, region, brands, account_id,"
	"  is_sandbox, timezone)"
	" VALUES ($1, $2, $3, ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), $5::uuid,"
	"  $6::boolean, coalesce($7, 'UTC')) RETURNING *) " INSTANCE_SELECT("ins");
static const char sql_instances[] = INSTANCE_SELECT("instances") " ORDER BY i.instance_name, i.id";
static const char sql_instance_patch[] =
	"WITH upd AS (UPDATE instances SET instance_name = coalesce($2, instance_name),"
	"  region = coalesce($3, region),"
	"  brands = CASE WHEN $4::jsonb IS NULL THEN brands"
	"           ELSE ARRAY(SELECT jsonb_array_elements_text($4::jsonb)) END,"
	"  is_sandbox = coalesce($5::boolean, is_sandbox), timezone = coalesce($6, timezone),"
	"  disabled_at = " DISABLED_AT("$7") " WHERE id = $1::uuid RETURNING *) " INSTANCE_SELECT(
		"upd");

static const PgqShape user_created = { "user", "sss", 201, NULL };
static const PgqShape account_created = { "account", ACCOUNT_TYPES, 201, NULL };
static const PgqShape account_list = { "accounts", ACCOUNT_TYPES, 200, NULL };
static const PgqShape account_changed = { "account", ACCOUNT_TYPES, 200, "account_not_found" };
static const PgqShape instance_created = { "instance", INSTANCE_TYPES, 201, NULL };
static const PgqShape instance_list = { "instances", INSTANCE_TYPES, 200, NULL };
static const PgqShape instance_changed = { "instance", INSTANCE_TYPES, 200, "instance_not_found" };

/* The role member of a user body, checked; *out NULL when absent. False after replying. */
bool routes_admin_role(Req *r, const char **out)
{
	if (!req_opt_string(r, "role", 16, out))
		return false;
	if (*out != NULL && strcmp(*out, "admin") != 0 && strcmp(*out, "member") != 0) {
		req_fail(r, 400, "invalid_value", "role", "role must be admin or member");
		return false;
	}
	return true;
}

void routes_admin_users(Req *r)
{
	const char *email, *role;
	char token[AUTH_TOKEN_LEN + 1], hash[AUTH_HASH_LEN + 1];

	if (!req_parse_body(r) || !req_need_string(r, "email", FIELDLEN_EMAIL, &email) ||
	    !routes_admin_role(r, &role))
		return;
	if (strchr(email, '@') == NULL) {
		req_fail(r, 400, "invalid_value", "email", "email must be an e-mail address");
		return;
	}
	if (!auth_new_token(token) || !auth_hash(token, hash)) {
		req_fail(r, 500, "internal", NULL, "could not create a token");
		return;
	}
	pgq_reply(r, &user_created, json_pack("{s:s}", "token", token), sql_user, 3,
		  (const char *[]){ email, role != NULL ? role : "member", hash });
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

/* The members of an account body (POST: name and advertiser id required; PATCH: all
 * optional, none empty) into p: name, advertiser id, marketplace, region, client id
 * (borrowed from the body). The credentials are encrypted here, before they leave this
 * process (design.md: secrets at rest), into enc: refresh token, client secret (bytea text,
 * NULL when absent; malloc'ed, the caller frees them). False after replying. */
static bool account_params(Req *r, bool create, const char *p[5], char *enc[2])
{
	static const char *const names[] = { "account_name", "advertiser_id", "marketplace_id",
					     "region", "lwa_client_id" };
	static const size_t max[] = { TEXT_MAX, FIELDLEN_ADVERTISER_ID, FIELDLEN_MARKETPLACE_ID, 16,
				      FIELDLEN_CLIENT_ID };
	const char *refresh, *csecret;
	uint8_t key[SECRET_KEY_LEN];
	char kerr[128];
	AmcRegion reg;

	enc[0] = enc[1] = NULL;
	for (size_t i = 0; i < ARRAY_LEN(names); i++) {
		bool need = create && i < 2;

		if (!(need ? req_need_string(r, names[i], max[i], &p[i])
			   : req_opt_string(r, names[i], max[i], &p[i])))
			return false;
		/* an edit names what it changes: "" would blank a name the worker sends to AMC */
		if (!create && i < 4 && p[i] != NULL && p[i][0] == '\0') {
			req_fail(r, 422, "invalid_value", names[i], "%s must not be empty",
				 names[i]);
			return false;
		}
	}
	if (!req_opt_string(r, "lwa_refresh_token", FIELDLEN_SECRET, &refresh) ||
	    !req_opt_string(r, "lwa_client_secret", FIELDLEN_SECRET, &csecret))
		return false;
	/* the region picks the worker's AMC and token hosts (src/core/region.h): a value no
	 * host is configured for would only fail later, on every execution of the account */
	if (p[3] != NULL && !region_parse(p[3], &reg)) {
		req_fail(r, 422, "invalid_region", "region",
			 "region must be NA, EU or FE (the account's AMC region)");
		return false;
	}
	if ((refresh == NULL || *refresh == '\0') && (csecret == NULL || *csecret == '\0'))
		return true;
	if (!secret_key_load(r->api->cfg.secret_key, key, kerr, sizeof(kerr))) {
		log_error("cannot store LWA credentials: %s", kerr);
		req_fail(r, 500, "internal", NULL,
			 "the server has no secret key to encrypt credentials");
		return false;
	}
	bool ok = encrypt_param(key, refresh, &enc[0]) && encrypt_param(key, csecret, &enc[1]);
	secret_wipe(key, sizeof(key));
	if (!ok) {
		free(enc[0]);
		free(enc[1]);
		enc[0] = enc[1] = NULL;
		req_fail(r, 500, "internal", NULL, "could not encrypt the credentials");
	}
	return ok;
}

void routes_admin_accounts(Req *r)
{
	const char *p[5];
	char *enc[2];

	if (!req_parse_body(r) || !account_params(r, true, p, enc))
		return;
	pgq_reply(r, &account_created, NULL, sql_account, 7,
		  (const char *[]){ p[0], p[1], p[2], p[3], p[4], enc[0], enc[1] });
	free(enc[0]); /* pgq_add copied the parameters */
	free(enc[1]);
}

void routes_admin_accounts_list(Req *r)
{
	pgq_reply(r, &account_list, NULL, sql_accounts, 0, NULL);
}

/* Whether the body has at least one member: an edit that changes nothing is a mistake. */
static bool some_change(Req *r)
{
	if (json_object_size(r->body) > 0)
		return true;
	req_fail(r, 400, "missing_field", NULL, "nothing to change: name at least one field");
	return false;
}

void routes_admin_accounts_patch(Req *r)
{
	const char *p[5];
	char *enc[2];

	if (!ids_is_uuid(r->segs[2])) {
		req_fail(r, 404, "account_not_found", NULL, "account not found");
		return;
	}
	if (!req_parse_body(r) || !some_change(r) || !account_params(r, false, p, enc))
		return;
	pgq_reply(r, &account_changed, NULL, sql_account_patch, 8,
		  (const char *[]){ r->segs[2], p[0], p[1], p[2], p[3], p[4], enc[0], enc[1] });
	free(enc[0]);
	free(enc[1]);
}

/* brands as JSON text for $n::jsonb: an array of at most FIELDLEN_BRANDS non-empty strings
 * of at most FIELDLEN_TEXT bytes; *out NULL when absent (malloc'ed, caller frees). False
 * after replying. */
static bool brands_param(Req *r, char **out)
{
	json_t *brands = json_object_get(r->body, "brands"), *b;
	size_t i;

	*out = NULL;
	if (brands == NULL || json_is_null(brands))
		return true;
	if (!json_is_array(brands)) {
		req_fail(r, 400, "invalid_type", "brands", "brands must be an array of strings");
		return false;
	}
	json_array_foreach (brands, i, b) {
		if (!json_is_string(b)) {
			req_fail(r, 400, "invalid_type", "brands",
				 "brands must be an array of strings");
			return false;
		}
		if (json_string_length(b) == 0 || json_string_length(b) > TEXT_MAX ||
		    strlen(json_string_value(b)) != json_string_length(b)) {
			req_fail(r, 400, "invalid_value", "brands",
				 "each brand must be 1..%d bytes without NUL", TEXT_MAX);
			return false;
		}
	}
	if (json_array_size(brands) > FIELDLEN_BRANDS) {
		req_fail(r, 400, "invalid_value", "brands", "at most %d brands", FIELDLEN_BRANDS);
		return false;
	}
	if ((*out = json_dumps(brands, JSON_COMPACT)) == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		return false;
	}
	return true;
}

/* windows are resolved in it and AMC gets it as timeWindowTimeZone */
static bool timezone_ok(Req *r, const char *tz)
{
	if (tz == NULL || tz_valid(tz))
		return true;
	req_fail(r, 422, "invalid_timezone", "timezone",
		 "timezone must be an IANA zone id such as Europe/Berlin or America/New_York");
	return false;
}

void routes_admin_instances(Req *r)
{
	const char *iid, *name, *region, *account, *tz, *sandbox;
	char *brands;

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
	if (!timezone_ok(r, tz) || !brands_param(r, &brands))
		return;
	if (!req_opt_bool(r, "is_sandbox", &sandbox)) {
		free(brands);
		return;
	}
	pgq_reply(r, &instance_created, NULL, sql_instance, 7,
		  (const char *[]){ iid, name, region, brands != NULL ? brands : "[]", account,
				    sandbox != NULL ? sandbox : "false", tz });
	free(brands);
}

void routes_admin_instances_list(Req *r)
{
	pgq_reply(r, &instance_list, NULL, sql_instances, 0, NULL);
}

void routes_admin_instances_patch(Req *r)
{
	const char *name, *region, *tz, *sandbox, *disabled;
	char *brands;

	if (!ids_is_uuid(r->segs[2])) {
		req_fail(r, 404, "instance_not_found", NULL, "instance not found");
		return;
	}
	if (!req_parse_body(r) || !some_change(r) ||
	    !req_opt_string(r, "instance_name", TEXT_MAX, &name) ||
	    !req_opt_string(r, "region", FIELDLEN_REGION, &region) ||
	    !req_opt_string(r, "timezone", FIELDLEN_TIMEZONE, &tz) ||
	    !req_opt_bool(r, "is_sandbox", &sandbox) || !req_opt_bool(r, "disabled", &disabled))
		return;
	if ((name != NULL && *name == '\0') || (region != NULL && *region == '\0')) {
		req_fail(r, 422, "invalid_value",
			 name != NULL && *name == '\0' ? "instance_name" : "region",
			 "%s must not be empty",
			 name != NULL && *name == '\0' ? "instance_name" : "region");
		return;
	}
	if (!timezone_ok(r, tz) || !brands_param(r, &brands))
		return;
	pgq_reply(r, &instance_changed, NULL, sql_instance_patch, 7,
		  (const char *[]){ r->segs[2], name, region, brands, sandbox, tz, disabled });
	free(brands);
}

/* ---- grants ---- */

static const char sql_exists[] = "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1::uuid),"
				 "       EXISTS (SELECT 1 FROM instances WHERE id = $2::uuid)";
static const char sql_grant[] =
	"INSERT INTO instance_access (user_id, instance_id) SELECT $1::uuid, $2::uuid"
	" WHERE EXISTS (SELECT 1 FROM users WHERE id = $1::uuid)"
	"   AND EXISTS (SELECT 1 FROM instances WHERE id = $2::uuid)"
	" ON CONFLICT DO NOTHING";
static const char sql_revoke[] =
	"DELETE FROM instance_access WHERE user_id = $1::uuid AND instance_id = $2::uuid";

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
		req_success(r, 200,
			    json_pack("{s:{s:s, s:s, s:b, s:b}}", "access", "user_id", user_id,
				      "instance_id", r->segs[2], "granted", grant, "changed",
				      atoi(PQcmdTuples(q->res[1])) > 0));
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
