/* web.h - the routes of the browser-facing side of amcbatch-api: the static web UI, the
 * streamed CSV export and the Server-Sent Events of a batch. */
#ifndef AMCB_WEB_H
#define AMCB_WEB_H

#include "req.h"

void static_get(Req *r); /* GET / and GET /{file}: the files of web_root (no auth) */
void export_get(Req *r); /* GET /workflows/batch/{b}/results.csv */
/* GET /workflows/batch/{b}/events (registered public: it authenticates itself, from the
 * Authorization header or, for EventSource which cannot set headers, ?token=) */
void sse_get(Req *r);

#endif
