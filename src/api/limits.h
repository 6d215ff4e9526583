/* limits.h - the HTTP server's abuse limits: header and body size caps, read/write
 * timeouts for slow clients, and caps on requests in flight and on connections (503
 * beyond them; conn.c counts the connections). */
#ifndef AMCB_LIMITS_H
#define AMCB_LIMITS_H

#include "api.h"
#include "req.h"

#define LIMITS_MAX_HEADERS 65536 /* request line + headers, bytes */

/* Applies the size caps and timeouts of api->cfg to api->http. */
void limits_setup(Api *api);
/* Applies the reloadable one, max_body_bytes, again (after a reload): evhttp's cap then
 * holds for connections accepted from now on. */
void limits_apply(Api *api);
/* Admits r (counted until it is answered) or answers 503 too_busy and frees it (false):
 * its connection is over api_max_connections or too many requests are in flight. */
MUST_CHECK bool limits_admit(Req *r);

#endif
