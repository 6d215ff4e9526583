/* cmd_webhook.c - `amcbatch webhook add|list|deliveries|delete`: the caller's completion
 * webhooks (POST/GET /webhooks, GET /webhooks/{id}/deliveries, DELETE /webhooks/{id}). It
 * prints a generated secret once, as the API returns it once; it never stores one. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fmt.h"
#include "table.h"

static const char WEBHOOK_HELP[] =
	"Usage: amcbatch webhook add URL --events E[,E...] [--secret S] [--format json|slack] [--json]\n"
	"       amcbatch webhook list [--json]\n"
	"       amcbatch webhook deliveries ID [--limit N] [--offset N] [--json]\n"
	"       amcbatch webhook delete ID\n"
	"\n"
	"Completion webhooks: a signed POST to URL when one of your batches ends (events\n"
	"batch.completed, batch.partial, batch.failed, batch.cancelled) or a schedule skips a\n"
	"run (schedule.run_skipped). `add` prints the generated signing secret once: keep it.\n"
	"\n"
	"      --events LIST    comma-separated event names (add; required)\n"
	"      --secret S       your own signing secret, 16..200 characters (add)\n"
	"      --format F       json (default) or slack (add)\n"
	"      --limit N        deliveries per page, 1..100 (default 20)\n"
	"      --offset N       deliveries to skip (default 0)\n"
	"      --json           print the API's JSON answer\n"
	"  -h, --help           this help\n"
	"\n"
	"Exit status: 0 ok, 2 usage, 3 API error (e.g. url_not_allowed, unknown webhook),\n"
	"4 server unreachable.\n";

enum { OPT_EVENTS = 256, OPT_SECRET, OPT_FORMAT, OPT_LIMIT, OPT_OFFSET, OPT_JSON };

typedef struct Opts {
	const char *events, *secret, *format;
	long limit, offset;
	bool json_out;
} Opts;

static int print_list(const json_t *resp)
{
	static const char *const head[] = { "ID", "URL", "EVENTS", "FORMAT", "SECRET", "CREATED" };
	json_t *list = json_object_get(resp, "webhooks"), *w;
	size_t i;
	Table t;
	bool ok;

	if (!table_init(&t, ARRAY_LEN(head), head))
		return CLI_EXIT_INTERNAL;
	table_flag(&t, 0, TABLE_FIXED);
	json_array_foreach (list, i, w) {
		char *events = NULL, hint[16];
		json_t *ev;
		size_t j, n = 0;

		json_array_foreach (json_object_get(w, "events"), j, ev)
			n += strlen(json_string_value(ev) != NULL ? json_string_value(ev) : "") + 1;
		if ((events = calloc(1, n + 1)) == NULL) {
			table_cleanup(&t);
			return CLI_EXIT_INTERNAL;
		}
		json_array_foreach (json_object_get(w, "events"), j, ev) {
			if (j)
				strcat(events, ",");
			strcat(events, json_string_value(ev) != NULL ? json_string_value(ev) : "");
		}
		snprintf(hint, sizeof(hint), "...%s", fmt_str(w, "secret_hint", ""));
		const char *row[] = { fmt_str(w, "id", "?"),
				      fmt_str(w, "url", ""),
				      events,
				      fmt_str(w, "format", ""),
				      hint,
				      fmt_str(w, "created_at", "") };
		ok = table_add_row(&t, row);
		free(events);
		if (!ok) {
			table_cleanup(&t);
			return CLI_EXIT_INTERNAL;
		}
	}
	ok = cli_print_table(&t);
	table_cleanup(&t);
	printf("%zu webhook%s\n", json_array_size(list), json_array_size(list) == 1 ? "" : "s");
	return ok ? CLI_EXIT_OK : CLI_EXIT_INTERNAL;
}

static int print_deliveries(const json_t *resp)
{
	static const char *const head[] = { "DELIVERY", "EVENT",   "STATE",
					    "ATTEMPTS", "CREATED", "LAST" };
	json_t *list = json_object_get(resp, "deliveries"), *d;
	size_t i;
	Table t;
	bool ok = true;

	if (!table_init(&t, ARRAY_LEN(head), head))
		return CLI_EXIT_INTERNAL;
	table_flag(&t, 0, TABLE_FIXED);
	table_align_right(&t, 3);
	json_array_foreach (list, i, d) {
		json_t *att = json_object_get(d, "attempts");
		json_t *last =
			json_array_get(att, json_array_size(att) ? json_array_size(att) - 1 : 0);
		char n[24], lastbuf[320];

		snprintf(n, sizeof(n), "%lld",
			 fmt_json_int(json_object_get(d, "attempt_count"), 0));
		if (last == NULL)
			snprintf(lastbuf, sizeof(lastbuf), "-");
		else if (json_is_null(json_object_get(last, "error")))
			snprintf(lastbuf, sizeof(lastbuf), "%s HTTP %lld in %lld ms",
				 fmt_str(last, "at", ""),
				 fmt_json_int(json_object_get(last, "status_code"), 0),
				 fmt_json_int(json_object_get(last, "latency_ms"), 0));
		else
			snprintf(lastbuf, sizeof(lastbuf), "%s %s", fmt_str(last, "at", ""),
				 fmt_str(last, "error", ""));
		const char *row[] = { fmt_str(d, "id", "?"),        fmt_str(d, "event", ""),
				      fmt_str(d, "state", ""),      n,
				      fmt_str(d, "created_at", ""), lastbuf };
		if (!table_add_row(&t, row)) {
			ok = false;
			break;
		}
	}
	ok = ok && cli_print_table(&t);
	table_cleanup(&t);
	printf("%zu of %lld deliveries\n", json_array_size(list),
	       fmt_json_int(json_object_get(resp, "total"), 0));
	return ok ? CLI_EXIT_OK : CLI_EXIT_INTERNAL;
}

/* Builds the add body: events split at commas into an array. NULL on out of memory. */
static json_t *add_body(const char *url, const Opts *o)
{
	json_t *body = json_pack("{s:s,s:[]}", "url", url, "events");
	json_t *events = json_object_get(body, "events");
	char *list = strdup(o->events), *save = NULL;

	if (body == NULL || list == NULL) {
		json_decref(body);
		free(list);
		return NULL;
	}
	for (char *e = strtok_r(list, ",", &save); e != NULL; e = strtok_r(NULL, ",", &save))
		if (*e != '\0')
			json_array_append_new(events, json_string(e));
	free(list);
	if (o->secret != NULL)
		json_object_set_new(body, "secret", json_string(o->secret));
	if (o->format != NULL)
		json_object_set_new(body, "format", json_string(o->format));
	return body;
}

int cmd_webhook_run(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "events", required_argument, NULL, OPT_EVENTS },
		{ "secret", required_argument, NULL, OPT_SECRET },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ "offset", required_argument, NULL, OPT_OFFSET },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	Opts o = { .limit = 20 };
	const char *sub, *arg = NULL;
	char *esc = NULL, *path = NULL;
	json_t *resp = NULL, *body = NULL;
	ApiClient h;
	int c, rc;
	bool http_ok = false;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(WEBHOOK_HELP, stdout);
			return CLI_EXIT_OK;
		case OPT_EVENTS:
			o.events = optarg;
			break;
		case OPT_SECRET:
			o.secret = optarg;
			break;
		case OPT_FORMAT:
			o.format = optarg;
			break;
		case OPT_JSON:
			o.json_out = true;
			break;
		case OPT_LIMIT:
			if (!cli_parse_long(optarg, 1, 100, &o.limit))
				return cli_usage_error(argv[0], "--limit must be 1..100");
			break;
		case OPT_OFFSET:
			if (!cli_parse_long(optarg, 0, 1000000000L, &o.offset))
				return cli_usage_error(argv[0], "--offset must be a number >= 0");
			break;
		default:
			return cli_getopt_error(argv[0], c, argv);
		}
	}
	if (optind >= argc)
		return cli_usage_error(argv[0],
				       "missing subcommand (add, list, deliveries, delete)");
	sub = argv[optind++];
	if (strcmp(sub, "list") != 0) {
		if (optind >= argc)
			return cli_usage_error(argv[0], "%s needs %s", sub,
					       strcmp(sub, "add") == 0 ? "a URL" : "a webhook ID");
		arg = argv[optind++];
	}
	if (optind < argc)
		return cli_usage_error(argv[0], "unexpected argument %s", argv[optind]);
	if (strcmp(sub, "add") == 0 && o.events == NULL)
		return cli_usage_error(argv[0], "add needs --events");
	if (strcmp(sub, "add") != 0 && strcmp(sub, "list") != 0 && strcmp(sub, "deliveries") != 0 &&
	    strcmp(sub, "delete") != 0)
		return cli_usage_error(
			argv[0], "unknown subcommand %s (add, list, deliveries, delete)", sub);
	if ((rc = cli_api_open(&h)) != CLI_EXIT_OK)
		return rc;
	if (strcmp(sub, "add") == 0) {
		if ((body = add_body(arg, &o)) == NULL)
			goto oom;
		http_ok = apiclient_call(&h, "POST", "/webhooks", body, &resp);
	} else if (strcmp(sub, "list") == 0) {
		http_ok = apiclient_call(&h, "GET", "/webhooks", NULL, &resp);
	} else {
		esc = apiclient_escape(&h, arg);
		if (esc == NULL)
			goto oom;
		if (strcmp(sub, "deliveries") == 0
			    ? asprintf(&path, "/webhooks/%s/deliveries?limit=%ld&offset=%ld", esc,
				       o.limit, o.offset) < 0
			    : asprintf(&path, "/webhooks/%s", esc) < 0) {
			path = NULL;
			goto oom;
		}
		http_ok = apiclient_call(&h, strcmp(sub, "delete") == 0 ? "DELETE" : "GET", path,
					 NULL, &resp);
	}
	if (!http_ok) {
		apiclient_report(&h);
		rc = h.err;
		goto out;
	}
	if (o.json_out) {
		rc = cli_print_json(resp);
	} else if (strcmp(sub, "add") == 0) {
		json_t *w = json_object_get(resp, "webhook");

		printf("webhook %s added for %s\n", fmt_str(w, "id", "?"), fmt_str(w, "url", ""));
		if (json_is_string(json_object_get(w, "secret")))
			printf("signing secret (shown once, keep it): %s\n",
			       fmt_str(w, "secret", ""));
		rc = CLI_EXIT_OK;
	} else if (strcmp(sub, "list") == 0) {
		rc = print_list(resp);
	} else if (strcmp(sub, "deliveries") == 0) {
		rc = print_deliveries(resp);
	} else {
		printf("webhook %s deleted\n", arg);
		rc = CLI_EXIT_OK;
	}
	goto out;
oom:
	cli_error("internal", "out of memory");
	rc = CLI_EXIT_INTERNAL;
out:
	free(path);
	free(esc);
	json_decref(body);
	json_decref(resp);
	apiclient_cleanup(&h);
	return rc;
}
