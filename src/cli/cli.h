/* cli.h - conventions shared by every amcbatch subcommand: exit codes, error output in the
 * one "amcbatch: <message> (<code>)" form, environment, option helpers, batch outcome.
 * The HTTP transport itself lives in apiclient.c. */
#ifndef AMCB_CLI_H
#define AMCB_CLI_H

#include <signal.h>
#include <stdio.h>

#include "common.h"
#include "apiclient.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

#define CLI_DEFAULT_URL "http://127.0.0.1:8080"

/* Cells of tables with an error column are cut here, not at TABLE_CELL_MAX: the error
 * text is the point; on a terminal table_fit cuts it to the width there is. */
#define CLI_ERROR_CELL_MAX 200

/* Exit codes; documented in `amcbatch --help` (main.c), keep the two in step. */
enum CliExit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_INTERNAL = 1, /* out of memory, cannot write output */
	CLI_EXIT_USAGE = 2,
	CLI_EXIT_API = 3,           /* the server answered with an error */
	CLI_EXIT_UNREACHABLE = 4,   /* no answer from the server at all */
	CLI_EXIT_PARTIAL = 10,      /* status, --watch: batch ended partial */
	CLI_EXIT_FAILED = 11,       /* status, --watch: batch ended failed */
	CLI_EXIT_CANCELLED = 12,    /* status, --watch: batch ended cancelled */
	CLI_EXIT_INTERRUPTED = 130, /* SIGINT during --watch */
};

/* Prints "amcbatch: <message> (<code>)" to stderr. */
void cli_error(const char *code, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* Prints a usage error plus a hint to `amcbatch <cmd> --help`; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* After getopt: exactly one positional BATCH_ID must remain; sets *batch_id (borrowed from
 * argv) and returns CLI_EXIT_OK, else reports the usage error and returns CLI_EXIT_USAGE. */
int cli_batch_arg(int argc, char *const argv[], const char **batch_id);
/* Reports the getopt_long() failure c ('?' or ':') for cmd; returns CLI_EXIT_USAGE. */
int cli_getopt_error(const char *cmd, int c, char *const argv[]);

/* Opens the client from AMCBATCH_URL (default CLI_DEFAULT_URL) and AMCBATCH_TOKEN. Returns
 * CLI_EXIT_OK, or the exit code after printing why (missing token: usage error). */
int cli_api_open(ApiClient *h);

/* Strict integer option value in [min, max]. */
MUST_CHECK bool cli_parse_long(const char *s, long min, long max, long *out);
/* Strict decimal option value in [min, max]. */
MUST_CHECK bool cli_parse_double(const char *s, double min, double max, double *out);

/* True for the batch states that never change again. */
bool cli_status_terminal(const char *status);
/* Exit code for a terminal batch status (completed 0, partial 10, failed 11, cancelled 12). */
int cli_exit_for_status(const char *status);

/* Width of the terminal on fd, 0 if fd is not a terminal. */
size_t cli_term_cols(int fd);
struct Table;
/* Prints t to stdout, first fitted to the terminal's width if stdout is one (piped output
 * keeps every column whole, for scripts). False if writing fails. */
MUST_CHECK bool cli_print_table(struct Table *t);

/* Writes v to stdout as indented JSON plus newline; CLI_EXIT_OK or CLI_EXIT_INTERNAL. */
int cli_print_json(const json_t *v);

/* submit's request as its options give it. Schedule create and edit fill one too (the batch
 * part of a schedule is a batch-execute body); they leave workflow, idem_key, watch, json_out
 * and interval unused. */
typedef struct SubmitArgs {
	const char *workflow;
	const char **lists, **params, **overrides; /* borrowed from argv; arrays owned */
	size_t nlists, nparams, noverrides;
	const char *params_json, *name, *description, *idem_key;
	const char *window, *lag_days; /* --window, --lag-days (borrowed from argv) */
	const char *on_failure;        /* --on-failure (borrowed from argv) */
	bool all, watch, json_out;
	double interval;
} SubmitArgs;

/* The checks of a's options that need no server (--all against --instances, --lag-days
 * without --window, the window's and the failure policy's form; need_instances: one of --all and --instances is
 * required). Reports a usage error for cmd and returns its exit code, else CLI_EXIT_OK. */
int cmd_submit_check(const SubmitArgs *a, const char *cmd, bool need_instances);
/* The batch-execute body of a: instance_ids (names and AMC ids resolved through GET
 * /instances when needed), parameters, instance_parameters, name, description, window,
 * on_failure.
 * On a mistake reports it (usage errors for cmd) and returns NULL with *rc set, else
 * *rc = CLI_EXIT_OK. Caller decrefs. (cmd_submit.c) */
json_t *cmd_submit_body(ApiClient *h, const SubmitArgs *a, const char *cmd, int *rc);

/* Subcommands: argv[0] is the subcommand name; each returns the process exit code. */
int cmd_submit_run(int argc, char *argv[]);
int cmd_status_run(int argc, char *argv[]);
int cmd_results_run(int argc, char *argv[]);
int cmd_list_run(int argc, char *argv[]);
int cmd_cancel_run(int argc, char *argv[]);
int cmd_retry_run(int argc, char *argv[]);
int cmd_misc_instances(int argc, char *argv[]);
int cmd_misc_workflows(int argc, char *argv[]);
int cmd_export_run(int argc, char *argv[]);
int cmd_schedule_run(int argc, char *argv[]);
int cmd_webhook_run(int argc, char *argv[]);
int cmd_fleet_run(int argc, char *argv[]);
int cmd_admin_run(int argc, char *argv[]);

/* Writes a batch's results as RFC 4180 CSV to out by paging the JSON results endpoint
 * (cmd_results.c; also export's fallback): limit < 0 means every row. Stops between
 * pages once *stop is set (NULL: never). *nrows gets the data rows written. Reports its
 * own errors; returns the exit code. */
int cmd_results_csv(ApiClient *h, const char *batch_id, long limit, long offset, FILE *out,
		    const volatile sig_atomic_t *stop, long long *nrows);
/* Makes every later results request of this process ask for the batch with its retries
 * (?include_retries=true): results --include-retries, export --include-retries. */
void cmd_results_include_retries(bool on);

/* Polls a batch until it is terminal, drawing progress (cmd_status.c; also used by submit).
 * Returns the batch outcome's exit code or an error exit code. */
int cmd_status_watch(ApiClient *h, const char *batch_id, double interval, bool json_out);

/* Reports a batch just created (submit, retry): with json_out its JSON (unless it is watched:
 * then only the final batch_status goes out, so stdout stays one JSON document), on a terminal
 * tty_line, else just its id for B=$(...); then, with watch, cmd_status_watch. Returns the
 * exit code. */
int cmd_report_new_batch(ApiClient *h, const json_t *batch, const char *tty_line, bool json_out,
			 bool watch, double interval);

#endif
