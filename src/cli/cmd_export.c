/* cmd_export.c - `amcbatch export BATCH_ID -o FILE.csv`: every result row of a batch into a
 * CSV file, streamed from GET .../results.csv when the server offers it, else rebuilt from
 * the paged JSON results. Written to a temporary file renamed into place at the end, so
 * FILE is either the old one or complete, never half-written. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "csv.h"

/* --include-retries (one command per process) */
static bool include_retries;

static const char EXPORT_HELP[] =
	"Usage: amcbatch export BATCH_ID -o FILE.csv [--include-retries] [--json-pages]\n"
	"\n"
	"Write every result row of a batch to FILE.csv: RFC 4180 (CRLF line ends, fields\n"
	"with commas, quotes or line breaks quoted), header _instance_name,_instance_id,\n"
	"then the query's columns. Streams GET /workflows/batch/{id}/results.csv; a server\n"
	"without that endpoint is read page by page through GET .../results instead.\n"
	"The rows go to a temporary file next to FILE that replaces FILE only once it is\n"
	"complete. Prints the number of rows written.\n"
	"\n"
	"  -o, --output FILE  the CSV file to write ('-': standard output, no temporary file)\n"
	"  -r, --include-retries  the batch with its retries ('amcbatch retry'): per instance\n"
	"                     the latest successful result\n"
	"      --json-pages   page through the JSON results even if the server streams CSV\n"
	"  -h, --help         this help\n"
	"\n"
	"Exit status: 0 ok, 1 cannot write FILE, 2 usage, 3 API error (e.g. unknown batch),\n"
	"4 server unreachable, 130 interrupted (FILE left untouched).\n";

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* The stream's destination while the server sends CSV. */
typedef struct Sink {
	FILE *f;
	CsvCounter count;
	bool write_failed;
} Sink;

static bool sink_write(const char *data, size_t len, void *ctx)
{
	Sink *s = ctx;

	if (interrupted)
		return false;
	if (fwrite(data, 1, len, s->f) != len) {
		s->write_failed = true;
		return false;
	}
	csv_count_feed(&s->count, data, len);
	return true;
}

/* Empties the file for a repeated request. Standard output cannot be taken back. */
static bool sink_rewind(void *ctx)
{
	Sink *s = ctx;

	if (fflush(s->f) != 0 || ftruncate(fileno(s->f), 0) != 0)
		return false;
	rewind(s->f);
	memset(&s->count, 0, sizeof(s->count));
	return true;
}

/* Writes the batch's CSV to f; *rows gets the data rows. Returns the exit code. */
static int export_to(ApiClient *h, const char *batch_id, bool json_pages, FILE *f, bool can_rewind,
		     long long *rows, bool *streamed)
{
	Sink s = { .f = f };
	char *esc = apiclient_escape(h, batch_id), *path = NULL;
	enum ApiStream st = API_STREAM_NO_ROUTE;

	*streamed = false;
	if (esc == NULL || asprintf(&path, "/workflows/batch/%s/results.csv%s", esc,
				    include_retries ? "?include_retries=true" : "") < 0) {
		free(esc);
		cli_error("internal", "out of memory");
		return CLI_EXIT_INTERNAL;
	}
	if (!json_pages)
		st = apiclient_get_stream(h, path, "text/csv", sink_write,
					  can_rewind ? sink_rewind : NULL, &s);
	free(path);
	free(esc);
	if (st == API_STREAM_FAILED) {
		if (interrupted)
			return CLI_EXIT_INTERRUPTED;
		if (s.write_failed) {
			cli_error("write", "cannot write the CSV: %s", strerror(errno));
			return CLI_EXIT_INTERNAL;
		}
		apiclient_report(h);
		return h->err;
	}
	if (st == API_STREAM_DONE) {
		unsigned long long n = csv_count_records(&s.count);

		*streamed = true;
		*rows = n > 0 ? (long long)n - 1 : 0; /* the header is no row */
		return CLI_EXIT_OK;
	}
	/* no CSV endpoint on this server: nothing was written, build the CSV ourselves */
	return cmd_results_csv(h, batch_id, -1, 0, f, &interrupted, rows);
}

/* Exports into a temporary file in FILE's directory and renames it onto FILE. */
static int export_file(ApiClient *h, const char *batch_id, const char *file, bool json_pages,
		       long long *rows, bool *streamed)
{
	char *tmp = NULL;
	FILE *f = NULL;
	mode_t mask;
	int fd, rc;

	if (asprintf(&tmp, "%s.XXXXXX", file) < 0) {
		cli_error("internal", "out of memory");
		return CLI_EXIT_INTERNAL;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		cli_error("write", "cannot create a file next to %s: %s", file, strerror(errno));
		free(tmp);
		return CLI_EXIT_INTERNAL;
	}
	/* mkstemp makes it 0600; give FILE the mode a plain create would have */
	mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0666 & ~mask) != 0 || (f = fdopen(fd, "w")) == NULL) {
		cli_error("write", "cannot open %s: %s", tmp, strerror(errno));
		close(fd);
		rc = CLI_EXIT_INTERNAL;
		goto fail;
	}
	rc = export_to(h, batch_id, json_pages, f, true, rows, streamed);
	if (rc != CLI_EXIT_OK)
		goto fail;
	if (fflush(f) != 0 || fsync(fileno(f)) != 0 || ferror(f)) {
		cli_error("write", "cannot write %s: %s", tmp, strerror(errno));
		rc = CLI_EXIT_INTERNAL;
		goto fail;
	}
	if (fclose(f) != 0) {
		f = NULL;
		cli_error("write", "cannot write %s: %s", tmp, strerror(errno));
		rc = CLI_EXIT_INTERNAL;
		goto fail;
	}
	f = NULL;
	if (rename(tmp, file) != 0) {
		cli_error("write", "cannot rename %s to %s: %s", tmp, file, strerror(errno));
		rc = CLI_EXIT_INTERNAL;
		goto fail;
	}
	free(tmp);
	return CLI_EXIT_OK;
fail:
	if (f != NULL)
		fclose(f);
	unlink(tmp);
	free(tmp);
	return rc;
}

int cmd_export_run(int argc, char *argv[])
{
	enum { OPT_JSON_PAGES = 256 };
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "include-retries", no_argument, NULL, 'r' },
		{ "json-pages", no_argument, NULL, OPT_JSON_PAGES },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *batch_id, *file = NULL;
	bool json_pages = false, streamed = false, to_stdout;
	struct sigaction sa, old;
	long long rows = 0;
	ApiClient h;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:rh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			file = optarg;
			break;
		case 'r':
			include_retries = true;
			cmd_results_include_retries(true);
			break;
		case OPT_JSON_PAGES:
			json_pages = true;
			break;
		case 'h':
			fputs(EXPORT_HELP, stdout);
			return CLI_EXIT_OK;
		default:
			return cli_getopt_error(argv[0], c, argv);
		}
	}
	if ((rc = cli_batch_arg(argc, argv, &batch_id)) != CLI_EXIT_OK)
		return rc;
	if (file == NULL || !*file)
		return cli_usage_error(argv[0],
				       "say where to write: -o FILE.csv (or -o - for stdout)");
	to_stdout = strcmp(file, "-") == 0;
	if ((rc = cli_api_open(&h)) != CLI_EXIT_OK)
		return rc;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old); /* Ctrl-C stops cleanly: the temporary file is removed */
	if (to_stdout) {
		rc = export_to(&h, batch_id, json_pages, stdout, false, &rows, &streamed);
		if (rc == CLI_EXIT_OK && fflush(stdout) != 0) {
			cli_error("write", "cannot write standard output: %s", strerror(errno));
			rc = CLI_EXIT_INTERNAL;
		}
	} else {
		rc = export_file(&h, batch_id, file, json_pages, &rows, &streamed);
	}
	if (rc == CLI_EXIT_INTERRUPTED)
		cli_error("interrupted", "export stopped%s",
			  to_stdout ? "" : "; the file was not written");
	sigaction(SIGINT, &old, NULL);
	if (rc == CLI_EXIT_OK)
		/* the count goes where it cannot mix with the CSV itself */
		fprintf(to_stdout ? stderr : stdout, "%lld row%s written to %s (%s)\n", rows,
			rows == 1 ? "" : "s", to_stdout ? "standard output" : file,
			streamed ? "streamed CSV" : "from JSON pages");
	apiclient_cleanup(&h);
	return rc;
}
