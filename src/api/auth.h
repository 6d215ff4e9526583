/* auth.h - bearer-token authentication: SHA-256 of the presented token looked up in
 * api_tokens (on a pgpool thread), with verdicts cached in memory for at most AUTH_TTL_MS. */
#ifndef AMCB_AUTH_H
#define AMCB_AUTH_H

#include "common.h"
#include "req.h"

/* A token revoked through another API process (or in SQL) works there for at most this
 * long; a revoke through this process takes effect at once (auth_forget). */
#define AUTH_TTL_MS 5000     /* a valid token is re-checked after this */
#define AUTH_NEG_TTL_MS 2000 /* an unknown token is re-checked after this */
/* While PostgreSQL cannot be reached, a token this process verified within this long keeps
 * working (never past its own expires_at): the status of a running batch comes from Redis,
 * and an outage is when it is watched. Tokens it never verified get 503. */
#define AUTH_STALE_MS 900000
#define AUTH_TOKEN_LEN 45 /* "amcb_" + 40 hex */
#define AUTH_HASH_LEN 64

AuthCache *auth_new(void);
void auth_free(AuthCache *a); /* accepts NULL */
/* Drops the cached verdict of a token hash (after a revoke). */
void auth_forget(AuthCache *a, const char *hash);
/* Drops the cached verdicts of every token of a user (disabled, enabled, role changed), and
 * every refused verdict. */
void auth_forget_user(AuthCache *a, const char *user_id);

/* Checks r's Authorization: Bearer token. On success fills r->user_id/is_admin and calls
 * next(r) (which then owns r); otherwise replies 401 (403 when admin is required and the
 * user is not one, 503 when PostgreSQL is down and the token was not verified within
 * AUTH_STALE_MS) and frees r. */
void auth_check(Req *r, bool admin_only, void (*next)(Req *r));

/* Lower-case hex SHA-256 of s. False if libcrypto fails. */
MUST_CHECK bool auth_hash(const char *s, char out[AUTH_HASH_LEN + 1]);
/* A fresh random secret "amcb_" + 40 hex. */
MUST_CHECK bool auth_new_token(char out[AUTH_TOKEN_LEN + 1]);

#endif
