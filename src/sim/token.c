/* token.c - access tokens live only in memory (a hash: token -> expiry); a restart of the
 * simulator invalidates them, which clients must handle like a real revocation (401). */
#include "token.h"

#include <stdio.h>
#include <stdlib.h>

#include "htab.h"
#include "ids.h"

typedef struct Issued {
	int64_t ms; /* issue time; first, so prune reads it as an int64_t too */
	int region; /* AmcRegion of the token host that issued it */
} Issued;

struct TokenStore {
	HTab *tokens; /* token -> malloc'd Issued (owned here) */
};

TokenStore *token_store_new(void)
{
	TokenStore *ts = calloc(1, sizeof(*ts));

	if (ts == NULL)
		return NULL;
	if ((ts->tokens = htab_new()) == NULL) {
		free(ts);
		return NULL;
	}
	return ts;
}

static bool drop_all(const char *key, void *value, void *priv)
{
	free(value);
	return true;
}

void token_store_free(TokenStore *ts)
{
	if (ts == NULL)
		return;
	htab_foreach (ts->tokens, drop_all, NULL)
		;
	htab_free(ts->tokens);
	free(ts);
}

bool token_issue(TokenStore *ts, int64_t now_ms, int region, char out[TOKEN_LEN + 1])
{
	unsigned char rnd[16];
	Issued *issued;

	if (!ids_random(rnd, sizeof(rnd)))
		return false;
	int n = snprintf(out, TOKEN_LEN + 1, "Atza|");
	for (size_t i = 0; i < sizeof(rnd); i++)
		n += snprintf(out + n, TOKEN_LEN + 1 - n, "%02x", rnd[i]);
	if ((issued = malloc(sizeof(*issued))) == NULL)
		return false;
	issued->ms = now_ms;
	issued->region = region;
	if (!htab_put(ts->tokens, out, issued)) {
		free(issued);
		return false;
	}
	return true;
}

bool token_valid(TokenStore *ts, const char *tok, int64_t now_ms, int ttl_s, int *region)
{
	Issued *issued = htab_get(ts->tokens, tok);

	if (region != NULL)
		*region = issued != NULL ? issued->region : -1;
	return issued != NULL && issued->ms + (int64_t)ttl_s * 1000 > now_ms;
}

static bool drop_expired(const char *key, void *value, void *priv)
{
	int64_t cutoff_ms = *(int64_t *)priv;

	if (((const Issued *)value)->ms > cutoff_ms)
		return false;
	free(value);
	return true;
}

size_t token_prune(TokenStore *ts, int64_t now_ms, int max_ttl_s)
{
	size_t before = htab_count(ts->tokens);
	int64_t cutoff_ms = now_ms - (int64_t)max_ttl_s * 1000;

	htab_foreach (ts->tokens, drop_expired, &cutoff_ms)
		;
	return before - htab_count(ts->tokens);
}
