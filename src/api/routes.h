/* routes.h - the route handlers, one group per routes_*.c file. Each gets an authenticated
 * Req (segs hold the path; ids are still unvalidated) and owns it: it must end with exactly
 * one req_reply/req_fail/req_success. */
#ifndef AMCB_ROUTES_H
#define AMCB_ROUTES_H

#include "req.h"

void health_get(Req *r); /* GET /healthz (no auth) */
/* GET /readyz (no auth): 200 when Redis and PostgreSQL answer and a worker heartbeat is
 * fresh (within lease_ms), else 503 naming what is degraded. */
void health_ready(Req *r);

void routes_instances_list(Req *r); /* GET /instances */

void routes_workflows_create(Req *r);       /* POST /workflows */
void routes_workflows_list(Req *r);         /* GET /workflows */
void routes_workflows_get(Req *r);          /* GET /workflows/{id} */
void routes_workflows_patch(Req *r);        /* PATCH /workflows/{id} */
void routes_workflows_delete(Req *r);       /* DELETE /workflows/{id} (archives) */
void routes_workflow_versions(Req *r);      /* GET /workflows/{id}/versions[/{n}] */
void routes_workflow_shares_list(Req *r);   /* GET /workflows/{id}/shares */
void routes_workflow_shares_create(Req *r); /* POST /workflows/{id}/shares */
void routes_workflow_shares_delete(Req *r); /* DELETE /workflows/{id}/shares/{user} */

void routes_execute_post(Req *r);      /* POST /workflows/{id}/batch-execute */
void routes_retry_failed_post(Req *r); /* POST /workflows/batch/{id}/retry-failed */
void routes_batches_list(Req *r);      /* GET /workflows/batch/list */
void routes_batch_get(Req *r);         /* GET /workflows/batch/{b} */
void routes_compare_get(Req *r);       /* GET /workflows/batch/{b}/compare */
void routes_batches_cancel(Req *r);    /* POST /workflows/batch/{b}/cancel */
/* Whether a batch status is final: completed, partial, failed or cancelled (NULL: no). */
bool routes_batches_is_terminal(const char *status);
void routes_status_get(Req *r);  /* GET /workflows/batch/{b}/status */
void routes_results_get(Req *r); /* GET /workflows/batch/{b}/results */

/* Called with the batch_status object (owned by done, as r is), the batch's owner (a user id,
 * borrowed for the call; NULL if unknown) and, when it came from Redis, the batch hash's `ver`
 * read before the executions (borrowed; NULL from PostgreSQL or before sql/lua had it). */
typedef void (*RoutesStatusDone)(Req *r, json_t *status, const char *owner, const char *ver);
/* Builds the seed's batch_status object of batch_id (validated) as r's user sees it: from
 * Redis, or from PostgreSQL when Redis no longer holds the batch, and calls done with it; on
 * error it replies (404 unknown/not yours, 503) itself and frees r. */
void routes_status_load(Req *r, const char *batch_id, RoutesStatusDone done);

void routes_schedules_create(Req *r);    /* POST /schedules */
void routes_schedules_list(Req *r);      /* GET /schedules */
void routes_schedules_preview(Req *r);   /* GET /schedules/preview */
void routes_schedules_get(Req *r);       /* GET /schedules/{id} */
void routes_schedules_patch(Req *r);     /* PATCH /schedules/{id} */
void routes_schedules_delete(Req *r);    /* DELETE /schedules/{id} */
void routes_schedules_pause(Req *r);     /* POST /schedules/{id}/pause */
void routes_schedules_resume(Req *r);    /* POST /schedules/{id}/resume */
void routes_schedules_run_now(Req *r);   /* POST /schedules/{id}/run-now */
void routes_schedules_runs(Req *r);      /* GET /schedules/{id}/runs */
void routes_schedules_tick(Req *r);      /* POST /admin/schedules/tick */
void routes_webhooks_create(Req *r);     /* POST /webhooks */
void routes_webhooks_list(Req *r);       /* GET /webhooks */
void routes_webhooks_get(Req *r);        /* GET /webhooks/{id} */
void routes_webhooks_delete(Req *r);     /* DELETE /webhooks/{id} */
void routes_webhooks_deliveries(Req *r); /* GET /webhooks/{id}/deliveries */

void routes_admin_users(Req *r);           /* POST /admin/users */
void routes_admin_accounts(Req *r);        /* POST /admin/accounts */
void routes_admin_instances(Req *r);       /* POST /admin/instances */
void routes_admin_access(Req *r);          /* POST|DELETE /admin/instances/{id}/access */
void routes_admin_accounts_list(Req *r);   /* GET /admin/accounts */
void routes_admin_accounts_patch(Req *r);  /* PATCH /admin/accounts/{id} */
void routes_admin_instances_list(Req *r);  /* GET /admin/instances */
void routes_admin_instances_patch(Req *r); /* PATCH /admin/instances/{id} */
/* The optional "role" member of a user body (admin or member; *out NULL when absent). False
 * after replying 400. */
MUST_CHECK bool routes_admin_role(Req *r, const char **out);

void routes_me_get(Req *r);      /* GET /me */
void routes_users_list(Req *r);  /* GET /admin/users */
void routes_users_patch(Req *r); /* PATCH /admin/users/{id} */

void routes_grants_change(Req *r); /* POST|DELETE /admin/grants */
void routes_grants_list(Req *r);   /* GET /admin/grants */

void routes_fleet_get(Req *r); /* GET /admin/fleet */

void routes_tokens_list(Req *r);   /* GET /admin/users/{id}/tokens */
void routes_tokens_create(Req *r); /* POST /admin/users/{id}/tokens */
void routes_tokens_revoke(Req *r); /* DELETE /admin/tokens/{id} */

#endif
