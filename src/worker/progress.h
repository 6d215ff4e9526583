/* progress.h - what a running job tells the status endpoint about how far it has got
 * (docs/api.md, waiting_for; docs/redis-keys.md, the exec fields next_poll_at, archive_done,
 * archive_total, pg_down_since, spool_trouble, spool_trouble_since and P caps). Every write is fire-and-forget on the worker's
 * async Redis connection, through the `progress` script, which writes only while this claim
 * holds the running exec: never a blocking call, never a purged hash brought back. */
#ifndef AMCB_PROGRESS_H
#define AMCB_PROGRESS_H

#include "archiver.h"
#include "job_data.h"

/* The next AMC status poll is due in in_ms: next_poll_at = now + in_ms. */
void progress_next_poll(Job *job, int in_ms);

/* The result spool cannot be written since since_ms (err: the reason, e.g. "No space left on
 * device"), or (err NULL) it can again: spool_trouble and spool_trouble_since. */
void progress_spool(Job *job, const char *err, int64_t since_ms);

typedef struct ArchiveWatch ArchiveWatch;

/* The archive t of job is running on a pool thread: clears the progress of an earlier attempt,
 * then once a second writes t's progress when it moved, and pg_down_since while the pool
 * cannot reach PostgreSQL (emptied when it can again). t is borrowed until
 * progress_archive_end. A new watch (owned by the caller), or NULL (out of memory: no
 * progress shown, the archive runs as ever). */
ArchiveWatch *progress_archive_watch(Job *job, const ArchiveTask *t);
/* The archive ended (its done callback runs, before the job's next Redis call): empties
 * pg_down_since if it was set, stops and frees w (NULL: nothing). */
void progress_archive_end(ArchiveWatch *w);

/* P caps = this worker's instance_cap and account_cap, so the status endpoint can say
 * "instance cap reached: 10/10" (the last worker to beat wins; the fleet view shows whether
 * workers disagree). Sent with every heartbeat: a restarted Redis has it again at once. */
void progress_publish_caps(Worker *w);

#endif
