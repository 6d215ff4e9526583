/* keys.c - builds every Redis key name (docs/redis-keys.md). Per-batch keys carry the batch
 * id as a hash tag so one script touches one slot. It does not validate ids (ids.c does). */
#include "keys.h"

#include <stdarg.h>
#include <stdio.h>

static char *fmt_key(char *buf, size_t n, const char *fmt, ...) PRINTF_LIKE(3, 4);

static char *fmt_key(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	int len;

	if (buf == NULL || n == 0)
		return NULL;
	va_start(ap, fmt);
	len = vsnprintf(buf, n, fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= n) {
		buf[0] = '\0';
		return NULL;
	}
	return buf;
}

char *keys_batch(char *buf, size_t n, const char *prefix, const char *batch_id)
{
	return fmt_key(buf, n, "%sbatch:{%s}", prefix, batch_id);
}

char *keys_batch_execs(char *buf, size_t n, const char *prefix, const char *batch_id)
{
	return fmt_key(buf, n, "%sbatch:{%s}:execs", prefix, batch_id);
}

char *keys_exec(char *buf, size_t n, const char *prefix, const char *batch_id, const char *exec_id)
{
	return fmt_key(buf, n, "%sexec:{%s}:%s", prefix, batch_id, exec_id);
}

char *keys_batch_queue(char *buf, size_t n, const char *prefix, const char *batch_id)
{
	return fmt_key(buf, n, "%sbatch:{%s}:queue", prefix, batch_id);
}

char *keys_queue(char *buf, size_t n, const char *prefix)
{
	return fmt_key(buf, n, "%squeue", prefix);
}

char *keys_retry(char *buf, size_t n, const char *prefix)
{
	return fmt_key(buf, n, "%sretry", prefix);
}

char *keys_running(char *buf, size_t n, const char *prefix)
{
	return fmt_key(buf, n, "%srunning", prefix);
}

char *keys_caps(char *buf, size_t n, const char *prefix)
{
	return fmt_key(buf, n, "%scaps", prefix);
}

char *keys_parked(char *buf, size_t n, const char *prefix, const char *kind, const char *id)
{
	return fmt_key(buf, n, "%sparked:%s:%s", prefix, kind, id);
}

char *keys_batches(char *buf, size_t n, const char *prefix)
{
	return fmt_key(buf, n, "%sbatches", prefix);
}

char *keys_events(char *buf, size_t n, const char *prefix)
{
	return fmt_key(buf, n, "%sevents", prefix);
}

char *keys_workers(char *buf, size_t n, const char *prefix)
{
	return fmt_key(buf, n, "%sworkers", prefix);
}

char *keys_worker_jobs(char *buf, size_t n, const char *prefix, const char *worker_id)
{
	return fmt_key(buf, n, "%sworker:%s:jobs", prefix, worker_id);
}

char *keys_worker_lease(char *buf, size_t n, const char *prefix, const char *worker_id)
{
	return fmt_key(buf, n, "%sworker:%s:lease", prefix, worker_id);
}

char *keys_worker_info(char *buf, size_t n, const char *prefix, const char *worker_id)
{
	return fmt_key(buf, n, "%sworker:%s:info", prefix, worker_id);
}

char *keys_janitor_lock(char *buf, size_t n, const char *prefix)
{
	return fmt_key(buf, n, "%sjanitor:lock", prefix);
}

char *keys_janitor_sweep_lock(char *buf, size_t n, const char *prefix)
{
	return fmt_key(buf, n, "%sjanitor:sweep:lock", prefix);
}

char *keys_amc_cancels(char *buf, size_t n, const char *prefix)
{
	return fmt_key(buf, n, "%samc_cancels", prefix);
}

char *keys_janitor_enqueue_lock(char *buf, size_t n, const char *prefix)
{
	return fmt_key(buf, n, "%sjanitor:enqueue:lock", prefix);
}

char *keys_rate_submit(char *buf, size_t n, const char *prefix, const char *user_id)
{
	return fmt_key(buf, n, "%srate:submit:%s", prefix, user_id);
}

char *keys_token(char *buf, size_t n, const char *prefix, const char *account_id,
		 const char *region)
{
	return fmt_key(buf, n, "%stoken:%s:%s", prefix, account_id, region);
}

char *keys_token_lock(char *buf, size_t n, const char *prefix, const char *account_id,
		      const char *region)
{
	return fmt_key(buf, n, "%stoken:%s:%s:lock", prefix, account_id, region);
}
