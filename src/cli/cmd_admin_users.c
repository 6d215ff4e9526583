/* cmd_admin_users.c - `amcbatch admin users ...`: list, create (printing the first token
 * once), edit the role, disable/enable, and a user's tokens (list, create printing the secret
 * once, revoke). It keeps no secret: what the API shows once is printed once. */
#include "admin.h"

#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "table.h"

static const AdminCol user_cols[] = {
	{ "ID", "id", 's', TABLE_FIXED | TABLE_OPTIONAL },
	{ "EMAIL", "email", 's', 0 },
	{ "ROLE", "role", 's', 0 },
	{ "STATUS", "disabled", 'd', 0 },
	{ "TOKENS", "token_count", 'n', 0 },
	{ "INSTANCES", "instance_count", 'n', 0 },
	{ "CREATED", "created_at", 's', TABLE_FIXED | TABLE_OPTIONAL },
};

int admin_users_list(ApiClient *h, const AdminOpts *o, const char *arg)
{
	json_t *resp;
	int rc;

	(void)arg;
	if ((rc = admin_call(h, "GET", "/admin/users", NULL, &resp)) == CLI_EXIT_OK &&
	    !admin_json(o, resp, &rc))
		rc = admin_print_list(json_object_get(resp, "users"), user_cols,
				      ARRAY_LEN(user_cols), "user");
	json_decref(resp);
	return rc;
}

int admin_users_create(ApiClient *h, const AdminOpts *o, const char *email)
{
	json_t *body = json_pack("{s:s}", "email", email), *resp = NULL, *u;
	int rc;

	if (body == NULL ||
	    (o->role != NULL && json_object_set_new(body, "role", json_string(o->role)) != 0)) {
		json_decref(body);
		cli_error("internal", "out of memory");
		return CLI_EXIT_INTERNAL;
	}
	rc = admin_call(h, "POST", "/admin/users", body, &resp);
	if (rc == CLI_EXIT_OK && !admin_json(o, resp, &rc)) {
		u = json_object_get(resp, "user");
		printf("user %s created: %s (%s)\n", fmt_str(u, "id", "?"), fmt_str(u, "email", ""),
		       fmt_str(u, "role", ""));
		printf("API token (shown once, keep it): %s\n", fmt_str(resp, "token", ""));
	}
	json_decref(body);
	json_decref(resp);
	return rc;
}

/* PATCH /admin/users/{user} with body (stolen); prints the user's new state. */
static int patch(ApiClient *h, const AdminOpts *o, const char *user, json_t *body)
{
	json_t *list = NULL, *resp = NULL, *u;
	const char *id;
	char *path = NULL;
	int rc = CLI_EXIT_INTERNAL;

	if (body == NULL) {
		cli_error("internal", "out of memory");
		return CLI_EXIT_INTERNAL;
	}
	if ((id = admin_resolve(h, "user", user, &list, &rc)) == NULL ||
	    (path = admin_path(h, "admin/users", id, "")) == NULL)
		goto out;
	rc = admin_call(h, "PATCH", path, body, &resp);
	if (rc == CLI_EXIT_OK && !admin_json(o, resp, &rc)) {
		u = json_object_get(resp, "user");
		printf("user %s (%s): %s, %s\n", fmt_str(u, "email", ""), fmt_str(u, "id", "?"),
		       fmt_str(u, "role", ""),
		       json_is_true(json_object_get(u, "disabled")) ? "disabled" : "enabled");
	}
out:
	free(path);
	json_decref(body);
	json_decref(resp);
	json_decref(list);
	return rc;
}

int admin_users_edit(ApiClient *h, const AdminOpts *o, const char *user)
{
	return patch(h, o, user, json_pack("{s:s}", "role", o->role));
}

int admin_users_disable(ApiClient *h, const AdminOpts *o, const char *user)
{
	return patch(h, o, user, json_pack("{s:b}", "disabled", 1));
}

int admin_users_enable(ApiClient *h, const AdminOpts *o, const char *user)
{
	return patch(h, o, user, json_pack("{s:b}", "disabled", 0));
}

/* ---- tokens ---- */

int admin_tokens_list(ApiClient *h, const AdminOpts *o, const char *user)
{
	static const AdminCol cols[] = {
		{ "ID", "id", 's', TABLE_FIXED },
		{ "NAME", "name", 's', 0 },
		{ "CREATED", "created_at", 's', TABLE_FIXED },
		{ "EXPIRES", "expires_at", 's', TABLE_HIDE_EMPTY },
		{ "REVOKED", "revoked_at", 's', TABLE_HIDE_EMPTY },
		{ "LAST USED", "last_used_at", 's', 0 },
	};
	json_t *list = NULL, *resp = NULL;
	const char *id;
	char *path = NULL;
	int rc = CLI_EXIT_INTERNAL;

	if ((id = admin_resolve(h, "user", user, &list, &rc)) == NULL ||
	    (path = admin_path(h, "admin/users", id, "/tokens")) == NULL)
		goto out;
	if ((rc = admin_call(h, "GET", path, NULL, &resp)) == CLI_EXIT_OK &&
	    !admin_json(o, resp, &rc))
		rc = admin_print_list(json_object_get(resp, "tokens"), cols, ARRAY_LEN(cols),
				      "token");
out:
	free(path);
	json_decref(resp);
	json_decref(list);
	return rc;
}

int admin_tokens_create(ApiClient *h, const AdminOpts *o, const char *user)
{
	json_t *list = NULL, *resp = NULL, *body = json_object();
	const char *id;
	char *path = NULL;
	int rc = CLI_EXIT_INTERNAL;

	if (body == NULL ||
	    (o->name != NULL && json_object_set_new(body, "name", json_string(o->name)) != 0) ||
	    (o->expires != NULL &&
	     json_object_set_new(body, "expires_at", json_string(o->expires)) != 0)) {
		cli_error("internal", "out of memory");
		goto out;
	}
	if ((id = admin_resolve(h, "user", user, &list, &rc)) == NULL ||
	    (path = admin_path(h, "admin/users", id, "/tokens")) == NULL)
		goto out;
	rc = admin_call(h, "POST", path, body, &resp);
	if (rc == CLI_EXIT_OK && !admin_json(o, resp, &rc)) {
		printf("token %s created for %s\n",
		       fmt_str(json_object_get(resp, "api_token"), "id", "?"), user);
		printf("API token (shown once, keep it): %s\n", fmt_str(resp, "token", ""));
	}
out:
	free(path);
	json_decref(body);
	json_decref(resp);
	json_decref(list);
	return rc;
}

int admin_tokens_revoke(ApiClient *h, const AdminOpts *o, const char *token_id)
{
	json_t *resp = NULL;
	char *path = admin_path(h, "admin/tokens", token_id, "");
	int rc = CLI_EXIT_INTERNAL;

	if (path != NULL && (rc = admin_call(h, "DELETE", path, NULL, &resp)) == CLI_EXIT_OK &&
	    !admin_json(o, resp, &rc))
		printf("token %s revoked at %s\n", token_id,
		       fmt_str(json_object_get(resp, "api_token"), "revoked_at", "?"));
	free(path);
	json_decref(resp);
	return rc;
}
