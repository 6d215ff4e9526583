/* test_core_keys.c - key names are exactly those of docs/redis-keys.md, and a buffer that
 * is too small gives NULL instead of a truncated key. */
#include "keys.h"

#include <string.h>

#include "../tap.h"

#define P "amcb:"
#define B "batch_a1b2c3d4"
#define E "exec_0f3c21aa"
#define W "host1-4242"

static void check(const char *got, const char *want)
{
	assertf(got && strcmp(got, want) == 0, "got \"%s\", want \"%s\"", got ? got : "(null)", want);
}

static void test_names(void)
{
	char k[KEYS_MAX];

	check(keys_batch(k, sizeof(k), P, B), "amcb:batch:{batch_a1b2c3d4}");
	check(keys_batch_execs(k, sizeof(k), P, B), "amcb:batch:{batch_a1b2c3d4}:execs");
	check(keys_exec(k, sizeof(k), P, B, E), "amcb:exec:{batch_a1b2c3d4}:exec_0f3c21aa");
	check(keys_queue(k, sizeof(k), P), "amcb:queue");
	check(keys_batches(k, sizeof(k), P), "amcb:batches");
	check(keys_events(k, sizeof(k), P), "amcb:events");
	check(keys_workers(k, sizeof(k), P), "amcb:workers");
	check(keys_worker_jobs(k, sizeof(k), P, W), "amcb:worker:host1-4242:jobs");
	check(keys_worker_lease(k, sizeof(k), P, W), "amcb:worker:host1-4242:lease");
	check(keys_janitor_lock(k, sizeof(k), P), "amcb:janitor:lock");
	check(keys_janitor_enqueue_lock(k, sizeof(k), P), "amcb:janitor:enqueue:lock");
	check(keys_queue(k, sizeof(k), "test:x:"), "test:x:queue");
}

static void test_too_small(void)
{
	char k[16];

	assertf(keys_batch(k, sizeof(k), P, B) == NULL, "truncated key returned");
	assertf(keys_queue(k, 10, P) == NULL, "10 bytes cannot hold amcb:queue + NUL");
	assertf(keys_queue(k, 11, P) != NULL, "11 bytes hold amcb:queue + NUL");
	assertf(keys_queue(k, 0, P) == NULL, "n == 0");
}

int main(void)
{
	RUN_TEST(test_names);
	RUN_TEST(test_too_small);
	return tap_done();
}
