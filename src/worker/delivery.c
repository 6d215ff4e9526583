/* delivery.c - webhook deliveries from the worker fleet: a timer leases due deliveries in
 * PostgreSQL (FOR UPDATE SKIP LOCKED, through the pool: never on the loop), POSTs each one
 * signed with curl multi (no redirects, no proxy, a short answer prefix kept, every address
 * curl connects to checked against webhook_allow_private_networks), and records the attempt:
 * delivered on 2xx, else due again after a jittered backoff until webhook_max_age_s after
 * the event, then failed. A worker that dies holding a lease leaves the delivery due again
 * when the lease ends (at least once). It does not create deliveries (sql/009 does). */
#include "delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "log.h"
#include "mstime.h"
#include "secret.h"
#include "utf8.h"
#include "webhook.h"
#include "stats.h"

#define LEASE_MARGIN_S 5      /* a lease outlives the POST's timeout by this much */
#define RECORD_RETRY_MS 60000 /* after that an unrecorded attempt is simply made again */

/* $1 how many, $2 lease seconds, $3 worker id. The lease moves next_attempt_at to its end:
 * a delivery whose worker died is due again then. */
static const char sql_lease[] =
	"WITH due AS (SELECT id FROM webhook_deliveries"
	"              WHERE state = 'pending' AND next_attempt_at <= now()"
	"              ORDER BY next_attempt_at LIMIT $1::integer FOR UPDATE SKIP LOCKED),"
	" l AS (UPDATE webhook_deliveries d SET attempts = d.attempts + 1,"
	"              lease_until = now() + make_interval(secs => $2::double precision),"
	"              next_attempt_at = now() + make_interval(secs => $2::double precision),"
	"              leased_by = $3, updated_at = now()"
	"         FROM due WHERE d.id = due.id"
	"       RETURNING d.id, d.attempts, d.webhook_id, d.event_id)"
	" SELECT l.id, l.attempts, w.url, w.format, encode(w.secret_enc, 'hex'), e.id, e.type,"
	"        to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), e.data::text"
	"   FROM l JOIN webhooks w ON w.id = l.webhook_id JOIN webhook_events e ON e.id = l.event_id";
enum { L_ID, L_ATTEMPT, L_URL, L_FORMAT, L_SECRET, L_EVENT_ID, L_TYPE, L_CREATED, L_DATA };

/* One attempt's record and the delivery's next state, in one statement. $1 delivery, $2
 * attempt (the lease: an attempt whose lease another worker has taken since changes no
 * state), $3 start (Unix ms), $4 status code or NULL, $5 latency ms, $6 error or NULL,
 * $7 answer prefix, $8 worker, $9 delivered, $10 retry delay ms, $11 max age s. */
static const char sql_record[] =
	"WITH a AS (INSERT INTO webhook_attempts (delivery_id, attempt, started_at, status_code,"
	"                  latency_ms, error, response_prefix, worker_id)"
	"           VALUES ($1::uuid, $2::integer, to_timestamp($3::double precision / 1000),"
	"                   $4::integer, $5::integer, $6, $7, $8)"
	"           ON CONFLICT DO NOTHING)"
	" UPDATE webhook_deliveries d SET"
	"   state = CASE WHEN $9::boolean THEN 'delivered'"
	"                WHEN now() + make_interval(secs => $10::double precision / 1000)"
	"                     > e.created_at + make_interval(secs => $11::double precision) THEN 'failed'"
	"                ELSE 'pending' END,"
	"   delivered_at = CASE WHEN $9::boolean THEN now() END,"
	"   next_attempt_at = CASE WHEN $9::boolean THEN d.next_attempt_at"
	"                          ELSE now() + make_interval(secs => $10::double precision / 1000) END,"
	"   lease_until = NULL, leased_by = NULL, last_error = $6, updated_at = now()"
	"  FROM webhook_events e"
	" WHERE d.id = $1::uuid AND e.id = d.event_id AND d.attempts = $2::integer AND d.state = 'pending'";

#define REC_PARAMS 11

/* One leased delivery: owned by the worker's list from its lease until its record job is
 * done (or the worker exits). */
struct Delivery {
	Delivery *prev, *next;
	Worker *w;
	char id[40];
	int attempt;
	char event[40];             /* the event type, for the header and the log */
	char *body;                 /* owned */
	CURL *easy;                 /* while the POST runs */
	struct curl_slist *headers; /* owned */
	char errbuf[CURL_ERROR_SIZE];
	char prefix[WEBHOOK_RESPONSE_PREFIX + 1];
	size_t prefix_len;
	char refused[160];  /* the SSRF guard stopped a connection: why */
	int64_t started_ms; /* wall clock, for the record */
	int64_t started_mono;
	long status;
	long latency_ms;
	char error[512];
	bool ok;
	char *rec[REC_PARAMS]; /* the record statement's parameters (owned) */
	PGresult *res;         /* unused: the record answers nothing */
};

/* The lease statement on a pool thread; its result comes back to the loop. */
typedef struct LeaseJob {
	Worker *w;
	char limit[16], lease_s[16], worker[128];
	PGresult *res; /* owned; PQclear'ed on the loop thread */
} LeaseJob;

static void arm(struct event *ev, int ms)
{
	struct timeval tv = mstime_tv(ms);
	evtimer_add(ev, &tv);
}

static void unlink_delivery(Delivery *d)
{
	Worker *w = d->w;

	if (d->prev)
		d->prev->next = d->next;
	else
		w->deliveries = d->next;
	if (d->next != NULL)
		d->next->prev = d->prev;
	d->prev = d->next = NULL;
}

static void delivery_free(Delivery *d)
{
	if (d == NULL)
		return;
	if (d->easy != NULL)
		curl_easy_cleanup(d->easy);
	curl_slist_free_all(d->headers);
	free(d->body);
	for (int i = 0; i < REC_PARAMS; i++)
		free(d->rec[i]);
	free(d);
}

/* A delivery ended (recorded or not): free it, and lease more at once if there is room. */
static void finish(Delivery *d)
{
	Worker *w = d->w;

	unlink_delivery(d);
	delivery_free(d);
	w->delivery_inflight--;
	if (!w->exiting && !w->stopping && w->delivery_timer != NULL)
		arm(w->delivery_timer, 0);
}

/* ---- record ------------------------------------------------------------------------------ */

static enum PgResult record_work(PGconn *conn, void *arg, char *err, size_t errlen)
{
	Delivery *d = arg;
	PGresult *r = PQexecParams(conn, sql_record, REC_PARAMS, NULL, (const char *const *)d->rec,
				   NULL, NULL, 0);
	bool ok = pg_ok(conn, r, err, errlen);

	PQclear(r);
	return ok ? PG_OK : pg_fail_kind(conn);
}

static void record_done(enum PgResult res, const char *err, void *arg)
{
	Delivery *d = arg;

	if (res != PG_OK && !d->w->exiting)
		log_warn(
			"webhook delivery %s attempt %d not recorded (%s); it is made again after its lease",
			d->id, d->attempt, err);
	finish(d);
}

static bool set_param(Delivery *d, int i, const char *v)
{
	if (v == NULL)
		return true;
	return (d->rec[i] = strdup(v)) != NULL;
}

static void record(Delivery *d)
{
	Worker *w = d->w;
	char start[24], code[16], lat[16], delay[24], age[16];
	long wait = 0;
	uint32_t rnd = (uint32_t)random() << 1 ^ (uint32_t)random();

	if (!d->ok)
		wait = webhook_backoff_ms(d->attempt, w->cfg.webhook_backoff_ms,
					  w->cfg.webhook_backoff_max_ms, rnd);
	snprintf(start, sizeof(start), "%lld", (long long)d->started_ms);
	snprintf(code, sizeof(code), "%ld", d->status);
	snprintf(lat, sizeof(lat), "%ld", d->latency_ms);
	snprintf(delay, sizeof(delay), "%ld", wait);
	snprintf(age, sizeof(age), "%d", w->cfg.webhook_max_age_s);
	char att[16];
	snprintf(att, sizeof(att), "%d", d->attempt);
	if (!set_param(d, 0, d->id) || !set_param(d, 1, att) || !set_param(d, 2, start) ||
	    !set_param(d, 3, d->status > 0 ? code : NULL) || !set_param(d, 4, lat) ||
	    !set_param(d, 5, d->ok ? NULL : d->error) || !set_param(d, 6, d->prefix) ||
	    !set_param(d, 7, w->id) || !set_param(d, 8, d->ok ? "true" : "false") ||
	    !set_param(d, 9, delay) || !set_param(d, 10, age) ||
	    !pgpool_submit(w->pg, record_work, record_done, d, RECORD_RETRY_MS)) {
		log_error(
			"webhook delivery %s: attempt %d not recorded (out of memory or pool gone)",
			d->id, d->attempt);
		finish(d);
	}
}

/* ---- the POST ---------------------------------------------------------------------------- */

/* Keeps the first WEBHOOK_RESPONSE_PREFIX bytes of the answer, valid UTF-8; drops the rest. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *priv)
{
	Delivery *d = priv;
	size_t n = size * nmemb, room = WEBHOOK_RESPONSE_PREFIX - d->prefix_len;

	if (room > 0) {
		size_t take = n < room ? n : room;
		memcpy(d->prefix + d->prefix_len, data, take);
		d->prefix_len += take;
		d->prefix[d->prefix_len] = '\0';
	}
	return n;
}

/* The SSRF guard at delivery: the address curl is about to connect to (after its own DNS
 * resolution, so a name that now resolves elsewhere -- DNS rebinding -- is caught). */
static curl_socket_t on_open_socket(void *priv, curlsocktype purpose, struct curl_sockaddr *addr)
{
	Delivery *d = priv;
	enum NetClass k = netaddr_classify(&addr->addr);

	if (purpose != CURLSOCKTYPE_IPCXN || !netaddr_allowed(k, d->w->webhook_policy)) {
		snprintf(d->refused, sizeof(d->refused),
			 "address not allowed: the host resolved to a %s address "
			 "(webhook_allow_private_networks)",
			 netaddr_class_name(k));
		return CURL_SOCKET_BAD;
	}
	return socket(addr->family, addr->socktype, addr->protocol);
}

static void on_posted(CURL *easy, CURLcode rc, void *priv)
{
	Delivery *d = priv;

	d->latency_ms = (long)(mstime_mono() - d->started_mono);
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &d->status);
	curl_easy_cleanup(easy);
	d->easy = NULL;
	if (d->refused[0] != '\0') {
		snprintf(d->error, sizeof(d->error), "%s", d->refused);
		d->status = 0;
	} else if (rc != CURLE_OK) {
		snprintf(d->error, sizeof(d->error), "%s",
			 d->errbuf[0] ? d->errbuf : curl_easy_strerror(rc));
		d->status = 0;
	} else if (d->status >= 200 && d->status < 300) {
		d->ok = true;
	} else if (d->status >= 300 && d->status < 400) {
		snprintf(d->error, sizeof(d->error), "HTTP %ld (redirects are not followed)",
			 d->status);
	} else {
		snprintf(d->error, sizeof(d->error), "HTTP %ld", d->status);
	}
	/* the answer is stored as text: no cut inside a character, no invalid bytes */
	d->prefix[utf8_prefix(d->prefix, d->prefix_len, WEBHOOK_RESPONSE_PREFIX)] = '\0';
	utf8_scrub(d->prefix);
	stats_delivery(d->ok);
	if (d->ok)
		log_info("webhook delivery %s (%s) attempt %d: HTTP %ld in %ld ms", d->id, d->event,
			 d->attempt, d->status, d->latency_ms);
	else
		log_warn("webhook delivery %s (%s) attempt %d failed in %ld ms: %s", d->id,
			 d->event, d->attempt, d->latency_ms, d->error);
	record(d);
}

static bool add_header(Delivery *d, const char *name, const char *value)
{
	char line[512];
	struct curl_slist *l;

	snprintf(line, sizeof(line), "%s: %s", name, value);
	if ((l = curl_slist_append(d->headers, line)) == NULL)
		return false;
	d->headers = l;
	return true;
}

/* Builds and starts the POST; false (d untouched by curl) if it could not start. */
static bool post(Delivery *d, const char *url, const char *secret)
{
	Worker *w = d->w;
	char sig[128];
	size_t n = strlen(d->body);

	if (!webhook_signature(secret, (long long)time(NULL), d->body, n, sig, sizeof(sig)) ||
	    !add_header(d, "Content-Type", "application/json") ||
	    !add_header(d, "User-Agent", "amcbatch-webhook/1") ||
	    !add_header(d, "Amcbatch-Event", d->event) ||
	    !add_header(d, "Amcbatch-Delivery", d->id) ||
	    !add_header(d, "Amcbatch-Signature", sig) || !add_header(d, "Expect", ""))
		return false;
	if ((d->easy = curl_easy_init()) == NULL)
		return false;
	/* every setopt below takes a valid value; a failure would mean an old libcurl */
	if (curl_easy_setopt(d->easy, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(d->easy, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(d->easy, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(d->easy, CURLOPT_PROXY, "") != CURLE_OK ||
	    curl_easy_setopt(d->easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(d->easy, CURLOPT_TIMEOUT_MS, (long)w->cfg.webhook_timeout_ms) !=
		    CURLE_OK ||
	    curl_easy_setopt(d->easy, CURLOPT_HTTPHEADER, d->headers) != CURLE_OK ||
	    curl_easy_setopt(d->easy, CURLOPT_POSTFIELDS, d->body) != CURLE_OK ||
	    curl_easy_setopt(d->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n) != CURLE_OK ||
	    curl_easy_setopt(d->easy, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    curl_easy_setopt(d->easy, CURLOPT_WRITEDATA, d) != CURLE_OK ||
	    curl_easy_setopt(d->easy, CURLOPT_OPENSOCKETFUNCTION, on_open_socket) != CURLE_OK ||
	    curl_easy_setopt(d->easy, CURLOPT_OPENSOCKETDATA, d) != CURLE_OK ||
	    curl_easy_setopt(d->easy, CURLOPT_ERRORBUFFER, d->errbuf) != CURLE_OK)
		return false;
	d->started_ms = mstime_wall();
	d->started_mono = mstime_mono();
	return curlev_add(w->curl, d->easy, on_posted, d);
}

/* Decrypts the stored secret into a malloc'ed string (caller wipes and frees). */
static char *open_secret(Worker *w, const char *hex, char *err, size_t errlen)
{
	uint8_t *blob = NULL;
	size_t n = 0;
	char *plain = NULL;

	if (!secret_unhex(hex, &blob, &n)) {
		snprintf(err, errlen, "stored secret unreadable");
		return NULL;
	}
	if (!secret_decrypt(w->webhook_key, blob, n, &plain, err, errlen))
		plain = NULL;
	free(blob);
	return plain;
}

/* One leased row: build the body and POST it; an attempt that cannot even start is
 * recorded as failed (so it is retried with backoff, not at once in a loop). */
static void start_one(Worker *w, const PGresult *res, int i)
{
	Delivery *d = calloc(1, sizeof(*d));
	char *secret = NULL, err[160] = "";

	if (d == NULL) {
		log_error("webhook delivery %s: out of memory; due again after its lease",
			  PQgetvalue(res, i, L_ID));
		return;
	}
	d->w = w;
	snprintf(d->id, sizeof(d->id), "%s", PQgetvalue(res, i, L_ID));
	d->attempt = atoi(PQgetvalue(res, i, L_ATTEMPT));
	snprintf(d->event, sizeof(d->event), "%s", PQgetvalue(res, i, L_TYPE));
	d->next = w->deliveries;
	if (d->next != NULL)
		d->next->prev = d;
	w->deliveries = d;
	w->delivery_inflight++;
	d->started_ms = mstime_wall();
	d->started_mono = mstime_mono();

	d->body = webhook_body(PQgetvalue(res, i, L_EVENT_ID), d->event,
			       PQgetvalue(res, i, L_CREATED), PQgetvalue(res, i, L_DATA),
			       w->cfg.public_url, PQgetvalue(res, i, L_FORMAT));
	if (d->body == NULL) {
		snprintf(d->error, sizeof(d->error),
			 "could not build the body (bad event data or out of memory)");
	} else if ((secret = open_secret(w, PQgetvalue(res, i, L_SECRET), err, sizeof(err))) ==
		   NULL) {
		snprintf(d->error, sizeof(d->error), "could not decrypt the webhook secret: %s",
			 err);
	} else if (!post(d, PQgetvalue(res, i, L_URL), secret)) {
		snprintf(d->error, sizeof(d->error), "could not start the request");
		if (d->easy != NULL) {
			curl_easy_cleanup(d->easy);
			d->easy = NULL;
		}
	} else {
		secret_wipe(secret, strlen(secret));
		free(secret);
		return; /* on_posted takes over */
	}
	if (secret != NULL) {
		secret_wipe(secret, strlen(secret));
		free(secret);
	}
	log_error("webhook delivery %s attempt %d: %s", d->id, d->attempt, d->error);
	record(d);
}

/* ---- lease ------------------------------------------------------------------------------- */

static enum PgResult lease_work(PGconn *conn, void *arg, char *err, size_t errlen)
{
	LeaseJob *j = arg;
	const char *params[3] = { j->limit, j->lease_s, j->worker };
	PGresult *r = PQexecParams(conn, sql_lease, 3, NULL, params, NULL, NULL, 0);

	if (!pg_ok(conn, r, err, errlen)) {
		PQclear(r);
		return pg_fail_kind(conn);
	}
	j->res = r; /* PGresults are plain memory: the loop thread reads and clears it */
	return PG_OK;
}

static void lease_done(enum PgResult res, const char *err, void *arg)
{
	LeaseJob *j = arg;
	Worker *w = j->w;

	w->delivery_leasing = false;
	if (!w->exiting) {
		if (res != PG_OK) {
			log_warn("webhook deliveries not leased: %s", err);
		} else {
			int n = PQntuples(j->res);

			for (int i = 0; i < n; i++)
				start_one(w, j->res, i);
		}
	}
	PQclear(j->res);
	free(j);
}

static void on_delivery_timer(evutil_socket_t fd, short what, void *arg)
{
	Worker *w = arg;
	int room = w->cfg.webhook_concurrency - w->delivery_inflight;
	LeaseJob *j;

	arm(w->delivery_timer, w->cfg.webhook_poll_ms);
	if (w->stopping || w->exiting || w->delivery_leasing || room <= 0)
		return;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return;
	j->w = w;
	snprintf(j->limit, sizeof(j->limit), "%d", room);
	snprintf(j->lease_s, sizeof(j->lease_s), "%d",
		 w->cfg.webhook_timeout_ms / 1000 + 1 + LEASE_MARGIN_S);
	snprintf(j->worker, sizeof(j->worker), "%s", w->id);
	/* one try only: the next tick tries again */
	if (!pgpool_submit(w->pg, lease_work, lease_done, j, 0)) {
		free(j);
		return;
	}
	w->delivery_leasing = true;
}

bool delivery_init(Worker *w)
{
	char err[160];

	if (!netaddr_policy_parse(w->cfg.webhook_allow_private_networks, &w->webhook_policy)) {
		log_error("webhook_allow_private_networks must be none, loopback or all");
		return false;
	}
	srandom((unsigned)(mstime_wall() ^ getpid()));
	if ((w->delivery_timer = evtimer_new(w->base, on_delivery_timer, w)) == NULL)
		return false;
	if (!secret_key_load(w->cfg.secret_key, w->webhook_key, err, sizeof(err))) {
		/* without the key no secret can be opened: deliveries wait for a worker that has it */
		log_warn("webhook deliveries disabled in this worker: %s", err);
		return true;
	}
	w->webhook_key_loaded = true;
	arm(w->delivery_timer, w->cfg.webhook_poll_ms);
	return true;
}

void delivery_stop(Worker *w)
{
	if (w->delivery_timer != NULL)
		evtimer_del(w->delivery_timer);
}

void delivery_free_all(Worker *w)
{
	while (w->deliveries != NULL) {
		Delivery *d = w->deliveries;

		unlink_delivery(d);
		delivery_free(d); /* its lease ends and another worker sends it again */
	}
	w->delivery_inflight = 0;
	if (w->delivery_timer != NULL)
		event_free(w->delivery_timer);
	w->delivery_timer = NULL;
	secret_wipe(w->webhook_key, sizeof(w->webhook_key));
}
