/* cmd_misc.c - the lookup commands: `amcbatch instances` (what submit --instances accepts)
 * and `amcbatch workflows [ID]` (what submit runs). Read-only GETs. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "fmt.h"
#include "table.h"

static const char INSTANCES_HELP[] =
	"Usage: amcbatch instances [--search TEXT] [--json]\n"
	"\n"
	"List the AMC instances your token may use (GET /instances).\n"
	"\n"
	"  -s, --search TEXT  only instances whose name, AMC instance id, UUID, region,\n"
	"                     account or brand contains TEXT (ignoring case)\n"
	"      --json         print the instances as a JSON array\n"
	"  -h, --help         this help\n"
	"\n"
	"On a terminal long cells are cut to fit its width (and the UUID column left out if\n"
	"needed); piped output keeps them whole.\n"
	"Exit status: 0 ok, 2 usage, 3 API error, 4 server unreachable.\n";

static const char WORKFLOWS_HELP[] =
	"Usage: amcbatch workflows [WORKFLOW_ID] [--json]\n"
	"\n"
	"Without an id: list workflows (GET /workflows).\n"
	"With an id: show that workflow, its parameters and its SQL (GET /workflows/{id}).\n"
	"\n"
	"      --json  print the API's JSON\n"
	"  -h, --help  this help\n"
	"\n"
	"Exit status: 0 ok, 2 usage, 3 API error (e.g. unknown workflow), 4 server unreachable.\n";

static bool contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; hay != NULL && *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return false;
}

static bool instance_matches(const json_t *inst, const char *q)
{
	static const char *const keys[] = { "instance_name", "instance_id", "id", "region",
					    "account_name" };
	const json_t *b;
	size_t i;

	for (i = 0; i < ARRAY_LEN(keys); i++)
		if (contains(fmt_str(inst, keys[i], NULL), q))
			return true;
	json_array_foreach (json_object_get(inst, "brands"), i, b)
		if (contains(json_string_value(b), q))
			return true;
	return false;
}

/* "brand1, brand2" for the table; caller frees. */
static char *join_brands(const json_t *brands)
{
	size_t i, len = 1;
	const json_t *b;
	char *s;

	json_array_foreach (brands, i, b)
		len += json_string_length(b) + 2;
	s = calloc(1, len);
	if (s == NULL)
		return NULL;
	json_array_foreach (brands, i, b) {
		if (!json_is_string(b))
			continue;
		if (*s)
			strcat(s, ", ");
		strcat(s, json_string_value(b));
	}
	return s;
}

static int print_instances(const json_t *list)
{
	static const char *const head[] = { "NAME",    "INSTANCE ID", "REGION", "ACCOUNT",
					    "SANDBOX", "BRANDS",      "ID" };
	Table t;
	const json_t *inst;
	size_t i;
	int rc = CLI_EXIT_OK;

	if (!table_init(&t, ARRAY_LEN(head), head))
		goto oom;
	/* submit takes the name or the AMC instance id, so the UUID is the first to go */
	table_flag(&t, 1, TABLE_FIXED);
	table_flag(&t, 4, TABLE_FIXED);
	table_flag(&t, 6, TABLE_FIXED | TABLE_OPTIONAL);
	json_array_foreach (list, i, inst) {
		char *brands = join_brands(json_object_get(inst, "brands"));
		const char *row[] = {
			fmt_str(inst, "instance_name", ""),
			fmt_str(inst, "instance_id", ""),
			fmt_str(inst, "region", ""),
			fmt_str(inst, "account_name", ""),
			json_is_true(json_object_get(inst, "is_sandbox")) ? "yes" : "no",
			brands,
			fmt_str(inst, "id", ""),
		};
		bool ok = brands != NULL && table_add_row(&t, row);

		free(brands);
		if (!ok) {
			table_cleanup(&t);
			goto oom;
		}
	}
	if (!cli_print_table(&t))
		rc = CLI_EXIT_INTERNAL;
	table_cleanup(&t);
	printf("%zu instance%s\n", json_array_size(list), json_array_size(list) == 1 ? "" : "s");
	return rc;
oom:
	cli_error("internal", "out of memory");
	return CLI_EXIT_INTERNAL;
}

int cmd_misc_instances(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "search", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *search = NULL;
	bool json_out = false;
	json_t *resp = NULL, *list, *shown = NULL, *inst;
	ApiClient h;
	size_t i;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			search = optarg;
			break;
		case 'j':
			json_out = true;
			break;
		case 'h':
			fputs(INSTANCES_HELP, stdout);
			return CLI_EXIT_OK;
		default:
			return cli_getopt_error(argv[0], c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
	if ((rc = cli_api_open(&h)) != CLI_EXIT_OK)
		return rc;
	if (!apiclient_call(&h, "GET", "/instances", NULL, &resp)) {
		apiclient_report(&h);
		rc = h.err;
		goto out;
	}
	list = json_object_get(resp, "instances");
	if (!json_is_array(list)) {
		cli_error("bad_response", "GET /instances: no \"instances\" array in the answer");
		rc = CLI_EXIT_API;
		goto out;
	}
	shown = json_array();
	if (shown == NULL) {
		rc = CLI_EXIT_INTERNAL;
		goto out;
	}
	json_array_foreach (list, i, inst)
		if ((search == NULL || instance_matches(inst, search)) &&
		    json_array_append(shown, inst) != 0) {
			rc = CLI_EXIT_INTERNAL;
			goto out;
		}
	rc = json_out ? cli_print_json(shown) : print_instances(shown);
out:
	json_decref(shown);
	json_decref(resp);
	apiclient_cleanup(&h);
	return rc;
}

static int print_workflow_list(const json_t *list)
{
	static const char *const head[] = { "ID", "NAME", "CREATED", "DESCRIPTION" };
	Table t;
	const json_t *w;
	size_t i;
	int rc = CLI_EXIT_OK;

	if (!table_init(&t, ARRAY_LEN(head), head))
		goto oom;
	table_flag(&t, 0, TABLE_FIXED);
	table_flag(&t, 2, TABLE_FIXED);
	table_flag(&t, 3, TABLE_OPTIONAL | TABLE_HIDE_EMPTY);
	json_array_foreach (list, i, w) {
		const char *row[] = {
			fmt_str(w, "id", ""),
			fmt_str(w, "name", ""),
			fmt_str(w, "created_at", ""),
			fmt_str(w, "description", ""),
		};

		if (!table_add_row(&t, row)) {
			table_cleanup(&t);
			goto oom;
		}
	}
	if (!cli_print_table(&t))
		rc = CLI_EXIT_INTERNAL;
	table_cleanup(&t);
	printf("%zu workflow%s\n", json_array_size(list), json_array_size(list) == 1 ? "" : "s");
	return rc;
oom:
	cli_error("internal", "out of memory");
	return CLI_EXIT_INTERNAL;
}

static int print_workflow(const json_t *w)
{
	char *params =
		json_dumps(json_object_get(w, "parameters"), JSON_INDENT(2) | JSON_ENCODE_ANY);

	printf("ID           %s\n", fmt_str(w, "id", "-"));
	printf("Name         %s\n", fmt_str(w, "name", "-"));
	printf("Description  %s\n", fmt_str(w, "description", "-"));
	printf("Created      %s\n", fmt_str(w, "created_at", "-"));
	printf("Parameters   %s\n", params != NULL ? params : "{}");
	printf("SQL:\n%s\n", fmt_str(w, "sql_query", ""));
	free(params);
	return ferror(stdout) ? CLI_EXIT_INTERNAL : CLI_EXIT_OK;
}

int cmd_misc_workflows(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json_out = false;
	const char *id = NULL;
	char *esc = NULL, *path = NULL;
	json_t *resp = NULL, *v;
	ApiClient h;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json_out = true;
			break;
		case 'h':
			fputs(WORKFLOWS_HELP, stdout);
			return CLI_EXIT_OK;
		default:
			return cli_getopt_error(argv[0], c, argv);
		}
	}
	if (optind < argc)
		id = argv[optind++];
	if (optind < argc)
		return cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
	if ((rc = cli_api_open(&h)) != CLI_EXIT_OK)
		return rc;
	if (id != NULL) {
		esc = apiclient_escape(&h, id);
		if (esc == NULL || asprintf(&path, "/workflows/%s", esc) < 0) {
			path = NULL;
			rc = CLI_EXIT_INTERNAL;
			goto out;
		}
	}
	if (!apiclient_call(&h, "GET", id != NULL ? path : "/workflows", NULL, &resp)) {
		apiclient_report(&h);
		rc = h.err;
		goto out;
	}
	v = json_object_get(resp, id != NULL ? "workflow" : "workflows");
	if (id != NULL && v == NULL)
		v = resp; /* tolerate the workflow's fields at the top level */
	if (id == NULL && !json_is_array(v)) {
		cli_error("bad_response", "GET /workflows: no \"workflows\" array in the answer");
		rc = CLI_EXIT_API;
		goto out;
	}
	if (json_out)
		rc = cli_print_json(v);
	else
		rc = id != NULL ? print_workflow(v) : print_workflow_list(v);
out:
	free(path);
	free(esc);
	json_decref(resp);
	apiclient_cleanup(&h);
	return rc;
}
