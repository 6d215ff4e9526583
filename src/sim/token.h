/* token.h - the simulated Login-with-Amazon token store: issues access tokens for any
 * refresh token (except ones containing "REVOKED") and checks Bearer tokens with expiry. */
#ifndef AMCSIM_TOKEN_H
#define AMCSIM_TOKEN_H

#include <stdint.h>

#include "common.h"

#define TOKEN_LEN 37		/* "Atza|" + 32 hex */

typedef struct TokenStore TokenStore;

/* ttl_s: lifetime of access tokens (expires_in) */
TokenStore *token_store_new(int ttl_s);
void token_store_free(TokenStore *ts);
int token_ttl(const TokenStore *ts);
/* writes a fresh access token into out (TOKEN_LEN + 1 bytes) valid until now + ttl */
MUST_CHECK bool token_issue(TokenStore *ts, int64_t now_ms, char out[TOKEN_LEN + 1]);
/* true if tok was issued and has not expired */
bool token_valid(TokenStore *ts, const char *tok, int64_t now_ms);
/* drops expired tokens; returns how many were dropped */
size_t token_prune(TokenStore *ts, int64_t now_ms);

#endif
