/* routes.h - the simulator's HTTP surface: LWA token endpoint, the AMC reporting endpoints
 * under /amc/reporting/{instanceId}/, and the simulated S3 bucket under /s3/. */
#ifndef AMCSIM_ROUTES_H
#define AMCSIM_ROUTES_H

#include <event2/http.h>

#include "common.h"
#include "executions.h"
#include "s3.h"
#include "token.h"

typedef struct Sim {
	ExecStore *execs;
	TokenStore *tokens;
	S3 *s3;
	bool strict;		/* AMC-dialect checks on create */
	bool wrap;		/* answer {"workflowExecution":{...}} instead of the flat object */
	char self[300];		/* "host:port" used in URLs when the request has no Host */
} Sim;

/* installs the generic callback that dispatches every request */
void routes_install(struct evhttp *http, Sim *sim);

#endif
