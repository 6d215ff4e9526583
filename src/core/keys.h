/* keys.h - every Redis key name is built here and nowhere else (see docs/redis-keys.md).
 * Batch ids and exec ids must have been validated (ids_is_batch/ids_is_exec) first.
 * Each function writes into buf (size n) and returns buf, or NULL if it would not fit. */
#ifndef AMCB_KEYS_H
#define AMCB_KEYS_H

#include "common.h"

#define KEYS_MAX 160

char *keys_batch(char *buf, size_t n, const char *prefix, const char *batch_id);	/* P batch:{B} */
char *keys_batch_execs(char *buf, size_t n, const char *prefix, const char *batch_id);	/* P batch:{B}:execs */
char *keys_exec(char *buf, size_t n, const char *prefix, const char *batch_id, const char *exec_id); /* P exec:{B}:E */
char *keys_queue(char *buf, size_t n, const char *prefix);				/* P queue */
char *keys_batches(char *buf, size_t n, const char *prefix);				/* P batches */
char *keys_events(char *buf, size_t n, const char *prefix);				/* P events */
char *keys_workers(char *buf, size_t n, const char *prefix);				/* P workers */
char *keys_worker_jobs(char *buf, size_t n, const char *prefix, const char *worker_id);	/* P worker:W:jobs */
char *keys_worker_lease(char *buf, size_t n, const char *prefix, const char *worker_id);	/* P worker:W:lease */
char *keys_janitor_lock(char *buf, size_t n, const char *prefix);			/* P janitor:lock */

#endif
