/* main.c - amcbatch-worker: set-up in order (config, log, event base, Redis, PostgreSQL
 * pool, curl multi, timers, signals), the loop, and an orderly shutdown on SIGTERM/SIGINT.
 * The per-execution work lives in job.c/poller.c; this file only wires and stops. */
#include "worker.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/thread.h>

#include "alloc_libevent.h"
#include "delivery.h"
#include "exchange.h"
#include "job.h"
#include "amc_cancel.h"
#include "keys.h"
#include "log.h"
#include "mstime.h"
#include "stats.h"
#include "pgexec.h"
#include "rcall.h"
#include "region.h"
#include "htab.h"
#include "secret.h"
#include "token.h"

#define LEASE_RELEASE_MS 1000 /* wait for the lease DEL before exiting anyway */

static void arm(struct event *ev, int ms)
{
	struct timeval tv = mstime_tv(ms);
	evtimer_add(ev, &tv);
}

static void on_lease_released(RConn *c, redisReply *reply, void *priv)
{
	Worker *w = priv;
	if (!w->exiting)
		event_base_loopexit(w->base, NULL);
}

static void on_exit_timer(evutil_socket_t fd, short what, void *arg)
{
	Worker *w = arg;
	event_base_loopexit(w->base, NULL);
}

/* Leave the loop. Jobs still in flight stay in our processing list; dropping the lease lets
 * the janitor of another worker requeue them now instead of after lease_ms. */
static void begin_exit(Worker *w)
{
	char lease[KEYS_MAX];
	if (w->leaving)
		return;
	w->leaving = true;
	w->stopping = true;
	janitor_stop(w);
	delivery_stop(w);
	evtimer_del(w->claim_timer);
	evtimer_del(w->grace_timer);
	if (w->inflight > 0)
		log_warn("exiting with %d execution(s) in flight; they will be reclaimed",
			 w->inflight);
	if (keys_worker_lease(lease, sizeof lease, w->prefix, w->id) &&
	    rconn_commandf(w->redis, on_lease_released, w, "DEL %s", lease)) {
		arm(w->exit_timer, LEASE_RELEASE_MS);
		return;
	}
	event_base_loopexit(w->base, NULL);
}

static void on_grace_timer(evutil_socket_t fd, short what, void *arg)
{
	begin_exit(arg);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	Worker *w = arg;
	if (w->stopping) {
		log_info("second signal: exiting now");
		if (w->leaving)
			event_base_loopexit(w->base, NULL);
		else
			begin_exit(w); /* still drops the lease so others reclaim at once */
		return;
	}
	log_info("signal %d: no more claims; handing %d execution(s) back", (int)sig, w->inflight);
	w->stopping = true;
	evtimer_del(w->claim_timer);
	delivery_stop(w);
	if (w->inflight == 0) {
		begin_exit(w);
		return;
	}
	/* waiting jobs go back now; busy ones at their next wait (job_after); what is left
	 * when the grace period ends is reclaimed through the dropped lease */
	arm(w->grace_timer, w->cfg.shutdown_grace_ms);
	job_release_idle(w);
}

/* After a SIGHUP reload (config_sighup.c): every reloadable key is read from w->cfg at its
 * next use (the caps at the next claim, the poll and retry settings at the next step of a
 * job, the webhook settings at the next delivery); a larger worker_inflight or claim_batch
 * should not wait for the next job to end. */
static void on_config_applied(void *arg)
{
	claim_kick(arg);
}

void worker_job_done(Worker *w)
{
	if (w->stopping) {
		if (w->inflight == 0)
			begin_exit(w);
		return;
	}
	claim_kick(w);
}

static void on_lease_dropped(RConn *c, redisReply *reply, void *priv)
{
	/* nothing to do: the reclaim queued right behind it reports */
}

static void on_startup_reclaim(RConn *c, redisReply *reply, void *priv)
{
	if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer > 0)
		log_info("requeued %lld job(s) left by an earlier run or by dead workers",
			 reply->integer);
	else if (reply && reply->type == REDIS_REPLY_ERROR)
		log_error("start-up reclaim failed: %s", reply->str);
}

/* A worker restarted under the same worker_id finds its old processing list; its new
 * heartbeat would keep those refs leased forever. So on the first connect only (never on a
 * reconnect: the jobs in memory are live) drop our lease and let reclaim requeue them. */
static void startup_reclaim(Worker *w)
{
	char lease[KEYS_MAX];
	LuaCall call;
	if (!keys_worker_lease(lease, sizeof lease, w->prefix, w->id) ||
	    !lua_reclaim(&call, w->prefix, mstime_wall(), 100))
		return;
	if (!rconn_commandf(w->redis, on_lease_dropped, w, "DEL %s", lease) ||
	    !rconn_call(w->redis, &call, on_startup_reclaim, w))
		log_warn("start-up reclaim not sent");
}

static void on_redis_ready(RConn *c, void *priv)
{
	Worker *w = priv;
	log_info("redis ready");
	if (!w->connected_once) {
		w->connected_once = true;
		startup_reclaim(w);
	}
	/* one connection keeps order: the lease exists before the claim runs */
	janitor_beat(w);
	claim_kick(w);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: amcbatch-worker [-c config-file] [--encrypt]\n"
		"Configuration: defaults, then the file, then AMCBATCH_<KEY> environment variables.\n"
		"--encrypt: read a secret on stdin (one trailing newline dropped), print it encrypted\n"
		"           with secret_key / AMCBATCH_SECRET_KEY as hex (for amc_accounts bytea columns).\n");
}

/* --encrypt: the operator's (and scripts/stack's) way to store LWA credentials. */
static int encrypt_stdin(const Config *cfg)
{
	uint8_t key[SECRET_KEY_LEN], *blob = NULL;
	char err[160], buf[8192];
	size_t n = fread(buf, 1, sizeof buf, stdin), blen = 0;
	if (!feof(stdin) || ferror(stdin)) {
		fprintf(stderr, "amcbatch-worker: --encrypt reads at most %zu bytes\n",
			sizeof buf - 1);
		return 2;
	}
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (!secret_key_load(cfg->secret_key, key, err, sizeof err)) {
		fprintf(stderr, "amcbatch-worker: %s\n", err);
		return 2;
	}
	bool ok = secret_encrypt(key, buf, n, &blob, &blen);
	secret_wipe(key, sizeof key);
	secret_wipe(buf, sizeof buf);
	if (!ok) {
		fprintf(stderr, "amcbatch-worker: encryption failed\n");
		return 1;
	}
	char *hex = malloc(2 * blen + 1);
	if (!hex) {
		free(blob);
		return 1;
	}
	secret_hex(blob, blen, hex);
	printf("%s\n", hex);
	free(hex);
	free(blob);
	return 0;
}

/* The worker's own spool directory, <spool_dir>/amcbatch-<worker id>, mode 0700 and ours:
 * nobody else can plant or read a result file there. Files an earlier run of this worker id
 * left are removed (their jobs were reclaimed and start their downloads anew). */
static bool spool_ready(Worker *w, const char *base)
{
	char name[sizeof w->id];
	struct stat st;
	DIR *d;
	struct dirent *de;
	size_t i;

	for (i = 0; w->id[i]; i++) {
		char c = w->id[i];
		name[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
					  (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
				  ? c
				  : '_';
	}
	name[i] = '\0';
	if ((size_t)snprintf(w->spool_dir, sizeof w->spool_dir, "%s/amcbatch-%s", base, name) >=
	    sizeof w->spool_dir) {
		errno = ENAMETOOLONG;
		return false;
	}
	if (mkdir(w->spool_dir, 0700) != 0 && errno != EEXIST)
		return false;
	if (lstat(w->spool_dir, &st) != 0)
		return false;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		errno = EPERM;
		return false;
	}
	if (!(d = opendir(w->spool_dir)))
		return false;
	while ((de = readdir(d)) != NULL) {
		char path[sizeof w->spool_dir + 300];
		size_t n = strlen(de->d_name);
		if (n < 5 || strcmp(de->d_name + n - 4, ".csv") != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", w->spool_dir, de->d_name);
		if (unlink(path) != 0)
			log_warn("cannot remove the old spool file %s: %s", path, strerror(errno));
	}
	closedir(d);
	return true;
}

int main(int argc, char **argv)
{
	Worker w;
	char err[256];
	const char *conf = NULL;
	int opt;

	bool encrypt = false;
	alloc_libevent_install(); /* before any other libevent call */
	memset(&w, 0, sizeof w);
	for (int i = 1; i < argc; i++) /* the one long option; getopt sees the rest */
		if (strcmp(argv[i], "--encrypt") == 0) {
			encrypt = true;
			for (int j = i; j < argc - 1; j++)
				argv[j] = argv[j + 1];
			argc--;
			i--;
		}
	while ((opt = getopt(argc, argv, "c:h")) != -1) {
		switch (opt) {
		case 'c':
			conf = optarg;
			break;
		default:
			usage();
			return opt == 'h' ? 0 : 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (!config_load(&w.cfg, conf, err, sizeof err)) {
		fprintf(stderr, "amcbatch-worker: %s\n", err);
		return 2;
	}
	if (encrypt) {
		int rc = encrypt_stdin(&w.cfg);
		config_cleanup(&w.cfg);
		return rc;
	}
	w.conf_path = conf;
	log_init("amcbatch-worker", log_level_parse(w.cfg.log_level));
	{
		enum LogFormat lf = LOG_FMT_TEXT;

		/* config_load checked the value */
		if (log_format_parse(w.cfg.log_format, &lf))
			log_set_format(lf);
	}
	w.prefix = w.cfg.redis_prefix;
	w.started_ms = mstime_wall();
	if (gethostname(w.host, sizeof w.host) != 0)
		snprintf(w.host, sizeof w.host, "worker");
	w.host[sizeof w.host - 1] = '\0';
	if (w.cfg.worker_id && *w.cfg.worker_id)
		snprintf(w.id, sizeof w.id, "%s", w.cfg.worker_id);
	else
		snprintf(w.id, sizeof w.id, "%s-%ld", w.host, (long)getpid());
	log_set_worker(w.id); /* the "worker" field of json lines */
	const char *spool = w.cfg.spool_dir && *w.cfg.spool_dir ? w.cfg.spool_dir : "/tmp";
	if (!spool_ready(&w, spool)) {
		log_error("no private spool directory under %s (%s): %s", spool, w.spool_dir,
			  strerror(errno));
		return 1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("curl_global_init failed");
		return 1;
	}
	/* pgpool completes jobs from its threads into this base */
	if (evthread_use_pthreads() != 0 || !(w.base = event_base_new())) {
		log_error("cannot create the event base");
		return 1;
	}
	w.refs = htab_new();
	w.redis = rconn_new_sentinel(w.base, w.cfg.redis_url, w.cfg.redis_sentinels,
				     w.cfg.redis_master_name, w.cfg.redis_sentinel_password);
	w.pg = pgpool_new(w.base, w.cfg.database_url, w.cfg.pg_threads);
	w.curl = curlev_new(w.base);
	w.tokens = token_cache_new(w.base, w.cfg.secret_key);
	w.grace_timer = evtimer_new(w.base, on_grace_timer, &w);
	w.exit_timer = evtimer_new(w.base, on_exit_timer, &w);
	w.sigterm_ev = evsignal_new(w.base, SIGTERM, on_signal, &w);
	w.sigint_ev = evsignal_new(w.base, SIGINT, on_signal, &w);
	w.sighup = config_sighup_new(w.base, &w.cfg, w.conf_path, on_config_applied, &w);
	if (!w.refs || !w.redis || !w.pg || !w.curl || !w.tokens || !w.grace_timer ||
	    !w.exit_timer || !w.sigterm_ev || !w.sigint_ev || !w.sighup || !claim_init(&w) ||
	    !janitor_init(&w) || !delivery_init(&w) || evsignal_add(w.sigterm_ev, NULL) != 0 ||
	    evsignal_add(w.sigint_ev, NULL) != 0) {
		log_error("start-up failed (redis_url, database_url or out of memory)");
		return 1;
	}
	rconn_set_ready_cb(w.redis, on_redis_ready, &w);
	rconn_set_timeout(w.redis, w.cfg.redis_timeout_ms);
	if (!stats_setup(&w))
		return 1;
	log_info("worker %s: redis %s, amc NA %s, EU %s, FE %s, up to %d executions in flight%s",
		 w.id, w.cfg.redis_url, region_base_url(&w.cfg, REGION_NA),
		 region_base_url(&w.cfg, REGION_EU), region_base_url(&w.cfg, REGION_FE),
		 w.cfg.worker_inflight,
		 w.cfg.noop_executor ? " (NO-OP EXECUTOR: benchmarking only)" : "");

	event_base_dispatch(w.base);

	/* Teardown: callbacks that still fire only free their own state. */
	w.exiting = true;
	stats_free(&w);
	curlev_free(w.curl);
	exchange_free_all(&w);
	rconn_free(w.redis);
	rcall_free_all(&w);
	pgpool_free(w.pg);
	job_free_all(&w);
	pgx_free_all();
	delivery_free_all(&w);
	htab_free(w.refs);
	token_cache_free(w.tokens);
	amc_cancel_free_all();
	event_free(w.claim_timer);
	event_free(w.heartbeat_timer);
	event_free(w.janitor_timer);
	event_free(w.grace_timer);
	event_free(w.exit_timer);
	event_free(w.sigterm_ev);
	event_free(w.sigint_ev);
	config_sighup_free(w.sighup);
	event_base_free(w.base);
	curl_global_cleanup();
	log_info("worker %s stopped", w.id);
	config_cleanup(&w.cfg);
	return 0;
}
