/* cmd_retry.c - `amcbatch retry BATCH_ID`: re-runs the failed (and, when asked, the cancelled)
 * instances of a finished batch as a new batch with what they ran (POST
 * /workflows/batch/{id}/retry-failed); prints the new batch id, optionally watches it. */
#include <getopt.h>
#include <stdlib.h>

#include "cli.h"
#include "fmt.h"

static const char RETRY_HELP[] =
	"Usage: amcbatch retry BATCH_ID [options]\n"
	"\n"
	"Run the failed instances of a finished batch again, as a new batch with the same SQL,\n"
	"parameters and date window (POST /workflows/batch/{id}/retry-failed). Then\n"
	"'amcbatch results BATCH_ID --include-retries' reads the original with its retries.\n"
	"\n"
	"  -c, --include-cancelled   also the instances that were cancelled\n"
	"  -n, --name NAME           the new batch's name (default \"Retry of <name>\")\n"
	"  -w, --watch               then watch the new batch like 'amcbatch status --watch'\n"
	"      --interval SECONDS    poll interval for --watch (default 2)\n"
	"      --json                print the API's batch object instead of the id\n"
	"  -h, --help                this help\n"
	"\n"
	"Exit status: 0 ok (with --watch: completed), 10 partial, 11 failed, 12 cancelled,\n"
	"2 usage, 3 API error (unknown or unfinished batch, nothing to retry), 4 server\n"
	"unreachable.\n";

int cmd_retry_run(int argc, char *argv[])
{
	enum { OPT_INTERVAL = 256, OPT_JSON };
	static const struct option opts[] = {
		{ "include-cancelled", no_argument, NULL, 'c' },
		{ "name", required_argument, NULL, 'n' },
		{ "watch", no_argument, NULL, 'w' },
		{ "interval", required_argument, NULL, OPT_INTERVAL },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *batch_id, *name = NULL;
	bool cancelled = false, watch = false, json_out = false;
	double interval = 2.0;
	char *esc = NULL, *path = NULL, line[256];
	json_t *body = NULL, *resp = NULL, *batch;
	long long n;
	ApiClient h;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":cn:wh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cancelled = true;
			break;
		case 'n':
			name = optarg;
			break;
		case 'w':
			watch = true;
			break;
		case OPT_INTERVAL:
			if (!cli_parse_double(optarg, 0.1, 3600, &interval))
				return cli_usage_error(
					argv[0],
					"--interval wants seconds between 0.1 and 3600, got '%s'",
					optarg);
			break;
		case OPT_JSON:
			json_out = true;
			break;
		case 'h':
			fputs(RETRY_HELP, stdout);
			return CLI_EXIT_OK;
		default:
			return cli_getopt_error(argv[0], c, argv);
		}
	}
	if ((rc = cli_batch_arg(argc, argv, &batch_id)) != CLI_EXIT_OK)
		return rc;
	body = json_pack("{s:b}", "include_cancelled", cancelled);
	if (body == NULL ||
	    (name != NULL && json_object_set_new(body, "name", json_string(name)) != 0)) {
		json_decref(body);
		cli_error("internal", "out of memory or a name that is not UTF-8");
		return CLI_EXIT_INTERNAL;
	}
	if ((rc = cli_api_open(&h)) != CLI_EXIT_OK) {
		json_decref(body);
		return rc;
	}
	esc = apiclient_escape(&h, batch_id);
	if (esc == NULL || asprintf(&path, "/workflows/batch/%s/retry-failed", esc) < 0) {
		path = NULL;
		cli_error("internal", "out of memory");
		rc = CLI_EXIT_INTERNAL;
		goto out;
	}
	if (!apiclient_call(&h, "POST", path, body, &resp)) {
		apiclient_report(&h);
		rc = h.err;
		goto out;
	}
	batch = json_object_get(resp, "batch");
	n = fmt_json_int(json_object_get(batch, "total_instances"), 0);
	snprintf(line, sizeof(line), "Retrying %s as %s: %lld instance%s", batch_id,
		 fmt_str(batch, "batch_id", "?"), n, n == 1 ? "" : "s");
	rc = cmd_report_new_batch(&h, batch, line, json_out, watch, interval);
out:
	free(path);
	free(esc);
	json_decref(body);
	json_decref(resp);
	apiclient_cleanup(&h);
	return rc;
}
