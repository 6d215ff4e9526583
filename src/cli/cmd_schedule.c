/* cmd_schedule.c - `amcbatch schedule create|list|show|edit|pause|resume|run-now|delete|runs|
 * preview`: the /schedules endpoints, one subcommand each. The batch part of a schedule
 * (instances, parameters, overrides, window) is built by submit's own code (cmd_submit_body);
 * cron, zones and slots are the server's to judge, nothing here evaluates a cron. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "fmt.h"
#include "table.h"

static const char SCHEDULE_HELP[] =
	"Usage: amcbatch schedule <subcommand> [options]\n"
	"       amcbatch schedule <subcommand> --help\n"
	"\n"
	"Run a workflow on many AMC instances on a cron schedule (the /schedules endpoints).\n"
	"Each run of a schedule is one batch, named \"<name> · YYYY-MM-DD HH:MM\" after its slot.\n"
	"\n"
	"Subcommands:\n"
	"  create WORKFLOW_ID   make a schedule (prints its id)\n"
	"  list                 the schedules, with their next and last run\n"
	"  show ID              one schedule with its next runs\n"
	"  edit ID              change some of a schedule's members\n"
	"  pause ID             stop running it (until resume)\n"
	"  resume ID            run it again, from the next slot after now\n"
	"  run-now ID           run it once now, outside its cron (prints the batch id)\n"
	"  delete ID            delete it (its batches stay)\n"
	"  runs ID              what became of its slots, newest first\n"
	"  preview --cron EXPR  the next runs of a cron expression in a time zone\n"
	"\n"
	"Times are shown in your local time zone (TZ); --json gives the API's UTC times.\n"
	"Exit status: 0 ok (run-now --watch: the batch completed), 10 partial, 11 failed,\n"
	"12 cancelled, 2 usage, 3 API error (bad cron, unknown schedule, ...), 4 server\n"
	"unreachable.\n";

static const char CREATE_HELP[] =
	"Usage: amcbatch schedule create WORKFLOW_ID --name NAME --cron EXPR\n"
	"                                (--instances ID,ID,... | --all) [options]\n"
	"\n"
	"Make a schedule (POST /schedules): a batch of WORKFLOW_ID on the instances, run at every\n"
	"slot of the cron expression in the time zone.\n"
	"\n"
	"  -n, --name NAME            the schedule's name (required); each run's batch is\n"
	"                             named \"NAME · YYYY-MM-DD HH:MM\" after its slot\n"
	"  -c, --cron EXPR            5 fields: minute hour day-of-month month day-of-week,\n"
	"                             e.g. \"0 6 * * MON\"; or @daily, @weekly, ... (required)\n"
	"  -z, --timezone ZONE        IANA zone the cron is read in (default UTC)\n"
	"  -i, --instances LIST       comma-separated instances (UUID, AMC instance id or\n"
	"                             name); may be repeated\n"
	"  -a, --all                  every instance your token may use now\n"
	"  -p, --param KEY=VALUE      a parameter for every instance; may be repeated\n"
	"      --params-json JSON     parameters as one JSON object (or @FILE)\n"
	"  -o, --override INSTANCE:KEY=VALUE\n"
	"                             a parameter for one instance only; may be repeated\n"
	"      --window TYPE[:N]      a relative date window, resolved at each slot:\n"
	"                             previous_week, previous_month, month_to_date,\n"
	"                             last_n_days:N, last_n_full_weeks:N\n"
	"      --lag-days DAYS        days the window stays clear of the slot's day\n"
	"      --overlap skip|queue   a slot due while the previous run still runs is skipped\n"
	"                             (default) or waits for it\n"
	"      --on-failure POLICY    each run's failure policy, as submit takes it: continue\n"
	"                             (default), fail-fast, min-success=RATIO\n"
	"      --paused               make it paused (resume starts it)\n"
	"  -d, --description TEXT     description\n"
	"      --json                 print the API's schedule object instead of the id\n"
	"  -h, --help                 this help\n"
	"\n"
	"Prints the schedule id; on a terminal a sentence with its reading and next run.\n"
	"Exit status: 0 ok, 2 usage, 3 API error (e.g. invalid_cron, invalid_timezone),\n"
	"4 server unreachable.\n";

static const char EDIT_HELP[] =
	"Usage: amcbatch schedule edit ID [options]\n"
	"\n"
	"Change a schedule (PATCH /schedules/{ID}); members not given stay as they are.\n"
	"\n"
	"  -n, --name NAME            new name\n"
	"  -d, --description TEXT     new description ('' clears it)\n"
	"  -c, --cron EXPR            new cron expression\n"
	"  -z, --timezone ZONE        new time zone\n"
	"      --overlap skip|queue   new overlap rule\n"
	"      --on-failure POLICY    new failure policy (continue, fail-fast, min-success=RATIO)\n"
	"      --window TYPE[:N]      new relative window (with --lag-days DAYS)\n"
	"      --no-window            drop the window (then give startDate/endDate with --param)\n"
	"  -i, --instances LIST       replace the instances (may be repeated)\n"
	"  -a, --all                  replace them with every instance your token may use\n"
	"  -p, --param KEY=VALUE      set a parameter; the others stay (may be repeated)\n"
	"      --params-json JSON     replace all parameters (or @FILE); --param applies on top\n"
	"  -o, --override INSTANCE:KEY=VALUE\n"
	"                             set a parameter of one instance; its others stay\n"
	"      --json                 print the API's schedule object\n"
	"  -h, --help                 this help\n"
	"\n"
	"A new cron or zone moves the next run; the overrides of instances taken out go too.\n"
	"Exit status: 0 ok, 2 usage, 3 API error (schedule_not_found, invalid_cron,\n"
	"schedule_changed: someone else edited it meanwhile), 4 server unreachable.\n";

static const char LIST_HELP[] =
	"Usage: amcbatch schedule list [--limit N] [--offset N] [--json]\n"
	"\n"
	"List your schedules, newest first (GET /schedules): id, name, cron reading, next run\n"
	"(local time), the last run's outcome or batch status, and whether it is enabled.\n"
	"\n"
	"  -l, --limit N   at most N schedules (server default 50, at most 200)\n"
	"      --offset N  skip the first N\n"
	"      --json      print the API's JSON answer\n"
	"  -h, --help      this help\n"
	"\n"
	"Exit status: 0 ok, 2 usage, 3 API error, 4 server unreachable.\n";

static const char SHOW_HELP[] =
	"Usage: amcbatch schedule show ID [--json]\n"
	"\n"
	"Show one schedule with its last run and next 5 runs (GET /schedules/{ID}).\n"
	"\n"
	"      --json  print the API's schedule object\n"
	"  -h, --help  this help\n"
	"\n"
	"Exit status: 0 ok, 2 usage, 3 API error (schedule_not_found), 4 server unreachable.\n";

static const char PAUSE_HELP[] =
	"Usage: amcbatch schedule pause ID [--json]\n"
	"\n"
	"Stop running a schedule until it is resumed (POST /schedules/{ID}/pause). Pausing a\n"
	"paused schedule is fine. A batch already running goes on.\n"
	"\n"
	"      --json  print the API's schedule object\n"
	"  -h, --help  this help\n"
	"\n"
	"Exit status: 0 ok, 2 usage, 3 API error (schedule_not_found), 4 server unreachable.\n";

static const char RESUME_HELP[] =
	"Usage: amcbatch schedule resume ID [--json]\n"
	"\n"
	"Run a paused schedule again (POST /schedules/{ID}/resume), from its first slot after\n"
	"now: the slots while it was paused are not made up for. Resuming a running schedule\n"
	"is fine.\n"
	"\n"
	"      --json  print the API's schedule object\n"
	"  -h, --help  this help\n"
	"\n"
	"Exit status: 0 ok, 2 usage, 3 API error (schedule_not_found), 4 server unreachable.\n";

static const char RUN_NOW_HELP[] =
	"Usage: amcbatch schedule run-now ID [--watch [--interval SECONDS]] [--json]\n"
	"\n"
	"Run a schedule once now, outside its cron (POST /schedules/{ID}/run-now), paused or\n"
	"not; its next run stays as it is. Grants are checked as at every run: instances you may\n"
	"no longer use are left out and named on stderr.\n"
	"\n"
	"  -w, --watch              then watch the batch like 'amcbatch status --watch'\n"
	"      --interval SECONDS   poll interval for --watch (default 2)\n"
	"      --json               print the API's batch object instead of the id\n"
	"  -h, --help               this help\n"
	"\n"
	"Prints the batch id (on a terminal a sentence).\n"
	"Exit status: 0 ok (with --watch: completed), 10 partial, 11 failed, 12 cancelled,\n"
	"2 usage, 3 API error (schedule_not_found, no instance left, ...), 4 server\n"
	"unreachable.\n";

static const char DELETE_HELP[] =
	"Usage: amcbatch schedule delete ID [--json]\n"
	"\n"
	"Delete a schedule and its run history (DELETE /schedules/{ID}). Its batches stay.\n"
	"\n"
	"      --json  print the API's answer\n"
	"  -h, --help  this help\n"
	"\n"
	"Exit status: 0 ok, 2 usage, 3 API error (schedule_not_found), 4 server unreachable.\n";

static const char RUNS_HELP[] =
	"Usage: amcbatch schedule runs ID [--limit N] [--offset N] [--json]\n"
	"\n"
	"What became of a schedule's slots, newest first (GET /schedules/{ID}/runs): the slot\n"
	"(local time), schedule or manual (run-now), started / skipped / failed, the batch with\n"
	"its status and progress, and why (missed, overlap, refused instances, the error).\n"
	"\n"
	"  -l, --limit N   at most N runs (server default 50, at most 500)\n"
	"      --offset N  skip the first N\n"
	"      --json      print the API's JSON answer\n"
	"  -h, --help      this help\n"
	"\n"
	"Exit status: 0 ok, 2 usage, 3 API error (schedule_not_found), 4 server unreachable.\n";

static const char PREVIEW_HELP[] =
	"Usage: amcbatch schedule preview --cron EXPR [--timezone ZONE] [--count N]\n"
	"                                 [--from TIME] [--json]\n"
	"\n"
	"Show how a cron expression reads and when it would run (GET /schedules/preview),\n"
	"DST changes of the zone included. Nothing is stored.\n"
	"\n"
	"  -c, --cron EXPR      the expression (required)\n"
	"  -z, --timezone ZONE  IANA zone it is read in (default UTC)\n"
	"  -N, --count N        how many runs, 1-100 (default 5)\n"
	"      --from TIME      runs after TIME (2027-03-28T00:00:00Z or Unix seconds)\n"
	"                       instead of now\n"
	"      --json           print the API's JSON answer\n"
	"  -h, --help           this help\n"
	"\n"
	"Exit status: 0 ok, 2 usage, 3 API error (invalid_cron, invalid_timezone), 4 server\n"
	"unreachable.\n";

/* Widest server text a `show` line prints (names are 200 bytes, descriptions 2000). */
#define SHOW_CELL_MAX 4000

/* ---- shared helpers ---- */

static int oom(void)
{
	cli_error("internal", "out of memory");
	return CLI_EXIT_INTERNAL;
}

/* After getopt: exactly one positional ID remains (borrowed from argv). */
static int id_arg(const char *cmd, int argc, char *const argv[], const char **id)
{
	if (optind >= argc)
		return cli_usage_error(cmd, "missing schedule ID");
	*id = argv[optind++];
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	return CLI_EXIT_OK;
}

/* "/schedules/<escaped id><tail>"; caller frees; NULL on OOM. */
static char *sched_path(ApiClient *h, const char *id, const char *tail)
{
	char *esc = apiclient_escape(h, id), *path;

	if (esc == NULL)
		return NULL;
	if (asprintf(&path, "/schedules/%s%s", esc, tail) < 0)
		path = NULL;
	free(esc);
	return path;
}

/* One request; on failure reports it and returns its exit code. *resp: caller decrefs. */
static int call(ApiClient *h, const char *method, const char *path, const json_t *body,
		json_t **resp)
{
	if (!apiclient_call(h, method, path, body, resp)) {
		apiclient_report(h);
		return h->err;
	}
	return CLI_EXIT_OK;
}

/* The answer's member `key` if it is an object (borrowed), else reports a bad response. */
static const json_t *answer_object(const json_t *resp, const char *key)
{
	const json_t *v = json_object_get(resp, key);

	if (!json_is_object(v)) {
		cli_error("bad_response", "no \"%s\" object in the answer", key);
		return NULL;
	}
	return v;
}

/* How local_time prints: a fixed set, so each strftime format is a literal -Wformat can check. */
enum LocalStyle {
	LOCAL_MINUTE,         /* 2026-12-07 06:00 */
	LOCAL_WEEKDAY,        /* Mon 2026-12-07 06:00 */
	LOCAL_WEEKDAY_MARKED, /* Mon 2026-12-07 06:00 (local) */
};

/* An ISO-8601 UTC time of the API ("2026-12-07T05:00:00Z", with or without milliseconds)
 * in the local zone as style gives it; "-" when iso is NULL, iso itself when it
 * cannot be read. */
static void local_time(const char *iso, enum LocalStyle style, char *buf, size_t size)
{
	struct tm tm = { 0 };
	time_t t;
	int n = 0;

	if (iso == NULL) {
		snprintf(buf, size, "-");
		return;
	}
	if (sscanf(iso, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    n == 0) {
		snprintf(buf, size, "%s", iso);
		return;
	}
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	if (!localtime_r(&t, &tm)) {
		snprintf(buf, size, "%s", iso);
		return;
	}
	n = 0; /* no default: -Wswitch names a style added without its format */
	switch (style) {
	case LOCAL_MINUTE:
		n = (int)strftime(buf, size, "%Y-%m-%d %H:%M", &tm);
		break;
	case LOCAL_WEEKDAY:
		n = (int)strftime(buf, size, "%a %Y-%m-%d %H:%M", &tm);
		break;
	case LOCAL_WEEKDAY_MARKED:
		n = (int)strftime(buf, size, "%a %Y-%m-%d %H:%M (local)", &tm);
		break;
	}
	if (n == 0)
		snprintf(buf, size, "%s", iso);
}

/* The last run as the list and show print it: "<batch status or outcome> <slot>". */
static void last_run_text(const json_t *lr, bool with_time, char *buf, size_t size)
{
	char when[40];
	const char *what;

	if (!json_is_object(lr)) {
		snprintf(buf, size, "-");
		return;
	}
	what = fmt_str(lr, "status", fmt_str(lr, "outcome", "?"));
	if (!with_time) {
		snprintf(buf, size, "%s", what);
		return;
	}
	local_time(fmt_str(lr, "scheduled_for", NULL), LOCAL_MINUTE, when, sizeof(when));
	snprintf(buf, size, "%s %s%s%s", when, what,
		 fmt_str(lr, "batch_id", NULL) != NULL ? ", batch " : "",
		 fmt_str(lr, "batch_id", ""));
}

/* "Schedule <id>: <reading>; next run <local time> (local)" or "...; paused". */
static void summary_line(const json_t *s, const char *verb, char *buf, size_t size)
{
	char next[40];
	char *desc = table_cell(fmt_str(s, "cron_description", fmt_str(s, "cron", "?")), 400);

	if (json_is_true(json_object_get(s, "enabled"))) {
		local_time(fmt_str(s, "next_run_at", NULL), LOCAL_MINUTE, next, sizeof(next));
		snprintf(buf, size, "Schedule %s%s: %s; next run %s (local)", fmt_str(s, "id", "?"),
			 verb, desc != NULL ? desc : "", next);
	} else {
		/* "Schedule X paused: ...; paused" would say it twice */
		snprintf(buf, size, "Schedule %s%s: %s%s", fmt_str(s, "id", "?"), verb,
			 desc != NULL ? desc : "", strcmp(verb, " paused") == 0 ? "" : "; paused");
	}
	free(desc);
}

/* Prints the schedule as create and edit report it: --json the object, on a terminal the
 * summary line, else only the id (S=$(amcbatch schedule create ...)). */
static int report_schedule(const json_t *s, const char *verb, bool json_out)
{
	char line[600];

	if (json_out)
		return cli_print_json(s);
	if (isatty(STDOUT_FILENO)) {
		summary_line(s, verb, line, sizeof(line));
		puts(line);
	} else {
		puts(fmt_str(s, "id", "?"));
	}
	return ferror(stdout) ? CLI_EXIT_INTERNAL : CLI_EXIT_OK;
}

/* Opens the client, sends one request on /schedules/<id><tail> and hands the answer's
 * "schedule" to report_schedule with verb (pause, resume, edit). */
static int schedule_request(const char *method, const char *id, const char *tail,
			    const json_t *body, const char *verb, bool json_out)
{
	json_t *resp = NULL;
	const json_t *s;
	char *path = NULL;
	ApiClient h;
	int rc;

	if ((rc = cli_api_open(&h)) != CLI_EXIT_OK)
		return rc;
	if ((path = sched_path(&h, id, tail)) == NULL)
		rc = oom();
	else if ((rc = call(&h, method, path, body, &resp)) == CLI_EXIT_OK)
		rc = (s = answer_object(resp, "schedule")) != NULL
			     ? report_schedule(s, verb, json_out)
			     : CLI_EXIT_API;
	free(path);
	json_decref(resp);
	apiclient_cleanup(&h);
	return rc;
}

/* Allocates the repeatable-option arrays of a (argc bounds how often one can occur). */
static bool args_alloc(SubmitArgs *a, int argc)
{
	a->lists = calloc((size_t)argc, sizeof(*a->lists));
	a->params = calloc((size_t)argc, sizeof(*a->params));
	a->overrides = calloc((size_t)argc, sizeof(*a->overrides));
	return a->lists != NULL && a->params != NULL && a->overrides != NULL;
}

static void args_free(SubmitArgs *a)
{
	free(a->lists);
	free(a->params);
	free(a->overrides);
}

static bool overlap_ok(const char *s)
{
	return strcmp(s, "skip") == 0 || strcmp(s, "queue") == 0;
}

/* ---- create ---- */

enum {
	OPT_PARAMS_JSON = 256,
	OPT_WINDOW,
	OPT_LAG_DAYS,
	OPT_OVERLAP,
	OPT_PAUSED,
	OPT_JSON,
	OPT_NO_WINDOW,
	OPT_OFFSET,
	OPT_INTERVAL,
	OPT_FROM,
	OPT_ON_FAILURE,
};

/* submit's batch options, shared by create and edit (their letters are submit's) */
#define BATCH_OPTIONS \
	{ "instances", required_argument, NULL, 'i' }, { "all", no_argument, NULL, 'a' }, \
		{ "param", required_argument, NULL, 'p' }, \
		{ "params-json", required_argument, NULL, OPT_PARAMS_JSON }, \
		{ "override", required_argument, NULL, 'o' }, \
		{ "window", required_argument, NULL, OPT_WINDOW }, \
		{ "lag-days", required_argument, NULL, OPT_LAG_DAYS }, \
		{ "on-failure", required_argument, NULL, OPT_ON_FAILURE }, \
		{ "name", required_argument, NULL, 'n' }, \
		{ "description", required_argument, NULL, 'd' }, \
		{ "cron", required_argument, NULL, 'c' }, \
		{ "timezone", required_argument, NULL, 'z' }, \
		{ "overlap", required_argument, NULL, OPT_OVERLAP }, \
		{ "json", no_argument, NULL, OPT_JSON }, \
	{ \
		"help", no_argument, NULL, 'h' \
	}

/* The schedule's own options besides the batch ones. */
typedef struct SchedOpts {
	const char *cron, *zone, *overlap;
	bool paused, no_window, json_out;
} SchedOpts;

/* Takes option c of create or edit into a and o; -1 when c is not one of theirs. */
static int take_option(int c, SubmitArgs *a, SchedOpts *o)
{
	switch (c) {
	case 'i':
		a->lists[a->nlists++] = optarg;
		return 0;
	case 'a':
		a->all = true;
		return 0;
	case 'p':
		a->params[a->nparams++] = optarg;
		return 0;
	case OPT_PARAMS_JSON:
		a->params_json = optarg;
		return 0;
	case 'o':
		a->overrides[a->noverrides++] = optarg;
		return 0;
	case OPT_WINDOW:
		a->window = optarg;
		return 0;
	case OPT_LAG_DAYS:
		a->lag_days = optarg;
		return 0;
	case OPT_ON_FAILURE:
		a->on_failure = optarg;
		return 0;
	case 'n':
		a->name = optarg;
		return 0;
	case 'd':
		a->description = optarg;
		return 0;
	case 'c':
		o->cron = optarg;
		return 0;
	case 'z':
		o->zone = optarg;
		return 0;
	case OPT_OVERLAP:
		o->overlap = optarg;
		return 0;
	case OPT_PAUSED:
		o->paused = true;
		return 0;
	case OPT_NO_WINDOW:
		o->no_window = true;
		return 0;
	case OPT_JSON:
		o->json_out = true;
		return 0;
	default:
		return -1;
	}
}

/* Parses create's or edit's options into a (its arrays allocated here: the caller frees them
 * with the rest of a) and o. -1 to go on; else the exit code (--help printed, a usage error,
 * no memory). */
static int parse_options(int argc, char *argv[], const struct option *opts, const char *help,
			 const char *cmd, SubmitArgs *a, SchedOpts *o)
{
	int c;

	if (!args_alloc(a, argc))
		return oom();
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":i:ap:o:n:d:c:z:h", opts, NULL)) != -1) {
		if (take_option(c, a, o) == 0)
			continue;
		if (c != 'h')
			return cli_getopt_error(cmd, c, argv);
		fputs(help, stdout);
		return CLI_EXIT_OK;
	}
	return -1;
}

/* Sets the schedule's own members given in o on body; false on OOM or text not UTF-8. */
static bool set_own(json_t *body, const SchedOpts *o)
{
	return (o->cron == NULL || json_object_set_new(body, "cron", json_string(o->cron)) == 0) &&
	       (o->zone == NULL ||
		json_object_set_new(body, "timezone", json_string(o->zone)) == 0) &&
	       (o->overlap == NULL ||
		json_object_set_new(body, "overlap", json_string(o->overlap)) == 0);
}

static int schedule_create(int argc, char *argv[])
{
	static const char cmd[] = "schedule create";
	static const struct option opts[] = {
		BATCH_OPTIONS,
		{ "paused", no_argument, NULL, OPT_PAUSED },
		{ NULL, 0, NULL, 0 },
	};
	SubmitArgs a = { 0 };
	SchedOpts o = { 0 };
	json_t *body = NULL, *resp = NULL;
	const json_t *s;
	ApiClient h;
	bool open = false;
	int rc = CLI_EXIT_USAGE;

	if ((rc = parse_options(argc, argv, opts, CREATE_HELP, cmd, &a, &o)) >= 0)
		goto out;
	if (optind >= argc) {
		rc = cli_usage_error(cmd, "missing WORKFLOW_ID");
		goto out;
	}
	a.workflow = argv[optind++];
	if (optind < argc) {
		rc = cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (a.name == NULL || o.cron == NULL) {
		rc = cli_usage_error(cmd, "%s is required", a.name == NULL ? "--name" : "--cron");
		goto out;
	}
	if (o.overlap != NULL && !overlap_ok(o.overlap)) {
		rc = cli_usage_error(cmd, "--overlap wants skip or queue, got '%s'", o.overlap);
		goto out;
	}
	if ((rc = cmd_submit_check(&a, cmd, true)) != CLI_EXIT_OK)
		goto out;
	if ((rc = cli_api_open(&h)) != CLI_EXIT_OK)
		goto out;
	open = true;
	if ((body = cmd_submit_body(&h, &a, cmd, &rc)) == NULL)
		goto out;
	if (json_object_set_new(body, "workflow_id", json_string(a.workflow)) != 0 ||
	    !set_own(body, &o) ||
	    (o.paused && json_object_set_new(body, "enabled", json_false()) != 0)) {
		cli_error("internal", "out of memory or text that is not UTF-8");
		rc = CLI_EXIT_INTERNAL;
		goto out;
	}
	if ((rc = call(&h, "POST", "/schedules", body, &resp)) != CLI_EXIT_OK)
		goto out;
	rc = (s = answer_object(resp, "schedule")) != NULL ? report_schedule(s, "", o.json_out)
							   : CLI_EXIT_API;
out:
	json_decref(body);
	json_decref(resp);
	if (open)
		apiclient_cleanup(&h);
	args_free(&a);
	return rc;
}

/* ---- edit ---- */

/* The batch members of an edit: a's instances, parameters and overrides (a is a copy the
 * caller throws away: its lists and params_json may be pointed at the stored schedule's)
 * applied to the stored schedule (GET first): instances given replace the stored ones, parameters are set
 * on the stored ones (on --params-json's instead, when given), overrides are set on the
 * stored ones of the instances that stay. Sets them on body. */
static int edit_batch(ApiClient *h, const char *id, SubmitArgs *a, json_t *body)
{
	static const char cmd[] = "schedule edit";
	json_t *resp = NULL, *built = NULL, *over = NULL, *new_ids, *v;
	const json_t *stored, *ids, *mine;
	const char **lists = NULL, *key;
	char *path = NULL, *params_text = NULL;
	size_t i;
	int rc;

	if ((path = sched_path(h, id, "")) == NULL)
		return oom();
	if ((rc = call(h, "GET", path, NULL, &resp)) != CLI_EXIT_OK)
		goto out;
	if ((stored = answer_object(resp, "schedule")) == NULL) {
		rc = CLI_EXIT_API;
		goto out;
	}
	if (!a->all && a->nlists == 0) {
		/* the stored instances, by UUID: no lookup needed */
		ids = json_object_get(stored, "instance_ids");
		if ((lists = calloc(json_array_size(ids) + 1, sizeof(*lists))) == NULL) {
			rc = oom();
			goto out;
		}
		json_array_foreach (ids, i, v)
			if (json_is_string(v))
				lists[a->nlists++] = json_string_value(v);
		a->lists = lists; /* a is the caller's copy: its argv-sized array stays its own */
	}
	if (a->params_json == NULL) {
		const json_t *p = json_object_get(stored, "parameters");

		if (!json_is_object(p)) {
			a->params_json = "{}";
		} else if ((a->params_json = params_text = json_dumps(p, JSON_COMPACT)) == NULL) {
			rc = oom();
			goto out;
		}
	}
	if ((built = cmd_submit_body(h, a, cmd, &rc)) == NULL)
		goto out;
	/* the overrides: the stored ones of the instances kept, then the given ones on top */
	new_ids = json_object_get(built, "instance_ids");
	if ((over = json_object()) == NULL) {
		rc = oom();
		goto out;
	}
	json_object_foreach (json_object_get(stored, "instance_parameters"), key, v) {
		json_array_foreach (new_ids, i, mine)
			if (strcmp(json_string_value(mine), key) == 0 &&
			    json_object_set_new(over, key, json_deep_copy(v)) != 0) {
				rc = oom();
				goto out;
			}
	}
	json_object_foreach (json_object_get(built, "instance_parameters"), key, v) {
		json_t *cur = json_object_get(over, key);

		if (cur != NULL ? json_object_update(cur, v) != 0
				: json_object_set(over, key, v) != 0) {
			rc = oom();
			goto out;
		}
	}
	if (json_object_set(body, "instance_ids", new_ids) != 0 ||
	    json_object_set(body, "parameters", json_object_get(built, "parameters")) != 0 ||
	    json_object_set(body, "instance_parameters", over) != 0)
		rc = oom();
out:
	free(lists);
	free(params_text);
	free(path);
	json_decref(over);
	json_decref(built);
	json_decref(resp);
	return rc;
}

static int schedule_edit(int argc, char *argv[])
{
	static const char cmd[] = "schedule edit";
	static const struct option opts[] = {
		BATCH_OPTIONS,
		{ "no-window", no_argument, NULL, OPT_NO_WINDOW },
		{ NULL, 0, NULL, 0 },
	};
	SubmitArgs a = { 0 }, batch;
	SchedOpts o = { 0 };
	json_t *body = NULL;
	const char *id = NULL;
	char err[256];
	ApiClient h;
	bool open = false;
	int rc = CLI_EXIT_USAGE;

	if ((rc = parse_options(argc, argv, opts, EDIT_HELP, cmd, &a, &o)) >= 0)
		goto out;
	if ((rc = id_arg(cmd, argc, argv, &id)) != CLI_EXIT_OK)
		goto out;
	rc = CLI_EXIT_USAGE;
	if (o.overlap != NULL && !overlap_ok(o.overlap)) {
		rc = cli_usage_error(cmd, "--overlap wants skip or queue, got '%s'", o.overlap);
		goto out;
	}
	if (o.no_window && a.window != NULL) {
		rc = cli_usage_error(cmd, "--window and --no-window exclude each other");
		goto out;
	}
	if ((rc = cmd_submit_check(&a, cmd, false)) != CLI_EXIT_OK)
		goto out;
	if ((body = json_object()) == NULL || !set_own(body, &o) ||
	    (a.name != NULL && json_object_set_new(body, "name", json_string(a.name)) != 0) ||
	    (a.description != NULL &&
	     json_object_set_new(body, "description",
				 *a.description ? json_string(a.description) : json_null()) != 0) ||
	    (o.no_window && json_object_set_new(body, "window", json_null()) != 0)) {
		cli_error("internal", "out of memory or text that is not UTF-8");
		rc = CLI_EXIT_INTERNAL;
		goto out;
	}
	if (a.window != NULL) {
		json_t *w = args_window(a.window, a.lag_days, err, sizeof(err));

		if (w == NULL || json_object_set_new(body, "window", w) != 0) {
			rc = w != NULL ? oom() : cli_usage_error(cmd, "%s", err);
			goto out;
		}
	}
	if (a.on_failure != NULL) {
		json_t *p = args_on_failure(a.on_failure, err, sizeof(err));

		if (p == NULL || json_object_set_new(body, "on_failure", p) != 0) {
			rc = p != NULL ? oom() : cli_usage_error(cmd, "%s", err);
			goto out;
		}
	}
	if (json_object_size(body) == 0 && !a.all && a.nlists == 0 && a.nparams == 0 &&
	    a.params_json == NULL && a.noverrides == 0) {
		rc = cli_usage_error(cmd, "nothing to change: give at least one option");
		goto out;
	}
	if ((rc = cli_api_open(&h)) != CLI_EXIT_OK)
		goto out;
	open = true;
	if (a.all || a.nlists > 0 || a.nparams > 0 || a.params_json != NULL || a.noverrides > 0) {
		/* only the batch members: name, description and window are in body already */
		batch = a;
		batch.name = batch.description = batch.window = batch.lag_days = batch.on_failure =
			NULL;
		if ((rc = edit_batch(&h, id, &batch, body)) != CLI_EXIT_OK)
			goto out;
	}
	apiclient_cleanup(&h);
	open = false;
	rc = schedule_request("PATCH", id, "", body, " updated", o.json_out);
out:
	json_decref(body);
	if (open)
		apiclient_cleanup(&h);
	args_free(&a);
	return rc;
}

/* ---- list and show ---- */

static int print_schedules(const json_t *resp)
{
	static const char *const head[] = { "ID",       "NAME",     "SCHEDULE",
					    "NEXT RUN", "LAST RUN", "ENABLED" };
	const json_t *list = json_object_get(resp, "schedules"), *s;
	long long total =
		fmt_json_int(json_object_get(resp, "total"), (long long)json_array_size(list));
	Table t;
	size_t i;
	bool ok;

	if (!table_init(&t, ARRAY_LEN(head), head))
		return oom();
	/* ids and times stay whole; names and readings give way on a narrow terminal */
	table_flag(&t, 0, TABLE_FIXED);
	table_flag(&t, 3, TABLE_FIXED);
	table_flag(&t, 4, TABLE_FIXED);
	table_flag(&t, 5, TABLE_FIXED);
	json_array_foreach (list, i, s) {
		char next[40], last[64];
		bool on = json_is_true(json_object_get(s, "enabled"));
		const char *row[] = {
			fmt_str(s, "id", "?"),
			fmt_str(s, "name", ""),
			fmt_str(s, "cron_description", fmt_str(s, "cron", "")),
			next,
			last,
			on ? "yes" : "no",
		};

		local_time(on ? fmt_str(s, "next_run_at", NULL) : NULL, LOCAL_MINUTE, next,
			   sizeof(next));
		last_run_text(json_object_get(s, "last_run"), false, last, sizeof(last));
		if (!table_add_row(&t, row)) {
			table_cleanup(&t);
			return oom();
		}
	}
	ok = cli_print_table(&t);
	table_cleanup(&t);
	printf("%zu shown of %lld schedule%s\n", json_array_size(list), total,
	       total == 1 ? "" : "s");
	return ok && !ferror(stdout) ? CLI_EXIT_OK : CLI_EXIT_INTERNAL;
}

/* The note of a run: why it was skipped or failed, earlier slots it skipped as missed,
 * instances left out of it. */
static void run_note(const json_t *r, char *buf, size_t size)
{
	long long missed = fmt_json_int(json_object_get(r, "missed"), 0);
	size_t refused = json_array_size(json_object_get(r, "refused_instances"));
	const char *reason = fmt_str(r, "reason", NULL);
	int n = 0;

	buf[0] = '\0';
	if (reason != NULL)
		n = snprintf(buf, size, "%s", reason);
	if (missed > 0 && n >= 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, "%s%lld earlier slot%s missed",
			      n ? "; " : "", missed, missed == 1 ? "" : "s");
	if (refused > 0 && n >= 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, "%s%zu instance%s refused", n ? "; " : "",
			 refused, refused == 1 ? "" : "s");
}

static int print_runs(const json_t *resp)
{
	static const char *const head[] = { "SLOT",   "TRIGGER", "OUTCOME", "BATCH",
					    "STATUS", "DONE",    "NOTE" };
	const json_t *list = json_object_get(resp, "runs"), *r;
	long long total =
		fmt_json_int(json_object_get(resp, "total"), (long long)json_array_size(list));
	Table t;
	size_t i;
	bool ok;

	if (!table_init(&t, ARRAY_LEN(head), head))
		return oom();
	t.maxw = CLI_ERROR_CELL_MAX; /* a failed run's reason is the point */
	for (i = 0; i < 6; i++)
		table_flag(&t, i, TABLE_FIXED);
	table_align_right(&t, 5);
	table_flag(&t, 6, TABLE_HIDE_EMPTY);
	json_array_foreach (list, i, r) {
		char slot[40], done[64], note[CLI_ERROR_CELL_MAX + 64];
		const char *batch = fmt_str(r, "batch_id", NULL);
		const char *row[] = {
			slot,
			fmt_str(r, "trigger", ""),
			fmt_str(r, "outcome", "?"),
			batch != NULL ? batch : "-",
			fmt_str(r, "status", "-"),
			done,
			note,
		};

		local_time(fmt_str(r, "scheduled_for", NULL), LOCAL_MINUTE, slot, sizeof(slot));
		if (batch)
			snprintf(done, sizeof(done), "%lld/%lld",
				 fmt_json_int(json_object_get(r, "completed_instances"), 0),
				 fmt_json_int(json_object_get(r, "total_instances"), 0));
		else
			snprintf(done, sizeof(done), "-");
		run_note(r, note, sizeof(note));
		if (!table_add_row(&t, row)) {
			table_cleanup(&t);
			return oom();
		}
	}
	ok = cli_print_table(&t);
	table_cleanup(&t);
	printf("%zu shown of %lld run%s\n", json_array_size(list), total, total == 1 ? "" : "s");
	return ok && !ferror(stdout) ? CLI_EXIT_OK : CLI_EXIT_INTERNAL;
}

/* limit and offset options of list and runs: parsed loosely, the server judges the range */
static bool page_query(ApiClient *h, char **path, const char *limit, const char *offset)
{
	return (limit == NULL || apiclient_add_query(h, path, "limit", limit)) &&
	       (offset == NULL || apiclient_add_query(h, path, "offset", offset));
}

/* `list` and `runs` share their options (runs: of the schedule named by the argument). */
static int list_or_runs(const char *cmd, const char *help, int argc, char *argv[], bool runs)
{
	static const struct option opts[] = {
		{ "limit", required_argument, NULL, 'l' },
		{ "offset", required_argument, NULL, OPT_OFFSET },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *limit = NULL, *offset = NULL, *id = NULL;
	bool json_out = false;
	char *path = NULL;
	json_t *resp = NULL;
	long n;
	ApiClient h;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":l:h", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (!cli_parse_long(optarg, 1, 1000000, &n))
				return cli_usage_error(
					cmd, "--limit wants a positive number, got '%s'", optarg);
			limit = optarg;
			break;
		case OPT_OFFSET:
			if (!cli_parse_long(optarg, 0, 1000000000L, &n))
				return cli_usage_error(
					cmd, "--offset wants a number >= 0, got '%s'", optarg);
			offset = optarg;
			break;
		case OPT_JSON:
			json_out = true;
			break;
		case 'h':
			fputs(help, stdout);
			return CLI_EXIT_OK;
		default:
			return cli_getopt_error(cmd, c, argv);
		}
	}
	if (runs) {
		if ((rc = id_arg(cmd, argc, argv, &id)) != CLI_EXIT_OK)
			return rc;
	} else if (optind < argc) {
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	}
	if ((rc = cli_api_open(&h)) != CLI_EXIT_OK)
		return rc;
	path = runs ? sched_path(&h, id, "/runs") : strdup("/schedules");
	if (path == NULL || !page_query(&h, &path, limit, offset)) {
		rc = oom();
		goto out;
	}
	if ((rc = call(&h, "GET", path, NULL, &resp)) != CLI_EXIT_OK)
		goto out;
	if (!json_is_array(json_object_get(resp, runs ? "runs" : "schedules"))) {
		cli_error("bad_response", "no \"%s\" array in the answer",
			  runs ? "runs" : "schedules");
		rc = CLI_EXIT_API;
		goto out;
	}
	rc = json_out ? cli_print_json(resp) : runs ? print_runs(resp) : print_schedules(resp);
out:
	free(path);
	json_decref(resp);
	apiclient_cleanup(&h);
	return rc;
}

static int schedule_list(int argc, char *argv[])
{
	return list_or_runs("schedule list", LIST_HELP, argc, argv, false);
}

/* One "Label      value" line of show, value with control characters blanked. */
static bool show_line(const char *label, const char *value)
{
	char *v = table_cell(value != NULL ? value : "-", SHOW_CELL_MAX);

	if (v == NULL)
		return false;
	printf("%-12s%s\n", label, v);
	free(v);
	return true;
}

/* "a, b, c" of an array of strings; caller frees; NULL on OOM. */
static char *join(const json_t *arr)
{
	size_t i, len = 1;
	const json_t *v;
	char *s;

	json_array_foreach (arr, i, v)
		len += json_string_length(v) + 2;
	if ((s = calloc(1, len)) == NULL)
		return NULL;
	json_array_foreach (arr, i, v) {
		if (!json_is_string(v))
			continue;
		if (*s)
			strcat(s, ", ");
		strcat(s, json_string_value(v));
	}
	return s;
}

/* Compact JSON of v for show (NULL when v is absent or empty); caller frees. */
static char *compact(const json_t *v, bool *oom_flag)
{
	char *s;

	if (v == NULL || json_is_null(v) || (json_is_object(v) && json_object_size(v) == 0))
		return NULL;
	if ((s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)) == NULL)
		*oom_flag = true;
	return s;
}

static int print_schedule(const json_t *s)
{
	char buf[600], win[160], when[48], *list;
	const json_t *v;
	bool bad = false;
	size_t i;
	char *ids = join(json_object_get(s, "instance_ids"));
	char *params = compact(json_object_get(s, "parameters"), &bad);
	char *over = compact(json_object_get(s, "instance_parameters"), &bad);
	bool on = json_is_true(json_object_get(s, "enabled"));

	if (bad || ids == NULL) {
		free(ids);
		free(params);
		free(over);
		return oom();
	}
	snprintf(buf, sizeof(buf), "%s (%s)", fmt_str(s, "workflow_name", "?"),
		 fmt_str(s, "workflow_id", "?"));
	bad |= !show_line("Schedule", fmt_str(s, "id", "?")) ||
	       !show_line("Name", fmt_str(s, "name", ""));
	if (fmt_str(s, "description", NULL) != NULL)
		bad |= !show_line("Description", fmt_str(s, "description", NULL));
	bad |= !show_line("Workflow", buf);
	snprintf(buf, sizeof(buf), "%s in %s", fmt_str(s, "cron", "?"),
		 fmt_str(s, "timezone", "UTC"));
	bad |= !show_line("Cron", buf) || !show_line("Reads", fmt_str(s, "cron_description", NULL));
	if (asprintf(&list, "%zu: %s", json_array_size(json_object_get(s, "instance_ids")), ids) <
	    0)
		list = NULL;
	bad |= list == NULL || !show_line("Instances", list);
	free(list);
	bad |= !show_line("Parameters", params != NULL ? params : "{}");
	if (over != NULL)
		bad |= !show_line("Overrides", over);
	fmt_window(json_object_get(s, "window"), win, sizeof(win));
	bad |= !show_line("Window", win[0] ? win : "-");
	bad |= !show_line("Overlap", fmt_str(s, "overlap", "skip"));
	bad |= !show_line("Enabled", on ? "yes" : "no (paused)");
	last_run_text(json_object_get(s, "last_run"), true, buf, sizeof(buf));
	bad |= !show_line("Last run", buf);
	local_time(fmt_str(s, "created_at", NULL), LOCAL_MINUTE, when, sizeof(when));
	bad |= !show_line("Created", when);
	if (!on || json_array_size(json_object_get(s, "next_runs")) == 0) {
		bad |= !show_line("Next runs", "none (paused)");
	} else {
		json_array_foreach (json_object_get(s, "next_runs"), i, v) {
			local_time(json_string_value(v), LOCAL_WEEKDAY_MARKED, when, sizeof(when));
			bad |= !show_line(i == 0 ? "Next runs" : "", when);
		}
	}
	free(ids);
	free(params);
	free(over);
	if (bad)
		return oom();
	return ferror(stdout) ? CLI_EXIT_INTERNAL : CLI_EXIT_OK;
}

/* show, pause, resume and delete: one ID, --json. */
static int id_command(const char *cmd, const char *help, int argc, char *argv[], const char **id,
		      bool *json_out)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_JSON:
			*json_out = true;
			break;
		case 'h':
			fputs(help, stdout);
			return -1;
		default:
			return cli_getopt_error(cmd, c, argv);
		}
	}
	return id_arg(cmd, argc, argv, id);
}

static int schedule_show(int argc, char *argv[])
{
	const char *id;
	bool json_out = false;
	json_t *resp = NULL;
	const json_t *s;
	char *path = NULL;
	ApiClient h;
	int rc = id_command("schedule show", SHOW_HELP, argc, argv, &id, &json_out);

	if (rc != CLI_EXIT_OK)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if ((rc = cli_api_open(&h)) != CLI_EXIT_OK)
		return rc;
	if ((path = sched_path(&h, id, "")) == NULL)
		rc = oom();
	else if ((rc = call(&h, "GET", path, NULL, &resp)) == CLI_EXIT_OK)
		rc = (s = answer_object(resp, "schedule")) == NULL ? CLI_EXIT_API
		     : json_out                                    ? cli_print_json(s)
								   : print_schedule(s);
	free(path);
	json_decref(resp);
	apiclient_cleanup(&h);
	return rc;
}

static int schedule_pause(int argc, char *argv[])
{
	const char *id;
	bool json_out = false;
	int rc = id_command("schedule pause", PAUSE_HELP, argc, argv, &id, &json_out);

	if (rc != CLI_EXIT_OK)
		return rc < 0 ? CLI_EXIT_OK : rc;
	return schedule_request("POST", id, "/pause", NULL, " paused", json_out);
}

static int schedule_resume(int argc, char *argv[])
{
	const char *id;
	bool json_out = false;
	int rc = id_command("schedule resume", RESUME_HELP, argc, argv, &id, &json_out);

	if (rc != CLI_EXIT_OK)
		return rc < 0 ? CLI_EXIT_OK : rc;
	return schedule_request("POST", id, "/resume", NULL, " resumed", json_out);
}

static int schedule_delete(int argc, char *argv[])
{
	const char *id;
	bool json_out = false;
	json_t *resp = NULL;
	char *path = NULL;
	ApiClient h;
	int rc = id_command("schedule delete", DELETE_HELP, argc, argv, &id, &json_out);

	if (rc != CLI_EXIT_OK)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if ((rc = cli_api_open(&h)) != CLI_EXIT_OK)
		return rc;
	if ((path = sched_path(&h, id, "")) == NULL)
		rc = oom();
	else if ((rc = call(&h, "DELETE", path, NULL, &resp)) == CLI_EXIT_OK) {
		if (json_out)
			rc = cli_print_json(resp);
		else if (printf("Schedule %s deleted\n", fmt_str(resp, "deleted", id)) < 0)
			rc = CLI_EXIT_INTERNAL;
	}
	free(path);
	json_decref(resp);
	apiclient_cleanup(&h);
	return rc;
}

static int schedule_runs(int argc, char *argv[])
{
	return list_or_runs("schedule runs", RUNS_HELP, argc, argv, true);
}

/* ---- run now ---- */

static int schedule_run_now(int argc, char *argv[])
{
	static const char cmd[] = "schedule run-now";
	static const struct option opts[] = {
		{ "watch", no_argument, NULL, 'w' },
		{ "interval", required_argument, NULL, OPT_INTERVAL },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *id;
	bool watch = false, json_out = false;
	double interval = 2.0;
	json_t *resp = NULL;
	const json_t *batch, *r;
	char *path = NULL, line[256];
	long long n;
	size_t i;
	ApiClient h;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":wh", opts, NULL)) != -1) {
		switch (c) {
		case 'w':
			watch = true;
			break;
		case OPT_INTERVAL:
			if (!cli_parse_double(optarg, 0.1, 3600, &interval))
				return cli_usage_error(
					cmd,
					"--interval wants seconds between 0.1 and 3600, got '%s'",
					optarg);
			break;
		case OPT_JSON:
			json_out = true;
			break;
		case 'h':
			fputs(RUN_NOW_HELP, stdout);
			return CLI_EXIT_OK;
		default:
			return cli_getopt_error(cmd, c, argv);
		}
	}
	if ((rc = id_arg(cmd, argc, argv, &id)) != CLI_EXIT_OK)
		return rc;
	if ((rc = cli_api_open(&h)) != CLI_EXIT_OK)
		return rc;
	/* no Idempotency-Key: the endpoint does not take one, so a lost answer is not repeated
	 * (a repeat could start a second batch) */
	if ((path = sched_path(&h, id, "/run-now")) == NULL) {
		rc = oom();
		goto out;
	}
	if ((rc = call(&h, "POST", path, NULL, &resp)) != CLI_EXIT_OK)
		goto out;
	if ((batch = answer_object(resp, "batch")) == NULL) {
		rc = CLI_EXIT_API;
		goto out;
	}
	/* the run went ahead without them: say so where a script's $(...) does not catch it */
	json_array_foreach (json_object_get(resp, "refused_instances"), i, r)
		fprintf(stderr, "amcbatch: instance %s left out of this run: %s (%s)\n",
			fmt_str(r, "instance_id", "?"), fmt_str(r, "message", "refused"),
			fmt_str(r, "code", "refused"));
	n = fmt_json_int(json_object_get(batch, "total_instances"), 0);
	snprintf(line, sizeof(line), "Schedule %s started %s: %lld instance%s, status %s", id,
		 fmt_str(batch, "batch_id", "?"), n, n == 1 ? "" : "s",
		 fmt_str(batch, "status", "?"));
	rc = cmd_report_new_batch(&h, batch, line, json_out, watch, interval);
out:
	free(path);
	json_decref(resp);
	apiclient_cleanup(&h);
	return rc;
}

/* ---- preview ---- */

static int print_preview(const json_t *resp)
{
	const json_t *v;
	char when[48];
	size_t i;
	char *desc = table_cell(fmt_str(resp, "cron_description", "?"), SHOW_CELL_MAX);

	if (desc == NULL)
		return oom();
	printf("%s\n", desc);
	free(desc);
	json_array_foreach (json_object_get(resp, "next_runs"), i, v) {
		local_time(json_string_value(v), LOCAL_WEEKDAY, when, sizeof(when));
		printf("  %s  %s (local)\n", json_is_string(v) ? json_string_value(v) : "?", when);
	}
	return ferror(stdout) ? CLI_EXIT_INTERNAL : CLI_EXIT_OK;
}

static int schedule_preview(int argc, char *argv[])
{
	static const char cmd[] = "schedule preview";
	static const struct option opts[] = {
		{ "cron", required_argument, NULL, 'c' },
		{ "timezone", required_argument, NULL, 'z' },
		{ "count", required_argument, NULL, 'N' },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cron = NULL, *zone = NULL, *count = NULL, *from = NULL;
	bool json_out = false;
	json_t *resp = NULL;
	char *path = NULL;
	long n;
	ApiClient h;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:z:N:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cron = optarg;
			break;
		case 'z':
			zone = optarg;
			break;
		case 'N':
			if (!cli_parse_long(optarg, 1, 100, &n))
				return cli_usage_error(
					cmd, "--count wants a number from 1 to 100, got '%s'",
					optarg);
			count = optarg;
			break;
		case OPT_FROM:
			from = optarg;
			break;
		case OPT_JSON:
			json_out = true;
			break;
		case 'h':
			fputs(PREVIEW_HELP, stdout);
			return CLI_EXIT_OK;
		default:
			return cli_getopt_error(cmd, c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (cron == NULL)
		return cli_usage_error(cmd, "--cron is required");
	if ((rc = cli_api_open(&h)) != CLI_EXIT_OK)
		return rc;
	path = strdup("/schedules/preview");
	if (path == NULL || !apiclient_add_query(&h, &path, "cron", cron) ||
	    (zone != NULL && !apiclient_add_query(&h, &path, "timezone", zone)) ||
	    (count != NULL && !apiclient_add_query(&h, &path, "count", count)) ||
	    (from != NULL && !apiclient_add_query(&h, &path, "from", from))) {
		rc = oom();
		goto out;
	}
	if ((rc = call(&h, "GET", path, NULL, &resp)) == CLI_EXIT_OK)
		rc = json_out ? cli_print_json(resp) : print_preview(resp);
out:
	free(path);
	json_decref(resp);
	apiclient_cleanup(&h);
	return rc;
}

/* ---- the dispatcher ---- */

typedef int (*SubFn)(int argc, char *argv[]);

static const struct {
	const char *name;
	SubFn fn;
} SUBS[] = {
	{ "create", schedule_create },   { "list", schedule_list },
	{ "show", schedule_show },       { "edit", schedule_edit },
	{ "pause", schedule_pause },     { "resume", schedule_resume },
	{ "run-now", schedule_run_now }, { "delete", schedule_delete },
	{ "runs", schedule_runs },       { "preview", schedule_preview },
};

int cmd_schedule_run(int argc, char *argv[])
{
	const char *sub = argc > 1 ? argv[1] : NULL;

	if (sub == NULL) {
		fputs(SCHEDULE_HELP, stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
		fputs(SCHEDULE_HELP, stdout);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < ARRAY_LEN(SUBS); i++)
		if (strcmp(sub, SUBS[i].name) == 0)
			return SUBS[i].fn(argc - 1, argv + 1);
	return cli_usage_error("schedule", "unknown schedule subcommand '%s'", sub);
}
