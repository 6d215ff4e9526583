/* main.c - amcbatch-api: set-up order (libevent's allocator, config, log, event base with
 * pthreads, PostgreSQL pool, Redis, enqueue janitor, evhttp), the signal handlers and the
 * orderly shutdown. No routes here. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>

#include "access.h"
#include "alloc_libevent.h"
#include "api.h"
#include "auth.h"
#include "config.h"
#include "config_sighup.h"
#include "conn.h"
#include "enqueue.h"
#include "janitor.h"
#include "schedule.h"
#include "limits.h"
#include "log.h"
#include "readcache.h"
#include "router.h"
#include "stats.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: amcbatch-api [-c config] [-p port]\n"
		   "  -c FILE  config file (default: none; environment AMCBATCH_<KEY> applies)\n"
		   "  -p PORT  listen port, overrides api_port; 0 picks a free port\n");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	Api *api = arg;

	log_info("signal %d: shutting down", (int)sig);
	event_base_loopexit(api->base, NULL);
}

/* After a SIGHUP reload (config_sighup.c): the API reads its reloadable keys from api->cfg
 * per request; only evhttp keeps a copy of the body limit. */
static void on_config_applied(void *arg)
{
	limits_apply(arg);
}

/* Binds host:port (port 0 = ephemeral) and logs the real address. */
static bool listen_on(Api *api, const char *host, int port)
{
	struct evhttp_bound_socket *s =
		evhttp_bind_socket_with_handle(api->http, host, (ev_uint16_t)port);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int real = port;

	if (s == NULL) {
		log_error("cannot listen on %s:%d", host, port);
		return false;
	}
	if (getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET)
			real = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			real = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	conns_listen(api->conns, s);
	log_info("amcbatch-api listening on http://%s:%d (at most %d connections)", host, real,
		 conns_cap(api->conns));
	return true;
}

/* The loop's base. With epoll's changelist, the changes of one loop turn reach the kernel
 * as one epoll_ctl per descriptor when it next waits: each keep-alive reply disabled reading
 * and enabled writing, then the reverse, four epoll_ctl calls per request (9 % of a cached
 * reply's CPU), two with it. Its one hazard, a descriptor dup()ed and registered twice, does
 * not arise here: no descriptor the loop watches is duplicated. */
static struct event_base *new_base(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (cfg == NULL)
		return NULL;
	if (event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) != 0)
		log_warn("cannot ask for epoll's changelist: one epoll_ctl per change");
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

int main(int argc, char **argv)
{
	Api api;
	const char *cfg_path = NULL;
	char err[512];
	int port = -1, opt, rc = 1;
	struct event *sigint = NULL, *sigterm = NULL;
	ConfigSighup *sighup = NULL;
	RConn *redis;
	PgPool *pg;

	alloc_libevent_install(); /* before any other libevent call */
	memset(&api, 0, sizeof(api));
	while ((opt = getopt(argc, argv, "c:p:h")) != -1) {
		switch (opt) {
		case 'c':
			cfg_path = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			if (port < 0 || port > 65535) {
				usage(stderr);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!config_load(&api.cfg, cfg_path, err, sizeof(err))) {
		fprintf(stderr, "amcbatch-api: %s\n", err);
		return 2;
	}
	log_init("amcbatch-api", log_level_parse(api.cfg.log_level));
	{
		enum LogFormat lf = LOG_FMT_TEXT;

		/* config_load checked the value */
		if (log_format_parse(api.cfg.log_format, &lf))
			log_set_format(lf);
	}
	if (!netaddr_policy_parse(api.cfg.webhook_allow_private_networks, &api.webhook_policy)) {
		log_error("webhook_allow_private_networks must be none, loopback or all");
		config_cleanup(&api.cfg);
		return 2;
	}
	if (port < 0)
		port = api.cfg.api_port;
	signal(SIGPIPE, SIG_IGN);

	/* pgpool threads call event_active on our base: locking must exist before the base */
	if (evthread_use_pthreads() != 0 || (api.base = new_base()) == NULL) {
		log_error("cannot create the event base");
		goto out;
	}
	if (!access_start(api.base)) {
		log_error("out of memory");
		goto out;
	}
	if ((api.auth = auth_new()) == NULL ||
	    (api.pg = pgpool_new(api.base, api.cfg.database_url, api.cfg.pg_threads)) == NULL ||
	    (api.redis = rconn_new_sentinel(api.base, api.cfg.redis_url, api.cfg.redis_sentinels,
					    api.cfg.redis_master_name,
					    api.cfg.redis_sentinel_password)) == NULL) {
		log_error("cannot set up the PostgreSQL pool or the Redis connection");
		goto out;
	}
	rconn_set_timeout(api.redis, api.cfg.redis_timeout_ms);
	if (api.cfg.api_read_cache_ms > 0 &&
	    (api.reads = readcache_new(api.base, api.cfg.database_url, api.cfg.api_read_cache_ms,
				       (size_t)api.cfg.api_read_cache_mb << 20)) == NULL)
		goto out; /* logged */
	if (!stats_setup(&api))
		goto out;
	if ((api.janitor = janitor_new(&api)) == NULL) {
		log_error("cannot set up the enqueue janitor");
		goto out;
	}
	if ((api.scheduler = scheduler_new(&api)) == NULL) {
		log_error("cannot set up the schedules' trigger");
		goto out;
	}
	if ((api.http = evhttp_new(api.base)) == NULL) {
		log_error("cannot create the HTTP server");
		goto out;
	}
	if ((api.conns = conns_new(&api)) == NULL) {
		log_error("out of memory");
		goto out;
	}
	limits_setup(&api);
	evhttp_set_allowed_methods(api.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE |
						     EVHTTP_REQ_PUT | EVHTTP_REQ_PATCH |
						     EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS);
	evhttp_set_gencb(api.http, router_handle, &api);
	if (!listen_on(&api, api.cfg.api_listen, port))
		goto out;

	sigint = evsignal_new(api.base, SIGINT, on_signal, &api);
	sigterm = evsignal_new(api.base, SIGTERM, on_signal, &api);
	sighup = config_sighup_new(api.base, &api.cfg, cfg_path, on_config_applied, &api);
	if (sigint == NULL || sigterm == NULL || sighup == NULL || event_add(sigint, NULL) != 0 ||
	    event_add(sigterm, NULL) != 0) {
		log_error("cannot install signal handlers");
		goto out;
	}
	if (event_base_dispatch(api.base) < 0) {
		log_error("event loop failed");
		goto out;
	}
	rc = 0;
out:
	/* Servers go first, with their pointers cleared, so the callbacks they fire while
	 * stopping (reply NULL / PG_FAIL) answer their requests without starting new work. */
	stats_free(&api);
	redis = api.redis;
	api.redis = NULL;
	rconn_free(redis);
	/* enqueues waiting to retry end now (those in flight ended with the connection): their
	 * requests get 201 pending, the batch stays for the janitor of another process */
	enqueue_stop_all(&api);
	pg = api.pg;
	api.pg = NULL;
	pgpool_free(pg);
	readcache_free(api.reads);
	api.reads = NULL;
	janitor_free(api.janitor);
	scheduler_free(api.scheduler);
	/* pending webhook look-ups end with EVUTIL_EAI_CANCEL and answer their requests */
	if (api.dns != NULL)
		evdns_base_free(api.dns, 1);
	api.dns = NULL;
	/* evhttp_free frees the listener and closes every connection (conn.c hears each) */
	conns_stop(api.conns);
	if (api.http != NULL)
		evhttp_free(api.http);
	conns_free(api.conns);
	if (sigint != NULL)
		event_free(sigint);
	if (sigterm != NULL)
		event_free(sigterm);
	config_sighup_free(sighup);
	auth_free(api.auth);
	access_stop(); /* the lines of the requests answered while stopping */
	if (api.base != NULL)
		event_base_free(api.base);
	config_cleanup(&api.cfg);
	log_info("stopped");
	return rc;
}
