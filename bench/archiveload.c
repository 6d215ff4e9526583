/* archiveload.c - drives the worker's archiver (src/worker/archiver.c, compiled in by
 * bench/results-io) over spool files without Redis, AMC or a worker: THREADS threads, each
 * with its own PostgreSQL connection, as THREADS workers each archiving one execution at a
 * time. Reads "uuid exec_id claim path" lines on stdin; prints
 *   archived=<executions> rows=<n> wall_ms=<ms> rows_per_s=<r>
 * Usage: archiveload CONNINFO THREADS < tasks */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "archiver.h"

#define MAX_TASKS 100000

static ArchiveTask tasks[MAX_TASKS];
static int ntasks;
static atomic_int next_task;
static atomic_long rows;
static atomic_int failures;
static const char *conninfo;

static void *run(void *arg)
{
	PGconn *conn = PQconnectdb(conninfo);
	char err[512];

	(void)arg;
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "archiveload: %s", PQerrorMessage(conn));
		atomic_fetch_add(&failures, 1);
		PQfinish(conn);
		return NULL;
	}
	for (int i; (i = atomic_fetch_add(&next_task, 1)) < ntasks;) {
		err[0] = '\0';
		if (archiver_work(conn, &tasks[i], err, sizeof(err)) != PG_OK) {
			fprintf(stderr, "archiveload: %s: %s\n", tasks[i].exec_id, err);
			atomic_fetch_add(&failures, 1);
			continue;
		}
		atomic_fetch_add(&rows, tasks[i].row_count);
	}
	PQfinish(conn);
	return NULL;
}

int main(int argc, char **argv)
{
	int nthreads = argc == 3 ? atoi(argv[2]) : 0;
	pthread_t th[64];
	struct timespec t0, t1;
	double ms;

	if (nthreads < 1 || nthreads > 64) {
		fprintf(stderr, "usage: archiveload CONNINFO THREADS < tasks\n");
		return 2;
	}
	conninfo = argv[1];
	while (ntasks < MAX_TASKS) {
		ArchiveTask *t = &tasks[ntasks];

		if (scanf("%36s %13s %24s %511s", t->uuid, t->exec_id, t->claim, t->path) != 4)
			break;
		strcpy(t->amc_id, "bench-"); /* fits: exec ids are 13 characters */
		strcat(t->amc_id, t->exec_id);
		ntasks++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < nthreads; i++)
		if (pthread_create(&th[i], NULL, run, NULL) != 0) {
			fprintf(stderr, "archiveload: cannot start a thread\n");
			return 1;
		}
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	printf("archived=%d rows=%ld wall_ms=%.0f rows_per_s=%.0f\n", ntasks - failures, (long)rows,
	       ms, (double)rows * 1e3 / ms);
	return failures > 0 ? 1 : 0;
}
