/* config.h - one struct Config for every program, filled from a table of keys:
 * defaults, then the ini file (inih), then environment variables AMCBATCH_<KEY>
 * (key upper-cased, e.g. redis_url -> AMCBATCH_REDIS_URL). Unknown file keys are an error. */
#ifndef AMCB_CONFIG_H
#define AMCB_CONFIG_H

#include <stdio.h>

#include "common.h"

typedef struct Config {
	/* shared */
	char *log_level;         /* error|warn|info|debug */
	char *log_format;        /* text|json (one JSON object per line) */
	char *redis_url;         /* redis://host:port[/db] or unix:/path/to/sock */
	char *redis_prefix;      /* key prefix, default "amcb:" */
	char *redis_sentinels;   /* "ip:port,..." of Redis Sentinels; "" = use redis_url's host */
	char *redis_master_name; /* the master's name in the sentinels' configuration */
	char *redis_sentinel_password; /* AUTH sent to the sentinels; "" = none */
	int redis_timeout_ms; /* a Redis reply later than this drops the connection (0 = never) */
	char *database_url;   /* libpq conninfo or postgresql:// URL */
	int pg_threads;       /* libpq connections (one thread each) per process */
	char *secret_key; /* 64 hex chars, AES-256-GCM key of stored credentials ("" = env AMCBATCH_SECRET_KEY) */
	/* api */
	char *api_listen;        /* host, default 127.0.0.1 */
	int api_port;            /* default 8080 */
	char *web_root;          /* directory of the static web UI */
	int max_body_bytes;      /* request body limit (413 beyond) */
	int max_instances;       /* per batch, default 100 */
	int max_params_bytes;    /* parameters JSON limit, default 10240 */
	int window_lag_days;     /* a relative window's lag_days when it gives none (window.h) */
	int submit_rate_per_min; /* batch submissions per user per minute (0 = no limit) */
	int api_timeout_s;       /* a client silent this long while sending is dropped */
	int api_max_inflight;    /* requests in flight per API process (503 beyond) */
	int api_max_connections; /* open client connections per API process (503 beyond) */
	bool api_access_log; /* an info line per request: method, route, status, ms, bytes, user */
	int api_read_cache_ms; /* longest life of a cached read reply (src/api/readcache.h); 0: off */
	int api_read_cache_mb;    /* bound of the cached replies' bodies, MiB */
	int enqueue_janitor_ms;   /* sweep interval of the enqueue janitor (src/api/janitor.c) */
	int schedule_tick_ms;     /* how often an API process looks for due schedule slots
					 * (src/api/scheduler.c); 0: never (others do) */
	bool schedule_test_clock; /* POST /admin/schedules/tick may give "now": tests only */
	/* worker */
	char *worker_id;     /* default: hostname-pid */
	char *amc_base_url;  /* AMC reporting API base for every region ("": per region) */
	char *amc_token_url; /* LWA token endpoint for every region ("": per region) */
	char *amc_base_url_na, *amc_base_url_eu, *amc_base_url_fe;    /* per account region */
	char *amc_token_url_na, *amc_token_url_eu, *amc_token_url_fe; /* (src/core/region.h) */
	int worker_inflight;   /* max executions one worker drives at once */
	int claim_batch;       /* jobs claimed per claim script call */
	int instance_cap;      /* running AMC executions per AMC instance, across all workers */
	int account_cap;       /* running AMC executions per AMC account, across all workers */
	int poll_initial_ms;   /* first status poll after create */
	int poll_max_ms;       /* poll backoff cap */
	int exec_timeout_s;    /* per-execution timeout, default 1800 */
	int lease_ms;          /* worker lease TTL */
	int heartbeat_ms;      /* lease renew interval */
	int http_timeout_ms;   /* one AMC HTTP request */
	char *spool_dir;       /* temp dir for downloaded result files */
	int max_retries;       /* transient AMC failures retried this often per job, then failed */
	int shutdown_grace_ms; /* SIGTERM: time to hand in-flight jobs back */
	int archive_retention_days; /* amcbatch-admin purge's default age: finished batches older go (0 = keep) */
	int redis_retention_s; /* a terminal batch stays in Redis this long, then PostgreSQL serves it (0 = for ever) */
	bool noop_executor; /* benchmark only: claimed jobs complete at once, no AMC, no PG */
	/* webhooks (api and worker) */
	char *public_url; /* base of the links in webhook payloads ("" = paths only) */
	char *webhook_allow_private_networks; /* none|loopback|all: which non-public addresses a webhook may reach */
	int max_webhooks_per_user;  /* POST /webhooks beyond it: 409 too_many_webhooks */
	int webhook_poll_ms;        /* how often a worker looks for due deliveries */
	int webhook_concurrency;    /* deliveries one worker has in flight at most */
	int webhook_timeout_ms;     /* one delivery POST, whole transfer */
	int webhook_backoff_ms;     /* first retry delay; doubles per attempt, with jitter */
	int webhook_backoff_max_ms; /* retry delay cap */
	int webhook_max_age_s; /* a delivery not accepted this long after its event is failed */
	/* metrics (api and worker) */
	char *metrics_listen; /* host:port of an unauthenticated GET /metrics listener ("" = none) */
	/* amcsim */
	char *sim_listen;             /* host */
	int sim_port;                 /* the NA host (and the only one when the two below are -1) */
	int sim_port_eu, sim_port_fe; /* the EU and FE hosts; -1 = not served, 0 = any free port */
	char *sim_database_url;       /* the simulator's own database (synthetic AMC tables) */
	int sim_latency_ms;           /* time an execution spends RUNNING */
	int sim_statement_timeout_ms;
	bool sim_strict; /* enforce AMC-dialect rules */
} Config;

/* Fills cfg with defaults, then `path` (may be NULL: no file), then the environment.
 * On error writes a message to err and returns false. The strings are owned by cfg. */
MUST_CHECK bool config_load(Config *cfg, const char *path, char *err, size_t errlen);
void config_cleanup(Config *cfg);
/* Prints every key with its default as "key = default", one a line, in table order
 * (the order of conf/amcbatch.conf.example), so the example file can be checked. */
void config_dump(FILE *out);
/* true if the key may change while the program runs (e.g. on SIGHUP) */
bool config_is_reloadable(const char *key);

/* One key whose value differs between two configs. Values are text: a number, true/false
 * or a quoted string; "(hidden)" for secrets (database and Redis URLs, passwords, keys). */
typedef struct ConfigChange {
	const char *key; /* the table's name (static) */
	bool reloadable;
	bool secret;
	char old_value[192], new_value[192]; /* truncated if longer */
} ConfigChange;
typedef void (*ConfigDiffFn)(const ConfigChange *change, void *arg);

/* Calls fn (may be NULL) for each key whose value differs between cur and next, in table
 * order; returns how many differ. */
size_t config_diff(const Config *cur, const Config *next, ConfigDiffFn fn, void *arg);
/* Takes every reloadable key of next into cfg and no other. Strings are swapped, so next
 * holds cfg's old ones and config_cleanup(next) frees them; nothing allocates. */
void config_apply_reloadable(Config *cfg, Config *next);

typedef struct ConfigReloadResult {
	int applied;      /* reloadable keys that changed and now are in force */
	int need_restart; /* other keys that changed: logged, not applied */
} ConfigReloadResult;
/* Re-reads `path` and the environment (as config_load). A file that does not load leaves cfg
 * as it was: false, with the reason in err. Else each changed reloadable key is applied to
 * cfg and logged (info), each other changed key is logged as needing a restart (warn) and
 * keeps its old value; log_level also goes to the logger. res (may be NULL) gets the
 * counts. Loop thread only: the program's live state reads the reloadable keys from cfg. */
MUST_CHECK bool config_reload(Config *cfg, const char *path, ConfigReloadResult *res, char *err,
			      size_t errlen);

#endif
