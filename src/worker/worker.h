/* worker.h - the one Worker context of an amcbatch-worker process: config, the event base
 * and its three I/O engines (Redis, PostgreSQL pool, curl multi), and the in-flight jobs. */
#ifndef AMCB_WORKER_H
#define AMCB_WORKER_H

#include <stdint.h>
#include <event2/event.h>

#include "common.h"
#include "config.h"
#include "config_sighup.h"
#include "curl_ev.h"
#include "netaddr.h"
#include "pgpool.h"
#include "rconn.h"
#include "secret.h"

typedef struct Job Job;
typedef struct Exchange Exchange;
typedef struct TokenCache TokenCache;
typedef struct HTab HTab;
typedef struct Delivery Delivery;

typedef struct Worker {
	Config cfg;
	struct event_base *base;
	RConn *redis;
	PgPool *pg;
	CurlEv *curl;
	TokenCache *tokens;
	char id[128];       /* worker id: config worker_id or hostname-pid */
	char host[64];      /* gethostname(), for the fleet view (P worker:W:info) */
	int64_t started_ms; /* when this process started (Unix ms), likewise */
	const char *prefix; /* borrowed from cfg */

	Job *jobs;  /* in-flight jobs (doubly linked; owned here) */
	HTab *refs; /* every ref held in memory -> its Job, or a no-op marker (owned) */
	int inflight;
	char spool_dir[400];   /* private 0700 directory of this worker's spool files */
	bool draining_cancels; /* a take_amc_cancels call is in flight */
	long retention_offset; /* the retention sweep's page into P batches: on past batches
					 * that cannot leave yet, back to 0 after a short page */
	/* the open-batch sweep's page: created_at (PostgreSQL's text) and batch_id of the last
	 * batch it looked at, "" = from the oldest; back to "" after a short page */
	char open_after_at[48];
	char open_after_id[32];
	Exchange *transfers; /* running or waiting HTTP transfers (owned by themselves) */

	bool stopping; /* SIGTERM seen: claim nothing more */
	bool exiting;  /* loop is being torn down: callbacks only free */

	/* claim loop */
	int claiming;       /* claim script calls in flight (at most 2) */
	int claim_reserved; /* jobs those calls may bring back (held against worker_inflight) */
	bool claim_backlog; /* the last claim came back full: keep two calls in flight */
	struct event *claim_timer;
	/* claims paused (claim_pause) until this wall ms, 0 = not paused, and why (for the
	 * log and the fleet view, P worker:W:info claims_paused) */
	int64_t claims_paused_until;
	char claims_paused_why[200];
	/* janitor: lease heartbeat and reclaim sweep */
	struct event *heartbeat_timer;
	struct event *janitor_timer;
	/* webhook deliveries (delivery.c) */
	struct event *delivery_timer;
	bool delivery_leasing;               /* a lease statement is in flight */
	int delivery_inflight;               /* leased deliveries not yet recorded */
	Delivery *deliveries;                /* those, doubly linked (owned here) */
	enum NetPolicy webhook_policy;       /* config webhook_allow_private_networks */
	uint8_t webhook_key[SECRET_KEY_LEN]; /* opens the stored webhook secrets */
	bool webhook_key_loaded;
	/* shutdown */
	bool leaving;        /* begin_exit ran */
	bool connected_once; /* the start-up reclaim ran */
	struct event *sigterm_ev, *sigint_ev, *grace_timer, *exit_timer;
	ConfigSighup *sighup; /* SIGHUP reloads cfg (owned) */
	/* a job ended (it unlinked itself): job.c reports here, main.c wires
	 * lifecycle_job_done, so the jobs do not depend on what runs above them */
	void (*job_done)(struct Worker *w);
	/* a job registered under its claim and holding a token: its AMC work starts here
	 * (main.c wires create.c's create_resume; job.c does not call create.c) */
	void (*job_begin)(Job *job);
	const char *conf_path; /* -c file (argv, borrowed) for SIGHUP; NULL: none */
} Worker;

/* w->id, w->host, w->started_ms and w->prefix, from w->cfg. */
void worker_identify(Worker *w);
/* Creates (0700) and empties w->spool_dir under base; false with errno set. */
MUST_CHECK bool worker_spool_open(Worker *w, const char *base);

#endif
