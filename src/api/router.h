/* router.h - the evhttp generic callback: matches method + path segments against the route
 * table, answers 404/405 itself, authenticates, then hands the request to its route. */
#ifndef AMCB_ROUTER_H
#define AMCB_ROUTER_H

#include <event2/http.h>

/* evhttp_set_gencb callback; arg is the Api. */
void router_handle(struct evhttp_request *req, void *arg);

/* The request metrics' route label values: "GET /workflows/{id}/batch-execute" (a "*" segment
 * written as {id}), ..., and last "unmatched" (a Req's route_ix of -1); *count gets their number. Static, built on first call. */
const char *const *router_route_labels(int *count);

#endif
