/* keys.h - every Redis key name is built here and nowhere else (see docs/redis-keys.md).
 * Batch ids and exec ids must have been validated (ids_is_batch/ids_is_exec) first.
 * Each function writes into buf (size n) and returns buf, or NULL if it would not fit. */
#ifndef AMCB_KEYS_H
#define AMCB_KEYS_H

#include "common.h"

#define KEYS_MAX 160

char *keys_batch(char *buf, size_t n, const char *prefix, const char *batch_id); /* P batch:{B} */
char *keys_batch_execs(char *buf, size_t n, const char *prefix,
		       const char *batch_id); /* P batch:{B}:execs */
char *keys_exec(char *buf, size_t n, const char *prefix, const char *batch_id,
		const char *exec_id); /* P exec:{B}:E */
char *keys_batch_queue(char *buf, size_t n, const char *prefix,
		       const char *batch_id);                /* P batch:{B}:queue */
char *keys_queue(char *buf, size_t n, const char *prefix);   /* P queue (ring of batch ids) */
char *keys_retry(char *buf, size_t n, const char *prefix);   /* P retry */
char *keys_running(char *buf, size_t n, const char *prefix); /* P running */
char *keys_caps(char *buf, size_t n, const char *prefix);    /* P caps (the workers' caps) */
/* P parked:<kind>:<id>, kind "instance" (id = amc_instance_id) or "account" (id = account_id) */
char *keys_parked(char *buf, size_t n, const char *prefix, const char *kind, const char *id);
char *keys_batches(char *buf, size_t n, const char *prefix); /* P batches */
char *keys_events(char *buf, size_t n, const char *prefix);  /* P events */
char *keys_workers(char *buf, size_t n, const char *prefix); /* P workers */
char *keys_worker_jobs(char *buf, size_t n, const char *prefix,
		       const char *worker_id); /* P worker:W:jobs */
char *keys_worker_lease(char *buf, size_t n, const char *prefix,
			const char *worker_id); /* P worker:W:lease */
char *keys_worker_info(char *buf, size_t n, const char *prefix,
		       const char *worker_id);                          /* P worker:W:info */
char *keys_janitor_lock(char *buf, size_t n, const char *prefix);       /* P janitor:lock */
char *keys_janitor_sweep_lock(char *buf, size_t n, const char *prefix); /* P janitor:sweep:lock */
char *keys_amc_cancels(char *buf, size_t n, const char *prefix);        /* P amc_cancels */
char *keys_janitor_enqueue_lock(char *buf, size_t n,
				const char *prefix); /* P janitor:enqueue:lock */
/* user_id: a validated UUID (ids_is_uuid) */
char *keys_rate_submit(char *buf, size_t n, const char *prefix,
		       const char *user_id); /* P rate:submit:U */
/* account_id: a validated UUID (ids_is_uuid); region: its AMC region's name (region_name) */
char *keys_token(char *buf, size_t n, const char *prefix, const char *account_id,
		 const char *region); /* P token:A:R */
char *keys_token_lock(char *buf, size_t n, const char *prefix, const char *account_id,
		      const char *region); /* P token:A:R:lock */

#endif
