/* limits.c - server-wide limits. evhttp itself cuts headers beyond LIMITS_MAX_HEADERS and
 * bodies beyond 4x max_body_bytes (its HTML 413 becomes JSON in errpage.c); bodies in
 * between get our JSON 413 from req_parse_body. Slow or idle clients are dropped after
 * api_timeout_s. Requests in flight (read, not yet answered) are capped per process, and so
 * are connections (conn.c counts them; requests on one beyond the cap are refused here). */
#include "limits.h"

#include "conn.h"
#include "log.h"

void limits_apply(Api *api)
{
	/* the body cap must sit above our own limit so req_parse_body can answer JSON */
	evhttp_set_max_body_size(api->http, (ev_ssize_t)api->cfg.max_body_bytes * 4);
}

void limits_setup(Api *api)
{
	/* a lingering close reads the rest of an oversized upload so the client gets the 413 */
	limits_apply(api);
	evhttp_set_max_headers_size(api->http, LIMITS_MAX_HEADERS);
	evhttp_set_timeout(api->http, api->cfg.api_timeout_s);
	evhttp_set_flags(api->http, EVHTTP_SERVER_LINGERING_CLOSE);
}

static void busy(Req *r)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

	evhttp_add_header(h, "Retry-After", "1");
	evhttp_add_header(h, "Connection", "close");
}

bool limits_admit(Req *r)
{
	Api *api = r->api;

	if (conns_refused(api->conns, evhttp_request_get_connection(r->req))) {
		busy(r); /* conn.c logs refusals, rate-limited */
		req_fail(r, 503, "too_busy", NULL, "server busy: more than %d connections open",
			 conns_cap(api->conns));
		return false;
	}
	if (api->inflight > api->cfg.api_max_inflight) {
		long n;

		busy(r);
		/* an overload must not flood the log too */
		if (log_due(&api->inflight_log, 10, &n))
			log_warn("over %d requests in flight: refused %ld request%s since the last "
				 "line (this one: %s)",
				 api->cfg.api_max_inflight, n, n == 1 ? "" : "s", req_log_path(r));
		req_fail(r, 503, "too_busy", NULL, "server busy: more than %d requests in flight",
			 api->cfg.api_max_inflight);
		return false;
	}
	return true;
}
