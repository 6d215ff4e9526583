/* main.c - amcbatch-worker: set-up in order (config, log, event base, Redis, PostgreSQL
 * pool, curl multi, timers, signals), the loop, and the teardown. What the worker does on
 * those events is lifecycle.c's; the per-execution work is job.c's. This file only wires. */
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/thread.h>

#include "alloc_libevent.h"
#include "claim.h"
#include "create.h"
#include "delivery.h"
#include "exchange.h"
#include "janitor.h"
#include "job.h"
#include "lifecycle.h"
#include "amc_cancel.h"
#include "log.h"
#include "stats.h"
#include "pgexec.h"
#include "rcall.h"
#include "region.h"
#include "htab.h"
#include "secret.h"
#include "token.h"

static void on_exit_timer(evutil_socket_t fd, short what, void *arg)
{
	Worker *w = arg;
	event_base_loopexit(w->base, NULL);
}

static void on_grace_timer(evutil_socket_t fd, short what, void *arg)
{
	lifecycle_exit(arg);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	lifecycle_stop(arg, (int)sig);
}

/* After a SIGHUP reload (config_sighup.c): every reloadable key is read from w->cfg at its
 * next use (the caps at the next claim, the poll and retry settings at the next step of a
 * job, the webhook settings at the next delivery); a larger worker_inflight or claim_batch
 * should not wait for the next job to end. */
static void on_config_applied(void *arg)
{
	claim_kick(arg);
}

static void on_redis_ready(RConn *c, void *priv)
{
	lifecycle_connected(priv);
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
	size_t n = fread(buf, 1, sizeof(buf), stdin), blen = 0;
	if (!feof(stdin) || ferror(stdin)) {
		fprintf(stderr, "amcbatch-worker: --encrypt reads at most %zu bytes\n",
			sizeof(buf) - 1);
		return 2;
	}
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (!secret_key_load(cfg->secret_key, key, err, sizeof(err))) {
		fprintf(stderr, "amcbatch-worker: %s\n", err);
		return 2;
	}
	bool ok = secret_encrypt(key, buf, n, &blob, &blen);
	secret_wipe(key, sizeof(key));
	secret_wipe(buf, sizeof(buf));
	if (!ok) {
		fprintf(stderr, "amcbatch-worker: encryption failed\n");
		return 1;
	}
	char *hex = malloc(2 * blen + 1);
	if (hex == NULL) {
		free(blob);
		return 1;
	}
	secret_hex(blob, blen, hex);
	printf("%s\n", hex);
	free(hex);
	free(blob);
	return 0;
}

int main(int argc, char **argv)
{
	Worker w;
	char err[256];
	const char *conf = NULL;
	int opt;

	bool encrypt = false;
	alloc_libevent_install(); /* before any other libevent call */
	memset(&w, 0, sizeof(w));
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
	if (!config_load(&w.cfg, conf, err, sizeof(err))) {
		fprintf(stderr, "amcbatch-worker: %s\n", err);
		return 2;
	}
	if (encrypt) {
		int rc = encrypt_stdin(&w.cfg);
		config_cleanup(&w.cfg);
		return rc;
	}
	w.conf_path = conf;
	w.job_done = lifecycle_job_done;
	w.job_begin = create_resume;
	log_init("amcbatch-worker", log_level_parse(w.cfg.log_level));
	{
		enum LogFormat lf = LOG_FMT_TEXT;

		/* config_load checked the value */
		if (log_format_parse(w.cfg.log_format, &lf))
			log_set_format(lf);
	}
	worker_identify(&w);
	log_set_worker(w.id); /* the "worker" field of json lines */
	const char *spool = w.cfg.spool_dir != NULL && *w.cfg.spool_dir ? w.cfg.spool_dir : "/tmp";
	if (!worker_spool_open(&w, spool)) {
		log_error("no private spool directory under %s (%s): %s", spool, w.spool_dir,
			  strerror(errno));
		return 1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("curl_global_init failed");
		return 1;
	}
	/* pgpool completes jobs from its threads into this base */
	if (evthread_use_pthreads() != 0 || (w.base = event_base_new()) == NULL) {
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
	if (w.refs == NULL || w.redis == NULL || w.pg == NULL || w.curl == NULL ||
	    w.tokens == NULL || w.grace_timer == NULL || w.exit_timer == NULL ||
	    w.sigterm_ev == NULL || w.sigint_ev == NULL || w.sighup == NULL || !claim_init(&w) ||
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
