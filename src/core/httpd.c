/* httpd.c - evhttp reply helpers: JSON bodies with no-store caching, error envelopes, and
 * reading a request body under a size cap. It does not route requests or check auth. */
#include "httpd.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

const char *httpd_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 417:
		return "Expectation Failed";
	case 422:
		return "Unprocessable Entity";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return status < 400 ? "OK" : "Error";
	}
}

static void json_headers(struct evhttp_request *req)
{
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);

	evhttp_remove_header(hdr, "Content-Type");
	evhttp_add_header(hdr, "Content-Type", "application/json");
	evhttp_remove_header(hdr, "Cache-Control");
	evhttp_add_header(hdr, "Cache-Control", "no-store");
}

size_t httpd_reply_ref(struct evhttp_request *req, int status, const char *data, size_t len,
		       void (*cleanup)(const void *data, size_t len, void *arg), void *arg)
{
	struct evbuffer *out = evbuffer_new();

	json_headers(req);
	/* libevent calls cleanup once the bytes are written (or the connection dropped); when
	 * the reference cannot be added it does not, so it is called here */
	if (out == NULL || evbuffer_add_reference(out, data, len, cleanup, arg) != 0) {
		log_error("http reply: out of memory");
		cleanup(data, len, arg);
		if (out != NULL)
			evbuffer_free(out);
		evhttp_send_error(req, 500, NULL);
		return 0;
	}
	evhttp_send_reply(req, status, httpd_reason(status), out);
	evbuffer_free(out);
	return len;
}

/* Returns the body bytes handed to libevent (for the access log). */
static size_t send_text(struct evhttp_request *req, int status, const char *text, size_t len)
{
	struct evbuffer *out = evbuffer_new();

	json_headers(req);
	if (out == NULL) {
		log_error("http reply: out of memory");
		evhttp_send_error(req, 500, NULL);
		return 0;
	}
	if (evbuffer_add(out, text, len) != 0 || evbuffer_add(out, "\n", 1) != 0) {
		log_error("http reply: out of memory");
		evbuffer_free(out);
		evhttp_send_error(req, 500, NULL);
		return 0;
	}
	evhttp_send_reply(req, status, httpd_reason(status), out);
	evbuffer_free(out);
	return len + 1;
}

size_t httpd_reply_json(struct evhttp_request *req, int status, json_t *body)
{
	static const char fallback[] =
		"{\"success\":false,\"error\":{\"code\":\"internal\","
		"\"message\":\"could not encode the response\",\"field\":null}}";
	char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;

	json_decref(body);
	if (text == NULL) {
		log_error("http reply: could not encode JSON body for status %d", status);
		return send_text(req, 500, fallback, sizeof(fallback) - 1);
	}
	size_t bytes = send_text(req, status, text, strlen(text));
	free(text);
	return bytes;
}

static json_t *error_body(const char *code, const char *message, const char *field)
{
	return json_pack("{s:b, s:{s:s, s:s, s:o}}", "success", 0, "error", "code",
			 code != NULL ? code : "error", "message", message != NULL ? message : "",
			 "field", field != NULL ? json_string(field) : json_null());
}

size_t httpd_reply_error(struct evhttp_request *req, int status, const char *code,
			 const char *message, const char *field)
{
	/* json_pack returns NULL on bad UTF-8 in message; httpd_reply_json then sends 500 */
	return httpd_reply_json(req, status, error_body(code, message, field));
}

char *httpd_error_text(const char *code, const char *message, const char *field)
{
	json_t *body = error_body(code, message, field);
	char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;

	json_decref(body);
	return text;
}

char *httpd_body(struct evhttp_request *req, size_t max, bool *too_big)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = in != NULL ? evbuffer_get_length(in) : 0;
	char *buf;

	*too_big = false;
	/* check the length before allocating: a huge body must not cost a huge malloc */
	if (len > max) {
		*too_big = true;
		return NULL;
	}
	buf = malloc(len + 1);
	if (buf == NULL)
		return NULL;
	if (len > 0 && evbuffer_copyout(in, buf, len) != (ev_ssize_t)len) {
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}
