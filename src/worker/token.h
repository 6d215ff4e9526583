/* token.h - LWA access tokens, one per AMC account and region, shared by the whole fleet
 * through Redis (P token:A:R, with the token's expiry as PX) and refreshed by one worker at a
 * time (SET NX PX lock P token:A:R:lock; the others poll the cached key) from the region's
 * token URL (src/core/region.h). Within a process, concurrent jobs of one account wait on the
 * same lookup. Credentials come encrypted from amc_accounts. */
#ifndef AMCB_TOKEN_H
#define AMCB_TOKEN_H

#include "region.h"
#include "worker.h"

/* On success token and client_id are set (borrowed: copy what you keep) and err is NULL;
 * on failure token is NULL and err says why (never contains a secret). May run before
 * token_get returns. Not called when w->exiting. */
typedef void (*TokenFn)(Worker *w, const char *token, const char *client_id, const char *err,
			void *priv);

/* secret_key: config value ("" = AMCBATCH_SECRET_KEY); a missing key is reported when
 * credentials are first needed, not here (the no-op executor needs none). */
TokenCache *token_cache_new(struct event_base *base, const char *secret_key);
void token_cache_free(TokenCache *tc); /* accepts NULL; drops waiters without calling them */

/* A token of account_id (borrowed) issued by region's token host: a region is its own cache
 * entry, since a token may be good on its own region's hosts only (amcsim can be told so).
 * false only when out of memory (fn not called). */
MUST_CHECK bool token_get(Worker *w, const char *account_id, AmcRegion region, TokenFn fn,
			  void *priv);
/* The token was refused (401/403): the next token_get of this account and region skips it,
 * in this process and (through the shared key) refreshes it for the fleet unless a newer one
 * exists. */
void token_invalidate(Worker *w, const char *account_id, AmcRegion region, const char *token);

#endif
