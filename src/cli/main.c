/* main.c - amcbatch, the command-line client of the amcbatch API: dispatches to one
 * subcommand and prints the top-level help. Each subcommand parses its own options. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef int (*CmdFn)(int argc, char *argv[]);

static const struct {
	const char *name;
	CmdFn fn;
	const char *summary;
} COMMANDS[] = {
	{ "instances", cmd_misc_instances, "list the AMC instances you can use" },
	{ "workflows", cmd_misc_workflows, "list workflows, or show one with its SQL" },
	{ "submit", cmd_submit_run, "run a workflow on many instances as one batch" },
	{ "status", cmd_status_run, "show a batch's progress (--watch: until it ends)" },
	{ "results", cmd_results_run, "show a batch's aggregated results (table, csv, json)" },
	{ "export", cmd_export_run, "write all of a batch's result rows to a CSV file" },
	{ "list", cmd_list_run, "list batches" },
	{ "cancel", cmd_cancel_run, "cancel a batch that is still running" },
	{ "retry", cmd_retry_run, "run the failed instances of a finished batch again" },
	{ "schedule", cmd_schedule_run, "run a workflow on a cron schedule (create, list, ...)" },
	{ "webhook", cmd_webhook_run, "add, list or delete completion webhooks; their deliveries" },
	{ "fleet", cmd_fleet_run, "show workers, queue, caps, parked jobs, errors (admins)" },
	{ "admin", cmd_admin_run, "manage users, tokens, accounts, instances, grants (admins)" },
};

static void usage(FILE *f)
{
	fputs("Usage: amcbatch <command> [options]\n"
	      "       amcbatch <command> --help\n"
	      "       amcbatch --version\n"
	      "\n"
	      "Run one Amazon Marketing Cloud workflow on many AMC instances at once.\n"
	      "\n"
	      "Commands:\n",
	      f);
	for (size_t i = 0; i < ARRAY_LEN(COMMANDS); i++)
		fprintf(f, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
	fputs("\n"
	      "Environment:\n"
	      "  AMCBATCH_URL    API base URL (default " CLI_DEFAULT_URL ")\n"
	      "  AMCBATCH_TOKEN  API token sent as 'Authorization: Bearer ...' (required)\n"
	      "\n"
	      "Exit status:\n"
	      "  0    success; status and --watch: the batch completed (status without\n"
	      "       --watch: also while it is still pending or running)\n"
	      "  1    internal error (out of memory, cannot write output or the export file)\n"
	      "  2    usage error (bad option, missing AMCBATCH_TOKEN, unknown instance)\n"
	      "  3    the API answered with an error\n"
	      "  4    the API server cannot be reached\n"
	      "  10   status / --watch: the batch ended partial (some instances failed)\n"
	      "  11   status / --watch: the batch ended failed\n"
	      "  12   status / --watch: the batch ended cancelled\n"
	      "  130  interrupted (Ctrl-C) while watching or exporting\n"
	      "\n"
	      "Errors are printed to stderr as 'amcbatch: <message> (<code>)'.\n"
	      "See also: man amcbatch.\n"
	      "\n"
	      "Example:\n"
	      "  B=$(amcbatch submit WORKFLOW_ID --all --param startDate=2024-01-01 \\\n"
	      "        --param endDate=2024-01-31 --name 'January')\n"
	      "  amcbatch status \"$B\" --watch && amcbatch export \"$B\" -o jan.csv\n",
	      f);
}

int main(int argc, char *argv[])
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (cmd == NULL) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		/* "amcbatch help submit" is "amcbatch submit --help" */
		if (strcmp(cmd, "help") == 0 && argc > 2) {
			for (size_t i = 0; i < ARRAY_LEN(COMMANDS); i++)
				if (strcmp(argv[2], COMMANDS[i].name) == 0) {
					char *hargv[] = { argv[2], (char *)"--help", NULL };

					return COMMANDS[i].fn(2, hargv);
				}
			return cli_usage_error(NULL, "unknown command '%s'", argv[2]);
		}
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
		printf("amcbatch %s\n", PACKAGE_VERSION);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < ARRAY_LEN(COMMANDS); i++)
		if (strcmp(cmd, COMMANDS[i].name) == 0)
			return COMMANDS[i].fn(argc - 1, argv + 1);
	return cli_usage_error(NULL, "unknown command '%s'", cmd);
}
