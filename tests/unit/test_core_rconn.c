/* test_core_rconn.c - against a real redis-server (REDIS_URL, else skipped): connect and
 * SCRIPT LOAD, binary-safe commands, EVALSHA with the NOSCRIPT reload, SELECT of a db,
 * NULL replies for commands pending when the connection drops, reconnect after CLIENT
 * KILL ID, and rconn_free with commands pending (also from inside a callback). */
#include "rconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keys.h"
#include "log.h"
/* cases in this process, not one each (tap.h): its cases share the event loop main() starts */
#define TAP_IN_PROCESS
#include "../tap.h"
#include "mstime.h"

static struct event_base *base;
static const char *url;
static char prefix[64];

/* ---- loop helpers ---- */

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	*(bool *)arg = true;
}

/* runs the loop until *counter >= want or ms passed; true if reached */
static bool wait_for(const int *counter, int want, int ms)
{
	bool expired = false;
	struct event *t = evtimer_new(base, on_deadline, &expired);
	struct timeval tv = mstime_tv(ms);

	evtimer_add(t, &tv);
	while (*counter < want && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(t);
	return *counter >= want;
}

static void on_ready(RConn *c, void *priv)
{
	(*(int *)priv)++;
}

/* One expected reply, copied out of the borrowed redisReply. */
typedef struct Got {
	int n; /* callbacks seen */
	bool null;
	int type;
	long long integer;
	char str[256];
	size_t len;
	size_t elements;
} Got;

static void on_got(RConn *c, redisReply *r, void *priv)
{
	Got *g = priv;

	g->n++;
	g->null = r == NULL;
	if (r == NULL)
		return;
	g->type = r->type;
	g->integer = r->integer;
	g->elements = r->elements;
	if (r->str != NULL) {
		g->len = r->len < sizeof(g->str) ? r->len : sizeof(g->str) - 1;
		memcpy(g->str, r->str, g->len);
		g->str[g->len] = '\0';
	}
}

static RConn *connect_ready(const char *u, int *ready)
{
	RConn *c = rconn_new(base, u);

	if (c == NULL)
		return NULL;
	rconn_set_ready_cb(c, on_ready, ready);
	if (!wait_for(ready, 1, 5000)) {
		printf("# not ready: %s\n", rconn_errstr(c));
		rconn_free(c);
		return NULL;
	}
	return c;
}

/* ---- tests ---- */

static void test_bad_urls(void)
{
	static const char *bad[] = {
		"",
		"http://127.0.0.1:6379",
		"redis://",
		"redis://127.0.0.1:0",
		"redis://127.0.0.1:99999",
		"redis://127.0.0.1:6379/x",
		"unix:",
		"unix:relative",
		"unix:/tmp/x.sock?database=1",
		"redis://user@127.0.0.1",
	};

	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		RConn *c = rconn_new(base, bad[i]);

		assertf(c == NULL, "accepted url \"%s\"", bad[i]);
		rconn_free(c);
	}
}

static void test_connect_failure(void)
{
	int ready = 0;
	RConn *c = rconn_new(base, "unix:/nonexistent-dir/redis.sock");
	Got g = { 0 };

	assertf(c != NULL, "rconn_new");
	if (c == NULL)
		return;
	rconn_set_ready_cb(c, on_ready, &ready);
	wait_for(&ready, 1, 400); /* a few reconnect attempts with backoff */
	assertf(ready == 0 && !rconn_is_ready(c), "ready without a server");
	assertf(rconn_errstr(c)[0] != '\0', "no error string");
	assertf(!rconn_commandf(c, on_got, &g, "PING"), "command accepted while down");
	rconn_free(c);
	assertf(g.n == 0, "callback called for a refused command");
}

static void test_commands(void)
{
	int ready = 0;
	RConn *c = connect_ready(url, &ready);
	char key[KEYS_MAX];
	const char val[] = { 'a', '\0', 'b' };
	Got set = { 0 }, get = { 0 }, incr = { 0 }, bad = { 0 };

	assertf(c != NULL, "not ready");
	if (c == NULL)
		return;
	assertf(rconn_is_ready(c) && rconn_errstr(c)[0] == '\0', "ready state");
	snprintf(key, sizeof(key), "%sbin", prefix);
	{
		const char *argv[] = { "SET", key, val };
		size_t lens[] = { 3, strlen(key), sizeof(val) };

		assertf(rconn_command(c, on_got, &set, 3, argv, lens), "SET not sent");
	}
	{
		const char *argv[] = { "GET", key };

		assertf(rconn_command(c, on_got, &get, 2, argv, NULL), "GET not sent");
	}
	assertf(rconn_commandf(c, on_got, &incr, "INCRBY %scounter %d", prefix, 5), "INCRBY");
	assertf(rconn_commandf(c, on_got, &bad, "INCR %s", key), "INCR");
	assertf(wait_for(&bad.n, 1, 3000), "no replies");
	assertf(set.type == REDIS_REPLY_STATUS && strcmp(set.str, "OK") == 0, "SET %s", set.str);
	assertf(get.type == REDIS_REPLY_STRING && get.len == 3 && memcmp(get.str, val, 3) == 0,
		"binary value lost");
	assertf(incr.type == REDIS_REPLY_INTEGER && incr.integer == 5, "INCRBY %lld", incr.integer);
	assertf(bad.type == REDIS_REPLY_ERROR, "INCR of a string should fail");
	rconn_free(c);
}

/* the heartbeat script: it writes the lease and answers { jobs list length } */
static void heartbeat(RConn *c, Got *g, bool *sent)
{
	char lease[KEYS_MAX], workers[KEYS_MAX], jobs[KEYS_MAX], info[KEYS_MAX];
	const char *keys[] = { keys_worker_lease(lease, sizeof(lease), prefix, "w1"),
			       keys_workers(workers, sizeof(workers), prefix),
			       keys_worker_jobs(jobs, sizeof(jobs), prefix, "w1"),
			       keys_worker_info(info, sizeof(info), prefix, "w1") };
	const char *args[] = { "w1", "1700000000000", "60000", "0" };

	*sent = rconn_script(c, LUA_SCRIPT_HEARTBEAT, 4, keys, 4, args, on_got, g);
}

static void test_script_and_noscript(void)
{
	int ready = 0;
	RConn *c = connect_ready(url, &ready);
	Got hb = { 0 }, flush = { 0 }, hb2 = { 0 }, lease = { 0 }, wrong = { 0 };
	bool sent;

	assertf(c != NULL, "not ready");
	if (c == NULL)
		return;
	heartbeat(c, &hb, &sent);
	assertf(sent, "script not sent");
	assertf(wait_for(&hb.n, 1, 3000), "no script reply");
	assertf(hb.type == REDIS_REPLY_ARRAY && hb.elements == 1, "heartbeat type %d %zu %s",
		hb.type, hb.elements, hb.str);
	assertf(rconn_commandf(c, on_got, &lease, "GET %sworker:w1:lease", prefix), "GET");
	assertf(wait_for(&lease.n, 1, 3000) && strcmp(lease.str, "w1") == 0, "lease %s", lease.str);

	/* the server forgets every script: the next EVALSHA reloads transparently */
	assertf(rconn_commandf(c, on_got, &flush, "SCRIPT FLUSH"), "SCRIPT FLUSH");
	heartbeat(c, &hb2, &sent);
	assertf(sent, "script not sent after flush");
	assertf(wait_for(&hb2.n, 1, 3000), "no reply after flush");
	assertf(hb2.n == 1, "callback called %d times", hb2.n);
	assertf(hb2.type == REDIS_REPLY_ARRAY && hb2.elements == 1, "after NOSCRIPT: type %d %s",
		hb2.type, hb2.str);

	/* wrong key count is refused before sending */
	{
		const char *keys[] = { "a" };
		const char *args[] = { "w1", "1", "1", "0" };

		assertf(!rconn_script(c, LUA_SCRIPT_HEARTBEAT, 1, keys, 4, args, on_got, &wrong),
			"wrong key count accepted");
	}
	rconn_free(c);
	assertf(wrong.n == 0, "callback of a refused script ran");
}

/* Builds the url of the same server with db 3. */
static void url_with_db3(char *out, size_t n)
{
	char base_url[256];
	char *p;

	snprintf(base_url, sizeof(base_url), "%s", url);
	if (strncmp(base_url, "unix:", 5) == 0) {
		if ((p = strchr(base_url, '?')) != NULL)
			*p = '\0';
		snprintf(out, n, "%s?db=3", base_url);
	} else {
		p = strchr(base_url + 8, '/');
		if (p != NULL)
			*p = '\0';
		snprintf(out, n, "%s/3", base_url);
	}
}

static void test_select_db(void)
{
	char u3[300];
	int r0 = 0, r3 = 0;
	RConn *c0, *c3;
	Got set = { 0 }, get0 = { 0 }, get3 = { 0 }, del = { 0 };

	url_with_db3(u3, sizeof(u3));
	c3 = connect_ready(u3, &r3);
	c0 = connect_ready(url, &r0);
	assertf(c0 != NULL && c3 != NULL, "not ready (%s)", u3);
	if (c0 == NULL || c3 == NULL)
		goto out;
	assertf(rconn_commandf(c3, on_got, &set, "SET %sdb3only 1", prefix), "SET");
	assertf(wait_for(&set.n, 1, 3000), "SET reply");
	assertf(rconn_commandf(c3, on_got, &get3, "EXISTS %sdb3only", prefix), "EXISTS 3");
	assertf(rconn_commandf(c0, on_got, &get0, "EXISTS %sdb3only", prefix), "EXISTS 0");
	assertf(wait_for(&get3.n, 1, 3000) && wait_for(&get0.n, 1, 3000), "replies");
	/* url's own db may not be 0, but it is not 3 unless the test runner chose 3 */
	assertf(get3.integer == 1, "key missing in db 3");
	assertf(get0.integer == 0 || strstr(url, "/3") != NULL || strstr(url, "db=3") != NULL,
		"SELECT ignored");
	assertf(rconn_commandf(c3, on_got, &del, "DEL %sdb3only", prefix), "DEL");
	wait_for(&del.n, 1, 3000);
out:
	rconn_free(c0);
	rconn_free(c3);
}

/* Another client kills our connection (by id, so tests sharing the server are spared)
 * while a BLPOP is pending: the BLPOP gets NULL, rconn reconnects by itself, reloads the
 * scripts and calls the ready callback again. */
static void test_reconnect_after_kill(void)
{
	int ready = 0, ready_k = 0;
	RConn *c = connect_ready(url, &ready);
	RConn *killer = connect_ready(url, &ready_k);
	Got id = { 0 }, blpop = { 0 }, kill = { 0 }, after = { 0 }, hb = { 0 };
	bool sent;

	assertf(c != NULL && killer != NULL, "not ready");
	if (c == NULL || killer == NULL)
		goto out;
	assertf(rconn_commandf(c, on_got, &id, "CLIENT ID"), "CLIENT ID");
	assertf(rconn_commandf(c, on_got, &blpop, "BLPOP %snothing 10", prefix), "BLPOP");
	assertf(wait_for(&id.n, 1, 3000) && id.type == REDIS_REPLY_INTEGER, "CLIENT ID reply");
	wait_for(&blpop.n, 1, 100); /* let BLPOP reach the server */
	assertf(rconn_commandf(killer, on_got, &kill, "CLIENT KILL ID %lld", id.integer), "KILL");
	assertf(wait_for(&kill.n, 1, 3000) && kill.type == REDIS_REPLY_INTEGER && kill.integer == 1,
		"CLIENT KILL killed %lld clients", kill.integer);
	assertf(wait_for(&blpop.n, 1, 3000), "pending BLPOP never completed");
	assertf(blpop.null, "pending command got a reply instead of NULL");
	assertf(!rconn_is_ready(c), "still ready after the kill");
	assertf(ready == 1, "ready called again too early");
	assertf(wait_for(&ready, 2, 5000), "no reconnect (err %s)", rconn_errstr(c));
	assertf(rconn_is_ready(c), "not ready after reconnect");
	assertf(rconn_commandf(c, on_got, &after, "PING"), "PING after reconnect");
	heartbeat(c, &hb, &sent);
	assertf(sent, "script after reconnect");
	assertf(wait_for(&hb.n, 1, 3000), "no replies after reconnect");
	assertf(after.type == REDIS_REPLY_STATUS && strcmp(after.str, "PONG") == 0, "PING %s",
		after.str);
	assertf(hb.type == REDIS_REPLY_ARRAY && hb.elements == 1, "script after reconnect");
	assertf(rconn_is_ready(killer) && ready_k == 1, "killer disturbed");
out:
	rconn_free(c);
	rconn_free(killer);
}

/* The server stops answering (CLIENT PAUSE holds every client's commands, as a peer gone
 * without a reset would): the pending command gets NULL once the reply deadline passes, long
 * before the pause ends, and rconn connects again by itself. */
static void test_reply_deadline(void)
{
	int ready = 0;
	RConn *c = connect_ready(url, &ready);
	Got pause = { 0 }, ping = { 0 }, after = { 0 };
	bool expired = false;
	struct event *t;
	struct timeval pause_tv = { 3, 0 };

	assertf(c != NULL, "not ready");
	if (c == NULL)
		return;
	rconn_set_timeout(c, 300);
	assertf(rconn_commandf(c, on_got, &pause, "CLIENT PAUSE 3000 ALL"), "CLIENT PAUSE");
	assertf(wait_for(&pause.n, 1, 3000) && pause.type == REDIS_REPLY_STATUS, "paused");
	/* the pause ends 3 s from now; the deadline must act well before that */
	t = evtimer_new(base, on_deadline, &expired);
	evtimer_add(t, &pause_tv);
	assertf(rconn_commandf(c, on_got, &ping, "PING"), "PING sent");
	while (ping.n == 0 && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	assertf(ping.n == 1 && ping.null && !expired,
		"the unanswered PING got NULL before the pause ended");
	assertf(strstr(rconn_errstr(c), "deadline") != NULL, "the error says why: %s",
		rconn_errstr(c));
	event_free(t);
	assertf(wait_for(&ready, 2, 8000), "connected again after the pause (%s)", rconn_errstr(c));
	assertf(rconn_commandf(c, on_got, &after, "PING") && wait_for(&after.n, 1, 3000) &&
			after.type == REDIS_REPLY_STATUS,
		"answers again");
	rconn_free(c);
}

static void test_free_with_pending(void)
{
	int ready = 0;
	RConn *c = connect_ready(url, &ready);
	Got a = { 0 }, b = { 0 };

	assertf(c != NULL, "not ready");
	if (c == NULL)
		return;
	assertf(rconn_commandf(c, on_got, &a, "BLPOP %snothing 10", prefix), "BLPOP");
	assertf(rconn_commandf(c, on_got, &b, "PING"), "PING");
	rconn_free(c);
	assertf(a.n == 1 && a.null, "pending BLPOP: n %d null %d", a.n, a.null);
	assertf(b.n == 1 && b.null, "pending PING: n %d null %d", b.n, b.null);
}

/* rconn_free from inside a reply callback while another command is pending. */
typedef struct FreeCtx {
	RConn *c;
	int n;
	Got later;
} FreeCtx;

static void free_inside(RConn *c, redisReply *r, void *priv)
{
	FreeCtx *f = priv;

	f->n++;
	rconn_free(f->c);
	/* c must stay valid for the rest of this callback */
	assertf(!rconn_is_ready(c), "ready after rconn_free");
	assertf(!rconn_commandf(c, on_got, &f->later, "PING"), "command accepted after free");
}

static void test_free_inside_callback(void)
{
	int ready = 0;
	FreeCtx f = { 0 };
	Got pending = { 0 };

	f.c = connect_ready(url, &ready);
	assertf(f.c != NULL, "not ready");
	if (f.c == NULL)
		return;
	assertf(rconn_commandf(f.c, free_inside, &f, "PING"), "PING");
	assertf(rconn_commandf(f.c, on_got, &pending, "BLPOP %snothing 10", prefix), "BLPOP");
	assertf(wait_for(&f.n, 1, 3000), "first callback");
	assertf(wait_for(&pending.n, 1, 3000), "pending never completed");
	assertf(pending.null, "pending got a reply");
	assertf(f.later.n == 0, "refused command called back");
}

static void cleanup_keys(void)
{
	int ready = 0;
	RConn *c = connect_ready(url, &ready);
	Got g = { 0 };

	if (c == NULL)
		return;
	if (rconn_commandf(c, on_got, &g, "DEL %sbin %scounter %sworker:w1:lease %sworkers", prefix,
			   prefix, prefix, prefix))
		wait_for(&g.n, 1, 3000);
	rconn_free(c);
}

int main(void)
{
	url = getenv("REDIS_URL");
	if (url == NULL || !*url)
		TAP_SKIP_ALL("REDIS_URL not set");
	log_init("test_core_rconn", getenv("TEST_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
	snprintf(prefix, sizeof(prefix), "test_core_rconn:%ld:", (long)getpid());
	base = event_base_new();
	RUN_TEST(test_bad_urls);
	RUN_TEST(test_connect_failure);
	RUN_TEST(test_commands);
	RUN_TEST(test_script_and_noscript);
	RUN_TEST(test_select_db);
	RUN_TEST(test_reconnect_after_kill);
	RUN_TEST(test_reply_deadline);
	RUN_TEST(test_free_with_pending);
	RUN_TEST(test_free_inside_callback);
	cleanup_keys();
	event_base_free(base);
	return tap_done();
}
