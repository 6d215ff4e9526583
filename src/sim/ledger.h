/* ledger.h - GET /sim/executions: every execution the simulator stored, in creation order,
 * with what a test checker needs to hold amcbatch to its promises from the outside (who
 * asked for it, its status, its result rows, whether a cancel was asked for). Read-only. */
#ifndef AMCSIM_LEDGER_H
#define AMCSIM_LEDGER_H

#include <event2/http.h>

#include "routes.h"

/* answers one GET /sim/executions request (any other method: 405) */
void ledger_handle(Sim *sim, struct evhttp_request *req);

#endif
