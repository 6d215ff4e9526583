/* worker.c - the Worker context's own behaviour: its identity and spool directory, what it
 * does when Redis connects, when a job ends, and the orderly stop (SIGTERM drains, the lease
 * is dropped). main.c creates the context and wires these to events; jobs live in job.c. */
#include "worker.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "delivery.h"
#include "job.h"
#include "keys.h"
#include "log.h"
#include "mstime.h"

#define LEASE_RELEASE_MS 1000 /* wait for the lease DEL before exiting anyway */

static void arm(struct event *ev, int ms)
{
	struct timeval tv = mstime_tv(ms);
	evtimer_add(ev, &tv);
}

void worker_identify(Worker *w)
{
	w->prefix = w->cfg.redis_prefix;
	w->started_ms = mstime_wall();
	if (gethostname(w->host, sizeof w->host) != 0)
		snprintf(w->host, sizeof w->host, "worker");
	w->host[sizeof w->host - 1] = '\0';
	if (w->cfg.worker_id && *w->cfg.worker_id)
		snprintf(w->id, sizeof w->id, "%s", w->cfg.worker_id);
	else
		snprintf(w->id, sizeof w->id, "%s-%ld", w->host, (long)getpid());
}

static void on_lease_released(RConn *c, redisReply *reply, void *priv)
{
	Worker *w = priv;
	if (!w->exiting)
		event_base_loopexit(w->base, NULL);
}

/* Leave the loop. Jobs still in flight stay in our processing list; dropping the lease lets
 * the janitor of another worker requeue them now instead of after lease_ms. */
void worker_exit(Worker *w)
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

void worker_stop(Worker *w, int sig)
{
	if (w->stopping) {
		log_info("second signal: exiting now");
		if (w->leaving)
			event_base_loopexit(w->base, NULL);
		else
			worker_exit(w); /* still drops the lease so others reclaim at once */
		return;
	}
	log_info("signal %d: no more claims; handing %d execution(s) back", sig, w->inflight);
	w->stopping = true;
	evtimer_del(w->claim_timer);
	delivery_stop(w);
	if (w->inflight == 0) {
		worker_exit(w);
		return;
	}
	/* waiting jobs go back now; busy ones at their next wait (job_after); what is left
	 * when the grace period ends is reclaimed through the dropped lease */
	arm(w->grace_timer, w->cfg.shutdown_grace_ms);
	job_release_idle(w);
}

void worker_job_done(Worker *w)
{
	if (w->stopping) {
		if (w->inflight == 0)
			worker_exit(w);
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

void worker_connected(Worker *w)
{
	log_info("redis ready");
	if (!w->connected_once) {
		w->connected_once = true;
		startup_reclaim(w);
	}
	/* one connection keeps order: the lease exists before the claim runs */
	janitor_beat(w);
	claim_kick(w);
}

/* The worker's own spool directory, <spool_dir>/amcbatch-<worker id>, mode 0700 and ours:
 * nobody else can plant or read a result file there. Files an earlier run of this worker id
 * left are removed (their jobs were reclaimed and start their downloads anew). */
bool worker_spool_open(Worker *w, const char *base)
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
