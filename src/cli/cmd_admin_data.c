/* cmd_admin_data.c - `amcbatch admin accounts|instances ...`: list, create, edit; instances
 * also disable/enable. LWA credentials are read from a file, stdin or a prompt without echo,
 * never from argv (visible to every user in ps); the buffers they are read into are wiped. */
#include "admin.h"

#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "args.h"
#include "fieldlen.h"
#include "fmt.h"
#include "table.h"

/* ---- credentials ---- */

/* Cuts the line end off s. */
static void chomp(char *s)
{
	s[strcspn(s, "\r\n")] = '\0';
}

/* The first line of path ("-": stdin) without its line end; NULL after reporting. Caller
 * frees with wipe(). */
static char *read_secret(const char *path, const char *what)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (f == NULL) {
		cli_error("usage", "cannot read the %s from %s", what, path);
		return NULL;
	}
	n = getline(&line, &cap, f);
	if (f != stdin)
		fclose(f);
	if (n <= 0 || (chomp(line), line[0] == '\0')) {
		free(line);
		cli_error("usage", "%s holds no %s", strcmp(path, "-") == 0 ? "stdin" : path, what);
		return NULL;
	}
	return line;
}

/* Asks for a secret on the terminal with echo off; "" (allocated) when just Enter is
 * pressed; NULL after reporting. Caller frees with wipe(). */
static char *ask_secret(const char *prompt)
{
	FILE *tty = fopen("/dev/tty", "r+");
	struct termios old, quiet;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	bool echo_off;

	if (tty == NULL) {
		cli_error("usage", "--ask-credentials needs a terminal (use --refresh-token-file)");
		return NULL;
	}
	fputs(prompt, tty);
	fflush(tty);
	echo_off = tcgetattr(fileno(tty), &old) == 0;
	if (echo_off) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		echo_off = tcsetattr(fileno(tty), TCSAFLUSH, &quiet) == 0;
	}
	n = getline(&line, &cap, tty);
	if (echo_off)
		tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputs("\n", tty);
	fclose(tty);
	if (n < 0) {
		free(line);
		cli_error("usage", "no answer on the terminal");
		return NULL;
	}
	chomp(line);
	return line;
}

static void wipe(char *s)
{
	if (s != NULL) {
		memset(s, 0, strlen(s));
		free(s);
	}
}

/* Adds the credentials the options ask for to body (lwa_refresh_token, lwa_client_secret).
 * False after reporting (*rc set). */
static bool add_credentials(const AdminOpts *o, json_t *body, int *rc)
{
	char *refresh = NULL, *secret = NULL;
	bool ok = false;

	*rc = CLI_EXIT_USAGE;
	if (o->refresh_file != NULL &&
	    (refresh = read_secret(o->refresh_file, "refresh token")) == NULL)
		goto out;
	if (o->secret_file != NULL &&
	    (secret = read_secret(o->secret_file, "client secret")) == NULL)
		goto out;
	if (o->ask && refresh == NULL &&
	    (refresh = ask_secret("LWA refresh token (Enter: none/keep): ")) == NULL)
		goto out;
	if (o->ask && secret == NULL &&
	    (secret = ask_secret("LWA client secret (Enter: none/keep): ")) == NULL)
		goto out;
	if ((refresh != NULL && strlen(refresh) > FIELDLEN_SECRET) ||
	    (secret != NULL && strlen(secret) > FIELDLEN_SECRET)) {
		cli_error("usage", "a credential is longer than %d bytes", FIELDLEN_SECRET);
		goto out;
	}
	*rc = CLI_EXIT_INTERNAL;
	if ((refresh != NULL && *refresh &&
	     json_object_set_new(body, "lwa_refresh_token", json_string(refresh)) != 0) ||
	    (secret != NULL && *secret &&
	     json_object_set_new(body, "lwa_client_secret", json_string(secret)) != 0)) {
		cli_error("internal", "out of memory");
		goto out;
	}
	ok = true;
	*rc = CLI_EXIT_OK;
out:
	wipe(refresh);
	wipe(secret);
	return ok;
}

/* Sets body[key] = value when value is given; false on OOM. */
static bool set_opt(json_t *body, const char *key, const char *value)
{
	return value == NULL || json_object_set_new(body, key, json_string(value)) == 0;
}

/* Sends body (stolen) and prints the object the answer holds under key. */
static int send_object(ApiClient *h, const AdminOpts *o, const char *method, const char *path,
		       json_t *body, const char *key)
{
	json_t *resp = NULL, *v;
	int rc = admin_call(h, method, path, body, &resp);

	json_decref(body);
	if (rc != CLI_EXIT_OK || admin_json(o, resp, &rc)) {
		json_decref(resp);
		return rc;
	}
	v = json_object_get(resp, key);
	if (strcmp(key, "account") == 0) {
		printf("account %s (%s): advertiser %s, marketplace %s, region %s, refresh token %s,"
		       " client secret %s\n",
		       fmt_str(v, "account_name", ""), fmt_str(v, "id", "?"),
		       fmt_str(v, "advertiser_id", ""), fmt_str(v, "marketplace_id", ""),
		       fmt_str(v, "region", ""),
		       json_is_true(json_object_get(v, "has_refresh_token")) ? "stored" : "none",
		       json_is_true(json_object_get(v, "has_client_secret")) ? "stored" : "none");
	} else {
		printf("instance %s (%s, %s): account %s, time zone %s, sandbox %s, %s\n",
		       fmt_str(v, "instance_name", ""), fmt_str(v, "instance_id", ""),
		       fmt_str(v, "id", "?"), fmt_str(v, "account_name", ""),
		       fmt_str(v, "timezone", ""),
		       json_is_true(json_object_get(v, "is_sandbox")) ? "yes" : "no",
		       json_is_true(json_object_get(v, "disabled")) ? "disabled" : "enabled");
	}
	json_decref(resp);
	return CLI_EXIT_OK;
}

/* ---- accounts ---- */

int admin_accounts_list(ApiClient *h, const AdminOpts *o, const char *arg)
{
	static const AdminCol cols[] = {
		{ "ID", "id", 's', TABLE_FIXED | TABLE_OPTIONAL },
		{ "NAME", "account_name", 's', 0 },
		{ "ADVERTISER", "advertiser_id", 's', 0 },
		{ "MARKETPLACE", "marketplace_id", 's', 0 },
		{ "REGION", "region", 's', 0 },
		{ "REFRESH TOKEN", "has_refresh_token", 'y', 0 },
		{ "CLIENT SECRET", "has_client_secret", 'y', 0 },
		{ "INSTANCES", "instance_count", 'n', 0 },
	};
	json_t *resp;
	int rc;

	(void)arg;
	if ((rc = admin_call(h, "GET", "/admin/accounts", NULL, &resp)) == CLI_EXIT_OK &&
	    !admin_json(o, resp, &rc))
		rc = admin_print_list(json_object_get(resp, "accounts"), cols, ARRAY_LEN(cols),
				      "account");
	json_decref(resp);
	return rc;
}

/* The account body of the options; NULL after reporting (*rc set). */
static json_t *account_body(const AdminOpts *o, int *rc)
{
	json_t *body = json_object();

	if (body == NULL || !set_opt(body, "account_name", o->name) ||
	    !set_opt(body, "advertiser_id", o->advertiser) ||
	    !set_opt(body, "marketplace_id", o->marketplace) ||
	    !set_opt(body, "region", o->region) || !set_opt(body, "lwa_client_id", o->client_id)) {
		json_decref(body);
		cli_error("internal", "out of memory");
		*rc = CLI_EXIT_INTERNAL;
		return NULL;
	}
	if (!add_credentials(o, body, rc)) {
		json_decref(body);
		return NULL;
	}
	return body;
}

int admin_accounts_create(ApiClient *h, const AdminOpts *o, const char *arg)
{
	int rc;
	json_t *body = account_body(o, &rc);

	(void)arg;
	return body == NULL ? rc : send_object(h, o, "POST", "/admin/accounts", body, "account");
}

int admin_accounts_edit(ApiClient *h, const AdminOpts *o, const char *account)
{
	json_t *list = NULL, *body;
	const char *id;
	char *path;
	int rc;

	if ((body = account_body(o, &rc)) == NULL)
		return rc;
	if (json_object_size(body) == 0) {
		json_decref(body);
		return cli_usage_error("admin", "accounts edit: nothing to change");
	}
	if ((id = admin_resolve(h, "account", account, &list, &rc)) == NULL ||
	    (path = admin_path(h, "admin/accounts", id, "")) == NULL) {
		json_decref(body);
		json_decref(list);
		return id == NULL ? rc : CLI_EXIT_INTERNAL;
	}
	rc = send_object(h, o, "PATCH", path, body, "account");
	free(path);
	json_decref(list);
	return rc;
}

/* ---- instances ---- */

int admin_instances_list(ApiClient *h, const AdminOpts *o, const char *arg)
{
	static const AdminCol cols[] = {
		{ "ID", "id", 's', TABLE_FIXED | TABLE_OPTIONAL },
		{ "AMC ID", "instance_id", 's', TABLE_FIXED },
		{ "NAME", "instance_name", 's', 0 },
		{ "ACCOUNT", "account_name", 's', 0 },
		{ "REGION", "region", 's', TABLE_OPTIONAL },
		{ "TIME ZONE", "timezone", 's', 0 },
		{ "BRANDS", "brands", 'l', TABLE_OPTIONAL },
		{ "SANDBOX", "is_sandbox", 'y', 0 },
		{ "STATUS", "disabled", 'd', 0 },
		{ "USERS", "user_count", 'n', 0 },
	};
	json_t *resp;
	int rc;

	(void)arg;
	if ((rc = admin_call(h, "GET", "/admin/instances", NULL, &resp)) == CLI_EXIT_OK &&
	    !admin_json(o, resp, &rc))
		rc = admin_print_list(json_object_get(resp, "instances"), cols, ARRAY_LEN(cols),
				      "instance");
	json_decref(resp);
	return rc;
}

/* The instance body of the options (create: with account_id); NULL on OOM (reported). */
static json_t *instance_body(const AdminOpts *o, const char *account_id)
{
	json_t *body = json_object(), *brands = NULL;

	if (body == NULL || !set_opt(body, "instance_id", o->instance_id) ||
	    !set_opt(body, "instance_name", o->name) || !set_opt(body, "region", o->region) ||
	    !set_opt(body, "timezone", o->timezone) || !set_opt(body, "account_id", account_id) ||
	    (o->sandbox >= 0 &&
	     json_object_set_new(body, "is_sandbox", json_boolean(o->sandbox)) != 0) ||
	    (o->brands != NULL &&
	     ((brands = json_array()) == NULL || json_object_set_new(body, "brands", brands) != 0 ||
	      !args_append_list(brands, o->brands)))) {
		json_decref(body);
		cli_error("internal", "out of memory");
		return NULL;
	}
	return body;
}

int admin_instances_create(ApiClient *h, const AdminOpts *o, const char *arg)
{
	json_t *list = NULL, *body;
	const char *aid;
	int rc;

	(void)arg;
	if ((aid = admin_resolve(h, "account", o->account, &list, &rc)) == NULL)
		return rc;
	body = instance_body(o, aid);
	rc = body == NULL ? CLI_EXIT_INTERNAL
			  : send_object(h, o, "POST", "/admin/instances", body, "instance");
	json_decref(list);
	return rc;
}

/* PATCH /admin/instances/{instance} with body (stolen). */
static int patch_instance(ApiClient *h, const AdminOpts *o, const char *instance, json_t *body)
{
	json_t *list = NULL;
	const char *id;
	char *path = NULL;
	int rc = CLI_EXIT_INTERNAL;

	if (body == NULL) {
		cli_error("internal", "out of memory");
		return rc;
	}
	if ((id = admin_resolve(h, "instance", instance, &list, &rc)) == NULL ||
	    (path = admin_path(h, "admin/instances", id, "")) == NULL) {
		json_decref(body);
		json_decref(list);
		return id == NULL ? rc : CLI_EXIT_INTERNAL;
	}
	rc = send_object(h, o, "PATCH", path, body, "instance");
	free(path);
	json_decref(list);
	return rc;
}

int admin_instances_edit(ApiClient *h, const AdminOpts *o, const char *instance)
{
	json_t *body;

	if (o->instance_id != NULL || o->account != NULL)
		return cli_usage_error("admin",
				       "an instance's AMC id and account cannot be changed");
	if ((body = instance_body(o, NULL)) != NULL && json_object_size(body) == 0) {
		json_decref(body);
		return cli_usage_error("admin", "instances edit: nothing to change");
	}
	return patch_instance(h, o, instance, body);
}

int admin_instances_disable(ApiClient *h, const AdminOpts *o, const char *instance)
{
	return patch_instance(h, o, instance, json_pack("{s:b}", "disabled", 1));
}

int admin_instances_enable(ApiClient *h, const AdminOpts *o, const char *instance)
{
	return patch_instance(h, o, instance, json_pack("{s:b}", "disabled", 0));
}
