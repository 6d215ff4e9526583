/* cli.c - helpers every subcommand shares: error and usage output, opening the API client
 * from the environment, strict option number parsing, batch outcome to exit code. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "states.h"
#include "table.h"

void cli_error(const char *code, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout); /* keep stdout and stderr in order on a shared terminal */
	fputs("amcbatch: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (%s)\n", code);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("amcbatch: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (usage)\n", stderr);
	fprintf(stderr, "Try 'amcbatch%s%s --help'.\n", cmd != NULL ? " " : "",
		cmd != NULL ? cmd : "");
	return CLI_EXIT_USAGE;
}

int cli_batch_arg(int argc, char *const argv[], const char **batch_id)
{
	if (optind >= argc)
		return cli_usage_error(argv[0], "missing BATCH_ID");
	*batch_id = argv[optind++];
	if (optind < argc)
		return cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
	return CLI_EXIT_OK;
}

int cli_getopt_error(const char *cmd, int c, char *const argv[])
{
	const char *bad = optind > 0 ? argv[optind - 1] : "?";

	if (c == ':')
		return cli_usage_error(cmd, "option %s needs a value", bad);
	if (optopt && optopt != '?')
		return cli_usage_error(cmd, "unknown option -%c", optopt);
	return cli_usage_error(cmd, "unknown option %s", bad);
}

int cli_api_open(ApiClient *h)
{
	const char *url = getenv("AMCBATCH_URL");
	const char *token = getenv("AMCBATCH_TOKEN");

	if (url == NULL || !*url)
		url = CLI_DEFAULT_URL;
	if (token == NULL || !*token) {
		cli_error("usage", "AMCBATCH_TOKEN is not set: export AMCBATCH_TOKEN=<API token>");
		return CLI_EXIT_USAGE;
	}
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		cli_error("usage", "AMCBATCH_URL must start with http:// or https://, got '%s'",
			  url);
		return CLI_EXIT_USAGE;
	}
	if (!apiclient_init(h, url, token)) {
		apiclient_report(h);
		apiclient_cleanup(h);
		return CLI_EXIT_INTERNAL;
	}
	return CLI_EXIT_OK;
}

bool cli_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (s == NULL || !*s)
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool cli_parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	if (s == NULL || !*s)
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool cli_status_terminal(const char *status)
{
	return batch_state_name_is_final(status);
}

int cli_exit_for_status(const char *status)
{
	if (status == NULL)
		return CLI_EXIT_API;
	if (batch_state_is(status, BATCH_STATE_PARTIAL))
		return CLI_EXIT_PARTIAL;
	if (batch_state_is(status, BATCH_STATE_FAILED))
		return CLI_EXIT_FAILED;
	if (batch_state_is(status, BATCH_STATE_CANCELLED))
		return CLI_EXIT_CANCELLED;
	return CLI_EXIT_OK;
}

int cli_print_json(const json_t *v)
{
	if (json_dumpf(v, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY) != 0 ||
	    fputc('\n', stdout) == EOF) {
		cli_error("internal", "cannot write JSON output");
		return CLI_EXIT_INTERNAL;
	}
	return CLI_EXIT_OK;
}

size_t cli_term_cols(int fd)
{
	struct winsize ws;
	const char *env = getenv("COLUMNS");

	if (!isatty(fd))
		return 0;
	if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	if (env != NULL && atoi(env) > 0)
		return (size_t)atoi(env);
	return 80;
}

bool cli_print_table(Table *t)
{
	size_t cols = cli_term_cols(STDOUT_FILENO);

	if (cols > 0)
		table_fit(t, cols);
	return table_print(t, stdout);
}
