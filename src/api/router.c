/* router.c - the route table and dispatch. Patterns are '/'-separated segments where "*"
 * matches any one segment; literal routes are listed before wildcard ones that could
 * shadow them. It validates no ids (the routes do, before any key or SQL use). */
#include "router.h"

#include <stdio.h>
#include <string.h>

#include "api.h"
#include "auth.h"
#include "conn.h"
#include "limits.h"
#include "req.h"
#include "routes.h"
#include "stats.h"
#include "web.h"

enum Access { ACCESS_PUBLIC, ACCESS_USER, ACCESS_ADMIN };

typedef struct Route {
	enum evhttp_cmd_type method;
	const char *pattern;
	enum Access access;
	void (*fn)(Req *r);
} Route;

static const Route routes[] = {
	{ EVHTTP_REQ_GET, "healthz", ACCESS_PUBLIC, health_get },
	{ EVHTTP_REQ_GET, "readyz", ACCESS_PUBLIC, health_ready },
	{ EVHTTP_REQ_GET, "metrics", ACCESS_ADMIN, stats_metrics_get },
	{ EVHTTP_REQ_GET, "instances", ACCESS_USER, routes_instances_list },
	{ EVHTTP_REQ_GET, "workflows/batch/list", ACCESS_USER, routes_batches_list },
	{ EVHTTP_REQ_GET, "workflows/batch/*", ACCESS_USER, routes_batch_get },
	{ EVHTTP_REQ_GET, "workflows/batch/*/status", ACCESS_USER, routes_status_get },
	{ EVHTTP_REQ_GET, "workflows/batch/*/results", ACCESS_USER, routes_results_get },
	{ EVHTTP_REQ_GET, "workflows/batch/*/results.csv", ACCESS_USER, export_get },
	{ EVHTTP_REQ_GET, "workflows/batch/*/compare", ACCESS_USER, routes_compare_get },
	{ EVHTTP_REQ_GET, "workflows/batch/*/events", ACCESS_PUBLIC, sse_get },
	{ EVHTTP_REQ_POST, "workflows/batch/*/cancel", ACCESS_USER, routes_batches_cancel },
	{ EVHTTP_REQ_POST, "workflows/batch/*/retry-failed", ACCESS_USER,
	  routes_retry_failed_post },
	{ EVHTTP_REQ_POST, "workflows", ACCESS_USER, routes_workflows_create },
	{ EVHTTP_REQ_GET, "workflows", ACCESS_USER, routes_workflows_list },
	{ EVHTTP_REQ_GET, "workflows/*", ACCESS_USER, routes_workflows_get },
	{ EVHTTP_REQ_PATCH, "workflows/*", ACCESS_USER, routes_workflows_patch },
	{ EVHTTP_REQ_DELETE, "workflows/*", ACCESS_USER, routes_workflows_delete },
	{ EVHTTP_REQ_GET, "workflows/*/versions", ACCESS_USER, routes_workflow_versions },
	{ EVHTTP_REQ_GET, "workflows/*/versions/*", ACCESS_USER, routes_workflow_versions },
	{ EVHTTP_REQ_GET, "workflows/*/shares", ACCESS_USER, routes_workflow_shares_list },
	{ EVHTTP_REQ_POST, "workflows/*/shares", ACCESS_USER, routes_workflow_shares_create },
	{ EVHTTP_REQ_DELETE, "workflows/*/shares/*", ACCESS_USER, routes_workflow_shares_delete },
	{ EVHTTP_REQ_POST, "workflows/*/batch-execute", ACCESS_USER, routes_execute_post },
	{ EVHTTP_REQ_GET, "schedules", ACCESS_USER, routes_schedules_list },
	{ EVHTTP_REQ_POST, "schedules", ACCESS_USER, routes_schedules_create },
	{ EVHTTP_REQ_GET, "schedules/preview", ACCESS_USER, routes_schedules_preview },
	{ EVHTTP_REQ_GET, "schedules/*", ACCESS_USER, routes_schedules_get },
	{ EVHTTP_REQ_PATCH, "schedules/*", ACCESS_USER, routes_schedules_patch },
	{ EVHTTP_REQ_DELETE, "schedules/*", ACCESS_USER, routes_schedules_delete },
	{ EVHTTP_REQ_POST, "schedules/*/pause", ACCESS_USER, routes_schedules_pause },
	{ EVHTTP_REQ_POST, "schedules/*/resume", ACCESS_USER, routes_schedules_resume },
	{ EVHTTP_REQ_POST, "schedules/*/run-now", ACCESS_USER, routes_schedules_run_now },
	{ EVHTTP_REQ_GET, "schedules/*/runs", ACCESS_USER, routes_schedules_runs },
	{ EVHTTP_REQ_POST, "admin/schedules/tick", ACCESS_ADMIN, routes_schedules_tick },
	{ EVHTTP_REQ_GET, "admin/fleet", ACCESS_ADMIN, routes_fleet_get },
	{ EVHTTP_REQ_POST, "webhooks", ACCESS_USER, routes_webhooks_create },
	{ EVHTTP_REQ_GET, "webhooks", ACCESS_USER, routes_webhooks_list },
	{ EVHTTP_REQ_GET, "webhooks/*", ACCESS_USER, routes_webhooks_get },
	{ EVHTTP_REQ_DELETE, "webhooks/*", ACCESS_USER, routes_webhooks_delete },
	{ EVHTTP_REQ_GET, "webhooks/*/deliveries", ACCESS_USER, routes_webhooks_deliveries },
	{ EVHTTP_REQ_POST, "admin/users", ACCESS_ADMIN, routes_admin_users },
	{ EVHTTP_REQ_POST, "admin/accounts", ACCESS_ADMIN, routes_admin_accounts },
	{ EVHTTP_REQ_POST, "admin/instances", ACCESS_ADMIN, routes_admin_instances },
	{ EVHTTP_REQ_POST, "admin/instances/*/access", ACCESS_ADMIN, routes_admin_access },
	{ EVHTTP_REQ_DELETE, "admin/instances/*/access", ACCESS_ADMIN, routes_admin_access },
	{ EVHTTP_REQ_GET, "me", ACCESS_USER, routes_me_get },
	{ EVHTTP_REQ_GET, "admin/users", ACCESS_ADMIN, routes_users_list },
	{ EVHTTP_REQ_PATCH, "admin/users/*", ACCESS_ADMIN, routes_users_patch },
	{ EVHTTP_REQ_GET, "admin/accounts", ACCESS_ADMIN, routes_admin_accounts_list },
	{ EVHTTP_REQ_PATCH, "admin/accounts/*", ACCESS_ADMIN, routes_admin_accounts_patch },
	{ EVHTTP_REQ_GET, "admin/instances", ACCESS_ADMIN, routes_admin_instances_list },
	{ EVHTTP_REQ_PATCH, "admin/instances/*", ACCESS_ADMIN, routes_admin_instances_patch },
	{ EVHTTP_REQ_POST, "admin/grants", ACCESS_ADMIN, routes_grants_change },
	{ EVHTTP_REQ_DELETE, "admin/grants", ACCESS_ADMIN, routes_grants_change },
	{ EVHTTP_REQ_GET, "admin/grants", ACCESS_ADMIN, routes_grants_list },
	{ EVHTTP_REQ_GET, "admin/users/*/tokens", ACCESS_ADMIN, routes_tokens_list },
	{ EVHTTP_REQ_POST, "admin/users/*/tokens", ACCESS_ADMIN, routes_tokens_create },
	{ EVHTTP_REQ_DELETE, "admin/tokens/*", ACCESS_ADMIN, routes_tokens_revoke },
	/* the web UI last: "*" would shadow every one-segment route above */
	{ EVHTTP_REQ_GET, "", ACCESS_PUBLIC, static_get },
	{ EVHTTP_REQ_GET, "*", ACCESS_PUBLIC, static_get },
};

/* "METHOD /pattern" of every route ("*" segments shown as {id}), then "unmatched": the bounded label values of the
 * request metrics (stats.c). Built once, before the loop runs. */
static char route_label_buf[ARRAY_LEN(routes) + 1][72];
static const char *route_labels[ARRAY_LEN(routes) + 1];

static const char *method_name(enum evhttp_cmd_type m);

const char *const *router_route_labels(int *count)
{
	if (route_labels[0] == NULL) {
		for (size_t i = 0; i < ARRAY_LEN(routes); i++) {
			char *o = route_label_buf[i];
			size_t left = sizeof(route_label_buf[i]);
			int n = snprintf(o, left, "%s /", method_name(routes[i].method));

			for (const char *p = routes[i].pattern;
			     *p != '\0' && n > 0 && (size_t)n < left; p++) {
				o += n;
				left -= (size_t)n;
				n = *p == '*' ? snprintf(o, left, "{id}")
					      : snprintf(o, left, "%c", *p);
			}
			route_labels[i] = route_label_buf[i];
		}
		route_labels[ARRAY_LEN(routes)] = "unmatched";
	}
	*count = (int)ARRAY_LEN(routes) + 1;
	return route_labels;
}

static bool matches(const char *pattern, const Req *r)
{
	int i = 0;
	const char *p = pattern;

	while (*p != '\0') {
		size_t len = strcspn(p, "/");

		if (i == r->nsegs)
			return false;
		if (!(len == 1 && p[0] == '*') &&
		    (strlen(r->segs[i]) != len || strncmp(p, r->segs[i], len) != 0))
			return false;
		i++;
		p += len;
		if (*p == '/')
			p++;
	}
	return i == r->nsegs;
}

static const char *method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	default:
		return "OTHER";
	}
}

void router_handle(struct evhttp_request *req, void *arg)
{
	Api *api = arg;
	Req *r;
	char allow[64] = "";
	const Route *hit = NULL;

	conns_request_begins(api->conns, req);
	if ((r = req_new(api, req)) == NULL)
		return; /* already answered */
	if (!limits_admit(r))
		return; /* over a connection or in-flight cap: answered 503 */
	for (size_t i = 0; i < ARRAY_LEN(routes); i++) {
		if (!matches(routes[i].pattern, r))
			continue;
		if (routes[i].method == r->method) {
			hit = &routes[i];
			break;
		}
		if (strlen(allow) + 10 < sizeof(allow)) {
			if (allow[0] != '\0')
				strcat(allow, ", ");
			strcat(allow, method_name(routes[i].method));
		}
	}
	if (hit == NULL) {
		if (allow[0] != '\0') {
			evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
			req_fail(r, 405, "method_not_allowed", NULL,
				 "%s is not allowed here (allowed: %s)", method_name(r->method),
				 allow);
		} else {
			req_fail(r, 404, "not_found", NULL, "no such endpoint: %s",
				 evhttp_request_get_uri(req));
		}
		return;
	}
	r->route = hit->pattern;
	r->route_ix = (int)(hit - routes);
	r->handler = hit->fn;
	if (hit->access == ACCESS_PUBLIC)
		hit->fn(r);
	else
		auth_check(r, hit->access == ACCESS_ADMIN, hit->fn);
}
