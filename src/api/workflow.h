/* workflow.h - what the workflow routes share (routes_workflows.c, routes_workflow_shares.c). */
#ifndef AMCB_API_WORKFLOW_H
#define AMCB_API_WORKFLOW_H

#include "pgq.h"
#include "req.h"

/* Runs one statement for r, done gets the result; when it cannot be queued, replies 503 (and
 * done is not called). */
void workflow_run(Req *r, const char *sql, int n, const char *const *params,
		  void (*done)(Pgq *q, void *priv));

#endif
