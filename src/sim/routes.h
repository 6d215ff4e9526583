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
#include "region.h"
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
	const char *profiles_path; /* AMCSIM_PROFILES, or NULL */
	bool strict;               /* AMC-dialect checks on create */
	bool wrap; /* answer {"workflowExecution":{...}} instead of the flat object */
	char self[REGION__COUNT][300];      /* per region host: "host:port" used in URLs when the
					 * request has no Host ("" when that host is not served) */
	struct evhttp *http[REGION__COUNT]; /* one listener per region host (NULL: not
						 * served); a request's server tells its region */
	bool region_tokens; /* AMCSIM_REGION_TOKENS=1: a token works only on the hosts of
				 * the region whose token endpoint issued it */
	int region;         /* AmcRegion of the host of the request being dispatched: set by
				 * dispatch, valid only during it (one loop thread) */
} Sim;

/* installs the generic callback that dispatches every request on sim->http[region] */
void routes_install(Sim *sim, AmcRegion region);
/* FaultResume: handles a request the fault gate held back, without the gate */
void routes_resume(void *sim, struct evhttp_request *req);

#endif
