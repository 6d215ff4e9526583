/* webhook.h - the pure parts of webhooks, shared by the API (registration) and the worker
 * (delivery): event names, URL checks, the signing secret, the Stripe-style signature, the
 * retry backoff and the request body. No I/O here. */
#ifndef AMCB_WEBHOOK_H
#define AMCB_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define WEBHOOK_URL_MAX 2048
#define WEBHOOK_SECRET_MIN 16 /* a given secret: 16..200 printable ASCII characters */
#define WEBHOOK_SECRET_MAX 200
#define WEBHOOK_SECRET_GEN_LEN (6 + 43) /* "whsec_" + base64url of 32 random bytes */
#define WEBHOOK_SIG_HEX 64              /* hex of HMAC-SHA256 */
#define WEBHOOK_RESPONSE_PREFIX 256     /* bytes of a receiver's answer kept */

/* The event types, NULL-terminated, in documentation order. */
extern const char *const webhook_events[];
bool webhook_event_valid(const char *name);
bool webhook_format_valid(const char *name); /* "json" or "slack" */

/* Checks a webhook URL: at most WEBHOOK_URL_MAX bytes, absolute http or https, a host, no
 * user:password, no fragment, no control characters or blanks. On success copies the host
 * (IPv6 without brackets, lower case) into host. false with a message in err otherwise. */
MUST_CHECK bool webhook_url_check(const char *url, char *host, size_t hostlen, char *err,
				  size_t errlen);
/* Whether host is "localhost" or a name under ".localhost" (RFC 6761: always loopback). */
bool webhook_host_is_localhost(const char *host);

/* A fresh secret "whsec_" + base64url(32 random bytes) into out (size > WEBHOOK_SECRET_GEN_LEN). */
MUST_CHECK bool webhook_secret_new(char *out, size_t outlen);
/* Whether a caller-given secret is acceptable (length, printable ASCII without blanks). */
bool webhook_secret_valid(const char *s);

/* hex HMAC-SHA256(secret, "<t>.<body>") into hex (size >= WEBHOOK_SIG_HEX + 1). */
MUST_CHECK bool webhook_sign(const char *secret, long long t, const char *body, size_t n,
			     char *hex);
/* The Amcbatch-Signature header value "t=<t>,v1=<hex>" into out. */
MUST_CHECK bool webhook_signature(const char *secret, long long t, const char *body, size_t n,
				  char *out, size_t outlen);

/* Delay before attempt `failed + 1` after `failed` failed attempts (>= 1): base * 2^(failed-1),
 * capped at cap, times a jitter in [0.75, 1.25) from rnd (uniform 32 bits), never above cap. */
long webhook_backoff_ms(int failed, long base_ms, long cap_ms, uint32_t rnd);

/* The request body of an event: data_json is webhook_events.data. Batch events get
 * data.batch.links {status, results, results_csv} under public_url ("" or NULL: paths).
 * format "json": {id, type, created_at, data}; "slack": {"text": one line}. Returns a
 * malloc'ed NUL-terminated string (caller frees), NULL on bad data or out of memory. */
char *webhook_body(const char *event_id, const char *type, const char *created_at,
		   const char *data_json, const char *public_url, const char *format);

#endif
