/* token.c - LWA refresh-token grant per account: credentials from amc_accounts (pgpool),
 * POST to amc_token_url (http), cache with expiry, waiters served by one refresh. Tokens and
 * refresh tokens are never logged. */
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http.h"
#include "ids.h"
#include "log.h"

#define TOKEN_EARLY_MS 60000		/* refresh this long before expiry */
#define TOKEN_CREDS_RETRY_MS 60000

typedef struct Waiter {
	struct Waiter *next;
	TokenFn fn;
	void *priv;
} Waiter;

typedef struct Account {
	struct Account *next;
	char account_id[IDS_UUID_LEN + 1];
	char *client_id, *refresh_token;	/* loaded once from amc_accounts */
	char *access_token;
	int64_t expires_ms;
	bool refreshing;
	Waiter *waiters;
} Account;

struct TokenCache {
	Account *accounts;
};

/* pgpool job: load the account's LWA credentials (runs on a pool thread). */
typedef struct CredsLoad {
	Worker *w;
	Account *acct;			/* borrowed: accounts live as long as the cache */
	char account_id[IDS_UUID_LEN + 1];
	char *client_id, *refresh_token;	/* results, taken by on_creds */
	bool found;
} CredsLoad;

TokenCache *token_cache_new(void)
{
	return calloc(1, sizeof(TokenCache));
}

static void wipe_free(char *s)
{
	if (s) {
		/* secrets do not linger in freed memory */
		volatile char *p = s;
		while (*p)
			*p++ = '\0';
		free(s);
	}
}

void token_cache_free(TokenCache *tc)
{
	if (!tc)
		return;
	while (tc->accounts) {
		Account *a = tc->accounts;
		tc->accounts = a->next;
		while (a->waiters) {
			Waiter *wt = a->waiters;
			a->waiters = wt->next;
			free(wt);
		}
		free(a->client_id);
		wipe_free(a->refresh_token);
		wipe_free(a->access_token);
		free(a);
	}
	free(tc);
}

static Account *account_find(TokenCache *tc, const char *account_id, bool create)
{
	for (Account *a = tc->accounts; a; a = a->next)
		if (strcmp(a->account_id, account_id) == 0)
			return a;
	if (!create || strlen(account_id) > IDS_UUID_LEN)
		return NULL;
	Account *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	strcpy(a->account_id, account_id);
	a->next = tc->accounts;
	tc->accounts = a;
	return a;
}

/* Serves every waiter; they may call token_get again (a new waiter list starts). */
static void serve(Worker *w, Account *a, const char *err)
{
	Waiter *list = a->waiters;
	a->waiters = NULL;
	a->refreshing = false;
	while (list) {
		Waiter *wt = list;
		list = wt->next;
		if (err)
			wt->fn(w, NULL, NULL, err, wt->priv);
		else
			wt->fn(w, a->access_token, a->client_id, NULL, wt->priv);
		free(wt);
	}
}

/* application/x-www-form-urlencoded value */
static void form_add(char **out, size_t *len, size_t *cap, const char *key, const char *val)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t need = *len + strlen(key) + 3 * strlen(val) + 3;
	if (need > *cap) {
		char *p = realloc(*out, need * 2);
		if (!p)
			return;
		*out = p;
		*cap = need * 2;
	}
	char *o = *out + *len;
	if (*len)
		*o++ = '&';
	o += sprintf(o, "%s=", key);
	for (const unsigned char *s = (const unsigned char *)val; *s; s++) {
		if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		    *s == '-' || *s == '_' || *s == '.' || *s == '~') {
			*o++ = (char)*s;
		} else {
			*o++ = '%';
			*o++ = hex[*s >> 4];
			*o++ = hex[*s & 15];
		}
	}
	*o = '\0';
	*len = (size_t)(o - *out);
}

static void on_token(Worker *w, const HttpResult *res, void *priv)
{
	Account *a = priv;
	char err[256];
	json_error_t jerr;
	json_t *doc = NULL;

	if (res->rc != CURLE_OK) {
		snprintf(err, sizeof err, "token endpoint unreachable: %s", res->error);
		goto fail;
	}
	doc = json_loadb(res->body, res->len, 0, &jerr);
	if (res->status != 200) {
		const char *code = doc ? json_string_value(json_object_get(doc, "error")) : NULL;
		const char *desc = doc ? json_string_value(json_object_get(doc, "error_description")) : NULL;
		snprintf(err, sizeof err, "token refresh failed: HTTP %ld%s%s%s%s", res->status,
			 code ? " " : "", code ? code : "", desc ? ": " : "", desc ? desc : "");
		goto fail;
	}
	const char *tok = doc ? json_string_value(json_object_get(doc, "access_token")) : NULL;
	json_t *exp = doc ? json_object_get(doc, "expires_in") : NULL;
	if (!tok || !*tok) {
		snprintf(err, sizeof err, "token refresh failed: no access_token in the answer");
		goto fail;
	}
	long long expires_in = json_is_integer(exp) ? json_integer_value(exp) :
			       json_is_real(exp) ? (long long)json_real_value(exp) : 3600;
	char *copy = strdup(tok);
	if (!copy) {
		snprintf(err, sizeof err, "out of memory");
		goto fail;
	}
	const char *rt = json_string_value(json_object_get(doc, "refresh_token"));
	if (rt && *rt && strcmp(rt, a->refresh_token) != 0) {
		char *rcopy = strdup(rt);	/* LWA may rotate it: keep what came back */
		if (rcopy) {
			wipe_free(a->refresh_token);
			a->refresh_token = rcopy;
		}
	}
	wipe_free(a->access_token);
	a->access_token = copy;
	a->expires_ms = worker_now_ms() + expires_in * 1000;
	json_decref(doc);
	log_info("account %s: access token refreshed (expires in %lld s)", a->account_id, expires_in);
	serve(w, a, NULL);
	return;
fail:
	json_decref(doc);
	log_error("account %s: %s", a->account_id, err);
	serve(w, a, err);
}

static void refresh(Worker *w, Account *a)
{
	char *form = NULL;
	size_t len = 0, cap = 0;
	const char *secret = getenv("AMCBATCH_LWA_CLIENT_SECRET");

	form_add(&form, &len, &cap, "grant_type", "refresh_token");
	form_add(&form, &len, &cap, "refresh_token", a->refresh_token);
	form_add(&form, &len, &cap, "client_id", a->client_id);
	form_add(&form, &len, &cap, "client_secret", secret ? secret : "");
	struct curl_slist *hdr = NULL;
	if (!form || !http_header(&hdr, "Content-Type", "application/x-www-form-urlencoded") ||
	    !http_header(&hdr, "Accept", "application/json")) {
		curl_slist_free_all(hdr);
		wipe_free(form);
		serve(w, a, "out of memory");
		return;
	}
	HttpReq req = {
		.method = "POST",
		.url = w->cfg.amc_token_url,
		.body = form,
		.headers = hdr,
		.retry = HTTP_RETRY_IDEMPOTENT,	/* a refresh grant can be repeated safely */
		.max_tries = 4,
	};
	bool ok = http_start(w, &req, on_token, a);
	wipe_free(form);
	if (!ok)
		serve(w, a, "could not start the token request");
}

static enum PgResult creds_work(PGconn *conn, void *arg, char *err, size_t errlen)
{
	CredsLoad *c = arg;
	const char *params[1] = {c->account_id};
	PGresult *r = PQexecParams(conn,
				   "SELECT lwa_client_id, lwa_refresh_token FROM amc_accounts WHERE id = $1",
				   1, NULL, params, NULL, NULL, 0);
	if (!pg_ok(conn, r, err, errlen)) {
		PQclear(r);
		return pg_fail_kind(conn);
	}
	c->found = PQntuples(r) == 1;
	if (c->found) {
		c->client_id = strdup(PQgetvalue(r, 0, 0));
		c->refresh_token = strdup(PQgetvalue(r, 0, 1));
		if (!c->client_id || !c->refresh_token) {
			snprintf(err, errlen, "out of memory");
			PQclear(r);
			return PG_FAIL;
		}
	}
	PQclear(r);
	return PG_OK;
}

static void on_creds(enum PgResult res, const char *err, void *arg)
{
	CredsLoad *c = arg;
	Worker *w = c->w;
	Account *a = c->acct;

	if (w->exiting) {
		free(c->client_id);
		wipe_free(c->refresh_token);
		free(c);
		return;
	}
	char msg[256];
	if (res != PG_OK || !c->found || !c->refresh_token[0]) {
		if (res != PG_OK)
			snprintf(msg, sizeof msg, "loading LWA credentials failed: %s", err);
		else if (!c->found)
			snprintf(msg, sizeof msg, "AMC account %s not found", c->account_id);
		else
			snprintf(msg, sizeof msg, "AMC account %s has no LWA refresh token", c->account_id);
		free(c->client_id);
		wipe_free(c->refresh_token);
		free(c);
		log_error("%s", msg);
		serve(w, a, msg);
		return;
	}
	a->client_id = c->client_id;		/* taken */
	a->refresh_token = c->refresh_token;	/* taken */
	free(c);
	refresh(w, a);
}

bool token_get(Worker *w, const char *account_id, TokenFn fn, void *priv)
{
	Account *a = account_find(w->tokens, account_id, true);
	if (!a)
		return false;
	if (a->access_token && worker_now_ms() < a->expires_ms - TOKEN_EARLY_MS) {
		fn(w, a->access_token, a->client_id, NULL, priv);
		return true;
	}
	Waiter *wt = malloc(sizeof *wt);
	if (!wt)
		return false;
	wt->fn = fn;
	wt->priv = priv;
	wt->next = a->waiters;
	a->waiters = wt;
	if (a->refreshing)
		return true;
	a->refreshing = true;
	if (a->refresh_token) {
		refresh(w, a);
		return true;
	}
	CredsLoad *c = calloc(1, sizeof *c);
	if (!c) {
		serve(w, a, "out of memory");
		return true;
	}
	c->w = w;
	c->acct = a;
	strcpy(c->account_id, a->account_id);
	if (!pgpool_submit(w->pg, creds_work, on_creds, c, TOKEN_CREDS_RETRY_MS)) {
		free(c);
		serve(w, a, "could not queue the credentials query");
	}
	return true;
}

void token_invalidate(Worker *w, const char *account_id, const char *token)
{
	Account *a = account_find(w->tokens, account_id, false);
	if (a && a->access_token && token && strcmp(a->access_token, token) == 0) {
		wipe_free(a->access_token);
		a->access_token = NULL;
		a->expires_ms = 0;
	}
}
