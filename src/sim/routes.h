/* routes.h - the simulator's HTTP surface: LWA token endpoint, the AMC reporting endpoints
 * under /amc/reporting/{instanceId}/, the simulated S3 bucket under /s3/, and the test
 * control API under /sim/ (control.c). */
#ifndef AMCSIM_ROUTES_H
#define AMCSIM_ROUTES_H

#include <event2/http.h>

#include "common.h"
#include "executions.h"
#include "faults.h"
#include "profile.h"
#include "s3.h"
#include "stats.h"
#include "token.h"

typedef struct Sim {
	struct event_base *base;
	ExecStore *execs;
	TokenStore *tokens;
	S3 *s3;
	ProfileStore *profiles;
	Stats *stats;
	Faults *faults;
	const char *profiles_path;	/* AMCSIM_PROFILES, or NULL */
	bool strict;		/* AMC-dialect checks on create */
	bool wrap;		/* answer {"workflowExecution":{...}} instead of the flat object */
	char self[300];		/* "host:port" used in URLs when the request has no Host */
} Sim;

/* installs the generic callback that dispatches every request */
void routes_install(struct evhttp *http, Sim *sim);
/* FaultResume: handles a request the fault gate held back, without the gate */
void routes_resume(void *sim, struct evhttp_request *req);

#endif
