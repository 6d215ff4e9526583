/* finisher.c - batched finishes: finisher_add queues, a zero-delay timer flushes once per
 * event-loop turn (after every reply read in that turn was handled) as finish_many calls;
 * a call whose reply is lost (Redis away, LOADING, ...) is resent on a timer. */
#include "finisher.h"

#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "keys.h"
#include "log.h"
#include "mstime.h"
#include "rcall.h"

#define RESEND_MS 500

typedef struct Entry {
	char ref[IDS_BATCH_LEN + IDS_EXEC_LEN + 2];
	char claim[32];
	const char *outcome; /* a final state's name (static) */
	char rows[24];
	char *error; /* owned; NULL = "" */
	FinisherDoneFn done;
	void *priv;
} Entry;

/* One finish_many call: owns its entries until every done() has run. */
typedef struct Call {
	Worker *w;
	struct Call *prev, *next; /* in fin.waiting while the resend timer is armed */
	struct event *timer;
	int tries;
	size_t n;
	Entry e[];
} Call;

/* One Worker per process: the queue of this loop turn and the calls waiting to be resent. */
static struct {
	Worker *w;
	struct event *flush_ev;
	Entry *pending; /* owned array, FIFO */
	size_t n, cap;
	Call *waiting;
	char events_key[KEYS_MAX], jobs_key[KEYS_MAX];
} fin;

static void call_free(Call *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->e[i].error);
	if (c->timer != NULL)
		event_free(c->timer);
	free(c);
}

static void call_send(Call *c);

static void on_resend(evutil_socket_t fd, short what, void *arg)
{
	Call *c = arg;
	if (c->prev)
		c->prev->next = c->next;
	else
		fin.waiting = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	call_send(c);
}

static void resend_later(Call *c, const char *why)
{
	/* backoff: a Redis that refuses writes (MISCONF, OOM) is not hammered */
	int ms = RESEND_MS * (c->tries < 20 ? c->tries : 20);
	struct timeval tv = mstime_tv(ms);
	if (c->tries == 1 || c->tries % 20 == 0)
		log_warn("finish_many of %zu job(s) not done (%s), resending (%d tries)", c->n, why,
			 c->tries);
	c->prev = NULL;
	c->next = fin.waiting;
	if (fin.waiting != NULL)
		fin.waiting->prev = c;
	fin.waiting = c;
	evtimer_add(c->timer, &tv);
}

static void on_reply(RConn *rc, redisReply *reply, void *priv)
{
	Call *c = priv;
	Worker *w = c->w;
	if (w->exiting) {
		for (size_t i = 0; i < c->n; i++)
			c->e[i].done(w, NULL, c->e[i].priv);
		call_free(c);
		return;
	}
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != c->n) {
		if (reply != NULL && reply->type == REDIS_REPLY_ERROR &&
		    !rconn_not_now_error(reply))
			log_error("finish_many of %zu job(s) refused: %s", c->n, reply->str);
		resend_later(c, reply == NULL                      ? "redis unavailable"
				: reply->type == REDIS_REPLY_ERROR ? reply->str
								   : "unexpected reply");
		return;
	}
	for (size_t i = 0; i < c->n; i++)
		c->e[i].done(w, reply->element[i], c->e[i].priv);
	call_free(c);
}

/* KEYS: events, jobs, (batch, exec) per job; ARGV: now, worker, (ref, outcome, rows, error,
 * claim) per job. */
static void call_send(Call *c)
{
	Worker *w = c->w;
	size_t nk = 2 + 2 * c->n, na = 2 + 5 * c->n;
	const char **keys = malloc(nk * sizeof(*keys)), **args = malloc(na * sizeof(*args));
	char *kb = malloc(2 * c->n * KEYS_MAX), now[24];
	bool ok = keys != NULL && args != NULL && kb != NULL;
	c->tries++;
	if (ok) {
		snprintf(now, sizeof(now), "%lld", (long long)mstime_wall());
		keys[0] = fin.events_key;
		keys[1] = fin.jobs_key;
		args[0] = now;
		args[1] = w->id;
		for (size_t i = 0; i < c->n; i++) {
			const Entry *e = &c->e[i];
			char b[IDS_BATCH_LEN + 1], x[IDS_EXEC_LEN + 1];
			char *bk = kb + 2 * i * KEYS_MAX, *xk = bk + KEYS_MAX;
			/* checked by finisher_add: cannot fail here */
			ok = ok && ids_split_ref(e->ref, b, x) &&
			     keys_batch(bk, KEYS_MAX, w->prefix, b) != NULL &&
			     keys_exec(xk, KEYS_MAX, w->prefix, b, x) != NULL;
			keys[2 + 2 * i] = bk;
			keys[3 + 2 * i] = xk;
			args[2 + 5 * i] = e->ref;
			args[3 + 5 * i] = e->outcome;
			args[4 + 5 * i] = e->rows;
			args[5 + 5 * i] = e->error != NULL ? e->error : "";
			args[6 + 5 * i] = e->claim;
		}
	}
	/* rconn copies keys and args */
	ok = ok && rconn_script(w->redis, LUA_SCRIPT_FINISH_MANY, (int)nk, keys, (int)na, args,
				on_reply, c);
	free(keys);
	free(args);
	free(kb);
	if (!ok)
		resend_later(c, "not connected"); /* or out of memory: try again */
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	while (fin.n > 0) {
		size_t n = fin.n < FINISHER_MAX ? fin.n : FINISHER_MAX;
		Call *c = calloc(1, sizeof(*c) + n * sizeof(Entry));
		if (c != NULL && (c->timer = evtimer_new(fin.w->base, on_resend, c)) == NULL) {
			free(c);
			c = NULL;
		}
		if (c == NULL) {
			struct timeval tv = { 0, 100 * 1000 };
			log_error("out of memory sending %zu finish(es); trying again", fin.n);
			evtimer_add(fin.flush_ev, &tv);
			return;
		}
		c->w = fin.w;
		c->n = n;
		memcpy(c->e, fin.pending, n * sizeof(Entry)); /* the error strings move along */
		fin.n -= n;
		memmove(fin.pending, fin.pending + n, fin.n * sizeof(Entry));
		call_send(c);
	}
}

bool finisher_add(Worker *w, const char *ref, const char *claim, enum ExecState outcome,
		  long row_count, const char *error, FinisherDoneFn done, void *priv)
{
	char b[IDS_BATCH_LEN + 1], x[IDS_EXEC_LEN + 1], k[KEYS_MAX];
	if (!ids_split_ref(ref, b, x) || keys_batch(k, sizeof(k), w->prefix, b) == NULL ||
	    keys_exec(k, sizeof(k), w->prefix, b, x) == NULL || !*claim ||
	    strlen(claim) >= sizeof(fin.pending->claim)) {
		log_error(
			"cannot finish %s: not a valid ref and claim (or the key prefix is too long)",
			ref);
		return false;
	}
	if (outcome < EXEC_STATE_FIRST_FINAL || outcome >= EXEC_STATE_COUNT) {
		log_error("cannot finish %s as state %d", ref, (int)outcome);
		return false;
	}
	if (fin.flush_ev == NULL) {
		if (keys_events(fin.events_key, KEYS_MAX, w->prefix) == NULL ||
		    keys_worker_jobs(fin.jobs_key, KEYS_MAX, w->prefix, w->id) == NULL) {
			log_error("key names too long (prefix or worker id)");
			return false;
		}
		fin.w = w;
		if ((fin.flush_ev = evtimer_new(w->base, on_flush, NULL)) == NULL) {
			log_error("out of memory finishing %s", ref);
			return false;
		}
	}
	if (fin.n == fin.cap) {
		size_t cap = fin.cap ? 2 * fin.cap : 64;
		Entry *p = realloc(fin.pending, cap * sizeof(*p));
		if (p == NULL) {
			log_error("out of memory finishing %s", ref);
			return false;
		}
		fin.pending = p;
		fin.cap = cap;
	}
	Entry *e = &fin.pending[fin.n];
	e->error = NULL;
	if (error != NULL && *error && (e->error = strdup(error)) == NULL) {
		log_error("out of memory finishing %s", ref);
		return false;
	}
	strcpy(e->ref, ref);
	strcpy(e->claim, claim);
	e->outcome = exec_state_name(outcome);
	snprintf(e->rows, sizeof(e->rows), "%ld", row_count);
	e->done = done;
	e->priv = priv;
	fin.n++;
	/* zero delay: runs after the callbacks of this loop turn, so their finishes share a call */
	if (!evtimer_pending(fin.flush_ev, NULL)) {
		struct timeval zero = { 0, 0 };
		evtimer_add(fin.flush_ev, &zero);
	}
	return true;
}

void finisher_free_all(void)
{
	for (size_t i = 0; i < fin.n; i++) {
		fin.pending[i].done(fin.w, NULL, fin.pending[i].priv);
		free(fin.pending[i].error);
	}
	free(fin.pending);
	while (fin.waiting != NULL) {
		Call *c = fin.waiting;
		fin.waiting = c->next;
		for (size_t i = 0; i < c->n; i++)
			c->e[i].done(c->w, NULL, c->e[i].priv);
		call_free(c);
	}
	if (fin.flush_ev != NULL)
		event_free(fin.flush_ev);
	memset(&fin, 0, sizeof(fin));
}
