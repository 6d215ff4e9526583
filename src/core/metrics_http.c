/* metrics_http.c - the GET /metrics reply and the metrics_listen listener shared by the API
 * and the workers. It keeps no state of its own beyond the evhttp it owns. */
#include "metrics_http.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "httpd.h"
#include "log.h"

struct MetricsHttp {
	struct evhttp *http; /* owned */
	Metrics *reg;        /* borrowed */
};

static void free_text(const void *data, size_t len, void *extra)
{
	free((void *)data);
}

void metrics_http_reply(struct evhttp_request *req, Metrics *reg)
{
	size_t len = 0;
	char *text = metrics_render(reg, &len);
	struct evbuffer *buf = evbuffer_new();

	if (text == NULL || buf == NULL ||
	    evbuffer_add_reference(buf, text, len, free_text, NULL) != 0) {
		/* on a failed add the buffer did not take text */
		free(text);
		if (buf != NULL)
			evbuffer_free(buf);
		httpd_reply_error(req, 500, "internal", "out of memory", NULL);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  METRICS_CONTENT_TYPE);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
	evhttp_send_reply(req, 200, "OK", buf);
	evbuffer_free(buf);
}

bool metrics_http_parse_listen(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon, *h = s;
	size_t n;
	char *end;
	long p;

	if (s == NULL || (colon = strrchr(s, ':')) == NULL)
		return false;
	n = (size_t)(colon - s);
	if (s[0] == '[') { /* [v6]:port */
		if (n < 2 || s[n - 1] != ']')
			return false;
		h = s + 1;
		n -= 2;
	}
	if (n == 0 || n >= hostlen)
		return false;
	p = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || p < 0 || p > 65535)
		return false;
	memcpy(host, h, n);
	host[n] = '\0';
	*port = (int)p;
	return true;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	MetricsHttp *s = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));

	if (path == NULL || strcmp(path, "/metrics") != 0) {
		httpd_reply_error(req, 404, "not_found", "only /metrics is served here", NULL);
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
		httpd_reply_error(req, 405, "method_not_allowed", "GET only", NULL);
		return;
	}
	metrics_http_reply(req, s->reg);
}

MetricsHttp *metrics_http_new(struct event_base *base, const char *listen, Metrics *reg)
{
	char host[256];
	int port;
	MetricsHttp *s;
	struct evhttp_bound_socket *bs;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (!metrics_http_parse_listen(listen, host, sizeof(host), &port)) {
		log_error("metrics_listen must be host:port (got \"%s\")", listen);
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL || (s->http = evhttp_new(base)) == NULL) {
		log_error("metrics: out of memory");
		free(s);
		return NULL;
	}
	s->reg = reg;
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(s->http, 30);
	evhttp_set_gencb(s->http, on_request, s);
	if ((bs = evhttp_bind_socket_with_handle(s->http, host, (ev_uint16_t)port)) == NULL) {
		log_error("metrics: cannot listen on %s", listen);
		metrics_http_free(s);
		return NULL;
	}
	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET)
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	log_info("metrics on http://%s%s%s:%d/metrics", strchr(host, ':') != NULL ? "[" : "", host,
		 strchr(host, ':') != NULL ? "]" : "", port);
	return s;
}

void metrics_http_free(MetricsHttp *s)
{
	if (s == NULL)
		return;
	if (s->http != NULL)
		evhttp_free(s->http);
	free(s);
}
