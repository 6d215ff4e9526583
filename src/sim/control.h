/* control.h - the test control API under /sim/ on the simulator's own listen address:
 * fault profiles, counters, the fault dice's seed. No AMC auth: a local test tool. */
#ifndef AMCSIM_CONTROL_H
#define AMCSIM_CONTROL_H

#include <event2/http.h>

#include "routes.h"

/* rest: the path after "/sim/" */
void control_handle(Sim *sim, struct evhttp_request *req, const char *rest);
/* SIGHUP and POST /sim/reload: re-reads AMCSIM_PROFILES (nothing changes on error) */
MUST_CHECK bool control_reload(Sim *sim, char *err, size_t errlen);

#endif
