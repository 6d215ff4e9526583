/* main.c - amcbatch-admin, the operator's command line on the archive: `purge` removes
 * finished batches (completed, partial, failed, cancelled) that ended before a cutoff, with
 * their executions and result rows, in short transactions. It never touches Redis (terminal
 * batches leave it after redis_retention_s) and never a batch that is not finished. */
#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "common.h"
#include "config.h"

#define FINISHED "('completed', 'partial', 'failed', 'cancelled')"
/* batches looked at per candidate query: bounded memory whatever the archive holds */
#define CANDIDATES 100
#define CANDIDATES_TEXT "100"

typedef struct Purge {
	PGconn *db;
	long long cutoff_s; /* age in seconds */
	long batch_size;    /* result rows per transaction */
	bool dry_run;
	/* totals */
	long long batches, execs, rows, skipped;
	double longest_tx_ms;
	char longest_what[64];
} Purge;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: amcbatch-admin [-c config] purge [--older-than AGE] [--dry-run] [--batch-size N]\n"
		"  purge   remove finished batches (completed, partial, failed, cancelled) that ended\n"
		"          more than AGE ago, with their executions and result rows\n"
		"  --older-than AGE  e.g. 400d or 36h (default: archive_retention_days; 0 = off)\n"
		"  --dry-run         only say what would be removed\n"
		"  --batch-size N    result rows dropped per transaction, as whole executions'\n"
		"                    tables, at least one (default 10000)\n"
		"Configuration: database_url and archive_retention_days from -c FILE and AMCBATCH_<KEY>.\n");
}

/* "400d", "36h", "400" (days) -> seconds; -1 when malformed */
static long long parse_age(const char *s)
{
	char *end;
	long long n;

	if (!isdigit((unsigned char)*s))
		return -1;
	n = strtoll(s, &end, 10);
	if (n < 0 || n > 100000)
		return -1;
	if (*end == '\0' || strcmp(end, "d") == 0)
		return n * 86400;
	if (strcmp(end, "h") == 0)
		return n * 3600;
	return -1;
}

/* Runs one statement (no result wanted); false with a message on error. */
static bool exec_ok(PGconn *db, const char *sql)
{
	PGresult *res = PQexec(db, sql);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "amcbatch-admin: %s: %s", sql, PQerrorMessage(db));
	PQclear(res);
	return ok;
}

static void rollback(PGconn *db)
{
	PGresult *res = PQexec(db, "ROLLBACK");

	PQclear(res); /* nothing more to do if even this fails: the connection is gone */
}

/* In an open transaction: locks the batch row if it is still finished and old enough.
 * 1 = locked, 0 = gone, changed or locked by someone else (skip it), -1 = error. */
static int lock_batch(Purge *p, const char *id)
{
	char age[32];
	const char *params[2] = { id, age };
	PGresult *res;
	int rc;

	snprintf(age, sizeof(age), "%lld", p->cutoff_s);
	res = PQexecParams(p->db,
			   "SELECT 1 FROM batch_executions WHERE id = $1 AND status IN " FINISHED
			   " AND completed_at < now() - make_interval(secs => $2::bigint)"
			   " FOR UPDATE SKIP LOCKED",
			   2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "amcbatch-admin: lock batch: %s", PQerrorMessage(p->db));
		rc = -1;
	} else {
		rc = PQntuples(res) == 1 ? 1 : 0;
	}
	PQclear(res);
	return rc;
}

static void note_tx(Purge *p, double t0, const char *batch_id, const char *what)
{
	double ms = now_ms() - t0;

	if (ms > p->longest_tx_ms) {
		p->longest_tx_ms = ms;
		snprintf(p->longest_what, sizeof(p->longest_what), "%s %s", what, batch_id);
	}
}

/* Removes one batch: its result tables about batch_size rows at a time, each chunk in its own short
 * transaction holding the batch row lock, then the batch row (cascading to its executions,
 * idempotency keys and webhook events). false on a database error. */
static bool purge_batch(Purge *p, const char *id, const char *batch_id, const char *status,
			const char *completed, long long nexec)
{
	char limit[32];
	const char *params[2] = { id, limit };
	long long rows = 0;
	int locked;

	snprintf(limit, sizeof(limit), "%ld", p->batch_size);
	for (;;) {
		double t0 = now_ms();
		PGresult *res;
		long long n, tables;

		if (!exec_ok(p->db, "BEGIN"))
			return false;
		if ((locked = lock_batch(p, id)) != 1) {
			rollback(p->db);
			if (locked < 0)
				return false;
			printf("skipped %s: no longer finished and old enough, or in use\n",
			       batch_id);
			p->skipped++;
			p->rows += rows;
			return true;
		}
		/* one chunk: whole executions' result tables (sql/016), up to batch_size rows but
		 * at least one table; clearing result_table drops the table (016's trigger) */
		res = PQexecParams(
			p->db,
			"WITH t AS (SELECT id, coalesce(row_count, 0)::bigint AS n,"
			"   sum(coalesce(row_count, 0)) OVER (ORDER BY id) AS run"
			"   FROM workflow_executions WHERE batch_execution_id = $1"
			"    AND result_table IS NOT NULL),"
			" d AS (UPDATE workflow_executions e SET result_table = NULL FROM t"
			"   WHERE e.id = t.id AND t.run - t.n < $2::bigint RETURNING t.n)"
			" SELECT count(*), coalesce(sum(n), 0) FROM d",
			2, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			fprintf(stderr, "amcbatch-admin: delete rows of %s: %s", batch_id,
				PQerrorMessage(p->db));
			PQclear(res);
			rollback(p->db);
			return false;
		}
		tables = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		n = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		PQclear(res);
		if (tables == 0) {
			/* no rows left: the batch row goes, in the same short transaction */
			res = PQexecParams(p->db, "DELETE FROM batch_executions WHERE id = $1", 1,
					   NULL, params, NULL, NULL, 0);
			if (PQresultStatus(res) != PGRES_COMMAND_OK) {
				fprintf(stderr, "amcbatch-admin: delete %s: %s", batch_id,
					PQerrorMessage(p->db));
				PQclear(res);
				rollback(p->db);
				return false;
			}
			PQclear(res);
		}
		if (!exec_ok(p->db, "COMMIT"))
			return false;
		note_tx(p, t0, batch_id, tables == 0 ? "delete batch" : "drop result tables of");
		rows += n;
		if (tables == 0)
			break;
	}
	printf("purged %s (%s, ended %s): %lld executions, %lld result rows\n", batch_id, status,
	       completed, nexec, rows);
	p->batches++;
	p->execs += nexec;
	p->rows += rows;
	return true;
}

/* Candidates, oldest first: a page at a time (a purged batch is gone from the next page; a
 * skipped one is passed by its completed_at and id). */
static bool purge(Purge *p)
{
	char age[32], after_t[64] = "-infinity",
		      after_id[64] = "00000000-0000-0000-0000-000000000000";
	const char *params[3] = { age, after_t, after_id };

	snprintf(age, sizeof(age), "%lld", p->cutoff_s);
	for (;;) {
		PGresult *res = PQexecParams(
			p->db,
			"SELECT b.id, b.batch_id, b.status,"
			" to_char(b.completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
			" (SELECT count(*) FROM workflow_executions e WHERE e.batch_execution_id = b.id),"
			" (SELECT coalesce(sum(e.row_count), 0) FROM workflow_executions e"
			"  WHERE e.batch_execution_id = b.id),"
			" b.completed_at::text"
			" FROM batch_executions b WHERE b.status IN " FINISHED
			" AND b.completed_at < now() - make_interval(secs => $1::bigint)"
			" AND (b.completed_at, b.id) > ($2::timestamptz, $3::uuid)"
			" ORDER BY b.completed_at, b.id LIMIT " CANDIDATES_TEXT,
			3, NULL, params, NULL, NULL, 0);
		int n;

		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			fprintf(stderr, "amcbatch-admin: candidates: %s", PQerrorMessage(p->db));
			PQclear(res);
			return false;
		}
		n = PQntuples(res);
		for (int i = 0; i < n; i++) {
			const char *id = PQgetvalue(res, i, 0), *bid = PQgetvalue(res, i, 1);
			const char *status = PQgetvalue(res, i, 2), *ended = PQgetvalue(res, i, 3);
			long long nexec = strtoll(PQgetvalue(res, i, 4), NULL, 10);
			long long nrows = strtoll(PQgetvalue(res, i, 5), NULL, 10);

			if (p->dry_run) {
				printf("would purge %s (%s, ended %s): %lld executions, about %lld result rows\n",
				       bid, status, ended, nexec, nrows);
				p->batches++;
				p->execs += nexec;
				p->rows += nrows;
			} else if (!purge_batch(p, id, bid, status, ended, nexec)) {
				PQclear(res);
				return false;
			}
		}
		if (n > 0) {
			snprintf(after_t, sizeof(after_t), "%s", PQgetvalue(res, n - 1, 6));
			snprintf(after_id, sizeof(after_id), "%s", PQgetvalue(res, n - 1, 0));
		}
		PQclear(res);
		if (n < CANDIDATES)
			return true;
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "older-than", required_argument, NULL, 'o' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "batch-size", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	Purge p = { .cutoff_s = -1, .batch_size = 10000 };
	Config cfg;
	const char *conf = NULL, *older = NULL;
	char err[512];
	int opt, rc = 1;
	double t0;

	/* "+": options before the command are ours, then the command's */
	while ((opt = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			conf = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc || strcmp(argv[optind], "purge") != 0) {
		usage(stderr);
		return 2;
	}
	optind++;
	while ((opt = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'o':
			older = optarg;
			break;
		case 'n':
			p.dry_run = true;
			break;
		case 'b':
			p.batch_size = strtol(optarg, NULL, 10);
			if (p.batch_size < 1 || p.batch_size > 1000000) {
				fprintf(stderr,
					"amcbatch-admin: --batch-size must be 1..1000000\n");
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
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!config_load(&cfg, conf, err, sizeof(err))) {
		fprintf(stderr, "amcbatch-admin: %s\n", err);
		return 2;
	}
	if (older != NULL) {
		if ((p.cutoff_s = parse_age(older)) <= 0) {
			fprintf(stderr,
				"amcbatch-admin: --older-than wants e.g. 400d or 36h (more than 0), got %s\n",
				older);
			config_cleanup(&cfg);
			return 2;
		}
	} else if (cfg.archive_retention_days > 0) {
		p.cutoff_s = (long long)cfg.archive_retention_days * 86400;
	} else {
		printf("retention is off (archive_retention_days = 0, no --older-than): nothing to do\n");
		config_cleanup(&cfg);
		return 0;
	}
	p.db = PQconnectdb(cfg.database_url);
	if (PQstatus(p.db) != CONNECTION_OK) {
		fprintf(stderr, "amcbatch-admin: cannot connect: %s", PQerrorMessage(p.db));
		goto out;
	}
	/* a purge waits for nobody: a lock it cannot get within a second fails the run (the
	 * next run picks up where it stopped) instead of queueing the API behind it */
	if (!exec_ok(p.db, "SET lock_timeout = '1s'") ||
	    !exec_ok(p.db, "SET application_name = 'amcbatch-admin purge'"))
		goto out;
	printf("%s finished batches that ended more than %lld days %lld hours ago, %ld result rows per transaction\n",
	       p.dry_run ? "dry run: looking for" : "purging", p.cutoff_s / 86400,
	       (p.cutoff_s % 86400) / 3600, p.batch_size);
	t0 = now_ms();
	if (!purge(&p))
		goto out;
	{
		double secs = (now_ms() - t0) / 1000.0;

		if (p.dry_run)
			printf("would purge %lld batches, %lld executions, about %lld result rows\n",
			       p.batches, p.execs, p.rows);
		else
			printf("purged %lld batches, %lld executions, %lld result rows in %.1f s "
			       "(%.0f rows/s); skipped %lld; longest transaction %.0f ms (%s)\n",
			       p.batches, p.execs, p.rows, secs,
			       secs > 0 ? (double)p.rows / secs : 0.0, p.skipped, p.longest_tx_ms,
			       p.longest_what[0] ? p.longest_what : "none");
	}
	rc = 0;
out:
	PQfinish(p.db);
	config_cleanup(&cfg);
	return rc;
}
