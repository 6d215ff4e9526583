/* rcall.h - Lua script calls whose outcome must not be lost: while Redis is unreachable
 * (rconn refuses the call, or the reply never comes) or answers with an error (LOADING,
 * MISCONF, OOM, NOREPLICAS, a script error: "not now", never "forget the job"), the call is
 * sent again on a timer with a growing delay. */
#ifndef AMCB_RCALL_H
#define AMCB_RCALL_H

#include "worker.h"

/* reply is borrowed and never NULL: a script result (never an error reply). When w->exiting,
 * done is called with reply == NULL so the caller can free priv. */
typedef void (*RcallDoneFn)(Worker *w, redisReply *reply, void *priv);

/* Copies keys and args. Never fails for Redis reasons; false only when out of memory. */
MUST_CHECK bool rcall_script(Worker *w, enum LuaScriptId id, int nkeys, const char **keys,
			     int nargs, const char **args, RcallDoneFn done, void *priv);

/* The same for a call built by a script's typed function (lua_scripts.h). */
MUST_CHECK bool rcall_call(Worker *w, const LuaCall *call, RcallDoneFn done, void *priv);

/* Teardown (w->exiting): every call still waiting for its retry timer gets done(NULL) and
 * is freed. */
void rcall_free_all(Worker *w);

#endif
