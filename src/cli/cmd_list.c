/* cmd_list.c - `amcbatch list`: the caller's batches, newest first as the API orders them,
 * filtered by status and workflow (GET /workflows/batch/list). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fmt.h"
#include "table.h"

static const char LIST_HELP[] =
	"Usage: amcbatch list [--status S] [--workflow ID] [--limit N] [--offset N] [--json]\n"
	"\n"
	"List batches (GET /workflows/batch/list).\n"
	"\n"
	"  -s, --status S      only batches in status S (pending, running, completed,\n"
	"                      partial, failed, cancelled)\n"
	"  -W, --workflow ID   only batches of workflow ID\n"
	"  -l, --limit N       at most N batches (server default 20)\n"
	"      --offset N      skip the first N batches\n"
	"      --json          print the API's JSON answer\n"
	"  -h, --help          this help\n"
	"\n"
	"On a terminal long names are cut to fit its width; piped output keeps them whole.\n"
	"Exit status: 0 ok, 2 usage, 3 API error, 4 server unreachable.\n";

static int print_list(const json_t *resp)
{
	static const char *const head[] = {
		"BATCH", "STATUS", "DONE", "WORKFLOW", "NAME", "CREATED"
	};
	const json_t *list = json_object_get(resp, "batch_executions"), *b;
	Table t;
	size_t i;
	bool ok;

	if (!table_init(&t, ARRAY_LEN(head), head))
		return CLI_EXIT_INTERNAL;
	table_align_right(&t, 2);
	/* on a narrow terminal the workflow and batch names give way; ids and times stay whole */
	table_flag(&t, 0, TABLE_FIXED);
	table_flag(&t, 1, TABLE_FIXED);
	table_flag(&t, 2, TABLE_FIXED);
	table_flag(&t, 5, TABLE_FIXED);
	json_array_foreach (list, i, b) {
		char done[48];
		const char *wf = fmt_str(json_object_get(b, "workflows"), "name",
					 fmt_str(b, "workflow_id", ""));
		const char *row[] = {
			fmt_str(b, "batch_id", "?"), fmt_str(b, "status", "?"),    done, wf,
			fmt_str(b, "name", ""),      fmt_str(b, "created_at", ""),
		};

		snprintf(done, sizeof(done), "%lld/%lld",
			 fmt_json_int(json_object_get(b, "completed_instances"), 0),
			 fmt_json_int(json_object_get(b, "total_instances"), 0));
		if (!table_add_row(&t, row)) {
			table_cleanup(&t);
			return CLI_EXIT_INTERNAL;
		}
	}
	ok = cli_print_table(&t);
	table_cleanup(&t);
	printf("%zu shown of %lld batch%s\n", json_array_size(list),
	       fmt_json_int(json_object_get(resp, "total"), (long long)json_array_size(list)),
	       fmt_json_int(json_object_get(resp, "total"), 0) == 1 ? "" : "es");
	return ok && !ferror(stdout) ? CLI_EXIT_OK : CLI_EXIT_INTERNAL;
}

int cmd_list_run(int argc, char *argv[])
{
	enum { OPT_OFFSET = 256, OPT_JSON };
	static const struct option opts[] = {
		{ "status", required_argument, NULL, 's' },
		{ "workflow", required_argument, NULL, 'W' },
		{ "limit", required_argument, NULL, 'l' },
		{ "offset", required_argument, NULL, OPT_OFFSET },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *status = NULL, *workflow = NULL, *limit = NULL, *offset = NULL;
	bool json_out = false;
	char *path = NULL;
	json_t *resp = NULL;
	long n;
	ApiClient h;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:W:l:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			status = optarg;
			break;
		case 'W':
			workflow = optarg;
			break;
		case 'l':
			if (!cli_parse_long(optarg, 1, 1000000, &n))
				return cli_usage_error(argv[0],
						       "--limit wants a positive number, got '%s'",
						       optarg);
			limit = optarg;
			break;
		case OPT_OFFSET:
			if (!cli_parse_long(optarg, 0, 1000000000L, &n))
				return cli_usage_error(
					argv[0], "--offset wants a number >= 0, got '%s'", optarg);
			offset = optarg;
			break;
		case OPT_JSON:
			json_out = true;
			break;
		case 'h':
			fputs(LIST_HELP, stdout);
			return CLI_EXIT_OK;
		default:
			return cli_getopt_error(argv[0], c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
	if ((rc = cli_api_open(&h)) != CLI_EXIT_OK)
		return rc;
	path = strdup("/workflows/batch/list");
	if (path == NULL ||
	    (workflow != NULL && !apiclient_add_query(&h, &path, "workflow_id", workflow)) ||
	    (status != NULL && !apiclient_add_query(&h, &path, "status", status)) ||
	    (limit != NULL && !apiclient_add_query(&h, &path, "limit", limit)) ||
	    (offset != NULL && !apiclient_add_query(&h, &path, "offset", offset))) {
		cli_error("internal", "out of memory");
		rc = CLI_EXIT_INTERNAL;
		goto out;
	}
	if (!apiclient_call(&h, "GET", path, NULL, &resp)) {
		apiclient_report(&h);
		rc = h.err;
		goto out;
	}
	if (!json_is_array(json_object_get(resp, "batch_executions"))) {
		cli_error("bad_response", "no \"batch_executions\" array in the answer");
		rc = CLI_EXIT_API;
		goto out;
	}
	rc = json_out ? cli_print_json(resp) : print_list(resp);
out:
	free(path);
	json_decref(resp);
	apiclient_cleanup(&h);
	return rc;
}
