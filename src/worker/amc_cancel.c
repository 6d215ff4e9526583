/* amc_cancel.c - AMC cancels that no job waits for. A drained entry names an execution of a
 * cancelled batch: with an AMC id, that execution is cancelled; with only a create intent,
 * AMC's list is searched for executions carrying the marker line and each is cancelled. The
 * entry is removed (ZREM) when every cancel was accepted or found the execution over (and,
 * for an intent, once AMC's list can be trusted to show what it created: ADOPT_WAIT_MS);
 * otherwise it comes due again after its lease (take_amc_cancels). */
#include "amc_cancel.h"

#include <stdlib.h>
#include <string.h>

#include "fieldlen.h"
#include "ids.h"
#include "keys.h"
#include "log.h"
#include "mstime.h"
#include "region.h"
#include "token.h"

#define DRAIN_MAX 20         /* entries per take */
#define DRAIN_LEASE_MS 60000 /* an entry taken is due again after this */

/* ---- detached cancel ---- */

/* Every cancel below is linked here while it runs, so teardown can free what the transfers
 * and token waits it is in (freed without callbacks) leave behind. */
typedef struct Live {
	struct Live *prev, *next;
} Live;

static Live *live;

static void live_add(Live *l)
{
	l->prev = NULL;
	l->next = live;
	if (live != NULL)
		live->prev = l;
	live = l;
}

static void live_del(Live *l)
{
	if (l->prev)
		l->prev->next = l->next;
	else if (live == l)
		live = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
}

typedef struct Detached {
	Live link;  /* first: the Live list frees a Detached or an Entry */
	bool entry; /* false: a Detached */
	char amc_id[128];
	char instance_id[FIELDLEN_INSTANCE_ID + 1];
	char why[160];
} Detached;

static void on_detached(Worker *w, const ExchangeResult *res, void *priv)
{
	Detached *d = priv;
	if (res->rc == CURLE_OK && res->status == 200) {
		log_info("AMC execution %s on %s cancelled: %s", d->amc_id, d->instance_id, d->why);
	} else {
		char text[256];
		amc_error_text(res, text, sizeof(text));
		log_warn("AMC cancel of %s on %s (%s): %s", d->amc_id, d->instance_id, d->why,
			 text);
	}
	live_del(&d->link);
	free(d);
}

void amc_cancel_detached(Worker *w, const AmcTarget *t, const char *amc_id, const char *why)
{
	Detached *d = calloc(1, sizeof(*d));
	if (d == NULL || strlen(amc_id) >= sizeof(d->amc_id)) {
		free(d);
		log_error("could not cancel AMC execution %s (%s)", amc_id, why);
		return;
	}
	strcpy(d->amc_id, amc_id);
	snprintf(d->instance_id, sizeof(d->instance_id), "%s", t->instance_id);
	snprintf(d->why, sizeof(d->why), "%s", why);
	/* amc_cancel copies what it sends (headers, url) */
	if (!amc_cancel(w, t, amc_id, on_detached, d)) {
		log_error("could not send the cancel of AMC execution %s (%s)", amc_id, why);
		free(d);
		return;
	}
	live_add(&d->link);
}

/* ---- draining P amc_cancels ---- */

/* One entry being cancelled: owned by itself until done. */
typedef struct Entry {
	Live link;  /* first, as in Detached */
	bool entry; /* true */
	Worker *w;
	char ref[IDS_BATCH_LEN + IDS_EXEC_LEN + 2];
	char batch_id[IDS_BATCH_LEN + 1], exec_id[IDS_EXEC_LEN + 1];
	char amc_id[128];
	char instance_id[FIELDLEN_INSTANCE_ID + 1];
	char account_id[IDS_UUID_LEN + 1];
	char advertiser_id[FIELDLEN_ADVERTISER_ID + 1];
	char marketplace_id[FIELDLEN_MARKETPLACE_ID + 1];
	AmcRegion region; /* the account's: its AMC and token hosts */
	int64_t since_ms; /* the intent (or the start): search AMC's list from here */
	char *token;      /* owned, never logged */
	char client_id[FIELDLEN_CLIENT_ID + 1];
	json_t *found; /* list path: ids still to cancel (owned) */
	bool listed;   /* no AMC id: AMC's list was searched for the marker */
	bool failed;   /* a cancel that AMC did not take: the entry stays */
} Entry;

static void entry_free(Entry *e)
{
	live_del(&e->link);
	if (e->token != NULL) {
		memset(e->token, 0, strlen(e->token));
		free(e->token);
	}
	json_decref(e->found);
	free(e);
}

static void target(Entry *e, AmcTarget *t)
{
	t->token = e->token != NULL ? e->token : "";
	t->client_id = e->client_id;
	t->advertiser_id = e->advertiser_id;
	t->marketplace_id = e->marketplace_id;
	t->instance_id = e->instance_id;
	t->base_url = region_base_url(&e->w->cfg, e->region);
}

static void on_zrem(RConn *c, redisReply *reply, void *priv)
{
	/* a lost ZREM only means one more (refused) cancel later; a lost ZADD, a retry after
	 * the lease instead of sooner */
}

/* An entry not done is due again in AMC_CANCEL_AGAIN_MS rather than after take_amc_cancels'
 * lease (60 s): a create whose answer is late shows up in AMC's list within seconds, and a
 * short AMC execution would run to its end before a retry a minute later. */
#define AMC_CANCEL_AGAIN_MS 5000

static void entry_done(Entry *e)
{
	Worker *w = e->w;
	char key[KEYS_MAX], due[24];
	if (keys_amc_cancels(key, sizeof(key), w->prefix) != NULL) {
		snprintf(due, sizeof(due), "%lld",
			 (long long)(mstime_wall() + AMC_CANCEL_AGAIN_MS));
		if (!(e->failed
			      ? rconn_commandf(w->redis, on_zrem, NULL, "ZADD %s XX %s %s", key,
					       due, e->ref)
			      : rconn_commandf(w->redis, on_zrem, NULL, "ZREM %s %s", key, e->ref)))
			log_debug("[%s] amc cancel entry not updated (redis down)", e->ref);
	}
	entry_free(e);
}

static void cancel_next(Entry *e);

static void on_cancelled(Worker *w, const ExchangeResult *res, void *priv)
{
	Entry *e = priv;
	/* 400 = terminal on AMC already, 404 = unknown there: nothing left to stop */
	if (res->rc == CURLE_OK &&
	    (res->status == 200 || res->status == 400 || res->status == 404)) {
		elog_info(e->batch_id, e->exec_id, "AMC execution %s of a cancelled batch: %s",
			  e->amc_id, res->status == 200 ? "cancelled" : "already over");
	} else {
		char text[256];
		amc_error_text(res, text, sizeof(text));
		elog_warn(e->batch_id, e->exec_id, "AMC cancel of %s failed (again later): %s",
			  e->amc_id, text);
		e->failed = true;
	}
	cancel_next(e);
}

/* cancels e->amc_id, then each id left in e->found */
static void cancel_one(Entry *e)
{
	AmcTarget t;
	target(e, &t);
	if (!amc_cancel(e->w, &t, e->amc_id, on_cancelled, e)) {
		e->failed = true;
		cancel_next(e);
	}
}

static void cancel_next(Entry *e)
{
	if (json_array_size(e->found) > 0) {
		snprintf(e->amc_id, sizeof(e->amc_id), "%s",
			 json_string_value(json_array_get(e->found, 0)));
		json_array_remove(e->found, 0);
		cancel_one(e);
		return;
	}
	/* A create of the intent may still be on its way, or AMC's list may not show it yet:
	 * the entry stays until the list can be trusted (create.c waits as long to create). */
	if (e->listed && mstime_wall() < e->since_ms + ADOPT_WAIT_MS)
		e->failed = true;
	entry_done(e);
}

static void list_page(Entry *e, const char *next_token);

static void on_listed(Worker *w, const ExchangeResult *res, void *priv)
{
	Entry *e = priv;
	if (res->rc != CURLE_OK || res->status != 200) {
		char text[256];
		amc_error_text(res, text, sizeof(text));
		elog_warn(e->batch_id, e->exec_id,
			  "listing AMC executions to cancel failed (again later): %s", text);
		e->failed = true;
		cancel_next(e);
		return;
	}
	json_t *doc = json_loadb(res->body, res->len, 0, NULL), *ex;
	size_t i;
	json_array_foreach (json_object_get(doc, "executions"), i, ex) {
		const char *id = json_string_value(json_object_get(ex, "workflowExecutionId"));
		const char *st = json_string_value(json_object_get(ex, "status"));
		if (id != NULL && amc_listed_matches(ex, e->batch_id, e->exec_id) &&
		    !(st != NULL && (strcmp(st, "SUCCEEDED") == 0 || strcmp(st, "FAILED") == 0 ||
				     strcmp(st, "CANCELLED") == 0 || strcmp(st, "REJECTED") == 0)))
			json_array_append_new(e->found, json_string(id));
	}
	char token[512];
	amc_list_next_token(doc, token, sizeof(token));
	json_decref(doc);
	if (token[0]) {
		list_page(e, token);
		return;
	}
	cancel_next(e);
}

static void list_page(Entry *e, const char *next_token)
{
	AmcTarget t;
	target(e, &t);
	if (!amc_list_executions(e->w, &t, e->since_ms, next_token, on_listed, e)) {
		e->failed = true;
		cancel_next(e);
	}
}

static void on_token(Worker *w, const char *token, const char *client_id, const char *err,
		     void *priv)
{
	Entry *e = priv;
	if (token == NULL || (e->token = strdup(token)) == NULL) {
		elog_warn(e->batch_id, e->exec_id, "no AMC token to cancel with (again later): %s",
			  err != NULL ? err : "out of memory");
		e->failed = true;
		entry_done(e);
		return;
	}
	snprintf(e->client_id, sizeof(e->client_id), "%s", client_id != NULL ? client_id : "");
	if (e->amc_id[0]) {
		cancel_one(e);
	} else {
		e->listed = true;
		list_page(e, NULL);
	}
}

static const char *str_at(const redisReply *a, size_t i)
{
	return i < a->elements && a->element[i]->type == REDIS_REPLY_STRING ? a->element[i]->str
									    : "";
}

static void take_one(Worker *w, const redisReply *a)
{
	Entry *e = calloc(1, sizeof(*e));
	const char *ref = str_at(a, 0);
	if (e != NULL)
		live_add(&e->link); /* entry_free unlinks */
	if (e == NULL || (e->found = json_array()) == NULL || strlen(ref) >= sizeof(e->ref) ||
	    !ids_split_ref(ref, e->batch_id, e->exec_id) ||
	    strlen(str_at(a, 1)) >= sizeof(e->amc_id) ||
	    strlen(str_at(a, 2)) >= sizeof(e->instance_id) ||
	    strlen(str_at(a, 3)) >= sizeof(e->account_id) ||
	    strlen(str_at(a, 4)) >= sizeof(e->advertiser_id) ||
	    strlen(str_at(a, 5)) >= sizeof(e->marketplace_id) ||
	    /* no region: an exec enqueued before regions, which were all NA */
	    !region_parse(*str_at(a, 8) ? str_at(a, 8) : "NA", &e->region)) {
		log_error("amc_cancels: unusable entry %s", ref);
		if (e != NULL)
			entry_free(e);
		return;
	}
	e->w = w;
	e->entry = true;
	strcpy(e->ref, ref);
	strcpy(e->amc_id, str_at(a, 1));
	strcpy(e->instance_id, str_at(a, 2));
	strcpy(e->account_id, str_at(a, 3));
	strcpy(e->advertiser_id, str_at(a, 4));
	strcpy(e->marketplace_id, str_at(a, 5));
	e->since_ms = strtoll(str_at(a, 6), NULL, 10);
	if (e->since_ms <= 0)
		e->since_ms = strtoll(str_at(a, 7), NULL, 10);
	if (!e->amc_id[0] && e->since_ms <= 0) {
		entry_done(e); /* nothing was ever announced to AMC */
		return;
	}
	if (!token_get(w, e->account_id, e->region, on_token, e)) {
		e->failed = true;
		entry_done(e);
	}
}

static void on_taken(RConn *c, redisReply *reply, void *priv)
{
	Worker *w = priv;
	w->draining_cancels = false;
	if (w->exiting || reply == NULL)
		return;
	if (reply->type != REDIS_REPLY_ARRAY) {
		log_error("take_amc_cancels failed: %s",
			  reply->type == REDIS_REPLY_ERROR ? reply->str : "?");
		return;
	}
	for (size_t i = 0; i < reply->elements; i++)
		if (reply->element[i]->type == REDIS_REPLY_ARRAY)
			take_one(w, reply->element[i]);
}

void amc_cancel_free_all(void)
{
	while (live != NULL) {
		Live *l = live;
		if (((Detached *)(void *)l)->entry) {
			entry_free((Entry *)(void *)l);
		} else {
			live_del(l);
			free(l);
		}
	}
}

void amc_cancels_drain(Worker *w)
{
	LuaCall call;
	if (w->draining_cancels || w->stopping || w->cfg.noop_executor ||
	    !lua_take_amc_cancels(&call, w->prefix, mstime_wall(), DRAIN_MAX, DRAIN_LEASE_MS))
		return;
	if (rconn_call(w->redis, &call, on_taken, w))
		w->draining_cancels = true;
}
