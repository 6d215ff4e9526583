/* auth.c - verifies bearer tokens against api_tokens and caches the verdicts (valid for
 * AUTH_TTL_MS but never past the token's expires_at, unknown for AUTH_NEG_TTL_MS) so the hot
 * path costs no database round trip. A revoke through this process drops its entry at once
 * (auth_forget), and so does a user's disabling or new role (auth_forget_user); other API
 * processes notice within AUTH_TTL_MS. A disabled user's tokens are refused like revoked
 * ones. While PostgreSQL cannot be reached, a valid verdict up to AUTH_STALE_MS old is used
 * again (a revoke made elsewhere just before the outage waits for PostgreSQL's return). It
 * creates no tokens. */
#include "auth.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "log.h"
#include "mstime.h"
#include "pgpool.h"
#include "pgq.h"

#define CACHE_SLOTS 1024

typedef struct CacheEntry {
	char hash[AUTH_HASH_LEN + 1]; /* "" = empty slot */
	bool valid;
	bool is_admin;
	char user_id[IDS_UUID_LEN + 1];
	long long expires_ms;       /* mstime_mono(): re-checked after this */
	long long verified_ms;      /* when PostgreSQL last said valid (for AUTH_STALE_MS) */
	long long token_expires_ms; /* the token's own expires_at; LLONG_MAX: none */
} CacheEntry;

struct AuthCache {
	CacheEntry slot[CACHE_SLOTS];
};

typedef struct AuthCtx {
	Req *r;
	bool admin_only;
	void (*next)(Req *r);
	char hash[AUTH_HASH_LEN + 1];
} AuthCtx;

static const char sql_token[] =
	"WITH t AS (UPDATE api_tokens SET last_used_at = now()"
	"  WHERE token_hash = $1 AND revoked_at IS NULL"
	"    AND (expires_at IS NULL OR expires_at > now()) RETURNING user_id, expires_at)"
	" SELECT u.id, u.role, CASE WHEN t.expires_at IS NULL THEN -1"
	"   ELSE floor(extract(epoch FROM t.expires_at - now()) * 1000)::bigint END"
	" FROM t JOIN users u ON u.id = t.user_id WHERE u.disabled_at IS NULL";

AuthCache *auth_new(void)
{
	return calloc(1, sizeof(AuthCache));
}

void auth_free(AuthCache *a)
{
	free(a);
}

static CacheEntry *slot_for(AuthCache *a, const char *hash);

void auth_forget(AuthCache *a, const char *hash)
{
	CacheEntry *e;

	if (a == NULL || strlen(hash) != AUTH_HASH_LEN)
		return;
	e = slot_for(a, hash);
	if (strcmp(e->hash, hash) == 0)
		memset(e, 0, sizeof(*e));
}

void auth_forget_user(AuthCache *a, const char *user_id)
{
	if (a == NULL)
		return;
	/* 1024 slots: a scan on an admin's edit costs less than an index kept for it. Refused
	 * verdicts name no user (a disabled user's token is simply not found): they all go, or
	 * a user enabled again would stay refused for AUTH_NEG_TTL_MS. */
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		if (a->slot[i].hash[0] != '\0' &&
		    (!a->slot[i].valid || strcmp(a->slot[i].user_id, user_id) == 0))
			memset(&a->slot[i], 0, sizeof(a->slot[i]));
}

bool auth_hash(const char *s, char out[AUTH_HASH_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	static const char hex[] = "0123456789abcdef";

	if (!EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return false;
	/* every request hashes its token: 32 snprintf calls were a tenth of a cached status */
	for (unsigned int i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * mdlen] = '\0';
	return true;
}

bool auth_new_token(char out[AUTH_TOKEN_LEN + 1])
{
	unsigned char r[20];

	if (!ids_random(r, sizeof(r)))
		return false;
	memcpy(out, "amcb_", 5);
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(out + 5 + 2 * i, 3, "%02x", r[i]);
	return true;
}

static CacheEntry *slot_for(AuthCache *a, const char *hash)
{
	/* the hash is uniformly random: its first 3 hex digits pick the slot */
	unsigned long idx = strtoul((char[]){ hash[0], hash[1], hash[2], '\0' }, NULL, 16);

	return &a->slot[idx % CACHE_SLOTS];
}

/* Applies a verdict to the request: continue, or reply and free. */
static void conclude(Req *r, bool valid, bool is_admin, const char *user_id, bool admin_only,
		     void (*next)(Req *r))
{
	if (!valid) {
		req_fail(r, 401, "unauthorized", NULL, "invalid or expired API token");
		return;
	}
	snprintf(r->user_id, sizeof(r->user_id), "%s", user_id);
	r->is_admin = is_admin;
	if (admin_only && !is_admin) {
		req_fail(r, 403, "forbidden", NULL, "administrator role required");
		return;
	}
	next(r);
}

/* PostgreSQL cannot be reached: the verdict cached for hash when it is a valid one, at most
 * AUTH_STALE_MS old and the token not expired. True when it concluded r with it. */
static bool conclude_stale(Req *r, const char *hash, bool admin_only, void (*next)(Req *r))
{
	const CacheEntry *e = slot_for(r->api->auth, hash);
	long long now = mstime_mono();

	if (strcmp(e->hash, hash) != 0 || !e->valid || now >= e->token_expires_ms ||
	    now - e->verified_ms > AUTH_STALE_MS)
		return false;
	conclude(r, true, e->is_admin, e->user_id, admin_only, next);
	return true;
}

static void token_done(Pgq *q, void *priv)
{
	AuthCtx *ctx = priv;
	Req *r = ctx->r;
	CacheEntry *e;
	bool valid, is_admin = false;
	char user_id[IDS_UUID_LEN + 1] = "";
	long long ttl = AUTH_NEG_TTL_MS, lives = -1, now;

	if (!q->ok) {
		if (!q->connection_trouble ||
		    !conclude_stale(r, ctx->hash, ctx->admin_only, ctx->next))
			pgq_fail(r, q);
		pgq_free(q);
		free(ctx);
		return;
	}
	valid = PQntuples(q->res[0]) == 1;
	if (valid) {
		snprintf(user_id, sizeof(user_id), "%s", PQgetvalue(q->res[0], 0, 0));
		is_admin = strcmp(PQgetvalue(q->res[0], 0, 1), "admin") == 0;
		lives = ttl = strtoll(PQgetvalue(q->res[0], 0, 2), NULL, 10);
		/* an expiring token is cached no longer than it lives */
		if (ttl < 0 || ttl > AUTH_TTL_MS)
			ttl = AUTH_TTL_MS;
	}
	now = mstime_mono();
	e = slot_for(r->api->auth, ctx->hash);
	memcpy(e->hash, ctx->hash, sizeof(e->hash));
	e->valid = valid;
	e->is_admin = is_admin;
	memcpy(e->user_id, user_id, sizeof(e->user_id));
	e->expires_ms = now + ttl;
	e->verified_ms = now;
	e->token_expires_ms = lives < 0 ? LLONG_MAX : now + lives;
	pgq_free(q);
	conclude(r, valid, is_admin, user_id, ctx->admin_only, ctx->next);
	free(ctx);
}

void auth_check(Req *r, bool admin_only, void (*next)(Req *r))
{
	const char *h =
		evhttp_find_header(evhttp_request_get_input_headers(r->req), "Authorization");
	const char *token;
	char hash[AUTH_HASH_LEN + 1];
	CacheEntry *e;
	AuthCtx *ctx;
	Pgq *q;

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
		req_fail(r, 401, "unauthorized", NULL,
			 "missing bearer token (Authorization: Bearer <token>)");
		return;
	}
	token = h + 7;
	while (*token == ' ')
		token++;
	if (*token == '\0' || strlen(token) > 512) {
		req_fail(r, 401, "unauthorized", NULL, "invalid or expired API token");
		return;
	}
	if (!auth_hash(token, hash)) {
		req_fail(r, 500, "internal", NULL, "token hashing failed");
		return;
	}
	e = slot_for(r->api->auth, hash);
	if (strcmp(e->hash, hash) == 0 && e->expires_ms > mstime_mono()) {
		conclude(r, e->valid, e->is_admin, e->user_id, admin_only, next);
		return;
	}
	/* PostgreSQL known to be down: a recent verdict at once, not after a pool job that would
	 * retry for API_PG_RETRY_MS on every request of the outage (token_done covers the first
	 * failure, before the pool has noticed) */
	if (!pgpool_healthy(r->api->pg) && conclude_stale(r, hash, admin_only, next))
		return;
	ctx = calloc(1, sizeof(*ctx));
	q = pgq_new();
	if (ctx == NULL || q == NULL || !pgq_add(q, sql_token, 1, (const char *[]){ hash })) {
		free(ctx);
		pgq_free(q);
		req_fail(r, 500, "internal", NULL, "out of memory");
		return;
	}
	ctx->r = r;
	ctx->admin_only = admin_only;
	ctx->next = next;
	memcpy(ctx->hash, hash, sizeof(hash));
	if (!pgq_run(r->api->pg, q, token_done, ctx)) {
		free(ctx);
		pgq_free(q);
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
	}
}
