/* s3.h - pre-signed result URLs like S3's: an HMAC over path, date and lifetime with a
 * secret drawn at start-up, checked when the simulated bucket is read. */
#ifndef AMCSIM_S3_H
#define AMCSIM_S3_H

#include <stdint.h>

#include "common.h"

typedef struct S3 S3;

enum S3Check { S3_OK, S3_EXPIRED, S3_BAD_SIGNATURE, S3_NO_SUCH_KEY };

S3 *s3_new(void); /* NULL if no random secret could be drawn */
void s3_free(S3 *s);
/* "http://<host>/s3/<key>?X-Amz-...", valid for ttl_s seconds: key is a path without a
 * leading slash. */
MUST_CHECK bool s3_url(const S3 *s, const char *host, const char *key, int64_t now_ms, int ttl_s,
		       char *out, size_t outlen);
/* path is the request path ("/s3/<key>"), query its raw query string (may be NULL) */
enum S3Check s3_check(const S3 *s, const char *path, const char *query, int64_t now_ms);
/* the S3-style XML error document for a check result; caller frees */
char *s3_error_xml(enum S3Check c, const char *key);

#endif
