/* rconn.c - one async Redis connection (hiredis 0.14 + libevent) that reconnects with
 * backoff, SELECTs its db, loads every Lua script after each connect, and runs scripts by
 * EVALSHA with one transparent reload on NOSCRIPT. It does not interpret replies.
 *
 * Lifetimes: every command in flight holds a reference on the RConn (Cmd.c), and so does
 * the owner until rconn_free; hiredis runs pending callbacks with a NULL reply when the
 * context goes away, possibly after rconn_free returned (when it was called from inside a
 * callback), so the RConn is freed only when the last reference drops. */
#include "rconn.h"

#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "mstime.h"
#include "sentinel.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define CONNECT_TIMEOUT_MS 5000 /* TCP connect + AUTH/SELECT + SCRIPT LOADs */
#define SHA_LEN 40
#define DEADLINE_TICK_MS 250 /* how often the reply deadline is looked at, at most */
#define SUB_RETRY_MS 1000    /* the +switch-master subscription, after it dropped */
#define SETUP_ROLE (-2)      /* Cmd.script of the ROLE check of sentinel mode */

enum CmdKind { CMD_USER, CMD_SETUP, CMD_RELOAD };

/* One command in flight. Owned by hiredis's callback list between send and reply. */
typedef struct Cmd {
	RConn *c;
	enum CmdKind kind;
	RConnReplyFn fn; /* CMD_USER */
	void *priv;
	int script;   /* LuaScriptId for EVALSHA / SCRIPT LOAD, else -1 */
	bool retried; /* EVALSHA already resent once after NOSCRIPT */
	unsigned gen; /* the connection it was sent on (RConn.gen) */
	int argc;     /* EVALSHA argv kept for the resend (one block with the strings) */
	const char **argv;
	size_t *argvlen;
	double sent_at; /* metrics_now() when handed to hiredis */
} Cmd;

struct RConn {
	struct event_base *base;
	char *url;
	/* parsed url */
	char *host; /* NULL for unix sockets */
	int port;
	char *path; /* unix socket path */
	int db;
	char *password; /* NULL: no AUTH */

	redisAsyncContext *ctx; /* NULL while disconnected */
	bool ready;
	bool freeing;
	int refs;          /* owner + commands in flight */
	int setup_pending; /* setup replies still expected on this connection */
	bool setup_failed;
	int backoff_ms;
	struct event *retry_timer;
	struct event *connect_timer;
	struct event *deadline_timer; /* persistent while connected: the reply deadline */
	int timeout_ms;               /* 0 = no reply deadline */
	unsigned gen;                 /* connections made so far: tells stale replies apart */
	int waiting;                  /* replies still due on the current connection */
	long long progress_ms;        /* last reply, or the send that found none waiting */
	char sha[LUA_SCRIPT_COUNT][SHA_LEN + 1];
	char errstr[256];

	RConnReadyFn ready_fn;
	void *ready_priv;

	Metric *m_rtt; /* borrowed (rconn_set_metrics), NULL: not measured */
	Metric *m_reconnects;
	unsigned connects; /* connections that became ready */

	/* Sentinel mode (sentinels.n > 0): host/port are the master's, asked of the sentinels
	 * before each connect (the discovery connection sctx), checked with ROLE; a second
	 * connection (subctx) listens for +switch-master on one sentinel. */
	SentinelList sentinels;
	char *master_name;
	char *sentinel_password;   /* NULL: no AUTH to the sentinels */
	int sidx;                  /* the sentinel asked next */
	int stried;                /* sentinels that failed in this round of discovery */
	redisAsyncContext *sctx;   /* discovery connection, NULL when none */
	redisAsyncContext *subctx; /* subscription connection, NULL when none */
	bool sub_connected;
	int sub_idx;             /* the sentinel subscribed to */
	struct event *sub_timer; /* subscription: connect deadline, then retry */
};

static void start_connect(RConn *c);
static void drop_sctx(RConn *c);
static void sentinel_failed(RConn *c, const char *why);
static void sub_start(RConn *c);

static bool sentinel_mode(const RConn *c)
{
	return c->sentinels.n > 0;
}

/* A command was handed to hiredis on the current connection. */
static void sent(RConn *c, Cmd *cmd)
{
	cmd->gen = c->gen;
	if (c->m_rtt != NULL)
		cmd->sent_at = metrics_now();
	if (c->waiting++ == 0)
		c->progress_ms = mstime_mono();
}

static void unref(RConn *c)
{
	if (--c->refs > 0)
		return;
	if (c->retry_timer != NULL)
		event_free(c->retry_timer);
	if (c->connect_timer != NULL)
		event_free(c->connect_timer);
	if (c->deadline_timer != NULL)
		event_free(c->deadline_timer);
	if (c->sub_timer != NULL)
		event_free(c->sub_timer);
	free(c->master_name);
	free(c->sentinel_password);
	free(c->url);
	free(c->host);
	free(c->path);
	free(c->password);
	free(c);
}

static void set_err(RConn *c, const char *what, const char *detail)
{
	snprintf(c->errstr, sizeof(c->errstr), "%s%s%s", what, detail != NULL ? ": " : "",
		 detail != NULL ? detail : "");
}

/* ---- URL parsing ---- */

static bool parse_db(const char *s, int *db)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 0 || v > 100000)
		return false;
	*db = (int)v;
	return true;
}

/* redis://[:password@]host[:port][/db]  or  unix:/path[?db=N]  (also unix:///path) */
static bool parse_url(RConn *c, const char *url)
{
	if (strncmp(url, "unix:", 5) == 0) {
		const char *p = url + 5;
		const char *q;

		if (strncmp(p, "//", 2) == 0)
			p += 2;
		if (*p != '/')
			return false;
		q = strchr(p, '?');
		c->path = q != NULL ? strndup(p, (size_t)(q - p)) : strdup(p);
		if (q != NULL) {
			if (strncmp(q, "?db=", 4) != 0 || !parse_db(q + 4, &c->db))
				return false;
		}
		return c->path != NULL && c->path[1] != '\0';
	}
	if (strncmp(url, "redis://", 8) == 0) {
		const char *p = url + 8;
		const char *at = strchr(p, '@');
		const char *slash, *colon, *hend;

		if (at != NULL) {
			const char *pc = memchr(p, ':', (size_t)(at - p));

			/* user names (ACL) are not used: ":password@" or "user:password@" */
			if (pc == NULL)
				return false;
			c->password = strndup(pc + 1, (size_t)(at - pc - 1));
			p = at + 1;
		}
		slash = strchr(p, '/');
		hend = slash != NULL ? slash : p + strlen(p);
		if (*p == '[') {
			const char *rb = memchr(p, ']', (size_t)(hend - p));

			if (rb == NULL)
				return false;
			c->host = strndup(p + 1, (size_t)(rb - p - 1));
			colon = rb + 1 < hend && rb[1] == ':' ? rb + 1 : NULL;
		} else {
			colon = memchr(p, ':', (size_t)(hend - p));
			c->host = strndup(p, (size_t)((colon != NULL ? colon : hend) - p));
		}
		if (c->host == NULL || c->host[0] == '\0')
			return false;
		c->port = 6379;
		if (colon != NULL) {
			char port[8];
			char *end;
			long v;

			if ((size_t)(hend - colon - 1) >= sizeof(port) || hend == colon + 1)
				return false;
			memcpy(port, colon + 1, (size_t)(hend - colon - 1));
			port[hend - colon - 1] = '\0';
			v = strtol(port, &end, 10);
			if (*end != '\0' || v < 1 || v > 65535)
				return false;
			c->port = (int)v;
		}
		if (slash != NULL && slash[1] != '\0' && !parse_db(slash + 1, &c->db))
			return false;
		return true;
	}
	return false;
}

/* ---- connection life cycle ---- */

static void schedule_reconnect(RConn *c)
{
	struct timeval tv;

	if (c->freeing || evtimer_pending(c->retry_timer, NULL))
		return;
	tv = mstime_tv(c->backoff_ms);
	evtimer_add(c->retry_timer, &tv);
	log_debug("redis: reconnecting in %d ms", c->backoff_ms);
	c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
}

/* Drops the current context from outside any hiredis callback (timers, rconn_free) or
 * from inside one (hiredis then defers the free until the callback returns). Its
 * pending commands get a NULL reply; its connect/disconnect callbacks are muted. */
static void drop_ctx(RConn *c)
{
	redisAsyncContext *ac = c->ctx;

	c->ctx = NULL;
	c->ready = false;
	c->gen++; /* replies still due on the dropped connection are stale */
	c->waiting = 0;
	evtimer_del(c->connect_timer);
	evtimer_del(c->deadline_timer);
	if (ac != NULL) {
		ac->data = NULL;
		redisAsyncFree(ac);
	}
}

static void on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
	start_connect(arg);
}

static void on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
	RConn *c = arg;

	if (c->sctx != NULL) { /* a sentinel that does not answer: ask the next one */
		sentinel_failed(c, "connect or reply timeout");
		return;
	}
	set_err(c, "connect timeout", c->host != NULL ? c->host : c->path);
	log_warn("redis %s: %s", c->url, c->errstr);
	drop_ctx(c);
	schedule_reconnect(c);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata);

/* Replies come in order: when the oldest one due is later than the deadline, the peer is
 * gone (a host that vanished, a network that drops without a reset). */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	RConn *c = arg;

	if (c->ctx == NULL || c->waiting == 0 || c->timeout_ms <= 0 ||
	    mstime_mono() - c->progress_ms <= c->timeout_ms)
		return;
	set_err(c, "no reply within the deadline", c->host != NULL ? c->host : c->path);
	log_warn("redis %s: %s (%d ms, %d replies due): reconnecting", c->url, c->errstr,
		 c->timeout_ms, c->waiting);
	drop_ctx(c); /* pending callbacks get NULL */
	schedule_reconnect(c);
}

static void arm_deadline(RConn *c)
{
	int ms = c->timeout_ms / 4;
	struct timeval tv;

	if (c->timeout_ms <= 0)
		return;
	if (ms > DEADLINE_TICK_MS)
		ms = DEADLINE_TICK_MS;
	if (ms < 10)
		ms = 10;
	tv = mstime_tv(ms);
	evtimer_add(c->deadline_timer, &tv);
}

/* Every setup reply arrived and was fine: the connection may take commands. */
static void become_ready(RConn *c)
{
	evtimer_del(c->connect_timer);
	c->ready = true;
	c->backoff_ms = BACKOFF_MIN_MS;
	c->errstr[0] = '\0';
	if (c->connects++ > 0)
		metric_inc(c->m_reconnects, 0);
	if (sentinel_mode(c)) {
		log_info("redis: master %s is %s:%d (from sentinel %s:%d): connected, %d scripts "
			 "loaded",
			 c->master_name, c->host, c->port, c->sentinels.addr[c->sidx].host,
			 c->sentinels.addr[c->sidx].port, LUA_SCRIPT_COUNT);
		if (c->subctx == NULL && !evtimer_pending(c->sub_timer, NULL)) {
			c->sub_idx = c->sidx;
			sub_start(c);
		}
	} else {
		log_info("redis %s: connected, %d scripts loaded", c->url, LUA_SCRIPT_COUNT);
	}
	if (c->ready_fn != NULL)
		c->ready_fn(c, c->ready_priv);
}

/* Queues one setup command (AUTH, SELECT, SCRIPT LOAD) on the new connection. */
static bool send_setup(RConn *c, int script, int argc, const char **argv)
{
	Cmd *cmd = calloc(1, sizeof(*cmd));

	if (cmd == NULL)
		return false;
	cmd->c = c;
	cmd->kind = CMD_SETUP;
	cmd->script = script;
	c->refs++;
	if (redisAsyncCommandArgv(c->ctx, on_reply, cmd, argc, argv, NULL) != REDIS_OK) {
		free(cmd);
		unref(c);
		return false;
	}
	sent(c, cmd);
	c->setup_pending++;
	return true;
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	RConn *c = ac->data;
	char dbs[16];

	if (c == NULL)
		return; /* context dropped by a timeout or rconn_free */
	if (status != REDIS_OK) {
		/* hiredis frees the context right after this callback */
		set_err(c, "connect failed", ac->errstr);
		log_warn("redis %s: %s", c->url, c->errstr);
		c->ctx = NULL;
		evtimer_del(c->connect_timer);
		schedule_reconnect(c);
		return;
	}
	c->setup_pending = 0;
	c->setup_failed = false;
	bool ok = true;

	/* a peer that vanishes without a reset is noticed by TCP in ~30 s instead of ~15 min
	 * (TCP only: a unix socket has no keepalive, and the failed setsockopt would mark the
	 * context broken) */
	if (c->host != NULL && redisEnableKeepAlive((redisContext *)&ac->c) != REDIS_OK)
		log_warn("redis %s: cannot turn on TCP keepalive", c->url);
	arm_deadline(c);

	if (c->password != NULL) {
		const char *argv[] = { "AUTH", c->password };

		ok = ok && send_setup(c, -1, 2, argv);
	}
	/* a sentinel's answer may be stale (a demoted master not yet reconfigured): never
	 * take writes to a replica */
	if (sentinel_mode(c)) {
		const char *argv[] = { "ROLE" };

		ok = ok && send_setup(c, SETUP_ROLE, 1, argv);
	}
	if (c->db != 0) {
		const char *argv[] = { "SELECT", dbs };

		snprintf(dbs, sizeof(dbs), "%d", c->db);
		ok = ok && send_setup(c, -1, 2, argv);
	}
	for (int i = 0; i < LUA_SCRIPT_COUNT && ok; i++) {
		const char *argv[] = { "SCRIPT", "LOAD", lua_scripts[i].source };

		ok = send_setup(c, i, 3, argv);
	}
	if (!ok) {
		set_err(c, "cannot queue setup commands", NULL);
		log_error("redis %s: %s", c->url, c->errstr);
		redisAsyncDisconnect(c->ctx); /* on_disconnect schedules the retry */
	} else if (c->setup_pending == 0) {
		become_ready(c); /* nothing to set up (no scripts, no AUTH, db 0) */
	}
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	RConn *c = ac->data;

	if (c == NULL)
		return;
	if (status != REDIS_OK)
		set_err(c, "connection lost", ac->errstr);
	else if (!c->errstr[0])
		set_err(c, "disconnected", NULL);
	log_warn("redis %s: %s", c->url, c->errstr);
	c->ctx = NULL;
	c->ready = false;
	c->gen++;
	c->waiting = 0;
	evtimer_del(c->connect_timer);
	evtimer_del(c->deadline_timer);
	schedule_reconnect(c);
}

/* Connects to host:port (the master found by the sentinels, or redis_url's server). */
static void connect_server(RConn *c)
{
	struct timeval tv = mstime_tv(CONNECT_TIMEOUT_MS);
	redisAsyncContext *ac;

	if (c->freeing || c->ctx != NULL)
		return;
	/* hiredis resolves host names with a blocking getaddrinfo: use IP addresses */
	ac = c->host != NULL ? redisAsyncConnect(c->host, c->port) : redisAsyncConnectUnix(c->path);
	if (ac == NULL) {
		set_err(c, "out of memory", NULL);
		schedule_reconnect(c);
		return;
	}
	if (ac->err) {
		set_err(c, "connect failed", ac->errstr);
		log_warn("redis %s: %s", c->url, c->errstr);
		redisAsyncFree(ac);
		schedule_reconnect(c);
		return;
	}
	ac->data = c;
	c->ctx = ac;
	/* attach before setting the connect callback: that call arms the write event */
	if (redisLibeventAttach(ac, c->base) != REDIS_OK) {
		set_err(c, "cannot attach to the event loop", NULL);
		drop_ctx(c);
		schedule_reconnect(c);
		return;
	}
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	evtimer_add(c->connect_timer, &tv);
}

/* ---- Sentinel: discovery before each connect, and the +switch-master subscription ---- */

/* Drops the discovery connection (from a timer or from inside its own callback: hiredis
 * then frees it when the callback returns); its pending callbacks get NULL. */
static void drop_sctx(RConn *c)
{
	redisAsyncContext *ac = c->sctx;

	c->sctx = NULL;
	if (ac != NULL) {
		ac->data = NULL;
		redisAsyncFree(ac);
	}
}

static void drop_subctx(RConn *c)
{
	redisAsyncContext *ac = c->subctx;

	c->subctx = NULL;
	c->sub_connected = false;
	if (ac != NULL) {
		ac->data = NULL;
		redisAsyncFree(ac);
	}
}

static void discover(RConn *c);

/* The sentinel asked could not answer: ask the next one, or after a whole round of
 * failures wait the backoff. */
static void sentinel_failed(RConn *c, const char *why)
{
	const SentinelAddr *s = &c->sentinels.addr[c->sidx];
	char who[SENTINEL_HOST_LEN + 16];

	snprintf(who, sizeof(who), "sentinel %s:%d", s->host, s->port);
	set_err(c, who, why); /* copies why before the context holding it goes */
	log_warn("redis: %s", c->errstr);
	drop_sctx(c);
	c->sidx = (c->sidx + 1) % c->sentinels.n;
	if (++c->stried < c->sentinels.n) {
		discover(c);
		return;
	}
	c->stried = 0;
	evtimer_del(c->connect_timer);
	schedule_reconnect(c);
}

static void on_sentinel_auth(redisAsyncContext *ac, void *reply, void *priv)
{
	RConn *c = priv;
	redisReply *r = reply;

	if (r != NULL && r->type == REDIS_REPLY_ERROR && ac == c->sctx && !c->freeing)
		log_error("redis: sentinel AUTH failed (redis_sentinel_password): %s", r->str);
	unref(c);
}

/* SENTINEL get-master-addr-by-name: connect to the address it gives. */
static void on_sentinel_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	RConn *c = priv;
	redisReply *r = reply;
	SentinelAddr m;

	if (r == NULL || ac != c->sctx || c->freeing)
		goto out; /* dropped: on_sdisconnect or the timer goes on */
	if (r->type == REDIS_REPLY_ERROR) {
		sentinel_failed(c, r->str);
	} else if (r->type == REDIS_REPLY_NIL) {
		char why[300];

		snprintf(why, sizeof(why), "does not know a master named \"%s\"", c->master_name);
		sentinel_failed(c, why);
	} else if (!sentinel_master_addr(r, &m)) {
		sentinel_failed(c, "unexpected answer to SENTINEL get-master-addr-by-name");
	} else {
		char *host = strdup(m.host);

		drop_sctx(c);
		if (host == NULL) {
			set_err(c, "out of memory", NULL);
			evtimer_del(c->connect_timer);
			schedule_reconnect(c);
			goto out;
		}
		c->stried = 0;
		if (c->host == NULL || strcmp(c->host, host) != 0 || c->port != m.port)
			log_info("redis: sentinel %s:%d says master %s is %s:%d",
				 c->sentinels.addr[c->sidx].host, c->sentinels.addr[c->sidx].port,
				 c->master_name, host, m.port);
		free(c->host);
		c->host = host;
		c->port = m.port;
		connect_server(c);
	}
out:
	unref(c);
}

static void on_sconnect(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	RConn *c = ac->data;

	if (c == NULL)
		return;
	if (status != REDIS_OK) {
		c->sctx = NULL; /* hiredis frees it after this callback */
		sentinel_failed(c, ac->errstr);
		return;
	}
	if (c->sentinel_password != NULL) {
		c->refs++;
		if (redisAsyncCommand(ac, on_sentinel_auth, c, "AUTH %s", c->sentinel_password) !=
		    REDIS_OK) {
			unref(c);
			sentinel_failed(c, "cannot queue AUTH");
			return;
		}
	}
	c->refs++;
	if (redisAsyncCommand(ac, on_sentinel_reply, c, "SENTINEL get-master-addr-by-name %s",
			      c->master_name) != REDIS_OK) {
		unref(c);
		sentinel_failed(c, "cannot queue SENTINEL get-master-addr-by-name");
	}
}

static void on_sdisconnect(const redisAsyncContext *ac, int status)
{
	RConn *c = ac->data;

	if (c == NULL)
		return;
	c->sctx = NULL;
	sentinel_failed(c, status == REDIS_OK ? "disconnected" : ac->errstr);
}

/* Opens the discovery connection to sentinels[sidx]; the connect timer bounds it. */
static void discover(RConn *c)
{
	struct timeval tv = mstime_tv(CONNECT_TIMEOUT_MS);
	const SentinelAddr *s = &c->sentinels.addr[c->sidx];
	redisAsyncContext *ac;

	if (c->freeing || c->sctx != NULL || c->ctx != NULL)
		return;
	ac = redisAsyncConnect(s->host, s->port); /* an IP address: no blocking lookup */
	if (ac == NULL) {
		set_err(c, "out of memory", NULL);
		schedule_reconnect(c);
		return;
	}
	if (ac->err) {
		char why[128];

		snprintf(why, sizeof(why), "%s", ac->errstr);
		redisAsyncFree(ac);
		sentinel_failed(c, why);
		return;
	}
	ac->data = c;
	c->sctx = ac;
	if (redisLibeventAttach(ac, c->base) != REDIS_OK) {
		sentinel_failed(c, "cannot attach to the event loop");
		return;
	}
	redisAsyncSetConnectCallback(ac, on_sconnect);
	redisAsyncSetDisconnectCallback(ac, on_sdisconnect);
	evtimer_add(c->connect_timer, &tv);
}

static void start_connect(RConn *c)
{
	if (sentinel_mode(c))
		discover(c);
	else
		connect_server(c);
}

static void sub_retry(RConn *c)
{
	struct timeval tv = mstime_tv(SUB_RETRY_MS);

	if (c->freeing)
		return;
	c->sub_idx = (c->sub_idx + 1) % c->sentinels.n;
	evtimer_add(c->sub_timer, &tv);
}

/* Every message of the subscription (and NULL once, when its connection goes). */
static void on_sub_msg(redisAsyncContext *ac, void *reply, void *priv)
{
	RConn *c = priv;
	SentinelAddr to;

	if (reply == NULL) {
		unref(c); /* the subscription's reference */
		return;
	}
	if (ac != c->subctx || c->freeing || !sentinel_switch_master(reply, c->master_name, &to))
		return;
	log_info("redis: sentinels switched master %s to %s:%d", c->master_name, to.host, to.port);
	if (c->ready && c->host != NULL && strcmp(c->host, to.host) == 0 && c->port == to.port)
		return; /* already there */
	/* drop what we have (or are making) and ask again now, without the backoff */
	drop_sctx(c);
	drop_ctx(c);
	evtimer_del(c->retry_timer);
	c->backoff_ms = BACKOFF_MIN_MS;
	c->stried = 0;
	c->sidx = c->sub_idx; /* this sentinel knows */
	start_connect(c);
}

static void on_sub_auth(redisAsyncContext *ac, void *reply, void *priv)
{
	RConn *c = priv;
	redisReply *r = reply;

	if (r != NULL && r->type == REDIS_REPLY_ERROR && ac == c->subctx && !c->freeing)
		log_error("redis: sentinel AUTH failed (redis_sentinel_password): %s", r->str);
	unref(c);
}

static void on_sub_connect(const redisAsyncContext *ac, int status)
{
	RConn *c = ac->data;

	if (c == NULL)
		return;
	if (status != REDIS_OK) {
		log_warn("redis: +switch-master subscription to sentinel %s:%d: %s",
			 c->sentinels.addr[c->sub_idx].host, c->sentinels.addr[c->sub_idx].port,
			 ac->errstr);
		c->subctx = NULL; /* hiredis frees it after this callback */
		c->sub_connected = false;
		sub_retry(c);
		return;
	}
	c->sub_connected = true;
	evtimer_del(c->sub_timer);
	if (redisEnableKeepAlive((redisContext *)&ac->c) != REDIS_OK)
		log_warn("redis: cannot turn on TCP keepalive to the sentinel");
	log_debug("redis: listening for +switch-master on sentinel %s:%d",
		  c->sentinels.addr[c->sub_idx].host, c->sentinels.addr[c->sub_idx].port);
}

static void on_sub_disconnect(const redisAsyncContext *ac, int status)
{
	RConn *c = ac->data;

	if (c == NULL)
		return;
	log_warn("redis: +switch-master subscription to sentinel %s:%d lost: %s",
		 c->sentinels.addr[c->sub_idx].host, c->sentinels.addr[c->sub_idx].port,
		 status == REDIS_OK ? "disconnected" : ac->errstr);
	c->subctx = NULL;
	c->sub_connected = false;
	sub_retry(c);
}

/* Subscribes to +switch-master on sentinels[sub_idx]; AUTH and SUBSCRIBE are queued before
 * the connect completes, so a failed connect still hands each callback its NULL. */
static void sub_start(RConn *c)
{
	struct timeval tv = mstime_tv(CONNECT_TIMEOUT_MS);
	const SentinelAddr *s = &c->sentinels.addr[c->sub_idx];
	redisAsyncContext *ac;

	if (c->freeing || c->subctx != NULL)
		return;
	ac = redisAsyncConnect(s->host, s->port);
	if (ac == NULL || ac->err) {
		if (ac != NULL)
			redisAsyncFree(ac);
		sub_retry(c);
		return;
	}
	ac->data = c;
	c->subctx = ac;
	if (redisLibeventAttach(ac, c->base) != REDIS_OK) {
		drop_subctx(c);
		sub_retry(c);
		return;
	}
	redisAsyncSetConnectCallback(ac, on_sub_connect);
	redisAsyncSetDisconnectCallback(ac, on_sub_disconnect);
	if (c->sentinel_password != NULL) {
		c->refs++;
		if (redisAsyncCommand(ac, on_sub_auth, c, "AUTH %s", c->sentinel_password) !=
		    REDIS_OK)
			unref(c);
	}
	c->refs++; /* held by the subscription until its NULL call */
	if (redisAsyncCommand(ac, on_sub_msg, c, "SUBSCRIBE +switch-master") != REDIS_OK) {
		unref(c);
		drop_subctx(c);
		sub_retry(c);
		return;
	}
	evtimer_add(c->sub_timer, &tv);
}

/* sub_timer: the subscription's connect deadline passed, or its retry is due. */
static void on_sub_timer(evutil_socket_t fd, short what, void *arg)
{
	RConn *c = arg;

	if (c->subctx != NULL && !c->sub_connected) {
		log_warn("redis: +switch-master subscription: sentinel %s:%d did not answer",
			 c->sentinels.addr[c->sub_idx].host, c->sentinels.addr[c->sub_idx].port);
		drop_subctx(c);
		sub_retry(c);
	} else if (c->subctx == NULL) {
		sub_start(c);
	}
}

/* A setup reply: any failure drops the connection and retries later. */
static void setup_reply(RConn *c, Cmd *cmd, redisAsyncContext *ac, redisReply *r)
{
	if (ac != c->ctx || c->freeing)
		return; /* reply of a connection we already dropped */
	if (r == NULL) {
		c->setup_failed = true; /* the connection is going away; on_disconnect retries */
		return;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		if (!c->setup_failed) {
			set_err(c, cmd->script >= 0 ? "SCRIPT LOAD failed" : "setup failed",
				r->str);
			if (cmd->script >= 0)
				log_error("redis %s: script %s: %s", c->url,
					  lua_scripts[cmd->script].name, r->str);
			else
				log_error("redis %s: %s", c->url, c->errstr);
		}
		c->setup_failed = true;
	} else if (cmd->script == SETUP_ROLE) {
		if (!sentinel_role_is_master(r)) {
			set_err(c, "not a master, its role is", sentinel_role_name(r));
			log_warn("redis %s:%d: %s: asking the sentinels again", c->host, c->port,
				 c->errstr);
			c->setup_failed = true;
		}
	} else if (cmd->script >= 0) {
		if (r->type == REDIS_REPLY_STRING && r->len == SHA_LEN) {
			memcpy(c->sha[cmd->script], r->str, SHA_LEN);
			c->sha[cmd->script][SHA_LEN] = '\0';
		} else {
			set_err(c, "SCRIPT LOAD gave an unexpected reply",
				lua_scripts[cmd->script].name);
			c->setup_failed = true;
		}
	}
	if (--c->setup_pending > 0)
		return;
	if (c->setup_failed) {
		/* clean disconnect once nothing is pending; on_disconnect schedules the retry */
		redisAsyncDisconnect(c->ctx);
		return;
	}
	become_ready(c);
}

static void free_cmd(Cmd *cmd)
{
	free(cmd->argv); /* argvlen and the strings live in the same block */
	free(cmd);
}

/* NOSCRIPT: load the script again and resend the EVALSHA behind it on the same
 * connection (Redis runs them in order). False if nothing could be sent. */
static bool reload_and_retry(RConn *c, Cmd *cmd)
{
	Cmd *load;
	const char *argv[] = { "SCRIPT", "LOAD", lua_scripts[cmd->script].source };

	if (c->ctx == NULL || c->freeing)
		return false;
	load = calloc(1, sizeof(*load));
	if (load == NULL)
		return false;
	load->c = c;
	load->kind = CMD_RELOAD;
	load->script = cmd->script;
	c->refs++;
	if (redisAsyncCommandArgv(c->ctx, on_reply, load, 3, argv, NULL) != REDIS_OK) {
		free(load);
		unref(c);
		return false;
	}
	sent(c, load);
	cmd->retried = true;
	if (redisAsyncCommandArgv(c->ctx, on_reply, cmd, cmd->argc, cmd->argv, cmd->argvlen) !=
	    REDIS_OK)
		return false;
	sent(c, cmd);
	log_warn("redis %s: script %s was missing (NOSCRIPT), reloaded", c->url,
		 lua_scripts[cmd->script].name);
	return true;
}

/* The one hiredis callback for every command rconn sends. */
static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	Cmd *cmd = privdata;
	RConn *c = cmd->c;
	redisReply *r = reply;

	if (cmd->gen == c->gen && c->waiting > 0) {
		c->waiting--;
		c->progress_ms = mstime_mono();
	}

	switch (cmd->kind) {
	case CMD_SETUP:
		setup_reply(c, cmd, ac, r);
		break;
	case CMD_RELOAD:
		if (r != NULL && r->type == REDIS_REPLY_STRING && r->len == SHA_LEN &&
		    ac == c->ctx) {
			memcpy(c->sha[cmd->script], r->str, SHA_LEN);
			c->sha[cmd->script][SHA_LEN] = '\0';
		} else if (r != NULL && r->type == REDIS_REPLY_ERROR) {
			log_error("redis %s: reloading script %s: %s", c->url,
				  lua_scripts[cmd->script].name, r->str);
		}
		break;
	case CMD_USER:
		if (r != NULL && c->m_rtt != NULL && cmd->sent_at > 0)
			metric_observe(c->m_rtt, 0, metrics_now() - cmd->sent_at);
		if (r == NULL && ac == c->ctx)
			c->ready = false; /* the connection is going: callers see not-ready */
		if (r != NULL && r->type == REDIS_REPLY_ERROR && cmd->script >= 0 &&
		    !cmd->retried && strncmp(r->str, "NOSCRIPT", 8) == 0 && ac == c->ctx) {
			if (reload_and_retry(c, cmd))
				return; /* cmd lives on in hiredis's callback list */
			r = NULL;
		}
		/* READONLY: this master was demoted by a failover (sentinel mode only: with a
		 * plain redis_url there is nowhere else to go) */
		bool demoted = r != NULL && r->type == REDIS_REPLY_ERROR && sentinel_mode(c) &&
			       strncmp(r->str, "READONLY", 8) == 0 && ac == c->ctx;

		cmd->fn(c, r, cmd->priv);
		if (demoted && ac == c->ctx && !c->freeing) {
			set_err(c, "READONLY reply: the master became a replica", c->host);
			log_warn("redis %s:%d: %s: asking the sentinels again", c->host, c->port,
				 c->errstr);
			drop_ctx(c); /* inside a callback: hiredis frees it when this returns */
			schedule_reconnect(c);
		}
		break;
	}
	free_cmd(cmd);
	unref(c);
}

/* ---- public API ---- */

RConn *rconn_new(struct event_base *base, const char *url)
{
	return rconn_new_sentinel(base, url, NULL, NULL, NULL);
}

RConn *rconn_new_sentinel(struct event_base *base, const char *url, const char *sentinels,
			  const char *master_name, const char *sentinel_password)
{
	RConn *c = calloc(1, sizeof(*c));
	char err[256];

	if (c == NULL)
		return NULL;
	c->base = base;
	c->refs = 1;
	c->backoff_ms = BACKOFF_MIN_MS;
	c->url = strdup(url != NULL ? url : "");
	c->timeout_ms = RCONN_TIMEOUT_MS;
	c->retry_timer = evtimer_new(base, on_retry_timer, c);
	c->connect_timer = evtimer_new(base, on_connect_timeout, c);
	c->deadline_timer = event_new(base, -1, EV_PERSIST, on_deadline, c);
	c->sub_timer = evtimer_new(base, on_sub_timer, c);
	if (c->url == NULL || c->retry_timer == NULL || c->connect_timer == NULL ||
	    c->deadline_timer == NULL || c->sub_timer == NULL) {
		unref(c);
		return NULL;
	}
	if (url == NULL || !parse_url(c, url)) {
		log_error(
			"redis: bad url \"%s\" (want redis://host:port[/db] or unix:/path[?db=N])",
			url != NULL ? url : "");
		unref(c);
		return NULL;
	}
	if (!sentinel_parse_list(sentinels, &c->sentinels, err, sizeof(err))) {
		log_error("redis: %s", err);
		unref(c);
		return NULL;
	}
	if (sentinel_mode(c)) {
		if (c->host == NULL) {
			log_error(
				"redis: with redis_sentinels, redis_url must be redis://, not unix:");
			unref(c);
			return NULL;
		}
		c->master_name =
			strdup(master_name != NULL && *master_name ? master_name : "mymaster");
		if (sentinel_password != NULL && *sentinel_password)
			c->sentinel_password = strdup(sentinel_password);
		if (c->master_name == NULL || (sentinel_password != NULL && *sentinel_password &&
					       c->sentinel_password == NULL)) {
			unref(c);
			return NULL;
		}
		log_info("redis: master \"%s\" from %d sentinel%s", c->master_name, c->sentinels.n,
			 c->sentinels.n == 1 ? "" : "s");
	}
	start_connect(c);
	return c;
}

void rconn_free(RConn *c)
{
	if (c == NULL)
		return;
	c->freeing = true;
	c->ready_fn = NULL;
	evtimer_del(c->retry_timer);
	evtimer_del(c->sub_timer);
	drop_sctx(c);
	drop_subctx(c);
	drop_ctx(c); /* pending commands get NULL replies, now or right after this callback */
	unref(c);
}

void rconn_set_metrics(RConn *c, Metric *rtt, Metric *reconnects)
{
	if (c == NULL)
		return;
	c->m_rtt = rtt;
	c->m_reconnects = reconnects;
}

void rconn_set_timeout(RConn *c, int ms)
{
	c->timeout_ms = ms > 0 ? ms : 0;
	if (c->ctx != NULL && c->timeout_ms > 0)
		arm_deadline(c);
	else
		evtimer_del(c->deadline_timer);
}

void rconn_set_ready_cb(RConn *c, RConnReadyFn fn, void *priv)
{
	c->ready_fn = fn;
	c->ready_priv = priv;
}

bool rconn_not_now_error(const redisReply *r)
{
	static const char *const prefixes[] = { "LOADING",    "BUSY",        "TRYAGAIN",
						"MASTERDOWN", "CLUSTERDOWN", "READONLY",
						"NOSCRIPT",   "MISCONF",     "OOM",
						"NOREPLICAS" };
	if (r == NULL || r->type != REDIS_REPLY_ERROR)
		return false;
	for (size_t i = 0; i < ARRAY_LEN(prefixes); i++)
		if (strncmp(r->str, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

bool rconn_is_ready(const RConn *c)
{
	return c != NULL && c->ready && c->ctx != NULL && !c->freeing;
}

const char *rconn_errstr(const RConn *c)
{
	return c != NULL ? c->errstr : "";
}

static Cmd *user_cmd(RConn *c, RConnReplyFn fn, void *priv)
{
	Cmd *cmd = calloc(1, sizeof(*cmd));

	if (cmd == NULL)
		return NULL;
	cmd->c = c;
	cmd->kind = CMD_USER;
	cmd->fn = fn;
	cmd->priv = priv;
	cmd->script = -1;
	c->refs++;
	return cmd;
}

bool rconn_command(RConn *c, RConnReplyFn fn, void *priv, int argc, const char **argv,
		   const size_t *argvlen)
{
	Cmd *cmd;

	if (!rconn_is_ready(c) || fn == NULL || argc < 1)
		return false;
	cmd = user_cmd(c, fn, priv);
	if (cmd == NULL)
		return false;
	if (redisAsyncCommandArgv(c->ctx, on_reply, cmd, argc, argv, argvlen) != REDIS_OK) {
		free_cmd(cmd);
		unref(c);
		return false;
	}
	sent(c, cmd);
	return true;
}

bool rconn_commandf(RConn *c, RConnReplyFn fn, void *priv, const char *fmt, ...)
{
	Cmd *cmd;
	va_list ap;
	int rc;

	if (!rconn_is_ready(c) || fn == NULL || fmt == NULL)
		return false;
	cmd = user_cmd(c, fn, priv);
	if (cmd == NULL)
		return false;
	va_start(ap, fmt);
	rc = redisvAsyncCommand(c->ctx, on_reply, cmd, fmt, ap);
	va_end(ap);
	if (rc != REDIS_OK) {
		free_cmd(cmd);
		unref(c);
		return false;
	}
	sent(c, cmd);
	return true;
}

bool rconn_script(RConn *c, enum LuaScriptId id, int nkeys, const char **keys, int nargs,
		  const char **args, RConnReplyFn fn, void *priv)
{
	char nkeys_s[16];
	const char *src[3];
	size_t total, argc, off;
	Cmd *cmd;
	char *block, *strings;

	if (!rconn_is_ready(c) || fn == NULL || (int)id < 0 || id >= LUA_SCRIPT_COUNT ||
	    nkeys < 0 || nargs < 0)
		return false;
	if (lua_scripts[id].nkeys >= 0 && nkeys != lua_scripts[id].nkeys) {
		log_error("redis: script %s takes %d keys, called with %d", lua_scripts[id].name,
			  lua_scripts[id].nkeys, nkeys);
		return false;
	}
	snprintf(nkeys_s, sizeof(nkeys_s), "%d", nkeys);
	src[0] = "EVALSHA";
	src[1] = c->sha[id];
	src[2] = nkeys_s;
	argc = 3 + (size_t)nkeys + (size_t)nargs;

	/* one block: argv pointers, lengths, then the strings (kept for a NOSCRIPT resend) */
	total = 0;
	for (size_t i = 0; i < argc; i++) {
		const char *s = i < 3                   ? src[i]
				: i < 3 + (size_t)nkeys ? keys[i - 3]
							: args[i - 3 - nkeys];

		total += strlen(s) + 1;
	}
	block = malloc(argc * (sizeof(char *) + sizeof(size_t)) + total);
	if (block == NULL)
		return false;
	cmd = user_cmd(c, fn, priv);
	if (cmd == NULL) {
		free(block);
		return false;
	}
	cmd->script = (int)id;
	cmd->argc = (int)argc;
	cmd->argv = (const char **)(void *)block;
	cmd->argvlen = (size_t *)(void *)(block + argc * sizeof(char *));
	strings = block + argc * (sizeof(char *) + sizeof(size_t));
	off = 0;
	for (size_t i = 0; i < argc; i++) {
		const char *s = i < 3                   ? src[i]
				: i < 3 + (size_t)nkeys ? keys[i - 3]
							: args[i - 3 - nkeys];
		size_t len = strlen(s);

		memcpy(strings + off, s, len + 1);
		cmd->argv[i] = strings + off;
		cmd->argvlen[i] = len;
		off += len + 1;
	}
	if (redisAsyncCommandArgv(c->ctx, on_reply, cmd, cmd->argc, cmd->argv, cmd->argvlen) !=
	    REDIS_OK) {
		free_cmd(cmd);
		unref(c);
		return false;
	}
	sent(c, cmd);
	return true;
}

bool rconn_call(RConn *c, const LuaCall *call, RConnReplyFn fn, void *priv)
{
	const char *keys[LUA_CALL_KEYS_MAX], **args;
	int nargs = call->nargs + call->ntail;
	bool ok;

	if (!call->ok || call->nkeys > LUA_CALL_KEYS_MAX)
		return false;
	for (int i = 0; i < call->nkeys; i++)
		keys[i] = call->keys[i];
	if ((args = malloc((size_t)(nargs ? nargs : 1) * sizeof(*args))) == NULL)
		return false;
	memcpy(args, call->args, (size_t)call->nargs * sizeof(*args));
	for (int i = 0; i < call->ntail; i++)
		args[call->nargs + i] = call->tail[i];
	/* rconn_script copies keys and args */
	ok = rconn_script(c, (enum LuaScriptId)call->id, call->nkeys, keys, nargs, args, fn, priv);
	free(args);
	return ok;
}

bool rconn_code(const redisReply *r, long long *code)
{
	if (r == NULL)
		return false;
	switch (r->type) {
	case REDIS_REPLY_INTEGER:
		*code = r->integer;
		return true;
	case REDIS_REPLY_ARRAY:
	case REDIS_REPLY_STRING:
	case REDIS_REPLY_STATUS:
		*code = LUA_OK;
		return true;
	default:
		return false;
	}
}
