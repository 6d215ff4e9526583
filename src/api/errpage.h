/* errpage.h - swaps libevent's own HTML error page for our JSON error envelope. libevent
 * 2.1 answers some requests before the router sees them (a malformed request, or request
 * line and headers over its cap: 400; a body over its cap: 413; a method it does not allow:
 * 501; an unknown Expect: 417) and
 * has no hook to change that answer, but the answer sits whole in the connection's output
 * buffer until the next loop turn writes it: conn.c finds it there and calls this. */
#ifndef AMCB_ERRPAGE_H
#define AMCB_ERRPAGE_H

#include <event2/buffer.h>

/* Request-size limits named in the 400 and 413 messages. */
typedef struct ErrpageLimits {
	long max_body_bytes;
	long max_header_bytes;
} ErrpageLimits;

/* When out is one libevent error page -- status line, headers with exactly
 * "Content-Type: text/html" (none of our replies use it with a status >= 400) and
 * Content-Length bytes of body, nothing else -- replaces it with the JSON error of the same status
 * (same status line version, its other headers kept, Connection: close included) and
 * returns the status; otherwise leaves out untouched and returns 0. out must not be frozen. */
int errpage_rewrite(struct evbuffer *out, const ErrpageLimits *lim);

#endif
