/* rcall.c - retrying EVALSHA: one RCall owns copies of the keys and args until Redis has
 * answered; transport trouble (no connection, dropped reply, LOADING/BUSY) re-arms a timer. */
#include "rcall.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mstime.h"

#define RCALL_RETRY_MS 500
#define RCALL_RETRY_MAX_MS 30000
#define RCALL_MAX_ARGS 16

typedef struct RCall {
	Worker *w;
	enum LuaScriptId id;
	int nkeys, nargs;
	char *keys[RCALL_MAX_ARGS];
	char *args[RCALL_MAX_ARGS];
	RcallDoneFn done;
	void *priv;
	struct event *timer;
	int tries;
	struct RCall *prev, *next; /* in `waiting` while the timer is armed */
} RCall;

/* calls waiting for their retry timer: nothing else refers to them, so rcall_free_all frees
 * them at teardown */
static RCall *waiting;

static void unlink_waiting(RCall *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else if (waiting == c)
		waiting = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

static void rcall_free(RCall *c)
{
	for (int i = 0; i < c->nkeys; i++)
		free(c->keys[i]);
	for (int i = 0; i < c->nargs; i++)
		free(c->args[i]);
	if (c->timer != NULL)
		event_free(c->timer);
	free(c);
}

static void rcall_send(RCall *c);

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	unlink_waiting(arg);
	rcall_send(arg);
}

void rcall_free_all(Worker *w)
{
	while (waiting != NULL) {
		RCall *c = waiting;
		unlink_waiting(c);
		c->done(w, NULL, c->priv); /* the caller frees its priv */
		rcall_free(c);
	}
}

static void retry_later(RCall *c, const char *why)
{
	/* linear up to 30 s: a Redis that refuses (MISCONF, OOM) is not hammered, and one
	 * that comes back is used within a second or so */
	int ms = RCALL_RETRY_MS * (c->tries < 60 ? c->tries : 60);
	struct timeval tv;
	if (ms > RCALL_RETRY_MAX_MS)
		ms = RCALL_RETRY_MAX_MS;
	tv = mstime_tv(ms);
	if (c->tries == 1 || c->tries % 20 == 0)
		log_warn("script %s not run (%s), again in %d ms (%d tries)",
			 lua_scripts[c->id].name, why, ms, c->tries);
	evtimer_add(c->timer, &tv);
	c->prev = NULL;
	c->next = waiting;
	if (waiting != NULL)
		waiting->prev = c;
	waiting = c;
}

static void on_reply(RConn *rc, redisReply *reply, void *priv)
{
	RCall *c = priv;
	if (c->w->exiting) {
		c->done(c->w, NULL, c->priv);
		rcall_free(c);
		return;
	}
	if (reply == NULL) {
		retry_later(c, "redis unavailable");
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		if (!rconn_not_now_error(reply))
			log_error("script %s refused: %s", lua_scripts[c->id].name, reply->str);
		retry_later(c, reply->str);
		return;
	}
	c->done(c->w, reply, c->priv);
	rcall_free(c);
}

static void rcall_send(RCall *c)
{
	if (c->w->exiting) {
		c->done(c->w, NULL, c->priv);
		rcall_free(c);
		return;
	}
	c->tries++;
	if (!rconn_script(c->w->redis, c->id, c->nkeys, (const char **)c->keys, c->nargs,
			  (const char **)c->args, on_reply, c))
		retry_later(c, "not connected");
}

bool rcall_script(Worker *w, enum LuaScriptId id, int nkeys, const char **keys, int nargs,
		  const char **args, RcallDoneFn done, void *priv)
{
	if (nkeys > RCALL_MAX_ARGS || nargs > RCALL_MAX_ARGS)
		return false;
	RCall *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return false;
	c->w = w;
	c->id = id;
	c->done = done;
	c->priv = priv;
	for (; c->nkeys < nkeys; c->nkeys++)
		if ((c->keys[c->nkeys] = strdup(keys[c->nkeys])) == NULL)
			goto fail;
	for (; c->nargs < nargs; c->nargs++)
		if ((c->args[c->nargs] = strdup(args[c->nargs])) == NULL)
			goto fail;
	if ((c->timer = evtimer_new(w->base, on_retry, c)) == NULL)
		goto fail;
	rcall_send(c);
	return true;
fail:
	rcall_free(c);
	return false;
}

bool rcall_call(Worker *w, const LuaCall *call, RcallDoneFn done, void *priv)
{
	const char *keys[LUA_CALL_KEYS_MAX];

	if (!call->ok || call->ntail > 0)
		return false; /* a tail does not fit RCALL_MAX_ARGS: no held-job script has one */
	for (int i = 0; i < call->nkeys; i++)
		keys[i] = call->keys[i];
	return rcall_script(w, (enum LuaScriptId)call->id, call->nkeys, keys, call->nargs,
			    (const char **)call->args, done, priv);
}
