/* routes_fleet.c - GET /admin/fleet: the fleet view (workers, queue, running slots against
 * the caps, parked jobs, AMC cancels, recent errors by kind) from one read-only Lua script
 * (lua/fleet.lua), bounded per request. It reads Redis only: no PostgreSQL, no KEYS/SCAN. */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "log.h"
#include "mstime.h"

/* the per-request bounds handed to the script (docs/api.md, GET /admin/fleet) */
#define FLEET_MAX_WORKERS 200
#define FLEET_MAX_BATCHES 100
#define FLEET_MAX_SLOTS 20
#define FLEET_MAX_EVENTS 2000
#define FLEET_MAX_ERRORS 50
#define FLEET_RECENT_SHOWN 20

static const char *str_of(const redisReply *e)
{
	return e != NULL && e->type == REDIS_REPLY_STRING ? e->str : "";
}

static long long int_of(const redisReply *e)
{
	if (e == NULL)
		return 0;
	if (e->type == REDIS_REPLY_INTEGER)
		return e->integer;
	if (e->type == REDIS_REPLY_STRING)
		return strtoll(e->str, NULL, 10);
	return 0;
}

static bool is_array(const redisReply *e)
{
	return e != NULL && e->type == REDIS_REPLY_ARRAY;
}

/* An age in ms from a Unix ms time, or JSON null when there is none (0). New reference. */
static json_t *age_or_null(long long now, long long at)
{
	return at > 0 ? json_integer(now > at ? now - at : 0) : json_null();
}

static bool has(const char *text, const char *needle)
{
	return strcasestr(text, needle) != NULL;
}

/* The kind of an AMC error text, as the worker words them (src/worker: job_fail, retry
 * reasons). Ordered: the first rule that matches wins. */
static const char *error_kind(const char *text)
{
	if (has(text, "throttl") || has(text, "HTTP 429"))
		return "throttled";
	if (has(text, "timed out") || has(text, "timeout"))
		return "timeout";
	if (has(text, "HTTP 401") || has(text, "HTTP 403") || has(text, "credentials") ||
	    has(text, "token"))
		return "auth";
	if (has(text, "HTTP 5"))
		return "amc_5xx";
	if (has(text, "HTTP 4") || has(text, "refused the execution"))
		return "amc_rejected";
	if (has(text, "AMC execution") && (has(text, "failed") || has(text, "rejected")))
		return "query_failed";
	if (has(text, "download") || has(text, "archiv") || has(text, "spool") ||
	    has(text, "writing") || has(text, "MD5"))
		return "results";
	if (has(text, "could not send") || has(text, "connect") || has(text, "network") ||
	    has(text, "resolve"))
		return "network";
	if (has(text, "cancel"))
		return "cancelled";
	return "other";
}

/* Config caps, unless the live workers say otherwise: the smallest cap any live worker
 * claims with is the one that binds (claim passes its own in ARGV). */
typedef struct Caps {
	long long instance, account;
	bool from_workers, disagree;
} Caps;

static void caps_see(Caps *c, long long icap, long long acap)
{
	if (icap <= 0 || acap <= 0)
		return;
	if (c->from_workers && (icap != c->instance || acap != c->account))
		c->disagree = true;
	if (!c->from_workers || icap < c->instance)
		c->instance = icap;
	if (!c->from_workers || acap < c->account)
		c->account = acap;
	c->from_workers = true;
}

static json_t *workers_json(const redisReply *w, long long now, Caps *caps)
{
	json_t *items = json_array(), *o = json_object();
	int live = 0;

	for (size_t i = 1; i + 4 < w->elements; i += 5) {
		const redisReply *info = w->element[i + 4];
		long long beat = int_of(w->element[i + 1]), pttl = int_of(w->element[i + 2]);
		long long started = 0, icap = 0, acap = 0;
		json_t *x = json_object();

		json_object_set_new(x, "id", json_string(str_of(w->element[i])));
		json_object_set_new(x, "host", json_null());
		json_object_set_new(x, "pid", json_null());
		json_object_set_new(x, "version", json_null());
		json_object_set_new(x, "claims_paused", json_null());
		for (size_t k = 0; is_array(info) && k + 1 < info->elements; k += 2) {
			const char *f = str_of(info->element[k]), *v = str_of(info->element[k + 1]);

			if (!strcmp(f, "host") || !strcmp(f, "version"))
				json_object_set_new(x, f, json_string(v));
			else if (!strcmp(f, "claims_paused") && v[0] != '\0')
				json_object_set_new(x, f, json_string(v)); /* invalid UTF-8: null */
			else if (!strcmp(f, "pid") || !strcmp(f, "inflight_max"))
				json_object_set_new(x, f, json_integer(strtoll(v, NULL, 10)));
			else if (!strcmp(f, "started_at"))
				started = strtoll(v, NULL, 10);
			else if (!strcmp(f, "instance_cap"))
				icap = strtoll(v, NULL, 10);
			else if (!strcmp(f, "account_cap"))
				acap = strtoll(v, NULL, 10);
		}
		json_object_set_new(x, "started_at_ms",
				    started > 0 ? json_integer(started) : json_null());
		json_object_set_new(x, "uptime_seconds",
				    started > 0 ? json_integer((now - started) / 1000)
						: json_null());
		json_object_set_new(x, "jobs_held", json_integer(int_of(w->element[i + 3])));
		json_object_set_new(x, "last_heartbeat_age_ms", age_or_null(now, beat));
		json_object_set_new(x, "lease_alive", json_boolean(pttl != -2));
		json_object_set_new(x, "lease_ttl_ms", json_integer(pttl > 0 ? pttl : 0));
		json_object_set_new(x, "instance_cap", icap > 0 ? json_integer(icap) : json_null());
		json_object_set_new(x, "account_cap", acap > 0 ? json_integer(acap) : json_null());
		if (pttl != -2) {
			live++;
			caps_see(caps, icap, acap);
		}
		json_array_append_new(items, x);
	}
	json_object_set_new(o, "total", json_integer(w->elements > 0 ? int_of(w->element[0]) : 0));
	json_object_set_new(o, "live", json_integer(live));
	json_object_set_new(o, "items", items);
	return o;
}

static json_t *queue_json(const redisReply *q, long long now)
{
	json_t *o = json_object(), *rows = json_array();

	json_object_set_new(o, "batches",
			    json_integer(q->elements > 0 ? int_of(q->element[0]) : 0));
	json_object_set_new(o, "ready", json_integer(q->elements > 1 ? int_of(q->element[1]) : 0));
	json_object_set_new(o, "retry_wait",
			    json_integer(q->elements > 2 ? int_of(q->element[2]) : 0));
	json_object_set_new(o, "retry_due",
			    json_integer(q->elements > 3 ? int_of(q->element[3]) : 0));
	json_object_set_new(o, "oldest_queued_age_ms",
			    age_or_null(now, q->elements > 4 ? int_of(q->element[4]) : 0));
	for (size_t i = 5; i + 2 < q->elements; i += 3)
		json_array_append_new(rows, json_pack("{s:s, s:I, s:o}", "batch_id",
						      str_of(q->element[i]), "ready",
						      (json_int_t)int_of(q->element[i + 1]),
						      "oldest_queued_age_ms",
						      age_or_null(now, int_of(q->element[i + 2]))));
	json_object_set_new(o, "by_batch", rows);
	return o;
}

/* running slots: looked up again for the parked rows (their resource's use) */
static long long slot_use(const redisReply *s, const char *kind, const char *id)
{
	for (size_t i = 2; i + 2 < s->elements; i += 3)
		if (!strcmp(str_of(s->element[i]), kind) && !strcmp(str_of(s->element[i + 1]), id))
			return int_of(s->element[i + 2]);
	return 0;
}

static json_t *running_json(const redisReply *s, const Caps *caps)
{
	json_t *o = json_object(), *inst = json_array(), *acct = json_array();

	json_object_set_new(o, "instances_busy",
			    json_integer(s->elements > 0 ? int_of(s->element[0]) : 0));
	json_object_set_new(o, "accounts_busy",
			    json_integer(s->elements > 1 ? int_of(s->element[1]) : 0));
	for (size_t i = 2; i + 2 < s->elements; i += 3) {
		bool is_inst = !strcmp(str_of(s->element[i]), "instance");
		long long cap = is_inst ? caps->instance : caps->account;
		long long n = int_of(s->element[i + 2]);

		json_array_append_new(is_inst ? inst : acct,
				      json_pack("{s:s, s:I, s:I, s:b}",
						is_inst ? "amc_instance_id" : "account_id",
						str_of(s->element[i + 1]), "running", (json_int_t)n,
						"cap", (json_int_t)cap, "full", n >= cap));
	}
	json_object_set_new(o, "instances", inst);
	json_object_set_new(o, "accounts", acct);
	return o;
}

static json_t *parked_json(const redisReply *p, const redisReply *s, const Caps *caps,
			   long long now)
{
	json_t *o = json_object(), *items = json_array();
	long long total = 0;

	for (size_t i = 0; i + 4 < p->elements; i += 5) {
		const char *kind = str_of(p->element[i]), *id = str_of(p->element[i + 1]);
		bool is_inst = !strcmp(kind, "instance");
		long long n = int_of(p->element[i + 2]);
		char reason[160];

		snprintf(reason, sizeof(reason), "waiting for the %s cap: %s %s runs %lld of %lld",
			 kind, kind, id, slot_use(s, kind, id),
			 is_inst ? caps->instance : caps->account);
		total += n;
		json_array_append_new(
			items,
			json_pack("{s:s, s:s, s:I, s:s, s:s, s:I, s:I, s:s, s:o}", "kind", kind,
				  "id", id, "waiting", (json_int_t)n, "cap_name",
				  is_inst ? "instance_cap" : "account_cap", "reason", reason,
				  "running", (json_int_t)slot_use(s, kind, id), "cap",
				  (json_int_t)(is_inst ? caps->instance : caps->account),
				  "oldest_ref", str_of(p->element[i + 3]), "oldest_queued_age_ms",
				  age_or_null(now, int_of(p->element[i + 4]))));
	}
	json_object_set_new(o, "total", json_integer(total));
	json_object_set_new(o, "items", items);
	return o;
}

static json_t *errors_json(const redisReply *e)
{
	json_t *o = json_object(), *recent = json_array(), *kinds = json_object(),
	       *by = json_array();
	const char *key;
	json_t *v;

	for (size_t i = 0; i + 5 < e->elements; i += 6) {
		const char *text = str_of(e->element[i + 5]), *kind = error_kind(text);
		long long at = int_of(e->element[i]);
		json_t *k = json_object_get(kinds, kind);

		if (k == NULL) {
			/* entries come newest first: the first one seen is the latest */
			k = json_pack("{s:s, s:i, s:I, s:s}", "kind", kind, "count", 0,
				      "last_at_ms", (json_int_t)at, "example", text);
			json_object_set_new(kinds, kind, k);
		}
		json_object_set_new(
			k, "count",
			json_integer(json_integer_value(json_object_get(k, "count")) + 1));
		if (json_array_size(recent) < FLEET_RECENT_SHOWN)
			json_array_append_new(
				recent,
				json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "at_ms",
					  (json_int_t)at, "type", str_of(e->element[i + 1]), "kind",
					  kind, "batch_id", str_of(e->element[i + 2]), "exec_id",
					  str_of(e->element[i + 3]), "amc_instance_id",
					  str_of(e->element[i + 4]), "error", text));
	}
	json_object_foreach (kinds, key, v)
		json_array_append(by, v);
	json_decref(kinds);
	json_object_set_new(o, "events_scanned_max", json_integer(FLEET_MAX_EVENTS));
	json_object_set_new(o, "by_kind", by);
	json_object_set_new(o, "recent", recent);
	return o;
}

static json_t *cancels_json(const redisReply *c, long long now)
{
	return json_pack("{s:I, s:I, s:o}", "pending",
			 (json_int_t)(c->elements > 0 ? int_of(c->element[0]) : 0), "due",
			 (json_int_t)(c->elements > 1 ? int_of(c->element[1]) : 0),
			 "oldest_due_age_ms",
			 age_or_null(now, c->elements > 2 ? int_of(c->element[2]) : 0));
}

static void on_fleet(RConn *rc, redisReply *reply, void *priv)
{
	Req *r = priv;
	long long now = mstime_wall();
	Caps caps = { .instance = r->api->cfg.instance_cap, .account = r->api->cfg.account_cap };
	json_t *o;

	(void)rc;
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		log_error("fleet script failed: %s",
			  reply == NULL ? "connection lost" : reply->str);
		req_fail(r, 503, "queue_unavailable", NULL, "Redis is unavailable");
		return;
	}
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 6) {
		req_fail(r, 500, "internal", NULL, "unexpected fleet reply");
		return;
	}
	for (size_t i = 0; i < 6; i++) {
		if (!is_array(reply->element[i])) {
			req_fail(r, 500, "internal", NULL, "unexpected fleet reply");
			return;
		}
	}
	o = json_object();
	if (o == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		return;
	}
	json_object_set_new(o, "generated_at_ms", json_integer(now));
	/* workers first: their caps decide the ones the slots are measured against */
	json_object_set_new(o, "workers", workers_json(reply->element[0], now, &caps));
	json_object_set_new(o, "caps",
			    json_pack("{s:I, s:I, s:s, s:b}", "instance_cap",
				      (json_int_t)caps.instance, "account_cap",
				      (json_int_t)caps.account, "source",
				      caps.from_workers ? "workers" : "config", "workers_disagree",
				      caps.disagree));
	json_object_set_new(o, "queue", queue_json(reply->element[1], now));
	json_object_set_new(o, "running", running_json(reply->element[2], &caps));
	json_object_set_new(o, "parked",
			    parked_json(reply->element[3], reply->element[2], &caps, now));
	json_object_set_new(o, "amc_cancels", cancels_json(reply->element[4], now));
	json_object_set_new(o, "errors", errors_json(reply->element[5]));
	req_success(r, 200, o);
}

void routes_fleet_get(Req *r)
{
	LuaCall call;

	if (!api_redis_ready(r->api) ||
	    !lua_fleet(&call, r->api->cfg.redis_prefix, mstime_wall(), FLEET_MAX_WORKERS,
		       FLEET_MAX_BATCHES, FLEET_MAX_SLOTS, FLEET_MAX_EVENTS, FLEET_MAX_ERRORS) ||
	    !rconn_call(r->api->redis, &call, on_fleet, r))
		req_fail(r, 503, "queue_unavailable", NULL, "Redis is unavailable");
}
