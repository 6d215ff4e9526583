/* token.h - the simulated Login-with-Amazon token store: issues access tokens for any
 * refresh token (except ones containing "REVOKED"), remembering which region's token host
 * issued each, and checks Bearer tokens against a lifetime given at check time (profiles may
 * shorten it per instance). */
#ifndef AMCSIM_TOKEN_H
#define AMCSIM_TOKEN_H

#include <stdint.h>

#include "common.h"

#define TOKEN_LEN 37 /* "Atza|" + 32 hex */

typedef struct TokenStore TokenStore;

TokenStore *token_store_new(void);
void token_store_free(TokenStore *ts);
/* writes a fresh access token issued at now_ms by region's token host (an AmcRegion) into
 * out (TOKEN_LEN + 1 bytes) */
MUST_CHECK bool token_issue(TokenStore *ts, int64_t now_ms, int region, char out[TOKEN_LEN + 1]);
/* true if tok was issued less than ttl_s seconds ago; *region (may be NULL) = its issuer's */
bool token_valid(TokenStore *ts, const char *tok, int64_t now_ms, int ttl_s, int *region);
/* drops tokens older than max_ttl_s; returns how many were dropped */
size_t token_prune(TokenStore *ts, int64_t now_ms, int max_ttl_s);

#endif
