/* token.h - LWA access tokens, one per AMC account, cached in memory until 60 s before they
 * expire. Single-flight: concurrent jobs of one account wait on the same refresh. */
#ifndef AMCB_TOKEN_H
#define AMCB_TOKEN_H

#include "worker.h"

/* On success token and client_id are set (borrowed: copy what you keep) and err is NULL;
 * on failure token is NULL and err says why (never contains a secret). May run before
 * token_get returns (cached token). Not called when w->exiting. */
typedef void (*TokenFn)(Worker *w, const char *token, const char *client_id, const char *err,
			void *priv);

TokenCache *token_cache_new(void);
void token_cache_free(TokenCache *tc);	/* accepts NULL; drops waiters without calling them */

/* false only when out of memory (fn not called). */
MUST_CHECK bool token_get(Worker *w, const char *account_id, TokenFn fn, void *priv);
/* The token was refused (401/403): forget it unless a newer one already replaced it. */
void token_invalidate(Worker *w, const char *account_id, const char *token);

#endif
