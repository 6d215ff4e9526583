/* routes_webhooks.c - POST/GET /webhooks, GET/DELETE /webhooks/{id}, GET
 * /webhooks/{id}/deliveries: a user's completion webhooks and their delivery log. Owner-only
 * like batches (admins see all; another user's webhook is a 404). The URL's host is checked
 * against webhook_allow_private_networks here (literals at once, names through evdns, never
 * getaddrinfo on the loop); the worker checks again on every connection (webhook delivery).
 * The signing secret is encrypted before it leaves this process and shown only in the 201. */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/util.h>

#include "log.h"
#include "netaddr.h"
#include "pgq.h"
#include "secret.h"
#include "webhook.h"

#define MAX_EVENTS 5
#define DNS_TIMEOUT "2"
#define DNS_ATTEMPTS "2"

#define HOOK_COLS \
	"id, user_id, url, to_jsonb(events)::text AS events, format, secret_hint, " PGQ_ISO( \
		"created_at") " AS created_at"
#define HOOK_TYPES "sssjsss"

/* one user's webhooks are counted and inserted under a lock of that user, so two concurrent
 * requests cannot both take the last free place */
static const char sql_lock_user[] =
	"SELECT pg_advisory_xact_lock(hashtextextended('webhooks:' || $1, 0))";
static const char sql_insert[] =
	"INSERT INTO webhooks (user_id, url, events, format, secret_enc, secret_hint)"
	" SELECT $1::uuid, $2, $3::text[], $4, $5::bytea, $6"
	"  WHERE (SELECT count(*) FROM webhooks WHERE user_id = $1::uuid) < $7::integer"
	" RETURNING " HOOK_COLS;
static const char sql_list[] =
	"SELECT " HOOK_COLS " FROM webhooks WHERE $2::boolean OR user_id = $1::uuid"
	" ORDER BY created_at DESC, id";
static const char sql_get[] =
	"SELECT " HOOK_COLS
	" FROM webhooks WHERE id = $3::uuid AND ($2::boolean OR user_id = $1::uuid)";
static const char sql_delete[] =
	"DELETE FROM webhooks WHERE id = $3::uuid AND ($2::boolean OR user_id = $1::uuid)"
	" RETURNING " HOOK_COLS;
/* the deliveries of one webhook, newest first, each with its attempts in order */
static const char sql_deliveries[] =
	"SELECT d.id, e.id AS event_id, e.type AS event, d.state, d.attempts,"
	"       " PGQ_ISO(
		"d.created_at") " AS created_at,"
				"       CASE WHEN d.state = 'pending' THEN " PGQ_ISO(
					"d.next_attempt_at") " END AS next_attempt_at,"
							     "       " PGQ_ISO(
								     "d.delivered_at") " AS delivered_at, d.last_error,"
										       "       coalesce((SELECT jsonb_agg(jsonb_build_object('attempt', a.attempt,"
										       "                 'at', " PGQ_ISO(
											       "a.started_at") ", 'status_code', a.status_code,"
													       "                 'latency_ms', a.latency_ms, 'error', a.error,"
													       "                 'response', a.response_prefix) ORDER BY a.attempt)"
													       "                 FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]')::text AS attempt_log"
													       "  FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id"
													       " WHERE d.webhook_id = $1::uuid"
													       " ORDER BY d.created_at DESC, d.id LIMIT $2::integer OFFSET $3::integer";
#define DELIVERY_TYPES "ssssissssj"
static const char sql_delivery_count[] =
	"SELECT count(*) FROM webhook_deliveries WHERE webhook_id = $1::uuid";

/* The state of one POST /webhooks between its checks: owned by r (ctx), freed with it. */
typedef struct Create {
	Req *r;                       /* borrowed back-pointer */
	const char *url;              /* borrowed from r->body */
	const char *format;           /* borrowed from r->body or static */
	char events[MAX_EVENTS * 32]; /* PostgreSQL array literal */
	char host[256];
	char secret[WEBHOOK_SECRET_MAX + 1]; /* wiped before it is freed */
	bool generated;                      /* we made the secret: it goes into the 201 */
} Create;

static void create_free(void *p)
{
	Create *c = p;

	if (c == NULL)
		return;
	secret_wipe(c->secret, sizeof(c->secret));
	free(c);
}

/* Queues a job; on failure replies 503 and frees r. */
static void run_job(Req *r, Pgq *q, void (*done)(Pgq *q, void *priv))
{
	if (q == NULL || !pgq_run(r->api->pg, q, done, r)) {
		pgq_free(q);
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
	}
}

static void create_done(Pgq *q, void *priv)
{
	Req *r = priv;
	Create *c = r->ctx;
	json_t *row;

	if (!q->ok)
		pgq_fail(r, q);
	else if (PQntuples(q->res[1]) != 1)
		req_fail(r, 409, "too_many_webhooks", NULL,
			 "a user may register at most %d webhooks",
			 r->api->cfg.max_webhooks_per_user);
	else if ((row = pgq_row_json(q->res[1], 0, HOOK_TYPES)) == NULL)
		req_fail(r, 500, "internal", NULL, "out of memory");
	else {
		/* the secret appears in this answer only (and never in a log line) */
		if (c->generated)
			json_object_set_new(row, "secret", json_string(c->secret));
		log_info("user %s registered webhook %s", r->user_id,
			 json_string_value(json_object_get(row, "id")));
		req_success(r, 201, json_pack("{s:o}", "webhook", row));
	}
	pgq_free(q);
}

/* Every check passed: encrypt the secret and store the webhook. */
static void create_store(Req *r)
{
	Create *c = r->ctx;
	uint8_t key[SECRET_KEY_LEN], *blob = NULL;
	size_t n = 0;
	char kerr[128], *enc, hint[8], limit[16];
	size_t slen = strlen(c->secret);
	Pgq *q;

	if (!secret_key_load(r->api->cfg.secret_key, key, kerr, sizeof(kerr))) {
		log_error("webhook secret not stored: %s", kerr);
		req_fail(r, 500, "internal", NULL,
			 "the server has no secret key to encrypt webhook secrets");
		return;
	}
	bool ok = secret_encrypt(key, c->secret, slen, &blob, &n);
	secret_wipe(key, sizeof(key));
	if (!ok || (enc = malloc(2 * n + 3)) == NULL) {
		free(blob);
		req_fail(r, 500, "internal", NULL, "could not encrypt the secret");
		return;
	}
	enc[0] = '\\';
	enc[1] = 'x';
	secret_hex(blob, n, enc + 2);
	free(blob);
	snprintf(hint, sizeof(hint), "%s", c->secret + (slen > 4 ? slen - 4 : 0));
	snprintf(limit, sizeof(limit), "%d", r->api->cfg.max_webhooks_per_user);
	q = pgq_new();
	if (q != NULL && (!pgq_add(q, sql_lock_user, 1, (const char *[]){ r->user_id }) ||
			  !pgq_add(q, sql_insert, 7,
				   (const char *[]){ r->user_id, c->url, c->events, c->format, enc,
						     hint, limit }))) {
		pgq_free(q);
		q = NULL;
	}
	free(enc);
	run_job(r, q, create_done);
}

static void refuse_host(Req *r, const char *why)
{
	Create *c = r->ctx;

	req_fail(r, 422, "url_not_allowed", "url",
		 "url host %s %s (webhook_allow_private_networks does not allow it)", c->host, why);
}

static void on_resolved(int result, struct evutil_addrinfo *res, void *arg)
{
	Req *r = arg;
	Create *c = r->ctx;
	const struct evutil_addrinfo *ai;

	if (result != 0) {
		if (res != NULL) /* libevent's free does not accept NULL */
			evutil_freeaddrinfo(res);
		if (result == EVUTIL_EAI_CANCEL)
			req_fail(r, 503, "too_busy", NULL, "the server is shutting down");
		else
			req_fail(r, 422, "url_not_allowed", "url",
				 "url host %s does not resolve (%s)", c->host,
				 evutil_gai_strerror(result));
		return;
	}
	/* every address the name has must be allowed: the receiver may connect to any */
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		enum NetClass k = netaddr_classify(ai->ai_addr);

		if (!netaddr_allowed(k, r->api->webhook_policy)) {
			char why[64];

			snprintf(why, sizeof(why), "resolves to a %s address",
				 netaddr_class_name(k));
			evutil_freeaddrinfo(res);
			refuse_host(r, why);
			return;
		}
	}
	if (res != NULL)
		evutil_freeaddrinfo(res);
	create_store(r);
}

static bool dns_ready(Api *api)
{
	if (api->dns != NULL)
		return true;
	/* resolv.conf's servers and /etc/hosts; short timeouts: a client waits for the answer */
	api->dns = evdns_base_new(api->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (api->dns == NULL)
		return false;
	if (evdns_base_set_option(api->dns, "timeout:", DNS_TIMEOUT) != 0 ||
	    evdns_base_set_option(api->dns, "attempts:", DNS_ATTEMPTS) != 0)
		log_warn("webhook resolver: options not set");
	return true;
}

/* The SSRF check at registration: literals and localhost at once, names through evdns. */
static void create_check_host(Req *r)
{
	Create *c = r->ctx;
	struct sockaddr_storage ss;
	struct evutil_addrinfo hints;

	if (r->api->webhook_policy == NETPOLICY_ALL) {
		if (netaddr_parse_literal(c->host, &ss) &&
		    netaddr_classify((struct sockaddr *)&ss) == NETADDR_MULTICAST) {
			refuse_host(r, "is a multicast address");
			return;
		}
		create_store(r);
		return;
	}
	if (netaddr_parse_literal(c->host, &ss)) {
		enum NetClass k = netaddr_classify((struct sockaddr *)&ss);
		char why[64];

		if (netaddr_allowed(k, r->api->webhook_policy)) {
			create_store(r);
			return;
		}
		snprintf(why, sizeof(why), "is a %s address", netaddr_class_name(k));
		refuse_host(r, why);
		return;
	}
	if (strchr(c->host, ':') != NULL || strchr(c->host, '%') != NULL) {
		refuse_host(r, "is not a plain address (zone ids are not allowed)");
		return;
	}
	if (webhook_host_is_localhost(c->host)) {
		if (netaddr_allowed(NETADDR_LOOPBACK, r->api->webhook_policy))
			create_store(r);
		else
			refuse_host(r, "is a loopback name");
		return;
	}
	if (!dns_ready(r->api)) {
		req_fail(r, 503, "too_busy", NULL, "no resolver for the url host");
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	/* may call on_resolved before it returns (hosts file, cache): r is not touched after */
	(void)evdns_getaddrinfo(r->api->dns, c->host, NULL, &hints, on_resolved, r);
}

/* events: a non-empty array of distinct known names → the PostgreSQL array literal. */
static bool parse_events(Req *r, Create *c)
{
	json_t *ev = json_object_get(r->body, "events"), *v;
	size_t i, o = 0;

	if (ev == NULL || json_is_null(ev)) {
		req_fail(r, 400, "missing_field", "events", "events is required");
		return false;
	}
	if (!json_is_array(ev)) {
		req_fail(r, 400, "invalid_type", "events",
			 "events must be an array of event names");
		return false;
	}
	if (json_array_size(ev) == 0 || json_array_size(ev) > MAX_EVENTS) {
		req_fail(r, 422, "invalid_value", "events", "events must name 1..%d events",
			 MAX_EVENTS);
		return false;
	}
	c->events[o++] = '{';
	json_array_foreach (ev, i, v) {
		const char *name = json_string_value(v);

		if (!json_is_string(v)) {
			req_fail(r, 400, "invalid_type", "events",
				 "events must be an array of strings");
			return false;
		}
		if (!webhook_event_valid(name)) {
			req_fail(
				r, 422, "invalid_event", "events",
				"unknown event (one of batch.completed, batch.partial, batch.failed, "
				"batch.cancelled, schedule.run_skipped)");
			return false;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(json_string_value(json_array_get(ev, j)), name) == 0) {
				req_fail(r, 422, "invalid_value", "events",
					 "event %s is listed twice", name);
				return false;
			}
		o += (size_t)snprintf(c->events + o, sizeof(c->events) - o, "%s%s", i ? "," : "",
				      name);
	}
	snprintf(c->events + o, sizeof(c->events) - o, "}");
	return true;
}

void routes_webhooks_create(Req *r)
{
	const char *url, *secret, *format;
	char err[160];
	Create *c;

	if (!req_parse_body(r) || !req_need_string(r, "url", WEBHOOK_URL_MAX, &url) ||
	    !req_opt_string(r, "secret", WEBHOOK_SECRET_MAX, &secret) ||
	    !req_opt_string(r, "format", 16, &format))
		return;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		return;
	}
	c->r = r;
	r->ctx = c;
	r->ctx_free = create_free;
	if (!webhook_url_check(url, c->host, sizeof(c->host), err, sizeof(err))) {
		req_fail(r, 422, "invalid_url", "url", "%s", err);
		return;
	}
	c->url = url;
	if (!parse_events(r, c))
		return;
	if (format != NULL && !webhook_format_valid(format)) {
		req_fail(r, 422, "invalid_value", "format", "format must be json or slack");
		return;
	}
	c->format = format != NULL ? format : "json";
	if (secret != NULL) {
		if (!webhook_secret_valid(secret)) {
			req_fail(r, 422, "invalid_value", "secret",
				 "secret must be %d..%d printable ASCII characters without blanks",
				 WEBHOOK_SECRET_MIN, WEBHOOK_SECRET_MAX);
			return;
		}
		snprintf(c->secret, sizeof(c->secret), "%s", secret);
	} else {
		if (!webhook_secret_new(c->secret, sizeof(c->secret))) {
			req_fail(r, 500, "internal", NULL, "could not create a secret");
			return;
		}
		c->generated = true;
	}
	create_check_host(r);
}

static void one_done(Pgq *q, void *priv)
{
	Req *r = priv;
	json_t *w;

	if (!q->ok)
		pgq_fail(r, q);
	else if (PQntuples(q->res[0]) != 1)
		req_fail(r, 404, "webhook_not_found", NULL, "webhook not found");
	else if ((w = pgq_row_json(q->res[0], 0, HOOK_TYPES)) == NULL)
		req_fail(r, 500, "internal", NULL, "out of memory");
	else {
		if (r->method == EVHTTP_REQ_DELETE)
			log_info("user %s deleted webhook %s", r->user_id, r->segs[1]);
		req_success(r, 200, json_pack("{s:o}", "webhook", w));
	}
	pgq_free(q);
}

static void list_done(Pgq *q, void *priv)
{
	Req *r = priv;
	json_t *rows;

	if (!q->ok)
		pgq_fail(r, q);
	else if ((rows = pgq_rows_json(q->res[0], HOOK_TYPES)) == NULL)
		req_fail(r, 500, "internal", NULL, "out of memory");
	else
		req_success(r, 200, json_pack("{s:o}", "webhooks", rows));
	pgq_free(q);
}

static Pgq *one_stmt(const char *sql, int n, const char *const *params)
{
	Pgq *q = pgq_new();

	if (q != NULL && !pgq_add(q, sql, n, params)) {
		pgq_free(q);
		return NULL;
	}
	return q;
}

void routes_webhooks_list(Req *r)
{
	run_job(r,
		one_stmt(sql_list, 2,
			 (const char *[]){ r->user_id, r->is_admin ? "true" : "false" }),
		list_done);
}

static void by_id(Req *r, const char *sql)
{
	const char *id = r->segs[1];

	if (!ids_is_uuid(id)) {
		req_fail(r, 404, "webhook_not_found", NULL, "webhook not found");
		return;
	}
	run_job(r,
		one_stmt(sql, 3,
			 (const char *[]){ r->user_id, r->is_admin ? "true" : "false", id }),
		one_done);
}

void routes_webhooks_get(Req *r)
{
	by_id(r, sql_get);
}

void routes_webhooks_delete(Req *r)
{
	by_id(r, sql_delete);
}

static void deliveries_done(Pgq *q, void *priv)
{
	Req *r = priv;
	json_t *rows, *row;
	size_t i;

	if (!q->ok) {
		pgq_fail(r, q);
	} else if (PQntuples(q->res[0]) != 1) {
		req_fail(r, 404, "webhook_not_found", NULL, "webhook not found");
	} else if ((rows = pgq_rows_json(q->res[2], DELIVERY_TYPES)) == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
	} else {
		/* the column is named for SQL; the API calls it attempts (the count is attempt_count) */
		json_array_foreach (rows, i, row) {
			json_object_set(row, "attempt_count", json_object_get(row, "attempts"));
			json_object_set(row, "attempts", json_object_get(row, "attempt_log"));
			json_object_del(row, "attempt_log");
		}
		req_success(r, 200,
			    json_pack("{s:o,s:I}", "deliveries", rows, "total",
				      (json_int_t)atoll(PQgetvalue(q->res[1], 0, 0))));
	}
	pgq_free(q);
}

void routes_webhooks_deliveries(Req *r)
{
	const char *id = r->segs[1];
	long limit, offset;
	char slimit[24], soffset[24];
	Pgq *q;

	if (!ids_is_uuid(id)) {
		req_fail(r, 404, "webhook_not_found", NULL, "webhook not found");
		return;
	}
	if (!req_query_int(r, "limit", 20, 1, 100, &limit) ||
	    !req_query_int(r, "offset", 0, 0, 1000000000L, &offset))
		return;
	snprintf(slimit, sizeof(slimit), "%ld", limit);
	snprintf(soffset, sizeof(soffset), "%ld", offset);
	/* the owner check first: its empty answer is the 404, and the other two then see nothing */
	q = pgq_new();
	if (q != NULL &&
	    (!pgq_add(q, sql_get, 3,
		      (const char *[]){ r->user_id, r->is_admin ? "true" : "false", id }) ||
	     !pgq_add(q, sql_delivery_count, 1, (const char *[]){ id }) ||
	     !pgq_add(q, sql_deliveries, 3, (const char *[]){ id, slimit, soffset }))) {
		pgq_free(q);
		q = NULL;
	}
	run_job(r, q, deliveries_done);
}
