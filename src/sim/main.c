/* main.c - amcsim: a local simulator of the Amazon Marketing Cloud reporting API that runs
 * the submitted SQL for real on synthetic per-instance tables in PostgreSQL.
 *
 * Usage: amcsim [-c config]   (keys sim_listen, sim_port, sim_port_eu, sim_port_fe,
 *        sim_database_url, sim_latency_ms, sim_statement_timeout_ms, sim_strict, pg_threads,
 *        log_level; env AMCBATCH_<KEY>)
 *
 * Each AMC region is its own host: sim_port serves NA, sim_port_eu and sim_port_fe (when not
 * -1) serve EU and FE, each with the AMC API and the LWA token endpoint. An instance bound
 * to a region (profile field `region`; default "any": every host) is refused elsewhere;
 * AMCSIM_REGION_TOKENS=1 also refuses a token issued by another region's token endpoint.
 *
 * Preparing the simulator database: give amcsim an empty database it owns, e.g.
 *     createdb -O amcsim_owner amcsim        (or as a superuser: createdb amcsim)
 * and point sim_database_url at it. Nothing else: on the first execution for an instance
 * amcsim creates, itself, the NOLOGIN role amcsim_reader (once per cluster) and the schema
 * inst_<instanceId> with its tables and views. The connecting user must therefore be a
 * superuser, or own the database and have CREATEROLE (it grants amcsim_reader to itself
 * so that it can SET ROLE to it). User SQL runs as amcsim_reader, which can only SELECT
 * the instance views, in a READ ONLY transaction with a statement timeout.
 *
 * Extra knobs through the environment (not in Config), the start-up default profile:
 * AMCSIM_TOKEN_TTL_S (access token lifetime, default 3600), AMCSIM_URL_TTL_S (download URL
 * lifetime, default 600), AMCSIM_PENDING_MS (minimum time in PENDING, default 100),
 * AMCSIM_MAX_RUNNING (RUNNING executions per instance, default 10), AMCSIM_DATA_FROM and
 * AMCSIM_DATA_TO (the synthetic data's days, default 2024-01-01 to 2027-12-31); then
 * AMCSIM_PROFILES=file (fault profiles, reloaded on SIGHUP), AMCSIM_SEED (fault dice),
 * AMCSIM_WRAP_EXECUTION=1 (answer the wrapped {"workflowExecution":{...}} form). A refresh
 * token containing "REVOKED" gets invalid_grant. docs/amcsim.md describes all of it.
 *
 * Set-up order: libevent's allocator, config, log, time zone state, pool, stores, HTTP,
 * signals, loop. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>

#include "alloc_libevent.h"
#include "config.h"
#include "config_sighup.h"
#include "control.h"
#include "data.h"
#include "executions.h"
#include "ids.h"
#include "log.h"
#include "pgpool.h"
#include "routes.h"
#include "s3.h"
#include "simtime.h"
#include "token.h"

static int env_int(const char *name, int dflt, int min, int max)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (v == NULL || !*v)
		return dflt;
	n = strtol(v, &end, 10);
	if (*end || n < min || n > max) {
		log_warn("ignoring %s=%s (expected %d..%d)", name, v, min, max);
		return dflt;
	}
	return (int)n;
}

/* AMCSIM_SEED, else a random seed (logged, so a run can be repeated) */
static bool seed_from_env(uint64_t *seed)
{
	const char *v = getenv("AMCSIM_SEED");
	char *end;

	if (v != NULL && *v) {
		*seed = strtoull(v, &end, 10);
		if (*end) {
			log_error("AMCSIM_SEED=%s is not a decimal number", v);
			return false;
		}
		return true;
	}
	if (!ids_random(seed, sizeof(*seed))) {
		log_error("no random source for the fault seed");
		return false;
	}
	return true;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	log_info("signal %d: shutting down", (int)sig);
	event_base_loopexit(arg, NULL);
}

static void on_reload(evutil_socket_t sig, short what, void *arg)
{
	char err[512];

	if (!control_reload(arg, err, sizeof(err)))
		log_error("SIGHUP: profiles not reloaded: %s", err);
}

/* After a config reload (config_sighup.c, on the same SIGHUP as the profiles): sim_strict
 * is the one reloadable key amcsim copied at start; log_level the reload applied itself. */
typedef struct SimReload {
	Sim *sim;
	const Config *cfg;
} SimReload;

static void on_config_applied(void *arg)
{
	SimReload *rl = arg;

	rl->sim->strict = rl->cfg->sim_strict;
}

static void on_janitor(evutil_socket_t fd, short what, void *arg)
{
	Sim *sim = arg;
	size_t n =
		token_prune(sim->tokens, simtime_now_ms(), profiles_max_token_ttl(sim->profiles));

	if (n)
		log_debug("dropped %zu expired access tokens", n);
}

/* the bound port, for sim_port = 0 */
static int bound_port(struct evhttp_bound_socket *bs)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}

int main(int argc, char **argv)
{
	const char *cfg_path = NULL;
	Config cfg;
	char err[512];
	int opt, rc = 1, port;
	struct event_base *base = NULL;
	struct evhttp_bound_socket *bs;
	struct event *sigint = NULL, *sigterm = NULL, *sighup = NULL, *janitor = NULL;
	ConfigSighup *cfg_sighup = NULL;
	SimReload reload;
	PgPool *pool = NULL;
	Sim sim = { 0 };
	bool cfg_loaded = false;

	alloc_libevent_install(); /* before any other libevent call */
	while ((opt = getopt(argc, argv, "c:h")) != -1) {
		switch (opt) {
		case 'c':
			cfg_path = optarg;
			break;
		default:
			fprintf(stderr, "usage: %s [-c config]\n", argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (!config_load(&cfg, cfg_path, err, sizeof(err))) {
		fprintf(stderr, "amcsim: config: %s\n", err);
		return 2;
	}
	cfg_loaded = true;
	log_init("amcsim", log_level_parse(cfg.log_level));
	{
		enum LogFormat lf = LOG_FMT_TEXT;

		/* config_load checked the value */
		if (log_format_parse(cfg.log_format, &lf))
			log_set_format(lf);
	}
	if (cfg.sim_database_url == NULL || !*cfg.sim_database_url) {
		log_error("sim_database_url is not set");
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	/* before any thread exists: see simtime_init() */
	simtime_init();
	/* fewer days make a new instance's data quicker to create (a big fleet's first use) */
	if ((getenv("AMCSIM_DATA_FROM") || getenv("AMCSIM_DATA_TO")) &&
	    !data_set_days(getenv("AMCSIM_DATA_FROM") ? getenv("AMCSIM_DATA_FROM") : "2024-01-01",
			   getenv("AMCSIM_DATA_TO") ? getenv("AMCSIM_DATA_TO") : "2027-12-31")) {
		log_error("AMCSIM_DATA_FROM/AMCSIM_DATA_TO must be days (YYYY-MM-DD) in order");
		goto out;
	}
	if (evthread_use_pthreads() != 0) {
		log_error("libevent has no pthreads support");
		goto out;
	}
	if ((base = event_base_new()) == NULL) {
		log_error("event_base_new failed");
		goto out;
	}
	if ((pool = pgpool_new(base, cfg.sim_database_url,
			       cfg.pg_threads > 0 ? cfg.pg_threads : 4)) == NULL) {
		log_error("cannot start the PostgreSQL pool");
		goto out;
	}
	ExecSettings set = {
		.statement_timeout_ms = cfg.sim_statement_timeout_ms,
	};
	Profile dflt;
	profiles_builtin(&dflt);
	dflt.pending_ms = env_int("AMCSIM_PENDING_MS", 100, 0, 86400000);
	dflt.latency_ms = cfg.sim_latency_ms > 0 ? cfg.sim_latency_ms : 0;
	dflt.max_running = env_int("AMCSIM_MAX_RUNNING", 10, 1, 100000);
	dflt.token_ttl_s = env_int("AMCSIM_TOKEN_TTL_S", 3600, 1, 86400 * 365);
	dflt.url_ttl_s = env_int("AMCSIM_URL_TTL_S", 600, 1, 86400 * 7);
	uint64_t seed;
	if (!seed_from_env(&seed))
		goto out;
	sim.base = base;
	sim.profiles = profiles_new(&dflt);
	sim.stats = stats_new();
	sim.faults = faults_new(base, seed, routes_resume, &sim);
	sim.execs = sim.profiles != NULL ? executions_new(base, pool, sim.profiles, &set) : NULL;
	sim.tokens = token_store_new();
	sim.s3 = s3_new();
	sim.strict = cfg.sim_strict;
	sim.wrap = env_int("AMCSIM_WRAP_EXECUTION", 0, 0, 1) == 1;
	sim.region_tokens = env_int("AMCSIM_REGION_TOKENS", 0, 0, 1) == 1;
	if (sim.profiles == NULL || sim.stats == NULL || sim.faults == NULL || sim.execs == NULL ||
	    sim.tokens == NULL || sim.s3 == NULL) {
		log_error("out of memory at start-up");
		goto out;
	}
	sim.profiles_path = getenv("AMCSIM_PROFILES");
	if (sim.profiles_path != NULL && !*sim.profiles_path)
		sim.profiles_path = NULL;
	if (sim.profiles_path != NULL &&
	    !profiles_load_file(sim.profiles, sim.profiles_path, err, sizeof(err))) {
		log_error("AMCSIM_PROFILES: %s", err);
		goto out;
	}
	/* one listener per region host, so that a request's listener tells its region */
	const int ports[REGION__COUNT] = {
		[REGION_NA] = cfg.sim_port,
		[REGION_EU] = cfg.sim_port_eu,
		[REGION_FE] = cfg.sim_port_fe,
	};
	for (int r = 0; r < REGION__COUNT; r++) {
		if (ports[r] < 0)
			continue; /* that region is not served */
		if ((sim.http[r] = evhttp_new(base)) == NULL) {
			log_error("out of memory at start-up");
			goto out;
		}
		routes_install(&sim, (AmcRegion)r);
		if ((bs = evhttp_bind_socket_with_handle(sim.http[r], cfg.sim_listen,
							 (ev_uint16_t)ports[r])) == NULL) {
			log_error("cannot listen on %s:%d: %s", cfg.sim_listen, ports[r],
				  strerror(errno));
			goto out;
		}
		if ((port = bound_port(bs)) < 0) {
			log_error("getsockname: %s", strerror(errno));
			goto out;
		}
		snprintf(sim.self[r], sizeof(sim.self[r]),
			 strchr(cfg.sim_listen, ':') != NULL ? "[%s]:%d" : "%s:%d", cfg.sim_listen,
			 port);
	}
	sigint = evsignal_new(base, SIGINT, on_signal, base);
	sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	sighup = evsignal_new(base, SIGHUP, on_reload, &sim);
	reload.sim = &sim;
	reload.cfg = &cfg;
	cfg_sighup = config_sighup_new(base, &cfg, cfg_path, on_config_applied, &reload);
	janitor = event_new(base, -1, EV_PERSIST, on_janitor, &sim);
	struct timeval minute = { 60, 0 };
	if (sigint == NULL || sigterm == NULL || sighup == NULL || cfg_sighup == NULL ||
	    janitor == NULL || evsignal_add(sigint, NULL) != 0 ||
	    evsignal_add(sigterm, NULL) != 0 || evsignal_add(sighup, NULL) != 0 ||
	    evtimer_add(janitor, &minute) != 0) {
		log_error("cannot install signal handlers");
		goto out;
	}
	/* this line (the NA host) is what scripts look for: "amcsim listening on host:port" */
	log_info("amcsim listening on %s (latency %d ms, statement timeout %d ms, strict %s, "
		 "profiles %s, seed %llu, region tokens %s)",
		 sim.self[REGION_NA], dflt.latency_ms, set.statement_timeout_ms,
		 sim.strict ? "on" : "off", sim.profiles_path != NULL ? sim.profiles_path : "none",
		 (unsigned long long)seed, sim.region_tokens ? "strict" : "global");
	for (int r = REGION_NA + 1; r < REGION__COUNT; r++) {
		if (sim.http[r] != NULL)
			log_info("amcsim region %s listening on %s", region_name[r], sim.self[r]);
	}
	if (event_base_dispatch(base) < 0) {
		log_error("event loop failed");
		goto out;
	}
	rc = 0;
out:
	if (sigint != NULL)
		event_free(sigint);
	if (sigterm != NULL)
		event_free(sigterm);
	if (sighup != NULL)
		event_free(sighup);
	config_sighup_free(cfg_sighup);
	if (janitor != NULL)
		event_free(janitor);
	/* before evhttp_free: held requests are evhttp's or, when their client left, ours */
	faults_free(sim.faults);
	for (int r = 0; r < REGION__COUNT; r++) {
		if (sim.http[r] != NULL)
			evhttp_free(sim.http[r]);
	}
	/* the pool first: its queued jobs point at executions */
	if (sim.execs != NULL)
		executions_shutdown(sim.execs);
	if (pool != NULL)
		pgpool_free(pool);
	executions_free(sim.execs);
	token_store_free(sim.tokens);
	s3_free(sim.s3);
	stats_free(sim.stats);
	profiles_free(sim.profiles);
	if (base != NULL)
		event_base_free(base);
	if (cfg_loaded)
		config_cleanup(&cfg);
	return rc;
}
