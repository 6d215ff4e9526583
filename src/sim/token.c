/* token.c - access tokens live only in memory (a hash: token -> expiry); a restart of the
 * simulator invalidates them, which clients must handle like a real revocation (401). */
#include "token.h"

#include <stdio.h>
#include <stdlib.h>

#include "htab.h"
#include "ids.h"

struct TokenStore {
	HTab *tokens;		/* token -> malloc'd int64_t expiry (owned here) */
	int ttl_s;
};

TokenStore *token_store_new(int ttl_s)
{
	TokenStore *ts = calloc(1, sizeof(*ts));

	if (!ts)
		return NULL;
	if (!(ts->tokens = htab_new())) {
		free(ts);
		return NULL;
	}
	ts->ttl_s = ttl_s;
	return ts;
}

static bool drop_all(const char *key, void *value, void *priv)
{
	free(value);
	return true;
}

void token_store_free(TokenStore *ts)
{
	if (!ts)
		return;
	htab_foreach(ts->tokens, drop_all, NULL);
	htab_free(ts->tokens);
	free(ts);
}

int token_ttl(const TokenStore *ts)
{
	return ts->ttl_s;
}

bool token_issue(TokenStore *ts, int64_t now_ms, char out[TOKEN_LEN + 1])
{
	unsigned char rnd[16];
	int64_t *exp;

	if (!ids_random(rnd, sizeof(rnd)))
		return false;
	int n = snprintf(out, TOKEN_LEN + 1, "Atza|");
	for (size_t i = 0; i < sizeof(rnd); i++)
		n += snprintf(out + n, TOKEN_LEN + 1 - n, "%02x", rnd[i]);
	if (!(exp = malloc(sizeof(*exp))))
		return false;
	*exp = now_ms + (int64_t)ts->ttl_s * 1000;
	if (!htab_put(ts->tokens, out, exp)) {
		free(exp);
		return false;
	}
	return true;
}

bool token_valid(TokenStore *ts, const char *tok, int64_t now_ms)
{
	int64_t *exp = htab_get(ts->tokens, tok);

	return exp && *exp > now_ms;
}

static bool drop_expired(const char *key, void *value, void *priv)
{
	int64_t now_ms = *(int64_t *)priv;

	if (*(int64_t *)value > now_ms)
		return false;
	free(value);
	return true;
}

size_t token_prune(TokenStore *ts, int64_t now_ms)
{
	size_t before = htab_count(ts->tokens);

	htab_foreach(ts->tokens, drop_expired, &now_ms);
	return before - htab_count(ts->tokens);
}
