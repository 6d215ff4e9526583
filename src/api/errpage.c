/* errpage.c - libevent's HTML error pages turned into our JSON errors (see errpage.h). It
 * only edits an evbuffer: no I/O, no libevent internals, testable on its own. */
#include "errpage.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "httpd.h"
#include "log.h"

#define HEAD_MAX 4096 /* libevent writes ~150 bytes of status line and headers */
#define PAGE_TYPE "\r\nContent-Type: text/html\r\n"

/* Parses the page's head; *head_len covers up to and including the blank line. */
static int parse(struct evbuffer *out, size_t *head_len)
{
	struct evbuffer_ptr end = evbuffer_search(out, "\r\n\r\n", 4, NULL);
	struct evbuffer_ptr hit;
	char line[13], num[24];
	size_t len = evbuffer_get_length(out), i;
	unsigned long body;
	int status;

	if (end.pos < 0 || (size_t)end.pos > HEAD_MAX ||
	    evbuffer_copyout(out, line, sizeof(line)) != (ev_ssize_t)sizeof(line))
		return 0;
	/* "HTTP/1.1 413 " */
	if (memcmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ' || line[12] != ' ' ||
	    !isdigit((unsigned char)line[9]) || !isdigit((unsigned char)line[10]) ||
	    !isdigit((unsigned char)line[11]))
		return 0;
	status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
	if (status < 400 || status > 599)
		return 0;
	/* search up to and including the CRLF that ends the last header */
	end.pos += 2;
	hit = evbuffer_search_range(out, PAGE_TYPE, strlen(PAGE_TYPE), NULL, &end);
	if (hit.pos < 0)
		return 0;
	end.pos -= 2;
	hit = evbuffer_search_range(out, "\r\nContent-Length: ", 18, NULL, &end);
	if (hit.pos < 0)
		return 0;
	memset(num, 0, sizeof(num));
	if (evbuffer_ptr_set(out, &hit, 18, EVBUFFER_PTR_ADD) != 0 ||
	    evbuffer_copyout_from(out, &hit, num, sizeof(num) - 1) <= 0)
		return 0;
	for (i = 0; isdigit((unsigned char)num[i]); i++)
		;
	if (i == 0 || num[i] != '\r')
		return 0;
	body = strtoul(num, NULL, 10);
	*head_len = (size_t)end.pos + 4;
	/* exactly one whole page, nothing before or after it */
	if (len < *head_len || len - *head_len != body)
		return 0;
	return status;
}

static void describe(int status, const ErrpageLimits *lim, const char **code, char *msg,
		     size_t msglen)
{
	switch (status) {
	case 400:
		/* libevent 2.1 reports request lines and headers over its cap as malformed */
		*code = "bad_request";
		snprintf(
			msg, msglen,
			"malformed HTTP request: the request line, headers or chunked "
			"body could not be parsed, or the request line with headers exceeds %ld bytes",
			lim->max_header_bytes);
		break;
	case 413:
		/* only bodies: libevent sends this for a body over its cap (4 x ours) */
		*code = "body_too_large";
		snprintf(msg, msglen, "request body exceeds %ld bytes", lim->max_body_bytes);
		break;
	case 417:
		*code = "expectation_failed";
		snprintf(msg, msglen, "only \"Expect: 100-continue\" is supported");
		break;
	case 501:
		*code = "not_implemented";
		snprintf(msg, msglen, "HTTP method not supported (use GET, POST or DELETE)");
		break;
	case 500:
		*code = "internal";
		snprintf(msg, msglen, "internal error (out of memory)");
		break;
	default:
		*code = "http_error";
		snprintf(msg, msglen, "request refused by the HTTP layer");
		break;
	}
}

/* Copies the header lines of head (after the status line) except the two we replace. */
static int copy_headers(struct evbuffer *dst, const char *head, size_t len)
{
	const char *p = memchr(head, '\n', len), *end = head + len;

	while (p != NULL && ++p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t n = eol != NULL ? (size_t)(eol - p + 1) : (size_t)(end - p);

		if (n <= 2)
			break; /* the blank line */
		if (strncasecmp(p, "Content-Type:", 13) != 0 &&
		    strncasecmp(p, "Content-Length:", 15) != 0 && evbuffer_add(dst, p, n) != 0)
			return -1;
		p = eol;
	}
	return 0;
}

int errpage_rewrite(struct evbuffer *out, const ErrpageLimits *lim)
{
	size_t head_len;
	int status = parse(out, &head_len);
	struct evbuffer *next;
	const char *code, *head;
	char msg[256], *text;

	if (status == 0)
		return 0;
	describe(status, lim, &code, msg, sizeof(msg));
	if ((head = (const char *)evbuffer_pullup(out, (ev_ssize_t)head_len)) == NULL ||
	    (text = httpd_error_text(code, msg, NULL)) == NULL)
		return 0;
	/* build aside, then swap: out stays a valid (HTML) reply if building fails */
	next = evbuffer_new();
	if (next == NULL ||
	    evbuffer_add_printf(next, "%.8s %d %s\r\n", head, status, httpd_reason(status)) < 0 ||
	    copy_headers(next, head, head_len) != 0 ||
	    evbuffer_add_printf(next,
				"Content-Type: application/json\r\nCache-Control: no-store\r\n"
				"Content-Length: %zu\r\n\r\n%s\n",
				strlen(text) + 1, text) < 0 ||
	    evbuffer_drain(out, evbuffer_get_length(out)) != 0 ||
	    evbuffer_add_buffer(out, next) != 0) {
		log_warn("could not rewrite libevent's %d page as JSON", status);
		if (next != NULL)
			evbuffer_free(next);
		free(text);
		return 0;
	}
	evbuffer_free(next);
	free(text);
	return status;
}
