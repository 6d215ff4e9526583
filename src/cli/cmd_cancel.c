/* cmd_cancel.c - `amcbatch cancel BATCH_ID`: asks the API to cancel a batch; executions that
 * already finished keep their results (POST /workflows/batch/{id}/cancel). */
#include <getopt.h>
#include <stdlib.h>

#include "cli.h"
#include "fmt.h"

static const char CANCEL_HELP[] =
	"Usage: amcbatch cancel BATCH_ID\n"
	"\n"
	"Cancel a batch: pending instances never start, running AMC executions are cancelled,\n"
	"finished ones keep their results (POST /workflows/batch/{id}/cancel).\n"
	"\n"
	"  -h, --help  this help\n"
	"\n"
	"Exit status: 0 cancelled, 2 usage, 3 API error (e.g. unknown or finished batch),\n"
	"4 server unreachable.\n";

int cmd_cancel_run(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *batch_id;
	char *esc = NULL, *path = NULL;
	json_t *resp = NULL;
	ApiClient h;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(CANCEL_HELP, stdout);
			return CLI_EXIT_OK;
		default:
			return cli_getopt_error(argv[0], c, argv);
		}
	}
	if ((rc = cli_batch_arg(argc, argv, &batch_id)) != CLI_EXIT_OK)
		return rc;
	if ((rc = cli_api_open(&h)) != CLI_EXIT_OK)
		return rc;
	esc = apiclient_escape(&h, batch_id);
	if (esc == NULL || asprintf(&path, "/workflows/batch/%s/cancel", esc) < 0) {
		path = NULL;
		cli_error("internal", "out of memory");
		rc = CLI_EXIT_INTERNAL;
		goto out;
	}
	if (!apiclient_call(&h, "POST", path, NULL, &resp)) {
		apiclient_report(&h);
		rc = h.err;
		goto out;
	}
	printf("%s: %s\n", batch_id, fmt_str(resp, "message", "cancelled"));
out:
	free(path);
	free(esc);
	json_decref(resp);
	apiclient_cleanup(&h);
	return rc;
}
