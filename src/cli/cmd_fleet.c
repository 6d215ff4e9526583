/* cmd_fleet.c - `amcbatch fleet [--json] [--watch]`: the fleet view of GET /admin/fleet as
 * tables (workers, queue, caps, parked, errors), once or redrawn every few seconds. It
 * computes nothing itself: every figure is the API's. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fmt.h"
#include "table.h"

static const char FLEET_HELP[] =
	"Usage: amcbatch fleet [--watch] [--interval SECONDS] [--json]\n"
	"\n"
	"Show the fleet (GET /admin/fleet, admins only): workers with their host, version,\n"
	"uptime, jobs held and last heartbeat; the queue; running executions per instance and\n"
	"account against the caps; parked jobs and the cap they wait for; pending AMC cancels;\n"
	"recent AMC errors by kind.\n"
	"\n"
	"  -w, --watch             redraw until interrupted (Ctrl-C)\n"
	"  -i, --interval SECONDS  redraw interval for --watch (default 2, min 0.5)\n"
	"      --json              print the API's JSON answer (with --watch: one per line)\n"
	"  -h, --help              this help\n"
	"\n"
	"Exit status: 0 ok, 2 usage, 3 API error (403: not an admin), 4 server unreachable,\n"
	"130 interrupted while watching.\n";

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* "1m05s"-style age of a millisecond count, "-" for null */
static void fmt_age(const json_t *ms, char *buf, size_t n)
{
	long long s;

	if (!json_is_integer(ms)) {
		snprintf(buf, n, "-");
		return;
	}
	s = json_integer_value(ms) / 1000;
	if (s < 60)
		snprintf(buf, n, "%llds", s);
	else if (s < 3600)
		snprintf(buf, n, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, n, "%lldh%02lldm", s / 3600, (s / 60) % 60);
	else
		snprintf(buf, n, "%lldd%02lldh", s / 86400, (s / 3600) % 24);
}

/* Prints one table of rows built by fill; false on allocation or write failure. */
typedef bool (*FillFn)(Table *t, const json_t *resp);

static bool print_section(const char *title, size_t ncols, const char *const *head, FillFn fill,
			  const json_t *resp)
{
	Table t;
	bool ok;

	printf("%s\n", title);
	if (!table_init(&t, ncols, head))
		return false;
	ok = fill(&t, resp) && cli_print_table(&t);
	table_cleanup(&t);
	putchar('\n');
	return ok;
}

static bool fill_workers(Table *t, const json_t *resp)
{
	const json_t *w, *items = json_object_get(json_object_get(resp, "workers"), "items");
	size_t i;

	json_array_foreach (items, i, w) {
		char up[32], beat[32], jobs[24];
		const json_t *u = json_object_get(w, "uptime_seconds");
		json_t *ums =
			json_is_integer(u) ? json_integer(json_integer_value(u) * 1000) : NULL;
		const char *row[] = {
			fmt_str(w, "id", "?"),
			fmt_str(w, "host", "-"),
			fmt_str(w, "version", "-"),
			up,
			jobs,
			beat,
			!json_is_true(json_object_get(w, "lease_alive")) ? "GONE"
			/* it takes no new jobs (its result spool cannot be written) */
			: json_is_string(json_object_get(w, "claims_paused")) ? "paused"
									      : "alive",
		};

		fmt_age(ums, up, sizeof(up));
		json_decref(ums);
		fmt_age(json_object_get(w, "last_heartbeat_age_ms"), beat, sizeof(beat));
		snprintf(jobs, sizeof(jobs), "%lld",
			 fmt_json_int(json_object_get(w, "jobs_held"), 0));
		if (!table_add_row(t, row))
			return false;
	}
	return true;
}

static bool fill_queue(Table *t, const json_t *resp)
{
	const json_t *q = json_object_get(resp, "queue"), *b;
	char ready[24], age[32];
	size_t i;

	json_array_foreach (json_object_get(q, "by_batch"), i, b) {
		const char *row[] = { fmt_str(b, "batch_id", "?"), ready, age };

		snprintf(ready, sizeof(ready), "%lld",
			 fmt_json_int(json_object_get(b, "ready"), 0));
		fmt_age(json_object_get(b, "oldest_queued_age_ms"), age, sizeof(age));
		if (!table_add_row(t, row))
			return false;
	}
	{
		const char *row[] = { "(all)", ready, age };

		snprintf(ready, sizeof(ready), "%lld",
			 fmt_json_int(json_object_get(q, "ready"), 0));
		fmt_age(json_object_get(q, "oldest_queued_age_ms"), age, sizeof(age));
		return table_add_row(t, row);
	}
}

static bool fill_caps(Table *t, const json_t *resp)
{
	const json_t *run = json_object_get(resp, "running"), *x;
	static const char *const kinds[][2] = { { "instances", "amc_instance_id" },
						{ "accounts", "account_id" } };
	size_t i;

	for (size_t k = 0; k < 2; k++) {
		json_array_foreach (json_object_get(run, kinds[k][0]), i, x) {
			char use[48];
			const char *row[] = { k == 0 ? "instance" : "account",
					      fmt_str(x, kinds[k][1], "?"), use,
					      json_is_true(json_object_get(x, "full")) ? "FULL"
										       : "" };

			snprintf(use, sizeof(use), "%lld/%lld",
				 fmt_json_int(json_object_get(x, "running"), 0),
				 fmt_json_int(json_object_get(x, "cap"), 0));
			if (!table_add_row(t, row))
				return false;
		}
	}
	return true;
}

static bool fill_parked(Table *t, const json_t *resp)
{
	const json_t *x;
	size_t i;

	json_array_foreach (json_object_get(json_object_get(resp, "parked"), "items"), i, x) {
		char n[24], age[32];
		const char *row[] = { fmt_str(x, "kind", "?"), fmt_str(x, "id", "?"), n, age,
				      fmt_str(x, "reason", "") };

		snprintf(n, sizeof(n), "%lld", fmt_json_int(json_object_get(x, "waiting"), 0));
		fmt_age(json_object_get(x, "oldest_queued_age_ms"), age, sizeof(age));
		if (!table_add_row(t, row))
			return false;
	}
	return true;
}

static bool fill_errors(Table *t, const json_t *resp)
{
	const json_t *x;
	size_t i;

	json_array_foreach (json_object_get(json_object_get(resp, "errors"), "by_kind"), i, x) {
		char n[24];
		const char *row[] = { fmt_str(x, "kind", "?"), n, fmt_str(x, "example", "") };

		snprintf(n, sizeof(n), "%lld", fmt_json_int(json_object_get(x, "count"), 0));
		if (!table_add_row(t, row))
			return false;
	}
	return true;
}

static int print_fleet(const json_t *resp)
{
	static const char *const wh[] = { "WORKER", "HOST",      "VERSION", "UPTIME",
					  "JOBS",   "HEARTBEAT", "LEASE" };
	static const char *const qh[] = { "BATCH", "READY", "OLDEST" };
	static const char *const ch[] = { "KIND", "ID", "RUNNING/CAP", "" };
	static const char *const ph[] = { "PARKED ON", "ID", "WAITING", "OLDEST", "WHY" };
	static const char *const eh[] = { "ERROR KIND", "COUNT", "LATEST" };
	const json_t *w = json_object_get(resp, "workers"), *q = json_object_get(resp, "queue");
	const json_t *caps = json_object_get(resp, "caps"),
		     *ac = json_object_get(resp, "amc_cancels");
	char title[256];
	bool ok;

	snprintf(title, sizeof(title), "Workers: %lld live of %lld",
		 fmt_json_int(json_object_get(w, "live"), 0),
		 fmt_json_int(json_object_get(w, "total"), 0));
	ok = print_section(title, ARRAY_LEN(wh), wh, fill_workers, resp);
	snprintf(title, sizeof(title),
		 "Queue: %lld ready in %lld batches, %lld in retry_wait (%lld due)",
		 fmt_json_int(json_object_get(q, "ready"), 0),
		 fmt_json_int(json_object_get(q, "batches"), 0),
		 fmt_json_int(json_object_get(q, "retry_wait"), 0),
		 fmt_json_int(json_object_get(q, "retry_due"), 0));
	ok = ok && print_section(title, ARRAY_LEN(qh), qh, fill_queue, resp);
	snprintf(title, sizeof(title), "Caps: instance_cap %lld, account_cap %lld (from %s)",
		 fmt_json_int(json_object_get(caps, "instance_cap"), 0),
		 fmt_json_int(json_object_get(caps, "account_cap"), 0),
		 fmt_str(caps, "source", "?"));
	ok = ok && print_section(title, ARRAY_LEN(ch), ch, fill_caps, resp);
	snprintf(title, sizeof(title), "Parked: %lld jobs",
		 fmt_json_int(json_object_get(json_object_get(resp, "parked"), "total"), 0));
	ok = ok && print_section(title, ARRAY_LEN(ph), ph, fill_parked, resp);
	ok = ok && print_section("Recent AMC errors", ARRAY_LEN(eh), eh, fill_errors, resp);
	printf("AMC cancels pending: %lld (%lld due)\n",
	       fmt_json_int(json_object_get(ac, "pending"), 0),
	       fmt_json_int(json_object_get(ac, "due"), 0));
	return ok && !ferror(stdout) ? CLI_EXIT_OK : CLI_EXIT_INTERNAL;
}

/* Sleeps up to s seconds, waking early on SIGINT. */
static void nap(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	while (!interrupted && nanosleep(&ts, &ts) != 0)
		;
}

int cmd_fleet_run(int argc, char *argv[])
{
	enum { OPT_JSON = 256 };
	static const struct option opts[] = {
		{ "watch", no_argument, NULL, 'w' },
		{ "interval", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json_out = false, watch = false, tty = isatty(STDOUT_FILENO);
	double interval = 2;
	struct sigaction sa, old;
	ApiClient h;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":wi:h", opts, NULL)) != -1) {
		switch (c) {
		case 'w':
			watch = true;
			break;
		case 'i': {
			char *end;

			interval = strtod(optarg, &end);
			if (*end != '\0' || !(interval >= 0.5 && interval <= 3600))
				return cli_usage_error(
					argv[0], "--interval wants 0.5 to 3600 seconds, got '%s'",
					optarg);
			break;
		}
		case OPT_JSON:
			json_out = true;
			break;
		case 'h':
			fputs(FLEET_HELP, stdout);
			return CLI_EXIT_OK;
		default:
			return cli_getopt_error(argv[0], c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
	if ((rc = cli_api_open(&h)) != CLI_EXIT_OK)
		return rc;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	if (watch)
		sigaction(SIGINT, &sa, &old); /* no SA_RESTART: the sleep must wake */
	for (;;) {
		json_t *resp = NULL;

		if (!apiclient_call(&h, "GET", "/admin/fleet", NULL, &resp)) {
			apiclient_report(&h);
			rc = h.err;
			break;
		}
		if (json_out && watch) {
			/* one compact document per line, for `| jq` */
			rc = json_dumpf(resp, stdout, JSON_COMPACT) == 0 && putchar('\n') != EOF
				     ? CLI_EXIT_OK
				     : CLI_EXIT_INTERNAL;
			fflush(stdout);
		} else if (json_out) {
			rc = cli_print_json(resp);
		} else {
			if (watch && tty)
				fputs("\033[H\033[2J", stdout);
			rc = print_fleet(resp);
			fflush(stdout);
		}
		json_decref(resp);
		if (!watch || rc != CLI_EXIT_OK)
			break;
		nap(interval);
		if (interrupted) {
			rc = CLI_EXIT_INTERRUPTED;
			break;
		}
	}
	if (watch)
		sigaction(SIGINT, &old, NULL);
	apiclient_cleanup(&h);
	return rc;
}
