/* cmd_submit.c - `amcbatch submit WORKFLOW_ID ...`: builds the batch-execute request from
 * instances (UUIDs, AMC ids or names, resolved through GET /instances), shared parameters
 * and per-instance overrides, posts it, prints the batch id, optionally watches it. The body
 * builder and the option checks are shared with `schedule create|edit` (cli.h). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "args.h"
#include "cli.h"
#include "fmt.h"

static const char SUBMIT_HELP[] =
	"Usage: amcbatch submit WORKFLOW_ID (--instances ID,ID,... | --all) [options]\n"
	"\n"
	"Run a workflow on many AMC instances as one batch\n"
	"(POST /workflows/{WORKFLOW_ID}/batch-execute).\n"
	"\n"
	"  -i, --instances LIST       comma-separated instances, each an instance UUID, an AMC\n"
	"                             instance id or an instance name; may be repeated\n"
	"  -a, --all                  every instance your token may use\n"
	"  -p, --param KEY=VALUE      a parameter for every instance; may be repeated. VALUE\n"
	"                             stays a number if it is a JSON number, is parsed as JSON\n"
	"                             if it starts with [ or {, else it is a string\n"
	"      --params-json JSON     parameters as one JSON object (or @FILE to read it);\n"
	"                             --param values are applied on top\n"
	"  -o, --override INSTANCE:KEY=VALUE\n"
	"                             a parameter for one instance only; may be repeated\n"
	"      --window TYPE[:N]      a relative date window instead of startDate/endDate,\n"
	"                             resolved by the server in each instance's time zone:\n"
	"                             previous_week, previous_month, month_to_date,\n"
	"                             last_n_days:N, last_n_full_weeks:N\n"
	"      --lag-days DAYS        days the window stays clear of today (server default 2)\n"
	"      --on-failure POLICY    what one instance's permanent failure means for the rest:\n"
	"                             continue (default), fail-fast (cancel the rest; the\n"
	"                             batch is failed), min-success=RATIO (e.g. 0.9 or 90%%:\n"
	"                             failed when fewer than that share completed)\n"
	"  -n, --name NAME            batch name\n"
	"  -d, --description TEXT     batch description\n"
	"  -w, --watch                then watch the batch like 'amcbatch status --watch'\n"
	"      --interval SECONDS     poll interval for --watch (default 2)\n"
	"      --json                 print the API's batch object instead of the id\n"
	"  -k, --idempotency-key KEY  sent as the Idempotency-Key header: a server that knows\n"
	"                             it runs a key's first request only and answers repeats\n"
	"                             with that batch. Default: a new random key per run,\n"
	"                             so the CLI's own repeat after a lost connection or a\n"
	"                             timeout cannot start a second batch. Pass your own\n"
	"                             key to make re-running a whole script safe as well\n"
	"  -h, --help                 this help\n"
	"\n"
	"Prints the batch id; when stdout is not a terminal, only the id, so that\n"
	"  B=$(amcbatch submit WF --all --param startDate=2024-01-01)\n"
	"works. Exit status: 0 ok (with --watch: completed), 10 partial, 11 failed,\n"
	"12 cancelled, 2 usage, 3 API error, 4 server unreachable.\n";

/* Reads @FILE or takes the text itself; the object is the caller's. */
static json_t *load_params_json(const char *arg, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *v = arg[0] == '@' ? json_load_file(arg + 1, 0, &jerr) : json_loads(arg, 0, &jerr);

	if (v == NULL) {
		snprintf(err, errlen, "--params-json: %s", jerr.text);
		return NULL;
	}
	if (!json_is_object(v)) {
		snprintf(err, errlen, "--params-json must be a JSON object");
		json_decref(v);
		return NULL;
	}
	return v;
}

static bool needs_instance_list(const SubmitArgs *a, const json_t *refs)
{
	const json_t *r;
	size_t i;

	if (a->all)
		return true;
	json_array_foreach (refs, i, r)
		if (!args_is_uuid(json_string_value(r)))
			return true;
	for (i = 0; i < a->noverrides; i++) {
		const char *colon = strchr(a->overrides[i], ':');
		char uuid[37];

		if (colon == NULL || colon - a->overrides[i] != 36)
			return true;
		memcpy(uuid, a->overrides[i], 36);
		uuid[36] = '\0';
		if (!args_is_uuid(uuid))
			return true;
	}
	return false;
}

static bool array_has(const json_t *arr, const char *s)
{
	const json_t *v;
	size_t i;

	json_array_foreach (arr, i, v)
		if (strcmp(json_string_value(v), s) == 0)
			return true;
	return false;
}

/* Names the sandbox instances --all takes, on stderr (stdout may be a batch id for $(...)). */
static void warn_sandboxes(const json_t *instances, size_t n)
{
	const json_t *r;
	size_t i, shown = 0;

	fprintf(stderr, "amcbatch: warning: --all includes %zu sandbox instance%s:", n,
		n == 1 ? "" : "s");
	json_array_foreach ((json_t *)instances, i, r) {
		if (!json_is_true(json_object_get(r, "is_sandbox")))
			continue;
		if (shown++ == 5) {
			fprintf(stderr, " ...");
			break;
		}
		fprintf(stderr, "%s '%s'", shown > 1 ? "," : "",
			fmt_str(r, "instance_name", fmt_str(r, "id", "?")));
	}
	fprintf(stderr, " (name the instances with --instances to leave them out)\n");
}

json_t *cmd_submit_body(ApiClient *h, const SubmitArgs *a, const char *cmd, int *rc)
{
	char err[512];
	json_t *body = NULL, *refs = json_array(), *ids = json_array(), *params = NULL;
	json_t *inst_params = json_object(), *resp = NULL, *instances = NULL, *r;
	char *ref = NULL;
	size_t i;

	*rc = CLI_EXIT_USAGE;
	if (refs == NULL || ids == NULL || inst_params == NULL)
		goto oom;
	for (i = 0; i < a->nlists; i++)
		if (!args_append_list(refs, a->lists[i])) {
			cli_usage_error(cmd, "--instances: '%s' is not valid UTF-8", a->lists[i]);
			goto fail;
		}
	params = a->params_json != NULL ? load_params_json(a->params_json, err, sizeof(err))
					: json_object();
	if (params == NULL) {
		cli_usage_error(cmd, "%s", err);
		goto fail;
	}
	for (i = 0; i < a->nparams; i++)
		if (!args_set_kv(params, a->params[i], err, sizeof(err))) {
			cli_usage_error(cmd, "--param: %s", err);
			goto fail;
		}

	if (needs_instance_list(a, refs)) {
		if (!apiclient_call(h, "GET", "/instances", NULL, &resp)) {
			apiclient_report(h);
			*rc = h->err;
			goto fail;
		}
		instances = json_object_get(resp, "instances");
		if (!json_is_array(instances)) {
			cli_error("bad_response",
				  "GET /instances: no \"instances\" array in the answer");
			*rc = CLI_EXIT_API;
			goto fail;
		}
	}
	if (a->all) {
		size_t sandboxes = 0;

		json_array_foreach (instances, i, r) {
			const char *id = fmt_str(r, "id", NULL);

			if (id != NULL && !array_has(ids, id) &&
			    json_array_append_new(ids, json_string(id)) != 0)
				goto oom;
			sandboxes += json_is_true(json_object_get(r, "is_sandbox"));
		}
		if (json_array_size(ids) == 0) {
			cli_error("no_instances", "--all: your token may use no instances");
			*rc = CLI_EXIT_API;
			goto fail;
		}
		/* a sandbox returns AMC's synthetic data: mixed into a real portfolio it skews the
		 * totals, and --all gives no other hint that one is in */
		if (sandboxes > 0)
			warn_sandboxes(instances, sandboxes);
	}
	json_array_foreach (refs, i, r) {
		const char *id =
			args_resolve_instance(instances, json_string_value(r), err, sizeof(err));

		if (id == NULL) {
			cli_usage_error(cmd, "--instances: %s", err);
			goto fail;
		}
		if (!array_has(ids, id) && json_array_append_new(ids, json_string(id)) != 0)
			goto oom;
	}
	for (i = 0; i < a->noverrides; i++) {
		const char *kv, *id;
		json_t *o;

		if (!args_split_override(a->overrides[i], &ref, &kv, err, sizeof(err))) {
			cli_usage_error(cmd, "--override: %s", err);
			goto fail;
		}
		id = args_resolve_instance(instances, ref, err, sizeof(err));
		if (id == NULL) {
			cli_usage_error(cmd, "--override: %s", err);
			goto fail;
		}
		if (!array_has(ids, id)) {
			cli_usage_error(cmd, "--override: instance '%s' is not in the batch", ref);
			goto fail;
		}
		o = json_object_get(inst_params, id);
		if (o == NULL) {
			o = json_object();
			if (o == NULL || json_object_set_new(inst_params, id, o) != 0)
				goto oom;
		}
		if (!args_set_kv(o, kv, err, sizeof(err))) {
			cli_usage_error(cmd, "--override: %s", err);
			goto fail;
		}
		free(ref);
		ref = NULL;
	}

	body = json_pack("{s:O, s:O}", "instance_ids", ids, "parameters", params);
	if (body == NULL)
		goto oom;
	if (json_object_size(inst_params) > 0 &&
	    json_object_set(body, "instance_parameters", inst_params) != 0)
		goto oom;
	if (a->name != NULL && json_object_set_new(body, "name", json_string(a->name)) != 0)
		goto oom;
	if (a->description != NULL &&
	    json_object_set_new(body, "description", json_string(a->description)) != 0)
		goto oom;
	if (a->window != NULL) {
		json_t *w = args_window(a->window, a->lag_days, err, sizeof(err));

		if (w == NULL) {
			cli_usage_error(cmd, "%s", err);
			goto fail;
		}
		if (json_object_set_new(body, "window", w) != 0)
			goto oom;
	}
	if (a->on_failure != NULL) {
		json_t *p = args_on_failure(a->on_failure, err, sizeof(err));

		if (p == NULL) {
			cli_usage_error("submit", "%s", err);
			goto fail;
		}
		if (json_object_set_new(body, "on_failure", p) != 0)
			goto oom;
	}
	*rc = CLI_EXIT_OK;
	goto out;
oom:
	cli_error("internal", "out of memory or text that is not UTF-8");
	*rc = CLI_EXIT_INTERNAL;
fail:
	json_decref(body);
	body = NULL;
out:
	free(ref);
	json_decref(resp);
	json_decref(refs);
	json_decref(ids);
	json_decref(params);
	json_decref(inst_params);
	return body;
}

int cmd_submit_check(const SubmitArgs *a, const char *cmd, bool need_instances)
{
	if (need_instances && !a->all && a->nlists == 0)
		return cli_usage_error(cmd, "say which instances: --instances ID,... or --all");
	if (a->all && a->nlists > 0)
		return cli_usage_error(cmd, "--all and --instances exclude each other");
	if (a->lag_days != NULL && a->window == NULL)
		return cli_usage_error(cmd, "--lag-days goes with --window");
	if (a->window !=
	    NULL) { /* checked before anything is sent; cmd_submit_body makes it again */
		char err[256];
		json_t *w = args_window(a->window, a->lag_days, err, sizeof(err));

		if (w == NULL)
			return cli_usage_error(cmd, "%s", err);
		json_decref(w);
	}
	if (a->on_failure != NULL) { /* checked before anything is sent, like --window */
		char err[256];
		json_t *p = args_on_failure(a->on_failure, err, sizeof(err));

		if (p == NULL)
			return cli_usage_error(cmd, "%s", err);
		json_decref(p);
	}
	return CLI_EXIT_OK;
}

static int submit(ApiClient *h, const SubmitArgs *a)
{
	json_t *body, *resp = NULL, *batch;
	char *esc = NULL, *path = NULL, line[256];
	long long n;
	int rc;

	body = cmd_submit_body(h, a, "submit", &rc);
	if (body == NULL)
		return rc;
	esc = apiclient_escape(h, a->workflow);
	if (esc == NULL || asprintf(&path, "/workflows/%s/batch-execute", esc) < 0) {
		path = NULL;
		cli_error("internal", "out of memory");
		rc = CLI_EXIT_INTERNAL;
		goto out;
	}
	if (!apiclient_call(h, "POST", path, body, &resp)) {
		apiclient_report(h);
		rc = h->err;
		goto out;
	}
	batch = json_object_get(resp, "batch");
	n = fmt_json_int(json_object_get(batch, "total_instances"), 0);
	snprintf(line, sizeof(line), "Submitted %s: %lld instance%s, status %s",
		 fmt_str(batch, "batch_id", "?"), n, n == 1 ? "" : "s",
		 fmt_str(batch, "status", "?"));
	rc = cmd_report_new_batch(h, batch, line, a->json_out, a->watch, a->interval);
out:
	free(path);
	free(esc);
	json_decref(resp);
	json_decref(body);
	return rc;
}

int cmd_submit_run(int argc, char *argv[])
{
	enum {
		OPT_PARAMS_JSON = 256,
		OPT_INTERVAL,
		OPT_JSON,
		OPT_WINDOW,
		OPT_LAG_DAYS,
		OPT_ON_FAILURE
	};
	char key[ARGS_IDEM_KEY_SIZE];
	static const struct option opts[] = {
		{ "instances", required_argument, NULL, 'i' },
		{ "all", no_argument, NULL, 'a' },
		{ "param", required_argument, NULL, 'p' },
		{ "params-json", required_argument, NULL, OPT_PARAMS_JSON },
		{ "override", required_argument, NULL, 'o' },
		{ "name", required_argument, NULL, 'n' },
		{ "description", required_argument, NULL, 'd' },
		{ "watch", no_argument, NULL, 'w' },
		{ "interval", required_argument, NULL, OPT_INTERVAL },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "idempotency-key", required_argument, NULL, 'k' },
		{ "window", required_argument, NULL, OPT_WINDOW },
		{ "lag-days", required_argument, NULL, OPT_LAG_DAYS },
		{ "on-failure", required_argument, NULL, OPT_ON_FAILURE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	SubmitArgs a = { .interval = 2.0 };
	ApiClient h;
	int c, rc = CLI_EXIT_USAGE;

	/* argc bounds how often any repeatable option can occur */
	a.lists = calloc((size_t)argc, sizeof(*a.lists));
	a.params = calloc((size_t)argc, sizeof(*a.params));
	a.overrides = calloc((size_t)argc, sizeof(*a.overrides));
	if (a.lists == NULL || a.params == NULL || a.overrides == NULL) {
		cli_error("internal", "out of memory");
		rc = CLI_EXIT_INTERNAL;
		goto out;
	}
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":i:ap:o:n:d:wk:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			a.lists[a.nlists++] = optarg;
			break;
		case 'a':
			a.all = true;
			break;
		case 'p':
			a.params[a.nparams++] = optarg;
			break;
		case OPT_PARAMS_JSON:
			a.params_json = optarg;
			break;
		case 'o':
			a.overrides[a.noverrides++] = optarg;
			break;
		case 'n':
			a.name = optarg;
			break;
		case 'd':
			a.description = optarg;
			break;
		case 'w':
			a.watch = true;
			break;
		case OPT_INTERVAL:
			if (!cli_parse_double(optarg, 0.1, 3600, &a.interval)) {
				rc = cli_usage_error(
					argv[0],
					"--interval wants seconds between 0.1 and 3600, got '%s'",
					optarg);
				goto out;
			}
			break;
		case OPT_JSON:
			a.json_out = true;
			break;
		case OPT_WINDOW:
			a.window = optarg;
			break;
		case OPT_LAG_DAYS:
			a.lag_days = optarg;
			break;
		case OPT_ON_FAILURE:
			a.on_failure = optarg;
			break;
		case 'k':
			if (!args_idempotency_key_ok(optarg)) {
				rc = cli_usage_error(
					argv[0],
					"--idempotency-key wants 1-%d printable ASCII characters without blanks",
					ARGS_IDEM_KEY_MAX);
				goto out;
			}
			a.idem_key = optarg;
			break;
		case 'h':
			fputs(SUBMIT_HELP, stdout);
			rc = CLI_EXIT_OK;
			goto out;
		default:
			rc = cli_getopt_error(argv[0], c, argv);
			goto out;
		}
	}
	if (optind >= argc) {
		rc = cli_usage_error(argv[0], "missing WORKFLOW_ID");
		goto out;
	}
	a.workflow = argv[optind++];
	if (optind < argc) {
		rc = cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if ((rc = cmd_submit_check(&a, argv[0], true)) != CLI_EXIT_OK)
		goto out;
	if (a.idem_key == NULL) {
		unsigned char rnd[16];

		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
			cli_error("internal", "getrandom failed");
			rc = CLI_EXIT_INTERNAL;
			goto out;
		}
		args_idempotency_key_format(rnd, key);
		a.idem_key = key;
	}
	if ((rc = cli_api_open(&h)) != CLI_EXIT_OK)
		goto out;
	if (!apiclient_set_idempotency_key(&h, a.idem_key)) {
		apiclient_report(&h);
		rc = h.err;
	} else {
		rc = submit(&h, &a);
	}
	apiclient_cleanup(&h);
out:
	free(a.lists);
	free(a.params);
	free(a.overrides);
	return rc;
}
