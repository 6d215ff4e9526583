/* token.c - LWA refresh-token grant per account, shared through Redis: GET the cached token
 * (P token:A:R = "<expires_ms> <token>", PX = its lifetime; R the account's region); if
 * missing, stale or refused, take the refresh lock (SET NX PX) and refresh: credentials from
 * amc_accounts (decrypted on a pgpool thread), POST the region's token URL, SET the key, DEL
 * the lock. Workers that miss the lock
 * poll the key. Without Redis a worker refreshes on its own. Secrets are never logged. */
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "exchange.h"
#include "ids.h"
#include "keys.h"
#include "log.h"
#include "mstime.h"
#include "secret.h"
#include "stats.h"

#define TOKEN_EARLY_MS 60000 /* a token this close to expiry counts as expired */
#define TOKEN_CREDS_RETRY_MS 60000
#define TOKEN_LOCK_MS 30000 /* the refresh lock's lifetime: longer than a refresh */
#define TOKEN_POLL_MS 200   /* lock held by another worker: look again this often */
#define TOKEN_POLL_MAX 150  /* then refresh anyway (the holder may be stuck) */

typedef struct Waiter {
	struct Waiter *next;
	TokenFn fn;
	void *priv;
} Waiter;

typedef struct Account {
	struct Account *next;
	Worker *w;
	char account_id[IDS_UUID_LEN + 1];
	AmcRegion region; /* whose token host issues this entry's tokens */
	char key[KEYS_MAX], lock[KEYS_MAX];
	/* loaded once from amc_accounts (owned, wiped on free) */
	char *client_id, *client_secret, *refresh_token;
	char *access_token; /* last token handed out (owned) */
	char *refused;      /* a token AMC refused: never handed out again (owned) */
	bool busy;          /* a lookup or refresh is running; waiters queue up */
	bool own_lock;
	int polls;
	struct event *timer;
	Waiter *waiters;
} Account;

struct TokenCache {
	struct event_base *base;
	Account *accounts;
	bool have_key;
	uint8_t key[SECRET_KEY_LEN];
	char key_err[128];
};

/* pgpool job: load and decrypt the account's LWA credentials (runs on a pool thread). */
typedef struct CredsLoad {
	Worker *w;
	Account *acct; /* borrowed: accounts live as long as the cache */
	char account_id[IDS_UUID_LEN + 1];
	uint8_t key[SECRET_KEY_LEN];
	bool have_key;
	char *client_id, *client_secret, *refresh_token; /* results, taken by on_creds */
	bool found;
	bool then_refresh; /* false: only the credentials were needed */
	char why[160];     /* credentials present but unusable */
} CredsLoad;

static void lookup(Account *a);

static void wipe_free(char *s)
{
	if (s != NULL) {
		/* secrets do not linger in freed memory */
		secret_wipe(s, strlen(s));
		free(s);
	}
}

TokenCache *token_cache_new(struct event_base *base, const char *secret_key)
{
	TokenCache *tc = calloc(1, sizeof(*tc));
	if (tc == NULL)
		return NULL;
	tc->base = base;
	tc->have_key = secret_key_load(secret_key, tc->key, tc->key_err, sizeof(tc->key_err));
	return tc;
}

void token_cache_free(TokenCache *tc)
{
	if (tc == NULL)
		return;
	while (tc->accounts != NULL) {
		Account *a = tc->accounts;
		tc->accounts = a->next;
		while (a->waiters != NULL) {
			Waiter *wt = a->waiters;
			a->waiters = wt->next;
			free(wt);
		}
		if (a->timer != NULL)
			event_free(a->timer);
		free(a->client_id);
		wipe_free(a->client_secret);
		wipe_free(a->refresh_token);
		wipe_free(a->access_token);
		wipe_free(a->refused);
		free(a);
	}
	secret_wipe(tc->key, sizeof(tc->key));
	free(tc);
}

static void on_poll_timer(evutil_socket_t fd, short what, void *arg)
{
	lookup(arg);
}

static Account *account_find(Worker *w, const char *account_id, AmcRegion region, bool create)
{
	TokenCache *tc = w->tokens;
	for (Account *a = tc->accounts; a; a = a->next)
		if (strcmp(a->account_id, account_id) == 0 && a->region == region)
			return a;
	if (!create || !ids_is_uuid(account_id) || region < 0 || region >= REGION__COUNT)
		return NULL;
	Account *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return NULL;
	strcpy(a->account_id, account_id);
	a->region = region;
	a->w = w;
	if (keys_token(a->key, sizeof(a->key), w->prefix, account_id, region_name[region]) ==
		    NULL ||
	    keys_token_lock(a->lock, sizeof(a->lock), w->prefix, account_id, region_name[region]) ==
		    NULL ||
	    (a->timer = evtimer_new(tc->base, on_poll_timer, a)) == NULL) {
		free(a);
		return NULL;
	}
	a->next = tc->accounts;
	tc->accounts = a;
	return a;
}

/* Serves every waiter; they may call token_get again (a new waiter list starts). */
static void serve(Account *a, const char *err)
{
	Worker *w = a->w;
	Waiter *list = a->waiters;
	a->waiters = NULL;
	a->busy = false;
	while (list != NULL) {
		Waiter *wt = list;
		list = wt->next;
		if (err != NULL || a->access_token == NULL)
			wt->fn(w, NULL, NULL, err != NULL ? err : "no access token", wt->priv);
		else
			wt->fn(w, a->access_token, a->client_id != NULL ? a->client_id : "", NULL,
			       wt->priv);
		free(wt);
	}
}

static void on_ignored(RConn *c, redisReply *reply, void *priv)
{
	/* SET of the shared token and DEL of the lock: a lost one only costs another refresh */
}

/* Only our own lock: one that expired while we refreshed may be another worker's by now
 * (token_unlock compares the value before it deletes). */
static void release_lock(Account *a)
{
	if (!a->own_lock)
		return;
	a->own_lock = false;
	LuaCall call;
	if (!lua_token_unlock(&call, a->w->prefix, a->account_id, region_name[a->region],
			      a->w->id) ||
	    !rconn_call(a->w->redis, &call, on_ignored, a))
		log_debug("account %s: token lock not released (redis down); it expires",
			  a->account_id);
}

/* ---- a rotated refresh token is stored (encrypted), or the next restart uses a dead one ---- */

typedef struct RotatedStore {
	char account_id[IDS_UUID_LEN + 1];
	char *hex; /* "\\x" + hex of the encrypted token (owned) */
} RotatedStore;

static enum PgResult rotated_work(PGconn *conn, void *arg, char *err, size_t errlen)
{
	RotatedStore *rs = arg;
	const char *params[2] = { rs->account_id, rs->hex };
	PGresult *r = PQexecParams(conn,
				   "UPDATE amc_accounts SET lwa_refresh_token_enc = $2::bytea"
				   " WHERE id = $1::uuid",
				   2, NULL, params, NULL, NULL, 0);
	enum PgResult res = pg_ok(conn, r, err, errlen) ? PG_OK : pg_fail_kind(conn);
	PQclear(r);
	return res;
}

static void rotated_done(enum PgResult res, const char *err, void *arg)
{
	RotatedStore *rs = arg;
	if (res == PG_OK)
		log_info("account %s: the rotated LWA refresh token is stored", rs->account_id);
	else
		log_error("account %s: the rotated LWA refresh token could not be stored: %s",
			  rs->account_id, err);
	free(rs->hex);
	free(rs);
}

static void store_rotated(Account *a)
{
	TokenCache *tc = a->w->tokens;
	uint8_t *blob = NULL;
	size_t n = 0;
	RotatedStore *rs;

	if (!tc->have_key) {
		log_warn("account %s: LWA rotated the refresh token, but without a secret key it "
			 "cannot be stored",
			 a->account_id);
		return;
	}
	if ((rs = calloc(1, sizeof(*rs))) == NULL ||
	    !secret_encrypt(tc->key, a->refresh_token, strlen(a->refresh_token), &blob, &n) ||
	    (rs->hex = malloc(2 * n + 3)) == NULL) {
		free(blob);
		free(rs);
		log_error("account %s: out of memory storing the rotated refresh token",
			  a->account_id);
		return;
	}
	strcpy(rs->account_id, a->account_id);
	rs->hex[0] = '\\';
	rs->hex[1] = 'x';
	secret_hex(blob, n, rs->hex + 2);
	free(blob);
	/* retried while PostgreSQL is down: the old token in the table is dead */
	if (!pgpool_submit(a->w->pg, rotated_work, rotated_done, rs, -1))
		rotated_done(PG_FAIL, "could not queue the update", rs);
}

/* application/x-www-form-urlencoded value */
static bool form_add(char **out, size_t *len, size_t *cap, const char *key, const char *val)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t need = *len + strlen(key) + 3 * strlen(val) + 3;
	if (need > *cap) {
		char *p = malloc(need * 2);
		if (p == NULL)
			return false;
		if (*out != NULL) {
			memcpy(p, *out, *len + 1);
			wipe_free(*out); /* realloc would leave the old copy unwiped */
		}
		*out = p;
		*cap = need * 2;
	}
	char *o = *out + *len;
	if (*len)
		*o++ = '&';
	o += sprintf(o, "%s=", key);
	for (const unsigned char *s = (const unsigned char *)val; *s; s++) {
		if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.' || *s == '~') {
			*o++ = (char)*s;
		} else {
			*o++ = '%';
			*o++ = hex[*s >> 4];
			*o++ = hex[*s & 15];
		}
	}
	*o = '\0';
	*len = (size_t)(o - *out);
	return true;
}

static void on_token(Worker *w, const ExchangeResult *res, void *priv)
{
	Account *a = priv;
	char err[256];
	json_t *doc = NULL;

	if (res->rc != CURLE_OK) {
		snprintf(err, sizeof(err), "token endpoint unreachable: %s", res->error);
		goto fail;
	}
	doc = json_loadb(res->body, res->len, 0, NULL);
	if (res->status != 200) {
		const char *code =
			doc != NULL ? json_string_value(json_object_get(doc, "error")) : NULL;
		const char *desc =
			doc != NULL ? json_string_value(json_object_get(doc, "error_description"))
				    : NULL;
		snprintf(err, sizeof(err), "token refresh failed: HTTP %ld%s%s%s%s", res->status,
			 code != NULL ? " " : "", code != NULL ? code : "",
			 desc != NULL ? ": " : "", desc != NULL ? desc : "");
		goto fail;
	}
	const char *tok =
		doc != NULL ? json_string_value(json_object_get(doc, "access_token")) : NULL;
	json_t *exp = doc != NULL ? json_object_get(doc, "expires_in") : NULL;
	if (tok == NULL || !*tok || strchr(tok, ' ') != NULL) {
		snprintf(err, sizeof(err),
			 "token refresh failed: no usable access_token in the answer");
		goto fail;
	}
	long long expires_in = json_is_integer(exp) ? json_integer_value(exp)
			       : json_is_real(exp)  ? (long long)json_real_value(exp)
						    : 3600;
	if (expires_in < 1)
		expires_in = 1;
	char *copy = strdup(tok);
	if (copy == NULL) {
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	const char *rt = json_string_value(json_object_get(doc, "refresh_token"));
	if (rt != NULL && *rt && strcmp(rt, a->refresh_token) != 0) {
		char *rcopy = strdup(rt); /* LWA may rotate it: use what came back */
		if (rcopy != NULL) {
			wipe_free(a->refresh_token);
			a->refresh_token = rcopy;
			store_rotated(a);
		}
	}
	wipe_free(a->access_token);
	a->access_token = copy;
	json_decref(doc);
	/* share it: value "<expires_ms> <token>", gone from Redis when it expires */
	int64_t expires_ms = mstime_wall() + expires_in * 1000;
	size_t vlen = strlen(copy) + 32;
	char *val = malloc(vlen), ttl[32];
	if (val != NULL) {
		snprintf(val, vlen, "%lld %s", (long long)expires_ms, copy);
		snprintf(ttl, sizeof(ttl), "%lld", expires_in * 1000);
		const char *argv[5] = { "SET", a->key, val, "PX", ttl };
		size_t lens[5];
		for (int i = 0; i < 5; i++)
			lens[i] = strlen(argv[i]);
		if (!rconn_command(w->redis, on_ignored, a, 5, argv, lens))
			log_debug("account %s: token not shared (redis down)", a->account_id);
		wipe_free(val);
	}
	release_lock(a);
	log_info("account %s: access token refreshed in %s (expires in %lld s)", a->account_id,
		 region_name[a->region], expires_in);
	serve(a, NULL);
	return;
fail:
	json_decref(doc);
	release_lock(a);
	log_error("account %s: %s", a->account_id, err);
	serve(a, err);
}

static void refresh(Account *a)
{
	Worker *w = a->w;
	char *form = NULL;
	size_t len = 0, cap = 0;

	bool ok = form_add(&form, &len, &cap, "grant_type", "refresh_token") &&
		  form_add(&form, &len, &cap, "refresh_token", a->refresh_token) &&
		  form_add(&form, &len, &cap, "client_id", a->client_id) &&
		  form_add(&form, &len, &cap, "client_secret", a->client_secret);
	struct curl_slist *hdr = NULL;
	if (!ok || !exchange_header(&hdr, "Content-Type", "application/x-www-form-urlencoded") ||
	    !exchange_header(&hdr, "Accept", "application/json")) {
		curl_slist_free_all(hdr);
		wipe_free(form);
		release_lock(a);
		serve(a, "out of memory");
		return;
	}
	ExchangeReq req = {
		.method = "POST",
		.url = region_token_url(&w->cfg, a->region),
		.body = form,
		.headers = hdr,
		.retry = EXCHANGE_RETRY_IDEMPOTENT, /* a refresh grant can be repeated safely */
		.max_tries = 4,
		.endpoint = AMC_EP_TOKEN,
	};
	ok = exchange_start(w, &req, on_token, a);
	wipe_free(form);
	if (!ok) {
		release_lock(a);
		serve(a, "could not start the token request");
	}
}

/* text bytea ("\x...") → decrypted string; false with c->why set */
static bool creds_decrypt(CredsLoad *c, PGresult *r, int col, const char *what, char **out)
{
	char err[128];
	uint8_t *blob = NULL;
	size_t n = 0;
	*out = NULL;
	if (PQgetisnull(r, 0, col))
		return true;
	if (!c->have_key) {
		snprintf(c->why, sizeof(c->why), "the worker has no secret key to decrypt the %s",
			 what);
		return false;
	}
	if (!secret_unhex(PQgetvalue(r, 0, col), &blob, &n)) {
		snprintf(c->why, sizeof(c->why), "the stored %s is not valid bytea", what);
		return false;
	}
	bool ok = secret_decrypt(c->key, blob, n, out, err, sizeof(err));
	free(blob);
	if (!ok)
		snprintf(c->why, sizeof(c->why), "the stored %s: %s", what, err);
	return ok;
}

static enum PgResult creds_work(PGconn *conn, void *arg, char *err, size_t errlen)
{
	CredsLoad *c = arg;
	const char *params[1] = { c->account_id };
	PGresult *r =
		PQexecParams(conn,
			     "SELECT lwa_client_id, lwa_refresh_token_enc, lwa_client_secret_enc"
			     " FROM amc_accounts WHERE id = $1",
			     1, NULL, params, NULL, NULL, 0);
	if (!pg_ok(conn, r, err, errlen)) {
		PQclear(r);
		return pg_fail_kind(conn);
	}
	/* a repeated run (reconnect) starts clean */
	free(c->client_id);
	wipe_free(c->refresh_token);
	wipe_free(c->client_secret);
	c->client_id = c->refresh_token = c->client_secret = NULL;
	c->why[0] = '\0';
	c->found = PQntuples(r) == 1;
	if (c->found) {
		c->client_id = strdup(PQgetvalue(r, 0, 0));
		if (creds_decrypt(c, r, 1, "refresh token", &c->refresh_token))
			(void)creds_decrypt(c, r, 2, "client secret", &c->client_secret);
		if (c->client_id == NULL) {
			snprintf(err, errlen, "out of memory");
			PQclear(r);
			return PG_FAIL;
		}
	}
	PQclear(r);
	return PG_OK;
}

static void creds_free(CredsLoad *c)
{
	free(c->client_id);
	wipe_free(c->refresh_token);
	wipe_free(c->client_secret);
	secret_wipe(c->key, sizeof(c->key));
	free(c);
}

static void on_creds(enum PgResult res, const char *err, void *arg)
{
	CredsLoad *c = arg;
	Account *a = c->acct;

	if (c->w->exiting) {
		creds_free(c);
		return;
	}
	char msg[256];
	if (res != PG_OK || !c->found || c->why[0] || c->refresh_token == NULL ||
	    !c->refresh_token[0]) {
		if (res != PG_OK)
			snprintf(msg, sizeof(msg), "loading LWA credentials failed: %s", err);
		else if (!c->found)
			snprintf(msg, sizeof(msg), "AMC account %s not found", c->account_id);
		else if (c->why[0])
			snprintf(msg, sizeof(msg), "AMC account %s: %s", c->account_id, c->why);
		else
			snprintf(msg, sizeof(msg), "AMC account %s has no LWA refresh token",
				 c->account_id);
		creds_free(c);
		log_error("%s", msg);
		release_lock(a);
		serve(a, msg);
		return;
	}
	if (c->client_secret == NULL) {
		/* none stored: an operator-wide secret may come from the environment */
		const char *env = getenv("AMCBATCH_LWA_CLIENT_SECRET");
		c->client_secret = strdup(env != NULL ? env : "");
	}
	if (c->client_secret == NULL) {
		creds_free(c);
		release_lock(a);
		serve(a, "out of memory");
		return;
	}
	a->client_id = c->client_id;         /* taken */
	a->refresh_token = c->refresh_token; /* taken */
	a->client_secret = c->client_secret; /* taken */
	c->client_id = c->refresh_token = c->client_secret = NULL;
	bool then_refresh = c->then_refresh;
	creds_free(c);
	if (then_refresh)
		refresh(a);
	else
		serve(a, NULL);
}

/* We may refresh (lock held, or Redis unusable): credentials first if not loaded yet.
 * then_refresh false: a shared token was found, only the client id is missing. */
static void refresh_start(Account *a, bool then_refresh)
{
	Worker *w = a->w;
	if (a->refresh_token != NULL) {
		if (then_refresh)
			refresh(a);
		else
			serve(a, NULL);
		return;
	}
	CredsLoad *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		release_lock(a);
		serve(a, "out of memory");
		return;
	}
	c->w = w;
	c->acct = a;
	c->then_refresh = then_refresh;
	strcpy(c->account_id, a->account_id);
	c->have_key = w->tokens->have_key;
	memcpy(c->key, w->tokens->key, sizeof(c->key));
	if (!c->have_key)
		log_warn("no secret key (%s): encrypted credentials cannot be read",
			 w->tokens->key_err);
	if (!pgpool_submit(w->pg, creds_work, on_creds, c, TOKEN_CREDS_RETRY_MS)) {
		creds_free(c);
		release_lock(a);
		serve(a, "could not queue the credentials query");
	}
}

static void on_lock(RConn *rc, redisReply *reply, void *priv)
{
	Account *a = priv;
	if (a->w->exiting)
		return;
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		log_warn("account %s: token lock unavailable (redis), refreshing alone",
			 a->account_id);
		refresh_start(a, true);
		return;
	}
	if (reply->type == REDIS_REPLY_STATUS) {
		a->own_lock = true;
		refresh_start(a, true);
		return;
	}
	/* nil: another worker refreshes; its token shows up under the key */
	if (++a->polls > TOKEN_POLL_MAX) {
		log_warn("account %s: token lock held for too long, refreshing anyway",
			 a->account_id);
		refresh_start(a, true);
		return;
	}
	struct timeval tv = { 0, TOKEN_POLL_MS * 1000 };
	evtimer_add(a->timer, &tv);
}

static void try_lock(Account *a)
{
	char ms[16];
	snprintf(ms, sizeof(ms), "%d", TOKEN_LOCK_MS);
	const char *argv[6] = { "SET", a->lock, a->w->id, "NX", "PX", ms };
	size_t lens[6];
	for (int i = 0; i < 6; i++)
		lens[i] = strlen(argv[i]);
	if (!rconn_command(a->w->redis, on_lock, a, 6, argv, lens))
		on_lock(a->w->redis, NULL, a);
}

static void on_cached(RConn *rc, redisReply *reply, void *priv)
{
	Account *a = priv;
	if (a->w->exiting)
		return;
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		log_warn("account %s: token cache unavailable (redis), refreshing alone",
			 a->account_id);
		refresh_start(a, true);
		return;
	}
	if (reply->type == REDIS_REPLY_STRING) {
		char *end;
		long long exp = strtoll(reply->str, &end, 10);
		const char *tok = *end == ' ' ? end + 1 : NULL;
		char *copy;
		if (tok != NULL && *tok && exp - mstime_wall() > TOKEN_EARLY_MS &&
		    !(a->refused != NULL && strcmp(a->refused, tok) == 0) &&
		    (copy = strdup(tok)) != NULL) {
			wipe_free(a->access_token);
			a->access_token = copy;
			if (a->client_id)
				serve(a, NULL);
			else /* refreshed elsewhere: the ClientId header still needs our row */
				refresh_start(a, false);
			return;
		}
	}
	try_lock(a);
}

static void lookup(Account *a)
{
	if (!rconn_commandf(a->w->redis, on_cached, a, "GET %s", a->key))
		on_cached(a->w->redis, NULL, a);
}

bool token_get(Worker *w, const char *account_id, AmcRegion region, TokenFn fn, void *priv)
{
	Account *a = account_find(w, account_id, region, true);
	if (a == NULL)
		return false;
	Waiter *wt = malloc(sizeof(*wt));
	if (wt == NULL)
		return false;
	wt->fn = fn;
	wt->priv = priv;
	wt->next = a->waiters;
	a->waiters = wt;
	if (a->busy)
		return true;
	a->busy = true;
	a->polls = 0;
	lookup(a);
	return true;
}

void token_invalidate(Worker *w, const char *account_id, AmcRegion region, const char *token)
{
	Account *a = account_find(w, account_id, region, false);
	if (a == NULL || token == NULL || !*token)
		return;
	char *copy = strdup(token);
	if (copy != NULL) {
		wipe_free(a->refused);
		a->refused = copy;
	}
}
