/* cmd_status.c - `amcbatch status BATCH_ID [--watch]`: one status snapshot (summary plus a
 * per-instance table), or re-polling until the batch is terminal with a live progress bar
 * on a terminal and one plain line per change when piped. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fmt.h"
#include "progress.h"
#include "table.h"

/* Consecutive failed polls tolerated by --watch (server restarting, 503) before giving up. */
#define WATCH_MAX_RETRIES 5

static const char STATUS_HELP[] =
	"Usage: amcbatch status BATCH_ID [--watch] [--interval SECONDS] [--json]\n"
	"\n"
	"Show a batch: summary and one row per instance (GET /workflows/batch/{id}/status).\n"
	"\n"
	"  -w, --watch             poll until the batch is completed, partial, failed or\n"
	"                          cancelled; a progress bar on a terminal, one line per\n"
	"                          change when piped; then the final summary\n"
	"  -i, --interval SECONDS  poll interval for --watch (default 2, min 0.1)\n"
	"      --json              print the batch_status object (with --watch: the final one;\n"
	"                          progress then goes to stderr if it is a terminal)\n"
	"  -h, --help              this help\n"
	"\n"
	"Exit status: 0 completed (without --watch also: still running), 10 partial,\n"
	"11 failed, 12 cancelled, 2 usage, 3 API error, 4 server unreachable,\n"
	"130 interrupted while watching.\n";

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* GET the status; on success *resp is owned by the caller and *bs borrowed from it. */
static bool fetch(ApiClient *h, const char *batch_id, json_t **resp, json_t **bs)
{
	return apiclient_get_batch(h, batch_id, "/status", "batch_status", resp, bs);
}

static int print_executions(const json_t *execs)
{
	static const char *const head[] = { "INSTANCE", "STATUS",    "WAITING FOR", "ROWS",
					    "DURATION", "EXECUTION", "WINDOW",      "ERROR" };
	Table t;
	const json_t *e;
	size_t i;
	bool ok;

	if (!table_init(&t, ARRAY_LEN(head), head))
		return CLI_EXIT_INTERNAL;
	t.maxw = CLI_ERROR_CELL_MAX;
	table_align_right(&t, 3);
	table_align_right(&t, 4);
	for (size_t c = 1; c <= 5; c++)
		if (c != 2) /* the words of WAITING FOR may be cut on a narrow terminal */
			table_flag(&t, c, TABLE_FIXED);
	table_flag(&t, 2, TABLE_HIDE_EMPTY); /* what it waits for: only while unfinished */
	table_flag(&t, 5, TABLE_OPTIONAL);
	table_flag(&t, 6, TABLE_OPTIONAL); /* the AMC window: batches that have one */
	table_flag(&t, 6, TABLE_HIDE_EMPTY);
	table_flag(&t, 7, TABLE_HIDE_EMPTY); /* no errors: no column */
	json_array_foreach (execs, i, e) {
		char dur[32], win[160];
		char *rows = json_is_null(json_object_get(e, "row_count"))
				     ? NULL
				     : fmt_json_text(json_object_get(e, "row_count"));
		char *err = fmt_json_text(json_object_get(e, "error"));
		const char *name =
			fmt_str(e, "instance_name", fmt_str(e, "target_instance_id", "?"));
		const char *row[] = {
			name,
			fmt_str(e, "status", "?"),
			fmt_str(json_object_get(e, "waiting_for"), "text", fmt_str(e, "phase", "")),
			rows != NULL ? rows : "",
			dur,
			fmt_str(e, "execution_id", ""),
			win,
			err != NULL ? err : "",
		};

		fmt_duration(json_object_get(e, "duration_seconds"), dur, sizeof(dur));
		fmt_time_window(json_object_get(e, "time_window"), win, sizeof(win));
		ok = table_add_row(&t, row);
		free(rows);
		free(err);
		if (!ok) {
			table_cleanup(&t);
			return CLI_EXIT_INTERNAL;
		}
	}
	ok = cli_print_table(&t);
	table_cleanup(&t);
	return ok ? CLI_EXIT_OK : CLI_EXIT_INTERNAL;
}

/* The batch policy in words: "continue", "fail_fast", "min_success_ratio 0.9"; "" when the
 * server sends none (an older API). */
static void policy_text(const json_t *p, char *buf, size_t size)
{
	const json_t *r = json_object_get(p, "min_success_ratio");

	if (json_is_string(p))
		snprintf(buf, size, "%s", json_string_value(p));
	else if (json_is_number(r))
		snprintf(buf, size, "min_success_ratio %g (%g%% must complete)",
			 json_number_value(r), json_number_value(r) * 100);
	else
		buf[0] = '\0';
}

/* The human view of one batch_status object. */
static int print_status(const json_t *bs)
{
	Progress p;
	char counts[512], win[160], pol[96];
	const json_t *execs = json_object_get(bs, "executions");
	const char *name = fmt_str(bs, "name", "");
	const char *reason = fmt_str(bs, "status_reason", "");

	progress_from_status(&p, bs);
	progress_render(&p, 0, counts, sizeof(counts));
	printf("Batch      %s%s%s\n", fmt_str(bs, "batch_id", "?"), *name ? "  " : "", name);
	printf("Workflow   %s\n", fmt_str(bs, "workflow_id", "-"));
	printf("Status     %s\n", fmt_str(bs, "status", "?"));
	if (*reason)
		printf("Reason     %s\n", reason);
	policy_text(json_object_get(bs, "on_failure"), pol, sizeof(pol));
	if (pol[0] != '\0')
		printf("On failure %s\n", pol);
	printf("Progress   %s\n", counts);
	printf("Started    %s\n", fmt_str(bs, "started_at", "-"));
	printf("Completed  %s\n", fmt_str(bs, "completed_at", "-"));
	fmt_window(json_object_get(bs, "window"), win, sizeof(win));
	if (win[0] != '\0')
		printf("Window     %s\n", win);
	if (json_array_size(execs) > 0) {
		putchar('\n');
		if (print_executions(execs) != CLI_EXIT_OK) {
			cli_error("internal", "out of memory");
			return CLI_EXIT_INTERNAL;
		}
	}
	return ferror(stdout) ? CLI_EXIT_INTERNAL : CLI_EXIT_OK;
}

/* Sleeps, waking early on SIGINT. */
static void nap(double seconds)
{
	struct timespec ts = { (time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9) };

	while (!interrupted && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int cmd_status_watch(ApiClient *h, const char *batch_id, double interval, bool json_out)
{
	FILE *pf = json_out ? stderr : stdout; /* where progress goes */
	bool tty = isatty(fileno(pf));
	bool drawn = false, show = !json_out || tty, seen = false;
	char line[1024], last[1024] = "";
	struct sigaction sa, old;
	int failures = 0, rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old); /* no SA_RESTART: the sleep must wake */
	for (;;) {
		json_t *resp = NULL, *bs;
		const char *status;
		Progress p;

		if (!fetch(h, batch_id, &resp, &bs)) {
			/* a server that answered before may be restarting; one that never did is wrong */
			bool transient =
				seen && (h->err == CLI_EXIT_UNREACHABLE || h->status >= 500);

			if (transient && ++failures <= WATCH_MAX_RETRIES && !interrupted) {
				if (drawn)
					fputs("\r\033[2K", pf);
				drawn = false;
				fprintf(stderr, "amcbatch: %s; retrying (%d/%d)\n", h->errstr,
					failures, WATCH_MAX_RETRIES);
				nap(interval);
				continue;
			}
			if (drawn)
				fputc('\n', pf);
			apiclient_report(h);
			rc = h->err;
			break;
		}
		failures = 0;
		seen = true;
		status = fmt_str(bs, "status", "?");
		progress_from_status(&p, bs);
		if (show && tty) {
			progress_render_fit(&p, cli_term_cols(fileno(pf)), line, sizeof(line));
			fprintf(pf, "\r\033[2K%s", line);
			fflush(pf);
			drawn = true;
		} else if (show) {
			char stamp[16];
			time_t now = time(NULL);
			struct tm tm;

			progress_render(&p, 0, line, sizeof(line));
			if (strcmp(line, last) != 0) {
				strftime(stamp, sizeof(stamp), "%H:%M:%S", localtime_r(&now, &tm));
				fprintf(pf, "%s  %-9s  %s\n", stamp, status, line);
				fflush(pf);
				snprintf(last, sizeof(last), "%s", line);
			}
		}
		if (cli_status_terminal(status)) {
			if (drawn)
				fputc('\n', pf);
			if (json_out) {
				rc = cli_print_json(bs);
			} else {
				putchar('\n');
				rc = print_status(bs);
			}
			if (rc == CLI_EXIT_OK)
				rc = cli_exit_for_status(status);
			json_decref(resp);
			break;
		}
		json_decref(resp);
		nap(interval);
		if (interrupted) {
			if (drawn)
				fputc('\n', pf);
			cli_error("interrupted", "stopped watching %s; the batch keeps running",
				  batch_id);
			rc = CLI_EXIT_INTERRUPTED;
			break;
		}
	}
	sigaction(SIGINT, &old, NULL);
	return rc;
}

int cmd_status_run(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "watch", no_argument, NULL, 'w' },
		{ "interval", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool watch = false, json_out = false;
	double interval = 2.0;
	const char *batch_id;
	json_t *resp = NULL, *bs;
	ApiClient h;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":wi:h", opts, NULL)) != -1) {
		switch (c) {
		case 'w':
			watch = true;
			break;
		case 'i':
			if (!cli_parse_double(optarg, 0.1, 3600, &interval))
				return cli_usage_error(
					argv[0],
					"--interval wants seconds between 0.1 and 3600, got '%s'",
					optarg);
			break;
		case 'j':
			json_out = true;
			break;
		case 'h':
			fputs(STATUS_HELP, stdout);
			return CLI_EXIT_OK;
		default:
			return cli_getopt_error(argv[0], c, argv);
		}
	}
	if ((rc = cli_batch_arg(argc, argv, &batch_id)) != CLI_EXIT_OK)
		return rc;
	if ((rc = cli_api_open(&h)) != CLI_EXIT_OK)
		return rc;
	if (watch) {
		rc = cmd_status_watch(&h, batch_id, interval, json_out);
	} else if (!fetch(&h, batch_id, &resp, &bs)) {
		apiclient_report(&h);
		rc = h.err;
	} else {
		rc = json_out ? cli_print_json(bs) : print_status(bs);
		/* a finished batch reports its outcome, as --watch does; a running one is 0 */
		if (rc == CLI_EXIT_OK && cli_status_terminal(fmt_str(bs, "status", NULL)))
			rc = cli_exit_for_status(fmt_str(bs, "status", NULL));
	}
	json_decref(resp);
	apiclient_cleanup(&h);
	return rc;
}

int cmd_report_new_batch(ApiClient *h, const json_t *batch, const char *tty_line, bool json_out,
			 bool watch, double interval)
{
	const char *id = fmt_str(batch, "batch_id", NULL);
	int rc = CLI_EXIT_OK;

	if (id == NULL) {
		cli_error("bad_response", "the answer has no batch.batch_id");
		return CLI_EXIT_API;
	}
	if (json_out) {
		if (!watch)
			rc = cli_print_json(batch);
	} else {
		printf("%s\n", isatty(STDOUT_FILENO) ? tty_line : id);
	}
	fflush(stdout);
	if (rc == CLI_EXIT_OK && watch) {
		if (isatty(STDOUT_FILENO))
			putchar('\n');
		rc = cmd_status_watch(h, id, interval, json_out);
	}
	return rc;
}
