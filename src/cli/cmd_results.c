/* cmd_results.c - `amcbatch results BATCH_ID`: the aggregated rows of a batch as a table,
 * the raw JSON, or RFC 4180 CSV (paging through every row unless --limit is given). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "csvw.h"
#include "fmt.h"
#include "strbuf.h"
#include "table.h"

/* Rows per request when CSV export pages through everything. */
#define RESULTS_PAGE 1000

enum ResultsFormat { FORMAT_TABLE, FORMAT_JSON, FORMAT_CSV };

static const char RESULTS_HELP[] =
	"Usage: amcbatch results BATCH_ID [--format table|json|csv] [--limit N] [--offset N]\n"
	"                        [--include-retries]\n"
	"\n"
	"Show a batch's results (GET /workflows/batch/{id}/results): per-instance summary and\n"
	"the rows of every instance, aggregated (columns _instance_name, _instance_id, ...).\n"
	"\n"
	"  -f, --format FORMAT  table (default): instance summary, then the rows aligned,\n"
	"                       cells cut at 40 characters\n"
	"                       json: the batch_results object as the API returns it\n"
	"                       csv: RFC 4180 with a header line; without --limit every row\n"
	"                       is fetched, page by page\n"
	"  -l, --limit N        at most N rows (default: the server's page size; csv: all)\n"
	"      --offset N       skip the first N rows\n"
	"  -r, --include-retries  the batch with its retries ('amcbatch retry'): per instance\n"
	"                       the latest successful result\n"
	"  -h, --help           this help\n"
	"\n"
	"To write all rows to a file, 'amcbatch export BATCH_ID -o FILE.csv' is faster.\n"
	"\n"
	"Exit status: 0 ok, 1 cannot write output, 2 usage, 3 API error,\n"
	"4 server unreachable.\n";

/* --include-retries: every page asks for the batch with its retries (one command per
 * process, so the option lives here rather than in every caller's arguments) */
static bool include_retries;

void cmd_results_include_retries(bool on)
{
	include_retries = on;
}

/* GET one page; *resp is the caller's, *br borrowed from it. */
static bool fetch(ApiClient *h, const char *batch_id, long limit, long offset, json_t **resp,
		  json_t **br)
{
	char tail[128];

	snprintf(tail, sizeof(tail), "/results?include_retries=%s",
		 include_retries ? "true" : "false");
	if (limit >= 0)
		snprintf(tail + strlen(tail), sizeof(tail) - strlen(tail), "&limit=%ld", limit);
	if (offset > 0)
		snprintf(tail + strlen(tail), sizeof(tail) - strlen(tail), "&offset=%ld", offset);
	return apiclient_get_batch(h, batch_id, tail, "batch_results", resp, br);
}

/* Column names of aggregated_data as a new array of strings: from "columns", else the keys
 * of the first row. Caller decrefs. */
static json_t *column_names(const json_t *agg)
{
	json_t *names = json_array(), *c;
	const json_t *cols = json_object_get(agg, "columns");
	const char *key;
	size_t i;

	if (names == NULL)
		return NULL;
	if (json_array_size(cols) > 0) {
		json_array_foreach (cols, i, c) {
			const char *n =
				json_is_string(c) ? json_string_value(c) : fmt_str(c, "name", NULL);

			if (n != NULL && json_array_append_new(names, json_string(n)) != 0)
				goto fail;
		}
	} else {
		json_object_foreach (json_array_get(json_object_get(agg, "rows"), 0), key, c)
			if (json_array_append_new(names, json_string(key)) != 0)
				goto fail;
	}
	return names;
fail:
	json_decref(names);
	return NULL;
}

/* Writes one CSV record (core's csvw.c, CRLF ends; a NULL field is a null) through line, a
 * buffer the caller reuses for every record. */
static bool write_row(FILE *out, StrBuf *line, const char *const *fields, size_t n)
{
	strbuf_clear(line);
	csvw_row(line, fields, n, CSVW_CRLF);
	return !line->oom && fwrite(line->data, 1, line->len, out) == line->len;
}

/* Writes each row of rows as CSV in the order of names: null (or no such key) an empty
 * field, "" a quoted empty string, as the server's CSV export writes them. */
static bool write_csv_rows(FILE *out, StrBuf *line, const json_t *names, const json_t *rows)
{
	size_t n = json_array_size(names), i;
	char **cells = calloc(n ? n : 1, sizeof(*cells));
	const json_t *row;
	bool ok = cells != NULL;

	json_array_foreach (rows, i, row) {
		if (!ok)
			break;
		for (size_t c = 0; c < n; c++) {
			const json_t *v =
				json_object_get(row, json_string_value(json_array_get(names, c)));

			if (v != NULL && !json_is_null(v)) {
				cells[c] = fmt_json_text(v);
				ok = ok && cells[c] != NULL;
			}
		}
		ok = ok && write_row(out, line, (const char *const *)cells, n);
		for (size_t c = 0; c < n; c++) {
			free(cells[c]);
			cells[c] = NULL;
		}
	}
	free(cells);
	return ok;
}

int cmd_results_csv(ApiClient *h, const char *batch_id, long limit, long offset, FILE *out,
		    const volatile sig_atomic_t *stop, long long *nrows)
{
	json_t *resp = NULL, *br, *names = NULL;
	StrBuf line = STRBUF_INIT;
	bool all = limit < 0;
	int rc = CLI_EXIT_OK;

	*nrows = 0;
	for (;;) {
		const json_t *agg, *rows;
		size_t got;
		long long total;

		if (stop != NULL && *stop) {
			rc = CLI_EXIT_INTERRUPTED;
			break;
		}
		if (!fetch(h, batch_id, all ? RESULTS_PAGE : limit, offset, &resp, &br)) {
			apiclient_report(h);
			rc = h->err;
			break;
		}
		agg = json_object_get(br, "aggregated_data");
		rows = json_object_get(agg, "rows");
		if (names == NULL) {
			size_t n;
			const char **head;

			names = column_names(agg);
			n = json_array_size(names);
			head = calloc(n ? n : 1, sizeof(*head));
			if (names == NULL || head == NULL) {
				free(head);
				cli_error("internal", "out of memory");
				rc = CLI_EXIT_INTERNAL;
				break;
			}
			for (size_t c = 0; c < n; c++)
				head[c] = json_string_value(json_array_get(names, c));
			if (n > 0 && !write_row(out, &line, head, n))
				rc = CLI_EXIT_INTERNAL;
			free(head);
		}
		if (rc == CLI_EXIT_OK && !write_csv_rows(out, &line, names, rows))
			rc = CLI_EXIT_INTERNAL;
		if (rc != CLI_EXIT_OK) {
			cli_error("internal", "cannot write CSV output");
			break;
		}
		got = json_array_size(rows);
		*nrows += (long long)got;
		total = fmt_json_int(json_object_get(agg, "total_rows"), -1);
		offset += (long)got;
		json_decref(resp);
		resp = NULL;
		/* stop on a short or empty page, or once total_rows is reached */
		if (!all || got < RESULTS_PAGE || got == 0 || (total >= 0 && offset >= total))
			break;
	}
	strbuf_cleanup(&line);
	json_decref(resp);
	json_decref(names);
	return rc;
}

static bool print_instances(const json_t *list)
{
	static const char *const head[] = { "INSTANCE", "REGION",    "STATUS", "ROWS",
					    "DURATION", "COMPLETED", "ERROR" };
	const json_t *r;
	size_t i;
	Table t;
	bool ok;

	if (!table_init(&t, ARRAY_LEN(head), head))
		return false;
	t.maxw = CLI_ERROR_CELL_MAX;
	table_align_right(&t, 3);
	table_align_right(&t, 4);
	for (size_t c = 2; c <= 5; c++)
		table_flag(&t, c, TABLE_FIXED);
	table_flag(&t, 1, TABLE_OPTIONAL);
	table_flag(&t, 6, TABLE_HIDE_EMPTY); /* no errors: no column */
	json_array_foreach (list, i, r) {
		char dur[32];
		char *rows = fmt_json_text(json_object_get(r, "row_count"));
		char *err = fmt_json_text(json_object_get(r, "error"));
		const char *row[] = {
			fmt_str(r, "instance_name", fmt_str(r, "instance_id", "?")),
			fmt_str(r, "instance_region", ""),
			fmt_str(r, "status", ""),
			rows,
			dur,
			fmt_str(r, "completed_at", ""),
			err,
		};

		fmt_duration(json_object_get(r, "duration_seconds"), dur, sizeof(dur));
		ok = rows != NULL && err != NULL && table_add_row(&t, row);
		free(rows);
		free(err);
		if (!ok) {
			table_cleanup(&t);
			return false;
		}
	}
	ok = cli_print_table(&t);
	table_cleanup(&t);
	return ok;
}

static bool print_rows(const json_t *agg)
{
	json_t *names = column_names(agg);
	const json_t *cols = json_object_get(agg, "columns"), *row;
	size_t n = json_array_size(names), i;
	const char **cells = calloc(n ? n : 1, sizeof(*cells));
	char **owned = calloc(n ? n : 1, sizeof(*owned));
	Table t;
	bool ok = names != NULL && cells != NULL && owned != NULL;

	if (ok && n == 0) {
		printf("(no rows)\n");
		goto out;
	}
	for (size_t c = 0; ok && c < n; c++)
		cells[c] = json_string_value(json_array_get(names, c));
	if (!ok || !table_init(&t, n, cells)) {
		ok = false;
		goto out;
	}
	for (size_t c = 0; c < n; c++)
		if (strcmp(fmt_str(json_array_get(cols, c), "type", ""), "number") == 0)
			table_align_right(&t, c);
	/* _instance_name says which instance; the UUID goes first on a narrow terminal */
	if (n > 1 && strcmp(cells[1], "_instance_id") == 0)
		table_flag(&t, 1, TABLE_FIXED | TABLE_OPTIONAL);
	json_array_foreach (json_object_get(agg, "rows"), i, row) {
		for (size_t c = 0; c < n; c++) {
			owned[c] = fmt_json_text(
				json_object_get(row, json_string_value(json_array_get(names, c))));
			cells[c] = owned[c];
			ok = ok && owned[c] != NULL;
		}
		ok = ok && table_add_row(&t, cells);
		for (size_t c = 0; c < n; c++) {
			free(owned[c]);
			owned[c] = NULL;
		}
		if (!ok)
			break;
	}
	ok = ok && cli_print_table(&t);
	table_cleanup(&t);
out:
	free(owned);
	free(cells);
	json_decref(names);
	return ok;
}

static int results_table(const json_t *br, long offset)
{
	const json_t *agg = json_object_get(br, "aggregated_data");
	size_t shown = json_array_size(json_object_get(agg, "rows"));
	long long total = fmt_json_int(json_object_get(agg, "total_rows"), -1);

	printf("Batch %s  status %s  instances %lld (completed %lld, failed %lld)\n\n",
	       fmt_str(br, "batch_id", "?"), fmt_str(br, "status", "?"),
	       fmt_json_int(json_object_get(br, "total_instances"), 0),
	       fmt_json_int(json_object_get(br, "completed_instances"), 0),
	       fmt_json_int(json_object_get(br, "failed_instances"), 0));
	if (!print_instances(json_object_get(br, "instance_results")))
		goto fail;
	putchar('\n');
	if (!print_rows(agg))
		goto fail;
	if (shown > 0)
		printf("\nrows %ld-%ld of %lld", offset + 1, offset + (long)shown,
		       total >= 0 ? total : (long long)shown);
	else
		printf("\n0 rows shown of %lld", total >= 0 ? total : 0);
	if (total >= 0 && offset + (long long)shown < total)
		printf(" (more: --offset %ld, or --format csv for all)", offset + (long)shown);
	putchar('\n');
	return ferror(stdout) ? CLI_EXIT_INTERNAL : CLI_EXIT_OK;
fail:
	cli_error("internal", "out of memory or cannot write output");
	return CLI_EXIT_INTERNAL;
}

int cmd_results_run(int argc, char *argv[])
{
	enum { OPT_OFFSET = 256 };
	static const struct option opts[] = {
		{ "include-retries", no_argument, NULL, 'r' },
		{ "format", required_argument, NULL, 'f' },
		{ "limit", required_argument, NULL, 'l' },
		{ "offset", required_argument, NULL, OPT_OFFSET },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum ResultsFormat format = FORMAT_TABLE;
	long limit = -1, offset = 0;
	const char *batch_id;
	json_t *resp = NULL, *br;
	ApiClient h;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":f:l:rh", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			include_retries = true;
			break;
		case 'f':
			if (strcmp(optarg, "table") == 0)
				format = FORMAT_TABLE;
			else if (strcmp(optarg, "json") == 0)
				format = FORMAT_JSON;
			else if (strcmp(optarg, "csv") == 0)
				format = FORMAT_CSV;
			else
				return cli_usage_error(argv[0],
						       "--format is table, json or csv, not '%s'",
						       optarg);
			break;
		case 'l':
			if (!cli_parse_long(optarg, 1, 1000000000L, &limit))
				return cli_usage_error(argv[0],
						       "--limit wants a positive number, got '%s'",
						       optarg);
			break;
		case OPT_OFFSET:
			if (!cli_parse_long(optarg, 0, 1000000000L, &offset))
				return cli_usage_error(
					argv[0], "--offset wants a number >= 0, got '%s'", optarg);
			break;
		case 'h':
			fputs(RESULTS_HELP, stdout);
			return CLI_EXIT_OK;
		default:
			return cli_getopt_error(argv[0], c, argv);
		}
	}
	if ((rc = cli_batch_arg(argc, argv, &batch_id)) != CLI_EXIT_OK)
		return rc;
	if ((rc = cli_api_open(&h)) != CLI_EXIT_OK)
		return rc;
	if (format == FORMAT_CSV) {
		long long n;

		rc = cmd_results_csv(&h, batch_id, limit, offset, stdout, NULL, &n);
	} else if (!fetch(&h, batch_id, limit, offset, &resp, &br)) {
		apiclient_report(&h);
		rc = h.err;
	} else {
		rc = format == FORMAT_JSON ? cli_print_json(br) : results_table(br, offset);
	}
	json_decref(resp);
	apiclient_cleanup(&h);
	return rc;
}
