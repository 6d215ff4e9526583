/* rconn.h - one async Redis connection (hiredis 0.14 on libevent) that reconnects by
 * itself with backoff, loads every Lua script with SCRIPT LOAD after each connect, and
 * runs scripts by EVALSHA (a NOSCRIPT reply reloads and retries once).
 * hiredis 0.14 has no async timeouts: rconn arms its own connect timer and a reply deadline
 * (a connection that died without a reset would otherwise hold every caller for the ~15
 * minutes TCP takes to give up), and turns on TCP keepalive. */
#ifndef AMCB_RCONN_H
#define AMCB_RCONN_H

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "common.h"
#include "lua_scripts.h"
#include "metrics.h"

typedef struct RConn RConn;

/* reply is borrowed: valid only during the callback. reply == NULL means the command
 * could not be run (not connected, or the connection dropped before the answer). */
typedef void (*RConnReplyFn)(RConn *c, redisReply *reply, void *priv);
/* called after every successful (re)connect, once the scripts are loaded */
typedef void (*RConnReadyFn)(RConn *c, void *priv);

/* url: redis://[:password@]host[:port][/db] or unix:/path[?db=N]. Connects asynchronously
 * (NULL only for a malformed url or no memory); until ready, commands are refused. Use an
 * IP address: hiredis resolves host names with a blocking getaddrinfo. Reconnects with
 * backoff 100 ms .. 5 s; a connect (+ AUTH/SELECT/SCRIPT LOAD) taking over 5 s is retried. */
RConn *rconn_new(struct event_base *base, const char *url);
/* The same through Redis Sentinel when sentinels ("ip:port,...", see sentinel.h) is not
 * empty: before each connect the sentinels are asked in turn (SENTINEL
 * get-master-addr-by-name master_name, after AUTH sentinel_password when not empty), the
 * answer is checked with ROLE (a replica is dropped and the sentinels asked again), and a
 * failover is followed: a lost connection, a READONLY reply or a +switch-master message
 * (a second connection subscribes on one sentinel) all lead to asking again. url then
 * gives only the password and db. All strings copied. NULL for a bad url or list. */
RConn *rconn_new_sentinel(struct event_base *base, const char *url, const char *sentinels,
			  const char *master_name, const char *sentinel_password);
/* Accepts NULL; pending callbacks get reply == NULL (right away, or just after the current
 * callback returns when called from inside one: the RConn pointer they receive stays
 * valid for them, but every command on it is refused). */
void rconn_free(RConn *c);
void rconn_set_ready_cb(RConn *c, RConnReadyFn fn, void *priv);
/* Replies must come within ms of the last one (or of the command, when none was pending):
 * past that the connection is dropped (pending callbacks get NULL) and made again. 0 = no
 * deadline. Default RCONN_TIMEOUT_MS. Scripts here are bounded (milliseconds), so a silent
 * connection this long is a dead one, not a slow one. */
#define RCONN_TIMEOUT_MS 10000
void rconn_set_timeout(RConn *c, int ms);
/* Measures every command's round trip (send to reply, label-less histogram rtt) and counts
 * each connection made after the first (counter reconnects). Both borrowed, either NULL. */
void rconn_set_metrics(RConn *c, Metric *rtt, Metric *reconnects);
bool rconn_is_ready(const RConn *c);      /* connected and scripts loaded */
const char *rconn_errstr(const RConn *c); /* last connection error, "" if none */

/* An error reply that means "Redis cannot run it right now" (loading, busy, a replica, out
 * of memory, a failed snapshot, too few replicas, a script cache emptied by a restart), not
 * "the command failed": expected during restarts, failovers and disk trouble, and worth
 * sending again later. */
bool rconn_not_now_error(const redisReply *r);

/* Queue a command (binary-safe argv). Returns false (and never calls fn) when not ready. */
MUST_CHECK bool rconn_command(RConn *c, RConnReplyFn fn, void *priv, int argc, const char **argv,
			      const size_t *argvlen);
/* printf-style convenience for simple commands (no binary data). */
MUST_CHECK bool rconn_commandf(RConn *c, RConnReplyFn fn, void *priv, const char *fmt, ...);
/* EVALSHA of script `id` with keys/args (NUL-terminated strings, copied: they may be
 * freed once this returns). The number of keys must
 * equal lua_scripts[id].nkeys unless the script declares a variable key count (nkeys < 0).
 * Returns false (fn not called) when not ready. */
MUST_CHECK bool rconn_script(RConn *c, enum LuaScriptId id, int nkeys, const char **keys, int nargs,
			     const char **args, RConnReplyFn fn, void *priv);
/* EVALSHA of a call built by a script's typed function (lua_claim, lua_retry, ...: see
 * lua_scripts.h); false (fn not called) when not ready or the call did not build. */
MUST_CHECK bool rconn_call(RConn *c, const LuaCall *call, RConnReplyFn fn, void *priv);

/* What a script answered: *code is the integer it returned (LUA_OK or a negative code of
 * lua/lib/codes.lua), or LUA_OK for an array or string answer. false for an error reply,
 * no reply (NULL) or anything else. */
bool rconn_code(const redisReply *r, long long *code);

#endif
