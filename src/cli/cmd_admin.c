/* cmd_admin.c - `amcbatch admin users|accounts|instances|grants ...`: the options, the verb
 * table and what the verbs share (lookups by name, list tables), plus the grant verbs. The
 * users and the accounts/instances verbs live in cmd_admin_users.c and cmd_admin_data.c.
 * Every call goes to the admin API (an admin's token); credentials never come from argv. */
#include "admin.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "fmt.h"
#include "table.h"

static const char ADMIN_HELP[] =
	"Usage: amcbatch admin users list|create EMAIL|edit USER|disable USER|enable USER\n"
	"       amcbatch admin users tokens list USER|create USER|revoke TOKEN_ID\n"
	"       amcbatch admin accounts list|create|edit ACCOUNT\n"
	"       amcbatch admin instances list|create|edit INSTANCE|disable INSTANCE|enable INSTANCE\n"
	"       amcbatch admin grants list --user USER | --instance INSTANCE\n"
	"       amcbatch admin grants grant|revoke --user USER (--instances LIST | --account ACCOUNT)\n"
	"\n"
	"Manage users and their API tokens, AMC accounts, instances and who may use them\n"
	"(needs an admin's token). USER is a UUID or an e-mail address, ACCOUNT a UUID or an\n"
	"account name, INSTANCE a UUID, an AMC instance id or an instance name.\n"
	"\n"
	"Users:\n"
	"      --role R              admin or member (create: default member; edit)\n"
	"      --name N              the token's label (tokens create)\n"
	"      --expires DATE        the token's expiry, ISO-8601 (tokens create)\n"
	"  A new user's first token and a created token are printed once: keep them.\n"
	"  A disabled user's tokens are refused at once; the last enabled admin cannot be\n"
	"  disabled or demoted.\n"
	"\n"
	"Accounts (create needs --name and --advertiser-id):\n"
	"      --name N              account name\n"
	"      --advertiser-id A     Amazon Ads advertiser id (ENTITY...)\n"
	"      --marketplace M       marketplace id (default ATVPDKIKX0DER)\n"
	"      --region R            NA, EU or FE (default NA)\n"
	"      --client-id C         LWA client id\n"
	"      --refresh-token-file F  read the LWA refresh token from file F ('-': stdin)\n"
	"      --client-secret-file F  read the LWA client secret from file F ('-': stdin)\n"
	"      --ask-credentials     prompt for both on the terminal, without echo\n"
	"  Credentials are write-only: never shown again, never taken from the command line\n"
	"  (other users can read it in ps). On edit they replace the stored ones.\n"
	"\n"
	"Instances (create needs --instance-id, --name, --region and --account):\n"
	"      --instance-id X       AMC's instance id (amc...)\n"
	"      --name N              instance name\n"
	"      --region R            AWS region, e.g. us-east-1\n"
	"      --account ACCOUNT     the AMC account it belongs to\n"
	"      --brands LIST         comma-separated brands (edit: replaces them; '' for none)\n"
	"      --sandbox, --no-sandbox  the sandbox flag\n"
	"      --timezone TZ         IANA time zone (default UTC)\n"
	"  A disabled instance is refused by submit and left out of schedule runs.\n"
	"\n"
	"Grants (one transaction each; prints what changed):\n"
	"      --user USER           whose grants\n"
	"      --instances LIST      comma-separated instances\n"
	"      --account ACCOUNT     every instance of the account\n"
	"      --instance INSTANCE   (list) who may use this instance\n"
	"\n"
	"      --json                print the API's JSON answer\n"
	"  -h, --help                this help\n"
	"\n"
	"Exit status: 0 ok, 2 usage (or an unknown name), 3 API error (e.g. forbidden for a\n"
	"member's token, last_admin, unknown id), 4 server unreachable.\n";

enum {
	OPT_ROLE = 256,
	OPT_NAME,
	OPT_EXPIRES,
	OPT_ADVERTISER,
	OPT_MARKETPLACE,
	OPT_REGION,
	OPT_CLIENT_ID,
	OPT_REFRESH_FILE,
	OPT_SECRET_FILE,
	OPT_ASK,
	OPT_INSTANCE_ID,
	OPT_ACCOUNT,
	OPT_BRANDS,
	OPT_SANDBOX,
	OPT_NO_SANDBOX,
	OPT_TIMEZONE,
	OPT_USER,
	OPT_INSTANCES,
	OPT_INSTANCE,
	OPT_JSON,
};

static int grants_list(ApiClient *h, const AdminOpts *o, const char *arg);
static int grants_grant(ApiClient *h, const AdminOpts *o, const char *arg);
static int grants_revoke(ApiClient *h, const AdminOpts *o, const char *arg);

/* the verbs: group, verb (tokens verbs as "tokens list"), the name of the one positional
 * argument that follows (NULL: none) and the function */
static const struct {
	const char *group, *verb, *arg;
	AdminVerb fn;
} VERBS[] = {
	{ "users", "list", NULL, admin_users_list },
	{ "users", "create", "EMAIL", admin_users_create },
	{ "users", "edit", "USER", admin_users_edit },
	{ "users", "disable", "USER", admin_users_disable },
	{ "users", "enable", "USER", admin_users_enable },
	{ "users", "tokens list", "USER", admin_tokens_list },
	{ "users", "tokens create", "USER", admin_tokens_create },
	{ "users", "tokens revoke", "TOKEN_ID", admin_tokens_revoke },
	{ "accounts", "list", NULL, admin_accounts_list },
	{ "accounts", "create", NULL, admin_accounts_create },
	{ "accounts", "edit", "ACCOUNT", admin_accounts_edit },
	{ "instances", "list", NULL, admin_instances_list },
	{ "instances", "create", NULL, admin_instances_create },
	{ "instances", "edit", "INSTANCE", admin_instances_edit },
	{ "instances", "disable", "INSTANCE", admin_instances_disable },
	{ "instances", "enable", "INSTANCE", admin_instances_enable },
	{ "grants", "list", NULL, grants_list },
	{ "grants", "grant", NULL, grants_grant },
	{ "grants", "revoke", NULL, grants_revoke },
};

/* ---- shared by the verbs ---- */

int admin_call(ApiClient *h, const char *method, const char *path, const json_t *body,
	       json_t **resp)
{
	*resp = NULL;
	if (apiclient_call(h, method, path, body, resp))
		return CLI_EXIT_OK;
	apiclient_report(h);
	return h->err;
}

bool admin_json(const AdminOpts *o, const json_t *resp, int *rc)
{
	if (!o->json_out)
		return false;
	*rc = cli_print_json(resp);
	return true;
}

char *admin_path(ApiClient *h, const char *a, const char *b, const char *c)
{
	char *esc = apiclient_escape(h, b), *path = NULL;

	if (esc == NULL || asprintf(&path, "/%s/%s%s", a, esc, c) < 0)
		path = NULL;
	free(esc);
	if (path == NULL)
		cli_error("internal", "out of memory");
	return path;
}

const char *admin_resolve(ApiClient *h, const char *what, const char *ref, json_t **list, int *rc)
{
	const char *id;
	char err[256], path[32];
	json_t *items;

	*list = NULL;
	if (args_is_uuid(ref))
		return ref;
	snprintf(path, sizeof(path), "/admin/%ss", what);
	if ((*rc = admin_call(h, "GET", path, NULL, list)) != CLI_EXIT_OK)
		return NULL;
	snprintf(path, sizeof(path), "%ss", what);
	items = json_object_get(*list, path);
	if (strcmp(what, "instance") == 0)
		id = args_resolve_instance(items, ref, err, sizeof(err));
	else
		id = args_resolve_by(items, strcmp(what, "user") == 0 ? "email" : "account_name",
				     ref, what, err, sizeof(err));
	if (id == NULL) {
		cli_error("usage", "%s", err);
		*rc = CLI_EXIT_USAGE;
	}
	return id;
}

/* Text of one cell; NULL on OOM (caller frees). */
static char *cell(const json_t *item, const AdminCol *c)
{
	const json_t *v = json_object_get(item, c->key);

	switch (c->kind) {
	case 'y':
		return strdup(json_is_true(v) ? "yes" : "no");
	case 'd':
		return strdup(json_is_true(v) ? "disabled" : "enabled");
	case 'l': {
		char *s = strdup(""), *n;
		const json_t *e;
		size_t i;

		json_array_foreach (v, i, e) {
			if (s == NULL ||
			    asprintf(&n, "%s%s%s", s, i ? ", " : "",
				     json_string_value(e) != NULL ? json_string_value(e) : "") <
				    0) {
				free(s);
				return NULL;
			}
			free(s);
			s = n;
		}
		return s;
	}
	default:
		return fmt_json_text(v);
	}
}

int admin_print_list(const json_t *items, const AdminCol *cols, size_t ncols, const char *noun)
{
	const char *head[16];
	char *row[16];
	const json_t *it;
	size_t i, n = json_array_size(items);
	bool ok = ncols <= ARRAY_LEN(head);
	Table t;

	for (size_t c = 0; ok && c < ncols; c++)
		head[c] = cols[c].head;
	if (!ok || !table_init(&t, ncols, head))
		return CLI_EXIT_INTERNAL;
	for (size_t c = 0; c < ncols; c++) {
		if (cols[c].kind == 'n')
			table_align_right(&t, c);
		if (cols[c].flags)
			table_flag(&t, c, cols[c].flags);
	}
	json_array_foreach (items, i, it) {
		size_t c;

		for (c = 0; c < ncols && (row[c] = cell(it, &cols[c])) != NULL; c++)
			;
		ok = c == ncols && table_add_row(&t, (const char *const *)row);
		while (c-- > 0)
			free(row[c]);
		if (!ok)
			break;
	}
	ok = ok && cli_print_table(&t);
	table_cleanup(&t);
	if (ok)
		printf("%zu %s%s\n", n, noun, n == 1 ? "" : "s");
	return ok ? CLI_EXIT_OK : CLI_EXIT_INTERNAL;
}

/* ---- grants ---- */

static int grants_list(ApiClient *h, const AdminOpts *o, const char *arg)
{
	static const AdminCol cols[] = {
		{ "USER", "email", 's', 0 },
		{ "INSTANCE", "instance_name", 's', 0 },
		{ "AMC ID", "amc_instance_id", 's', TABLE_FIXED },
		{ "ACCOUNT", "account_name", 's', 0 },
		{ "STATUS", "instance_disabled", 'd', 0 },
		{ "GRANTED", "granted_at", 's', TABLE_FIXED | TABLE_OPTIONAL },
		{ "INSTANCE UUID", "instance_id", 's', TABLE_FIXED | TABLE_OPTIONAL },
	};
	json_t *ul = NULL, *il = NULL, *resp = NULL;
	const char *uid = NULL, *iid = NULL;
	char *path = NULL;
	int rc = CLI_EXIT_OK;

	(void)arg;
	if (o->user != NULL && (uid = admin_resolve(h, "user", o->user, &ul, &rc)) == NULL)
		goto out;
	if (o->instance != NULL &&
	    (iid = admin_resolve(h, "instance", o->instance, &il, &rc)) == NULL)
		goto out;
	/* UUIDs (checked by admin_resolve) need no escaping */
	if (asprintf(&path, "/admin/grants?%s%s%s%s%s", uid != NULL ? "user_id=" : "",
		     uid != NULL ? uid : "", uid != NULL && iid != NULL ? "&" : "",
		     iid != NULL ? "instance_id=" : "", iid != NULL ? iid : "") < 0) {
		path = NULL;
		cli_error("internal", "out of memory");
		rc = CLI_EXIT_INTERNAL;
		goto out;
	}
	if ((rc = admin_call(h, "GET", path, NULL, &resp)) == CLI_EXIT_OK &&
	    !admin_json(o, resp, &rc))
		rc = admin_print_list(json_object_get(resp, "grants"), cols, ARRAY_LEN(cols),
				      "grant");
out:
	free(path);
	json_decref(resp);
	json_decref(ul);
	json_decref(il);
	return rc;
}

/* --instances LIST as an array of UUIDs (names looked up once); NULL after reporting. */
static json_t *instance_ids(ApiClient *h, const char *list, int *rc)
{
	json_t *refs = json_array(), *ids = json_array(), *all = NULL, *r;
	size_t i;

	if (refs == NULL || ids == NULL || !args_append_list(refs, list)) {
		cli_error("internal", "out of memory");
		*rc = CLI_EXIT_INTERNAL;
		goto fail;
	}
	if (json_array_size(refs) == 0) {
		*rc = cli_usage_error("admin", "--instances names no instance");
		goto fail;
	}
	json_array_foreach (refs, i, r) {
		const char *ref = json_string_value(r), *id;
		char err[256];

		if (!args_is_uuid(ref) && all == NULL &&
		    (*rc = admin_call(h, "GET", "/admin/instances", NULL, &all)) != CLI_EXIT_OK)
			goto fail;
		id = args_is_uuid(ref) ? ref
				       : args_resolve_instance(json_object_get(all, "instances"),
							       ref, err, sizeof(err));
		if (id == NULL) {
			cli_error("usage", "%s", err);
			*rc = CLI_EXIT_USAGE;
			goto fail;
		}
		if (json_array_append_new(ids, json_string(id)) != 0) {
			cli_error("internal", "out of memory");
			*rc = CLI_EXIT_INTERNAL;
			goto fail;
		}
	}
	json_decref(refs);
	json_decref(all);
	return ids;
fail:
	json_decref(refs);
	json_decref(ids);
	json_decref(all);
	return NULL;
}

/* grant (POST) or revoke (DELETE) --instances or --account of --user, in one request */
static int grants_change(ApiClient *h, const AdminOpts *o, bool grant)
{
	json_t *ul = NULL, *al = NULL, *body = NULL, *resp = NULL, *ids = NULL, *g;
	const char *uid, *aid;
	int rc = CLI_EXIT_OK;

	if ((uid = admin_resolve(h, "user", o->user, &ul, &rc)) == NULL)
		goto out;
	if ((body = json_pack("{s:s}", "user_id", uid)) == NULL)
		goto oom;
	if (o->account != NULL) {
		if ((aid = admin_resolve(h, "account", o->account, &al, &rc)) == NULL)
			goto out;
		if (json_object_set_new(body, "account_id", json_string(aid)) != 0)
			goto oom;
	} else {
		if ((ids = instance_ids(h, o->instances, &rc)) == NULL)
			goto out;
		if (json_object_set(body, "instance_ids", ids) != 0)
			goto oom;
	}
	if ((rc = admin_call(h, grant ? "POST" : "DELETE", "/admin/grants", body, &resp)) !=
		    CLI_EXIT_OK ||
	    admin_json(o, resp, &rc))
		goto out;
	g = json_object_get(resp, "grants");
	printf("%s %s: %zu instance%s, %zu changed\n", grant ? "granted" : "revoked", o->user,
	       json_array_size(json_object_get(g, "instance_ids")),
	       json_array_size(json_object_get(g, "instance_ids")) == 1 ? "" : "s",
	       json_array_size(json_object_get(g, "changed")));
	goto out;
oom:
	cli_error("internal", "out of memory");
	rc = CLI_EXIT_INTERNAL;
out:
	json_decref(ids);
	json_decref(body);
	json_decref(resp);
	json_decref(ul);
	json_decref(al);
	return rc;
}

static int grants_grant(ApiClient *h, const AdminOpts *o, const char *arg)
{
	(void)arg;
	return grants_change(h, o, true);
}

static int grants_revoke(ApiClient *h, const AdminOpts *o, const char *arg)
{
	(void)arg;
	return grants_change(h, o, false);
}

/* ---- options and dispatch ---- */

/* The checks a verb's options need before anything is sent; usage errors. */
static int check_opts(const char *group, const char *verb, const AdminOpts *o)
{
	bool grants = strcmp(group, "grants") == 0;

	if (grants && strcmp(verb, "list") == 0 && o->user == NULL && o->instance == NULL)
		return cli_usage_error("admin", "grants list needs --user or --instance");
	if (grants && strcmp(verb, "list") != 0) {
		if (o->user == NULL)
			return cli_usage_error("admin", "grants %s needs --user", verb);
		if ((o->instances == NULL) == (o->account == NULL))
			return cli_usage_error(
				"admin", "grants %s needs --instances or --account (one)", verb);
	}
	if (strcmp(group, "accounts") == 0 && strcmp(verb, "create") == 0 &&
	    (o->name == NULL || o->advertiser == NULL))
		return cli_usage_error("admin", "accounts create needs --name and --advertiser-id");
	if (strcmp(group, "instances") == 0 && strcmp(verb, "create") == 0 &&
	    (o->instance_id == NULL || o->name == NULL || o->region == NULL || o->account == NULL))
		return cli_usage_error(
			"admin",
			"instances create needs --instance-id, --name, --region and --account");
	if (strcmp(verb, "edit") == 0 && strcmp(group, "users") == 0 && o->role == NULL)
		return cli_usage_error("admin", "users edit needs --role");
	if (o->refresh_file != NULL && o->secret_file != NULL &&
	    strcmp(o->refresh_file, "-") == 0 && strcmp(o->secret_file, "-") == 0)
		return cli_usage_error("admin", "only one credential can come from stdin");
	return CLI_EXIT_OK;
}

int cmd_admin_run(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "role", required_argument, NULL, OPT_ROLE },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "expires", required_argument, NULL, OPT_EXPIRES },
		{ "advertiser-id", required_argument, NULL, OPT_ADVERTISER },
		{ "marketplace", required_argument, NULL, OPT_MARKETPLACE },
		{ "region", required_argument, NULL, OPT_REGION },
		{ "client-id", required_argument, NULL, OPT_CLIENT_ID },
		{ "refresh-token-file", required_argument, NULL, OPT_REFRESH_FILE },
		{ "client-secret-file", required_argument, NULL, OPT_SECRET_FILE },
		{ "ask-credentials", no_argument, NULL, OPT_ASK },
		{ "instance-id", required_argument, NULL, OPT_INSTANCE_ID },
		{ "account", required_argument, NULL, OPT_ACCOUNT },
		{ "brands", required_argument, NULL, OPT_BRANDS },
		{ "sandbox", no_argument, NULL, OPT_SANDBOX },
		{ "no-sandbox", no_argument, NULL, OPT_NO_SANDBOX },
		{ "timezone", required_argument, NULL, OPT_TIMEZONE },
		{ "user", required_argument, NULL, OPT_USER },
		{ "instances", required_argument, NULL, OPT_INSTANCES },
		{ "instance", required_argument, NULL, OPT_INSTANCE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	AdminOpts o = { .sandbox = -1 };
	const char *group, *verb, *arg = NULL;
	char verbbuf[32];
	size_t v;
	ApiClient h;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(ADMIN_HELP, stdout);
			return CLI_EXIT_OK;
		case OPT_ROLE:
			o.role = optarg;
			break;
		case OPT_NAME:
			o.name = optarg;
			break;
		case OPT_EXPIRES:
			o.expires = optarg;
			break;
		case OPT_ADVERTISER:
			o.advertiser = optarg;
			break;
		case OPT_MARKETPLACE:
			o.marketplace = optarg;
			break;
		case OPT_REGION:
			o.region = optarg;
			break;
		case OPT_CLIENT_ID:
			o.client_id = optarg;
			break;
		case OPT_REFRESH_FILE:
			o.refresh_file = optarg;
			break;
		case OPT_SECRET_FILE:
			o.secret_file = optarg;
			break;
		case OPT_ASK:
			o.ask = true;
			break;
		case OPT_INSTANCE_ID:
			o.instance_id = optarg;
			break;
		case OPT_ACCOUNT:
			o.account = optarg;
			break;
		case OPT_BRANDS:
			o.brands = optarg;
			break;
		case OPT_SANDBOX:
			o.sandbox = 1;
			break;
		case OPT_NO_SANDBOX:
			o.sandbox = 0;
			break;
		case OPT_TIMEZONE:
			o.timezone = optarg;
			break;
		case OPT_USER:
			o.user = optarg;
			break;
		case OPT_INSTANCES:
			o.instances = optarg;
			break;
		case OPT_INSTANCE:
			o.instance = optarg;
			break;
		case OPT_JSON:
			o.json_out = true;
			break;
		default:
			return cli_getopt_error(argv[0], c, argv);
		}
	}
	if (argc - optind < 2)
		return cli_usage_error(argv[0], "missing %s (users, accounts, instances, grants)",
				       optind < argc ? "verb" : "subject and verb");
	group = argv[optind++];
	verb = argv[optind++];
	if (strcmp(group, "users") == 0 && strcmp(verb, "tokens") == 0) {
		if (optind >= argc)
			return cli_usage_error(argv[0],
					       "users tokens needs list, create or revoke");
		snprintf(verbbuf, sizeof(verbbuf), "tokens %.20s", argv[optind++]);
		verb = verbbuf;
	}
	for (v = 0; v < ARRAY_LEN(VERBS); v++)
		if (strcmp(VERBS[v].group, group) == 0 && strcmp(VERBS[v].verb, verb) == 0)
			break;
	if (v == ARRAY_LEN(VERBS))
		return cli_usage_error(argv[0], "unknown command: admin %s %s", group, verb);
	if (VERBS[v].arg != NULL) {
		if (optind >= argc)
			return cli_usage_error(argv[0], "%s %s needs %s", group, verb,
					       VERBS[v].arg);
		arg = argv[optind++];
	}
	if (optind < argc)
		return cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
	if ((rc = check_opts(group, verb, &o)) != CLI_EXIT_OK)
		return rc;
	if ((rc = cli_api_open(&h)) != CLI_EXIT_OK)
		return rc;
	rc = VERBS[v].fn(&h, &o, arg);
	apiclient_cleanup(&h);
	return rc;
}
