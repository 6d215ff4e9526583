/* fields.c - allowed body members per route (see docs/api.md "Unknown fields"). The
 * batch-execute body is checked by validate.c, which holds its own list. */
#include "fields.h"

#include <string.h>

#include "common.h"
#include "schedule_spec.h"

typedef struct RouteFields {
	enum evhttp_cmd_type method;
	const char *route;
	const char *const *fields;
} RouteFields;

static const char *const workflow[] = {
	"name", "description", "sql_query", "parameters", "parameter_types", NULL,
};
static const char *const workflow_patch[] = {
	"name", "description", "sql_query", "parameters", "parameter_types", "expected_version",
	NULL,
};
static const char *const share[] = { "user", "permission", NULL };
static const char *const user[] = { "email", "role", NULL };
static const char *const account[] = {
	"account_name",  "advertiser_id",     "marketplace_id",    "region",
	"lwa_client_id", "lwa_refresh_token", "lwa_client_secret", NULL,
};
static const char *const instance[] = {
	"instance_id", "instance_name", "region",   "brands",
	"account_id",  "is_sandbox",    "timezone", NULL,
};
static const char *const user_patch[] = { "role", "disabled", NULL };
static const char *const instance_patch[] = {
	"instance_name", "region", "brands", "is_sandbox", "timezone", "disabled", NULL,
};
static const char *const grants[] = { "user_id", "instance_ids", "account_id", NULL };
static const char *const access[] = { "user_id", NULL };
static const char *const token[] = { "name", "expires_at", NULL };
static const char *const retry[] = { "include_cancelled", "name", NULL };
static const char *const tick[] = { "now", NULL };
static const char *const webhook[] = { "url", "events", "secret", "format", NULL };

static const RouteFields table[] = {
	{ EVHTTP_REQ_POST, "workflows", workflow },
	{ EVHTTP_REQ_PATCH, "workflows/*", workflow_patch },
	{ EVHTTP_REQ_POST, "workflows/*/shares", share },
	{ EVHTTP_REQ_POST, "admin/users", user },
	{ EVHTTP_REQ_POST, "admin/accounts", account },
	{ EVHTTP_REQ_POST, "admin/instances", instance },
	{ EVHTTP_REQ_POST, "admin/instances/*/access", access },
	{ EVHTTP_REQ_DELETE, "admin/instances/*/access", access },
	{ EVHTTP_REQ_POST, "admin/users/*/tokens", token },
	{ EVHTTP_REQ_PATCH, "admin/users/*", user_patch },
	{ EVHTTP_REQ_PATCH, "admin/accounts/*", account },
	{ EVHTTP_REQ_PATCH, "admin/instances/*", instance_patch },
	{ EVHTTP_REQ_POST, "admin/grants", grants },
	{ EVHTTP_REQ_DELETE, "admin/grants", grants },
	{ EVHTTP_REQ_POST, "workflows/batch/*/retry-failed", retry },
	{ EVHTTP_REQ_POST, "schedules", schedule_fields },
	{ EVHTTP_REQ_PATCH, "schedules/*", schedule_fields },
	{ EVHTTP_REQ_POST, "admin/schedules/tick", tick },
	{ EVHTTP_REQ_POST, "webhooks", webhook },
};

const char *const *fields_allowed(enum evhttp_cmd_type method, const char *route)
{
	if (route == NULL)
		return NULL;
	for (size_t i = 0; i < ARRAY_LEN(table); i++)
		if (table[i].method == method && strcmp(table[i].route, route) == 0)
			return table[i].fields;
	return NULL;
}
