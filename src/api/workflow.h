/* workflow.h - what the workflow routes share (routes_workflows.c, routes_workflow_shares.c). */
#ifndef AMCB_API_WORKFLOW_H
#define AMCB_API_WORKFLOW_H

#include "pgq.h"
#include "req.h"

/* The SQL every workflow statement shares; $1 user id, $2 is admin. w is the workflow table,
 * s the user's share of it (if any). A workflow is visible to its owner, to the users it is
 * shared with and to an admin; only the owner or an admin may manage it (WORKFLOW_OWNER). */
#define WORKFLOW_FROM \
	" FROM workflows w LEFT JOIN workflow_shares s ON s.workflow_id = w.id AND s.user_id = $1::uuid"
#define WORKFLOW_VISIBLE " ($2::boolean OR w.user_id = $1::uuid OR s.user_id IS NOT NULL)"
#define WORKFLOW_OWNER " ($2::boolean OR w.user_id = $1::uuid)"

/* Runs one statement for r, done gets the result; when it cannot be queued, replies 503 (and
 * done is not called). */
void workflow_run(Req *r, const char *sql, int n, const char *const *params,
		  void (*done)(Pgq *q, void *priv));

#endif
