/* progress.c - how far a running job has got, written into its exec hash for waiting_for:
 * the next AMC status poll, the archive's progress, PostgreSQL unreachable; and the caps the
 * worker enforces (P caps). Each write is one `progress` script call (or one HSET for P caps)
 * sent and forgotten: a lost write is only a stale detail, replaced by the next one. */
#include "progress.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "mstime.h"

#define WATCH_MS 1000 /* at most one archive progress write a second */

static void on_written(RConn *c, redisReply *reply, void *priv)
{
	(void)c;
	(void)priv;
	/* -1/-3/-4/-5: the job is over or not ours any more; its own path finds out */
	if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
		log_warn("progress write refused: %s", reply->str);
}

/* One progress call for the exec (batch_id, exec_id) held under claim; n values. */
static void send_fields(Worker *w, const char *batch_id, const char *exec_id, const char *claim,
			const char *const *fields, int n)
{
	LuaCall call;

	if (!lua_progress(&call, w->prefix, batch_id, exec_id, w->id, claim, fields, n) ||
	    !rconn_call(w->redis, &call, on_written, NULL))
		elog_debug(batch_id, exec_id, "progress not written: redis not ready");
}

void progress_next_poll(Job *job, int in_ms)
{
	char at[24];
	const char *f[] = { "next_poll_at", at };

	snprintf(at, sizeof(at), "%lld", (long long)mstime_wall() + in_ms);
	send_fields(job->w, job->batch_id, job->exec_id, job->claim, f, (int)ARRAY_LEN(f));
}

void progress_spool(Job *job, const char *err, int64_t since_ms)
{
	char since[24] = "";
	const char *f[] = { "spool_trouble", err != NULL ? err : "", "spool_trouble_since", since };

	if (err != NULL)
		snprintf(since, sizeof(since), "%lld", (long long)since_ms);
	send_fields(job->w, job->batch_id, job->exec_id, job->claim, f, (int)ARRAY_LEN(f));
}

struct ArchiveWatch {
	Worker *w;
	const ArchiveTask *t;
	struct event *timer;
	char batch_id[IDS_BATCH_LEN + 1];
	char exec_id[IDS_EXEC_LEN + 1];
	char claim[JOB_TOKEN_LEN + 1];
	long long done, total; /* as last written */
	int64_t down_since;    /* PostgreSQL unreachable since (ms), 0 = reachable */
};

static void on_watch(evutil_socket_t fd, short what, void *arg)
{
	ArchiveWatch *aw = arg;
	long long done = atomic_load(&aw->t->progress_done);
	long long total = atomic_load(&aw->t->progress_total);
	bool down = !pgpool_healthy(aw->w->pg);
	char d[24], t[24], since[24] = "";
	const char *f[6];
	int n = 0;

	(void)fd;
	(void)what;
	if (total > 0 && (done != aw->done || total != aw->total)) {
		snprintf(d, sizeof(d), "%lld", done);
		snprintf(t, sizeof(t), "%lld", total);
		f[n++] = "archive_done";
		f[n++] = d;
		f[n++] = "archive_total";
		f[n++] = t;
		aw->done = done;
		aw->total = total;
	}
	if (down != (aw->down_since != 0)) {
		aw->down_since = down ? mstime_wall() : 0;
		if (down)
			snprintf(since, sizeof(since), "%lld", (long long)aw->down_since);
		f[n++] = "pg_down_since";
		f[n++] = since;
	}
	if (n > 0)
		send_fields(aw->w, aw->batch_id, aw->exec_id, aw->claim, f, n);
}

ArchiveWatch *progress_archive_watch(Job *job, const ArchiveTask *t)
{
	static const char *const reset[] = { "archive_done",  "0", "archive_total", "0",
					     "pg_down_since", "" };
	ArchiveWatch *aw = calloc(1, sizeof(*aw));
	const struct timeval tv = { WATCH_MS / 1000, (WATCH_MS % 1000) * 1000 };

	if (aw == NULL)
		return NULL;
	aw->w = job->w;
	aw->t = t;
	snprintf(aw->batch_id, sizeof(aw->batch_id), "%s", job->batch_id);
	snprintf(aw->exec_id, sizeof(aw->exec_id), "%s", job->exec_id);
	snprintf(aw->claim, sizeof(aw->claim), "%s", job->claim);
	aw->timer = event_new(job->w->base, -1, EV_PERSIST, on_watch, aw);
	if (aw->timer == NULL || event_add(aw->timer, &tv) != 0) {
		if (aw->timer != NULL)
			event_free(aw->timer);
		free(aw);
		return NULL;
	}
	/* an earlier attempt's numbers must not pass for this one's */
	send_fields(aw->w, aw->batch_id, aw->exec_id, aw->claim, reset, (int)ARRAY_LEN(reset));
	return aw;
}

void progress_archive_end(ArchiveWatch *aw)
{
	static const char *const up[] = { "pg_down_since", "" };

	if (aw == NULL)
		return;
	/* the archive got through (or gave up) before a tick saw PostgreSQL again: sent ahead of
	 * the finish on the same connection, so it still lands on the running exec */
	if (aw->down_since != 0 && !aw->w->exiting)
		send_fields(aw->w, aw->batch_id, aw->exec_id, aw->claim, up, (int)ARRAY_LEN(up));
	event_free(aw->timer);
	free(aw);
}

static void on_caps(RConn *c, redisReply *reply, void *priv)
{
	(void)c;
	(void)priv;
	if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
		log_warn("publishing the caps failed: %s", reply->str);
}

void progress_publish_caps(Worker *w)
{
	char key[KEYS_MAX], icap[16], acap[16];

	snprintf(icap, sizeof(icap), "%d", w->cfg.instance_cap);
	snprintf(acap, sizeof(acap), "%d", w->cfg.account_cap);
	if (keys_caps(key, sizeof(key), w->prefix) == NULL ||
	    !rconn_command(
		    w->redis, on_caps, NULL, 6,
		    (const char *[]){ "HSET", key, "instance_cap", icap, "account_cap", acap },
		    NULL))
		log_debug("caps not published: redis not ready");
}
