/* fields.h - the JSON members each route's request body may hold; any other member is
 * rejected (400 unknown_field) so a misspelt field never silently does nothing. */
#ifndef AMCB_FIELDS_H
#define AMCB_FIELDS_H

#include <event2/http.h>

/* NULL-terminated list for method + route pattern, or NULL when the route keeps no list
 * (its handler checks the body itself, or it takes no body). */
const char *const *fields_allowed(enum evhttp_cmd_type method, const char *route);

#endif
